/**
 * Malformed PE images for the PE loader tests, derived at test time from the
 * built hello guest (build/guests/hello.efi), so no binary is checked in.
 *
 * Every `make` function takes the well-formed image bytes, returns a corrupted
 * COPY (the input is never modified) and corrupts exactly one thing.  Offsets
 * are found by parsing the headers (parsePe), never hard-coded for our build.
 *
 * PE32+ layout used below (Microsoft PE/COFF specification):
 *   0x3C                 e_lfanew (u32): file offset of "PE\0\0"
 *   e_lfanew + 4         COFF file header (20 bytes): Machine u16 @+0,
 *                        NumberOfSections u16 @+2, SizeOfOptionalHeader u16 @+16
 *   e_lfanew + 24        optional header: Magic u16 @+0 (0x20B = PE32+),
 *                        AddressOfEntryPoint u32 @+16, ImageBase u64 @+24,
 *                        SectionAlignment u32 @+32, FileAlignment u32 @+36,
 *                        SizeOfImage u32 @+56, SizeOfHeaders u32 @+60,
 *                        Subsystem u16 @+68, NumberOfRvaAndSizes u32 @+108,
 *                        DataDirectory[16] @+112 (8 bytes each; [5] = base
 *                        relocation table: RVA u32, Size u32)
 *   optional header + SizeOfOptionalHeader: section table, 40 bytes per
 *                        section: Name[8] @+0, VirtualSize u32 @+8,
 *                        VirtualAddress u32 @+12, SizeOfRawData u32 @+16,
 *                        PointerToRawData u32 @+20
 *   .reloc blocks        PageRVA u32, BlockSize u32, then u16 entries
 *                        (type << 12 | offset), type 10 = DIR64
 *
 * `expectMessage` is a hint for what the loader's error should mention, loose
 * on purpose (the loader's wording is its own); a test would typically assert
 * that loading fails AND that the message matches.
 */

export interface PeSection {
  index: number;
  name: string;
  /** file offset of this section's 40-byte header */
  headerOffset: number;
  virtualSize: number;
  virtualAddress: number;
  sizeOfRawData: number;
  pointerToRawData: number;
}

export interface PeLayout {
  /** e_lfanew: file offset of the "PE\0\0" signature */
  peOffset: number;
  /** file offset of the COFF file header (peOffset + 4) */
  coffOffset: number;
  /** file offset of the optional header (coffOffset + 20) */
  optOffset: number;
  sizeOfOptionalHeader: number;
  numberOfSections: number;
  /** file offset of the section table */
  sectionTableOffset: number;
  machine: number;
  magic: number;
  subsystem: number;
  imageBase: bigint;
  sectionAlignment: number;
  fileAlignment: number;
  sizeOfImage: number;
  sizeOfHeaders: number;
  addressOfEntryPoint: number;
  sections: PeSection[];
  /** base relocation directory (DataDirectory[5]); rva 0 if absent */
  relocDir: { rva: number; size: number };
}

const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const PE32PLUS_MAGIC = 0x20b;
const DIR_BASERELOC = 5;
const IMAGE_REL_BASED_DIR64 = 10;

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Parses the headers of a well-formed PE32+ image; throws on anything else. */
export function parsePe(bytes: Uint8Array): PeLayout {
  const dv = view(bytes);
  if (bytes.length < 0x40 || dv.getUint16(0, true) !== 0x5a4d) throw new Error("parsePe: no MZ header");
  const peOffset = dv.getUint32(0x3c, true);
  if (peOffset + 24 > bytes.length || dv.getUint32(peOffset, true) !== 0x00004550)
    throw new Error("parsePe: no PE signature");
  const coffOffset = peOffset + 4;
  const optOffset = coffOffset + 20;
  const machine = dv.getUint16(coffOffset, true);
  const numberOfSections = dv.getUint16(coffOffset + 2, true);
  const sizeOfOptionalHeader = dv.getUint16(coffOffset + 16, true);
  const magic = dv.getUint16(optOffset, true);
  if (magic !== PE32PLUS_MAGIC) throw new Error(`parsePe: not PE32+ (magic 0x${magic.toString(16)})`);
  const numberOfRvaAndSizes = dv.getUint32(optOffset + 108, true);
  const relocDir =
    numberOfRvaAndSizes > DIR_BASERELOC
      ? {
          rva: dv.getUint32(optOffset + 112 + DIR_BASERELOC * 8, true),
          size: dv.getUint32(optOffset + 112 + DIR_BASERELOC * 8 + 4, true),
        }
      : { rva: 0, size: 0 };
  const sectionTableOffset = optOffset + sizeOfOptionalHeader;
  const sections: PeSection[] = [];
  for (let i = 0; i < numberOfSections; i++) {
    const h = sectionTableOffset + i * 40;
    if (h + 40 > bytes.length) throw new Error("parsePe: section table truncated");
    let name = "";
    for (let k = 0; k < 8 && bytes[h + k] !== 0; k++) name += String.fromCharCode(bytes[h + k]);
    sections.push({
      index: i,
      name,
      headerOffset: h,
      virtualSize: dv.getUint32(h + 8, true),
      virtualAddress: dv.getUint32(h + 12, true),
      sizeOfRawData: dv.getUint32(h + 16, true),
      pointerToRawData: dv.getUint32(h + 20, true),
    });
  }
  return {
    peOffset,
    coffOffset,
    optOffset,
    sizeOfOptionalHeader,
    numberOfSections,
    sectionTableOffset,
    machine,
    magic,
    subsystem: dv.getUint16(optOffset + 68, true),
    imageBase: dv.getBigUint64(optOffset + 24, true),
    sectionAlignment: dv.getUint32(optOffset + 32, true),
    fileAlignment: dv.getUint32(optOffset + 36, true),
    sizeOfImage: dv.getUint32(optOffset + 56, true),
    sizeOfHeaders: dv.getUint32(optOffset + 60, true),
    addressOfEntryPoint: dv.getUint32(optOffset + 16, true),
    sections,
    relocDir,
  };
}

/** File offset of an RVA that lies in a section's raw data. */
export function rvaToOffset(pe: PeLayout, rva: number): number {
  for (const s of pe.sections) {
    if (rva >= s.virtualAddress && rva - s.virtualAddress < s.sizeOfRawData)
      return s.pointerToRawData + (rva - s.virtualAddress);
  }
  if (rva < pe.sizeOfHeaders) return rva;
  throw new Error(`rvaToOffset: RVA 0x${rva.toString(16)} is not backed by file data`);
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;
const hex = (n: number) => "0x" + n.toString(16);

/** A checked, well-formed copy plus its layout. */
function copyOf(hello: Uint8Array): { out: Uint8Array; dv: DataView; pe: PeLayout } {
  const out = new Uint8Array(hello); // copy
  const pe = parsePe(out);
  if (pe.machine !== IMAGE_FILE_MACHINE_AMD64) throw new Error("pe-fixtures: input is not an x64 image");
  return { out, dv: view(out), pe };
}

/** The section with raw data that comes first in the file (normally .text). */
function firstRawSection(pe: PeLayout): PeSection {
  const s = pe.sections.filter((x) => x.sizeOfRawData > 0).sort((a, b) => a.pointerToRawData - b.pointerToRawData)[0];
  if (!s) throw new Error("pe-fixtures: no section with raw data");
  return s;
}

/** The section that ends highest in the image (normally .reloc). */
function lastVirtualSection(pe: PeLayout): PeSection {
  const s = [...pe.sections].sort((a, b) => b.virtualAddress - a.virtualAddress)[0];
  if (!s) throw new Error("pe-fixtures: no sections");
  return s;
}

/** File offset of the first base relocation block (PageRVA u32, BlockSize u32). */
function firstRelocBlock(pe: PeLayout, dv: DataView): number {
  if (pe.relocDir.rva === 0 || pe.relocDir.size < 10) throw new Error("pe-fixtures: image has no base relocations");
  const off = rvaToOffset(pe, pe.relocDir.rva);
  if (dv.getUint32(off + 4, true) < 10) throw new Error("pe-fixtures: first relocation block is empty");
  return off;
}

// ---------------------------------------------------------------------------
// The corruptions.  Each documents the field and file offset it touches.

/** Whole file cut to its first 200 bytes: file offset 200 onwards is gone,
 *  which is inside the optional header (it needs e_lfanew + 24 + 240 bytes). */
export function truncated200(hello: Uint8Array): Uint8Array {
  const { pe } = copyOf(hello);
  if (200 >= pe.sectionTableOffset) throw new Error("pe-fixtures: 200 bytes would not cut the headers");
  return hello.slice(0, 200);
}

/** File cut in the middle of the first section header: at
 *  sectionTableOffset + 20 (= e_lfanew + 24 + SizeOfOptionalHeader + 20), i.e.
 *  after that header's SizeOfRawData, so PointerToRawData and the rest of the
 *  table are missing. */
export function truncatedInSectionTable(hello: Uint8Array): Uint8Array {
  const { pe } = copyOf(hello);
  return hello.slice(0, pe.sectionTableOffset + 20);
}

/** COFF Machine (u16 at e_lfanew + 4) set to 0x14C (IMAGE_FILE_MACHINE_I386). */
export function wrongMachine(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint16(pe.coffOffset, 0x14c, true);
  return out;
}

/** e_lfanew (u32 at file offset 0x3C) set to file length + 0x1000: the PE
 *  signature would lie past the end of the file. */
export function badLfanew(hello: Uint8Array): Uint8Array {
  const { out, dv } = copyOf(hello);
  dv.setUint32(0x3c, out.length + 0x1000, true);
  return out;
}

/** PointerToRawData (u32 at sectionHeader + 20) of the first section with raw
 *  data (normally .text) set to the file length rounded up to FileAlignment:
 *  all SizeOfRawData bytes of it lie past the end of the file. */
export function sectionRawPastEof(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  const s = firstRawSection(pe);
  dv.setUint32(s.headerOffset + 20, alignUp(out.length, pe.fileAlignment || 0x200), true);
  return out;
}

/** VirtualSize (u32 at sectionHeader + 8) of the highest section (normally
 *  .reloc) set so that VirtualAddress + VirtualSize = SizeOfImage + 0x1000:
 *  the section's virtual range ends one page past SizeOfImage. */
export function sectionVirtualPastSizeOfImage(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  const s = lastVirtualSection(pe);
  dv.setUint32(s.headerOffset + 8, pe.sizeOfImage + 0x1000 - s.virtualAddress, true);
  return out;
}

/** SizeOfImage (u32 at e_lfanew + 24 + 56) set to 0xFFFFF000 (~4 GiB): the
 *  loader must refuse (or fail to allocate) rather than try to map it. */
export function absurdSizeOfImage(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint32(pe.optOffset + 56, 0xfffff000, true);
  return out;
}

/** PageRVA (u32 at the file offset of DataDirectory[5].VirtualAddress, i.e.
 *  the first base relocation block) set to SizeOfImage rounded up to a page:
 *  every fixup of that block would write past the end of the image. */
export function relocBlockOutsideImage(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint32(firstRelocBlock(pe, dv), alignUp(pe.sizeOfImage, 0x1000), true);
  return out;
}

/** Subtler: the first relocation block's PageRVA (u32 at its file offset) set
 *  to SizeOfImage - 0x1000 and its first entry (u16 at block + 8) to
 *  DIR64 | 0xFFC, so the 8-byte fixup starts inside the image but its last 4
 *  bytes are past SizeOfImage.  A loader that only checks the page (or the
 *  first byte) misses this one. */
export function relocEntryStraddlesEnd(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  const block = firstRelocBlock(pe, dv);
  dv.setUint32(block, alignUp(pe.sizeOfImage, 0x1000) - 0x1000, true);
  dv.setUint16(block + 8, (IMAGE_REL_BASED_DIR64 << 12) | 0xffc, true);
  return out;
}

/** Optional header Magic (u16 at e_lfanew + 24) set to 0x10B (PE32, i.e.
 *  32-bit) instead of 0x20B (PE32+). */
export function pe32Magic(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint16(pe.optOffset, 0x10b, true);
  return out;
}

/** Subsystem (u16 at e_lfanew + 24 + 68) set to 3
 *  (IMAGE_SUBSYSTEM_WINDOWS_CUI, a console program) instead of 10
 *  (IMAGE_SUBSYSTEM_EFI_APPLICATION). */
export function wrongSubsystem(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint16(pe.optOffset + 68, 3, true);
  return out;
}

// ---------------------------------------------------------------------------

export interface MalformedPe {
  name: string;
  make: (hello: Uint8Array) => Uint8Array;
  /** the field corrupted and where it is */
  field: string;
  /** the concrete file offset corrupted (or cut at) in a given image */
  offset: (hello: Uint8Array) => number;
  /** what the loader's error message should mention (loose hint) */
  expectMessage: RegExp;
}

export const malformedPeFixtures: MalformedPe[] = [
  {
    name: "truncated to 200 bytes",
    make: truncated200,
    field: "whole file cut at offset 200 (inside the optional header)",
    offset: () => 200,
    expectMessage: /truncat|too (small|short)|end of (file|image)|out of (range|bounds)|header/i,
  },
  {
    name: "truncated inside the section table",
    make: truncatedInSectionTable,
    field: "whole file cut at section table + 20 (middle of the first section header)",
    offset: (h) => parsePe(h).sectionTableOffset + 20,
    expectMessage: /truncat|section (table|header)|too (small|short)|end of (file|image)|out of (range|bounds)/i,
  },
  {
    name: "wrong machine (i386)",
    make: wrongMachine,
    field: "COFF Machine (u16 at e_lfanew + 4) = 0x14C",
    offset: (h) => parsePe(h).coffOffset,
    expectMessage: /machine|0x14c|8664|amd64|x64|x86.?64|architecture/i,
  },
  {
    name: "e_lfanew past end of file",
    make: badLfanew,
    field: "e_lfanew (u32 at 0x3C) = file length + 0x1000",
    offset: () => 0x3c,
    expectMessage: /lfanew|PE (header|signature)|signature|truncat|end of (file|image)|out of (range|bounds)/i,
  },
  {
    name: "section raw data past end of file",
    make: sectionRawPastEof,
    field: "PointerToRawData (u32 at section header + 20) of the first raw section = file length (aligned)",
    offset: (h) => firstRawSection(parsePe(h)).headerOffset + 20,
    expectMessage: /raw|PointerToRawData|SizeOfRawData|section|end of (file|image)|truncat|out of (range|bounds)/i,
  },
  {
    name: "section virtual range past SizeOfImage",
    make: sectionVirtualPastSizeOfImage,
    field: "VirtualSize (u32 at section header + 8) of the highest section: ends at SizeOfImage + 0x1000",
    offset: (h) => lastVirtualSection(parsePe(h)).headerOffset + 8,
    expectMessage: /SizeOfImage|VirtualSize|virtual|section|out of (range|bounds)/i,
  },
  {
    name: "absurd SizeOfImage",
    make: absurdSizeOfImage,
    field: "SizeOfImage (u32 at e_lfanew + 24 + 56) = 0xFFFFF000",
    offset: (h) => parsePe(h).optOffset + 56,
    expectMessage: /SizeOfImage|too (large|big)|out of (resources|memory)|memory|alloc/i,
  },
  {
    name: "relocation block outside the image",
    make: relocBlockOutsideImage,
    field: "first base relocation block PageRVA (u32 at rvaToOffset(DataDirectory[5].VirtualAddress)) = SizeOfImage",
    offset: (h) => {
      const pe = parsePe(h);
      return rvaToOffset(pe, pe.relocDir.rva);
    },
    expectMessage: /reloc/i,
  },
  {
    name: "relocation fixup straddles the end of the image",
    make: relocEntryStraddlesEnd,
    field: "first relocation block PageRVA = SizeOfImage - 0x1000 and entry (u16 at block + 8) = DIR64|0xFFC",
    offset: (h) => {
      const pe = parsePe(h);
      return rvaToOffset(pe, pe.relocDir.rva);
    },
    expectMessage: /reloc/i,
  },
  {
    name: "PE32 magic instead of PE32+",
    make: pe32Magic,
    field: "optional header Magic (u16 at e_lfanew + 24) = 0x10B",
    offset: (h) => parsePe(h).optOffset,
    expectMessage: /PE32|magic|0x10b|optional header|64.?bit/i,
  },
  {
    name: "wrong subsystem (Windows console)",
    make: wrongSubsystem,
    field: "Subsystem (u16 at e_lfanew + 24 + 68) = 3",
    offset: (h) => parsePe(h).optOffset + 68,
    expectMessage: /subsystem/i,
  },
];

/** Describes a fixture for a test message: name, field and concrete offset. */
export function describeFixture(f: MalformedPe, hello: Uint8Array): string {
  return `${f.name}: ${f.field} (file offset ${hex(f.offset(hello))})`;
}
