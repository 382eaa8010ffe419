// Nearest-symbol lookup from a System.map ("ADDRESS TYPE NAME" per line), for reports.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { field } from "../firmware/spec/decl.ts";
import { BOOT_PROTOCOL, SETUP_HEADER } from "../firmware/spec/pvh.ts";

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

  /** A System.map file, or an ELF with a symbol table (an unstripped vmlinux): its functions become the map. */
  static load(path: string | undefined): SymbolMap | undefined {
    if (!path || !existsSync(path)) return undefined;
    return new SymbolMap(() => {
      const bytes = readFileSync(path);
      return bytes.subarray(0, 4).toString("latin1") === "\x7fELF" ? elfSymbolsAsMap(bytes, path) : bytes.toString("utf8");
    });
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

/**
 * An ELF64 file's function symbols (its SHT_SYMTAB section and the string table it links
 * to; System V ABI, "Symbol Table") as System.map lines. A file with no symbol table (a
 * stripped vmlinux, as Debian's bzImage holds) is an error naming it.
 */
export function elfSymbolsAsMap(elf: Uint8Array, name: string): string {
  const d = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf[4] !== 2 || elf[5] !== 1) throw new Error(`${name}: not a little-endian ELF64 file`);
  const shoff = Number(d.getBigUint64(0x28, true)), shentsize = d.getUint16(0x3a, true), shnum = d.getUint16(0x3c, true);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return { type: d.getUint32(at + 4, true), offset: Number(d.getBigUint64(at + 0x18, true)), size: Number(d.getBigUint64(at + 0x20, true)), link: d.getUint32(at + 0x28, true), entsize: Number(d.getBigUint64(at + 0x38, true)) };
  };
  const SHT_SYMTAB = 2, STT_FUNC = 2, SYM_SIZE = 24;
  let symtab: ReturnType<typeof section> | undefined;
  for (let i = 0; i < shnum && shoff + (i + 1) * shentsize <= elf.length; i++) if (section(i).type === SHT_SYMTAB) symtab = section(i);
  if (!symtab) throw new Error(`${name}: an ELF file with no symbol table (stripped?): no names from it`);
  const strtab = section(symtab.link);
  const lines: string[] = [];
  for (let at = symtab.offset; at + SYM_SIZE <= symtab.offset + symtab.size && at + SYM_SIZE <= elf.length; at += symtab.entsize || SYM_SIZE) {
    const nameOff = d.getUint32(at, true), info = elf[at + 4], value = d.getBigUint64(at + 8, true);
    if ((info & 0xf) !== STT_FUNC || !value) continue;
    let end = strtab.offset + nameOff;
    while (end < elf.length && elf[end] !== 0) end++;
    const sym = Buffer.from(elf.subarray(strtab.offset + nameOff, end)).toString("latin1");
    if (sym) lines.push(`${value.toString(16).padStart(16, "0")} T ${sym}`);
  }
  return lines.join("\n");
}

/**
 * An arm64 kernel's KASLR displacement: VBAR_EL1 holds the run address of `vectors` once
 * the kernel has set it (arch/arm64/kernel/head.S); 0 before.
 */
export function arm64Slide(symbols: SymbolMap, vbar: bigint): bigint {
  const vectors = symbols.addressOf("vectors");
  if (!vbar || vectors === undefined) return 0n;
  const slide = BigInt.asUintN(64, vbar - vectors);
  return slide & 0xfffn ? 0n : slide; // the kernel moves by whole pages (2 MiB or more, in fact)
}

/**
 * A bzImage's version, as its setup header names it (boot.rst: kernel_version, a
 * pointer to a NUL-terminated string, 0x200 before its file offset): the first word,
 * "6.1.0-57-cloud-amd64". Undefined for anything else, or a header that says nothing.
 * `bytes`: the file, or as much of its start as holds the string.
 */
export function kernelVersion(bytes: Uint8Array): string | undefined {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = (name: string) => field(SETUP_HEADER, name).offset;
  if (bytes.length < SETUP_HEADER.size || v.getUint32(at("header"), true) !== BOOT_PROTOCOL.HEADER_MAGIC) return undefined;
  const ptr = v.getUint16(at("kernel_version"), true);
  if (!ptr) return undefined;
  const start = ptr + 0x200;
  const end = bytes.indexOf(0, start);
  if (start >= bytes.length || end < 0) return undefined;
  return Buffer.from(bytes.subarray(start, end)).toString("latin1").split(" ")[0] || undefined;
}

/** kernelVersion of the file at `path`, from its first 32 KiB. */
export function bzImageVersion(path: string): string | undefined {
  const head = new Uint8Array(0x8000);
  const fd = openSync(path, "r");
  try {
    return kernelVersion(head.subarray(0, readSync(fd, head, 0, head.length, 0)));
  } finally {
    closeSync(fd);
  }
}

/**
 * The System.map that belongs to `kernel`, never another kernel's: `defaultMap` for the
 * default kernel, else System.map-VERSION beside it (Debian's /boot layout), VERSION
 * from its own header. Undefined when there is none: a report then names no symbols
 * rather than plausible wrong ones.
 */
export function systemMapFor(kernel: string, defaultKernel: string, defaultMap: string): string | undefined {
  if (resolve(kernel) === resolve(defaultKernel)) return defaultMap;
  const version = bzImageVersion(kernel);
  if (!version) {
    // No version in the header (an arm64 Image): the one System.map beside it, as setup
    // leaves it in the kernel's own folder, if there is exactly one.
    const dir = dirname(resolve(kernel));
    const maps = readdirSync(dir).filter((f) => f.startsWith("System.map-"));
    return maps.length === 1 ? join(dir, maps[0]) : undefined;
  }
  const beside = join(dirname(kernel), `System.map-${version}`);
  return basename(beside) !== basename(kernel) && existsSync(beside) ? beside : undefined;
}
