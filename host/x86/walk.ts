// The 4-level page walk (Intel SDM vol. 3A §4.5), host side: the firmware walks the
// guest's tables for the pointers it is given; the host walks them for exception
// delivery, reports and traces, with or without a firmware.

const P = 1n;
const PS = 1n << 7n;
const ADDR = 0x000f_ffff_ffff_f000n;

/** Guest physical address of virtual va under the tables at cr3, or undefined. */
export function translate(ram: DataView, cr3: bigint, va: bigint): bigint | undefined {
  if (cr3 === 0n) return va; // paging off
  let table = cr3 & ADDR;
  for (let level = 3; level >= 0; level--) {
    const shift = BigInt(12 + 9 * level);
    const at = table + (((va >> shift) & 511n) << 3n);
    if (at + 8n > BigInt(ram.byteLength)) return undefined;
    const entry = ram.getBigUint64(Number(at), true);
    if (!(entry & P)) return undefined;
    // 1 GiB pages at the PDPT (level 2), 2 MiB at the PD (level 1).
    if (level === 0 || ((level === 1 || level === 2) && entry & PS)) {
      const mask = (1n << shift) - 1n;
      return (entry & ADDR & ~mask) | (va & mask);
    }
    table = entry & ADDR;
  }
  return undefined;
}
