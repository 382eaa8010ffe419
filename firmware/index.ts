// The firmware module's exports: what the host calls. Guest-facing services are
// reached only through dispatch(); the rest sets up a run.
import { GUEST_BASE, setRamBytes, guest, privateEnd, setPaging, pagingRoot, pagingRootHigh, pagingConfig } from "./mem";
import { ARGS, arg } from "./abi";
import { setMachine } from "./arch";
import { mapInit, allocPages, retype, FLAG_FIRMWARE } from "./services/alloc";
import { handlesInit } from "./services/handles";
import { systemInit, systemTable, thunks } from "./services/system";
import { loadBootImage, bootDeviceInit, setLoadOptions, BS_StartImage, bootServicesExited, exiting, imageBaseOf } from "./services/image";
import { eventsInit, tick, idle } from "./services/events";
import { adopted, loadError, loadErrorOffset, offerSourceAsImage } from "./loader";
import { Arg, Feature, Guid, STUBBED, Status, MemoryType } from "./spec/gen";
import { varsInit, varsLoad, varsDefaults, STORE, STORE_SIZE, nvGeneration } from "./services/variables";
import { initrdInit } from "./services/initrd";
import { installConfigTable } from "./services/system";
import { addDisk, devices, hasPartitions } from "./services/disk";
import { mountFat } from "./services/fat";
import { bootManager, bootHandle } from "./services/boot";
import { gopInit, framebuffer, screenWidth, screenHeight } from "./services/gop";

import { dispatch as serve, installProtocols } from "./spec/dispatch";

/** Serve service `id` with the arguments and CR3 the host put in ARGS. */
export function dispatch(id: u32): u64 {
  const root = pagingRoot(), high = pagingRootHigh(), config = pagingConfig();
  usePaging();
  const status = serve(id);
  // The timer interrupt, in effect: due timers fire between the guest's calls; and
  // whatever the service signalled runs its notify functions before the guest resumes.
  if (!bootServicesExited && !exiting) tick();
  setPaging(root, high, config);
  return status;
}

/** Translate the current call's pointers with the page tables the host put in ARGS. */
function usePaging(): void {
  setPaging(load<u64>(ARGS + (Arg.PAGE_ROOT << 3)), load<u64>(ARGS + (Arg.PAGE_ROOT_HIGH << 3)), load<u64>(ARGS + (Arg.PAGE_CONFIG << 3)));
}

/** dispatch() for the trap gate: the status goes to the STATUS slot, and no i64 crosses to JS. */
export function fw_trap(id: u32): void {
  store<u64>(ARGS + (Arg.STATUS << 3), dispatch(id));
}

export function fw_guest_base(): usize { return GUEST_BASE; }
/** End of the firmware's static data and private state; the host checks it is below GUEST_BASE. */
export function fw_private_end(): usize { return privateEnd(); }
export function fw_args(): usize { return ARGS; }

/** The CPU to serve, by PE machine (0x8664, 0xAA64), before fw_init; false for another. */
export function fw_set_machine(m: u32): bool { return setMachine(m); }

export function fw_init(ramBytes: u64): u64 {
  setRamBytes(ramBytes);
  mapInit();
  handlesInit();
  eventsInit();
  varsInit();
  const ok = systemInit() && bootDeviceInit() && installProtocols();
  return ok ? Status.SUCCESS : Status.OUT_OF_RESOURCES;
}

export function fw_system_table(): u64 { return systemTable; }
export function fw_thunks(): u64 { return thunks; }

/**
 * Pages for the host's own use (stack, GDT, page tables, a file it copies in); NONE on
 * failure. Zeroed unless `zero` is false: the host then overwrites every byte it uses.
 */
export function fw_alloc_pages(type: u32, pages: u64, zero: bool): u64 {
  return allocPages(type, pages, FLAG_FIRMWARE, zero);
}

/** Return host-allocated pages (fw_alloc_pages) to free memory. */
export function fw_free_pages(addr: u64, pages: u64): void {
  retype(addr, pages, MemoryType.ConventionalMemory, 0);
}

const HANDLE_OUT: usize = memory.data(8, 8);
let lastHandle: u64 = 0;

/** Load the image the host placed at [src, src + size); the handle via fw_loaded_handle. */
export function fw_load_image(src: u64, size: u64): u64 {
  const bytes = guest(src, size);
  if (!bytes) return Status.INVALID_PARAMETER;
  const st = loadBootImage(bytes, size, HANDLE_OUT);
  lastHandle = st == Status.SUCCESS ? load<u64>(HANDLE_OUT) : 0;
  return st;
}
/**
 * fw_load_image for a buffer the host staged and gives up: pages of it from src; the
 * loader may make it the image (loader.ts offerSourceAsImage). fw_load_adopted() then
 * says it did, and the buffer is no longer the host's to free.
 */
export function fw_load_image_in_place(src: u64, size: u64, pages: u64): u64 {
  offerSourceAsImage(src, pages);
  const st = fw_load_image(src, size);
  offerSourceAsImage(0, 0);
  return st;
}
export function fw_load_adopted(): bool { return adopted; }
export function fw_loaded_handle(): u64 { return lastHandle; }
/** Where the image with handle h was loaded (0: no such image): the host names addresses in it. */
export function fw_image_base(h: u64): u64 { return imageBaseOf(h); }
export function fw_load_error(): string { return loadError; }
export function fw_load_error_offset(): u64 { return loadErrorOffset; }

export function fw_set_load_options(h: u64, options: u64, bytes: u32): u64 {
  return setLoadOptions(h, options, bytes);
}

export function fw_start_image(h: u64): u64 { return BS_StartImage(h, 0, 0); }

export function fw_boot_services_exited(): bool { return bootServicesExited; }

export function fw_stubbed(id: u32): u32 { return load<u8>(STUBBED + id); }

/** Argument i of the current call, as the dispatcher sees it (for traces). */
export function fw_arg(i: i32): u64 {
  const root = pagingRoot(), high = pagingRootHigh(), config = pagingConfig();
  usePaging();
  const v = arg(i);
  setPaging(root, high, config);
  return v;
}


/** The variable store (private memory): the host copies a saved store in, or saves it. */
export function fw_vars_store(): usize { return STORE; }
export function fw_vars_capacity(): u32 { return STORE_SIZE; }
export function fw_vars_used(): u32 { return load<u32>(STORE, 8); }
/** Check a store the host copied in; 0 or (offset of the first bad byte + 1). */
export function fw_vars_load(bytes: u32): u32 { return varsLoad(bytes); }
export function fw_vars_generation(): u32 { return nvGeneration; }
/** The boot manager's variables (Timeout, PlatformLang, OsIndicationsSupported...), after a saved store is loaded. */
export function fw_vars_defaults(): void { varsDefaults(); }

/** The machine's ACPI tables (host/acpi.ts), already in guest memory: their RSDP becomes the ACPI 2.0 configuration table. */
export function fw_set_acpi(rsdp: u64): u64 {
  return installConfigTable(Guid.ACPI_20_TABLE, rsdp);
}

/** The machine's device tree (host/arm64/fdt.ts), already in guest memory, as the DTB configuration table. */
export function fw_set_device_tree(fdt: u64): u64 {
  return installConfigTable(Guid.DEVICE_TREE, fdt);
}

/** Offer guest memory [base, base + size), filled by the host, as the initrd (LoadFile2). */
export function fw_set_initrd(base: u64, size: u64): u64 {
  return initrdInit(base, size) ? Status.SUCCESS : Status.OUT_OF_RESOURCES;
}

/**
 * A host disk (sectors through the host's disk_read/disk_write): its handle, a handle per
 * partition, and a file system on each that holds FAT. Returns the handles made (0: none).
 */
export function fw_add_disk(blocks: u64, blockSize: u32, readOnly: bool): i32 {
  if (!Feature.DISKS) return 0;
  const first = devices();
  const n = addDisk(blocks, blockSize, readOnly);
  for (let d = first; d < first + n; d++) if (!hasPartitions(d)) mountFat(d);
  return n;
}

/** The boot manager: load the first bootable option (its handle via fw_loaded_handle). */
export function fw_boot(): u64 {
  if (!Feature.DISKS) return Status.NOT_FOUND;
  const st = bootManager();
  lastHandle = st == Status.SUCCESS ? bootHandle : 0;
  return st;
}

/** A display of width x height (GraphicsOutput); OUT_OF_RESOURCES when its framebuffer does not fit. */
export function fw_set_screen(width: u32, height: u32): u64 {
  return Feature.SCREEN && gopInit(width, height) ? Status.SUCCESS : Status.UNSUPPORTED;
}

/** The framebuffer's guest address (0: no display); its size via fw_screen_size. */
export function fw_framebuffer(): u64 { return framebuffer; }
/** Width << 16 | height of the display. */
export function fw_screen_size(): u32 { return (screenWidth << 16) | screenHeight; }

/** The guest halted during boot services: its timer tick (events.ts idle); false when nothing will ever wake it. */
export function fw_idle(): bool { return idle(); }
