// A host folder as a FAT disk (the CLI's --esp DIR): the firmware's own FAT driver reads
// its sectors. The image itself is never written: a writable disk keeps the guest's writes
// in an overlay (host/disk.ts), which commit() turns back into the folder's files.
//
// Spec: Microsoft's "FAT: General Overview of On-Disk Format" 1.03 (fatgen103), cited by
// its headings; the GPT wrapping: UEFI 2.10 §5.2-5.3.
//
// Only metadata is held in memory: the reserved sectors, the directories, and the FAT,
// which is computed per read from where each cluster chain ends. Files are laid out one
// after another, each in contiguous clusters, and their bytes are read from the host
// files when the guest reads them. The image is a sorted list of regions over zeros:
//
//   volume sector 0     boot sector; FAT32: FSInfo at 1, their backups at 6 and 7
//   BPB_RsvdSecCnt      FAT 1, then FAT 2 (the same bytes)
//   + 2 * FATSz         FAT16 only: the root directory, BPB_RootEntCnt entries
//   first data sector   cluster 2: the directories (FAT32: the root first), then the files,
//                       then free clusters
//
// A file that changes on the host after the image is made reads as it is then, cut or
// zero-padded to the size it had.
import { crypto } from "./lazy.ts";
import { closeSync, openSync, readdirSync, statSync, type Stats } from "node:fs";
import { readAt } from "./read-at.ts";
import { join, resolve } from "node:path";
import { crc32 } from "./crc32.ts";
import { guidBytes } from "../firmware/spec/decl.ts";
import { GUIDS } from "../firmware/spec/uefi.ts";

/** A FAT file system holding DIR's files, as a whole-disk image whose sectors are produced on demand. */
export interface FatImage {
  /** Size of the image in 512-byte sectors. */
  readonly sectors: bigint;
  /** Size of the image in bytes (sectors * 512), so that it is a host/disk.ts DiskSource. */
  readonly bytes: number;
  /** The FAT type, which the count of clusters decides (fatgen103 "FAT Type Determination"). */
  readonly fatType: "FAT16" | "FAT32";
  /** Fill `out` with bytes [offset, offset + out.length) of the image. */
  read(offset: number, out: Uint8Array): void;
  /** Close the host files kept open by read (a later read opens them again). */
  close(): void;
}

export interface FatImageOptions {
  /** Volume label, at most 11 characters that an 8.3 name may hold, or spaces; default none ("NO NAME"). */
  label?: string;
  /** "gpt": the volume is an ESP at LBA 2048 of a GPT disk; "none" (default): it is the whole disk. */
  table?: "gpt" | "none";
  /** The volume is at least this big (tests use it to reach FAT32 without 256 MiB of files). */
  minSizeMiB?: number;
}

/** A path fatImageFromDir cannot present, and why. */
export class FatImageError extends Error {
  constructor(readonly path: string, what: string) {
    super(`${path}: ${what}`);
    this.name = "FatImageError";
  }
}

const SECTOR = 512;
/** 4 KiB: one page of a file per cluster; FAT16 up to 256 MiB, FAT32 beyond. */
const CLUSTER = 4096;
/** fatgen103 "FAT Type Determination": fewer than 4085 clusters is FAT12, fewer than 65525 FAT16. */
const FAT16_MIN_CLUSTERS = 4085, FAT32_MIN_CLUSTERS = 65525;
/** FAT32 entries are 28 bits, and 0x0FFFFFF7 up mean bad or end: mkfs.fat's limit, MAX_CLUST_32 = 2^28 - 16. */
const FAT32_MAX_CLUSTERS = 0x0ffffff0;
/** Free space left on the volume: 1 MiB, or a tenth of the content if that is more. */
const FREE_MIN = 1 << 20, FREE_FRACTION = 0.1;
/** Microsoft's limit: a directory holds at most 65536 entries of 32 bytes (2 MiB). */
const DIR_MAX_ENTRIES = 65536;
/** BPB_RootEntCnt: 16 bits, whole sectors of entries; 512 is what fatgen103 advises for FAT16. */
const ROOT16_MAX_ENTRIES = 65520, ROOT16_MIN_ENTRIES = 512;
/** DIR_FileSize is 32 bits. */
const FILE_MAX = 0xffffffff;
/** LFN: 255 UTF-16 units at most, 13 per entry (fatgen103 "FAT Long Directory Entries"). */
const LONG_MAX = 255, LONG_PER_ENTRY = 13;
/** Files read by `read` stay open, at most this many (the least recently read is closed). */
const OPEN_FILES = 16;

const ATTR = { VOLUME_ID: 0x08, DIRECTORY: 0x10, LONG_NAME: 0x0f } as const;
/** DIR_NTRes bits Windows NT and Linux read as "this part of the 8.3 name is lower case". */
const NT_LOWER_BASE = 0x08, NT_LOWER_EXT = 0x10;
const MEDIA = 0xf8; // fixed disk

/** UEFI 2.10 §5.3.2: the primary header at LBA 1, its 128 entries of 128 bytes from LBA 2 (16 KiB, the least the spec allows). */
const GPT_ENTRIES = 128, GPT_ENTRY_SIZE = 128, GPT_ENTRY_SECTORS = (GPT_ENTRIES * GPT_ENTRY_SIZE) / SECTOR;
/** 1 MiB, where partitioning tools start the first partition. */
const ESP_START_LBA = 2048;

type Layout = Record<string, { offset: number; bytes: number }>;

/** Offsets of a byte-packed layout given as [field, bytes] in order. */
function packed(fields: [string, number][]): Layout {
  const at: Layout = {};
  let offset = 0;
  for (const [name, bytes] of fields) {
    at[name] = { offset, bytes };
    offset += bytes;
  }
  return at;
}

/** Write a field: a number little-endian, a string as ASCII padded with spaces, bytes as they are. */
function put(b: Uint8Array, base: number, layout: Layout, name: string, value: number | bigint | string | Uint8Array): void {
  const { offset, bytes } = layout[name];
  const o = base + offset;
  if (value instanceof Uint8Array) {
    if (value.length > bytes) throw new Error(`${name}: ${value.length} bytes for ${bytes}`);
    b.set(value, o);
  } else if (typeof value === "string") {
    if (value.length > bytes) throw new Error(`${name}: "${value}" is longer than ${bytes}`);
    for (let i = 0; i < bytes; i++) b[o + i] = i < value.length ? value.charCodeAt(i) : 0x20;
  } else {
    let v = BigInt(value);
    for (let i = 0; i < bytes; i++, v >>= 8n) b[o + i] = Number(v & 0xffn);
    if (v !== 0n) throw new Error(`${name}: ${value} does not fit ${bytes} bytes`);
  }
}

// fatgen103 "Boot Sector and BPB": the BPB (36 bytes), then "FAT12 and FAT16 Structure
// Starting at Offset 36" or "FAT32 Structure Starting at Offset 36".
const BPB: [string, number][] = [
  ["BS_jmpBoot", 3], ["BS_OEMName", 8], ["BPB_BytsPerSec", 2], ["BPB_SecPerClus", 1], ["BPB_RsvdSecCnt", 2],
  ["BPB_NumFATs", 1], ["BPB_RootEntCnt", 2], ["BPB_TotSec16", 2], ["BPB_Media", 1], ["BPB_FATSz16", 2],
  ["BPB_SecPerTrk", 2], ["BPB_NumHeads", 2], ["BPB_HiddSec", 4], ["BPB_TotSec32", 4],
];
const BS_TAIL: [string, number][] = [
  ["BS_DrvNum", 1], ["BS_Reserved1", 1], ["BS_BootSig", 1], ["BS_VolID", 4], ["BS_VolLab", 11], ["BS_FilSysType", 8],
];
const BS16 = packed([...BPB, ...BS_TAIL, ["BootCode", 448], ["Signature_word", 2]]);
const BS32 = packed([
  ...BPB, ["BPB_FATSz32", 4], ["BPB_ExtFlags", 2], ["BPB_FSVer", 2], ["BPB_RootClus", 4], ["BPB_FSInfo", 2],
  ["BPB_BkBootSec", 2], ["BPB_Reserved", 12], ...BS_TAIL, ["BootCode", 420], ["Signature_word", 2],
]);
/** fatgen103 "FAT32 FSInfo Sector Structure and Backup Boot Sector". */
const FSINFO = packed([
  ["FSI_LeadSig", 4], ["FSI_Reserved1", 480], ["FSI_StrucSig", 4], ["FSI_Free_Count", 4], ["FSI_Nxt_Free", 4],
  ["FSI_Reserved2", 12], ["FSI_TrailSig", 4],
]);
/** fatgen103 "FAT Directory Structure", 32 bytes. */
const DIR = packed([
  ["DIR_Name", 11], ["DIR_Attr", 1], ["DIR_NTRes", 1], ["DIR_CrtTimeTenth", 1], ["DIR_CrtTime", 2], ["DIR_CrtDate", 2],
  ["DIR_LstAccDate", 2], ["DIR_FstClusHI", 2], ["DIR_WrtTime", 2], ["DIR_WrtDate", 2], ["DIR_FstClusLO", 2], ["DIR_FileSize", 4],
]);
/** fatgen103 "FAT Long Directory Entries", 32 bytes: 5 + 6 + 2 UTF-16 units of the name. */
const LDIR = packed([
  ["LDIR_Ord", 1], ["LDIR_Name1", 10], ["LDIR_Attr", 1], ["LDIR_Type", 1], ["LDIR_Chksum", 1], ["LDIR_Name2", 12],
  ["LDIR_FstClusLO", 2], ["LDIR_Name3", 4],
]);
/** UEFI 2.10 §5.2.3: the Protective MBR, and its partition record (the first of four, at 446). */
const MBR = packed([["BootCode", 440], ["UniqueMBRDiskSignature", 4], ["Unknown", 2], ["PartitionRecord", 64], ["Signature", 2]]);
const MBR_PARTITION = packed([
  ["BootIndicator", 1], ["StartingCHS", 3], ["OSType", 1], ["EndingCHS", 3], ["StartingLBA", 4], ["SizeInLBA", 4],
]);
/** UEFI 2.10 §5.3.2: the GPT Header (92 bytes, the rest of its block zero). */
const GPT_HEADER = packed([
  ["Signature", 8], ["Revision", 4], ["HeaderSize", 4], ["HeaderCRC32", 4], ["Reserved", 4], ["MyLBA", 8],
  ["AlternateLBA", 8], ["FirstUsableLBA", 8], ["LastUsableLBA", 8], ["DiskGUID", 16], ["PartitionEntryLBA", 8],
  ["NumberOfPartitionEntries", 4], ["SizeOfPartitionEntry", 4], ["PartitionEntryArrayCRC32", 4],
]);
const GPT_HEADER_SIZE = 92;
/** UEFI 2.10 §5.3.3: a GPT Partition Entry. */
const GPT_ENTRY = packed([
  ["PartitionTypeGUID", 16], ["UniquePartitionGUID", 16], ["StartingLBA", 8], ["EndingLBA", 8], ["Attributes", 8],
  ["PartitionName", 72],
]);

/** A file or directory of the folder, and where it goes on the volume. */
interface Entry {
  path: string;
  name: string;
  mtimeMs: number;
  /** Bytes of a file; of a directory, its entries' bytes. */
  size: number;
  /** A directory's entries (sorted by name); undefined for a file. */
  children?: Entry[];
  parent?: Entry;
  /** The 8.3 name as DIR_Name holds it ("BOOTX64 EFI"). */
  short: string;
  /** DIR_NTRes lower-case bits. */
  lower: number;
  /** Whether long-name entries carry `name` (it is not an 8.3 name of one case per part). */
  long: boolean;
  /** First cluster; 0 for an empty file (and for the FAT16 root, which has none). */
  cluster: number;
}

/** fatgen103 "FAT Directory Structure": characters an 8.3 name may hold, besides bytes above 0x7F (never made here). */
const SHORT_CHARS = "A-Za-z0-9!#$%&'()@^_`{}~\\-";
const SHORT_CHAR = new RegExp(`^[${SHORT_CHARS}]$`);
const NAME_83 = new RegExp(`^([${SHORT_CHARS}]{1,8})(?:\\.([${SHORT_CHARS}]{1,3}))?$`);
/** fatgen103 "FAT Long Directory Entries": what a long name may not hold. */
const LONG_FORBIDDEN = /[\u0000-\u001f"*/:<>?\\|]/;

/** Why `name` cannot be a long name, or undefined if it can. */
function unstorable(name: string): string | undefined {
  const bad = LONG_FORBIDDEN.exec(name);
  if (bad) return `the name holds ${JSON.stringify(bad[0])}, which FAT forbids`;
  if (name.length > LONG_MAX) return `the name is ${name.length} UTF-16 units, FAT allows ${LONG_MAX}`;
  // Windows and Linux's vfat strip these when looking a name up, so it could not be opened.
  if (/[. ]$/.test(name)) return "the name ends in a period or space, which FAT drivers strip";
  return undefined;
}

/** "upper", "lower" or "mixed": the case of the letters in one part of an 8.3 name. */
function caseOf(s: string): "upper" | "lower" | "mixed" {
  const lower = /[a-z]/.test(s), upper = /[A-Z]/.test(s);
  return lower && upper ? "mixed" : lower ? "lower" : "upper";
}

/**
 * The short names of a directory's entries. An 8.3 name with one case per part is its
 * own short name, its case in DIR_NTRes; a mixed-case one keeps its letters upper-cased
 * and gets long-name entries. Any other name gets long-name entries and a numeric-tail
 * alias (fatgen103 "Numeric-Tail Generation"): its basis name upper-cased, spaces and
 * leading periods dropped, other characters "_", up to 6 characters then "~N" before
 * the last period and 3 after it. Exact names are placed first so no alias takes theirs.
 */
function nameEntries(dir: Entry, entries: Entry[]): void {
  const taken = new Set<string>();
  for (const e of entries) {
    const m = NAME_83.exec(e.name);
    if (!m) continue;
    const [, base, ext = ""] = m;
    e.short = base.toUpperCase().padEnd(8) + ext.toUpperCase().padEnd(3);
    const baseCase = caseOf(base), extCase = caseOf(ext);
    e.long = baseCase === "mixed" || extCase === "mixed";
    if (!e.long) e.lower = (baseCase === "lower" ? NT_LOWER_BASE : 0) | (extCase === "lower" ? NT_LOWER_EXT : 0);
    taken.add(e.short);
  }
  const nextTail = new Map<string, number>();
  for (const e of entries) {
    if (e.short) continue;
    let s = "";
    for (const ch of e.name) s += ch === " " ? "" : ch === "." ? "." : SHORT_CHAR.test(ch) ? ch.toUpperCase() : "_";
    s = s.replace(/^\.+/, ""); // never empty: the name does not end in a period or space
    const dot = s.lastIndexOf(".");
    const base = (dot < 0 ? s : s.slice(0, dot)).replaceAll(".", "").slice(0, 8);
    const ext = dot < 0 ? "" : s.slice(dot + 1, dot + 4);
    // Fewer entries than a directory may hold (checked before) means a free "~N" within 65537 tries.
    let n = nextTail.get(base + "." + ext) ?? 1;
    for (;; n++) {
      const tail = `~${n}`;
      e.short = (base.slice(0, 8 - tail.length) + tail).padEnd(8) + ext.padEnd(3);
      if (!taken.has(e.short)) break;
    }
    nextTail.set(base + "." + ext, n + 1);
    e.long = true;
    taken.add(e.short);
  }
  let slots = dir.parent ? 2 : 0; // "." and ".."
  for (const e of entries) slots += 1 + (e.long ? Math.ceil(e.name.length / LONG_PER_ENTRY) : 0);
  if (slots > DIR_MAX_ENTRIES) throw new FatImageError(dir.path, `too many files: ${slots} directory entries, FAT allows ${DIR_MAX_ENTRIES}`);
  dir.size = slots * 32;
}

/** Read the folder tree; `seen` holds the directories above (device:inode), to refuse a loop of links. */
function scan(dir: Entry, seen: Set<string>, dirs: Entry[], files: Entry[]): void {
  dirs.push(dir);
  const names = readdirSync(dir.path).sort();
  if (names.length + 2 > DIR_MAX_ENTRIES) throw new FatImageError(dir.path, `too many files: ${names.length}, FAT allows ${DIR_MAX_ENTRIES - 2} in a directory`);
  const byUpper = new Map<string, string>();
  const entries: Entry[] = [], subdirs: [Entry, string][] = [];
  for (const name of names) {
    const path = join(dir.path, name);
    const why = unstorable(name);
    if (why) throw new FatImageError(path, why);
    // FAT compares long names without case (Windows upper-cases them).
    const other = byUpper.get(name.toUpperCase());
    if (other !== undefined) throw new FatImageError(path, `FAT cannot hold both "${other}" and "${name}": names differ only in case`);
    byUpper.set(name.toUpperCase(), name);
    const st = statOf(path);
    if (!st.isFile() && !st.isDirectory()) throw new FatImageError(path, "neither a regular file nor a directory");
    if (st.isFile() && st.size > FILE_MAX) throw new FatImageError(path, `${st.size} bytes, a FAT file holds at most ${FILE_MAX}`);
    const e: Entry = { path, name, mtimeMs: st.mtimeMs, size: st.isFile() ? st.size : 0, parent: dir, short: "", lower: 0, long: false, cluster: 0 };
    entries.push(e);
    if (st.isFile()) files.push(e);
    else subdirs.push([e, inode(st)]);
  }
  dir.children = entries;
  nameEntries(dir, entries);
  for (const [e, id] of subdirs) {
    if (seen.has(id)) throw new FatImageError(e.path, "a link back to a directory above it");
    scan(e, new Set(seen).add(id), dirs, files);
  }
}

const inode = (st: Stats) => `${st.dev}:${st.ino}`;

/** stat through links, as a copy would; a missing path or a dangling link is a FatImageError. */
function statOf(path: string): Stats {
  try {
    return statSync(path);
  } catch (e) {
    throw new FatImageError(path, (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory (or a link to none)" : (e as Error).message);
  }
}

const DOS_FIRST = Date.UTC(1980, 0, 1), DOS_LAST = Date.UTC(2107, 11, 31, 23, 59, 58);

/**
 * fatgen103 "Date and Time Formats": local time in 16-bit fields, 2-second steps, years
 * 1980-2107 (clamped to that range). Here UTC, the time the guest's clock keeps
 * (host/clock.ts). The creation time's tenths field takes the odd second and the 10 ms.
 */
function dosTime(ms: number): { date: number; time: number; tenth: number } {
  const d = new Date(Math.min(Math.max(ms, DOS_FIRST), DOS_LAST));
  return {
    date: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    tenth: (d.getUTCSeconds() & 1) * 100 + Math.floor(d.getUTCMilliseconds() / 10),
  };
}

/** A short directory entry at b[o]. */
function putShort(b: Uint8Array, o: number, name: string, attr: number, lower: number, cluster: number, size: number, mtimeMs: number): void {
  const t = dosTime(mtimeMs);
  put(b, o, DIR, "DIR_Name", name);
  put(b, o, DIR, "DIR_Attr", attr);
  put(b, o, DIR, "DIR_NTRes", lower);
  put(b, o, DIR, "DIR_CrtTimeTenth", t.tenth);
  put(b, o, DIR, "DIR_CrtTime", t.time);
  put(b, o, DIR, "DIR_CrtDate", t.date);
  put(b, o, DIR, "DIR_LstAccDate", t.date);
  put(b, o, DIR, "DIR_FstClusHI", cluster >>> 16);
  put(b, o, DIR, "DIR_WrtTime", t.time);
  put(b, o, DIR, "DIR_WrtDate", t.date);
  put(b, o, DIR, "DIR_FstClusLO", cluster & 0xffff);
  put(b, o, DIR, "DIR_FileSize", size);
}

/** fatgen103 "FAT Long Directory Entries": the checksum of the 11-byte short name the long entries belong to. */
function shortNameChecksum(short: string): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + short.charCodeAt(i)) & 0xff;
  return sum;
}

/**
 * Long-name entries at b[o], last part first: entry k (from 1) holds UTF-16 units
 * 13(k-1) to 13k - 1 of the name, which ends in 0x0000 and is padded with 0xFFFF; the
 * first entry stored has the last ordinal, or-ed with 0x40. Returns the offset after them.
 */
function putLong(b: Uint8Array, o: number, name: string, short: string): number {
  const n = Math.ceil(name.length / LONG_PER_ENTRY);
  const units = new Uint16Array(n * LONG_PER_ENTRY).fill(0xffff);
  for (let i = 0; i < name.length; i++) units[i] = name.charCodeAt(i);
  if (name.length < units.length) units[name.length] = 0;
  const bytes = new Uint8Array(units.length * 2);
  units.forEach((u, i) => { bytes[2 * i] = u & 0xff; bytes[2 * i + 1] = u >> 8; });
  const sum = shortNameChecksum(short);
  for (let k = n; k >= 1; k--, o += 32) {
    const part = bytes.subarray((k - 1) * 26, k * 26);
    put(b, o, LDIR, "LDIR_Ord", k === n ? k | 0x40 : k);
    put(b, o, LDIR, "LDIR_Name1", part.subarray(0, 10));
    put(b, o, LDIR, "LDIR_Attr", ATTR.LONG_NAME);
    put(b, o, LDIR, "LDIR_Chksum", sum);
    put(b, o, LDIR, "LDIR_Name2", part.subarray(10, 22));
    put(b, o, LDIR, "LDIR_Name3", part.subarray(22, 26));
  }
  return o;
}

/** A directory's entries into b, from its start: "." and ".." (not in the root), the label (root only), then its children. */
function putDir(b: Uint8Array, dir: Entry, label: string | undefined): void {
  let o = 0;
  const at = () => (o += 32) - 32;
  if (dir.parent) {
    putShort(b, at(), ".".padEnd(11), ATTR.DIRECTORY, 0, dir.cluster, 0, dir.mtimeMs);
    // fatgen103: ".." of a directory in the root points to cluster 0, even on FAT32.
    putShort(b, at(), "..".padEnd(11), ATTR.DIRECTORY, 0, dir.parent.parent ? dir.parent.cluster : 0, 0, dir.mtimeMs);
  } else if (label) {
    putShort(b, at(), label.padEnd(11), ATTR.VOLUME_ID, 0, 0, 0, dir.mtimeMs);
  }
  for (const e of dir.children!) {
    if (e.long) o = putLong(b, o, e.name, e.short);
    putShort(b, at(), e.short, e.children ? ATTR.DIRECTORY : 0, e.lower, e.cluster, e.children ? 0 : e.size, e.mtimeMs);
  }
}

/** A range of the image with content: `fill` writes its bytes [from, from + out.length). */
interface Region { at: number; size: number; fill(from: number, out: Uint8Array): void }

const bytesRegion = (at: number, bytes: Uint8Array): Region => ({ at, size: bytes.length, fill: (from, out) => out.set(bytes.subarray(from, from + out.length)) });

/** A name-based GUID for `name` (RFC 4122 §4.3, version 5: SHA-1), so one folder gives the same disk every time. */
function nameGuid(name: string): string {
  const h = crypto().createHash("sha1").update(name).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The volume's shape: its FAT type and where each part starts, in sectors from the volume's start. */
interface Geometry {
  fat32: boolean;
  /** Count of clusters, which decides the FAT type (fatgen103 "FAT Type Determination"). */
  clusters: number;
  rsvdSecCnt: number;
  fatSz: number;
  rootEntCnt: number;
  firstDataSector: number;
  sectors: number;
  /** Sectors before the volume on the disk (BPB_HiddSec): ESP_START_LBA in a GPT disk. */
  hidden: number;
}

/**
 * How many clusters for `used` clusters of directories and files: the content, free space,
 * at least `least`, and at least what FAT16 needs (4085); FAT32 from 65525 (then with the
 * root's clusters too), or when the root outgrows FAT16's fixed root directory.
 */
function geometry(used: number, least: number, rootEntries: number, rootClusters: number, hidden: number): Geometry {
  const free = Math.ceil(Math.max(FREE_MIN, used * CLUSTER * FREE_FRACTION) / CLUSTER);
  let clusters = Math.max(used + free, least, FAT16_MIN_CLUSTERS);
  const fat32 = clusters >= FAT32_MIN_CLUSTERS || rootEntries > ROOT16_MAX_ENTRIES;
  if (fat32) clusters = Math.max(clusters + rootClusters, FAT32_MIN_CLUSTERS);
  const fatSz = Math.ceil(((clusters + 2) * (fat32 ? 4 : 2)) / SECTOR);
  const rsvdSecCnt = fat32 ? 32 : 1; // fatgen103: 1 for FAT16; FAT32 typically 32
  const rootEntCnt = fat32 ? 0 : Math.max(ROOT16_MIN_ENTRIES, Math.ceil(rootEntries / 16) * 16);
  const firstDataSector = rsvdSecCnt + 2 * fatSz + (rootEntCnt * 32) / SECTOR;
  return { fat32, clusters, rsvdSecCnt, fatSz, rootEntCnt, firstDataSector, sectors: firstDataSector + clusters * (CLUSTER / SECTOR), hidden };
}

/**
 * The reserved sectors: the boot sector and, on FAT32, FSInfo at 1 and both again at 6 and 7.
 * `nextFree` is the first free cluster (all after it are free too).
 */
function reservedSectors(g: Geometry, rootCluster: number, nextFree: number, label: string | undefined, volId: number): Uint8Array {
  const b = new Uint8Array(g.rsvdSecCnt * SECTOR);
  const BS = g.fat32 ? BS32 : BS16;
  const small = !g.fat32 && g.sectors < 0x10000; // FAT16 below 32 MiB: BPB_TotSec16
  put(b, 0, BS, "BS_jmpBoot", new Uint8Array([0xeb, BS.BootCode.offset - 2, 0x90])); // jmp short BootCode; nop
  put(b, 0, BS, "BS_OEMName", "MSWIN4.1"); // fatgen103: the value some FAT drivers expect
  put(b, 0, BS, "BPB_BytsPerSec", SECTOR);
  put(b, 0, BS, "BPB_SecPerClus", CLUSTER / SECTOR);
  put(b, 0, BS, "BPB_RsvdSecCnt", g.rsvdSecCnt);
  put(b, 0, BS, "BPB_NumFATs", 2);
  put(b, 0, BS, "BPB_RootEntCnt", g.rootEntCnt);
  put(b, 0, BS, "BPB_TotSec16", small ? g.sectors : 0);
  put(b, 0, BS, "BPB_Media", MEDIA);
  put(b, 0, BS, "BPB_FATSz16", g.fat32 ? 0 : g.fatSz);
  put(b, 0, BS, "BPB_SecPerTrk", 63); // a nominal geometry, for BIOS int 13h only
  put(b, 0, BS, "BPB_NumHeads", 255);
  put(b, 0, BS, "BPB_HiddSec", g.hidden);
  put(b, 0, BS, "BPB_TotSec32", small ? 0 : g.sectors);
  if (g.fat32) {
    put(b, 0, BS, "BPB_FATSz32", g.fatSz);
    put(b, 0, BS, "BPB_RootClus", rootCluster);
    put(b, 0, BS, "BPB_FSInfo", 1);
    put(b, 0, BS, "BPB_BkBootSec", 6);
  }
  put(b, 0, BS, "BS_DrvNum", 0x80);
  put(b, 0, BS, "BS_BootSig", 0x29); // BS_VolID, BS_VolLab and BS_FilSysType are present
  put(b, 0, BS, "BS_VolID", volId);
  put(b, 0, BS, "BS_VolLab", label || "NO NAME");
  put(b, 0, BS, "BS_FilSysType", g.fat32 ? "FAT32" : "FAT16"); // informative only: the cluster count decides
  put(b, 0, BS, "BootCode", new Uint8Array([0xfa, 0xf4, 0xeb, 0xfd])); // cli; hlt; jmp to the hlt: a BIOS booting this stops
  put(b, 0, BS, "Signature_word", 0xaa55);
  if (g.fat32) {
    put(b, SECTOR, FSINFO, "FSI_LeadSig", 0x41615252);
    put(b, SECTOR, FSINFO, "FSI_StrucSig", 0x61417272);
    put(b, SECTOR, FSINFO, "FSI_Free_Count", g.clusters + 2 - nextFree);
    put(b, SECTOR, FSINFO, "FSI_Nxt_Free", nextFree);
    put(b, SECTOR, FSINFO, "FSI_TrailSig", 0xaa550000);
    b.copyWithin(6 * SECTOR, 0, 2 * SECTOR);
  }
  return b;
}

/**
 * One copy of the FAT, computed for the bytes asked (fatgen103 "FAT Data Structure"):
 * entry 0 holds the media byte, entry 1 the end-of-chain mark (its clean-shutdown and
 * no-error bits set), and each chain runs c -> c + 1 up to its last cluster in `ends`;
 * clusters from `nextFree` are free (0).
 */
function fatRegion(at: number, g: Geometry, ends: Set<number>, nextFree: number): Region {
  const width = g.fat32 ? 4 : 2;
  const eoc = g.fat32 ? 0x0fffffff : 0xffff;
  const entry = (c: number) => (c === 0 ? (eoc & ~0xff) | MEDIA : c === 1 || ends.has(c) ? eoc : c < nextFree ? c + 1 : 0);
  return {
    at, size: g.fatSz * SECTOR,
    fill(from, out) {
      const first = Math.floor(from / width), end = Math.ceil((from + out.length) / width);
      const entries = new DataView(new ArrayBuffer((end - first) * width));
      for (let c = first; c < end; c++) {
        if (g.fat32) entries.setUint32((c - first) * 4, entry(c), true);
        else entries.setUint16((c - first) * 2, entry(c), true);
      }
      out.set(new Uint8Array(entries.buffer, from - first * width, out.length));
    },
  };
}

/** Host files read on demand, the OPEN_FILES most recently read kept open. */
function hostFiles(): { region(at: number, f: Entry): Region; close(): void } {
  const fds = new Map<string, number>(); // path -> descriptor, least recently read first
  const fd = (path: string): number => {
    let f = fds.get(path);
    if (f === undefined) {
      f = openSync(path, "r");
      if (fds.size >= OPEN_FILES) {
        const [oldest, old] = fds.entries().next().value!;
        closeSync(old);
        fds.delete(oldest);
      }
    }
    fds.delete(path);
    fds.set(path, f);
    return f;
  };
  return {
    region: (at, f) => ({
      at, size: f.size,
      fill(from, out) {
        readAt(fd(f.path), out, from); // a file that shrank: the rest reads as zeros
      },
    }),
    close() {
      for (const f of fds.values()) closeSync(f);
      fds.clear();
    },
  };
}

/**
 * DIR as a FAT volume, FAT16 or (when its clusters need it) FAT32, alone or as the ESP of
 * a GPT disk. Throws FatImageError for what FAT cannot hold, naming the path.
 */
export function fatImageFromDir(dir: string, options: FatImageOptions = {}): FatImage {
  const rootPath = resolve(dir);
  const rootStat = statOf(rootPath);
  if (!rootStat.isDirectory()) throw new FatImageError(rootPath, "not a directory");
  const label = options.label?.toUpperCase();
  if (label !== undefined && !new RegExp(`^[${SHORT_CHARS}][${SHORT_CHARS} ]{0,10}$`).test(label)) {
    throw new FatImageError(rootPath, `label "${options.label}": at most 11 characters of an 8.3 name, or spaces after the first`);
  }

  const root: Entry = { path: rootPath, name: "", mtimeMs: rootStat.mtimeMs, size: 0, short: "", lower: 0, long: false, cluster: 0 };
  const dirs: Entry[] = [], files: Entry[] = [];
  scan(root, new Set([inode(rootStat)]), dirs, files);
  if (label) root.size += 32;

  const clustersOf = (bytes: number) => Math.ceil(bytes / CLUSTER);
  const dirClusters = (d: Entry) => Math.max(1, clustersOf(d.size));
  let used = 0;
  for (const d of dirs) if (d !== root) used += dirClusters(d);
  for (const f of files) used += clustersOf(f.size);
  const least = clustersOf((options.minSizeMiB ?? 0) * (1 << 20));
  const g = geometry(used, least, root.size / 32, dirClusters(root), options.table === "gpt" ? ESP_START_LBA : 0);
  if (g.clusters > FAT32_MAX_CLUSTERS) {
    throw new FatImageError(rootPath, `needs ${g.clusters} clusters of ${CLUSTER} bytes; FAT32 holds at most ${FAT32_MAX_CLUSTERS} (${(FAT32_MAX_CLUSTERS * CLUSTER) / 2 ** 40} TiB)`);
  }

  // Clusters from 2: the directories (the FAT32 root first), then the files.
  const ends = new Set<number>();
  let next = 2;
  const allocate = (e: Entry, clusters: number) => {
    e.cluster = next;
    next += clusters;
    ends.add(next - 1);
  };
  for (const d of dirs) if (d !== root || g.fat32) allocate(d, dirClusters(d));
  const dirBytes = new Uint8Array((next - 2) * CLUSTER);
  for (const f of files) if (f.size) allocate(f, clustersOf(f.size));
  for (const d of dirs) if (d.cluster) putDir(dirBytes.subarray((d.cluster - 2) * CLUSTER), d, label);
  const root16 = new Uint8Array(g.rootEntCnt * 32);
  if (!g.fat32) putDir(root16, root, label);

  const tag = `ueficorn fat-image ${rootPath}`;
  const host = hostFiles();
  const vol = g.hidden * SECTOR;
  const data = vol + g.firstDataSector * SECTOR;
  const regions: Region[] = [
    bytesRegion(vol, reservedSectors(g, root.cluster, next, label, crypto().createHash("sha1").update(tag).digest().readUInt32LE(0))),
    fatRegion(vol + g.rsvdSecCnt * SECTOR, g, ends, next),
    fatRegion(vol + (g.rsvdSecCnt + g.fatSz) * SECTOR, g, ends, next),
    bytesRegion(vol + (g.rsvdSecCnt + 2 * g.fatSz) * SECTOR, root16),
    bytesRegion(data, dirBytes),
    ...files.filter((f) => f.size).map((f) => host.region(data + (f.cluster - 2) * CLUSTER, f)),
  ];
  let sectors = g.sectors;
  if (options.table === "gpt") {
    const disk = gptDisk(g.sectors, tag);
    regions.unshift(bytesRegion(0, disk.head));
    regions.push(bytesRegion(disk.tailAt, disk.tail));
    sectors = disk.sectors;
  }
  return image(sectors, g.fat32 ? "FAT32" : "FAT16", regions.filter((r) => r.size > 0), host.close);
}

/** The image over its regions (sorted, not overlapping): zeros, then each region's bytes in the range. */
function image(sectors: number, fatType: FatImage["fatType"], regions: Region[], close: () => void): FatImage {
  const size = sectors * SECTOR;
  return {
    sectors: BigInt(sectors),
    bytes: size,
    fatType,
    read(offset, out) {
      const end = offset + out.length;
      if (!(offset >= 0 && end <= size)) throw new RangeError(`read of [${offset}, ${end}) outside the image's ${size} bytes`);
      out.fill(0);
      let lo = 0, hi = regions.length; // find the first region ending after offset
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (regions[mid].at + regions[mid].size <= offset) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < regions.length && regions[i].at < end; i++) {
        const r = regions[i];
        const from = Math.max(offset, r.at), to = Math.min(end, r.at + r.size);
        r.fill(from - r.at, out.subarray(from - offset, to - offset));
      }
    },
    close,
  };
}

/** CHS of an LBA in the 255-head, 63-sector geometry, or 0xFFFFFF past cylinder 1023 (UEFI 2.10 §5.2.3, StartingCHS and EndingCHS). */
function chs(lba: number): number {
  const c = Math.floor(lba / (255 * 63)), h = Math.floor(lba / 63) % 255, s = (lba % 63) + 1;
  return c > 1023 ? 0xffffff : h | ((s | ((c >> 2) & 0xc0)) << 8) | ((c & 0xff) << 16);
}

/**
 * UEFI 2.10 §5.2.3 and §5.3: a protective MBR, the primary GPT header and entries, the
 * volume at ESP_START_LBA as the one partition (the ESP), and the backup entries and
 * header in the disk's last 33 blocks. GUIDs are named after the folder (`tag`).
 */
function gptDisk(volSectors: number, tag: string): { head: Uint8Array; tail: Uint8Array; tailAt: number; sectors: number } {
  const last = ESP_START_LBA + volSectors + GPT_ENTRY_SECTORS; // the backup header's LBA
  const sectors = last + 1;

  const entries = new Uint8Array(GPT_ENTRIES * GPT_ENTRY_SIZE);
  put(entries, 0, GPT_ENTRY, "PartitionTypeGUID", guidBytes(GUIDS.PART_TYPE_SYSTEM_PART));
  put(entries, 0, GPT_ENTRY, "UniquePartitionGUID", guidBytes(nameGuid(`${tag} partition 1`)));
  put(entries, 0, GPT_ENTRY, "StartingLBA", ESP_START_LBA);
  put(entries, 0, GPT_ENTRY, "EndingLBA", ESP_START_LBA + volSectors - 1); // inclusive
  put(entries, 0, GPT_ENTRY, "PartitionName", new Uint8Array(Buffer.from("EFI System Partition", "utf16le")));
  const entriesCrc = crc32(entries);

  const header = (my: number, alternate: number, entryLba: number) => {
    const h = new Uint8Array(SECTOR);
    put(h, 0, GPT_HEADER, "Signature", "EFI PART");
    put(h, 0, GPT_HEADER, "Revision", 0x00010000);
    put(h, 0, GPT_HEADER, "HeaderSize", GPT_HEADER_SIZE);
    put(h, 0, GPT_HEADER, "MyLBA", my);
    put(h, 0, GPT_HEADER, "AlternateLBA", alternate);
    put(h, 0, GPT_HEADER, "FirstUsableLBA", 2 + GPT_ENTRY_SECTORS);
    put(h, 0, GPT_HEADER, "LastUsableLBA", last - GPT_ENTRY_SECTORS - 1);
    put(h, 0, GPT_HEADER, "DiskGUID", guidBytes(nameGuid(`${tag} disk`)));
    put(h, 0, GPT_HEADER, "PartitionEntryLBA", entryLba);
    put(h, 0, GPT_HEADER, "NumberOfPartitionEntries", GPT_ENTRIES);
    put(h, 0, GPT_HEADER, "SizeOfPartitionEntry", GPT_ENTRY_SIZE);
    put(h, 0, GPT_HEADER, "PartitionEntryArrayCRC32", entriesCrc);
    put(h, 0, GPT_HEADER, "HeaderCRC32", crc32(h.subarray(0, GPT_HEADER_SIZE))); // computed with this field 0
    return h;
  };

  const head = new Uint8Array((2 + GPT_ENTRY_SECTORS) * SECTOR);
  const pmbr = MBR.PartitionRecord.offset; // the first of 4 records; the others stay zero
  put(head, pmbr, MBR_PARTITION, "StartingCHS", chs(1));
  put(head, pmbr, MBR_PARTITION, "OSType", 0xee); // GPT protective
  put(head, pmbr, MBR_PARTITION, "EndingCHS", chs(last));
  put(head, pmbr, MBR_PARTITION, "StartingLBA", 1);
  put(head, pmbr, MBR_PARTITION, "SizeInLBA", Math.min(sectors - 1, 0xffffffff));
  put(head, 0, MBR, "Signature", 0xaa55);
  head.set(header(1, last, 2), SECTOR);
  head.set(entries, 2 * SECTOR);

  const tail = new Uint8Array((GPT_ENTRY_SECTORS + 1) * SECTOR);
  tail.set(entries, 0);
  tail.set(header(last, 1, last - GPT_ENTRY_SECTORS), GPT_ENTRY_SECTORS * SECTOR);
  return { head, tail, tailAt: (last - GPT_ENTRY_SECTORS) * SECTOR, sectors };
}
