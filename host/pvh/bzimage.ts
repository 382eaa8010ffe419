// From the kernel file a user gives to the ELF vmlinux the PVH entry needs.
//
// A vmlinux ELF is taken as it is. A bzImage (Documentation/x86/boot.rst) carries the
// vmlinux compressed: the protected-mode kernel starts after the (setup_sects + 1)
// real-mode sectors, and from protocol 2.08 on, setup_header.payload_offset/
// payload_length locate the compressed vmlinux inside it. The compression is named by
// the payload's own magic, as lib/decompress.c finds it. On x86 every format but gzip
// is built with `size_append` (scripts/Makefile.lib, arch/x86/boot/compressed/Makefile):
// the last 4 payload bytes are the uncompressed size, little endian, which the kernel's
// own decompressor reads as its output length (lib/decompress_unlz4.c, PREBOOT).
import { field } from "../../firmware/spec/decl.ts";
import { BOOT_PROTOCOL, SETUP_HEADER } from "../../firmware/spec/pvh.ts";
import { ELF } from "../../firmware/spec/elf.ts";
import { hex } from "./error.ts";
import { KernelImageError } from "../errors.ts";

import { decompressPayload, type Compression } from "./decompress.ts";

export { LZ4_LEGACY_BLOCK_SIZE, LZ4_LEGACY_MAGIC, MAX_VMLINUX_BYTES, gunzipVmlinux, lz4LegacyDecompress, type Compression } from "./decompress.ts";

/** Payload magics, longest form of each (lib/decompress.c matches the first two bytes). */
export const COMPRESSION_MAGIC: readonly { name: Compression; magic: readonly number[] }[] = [
  { name: "gzip", magic: [0x1f, 0x8b] },
  { name: "bzip2", magic: [0x42, 0x5a, 0x68] },                   // "BZh"
  { name: "lzma", magic: [0x5d, 0x00, 0x00] },                    // properties 0x5d, dictionary size
  { name: "xz", magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },    // "\xfd7zXZ\0"
  { name: "lzo", magic: [0x89, 0x4c, 0x5a, 0x4f] },               // "\x89LZO"
  { name: "lz4", magic: [0x02, 0x21, 0x4c, 0x18] },               // legacy frame, 0x184C2102 LE
  { name: "zstd", magic: [0x28, 0xb5, 0x2f, 0xfd] },              // 0xFD2FB528 LE
];

export interface Vmlinux {
  /** The ELF vmlinux bytes. */
  elf: Uint8Array;
  /** What the file was. */
  source: "elf" | "bzImage";
  /** bzImage only: payload compression, its place in the file, the boot protocol version. */
  compression?: Compression;
  payloadOffset?: number;
  payloadLength?: number;
  bootProtocol?: number;
  /** bzImage only: wall time spent decompressing, ms. */
  decompressMs?: number;
}

const off = (name: string) => field(SETUP_HEADER, name).offset;

function startsWith(bytes: Uint8Array, at: number, magic: readonly number[]): boolean {
  if (at + magic.length > bytes.length) return false;
  return magic.every((b, i) => bytes[at + i] === b);
}

/** The compression a payload starts with, by magic; undefined when none matches. */
export function identifyCompression(payload: Uint8Array): Compression | undefined {
  return COMPRESSION_MAGIC.find((c) => startsWith(payload, 0, c.magic))?.name;
}

/** True when the bytes start as an ELF file does ("\x7fELF"). */
export const isElf = (bytes: Uint8Array) => startsWith(bytes, 0, ELF.MAGIC);

/** An ELF vmlinux as is, or the vmlinux decompressed from a bzImage's payload. */
export function extractVmlinux(file: Uint8Array): Vmlinux {
  if (isElf(file)) return { elf: file, source: "elf" };
  const err = (name: string, what: string) => new KernelImageError("bzImage", `setup_header.${name}`, off(name), what);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);

  const headerAt = off("header");
  if (file.length < headerAt + 4 || view.getUint32(headerAt, true) !== BOOT_PROTOCOL.HEADER_MAGIC) {
    const seen = file.length < headerAt + 4 ? `the file is only ${file.length} bytes` : `it holds ${JSON.stringify(Buffer.from(file.subarray(headerAt, headerAt + 4)).toString("latin1"))}`;
    throw err("header", `neither an ELF vmlinux (no "\\x7fELF" at offset 0) nor a bzImage (no "HdrS" here: ${seen})`);
  }
  const need = off("payload_length") + 4;
  if (file.length < need) throw err("payload_length", `file of ${file.length} bytes ends inside the setup header (needs ${hex(need)})`);
  const version = view.getUint16(off("version"), true);
  if (version < BOOT_PROTOCOL.MIN_VERSION_PAYLOAD) {
    throw err("version", `boot protocol ${version >> 8}.${(version & 0xff).toString().padStart(2, "0")} has no payload_offset/payload_length (2.08 or later needed)`);
  }
  const bootFlag = view.getUint16(off("boot_flag"), true);
  if (bootFlag !== BOOT_PROTOCOL.BOOT_FLAG) throw err("boot_flag", `is ${hex(bootFlag)}, not 0xaa55`);

  const sects = file[off("setup_sects")] || BOOT_PROTOCOL.DEFAULT_SETUP_SECTS;
  const pm = (sects + 1) * BOOT_PROTOCOL.SECTOR_SIZE; // the protected-mode kernel
  if (pm > file.length) throw err("setup_sects", `${sects} setup sectors put the protected-mode kernel at ${hex(pm)}, past the end of the ${hex(file.length)}-byte file`);
  const payloadOffset = view.getUint32(off("payload_offset"), true);
  const payloadLength = view.getUint32(off("payload_length"), true);
  const start = pm + payloadOffset;
  if (start >= file.length) throw err("payload_offset", `${hex(payloadOffset)} puts the payload at file offset ${hex(start)}, past the end of the ${hex(file.length)}-byte file`);
  if (payloadLength === 0) throw err("payload_length", "is 0: the bzImage carries no payload");
  if (start + payloadLength > file.length) {
    throw err("payload_length", `payload ${hex(start)}+${hex(payloadLength)} runs past the end of the ${hex(file.length)}-byte file`);
  }
  const payload = file.subarray(start, start + payloadLength);
  const compression = identifyCompression(payload);
  if (!compression) {
    const first = Array.from(payload.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new KernelImageError("bzImage", "payload", start, `compression not recognised (first bytes ${first}; known: ${COMPRESSION_MAGIC.map((c) => c.name).join(", ")})`);
  }
  const t0 = performance.now();
  const elf = decompressPayload(compression, payload, start);
  const decompressMs = performance.now() - t0;
  if (!startsWith(elf, 0, ELF.MAGIC)) {
    throw new KernelImageError("bzImage", "payload", start, `${compression} payload decompressed to ${elf.length} bytes that are not an ELF vmlinux`);
  }
  return { elf, source: "bzImage", compression, payloadOffset: start, payloadLength, bootProtocol: version, decompressMs };
}

