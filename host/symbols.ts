// Nearest-symbol lookup from a System.map ("ADDRESS TYPE NAME" per line), for reports.
import { existsSync, readFileSync } from "node:fs";

export class SymbolMap {
  private parsed: { addrs: bigint[]; names: string[] } | undefined;
  private source: (() => string) | undefined;

  /**
   * From System.map text, or a function giving it: the map is read and parsed at the
   * first lookup, so a run that never needs a name (a boot timed to a serial line)
   * pays nothing for it (about 40 ms and 20 MB of heap for Debian's).
   */
  constructor(text: string | (() => string)) {
    this.source = typeof text === "string" ? () => text : text;
  }

  private get table(): { addrs: bigint[]; names: string[] } {
    if (this.parsed) return this.parsed;
    const rows: [bigint, string][] = [];
    for (const line of this.source!().split("\n")) {
      const m = /^([0-9a-f]{16}) [tTwW] (\S+)/.exec(line);
      if (m) rows.push([BigInt("0x" + m[1]), m[2]]);
    }
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.parsed = { addrs: rows.map((r) => r[0]), names: rows.map((r) => r[1]) };
    this.source = undefined;
    return this.parsed;
  }

  static load(path: string | undefined): SymbolMap | undefined {
    return path && existsSync(path) ? new SymbolMap(() => readFileSync(path, "utf8")) : undefined;
  }

  get size(): number { return this.table.addrs.length; }

  /** Link-time address of a symbol, or undefined. */
  addressOf(name: string): bigint | undefined {
    const { addrs, names } = this.table;
    const i = names.indexOf(name);
    return i < 0 ? undefined : addrs[i];
  }

  /**
   * "name+0xoff" for the text symbol at or below addr, or undefined. `slide` is the
   * kernel's KASLR displacement (run address minus link address).
   */
  lookup(runAddr: bigint, slide = 0n): string | undefined {
    const { addrs, names } = this.table;
    const addr = runAddr - slide;
    let lo = 0, hi = addrs.length - 1, best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (addrs[mid] <= addr) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    const off = addr - addrs[best];
    return off > 0x100000n ? undefined : `${names[best]}+0x${off.toString(16)}`;
  }
}

/**
 * KASLR displacement, found from where the guest's IDT sends page faults: to
 * asm_exc_page_fault once traps are set up, to early_idt_handler_array before (9 bytes
 * a vector, arch/x86/include/asm/segment.h EARLY_IDT_HANDLER_SIZE).
 */
export function kernelSlide(symbols: SymbolMap, pageFaultHandler: bigint | undefined): bigint {
  if (pageFaultHandler === undefined) return 0n;
  for (const [name, offset] of [["asm_exc_page_fault", 0n], ["early_idt_handler_array", 14n * 9n]] as const) {
    const a = symbols.addressOf(name);
    if (a === undefined) continue;
    const slide = pageFaultHandler - (a + offset);
    // KASLR moves the kernel by whole 2 MiB steps (CONFIG_PHYSICAL_ALIGN).
    if ((slide & 0x1fffffn) === 0n) return slide;
  }
  return 0n;
}
