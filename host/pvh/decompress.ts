// The payload decoders, one per format Linux builds its compressed x86 kernel in
// (arch/x86/boot/compressed/Makefile, lib/decompress.c): Node's own where it has one,
// a well-kept npm package where it has none, and LZO here (host/pvh/lzo.ts). Every
// format but gzip carries the kernel's size_append trailer, so each decoder writes into
// a buffer of exactly that size and stops at its end: a payload that says little and
// decodes to much (a bomb) is refused where it overflows, not let exhaust memory.
//
//   gzip   node:zlib (bounded by maxOutputLength: gzip has no trailer of the kernel's)
//   lz4    lz4-napi (lz4_flex), block by block of the legacy frame
//   zstd   node:zlib from Node 22.15, else fzstd (pure JS, ~1.4 s for Debian's kernel
//          given the output buffer, ten times longer without it), which neither checks
//          the frame's content checksum nor says how much of the buffer it filled: the
//          host checks what the stream itself declares (host/pvh/zstd-frame.ts), its
//          content size and its XXH64 checksum (@node-rs/xxhash), against the bytes
//   xz     lzma-native (liblzma itself: the kernel's xz carries the x86 BCJ filter,
//   lzma   which the pure decoders on npm do not know)
//   bzip2  seek-bzip (pure JS)
//   lzo    host/pvh/lzo.ts (lzop container, LZO1X blocks)
//
// Each module is loaded when its payload is met (host/lazy.ts), so the EFI path, which
// never decompresses in the host, pays nothing.
import { lazy, zlib } from "../lazy.ts";
import { KernelImageError } from "../errors.ts";
import { hex } from "./error.ts";
import { lzopDecompress, LzoError } from "./lzo.ts";
import { zstdFrames } from "./zstd-frame.ts";

const lz4Napi = lazy<typeof import("lz4-napi")>("lz4-napi");
const fzstd = lazy<typeof import("fzstd")>("fzstd");
const xxhash = lazy<typeof import("@node-rs/xxhash")>("@node-rs/xxhash");
const lzmaNative = lazy<LzmaNative>("lzma-native");
const seekBzip = lazy<SeekBzip>("seek-bzip");

export type Compression = "gzip" | "bzip2" | "lzma" | "xz" | "lzo" | "lz4" | "zstd";

/** LZ4 legacy frame (lz4 doc/lz4_Frame_format.md, "Legacy frame"): magic, then blocks. */
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Every legacy block but the last decompresses to exactly this (LZ4_DEFAULT_UNCOMPRESSED_CHUNK_SIZE). */
export const LZ4_LEGACY_BLOCK_SIZE = 8 << 20;
/** LZ4_compressBound: the largest compressed form of an n-byte block. */
export const lz4CompressBound = (n: number) => n + Math.floor(n / 255) + 16;
/** Refuse to allocate more than this for a vmlinux (Debian's is ~51 MiB). */
export const MAX_VMLINUX_BYTES = 1 << 30;

/** Node ≥ 22.15 has zstd in node:zlib; Node 20 does not. */
const nodeZstd = () => (zlib() as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;

/**
 * lzma-native's native coder, driven synchronously: `code(chunk, false)` runs liblzma on
 * this thread and hands each output buffer to `bufferHandler` before it returns (its
 * src/lzma-stream.cpp, LZMAStream::Code); the package's stream wrapper only defers that
 * to the event loop, which a synchronous load cannot wait for. Pinned at 8.0.6.
 */
interface LzmaCoder {
  streamDecoder(options: { memlimit?: number }): void;
  aloneDecoder(options: { memlimit?: number }): void;
  bufferHandler: (buf: Buffer | null | undefined, processedChunks: number | undefined, err: Error | null | undefined) => void;
  code(chunk: Uint8Array | null, async: boolean): void;
  resetUnderlying(): void;
}
interface LzmaNative { Stream: new () => LzmaCoder }
interface SeekBzip { decode(input: Uint8Array, output: { writeByte(b: number): void }): void }

/** The size_append trailer: the last 4 payload bytes, the uncompressed size. */
export function sizeTrailer(payload: Uint8Array, fileOffset: number, compression: Compression): { body: Uint8Array; size: number } {
  const at = payload.length - 4;
  if (at < 4) throw new KernelImageError("bzImage", "payload", fileOffset, `${compression} payload of ${payload.length} bytes is too short for a stream and its size trailer`);
  const size = new DataView(payload.buffer, payload.byteOffset + at, 4).getUint32(0, true);
  if (size === 0 || size > MAX_VMLINUX_BYTES) {
    throw new KernelImageError("bzImage", "payload size trailer", fileOffset + at, `uncompressed size ${hex(size)} is not plausible for a vmlinux (0 < size ≤ ${hex(MAX_VMLINUX_BYTES)})`);
  }
  return { body: payload.subarray(0, at), size };
}

/** The vmlinux a bzImage payload holds; errors name the payload's file offset. */
export function decompressPayload(compression: Compression, payload: Uint8Array, fileOffset: number): Uint8Array {
  if (compression === "gzip") return gunzipVmlinux(payload, fileOffset);
  const { body, size } = sizeTrailer(payload, fileOffset, compression);
  const corrupt = (what: string, at = fileOffset) => new KernelImageError("bzImage", "payload", at, `corrupt ${compression} payload (${what})`);
  const short = (got: number) =>
    new KernelImageError("bzImage", "payload size trailer", fileOffset + body.length, `announces ${hex(size)} bytes, the ${compression} stream holds ${hex(got)}`);
  switch (compression) {
    case "lz4":
      return lz4LegacyDecompress(body, size, fileOffset, "bzImage");
    case "zstd": {
      const native = nodeZstd();
      let out: Uint8Array;
      try {
        // fzstd writes into the buffer it is given and fails at its end.
        out = native ? native(body) : fzstd().decompress(body, new Uint8Array(size));
      } catch (e) {
        throw corrupt((e as Error).message);
      }
      if (out.length !== size) throw short(out.length);
      if (!native) checkZstd(body, out, fileOffset, body.length);
      return out;
    }
    case "xz":
    case "lzma":
      return liblzmaDecode(compression, body, size, fileOffset);
    case "bzip2": {
      const out = new Uint8Array(size);
      let n = 0;
      const overflow = new Error("overflow");
      try {
        seekBzip().decode(body, {
          writeByte(b) {
            if (n === size) throw overflow;
            out[n++] = b;
          },
        });
      } catch (e) {
        if (e === overflow) throw new KernelImageError("bzImage", "payload size trailer", fileOffset + body.length, `announces ${hex(size)} bytes, the bzip2 stream holds more`);
        throw corrupt((e as Error).message);
      }
      if (n !== size) throw short(n);
      return out;
    }
    case "lzo":
      try {
        return lzopDecompress(body, size);
      } catch (e) {
        if (e instanceof LzoError) throw corrupt(e.message, fileOffset + e.offset);
        throw e;
      }
  }
}

/**
 * What fzstd does not check: the frames' declared content sizes add up to the trailer's
 * (when every frame declares one), and a lone frame's content checksum matches the bytes
 * (the kernel's own zstd frame carries a checksum and, made from a pipe, no size). A
 * stream that declares neither cannot be checked.
 */
function checkZstd(body: Uint8Array, out: Uint8Array, fileOffset: number, trailerAt: number): void {
  let frames;
  try {
    frames = zstdFrames(body);
  } catch (e) {
    throw new KernelImageError("bzImage", "payload", fileOffset, `corrupt zstd payload (${(e as Error).message})`);
  }
  const sizes = frames.map((f) => f.contentSize);
  if (sizes.every((n) => n !== undefined)) {
    const total = sizes.reduce((a, n) => a + n!, 0);
    if (total !== out.length) throw new KernelImageError("bzImage", "payload size trailer", fileOffset + trailerAt, `announces ${hex(out.length)} bytes, the zstd frames declare ${hex(total)}`);
  }
  if (frames.length === 1 && frames[0].checksum !== undefined) {
    const got = Number(xxhash().xxh64(out) & 0xffff_ffffn);
    if (got !== frames[0].checksum) {
      throw new KernelImageError("bzImage", "payload", fileOffset,
        `corrupt zstd payload (content checksum ${hex(got)} of the ${hex(out.length)} bytes its size trailer announces, the frame says ${hex(frames[0].checksum)}: damaged, or shorter)`);
    }
  }
}

/** xz or lzma through liblzma, into exactly `size` bytes. */
function liblzmaDecode(compression: "xz" | "lzma", body: Uint8Array, size: number, fileOffset: number): Uint8Array {
  const out = new Uint8Array(size);
  let n = 0, more = false, error: Error | undefined, ended = false;
  const coder = new (lzmaNative().Stream)();
  if (compression === "xz") coder.streamDecoder({});
  else coder.aloneDecoder({});
  coder.bufferHandler = (buf, _chunks, err) => {
    if (err) error = err;
    else if (buf === null) ended = true;
    else if (buf) {
      if (n + buf.length > size) more = true;
      else out.set(buf, n);
      n += buf.length;
    }
  };
  try {
    coder.code(body, false);
    if (!error && !ended) coder.code(null, false);
  } finally {
    coder.resetUnderlying();
  }
  if (more) throw new KernelImageError("bzImage", "payload size trailer", fileOffset + body.length, `announces ${hex(size)} bytes, the ${compression} stream holds more`);
  if (error) throw new KernelImageError("bzImage", "payload", fileOffset, `corrupt ${compression} payload (liblzma: ${error.message}, after ${hex(n)} bytes)`);
  if (n !== size) throw new KernelImageError("bzImage", "payload size trailer", fileOffset + body.length, `announces ${hex(size)} bytes, the ${compression} stream holds ${hex(n)}`);
  return out;
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
