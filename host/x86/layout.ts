// Where the host's x86 set-up lives in guest physical memory, and how big it is.
//
// Guest RAM is mapped from physical 0 and the firmware's allocator owns all of it, so no
// address here is fixed: the host asks the firmware for pages, typed as real firmware
// types them, and writes these structures into them. What is fixed is their sizes and
// their places inside the one page the host calls the CPU page:
//
//   CPU page (4 KiB, EfiRuntimeServicesData, below 4 GiB)
//   +0x000  GDT         GDT_SIZE bytes       0x00 null, 0x08 code64, 0x10 data, 0x18 code32
//   +0x040  GDTR        GDTR_SIZE bytes      lgdt operand: limit u16, base u64
//   +0x100  trampoline  ≤ TRAMPOLINE_SIZE    runs once, before the image entry point
//   +0x200  free
//
// Runtime-services data, because the OS keeps running on this GDT after ExitBootServices
// until its own lgdt, and boot-services memory is the OS's to overwrite by then (EDK2's
// CpuDxe allocates its GDT the same way, below 4 GiB, as EfiRuntimeServicesData).

import { efiGdt, GDTR_SIZE } from "./gdt.ts";

export { pagingBytes } from "./paging.ts";
export { GDTR_SIZE };

/** Size of the CPU page; one page keeps the firmware's memory map simple. */
export const CPU_PAGE_SIZE = 0x1000;

/** GDT offset in the CPU page: 8-byte aligned as SDM vol. 3A §3.5.1 advises. */
export const GDT_OFFSET = 0x000;
/** 4 entries × 8 bytes = 32 bytes. */
export const GDT_SIZE = efiGdt().length * 8;
/** GDTR offset: after the GDT with 32 bytes spare (a 16-byte TSS descriptor would fit). */
export const GDTR_OFFSET = 0x040;
/** Trampoline offset: a 256-byte slot of its own after the tables. */
export const TRAMPOLINE_OFFSET = 0x100;
/** Trampoline byte budget: the EFI trampoline is 120 bytes, 224 with the TLB growth (host/x86/tlb.ts); efiTrampoline checks the budget. */
export const TRAMPOLINE_SIZE = 0x100;

/** Stack the firmware must give an image, at least (UEFI 2.10 §2.3.4: "128 KiB, or more"). */
export const EFI_MIN_STACK_SIZE = 0x2_0000;
/**
 * Stack the host gives the EFI entry: 1 MiB, 8× the spec floor, above an unmapped guard
 * page (host/x86/paging.ts) where an overflow faults and is reported. 1 MiB is under 2%
 * of the ≥ 64 MiB a Linux guest needs anyway (init_size ~51.5 MiB). EfiBootServicesData:
 * once the OS runs on a stack of its own after ExitBootServices, this memory is the OS's
 * to reuse.
 */
export const STACK_SIZE = 0x10_0000;
/** Stack top alignment (UEFI 2.10 §2.3.4: "the stack must be 16-byte aligned"). The host's
 *  call into the image then pushes a return address, leaving RSP ≡ 8 (mod 16) at entry,
 *  as the Microsoft x64 calling convention has it. */
export const STACK_ALIGN = 16;
