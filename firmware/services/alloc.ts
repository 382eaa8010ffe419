// Page allocator, pool and memory map (UEFI 2.10 §7.2).
//
// The map lives in private memory as a sorted array of ranges that covers all of guest
// RAM without gaps, one entry per run of equal type and flags:
//
//   entry (32 bytes)
//   ┌────────────┬────────────┬──────────────┬──────────────┬──────────┐
//   │ type  u32  │ flags  u32 │ start  u64   │ pages  u64   │ (unused) │
//   └────────────┴────────────┴──────────────┴──────────────┴──────────┘
//   0            4            8              16             24         32
//
// Pool allocations are whole pages, recorded privately, so a guest that scribbles
// over its buffer cannot make FreePool free the wrong range.
import { guest, gp, ramBytes, reserve } from "../mem";
import { signalGroup } from "./events";
import { MEMORY_DESCRIPTOR, MEMORY_DESCRIPTOR_STRIDE, MEMORY_DESCRIPTOR_VERSION, MemoryAttribute, MemoryType, AllocateType, Status, Guid } from "../spec/gen";

export const PAGE: u64 = 4096;
export const NONE: u64 = u64.MAX_VALUE;

/** The firmware's own ranges: the guest cannot free them. */
export const FLAG_FIRMWARE: u32 = 1;
/** Pool pages: freed through FreePool only. */
export const FLAG_POOL: u32 = 2;

const MAX_ENTRIES: i32 = 1024;
const MAP: usize = reserve(MAX_ENTRIES << 5);
let count: i32 = 0;

/** Changes with every change of the map (GetMemoryMap / ExitBootServices). */
export let mapKey: u64 = 1;

@inline function at(i: i32): usize { return MAP + (<usize>i << 5); }
@inline function eType(i: i32): u32 { return load<u32>(at(i)); }
@inline function eFlags(i: i32): u32 { return load<u32>(at(i), 4); }
@inline function eStart(i: i32): u64 { return load<u64>(at(i), 8); }
@inline function ePages(i: i32): u64 { return load<u64>(at(i), 16); }
@inline function eEnd(i: i32): u64 { return eStart(i) + ePages(i) * PAGE; }

function put(i: i32, type: u32, flags: u32, start: u64, pages: u64): void {
  store<u32>(at(i), type);
  store<u32>(at(i), flags, 4);
  store<u64>(at(i), start, 8);
  store<u64>(at(i), pages, 16);
}

/** Whole RAM conventional, then the legacy holes of a PC reserved. */
export function mapInit(): void {
  count = 1;
  put(0, MemoryType.ConventionalMemory, 0, 0, ramBytes / PAGE);
  // Page 0 stays unallocated so that no allocation is ever NULL.
  retype(0, 1, MemoryType.ReservedMemoryType, FLAG_FIRMWARE);
  // 640 KiB - 1 MiB: VGA and option-ROM hole on PCs; kernels expect it not to be RAM.
  retype(0xa0000, 0x60, MemoryType.ReservedMemoryType, FLAG_FIRMWARE);
}

/** Split the entry containing addr so that an entry starts at addr. */
function split(addr: u64): void {
  for (let i = 0; i < count; i++) {
    const s = eStart(i);
    if (addr > s && addr < eEnd(i)) {
      memory.copy(at(i + 1), at(i), <usize>(count - i) << 5);
      count++;
      const before = (addr - s) / PAGE;
      store<u64>(at(i), before, 16);
      store<u64>(at(i + 1), addr, 8);
      store<u64>(at(i + 1), ePages(i + 1) - before, 16);
      return;
    }
  }
}

function coalesce(): void {
  let w = 0;
  for (let r = 1; r < count; r++) {
    if (eType(r) == eType(w) && eFlags(r) == eFlags(w) && eStart(r) == eEnd(w)) {
      store<u64>(at(w), ePages(w) + ePages(r), 16);
    } else {
      w++;
      if (w != r) memory.copy(at(w), at(r), 32);
    }
  }
  count = w + 1;
}

/** Give [start, start + pages) a type and flags. False when the table is full. */
export function retype(start: u64, pages: u64, type: u32, flags: u32): bool {
  if (count + 2 > MAX_ENTRIES) return false;
  const end = start + pages * PAGE;
  split(start);
  split(end);
  for (let i = 0; i < count; i++) {
    if (eStart(i) >= start && eEnd(i) <= end) {
      store<u32>(at(i), type);
      store<u32>(at(i), flags, 4);
    }
  }
  coalesce();
  mapKey++;
  // §7.1: EFI_EVENT_GROUP_MEMORY_MAP_CHANGE is signalled whenever the map changes (its
  // notify functions run when the service that changed it returns).
  signalGroup(Guid.EVENT_GROUP_MEMORY_MAP_CHANGE);
  return true;
}

/** Claim [start, start + pages) if all of it is free RAM; false otherwise. */
export function claim(start: u64, pages: u64, type: u32, flags: u32): bool {
  return rangeIs(start, pages, MemoryType.ConventionalMemory, 0) && retype(start, pages, type, flags);
}

/** True when every page of the range is in RAM and has the given type and flags. */
function rangeIs(start: u64, pages: u64, type: u32, flags: u32): bool {
  const end = start + pages * PAGE;
  if (pages == 0 || end > ramBytes || end < start) return false;
  for (let i = 0; i < count; i++) {
    if (eEnd(i) <= start || eStart(i) >= end) continue;
    if (eType(i) != type || eFlags(i) != flags) return false;
  }
  return true;
}

/** Pages the guest may free: allocated by a guest, neither firmware-owned nor pool. */
function rangeFreeable(start: u64, pages: u64): bool {
  const end = start + pages * PAGE;
  if (pages == 0 || end > ramBytes || end < start) return false;
  for (let i = 0; i < count; i++) {
    if (eEnd(i) <= start || eStart(i) >= end) continue;
    if (eType(i) == MemoryType.ConventionalMemory || eFlags(i) != 0) return false;
  }
  return true;
}

/** Highest free run of `pages` ending at or below `limit`, aligned, EDK2-style top-down. */
function findFree(pages: u64, limit: u64, align: u64 = PAGE): u64 {
  const bytes = pages * PAGE;
  for (let i = count - 1; i >= 0; i--) {
    if (eType(i) != MemoryType.ConventionalMemory) continue;
    const top = min(eEnd(i), limit & ~(PAGE - 1));
    if (top < eStart(i) + bytes) continue;
    const start = (top - bytes) & ~(align - 1);
    if (start >= eStart(i)) return start;
  }
  return NONE;
}

/** Pages for an image: aligned to its SectionAlignment (a power of two). */
export function allocAligned(type: u32, pages: u64, align: u64): u64 {
  const addr = findFree(pages, 1 << 32, align);
  if (addr == NONE || !retype(addr, pages, type, 0)) return NONE;
  return addr;
}

/**
 * The firmware's own page allocation (top-down, below 4 GiB), zeroed unless the caller
 * overwrites all of it (zeroing a kernel-sized buffer first would touch every page twice).
 */
export function allocPages(type: u32, pages: u64, flags: u32, zero: bool = true): u64 {
  const addr = findFree(pages, 1 << 32);
  if (addr == NONE || !retype(addr, pages, type, flags)) return NONE;
  if (zero) memory.fill(gp(addr), 0, <usize>(pages * PAGE));
  return addr;
}

/** §7.2: allocation types the caller may ask for. */
export function validAllocType(t: u32): bool {
  if (t >= 0x70000000) return true; // OEM and OS-loader ranges
  return t < MemoryType.MaxMemoryType && t != MemoryType.ConventionalMemory &&
    t != MemoryType.PersistentMemory && t != MemoryType.UnacceptedMemoryType;
}

export function BS_AllocatePages(type: u32, memType: u32, pages: u64, memoryOut: u64): u64 {
  const out = guest(memoryOut, 8);
  if (type > AllocateType.AllocateAddress || !validAllocType(memType) || !out) return Status.INVALID_PARAMETER;
  if (pages == 0 || pages > ramBytes / PAGE) return type == AllocateType.AllocateAddress ? Status.NOT_FOUND : Status.OUT_OF_RESOURCES;
  let addr: u64;
  if (type == AllocateType.AllocateAddress) {
    addr = load<u64>(out);
    // §7.2 names no status for an unaligned Address; EDK2 answers NOT_FOUND.
    if (addr & (PAGE - 1)) return Status.NOT_FOUND;
    if (!rangeIs(addr, pages, MemoryType.ConventionalMemory, 0)) return Status.NOT_FOUND;
  } else {
    const limit: u64 = type == AllocateType.AllocateMaxAddress ? load<u64>(out) + 1 : (<u64>1 << 32);
    // MaxAddress is inclusive; +1 wraps for u64.MAX, meaning "no limit".
    addr = findFree(pages, limit == 0 ? NONE : limit);
    if (addr == NONE) return Status.OUT_OF_RESOURCES;
  }
  if (!retype(addr, pages, memType, 0)) return Status.OUT_OF_RESOURCES;
  store<u64>(out, addr);
  return Status.SUCCESS;
}

export function BS_FreePages(addr: u64, pages: u64): u64 {
  if (addr & (PAGE - 1)) return Status.INVALID_PARAMETER;
  if (!rangeFreeable(addr, pages)) return Status.NOT_FOUND;
  // The map can be full of fragments: then the pages stay allocated, and say so.
  return retype(addr, pages, MemoryType.ConventionalMemory, 0) ? Status.SUCCESS : Status.OUT_OF_RESOURCES;
}

function attributes(type: u32): u64 {
  const caching = MemoryAttribute.UC | MemoryAttribute.WC | MemoryAttribute.WT | MemoryAttribute.WB;
  const runtime = type == MemoryType.RuntimeServicesCode || type == MemoryType.RuntimeServicesData;
  return runtime ? caching | MemoryAttribute.RUNTIME : caching;
}

/** Descriptors as the guest sees them: adjacent entries of one type merged, flags hidden. */
function visibleCount(): u64 {
  let n: u64 = 0;
  for (let i = 0; i < count; i++) if (i == 0 || eType(i) != eType(i - 1)) n++;
  return n;
}

export function BS_GetMemoryMap(sizePtr: u64, mapPtr: u64, keyPtr: u64, descSizePtr: u64, versionPtr: u64): u64 {
  const size = guest(sizePtr, 8);
  if (!size) return Status.INVALID_PARAMETER;
  const descSize = guest(descSizePtr, 8);
  const version = guest(versionPtr, 4);
  // EDK2 reports the descriptor size even when the buffer is too small; Linux relies on it.
  if (descSize) store<u64>(descSize, MEMORY_DESCRIPTOR_STRIDE);
  if (version) store<u32>(version, MEMORY_DESCRIPTOR_VERSION);
  const needed = visibleCount() * MEMORY_DESCRIPTOR_STRIDE;
  if (load<u64>(size) < needed) {
    store<u64>(size, needed);
    return Status.BUFFER_TOO_SMALL;
  }
  const out = guest(mapPtr, needed);
  const key = guest(keyPtr, 8);
  if (!out || !key || !descSize || !version) return Status.INVALID_PARAMETER;
  memory.fill(out, 0, <usize>needed);
  let d = out - MEMORY_DESCRIPTOR_STRIDE;
  for (let i = 0; i < count; i++) {
    if (i > 0 && eType(i) == eType(i - 1)) {
      store<u64>(d + MEMORY_DESCRIPTOR.NumberOfPages, load<u64>(d + MEMORY_DESCRIPTOR.NumberOfPages) + ePages(i));
      continue;
    }
    d += MEMORY_DESCRIPTOR_STRIDE;
    store<u32>(d + MEMORY_DESCRIPTOR.Type, eType(i));
    store<u64>(d + MEMORY_DESCRIPTOR.PhysicalStart, eStart(i));
    store<u64>(d + MEMORY_DESCRIPTOR.NumberOfPages, ePages(i));
    store<u64>(d + MEMORY_DESCRIPTOR.Attribute, attributes(eType(i)));
  }
  store<u64>(size, needed);
  store<u64>(key, mapKey);
  return Status.SUCCESS;
}

// Pool: (address, pages) of each live allocation.
const MAX_POOL: i32 = 4096;
const POOL: usize = reserve(MAX_POOL << 4);
let poolCount: i32 = 0;

/** A pool allocation of `size` bytes, zeroed; NONE when out of memory or records. */
export function allocPool(type: u32, size: u64): u64 {
  if (size > ramBytes || poolCount == MAX_POOL) return NONE;
  const pages = max<u64>(1, (size + PAGE - 1) / PAGE);
  const addr = findFree(pages, 1 << 32);
  if (addr == NONE || !retype(addr, pages, type, FLAG_POOL)) return NONE;
  store<u64>(POOL + (<usize>poolCount << 4), addr);
  store<u64>(POOL + (<usize>poolCount << 4), pages, 8);
  poolCount++;
  memory.fill(gp(addr), 0, <usize>(pages * PAGE));
  return addr;
}

export function BS_AllocatePool(type: u32, size: u64, bufferOut: u64): u64 {
  const out = guest(bufferOut, 8);
  if (!validAllocType(type) || !out) return Status.INVALID_PARAMETER;
  const addr = allocPool(type, size);
  if (addr == NONE) return Status.OUT_OF_RESOURCES;
  store<u64>(out, addr);
  return Status.SUCCESS;
}

export function BS_FreePool(buffer: u64): u64 {
  for (let i = 0; i < poolCount; i++) {
    const rec = POOL + (<usize>i << 4);
    if (load<u64>(rec) != buffer) continue;
    retype(buffer, load<u64>(rec, 8), MemoryType.ConventionalMemory, 0);
    poolCount--;
    memory.copy(rec, POOL + (<usize>poolCount << 4), 16);
    return Status.SUCCESS;
  }
  return Status.INVALID_PARAMETER;
}

