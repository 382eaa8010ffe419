// Growing Unicorn's software TLB before the guest runs.
//
// Unicorn 2.1.1 (QEMU 5's accel/tcg/cputlb.c) gives each MMU mode a direct-mapped TLB of
// 256 entries, indexed by virtual page number: 1 MiB of reach. It resizes a TLB only
// when the TLB is flushed (tlb_mmu_resize_locked): doubled when more than 70% of its
// entries were in use, shrunk to fit once a 100 ms window passes with under 30% in use.
// Linux's x86 decompressor (arch/x86/boot/compressed/misc.c parse_elf, run by the EFI
// stub's path) moves its PT_LOAD segments with `rep movsq`, about 45 MB from buffers
// 2 MiB (one segment 4 MiB) below their destination: at 256 entries source and
// destination pages share a slot, every load and store misses, and the slow path also
// looks up Unicorn's memory map each time (about 12 M lookups per boot). QEMU itself
// collides the same way.
//
// Growing it is plain guest code run by the host's bring-up, with the guest's own tools:
// touch as many consecutive pages as the TLB has entries (each page lands in a slot of
// its own, so 100% are in use), then reload CR3, a full flush, at which the TLB
// doubles. From 256, three rounds give 2048. The size is measured, not guessed (CLI
// process to `Linux version`, interleaved pairs, 2026-12-06): against no growth, wall
// time 0.58× (median of 7 pairs; the kernel's entry 400 → 150 ms in process); 1024
// entries still collide on the 4 MiB segment (~300 ms in process against ~200); 4096
// gain nothing more (2048 against 4096: 0.98×, 9 pairs).
//
// What the guest does afterwards is its own business, as on QEMU: the kernel's later
// flushes let the heuristic shrink an idle TLB (tests/boot.test.ts boots to userspace
// with it).
import { decEdx, jnzRel8, movAlAtRcx, movCrRax, movEdxImm32, movR64Imm64, movRaxCr, RCX, addRcxImm32 } from "./asm.ts";

/** Entries Unicorn's TLB starts with, per MMU mode (CPU_TLB_DYN_DEFAULT_BITS = 8). */
export const TLB_DEFAULT_ENTRIES = 256;
/** Entries the bring-up grows the TLB to: 8 MiB of reach (see above for the measurement). */
export const TLB_ENTRIES = 2048;

const PAGE = 4096;

export interface TlbGrowth {
  /** Virtual address of TLB_ENTRIES / 2 readable, mapped, consecutive pages. */
  base: bigint;
  /** Power of two above TLB_DEFAULT_ENTRIES. */
  entries: number;
}

/** Bytes of consecutive mapped memory `growTlb({ base, entries })` reads from base. */
export const tlbTouchBytes = (entries: number) => (entries / 2) * PAGE;

/**
 * Guest code that doubles the TLB of the running MMU mode until it has `entries`
 * entries. Clobbers RAX, RCX, RDX and flags; falls through at its end.
 */
export function growTlb({ base, entries }: TlbGrowth): number[] {
  if (!Number.isInteger(Math.log2(entries)) || entries <= TLB_DEFAULT_ENTRIES) {
    throw new RangeError(`TLB of ${entries} entries: a power of two above ${TLB_DEFAULT_ENTRIES}`);
  }
  const code: number[] = [];
  for (let size = TLB_DEFAULT_ENTRIES; size < entries; size *= 2) {
    const body = [...movAlAtRcx(), ...addRcxImm32(PAGE), ...decEdx()];
    code.push(...movR64Imm64(RCX, base), ...movEdxImm32(size));   // rcx = base, edx = pages
    code.push(...body, ...jnzRel8(-(body.length + 2)));           // touch one byte of each page
    code.push(...movRaxCr(3), ...movCrRax(3));                     // full flush: the TLB doubles
  }
  return code;
}
