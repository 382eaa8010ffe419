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
 * Each fixture says how the firmware's loader (firmware/loader.ts) must reject
 * it: the EFI status (UNSUPPORTED for a well-formed image of another kind,
 * LOAD_ERROR for a corrupt one, as LoadImage in UEFI 2.10 §7.4), a message
 * naming the field (matched against the loader's own wording), and the file
 * offset of that field.
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
  /** COFF Characteristics (u16 at coffOffset + 18) */
  characteristics: number;
  /** file offset of DataDirectory[5] (base relocation table: RVA u32, Size u32) */
  relocDirOffset: number;
  sections: PeSection[];
  /** base relocation directory (DataDirectory[5]); rva 0 if absent */
  relocDir: { rva: number; size: number };
}

const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const PE32PLUS_MAGIC = 0x20b;
const DIR_BASERELOC = 5;
const IMAGE_REL_BASED_DIR64 = 10;
const IMAGE_FILE_RELOCS_STRIPPED = 0x0001;

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
    characteristics: dv.getUint16(coffOffset + 18, true),
    relocDirOffset: optOffset + 112 + DIR_BASERELOC * 8,
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
 *  which is inside the optional header (it needs e_lfanew + 24 + 240 bytes).
 *  The field that reaches past the cut is SizeOfOptionalHeader. */
export function truncated200(hello: Uint8Array): Uint8Array {
  const { pe } = copyOf(hello);
  if (200 >= pe.sectionTableOffset) throw new Error("pe-fixtures: 200 bytes would not cut the headers");
  return hello.slice(0, 200);
}

/** File cut in the middle of the first section header: at
 *  sectionTableOffset + 20 (= e_lfanew + 24 + SizeOfOptionalHeader + 20), i.e.
 *  after that header's SizeOfRawData, so PointerToRawData and the rest of the
 *  table are missing.  The first field that reaches past the cut is
 *  SizeOfHeaders (the headers, section table included, end at SizeOfHeaders). */
export function truncatedInSectionTable(hello: Uint8Array): Uint8Array {
  const { pe } = copyOf(hello);
  if (pe.sizeOfHeaders <= pe.sectionTableOffset + 20) throw new Error("pe-fixtures: SizeOfHeaders ends before the cut");
  return hello.slice(0, pe.sectionTableOffset + 20);
}

/** DOS e_magic (u16 at 0) set to "ZM" instead of "MZ". */
export function badDosMagic(hello: Uint8Array): Uint8Array {
  const { out, dv } = copyOf(hello);
  dv.setUint16(0, 0x4d5a, true);
  return out;
}

/** e_lfanew (u32 at file offset 0x3C) set to file length + 0x1000: the PE
 *  signature would lie past the end of the file. */
export function badLfanew(hello: Uint8Array): Uint8Array {
  const { out, dv } = copyOf(hello);
  dv.setUint32(0x3c, out.length + 0x1000, true);
  return out;
}

/** The signature (u32 at e_lfanew) set to "PX\0\0" instead of "PE\0\0". */
export function badPeSignature(hello: Uint8Array): Uint8Array {
  const { out, pe } = copyOf(hello);
  out[pe.peOffset + 1] = 0x58; // 'X'
  return out;
}

/** COFF Machine (u16 at e_lfanew + 4) set to 0x14C (IMAGE_FILE_MACHINE_I386). */
export function wrongMachine(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint16(pe.coffOffset, 0x14c, true);
  return out;
}

/** NumberOfSections (u16 at e_lfanew + 6) set to 0xFFFF: a section table of
 *  0xFFFF * 40 bytes, far past the end of the file. */
export function numberOfSectionsPastEof(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint16(pe.coffOffset + 2, 0xffff, true);
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

/** SizeOfImage (u32 at e_lfanew + 24 + 56) set to 0xFFFFF000 (~4 GiB): the
 *  loader must refuse (or fail to allocate) rather than try to map it. */
export function absurdSizeOfImage(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint32(pe.optOffset + 56, 0xfffff000, true);
  return out;
}

/** AddressOfEntryPoint (u32 at e_lfanew + 24 + 16) set to SizeOfImage: the
 *  entry point is the first byte past the image. */
export function entryPastImage(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint32(pe.optOffset + 16, pe.sizeOfImage, true);
  return out;
}

/** SectionAlignment (u32 at e_lfanew + 24 + 32) set to 0x3000, not a power
 *  of two. */
export function sectionAlignmentNotPow2(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint32(pe.optOffset + 32, 0x3000, true);
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

/** SizeOfRawData (u32 at sectionHeader + 16) of the first section with raw
 *  data set to the file length rounded up to FileAlignment: its data starts
 *  inside the file but runs past the end. */
export function sectionSizeOfRawDataPastEof(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  const s = firstRawSection(pe);
  dv.setUint32(s.headerOffset + 16, alignUp(out.length, pe.fileAlignment || 0x200), true);
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

/** VirtualAddress (u32 at sectionHeader + 12) of the second section set to
 *  the first one's: the two overlap in the image. */
export function sectionsOverlap(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  if (pe.sections.length < 2) throw new Error("pe-fixtures: fewer than two sections");
  dv.setUint32(pe.sections[1].headerOffset + 12, pe.sections[0].virtualAddress, true);
  return out;
}

/** DataDirectory[5].Size (u32 at the directory entry + 4) set to SizeOfImage:
 *  the base relocation table would run past the end of the image. */
export function relocDirPastImage(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint32(pe.relocDirOffset + 4, pe.sizeOfImage, true);
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
 *  first byte) misses this one.  The entry is what is wrong; the page is
 *  inside the image. */
export function relocEntryStraddlesEnd(hello: Uint8Array): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  const block = firstRelocBlock(pe, dv);
  dv.setUint32(block, alignUp(pe.sizeOfImage, 0x1000) - 0x1000, true);
  dv.setUint16(block + 8, (IMAGE_REL_BASED_DIR64 << 12) | 0xffc, true);
  return out;
}

/** A copy that says it must run at its ImageBase: Characteristics (u16 at
 *  e_lfanew + 22) gains IMAGE_FILE_RELOCS_STRIPPED, DataDirectory[5] is
 *  zeroed (no base relocations), and ImageBase (u64 at e_lfanew + 24 + 24) is
 *  set to `base`.  Not corrupt in itself: a loader places it at `base` exactly,
 *  or refuses when that is not free RAM.  (The code still holds the linker's
 *  addresses for the original ImageBase, so it is for loading, not running.) */
export function withoutRelocations(hello: Uint8Array, base: bigint): Uint8Array {
  const { out, dv, pe } = copyOf(hello);
  dv.setUint16(pe.coffOffset + 18, pe.characteristics | IMAGE_FILE_RELOCS_STRIPPED, true);
  dv.setUint32(pe.relocDirOffset, 0, true);
  dv.setUint32(pe.relocDirOffset + 4, 0, true);
  dv.setBigUint64(pe.optOffset + 24, base, true);
  return out;
}

// ---------------------------------------------------------------------------

export interface MalformedPe {
  name: string;
  make: (hello: Uint8Array) => Uint8Array;
  /** the field corrupted and where it is */
  field: string;
  /** the status LoadImage must return: UNSUPPORTED for a well-formed image of
   *  another kind, LOAD_ERROR for a corrupt one (UEFI 2.10 §7.4) */
  status: "LOAD_ERROR" | "UNSUPPORTED";
  /** file offset of the field the loader must name: the corrupted field, or
   *  for a cut file the first header field whose range crosses the cut */
  offset: (hello: Uint8Array) => number;
  /** the loader's message for it: names the field */
  expectMessage: RegExp;
}

export const malformedPeFixtures: MalformedPe[] = [
  {
    name: "truncated to 200 bytes",
    make: truncated200,
    field: "whole file cut at offset 200 (inside the optional header); SizeOfOptionalHeader reaches past it",
    status: "LOAD_ERROR",
    offset: (h) => parsePe(h).coffOffset + 16,
    expectMessage: /SizeOfOptionalHeader too small or past the end of the file/,
  },
  {
    name: "truncated inside the section table",
    make: truncatedInSectionTable,
    field: "whole file cut at section table + 20 (middle of the first section header); SizeOfHeaders reaches past it",
    status: "LOAD_ERROR",
    offset: (h) => parsePe(h).optOffset + 60,
    expectMessage: /SizeOfHeaders is past the end of the file/,
  },
  {
    name: "DOS magic not MZ",
    make: badDosMagic,
    field: "e_magic (u16 at 0) = \"ZM\"",
    status: "UNSUPPORTED",
    offset: () => 0,
    expectMessage: /e_magic is not MZ/,
  },
  {
    name: "e_lfanew past end of file",
    make: badLfanew,
    field: "e_lfanew (u32 at 0x3C) = file length + 0x1000",
    status: "LOAD_ERROR",
    offset: () => 0x3c,
    expectMessage: /e_lfanew points past the end of the file/,
  },
  {
    name: "PE signature missing",
    make: badPeSignature,
    field: "Signature (u32 at e_lfanew) = \"PX\\0\\0\"",
    status: "UNSUPPORTED",
    offset: (h) => parsePe(h).peOffset,
    expectMessage: /PE signature missing/,
  },
  {
    name: "wrong machine (i386)",
    make: wrongMachine,
    field: "COFF Machine (u16 at e_lfanew + 4) = 0x14C",
    status: "UNSUPPORTED",
    offset: (h) => parsePe(h).coffOffset,
    expectMessage: /Machine is not x86-64 \(0x8664\)/,
  },
  {
    name: "NumberOfSections past end of file",
    make: numberOfSectionsPastEof,
    field: "NumberOfSections (u16 at e_lfanew + 6) = 0xFFFF",
    status: "LOAD_ERROR",
    offset: (h) => parsePe(h).coffOffset + 2,
    expectMessage: /section table runs past the end of the file/,
  },
  {
    name: "PE32 magic instead of PE32+",
    make: pe32Magic,
    field: "optional header Magic (u16 at e_lfanew + 24) = 0x10B",
    status: "UNSUPPORTED",
    offset: (h) => parsePe(h).optOffset,
    expectMessage: /Magic is not PE32\+ \(0x20b\)/,
  },
  {
    name: "wrong subsystem (Windows console)",
    make: wrongSubsystem,
    field: "Subsystem (u16 at e_lfanew + 24 + 68) = 3",
    status: "UNSUPPORTED",
    offset: (h) => parsePe(h).optOffset + 68,
    expectMessage: /Subsystem is not an EFI application or driver/,
  },
  {
    name: "absurd SizeOfImage",
    make: absurdSizeOfImage,
    field: "SizeOfImage (u32 at e_lfanew + 24 + 56) = 0xFFFFF000",
    status: "LOAD_ERROR",
    offset: (h) => parsePe(h).optOffset + 56,
    expectMessage: /SizeOfImage is zero or larger than guest RAM/,
  },
  {
    name: "entry point past the image",
    make: entryPastImage,
    field: "AddressOfEntryPoint (u32 at e_lfanew + 24 + 16) = SizeOfImage",
    status: "LOAD_ERROR",
    offset: (h) => parsePe(h).optOffset + 16,
    expectMessage: /AddressOfEntryPoint is outside the image/,
  },
  {
    name: "SectionAlignment not a power of two",
    make: sectionAlignmentNotPow2,
    field: "SectionAlignment (u32 at e_lfanew + 24 + 32) = 0x3000",
    status: "LOAD_ERROR",
    offset: (h) => parsePe(h).optOffset + 32,
    expectMessage: /SectionAlignment is not a power of two/,
  },
  {
    name: "section SizeOfRawData past end of file",
    make: sectionSizeOfRawDataPastEof,
    field: "SizeOfRawData (u32 at section header + 16) of the first raw section = file length (aligned)",
    status: "LOAD_ERROR",
    offset: (h) => firstRawSection(parsePe(h)).headerOffset + 16,
    expectMessage: /SizeOfRawData|section raw data extends past the end of the file/,
  },
  {
    name: "section virtual range past SizeOfImage",
    make: sectionVirtualPastSizeOfImage,
    field: "VirtualSize (u32 at section header + 8) of the highest section: ends at SizeOfImage + 0x1000",
    status: "LOAD_ERROR",
    offset: (h) => lastVirtualSection(parsePe(h)).headerOffset + 8,
    expectMessage: /section extends past SizeOfImage/,
  },
  {
    name: "sections overlap",
    make: sectionsOverlap,
    field: "VirtualAddress (u32 at section header + 12) of the second section = the first's",
    status: "LOAD_ERROR",
    offset: (h) => parsePe(h).sections[1].headerOffset + 12,
    expectMessage: /section overlaps the one before it/,
  },
  {
    name: "relocation directory past the image",
    make: relocDirPastImage,
    field: "DataDirectory[5] (base relocation table; Size u32 at +4) = SizeOfImage",
    status: "LOAD_ERROR",
    offset: (h) => parsePe(h).relocDirOffset,
    expectMessage: /base relocation directory is outside the image/,
  },
  {
    name: "relocation block outside the image",
    make: relocBlockOutsideImage,
    field: "PageRVA (u32 at the first base relocation block) = SizeOfImage rounded up to a page",
    status: "LOAD_ERROR",
    offset: (h) => firstRelocBlock(parsePe(h), new DataView(h.buffer, h.byteOffset, h.byteLength)),
    expectMessage: /base relocation block VirtualAddress is outside the image/,
  },
  {
    name: "relocation entry straddling the image's end",
    make: relocEntryStraddlesEnd,
    field: "first entry (u16 at block + 8) = DIR64 | 0xffc in a block whose page is the image's last",
    status: "LOAD_ERROR",
    offset: (h) => firstRelocBlock(parsePe(h), new DataView(h.buffer, h.byteOffset, h.byteLength)) + 8,
    expectMessage: /base relocation points outside the image/,
  },
];

/** Describes a fixture for a test message: name, field and concrete offset. */
export function describeFixture(f: MalformedPe, hello: Uint8Array): string {
  return `${f.name}: ${f.field} (file offset ${hex(f.offset(hello))})`;
}
