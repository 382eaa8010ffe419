// The guest-physical picture of a PVH boot, as plain data: which bytes go where, and the
// CPU state to start in. Pure: no emulator, no guest memory; the machine copies
// `regions` into zeroed RAM and writes `entry` into the CPU.
//
// The structures are Xen's public/arch-x86/hvm/start_info.h (firmware/spec/pvh.ts),
// written at the offsets that declaration gives. The entry state is what Xen's
// docs/misc/pvh.pandoc and Linux's arch/x86/platform/pvh/head.S state: 32-bit protected
// mode, paging off, CR0 = PE, CR4 = 0, flat 32-bit CS and DS/ES, EFLAGS.IF/TF/VM clear,
// EBX = physical address of hvm_start_info. head.S then loads its own GDT, stack and
// page tables and enables long mode itself.
import { field, type Struct } from "../../firmware/spec/decl.ts";
import {
  BOOT_PROTOCOL, HVM_MEMMAP_TABLE_ENTRY, HVM_MODLIST_ENTRY, HVM_START_INFO,
  HVM_START_INFO_VERSION, XEN_HVM_MEMMAP_TYPE, XEN_HVM_START_MAGIC_VALUE,
} from "../../firmware/spec/pvh.ts";
import { efiGdt, gdtBytes, SEL_CODE32, SEL_DATA } from "../x86/gdt.ts";
import { CR0_PE } from "../x86/regs.ts";
import { pvhEntry, type ElfImage, type ElfSource } from "./elf.ts";
import { hex } from "./error.ts";
import { acpiTables } from "../acpi.ts";
import {
  HIGH_MEMORY_START, INITRD_ALIGN, ISA_HOLE_START, PVH_CMDLINE_START, PVH_GDT_START,
  PVH_ACPI_START, PVH_LOW_END, PVH_MAX_RAM, PVH_MEMMAP_START, PVH_MODLIST_START, PVH_START_INFO_START,
} from "./layout.ts";

/** Bytes for guest RAM: `bytes` (or `file`) at `paddr`, and zeros from there to `paddr + size`. */
export interface PvhRegion {
  name: string;
  paddr: number;
  bytes: Uint8Array;
  /** Bytes the region owns, ≥ its bytes; the rest is zero (a segment's .bss, a slot's tail). */
  size: number;
  /** A segment of a vmlinux parsed from its file: `length` bytes at `offset`, read when written (`bytes` is then empty). */
  file?: { source: ElfSource; offset: number; length: number };
}

/** Write a boot's regions into guest RAM (fresh, so already zero beyond their bytes). */
export function writeRegions(ram: Uint8Array, boot: PvhBoot): void {
  for (const r of boot.regions) {
    if (r.file) r.file.source.copy(r.file.offset, ram.subarray(r.paddr, r.paddr + r.file.length));
    else ram.set(r.bytes, r.paddr);
  }
}

export interface MemmapEntry { addr: number; size: number; type: number }

/** The CPU at the PVH entry. Selectors index the GDT written at `gdtr.base`. */
export interface PvhEntryState {
  /** XEN_ELFNOTE_PHYS32_ENTRY. */
  eip: number;
  /** Physical address of hvm_start_info. */
  ebx: number;
  /** PE only: protected mode, paging off, caches on (CD = NW = 0), no x87 emulation. */
  cr0: bigint;
  /** All clear: no PAE, no PSE, no SSE enablement; head.S sets what it needs. */
  cr4: bigint;
  /** All clear: long mode is not active (head.S sets LME itself before paging). */
  efer: bigint;
  /** Only the always-one bit 1: IF, TF, VM clear as the ABI requires. */
  eflags: bigint;
  cs: number;
  ds: number;
  es: number;
  ss: number;
  fs: number;
  gs: number;
  gdtr: { base: number; limit: number };
}

export interface PvhBoot {
  /** Everything to write, sorted by address, none overlapping. */
  regions: PvhRegion[];
  memmap: MemmapEntry[];
  startInfo: number;
  cmdline: number;
  memmapPaddr: number;
  /** Module list address, when there is an initrd. */
  modlist?: number;
  initrd?: { paddr: number; size: number };
  /** Physical span of the kernel's PT_LOAD segments. */
  kernel: { start: number; end: number };
  entry: PvhEntryState;
}

export interface PvhBootInput {
  /** Guest RAM from physical 0, bytes. */
  ramBytes: number;
  elf: ElfImage;
  /** Kernel command line, ASCII. */
  cmdline: string;
  initrd?: Uint8Array;
}

/** Every field of `s`, named, into a fresh buffer: a missing or unknown name throws, so a layout change cannot go unnoticed. */
export function encodeStruct(s: Struct, values: Record<string, number | bigint>): Uint8Array {
  const bytes = new Uint8Array(s.size);
  const view = new DataView(bytes.buffer);
  for (const name of Object.keys(values)) field(s, name); // unknown names throw
  for (const f of s.fields) {
    if (!(f.name in values)) throw new Error(`${s.name}.${f.name} not given`);
    const v = values[f.name];
    if (f.count !== 1 || f.pointer) throw new Error(`${s.name}.${f.name}: only scalar fields are encoded`);
    switch (f.size) {
      case 1: view.setUint8(f.offset, Number(v)); break;
      case 2: view.setUint16(f.offset, Number(v), true); break;
      case 4: view.setUint32(f.offset, Number(v), true); break;
      case 8: view.setBigUint64(f.offset, BigInt(v), true); break;
      default: throw new Error(`${s.name}.${f.name}: ${f.size}-byte field`);
    }
  }
  return bytes;
}

/** The command line as hvm_start_info wants it: ASCII, NUL-terminated, within COMMAND_LINE_SIZE. */
export function cmdlineBytes(cmdline: string): Uint8Array {
  for (let i = 0; i < cmdline.length; i++) {
    const c = cmdline.charCodeAt(i);
    if (c === 0 || c > 0x7f) throw new RangeError(`command line character ${i} (U+${c.toString(16).padStart(4, "0")}) is not non-NUL ASCII`);
  }
  if (cmdline.length + 1 > BOOT_PROTOCOL.COMMAND_LINE_SIZE) {
    throw new RangeError(`command line of ${cmdline.length} characters does not fit COMMAND_LINE_SIZE (${BOOT_PROTOCOL.COMMAND_LINE_SIZE} bytes with its NUL)`);
  }
  return Buffer.from(cmdline + "\0", "latin1");
}

/** Lay out a PVH boot of `elf` in `ramBytes` of RAM. Throws RangeError when it does not fit. */
export function buildPvhBoot(input: PvhBootInput): PvhBoot {
  const { ramBytes, elf, initrd } = input;
  if (!Number.isInteger(ramBytes) || ramBytes % INITRD_ALIGN !== 0) throw new RangeError(`RAM size ${ramBytes} is not a whole number of pages`);
  if (ramBytes > PVH_MAX_RAM) throw new RangeError(`RAM of ${hex(ramBytes)} bytes reaches past 3 GiB, into the 32-bit MMIO hole (see PVH_MAX_RAM)`);
  const entry = pvhEntry(elf);

  const regions: PvhRegion[] = [];
  // Kernel segments at their physical addresses, clear of the host's low structures and
  // of the legacy hole.
  let kStart = Infinity;
  let kEnd = 0;
  for (const s of elf.loads) {
    const end = s.paddr + s.memsz;
    if (s.paddr < PVH_LOW_END || (s.paddr < HIGH_MEMORY_START && end > ISA_HOLE_START)) {
      throw new RangeError(`PT_LOAD segment ${s.index} at ${hex(s.paddr)}+${hex(s.memsz)} overlaps the low layout or the legacy hole below 1 MiB`);
    }
    if (end > ramBytes) throw new RangeError(`PT_LOAD segment ${s.index} ends at ${hex(end)}, past the end of RAM at ${hex(ramBytes)}`);
    const name = `PT_LOAD[${s.index}]`;
    if (elf.source) regions.push({ name, paddr: s.paddr, bytes: new Uint8Array(0), size: s.memsz, file: { source: elf.source, offset: s.offset, length: s.filesz } });
    else regions.push({ name, paddr: s.paddr, bytes: elf.bytes.subarray(s.offset, s.offset + s.filesz), size: s.memsz });
    kStart = Math.min(kStart, s.paddr);
    kEnd = Math.max(kEnd, end);
  }

  // Initrd: page aligned, as high as RAM goes (Firecracker does the same), above the kernel.
  let initrdAt: { paddr: number; size: number } | undefined;
  if (initrd) {
    if (initrd.length === 0) throw new RangeError("initrd is empty");
    const paddr = Math.floor((ramBytes - initrd.length) / INITRD_ALIGN) * INITRD_ALIGN;
    if (paddr < Math.max(kEnd, HIGH_MEMORY_START)) {
      throw new RangeError(`initrd of ${hex(initrd.length)} bytes does not fit between the kernel's end at ${hex(kEnd)} and the end of RAM at ${hex(ramBytes)}`);
    }
    initrdAt = { paddr, size: initrd.length };
    regions.push({ name: "initrd", paddr, bytes: initrd, size: initrd.length });
  }

  // Memory map: conventional memory, the legacy hole, the rest of RAM. The host reserves
  // nothing else: its low structures are in the 64 KiB Linux reserves first, and Linux
  // reserves the initrd itself from ramdisk_image/ramdisk_size (early_reserve_initrd).
  const memmap: MemmapEntry[] = [
    { addr: 0, size: ISA_HOLE_START, type: XEN_HVM_MEMMAP_TYPE.RAM },
    { addr: ISA_HOLE_START, size: HIGH_MEMORY_START - ISA_HOLE_START, type: XEN_HVM_MEMMAP_TYPE.RESERVED },
    { addr: HIGH_MEMORY_START, size: ramBytes - HIGH_MEMORY_START, type: XEN_HVM_MEMMAP_TYPE.RAM },
  ];
  const memmapBytes = new Uint8Array(memmap.length * HVM_MEMMAP_TABLE_ENTRY.size);
  memmap.forEach((e, i) => memmapBytes.set(encodeStruct(HVM_MEMMAP_TABLE_ENTRY, { ...e, reserved: 0 }), i * HVM_MEMMAP_TABLE_ENTRY.size));
  if (PVH_MEMMAP_START + memmapBytes.length > PVH_CMDLINE_START) throw new RangeError(`memory map of ${memmap.length} entries overflows its page`);
  regions.push({ name: "hvm_memmap_table", paddr: PVH_MEMMAP_START, bytes: memmapBytes, size: PVH_CMDLINE_START - PVH_MEMMAP_START });

  // The first module is the initrd (Linux: "The first module is always ramdisk").
  if (initrdAt) {
    const mod = encodeStruct(HVM_MODLIST_ENTRY, { paddr: BigInt(initrdAt.paddr), size: BigInt(initrdAt.size), cmdline_paddr: 0n, reserved: 0n });
    regions.push({ name: "hvm_modlist", paddr: PVH_MODLIST_START, bytes: mod, size: PVH_MEMMAP_START - PVH_MODLIST_START });
  }

  const acpi = acpiTables(PVH_ACPI_START);
  regions.push({ name: "acpi", paddr: PVH_ACPI_START, bytes: acpi.bytes, size: acpi.bytes.length });

  const cmd = cmdlineBytes(input.cmdline);
  regions.push({ name: "cmdline", paddr: PVH_CMDLINE_START, bytes: cmd, size: BOOT_PROTOCOL.COMMAND_LINE_SIZE });

  const startInfo = encodeStruct(HVM_START_INFO, {
    magic: XEN_HVM_START_MAGIC_VALUE,
    version: HVM_START_INFO_VERSION,
    flags: 0,
    nr_modules: initrdAt ? 1 : 0,
    modlist_paddr: initrdAt ? BigInt(PVH_MODLIST_START) : 0n, // 0 = not present
    cmdline_paddr: BigInt(PVH_CMDLINE_START),
    rsdp_paddr: BigInt(acpi.rsdp),
    memmap_paddr: BigInt(PVH_MEMMAP_START),
    memmap_entries: memmap.length,
    reserved: 0,
  });
  regions.push({ name: "hvm_start_info", paddr: PVH_START_INFO_START, bytes: startInfo, size: HVM_START_INFO.size });

  // The host's GDT (host/x86/gdt.ts): CODE32 for CS, DATA for the rest. head.S loads its
  // own GDT first thing, reading the operand through DS, so only these two must be valid.
  const gdt = efiGdt();
  const gdtData = gdtBytes(gdt);
  regions.push({ name: "gdt", paddr: PVH_GDT_START, bytes: gdtData, size: gdtData.length });

  regions.sort((a, b) => a.paddr - b.paddr);
  for (let i = 1; i < regions.length; i++) {
    const a = regions[i - 1];
    const b = regions[i];
    if (a.paddr + a.size > b.paddr) throw new Error(`layout bug: ${a.name} ${hex(a.paddr)}+${hex(a.size)} overlaps ${b.name} at ${hex(b.paddr)}`);
  }

  return {
    regions,
    memmap,
    startInfo: PVH_START_INFO_START,
    cmdline: PVH_CMDLINE_START,
    memmapPaddr: PVH_MEMMAP_START,
    modlist: initrdAt ? PVH_MODLIST_START : undefined,
    initrd: initrdAt,
    kernel: { start: kStart, end: kEnd },
    entry: {
      eip: entry,
      ebx: PVH_START_INFO_START,
      cr0: CR0_PE,
      cr4: 0n,
      efer: 0n,
      eflags: 0x2n,
      cs: SEL_CODE32,
      ds: SEL_DATA, es: SEL_DATA, ss: SEL_DATA, fs: SEL_DATA, gs: SEL_DATA,
      gdtr: { base: PVH_GDT_START, limit: gdtData.length - 1 },
    },
  };
}
