// SetVirtualAddressMap and ConvertPointer (UEFI 2.10 §8.4): the OS gives each runtime
// range a virtual address once, after ExitBootServices; guest-visible pointers into
// runtime memory are converted. The firmware's own state is WASM-side and never moves.
import { guest, reserve } from "../mem";
import { NONE, PAGE } from "./alloc";
import { bootServicesExited } from "./image";
import { relocateTables, tablesMappable } from "./system";
import { callGroupDirect } from "./events";
import { MEMORY_DESCRIPTOR, MemoryAttribute, MEMORY_DESCRIPTOR_VERSION, Status, Guid } from "../spec/gen";

const MAX_REGIONS: i32 = 256;
// (physical start, bytes, virtual start) per runtime range
const REGIONS: usize = reserve(MAX_REGIONS * 24);
let regionCount: i32 = 0;
export let virtualMode = false;

function toVirtual(p: u64): u64 {
  for (let i = 0; i < regionCount; i++) {
    const r = REGIONS + <usize>i * 24;
    const start = load<u64>(r);
    if (p >= start && p - start < load<u64>(r, 8)) return load<u64>(r, 16) + (p - start);
  }
  return NONE;
}

export function RT_SetVirtualAddressMap(mapSize: u64, descSize: u64, version: u32, map: u64): u64 {
  if (!bootServicesExited || virtualMode) return Status.UNSUPPORTED;
  if (descSize < MEMORY_DESCRIPTOR.SIZE || descSize & 7 || version != MEMORY_DESCRIPTOR_VERSION || mapSize % descSize) {
    return Status.INVALID_PARAMETER;
  }
  const m = guest(map, mapSize);
  if (!m) return Status.INVALID_PARAMETER;
  regionCount = 0;
  for (let off: u64 = 0; off < mapSize; off += descSize) {
    const d = m + <usize>off;
    if (!(load<u64>(d + MEMORY_DESCRIPTOR.Attribute) & MemoryAttribute.RUNTIME)) continue;
    if (regionCount == MAX_REGIONS) return Status.OUT_OF_RESOURCES;
    const r = REGIONS + <usize>regionCount * 24;
    regionCount++;
    store<u64>(r, load<u64>(d + MEMORY_DESCRIPTOR.PhysicalStart));
    store<u64>(r, load<u64>(d + MEMORY_DESCRIPTOR.NumberOfPages) * PAGE, 8);
    store<u64>(r, load<u64>(d + MEMORY_DESCRIPTOR.VirtualStart), 16);
  }
  // §8.4: NO_MAPPING when a runtime range the firmware uses has no virtual address.
  if (!tablesMappable(toVirtual)) return Status.NO_MAPPING;
  virtualMode = true;
  // The virtual-address-change group's notify functions run now, before the tables
  // move, so that they can ConvertPointer their own pointers (§8.4, EDK2 RuntimeDxe).
  callGroupDirect(Guid.EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE);
  relocateTables(toVirtual);
  return Status.SUCCESS;
}

export function RT_ConvertPointer(disposition: u64, addressPtr: u64): u64 {
  const a = guest(addressPtr, 8);
  if (!a) return Status.INVALID_PARAMETER;
  const p = load<u64>(a);
  // EFI_OPTIONAL_PTR (1): NULL stays NULL.
  if (p == 0 && (disposition & 1)) return Status.SUCCESS;
  const v = toVirtual(p);
  if (v == NONE) return Status.NOT_FOUND;
  store<u64>(a, v);
  return Status.SUCCESS;
}
