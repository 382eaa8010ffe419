// PE32+ image loader (UEFI 2.10 §2.1.1, Microsoft PE/COFF "PE Format").
//
// Every header field is checked against the file and the image before it is used;
// a failure leaves `loadError` naming the field and `loadErrorOffset` its file offset,
// and returns the status LoadImage reports (§7.4):
// UNSUPPORTED for a valid image of another kind, LOAD_ERROR for a corrupt one.
import { gp, ramBytes } from "./mem";
import { allocAligned, claim, NONE, PAGE, retype } from "./services/alloc";
import { hostCodeWritten } from "./abi";
import { machine, machineMismatch } from "./arch";
import {
  IMAGE_DOS_HEADER, IMAGE_NT_HEADERS_PREFIX, IMAGE_OPTIONAL_HEADER64, IMAGE_SECTION_HEADER,
  IMAGE_DATA_DIRECTORY, IMAGE_BASE_RELOCATION, Pe, MemoryType, Status,
} from "./spec/gen";

export let loadError: string = "";
export let loadErrorOffset: u64 = 0;

// Result of a successful load.
export let imageBase: u64 = 0;
export let imagePages: u64 = 0;
export let imageSize: u64 = 0;
export let imageEntry: u64 = 0;
export let imageCodeType: u32 = 0;
export let imageDataType: u32 = 0;

/**
 * A source buffer the next load may take as the image itself (fw_load_image_in_place):
 * its guest address and pages. The host stages a file it reads straight into guest RAM;
 * when the file already lies as the image would (every section's file data at its own
 * RVA, as in Linux's bzImage), the buffer is aligned as the image asks and holds
 * SizeOfImage, it becomes the image where it is: a kernel-sized copy saved. `adopted`
 * says it did (the buffer's pages are then the image's, or freed).
 */
let adoptFrom: u64 = 0;
let adoptPages: u64 = 0;
export let adopted = false;

export function offerSourceAsImage(src: u64, pages: u64): void {
  adoptFrom = src;
  adoptPages = pages;
}

/** Every section with file data has it at its own RVA (PointerToRawData == VirtualAddress). */
function flat(f: usize, sec: u64, nsec: u64): bool {
  for (let i: u64 = 0; i < nsec; i++) {
    const s = f + <usize>(sec + i * IMAGE_SECTION_HEADER.SIZE);
    const raw = load<u32>(s + IMAGE_SECTION_HEADER.SizeOfRawData);
    if (raw && load<u32>(s + IMAGE_SECTION_HEADER.PointerToRawData) != load<u32>(s + IMAGE_SECTION_HEADER.VirtualAddress)) return false;
  }
  return true;
}

/** Fail a load with `message` about the file byte at `offset`; LoadImage uses it for its own limits too. */
export function fail(status: u64, message: string, offset: u64): u64 {
  loadError = message;
  loadErrorOffset = offset;
  return status;
}

/**
 * File offset of an RVA, through the section whose file data holds it, so that
 * relocation errors name a file offset like every other error. Bytes no file data backs
 * (a section's zero fill) have no offset of their own: the relocation directory entry
 * that pointed there, `dir`, is named instead.
 */
function fileOffset(f: usize, sec: u64, nsec: u64, rva: u64, dir: u64): u64 {
  for (let i: u64 = 0; i < nsec; i++) {
    const s = f + <usize>(sec + i * IMAGE_SECTION_HEADER.SIZE);
    const va = <u64>load<u32>(s + IMAGE_SECTION_HEADER.VirtualAddress);
    if (rva >= va && rva - va < <u64>load<u32>(s + IMAGE_SECTION_HEADER.SizeOfRawData)) {
      return <u64>load<u32>(s + IMAGE_SECTION_HEADER.PointerToRawData) + (rva - va);
    }
  }
  return dir;
}

/** Load the PE image at WASM address f, size bytes: the caller's guest() result for the source buffer. */
export function loadPe(f: usize, size: u64): u64 {
  loadError = "";
  adopted = false;
  if (size < IMAGE_DOS_HEADER.SIZE) return fail(Status.LOAD_ERROR, "file too small for the DOS header", 0);
  // Not a PE image at all is an image type not supported (§7.4 LoadImage), as EDK2's
  // PE/COFF library answers; a PE image with bad fields is corrupt (LOAD_ERROR).
  if (load<u16>(f + IMAGE_DOS_HEADER.e_magic) != Pe.DOS_MAGIC) return fail(Status.UNSUPPORTED, "DOS header e_magic is not MZ", 0);
  const nt = <u64>load<u32>(f + IMAGE_DOS_HEADER.e_lfanew);
  if (nt + IMAGE_NT_HEADERS_PREFIX.SIZE > size) return fail(Status.LOAD_ERROR, "e_lfanew points past the end of the file", IMAGE_DOS_HEADER.e_lfanew);
  const h = f + <usize>nt;
  if (load<u32>(h + IMAGE_NT_HEADERS_PREFIX.Signature) != Pe.NT_SIGNATURE) return fail(Status.UNSUPPORTED, "PE signature missing", nt);
  if (<u32>load<u16>(h + IMAGE_NT_HEADERS_PREFIX.Machine) != machine) {
    return fail(Status.UNSUPPORTED, machineMismatch(), nt + IMAGE_NT_HEADERS_PREFIX.Machine);
  }
  const optSize = <u64>load<u16>(h + IMAGE_NT_HEADERS_PREFIX.SizeOfOptionalHeader);
  const opt = nt + IMAGE_NT_HEADERS_PREFIX.SIZE;
  if (optSize < IMAGE_OPTIONAL_HEADER64.SIZE || opt + optSize > size) {
    return fail(Status.LOAD_ERROR, "SizeOfOptionalHeader too small or past the end of the file", nt + IMAGE_NT_HEADERS_PREFIX.SizeOfOptionalHeader);
  }
  const o = f + <usize>opt;
  if (load<u16>(o + IMAGE_OPTIONAL_HEADER64.Magic) != Pe.OPTIONAL_MAGIC_PE32PLUS) {
    return fail(Status.UNSUPPORTED, "optional header Magic is not PE32+ (0x20b)", opt);
  }
  const subsystem = <u32>load<u16>(o + IMAGE_OPTIONAL_HEADER64.Subsystem);
  if (subsystem == Pe.SUBSYSTEM_EFI_APPLICATION) {
    imageCodeType = MemoryType.LoaderCode; imageDataType = MemoryType.LoaderData;
  } else if (subsystem == Pe.SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER) {
    imageCodeType = MemoryType.BootServicesCode; imageDataType = MemoryType.BootServicesData;
  } else if (subsystem == Pe.SUBSYSTEM_EFI_RUNTIME_DRIVER) {
    imageCodeType = MemoryType.RuntimeServicesCode; imageDataType = MemoryType.RuntimeServicesData;
  } else {
    return fail(Status.UNSUPPORTED, "Subsystem is not an EFI application or driver (10, 11, 12)", opt + IMAGE_OPTIONAL_HEADER64.Subsystem);
  }
  const sizeOfImage = <u64>load<u32>(o + IMAGE_OPTIONAL_HEADER64.SizeOfImage);
  if (sizeOfImage == 0 || sizeOfImage > ramBytes) {
    return fail(Status.LOAD_ERROR, "SizeOfImage is zero or larger than guest RAM", opt + IMAGE_OPTIONAL_HEADER64.SizeOfImage);
  }
  const sizeOfHeaders = <u64>load<u32>(o + IMAGE_OPTIONAL_HEADER64.SizeOfHeaders);
  if (sizeOfHeaders > size || sizeOfHeaders > sizeOfImage) {
    return fail(Status.LOAD_ERROR, "SizeOfHeaders is past the end of the file or the image", opt + IMAGE_OPTIONAL_HEADER64.SizeOfHeaders);
  }
  const entry = <u64>load<u32>(o + IMAGE_OPTIONAL_HEADER64.AddressOfEntryPoint);
  if (entry == 0 || entry >= sizeOfImage) {
    return fail(Status.LOAD_ERROR, "AddressOfEntryPoint is outside the image", opt + IMAGE_OPTIONAL_HEADER64.AddressOfEntryPoint);
  }
  const nsec = <u64>load<u16>(h + IMAGE_NT_HEADERS_PREFIX.NumberOfSections);
  const sec = opt + optSize;
  if (sec + nsec * IMAGE_SECTION_HEADER.SIZE > size) {
    return fail(Status.LOAD_ERROR, "section table runs past the end of the file", nt + IMAGE_NT_HEADERS_PREFIX.NumberOfSections);
  }
  let prevEnd: u64 = 0;
  for (let i: u64 = 0; i < nsec; i++) {
    const so = sec + i * IMAGE_SECTION_HEADER.SIZE;
    const s = f + <usize>so;
    const va = <u64>load<u32>(s + IMAGE_SECTION_HEADER.VirtualAddress);
    const raw = <u64>load<u32>(s + IMAGE_SECTION_HEADER.SizeOfRawData);
    const ptr = <u64>load<u32>(s + IMAGE_SECTION_HEADER.PointerToRawData);
    let vsize = <u64>load<u32>(s + IMAGE_SECTION_HEADER.VirtualSize);
    if (vsize == 0) vsize = raw;
    if (va + vsize > sizeOfImage) return fail(Status.LOAD_ERROR, "section extends past SizeOfImage", so + IMAGE_SECTION_HEADER.VirtualSize);
    if (va < prevEnd) return fail(Status.LOAD_ERROR, "section overlaps the one before it", so + IMAGE_SECTION_HEADER.VirtualAddress);
    if (raw && ptr >= size) return fail(Status.LOAD_ERROR, "section PointerToRawData is past the end of the file", so + IMAGE_SECTION_HEADER.PointerToRawData);
    if (raw && ptr + raw > size) return fail(Status.LOAD_ERROR, "section raw data extends past the end of the file", so + IMAGE_SECTION_HEADER.SizeOfRawData);
    prevEnd = va + vsize;
  }
  const ndirs = <u64>load<u32>(o + IMAGE_OPTIONAL_HEADER64.NumberOfRvaAndSizes);
  const relocDir = opt + IMAGE_OPTIONAL_HEADER64.SIZE + <u64>Pe.DIRECTORY_BASERELOC * IMAGE_DATA_DIRECTORY.SIZE;
  let relocRva: u64 = 0, relocSize: u64 = 0;
  if (ndirs > <u64>Pe.DIRECTORY_BASERELOC && relocDir + IMAGE_DATA_DIRECTORY.SIZE <= opt + optSize) {
    relocRva = <u64>load<u32>(f + <usize>relocDir + IMAGE_DATA_DIRECTORY.VirtualAddress);
    relocSize = <u64>load<u32>(f + <usize>relocDir + IMAGE_DATA_DIRECTORY.Size);
    if (relocRva + relocSize > sizeOfImage) return fail(Status.LOAD_ERROR, "base relocation directory is outside the image", relocDir);
  }

  // Place the image: at any SectionAlignment-aligned address, or at ImageBase when it
  // carries no relocations and says so.
  const preferred = load<u64>(o + IMAGE_OPTIONAL_HEADER64.ImageBase);
  const align = max<u64>(PAGE, <u64>load<u32>(o + IMAGE_OPTIONAL_HEADER64.SectionAlignment));
  const pages = (sizeOfImage + PAGE - 1) / PAGE;
  const stripped = (load<u16>(h + IMAGE_NT_HEADERS_PREFIX.Characteristics) & Pe.FILE_RELOCS_STRIPPED) != 0;
  let base: u64;
  const offered = adoptFrom, offeredPages = adoptPages;
  adoptFrom = 0;
  adoptPages = 0;
  if (offered && !(stripped && relocSize == 0) && !(align & (align - 1)) && (offered & (align - 1)) == 0 && pages <= offeredPages && flat(f, sec, nsec)) {
    base = offered;
    adopted = true;
    retype(base, pages, imageCodeType, 0);
    if (offeredPages > pages) retype(base + pages * PAGE, offeredPages - pages, MemoryType.ConventionalMemory, 0);
  } else if (stripped && relocSize == 0) {
    base = preferred;
    if ((base & (PAGE - 1)) || !claim(base, pages, imageCodeType, 0)) {
      return fail(Status.LOAD_ERROR, "relocations stripped and ImageBase is not free RAM", opt + IMAGE_OPTIONAL_HEADER64.ImageBase);
    }
  } else {
    if (align & (align - 1)) return fail(Status.LOAD_ERROR, "SectionAlignment is not a power of two", opt + IMAGE_OPTIONAL_HEADER64.SectionAlignment);
    base = allocAligned(imageCodeType, pages, align);
    if (base == NONE) return fail(Status.OUT_OF_RESOURCES, "no free memory for SizeOfImage", opt + IMAGE_OPTIONAL_HEADER64.SizeOfImage);
  }
  // The headers and each section's file data are copied; every byte between and after
  // them is zeroed, once (the sections were checked to be in order, not overlapping): a
  // kernel-sized image is written in one pass, not zeroed first and then overwritten.
  const b = gp(base);
  if (!adopted) memory.copy(b, f, <usize>sizeOfHeaders);
  let written = sizeOfHeaders;
  for (let i: u64 = 0; i < nsec; i++) {
    const s = f + <usize>(sec + i * IMAGE_SECTION_HEADER.SIZE);
    const va = <u64>load<u32>(s + IMAGE_SECTION_HEADER.VirtualAddress);
    const raw = <u64>load<u32>(s + IMAGE_SECTION_HEADER.SizeOfRawData);
    let vsize = <u64>load<u32>(s + IMAGE_SECTION_HEADER.VirtualSize);
    if (vsize == 0) vsize = raw;
    // Nothing to copy for a section without file data (its PointerToRawData is unchecked).
    const n = min(raw, vsize);
    if (va > written) memory.fill(b + <usize>written, 0, <usize>(va - written));
    if (n && !adopted) memory.copy(b + <usize>va, f + <usize>load<u32>(s + IMAGE_SECTION_HEADER.PointerToRawData), <usize>n);
    written = max(written, va + n);
  }
  if (pages * PAGE > written) memory.fill(b + <usize>written, 0, <usize>(pages * PAGE - written));

  const delta = base - preferred;
  let r = relocRva;
  while (r + IMAGE_BASE_RELOCATION.SIZE <= relocRva + relocSize) {
    const page = <u64>load<u32>(b + <usize>r + IMAGE_BASE_RELOCATION.VirtualAddress);
    const block = <u64>load<u32>(b + <usize>r + IMAGE_BASE_RELOCATION.SizeOfBlock);
    if (block < IMAGE_BASE_RELOCATION.SIZE || r + block > relocRva + relocSize) {
      retype(base, pages, MemoryType.ConventionalMemory, 0);
      return fail(Status.LOAD_ERROR, "base relocation SizeOfBlock is invalid", fileOffset(f, sec, nsec, r + IMAGE_BASE_RELOCATION.SizeOfBlock, relocDir));
    }
    if (page >= sizeOfImage) {
      retype(base, pages, MemoryType.ConventionalMemory, 0);
      return fail(Status.LOAD_ERROR, "base relocation block VirtualAddress is outside the image", fileOffset(f, sec, nsec, r, relocDir));
    }
    for (let e = r + IMAGE_BASE_RELOCATION.SIZE; e + 2 <= r + block; e += 2) {
      const v = <u32>load<u16>(b + <usize>e);
      const type = v >> 12;
      const target = page + <u64>(v & 0xfff);
      if (type == Pe.REL_BASED_ABSOLUTE) continue;
      if (type != Pe.REL_BASED_DIR64) {
        retype(base, pages, MemoryType.ConventionalMemory, 0);
        return fail(Status.UNSUPPORTED, "base relocation type is not DIR64 (10)", fileOffset(f, sec, nsec, e, relocDir));
      }
      if (target + 8 > sizeOfImage) {
        retype(base, pages, MemoryType.ConventionalMemory, 0);
        return fail(Status.LOAD_ERROR, "base relocation points outside the image", fileOffset(f, sec, nsec, e, relocDir));
      }
      store<u64>(b + <usize>target, load<u64>(b + <usize>target) + delta);
    }
    r += block;
  }

  hostCodeWritten(base, pages * PAGE);
  imageBase = base;
  imagePages = pages;
  imageSize = sizeOfImage;
  imageEntry = base + entry;
  return Status.SUCCESS;
}
