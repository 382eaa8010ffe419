// Xen's PVH direct-boot ABI ("HVMLite"), declared with the same mechanism as the UEFI
// tables: xen/include/public/arch-x86/hvm/start_info.h (version 1) and the ELF note
// that names the entry point (xen/include/public/elfnote.h). Also the one piece of
// Linux's x86 boot protocol the PVH path reads: where a bzImage keeps its compressed
// vmlinux (Documentation/x86/boot.rst). Layouts and constants only; the host's
// host/pvh/ reads them.
//
// The header spells the widths uint32_t/uint64_t; decl.ts knows them as UINT32/UINT64
// (same sizes, same natural alignment, so the same offsets).
import { struct } from "./decl.ts";

// start_info.h, struct hvm_start_info: what EBX points at on entry.
//
//   0 +----------------+
//     | magic          | XEN_HVM_START_MAGIC_VALUE
//   4 | version        | 1: memmap_paddr/memmap_entries present
//   8 | flags          | SIF_xxx, 0 here
//  12 | nr_modules     | entries at modlist_paddr; the first is the initrd
//  16 | modlist_paddr  | hvm_modlist_entry[nr_modules]
//  24 | cmdline_paddr  | NUL-terminated ASCII
//  32 | rsdp_paddr     | ACPI RSDP, 0 = none
//  40 | memmap_paddr   | hvm_memmap_table_entry[memmap_entries]   (version ≥ 1)
//  48 | memmap_entries |                                          (version ≥ 1)
//  52 | reserved       | must be 0
//  56 +----------------+
//
// "nothing will be loaded at physical address 0, so a 0 value in any of the address
// fields should be treated as not present."
export const HVM_START_INFO = struct("hvm_start_info", `
  UINT32 magic;
  UINT32 version;
  UINT32 flags;
  UINT32 nr_modules;
  UINT64 modlist_paddr;
  UINT64 cmdline_paddr;
  UINT64 rsdp_paddr;
  UINT64 memmap_paddr;
  UINT32 memmap_entries;
  UINT32 reserved;
`);

// start_info.h, struct hvm_modlist_entry (32 bytes).
export const HVM_MODLIST_ENTRY = struct("hvm_modlist_entry", `
  UINT64 paddr;
  UINT64 size;
  UINT64 cmdline_paddr;
  UINT64 reserved;
`);

// start_info.h, struct hvm_memmap_table_entry (24 bytes). Linux copies each entry into
// boot_params.e820_table as is (arch/x86/platform/pvh/enlighten.c).
export const HVM_MEMMAP_TABLE_ENTRY = struct("hvm_memmap_table_entry", `
  UINT64 addr;
  UINT64 size;
  UINT32 type;
  UINT32 reserved;
`);

/** "xEn3" with the 0x80 bit of the "E" set. */
export const XEN_HVM_START_MAGIC_VALUE = 0x336ec578;
/** The structure version the host writes: 1 carries the memory map. */
export const HVM_START_INFO_VERSION = 1;

/** XEN_HVM_MEMMAP_TYPE_*: the ACPI address range types (ACPI 6.2 §15), as E820 has them. */
export const XEN_HVM_MEMMAP_TYPE = {
  RAM: 1, RESERVED: 2, ACPI: 3, NVS: 4, UNUSABLE: 5, DISABLED: 6, PMEM: 7,
} as const;

// elfnote.h: notes named "Xen" in a PT_NOTE segment.
/** Note name (with its NUL, n_namesz = 4). */
export const XEN_ELFNOTE_NAME = "Xen";
/**
 * "Physical entry point into the kernel, 32 bit, paging disabled": the PVH entry.
 * Linux emits it as `_ASM_PTR (pvh_start_xen - __START_KERNEL_map)`, so an x86-64
 * vmlinux carries an 8-byte description (a 32-bit kernel a 4-byte one).
 */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

// Documentation/x86/boot.rst, "The Real-Mode Kernel Header": struct setup_header as it
// lies in the image file. boot.rst gives file offsets (01F1 setup_sects ... 026C), so
// the declaration starts at file offset 0 with the boot sector as padding, and every
// field offset below is the file offset boot.rst lists. Linux's struct is packed: the
// one field the natural alignment here would move, `header` at 0x202, is declared as
// bytes (read it as a little-endian u32).
export const SETUP_HEADER = struct("setup_header", `
  UINT8 boot_sector[497];
  UINT8 setup_sects;
  UINT16 root_flags;
  UINT32 syssize;
  UINT16 ram_size;
  UINT16 vid_mode;
  UINT16 root_dev;
  UINT16 boot_flag;
  UINT16 jump;
  UINT8 header[4];
  UINT16 version;
  UINT32 realmode_swtch;
  UINT16 start_sys_seg;
  UINT16 kernel_version;
  UINT8 type_of_loader;
  UINT8 loadflags;
  UINT16 setup_move_size;
  UINT32 code32_start;
  UINT32 ramdisk_image;
  UINT32 ramdisk_size;
  UINT32 bootsect_kludge;
  UINT16 heap_end_ptr;
  UINT8 ext_loader_ver;
  UINT8 ext_loader_type;
  UINT32 cmd_line_ptr;
  UINT32 initrd_addr_max;
  UINT32 kernel_alignment;
  UINT8 relocatable_kernel;
  UINT8 min_alignment;
  UINT16 xloadflags;
  UINT32 cmdline_size;
  UINT32 hardware_subarch;
  UINT64 hardware_subarch_data;
  UINT32 payload_offset;
  UINT32 payload_length;
  UINT64 setup_data;
  UINT64 pref_address;
  UINT32 init_size;
  UINT32 handover_offset;
  UINT32 kernel_info_offset;
`);

export const BOOT_PROTOCOL = {
  /** boot_flag: the boot sector signature. */
  BOOT_FLAG: 0xaa55,
  /** header: "HdrS" read as a little-endian u32. */
  HEADER_MAGIC: 0x53726448,
  /** setup_sects = 0 means 4 ("for backwards compatibility"). */
  DEFAULT_SETUP_SECTS: 4,
  /** payload_offset/payload_length exist from protocol 2.08 on. */
  MIN_VERSION_PAYLOAD: 0x0208,
  /** Sector size: the protected-mode kernel starts at (setup_sects + 1) * 512. */
  SECTOR_SIZE: 512,
  /** x86 COMMAND_LINE_SIZE (arch/x86/include/asm/setup.h): bytes including the NUL. */
  COMMAND_LINE_SIZE: 2048,
} as const;

/** Every struct of this file, for layout tests. */
export const PVH_STRUCTS = [HVM_START_INFO, HVM_MODLIST_ENTRY, HVM_MEMMAP_TABLE_ENTRY, SETUP_HEADER];
