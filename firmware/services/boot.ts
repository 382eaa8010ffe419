// Loading from file systems and the boot manager (UEFI 2.10 §3.1, §3.5, §7.4 LoadImage).
//
// LoadImage with a device path and no buffer: the handle with SimpleFileSystem whose path
// begins it is the device, the file-path nodes after it name the file; with BootPolicy
// and no file-path node, the removable-media path \EFI\BOOT\BOOTX64.EFI (BOOTAA64.EFI on AArch64, §3.5.1.1).
//
// The boot manager (§3.1.1): BootNext (deleted as it is taken), then BootOrder's active
// Boot#### load options, then the removable-media path on every file system in handle
// order. A short-form path (§3.1.2: starting at a Hard Drive node, or a bare file path)
// is expanded against the devices present. BootCurrent names the option booted.
import { gp, guest, reserve } from "../mem";
import { allocPages, retype, allocPool, BS_FreePool, NONE, FLAG_FIRMWARE } from "./alloc";
import { lookup, locateDevice, locatedBytes } from "./handles";
import { pathSize, appendNode } from "./devpath";
import { openForFirmware, readOpened, volumeOfDevice } from "./fat";
import { devices, devicePath, deviceHandle } from "./disk";
import { loadImage, setLoadOptions } from "./image";
import { fail } from "../loader";
import { isAa64 } from "../arch";
import { varData, varBytes, bootOptionData, setVar, BOOTSERVICE_ACCESS, RUNTIME_ACCESS } from "./variables";
import {
  DEVICE_PATH_PROTOCOL, HARDDRIVE_DEVICE_PATH, LOAD_OPTION, LOAD_OPTION_ACTIVE, DevicePath, Guid,
  MemoryType, Status,
} from "../spec/gen";

const PAGE: u64 = 4096;
const MAX_PATH_CHARS: u32 = 4096;
const PATH_TEXT: usize = reserve(<usize>MAX_PATH_CHARS << 1);
/** §3.5.1.1 the removable-media boot path (EFI_REMOVABLE_MEDIA_FILE_NAME) of the machine served. */
function removableName(): string {
  return isAa64() ? "\\EFI\\BOOT\\BOOTAA64.EFI" : "\\EFI\\BOOT\\BOOTX64.EFI";
}

@inline function nodeType(n: usize): u32 { return <u32>load<u8>(n + DEVICE_PATH_PROTOCOL.Type); }
@inline function nodeSubType(n: usize): u32 { return <u32>load<u8>(n + DEVICE_PATH_PROTOCOL.SubType); }
@inline function nodeLength(n: usize): u32 { return <u32>load<u16>(n + DEVICE_PATH_PROTOCOL.Length); }

/**
 * The file-path nodes of the guest path at p (a valid path), joined into PATH_TEXT with a
 * '\' between nodes where neither side has one. Returns the characters, or -1 when a
 * node that is not a file path comes before the end, or the text is too long.
 */
function filePathText(p: u64): i32 {
  let chars: u32 = 0;
  let at = p;
  for (let n = guest(at, 4); nodeType(n) != DevicePath.END_DEVICE_PATH_TYPE; n = guest(at, 4)) {
    if (nodeType(n) != DevicePath.MEDIA_DEVICE_PATH || nodeSubType(n) != DevicePath.MEDIA_FILEPATH_DP) return -1;
    const len = nodeLength(n);
    const node = guest(at, len);
    const first = chars;
    for (let i: u32 = 4; i + 2 <= len; i += 2) {
      const c = load<u16>(node + <usize>i);
      if (!c) break;
      if (i == 4 && first && c != 0x5c && load<u16>(PATH_TEXT + (<usize>(chars - 1) << 1)) != 0x5c) {
        if (chars == MAX_PATH_CHARS) return -1;
        store<u16>(PATH_TEXT + (<usize>(chars++) << 1), 0x5c);
      }
      if (chars == MAX_PATH_CHARS) return -1;
      store<u16>(PATH_TEXT + (<usize>(chars++) << 1), c);
    }
    at += <u64>len;
  }
  return <i32>chars;
}

/** The device path `path` (a file system's) with a file-path node for the removable-media file; pool, or 0. */
function removablePath(path: u64): u64 {
  const name = removableName();
  const chars = <u64>name.length;
  const bytes = 4 + ((chars + 1) << 1);
  const node = allocPool(MemoryType.BootServicesData, bytes);
  if (node == NONE) return 0;
  const n = gp(node);
  store<u8>(n + DEVICE_PATH_PROTOCOL.Type, <u8>DevicePath.MEDIA_DEVICE_PATH);
  store<u8>(n + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.MEDIA_FILEPATH_DP);
  store<u16>(n + DEVICE_PATH_PROTOCOL.Length, <u16>bytes);
  memory.copy(n + 4, changetype<usize>(name), <usize>(chars << 1));
  store<u16>(n + 4 + <usize>(chars << 1), 0);
  const full = appendNode(path, node, bytes);
  BS_FreePool(node);
  return full;
}

/**
 * LoadImage from a device path (a valid guest path) with no source buffer: the file on the
 * file system the path leads to, read whole into pages, loaded, the pages freed.
 */
export function loadFromPath(parent: u64, path: u64, bootPolicy: bool, out: usize): u64 {
  const h = locateDevice(Guid.SIMPLE_FILE_SYSTEM_PROTOCOL, path);
  if (!h) return fail(Status.NOT_FOUND, "no file system on the image's device path", 0);
  let chars = filePathText(path + locatedBytes);
  if (chars < 0) return fail(Status.NOT_FOUND, "the image's device path goes on past its file system with a node that is not a file path", 0);
  if (chars == 0) {
    if (!bootPolicy) return fail(Status.NOT_FOUND, "the image's device path names a file system, not a file", 0);
    // The image's path names the file it came from: loaders find their files beside it.
    const full = removablePath(path);
    if (!full) return fail(Status.OUT_OF_RESOURCES, "no memory for the image's device path", 0);
    const st = loadFromPath(parent, full, false, out);
    BS_FreePool(full);
    return st;
  }
  const size = openForFirmware(lookup(h, Guid.SIMPLE_FILE_SYSTEM_PROTOCOL), PATH_TEXT, <u32>chars);
  if (size == u64.MAX_VALUE) return fail(Status.NOT_FOUND, "no such file on the file system", 0);
  const pages = (size + PAGE - 1) / PAGE;
  const buf = allocPages(MemoryType.BootServicesData, pages ? pages : 1, FLAG_FIRMWARE, false);
  if (buf == NONE) return fail(Status.OUT_OF_RESOURCES, "no memory to read the image file into", 0);
  let st: u64;
  if (!readOpened(gp(buf))) {
    st = fail(Status.DEVICE_ERROR, "reading the image file failed (a device error or a broken cluster chain)", 0);
  } else {
    st = loadImage(parent, gp(buf), size, path, out);
  }
  retype(buf, pages ? pages : 1, MemoryType.ConventionalMemory, 0);
  return st;
}

// ------------------------------------------------------------ boot manager --

/** The loaded handle of the last boot attempt, for the host. */
export let bootHandle: u64 = 0;
const HANDLE_OUT: usize = reserve(8);

/** A guest pool copy of the `bytes` bytes at WASM address p; 0 on failure. */
function poolCopy(p: usize, bytes: u64): u64 {
  const q = allocPool(MemoryType.BootServicesData, bytes ? bytes : 1);
  if (q == NONE) return 0;
  memory.copy(gp(q), p, <usize>bytes);
  return q;
}

/**
 * A path whose first node is a Hard Drive node (§3.1.2 short form): the partition with
 * that node ends its path; the full path is that device's path and the rest. 0 if none.
 */
function expandHardDrive(p: u64): u64 {
  const n = guest(p, 4);
  const len = nodeLength(n);
  for (let d = 0; d < devices(); d++) {
    const dp = devicePath(d);
    const size = pathSize(dp);
    if (size < 4 + <u64>len) continue;
    const last = gp(dp) + <usize>(size - 4 - <u64>len);
    if (nodeType(last) != DevicePath.MEDIA_DEVICE_PATH || nodeSubType(last) != DevicePath.MEDIA_HARDDRIVE_DP) continue;
    // Same partition number and signature (§3.1.2 matches on the signature).
    if (load<u32>(last + HARDDRIVE_DEVICE_PATH.PartitionNumber) != load<u32>(n + HARDDRIVE_DEVICE_PATH.PartitionNumber)) continue;
    if (memory.compare(last + HARDDRIVE_DEVICE_PATH.Signature, n + HARDDRIVE_DEVICE_PATH.Signature, 16) != 0) continue;
    const rest = pathSize(p) - <u64>len;
    const full = allocPool(MemoryType.BootServicesData, size - 4 + rest);
    if (full == NONE) return 0;
    memory.copy(gp(full), gp(dp), <usize>(size - 4));
    memory.copy(gp(full) + <usize>(size - 4), guest(p + <u64>len, rest), <usize>rest);
    return full;
  }
  return 0;
}

/** Try loading the image at guest path p (pool, freed here); SUCCESS leaves it in bootHandle. */
function tryPath(p: u64, bootPolicy: bool): u64 {
  if (!p) return Status.NOT_FOUND;
  let st: u64 = Status.NOT_FOUND;
  const n = guest(p, 4);
  if (nodeType(n) == DevicePath.MEDIA_DEVICE_PATH && nodeSubType(n) == DevicePath.MEDIA_HARDDRIVE_DP) {
    const full = expandHardDrive(p);
    if (full) {
      st = loadFromPath(0, full, bootPolicy, HANDLE_OUT);
      BS_FreePool(full);
    }
  } else if (nodeType(n) == DevicePath.MEDIA_DEVICE_PATH && nodeSubType(n) == DevicePath.MEDIA_FILEPATH_DP) {
    // A bare file path: on each file system in turn.
    for (let d = 0; d < devices() && st != Status.SUCCESS; d++) {
      if (!volumeOfDevice(d)) continue;
      const full = joinPaths(devicePath(d), p);
      if (!full) continue;
      st = loadFromPath(0, full, bootPolicy, HANDLE_OUT);
      BS_FreePool(full);
    }
  } else {
    st = loadFromPath(0, p, bootPolicy, HANDLE_OUT);
  }
  BS_FreePool(p);
  if (st == Status.SUCCESS) bootHandle = load<u64>(HANDLE_OUT);
  return st;
}

/** Pool path: a's nodes then b's (both valid guest paths). */
function joinPaths(a: u64, b: u64): u64 {
  const sa = pathSize(a) - 4, sb = pathSize(b);
  const q = allocPool(MemoryType.BootServicesData, sa + sb);
  if (q == NONE) return 0;
  memory.copy(gp(q), guest(a, sa), <usize>sa);
  memory.copy(gp(q) + <usize>sa, guest(b, sb), <usize>sb);
  return q;
}

/** Boot option n, if active and well formed: loaded, its optional data as LoadOptions. */
function tryOption(n: u32): u64 {
  const o = bootOptionData(n);
  const bytes = varBytes;
  if (!o || bytes < <u32>LOAD_OPTION.Description + 2) return Status.NOT_FOUND;
  if (!(load<u32>(o + LOAD_OPTION.Attributes) & LOAD_OPTION_ACTIVE)) return Status.NOT_FOUND;
  const pathBytes = <u32>load<u16>(o + LOAD_OPTION.FilePathListLength);
  let desc = <u32>LOAD_OPTION.Description;
  while (desc + 2 <= bytes && load<u16>(o + <usize>desc)) desc += 2;
  const pathAt = desc + 2;
  if (pathAt + pathBytes > bytes || pathBytes < 4) return Status.NOT_FOUND;
  const dataBytes = bytes - pathAt - pathBytes;
  // Copy what is needed out of the store before anything can change it.
  const path = poolCopy(o + <usize>pathAt, <u64>pathBytes);
  const data = dataBytes ? poolCopy(o + <usize>(pathAt + pathBytes), <u64>dataBytes) : 0;
  if (!path || !pathSize(path)) return Status.NOT_FOUND;
  const st = tryPath(path, true);
  if (st != Status.SUCCESS) {
    if (data) BS_FreePool(data);
    return st;
  }
  if (data) setLoadOptions(bootHandle, data, dataBytes);
  store<u16>(HANDLE_OUT, <u16>n);
  setVar("BootCurrent", Guid.GLOBAL_VARIABLE, BOOTSERVICE_ACCESS | RUNTIME_ACCESS, HANDLE_OUT, 2);
  return st;
}

/**
 * Boot as firmware does with no image given: load the first bootable option (the image
 * is left in bootHandle for the host to start). NOT_FOUND when nothing is bootable.
 */
export function bootManager(): u64 {
  bootHandle = 0;
  const next = varData("BootNext", Guid.GLOBAL_VARIABLE);
  if (next && varBytes == 2) {
    const n = <u32>load<u16>(next);
    setVar("BootNext", Guid.GLOBAL_VARIABLE, 0, 0, 0);
    if (tryOption(n) == Status.SUCCESS) return Status.SUCCESS;
  }
  const order = varData("BootOrder", Guid.GLOBAL_VARIABLE);
  const count = order ? varBytes >> 1 : 0;
  for (let i: u32 = 0; i < count; i++) {
    // The store moves as options are tried (BootCurrent): look the order up again.
    const o = varData("BootOrder", Guid.GLOBAL_VARIABLE);
    if (!o || i >= varBytes >> 1) break;
    if (tryOption(<u32>load<u16>(o + (<usize>i << 1))) == Status.SUCCESS) return Status.SUCCESS;
  }
  for (let d = 0; d < devices(); d++) {
    if (!volumeOfDevice(d) || !deviceHandle(d)) continue;
    const p = devicePath(d);
    const copy = poolCopy(gp(p), pathSize(p));
    if (copy && tryPath(copy, true) == Status.SUCCESS) return Status.SUCCESS;
  }
  return fail(Status.NOT_FOUND, isAa64() ? "nothing to boot: no Boot#### option loads and no file system holds \\EFI\\BOOT\\BOOTAA64.EFI"
    : "nothing to boot: no Boot#### option loads and no file system holds \\EFI\\BOOT\\BOOTX64.EFI", 0);
}
