// Variable services (UEFI 2.10 §8.2) on a store in private memory, which the host can
// load from and save to a file (--vars). Only non-volatile variables survive a load.
//
//   store: header (16 bytes) then records, each 8-byte aligned
//   ┌──────────────────┬───────────┬───────────┐
//   │ magic "UCVARS01" │ used u32  │ count u32 │   used counts header + records
//   └──────────────────┴───────────┴───────────┘
//   record: attrs u32 | nameBytes u32 (with NUL) | dataBytes u32 | 0 u32 | guid[16] | name | data
import { guest, reserve, guidEq, ucs2Len } from "../mem";
import { bootServicesExited } from "./image";
import { Status, Guid } from "../spec/gen";

export const STORE_SIZE: u32 = 64 << 10;
export const STORE: usize = reserve(STORE_SIZE);
const MAGIC: u64 = 0x313053524156_4355; // "UCVARS01" little-endian
const HEADER: u32 = 16;
const REC: u32 = 32; // fixed part of a record

// §8.2 attributes
export const NON_VOLATILE: u32 = 0x1;
export const BOOTSERVICE_ACCESS: u32 = 0x2;
export const RUNTIME_ACCESS: u32 = 0x4;
const HARDWARE_ERROR_RECORD: u32 = 0x8;
const AUTHENTICATED_WRITE_ACCESS: u32 = 0x10;
const TIME_BASED_AUTHENTICATED_WRITE_ACCESS: u32 = 0x20;
const APPEND_WRITE: u32 = 0x40;
const KNOWN: u32 = 0x7f;

/** Largest name + data one variable may hold. */
const MAX_VARIABLE: u32 = 32 << 10;
// Changes with every change of a non-volatile variable: the host saves when it moves.
export let nvGeneration: u32 = 0;

@inline function used(): u32 { return load<u32>(STORE, 8); }
@inline function count(): u32 { return load<u32>(STORE, 12); }
@inline function recSize(r: usize): u32 { return (REC + load<u32>(r, 4) + load<u32>(r, 8) + 7) & ~7; }

export function varsInit(): void {
  store<u64>(STORE, MAGIC);
  store<u32>(STORE, HEADER, 8);
  store<u32>(STORE, 0, 12);
}

/**
 * Check a store the host copied in (`bytes` long) record by record and drop volatile
 * variables. Returns 0, or the byte offset of the first inconsistency + 1.
 */
export function varsLoad(bytes: u32): u32 {
  if (bytes < HEADER || bytes > STORE_SIZE || load<u64>(STORE) != MAGIC) return 1;
  if (used() != bytes) return 9;
  let r: u32 = HEADER;
  for (let i: u32 = 0; i < count(); i++) {
    if (r + REC > bytes) return r + 1;
    const p = STORE + r;
    const nameBytes = load<u32>(p, 4);
    if (load<u32>(p) & ~KNOWN || nameBytes < 4 || nameBytes & 1 || load<u16>(p + REC + nameBytes - 2) != 0) return r + 1;
    if (r + recSize(p) > bytes || load<u32>(p, 4) + load<u32>(p, 8) > MAX_VARIABLE) return r + 1;
    r += recSize(p);
  }
  if (r != bytes) return r + 1;
  // Volatile variables do not outlive the run that set them.
  r = HEADER;
  while (r < used()) {
    if (load<u32>(STORE + r) & NON_VOLATILE) r += recSize(STORE + r);
    else remove(STORE + r);
  }
  return 0;
}

function remove(r: usize): void {
  const size = recSize(r);
  const end = STORE + used();
  memory.copy(r, r + size, end - r - size);
  memory.fill(end - size, 0, size);
  store<u32>(STORE, used() - size, 8);
  store<u32>(STORE, count() - 1, 12);
}

/** Record of (name, guid) — name is a WASM address of `nameBytes` bytes with NUL — or 0. */
function find(name: usize, nameBytes: u32, guid: usize): usize {
  for (let r = STORE + HEADER; r < STORE + used(); r += recSize(r)) {
    if (load<u32>(r, 4) == nameBytes && guidEq(r + 16, guid) && memory.compare(r + REC, name, nameBytes) == 0) return r;
  }
  return 0;
}

/** After ExitBootServices only runtime-access variables are visible (§8.2). */
function visible(r: usize): bool {
  return !bootServicesExited || (load<u32>(r) & RUNTIME_ACCESS) != 0;
}

/** Bytes of the guest's NUL-terminated name including the NUL, or 0 if it is not one. */
function nameLength(p: u64): u32 {
  const n = ucs2Len(p, MAX_VARIABLE);
  return n < 0 ? 0 : <u32>n + 2;
}

export function RT_GetVariable(namePtr: u64, guidPtr: u64, attrsPtr: u64, sizePtr: u64, data: u64): u64 {
  const nameBytes = nameLength(namePtr);
  const guid = guest(guidPtr, 16);
  const size = guest(sizePtr, 8);
  if (!nameBytes || !guid || !size) return Status.INVALID_PARAMETER;
  const r = find(guest(namePtr, nameBytes), nameBytes, guid);
  if (!r || !visible(r)) return Status.NOT_FOUND;
  const dataBytes = load<u32>(r, 8);
  if (load<u64>(size) < <u64>dataBytes) {
    store<u64>(size, dataBytes);
    return Status.BUFFER_TOO_SMALL;
  }
  const out = guest(data, dataBytes);
  if (!out && dataBytes) return Status.INVALID_PARAMETER;
  memory.copy(out, r + REC + load<u32>(r, 4), dataBytes);
  store<u64>(size, dataBytes);
  const attrs = guest(attrsPtr, 4);
  if (attrs) store<u32>(attrs, load<u32>(r));
  return Status.SUCCESS;
}

export function RT_GetNextVariableName(sizePtr: u64, namePtr: u64, guidPtr: u64): u64 {
  const size = guest(sizePtr, 8);
  const guid = guest(guidPtr, 16);
  if (!size || !guid) return Status.INVALID_PARAMETER;
  const room = load<u64>(size);
  // §8.2: the name must be NUL-terminated within the buffer the caller describes.
  const len = ucs2Len(namePtr, room);
  if (len < 0) return Status.INVALID_PARAMETER;
  let r = STORE + HEADER;
  if (len > 0) {
    const cur = find(guest(namePtr, <u64>len + 2), <u32>len + 2, guid);
    if (!cur || !visible(cur)) return Status.INVALID_PARAMETER;
    r = cur + recSize(cur);
  }
  while (r < STORE + used() && !visible(r)) r += recSize(r);
  if (r >= STORE + used()) return Status.NOT_FOUND;
  const nameBytes = load<u32>(r, 4);
  if (room < <u64>nameBytes) {
    store<u64>(size, nameBytes);
    return Status.BUFFER_TOO_SMALL;
  }
  const out = guest(namePtr, nameBytes);
  if (!out) return Status.INVALID_PARAMETER;
  memory.copy(out, r + REC, nameBytes);
  memory.copy(guid, r + 16, 16);
  store<u64>(size, nameBytes);
  return Status.SUCCESS;
}

/** EFI_GLOBAL_VARIABLE names the platform owns; the OS may only read them (§3.3). */
function readOnly(name: usize, nameBytes: u32, guid: usize): bool {
  if (!guidEq(guid, Guid.GLOBAL_VARIABLE)) return false;
  return isName(name, nameBytes, "SecureBoot") || isName(name, nameBytes, "SetupMode") ||
    isName(name, nameBytes, "AuditMode") || isName(name, nameBytes, "DeployedMode") ||
    isName(name, nameBytes, "VendorKeys") || isName(name, nameBytes, "OsIndicationsSupported") ||
    isName(name, nameBytes, "BootCurrent") || isName(name, nameBytes, "PlatformLangCodes") || isName(name, nameBytes, "LangCodes");
}

function isName(name: usize, nameBytes: u32, s: string): bool {
  const n = <u32>String.UTF16.byteLength(s);
  return nameBytes == n + 2 && memory.compare(name, changetype<usize>(s), n) == 0;
}

export function RT_SetVariable(namePtr: u64, guidPtr: u64, attrs: u32, dataSize: u64, data: u64): u64 {
  const nameBytes = nameLength(namePtr);
  const guid = guest(guidPtr, 16);
  if (nameBytes < 4 || !guid || attrs & ~KNOWN) return Status.INVALID_PARAMETER;
  if (attrs & (AUTHENTICATED_WRITE_ACCESS | TIME_BASED_AUTHENTICATED_WRITE_ACCESS | HARDWARE_ERROR_RECORD)) return Status.UNSUPPORTED;
  if ((attrs & RUNTIME_ACCESS) && !(attrs & BOOTSERVICE_ACCESS)) return Status.INVALID_PARAMETER;
  const name = guest(namePtr, nameBytes);
  if (readOnly(name, nameBytes, guid)) return Status.WRITE_PROTECTED;
  // After ExitBootServices only runtime, non-volatile variables can be written.
  if (bootServicesExited && attrs != 0 && (attrs & (RUNTIME_ACCESS | NON_VOLATILE)) != (RUNTIME_ACCESS | NON_VOLATILE)) {
    return Status.INVALID_PARAMETER;
  }
  const src = dataSize ? guest(data, dataSize) : 1;
  if (!src) return Status.INVALID_PARAMETER;
  const r = find(name, nameBytes, guid);
  if (r && !visible(r)) return Status.INVALID_PARAMETER;
  const append = (attrs & APPEND_WRITE) != 0;
  const kind = attrs & ~APPEND_WRITE;
  if (kind == 0 || (dataSize == 0 && !append)) {
    if (!r) return Status.NOT_FOUND;
    if (load<u32>(r) & NON_VOLATILE) nvGeneration++;
    remove(r);
    return Status.SUCCESS;
  }
  if (r && load<u32>(r) != kind) return Status.INVALID_PARAMETER;
  if (append && dataSize == 0) return Status.SUCCESS;
  const keep: u32 = r && append ? load<u32>(r, 8) : 0;
  if (<u64>nameBytes + <u64>keep + dataSize > <u64>MAX_VARIABLE) return Status.OUT_OF_RESOURCES;
  return replace(r, name, nameBytes, guid, kind, keep, src, <u32>dataSize);
}

/** Write the record (name, guid): `keep` bytes of the old record r's data, then src's. */
function replace(r: usize, name: usize, nameBytes: u32, guid: usize, kind: u32, keep: u32, src: usize, dataSize: u32): u64 {
  const total = dataSize + keep;
  const newSize = (REC + nameBytes + total + 7) & ~7;
  const freed: u32 = r ? recSize(r) : 0;
  if (used() - freed + newSize > STORE_SIZE) return Status.OUT_OF_RESOURCES;
  // Build the new record at the end, then drop the old one.
  const at = STORE + used();
  store<u32>(at, kind);
  store<u32>(at, nameBytes, 4);
  store<u32>(at, total, 8);
  store<u32>(at, 0, 12);
  memory.copy(at + 16, guid, 16);
  memory.copy(at + REC, name, nameBytes);
  if (keep) memory.copy(at + REC + nameBytes, r + REC + nameBytes, keep);
  memory.copy(at + REC + nameBytes + keep, src, <usize>dataSize);
  store<u32>(STORE, used() + newSize, 8);
  store<u32>(STORE, count() + 1, 12);
  if (r) remove(r);
  if (kind & NON_VOLATILE) nvGeneration++;
  return Status.SUCCESS;
}

// The firmware's own access (the boot manager): names are firmware strings.
const OWN_NAME: usize = reserve(64);

function ownName(name: string): u32 {
  const n = <u32>String.UTF16.byteLength(name);
  memory.copy(OWN_NAME, changetype<usize>(name), n);
  store<u16>(OWN_NAME + n, 0);
  return n + 2;
}

/** Bytes of the data varData last found. */
export let varBytes: u32 = 0;

/** WASM address of the data of variable (name, guid), or 0 when there is none. */
export function varData(name: string, guid: usize): usize {
  return dataOf(find(OWN_NAME, ownName(name), guid));
}

/** varData of load option Boot#### (§3.1.3: four upper-case hex digits), built without allocating. */
export function bootOptionData(n: u32): usize {
  const hex = "0123456789ABCDEF";
  ownName("Boot");
  for (let i: u32 = 0; i < 4; i++) store<u16>(OWN_NAME + 8 + (<usize>i << 1), <u16>hex.charCodeAt(<i32>((n >> ((3 - i) << 2)) & 0xf)));
  store<u16>(OWN_NAME + 16, 0);
  return dataOf(find(OWN_NAME, 18, Guid.GLOBAL_VARIABLE));
}

function dataOf(r: usize): usize {
  if (!r) return 0;
  varBytes = load<u32>(r, 8);
  return r + REC + load<u32>(r, 4);
}

/** Set (or, with 0 bytes, delete) variable (name, guid) as the firmware: no access checks. */
export function setVar(name: string, guid: usize, attrs: u32, src: usize, bytes: u32): u64 {
  const nameBytes = ownName(name);
  const r = find(OWN_NAME, nameBytes, guid);
  if (!bytes) {
    if (r) {
      if (load<u32>(r) & NON_VOLATILE) nvGeneration++;
      remove(r);
    }
    return Status.SUCCESS;
  }
  return replace(r, OWN_NAME, nameBytes, guid, attrs, 0, src, bytes);
}

export function RT_QueryVariableInfo(attrs: u32, maxStorage: u64, remaining: u64, maxSize: u64): u64 {
  const a = guest(maxStorage, 8);
  const b = guest(remaining, 8);
  const c = guest(maxSize, 8);
  if (!a || !b || !c || attrs == 0 || attrs & ~KNOWN) return Status.INVALID_PARAMETER;
  if (attrs & (AUTHENTICATED_WRITE_ACCESS | TIME_BASED_AUTHENTICATED_WRITE_ACCESS | HARDWARE_ERROR_RECORD)) return Status.UNSUPPORTED;
  if ((attrs & RUNTIME_ACCESS) && !(attrs & BOOTSERVICE_ACCESS)) return Status.INVALID_PARAMETER;
  store<u64>(a, STORE_SIZE - HEADER);
  store<u64>(b, STORE_SIZE - used());
  store<u64>(c, MAX_VARIABLE);
  return Status.SUCCESS;
}

const DEFAULT_DATA: usize = reserve(16);

/** Set (name, guid) to `bytes` bytes of an ASCII string (firmware static), the NUL included. */
function setAscii(name: string, attrs: u32, text: string): void {
  const n = text.length;
  for (let i = 0; i < n; i++) store<u8>(DEFAULT_DATA + <usize>i, <u8>text.charCodeAt(i));
  store<u8>(DEFAULT_DATA + <usize>n, 0);
  setVar(name, Guid.GLOBAL_VARIABLE, attrs, DEFAULT_DATA, <u32>n + 1);
}

/**
 * §3.3 globally defined variables a boot manager keeps, after the host has loaded the
 * store: the read-only ones every run (no OsIndications bit is supported: there is no
 * firmware UI, no capsule on disk), the settings only where the store has none.
 */
export function varsDefaults(): void {
  const BSRT = BOOTSERVICE_ACCESS | RUNTIME_ACCESS;
  store<u64>(DEFAULT_DATA, 0);
  setVar("OsIndicationsSupported", Guid.GLOBAL_VARIABLE, BSRT, DEFAULT_DATA, 8);
  setAscii("PlatformLangCodes", BSRT, "en-US");
  setAscii("LangCodes", BSRT, "eng");
  if (!varData("PlatformLang", Guid.GLOBAL_VARIABLE)) setAscii("PlatformLang", NON_VOLATILE | BSRT, "en-US");
  if (!varData("Lang", Guid.GLOBAL_VARIABLE)) setAscii("Lang", NON_VOLATILE | BSRT, "eng");
  if (!varData("Timeout", Guid.GLOBAL_VARIABLE)) {
    store<u16>(DEFAULT_DATA, 0); // seconds before the default option boots
    setVar("Timeout", Guid.GLOBAL_VARIABLE, NON_VOLATILE | BSRT, DEFAULT_DATA, 2);
  }
}
