// Handle and protocol database (UEFI 2.10 §7.3), kept in private memory.
//
// A handle is the guest address of a 16-byte cell in a boot-services page the firmware
// owns; the guest only compares handles, the firmware maps them back to an index.
//
//   protocol record (32 bytes)
//   ┌──────────────┬──────────┬──────────────────────────┬───────────────┐
//   │ handle  u32  │ live u32 │ guid (16 bytes)          │ interface u64 │
//   └──────────────┴──────────┴──────────────────────────┴───────────────┘
//   0              4          8                          24              32
import { guest, gp, guidEq, reserve } from "../mem";
import { allocPages, allocPool, FLAG_FIRMWARE, NONE } from "./alloc";
import { MemoryType, Status, LocateSearchType, DEVICE_PATH_PROTOCOL, DevicePath, Guid } from "../spec/gen";

const MAX_HANDLES: u32 = 256;
const CELL: u64 = 16;
let arena: u64 = 0;
let handleCount: u32 = 0;
const HANDLE_LIVE: usize = reserve(<i32>MAX_HANDLES);

const MAX_PROTOCOLS: i32 = 1024;
const PROTOCOLS: usize = reserve(MAX_PROTOCOLS << 5);
let protoCount: i32 = 0;

@inline function rec(i: i32): usize { return PROTOCOLS + (<usize>i << 5); }

export function handlesInit(): void {
  arena = allocPages(MemoryType.BootServicesData, (<u64>MAX_HANDLES * CELL + 4095) / 4096, FLAG_FIRMWARE);
}

export function newHandle(): u64 {
  if (arena == NONE || handleCount == MAX_HANDLES) return 0;
  const i = handleCount++;
  store<u8>(HANDLE_LIVE + i, 1);
  const h = arena + <u64>i * CELL;
  store<u64>(gp(h), 0x656c646e6168); // "handle", for anyone dumping memory
  return h;
}

/** Index of a live handle, or -1. */
export function handleIndex(h: u64): i32 {
  if (h < arena || h >= arena + <u64>handleCount * CELL || (h - arena) % CELL) return -1;
  const i = <u32>((h - arena) / CELL);
  return load<u8>(HANDLE_LIVE + i) ? <i32>i : -1;
}

/** Record index of `guid` (WASM address) on handle index hi, or -1. */
function findProtocol(hi: i32, guid: usize): i32 {
  for (let i = 0; i < protoCount; i++) {
    if (load<u32>(rec(i), 4) && load<i32>(rec(i)) == hi && guidEq(rec(i) + 8, guid)) return i;
  }
  return -1;
}

/** Install without the guest-facing checks; guid is a WASM address. */
export function install(h: u64, guid: usize, iface: u64): u64 {
  const hi = handleIndex(h);
  if (hi < 0) return Status.INVALID_PARAMETER;
  if (findProtocol(hi, guid) >= 0) return Status.INVALID_PARAMETER;
  let slot = -1;
  for (let i = 0; i < protoCount; i++) if (!load<u32>(rec(i), 4)) { slot = i; break; }
  if (slot < 0) {
    if (protoCount == MAX_PROTOCOLS) return Status.OUT_OF_RESOURCES;
    slot = protoCount++;
  }
  store<i32>(rec(slot), hi);
  store<u32>(rec(slot), 1, 4);
  memory.copy(rec(slot) + 8, guid, 16);
  store<u64>(rec(slot), iface, 24);
  return Status.SUCCESS;
}

/** Interface of guid (WASM address) on handle h, or NONE. */
export function lookup(h: u64, guid: usize): u64 {
  const hi = handleIndex(h);
  if (hi < 0) return NONE;
  const r = findProtocol(hi, guid);
  return r < 0 ? NONE : load<u64>(rec(r), 24);
}

export function BS_InstallProtocolInterface(handlePtr: u64, protocol: u64, ifaceType: u32, iface: u64): u64 {
  const hp = guest(handlePtr, 8);
  const guid = guest(protocol, 16);
  // §7.3: EFI_NATIVE_INTERFACE (0) is the only interface type.
  if (!hp || !guid || ifaceType != 0) return Status.INVALID_PARAMETER;
  let h = load<u64>(hp);
  const created = h == 0;
  if (created) {
    h = newHandle();
    if (!h) return Status.OUT_OF_RESOURCES;
  }
  const st = install(h, guid, iface);
  if (st != Status.SUCCESS) {
    if (created) store<u8>(HANDLE_LIVE + <u32>handleIndex(h), 0);
    return st;
  }
  store<u64>(hp, h);
  return Status.SUCCESS;
}

export function BS_HandleProtocol(h: u64, protocol: u64, ifaceOut: u64): u64 {
  const guid = guest(protocol, 16);
  const out = guest(ifaceOut, 8);
  if (handleIndex(h) < 0 || !guid || !out) return Status.INVALID_PARAMETER;
  const iface = lookup(h, guid);
  if (iface == NONE) return Status.UNSUPPORTED;
  store<u64>(out, iface);
  return Status.SUCCESS;
}

export function BS_LocateProtocol(protocol: u64, registration: u64, ifaceOut: u64): u64 {
  const guid = guest(protocol, 16);
  const out = guest(ifaceOut, 8);
  if (!guid || !out) return Status.INVALID_PARAMETER;
  for (let i = 0; i < protoCount; i++) {
    if (load<u32>(rec(i), 4) && guidEq(rec(i) + 8, guid)) {
      store<u64>(out, load<u64>(rec(i), 24));
      return Status.SUCCESS;
    }
  }
  // §7.3: Interface is set to NULL when no instance is found.
  store<u64>(out, 0);
  return Status.NOT_FOUND;
}

/** Handles matching the search, in creation order; writes up to `room` of them at out. */
function matching(search: u32, guid: usize, out: usize, room: u64): u64 {
  let n: u64 = 0;
  for (let hi: u32 = 0; hi < handleCount; hi++) {
    if (!load<u8>(HANDLE_LIVE + hi)) continue;
    if (search == LocateSearchType.ByProtocol && findProtocol(<i32>hi, guid) < 0) continue;
    if (n < room) store<u64>(out + <usize>(n << 3), arena + <u64>hi * CELL);
    n++;
  }
  return n;
}

function validSearch(search: u32, protocol: u64): usize {
  // ByRegisterNotify needs RegisterProtocolNotify, which is not served yet.
  if (search == LocateSearchType.ByProtocol) return guest(protocol, 16);
  return search == LocateSearchType.AllHandles ? 1 : 0;
}

export function BS_LocateHandle(search: u32, protocol: u64, searchKey: u64, sizePtr: u64, buffer: u64): u64 {
  const size = guest(sizePtr, 8);
  const guid = validSearch(search, protocol);
  if (!size || !guid) return Status.INVALID_PARAMETER;
  const room = load<u64>(size) >> 3;
  const out = room ? guest(buffer, room << 3) : 0;
  if (room && !out) return Status.INVALID_PARAMETER;
  const n = matching(search, guid, out, room);
  if (n == 0) return Status.NOT_FOUND;
  store<u64>(size, n << 3);
  return n > room ? Status.BUFFER_TOO_SMALL : Status.SUCCESS;
}

export function BS_LocateHandleBuffer(search: u32, protocol: u64, searchKey: u64, countPtr: u64, bufferPtr: u64): u64 {
  const countOut = guest(countPtr, 8);
  const bufOut = guest(bufferPtr, 8);
  const guid = validSearch(search, protocol);
  if (!countOut || !bufOut || !guid) return Status.INVALID_PARAMETER;
  const n = matching(search, guid, 0, 0);
  if (n == 0) return Status.NOT_FOUND;
  const buf = allocPool(MemoryType.BootServicesData, n << 3);
  if (buf == NONE) return Status.OUT_OF_RESOURCES;
  matching(search, guid, gp(buf), n);
  store<u64>(countOut, n);
  store<u64>(bufOut, buf);
  return Status.SUCCESS;
}

/** Bytes of a device path before its end node, or -1 if malformed or past RAM. */
export function devicePathSize(p: u64): i64 {
  let n: u64 = 0;
  for (let i = 0; i < 256; i++) {
    const node = guest(p + n, DEVICE_PATH_PROTOCOL.SIZE);
    if (!node) return -1;
    const len = <u64>load<u16>(node + DEVICE_PATH_PROTOCOL.Length);
    if (load<u8>(node + DEVICE_PATH_PROTOCOL.Type) == DevicePath.END_DEVICE_PATH_TYPE) {
      return load<u8>(node + DEVICE_PATH_PROTOCOL.SubType) == DevicePath.END_ENTIRE_DEVICE_PATH_SUBTYPE ? <i64>n : -1;
    }
    if (len < DEVICE_PATH_PROTOCOL.SIZE) return -1;
    n += len;
  }
  return -1;
}

/** §7.3 LocateDevicePath: the handle with Protocol whose device path is the longest prefix. */
export function BS_LocateDevicePath(protocol: u64, devicePathPtr: u64, deviceOut: u64): u64 {
  const guid = guest(protocol, 16);
  const pp = guest(devicePathPtr, 8);
  const out = guest(deviceOut, 8);
  if (!guid || !pp || !out) return Status.INVALID_PARAMETER;
  const dp = load<u64>(pp);
  const len = devicePathSize(dp);
  if (len < 0) return Status.INVALID_PARAMETER;
  let best: i32 = -1;
  let bestLen: i64 = -1;
  for (let hi: u32 = 0; hi < handleCount; hi++) {
    if (!load<u8>(HANDLE_LIVE + hi) || findProtocol(<i32>hi, guid) < 0) continue;
    const r = findProtocol(<i32>hi, Guid.DEVICE_PATH_PROTOCOL);
    if (r < 0) continue;
    const hdp = load<u64>(rec(r), 24);
    const hlen = devicePathSize(hdp);
    if (hlen < 0 || hlen > len || hlen <= bestLen) continue;
    if (hlen && memory.compare(guest(hdp, <u64>hlen), guest(dp, <u64>hlen), <usize>hlen) != 0) continue;
    best = <i32>hi;
    bestLen = hlen;
  }
  if (best < 0) return Status.NOT_FOUND;
  store<u64>(out, arena + <u64>best * CELL);
  store<u64>(pp, dp + <u64>bestLen);
  return Status.SUCCESS;
}
