// Guest memory is a window of this module's own linear memory:
//
//   WASM address 0            GUEST_BASE                    GUEST_BASE + ramBytes
//   | firmware data, private | guest physical 0 ..... RAM end |
//   |  state (never mapped)  |  mapped into Unicorn at 0      |
//
// Private state below GUEST_BASE is unreachable from the guest by construction: the
// host maps only the window. Guest-supplied addresses go through guest() before use.

/** 16 MiB of private space: static data (GUIDs, strings, allocator and handle tables). */
export const GUEST_BASE: usize = 16 << 20;

export let ramBytes: u64 = 0;

let privateTop: usize = __heap_base;

/**
 * Zeroed private state, carved at start-up above the static data and below GUEST_BASE.
 * (memory.data would store the zeros in the binary.) Traps if the budget is exceeded.
 */
export function reserve(bytes: usize): usize {
  const p = (privateTop + 15) & ~15;
  privateTop = p + bytes;
  if (privateTop > GUEST_BASE) unreachable();
  return p;
}

/** End of private state; the host checks it is below GUEST_BASE. */
export function privateEnd(): usize { return privateTop; }

export function setRamBytes(n: u64): void { ramBytes = n; }

/**
 * WASM address of the guest range [p, p + len), or 0 when any byte of it lies outside
 * guest RAM or p is NULL. Guest page 0 is firmware-reserved, so 0 is never a valid result.
 */
export function guest(p: u64, len: u64): usize {
  if (p == 0 || p >= ramBytes || len > ramBytes - p) return 0;
  return GUEST_BASE + <usize>p;
}

/** Unchecked: for addresses the firmware itself allocated. */
@inline export function gp(p: u64): usize { return GUEST_BASE + <usize>p; }

/** Length in bytes of a NUL-terminated UCS-2 string at guest p (without the NUL), or -1. */
export function ucs2Len(p: u64, max: u64): i64 {
  const at = guest(p, 2);
  if (!at || (p & 1)) return -1;
  const limit = min(ramBytes - p, max);
  for (let n: u64 = 0; n + 2 <= limit; n += 2) {
    if (load<u16>(at + <usize>n) == 0) return <i64>n;
  }
  return -1;
}

export function guidEq(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8);
}
