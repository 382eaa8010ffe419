// Image services (UEFI 2.10 §7.4): LoadImage from a memory buffer, StartImage with
// nesting and ExitData, Exit, UnloadImage, ExitBootServices; the Loaded Image and
// Loaded Image Device Path protocols (§9.1, §9.2) on every image handle.
//
//   image record (private, 128 bytes)
//   0 handle u64 | 8 base u64 | 16 pages u64 | 24 entry u64 | 32 loadedImage u64
//   40 state u32 (0 free, 1 loaded, 2 started, 3 exited) | 44 codeType u32
//   48 exitStatus u64 | 56 exitData u64 | 64 exitDataSize u64 | 72 tpl at start u64
//   80 LoadedImageDevicePath u64 (pool copy, or 0) | 88 FilePath u64 (pool copy, or 0)
//
// As the spec and EDK2 have it: an application is unloaded when StartImage returns
// (and a driver too when it failed); Exit on an image never started unloads it.
import { guest, gp, reserve } from "../mem";
import { callGuest, hostUnwindGuest } from "../abi";
import { fail, loadPe, imageBase, imagePages, imageSize, imageEntry, imageCodeType, imageDataType } from "../loader";
import { allocPool, retype, mapKey, BS_FreePool, NONE } from "./alloc";
import { install, uninstall, newHandle, lookup, locateDevice, locatedBytes, closeByAgent } from "./handles";
import { pathSize, duplicatePath, appendNode } from "./devpath";
import { currentTpl, restoreTpl, signalGroup, dispatchPending, stopTimers } from "./events";
import { systemTable, exitBootServicesTables } from "./system";
import { loadFromPath } from "./boot";
import {
  LOADED_IMAGE_PROTOCOL, LOADED_IMAGE_PROTOCOL_REVISION, DEVICE_PATH_PROTOCOL, DevicePath,
  MemoryType, Status, Guid, Feature,
} from "../spec/gen";

const MAX_IMAGES: i32 = 64;
const IMAGES: usize = reserve(MAX_IMAGES << 7);
const LOADED: u32 = 1, STARTED: u32 = 2, EXITED: u32 = 3;

const HANDLE: usize = 0, BASE: usize = 8, PAGES: usize = 16, ENTRY: usize = 24, INFO: usize = 32;
const STATE: usize = 40, CODE_TYPE: usize = 44, EXIT_STATUS: usize = 48, EXIT_DATA: usize = 56;
const EXIT_DATA_SIZE: usize = 64, START_TPL: usize = 72, IMAGE_PATH: usize = 80, FILE_PATH: usize = 88;

const ERROR_BIT: u64 = 1 << 63;

/** Stack of running images (innermost last), for Exit's "is this the running image". */
const RUNNING: usize = reserve(MAX_IMAGES << 3);
let depth: i32 = 0;

export let bootServicesExited = false;

/** Between Exit and its StartImage: the host is unwinding the image, no guest code may run. */
export let exiting = false;

@inline function img(i: i32): usize { return IMAGES + (<usize>i << 7); }

function findImage(h: u64): i32 {
  if (!h) return -1;
  for (let i = 0; i < MAX_IMAGES; i++) if (load<u32>(img(i) + STATE) && load<u64>(img(i) + HANDLE) == h) return i;
  return -1;
}

/** Where a loaded image lies (its base; 0 for a handle that is no image), for the host's symbols. */
export function imageBaseOf(h: u64): u64 {
  const i = findImage(h);
  return i < 0 ? 0 : load<u64>(img(i) + BASE);
}

/**
 * Load a PE image from guest memory; returns the status and writes the handle to *out
 * (WASM address). `path` is the image's device path (a valid guest path) or 0: the
 * device is the handle whose device path begins it, FilePath the rest (EDK2's split).
 */
/** src: the WASM address of the image bytes (guest() of the caller's buffer). */
export function loadImage(parent: u64, src: usize, size: u64, path: u64, out: usize): u64 {
  let slot = -1;
  for (let i = 0; i < MAX_IMAGES; i++) if (!load<u32>(img(i) + STATE)) { slot = i; break; }
  if (slot < 0) return fail(Status.OUT_OF_RESOURCES, "image table full: every slot holds an image not yet unloaded", 0);
  const st = loadPe(src, size);
  if (st != Status.SUCCESS) return st;
  const li = allocPool(MemoryType.BootServicesData, LOADED_IMAGE_PROTOCOL.SIZE);
  const h = newHandle();
  const device = path ? locateDevice(Guid.DEVICE_PATH_PROTOCOL, path) : 0;
  const filePath = path ? duplicatePath(path + (device ? locatedBytes : 0)) : 0;
  const imagePath = path ? duplicatePath(path) : 0;
  if (li == NONE || !h || (path && (!filePath || !imagePath))) {
    retype(imageBase, imagePages, MemoryType.ConventionalMemory, 0);
    if (li != NONE) BS_FreePool(li);
    if (filePath) BS_FreePool(filePath);
    if (imagePath) BS_FreePool(imagePath);
    return fail(Status.OUT_OF_RESOURCES, "no memory or handle left for the image's LoadedImage protocol", 0);
  }
  const l = gp(li);
  store<u32>(l + LOADED_IMAGE_PROTOCOL.Revision, LOADED_IMAGE_PROTOCOL_REVISION);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.ParentHandle, parent);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.SystemTable, systemTable);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.DeviceHandle, device);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.FilePath, filePath);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.ImageBase, imageBase);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.ImageSize, imageSize);
  store<u32>(l + LOADED_IMAGE_PROTOCOL.ImageCodeType, imageCodeType);
  store<u32>(l + LOADED_IMAGE_PROTOCOL.ImageDataType, imageDataType);
  install(h, Guid.LOADED_IMAGE_PROTOCOL, li);
  // §9.2: with a NULL interface when LoadImage had no device path (as EDK2 installs it).
  install(h, Guid.LOADED_IMAGE_DEVICE_PATH_PROTOCOL, imagePath);

  const r = img(slot);
  memory.fill(r, 0, 128);
  store<u64>(r + HANDLE, h);
  store<u64>(r + BASE, imageBase);
  store<u64>(r + PAGES, imagePages);
  store<u64>(r + ENTRY, imageEntry);
  store<u64>(r + INFO, li);
  store<u32>(r + STATE, LOADED);
  store<u32>(r + CODE_TYPE, imageCodeType);
  store<u64>(r + IMAGE_PATH, imagePath);
  store<u64>(r + FILE_PATH, filePath);
  store<u64>(out, h);
  return Status.SUCCESS;
}

/**
 * The image's resources go (EDK2 CoreUnloadAndCloseImage): what it holds open, its two
 * protocols (and its handle, if nothing else is on it), its pages and pool.
 */
function unloadImage(i: i32): void {
  const r = img(i);
  const h = load<u64>(r + HANDLE);
  closeByAgent(h);
  uninstall(h, Guid.LOADED_IMAGE_DEVICE_PATH_PROTOCOL);
  uninstall(h, Guid.LOADED_IMAGE_PROTOCOL);
  retype(load<u64>(r + BASE), load<u64>(r + PAGES), MemoryType.ConventionalMemory, 0);
  BS_FreePool(load<u64>(r + INFO));
  if (load<u64>(r + FILE_PATH)) BS_FreePool(load<u64>(r + FILE_PATH));
  if (load<u64>(r + IMAGE_PATH)) BS_FreePool(load<u64>(r + IMAGE_PATH));
  store<u32>(r + STATE, 0);
}

export function BS_LoadImage(bootPolicy: u8, parent: u64, devicePath: u64, src: u64, size: u64, handleOut: u64): u64 {
  const out = guest(handleOut, 8);
  if (!out || findImage(parent) < 0) return Status.INVALID_PARAMETER;
  if (devicePath && !pathSize(devicePath)) return Status.INVALID_PARAMETER;
  // §7.4: without a buffer the image is the file the path names (NOT_FOUND without either).
  if (!src) {
    if (!devicePath || !Feature.DISKS) return Status.NOT_FOUND;
    const st = loadFromPath(parent, devicePath, bootPolicy != 0, out);
    dispatchPending();
    return st;
  }
  if (size == 0) return Status.LOAD_ERROR; // EDK2's status for an empty buffer
  // Through the caller's page tables: the buffer is a virtual range.
  const bytes = guest(src, size);
  if (!bytes) return Status.INVALID_PARAMETER;
  const st = loadImage(parent, bytes, size, devicePath, out);
  dispatchPending(); // protocol notifications for the new handle
  return st;
}

/** Entry point of a loaded image (host use). */
export function imageEntryOf(h: u64): u64 {
  const i = findImage(h);
  return i < 0 ? 0 : load<u64>(img(i) + ENTRY);
}

export function BS_StartImage(h: u64, exitDataSizeOut: u64, exitDataOut: u64): u64 {
  const i = findImage(h);
  if (i < 0 || load<u32>(img(i) + STATE) != LOADED || depth == MAX_IMAGES) return Status.INVALID_PARAMETER;
  const r = img(i);
  store<u32>(r + STATE, STARTED);
  store<u64>(r + START_TPL, currentTpl());
  store<u64>(RUNNING + (<usize>depth << 3), h);
  depth++;
  let status = callGuest(load<u64>(r + ENTRY), h, systemTable);
  depth--;
  exiting = false;
  // The image may have unloaded itself (UnloadImage from inside): nothing left to do.
  if (!load<u32>(r + STATE) || load<u64>(r + HANDLE) != h) return status;
  if (load<u32>(r + STATE) == EXITED) status = load<u64>(r + EXIT_STATUS);
  store<u32>(r + STATE, STARTED);
  // Back at the TPL it was started at, whatever it left (EDK2 CoreStartImage).
  if (currentTpl() != load<u64>(r + START_TPL)) restoreTpl(load<u64>(r + START_TPL));
  // ExitData goes to a caller that asks for it (and frees it); else it is freed here.
  const sizeOut = exitDataSizeOut ? guest(exitDataSizeOut, 8) : 0;
  const dataOut = exitDataOut ? guest(exitDataOut, 8) : 0;
  const data = load<u64>(r + EXIT_DATA);
  if (sizeOut && dataOut) {
    store<u64>(sizeOut, load<u64>(r + EXIT_DATA_SIZE));
    store<u64>(dataOut, data);
  } else if (data) {
    BS_FreePool(data);
  }
  store<u64>(r + EXIT_DATA, 0);
  store<u64>(r + EXIT_DATA_SIZE, 0);
  // §7.4 Exit: an application's image is freed when it exits; a driver's only on error.
  if (status & ERROR_BIT || load<u32>(r + CODE_TYPE) == MemoryType.LoaderCode) unloadImage(i);
  return status;
}

export function BS_Exit(h: u64, status: u64, dataSize: u64, data: u64): u64 {
  const i = findImage(h);
  if (i < 0) return Status.INVALID_PARAMETER;
  const r = img(i);
  // An image loaded but never started just goes.
  if (load<u32>(r + STATE) == LOADED) {
    unloadImage(i);
    return Status.SUCCESS;
  }
  // §7.4: only the running image may exit.
  if (depth == 0 || load<u64>(RUNNING + (<usize>(depth - 1) << 3)) != h) return Status.INVALID_PARAMETER;
  // ExitData is only meaningful with an error status (§7.4: "ignored if ExitStatus is
  // EFI_SUCCESS"; EDK2 keeps it whatever the status). StartImage's caller gets a pool copy.
  let copy: u64 = 0;
  let bytes: u64 = 0;
  if (data && status != Status.SUCCESS) {
    const src = guest(data, dataSize);
    if (!src) return Status.INVALID_PARAMETER;
    copy = allocPool(MemoryType.BootServicesData, dataSize);
    if (copy == NONE) return Status.OUT_OF_RESOURCES;
    memory.copy(gp(copy), src, <usize>dataSize);
    bytes = dataSize;
  }
  store<u32>(r + STATE, EXITED);
  store<u64>(r + EXIT_STATUS, status);
  store<u64>(r + EXIT_DATA, copy);
  store<u64>(r + EXIT_DATA_SIZE, bytes);
  dispatchPending(); // what this call signalled (the ExitData pool changed the map) runs first
  exiting = true;
  hostUnwindGuest();
  return Status.SUCCESS;
}

export function BS_UnloadImage(h: u64): u64 {
  const i = findImage(h);
  if (i < 0) return Status.INVALID_PARAMETER;
  let status = Status.SUCCESS;
  if (load<u32>(img(i) + STATE) != LOADED) {
    // A started image unloads through its own Unload function, if it set one.
    const li = lookup(h, Guid.LOADED_IMAGE_PROTOCOL);
    const unload = li == NONE ? 0 : load<u64>(gp(li) + LOADED_IMAGE_PROTOCOL.Unload);
    if (!unload) return Status.UNSUPPORTED;
    status = callGuest(unload, h, 0);
    if (status & ERROR_BIT) return status;
    const j = findImage(h); // Unload may have done anything, this included
    if (j >= 0) unloadImage(j);
    return status;
  }
  unloadImage(i);
  return status;
}

/**
 * §7.4 ExitBootServices: the before-exit group is signalled, the MapKey checked (a stale
 * one changes nothing more), then timers and the watchdog stop, the exit group's notify
 * functions run, and the system table drops its boot-time pointers.
 */
export function BS_ExitBootServices(h: u64, key: u64): u64 {
  if (findImage(h) < 0) return Status.INVALID_PARAMETER;
  signalGroup(Guid.EVENT_GROUP_BEFORE_EXIT_BOOT_SERVICES);
  dispatchPending();
  if (key != mapKey) return Status.INVALID_PARAMETER;
  stopTimers();
  signalGroup(Guid.EVENT_GROUP_EXIT_BOOT_SERVICES);
  dispatchPending();
  bootServicesExited = true;
  exitBootServicesTables();
  return Status.SUCCESS;
}

/** LoadOptions of an image (host use, before StartImage). */
export function setLoadOptions(h: u64, options: u64, bytes: u32): u64 {
  const li = lookup(h, Guid.LOADED_IMAGE_PROTOCOL);
  if (li == NONE) return Status.INVALID_PARAMETER;
  store<u32>(gp(li) + LOADED_IMAGE_PROTOCOL.LoadOptionsSize, bytes);
  store<u64>(gp(li) + LOADED_IMAGE_PROTOCOL.LoadOptions, options);
  return Status.SUCCESS;
}

// The device the host's image comes from: one handle whose device path is a vendor
// hardware node, made on first use. The image's own path is a vendor media node on it.
let bootDevice: u64 = 0;
let bootImagePath: u64 = 0;

/** Vendor node (type, subtype, GUID at WASM address g) then end, as a pool path; 0 on failure. */
function vendorPath(type: u32, subType: u32, g: usize): u64 {
  const p = allocPool(MemoryType.BootServicesData, 24);
  if (p == NONE) return 0;
  const n = gp(p);
  store<u8>(n + DEVICE_PATH_PROTOCOL.Type, <u8>type);
  store<u8>(n + DEVICE_PATH_PROTOCOL.SubType, <u8>subType);
  store<u16>(n + DEVICE_PATH_PROTOCOL.Length, 20);
  memory.copy(n + 4, g, 16);
  store<u8>(n + 20 + DEVICE_PATH_PROTOCOL.Type, <u8>DevicePath.END_DEVICE_PATH_TYPE);
  store<u8>(n + 20 + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.END_ENTIRE_DEVICE_PATH_SUBTYPE);
  store<u16>(n + 20 + DEVICE_PATH_PROTOCOL.Length, 4);
  return p;
}

/** Make the boot device (at start-up, so that loading an image changes only what it must). */
export function bootDeviceInit(): bool {
  const devicePath = vendorPath(DevicePath.HARDWARE_DEVICE_PATH, DevicePath.HW_VENDOR_DP, Guid.UEFICORN_BOOT_DEVICE);
  const node = vendorPath(DevicePath.MEDIA_DEVICE_PATH, DevicePath.MEDIA_VENDOR_DP, Guid.UEFICORN_BOOT_IMAGE);
  const h = newHandle();
  if (!devicePath || !node || !h) return false;
  install(h, Guid.DEVICE_PATH_PROTOCOL, devicePath);
  bootImagePath = appendNode(devicePath, node, 20);
  BS_FreePool(node);
  bootDevice = h;
  return bootImagePath != 0;
}

/**
 * Load the image the host placed in guest memory, as a boot manager loads a boot option:
 * from the boot device, so that DeviceHandle, FilePath and LoadedImageDevicePath are set.
 */
export function loadBootImage(src: usize, size: u64, out: usize): u64 {
  return loadImage(0, src, size, bootImagePath, out);
}
