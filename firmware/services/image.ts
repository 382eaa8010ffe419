// Image services (UEFI 2.10 §7.4): LoadImage from a memory buffer, StartImage with
// nesting, Exit, UnloadImage, ExitBootServices.
//
//   image record (private, 64 bytes)
//   0 handle u64 | 8 base u64 | 16 pages u64 | 24 entry u64 | 32 loadedImage u64
//   40 state u32 (0 free, 1 loaded, 2 started, 3 exited) | 44 codeType u32
//   48 exitStatus u64 | 56 (unused)
import { guest, gp, reserve } from "../mem";
import { hostCallGuest, hostUnwindGuest } from "../abi";
import { loadPe, imageBase, imagePages, imageSize, imageEntry, imageCodeType, imageDataType } from "../loader";
import { allocPool, retype, mapKey, NONE } from "./alloc";
import { install, newHandle, lookup } from "./handles";
import { systemTable } from "./system";
import { LOADED_IMAGE_PROTOCOL, LOADED_IMAGE_PROTOCOL_REVISION, MemoryType, Status, Guid } from "../spec/gen";

const MAX_IMAGES: i32 = 64;
const IMAGES: usize = reserve(MAX_IMAGES << 6);
const LOADED: u32 = 1, STARTED: u32 = 2, EXITED: u32 = 3;

/** Stack of running images (innermost last), for Exit's "is this the running image". */
const RUNNING: usize = reserve(MAX_IMAGES << 3);
let depth: i32 = 0;

export let bootServicesExited = false;

@inline function img(i: i32): usize { return IMAGES + (<usize>i << 6); }

function findImage(h: u64): i32 {
  if (!h) return -1;
  for (let i = 0; i < MAX_IMAGES; i++) if (load<u32>(img(i), 40) && load<u64>(img(i)) == h) return i;
  return -1;
}

/** Load a PE image from guest memory; returns the status and writes the handle to *out (WASM address). */
export function loadImage(parent: u64, src: u64, size: u64, out: usize): u64 {
  let slot = -1;
  for (let i = 0; i < MAX_IMAGES; i++) if (!load<u32>(img(i), 40)) { slot = i; break; }
  if (slot < 0) return Status.OUT_OF_RESOURCES;
  const st = loadPe(src, size);
  if (st != Status.SUCCESS) return st;
  const li = allocPool(MemoryType.BootServicesData, LOADED_IMAGE_PROTOCOL.SIZE);
  const h = newHandle();
  if (li == NONE || !h) {
    retype(imageBase, imagePages, MemoryType.ConventionalMemory, 0);
    return Status.OUT_OF_RESOURCES;
  }
  const l = gp(li);
  store<u32>(l + LOADED_IMAGE_PROTOCOL.Revision, LOADED_IMAGE_PROTOCOL_REVISION);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.ParentHandle, parent);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.SystemTable, systemTable);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.ImageBase, imageBase);
  store<u64>(l + LOADED_IMAGE_PROTOCOL.ImageSize, imageSize);
  store<u32>(l + LOADED_IMAGE_PROTOCOL.ImageCodeType, imageCodeType);
  store<u32>(l + LOADED_IMAGE_PROTOCOL.ImageDataType, imageDataType);
  install(h, Guid.LOADED_IMAGE_PROTOCOL, li);

  const r = img(slot);
  store<u64>(r, h);
  store<u64>(r, imageBase, 8);
  store<u64>(r, imagePages, 16);
  store<u64>(r, imageEntry, 24);
  store<u64>(r, li, 32);
  store<u32>(r, LOADED, 40);
  store<u32>(r, imageCodeType, 44);
  store<u64>(out, h);
  return Status.SUCCESS;
}

export function BS_LoadImage(bootPolicy: u8, parent: u64, devicePath: u64, src: u64, size: u64, handleOut: u64): u64 {
  const out = guest(handleOut, 8);
  if (!out || findImage(parent) < 0) return Status.INVALID_PARAMETER;
  // Loading from a device path needs a file system; none is offered yet.
  if (!src) return devicePath ? Status.NOT_FOUND : Status.INVALID_PARAMETER;
  if (!guest(src, size) || size == 0) return Status.INVALID_PARAMETER;
  return loadImage(parent, src, size, out);
}

/** Entry point of a loaded image (host use). */
export function imageEntryOf(h: u64): u64 {
  const i = findImage(h);
  return i < 0 ? 0 : load<u64>(img(i), 24);
}

export function BS_StartImage(h: u64, exitDataSize: u64, exitData: u64): u64 {
  const i = findImage(h);
  if (i < 0 || load<u32>(img(i), 40) != LOADED || depth == MAX_IMAGES) return Status.INVALID_PARAMETER;
  const r = img(i);
  store<u32>(r, STARTED, 40);
  store<u64>(RUNNING + (<usize>depth << 3), h);
  depth++;
  let status = hostCallGuest(load<u64>(r, 24), h, systemTable);
  depth--;
  if (load<u32>(r, 40) == EXITED) status = load<u64>(r, 48);
  // ExitData is not kept: report none.
  const eds = guest(exitDataSize, 8);
  if (eds) store<u64>(eds, 0);
  const ed = guest(exitData, 8);
  if (ed) store<u64>(ed, 0);
  return status;
}

export function BS_Exit(h: u64, status: u64, dataSize: u64, data: u64): u64 {
  // §7.4: only the running image may exit.
  if (depth == 0 || load<u64>(RUNNING + (<usize>(depth - 1) << 3)) != h) return Status.INVALID_PARAMETER;
  const r = img(findImage(h));
  store<u32>(r, EXITED, 40);
  store<u64>(r, status, 48);
  hostUnwindGuest();
  return Status.SUCCESS;
}

export function BS_UnloadImage(h: u64): u64 {
  const i = findImage(h);
  if (i < 0) return Status.INVALID_PARAMETER;
  // Started images unload through their own Unload function, which we do not call yet.
  if (load<u32>(img(i), 40) != LOADED) return Status.UNSUPPORTED;
  retype(load<u64>(img(i), 8), load<u64>(img(i), 16), MemoryType.ConventionalMemory, 0);
  store<u32>(img(i), 0, 40);
  return Status.SUCCESS;
}

export function BS_ExitBootServices(h: u64, key: u64): u64 {
  if (findImage(h) < 0 || key != mapKey) return Status.INVALID_PARAMETER;
  bootServicesExited = true;
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
