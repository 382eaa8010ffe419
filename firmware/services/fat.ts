// FAT12/16/32 file systems (Microsoft's FAT specification, "fatgen103"), served as
// EFI_SIMPLE_FILE_SYSTEM_PROTOCOL (§13.4) and EFI_FILE_PROTOCOL (§13.5) on every block
// device that holds one. On a read-only device the volume says so
// (FILE_SYSTEM_INFO.ReadOnly) and opening for writing answers WRITE_PROTECTED; on a
// writable one files and folders are created, written, resized and deleted, every FAT
// copy kept the same, and FAT32's FSInfo free count set to "unknown" at the first change;
// the label is set in the root's volume-ID entry and the boot sector alike.
//
//   volume record (private, 128 bytes)
//   0 device i32 | 4 fatType u32 (12, 16, 32) | 8 sfs u64 (guest instance)
//   16 fatStart u64 | 24 rootStart u64 (FAT12/16 fixed root) | 32 rootBytes u32
//   36 clusterBytes u32 | 40 dataStart u64 (cluster 2) | 48 clusters u32 | 52 rootCluster u32
//   56 freeClusters u64 (u64 max until counted) | 64 label (11 bytes, padded with spaces)
//   76 fats u32 | 80 fatBytes u64 | 88 writable u32 | 92 fsInfo u32 (FAT32: its sector, 0 none)
//   96 nextFree u32 (where the next allocation looks first) | 100 changed u32 | 104 bytesPerSector u32
//
//   file record (private, 640 bytes): one per open EFI_FILE_PROTOCOL
//   0 proto u64 (guest instance, 0 = free slot) | 8 volume i32 | 12 attribute u32
//   16 first u32 (first cluster; 0 = empty file, or the fixed root) | 20 root u32
//   24 size u64 | 32 position u64 | 40 cursorIndex u32 | 44 cursorCluster u32
//   48 the directory entry (32 bytes, for times) | 80 nameChars u32 | 88 name (UCS-2, 256)
//   600 dirFirst u32 (the folder holding the entry) | 604 dirRoot u32 | 608 entryPos u64
//   (the short entry's position in that folder) | 616 lfnPos u64 (its first long-name
//   entry's) | 624 mode u64 (the open mode)
//
// Byte offsets here are within the device (disk.ts adds the partition's start).
import { gp, guest, reserve, guidEq, ucs2Len } from "../mem";
import { allocPool, BS_FreePool, NONE } from "./alloc";
import { install } from "./handles";
import { fillSlots } from "./system";
import { deviceRead, deviceWrite, deviceHandle, deviceBytes, deviceReadOnly } from "./disk";
import { hostTimeNs } from "../abi";
import {
  FILE_INFO, FILE_PROTOCOL, FILE_SYSTEM_INFO, SIMPLE_FILE_SYSTEM_PROTOCOL, TIME,
  FileAttribute, FileMode, Guid, MemoryType, Revision, Status, Table,
} from "../spec/gen";

const MAX_VOLUMES: i32 = 32;
const VOLUMES: usize = reserve(<usize>MAX_VOLUMES << 7);
let volumeCount: i32 = 0;
const V_DEVICE: usize = 0, V_TYPE: usize = 4, V_SFS: usize = 8, V_FAT: usize = 16, V_ROOT: usize = 24;
const V_ROOT_BYTES: usize = 32, V_CLUSTER: usize = 36, V_DATA: usize = 40, V_CLUSTERS: usize = 48;
const V_ROOT_CLUSTER: usize = 52, V_FREE: usize = 56, V_LABEL: usize = 64;
const V_FATS: usize = 76, V_FAT_BYTES: usize = 80, V_WRITABLE: usize = 88, V_FSINFO: usize = 92;
const V_NEXT_FREE: usize = 96, V_CHANGED: usize = 100, V_BPS: usize = 104;

const MAX_FILES: i32 = 256;
const FILE_RECORD: usize = 640;
const FILES: usize = reserve(<usize>MAX_FILES * FILE_RECORD);
const F_PROTO: usize = 0, F_VOLUME: usize = 8, F_ATTR: usize = 12, F_FIRST: usize = 16, F_ROOT: usize = 20;
const F_SIZE: usize = 24, F_POS: usize = 32, F_CUR_INDEX: usize = 40, F_CUR_CLUSTER: usize = 44;
const F_ENTRY: usize = 48, F_NAME_CHARS: usize = 80, F_NAME: usize = 88;
const F_DIR_FIRST: usize = 600, F_DIR_ROOT: usize = 604, F_ENTRY_POS: usize = 608, F_LFN_POS: usize = 616;
const F_MODE: usize = 624;
const MAX_NAME: u32 = 255;

const ENTRY: u64 = 32;
const ATTR_VOLUME_ID: u32 = 0x08, ATTR_DIRECTORY: u32 = 0x10, ATTR_LONG_NAME: u32 = 0x0f;
const NO_CLUSTER: u32 = 0xffff_ffff;
// §13.5.16 EFI_TIME.TimeZone when the time is local and its zone unknown.
const UNSPECIFIED_TIMEZONE: i16 = 0x07ff;

@inline function vol(i: i32): usize { return VOLUMES + (<usize>i << 7); }
@inline function file(i: i32): usize { return FILES + <usize>i * FILE_RECORD; }

// ------------------------------------------------------------------ mounting --

const BOOT: usize = reserve(512);

/**
 * Mount the FAT file system on device `d`, if its first sector is a FAT boot sector
 * whose BPB is consistent (fatgen103 §3); install SimpleFileSystem on the device's handle.
 */
export function mountFat(d: i32): bool {
  if (volumeCount == MAX_VOLUMES || !deviceRead(d, 0, BOOT, 512)) return false;
  const jump = load<u8>(BOOT);
  if ((jump != 0xeb && jump != 0xe9) || load<u16>(BOOT, 510) != 0xaa55) return false;
  const bytesPerSector = <u32>load<u16>(BOOT, 11);
  const perCluster = <u32>load<u8>(BOOT, 13);
  const reserved = <u32>load<u16>(BOOT, 14);
  const fats = <u32>load<u8>(BOOT, 16);
  const rootEntries = <u32>load<u16>(BOOT, 17);
  const total = load<u16>(BOOT, 19) ? <u64>load<u16>(BOOT, 19) : <u64>load<u32>(BOOT, 32);
  const fatSectors = load<u16>(BOOT, 22) ? <u64>load<u16>(BOOT, 22) : <u64>load<u32>(BOOT, 36);
  if (bytesPerSector < 512 || bytesPerSector > 4096 || (bytesPerSector & (bytesPerSector - 1))) return false;
  if (!perCluster || (perCluster & (perCluster - 1)) || !reserved || !fats || !fatSectors) return false;
  const rootSectors = <u64>((rootEntries * 32 + bytesPerSector - 1) / bytesPerSector);
  const meta = <u64>reserved + <u64>fats * fatSectors + rootSectors;
  if (total <= meta) return false;
  const clusters = (total - meta) / <u64>perCluster;
  // fatgen103: the type is decided by the cluster count alone.
  const type: u32 = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
  if (type == 32 && rootEntries != 0) return false;
  const bps = <u64>bytesPerSector;
  if ((total * bps) > deviceBytes(d)) return false;

  const v = vol(volumeCount);
  store<i32>(v + V_DEVICE, d);
  store<u32>(v + V_TYPE, type);
  store<u64>(v + V_FAT, <u64>reserved * bps);
  store<u64>(v + V_ROOT, (<u64>reserved + <u64>fats * fatSectors) * bps);
  store<u32>(v + V_ROOT_BYTES, rootEntries * 32);
  store<u32>(v + V_CLUSTER, perCluster * bytesPerSector);
  store<u64>(v + V_DATA, meta * bps);
  store<u32>(v + V_CLUSTERS, <u32>clusters);
  store<u32>(v + V_ROOT_CLUSTER, type == 32 ? load<u32>(BOOT, 44) : 0);
  store<u64>(v + V_FREE, u64.MAX_VALUE);
  memory.fill(v + V_LABEL, 0x20, 11);
  store<u32>(v + V_FATS, fats);
  store<u64>(v + V_FAT_BYTES, fatSectors * bps);
  store<u32>(v + V_WRITABLE, deviceReadOnly(d) ? 0 : 1);
  store<u32>(v + V_FSINFO, type == 32 ? <u32>load<u16>(BOOT, 48) : 0);
  store<u32>(v + V_NEXT_FREE, 2);
  store<u32>(v + V_CHANGED, 0);
  store<u32>(v + V_BPS, bytesPerSector);
  if (type == 32 && !validCluster(volumeCount, load<u32>(v + V_ROOT_CLUSTER))) return false;

  const sfs = allocPool(MemoryType.BootServicesData, SIMPLE_FILE_SYSTEM_PROTOCOL.SIZE);
  if (sfs == NONE) return false;
  store<u64>(gp(sfs) + SIMPLE_FILE_SYSTEM_PROTOCOL.Revision, Revision.SIMPLE_FILE_SYSTEM);
  fillSlots(Table.SimpleFileSystem, sfs);
  store<u64>(v + V_SFS, sfs);
  const i = volumeCount++;
  labelEntry(i);
  install(deviceHandle(d), Guid.SIMPLE_FILE_SYSTEM_PROTOCOL, sfs);
  return true;
}

@inline function validCluster(v: i32, c: u32): bool {
  return c >= 2 && c < load<u32>(vol(v) + V_CLUSTERS) + 2;
}

function volRead(v: i32, offset: u64, dst: usize, bytes: u64): bool {
  return deviceRead(load<i32>(vol(v) + V_DEVICE), offset, dst, bytes);
}

// One window of one FAT, cached: chains are walked entry by entry.
const FAT_WINDOW: u64 = 4096;
const FAT_CACHE: usize = reserve(<usize>FAT_WINDOW);
let cacheVolume: i32 = -1;
let cacheStart: u64 = 0;

/** The FAT entry of cluster c (the next cluster, or an end/bad mark), or NO_CLUSTER on a read error. */
function fatEntry(v: i32, c: u32): u32 {
  const type = load<u32>(vol(v) + V_TYPE);
  const at: u64 = type == 12 ? <u64>c + (<u64>c >> 1) : type == 16 ? <u64>c << 1 : <u64>c << 2;
  if (cacheVolume != v || at < cacheStart || at + 4 > cacheStart + FAT_WINDOW) {
    cacheStart = at & ~(FAT_WINDOW / 2 - 1);
    // The window may run past the FAT's end into the next FAT or the root: harmless.
    if (!volRead(v, load<u64>(vol(v) + V_FAT) + cacheStart, FAT_CACHE, FAT_WINDOW)) {
      // Near the device's end: read what is there.
      cacheVolume = -1;
      const two = FAT_CACHE;
      if (!volRead(v, load<u64>(vol(v) + V_FAT) + at, two, type == 32 ? 4 : 2)) return NO_CLUSTER;
      return decode(type, c, two);
    }
    cacheVolume = v;
  }
  return decode(type, c, FAT_CACHE + <usize>(at - cacheStart));
}

function decode(type: u32, c: u32, p: usize): u32 {
  if (type == 12) {
    const raw = <u32>load<u16>(p);
    const e = c & 1 ? raw >> 4 : raw & 0xfff;
    return e >= 0xff7 ? (e == 0xff7 ? 0x0fff_fff7 : 0x0fff_ffff) : e;
  }
  if (type == 16) {
    const e = <u32>load<u16>(p);
    return e >= 0xfff7 ? (e == 0xfff7 ? 0x0fff_fff7 : 0x0fff_ffff) : e;
  }
  return load<u32>(p) & 0x0fff_ffff;
}

/** Whether a chain goes on after an entry: anything but an end mark (or a read error). */
@inline function isEnd(e: u32): bool { return e >= 0x0fff_fff8 || e == NO_CLUSTER; }

// --------------------------------------------------------------- chains ------

/**
 * Cluster number `index` of the chain starting at `first`, walking from the record's
 * cursor when it is at or before it; NO_CLUSTER past the end or on a broken chain.
 * `f` is a file record whose cursor is used and moved.
 */
function clusterAt(v: i32, f: usize, index: u32): u32 {
  let c = load<u32>(f + F_FIRST);
  let k: u32 = 0;
  const cur = load<u32>(f + F_CUR_CLUSTER);
  if (cur != NO_CLUSTER && load<u32>(f + F_CUR_INDEX) <= index) {
    c = cur;
    k = load<u32>(f + F_CUR_INDEX);
  }
  const limit = load<u32>(vol(v) + V_CLUSTERS);
  while (k < index) {
    if (!validCluster(v, c)) return NO_CLUSTER;
    const next = fatEntry(v, c);
    if (isEnd(next) || !validCluster(v, next) || k > limit) return NO_CLUSTER;
    c = next;
    k++;
  }
  if (!validCluster(v, c)) return NO_CLUSTER;
  store<u32>(f + F_CUR_INDEX, index);
  store<u32>(f + F_CUR_CLUSTER, c);
  return c;
}

@inline function clusterOffset(v: i32, c: u32): u64 {
  return load<u64>(vol(v) + V_DATA) + <u64>(c - 2) * <u64>load<u32>(vol(v) + V_CLUSTER);
}

/**
 * Read `bytes` at `pos` of the object of record f (a file, or a directory's chain, or the
 * fixed root) into dst, merging runs of consecutive clusters into one device read.
 * Returns the bytes read: fewer at the chain's end; u64 max when the chain is broken.
 */
function readAt(f: usize, pos: u64, dst: usize, bytes: u64): u64 {
  const v = load<i32>(f + F_VOLUME);
  const V = vol(v);
  if (load<u32>(f + F_ROOT) && load<u32>(V + V_TYPE) != 32) {
    const rootBytes = <u64>load<u32>(V + V_ROOT_BYTES);
    const n = pos >= rootBytes ? 0 : min(bytes, rootBytes - pos);
    if (n && !volRead(v, load<u64>(V + V_ROOT) + pos, dst, n)) return u64.MAX_VALUE;
    return n;
  }
  if (!load<u32>(f + F_FIRST)) return 0;
  const cb = <u64>load<u32>(V + V_CLUSTER);
  let done: u64 = 0;
  while (done < bytes) {
    const p = pos + done;
    const index = <u32>(p / cb);
    const c = clusterAt(v, f, index);
    if (c == NO_CLUSTER) {
      // Past the chain's end is the end of a directory; within a file's size it is damage.
      return load<u32>(f + F_ATTR) & ATTR_DIRECTORY ? done : u64.MAX_VALUE;
    }
    let run = cb - p % cb;
    let last = c;
    let k = index;
    while (done + run < bytes) {
      const next = fatEntry(v, last);
      if (next != last + 1 || !validCluster(v, next)) break;
      last = next;
      k++;
      run += cb;
    }
    store<u32>(f + F_CUR_INDEX, k);
    store<u32>(f + F_CUR_CLUSTER, last);
    const n = min(run, bytes - done);
    if (!volRead(v, clusterOffset(v, c) + p % cb, dst + <usize>done, n)) return u64.MAX_VALUE;
    done += n;
  }
  return done;
}

// ----------------------------------------------------------- directories -----

const DIRENT: usize = reserve(32);
/** The name of the entry nextEntry found (UCS-2) and its length in characters. */
const NAME: usize = reserve(<usize>(MAX_NAME + 1) << 1);
let nameChars: u32 = 0;
let lfnValid = false;
let lfnChecksum: u8 = 0;
let lfnNext: u32 = 0;
/** Positions (in its folder) of the entry nextEntry found, and of its first long-name entry. */
let entryPos: u64 = 0;
let lfnPos: u64 = 0;
let nameStart: u64 = 0;

function shortChecksum(e: usize): u8 {
  let sum: u8 = 0;
  for (let i: usize = 0; i < 11; i++) sum = <u8>(((sum & 1) << 7) + (sum >> 1) + load<u8>(e + i));
  return sum;
}

/** The 8.3 name of entry e into NAME, lower-cased where the NT flags (byte 12) say so. */
function shortName(e: usize): void {
  nameChars = 0;
  const lowerBase = (load<u8>(e, 12) & 0x08) != 0, lowerExt = (load<u8>(e, 12) & 0x10) != 0;
  for (let i: usize = 0; i < 8; i++) {
    let c = <u32>load<u8>(e + i);
    if (i == 0 && c == 0x05) c = 0xe5; // fatgen103: 0x05 stands for a leading 0xE5
    if (c == 0x20) break;
    store<u16>(NAME + (<usize>(nameChars++) << 1), <u16>(lowerBase ? lower(c) : c));
  }
  if (load<u8>(e, 8) != 0x20) {
    store<u16>(NAME + (<usize>(nameChars++) << 1), 0x2e);
    for (let i: usize = 8; i < 11; i++) {
      const c = <u32>load<u8>(e + i);
      if (c == 0x20) break;
      store<u16>(NAME + (<usize>(nameChars++) << 1), <u16>(lowerExt ? lower(c) : c));
    }
  }
}

@inline function lower(c: u32): u32 { return c >= 0x41 && c <= 0x5a ? c + 0x20 : c; }
@inline function upper(c: u32): u32 {
  if (c >= 0x61 && c <= 0x7a) return c - 0x20;
  if (c >= 0xe0 && c <= 0xfe && c != 0xf7) return c - 0x20;
  return c;
}

// Offsets of a long-name entry's 13 UCS-2 characters.
const LFN_OFFSETS: usize = memory.data<u8>([1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30]);

/**
 * The next entry of directory record f at or after byte `pos`, skipping free entries,
 * long-name parts (gathered into NAME) and volume labels: DIRENT and NAME hold it.
 * Returns the position after it, or u64 max at the directory's end (or on a read error).
 */
function nextEntry(f: usize, pos: u64): u64 {
  lfnValid = false;
  lfnNext = 0;
  for (;;) {
    if (readAt(f, pos, DIRENT, ENTRY) != ENTRY) return u64.MAX_VALUE;
    entryPos = pos;
    pos += ENTRY;
    const first = load<u8>(DIRENT);
    if (first == 0) return u64.MAX_VALUE; // fatgen103: no entries follow a 0 byte
    if (first == 0xe5) { lfnValid = false; continue; }
    const attr = <u32>load<u8>(DIRENT, 11);
    if ((attr & 0x3f) == ATTR_LONG_NAME) {
      const ord = <u32>first & 0x1f;
      if (first & 0x40) {
        lfnPos = entryPos;
        lfnValid = ord >= 1 && ord <= 20;
        lfnChecksum = load<u8>(DIRENT, 13);
        lfnNext = ord;
        nameChars = 0;
        memory.fill(NAME, 0xff, <usize>(MAX_NAME + 1) << 1);
      }
      if (!lfnValid || ord != lfnNext || load<u8>(DIRENT, 13) != lfnChecksum) { lfnValid = false; continue; }
      const base = <usize>(ord - 1) * 13;
      for (let k: usize = 0; k < 13; k++) {
        if (base + k < <usize>MAX_NAME) store<u16>(NAME + ((base + k) << 1), load<u16>(DIRENT + <usize>load<u8>(LFN_OFFSETS + k)));
      }
      lfnNext--;
      continue;
    }
    if (attr & ATTR_VOLUME_ID) { lfnValid = false; continue; }
    if (lfnValid && lfnNext == 0 && shortChecksum(DIRENT) == lfnChecksum) {
      nameStart = lfnPos;
      nameChars = 0;
      while (nameChars < MAX_NAME) {
        const c = load<u16>(NAME + (<usize>nameChars << 1));
        if (c == 0 || c == 0xffff) break;
        nameChars++;
      }
      if (nameChars == 0) shortName(DIRENT);
    } else {
      nameStart = entryPos;
      shortName(DIRENT);
    }
    return pos;
  }
}

/** Case-insensitive comparison of NAME with `chars` UCS-2 characters at WASM address p. */
function nameIs(p: usize, chars: u32): bool {
  if (chars != nameChars) return false;
  for (let i: u32 = 0; i < chars; i++) {
    if (upper(<u32>load<u16>(p + (<usize>i << 1))) != upper(<u32>load<u16>(NAME + (<usize>i << 1)))) return false;
  }
  return true;
}

@inline function entryCluster(v: i32, e: usize): u32 {
  const lo = <u32>load<u16>(e, 26);
  return load<u32>(vol(v) + V_TYPE) == 32 ? (<u32>load<u16>(e, 20) << 16) | lo : lo;
}

/**
 * The volume label as EDK2 reads it: the root directory's volume-ID entry (fatgen103 §6),
 * copied into the volume record, and left in DIRENT. Returns its position in the root, or
 * u64 max when there is none (the label stays as it was: spaces at mount).
 */
function labelEntry(v: i32): u64 {
  const f = scratch(v);
  for (let pos: u64 = 0; readAt(f, pos, DIRENT, ENTRY) == ENTRY && load<u8>(DIRENT) != 0; pos += ENTRY) {
    const attr = <u32>load<u8>(DIRENT, 11);
    if (load<u8>(DIRENT) != 0xe5 && (attr & 0x3f) != ATTR_LONG_NAME && (attr & ATTR_VOLUME_ID)) {
      memory.copy(vol(v) + V_LABEL, DIRENT, 11);
      return pos;
    }
  }
  return u64.MAX_VALUE;
}

/** After resolve's NOT_FOUND: whether only the last component was missing (`to` is then its folder), and that name. */
let missingLast = false;
let missingPart: usize = 0;
let missingChars: u32 = 0;

// A file record for walks the firmware makes itself (lookups, the label, ..).
const SCRATCH: usize = reserve(FILE_RECORD);

function setRoot(f: usize, v: i32): void {
  store<i32>(f + F_VOLUME, v);
  store<u32>(f + F_ATTR, ATTR_DIRECTORY);
  store<u32>(f + F_ROOT, 1);
  store<u32>(f + F_FIRST, load<u32>(vol(v) + V_TYPE) == 32 ? load<u32>(vol(v) + V_ROOT_CLUSTER) : 0);
  store<u64>(f + F_SIZE, 0);
  store<u64>(f + F_POS, 0);
  store<u32>(f + F_CUR_CLUSTER, NO_CLUSTER);
  memory.fill(f + F_ENTRY, 0, 32);
  store<u32>(f + F_NAME_CHARS, 0);
}

function scratch(v: i32): usize {
  setRoot(SCRATCH, v);
  return SCRATCH;
}

/** Make record f the object of entry DIRENT (with NAME) that nextEntry found in folder `dir` (may be f). */
function setEntry(f: usize, v: i32, folder: usize): void {
  store<u32>(f + F_DIR_FIRST, load<u32>(folder + F_FIRST));
  store<u32>(f + F_DIR_ROOT, load<u32>(folder + F_ROOT));
  store<u64>(f + F_ENTRY_POS, entryPos);
  store<u64>(f + F_LFN_POS, nameStart);
  const c = entryCluster(v, DIRENT);
  const dir = (<u32>load<u8>(DIRENT, 11) & ATTR_DIRECTORY) != 0;
  store<i32>(f + F_VOLUME, v);
  store<u32>(f + F_ATTR, <u32>load<u8>(DIRENT, 11));
  // A ".." naming cluster 0 is the root (fatgen103).
  store<u32>(f + F_ROOT, dir && c == 0 ? 1 : 0);
  store<u32>(f + F_FIRST, dir && c == 0 && load<u32>(vol(v) + V_TYPE) == 32 ? load<u32>(vol(v) + V_ROOT_CLUSTER) : c);
  store<u64>(f + F_SIZE, dir ? 0 : <u64>load<u32>(DIRENT, 28));
  store<u64>(f + F_POS, 0);
  store<u32>(f + F_CUR_CLUSTER, NO_CLUSTER);
  memory.copy(f + F_ENTRY, DIRENT, 32);
  if (dir && c == 0) memory.fill(f + F_ENTRY, 0, 32);
  store<u32>(f + F_NAME_CHARS, nameChars);
  memory.copy(f + F_NAME, NAME, <usize>nameChars << 1);
}

/**
 * Resolve `chars` UCS-2 characters of a path at WASM address p (components separated by
 * '\'; a leading '\' starts at the root; "." and ".." as usual) from the object in record
 * `from` into record `to` (which may be the same). Returns SUCCESS, NOT_FOUND,
 * VOLUME_CORRUPTED or DEVICE_ERROR.
 */
function resolve(from: usize, p: usize, chars: u32, to: usize): u64 {
  const v = load<i32>(from + F_VOLUME);
  missingLast = false;
  if (to != from) memory.copy(to, from, FILE_RECORD);
  store<u64>(to + F_PROTO, 0);
  let i: u32 = 0;
  if (chars && load<u16>(p) == 0x5c) { setRoot(to, v); i = 1; }
  while (i < chars) {
    let end = i;
    while (end < chars && load<u16>(p + (<usize>end << 1)) != 0x5c) end++;
    const part = p + (<usize>i << 1);
    const n = end - i;
    i = end + 1;
    if (n == 0 || (n == 1 && load<u16>(part) == 0x2e)) continue;
    if (!(load<u32>(to + F_ATTR) & ATTR_DIRECTORY)) return Status.NOT_FOUND;
    if (n == 2 && load<u32>(part) == 0x002e002e && load<u32>(to + F_ROOT)) continue; // the root's parent is itself
    if (n > MAX_NAME) return Status.NOT_FOUND;
    store<u64>(to + F_POS, 0);
    store<u32>(to + F_CUR_CLUSTER, NO_CLUSTER);
    let pos: u64 = 0;
    let found = false;
    for (;;) {
      pos = nextEntry(to, pos);
      if (pos == u64.MAX_VALUE) break;
      if (nameIs(part, n)) { found = true; break; }
    }
    if (!found) {
      // The last component missing in a folder that exists: Open may create it there.
      missingLast = i >= chars;
      missingPart = part;
      missingChars = n;
      return Status.NOT_FOUND;
    }
    setEntry(to, v, to);
  }
  store<u64>(to + F_POS, 0);
  store<u32>(to + F_CUR_CLUSTER, NO_CLUSTER);
  return Status.SUCCESS;
}

// --------------------------------------------------------------- records -----

function newFile(): i32 {
  for (let i = 0; i < MAX_FILES; i++) if (!load<u64>(file(i) + F_PROTO)) return i;
  return -1;
}

function findFile(self: u64): usize {
  if (!self) return 0;
  for (let i = 0; i < MAX_FILES; i++) if (load<u64>(file(i) + F_PROTO) == self) return file(i);
  return 0;
}

function findVolume(sfs: u64): i32 {
  for (let i = 0; i < volumeCount; i++) if (sfs && load<u64>(vol(i) + V_SFS) == sfs) return i;
  return -1;
}

/** A new EFI_FILE_PROTOCOL instance for the object in `src` (a record); its address, or 0. */
function openRecord(src: usize): u64 {
  const i = newFile();
  if (i < 0) return 0;
  const proto = allocPool(MemoryType.BootServicesData, FILE_PROTOCOL.SIZE);
  if (proto == NONE) return 0;
  store<u64>(gp(proto) + FILE_PROTOCOL.Revision, Revision.FILE);
  fillSlots(Table.File, proto);
  const f = file(i);
  memory.copy(f, src, FILE_RECORD);
  store<u64>(f + F_PROTO, proto);
  return proto;
}

function closeRecord(f: usize): void {
  BS_FreePool(load<u64>(f + F_PROTO));
  store<u64>(f + F_PROTO, 0);
}

// -------------------------------------------------------- the protocols ------

export function SimpleFileSystem_OpenVolume(self: u64, rootOut: u64): u64 {
  const v = findVolume(self);
  const out = guest(rootOut, 8);
  if (v < 0 || !out) return Status.INVALID_PARAMETER;
  const proto = openRecord(scratch(v));
  if (!proto) return Status.OUT_OF_RESOURCES;
  store<u64>(out, proto);
  return Status.SUCCESS;
}

const TARGET: usize = reserve(FILE_RECORD);

export function File_Open(self: u64, newOut: u64, fileName: u64, mode: u64, attributes: u64): u64 {
  const f = findFile(self);
  const out = guest(newOut, 8);
  const len = ucs2Len(fileName, (<u64>MAX_NAME + 1) << 4);
  if (!f || !out || len < 0) return Status.INVALID_PARAMETER;
  // §13.5.2: the valid modes are Read, Read/Write and Create/Read/Write.
  if (mode != FileMode.READ && mode != (FileMode.READ | FileMode.WRITE) && mode != (FileMode.READ | FileMode.WRITE | FileMode.CREATE)) {
    return Status.INVALID_PARAMETER;
  }
  if (attributes & ~FileAttribute.VALID_ATTR) return Status.INVALID_PARAMETER;
  const v = load<i32>(f + F_VOLUME);
  let st = resolve(f, guest(fileName, <u64>len + 2), <u32>(len >> 1), TARGET);
  if (mode & FileMode.WRITE) {
    // A read-only volume: what would be created or written is on write-protected media.
    if (!writable(v)) return st == Status.SUCCESS || st == Status.NOT_FOUND ? Status.WRITE_PROTECTED : st;
    if (st == Status.NOT_FOUND && (mode & FileMode.CREATE) && missingLast) {
      st = create(TARGET, missingPart, missingChars, <u32>attributes);
    } else if (st == Status.SUCCESS && (load<u32>(TARGET + F_ATTR) & <u32>FileAttribute.READ_ONLY)) {
      return Status.ACCESS_DENIED; // §13.5.2: a read-only file opened for writing
    }
  }
  if (st != Status.SUCCESS) return st;
  store<u64>(TARGET + F_MODE, mode);
  const proto = openRecord(TARGET);
  if (!proto) return Status.OUT_OF_RESOURCES;
  store<u64>(out, proto);
  return Status.SUCCESS;
}

export function File_Close(self: u64): u64 {
  const f = findFile(self);
  if (!f) return Status.INVALID_PARAMETER;
  closeRecord(f);
  return Status.SUCCESS;
}

/**
 * §13.5.4: the handle is closed whatever happens; a file that stays (a read-only volume
 * or handle, the root, a folder with entries in it) answers WARN_DELETE_FAILURE.
 */
export function File_Delete(self: u64): u64 {
  const f = findFile(self);
  if (!f) return Status.INVALID_PARAMETER;
  const deleted = (load<u64>(f + F_MODE) & FileMode.WRITE) != 0 && !load<u32>(f + F_ROOT) && remove(f);
  closeRecord(f);
  return deleted ? Status.SUCCESS : Status.WARN_DELETE_FAILURE;
}

export function File_Read(self: u64, sizePtr: u64, buffer: u64): u64 {
  const f = findFile(self);
  const size = guest(sizePtr, 8);
  if (!f || !size) return Status.INVALID_PARAMETER;
  const want = load<u64>(size);
  if (load<u32>(f + F_ATTR) & ATTR_DIRECTORY) return readDirectory(f, size, buffer, want);
  const pos = load<u64>(f + F_POS);
  const fileSize = load<u64>(f + F_SIZE);
  // §13.5.5: reading at a position past the end is DEVICE_ERROR; at the end, 0 bytes.
  if (pos > fileSize) return Status.DEVICE_ERROR;
  const n = min(want, fileSize - pos);
  if (n) {
    const out = guest(buffer, n);
    if (!out) return Status.INVALID_PARAMETER;
    const got = readAt(f, pos, out, n);
    if (got != n) return got == u64.MAX_VALUE ? Status.DEVICE_ERROR : Status.VOLUME_CORRUPTED;
  }
  store<u64>(f + F_POS, pos + n);
  store<u64>(size, n);
  return Status.SUCCESS;
}

/** A directory read returns the next entry's EFI_FILE_INFO, or 0 bytes at the end (§13.5.5). */
function readDirectory(f: usize, size: usize, buffer: u64, want: u64): u64 {
  const v = load<i32>(f + F_VOLUME);
  const pos = load<u64>(f + F_POS);
  const next = pos == u64.MAX_VALUE ? pos : nextEntry(f, pos);
  if (next == u64.MAX_VALUE) {
    store<u64>(f + F_POS, u64.MAX_VALUE);
    store<u64>(size, 0);
    return Status.SUCCESS;
  }
  const need = <u64>FILE_INFO.FileName + ((<u64>nameChars + 1) << 1);
  if (want < need) {
    store<u64>(size, need);
    return Status.BUFFER_TOO_SMALL;
  }
  const out = guest(buffer, need);
  if (!out) return Status.INVALID_PARAMETER;
  setEntry(TARGET, v, f);
  fileInfo(TARGET, out);
  store<u64>(f + F_POS, next);
  store<u64>(size, need);
  return Status.SUCCESS;
}

export function File_Write(self: u64, sizePtr: u64, buffer: u64): u64 {
  const f = findFile(self);
  const size = guest(sizePtr, 8);
  if (!f || !size) return Status.INVALID_PARAMETER;
  if (load<u32>(f + F_ATTR) & ATTR_DIRECTORY) return Status.UNSUPPORTED; // §13.5.6: not to folders
  if (!(load<u64>(f + F_MODE) & FileMode.WRITE)) return Status.ACCESS_DENIED;
  const n = load<u64>(size);
  const pos = load<u64>(f + F_POS);
  const end = load<u64>(f + F_SIZE);
  if (pos + n > 0xffff_ffff || pos + n < pos) return Status.VOLUME_FULL; // FAT's 4 GiB - 1 file size
  const src = n ? guest(buffer, n) : 1;
  if (!src) return Status.INVALID_PARAMETER;
  // A position past the end (SetPosition) leaves zeros between the end and it.
  let st: u64 = pos > end ? writeZeros(f, end, pos - end) : Status.SUCCESS;
  if (st == Status.SUCCESS && n) st = writeAt(f, pos, src, n);
  if (st != Status.SUCCESS) {
    store<u64>(size, 0);
    return st;
  }
  store<u64>(f + F_POS, pos + n);
  if (pos + n > end) store<u64>(f + F_SIZE, pos + n);
  store<u64>(size, n);
  return saveEntry(f) ? Status.SUCCESS : Status.DEVICE_ERROR;
}

export function File_GetPosition(self: u64, positionOut: u64): u64 {
  const f = findFile(self);
  const out = guest(positionOut, 8);
  if (!f || !out) return Status.INVALID_PARAMETER;
  if (load<u32>(f + F_ATTR) & ATTR_DIRECTORY) return Status.UNSUPPORTED;
  store<u64>(out, load<u64>(f + F_POS));
  return Status.SUCCESS;
}

export function File_SetPosition(self: u64, position: u64): u64 {
  const f = findFile(self);
  if (!f) return Status.INVALID_PARAMETER;
  // §13.5.8: a directory may only be rewound; 0xFFFFFFFFFFFFFFFF is a file's end.
  if (load<u32>(f + F_ATTR) & ATTR_DIRECTORY) {
    if (position != 0) return Status.UNSUPPORTED;
  } else if (position == u64.MAX_VALUE) {
    position = load<u64>(f + F_SIZE);
  }
  store<u64>(f + F_POS, position);
  return Status.SUCCESS;
}

/** DOS date and time (fatgen103 §3.3) to EFI_TIME at t. */
function dosTime(t: usize, date: u32, time: u32, tenths: u32): void {
  memory.fill(t, 0, TIME.SIZE);
  if (!date) return;
  store<u16>(t + TIME.Year, <u16>(1980 + (date >> 9)));
  store<u8>(t + TIME.Month, <u8>((date >> 5) & 0xf));
  store<u8>(t + TIME.Day, <u8>(date & 0x1f));
  store<u8>(t + TIME.Hour, <u8>(time >> 11));
  store<u8>(t + TIME.Minute, <u8>((time >> 5) & 0x3f));
  store<u8>(t + TIME.Second, <u8>(((time & 0x1f) << 1) + tenths / 100));
  store<u32>(t + TIME.Nanosecond, (tenths % 100) * 10_000_000);
  store<i16>(t + TIME.TimeZone, UNSPECIFIED_TIMEZONE);
}

/** Chain length of the object of record f, in bytes (directories' size on disk). */
function chainBytes(f: usize): u64 {
  const v = load<i32>(f + F_VOLUME);
  if (load<u32>(f + F_ROOT) && load<u32>(vol(v) + V_TYPE) != 32) return <u64>load<u32>(vol(v) + V_ROOT_BYTES);
  let c = load<u32>(f + F_FIRST);
  let n: u64 = 0;
  const limit = <u64>load<u32>(vol(v) + V_CLUSTERS);
  while (validCluster(v, c) && n <= limit) {
    n++;
    c = fatEntry(v, c);
  }
  return n * <u64>load<u32>(vol(v) + V_CLUSTER);
}

/** EFI_FILE_INFO of record f at WASM address out (room for its name checked by the caller). */
function fileInfo(f: usize, out: usize): void {
  const chars = load<u32>(f + F_NAME_CHARS);
  const e = f + F_ENTRY;
  const dir = (load<u32>(f + F_ATTR) & ATTR_DIRECTORY) != 0;
  const cb = <u64>load<u32>(vol(load<i32>(f + F_VOLUME)) + V_CLUSTER);
  store<u64>(out + FILE_INFO.Size, <u64>FILE_INFO.FileName + ((<u64>chars + 1) << 1));
  store<u64>(out + FILE_INFO.FileSize, dir ? 0 : load<u64>(f + F_SIZE));
  store<u64>(out + FILE_INFO.PhysicalSize, dir ? chainBytes(f) : (load<u64>(f + F_SIZE) + cb - 1) / cb * cb);
  dosTime(out + FILE_INFO.CreateTime, <u32>load<u16>(e, 16), <u32>load<u16>(e, 14), <u32>load<u8>(e, 13));
  dosTime(out + FILE_INFO.LastAccessTime, <u32>load<u16>(e, 18), 0, 0);
  dosTime(out + FILE_INFO.ModificationTime, <u32>load<u16>(e, 24), <u32>load<u16>(e, 22), 0);
  store<u64>(out + FILE_INFO.Attribute, <u64>(load<u32>(f + F_ATTR) & <u32>FileAttribute.VALID_ATTR));
  memory.copy(out + FILE_INFO.FileName, f + F_NAME, <usize>chars << 1);
  store<u16>(out + FILE_INFO.FileName + (<usize>chars << 1), 0);
}

/** Clusters marked free in the FAT (counted once per volume). */
function freeClusters(v: i32): u64 {
  const V = vol(v);
  if (load<u64>(V + V_FREE) == u64.MAX_VALUE) {
    let n: u64 = 0;
    const last = load<u32>(V + V_CLUSTERS) + 2;
    for (let c: u32 = 2; c < last; c++) if (fatEntry(v, c) == 0) n++;
    store<u64>(V + V_FREE, n);
  }
  return load<u64>(V + V_FREE);
}

/** The label's characters (trailing spaces dropped) into NAME; returns their count. */
function labelChars(v: i32): u32 {
  let n: u32 = 11;
  while (n && load<u8>(vol(v) + V_LABEL + <usize>n - 1) == 0x20) n--;
  for (let i: u32 = 0; i < n; i++) store<u16>(NAME + (<usize>i << 1), <u16>load<u8>(vol(v) + V_LABEL + <usize>i));
  return n;
}

export function File_GetInfo(self: u64, type: u64, sizePtr: u64, buffer: u64): u64 {
  const f = findFile(self);
  const g = guest(type, 16);
  const size = guest(sizePtr, 8);
  if (!f || !g || !size) return Status.INVALID_PARAMETER;
  const v = load<i32>(f + F_VOLUME);
  let need: u64;
  if (guidEq(g, Guid.FILE_INFO)) {
    need = <u64>FILE_INFO.FileName + ((<u64>load<u32>(f + F_NAME_CHARS) + 1) << 1);
  } else if (guidEq(g, Guid.FILE_SYSTEM_INFO)) {
    need = <u64>FILE_SYSTEM_INFO.VolumeLabel + ((<u64>labelChars(v) + 1) << 1);
  } else if (guidEq(g, Guid.FILE_SYSTEM_VOLUME_LABEL)) {
    need = (<u64>labelChars(v) + 1) << 1;
  } else {
    return Status.UNSUPPORTED;
  }
  if (load<u64>(size) < need) {
    store<u64>(size, need);
    return Status.BUFFER_TOO_SMALL;
  }
  const out = guest(buffer, need);
  if (!out) return Status.INVALID_PARAMETER;
  if (guidEq(g, Guid.FILE_INFO)) {
    fileInfo(f, out);
  } else if (guidEq(g, Guid.FILE_SYSTEM_INFO)) {
    const V = vol(v);
    const cb = <u64>load<u32>(V + V_CLUSTER);
    const chars = labelChars(v);
    store<u64>(out + FILE_SYSTEM_INFO.Size, need);
    store<u8>(out + FILE_SYSTEM_INFO.ReadOnly, writable(v) ? 0 : 1);
    store<u64>(out + FILE_SYSTEM_INFO.VolumeSize, <u64>load<u32>(V + V_CLUSTERS) * cb);
    store<u64>(out + FILE_SYSTEM_INFO.FreeSpace, freeClusters(v) * cb);
    store<u32>(out + FILE_SYSTEM_INFO.BlockSize, <u32>cb);
    memory.copy(out + FILE_SYSTEM_INFO.VolumeLabel, NAME, <usize>chars << 1);
    store<u16>(out + FILE_SYSTEM_INFO.VolumeLabel + (<usize>chars << 1), 0);
  } else {
    const chars = labelChars(v);
    memory.copy(out, NAME, <usize>chars << 1);
    store<u16>(out + (<usize>chars << 1), 0);
  }
  store<u64>(size, need);
  return Status.SUCCESS;
}

/**
 * §13.5.14 SetInfo. FILE_INFO: the size (truncating or zero-extending), the attributes
 * and the name (rename) of a file opened for writing. FILE_SYSTEM_INFO (of which only
 * VolumeLabel is used, §13.5.16) and FILE_SYSTEM_VOLUME_LABEL: the volume's label, from
 * any handle on it, read-only ones too (the spec's ACCESS_DENIED for a read-only handle
 * is FILE_INFO's; EDK2's FatSetOrGetInfo asks only whether the volume is read-only).
 */
export function File_SetInfo(self: u64, type: u64, size: u64, buffer: u64): u64 {
  const f = findFile(self);
  const g = guest(type, 16);
  const info = guest(buffer, size);
  if (!f || !g || !info) return Status.INVALID_PARAMETER;
  const v = load<i32>(f + F_VOLUME);
  if (!writable(v)) return Status.WRITE_PROTECTED;
  if (guidEq(g, Guid.FILE_SYSTEM_INFO)) {
    // EDK2's FatSetVolumeInfo: the fixed part and at least a NUL, and a Size within BufferSize.
    const fixed = <u64>FILE_SYSTEM_INFO.VolumeLabel;
    if (size < fixed + 2 || load<u64>(info + FILE_SYSTEM_INFO.Size) > size) return Status.BAD_BUFFER_SIZE;
    return setLabel(v, info + <usize>fixed, size - fixed);
  }
  if (guidEq(g, Guid.FILE_SYSTEM_VOLUME_LABEL)) return size < 2 ? Status.BAD_BUFFER_SIZE : setLabel(v, info, size);
  if (!guidEq(g, Guid.FILE_INFO)) return Status.UNSUPPORTED;
  if (size < <u64>FILE_INFO.FileName + 2 || load<u64>(info + FILE_INFO.Size) > size) return Status.BAD_BUFFER_SIZE;
  if (!(load<u64>(f + F_MODE) & FileMode.WRITE) || load<u32>(f + F_ROOT)) return Status.ACCESS_DENIED;
  const attrs = load<u64>(info + FILE_INFO.Attribute);
  const dir = (load<u32>(f + F_ATTR) & ATTR_DIRECTORY) != 0;
  if (attrs & ~FileAttribute.VALID_ATTR || ((attrs & FileAttribute.DIRECTORY) != 0) != dir) return Status.ACCESS_DENIED;
  // The name: the same (case-sensitively), or the file moves to it.
  const name = info + FILE_INFO.FileName;
  let newChars: u32 = 0;
  while (<u64>FILE_INFO.FileName + ((<u64>newChars + 1) << 1) <= size && load<u16>(name + (<usize>newChars << 1))) newChars++;
  if (<u64>FILE_INFO.FileName + ((<u64>newChars + 1) << 1) > size || !newChars) return Status.INVALID_PARAMETER;
  const chars = load<u32>(f + F_NAME_CHARS);
  const renamed = newChars != chars || memory.compare(name, f + F_NAME, <usize>chars << 1) != 0;
  const newSize = load<u64>(info + FILE_INFO.FileSize);
  if (!dir && newSize != load<u64>(f + F_SIZE)) {
    if (newSize > 0xffff_ffff) return Status.VOLUME_FULL;
    const st = resize(f, newSize);
    if (st != Status.SUCCESS) return st;
  }
  store<u32>(f + F_ATTR, (load<u32>(f + F_ATTR) & ATTR_DIRECTORY) | (<u32>attrs & 0x27));
  store<u8>(f + F_ENTRY + 11, <u8>load<u32>(f + F_ATTR));
  if (!saveEntry(f)) return Status.DEVICE_ERROR;
  return renamed ? rename(f, name, newChars) : Status.SUCCESS;
}

/** Writes reach the disk (the host's overlay) at once: nothing is held back. */
export function File_Flush(self: u64): u64 {
  const f = findFile(self);
  if (!f) return Status.INVALID_PARAMETER;
  if (!writable(load<i32>(f + F_VOLUME))) return Status.WRITE_PROTECTED;
  // §13.5.12: a handle opened read-only may not flush.
  return load<u64>(f + F_MODE) & FileMode.WRITE ? Status.SUCCESS : Status.ACCESS_DENIED;
}

// ------------------------------------------------------------------ writing --

@inline function writable(v: i32): bool { return load<u32>(vol(v) + V_WRITABLE) != 0; }

function volWrite(v: i32, offset: u64, src: usize, bytes: u64): bool {
  return deviceWrite(load<i32>(vol(v) + V_DEVICE), offset, src, bytes);
}

const WORD: usize = reserve(8);

/**
 * Before the first change to a volume: FAT32's FSInfo free count and next-free hint
 * become "unknown" (0xFFFFFFFF, fatgen103 §5), since they are not kept up to date here.
 */
function changing(v: i32): bool {
  const V = vol(v);
  if (load<u32>(V + V_CHANGED)) return true;
  store<u32>(V + V_CHANGED, 1);
  const fsi = load<u32>(V + V_FSINFO);
  if (!fsi || fsi == 0xffff) return true;
  const at = <u64>fsi * <u64>load<u32>(V + V_BPS);
  if (!volRead(v, at, WORD, 4) || load<u32>(WORD) != 0x41615252) return true; // FSI_LeadSig
  store<u64>(WORD, u64.MAX_VALUE);
  return volWrite(v, at + 488, WORD, 8); // FSI_Free_Count, FSI_Nxt_Free
}

/** Set cluster c's entry in every FAT copy to `value` (an end mark: 0x0FFFFFFF). */
function fatSet(v: i32, c: u32, value: u32): bool {
  const V = vol(v);
  const type = load<u32>(V + V_TYPE);
  const at: u64 = type == 12 ? <u64>c + (<u64>c >> 1) : type == 16 ? <u64>c << 1 : <u64>c << 2;
  const bytes: u64 = type == 32 ? 4 : 2;
  cacheVolume = -1;
  for (let k: u32 = 0; k < load<u32>(V + V_FATS); k++) {
    const off = load<u64>(V + V_FAT) + <u64>k * load<u64>(V + V_FAT_BYTES) + at;
    if (!volRead(v, off, WORD, bytes)) return false;
    if (type == 12) {
      const raw = <u32>load<u16>(WORD);
      store<u16>(WORD, <u16>(c & 1 ? (raw & 0x000f) | ((value & 0xfff) << 4) : (raw & 0xf000) | (value & 0xfff)));
    } else if (type == 16) {
      store<u16>(WORD, <u16>value);
    } else {
      store<u32>(WORD, (load<u32>(WORD) & 0xf000_0000) | (value & 0x0fff_ffff)); // the top 4 bits are reserved
    }
    if (!volWrite(v, off, WORD, bytes)) return false;
  }
  return true;
}

const ZEROS: usize = reserve(4096);

/** A free cluster, marked as a chain's end and linked after `prev` (0: none), its bytes zeroed when `zero`. */
function allocCluster(v: i32, prev: u32, zero: bool): u32 {
  const V = vol(v);
  const total = load<u32>(V + V_CLUSTERS);
  let c = load<u32>(V + V_NEXT_FREE);
  for (let n: u32 = 0; n < total; n++, c++) {
    if (c < 2 || c >= total + 2) c = 2;
    const e = fatEntry(v, c);
    if (e == NO_CLUSTER) return NO_CLUSTER;
    if (e != 0) continue;
    if (!changing(v) || !fatSet(v, c, 0x0fff_ffff) || (prev && !fatSet(v, prev, c))) return NO_CLUSTER;
    store<u32>(V + V_NEXT_FREE, c + 1);
    if (load<u64>(V + V_FREE) != u64.MAX_VALUE) store<u64>(V + V_FREE, load<u64>(V + V_FREE) - 1);
    if (zero) {
      const cb = <u64>load<u32>(V + V_CLUSTER);
      for (let o: u64 = 0; o < cb; o += 4096) if (!volWrite(v, clusterOffset(v, c) + o, ZEROS, min(4096, cb - o))) return NO_CLUSTER;
    }
    return c;
  }
  return NO_CLUSTER;
}

/** Free the chain from cluster `first` on. */
function freeChain(v: i32, first: u32): bool {
  const V = vol(v);
  let c = first;
  for (let n: u32 = 0; validCluster(v, c) && n <= load<u32>(V + V_CLUSTERS); n++) {
    const next = fatEntry(v, c);
    if (!fatSet(v, c, 0)) return false;
    if (load<u64>(V + V_FREE) != u64.MAX_VALUE) store<u64>(V + V_FREE, load<u64>(V + V_FREE) + 1);
    if (c < load<u32>(V + V_NEXT_FREE)) store<u32>(V + V_NEXT_FREE, c);
    if (isEnd(next)) break;
    c = next;
  }
  return true;
}

/** Cluster `index` of record f's chain, the chain grown to reach it (zeroed when a folder's); NO_CLUSTER when the volume is full. */
function clusterForWrite(v: i32, f: usize, index: u32): u32 {
  const dir = (load<u32>(f + F_ATTR) & ATTR_DIRECTORY) != 0;
  if (!load<u32>(f + F_FIRST)) {
    if (!changing(v)) return NO_CLUSTER;
    const c = allocCluster(v, 0, dir);
    if (c == NO_CLUSTER) return c;
    store<u32>(f + F_FIRST, c);
    store<u32>(f + F_CUR_INDEX, 0);
    store<u32>(f + F_CUR_CLUSTER, c);
  }
  const c = clusterAt(v, f, index);
  if (c != NO_CLUSTER) return c;
  // Past the end: from the furthest known cluster to the chain's end, then new ones.
  let k = load<u32>(f + F_CUR_INDEX);
  let last = load<u32>(f + F_CUR_CLUSTER);
  if (last == NO_CLUSTER) { k = 0; last = load<u32>(f + F_FIRST); }
  for (let next = fatEntry(v, last); validCluster(v, next) && k < index; next = fatEntry(v, last)) { last = next; k++; }
  while (k < index) {
    last = allocCluster(v, last, dir);
    if (last == NO_CLUSTER) return NO_CLUSTER;
    k++;
  }
  store<u32>(f + F_CUR_INDEX, k);
  store<u32>(f + F_CUR_CLUSTER, last);
  return last;
}

/** Write `bytes` from WASM src at `pos` of record f's chain, growing it. */
function writeAt(f: usize, pos: u64, src: usize, bytes: u64): u64 {
  const v = load<i32>(f + F_VOLUME);
  if (load<u32>(f + F_ROOT) && load<u32>(vol(v) + V_TYPE) != 32) {
    if (pos + bytes > <u64>load<u32>(vol(v) + V_ROOT_BYTES)) return Status.VOLUME_FULL; // the fixed root
    return changing(v) && volWrite(v, load<u64>(vol(v) + V_ROOT) + pos, src, bytes) ? Status.SUCCESS : Status.DEVICE_ERROR;
  }
  const cb = <u64>load<u32>(vol(v) + V_CLUSTER);
  for (let done: u64 = 0; done < bytes;) {
    const p = pos + done;
    const c = clusterForWrite(v, f, <u32>(p / cb));
    if (c == NO_CLUSTER) return Status.VOLUME_FULL;
    const n = min(cb - p % cb, bytes - done);
    if (!volWrite(v, clusterOffset(v, c) + p % cb, src + <usize>done, n)) return Status.DEVICE_ERROR;
    done += n;
  }
  return Status.SUCCESS;
}

function writeZeros(f: usize, pos: u64, bytes: u64): u64 {
  for (let done: u64 = 0; done < bytes; done += 4096) {
    const st = writeAt(f, pos + done, ZEROS, min(4096, bytes - done));
    if (st != Status.SUCCESS) return st;
  }
  return Status.SUCCESS;
}

/** Device offset of byte `pos` of the folder whose chain starts at `first` (`root`: the root). */
function folderOffset(v: i32, first: u32, root: u32, pos: u64): u64 {
  if (root && load<u32>(vol(v) + V_TYPE) != 32) return load<u64>(vol(v) + V_ROOT) + pos;
  const d = FOLDER;
  store<i32>(d + F_VOLUME, v);
  store<u32>(d + F_FIRST, first);
  store<u32>(d + F_ROOT, root);
  store<u32>(d + F_ATTR, ATTR_DIRECTORY);
  store<u32>(d + F_CUR_CLUSTER, NO_CLUSTER);
  const cb = <u64>load<u32>(vol(v) + V_CLUSTER);
  const c = clusterAt(v, d, <u32>(pos / cb));
  return c == NO_CLUSTER ? u64.MAX_VALUE : clusterOffset(v, c) + pos % cb;
}
const FOLDER: usize = reserve(FILE_RECORD);

/** Now as a DOS date (high 16 bits) and time (low 16): the guest's clock, taken as local time. */
function dosNow(): u32 {
  const secs = hostTimeNs() / 1_000_000_000;
  const days = <i64>(secs / 86400);
  const rem = <u32>(secs % 86400);
  // Howard Hinnant's civil_from_days.
  const z = days + 719468;
  const era = z / 146097;
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const d = <u32>(doy - (153 * mp + 2) / 5 + 1);
  const m = <u32>(mp < 10 ? mp + 3 : mp - 9);
  const y = <u32>(yoe + era * 400 + (m <= 2 ? 1 : 0));
  const year = y < 1980 ? 0 : min(y - 1980, 127);
  return (((year << 9) | (m << 5) | d) << 16) | ((rem / 3600) << 11) | (((rem / 60) % 60) << 5) | ((rem % 60) >> 1);
}

/** Write record f's directory entry back: first cluster, size, modification and access time. */
function saveEntry(f: usize): bool {
  if (load<u32>(f + F_ROOT)) return true;
  const v = load<i32>(f + F_VOLUME);
  const e = f + F_ENTRY;
  const c = load<u32>(f + F_FIRST);
  store<u16>(e + 20, <u16>(load<u32>(vol(v) + V_TYPE) == 32 ? c >> 16 : 0));
  store<u16>(e + 26, <u16>c);
  store<u32>(e + 28, load<u32>(f + F_ATTR) & ATTR_DIRECTORY ? 0 : <u32>load<u64>(f + F_SIZE));
  const now = dosNow();
  store<u16>(e + 22, <u16>now);
  store<u16>(e + 24, <u16>(now >> 16));
  store<u16>(e + 18, <u16>(now >> 16));
  const at = folderOffset(v, load<u32>(f + F_DIR_FIRST), load<u32>(f + F_DIR_ROOT), load<u64>(f + F_ENTRY_POS));
  return at != u64.MAX_VALUE && volWrite(v, at, e, ENTRY);
}

/** A file's new size: its chain cut after the last cluster still needed, or zeros added. */
function resize(f: usize, size: u64): u64 {
  const v = load<i32>(f + F_VOLUME);
  const old = load<u64>(f + F_SIZE);
  if (size > old) {
    const st = writeZeros(f, old, size - old);
    if (st == Status.SUCCESS) store<u64>(f + F_SIZE, size);
    return st;
  }
  const cb = <u64>load<u32>(vol(v) + V_CLUSTER);
  const first = load<u32>(f + F_FIRST);
  if (size == 0) {
    if (first && !freeChain(v, first)) return Status.DEVICE_ERROR;
    store<u32>(f + F_FIRST, 0);
  } else if (first) {
    const last = clusterAt(v, f, <u32>((size - 1) / cb));
    if (last == NO_CLUSTER) return Status.VOLUME_CORRUPTED;
    const next = fatEntry(v, last);
    if (!isEnd(next) && (!freeChain(v, next) || !fatSet(v, last, 0x0fff_ffff))) return Status.DEVICE_ERROR;
  }
  store<u32>(f + F_CUR_CLUSTER, NO_CLUSTER);
  store<u64>(f + F_SIZE, size);
  if (load<u64>(f + F_POS) > size) store<u64>(f + F_POS, size);
  return Status.SUCCESS;
}

/** Delete record f's file or empty folder: its entries marked free (0xE5), its chain freed. */
function remove(f: usize): bool {
  const v = load<i32>(f + F_VOLUME);
  if (!writable(v)) return false;
  if (load<u32>(f + F_ATTR) & ATTR_DIRECTORY) {
    // Anything but "." and ".." in it: not empty.
    for (let pos = nextEntry(f, 0); pos != u64.MAX_VALUE; pos = nextEntry(f, pos)) {
      if (load<u8>(DIRENT) != 0x2e) return false;
    }
  }
  if (!changing(v)) return false;
  store<u8>(WORD, 0xe5);
  for (let pos = load<u64>(f + F_LFN_POS); pos <= load<u64>(f + F_ENTRY_POS); pos += ENTRY) {
    const at = folderOffset(v, load<u32>(f + F_DIR_FIRST), load<u32>(f + F_DIR_ROOT), pos);
    if (at == u64.MAX_VALUE || !volWrite(v, at, WORD, 1)) return false;
  }
  return !load<u32>(f + F_FIRST) || freeChain(v, load<u32>(f + F_FIRST));
}

// Short names (fatgen103 §6): upper-case OEM characters, and these besides letters and digits.
const SHORT_EXTRA = "$%'-_@~`!(){}^#&";
const SHORT: usize = reserve(16);

/** Whether c is in `set` (a static string: read in place, nothing allocated). */
function among(set: string, c: u32): bool {
  for (let i = 0; i < set.length; i++) if (<u32>set.charCodeAt(i) == c) return true;
  return false;
}

@inline function shortChar(c: u32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || among(SHORT_EXTRA, c);
}

/**
 * SHORT (11 bytes) for `chars` UCS-2 characters at p: the name itself when it is a valid
 * 8.3 name in one case per part (returns the NT lower-case flags | 0x100), else an alias
 * BASE~N (returns 0: long-name entries are needed).
 */
function shortFor(p: usize, chars: u32, n: u32): u32 {
  memory.fill(SHORT, 0x20, 11);
  let dot = -1;
  for (let i: i32 = <i32>chars - 1; i >= 0; i--) if (load<u16>(p + (<usize>i << 1)) == 0x2e) { dot = i; break; }
  const baseEnd: u32 = dot < 0 ? chars : <u32>dot;
  // As it is: base 1-8, extension 0-3, valid characters, each part in one case.
  let fits = baseEnd >= 1 && baseEnd <= 8 && (dot < 0 || chars - baseEnd - 1 <= 3) && (dot < 0 || chars - baseEnd > 1);
  let flags: u32 = 0x100;
  for (let part = 0; fits && part < 2; part++) {
    const from: u32 = part == 0 ? 0 : baseEnd + 1, to: u32 = part == 0 ? baseEnd : (dot < 0 ? baseEnd : chars);
    let lowerSeen = false, upperSeen = false;
    for (let i = from; i < to; i++) {
      const c = <u32>load<u16>(p + (<usize>i << 1));
      const u = c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
      if (!shortChar(u)) { fits = false; break; }
      if (c != u) lowerSeen = true; else if (c >= 0x41 && c <= 0x5a) upperSeen = true;
      store<u8>(SHORT + (part == 0 ? <usize>(i - from) : 8 + <usize>(i - from)), <u8>u);
    }
    if (lowerSeen && upperSeen) fits = false;
    if (lowerSeen) flags |= part == 0 ? 0x08 : 0x10;
  }
  if (fits) return flags;
  // An alias: the base's valid characters upper-cased (up to 6, fewer for a long tail), ~N, the extension's first 3.
  memory.fill(SHORT, 0x20, 11);
  let digits: u32 = 1;
  for (let t = n; t >= 10; t /= 10) digits++;
  const keep: u32 = 7 - digits;
  let k: u32 = 0;
  for (let i: u32 = 0; i < baseEnd && k < keep; i++) {
    let c = <u32>load<u16>(p + (<usize>i << 1));
    if (c == 0x20 || c == 0x2e) continue;
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    store<u8>(SHORT + <usize>(k++), <u8>(shortChar(c) ? c : 0x5f));
  }
  if (k == 0) store<u8>(SHORT + <usize>(k++), 0x5f);
  store<u8>(SHORT + <usize>(k++), 0x7e);
  for (let d = digits; d > 0; d--) {
    let t = n;
    for (let j: u32 = 1; j < d; j++) t /= 10;
    store<u8>(SHORT + <usize>(k++), <u8>(0x30 + t % 10));
  }
  if (dot >= 0) {
    let e: usize = 8;
    for (let i: u32 = <u32>dot + 1; i < chars && e < 11; i++) {
      let c = <u32>load<u16>(p + (<usize>i << 1));
      if (c == 0x20) continue;
      if (c >= 0x61 && c <= 0x7a) c -= 0x20;
      store<u8>(SHORT + e++, <u8>(shortChar(c) ? c : 0x5f));
    }
  }
  return 0;
}

/** Whether folder record d holds an entry whose short name is SHORT. */
function shortTaken(d: usize): bool {
  for (let pos = nextEntry(d, 0); pos != u64.MAX_VALUE; pos = nextEntry(d, pos)) {
    if (memory.compare(DIRENT, SHORT, 11) == 0) return true;
  }
  return false;
}

/** Characters a long name may not hold (§13.5.2 leaves it to the file system; these are FAT's). */
function validName(p: usize, chars: u32): bool {
  if (!chars || chars > MAX_NAME) return false;
  const last = load<u16>(p + (<usize>(chars - 1) << 1));
  if (last == 0x2e || last == 0x20) return false;
  for (let i: u32 = 0; i < chars; i++) {
    const c = <u32>load<u16>(p + (<usize>i << 1));
    if (c < 0x20 || among("\"*/:<>?\\|", c)) return false;
  }
  return true;
}

const ENTRIES: usize = reserve(21 * 32);

/** Why freeRun found no room: DEVICE_ERROR or VOLUME_FULL. */
let runStatus: u64 = 0;

/**
 * The position of a run of `count` free entries in folder record d (deleted ones, or from
 * the end mark on), the folder grown when the run reaches past its chain; u64 max when
 * there is no room (runStatus says why).
 */
function freeRun(d: usize, count: u32): u64 {
  const v = load<i32>(d + F_VOLUME);
  let start: u64 = u64.MAX_VALUE;
  let run: u32 = 0;
  let pos: u64 = 0;
  store<u32>(d + F_CUR_CLUSTER, NO_CLUSTER);
  runStatus = Status.VOLUME_FULL;
  for (let atEnd = false; run < count; pos += ENTRY) {
    if (!atEnd) {
      const got = readAt(d, pos, WORD, 1);
      if (got == u64.MAX_VALUE) { runStatus = Status.DEVICE_ERROR; return got; }
      if (got == 0) atEnd = true;
      else if (load<u8>(WORD) == 0) atEnd = true;
      else if (load<u8>(WORD) != 0xe5) { run = 0; start = u64.MAX_VALUE; continue; }
    }
    if (atEnd && !load<u32>(d + F_ROOT) || (atEnd && load<u32>(vol(v) + V_TYPE) == 32)) {
      // Past the chain's end the folder grows (zeroed clusters); the fixed root cannot.
      const cb = <u64>load<u32>(vol(v) + V_CLUSTER);
      if (clusterForWrite(v, d, <u32>(pos / cb)) == NO_CLUSTER) return u64.MAX_VALUE;
    } else if (atEnd && pos >= <u64>load<u32>(vol(v) + V_ROOT_BYTES)) {
      return u64.MAX_VALUE;
    }
    if (start == u64.MAX_VALUE) start = pos;
    run++;
  }
  return start;
}

/**
 * Create `chars` characters at p in folder record d as a file or (attributes with
 * DIRECTORY) a folder, with "." and ".." in it; d becomes the new object's record.
 */
function create(d: usize, p: usize, chars: u32, attributes: u32, moving: usize = 0): u64 {
  const v = load<i32>(d + F_VOLUME);
  if (!validName(p, chars)) return Status.INVALID_PARAMETER;
  let flags = shortFor(p, chars, 0);
  for (let n: u32 = 1; (flags == 0 || n == 1) && n < 1000000; n++) {
    if (flags == 0) shortFor(p, chars, n);
    store<u32>(d + F_CUR_CLUSTER, NO_CLUSTER);
    if (!shortTaken(d)) break;
    if (flags != 0) return Status.ACCESS_DENIED; // the same 8.3 name, another case: it exists
  }
  const longs: u32 = flags ? 0 : (chars + 12) / 13;
  const count = longs + 1;
  // The entries: long-name parts, last first (ordinal | 0x40), then the short entry.
  memory.fill(ENTRIES, 0, <usize>count << 5);
  const sum = shortChecksum(SHORT);
  for (let j: u32 = 0; j < longs; j++) {
    const ord = longs - j;
    const e = ENTRIES + (<usize>j << 5);
    store<u8>(e, <u8>(ord | (j == 0 ? 0x40 : 0)));
    store<u8>(e, <u8>ATTR_LONG_NAME, 11);
    store<u8>(e, sum, 13);
    for (let k: u32 = 0; k < 13; k++) {
      const i = (ord - 1) * 13 + k;
      // After the name: one NUL, then 0xFFFF padding.
      const c: u16 = i < chars ? load<u16>(p + (<usize>i << 1)) : i == chars ? 0 : 0xffff;
      store<u16>(e + <usize>load<u8>(LFN_OFFSETS + k), c);
    }
  }
  const dir = moving ? (load<u32>(moving + F_ATTR) & ATTR_DIRECTORY) != 0 : (attributes & <u32>FileAttribute.DIRECTORY) != 0;
  const se = ENTRIES + (<usize>longs << 5);
  const now = dosNow();
  if (moving) {
    // A rename: the entry as it was (attributes, times, first cluster, size) under its new name.
    memory.copy(se + 11, moving + F_ENTRY + 11, 21);
  } else {
    store<u8>(se, <u8>((attributes & 0x27) | (dir ? ATTR_DIRECTORY : 0x20)), 11); // new files get ARCHIVE
    store<u16>(se, <u16>now, 14);
    store<u16>(se, <u16>(now >> 16), 16);
    store<u16>(se, <u16>(now >> 16), 18);
    store<u16>(se, <u16>now, 22);
    store<u16>(se, <u16>(now >> 16), 24);
  }
  memory.copy(se, SHORT, 11);
  store<u8>(se, <u8>(flags & 0x18), 12);
  const start = freeRun(d, count);
  if (start == u64.MAX_VALUE) return runStatus;
  if (dir && moving) {
    // A folder moved: its ".." (the second entry of its first cluster) names the new parent.
    const c = entryCluster(v, se);
    const parent: u32 = load<u32>(d + F_ROOT) ? 0 : load<u32>(d + F_FIRST);
    store<u16>(WORD, <u16>(parent >> 16));
    store<u16>(WORD, <u16>parent, 6);
    if (validCluster(v, c)) {
      const dots = clusterOffset(v, c) + ENTRY;
      if (!changing(v) || !volWrite(v, dots + 20, WORD, 2) || !volWrite(v, dots + 26, WORD + 6, 2)) return Status.DEVICE_ERROR;
    }
  }
  let first: u32 = 0;
  if (dir && !moving) {
    // The new folder's first cluster, zeroed, with "." (itself) and ".." (its parent; 0 for the root).
    first = allocCluster(v, 0, true);
    if (first == NO_CLUSTER) return Status.VOLUME_FULL;
    const dots = ENTRIES + (<usize>count << 5);
    memory.fill(dots, 0x20, 64);
    store<u8>(dots, 0x2e);
    store<u8>(dots + 32, 0x2e);
    store<u8>(dots + 33, 0x2e);
    const parent: u32 = load<u32>(d + F_ROOT) ? 0 : load<u32>(d + F_FIRST);
    for (let k: usize = 0; k < 2; k++) {
      const e = dots + (k << 5);
      memory.fill(e + 11, 0, 21);
      store<u8>(e, <u8>ATTR_DIRECTORY, 11);
      const c = k == 0 ? first : parent;
      store<u16>(e, <u16>(c >> 16), 20);
      store<u16>(e, <u16>c, 26);
      store<u16>(e, <u16>now, 22);
      store<u16>(e, <u16>(now >> 16), 24);
    }
    if (!volWrite(v, clusterOffset(v, first), dots, 64)) return Status.DEVICE_ERROR;
    store<u16>(se, <u16>(first >> 16), 20);
    store<u16>(se, <u16>first, 26);
  }
  for (let j: u32 = 0; j < count; j++) {
    const at = folderOffset(v, load<u32>(d + F_FIRST), load<u32>(d + F_ROOT), start + (<u64>j << 5));
    if (at == u64.MAX_VALUE || !changing(v) || !volWrite(v, at, ENTRIES + (<usize>j << 5), ENTRY)) return Status.DEVICE_ERROR;
  }
  // d becomes the new entry's record, as a lookup would have made it.
  memory.copy(DIRENT, se, 32);
  memory.copy(NAME, p, <usize>chars << 1);
  nameChars = chars;
  entryPos = start + (<u64>longs << 5);
  nameStart = start;
  setEntry(d, v, d);
  return Status.SUCCESS;
}

/** Record rec as the folder whose chain starts at `first` (`root`: the root) on volume v. */
function folderRecord(rec: usize, v: i32, first: u32, root: u32): usize {
  store<i32>(rec + F_VOLUME, v);
  store<u32>(rec + F_FIRST, first);
  store<u32>(rec + F_ROOT, root);
  store<u32>(rec + F_ATTR, ATTR_DIRECTORY);
  store<u32>(rec + F_CUR_CLUSTER, NO_CLUSTER);
  store<u64>(rec + F_POS, 0);
  return rec;
}
const PARENT: usize = reserve(FILE_RECORD);

/**
 * §13.5.14 SetInfo with another FileName: the entry moves to the new name, which may be a
 * path (from the root with a leading '\', else from the file's folder); a name that
 * exists already is ACCESS_DENIED (as EDK2). The chain stays where it is.
 */
function rename(f: usize, p: usize, chars: u32): u64 {
  const v = load<i32>(f + F_VOLUME);
  const parent = folderRecord(PARENT, v, load<u32>(f + F_DIR_FIRST), load<u32>(f + F_DIR_ROOT));
  const st = resolve(parent, p, chars, TARGET);
  if (st == Status.SUCCESS) return Status.ACCESS_DENIED;
  if (st != Status.NOT_FOUND || !missingLast) return st;
  if (!(load<u32>(TARGET + F_ATTR) & ATTR_DIRECTORY)) return Status.NOT_FOUND;
  const oldFirst = load<u32>(f + F_DIR_FIRST), oldRoot = load<u32>(f + F_DIR_ROOT);
  const oldFrom = load<u64>(f + F_LFN_POS), oldTo = load<u64>(f + F_ENTRY_POS);
  const made = create(TARGET, missingPart, missingChars, 0, f);
  if (made != Status.SUCCESS) return made;
  store<u8>(WORD, 0xe5);
  for (let pos = oldFrom; pos <= oldTo; pos += ENTRY) {
    const at = folderOffset(v, oldFirst, oldRoot, pos);
    if (at == u64.MAX_VALUE || !volWrite(v, at, WORD, 1)) return Status.DEVICE_ERROR;
  }
  // The open file is now the entry under its new name.
  store<u32>(f + F_DIR_FIRST, load<u32>(TARGET + F_DIR_FIRST));
  store<u32>(f + F_DIR_ROOT, load<u32>(TARGET + F_DIR_ROOT));
  store<u64>(f + F_ENTRY_POS, load<u64>(TARGET + F_ENTRY_POS));
  store<u64>(f + F_LFN_POS, load<u64>(TARGET + F_LFN_POS));
  memory.copy(f + F_ENTRY, TARGET + F_ENTRY, 32);
  store<u32>(f + F_NAME_CHARS, load<u32>(TARGET + F_NAME_CHARS));
  memory.copy(f + F_NAME, TARGET + F_NAME, <usize>load<u32>(TARGET + F_NAME_CHARS) << 1);
  return Status.SUCCESS;
}

// ----------------------------------------------------------------- the label --

// BS_VolLab of a volume without a label (fatgen103 §3.1; what mkfs.fat writes).
const NO_NAME: usize = memory.data<u8>([0x4e, 0x4f, 0x20, 0x4e, 0x41, 0x4d, 0x45, 0x20, 0x20, 0x20, 0x20]);

/**
 * The NUL-terminated label at p (within `bytes`) becomes volume v's, kept as FAT keeps it
 * (fatgen103 §3.1, §6), upper case and padded with spaces to 11 bytes, in two places, as
 * dosfstools' fatlabel writes it: the root's volume-ID entry (made when there is none;
 * an empty label frees it) and the boot sector's BS_VolLab (FAT32's backup too), when
 * BS_BootSig says that field exists.
 * A label of more than 11 characters, or with one FAT cannot hold, is UNSUPPORTED, EDK2's
 * status for a label its StrToFat finds lossy (FatPkg/EnhancedFatDxe/DirectoryManage.c
 * FatSetVolumeEntry); EDK2 itself keeps the first 11 of a longer label, and drops spaces,
 * which FAT allows in a label after its first character and which are kept here.
 */
function setLabel(v: i32, p: usize, bytes: u64): u64 {
  const room = bytes >> 1;
  let chars: u32 = 0;
  while (<u64>chars < room && chars <= 11 && load<u16>(p + (<usize>chars << 1))) chars++;
  if (chars > 11) return Status.UNSUPPORTED;
  if (<u64>chars == room) return Status.BAD_BUFFER_SIZE; // no NUL within BufferSize
  memory.fill(SHORT, 0x20, 11);
  for (let i: u32 = 0; i < chars; i++) {
    const c = upper(<u32>load<u16>(p + (<usize>i << 1)));
    if (!shortChar(c) && (c != 0x20 || i == 0)) return Status.UNSUPPORTED;
    store<u8>(SHORT + <usize>i, <u8>c);
  }
  // The entry: labelEntry leaves it in DIRENT, and SCRATCH at the root.
  let pos = labelEntry(v);
  if (pos == u64.MAX_VALUE && chars) {
    pos = freeRun(SCRATCH, 1);
    if (pos == u64.MAX_VALUE) return runStatus;
    memory.fill(DIRENT, 0, 32);
    store<u8>(DIRENT, <u8>ATTR_VOLUME_ID, 11);
  }
  if (pos != u64.MAX_VALUE) {
    memory.copy(DIRENT, SHORT, 11);
    if (!chars) store<u8>(DIRENT, 0xe5);
    const now = dosNow();
    store<u16>(DIRENT, <u16>now, 22);
    store<u16>(DIRENT, <u16>(now >> 16), 24);
    const at = folderOffset(v, load<u32>(SCRATCH + F_FIRST), 1, pos);
    if (at == u64.MAX_VALUE || !volWrite(v, at, DIRENT, ENTRY)) return Status.DEVICE_ERROR;
  }
  // The boot sector: BS_BootSig at 38 (FAT12/16) or 66 (FAT32), BS_VolLab 5 bytes on;
  // FAT32's backup boot sector at BPB_BkBootSec (offset 50), within the reserved sectors.
  const V = vol(v);
  const sig: u64 = load<u32>(V + V_TYPE) == 32 ? 66 : 38;
  let backup: u64 = 0;
  if (sig == 66 && volRead(v, 50, WORD, 2)) backup = <u64>load<u16>(WORD) * <u64>load<u32>(V + V_BPS);
  if (backup >= load<u64>(V + V_FAT)) backup = 0;
  for (let sector: u64 = 0, k = 0; k < 2; k++, sector = backup) {
    if (k && !backup) break;
    if (!volRead(v, sector + sig, WORD, 1)) return Status.DEVICE_ERROR;
    if (load<u8>(WORD) == 0x29 && !volWrite(v, sector + sig + 5, chars ? SHORT : NO_NAME, 11)) return Status.DEVICE_ERROR;
  }
  memory.copy(V + V_LABEL, SHORT, 11);
  return Status.SUCCESS;
}

// ------------------------------------------------- firmware-internal reading --

/**
 * Open `chars` UCS-2 characters of path at WASM address p on the volume of SimpleFileSystem
 * instance `sfs`, for the firmware's own reading (LoadImage from a file path): the file's
 * size, or u64 max when it is not a readable file. readOpened then copies it out.
 */
export function openForFirmware(sfs: u64, p: usize, chars: u32): u64 {
  const v = findVolume(sfs);
  if (v < 0) return u64.MAX_VALUE;
  const f = scratch(v);
  if (resolve(f, p, chars, f) != Status.SUCCESS || (load<u32>(f + F_ATTR) & ATTR_DIRECTORY)) return u64.MAX_VALUE;
  return load<u64>(f + F_SIZE);
}

/** Read the file openForFirmware found into dst (its whole size); false on a device error. */
export function readOpened(dst: usize): bool {
  const n = load<u64>(SCRATCH + F_SIZE);
  return readAt(SCRATCH, 0, dst, n) == n;
}

export function volumeOfDevice(d: i32): u64 {
  for (let i = 0; i < volumeCount; i++) if (load<i32>(vol(i) + V_DEVICE) == d) return load<u64>(vol(i) + V_SFS);
  return 0;
}
