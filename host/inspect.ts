// `ueficorn inspect`: which entries a kernel or EFI image offers, read from its headers
// without running it — the question the 2016 thread ends on ("how was Xen going to find
// out if new kernels had HVMlite support?"). PE/COFF (machine, subsystem, sections,
// Authenticode signature, SBAT, the 32-bit .compat entry), the x86 boot protocol
// (version, xloadflags, the EFI handover entry, the payload's compression), the Xen ELF
// notes of the vmlinux inside (the PVH entry among them), the version string, and an arm64
// Image or EFI zboot header. Malformed input gets a KernelImageError naming the field.
import { readFileSync } from "node:fs";
import { field } from "../firmware/spec/decl.ts";
import { IMAGE_DATA_DIRECTORY, IMAGE_DOS_HEADER, IMAGE_NT_HEADERS_PREFIX, IMAGE_OPTIONAL_HEADER64, IMAGE_SECTION_HEADER, PE_CONST } from "../firmware/spec/pe.ts";
import { SETUP_HEADER, BOOT_PROTOCOL, XEN_ELFNOTE_NAME, XEN_ELFNOTE_PHYS32_ENTRY } from "../firmware/spec/pvh.ts";
import { KernelImageError } from "./errors.ts";
import { extractVmlinux, identifyCompression, isElf } from "./pvh/bzimage.ts";
import { parseElf, pvhEntry } from "./pvh/elf.ts";
import { kernelVersion } from "./symbols.ts";

export interface PeInfo {
  machine: string;
  subsystem: string;
  entry: number;
  sections: { name: string; virtualAddress: number; virtualSize: number; rawSize: number }[];
  /** The security directory (Authenticode signatures) is present. */
  signed: boolean;
  /** An .sbat section (shim's Secure Boot Advanced Targeting) is present. */
  sbat: boolean;
  /** The 32-bit entry in .compat (EFI mixed mode: a 64-bit kernel from 32-bit firmware), an RVA. */
  compat32Entry?: number;
}

export interface BootProtocolInfo {
  version: string;
  xloadflags: string[];
  /** EFI handover protocol entry, an offset from the 64-bit entry (handover_offset + 0x200). */
  handoverOffset?: number;
  payload: { compression: string; offset: number; length: number };
  initSize: number;
  prefAddress: string;
}

export interface Inspection {
  file: string;
  size: number;
  format: "bzImage" | "PE/COFF" | "ELF vmlinux" | "arm64 Image" | "EFI zboot";
  version?: string;
  /** The entries the image offers, one line each. */
  entries: string[];
  pe?: PeInfo;
  bootProtocol?: BootProtocolInfo;
  /** The Xen ELF notes of the vmlinux (inside a bzImage, decompressed), or why they could not be read. */
  xenNotes?: { type: number; name: string; value: string }[] | { unread: string };
}

/** xen/include/public/elfnote.h, by type. */
const XEN_NOTES = ["INFO", "ENTRY", "HYPERCALL_PAGE", "VIRT_BASE", "PADDR_OFFSET", "XEN_VERSION", "GUEST_OS", "GUEST_VERSION", "LOADER", "PAE_MODE", "FEATURES", "BSD_SYMTAB", "HV_START_LOW", "L1_MFN_VALID", "SUSPEND_CANCEL", "INIT_P2M", "MOD_START_PFN", "SUPPORTED_FEATURES", "PHYS32_ENTRY"];
/** Documentation/x86/boot.rst, xloadflags. */
const XLF = ["KERNEL_64", "CAN_BE_LOADED_ABOVE_4G", "EFI_HANDOVER_32", "EFI_HANDOVER_64", "EFI_KEXEC", "5LEVEL", "5LEVEL_ENABLED", "MEM_ENCRYPTION"];
const MACHINES: Record<number, string> = { 0x8664: "x86-64", 0x14c: "i386", 0xaa64: "arm64", 0x1c2: "arm (thumb)", 0x5064: "riscv64" };
const SUBSYSTEMS: Record<number, string> = { 10: "EFI application", 11: "EFI boot service driver", 12: "EFI runtime driver", 13: "EFI ROM" };
/** The security directory's index among the data directories (PE Format, "Optional Header Data Directories"). */
const DIRECTORY_SECURITY = 4;
/** arm64 Image header (Documentation/arm64/booting.rst): "ARM\x64" at 0x38. */
const ARM64_MAGIC_AT = 0x38, ARM64_MAGIC = 0x644d5241;
/** EFI zboot (drivers/firmware/efi/libstub/zboot-header.S): "zimg" at 4, the compression name at 24. */
const ZBOOT_MAGIC_AT = 4;

const hex = (v: number | bigint) => "0x" + v.toString(16);

export function inspectFile(path: string): Inspection {
  return inspect(new Uint8Array(readFileSync(path)), path);
}

export function inspect(bytes: Uint8Array, file: string): Inspection {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => (at + 2 <= bytes.length ? v.getUint16(at, true) : -1);
  const u32 = (at: number) => (at + 4 <= bytes.length ? v.getUint32(at, true) : -1);
  const out: Inspection = { file, size: bytes.length, format: "PE/COFF", entries: [] };

  if (isElf(bytes)) {
    out.format = "ELF vmlinux";
    out.xenNotes = xenNotes(bytes, out.entries);
    return out;
  }
  if (u16(0) !== PE_CONST.DOS_MAGIC) {
    throw new KernelImageError(file, "IMAGE_DOS_HEADER.e_magic", 0, `not a kernel or EFI image: no "MZ", no "\\x7fELF" at offset 0 (${bytes.length} bytes)`);
  }
  const zboot = String.fromCharCode(...bytes.subarray(ZBOOT_MAGIC_AT, ZBOOT_MAGIC_AT + 4)) === "zimg";
  if (zboot) out.format = "EFI zboot";
  else if (u32(ARM64_MAGIC_AT) === ARM64_MAGIC) out.format = "arm64 Image";
  const pe = peInfo(bytes, file, u16, u32);
  out.pe = pe;
  out.entries.push(`EFI: PE/COFF ${pe.machine} ${pe.subsystem}, entry RVA ${hex(pe.entry)}${pe.signed ? ", signed" : ""}${pe.sbat ? ", SBAT" : ""}`);
  if (pe.compat32Entry !== undefined) out.entries.push(`EFI mixed mode: 32-bit entry in .compat at RVA ${hex(pe.compat32Entry)}`);
  if (zboot) {
    const name = String.fromCharCode(...bytes.subarray(24, 32)).replace(/\0.*$/, "");
    out.entries.push(`EFI zboot: the stub decompresses a ${name} kernel itself`);
    return out;
  }
  if (out.format === "arm64 Image") {
    out.entries.push(`arm64 direct boot: Image header, text_offset ${hex(v.getBigUint64(8, true))}, image_size ${hex(v.getBigUint64(16, true))}`);
    return out;
  }
  if (u32(field(SETUP_HEADER, "header").offset) !== BOOT_PROTOCOL.HEADER_MAGIC) return out; // a plain EFI application
  out.format = "bzImage";
  out.version = kernelVersion(bytes);
  const at = (name: string) => field(SETUP_HEADER, name).offset;
  const version = u16(at("version"));
  const xlf = u16(at("xloadflags"));
  const sects = bytes[at("setup_sects")] || BOOT_PROTOCOL.DEFAULT_SETUP_SECTS;
  const pm = (sects + 1) * BOOT_PROTOCOL.SECTOR_SIZE;
  const payloadOffset = pm + u32(at("payload_offset"));
  const payloadLength = u32(at("payload_length"));
  const payload = bytes.subarray(payloadOffset, payloadOffset + payloadLength);
  const handover = u32(at("handover_offset"));
  out.bootProtocol = {
    version: `${version >> 8}.${(version & 0xff).toString().padStart(2, "0")}`,
    xloadflags: XLF.filter((_, i) => xlf & (1 << i)),
    handoverOffset: xlf & (1 << 3) && handover ? handover + 0x200 : undefined,
    payload: { compression: identifyCompression(payload) ?? "unknown", offset: payloadOffset, length: payloadLength },
    initSize: u32(at("init_size")),
    prefAddress: hex(v.getBigUint64(at("pref_address"), true)),
  };
  out.entries.push(`x86 boot protocol ${out.bootProtocol.version} (${out.bootProtocol.xloadflags.includes("KERNEL_64") ? "16/32/64-bit" : "16/32-bit"} entries), payload ${out.bootProtocol.payload.compression}`);
  if (out.bootProtocol.handoverOffset !== undefined) out.entries.push(`EFI handover protocol: 64-bit entry at ${hex(out.bootProtocol.handoverOffset)} from the kernel's start`);
  try {
    out.xenNotes = xenNotes(extractVmlinux(bytes).elf, out.entries);
  } catch (e) {
    if (!(e instanceof KernelImageError)) throw e;
    out.xenNotes = { unread: e.message };
    out.entries.push(`PVH: unknown (the vmlinux inside could not be read: ${e.message})`);
  }
  return out;
}

function peInfo(bytes: Uint8Array, file: string, u16: (at: number) => number, u32: (at: number) => number): PeInfo {
  const err = (name: string, offset: number, what: string) => new KernelImageError(file, name, offset, what);
  const nt = u32(field(IMAGE_DOS_HEADER, "e_lfanew").offset);
  const opt = nt + IMAGE_NT_HEADERS_PREFIX.size;
  if (nt < 0 || opt + IMAGE_OPTIONAL_HEADER64.size > bytes.length) throw err("IMAGE_DOS_HEADER.e_lfanew", field(IMAGE_DOS_HEADER, "e_lfanew").offset, `${hex(nt)} puts the PE headers past the end of the ${bytes.length}-byte file`);
  const f = (s: typeof IMAGE_NT_HEADERS_PREFIX, base: number, name: string) => base + field(s, name).offset;
  if (u32(nt) !== PE_CONST.NT_SIGNATURE) throw err("Signature", nt, `not "PE\\0\\0"`);
  const machine = u16(f(IMAGE_NT_HEADERS_PREFIX, nt, "Machine"));
  const nsections = u16(f(IMAGE_NT_HEADERS_PREFIX, nt, "NumberOfSections"));
  const optSize = u16(f(IMAGE_NT_HEADERS_PREFIX, nt, "SizeOfOptionalHeader"));
  if (u16(opt) !== PE_CONST.OPTIONAL_MAGIC_PE32PLUS && u16(opt) !== 0x10b) throw err("IMAGE_OPTIONAL_HEADER.Magic", opt, `${hex(u16(opt))} is neither PE32 (0x10b) nor PE32+ (0x20b)`);
  const pe32plus = u16(opt) === PE_CONST.OPTIONAL_MAGIC_PE32PLUS;
  const subsystem = u16(f(IMAGE_OPTIONAL_HEADER64, opt, "Subsystem"));
  const entry = u32(f(IMAGE_OPTIONAL_HEADER64, opt, "AddressOfEntryPoint"));
  // PE32+ only: a PE32 optional header is 16 bytes shorter before its data directories.
  const dirs = pe32plus ? opt + IMAGE_OPTIONAL_HEADER64.size : opt + IMAGE_OPTIONAL_HEADER64.size - 16;
  const ndirs = u32(f(IMAGE_OPTIONAL_HEADER64, opt, "NumberOfRvaAndSizes") - (pe32plus ? 0 : 16));
  const security = ndirs > DIRECTORY_SECURITY ? u32(dirs + DIRECTORY_SECURITY * IMAGE_DATA_DIRECTORY.size + 4) : 0;
  const table = opt + optSize;
  if (table + nsections * IMAGE_SECTION_HEADER.size > bytes.length) throw err("IMAGE_FILE_HEADER.NumberOfSections", f(IMAGE_NT_HEADERS_PREFIX, nt, "NumberOfSections"), `${nsections} section headers run past the end of the file`);
  const sections = Array.from({ length: nsections }, (_, i) => {
    const s = table + i * IMAGE_SECTION_HEADER.size;
    const g = (name: string) => u32(s + field(IMAGE_SECTION_HEADER, name).offset);
    return {
      name: String.fromCharCode(...bytes.subarray(s, s + 8)).replace(/\0.*$/, ""),
      virtualAddress: g("VirtualAddress"), virtualSize: g("VirtualSize"), rawSize: g("SizeOfRawData"), raw: g("PointerToRawData"),
    };
  });
  // .compat (arch/x86/boot/header.S): entries { u8 type = 1, u8 size, u16 machine, u32 entry }, ended by type 0.
  let compat32Entry: number | undefined;
  const compat = sections.find((s) => s.name === ".compat");
  for (let p = compat?.raw ?? -1; compat && p >= 0 && p + 8 <= Math.min(bytes.length, compat.raw + compat.rawSize) && bytes[p] === 1; p += bytes[p + 1] || 8) {
    if (u16(p + 2) === 0x14c) compat32Entry = u32(p + 4);
  }
  return {
    machine: MACHINES[machine] ?? hex(machine),
    subsystem: SUBSYSTEMS[subsystem] ?? `subsystem ${subsystem}`,
    entry,
    sections: sections.map(({ raw: _, ...s }) => s),
    signed: security > 0,
    sbat: sections.some((s) => s.name === ".sbat"),
    compat32Entry,
  };
}

/** The Xen notes of a vmlinux, each named; the PVH entry line when PHYS32_ENTRY is among them. */
function xenNotes(elf: Uint8Array, entries: string[]): Inspection["xenNotes"] {
  const image = parseElf(elf);
  const notes = image.notes.filter((n) => n.name === XEN_ELFNOTE_NAME).map((n) => {
    const d = new DataView(n.desc.buffer, n.desc.byteOffset, n.desc.byteLength);
    const text = /^[\x20-\x7e]+\0?$/.test(Buffer.from(n.desc).toString("latin1")) ? Buffer.from(n.desc).toString("latin1").replace(/\0$/, "") : undefined;
    const value = text ?? (n.desc.length === 8 ? hex(d.getBigUint64(0, true)) : n.desc.length === 4 ? hex(d.getUint32(0, true)) : `${n.desc.length} bytes`);
    return { type: n.type, name: XEN_NOTES[n.type] ?? `type ${n.type}`, value };
  });
  if (notes.some((n) => n.type === XEN_ELFNOTE_PHYS32_ENTRY)) entries.push(`PVH: Xen ELF note PHYS32_ENTRY, 32-bit entry at ${hex(pvhEntry(image))}`);
  else entries.push(`PVH: none (no Xen PHYS32_ENTRY note among ${notes.length} Xen notes)`);
  return notes;
}
