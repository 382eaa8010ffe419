// Reading a FAT volume on the host: the tree of folders and files a disk holds, so that
// what a guest wrote to an ESP given as a folder can be put back into that folder
// (host/disk.ts). The firmware has its own FAT driver (firmware/services/fat.ts); this is
// the host's, read-only, over any byte source.
//
// Spec: Microsoft's "FAT: General Overview of On-Disk Format" 1.03 (fatgen103), cited by
// its headings; the partition: UEFI 2.10 §5.3 (the GPT's first entry), else the whole disk.

/** A volume's folders and files by path ("EFI/BOOT/BOOTX64.EFI"); a file's bytes are read when asked for. */
export type FatTree = Map<string, { dir: true } | { dir: false; size: number; bytes: () => Uint8Array }>;

export class FatReadError extends Error {}

const SECTOR = 512;
const ATTR_LONG_NAME = 0x0f, ATTR_VOLUME_ID = 0x08, ATTR_DIRECTORY = 0x10;
/** fatgen103 "FAT Type Determination". */
const FAT16_MIN_CLUSTERS = 4085, FAT32_MIN_CLUSTERS = 65525;
/** Folders deeper than this are a loop, not a tree. */
const MAX_DEPTH = 64;

/**
 * The tree of the FAT volume on a disk whose bytes `read(offset, length)` gives: the GPT's
 * first partition when the disk has a GPT, else the whole disk. A FatReadError names the
 * structure that is not as fatgen103 says.
 */
export function readFatTree(read: (offset: number, length: number) => Uint8Array): FatTree {
  const base = volumeStart(read);
  const bs = new DataView(read(base, SECTOR).buffer);
  const bytesPerSec = bs.getUint16(11, true), secPerClus = bs.getUint8(13), rsvd = bs.getUint16(14, true), numFats = bs.getUint8(16);
  const rootEntCnt = bs.getUint16(17, true), fatSz = bs.getUint16(22, true) || bs.getUint32(36, true);
  const totSec = bs.getUint16(19, true) || bs.getUint32(32, true);
  if (bs.getUint16(510, true) !== 0xaa55 || ![512, 1024, 2048, 4096].includes(bytesPerSec) || !secPerClus || !numFats || !fatSz) {
    throw new FatReadError(`no FAT boot sector at byte ${base} (BPB_BytsPerSec ${bytesPerSec}, BPB_SecPerClus ${secPerClus})`);
  }
  const rootDirSectors = Math.ceil((rootEntCnt * 32) / bytesPerSec);
  const firstData = rsvd + numFats * fatSz + rootDirSectors;
  const clusters = Math.floor((totSec - firstData) / secPerClus);
  if (clusters < FAT16_MIN_CLUSTERS) throw new FatReadError(`a FAT12 volume (${clusters} clusters): not read back`);
  const fat32 = clusters >= FAT32_MIN_CLUSTERS;
  const clusterBytes = secPerClus * bytesPerSec;
  const fat = new DataView(read(base + rsvd * bytesPerSec, fatSz * bytesPerSec).buffer);
  const next = (c: number) => (fat32 ? fat.getUint32(c * 4, true) & 0x0fff_ffff : fat.getUint16(c * 2, true));
  const end = fat32 ? 0x0fff_fff8 : 0xfff8;
  const clusterAt = (c: number) => base + (firstData + (c - 2) * secPerClus) * bytesPerSec;
  /** A chain's clusters, checked: in the volume, no loop, not past `limit` clusters. */
  const chain = (first: number, limit: number, what: string): number[] => {
    const out: number[] = [];
    for (let c = first; c < end; c = next(c)) {
      if (c < 2 || c >= clusters + 2) throw new FatReadError(`${what}: cluster ${c} is outside the volume (${clusters} clusters)`);
      if (out.length >= limit) throw new FatReadError(`${what}: its cluster chain is longer than ${limit} clusters (a loop?)`);
      out.push(c);
    }
    return out;
  };
  const readChain = (cs: number[], size: number) => {
    const out = new Uint8Array(cs.length * clusterBytes);
    cs.forEach((c, i) => out.set(read(clusterAt(c), clusterBytes), i * clusterBytes));
    return out.subarray(0, size);
  };

  const tree: FatTree = new Map();
  const walk = (entries: Uint8Array, prefix: string, depth: number) => {
    if (depth > MAX_DEPTH) throw new FatReadError(`${prefix}: folders nest deeper than ${MAX_DEPTH}`);
    const d = new DataView(entries.buffer, entries.byteOffset, entries.length);
    let long: string[] = [];
    for (let at = 0; at + 32 <= entries.length; at += 32) {
      const first = entries[at];
      if (first === 0) break;
      const attr = entries[at + 11];
      if (first === 0xe5) {
        long = [];
        continue;
      }
      if ((attr & 0x3f) === ATTR_LONG_NAME) {
        // fatgen103 "FAT Long Directory Entries": 13 UTF-16 units, last part first.
        const units = [...Array(5).keys()].map((i) => d.getUint16(at + 1 + 2 * i, true))
          .concat([...Array(6).keys()].map((i) => d.getUint16(at + 14 + 2 * i, true)), [0, 1].map((i) => d.getUint16(at + 28 + 2 * i, true)));
        const stop = units.indexOf(0);
        const part = String.fromCharCode(...(stop < 0 ? units : units.slice(0, stop)));
        long = first & 0x40 ? [part] : [part, ...long];
        continue;
      }
      if (attr & ATTR_VOLUME_ID) {
        long = [];
        continue;
      }
      const short = shortName(entries.subarray(at, at + 11), entries[at + 12]);
      const name = long.length ? long.join("") : short;
      long = [];
      if (name === "." || name === "..") continue;
      const path = prefix ? `${prefix}/${name}` : name;
      const firstCluster = (d.getUint16(at + 20, true) << 16) | d.getUint16(at + 26, true);
      const size = d.getUint32(at + 28, true);
      if (attr & ATTR_DIRECTORY) {
        tree.set(path, { dir: true });
        const cs = chain(firstCluster, (65536 * 32) / clusterBytes, path);
        walk(readChain(cs, cs.length * clusterBytes), path, depth + 1);
      } else {
        const cs = size ? chain(firstCluster, Math.ceil(size / clusterBytes), path) : [];
        if (cs.length * clusterBytes < size) throw new FatReadError(`${path}: ${size} bytes, but its chain holds ${cs.length} clusters`);
        tree.set(path, { dir: false, size, bytes: () => readChain(cs, size) });
      }
    }
  };
  if (fat32) {
    const cs = chain(bs.getUint32(44, true), (65536 * 32) / clusterBytes, "the root folder");
    walk(readChain(cs, cs.length * clusterBytes), "", 0);
  } else {
    walk(read(base + (rsvd + numFats * fatSz) * bytesPerSec, rootEntCnt * 32), "", 0);
  }
  return tree;
}

/** Byte offset of the volume: the GPT's first partition (UEFI 2.10 §5.3.2), else 0. */
function volumeStart(read: (offset: number, length: number) => Uint8Array): number {
  const h = read(SECTOR, SECTOR);
  if (Buffer.from(h.subarray(0, 8)).toString("latin1") !== "EFI PART") return 0;
  const d = new DataView(h.buffer, h.byteOffset);
  const entries = Number(d.getBigUint64(72, true));
  const entry = new DataView(read(entries * SECTOR, 128).buffer);
  return Number(entry.getBigUint64(32, true)) * SECTOR;
}

/** An 8.3 name as stored, with Windows NT's lower-case flags (DIR_NTRes bits 3 and 4). */
function shortName(raw: Uint8Array, ntRes: number): string {
  let base = Buffer.from(raw.subarray(0, 8)).toString("latin1").trimEnd();
  let ext = Buffer.from(raw.subarray(8, 11)).toString("latin1").trimEnd();
  if (raw[0] === 0x05) base = "\u00e5" + base.slice(1);
  if (ntRes & 0x08) base = base.toLowerCase();
  if (ntRes & 0x10) ext = ext.toLowerCase();
  return ext ? `${base}.${ext}` : base;
}
