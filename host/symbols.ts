// Nearest-symbol lookup from a System.map ("ADDRESS TYPE NAME" per line), for reports.
import { existsSync, readFileSync } from "node:fs";

export class SymbolMap {
  private readonly addrs: bigint[] = [];
  private readonly names: string[] = [];

  constructor(text: string) {
    const rows: [bigint, string][] = [];
    for (const line of text.split("\n")) {
      const m = /^([0-9a-f]{16}) [tTwW] (\S+)/.exec(line);
      if (m) rows.push([BigInt("0x" + m[1]), m[2]]);
    }
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [a, n] of rows) {
      this.addrs.push(a);
      this.names.push(n);
    }
  }

  static load(path: string | undefined): SymbolMap | undefined {
    return path && existsSync(path) ? new SymbolMap(readFileSync(path, "utf8")) : undefined;
  }

  get size(): number { return this.addrs.length; }

  /** Link-time address of a symbol, or undefined. */
  addressOf(name: string): bigint | undefined {
    const i = this.names.indexOf(name);
    return i < 0 ? undefined : this.addrs[i];
  }

  /**
   * "name+0xoff" for the text symbol at or below addr, or undefined. `slide` is the
   * kernel's KASLR displacement (run address minus link address).
   */
  lookup(runAddr: bigint, slide = 0n): string | undefined {
    const addr = runAddr - slide;
    let lo = 0, hi = this.addrs.length - 1, best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.addrs[mid] <= addr) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    const off = addr - this.addrs[best];
    return off > 0x100000n ? undefined : `${this.names[best]}+0x${off.toString(16)}`;
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
