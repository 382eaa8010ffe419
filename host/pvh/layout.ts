// Where the PVH entry puts things in guest physical memory, and why (the style of
// Firecracker's arch/x86_64/layout.rs, whose PVH addresses these follow).
//
// Nothing below lives in the EFI firmware's allocator: the PVH path has no firmware, so
// the addresses are fixed. Everything the host writes for the kernel sits below 64 KiB,
// which Linux 6.1 reserves before its first allocation (arch/x86/kernel/setup.c,
// early_reserve_memory: memblock_reserve(0, SZ_64K); later reserve_real_mode reserves
// the whole first 1 MiB), so none of it can be overwritten before the kernel has read
// it: pvh_start_xen copies hvm_start_info on its first instructions, xen_prepare_pvh
// copies the memory map and the first module's address, copy_bootdata the command line.
//
//   0x00000  real-mode IVT and BIOS data area: left zero (Linux reads the EBDA pointer
//            at 0x40e and the base memory size at 0x413; zero means "none")
//   0x00500  GDT              32 bytes   0x00 null, 0x08 code64, 0x10 data, 0x18 code32
//   0x06000  hvm_start_info   56 bytes
//   0x06040  hvm_modlist      ≤ 126 × 32 bytes, up to the memory map
//   0x07000  hvm_memmap       ≤ 170 × 24 bytes, one page
//   0x08000  command line     2 KiB slot
//   0x10000  (64 KiB) end of what the host writes low
//   0xa0000  legacy VGA and ROM hole, reserved, to 1 MiB
//   ...      the kernel's PT_LOAD segments at their p_paddr (16 MiB for Linux)
//   ...      the initrd, page aligned, as high as RAM allows

/** GDT: Firecracker's BOOT_GDT_OFFSET, the first byte after the BIOS data area. */
export const PVH_GDT_START = 0x500;
/** hvm_start_info: Firecracker's PVH_INFO_START. */
export const PVH_START_INFO_START = 0x6000;
/** Module list: Firecracker's MODLIST_START, 64 bytes after start_info (56 rounded up). */
export const PVH_MODLIST_START = 0x6040;
/** Memory map table: Firecracker's MEMMAP_START, a page of its own. */
export const PVH_MEMMAP_START = 0x7000;
/** Command line: a whole COMMAND_LINE_SIZE slot, since copy_bootdata copies 2048
 *  bytes from cmd_line_ptr whatever the string's length. */
export const PVH_CMDLINE_START = 0x8000;
/** End of the host's low structures: the low 64 KiB Linux reserves first. */
export const PVH_LOW_END = 0x1_0000;

/** Start of the legacy hole (VGA memory, option and system ROMs): reserved in the memory map. */
export const ISA_HOLE_START = 0xa_0000;
/** The ACPI tables (host/acpi.ts): in the legacy hole's system-ROM area, reserved, where a PC BIOS keeps them. */
export const PVH_ACPI_START = 0xe_0000;
/** End of the legacy hole: RAM again from 1 MiB. */
export const HIGH_MEMORY_START = 0x10_0000;
/**
 * RAM must end by 3 GiB: on a PC the 32-bit MMIO hole starts there (the LAPIC page at
 * 0xfee00000 the machine maps is in it), and RAM above it would have to move above
 * 4 GiB, which this layout does not do. Linux also keeps ramdisk_image in a u32.
 */
export const PVH_MAX_RAM = 0xc000_0000;
/** Initrd alignment: a page, as Firecracker aligns it and as Linux reserves it. */
export const INITRD_ALIGN = 0x1000;
