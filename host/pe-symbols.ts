// Names for addresses inside an EFI image, from what the PE file itself carries: its COFF
// symbol table (PE/COFF spec §5.4: lld-link -debug:symtab writes one, as MinGW's tools
// do) and its export directory (§6.3). Images that carry neither (Debian's signed loaders
// are stripped) are named by file and offset only.
import { PE_CONST } from "../firmware/spec/pe.ts";

export interface PeSymbols {
  /** SizeOfImage: the loaded image spans [base, base + size). */
  size: number;
  /** Function symbols by RVA, ascending. */
  symbols: { rva: number; name: string }[];
}

const SYMBOL_BYTES = 18;
const IMAGE_SYM_CLASS_EXTERNAL = 2, IMAGE_SYM_CLASS_STATIC = 3;
const IMAGE_SYM_DTYPE_FUNCTION = 0x20;

/** The image's size and symbols, or undefined when `file` is no PE image (the loader has said why). */
/**
 * A PE32+ image's SectionAlignment and SizeOfImage from its first bytes, zeros when they
 * are not one (a hint for staging the file: the firmware checks everything).
 */
export function peLayoutHint(head: Uint8Array): { sectionAlignment: number; sizeOfImage: number } {
  const d = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const u16 = (o: number) => (o + 2 <= head.length ? d.getUint16(o, true) : 0);
  const u32 = (o: number) => (o + 4 <= head.length ? d.getUint32(o, true) : 0);
  const nt = u32(0x3c);
  if (u16(0) !== PE_CONST.DOS_MAGIC || u32(nt) !== PE_CONST.NT_SIGNATURE || u16(nt + 24) !== 0x20b) return { sectionAlignment: 0, sizeOfImage: 0 };
  return { sectionAlignment: u32(nt + 24 + 32), sizeOfImage: u32(nt + 24 + 56) };
}

export function peSymbols(file: Uint8Array): PeSymbols | undefined {
  const d = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const u16 = (o: number) => (o + 2 <= file.length ? d.getUint16(o, true) : 0);
  const u32 = (o: number) => (o + 4 <= file.length ? d.getUint32(o, true) : 0);
  if (u16(0) !== PE_CONST.DOS_MAGIC) return undefined;
  const nt = u32(0x3c);
  if (u32(nt) !== PE_CONST.NT_SIGNATURE) return undefined;
  const coff = nt + 4;
  const sections = u16(coff + 2), symtab = u32(coff + 8), nsyms = u32(coff + 12), optSize = u16(coff + 16);
  const opt = coff + 20;
  const pe32plus = u16(opt) === 0x20b;
  const size = u32(opt + 56);
  const secTable = opt + optSize;
  const sectionRva = (n: number) => (n >= 1 && n <= sections ? u32(secTable + (n - 1) * 40 + 12) : undefined);
  const out = new Map<number, string>();
  // The COFF symbol table: 18-byte records, then the string table (its size first).
  const strings = symtab + nsyms * SYMBOL_BYTES;
  if (symtab && nsyms && strings <= file.length) {
    for (let i = 0; i < nsyms; i++) {
      const at = symtab + i * SYMBOL_BYTES;
      const value = u32(at + 8), section = d.getInt16(at + 12, true), type = u16(at + 14), cls = file[at + 16], aux = file[at + 17];
      i += aux;
      if ((type & 0xf0) !== IMAGE_SYM_DTYPE_FUNCTION || (cls !== IMAGE_SYM_CLASS_EXTERNAL && cls !== IMAGE_SYM_CLASS_STATIC)) continue;
      const base = sectionRva(section);
      if (base === undefined) continue;
      const name = u32(at) === 0 ? cString(file, strings + u32(at + 4)) : cString(file.subarray(at, at + 8), 0);
      if (name) out.set(base + value, name);
    }
  }
  // The export directory (data directory 0): names and their functions' RVAs.
  const dirs = opt + (pe32plus ? 112 : 96);
  const exportRva = u32(dirs), exportSize = u32(dirs + 4);
  const fileOffset = (rva: number) => {
    for (let s = 0; s < sections; s++) {
      const h = secTable + s * 40, va = u32(h + 12), raw = u32(h + 16), ptr = u32(h + 20);
      if (rva >= va && rva < va + raw) return ptr + rva - va;
    }
    return undefined;
  };
  const ex = exportRva && exportSize ? fileOffset(exportRva) : undefined;
  if (ex !== undefined) {
    const names = u32(ex + 24), functions = fileOffset(u32(ex + 28)), namePtrs = fileOffset(u32(ex + 32)), ordinals = fileOffset(u32(ex + 36));
    if (functions !== undefined && namePtrs !== undefined && ordinals !== undefined) {
      for (let i = 0; i < Math.min(names, 65536); i++) {
        const nameAt = fileOffset(u32(namePtrs + 4 * i));
        const rva = u32(functions + 4 * u16(ordinals + 2 * i));
        if (nameAt !== undefined && rva && !out.has(rva)) out.set(rva, cString(file, nameAt));
      }
    }
  }
  return { size, symbols: [...out].map(([rva, name]) => ({ rva, name })).sort((a, b) => a.rva - b.rva) };
}

/** "name+0xoff" for an RVA: the nearest symbol at or below it; undefined when none is. */
export function nameAt(syms: PeSymbols, rva: number): string | undefined {
  let lo = 0, hi = syms.symbols.length - 1, best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (syms.symbols[mid].rva <= rva) (best = mid), (lo = mid + 1);
    else hi = mid - 1;
  }
  if (best < 0) return undefined;
  const s = syms.symbols[best];
  return rva === s.rva ? s.name : `${s.name}+0x${(rva - s.rva).toString(16)}`;
}

function cString(b: Uint8Array, at: number): string {
  let end = at;
  while (end < b.length && b[end] !== 0) end++;
  return Buffer.from(b.subarray(at, end)).toString("latin1");
}
