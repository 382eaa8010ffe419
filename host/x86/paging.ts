// Identity-mapping page tables for the EFI entry (UEFI 2.10 §2.3.4: "paging mode is
// enabled and any memory space defined by the UEFI memory map is identity mapped").
//
// 4-level paging with 2 MiB pages (Intel SDM vol. 3A §4.5, table 4-15 and 4-17):
//
//   tablesBase + 0x0000  PML4   entry 0 → PDPT; entries 1..511 zero (512 GiB is plenty)
//   tablesBase + 0x1000  PDPT   entry g → PD g, one per GiB mapped; the rest zero
//   tablesBase + 0x2000  PD 0   entry m → physical m × 2 MiB, PS set; 512 per PD
//   tablesBase + 0x3000  PD 1   …
//   after the PDs        PT     with a guard page: the 2 MiB around it in 4 KiB pages
//
// No 1 GiB pages: they need CPUID.80000001H:EDX.Page1GB, which a guest may not see.
// 4 KiB pages only around the guard page, the one page left unmapped (below the stack,
// so that an overflow faults instead of corrupting what lies below, as EDK2's
// PcdCpuStackGuard does); 2 MiB everywhere else keeps the tables at (2 + GiB) pages,
// plus one for the guard — 16 KiB for 256 MiB of RAM.

/** Bytes per table page; each table holds 512 eight-byte entries. */
export const PAGE_SIZE = 0x1000n;
/** Bytes mapped by one page-directory entry with PS set. */
export const LARGE_PAGE_SIZE = 0x20_0000n;
/** Bytes mapped by one page directory (512 × 2 MiB) = one PDPT entry. */
export const PD_SPAN = 0x4000_0000n;
/** Bytes mapped by the single PML4 entry this module fills (512 × 1 GiB). */
export const MAX_IDENTITY_MAP = 0x80_0000_0000n;

/** Present. */
export const PTE_P = 1n << 0n;
/** Writable. */
export const PTE_RW = 1n << 1n;
/** In a PD entry: maps a 2 MiB page instead of pointing at a page table. */
export const PTE_PS = 1n << 7n;

const ENTRIES = 512;

function pdCount(bytesToMap: bigint): bigint {
  if (bytesToMap <= 0n || bytesToMap > MAX_IDENTITY_MAP) {
    throw new RangeError(`identity map of ${bytesToMap} bytes: must be in (0, 512 GiB]`);
  }
  return (bytesToMap + PD_SPAN - 1n) / PD_SPAN;
}

/** Bytes of tables `identityMap(_, ram, guard)` writes: PML4 + PDPT + one PD per GiB (+ one PT for a guard page). */
export function pagingBytes(ram: bigint, guard?: bigint): bigint {
  return (2n + pdCount(ram) + (guard === undefined ? 0n : 1n)) * PAGE_SIZE;
}

/**
 * Tables mapping [0, bytesToMap rounded up to 2 MiB) virtual = physical, read/write,
 * executable, laid out contiguously from `tablesBase` (which must be 4 KiB aligned),
 * except the 4 KiB page at `guard`, if given, which is not mapped at all.
 * `cr3` is the PML4's address (PWT = PCD = 0: write-back).
 */
export function identityMap(tablesBase: bigint, bytesToMap: bigint, guard?: bigint): { bytes: Uint8Array; cr3: bigint } {
  if (tablesBase < 0n || tablesBase % PAGE_SIZE !== 0n) {
    throw new RangeError(`page tables at 0x${tablesBase.toString(16)}: not 4 KiB aligned`);
  }
  if (guard !== undefined && (guard < 0n || guard % PAGE_SIZE !== 0n || guard >= bytesToMap)) {
    throw new RangeError(`guard page at 0x${guard.toString(16)}: not a 4 KiB page inside the ${bytesToMap}-byte map`);
  }
  const pds = Number(pdCount(bytesToMap));
  const largePages = Number((bytesToMap + LARGE_PAGE_SIZE - 1n) / LARGE_PAGE_SIZE);
  const bytes = new Uint8Array(Number(pagingBytes(bytesToMap, guard)));
  const view = new DataView(bytes.buffer);
  const entry = (table: number, index: number, value: bigint) =>
    view.setBigUint64(table * Number(PAGE_SIZE) + index * 8, value, true);
  const pdptAddr = tablesBase + PAGE_SIZE;
  entry(0, 0, pdptAddr | PTE_P | PTE_RW);
  for (let g = 0; g < pds; g++) {
    entry(1, g, (tablesBase + BigInt(2 + g) * PAGE_SIZE) | PTE_P | PTE_RW);
  }
  for (let m = 0; m < largePages; m++) {
    entry(2 + Math.floor(m / ENTRIES), m % ENTRIES, (BigInt(m) * LARGE_PAGE_SIZE) | PTE_P | PTE_RW | PTE_PS);
  }
  if (guard !== undefined) {
    const pt = 2 + pds;
    const m = Number(guard / LARGE_PAGE_SIZE);
    const region = BigInt(m) * LARGE_PAGE_SIZE;
    entry(2 + Math.floor(m / ENTRIES), m % ENTRIES, (tablesBase + BigInt(pt) * PAGE_SIZE) | PTE_P | PTE_RW);
    for (let i = 0; i < ENTRIES; i++) {
      const page = region + BigInt(i) * PAGE_SIZE;
      if (page !== guard) entry(pt, i, page | PTE_P | PTE_RW);
    }
  }
  return { bytes, cr3: tablesBase };
}
