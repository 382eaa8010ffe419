// Reads an x86-64 vmlinux for the PVH entry: validates the ELF64 header and program
// headers against the file, lists the PT_LOAD segments by physical address, collects
// the PT_NOTE notes and finds Xen's XEN_ELFNOTE_PHYS32_ENTRY among them. Every offset
// comes from the declarations in firmware/spec/elf.ts; every error names the field and
// its file offset.
import { closeSync, openSync, statSync } from "node:fs";
import { readAt } from "../read-at.ts";
import { field, type Struct } from "../../firmware/spec/decl.ts";
import { EI, ELF, ELF64_EHDR, ELF64_NHDR, ELF64_PHDR } from "../../firmware/spec/elf.ts";
import { XEN_ELFNOTE_NAME, XEN_ELFNOTE_PHYS32_ENTRY } from "../../firmware/spec/pvh.ts";
import { hex } from "./error.ts";
import { KernelImageError } from "../errors.ts";
import { MAX_VMLINUX_BYTES } from "./bzimage.ts";

export interface ElfSegment {
  /** Index in the program header table. */
  index: number;
  type: number;
  flags: number;
  /** File offset of the bytes. */
  offset: number;
  /** Virtual address (a kernel's are above 2^63, hence bigint). */
  vaddr: bigint;
  /** Physical address: where PVH loads the segment. */
  paddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface ElfNote {
  name: string;
  type: number;
  desc: Uint8Array;
  /** File offset of the note header. */
  offset: number;
}

export interface ElfImage {
  /** The whole file; segment bytes are views into it (unless `source` is set). */
  bytes: Uint8Array;
  /**
   * Set by parseElfSource: `bytes` then holds only the headers and the notes, and the
   * segments' bytes are read from here, straight into guest RAM.
   */
  source?: ElfSource;
  /** What errors call the file. */
  file: string;
  entry: bigint;
  /** File offset of the program header table. */
  phoff: number;
  /** PT_LOAD segments in program header order. */
  loads: ElfSegment[];
  /** Notes of every PT_NOTE segment, in file order. */
  notes: ElfNote[];
}

/** An ELF file's bytes where they are: a vmlinux is ~50 MB, of which parsing needs a few KB. */
export interface ElfSource {
  readonly size: number;
  /** Copy `dest.length` bytes from file offset `offset` into `dest`. */
  copy(offset: number, dest: Uint8Array): void;
}

/** The file at `path`, read as needed. */
export function fileSource(path: string): ElfSource {
  const size = statSync(path).size;
  return {
    size,
    copy(offset, dest) {
      const fd = openSync(path, "r");
      try {
        const got = readAt(fd, dest, offset);
        if (got < dest.length) throw new KernelImageError(path, "file", offset + got, `ended while reading ${dest.length} bytes at ${hex(offset)} (the file changed?)`);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/**
 * parseElf, reading only the ELF header, the program headers and the PT_NOTE segments:
 * the rest of the returned `bytes` stays zero (memory the OS backs only when touched),
 * and the PT_LOAD segments are read later from `source` into guest RAM, one copy and no
 * kernel-sized buffer (a PVH boot of a 53 MB vmlinux: its start ~30 ms sooner).
 */
export function parseElfSource(source: ElfSource, file = "vmlinux"): ElfImage {
  if (source.size > MAX_VMLINUX_BYTES) throw new KernelImageError(file, "file", 0, `is ${hex(source.size)} bytes, larger than any vmlinux (at most ${hex(MAX_VMLINUX_BYTES)})`);
  const bytes = new Uint8Array(source.size);
  const view = new DataView(bytes.buffer);
  const fill = (offset: number, length: number) => {
    const end = Math.min(source.size, offset + length);
    if (offset < end) source.copy(offset, bytes.subarray(offset, end));
  };
  // Raw reads, bounded by the file; parseElf validates every field afterwards.
  fill(0, ELF64_EHDR.size);
  if (source.size >= ELF64_EHDR.size) {
    const phoff = view.getBigUint64(field(ELF64_EHDR, "e_phoff").offset, true);
    const phnum = view.getUint16(field(ELF64_EHDR, "e_phnum").offset, true);
    if (phoff < BigInt(source.size)) {
      const table = Number(phoff);
      fill(table, phnum * ELF64_PHDR.size);
      for (let i = 0; i < phnum && table + (i + 1) * ELF64_PHDR.size <= source.size; i++) {
        const ph = table + i * ELF64_PHDR.size;
        if (view.getUint32(ph + field(ELF64_PHDR, "p_type").offset, true) !== ELF.PT_NOTE) continue;
        const offset = view.getBigUint64(ph + field(ELF64_PHDR, "p_offset").offset, true);
        const size = view.getBigUint64(ph + field(ELF64_PHDR, "p_filesz").offset, true);
        if (offset < BigInt(source.size)) fill(Number(offset), Number(size > BigInt(source.size) ? BigInt(source.size) : size));
      }
    }
  }
  return { ...parseElf(bytes, file), source };
}

/** Largest address or size this reader keeps as a number (exact in a double). */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Parse and validate an ELF64 x86-64 executable. `file` names it in errors. */
export function parseElf(bytes: Uint8Array, file = "vmlinux"): ElfImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (name: string, at: number, what: string) => new KernelImageError(file, name, at, what);
  const at = (s: Struct, base: number, name: string) => base + field(s, name).offset;
  const u16 = (p: number) => view.getUint16(p, true);
  const u32 = (p: number) => view.getUint32(p, true);
  const u64 = (p: number) => view.getBigUint64(p, true);
  /** A u64 field that must fit a number (offsets, physical addresses, sizes). */
  const num = (s: Struct, base: number, name: string, label: string) => {
    const v = u64(at(s, base, name));
    if (v > MAX_SAFE) throw fail(label, at(s, base, name), `${hex(v)} is beyond any file or guest memory`);
    return Number(v);
  };

  if (bytes.length < ELF64_EHDR.size) throw fail("Elf64_Ehdr", 0, `truncated: the file is ${bytes.length} bytes, the ELF64 header alone is ${ELF64_EHDR.size}`);
  const ident = at(ELF64_EHDR, 0, "e_ident");
  if (!ELF.MAGIC.every((b, i) => bytes[ident + EI.MAG0 + i] === b)) throw fail("e_ident[EI_MAG]", ident + EI.MAG0, 'not an ELF file (no "\\x7fELF")');
  const cls = bytes[ident + EI.CLASS];
  if (cls !== ELF.CLASS64) throw fail("e_ident[EI_CLASS]", ident + EI.CLASS, `is ${cls}, not ELFCLASS64 (2): only a 64-bit vmlinux is supported`);
  const data = bytes[ident + EI.DATA];
  if (data !== ELF.DATA2LSB) throw fail("e_ident[EI_DATA]", ident + EI.DATA, `is ${data}, not ELFDATA2LSB (1, little endian)`);
  const ver = bytes[ident + EI.VERSION];
  if (ver !== ELF.EV_CURRENT) throw fail("e_ident[EI_VERSION]", ident + EI.VERSION, `is ${ver}, not EV_CURRENT (1)`);
  const type = u16(at(ELF64_EHDR, 0, "e_type"));
  if (type !== ELF.ET_EXEC) throw fail("Elf64_Ehdr.e_type", at(ELF64_EHDR, 0, "e_type"), `is ${type}, not ET_EXEC (2): a vmlinux is an executable`);
  const machine = u16(at(ELF64_EHDR, 0, "e_machine"));
  if (machine !== ELF.EM_X86_64) throw fail("Elf64_Ehdr.e_machine", at(ELF64_EHDR, 0, "e_machine"), `is ${machine}, not EM_X86_64 (62)`);

  const phentsize = u16(at(ELF64_EHDR, 0, "e_phentsize"));
  if (phentsize !== ELF64_PHDR.size) throw fail("Elf64_Ehdr.e_phentsize", at(ELF64_EHDR, 0, "e_phentsize"), `is ${phentsize}, not sizeof(Elf64_Phdr) = ${ELF64_PHDR.size}`);
  const phnum = u16(at(ELF64_EHDR, 0, "e_phnum"));
  if (phnum === 0) throw fail("Elf64_Ehdr.e_phnum", at(ELF64_EHDR, 0, "e_phnum"), "is 0: no program headers, nothing to load");
  if (phnum === ELF.PN_XNUM) throw fail("Elf64_Ehdr.e_phnum", at(ELF64_EHDR, 0, "e_phnum"), "is PN_XNUM (count in section 0): not supported");
  const phoff = num(ELF64_EHDR, 0, "e_phoff", "Elf64_Ehdr.e_phoff");
  if (phoff + phnum * phentsize > bytes.length) {
    throw fail("Elf64_Ehdr.e_phoff", at(ELF64_EHDR, 0, "e_phoff"), `program header table ${hex(phoff)}+${phnum}×${phentsize} runs past the end of the ${hex(bytes.length)}-byte file`);
  }

  const loads: ElfSegment[] = [];
  const notes: ElfNote[] = [];
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const name = (f: string) => `Elf64_Phdr[${i}].${f}`;
    const seg: ElfSegment = {
      index: i,
      type: u32(at(ELF64_PHDR, ph, "p_type")),
      flags: u32(at(ELF64_PHDR, ph, "p_flags")),
      offset: num(ELF64_PHDR, ph, "p_offset", name("p_offset")),
      vaddr: u64(at(ELF64_PHDR, ph, "p_vaddr")),
      paddr: num(ELF64_PHDR, ph, "p_paddr", name("p_paddr")),
      filesz: num(ELF64_PHDR, ph, "p_filesz", name("p_filesz")),
      memsz: num(ELF64_PHDR, ph, "p_memsz", name("p_memsz")),
      align: num(ELF64_PHDR, ph, "p_align", name("p_align")),
    };
    if (seg.type !== ELF.PT_LOAD && seg.type !== ELF.PT_NOTE) continue;
    if (seg.offset > bytes.length) throw fail(name("p_offset"), at(ELF64_PHDR, ph, "p_offset"), `${hex(seg.offset)} is past the end of the ${hex(bytes.length)}-byte file`);
    if (seg.offset + seg.filesz > bytes.length) {
      throw fail(name("p_filesz"), at(ELF64_PHDR, ph, "p_filesz"), `segment ${hex(seg.offset)}+${hex(seg.filesz)} runs past the end of the ${hex(bytes.length)}-byte file`);
    }
    if (seg.type === ELF.PT_LOAD) {
      if (seg.filesz > seg.memsz) throw fail(name("p_memsz"), at(ELF64_PHDR, ph, "p_memsz"), `${hex(seg.memsz)} is smaller than p_filesz ${hex(seg.filesz)}`);
      if (seg.memsz === 0) continue; // nothing to place
      for (const o of loads) {
        if (seg.paddr < o.paddr + o.memsz && o.paddr < seg.paddr + seg.memsz) {
          throw fail(name("p_paddr"), at(ELF64_PHDR, ph, "p_paddr"), `${hex(seg.paddr)}+${hex(seg.memsz)} overlaps segment ${o.index} at ${hex(o.paddr)}+${hex(o.memsz)}`);
        }
      }
      loads.push(seg);
    } else {
      notes.push(...readNotes(bytes, seg, file));
    }
  }
  if (loads.length === 0) throw fail("Elf64_Ehdr.e_phnum", at(ELF64_EHDR, 0, "e_phnum"), `none of the ${phnum} program headers is a non-empty PT_LOAD`);
  return { bytes, file, entry: u64(at(ELF64_EHDR, 0, "e_entry")), phoff, loads, notes };
}

/** The notes of one PT_NOTE segment (gABI "Note Section"; 4-byte padding unless p_align is 8). */
function readNotes(bytes: Uint8Array, seg: ElfSegment, file: string): ElfNote[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const align = seg.align === 8 ? 8 : 4;
  const pad = (n: number) => Math.ceil(n / align) * align;
  const end = seg.offset + seg.filesz;
  const out: ElfNote[] = [];
  let p = seg.offset;
  while (p < end) {
    const nf = (f: string) => p + field(ELF64_NHDR, f).offset;
    if (p + ELF64_NHDR.size > end) {
      throw new KernelImageError(file, `Elf64_Phdr[${seg.index}] note`, p, `${end - p} bytes left in the PT_NOTE segment, a note header needs ${ELF64_NHDR.size}`);
    }
    const namesz = view.getUint32(nf("n_namesz"), true);
    const descsz = view.getUint32(nf("n_descsz"), true);
    const type = view.getUint32(nf("n_type"), true);
    const nameAt = p + ELF64_NHDR.size;
    const descAt = nameAt + pad(namesz);
    if (descAt > end) throw new KernelImageError(file, "Elf64_Nhdr.n_namesz", nf("n_namesz"), `name of ${namesz} bytes runs past the end of the PT_NOTE segment at ${hex(end)}`);
    if (descAt + descsz > end) throw new KernelImageError(file, "Elf64_Nhdr.n_descsz", nf("n_descsz"), `description of ${descsz} bytes runs past the end of the PT_NOTE segment at ${hex(end)}`);
    // The name includes its NUL (namesz 4 for "Xen").
    const name = Buffer.from(bytes.subarray(nameAt, nameAt + namesz)).toString("latin1").replace(/\0+$/, "");
    out.push({ name, type, desc: bytes.subarray(descAt, descAt + descsz), offset: p });
    p = descAt + pad(descsz);
  }
  return out;
}

/**
 * The PVH entry: XEN_ELFNOTE_PHYS32_ENTRY, a 32-bit physical address (Linux stores it
 * with _ASM_PTR, 8 bytes on x86-64, so 4- and 8-byte descriptions are both accepted).
 * It must lie in the bytes of a PT_LOAD segment, or the CPU would start in zeros.
 */
export function pvhEntry(elf: ElfImage): number {
  const file = elf.file;
  const note = elf.notes.find((n) => n.name === XEN_ELFNOTE_NAME && n.type === XEN_ELFNOTE_PHYS32_ENTRY);
  if (!note) {
    const xen = elf.notes.filter((n) => n.name === XEN_ELFNOTE_NAME).length;
    throw new KernelImageError(file, "PT_NOTE notes", elf.phoff,
      `no XEN_ELFNOTE_PHYS32_ENTRY note ("Xen", type 18) among ${elf.notes.length} notes (${xen} of them "Xen"): this kernel has no PVH entry (built without CONFIG_PVH)`);
  }
  const descsz = note.offset + field(ELF64_NHDR, "n_descsz").offset;
  const d = new DataView(note.desc.buffer, note.desc.byteOffset, note.desc.byteLength);
  let entry: number;
  if (note.desc.length === 4) entry = d.getUint32(0, true);
  else if (note.desc.length === 8) {
    const v = d.getBigUint64(0, true);
    if (v > 0xffff_ffffn) throw new KernelImageError(file, "XEN_ELFNOTE_PHYS32_ENTRY", note.offset, `entry ${hex(v)} is above 4 GiB: a 32-bit entry point cannot reach it`);
    entry = Number(v);
  } else {
    throw new KernelImageError(file, "Elf64_Nhdr.n_descsz", descsz, `XEN_ELFNOTE_PHYS32_ENTRY description is ${note.desc.length} bytes, not 4 or 8`);
  }
  if (!elf.loads.some((s) => entry >= s.paddr && entry < s.paddr + s.filesz)) {
    throw new KernelImageError(file, "XEN_ELFNOTE_PHYS32_ENTRY", note.offset,
      `entry ${hex(entry)} lies in no PT_LOAD segment's file bytes (${elf.loads.map((s) => `${hex(s.paddr)}+${hex(s.filesz)}`).join(", ")})`);
  }
  return entry;
}
