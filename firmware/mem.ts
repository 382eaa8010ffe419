// Guest memory is a window of this module's own linear memory:
//
//   WASM address 0            GUEST_BASE                    GUEST_BASE + ramBytes
//   | firmware data, private | guest physical 0 ..... RAM end |
//   |  state (never mapped)  |  mapped into Unicorn at 0      |
//
// Private state below GUEST_BASE is unreachable from the guest by construction: the
// host maps only the window. Guest-supplied addresses go through guest() before use.

import { isAa64 } from "./arch";
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

/** Physical range check: WASM address of guest physical [p, p + len), or 0. */
export function phys(p: u64, len: u64): usize {
  if (p >= ramBytes || len > ramBytes - p) return 0;
  return GUEST_BASE + <usize>p;
}

// The guest's page tables at the current call (CR3, from the host). Guest pointers are
// virtual: identity-mapped during boot services, the OS's own mappings after it calls
// runtime services at its virtual addresses. 0 means paging is off.
// On AArch64, `cr3` holds TTBR0_EL1, with TTBR1_EL1 and TCR_EL1 beside it.
let cr3: u64 = 0;
let rootHigh: u64 = 0;
let tcr: u64 = 0;
export function setPaging(root: u64, high: u64, config: u64): void { cr3 = root; rootHigh = high; tcr = config; }
export function pagingRoot(): u64 { return cr3; }
export function pagingRootHigh(): u64 { return rootHigh; }
export function pagingConfig(): u64 { return tcr; }

const PTE_P: u64 = 1;
const PTE_PS: u64 = 1 << 7;
const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;
const NO_PAGE: u64 = u64.MAX_VALUE;

/** Guest physical address of virtual va through the 4-level tables at cr3 (SDM 3A §4.5), or NO_PAGE. */
export function translate(va: u64): u64 {
  if (!cr3) return va;
  if (isAa64()) return translateAa64(va);
  let table = cr3 & PTE_ADDR;
  for (let level = 3; level >= 0; level--) {
    const shift = <u64>(12 + 9 * level);
    const e = phys(table + (((va >> shift) & 511) << 3), 8);
    if (!e) return NO_PAGE;
    const entry = load<u64>(e);
    if (!(entry & PTE_P)) return NO_PAGE;
    // Large pages: 1 GiB at the PDPT (level 2), 2 MiB at the PD (level 1).
    if (level == 0 || ((level == 1 || level == 2) && (entry & PTE_PS))) {
      const mask = (<u64>1 << shift) - 1;
      return (entry & PTE_ADDR & ~mask) | (va & mask);
    }
    table = entry & PTE_ADDR;
  }
  return NO_PAGE;
}

/**
 * Guest physical address of virtual va through AArch64 stage-1 tables with a 4 KiB
 * granule (Arm ARM D8.2): TTBR0 for the low range, TTBR1 for the high one, each sized
 * by its TxSZ in TCR_EL1; or NO_PAGE.
 */
function translateAa64(va: u64): u64 {
  const high = (va >> 63) == 1;
  const txsz = high ? (tcr >> 16) & 63 : tcr & 63;
  const bits = 64 - txsz;
  if (bits < 25 || bits > 48) return NO_PAGE;
  const top = va >> bits;
  if (top != (high ? ((<u64>1 << (64 - bits)) - 1) : 0)) return NO_PAGE;
  let table = (high ? rootHigh : cr3) & OA_AA64;
  // Each level resolves 9 bits above the page offset: the walk starts where the rest fit.
  for (let level = <i32>(3 - (bits - 13) / 9); level <= 3; level++) {
    const shift = <u64>(12 + 9 * (3 - level));
    const e = phys(table + (((va >> shift) & 511) << 3), 8);
    if (!e) return NO_PAGE;
    const d = load<u64>(e);
    if (!(d & 1)) return NO_PAGE;
    const isTable = (d & 2) != 0;
    if (level == 3 || !isTable) {
      if (level == 3 && !isTable) return NO_PAGE;
      const mask = (<u64>1 << shift) - 1;
      return (d & OA_AA64 & ~mask) | (va & mask);
    }
    table = d & OA_AA64;
  }
  return NO_PAGE;
}
const OA_AA64: u64 = 0x0000_ffff_ffff_f000;

/**
 * WASM address of the guest virtual range [p, p + len), or 0 when p is NULL, or any byte
 * is unmapped, outside RAM, or not physically contiguous with the first. Guest page 0
 * is firmware-reserved, so 0 is never a valid result.
 */
export function guest(p: u64, len: u64): usize {
  if (p == 0 || len > ramBytes || p + len < p) return 0;
  const first = translate(p);
  if (first == NO_PAGE) return 0;
  // Every further page must follow the first one physically. Counted, not walked up
  // to p + len: the page after the last one of the address space wraps to 0.
  const pages = ((p & 0xfff) + len + 0xfff) >> 12;
  for (let i: u64 = 1; i < pages; i++) {
    const page = (p & ~0xfff) + (i << 12);
    if (translate(page) != first + (page - p)) return 0;
  }
  return phys(first, len);
}

/** Unchecked: for addresses the firmware itself allocated. */
@inline export function gp(p: u64): usize { return GUEST_BASE + <usize>p; }

/** Length in bytes of a NUL-terminated UCS-2 string at guest p (without the NUL), or -1. */
export function ucs2Len(p: u64, max: u64): i64 {
  if (!p || (p & 1)) return -1;
  // Page by page through the guest's tables (a virtual string may cross into any page).
  let n: u64 = 0;
  while (n + 2 <= max) {
    const va = p + n;
    const span = min(0x1000 - (va & 0xfff), max - n) & ~1;
    const at = guest(va, span);
    if (!at) return -1;
    for (let i: u64 = 0; i < span; i += 2) {
      if (load<u16>(at + <usize>i) == 0) {
        // Callers then take the whole string with guest(p, n): it must be one range.
        return guest(p, n + i + 2) ? <i64>(n + i) : -1;
      }
    }
    n += span;
  }
  return -1;
}

export function guidEq(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8);
}
