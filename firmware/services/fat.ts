// FAT12/16/32 file systems (Microsoft's FAT specification, "fatgen103"), served as
// EFI_SIMPLE_FILE_SYSTEM_PROTOCOL (§13.4) and EFI_FILE_PROTOCOL (§13.5) on every block
// device that holds one. Read-only: the volume says so (FILE_SYSTEM_INFO.ReadOnly),
// opening for writing answers WRITE_PROTECTED, as on write-protected media.
//
//   volume record (private, 128 bytes)
//   0 device i32 | 4 fatType u32 (12, 16, 32) | 8 sfs u64 (guest instance)
//   16 fatStart u64 | 24 rootStart u64 (FAT12/16 fixed root) | 32 rootBytes u32
//   36 clusterBytes u32 | 40 dataStart u64 (cluster 2) | 48 clusters u32 | 52 rootCluster u32
//   56 freeClusters u64 (u64 max until counted) | 64 label (11 bytes, padded with spaces)
//
//   file record (private, 640 bytes): one per open EFI_FILE_PROTOCOL
//   0 proto u64 (guest instance, 0 = free slot) | 8 volume i32 | 12 attribute u32
//   16 first u32 (first cluster; 0 = empty file, or the fixed root) | 20 root u32
//   24 size u64 | 32 position u64 | 40 cursorIndex u32 | 44 cursorCluster u32
//   48 the directory entry (32 bytes, for times) | 80 nameChars u32 | 88 name (UCS-2, 256)
//
// Byte offsets here are within the device (disk.ts adds the partition's start).
import { gp, guest, reserve, guidEq, ucs2Len } from "../mem";
import { allocPool, BS_FreePool, NONE } from "./alloc";
import { install } from "./handles";
import { fillSlots } from "./system";
import { deviceRead, deviceHandle, deviceBytes } from "./disk";
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

const MAX_FILES: i32 = 256;
const FILE_RECORD: usize = 640;
const FILES: usize = reserve(<usize>MAX_FILES * FILE_RECORD);
const F_PROTO: usize = 0, F_VOLUME: usize = 8, F_ATTR: usize = 12, F_FIRST: usize = 16, F_ROOT: usize = 20;
const F_SIZE: usize = 24, F_POS: usize = 32, F_CUR_INDEX: usize = 40, F_CUR_CLUSTER: usize = 44;
const F_ENTRY: usize = 48, F_NAME_CHARS: usize = 80, F_NAME: usize = 88;
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
  if (type == 32 && !validCluster(volumeCount, load<u32>(v + V_ROOT_CLUSTER))) return false;

  const sfs = allocPool(MemoryType.BootServicesData, SIMPLE_FILE_SYSTEM_PROTOCOL.SIZE);
  if (sfs == NONE) return false;
  store<u64>(gp(sfs) + SIMPLE_FILE_SYSTEM_PROTOCOL.Revision, Revision.SIMPLE_FILE_SYSTEM);
  fillSlots(Table.SimpleFileSystem, sfs);
  store<u64>(v + V_SFS, sfs);
  const i = volumeCount++;
  findLabel(i);
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
    pos += ENTRY;
    const first = load<u8>(DIRENT);
    if (first == 0) return u64.MAX_VALUE; // fatgen103: no entries follow a 0 byte
    if (first == 0xe5) { lfnValid = false; continue; }
    const attr = <u32>load<u8>(DIRENT, 11);
    if ((attr & 0x3f) == ATTR_LONG_NAME) {
      const ord = <u32>first & 0x1f;
      if (first & 0x40) {
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
      nameChars = 0;
      while (nameChars < MAX_NAME) {
        const c = load<u16>(NAME + (<usize>nameChars << 1));
        if (c == 0 || c == 0xffff) break;
        nameChars++;
      }
      if (nameChars == 0) shortName(DIRENT);
    } else {
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

/** The volume label: the root directory's volume-ID entry (fatgen103), if any. */
function findLabel(v: i32): void {
  const f = scratch(v);
  for (let pos: u64 = 0; ; pos += ENTRY) {
    if (readAt(f, pos, DIRENT, ENTRY) != ENTRY || load<u8>(DIRENT) == 0) return;
    const attr = <u32>load<u8>(DIRENT, 11);
    if (load<u8>(DIRENT) != 0xe5 && (attr & 0x3f) != ATTR_LONG_NAME && (attr & ATTR_VOLUME_ID)) {
      memory.copy(vol(v) + V_LABEL, DIRENT, 11);
      return;
    }
  }
}

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

/** Make record f the object of entry DIRENT (with NAME) on volume v. */
function setEntry(f: usize, v: i32): void {
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
    if (!found) return Status.NOT_FOUND;
    setEntry(to, v);
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
  if (attributes & ~FileAttribute.VALID) return Status.INVALID_PARAMETER;
  const st = resolve(f, guest(fileName, <u64>len + 2), <u32>(len >> 1), TARGET);
  // This volume is never written: a file that would be created, or opened for
  // writing, is on write-protected media (§13.5.2 WRITE_PROTECTED).
  if (mode & FileMode.WRITE) return st == Status.SUCCESS || st == Status.NOT_FOUND ? Status.WRITE_PROTECTED : st;
  if (st != Status.SUCCESS) return st;
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

/** §13.5.4: the handle is closed whatever happens; a file that stays answers WARN_DELETE_FAILURE. */
export function File_Delete(self: u64): u64 {
  const f = findFile(self);
  if (!f) return Status.INVALID_PARAMETER;
  closeRecord(f);
  return Status.WARN_DELETE_FAILURE;
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
  setEntry(TARGET, v);
  fileInfo(TARGET, out);
  store<u64>(f + F_POS, next);
  store<u64>(size, need);
  return Status.SUCCESS;
}

export function File_Write(self: u64, sizePtr: u64, buffer: u64): u64 {
  const f = findFile(self);
  if (!f || !guest(sizePtr, 8)) return Status.INVALID_PARAMETER;
  // Opened read-only (the only way a file here can be): §13.5.6 ACCESS_DENIED.
  return Status.ACCESS_DENIED;
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
  store<u64>(out + FILE_INFO.Attribute, <u64>(load<u32>(f + F_ATTR) & <u32>FileAttribute.VALID));
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
    store<u8>(out + FILE_SYSTEM_INFO.ReadOnly, 1);
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

export function File_SetInfo(self: u64, type: u64, size: u64, buffer: u64): u64 {
  const f = findFile(self);
  if (!f || !guest(type, 16) || !guest(buffer, size)) return Status.INVALID_PARAMETER;
  return Status.WRITE_PROTECTED;
}

export function File_Flush(self: u64): u64 {
  const f = findFile(self);
  if (!f) return Status.INVALID_PARAMETER;
  // §13.5.12: a handle opened read-only has nothing to flush and may not.
  return Status.ACCESS_DENIED;
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
