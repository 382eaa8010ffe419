// The identity map the firmware gives an AArch64 image (UEFI 2.10 §2.3.6.1): stage 1,
// 4 KiB granule, 39-bit virtual addresses, so that translation starts at level 1 where
// each entry covers 1 GiB (Arm ARM D8.2). RAM is normal write-back memory in 2 MiB
// blocks (level 2); nothing else is mapped.

/** TCR_EL1.T0SZ: 64 - 25 = 39-bit addresses under TTBR0, a level-1 start. */
const T0SZ = 25n;
const GIB = 1n << 30n;

/** MAIR_EL1: attribute 0 normal memory write-back (0xff), attribute 1 device nGnRE (0x04). */
export const MAIR = 0x04ffn;

/**
 * TCR_EL1: T0SZ 25; walks for TTBR0 inner and outer write-back cacheable (IRGN0 = ORGN0
 * = 1), inner shareable (SH0 = 3), TG0 4 KiB; TTBR1 walks off (EPD1), with TG1 set to
 * 4 KiB all the same (Unicorn 2.1.1 faults every fetch with the reserved TG1 = 0,
 * ARM64.md); IPS = 0b010, 40-bit physical addresses.
 */
export const TCR = T0SZ | (1n << 8n) | (1n << 10n) | (3n << 12n) | (T0SZ << 16n) | (1n << 23n) | (2n << 30n) | (2n << 32n);

// Descriptor bits (D8.3): a block at levels 1-2 is 0b01, a table (levels 0-2) or a page
// (level 3) 0b11; AttrIndx 0 (normal), inner shareable, access flag set.
const BLOCK = 1n, TABLE = 3n, PAGE = 3n, ATTR_NORMAL = 0n << 2n, SH_INNER = 3n << 8n, AF = 1n << 10n;
const LEAF = AF | SH_INNER | ATTR_NORMAL;
const MIB2 = 1n << 21n;

/** Pages of tables identityTables makes for `ramBytes`: the level-1 table, a level-2 table per GiB, the guard's level-3 table. */
export function tablePages(ramBytes: number): number {
  return 2 + Math.ceil(ramBytes / Number(GIB));
}

/**
 * Tables at guest address `base` mapping [0, ramBytes) onto itself in 2 MiB blocks,
 * except the 2 MiB holding `guard`, mapped in pages with `guard` left out: below the
 * stack, so that an overflow faults instead of running over what lies below it (the
 * x86 side's guard page, host/x86/paging.ts). TTBR0 is `base`.
 */
export function identityTables(base: bigint, ramBytes: number, guard: bigint): Uint8Array {
  const gibs = Math.ceil(ramBytes / Number(GIB));
  const bytes = new Uint8Array(tablePages(ramBytes) * 4096);
  const v = new DataView(bytes.buffer);
  const l3 = base + BigInt((1 + gibs) * 4096);
  const guardBlock = guard & ~(MIB2 - 1n);
  for (let g = 0; g < gibs; g++) {
    const l2 = base + BigInt((1 + g) * 4096);
    v.setBigUint64(g * 8, l2 | TABLE, true);
    for (let i = 0; i < 512; i++) {
      const pa = BigInt(g) * GIB + BigInt(i) * MIB2;
      if (pa >= BigInt(ramBytes)) break;
      v.setBigUint64((1 + g) * 4096 + i * 8, pa === guardBlock ? l3 | TABLE : pa | LEAF | BLOCK, true);
    }
  }
  for (let i = 0; i < 512; i++) {
    const pa = guardBlock + BigInt(i) * 4096n;
    if (pa !== guard) v.setBigUint64((1 + gibs) * 4096 + i * 8, pa | LEAF | PAGE, true);
  }
  return bytes;
}

/** The translation registers a walk needs. */
export interface Translation { ttbr0: bigint; ttbr1: bigint; tcr: bigint; mmuOn: boolean }

const OA = 0x0000_ffff_ffff_f000n; // output address bits [47:12] of a descriptor

/**
 * Physical address of virtual `va` under stage-1 tables with a 4 KiB granule (Arm ARM
 * D8.2: TTBR0 for the low range, TTBR1 for the high one, each sized by its TxSZ), or
 * undefined when it is not mapped. `read64` reads 8 bytes of physical memory.
 */
export function translate(t: Translation, va: bigint, read64: (pa: bigint) => bigint | undefined): bigint | undefined {
  if (!t.mmuOn) return va;
  const high = (va >> 63n) === 1n;
  const txsz = high ? (t.tcr >> 16n) & 63n : t.tcr & 63n;
  const bits = 64n - txsz;
  // The range's unused top bits must all be 1 (TTBR1) or all 0 (TTBR0).
  const top = va >> bits;
  if (top !== (high ? (1n << (64n - bits)) - 1n : 0n)) return undefined;
  let table = (high ? t.ttbr1 : t.ttbr0) & OA;
  // Each level resolves 9 bits above the 12-bit page offset: the walk starts where the remaining bits fit.
  for (let level = Number(3n - (bits - 13n) / 9n); level <= 3; level++) {
    const shift = BigInt(12 + 9 * (3 - level));
    const d = read64(table + (((va >> shift) & 511n) << 3n));
    if (d === undefined || (d & 1n) === 0n) return undefined;
    const isTable = (d & 2n) !== 0n;
    if (level === 3 || !isTable) {
      if (level === 3 && !isTable) return undefined; // reserved at level 3
      const mask = (1n << shift) - 1n;
      return (d & OA & ~mask) | (va & mask);
    }
    table = d & OA;
  }
  return undefined;
}
