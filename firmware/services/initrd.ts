// The initrd, offered as Linux's EFI stub looks for it (drivers/firmware/efi/libstub/
// efi-stub-helper.c, efi_load_initrd_dev_path): EFI_LOAD_FILE2_PROTOCOL on a handle
// whose device path is one vendor media node with LINUX_EFI_INITRD_MEDIA_GUID.
import { gp, guest } from "../mem";
import { allocPool, NONE } from "./alloc";
import { install, newHandle } from "./handles";
import { DEVICE_PATH_PROTOCOL, LOAD_FILE2_PROTOCOL, DevicePath, Guid, MemoryType, Status, Table } from "../spec/gen";
import { fillSlots } from "./system";

// Vendor media node: header (4) + vendor GUID (16); then the end node (4).
const VENDOR_NODE: u16 = 20;

let initrdBase: u64 = 0;
let initrdSize: u64 = 0;

/** Offer [base, base + size) of guest memory (filled by the host) as the initrd. */
export function initrdInit(base: u64, size: u64): bool {
  const path = allocPool(MemoryType.BootServicesData, <u64>VENDOR_NODE + 4 + LOAD_FILE2_PROTOCOL.SIZE);
  const h = newHandle();
  if (path == NONE || !h) return false;
  const p = gp(path);
  store<u8>(p + DEVICE_PATH_PROTOCOL.Type, <u8>DevicePath.MEDIA_DEVICE_PATH);
  store<u8>(p + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.MEDIA_VENDOR_DP);
  store<u16>(p + DEVICE_PATH_PROTOCOL.Length, VENDOR_NODE);
  memory.copy(p + DEVICE_PATH_PROTOCOL.SIZE, Guid.LINUX_EFI_INITRD_MEDIA, 16);
  store<u8>(p + VENDOR_NODE + DEVICE_PATH_PROTOCOL.Type, <u8>DevicePath.END_DEVICE_PATH_TYPE);
  store<u8>(p + VENDOR_NODE + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.END_ENTIRE_DEVICE_PATH_SUBTYPE);
  store<u16>(p + VENDOR_NODE + DEVICE_PATH_PROTOCOL.Length, 4);
  const lf2 = path + <u64>VENDOR_NODE + 4;
  fillSlots(Table.LoadFile2, lf2);
  install(h, Guid.DEVICE_PATH_PROTOCOL, path);
  install(h, Guid.LOAD_FILE2_PROTOCOL, lf2);
  initrdBase = base;
  initrdSize = size;
  return true;
}

export function LoadFile2_LoadFile(self: u64, filePath: u64, bootPolicy: u8, sizePtr: u64, buffer: u64): u64 {
  const size = guest(sizePtr, 8);
  if (!size || !filePath) return Status.INVALID_PARAMETER;
  // §13.2: LoadFile2 never loads boot options.
  if (bootPolicy) return Status.UNSUPPORTED;
  if (load<u64>(size) < initrdSize || !buffer) {
    store<u64>(size, initrdSize);
    return Status.BUFFER_TOO_SMALL;
  }
  const out = guest(buffer, initrdSize);
  if (!out) return Status.INVALID_PARAMETER;
  memory.copy(out, gp(initrdBase), <usize>initrdSize);
  store<u64>(size, initrdSize);
  return Status.SUCCESS;
}
