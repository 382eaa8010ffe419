// The global descriptor table the host installs before the guest's first instruction.
//
// Segment descriptor, 8 bytes (Intel SDM vol. 3A §3.4.5, figure 3-8):
//
//   63      56 55  52 51    48 47      40 39      32 31           16 15            0
//  ┌──────────┬──────┬────────┬──────────┬──────────┬───────────────┬───────────────┐
//  │base 31:24│ G DB │limit   │ P DPL S  │base 23:16│  base 15:0    │  limit 15:0   │
//  │          │ L AVL│ 19:16  │ type     │          │               │               │
//  └──────────┴──────┴────────┴──────────┴──────────┴───────────────┴───────────────┘
//
// `flags` packs the two attribute bytes the way Firecracker's `gdt_entry` does: bits 0-7
// are descriptor byte 5 (P, DPL, S, type), bits 12-15 are the high nibble of byte 6
// (G, D/B, L, AVL); bits 8-11 are where limit 19:16 goes and are ignored here.
// Every type below has its accessed bit preset, so loading a selector never makes the
// CPU write the descriptor back (the table can sit in read-only or code pages).

/** Packs one descriptor (Firecracker arch/x86_64/gdt.rs `gdt_entry`). */
export function gdtEntry(flags: number, base: number, limit: number): bigint {
  const b = BigInt(base >>> 0);
  const l = BigInt(limit >>> 0);
  const f = BigInt(flags & 0xffff);
  return ((b & 0xff00_0000n) << 32n) // base 31:24 → bits 63:56
    | ((f & 0xf0ffn) << 40n)          // attribute bytes → bits 55:52 and 47:40
    | ((l & 0x000f_0000n) << 32n)     // limit 19:16 → bits 51:48
    | ((b & 0x00ff_ffffn) << 16n)     // base 23:0 → bits 39:16
    | (l & 0xffffn);                  // limit 15:0 → bits 15:0
}

// Selectors are index × 8 (TI = 0: GDT, RPL = 0). One table serves both entry kinds, so
// the selectors never depend on how the guest was started.
/** Flat 64-bit code: CS for the EFI entry (UEFI 2.10 §2.3.4: "selectors are set to be flat"). */
export const SEL_CODE64 = 0x08;
/** Flat read/write data, 4 GiB limit: DS/ES/SS/FS/GS for both entries (64-bit mode ignores base and limit, not the type). */
export const SEL_DATA = 0x10;
/** Flat 32-bit code, 4 GiB limit: CS for the PVH entry (Xen docs/misc/pvh.pandoc: "32-bit read/execute code segment"). */
export const SEL_CODE32 = 0x18;

/** The host's GDT as data; entry i is selector i × 8. */
export function efiGdt(): bigint[] {
  return [
    gdtEntry(0, 0, 0),             // 0x00 NULL: required, a selector of 0 must not load a segment
    gdtEntry(0xa09b, 0, 0xfffff),  // 0x08 CODE64: P, DPL 0, code exec/read accessed; G, L (D = 0)
    gdtEntry(0xc093, 0, 0xfffff),  // 0x10 DATA: P, DPL 0, data read/write accessed; G, B (32-bit, 4 GiB)
    gdtEntry(0xc09b, 0, 0xfffff),  // 0x18 CODE32: P, DPL 0, code exec/read accessed; G, D (32-bit, 4 GiB)
  ];
}

/** Bytes of a descriptor table: each entry as a little-endian u64. */
export function gdtBytes(entries: readonly bigint[]): Uint8Array {
  const bytes = new Uint8Array(entries.length * 8);
  const view = new DataView(bytes.buffer);
  entries.forEach((e, i) => view.setBigUint64(i * 8, BigInt.asUintN(64, e), true));
  return bytes;
}

/** Size of the `lgdt` operand in 64-bit mode: u16 limit, u64 base (SDM vol. 3A §3.5.1). */
export const GDTR_SIZE = 10;

/** The 10-byte pseudo-descriptor `lgdt` reads: limit = table bytes - 1, then the base. */
export function gdtr(base: bigint, entries: readonly bigint[]): Uint8Array {
  if (entries.length === 0 || entries.length > 8192) throw new RangeError(`GDT of ${entries.length} entries`);
  const bytes = new Uint8Array(GDTR_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, entries.length * 8 - 1, true);
  view.setBigUint64(2, BigInt.asUintN(64, base), true);
  return bytes;
}
