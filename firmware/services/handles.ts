// Handle and protocol database (UEFI 2.10 §7.3), kept in private memory.
//
// A handle is the guest address of a 16-byte cell in a boot-services page the firmware
// owns; the guest only compares handles, the firmware maps them back to an index. A
// handle lives while it carries a protocol: uninstalling its last one frees it, as in
// EDK2. Statuses and orders follow the spec, and EDK2's DXE core (MdeModulePkg/Core/
// Dxe/Hand, what OVMF runs) where the spec leaves room.
//
// Private tables, each kept compact and in insertion order (32-byte rows):
//
//   protocol interface  ┌────────────┬──────────────┬───────────────┬────────────┐
//                       │ handle u32 │ protocol u32 │ interface u64 │ serial u64 │
//                       └────────────┴──────────────┴───────────────┴────────────┘
//   open record         ┌────────────┬──────────────┬───────────┬────────────────┬────────────────┬───────────────┐
//                       │ handle u32 │ protocol u32 │ agent u64 │ controller u64 │ attributes u32 │ openCount u32 │
//                       └────────────┴──────────────┴───────────┴────────────────┴────────────────┴───────────────┘
//   notify registration ┌──────────────┬─────────┬───────────┬──────────────────┬─────────────────────┐
//   (not compact: its   │ protocol u32 │ live u32│ event u64 │ event serial u64 │ position serial u64 │
//   slot is its key)    └──────────────┴─────────┴───────────┴──────────────────┴─────────────────────┘
//
// "protocol" is an index into the GUID table: every protocol GUID ever installed or
// registered, copied into a boot-services page, because ProtocolsPerHandle hands the
// guest pointers to GUIDs the firmware keeps. An interface's serial grows with every
// install, so a notify registration's position is "the last serial it returned".
import { guest, gp, guidEq, reserve } from "../mem";
import { arg } from "../abi";
import { allocPages, allocPool, FLAG_FIRMWARE, NONE } from "./alloc";
import { pathSize, instanceSize } from "./devpath";
import { eventIndex, eventSerial, signal, dispatchPending } from "./events";
import { MemoryType, Status, LocateSearchType, OpenProtocol, OPEN_PROTOCOL_INFORMATION_ENTRY, Guid } from "../spec/gen";

const CELL: u64 = 16;

const MAX_HANDLES: i32 = 512;
let handleArena: u64 = 0;
let handleTop: i32 = 0; // cells ever used; handles are reused round-robin once all have been
let handleCursor: i32 = 0;
const HANDLE_LIVE: usize = reserve(<usize>MAX_HANDLES);

// Protocol GUIDs are matched against the firmware's private copies (GUIDS). guidTable is
// the guest-visible copy ProtocolsPerHandle hands out pointers into: guest RAM, which a
// guest may overwrite, so it is only ever written, each entry again as it is handed out.
const MAX_GUIDS: i32 = 256;
const GUIDS: usize = reserve(<usize>MAX_GUIDS << 4);
let guidTable: u64 = 0;
let guidCount: i32 = 0;

const MAX_INTERFACES: i32 = 1024;
const IFACES: usize = reserve(<usize>MAX_INTERFACES << 5);
let ifaceCount: i32 = 0;
let serial: u64 = 0;

const MAX_OPENS: i32 = 1024;
const OPENS: usize = reserve(<usize>MAX_OPENS << 5);
let openCount: i32 = 0;

const MAX_REGISTRATIONS: i32 = 256;
const REGS: usize = reserve(<usize>MAX_REGISTRATIONS << 5);
let regArena: u64 = 0;
let regCursor: i32 = 0;

/** Pairs InstallMultipleProtocolInterfaces reads before it calls the list runaway. */
const MAX_PAIRS: i32 = 64;

@inline function iface(r: i32): usize { return IFACES + (<usize>r << 5); }
@inline function ifHandle(r: i32): i32 { return load<i32>(iface(r)); }
@inline function ifProto(r: i32): i32 { return load<i32>(iface(r), 4); }
@inline function ifValue(r: i32): u64 { return load<u64>(iface(r), 8); }
@inline function ifSerial(r: i32): u64 { return load<u64>(iface(r), 16); }
@inline function open(o: i32): usize { return OPENS + (<usize>o << 5); }
@inline function reg(k: i32): usize { return REGS + (<usize>k << 5); }
@inline function guidAt(gi: i32): usize { return GUIDS + (<usize>gi << 4); }
@inline function publishedGuid(gi: i32): u64 { return guidTable + (<u64>gi << 4); }
@inline function handleOf(hi: i32): u64 { return handleArena + <u64>hi * CELL; }

export function handlesInit(): void {
  handleArena = allocPages(MemoryType.BootServicesData, (<u64>MAX_HANDLES * CELL + 4095) / 4096, FLAG_FIRMWARE);
  guidTable = allocPages(MemoryType.BootServicesData, (<u64>MAX_GUIDS * 16 + 4095) / 4096, FLAG_FIRMWARE);
  regArena = allocPages(MemoryType.BootServicesData, (<u64>MAX_REGISTRATIONS * CELL + 4095) / 4096, FLAG_FIRMWARE);
}

// ----------------------------------------------------------------- handles --

/** A new handle with no protocol yet: the caller installs one at once. 0 when none is left. */
export function newHandle(): u64 {
  if (handleArena == NONE) return 0;
  let i = -1;
  if (handleTop < MAX_HANDLES) {
    i = handleTop++;
  } else {
    for (let n = 0; n < MAX_HANDLES; n++) {
      const c = (handleCursor + n) % MAX_HANDLES;
      if (!load<u8>(HANDLE_LIVE + c)) { i = c; break; }
    }
    if (i < 0) return 0;
    handleCursor = (i + 1) % MAX_HANDLES;
  }
  store<u8>(HANDLE_LIVE + i, 1);
  store<u64>(gp(handleOf(i)), 0x656c646e6168); // "handle", for anyone dumping memory
  return handleOf(i);
}

/** Index of a live handle, or -1. */
export function handleIndex(h: u64): i32 {
  if (h < handleArena || h >= handleArena + <u64>handleTop * CELL || (h - handleArena) % CELL) return -1;
  const i = <i32>((h - handleArena) / CELL);
  return load<u8>(HANDLE_LIVE + i) ? i : -1;
}

function freeHandleIfEmpty(hi: i32): void {
  for (let r = 0; r < ifaceCount; r++) if (ifHandle(r) == hi) return;
  store<u8>(HANDLE_LIVE + hi, 0);
  store<u64>(gp(handleOf(hi)), 0);
}

// ------------------------------------------------------- GUIDs, interfaces --

/** Index of guid (WASM address) in the GUID table, added if `add`; -1 if absent or full. */
function guidIndex(guid: usize, add: bool): i32 {
  for (let i = 0; i < guidCount; i++) if (guidEq(guidAt(i), guid)) return i;
  if (!add || guidCount == MAX_GUIDS || guidTable == NONE) return -1;
  memory.copy(guidAt(guidCount), guid, 16);
  return guidCount++;
}

/** Row of protocol gi on handle hi, or -1. */
function findIface(hi: i32, gi: i32): i32 {
  for (let r = 0; r < ifaceCount; r++) if (ifHandle(r) == hi && ifProto(r) == gi) return r;
  return -1;
}

/** Add an interface row at the end (newest serial). */
function appendIface(hi: i32, gi: i32, value: u64): void {
  const p = iface(ifaceCount++);
  store<i32>(p, hi);
  store<i32>(p, gi, 4);
  store<u64>(p, value, 8);
  store<u64>(p, ++serial, 16);
}

function removeIface(r: i32): void {
  ifaceCount--;
  memory.copy(iface(r), iface(r + 1), <usize>(ifaceCount - r) << 5);
}

/** Install without the guest-facing checks or notifications; guid is a WASM address. */
function installQuiet(h: u64, guid: usize, value: u64): u64 {
  const hi = handleIndex(h);
  if (hi < 0) return Status.INVALID_PARAMETER;
  const gi = guidIndex(guid, true);
  if (gi < 0) return Status.OUT_OF_RESOURCES;
  // §7.3: one instance of a protocol per handle.
  if (findIface(hi, gi) >= 0) return Status.INVALID_PARAMETER;
  if (ifaceCount == MAX_INTERFACES) return Status.OUT_OF_RESOURCES;
  appendIface(hi, gi, value);
  return Status.SUCCESS;
}

/** Signal the events registered for protocol gi (queued; the caller dispatches). */
function notifyInstalled(gi: i32): void {
  for (let k = 0; k < MAX_REGISTRATIONS; k++) {
    if (!regLive(k) || load<i32>(reg(k)) != gi) continue;
    signal(load<u64>(reg(k), 8));
  }
}

/** Install from the firmware itself (guid: WASM address); registered events are signalled. */
export function install(h: u64, guid: usize, value: u64): u64 {
  const st = installQuiet(h, guid, value);
  if (st == Status.SUCCESS) notifyInstalled(guidIndex(guid, false));
  return st;
}

/** Interface of guid (WASM address) on handle h, or NONE. */
export function lookup(h: u64, guid: usize): u64 {
  const hi = handleIndex(h);
  const gi = guidIndex(guid, false);
  if (hi < 0 || gi < 0) return NONE;
  const r = findIface(hi, gi);
  return r < 0 ? NONE : ifValue(r);
}

// ------------------------------------------------------------ open records --

function findOpen(hi: i32, gi: i32, from: i32): i32 {
  for (let o = from; o < openCount; o++) if (load<i32>(open(o)) == hi && load<i32>(open(o), 4) == gi) return o;
  return -1;
}

function removeOpen(o: i32): void {
  openCount--;
  memory.copy(open(o), open(o + 1), <usize>(openCount - o) << 5);
}

/** Drop the open records of protocol gi on handle hi (its interface is going away). */
function dropOpens(hi: i32, gi: i32): void {
  for (let o = findOpen(hi, gi, 0); o >= 0; o = findOpen(hi, gi, o)) removeOpen(o);
}

const CASUAL: u32 = OpenProtocol.BY_HANDLE_PROTOCOL | OpenProtocol.GET_PROTOCOL | OpenProtocol.TEST_PROTOCOL;

/**
 * May protocol gi on handle hi be uninstalled or reinstalled? EDK2's
 * CoreDisconnectControllersUsingProtocolInterface: a BY_DRIVER opener would have to be
 * stopped through its driver binding, which no driver here has, so it refuses; the
 * casual opens (BY_HANDLE_PROTOCOL, GET_PROTOCOL, TEST_PROTOCOL) are then dropped, and
 * any other open left (EXCLUSIVE, BY_CHILD_CONTROLLER) refuses too.
 */
function releaseOpens(hi: i32, gi: i32): bool {
  for (let o = findOpen(hi, gi, 0); o >= 0; o = findOpen(hi, gi, o + 1)) {
    if (load<u32>(open(o), 24) & OpenProtocol.BY_DRIVER) return false;
  }
  for (let o = findOpen(hi, gi, 0); o >= 0;) {
    if (load<u32>(open(o), 24) & CASUAL) {
      removeOpen(o);
      o = findOpen(hi, gi, o);
    } else {
      o = findOpen(hi, gi, o + 1);
    }
  }
  return findOpen(hi, gi, 0) < 0;
}

/** Close every protocol an agent (an unloading image) holds open (EDK2 CoreUnloadAndCloseImage). */
export function closeByAgent(agent: u64): void {
  for (let o = 0; o < openCount;) {
    if (load<u64>(open(o), 8) == agent) removeOpen(o);
    else o++;
  }
}

/** Remove protocol guid (WASM address) from handle h from the firmware itself; frees an emptied handle. */
export function uninstall(h: u64, guid: usize): void {
  const hi = handleIndex(h);
  const gi = guidIndex(guid, false);
  if (hi < 0 || gi < 0) return;
  const r = findIface(hi, gi);
  if (r < 0) return;
  dropOpens(hi, gi);
  removeIface(r);
  freeHandleIfEmpty(hi);
}

// -------------------------------------------------- install and uninstall --

export function BS_InstallProtocolInterface(handlePtr: u64, protocol: u64, ifaceType: u32, value: u64): u64 {
  const st = installChecked(handlePtr, protocol, ifaceType, value);
  if (st == Status.SUCCESS) dispatchPending();
  return st;
}

/** InstallProtocolInterface without running notify functions (they are queued). */
function installChecked(handlePtr: u64, protocol: u64, ifaceType: u32, value: u64): u64 {
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
  const st = install(h, guid, value);
  if (st != Status.SUCCESS) {
    if (created) freeHandleIfEmpty(handleIndex(h));
    return st;
  }
  store<u64>(hp, h);
  return Status.SUCCESS;
}

export function BS_ReinstallProtocolInterface(h: u64, protocol: u64, oldValue: u64, newValue: u64): u64 {
  const guid = guest(protocol, 16);
  const hi = handleIndex(h);
  if (!guid || hi < 0) return Status.INVALID_PARAMETER;
  const gi = guidIndex(guid, false);
  const r = gi < 0 ? -1 : findIface(hi, gi);
  if (r < 0 || ifValue(r) != oldValue) return Status.NOT_FOUND;
  if (!releaseOpens(hi, gi)) return Status.ACCESS_DENIED;
  // The interface moves to the end of its protocol's list, as a fresh install would,
  // so that notify registrations see it again.
  removeIface(r);
  appendIface(hi, gi, newValue);
  notifyInstalled(gi);
  dispatchPending();
  return Status.SUCCESS;
}

export function BS_UninstallProtocolInterface(h: u64, protocol: u64, value: u64): u64 {
  const guid = guest(protocol, 16);
  const hi = handleIndex(h);
  if (!guid || hi < 0) return Status.INVALID_PARAMETER;
  const gi = guidIndex(guid, false);
  const r = gi < 0 ? -1 : findIface(hi, gi);
  if (r < 0 || ifValue(r) != value) return Status.NOT_FOUND;
  if (!releaseOpens(hi, gi)) return Status.ACCESS_DENIED;
  removeIface(r);
  freeHandleIfEmpty(hi);
  return Status.SUCCESS;
}

/** True when a handle already carries exactly this device path (guest address). */
function devicePathInstalled(path: u64): bool {
  const size = pathSize(path);
  const gi = guidIndex(Guid.DEVICE_PATH_PROTOCOL, false);
  if (!size || gi < 0) return false;
  for (let r = 0; r < ifaceCount; r++) {
    if (ifProto(r) != gi || pathSize(ifValue(r)) != size) continue;
    if (memory.compare(guest(path, size), guest(ifValue(r), size), <usize>size) == 0) return true;
  }
  return false;
}

/**
 * §7.3 InstallMultipleProtocolInterfaces(Handle, GUID *, Interface, ..., NULL): all or
 * nothing. A device path that some handle already has is ALREADY_STARTED. Notify
 * functions run once every pair is in (EDK2 holds TPL_NOTIFY across the call).
 */
export function BS_InstallMultipleProtocolInterfaces(handlePtr: u64): u64 {
  const hp = guest(handlePtr, 8);
  if (!hp) return Status.INVALID_PARAMETER;
  const old = load<u64>(hp);
  let st = Status.SUCCESS;
  let n = 0;
  for (; ; n++) {
    if (n == MAX_PAIRS) { st = Status.INVALID_PARAMETER; break; }
    const protocol = arg(1 + 2 * n);
    if (!protocol) break;
    const value = arg(2 + 2 * n);
    const guid = guest(protocol, 16);
    if (!guid) { st = Status.INVALID_PARAMETER; break; }
    if (guidEq(guid, Guid.DEVICE_PATH_PROTOCOL) && devicePathInstalled(value)) { st = Status.ALREADY_STARTED; break; }
    const h = load<u64>(hp);
    const created = h == 0;
    const target = created ? newHandle() : h;
    if (!target) { st = Status.OUT_OF_RESOURCES; break; }
    st = installQuiet(target, guid, value);
    if (st != Status.SUCCESS) {
      if (created) freeHandleIfEmpty(handleIndex(target));
      break;
    }
    store<u64>(hp, target);
  }
  if (st != Status.SUCCESS) {
    // Take out the pairs put in, which frees a handle this call created.
    const h = load<u64>(hp);
    for (let k = 0; k < n; k++) uninstall(h, guest(arg(1 + 2 * k), 16));
    store<u64>(hp, old);
    return st;
  }
  for (let k = 0; k < n; k++) notifyInstalled(guidIndex(guest(arg(1 + 2 * k), 16), false));
  dispatchPending();
  return Status.SUCCESS;
}

/**
 * §7.3 UninstallMultipleProtocolInterfaces(Handle, GUID *, Interface, ..., NULL): every
 * pair is checked before any is removed, so a failure (always INVALID_PARAMETER, as the
 * spec says) changes nothing.
 */
export function BS_UninstallMultipleProtocolInterfaces(h: u64): u64 {
  let n = 0;
  for (; ; n++) {
    if (n == MAX_PAIRS) return Status.INVALID_PARAMETER;
    const protocol = arg(1 + 2 * n);
    if (!protocol) break;
    const guid = guest(protocol, 16);
    const hi = handleIndex(h);
    if (!guid || hi < 0) return Status.INVALID_PARAMETER;
    const gi = guidIndex(guid, false);
    const r = gi < 0 ? -1 : findIface(hi, gi);
    if (r < 0 || ifValue(r) != arg(2 + 2 * n)) return Status.INVALID_PARAMETER;
    for (let k = 0; k < n; k++) if (guidEq(guest(arg(1 + 2 * k), 16), guid)) return Status.INVALID_PARAMETER;
    for (let o = findOpen(hi, gi, 0); o >= 0; o = findOpen(hi, gi, o + 1)) {
      if (!(load<u32>(open(o), 24) & CASUAL)) return Status.INVALID_PARAMETER;
    }
  }
  for (let k = 0; k < n; k++) uninstall(h, guest(arg(1 + 2 * k), 16));
  return Status.SUCCESS;
}

// ------------------------------------------------------------------ lookup --

export function BS_HandleProtocol(h: u64, protocol: u64, ifaceOut: u64): u64 {
  const guid = guest(protocol, 16);
  const out = guest(ifaceOut, 8);
  if (handleIndex(h) < 0 || !guid || !out) return Status.INVALID_PARAMETER;
  // EDK2 records this as an open BY_HANDLE_PROTOCOL by its own image; we keep no record.
  const value = lookup(h, guid);
  if (value == NONE) {
    store<u64>(out, 0);
    return Status.UNSUPPORTED;
  }
  store<u64>(out, value);
  return Status.SUCCESS;
}

/** Registration slot of a live key, or -1; a registration whose event was closed is dropped. */
function registration(key: u64): i32 {
  if (key < regArena || key >= regArena + <u64>MAX_REGISTRATIONS * CELL || (key - regArena) % CELL) return -1;
  const k = <i32>((key - regArena) / CELL);
  return regLive(k) ? k : -1;
}

function regLive(k: i32): bool {
  if (!load<u32>(reg(k), 4)) return false;
  if (eventSerial(load<u64>(reg(k), 8)) == load<u64>(reg(k), 16)) return true;
  store<u32>(reg(k), 0, 4); // its event was closed (§7.1 CloseEvent ends the registration)
  return false;
}

/** The next interface row of registration k's protocol after its position, or -1. */
function nextForRegistration(k: i32): i32 {
  const gi = load<i32>(reg(k));
  const position = load<u64>(reg(k), 24);
  for (let r = 0; r < ifaceCount; r++) if (ifProto(r) == gi && ifSerial(r) > position) return r;
  return -1;
}

export function BS_RegisterProtocolNotify(protocol: u64, event: u64, regOut: u64): u64 {
  const guid = guest(protocol, 16);
  const out = guest(regOut, 8);
  if (!guid || !out || eventIndex(event) < 0) return Status.INVALID_PARAMETER;
  const gi = guidIndex(guid, true);
  if (gi < 0 || regArena == NONE) return Status.OUT_OF_RESOURCES;
  let k = -1;
  for (let n = 0; n < MAX_REGISTRATIONS; n++) {
    const c = (regCursor + n) % MAX_REGISTRATIONS;
    if (!regLive(c)) { k = c; break; }
  }
  if (k < 0) return Status.OUT_OF_RESOURCES;
  regCursor = (k + 1) % MAX_REGISTRATIONS;
  store<i32>(reg(k), gi);
  store<u32>(reg(k), 1, 4);
  store<u64>(reg(k), event, 8);
  store<u64>(reg(k), eventSerial(event), 16);
  // The position starts before the first interface: LocateHandle(ByRegisterNotify)
  // then returns the handles that already have the protocol too, one per call (EDK2).
  store<u64>(reg(k), 0, 24);
  store<u64>(out, regArena + <u64>k * CELL);
  return Status.SUCCESS;
}

export function BS_LocateProtocol(protocol: u64, registrationKey: u64, ifaceOut: u64): u64 {
  const guid = guest(protocol, 16);
  const out = guest(ifaceOut, 8);
  if (!guid || !out) return Status.INVALID_PARAMETER;
  store<u64>(out, 0); // §7.3: NULL when no instance is found
  if (registrationKey) {
    // The next interface new to this registration, which then moves on.
    const k = registration(registrationKey);
    if (k < 0) return Status.INVALID_PARAMETER;
    const r = nextForRegistration(k);
    if (r < 0) return Status.NOT_FOUND;
    store<u64>(reg(k), ifSerial(r), 24);
    store<u64>(out, ifValue(r));
    return Status.SUCCESS;
  }
  const gi = guidIndex(guid, false);
  for (let r = 0; r < ifaceCount; r++) {
    if (ifProto(r) != gi) continue;
    store<u64>(out, ifValue(r));
    return Status.SUCCESS;
  }
  return Status.NOT_FOUND;
}

/**
 * Handles matching a search, written up to `room` of them at out; their count. AllHandles
 * in creation order, ByProtocol in install order, ByRegisterNotify the one next handle.
 */
function matching(search: u32, gi: i32, k: i32, out: usize, room: u64): u64 {
  let n: u64 = 0;
  if (search == LocateSearchType.AllHandles) {
    for (let hi = 0; hi < handleTop; hi++) {
      if (!load<u8>(HANDLE_LIVE + hi)) continue;
      if (n < room) store<u64>(out + <usize>(n << 3), handleOf(hi));
      n++;
    }
  } else if (search == LocateSearchType.ByProtocol) {
    for (let r = 0; r < ifaceCount; r++) {
      if (ifProto(r) != gi) continue;
      if (n < room) store<u64>(out + <usize>(n << 3), handleOf(ifHandle(r)));
      n++;
    }
  } else {
    const r = nextForRegistration(k);
    if (r >= 0) {
      if (room) store<u64>(out, handleOf(ifHandle(r)));
      n = 1;
    }
  }
  return n;
}

/** A LocateHandle search's protocol (GUID table index, -2 for none) and registration, or a status. */
let searchGuid: i32 = 0;
let searchReg: i32 = 0;
function validSearch(search: u32, protocol: u64, key: u64): u64 {
  searchGuid = -2;
  searchReg = -1;
  if (search == LocateSearchType.AllHandles) return Status.SUCCESS;
  if (search == LocateSearchType.ByRegisterNotify) {
    searchReg = registration(key);
    return searchReg < 0 ? Status.INVALID_PARAMETER : Status.SUCCESS;
  }
  if (search != LocateSearchType.ByProtocol) return Status.INVALID_PARAMETER;
  const guid = guest(protocol, 16);
  if (!guid) return Status.INVALID_PARAMETER;
  searchGuid = guidIndex(guid, false);
  return searchGuid < 0 ? Status.NOT_FOUND : Status.SUCCESS;
}

export function BS_LocateHandle(search: u32, protocol: u64, searchKey: u64, sizePtr: u64, buffer: u64): u64 {
  const size = guest(sizePtr, 8);
  if (!size) return Status.INVALID_PARAMETER;
  const room = load<u64>(size) >> 3;
  const out = room ? guest(buffer, room << 3) : 0;
  if (load<u64>(size) && !out) return Status.INVALID_PARAMETER;
  const st = validSearch(search, protocol, searchKey);
  if (st != Status.SUCCESS) return st;
  const n = matching(search, searchGuid, searchReg, out, room);
  if (n == 0) return Status.NOT_FOUND;
  store<u64>(size, n << 3);
  if (n > room) return Status.BUFFER_TOO_SMALL;
  if (search == LocateSearchType.ByRegisterNotify) store<u64>(reg(searchReg), ifSerial(nextForRegistration(searchReg)), 24);
  return Status.SUCCESS;
}

export function BS_LocateHandleBuffer(search: u32, protocol: u64, searchKey: u64, countPtr: u64, bufferPtr: u64): u64 {
  const countOut = guest(countPtr, 8);
  const bufOut = guest(bufferPtr, 8);
  if (!countOut || !bufOut) return Status.INVALID_PARAMETER;
  store<u64>(countOut, 0);
  store<u64>(bufOut, 0);
  const st = validSearch(search, protocol, searchKey);
  if (st != Status.SUCCESS) return st == Status.INVALID_PARAMETER ? st : Status.NOT_FOUND;
  const n = matching(search, searchGuid, searchReg, 0, 0);
  if (n == 0) return Status.NOT_FOUND;
  const buf = allocPool(MemoryType.BootServicesData, n << 3);
  if (buf == NONE) return Status.OUT_OF_RESOURCES;
  matching(search, searchGuid, searchReg, gp(buf), n);
  if (search == LocateSearchType.ByRegisterNotify) store<u64>(reg(searchReg), ifSerial(nextForRegistration(searchReg)), 24);
  store<u64>(countOut, n);
  store<u64>(bufOut, buf);
  return Status.SUCCESS;
}

/** Bytes of the path that locateDevice matched. */
export let locatedBytes: u64 = 0;

/**
 * The handle carrying protocol guid (WASM address) whose device path is the longest
 * prefix of the first instance of dp (a valid guest path); 0 if none.
 */
export function locateDevice(guid: usize, dp: u64): u64 {
  const len = instanceSize(dp);
  const gi = guidIndex(guid, false);
  const dpi = guidIndex(Guid.DEVICE_PATH_PROTOCOL, false);
  let best: i32 = -1;
  let bestLen: u64 = 0;
  for (let r = 0; gi >= 0 && dpi >= 0 && r < ifaceCount; r++) {
    if (ifProto(r) != gi) continue;
    const hi = ifHandle(r);
    const d = findIface(hi, dpi);
    if (d < 0) continue;
    const hdp = ifValue(d);
    const size = pathSize(hdp);
    if (!size) continue;
    const hlen = size - 4; // without its end node
    if (hlen > len || (best >= 0 && hlen <= bestLen)) continue;
    if (hlen && memory.compare(guest(hdp, hlen), guest(dp, hlen), <usize>hlen) != 0) continue;
    best = hi;
    bestLen = hlen;
  }
  locatedBytes = bestLen;
  return best < 0 ? 0 : handleOf(best);
}

/** §7.3 LocateDevicePath: the handle with Protocol whose device path is the longest prefix. */
export function BS_LocateDevicePath(protocol: u64, devicePathPtr: u64, deviceOut: u64): u64 {
  const guid = guest(protocol, 16);
  const pp = guest(devicePathPtr, 8);
  const out = guest(deviceOut, 8);
  if (!guid || !pp || !out) return Status.INVALID_PARAMETER;
  const dp = load<u64>(pp);
  if (!pathSize(dp)) return Status.INVALID_PARAMETER;
  const h = locateDevice(guid, dp);
  if (!h) return Status.NOT_FOUND;
  store<u64>(out, h);
  store<u64>(pp, dp + locatedBytes);
  return Status.SUCCESS;
}

// ---------------------------------------------------------- open protocol --

export function BS_OpenProtocol(h: u64, protocol: u64, ifaceOut: u64, agent: u64, controller: u64, attributes: u32): u64 {
  const guid = guest(protocol, 16);
  if (!guid) return Status.INVALID_PARAMETER;
  const test = attributes == OpenProtocol.TEST_PROTOCOL;
  // TEST_PROTOCOL writes no interface, so it needs no place for one.
  const out: usize = test ? 0 : guest(ifaceOut, 8);
  if (!test && !out) return Status.INVALID_PARAMETER;
  const hi = handleIndex(h);
  if (hi < 0) return Status.INVALID_PARAMETER;
  // Which other handles each attribute requires (§7.3 OpenProtocol, EDK2 order of checks).
  const byDriver = OpenProtocol.BY_DRIVER;
  const exclusive = OpenProtocol.EXCLUSIVE;
  if (attributes == OpenProtocol.BY_CHILD_CONTROLLER) {
    if (handleIndex(agent) < 0 || handleIndex(controller) < 0 || h == controller) return Status.INVALID_PARAMETER;
  } else if (attributes == byDriver || attributes == (byDriver | exclusive)) {
    if (handleIndex(agent) < 0 || handleIndex(controller) < 0) return Status.INVALID_PARAMETER;
  } else if (attributes == exclusive) {
    if (handleIndex(agent) < 0) return Status.INVALID_PARAMETER;
  } else if (attributes != OpenProtocol.BY_HANDLE_PROTOCOL && attributes != OpenProtocol.GET_PROTOCOL && !test) {
    return Status.INVALID_PARAMETER;
  }
  const gi = guidIndex(guid, false);
  const r = gi < 0 ? -1 : findIface(hi, gi);
  if (r < 0) {
    if (!test) store<u64>(out, 0);
    return Status.UNSUPPORTED;
  }
  let st = openChecked(hi, gi, agent, controller, attributes);
  if (!test && (st == Status.SUCCESS || st == Status.ALREADY_STARTED)) store<u64>(out, ifValue(r));
  return st;
}

/** The attribute rules once handle and protocol are known; adds or counts the open record. */
function openChecked(hi: i32, gi: i32, agent: u64, controller: u64, attributes: u32): u64 {
  let byDriver = false;
  let exclusive = false;
  for (let o = findOpen(hi, gi, 0); o >= 0; o = findOpen(hi, gi, o + 1)) {
    const a = load<u32>(open(o), 24);
    const exact = load<u64>(open(o), 8) == agent && a == attributes && load<u64>(open(o), 16) == controller;
    if (a & OpenProtocol.BY_DRIVER) {
      byDriver = true;
      if (exact) return Status.ALREADY_STARTED;
    }
    if (a & OpenProtocol.EXCLUSIVE) {
      exclusive = true;
    } else if (exact) {
      store<u32>(open(o), load<u32>(open(o), 28) + 1, 28);
      return Status.SUCCESS;
    }
  }
  if (attributes & (OpenProtocol.BY_DRIVER | OpenProtocol.EXCLUSIVE)) {
    // BY_DRIVER is refused while anyone drives or holds it exclusively. EXCLUSIVE would
    // first stop the drivers that hold it BY_DRIVER, through their driver binding; none
    // runs here, so that is refused too (EDK2: DisconnectController fails → ACCESS_DENIED).
    if (exclusive || byDriver) return Status.ACCESS_DENIED;
  }
  if (!agent) return Status.SUCCESS; // casual opens by no one leave no record
  if (openCount == MAX_OPENS) return Status.OUT_OF_RESOURCES;
  const p = open(openCount++);
  store<i32>(p, hi);
  store<i32>(p, gi, 4);
  store<u64>(p, agent, 8);
  store<u64>(p, controller, 16);
  store<u32>(p, attributes, 24);
  store<u32>(p, 1, 28);
  return Status.SUCCESS;
}

export function BS_CloseProtocol(h: u64, protocol: u64, agent: u64, controller: u64): u64 {
  const hi = handleIndex(h);
  if (hi < 0 || handleIndex(agent) < 0 || (controller && handleIndex(controller) < 0)) return Status.INVALID_PARAMETER;
  const guid = guest(protocol, 16);
  if (!guid) return Status.INVALID_PARAMETER;
  const gi = guidIndex(guid, false);
  if (gi < 0 || findIface(hi, gi) < 0) return Status.NOT_FOUND;
  // Every record of this agent and controller goes, whatever its attributes and count.
  let st = Status.NOT_FOUND;
  for (let o = findOpen(hi, gi, 0); o >= 0;) {
    if (load<u64>(open(o), 8) == agent && load<u64>(open(o), 16) == controller) {
      removeOpen(o);
      st = Status.SUCCESS;
      o = findOpen(hi, gi, o);
    } else {
      o = findOpen(hi, gi, o + 1);
    }
  }
  return st;
}

export function BS_OpenProtocolInformation(h: u64, protocol: u64, entriesOut: u64, countOut: u64): u64 {
  const bufOut = guest(entriesOut, 8);
  const cntOut = guest(countOut, 8);
  if (!bufOut || !cntOut) return Status.INVALID_PARAMETER;
  store<u64>(bufOut, 0);
  store<u64>(cntOut, 0);
  const hi = handleIndex(h);
  const guid = guest(protocol, 16);
  const gi = guid ? guidIndex(guid, false) : -1;
  if (hi < 0 || gi < 0 || findIface(hi, gi) < 0) return Status.NOT_FOUND;
  let n: u64 = 0;
  for (let o = findOpen(hi, gi, 0); o >= 0; o = findOpen(hi, gi, o + 1)) n++;
  // An empty list still gets a buffer (EDK2 allocates one entry's worth).
  const buf = allocPool(MemoryType.BootServicesData, max<u64>(n, 1) * OPEN_PROTOCOL_INFORMATION_ENTRY.SIZE);
  if (buf == NONE) return Status.OUT_OF_RESOURCES;
  let e = gp(buf);
  for (let o = findOpen(hi, gi, 0); o >= 0; o = findOpen(hi, gi, o + 1)) {
    store<u64>(e + OPEN_PROTOCOL_INFORMATION_ENTRY.AgentHandle, load<u64>(open(o), 8));
    store<u64>(e + OPEN_PROTOCOL_INFORMATION_ENTRY.ControllerHandle, load<u64>(open(o), 16));
    store<u32>(e + OPEN_PROTOCOL_INFORMATION_ENTRY.Attributes, load<u32>(open(o), 24));
    store<u32>(e + OPEN_PROTOCOL_INFORMATION_ENTRY.OpenCount, load<u32>(open(o), 28));
    e += OPEN_PROTOCOL_INFORMATION_ENTRY.SIZE;
  }
  store<u64>(bufOut, buf);
  store<u64>(cntOut, n);
  return Status.SUCCESS;
}

export function BS_ProtocolsPerHandle(h: u64, bufferOut: u64, countOut: u64): u64 {
  const hi = handleIndex(h);
  const bufOut = guest(bufferOut, 8);
  const cntOut = guest(countOut, 8);
  if (hi < 0 || !bufOut || !cntOut) return Status.INVALID_PARAMETER;
  let n: u64 = 0;
  for (let r = 0; r < ifaceCount; r++) if (ifHandle(r) == hi) n++;
  const buf = allocPool(MemoryType.BootServicesData, n << 3);
  if (buf == NONE) return Status.OUT_OF_RESOURCES;
  // Newest first, as EDK2 keeps a handle's list.
  let e = gp(buf);
  for (let r = ifaceCount - 1; r >= 0; r--) {
    if (ifHandle(r) != hi) continue;
    const gi = ifProto(r);
    memory.copy(gp(publishedGuid(gi)), guidAt(gi), 16);
    store<u64>(e, publishedGuid(gi));
    e += 8;
  }
  store<u64>(bufOut, buf);
  store<u64>(cntOut, n);
  return Status.SUCCESS;
}

// -------------------------------------------------------------- drivers --
//
// No driver runs in this firmware: ConnectController finds none to connect, and
// stopping a driver that holds a controller BY_DRIVER would take its driver binding's
// Stop, which is not called. A guest that installs EFI_DRIVER_BINDING_PROTOCOL and asks
// for connection gets UNSUPPORTED rather than a pretence.

function anyDriverBinding(): bool {
  const gi = guidIndex(Guid.DRIVER_BINDING_PROTOCOL, false);
  if (gi < 0) return false;
  for (let r = 0; r < ifaceCount; r++) if (ifProto(r) == gi) return true;
  return false;
}

export function BS_ConnectController(controller: u64, driverImageHandles: u64, remainingPath: u64, recursive: u8): u64 {
  if (handleIndex(controller) < 0) return Status.INVALID_PARAMETER;
  if (anyDriverBinding()) return Status.UNSUPPORTED;
  // §7.3: with no driver connected, SUCCESS when RemainingDevicePath is an end node
  // (nothing was asked for), NOT_FOUND otherwise.
  return pathSize(remainingPath) == 4 ? Status.SUCCESS : Status.NOT_FOUND;
}

export function BS_DisconnectController(controller: u64, driverImage: u64, child: u64): u64 {
  const hi = handleIndex(controller);
  if (hi < 0 || (child && handleIndex(child) < 0)) return Status.INVALID_PARAMETER;
  let agent = driverImage;
  if (!agent) {
    // The drivers managing the controller are those holding one of its protocols BY_DRIVER.
    for (let o = 0; o < openCount; o++) {
      if (load<i32>(open(o)) == hi && load<u32>(open(o), 24) & OpenProtocol.BY_DRIVER) { agent = load<u64>(open(o), 8); break; }
    }
    if (!agent) return Status.SUCCESS;
  }
  // A driver is stopped through its binding: with none it is not a driver (EDK2's status).
  return lookup(agent, Guid.DRIVER_BINDING_PROTOCOL) == NONE ? Status.INVALID_PARAMETER : Status.UNSUPPORTED;
}
