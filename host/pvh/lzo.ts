// The lzop container and the LZO1X stream in it: what `lzop -9` writes and Linux's
// CONFIG_KERNEL_LZO payload is (lib/decompress_unlzo.c reads it in the kernel). No npm
// package decodes it on Node without a native build (`lzo` compiles at install, which
// npm no longer runs unasked), so it is decoded here: the container as lzop 1.04 writes
// it (src/lzop.c, header and blocks), each block by the LZO1X instruction set as the
// kernel documents it (Documentation/staging/lzo.rst), bounded by the output size the
// caller knows and every read and match checked against the buffers.
import { crc32 } from "../crc32.ts";

/** "\x89LZO\0\r\n\x1a\n" */
export const LZOP_MAGIC = [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a] as const;
/** lzop's block size; the kernel refuses larger blocks (LZO_BLOCK_SIZE). */
export const LZOP_BLOCK_SIZE = 256 << 10;

/** Header flags (lzop src/conf.h F_*): which checksums follow each block's sizes. */
const F_ADLER32_D = 0x1, F_ADLER32_C = 0x2, F_H_FILTER = 0x800, F_CRC32_D = 0x100, F_CRC32_C = 0x200;
/** From lzop 0.94 on, the header has a level byte and the mtime's high half. */
const VERSION_WITH_LEVEL = 0x0940;

/** A defect in the stream: what, and where in the lzop data. */
export class LzoError extends Error {
  constructor(readonly offset: number, what: string) {
    super(what);
  }
}

function adler32(data: Uint8Array): number {
  let a = 1, b = 0;
  // 5552 is the longest run whose sums cannot overflow 2^32 (zlib's NMAX).
  for (let i = 0; i < data.length; ) {
    const end = Math.min(data.length, i + 5552);
    for (; i < end; i++) b += a += data[i];
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Decode an lzop file into exactly `outSize` bytes; throws LzoError naming the offset. */
export function lzopDecompress(src: Uint8Array, outSize: number): Uint8Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  let pos = 0;
  const need = (n: number, what: string) => {
    if (pos + n > src.length) throw new LzoError(pos, `${what}: ${n} bytes needed, ${src.length - pos} left`);
  };
  const u8 = () => src[pos++];
  const be16 = () => ((pos += 2), view.getUint16(pos - 2));
  const be32 = () => ((pos += 4), view.getUint32(pos - 4));

  need(LZOP_MAGIC.length + 8, "lzop header");
  if (!LZOP_MAGIC.every((b, i) => src[i] === b)) throw new LzoError(0, "not an lzop file (magic 89 4c 5a 4f 00 0d 0a 1a 0a)");
  pos = LZOP_MAGIC.length;
  const version = be16();
  pos += 2 + 2 + 1; // library version, version needed to extract, method
  if (version >= VERSION_WITH_LEVEL) pos += 1;
  need(4, "lzop header flags");
  const flags = be32();
  if (flags & F_H_FILTER) pos += 4;
  pos += 4 + 4 + (version >= VERSION_WITH_LEVEL ? 4 : 0); // mode, mtime low and high
  need(1, "lzop header name length");
  const nameLength = u8();
  pos += nameLength + 4; // name, header checksum
  need(0, "lzop header");
  const dChecks = (flags & F_ADLER32_D ? 1 : 0) + (flags & F_CRC32_D ? 1 : 0);
  const cChecks = (flags & F_ADLER32_C ? 1 : 0) + (flags & F_CRC32_C ? 1 : 0);

  const out = new Uint8Array(outSize);
  let produced = 0;
  for (let block = 0; ; block++) {
    need(4, `block[${block}] size`);
    const dstLen = be32();
    if (dstLen === 0) break;
    const at = pos - 4;
    if (dstLen > LZOP_BLOCK_SIZE) throw new LzoError(at, `block[${block}] of 0x${dstLen.toString(16)} bytes is larger than lzop's 0x40000`);
    if (produced + dstLen > outSize) throw new LzoError(at, `block[${block}] takes the output past the 0x${outSize.toString(16)} bytes announced`);
    need(4, `block[${block}] compressed size`);
    const srcLen = be32();
    if (srcLen === 0 || srcLen > dstLen) throw new LzoError(pos - 4, `block[${block}] compressed size 0x${srcLen.toString(16)} is not 1 to 0x${dstLen.toString(16)}`);
    const checks = dChecks + (srcLen < dstLen ? cChecks : 0);
    need(4 * checks, `block[${block}] checksums`);
    const adlerD = flags & F_ADLER32_D ? be32() : undefined;
    const crcD = flags & F_CRC32_D ? be32() : undefined;
    pos += 4 * (checks - dChecks);
    need(srcLen, `block[${block}] data`);
    const dst = out.subarray(produced, produced + dstLen);
    // A block that did not shrink is stored as it is (lzop and the kernel's unlzo).
    if (srcLen === dstLen) dst.set(src.subarray(pos, pos + srcLen));
    else lzo1xDecompress(src.subarray(pos, pos + srcLen), dst, pos, block);
    if (adlerD !== undefined && adler32(dst) !== adlerD) throw new LzoError(pos, `block[${block}] fails its Adler-32 check`);
    if (crcD !== undefined && crc32(dst) !== crcD) throw new LzoError(pos, `block[${block}] fails its CRC-32 check`);
    pos += srcLen;
    produced += dstLen;
  }
  if (produced !== outSize) throw new LzoError(pos, `the stream ends after 0x${produced.toString(16)} of the 0x${outSize.toString(16)} bytes announced`);
  return out;
}

/**
 * One LZO1X block into exactly `out`. `state` is what lzo.rst calls it: the number of
 * literals the previous instruction copied (0-3), or 4 after a run of 4 or more; it
 * selects what instructions 0-15 mean.
 */
export function lzo1xDecompress(src: Uint8Array, out: Uint8Array, srcOffset = 0, block = 0): void {
  let ip = 0, op = 0, state = 0;
  const fail = (what: string): never => {
    throw new LzoError(srcOffset + ip, `block[${block}]: ${what}`);
  };
  const byte = () => (ip < src.length ? src[ip++] : fail("input ends inside an instruction"));
  /** A length with zero bytes extending it: 255 per zero, then `base` plus the first non-zero byte. */
  const longLength = (base: number) => {
    let n = 0;
    let b: number;
    while ((b = byte()) === 0) n += 255;
    return n + base + b;
  };
  const literals = (n: number) => {
    if (ip + n > src.length) fail(`a literal run of ${n} bytes runs past the input`);
    if (op + n > out.length) fail(`a literal run of ${n} bytes runs past the block's 0x${out.length.toString(16)} bytes`);
    out.set(src.subarray(ip, ip + n), op);
    ip += n;
    op += n;
  };
  const match = (distance: number, length: number) => {
    if (distance > op) fail(`a match reaches 0x${distance.toString(16)} bytes back, before the block's start`);
    if (op + length > out.length) fail(`a match of ${length} bytes runs past the block's 0x${out.length.toString(16)} bytes`);
    if (distance >= length) out.copyWithin(op, op - distance, op - distance + length);
    else for (let i = 0; i < length; i++) out[op + i] = out[op + i - distance]; // overlapping: a repeating pattern
    op += length;
  };
  /** After a match: its trailing literals (0-3), which are the next state. */
  const trailing = (s: number) => {
    literals(s);
    state = s;
  };

  // The first byte: 18-21 copy 1-3 literals, 22-255 a run of 4 or more (17 would be the
  // lzo-rle bitstream version, which lzop never writes).
  if (src.length > 0 && src[0] > 17) {
    const n = byte() - 17;
    literals(n);
    state = n < 4 ? n : 4;
  }
  for (;;) {
    const t = byte();
    if (t < 16) {
      if (state === 0) {
        // 0000LLLL: a literal run of 3 + L (L = 0: extended), then state 4.
        literals(t === 0 ? longLength(18) : t + 3);
        state = 4;
      } else if (state < 4) {
        // 0000DDSS HHHHHHHH after 1-3 literals: 2 bytes from (H << 2) + D + 1 back.
        match((byte() << 2) + (t >> 2) + 1, 2);
        trailing(t & 3);
      } else {
        // 0000DDSS HHHHHHHH after a run: 3 bytes from (H << 2) + D + 2049 back.
        match((byte() << 2) + (t >> 2) + 2049, 3);
        trailing(t & 3);
      }
    } else if (t < 32) {
      // 0001HLLL LE16(D << 2 | S): 2 + L bytes from 16384 + (H << 14) + D back; distance
      // 16384 with length 3 (bytes 11 00 00) ends the stream.
      const length = (t & 7) === 0 ? longLength(9) : (t & 7) + 2;
      const d = byte() | (byte() << 8);
      const distance = 16384 + ((t & 8) << 11) + (d >> 2);
      if (distance === 16384) {
        if (length !== 3) fail(`end marker with length ${length}, not 3`);
        if (ip !== src.length) fail(`${src.length - ip} bytes follow the end marker`);
        if (op !== out.length) fail(`the block ends after 0x${op.toString(16)} of its 0x${out.length.toString(16)} bytes`);
        return;
      }
      match(distance, length);
      trailing(d & 3);
    } else if (t < 64) {
      // 001LLLLL LE16(D << 2 | S): 2 + L bytes from D + 1 back.
      const length = (t & 31) === 0 ? longLength(33) : (t & 31) + 2;
      const d = byte() | (byte() << 8);
      match((d >> 2) + 1, length);
      trailing(d & 3);
    } else {
      // 1LLDDDSS / 01LDDDSS HHHHHHHH: 3-8 bytes from (H << 3) + D + 1 back.
      match((byte() << 3) + ((t >> 2) & 7) + 1, (t >> 5) + 1);
      trailing(t & 3);
    }
  }
}
