// EFI_RNG_PROTOCOL (UEFI 2.10 §37.5) on a handle of its own, as EDK2's RngDxe has it: bytes
// from the machine's entropy (host random_fill: the host's, or a fixed stream on a
// deterministic machine), one algorithm, EFI_RNG_ALGORITHM_RAW. Linux's EFI stub seeds
// the kernel from it (efi_random_get_seed: the LINUX_EFI_RANDOM_SEED table), so its CRNG
// is ready before userspace's first getrandom(), and randomises its KASLR offset.
import { guest, guidEq } from "../mem";
import { hostRandomFill } from "../abi";
import { allocPool, NONE } from "./alloc";
import { install, newHandle } from "./handles";
import { fillSlots } from "./system";
import { Guid, MemoryType, RNG_PROTOCOL, Status, Table } from "../spec/gen";

const ALGORITHM_SIZE: u64 = 16;

/** Installed at start by the generated installProtocols (firmware/spec/dispatch.ts). */
export function Rng_install(): bool {
  const rng = allocPool(MemoryType.BootServicesData, RNG_PROTOCOL.SIZE);
  const h = newHandle();
  if (rng == NONE || !h) return false;
  fillSlots(Table.Rng, rng);
  install(h, Guid.RNG_PROTOCOL, rng);
  return true;
}

/** §37.5.2 GetInfo: the algorithms offered, as a list of GUIDs. */
export function Rng_GetInfo(self: u64, sizePtr: u64, list: u64): u64 {
  const size = guest(sizePtr, 8);
  if (!self || !size) return Status.INVALID_PARAMETER;
  if (load<u64>(size) < ALGORITHM_SIZE) {
    store<u64>(size, ALGORITHM_SIZE);
    return Status.BUFFER_TOO_SMALL;
  }
  const out = guest(list, ALGORITHM_SIZE);
  if (!out) return Status.INVALID_PARAMETER;
  memory.copy(out, Guid.RNG_ALGORITHM_RAW, <usize>ALGORITHM_SIZE);
  store<u64>(size, ALGORITHM_SIZE);
  return Status.SUCCESS;
}

/** §37.5.3 GetRNG: RNGValueLength bytes by the given algorithm (NULL: the default, RAW). */
export function Rng_GetRNG(self: u64, algorithm: u64, length: u64, value: u64): u64 {
  if (!self || !length || length > 0xffff_ffff) return Status.INVALID_PARAMETER;
  if (algorithm) {
    const a = guest(algorithm, ALGORITHM_SIZE);
    if (!a) return Status.INVALID_PARAMETER;
    if (!guidEq(a, Guid.RNG_ALGORITHM_RAW)) return Status.UNSUPPORTED;
  }
  const out = guest(value, length);
  if (!out) return Status.INVALID_PARAMETER;
  hostRandomFill(out, <u32>length);
  return Status.SUCCESS;
}
