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
import { createRequire } from "node:module";
import { field } from "../../firmware/spec/decl.ts";
import { BOOT_PROTOCOL, SETUP_HEADER } from "../../firmware/spec/pvh.ts";
import { ELF } from "../../firmware/spec/elf.ts";
import { hex } from "./error.ts";
import { KernelImageError } from "../errors.ts";

// lz4-napi is a native module (~7 ms to load) and node:zlib costs ~2 ms: each is loaded
// when its payload is met, so that the EFI path, which never decompresses in the host,
// does not pay for them.
const require = createRequire(import.meta.url);
let lz4: typeof import("lz4-napi") | undefined;
const lz4Napi = () => (lz4 ??= require("lz4-napi") as typeof import("lz4-napi"));
let zlibModule: typeof import("node:zlib") | undefined;
const zlib = () => (zlibModule ??= require("node:zlib") as typeof import("node:zlib"));

export type Compression = "gzip" | "bzip2" | "lzma" | "xz" | "lzo" | "lz4" | "zstd";

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

/** LZ4 legacy frame (lz4 doc/lz4_Frame_format.md, "Legacy frame"): magic, then blocks. */
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Every legacy block but the last decompresses to exactly this (LZ4_DEFAULT_UNCOMPRESSED_CHUNK_SIZE). */
export const LZ4_LEGACY_BLOCK_SIZE = 8 << 20;
/** LZ4_compressBound: the largest compressed form of an n-byte block. */
export const lz4CompressBound = (n: number) => n + Math.floor(n / 255) + 16;
/** Refuse to allocate more than this for a vmlinux (Debian's is ~51 MiB). */
export const MAX_VMLINUX_BYTES = 1 << 30;

/** Node ≥ 22.15 has zstd in node:zlib; Node 20 does not. */
const zstdDecompressSync = () => (zlib() as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;

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
  const elf = decompress(compression, payload, start);
  const decompressMs = performance.now() - t0;
  if (!startsWith(elf, 0, ELF.MAGIC)) {
    throw new KernelImageError("bzImage", "payload", start, `${compression} payload decompressed to ${elf.length} bytes that are not an ELF vmlinux`);
  }
  return { elf, source: "bzImage", compression, payloadOffset: start, payloadLength, bootProtocol: version, decompressMs };
}

/** The size_append trailer: the last 4 payload bytes, the uncompressed size. */
function sizeTrailer(payload: Uint8Array, fileOffset: number, compression: Compression): { body: Uint8Array; size: number } {
  const at = payload.length - 4;
  if (at < 4) throw new KernelImageError("bzImage", "payload", fileOffset, `${compression} payload of ${payload.length} bytes is too short for a stream and its size trailer`);
  const size = new DataView(payload.buffer, payload.byteOffset + at, 4).getUint32(0, true);
  if (size === 0 || size > MAX_VMLINUX_BYTES) {
    throw new KernelImageError("bzImage", "payload size trailer", fileOffset + at, `uncompressed size ${hex(size)} is not plausible for a vmlinux (0 < size ≤ ${hex(MAX_VMLINUX_BYTES)})`);
  }
  return { body: payload.subarray(0, at), size };
}

function decompress(compression: Compression, payload: Uint8Array, fileOffset: number): Uint8Array {
  switch (compression) {
    case "lz4": {
      const { body, size } = sizeTrailer(payload, fileOffset, compression);
      return lz4LegacyDecompress(body, size, fileOffset, "bzImage");
    }
    case "gzip":
      return gunzipVmlinux(payload, fileOffset);
    case "zstd":
      const zstd = zstdDecompressSync();
      if (zstd) {
        const { body, size } = sizeTrailer(payload, fileOffset, compression);
        let out: Buffer;
        try {
          out = zstd(body);
        } catch (e) {
          throw new KernelImageError("bzImage", "payload", fileOffset, `corrupt zstd payload (${(e as Error).message})`);
        }
        if (out.length !== size) throw new KernelImageError("bzImage", "payload size trailer", fileOffset + payload.length - 4, `says ${hex(size)} bytes, zstd gave ${hex(out.length)}`);
        return out;
      }
      throw new KernelImageError("bzImage", "payload", fileOffset, `zstd-compressed payload is not supported on Node ${process.versions.node} (node:zlib has zstd from Node 22.15); give the vmlinux ELF instead`);
    default:
      throw new KernelImageError("bzImage", "payload", fileOffset, `${compression}-compressed payload is not supported (supported: lz4, gzip${zstdDecompressSync() ? ", zstd" : ""}); give the vmlinux ELF instead (scripts/extract-vmlinux in the kernel tree)`);
  }
}

/**
 * Inflate a gzip payload, stopping at `maxBytes` (x86 builds vmlinux.bin.gz without
 * size_append: only gzip's own ISIZE, which the stream may contradict, says how big it
 * is), so that a small payload inflating to gigabytes is refused, not let exhaust memory.
 */
export function gunzipVmlinux(payload: Uint8Array, fileOffset: number, maxBytes = MAX_VMLINUX_BYTES): Uint8Array {
  try {
    return zlib().gunzipSync(payload, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      throw new KernelImageError("bzImage", "payload", fileOffset, `gzip payload inflates past ${hex(maxBytes)} bytes, more than a vmlinux can be`);
    }
    throw new KernelImageError("bzImage", "payload", fileOffset, `corrupt gzip payload (${(e as Error).message})`);
  }
}

/**
 * Decompress an LZ4 legacy frame of `outSize` bytes: the magic, then blocks, each a
 * u32 LE compressed size and an LZ4 block of LZ4_LEGACY_BLOCK_SIZE bytes (the last one
 * shorter). A magic where a block size is expected starts a concatenated frame, as the
 * kernel's unlz4 allows. Blocks are LZ4 blocks, decoded by lz4-napi (lz4_flex), which
 * takes a block with its uncompressed size prepended; the legacy frame does not carry
 * that size, but every block but the last is full, so it is known.
 */
export function lz4LegacyDecompress(frame: Uint8Array, outSize: number, fileOffset = 0, file = "payload"): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const fail = (field: string, at: number, what: string) => new KernelImageError(file, field, fileOffset + at, what);
  if (frame.length < 4 || view.getUint32(0, true) !== LZ4_LEGACY_MAGIC) throw fail("lz4 magic", 0, "not an LZ4 legacy frame (magic 0x184c2102)");
  const out = new Uint8Array(outSize);
  let pos = 4;
  let produced = 0;
  let block = 0;
  while (pos < frame.length) {
    if (frame.length - pos < 4) throw fail(`lz4 block[${block}] size`, pos, `truncated: ${frame.length - pos} bytes left where a 4-byte block size belongs`);
    const csize = view.getUint32(pos, true);
    if (csize === LZ4_LEGACY_MAGIC) {
      pos += 4;
      continue;
    }
    if (csize === 0 || csize > lz4CompressBound(LZ4_LEGACY_BLOCK_SIZE)) {
      throw fail(`lz4 block[${block}] size`, pos, `${hex(csize)} is not a legacy block size (1 to ${hex(lz4CompressBound(LZ4_LEGACY_BLOCK_SIZE))})`);
    }
    if (pos + 4 + csize > frame.length) {
      throw fail(`lz4 block[${block}] size`, pos, `block of ${hex(csize)} bytes runs past the end of the frame (${hex(frame.length - pos - 4)} bytes left)`);
    }
    const want = Math.min(LZ4_LEGACY_BLOCK_SIZE, outSize - produced);
    if (want === 0) throw fail(`lz4 block[${block}]`, pos, `more data than the ${hex(outSize)} bytes the size trailer announces`);
    const prefixed = Buffer.allocUnsafe(4 + csize);
    prefixed.writeUInt32LE(want, 0);
    prefixed.set(frame.subarray(pos + 4, pos + 4 + csize), 4);
    let bytes: Buffer;
    const { uncompressSync } = lz4Napi(); // outside the try: a missing module is not a corrupt block
    try {
      bytes = uncompressSync(prefixed);
    } catch (e) {
      throw fail(`lz4 block[${block}]`, pos + 4, `corrupt LZ4 block of ${hex(csize)} bytes, expected to give ${hex(want)} (${(e as Error).message})`);
    }
    if (bytes.length !== want) throw fail(`lz4 block[${block}]`, pos + 4, `decompressed to ${hex(bytes.length)} bytes, not ${hex(want)}`);
    out.set(bytes, produced);
    produced += want;
    pos += 4 + csize;
    block++;
  }
  if (produced !== outSize) {
    throw fail("payload size trailer", frame.length, `announces ${hex(outSize)} bytes, the frame holds ${hex(produced)}`);
  }
  return out;
}
