// The firmware module's exports: what the host calls. Guest-facing services are
// reached only through dispatch(); the rest sets up a run.
import { GUEST_BASE, setRamBytes, guest, privateEnd } from "./mem";
import { ARGS, arg } from "./abi";
import { mapInit, allocPages, FLAG_FIRMWARE } from "./services/alloc";
import { handlesInit } from "./services/handles";
import { systemInit, systemTable, thunks } from "./services/system";
import { loadImage, setLoadOptions, BS_StartImage, bootServicesExited } from "./services/image";
import { loadError, loadErrorOffset } from "./loader";
import { STUBBED, Status } from "./spec/gen";

export { dispatch } from "./spec/dispatch";

export function fw_guest_base(): usize { return GUEST_BASE; }
/** End of the firmware's static data and private state; the host checks it is below GUEST_BASE. */
export function fw_private_end(): usize { return privateEnd(); }
export function fw_args(): usize { return ARGS; }

export function fw_init(ramBytes: u64): u64 {
  setRamBytes(ramBytes);
  mapInit();
  handlesInit();
  return systemInit() ? Status.SUCCESS : Status.OUT_OF_RESOURCES;
}

export function fw_system_table(): u64 { return systemTable; }
export function fw_thunks(): u64 { return thunks; }

/** Pages for the host's own CPU structures (stack, GDT, page tables); NONE on failure. */
export function fw_alloc_pages(type: u32, pages: u64): u64 {
  return allocPages(type, pages, FLAG_FIRMWARE);
}

const HANDLE_OUT: usize = memory.data(8, 8);
let lastHandle: u64 = 0;

/** Load the image the host placed at [src, src + size); the handle via fw_loaded_handle. */
export function fw_load_image(src: u64, size: u64): u64 {
  if (!guest(src, size)) return Status.INVALID_PARAMETER;
  const st = loadImage(0, src, size, HANDLE_OUT);
  lastHandle = st == Status.SUCCESS ? load<u64>(HANDLE_OUT) : 0;
  return st;
}
export function fw_loaded_handle(): u64 { return lastHandle; }
export function fw_load_error(): string { return loadError; }
export function fw_load_error_offset(): u64 { return loadErrorOffset; }

export function fw_set_load_options(h: u64, options: u64, bytes: u32): u64 {
  return setLoadOptions(h, options, bytes);
}

export function fw_start_image(h: u64): u64 { return BS_StartImage(h, 0, 0); }

export function fw_boot_services_exited(): bool { return bootServicesExited; }

export function fw_stubbed(id: u32): u32 { return load<u8>(STUBBED + id); }

/** Argument i of the current call, as the dispatcher sees it (for traces). */
export function fw_arg(i: i32): u64 { return arg(i); }
