// Device paths (UEFI 2.10 §10): the checks every service that takes one shares, and the
// EFI_DEVICE_PATH_UTILITIES_PROTOCOL (§10.5) and EFI_DEVICE_PATH_TO_TEXT_PROTOCOL (§10.6)
// served on guest paths. Behaviour at the edges (NULL, invalid paths) follows EDK2's
// UefiDevicePathLib, which OVMF's DevicePathDxe serves.
//
//   node: Type u8 | SubType u8 | Length u16 (whole node, header included) | data
//   a path is nodes up to an end node (0x7f, 0xff); 0x7f, 0x01 ends one instance of a
//   multi-instance path and another instance follows.
import { gp, guest, reserve } from "../mem";
import { allocPool, NONE } from "./alloc";
import { DEVICE_PATH_PROTOCOL, DevicePath, MemoryType } from "../spec/gen";

const END_LENGTH: u64 = 4;
/** Nodes in one path before it counts as runaway (EDK2's PcdMaximumDevicePathNodeCount is unlimited). */
const MAX_NODES: i32 = 4096;

/** The end-of-entire-path node, to duplicate when a service must return an empty path. */
const END_PATH: usize = memory.data<u8>([0x7f, 0xff, 4, 0]);

@inline function nodeType(n: usize): u32 { return <u32>load<u8>(n + DEVICE_PATH_PROTOCOL.Type); }
@inline function nodeSubType(n: usize): u32 { return <u32>load<u8>(n + DEVICE_PATH_PROTOCOL.SubType); }
@inline function nodeLength(n: usize): u64 { return <u64>load<u16>(n + DEVICE_PATH_PROTOCOL.Length); }

/**
 * Size in bytes of the guest path at p, end node included; 0 when p is NULL or the path
 * is invalid (EDK2 IsDevicePathValid): a node shorter than its header, a file-path node
 * whose name is not NUL-terminated, an end node of the wrong length, or bytes outside RAM.
 */
export function pathSize(p: u64): u64 {
  if (!p) return 0;
  let n: u64 = 0;
  for (let count = 0; count < MAX_NODES; count++) {
    const head = guest(p + n, END_LENGTH);
    if (!head) return 0;
    const len = nodeLength(head);
    if (nodeType(head) == DevicePath.END_DEVICE_PATH_TYPE && nodeSubType(head) == DevicePath.END_ENTIRE_DEVICE_PATH_SUBTYPE) {
      return len == END_LENGTH ? n + END_LENGTH : 0;
    }
    if (len < END_LENGTH) return 0;
    const node = guest(p + n, len);
    if (!node) return 0;
    if (nodeType(node) == DevicePath.MEDIA_DEVICE_PATH && nodeSubType(node) == DevicePath.MEDIA_FILEPATH_DP &&
      (len < END_LENGTH + 2 || load<u16>(node + <usize>len - 2) != 0)) return 0;
    n += len;
  }
  return 0;
}

/** Bytes of a valid path's first instance, before its first end node (either kind). */
export function instanceSize(p: u64): u64 {
  let n: u64 = 0;
  let node = guest(p, END_LENGTH);
  while (nodeType(node) != DevicePath.END_DEVICE_PATH_TYPE) {
    n += nodeLength(node);
    node = guest(p + n, END_LENGTH);
  }
  return n;
}

/** A pool copy of `bytes` bytes at WASM address src (a path the caller checked), or 0. */
function copyToPool(src: usize, bytes: u64): u64 {
  const p = allocPool(MemoryType.BootServicesData, bytes);
  if (p == NONE) return 0;
  memory.copy(gp(p), src, <usize>bytes);
  return p;
}

/** §10.5 DuplicateDevicePath, for firmware use too: a pool copy of a guest path, or 0. */
export function duplicatePath(p: u64): u64 {
  const size = pathSize(p);
  return size ? copyToPool(guest(p, size), size) : 0;
}

/**
 * The path of `first` followed by the node at `node` (nodeBytes long), as one pool
 * allocation: both are guest addresses, `first` a valid path or 0.
 */
export function appendNode(first: u64, node: u64, nodeBytes: u64): u64 {
  const s1 = first ? pathSize(first) - END_LENGTH : 0;
  const p = allocPool(MemoryType.BootServicesData, s1 + nodeBytes + END_LENGTH);
  if (p == NONE) return 0;
  if (s1) memory.copy(gp(p), guest(first, s1), <usize>s1);
  memory.copy(gp(p) + <usize>s1, guest(node, nodeBytes), <usize>nodeBytes);
  memory.copy(gp(p) + <usize>(s1 + nodeBytes), END_PATH, <usize>END_LENGTH);
  return p;
}

// ------------------------------------------------ EFI_DEVICE_PATH_UTILITIES --

export function DevicePathUtilities_GetDevicePathSize(path: u64): u64 {
  return pathSize(path);
}

export function DevicePathUtilities_DuplicateDevicePath(path: u64): u64 {
  return duplicatePath(path);
}

export function DevicePathUtilities_AppendDevicePath(src1: u64, src2: u64): u64 {
  // One path missing: a copy of the other, or of an empty path if both are.
  if (!src1) return src2 ? duplicatePath(src2) : copyToPool(END_PATH, END_LENGTH);
  if (!src2) return duplicatePath(src1);
  const s1 = pathSize(src1);
  const s2 = pathSize(src2);
  if (!s1 || !s2) return 0;
  const p = allocPool(MemoryType.BootServicesData, s1 + s2 - END_LENGTH);
  if (p == NONE) return 0;
  // The first path's end node is overwritten by the second path.
  memory.copy(gp(p), guest(src1, s1), <usize>(s1 - END_LENGTH));
  memory.copy(gp(p) + <usize>(s1 - END_LENGTH), guest(src2, s2), <usize>s2);
  return p;
}

export function DevicePathUtilities_AppendDeviceNode(path: u64, node: u64): u64 {
  if (!node) return path ? duplicatePath(path) : copyToPool(END_PATH, END_LENGTH);
  const head = guest(node, END_LENGTH);
  if (!head || nodeLength(head) < END_LENGTH || !guest(node, nodeLength(head))) return 0;
  if (path && !pathSize(path)) return 0;
  return appendNode(path, node, nodeLength(head));
}

export function DevicePathUtilities_AppendDevicePathInstance(path: u64, instance: u64): u64 {
  if (!path) return duplicatePath(instance);
  if (!instance) return 0;
  const s1 = pathSize(path);
  const s2 = pathSize(instance);
  if (!s1 || !s2) return 0;
  const p = allocPool(MemoryType.BootServicesData, s1 + s2);
  if (p == NONE) return 0;
  memory.copy(gp(p), guest(path, s1), <usize>s1);
  // The first path's end node becomes an end-of-instance node.
  store<u8>(gp(p) + <usize>(s1 - END_LENGTH) + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.END_INSTANCE_DEVICE_PATH_SUBTYPE);
  memory.copy(gp(p) + <usize>s1, guest(instance, s2), <usize>s2);
  return p;
}

export function DevicePathUtilities_GetNextDevicePathInstance(pathPtr: u64, sizeOut: u64): u64 {
  const pp = guest(pathPtr, 8);
  const size = guest(sizeOut, 8);
  if (!size) return 0; // EDK2 asserts; there is nowhere to report the size
  if (!pp || !load<u64>(pp)) {
    store<u64>(size, 0);
    return 0;
  }
  const path = load<u64>(pp);
  if (!pathSize(path)) return 0;
  const n = instanceSize(path);
  const end = guest(path + n, END_LENGTH);
  const last = nodeSubType(end) == DevicePath.END_ENTIRE_DEVICE_PATH_SUBTYPE;
  const copy = copyToPool(guest(path, n + END_LENGTH), n + END_LENGTH);
  if (!copy) return 0;
  // The copy is a whole path: its end node ends the entire path.
  store<u8>(gp(copy) + <usize>n + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.END_ENTIRE_DEVICE_PATH_SUBTYPE);
  store<u64>(size, n + END_LENGTH);
  store<u64>(pp, last ? 0 : path + n + END_LENGTH);
  return copy;
}

export function DevicePathUtilities_IsDevicePathMultiInstance(path: u64): u64 {
  const size = pathSize(path);
  return size && instanceSize(path) + END_LENGTH < size ? 1 : 0;
}

export function DevicePathUtilities_CreateDeviceNode(type: u8, subType: u8, length: u16): u64 {
  if (<u64>length < END_LENGTH) return 0;
  const p = allocPool(MemoryType.BootServicesData, <u64>length); // zeroed
  if (p == NONE) return 0;
  store<u8>(gp(p) + DEVICE_PATH_PROTOCOL.Type, type);
  store<u8>(gp(p) + DEVICE_PATH_PROTOCOL.SubType, subType);
  store<u16>(gp(p) + DEVICE_PATH_PROTOCOL.Length, length);
  return p;
}

// -------------------------------------------------- EFI_DEVICE_PATH_TO_TEXT --
//
// The text forms of §10.6.1 for the nodes the firmware builds (vendor nodes, file
// paths, end of instance) and the generic form for every other node, as EDK2 writes
// it: `HardwarePath(3,0011)` for a known type, `Path(type,subtype,data)` otherwise.

/** UCS-2 text being built (private); longer text than this is refused as runaway. */
const TEXT_CHARS: usize = 32768;
const TEXT: usize = reserve(TEXT_CHARS << 1);
let textLen: usize = 0;
let textOverflow = false;

function put(c: u32): void {
  if (textLen == TEXT_CHARS - 1) { textOverflow = true; return; }
  store<u16>(TEXT + (textLen << 1), <u16>c);
  textLen++;
}

function putString(s: string): void {
  for (let i = 0; i < s.length; i++) put(<u32>s.charCodeAt(i));
}

function putHex(v: u64, digits: i32): void {
  for (let d = digits - 1; d >= 0; d--) {
    const x = <u32>((v >> (<u64>d << 2)) & 0xf);
    put(x < 10 ? 0x30 + x : 0x57 + x); // 0-9, a-f
  }
}

/** Hex digits v needs (at least one). */
function hexDigits(v: u64): i32 {
  let d = 1;
  while (d < 16 && (v >> (<u64>d << 2))) d++;
  return d;
}

function putDecimal(v: u32): void {
  if (v >= 10) putDecimal(v / 10);
  put(0x30 + v % 10);
}

/** A GUID at WASM address g, in the canonical lowercase form. */
function putGuid(g: usize): void {
  putHex(<u64>load<u32>(g), 8); put(0x2d);
  putHex(<u64>load<u16>(g, 4), 4); put(0x2d);
  putHex(<u64>load<u16>(g, 6), 4); put(0x2d);
  putHex(<u64>load<u8>(g, 8), 2); putHex(<u64>load<u8>(g, 9), 2); put(0x2d);
  for (let i: usize = 10; i < 16; i++) putHex(<u64>load<u8>(g + i), 2);
}

function putBytes(p: usize, n: u64): void {
  for (let i: u64 = 0; i < n; i++) putHex(<u64>load<u8>(p + <usize>i), 2);
}

/** The text of one node at WASM address n (its Length bytes readable). */
function nodeText(n: usize): void {
  const type = nodeType(n);
  const sub = nodeSubType(n);
  const len = nodeLength(n);
  const vendor = (type == DevicePath.HARDWARE_DEVICE_PATH && sub == DevicePath.HW_VENDOR_DP) ||
    (type == DevicePath.MESSAGING_DEVICE_PATH && sub == DevicePath.MSG_VENDOR_DP) ||
    (type == DevicePath.MEDIA_DEVICE_PATH && sub == DevicePath.MEDIA_VENDOR_DP);
  if (vendor && len >= END_LENGTH + 16) {
    // VenHw(GUID[,data]), VenMsg(...), VenMedia(...)
    putString(type == DevicePath.HARDWARE_DEVICE_PATH ? "VenHw(" : type == DevicePath.MEDIA_DEVICE_PATH ? "VenMedia(" : "VenMsg(");
    putGuid(n + <usize>END_LENGTH);
    if (len > END_LENGTH + 16) {
      put(0x2c);
      putBytes(n + <usize>END_LENGTH + 16, len - END_LENGTH - 16);
    }
    put(0x29);
  } else if (type == DevicePath.ACPI_DEVICE_PATH && sub == DevicePath.ACPI_DP && len == 12) {
    // §10.6.1.6: PciRoot(UID) for the PCI root bridge, Acpi(HID,UID) otherwise.
    const hid = load<u32>(n + 4), uid = load<u32>(n + 8);
    if (hid == 0x0a0341d0) {
      putString("PciRoot(0x"); putHex(<u64>uid, hexDigits(<u64>uid));
    } else {
      putString("Acpi(0x"); putHex(<u64>hid, 8); putString(",0x"); putHex(<u64>uid, hexDigits(<u64>uid));
    }
    put(0x29);
  } else if (type == DevicePath.HARDWARE_DEVICE_PATH && sub == DevicePath.HW_PCI_DP && len == 6) {
    putString("Pci(0x"); putHex(<u64>load<u8>(n + 5), hexDigits(<u64>load<u8>(n + 5)));
    putString(",0x"); putHex(<u64>load<u8>(n + 4), hexDigits(<u64>load<u8>(n + 4))); put(0x29);
  } else if (type == DevicePath.MEDIA_DEVICE_PATH && sub == DevicePath.MEDIA_HARDDRIVE_DP && len == 42) {
    // §10.6.1.6: HD(Partition,Type,Signature,Start,Size)
    putString("HD("); putDecimal(load<u32>(n + 4)); put(0x2c);
    const gpt = load<u8>(n + 41) == 2;
    if (gpt) { putString("GPT,"); putGuid(n + 24); }
    else { putString("MBR,0x"); putHex(<u64>load<u32>(n + 24), 8); }
    const start = load<u64>(n + 8), size = load<u64>(n + 16);
    putString(",0x"); putHex(start, hexDigits(start)); putString(",0x"); putHex(size, hexDigits(size)); put(0x29);
  } else if (type == DevicePath.MEDIA_DEVICE_PATH && sub == DevicePath.MEDIA_FILEPATH_DP) {
    // The path name itself.
    for (let i: u64 = END_LENGTH; i + 2 <= len; i += 2) {
      const c = <u32>load<u16>(n + <usize>i);
      if (!c) break;
      put(c);
    }
  } else if (type == DevicePath.END_DEVICE_PATH_TYPE && sub == DevicePath.END_INSTANCE_DEVICE_PATH_SUBTYPE) {
    put(0x2c); // ","
  } else {
    const name = type == DevicePath.HARDWARE_DEVICE_PATH ? "HardwarePath(" :
      type == DevicePath.ACPI_DEVICE_PATH ? "AcpiPath(" :
      type == DevicePath.MESSAGING_DEVICE_PATH ? "Msg(" :
      type == DevicePath.MEDIA_DEVICE_PATH ? "MediaPath(" :
      type == DevicePath.BBS_DEVICE_PATH ? "BbsPath(" : "";
    if (name.length) {
      putString(name);
    } else {
      putString("Path(");
      putDecimal(type);
      put(0x2c);
    }
    putDecimal(sub);
    if (len > END_LENGTH) {
      put(0x2c);
      putBytes(n + <usize>END_LENGTH, len - END_LENGTH);
    }
    put(0x29);
  }
}

/** The built text, NUL-terminated, as a pool string; 0 on overflow or no memory. */
function textToPool(): u64 {
  if (textOverflow) return 0;
  store<u16>(TEXT + (textLen << 1), 0);
  const p = allocPool(MemoryType.BootServicesData, <u64>(textLen + 1) << 1);
  if (p == NONE) return 0;
  memory.copy(gp(p), TEXT, (textLen + 1) << 1);
  return p;
}

export function DevicePathToText_ConvertDeviceNodeToText(node: u64, displayOnly: u8, allowShortcuts: u8): u64 {
  const head = guest(node, END_LENGTH);
  if (!head) return 0;
  const n = guest(node, max(nodeLength(head), END_LENGTH));
  if (!n) return 0;
  textLen = 0;
  textOverflow = false;
  nodeText(n);
  return textToPool();
}

export function DevicePathToText_ConvertDevicePathToText(path: u64, displayOnly: u8, allowShortcuts: u8): u64 {
  const size = pathSize(path);
  if (!size) return 0;
  textLen = 0;
  textOverflow = false;
  // Nodes are separated by "/", instances by "," alone (§10.6.1; EDK2 also puts a "/"
  // after the ",").
  let afterComma = true;
  for (let off: u64 = 0; off + END_LENGTH < size;) {
    const n = guest(path + off, END_LENGTH);
    const len = nodeLength(n);
    const endInstance = nodeType(n) == DevicePath.END_DEVICE_PATH_TYPE;
    if (!afterComma && !endInstance) put(0x2f);
    nodeText(guest(path + off, len));
    afterComma = endInstance;
    off += len;
  }
  return textToPool();
}
