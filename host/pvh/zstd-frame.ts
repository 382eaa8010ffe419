// What a zstd stream says about its own content (RFC 8878 §3.1.1), read without decoding
// it: for each frame, its Frame_Content_Size when the header carries one and its
// Content_Checksum (the low 32 bits of XXH64 of the frame's content, seed 0) when the
// frame ends with one. fzstd, the decoder Node 20 falls back to, checks neither: the host
// checks the decoded bytes against them (host/pvh/decompress.ts).
export interface ZstdFrame {
  /** Byte offset of the frame in the stream. */
  at: number;
  contentSize?: number;
  checksum?: number;
}

const MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0, SKIPPABLE = 0x184d2a50;

/** The stream's frames; throws an Error naming the byte offset where the stream stops making sense. */
export function zstdFrames(s: Uint8Array): ZstdFrame[] {
  const d = new DataView(s.buffer, s.byteOffset, s.byteLength);
  const need = (at: number, n: number, what: string) => {
    if (at + n > s.length) throw new Error(`${what} at byte ${at} runs past the stream's end`);
  };
  const frames: ZstdFrame[] = [];
  let at = 0;
  while (at < s.length) {
    need(at, 4, "frame magic");
    const magic = d.getUint32(at, true);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE) {
      need(at + 4, 4, "skippable frame size");
      at += 8 + d.getUint32(at + 4, true);
      continue;
    }
    if (magic !== MAGIC) throw new Error(`no zstd frame magic at byte ${at}`);
    const frame: ZstdFrame = { at };
    need(at + 4, 1, "frame header");
    const fhd = s[at + 4];
    if (fhd & 0x08) throw new Error(`frame header's reserved bit set at byte ${at + 4}`);
    const fcsFlag = fhd >> 6, single = (fhd >> 5) & 1, hasChecksum = (fhd >> 2) & 1, dictFlag = fhd & 3;
    let p = at + 5 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag];
    const fcsBytes = [single, 2, 4, 8][fcsFlag];
    need(p, fcsBytes, "Frame_Content_Size");
    if (fcsBytes === 1) frame.contentSize = s[p];
    else if (fcsBytes === 2) frame.contentSize = d.getUint16(p, true) + 256;
    else if (fcsBytes === 4) frame.contentSize = d.getUint32(p, true);
    else if (fcsBytes === 8) frame.contentSize = Number(d.getBigUint64(p, true));
    p += fcsBytes;
    for (let last = 0; !last;) {
      need(p, 3, "block header");
      const h = s[p] | (s[p + 1] << 8) | (s[p + 2] << 16);
      last = h & 1;
      const type = (h >> 1) & 3, size = h >>> 3;
      if (type === 3) throw new Error(`reserved block type at byte ${p}`);
      p += 3 + (type === 1 ? 1 : size);
    }
    if (hasChecksum) {
      need(p, 4, "Content_Checksum");
      frame.checksum = d.getUint32(p, true);
      p += 4;
    }
    if (p > s.length) throw new Error(`a block of the frame at byte ${at} runs past the stream's end`);
    frames.push(frame);
    at = p;
  }
  return frames;
}
