// Block devices (UEFI 2.10 §13.9 Block I/O, §13.7 Disk I/O, §13.18 Partition Info):
// each host disk is a handle with both protocols and a device path, and each partition
// the firmware finds on it (GPT, §5.3; else MBR, §5.2) a child handle with its own,
// whose path is the disk's plus a Hard Drive node. Sectors come from the host
// (disk_read/disk_write, byte-addressed), as a virtio-blk device would give them.
//
//   device record (private, 64 bytes)
//   0 blockIo u64 (guest: BLOCK_IO_PROTOCOL, then its MEDIA, then DISK_IO_PROTOCOL)
//   8 handle u64 | 16 first u64 (byte offset of LBA 0 on the host disk) | 24 blocks u64
//   32 disk u32 (host disk index) | 36 blockSize u32 | 40 readOnly u32 | 44 parent i32
//   48 path u64 (guest device path) | 56 partition u32 | 60 esp u32
//
// Protocols are instances: a handler finds its device by This, so any number of disks
// and partitions coexist. Device paths follow OVMF's virtio-blk ones:
// PciRoot(0x0)/Pci(0x4+n,0x0) for disk n, then HD(part, GPT|MBR, signature, start, size).
import { gp, guest, reserve, guidEq } from "../mem";
import { hostDiskRead, hostDiskWrite } from "../abi";
import { allocPool, NONE } from "./alloc";
import { install, newHandle } from "./handles";
import { appendNode } from "./devpath";
import { fillSlots } from "./system";
import { crc32 } from "./misc";
import {
  ACPI_HID_DEVICE_PATH, BLOCK_IO_MEDIA, BLOCK_IO_PROTOCOL, DEVICE_PATH_PROTOCOL, DISK_IO_PROTOCOL,
  HARDDRIVE_DEVICE_PATH, PARTITION_INFO_PROTOCOL, PCI_DEVICE_PATH, DevicePath, Guid, MemoryType,
  PartitionInfo, Revision, Status, Table,
} from "../spec/gen";

const MAX_DEVICES: i32 = 64;
const DEVICES: usize = reserve(<usize>MAX_DEVICES << 6);
let deviceCount: i32 = 0;

const BLOCK_IO: usize = 0, HANDLE: usize = 8, FIRST: usize = 16, BLOCKS: usize = 24, DISK: usize = 32;
const BLOCK_SIZE: usize = 36, READ_ONLY: usize = 40, PARENT: usize = 44, PATH: usize = 48;
const PARTITION: usize = 56, ESP: usize = 60;

/** Guest bytes per instance: Block I/O, its media, Disk I/O. */
const MEDIA_AT: u64 = <u64>BLOCK_IO_PROTOCOL.SIZE;
const DISK_IO_AT: u64 = MEDIA_AT + <u64>BLOCK_IO_MEDIA.SIZE;
const INSTANCE: u64 = DISK_IO_AT + <u64>DISK_IO_PROTOCOL.SIZE;

// EISA ID of PNP0A03, the PCI root bridge (§10.3.3: EISA_PNP_ID(0x0A03)).
const PCI_ROOT_HID: u32 = 0x0a0341d0;
const FIRST_DISK_SLOT: u8 = 4;
const HD_NODE: u16 = <u16>HARDDRIVE_DEVICE_PATH.SignatureType + 1; // 42

// MBR (§5.2.1): four 16-byte records at 446, signature 0xAA55 at 510.
const MBR_RECORDS: usize = 446;
const MBR_DISK_SIGNATURE: usize = 440;
const MBR_PROTECTIVE: u8 = 0xee;
const MBR_ESP: u8 = 0xef;
const GPT_SIGNATURE: u64 = 0x5452415020494645; // "EFI PART"

/** Sector buffer and GPT entry array (private). */
const SECTOR: usize = reserve(4096);
const MAX_ENTRY_BYTES: u32 = 128 * 1024;
const ENTRIES: usize = reserve(MAX_ENTRY_BYTES);
/** One MBR record and the disk signature, copied out of SECTOR. */
const RECORD: usize = reserve(32);

@inline function dev(i: i32): usize { return DEVICES + (<usize>i << 6); }
export function deviceHandle(i: i32): u64 { return load<u64>(dev(i) + HANDLE); }
export function deviceBlockSize(i: i32): u32 { return load<u32>(dev(i) + BLOCK_SIZE); }
export function deviceBytes(i: i32): u64 { return load<u64>(dev(i) + BLOCKS) * <u64>load<u32>(dev(i) + BLOCK_SIZE); }
export function deviceReadOnly(i: i32): bool { return load<u32>(dev(i) + READ_ONLY) != 0; }
export function devices(): i32 { return deviceCount; }

/** Read `bytes` at byte `offset` of device i into WASM memory; false on a device error. */
export function deviceRead(i: i32, offset: u64, dst: usize, bytes: u64): bool {
  const d = dev(i);
  if (offset + bytes > deviceBytes(i) || offset + bytes < offset) return false;
  return transfer(load<u32>(d + DISK), load<u64>(d + FIRST) + offset, dst, bytes, false);
}

/** Host transfers in pieces a u32 can count. */
function transfer(disk: u32, offset: u64, p: usize, bytes: u64, write: bool): bool {
  const CHUNK: u64 = 1 << 30;
  for (let done: u64 = 0; done < bytes; done += CHUNK) {
    const n = <u32>min(CHUNK, bytes - done);
    const ok = write ? hostDiskWrite(disk, offset + done, p + <usize>done, n) : hostDiskRead(disk, offset + done, p + <usize>done, n);
    if (!ok) return false;
  }
  return true;
}

function findByBlockIo(self: u64): i32 {
  for (let i = 0; i < deviceCount; i++) if (self && load<u64>(dev(i) + BLOCK_IO) == self) return i;
  return -1;
}

function findByDiskIo(self: u64): i32 {
  for (let i = 0; i < deviceCount; i++) if (self && load<u64>(dev(i) + BLOCK_IO) + DISK_IO_AT == self) return i;
  return -1;
}

/**
 * A device record, its protocol instance and handle; the path (pool) is installed as is.
 * Returns the record index, or -1 when there is no room.
 */
function addDevice(disk: u32, first: u64, blocks: u64, blockSize: u32, readOnly: bool, parent: i32, path: u64): i32 {
  if (deviceCount == MAX_DEVICES || !path) return -1;
  const inst = allocPool(MemoryType.BootServicesData, INSTANCE);
  const h = newHandle();
  if (inst == NONE || !h) return -1;
  memory.fill(gp(inst), 0, <usize>INSTANCE);
  const b = gp(inst), m = gp(inst + MEDIA_AT), k = gp(inst + DISK_IO_AT);
  store<u64>(b + BLOCK_IO_PROTOCOL.Revision, Revision.BLOCK_IO);
  store<u64>(b + BLOCK_IO_PROTOCOL.Media, inst + MEDIA_AT);
  fillSlots(Table.BlockIo, inst);
  store<u8>(m + BLOCK_IO_MEDIA.MediaPresent, 1);
  store<u8>(m + BLOCK_IO_MEDIA.LogicalPartition, parent >= 0 ? 1 : 0);
  store<u8>(m + BLOCK_IO_MEDIA.ReadOnly, readOnly ? 1 : 0);
  store<u32>(m + BLOCK_IO_MEDIA.BlockSize, blockSize);
  store<u32>(m + BLOCK_IO_MEDIA.IoAlign, 0);
  store<u64>(m + BLOCK_IO_MEDIA.LastBlock, blocks - 1);
  store<u32>(m + BLOCK_IO_MEDIA.LogicalBlocksPerPhysicalBlock, 1);
  store<u64>(k + DISK_IO_PROTOCOL.Revision, Revision.DISK_IO);
  fillSlots(Table.DiskIo, inst + DISK_IO_AT);

  const d = dev(deviceCount);
  store<u64>(d + BLOCK_IO, inst);
  store<u64>(d + HANDLE, h);
  store<u64>(d + FIRST, first);
  store<u64>(d + BLOCKS, blocks);
  store<u32>(d + DISK, disk);
  store<u32>(d + BLOCK_SIZE, blockSize);
  store<u32>(d + READ_ONLY, readOnly ? 1 : 0);
  store<i32>(d + PARENT, parent);
  store<u64>(d + PATH, path);
  store<u32>(d + PARTITION, 0);
  store<u32>(d + ESP, 0);
  install(h, Guid.DEVICE_PATH_PROTOCOL, path);
  install(h, Guid.BLOCK_IO_PROTOCOL, inst);
  install(h, Guid.DISK_IO_PROTOCOL, inst + DISK_IO_AT);
  return deviceCount++;
}

/** PciRoot(0x0)/Pci(slot,0x0) as a pool path; 0 on failure. */
function diskPath(slot: u8): u64 {
  const acpi: u64 = 12, pci: u64 = 6;
  const p = allocPool(MemoryType.BootServicesData, acpi + pci + 4);
  if (p == NONE) return 0;
  const n = gp(p);
  store<u8>(n + DEVICE_PATH_PROTOCOL.Type, <u8>DevicePath.ACPI_DEVICE_PATH);
  store<u8>(n + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.ACPI_DP);
  store<u16>(n + DEVICE_PATH_PROTOCOL.Length, <u16>acpi);
  store<u32>(n + ACPI_HID_DEVICE_PATH.HID, PCI_ROOT_HID);
  store<u32>(n + ACPI_HID_DEVICE_PATH.UID, 0);
  const q = n + <usize>acpi;
  store<u8>(q + DEVICE_PATH_PROTOCOL.Type, <u8>DevicePath.HARDWARE_DEVICE_PATH);
  store<u8>(q + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.HW_PCI_DP);
  store<u16>(q + DEVICE_PATH_PROTOCOL.Length, <u16>pci);
  store<u8>(q + PCI_DEVICE_PATH.Function, 0);
  store<u8>(q + PCI_DEVICE_PATH.Device, slot);
  const e = q + <usize>pci;
  store<u8>(e + DEVICE_PATH_PROTOCOL.Type, <u8>DevicePath.END_DEVICE_PATH_TYPE);
  store<u8>(e + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.END_ENTIRE_DEVICE_PATH_SUBTYPE);
  store<u16>(e + DEVICE_PATH_PROTOCOL.Length, 4);
  return p;
}

let diskCount: u32 = 0;

/**
 * A host disk of `blocks` sectors of `blockSize` bytes: its handle, then one child handle
 * per partition. Returns the number of devices added (the disk and its partitions), 0 on
 * failure. The file systems on them are mounted by the caller (fat.ts).
 */
export function addDisk(blocks: u64, blockSize: u32, readOnly: bool): i32 {
  if (blocks == 0 || blockSize < 512 || blockSize > 4096 || (blockSize & (blockSize - 1))) return 0;
  const disk = diskCount++;
  const path = diskPath(FIRST_DISK_SLOT + <u8>disk);
  const before = deviceCount;
  const i = addDevice(disk, 0, blocks, blockSize, readOnly, -1, path);
  if (i < 0) return 0;
  if (!scanGpt(i)) scanMbr(i);
  return deviceCount - before;
}

/** The partition's Hard Drive node appended to its disk's path, then the child device. */
function addPartition(parent: i32, number: u32, start: u64, blocks: u64, gpt: bool, signature: usize, esp: bool, info: usize, infoBytes: usize): void {
  const pd = dev(parent);
  const node = allocPool(MemoryType.BootServicesData, <u64>HD_NODE);
  if (node == NONE) return;
  const n = gp(node);
  memory.fill(n, 0, <usize>HD_NODE);
  store<u8>(n + DEVICE_PATH_PROTOCOL.Type, <u8>DevicePath.MEDIA_DEVICE_PATH);
  store<u8>(n + DEVICE_PATH_PROTOCOL.SubType, <u8>DevicePath.MEDIA_HARDDRIVE_DP);
  store<u16>(n + DEVICE_PATH_PROTOCOL.Length, HD_NODE);
  store<u32>(n + HARDDRIVE_DEVICE_PATH.PartitionNumber, number);
  store<u64>(n + HARDDRIVE_DEVICE_PATH.PartitionStart, start);
  store<u64>(n + HARDDRIVE_DEVICE_PATH.PartitionSize, blocks);
  memory.copy(n + HARDDRIVE_DEVICE_PATH.Signature, signature, gpt ? 16 : 4);
  // §10.3.5.1: MBRType 1 = PC-AT MBR, 2 = GPT; SignatureType 1 = 32-bit MBR signature, 2 = GUID.
  store<u8>(n + HARDDRIVE_DEVICE_PATH.MBRType, gpt ? 2 : 1);
  store<u8>(n + HARDDRIVE_DEVICE_PATH.SignatureType, gpt ? 2 : 1);
  const path = appendNode(load<u64>(pd + PATH), node, <u64>HD_NODE);
  const bs = load<u32>(pd + BLOCK_SIZE);
  const i = addDevice(load<u32>(pd + DISK), load<u64>(pd + FIRST) + start * <u64>bs, blocks, bs, load<u32>(pd + READ_ONLY) != 0, parent, path);
  if (i < 0) return;
  store<u32>(dev(i) + PARTITION, number);
  store<u32>(dev(i) + ESP, esp ? 1 : 0);
  const pi = allocPool(MemoryType.BootServicesData, PARTITION_INFO_PROTOCOL.SIZE);
  if (pi != NONE) {
    const q = gp(pi);
    memory.fill(q, 0, PARTITION_INFO_PROTOCOL.SIZE);
    store<u32>(q + PARTITION_INFO_PROTOCOL.Revision, PartitionInfo.REVISION);
    store<u32>(q + PARTITION_INFO_PROTOCOL.Type, gpt ? PartitionInfo.TYPE_GPT : PartitionInfo.TYPE_MBR);
    store<u8>(q + PARTITION_INFO_PROTOCOL.System, esp ? 1 : 0);
    memory.copy(q + PARTITION_INFO_PROTOCOL.Info, info, infoBytes);
    install(deviceHandle(i), Guid.PARTITION_INFO_PROTOCOL, pi);
  }
  if (esp) install(deviceHandle(i), Guid.PART_TYPE_SYSTEM_PART, 0);
}

/** Read block `lba` of device i into SECTOR. */
function readBlock(i: i32, lba: u64): bool {
  const bs = <u64>load<u32>(dev(i) + BLOCK_SIZE);
  return deviceRead(i, lba * bs, SECTOR, bs);
}

/**
 * §5.3.2: a GPT header at `lba` that checks (signature, its own CRC, MyLBA) and whose
 * entry array checks (its CRC), the array left in ENTRIES; false otherwise.
 */
function gptHeader(i: i32, lba: u64): bool {
  if (!readBlock(i, lba) || load<u64>(SECTOR) != GPT_SIGNATURE) return false;
  const bs = load<u32>(dev(i) + BLOCK_SIZE);
  const headerSize = load<u32>(SECTOR, 12);
  if (headerSize < 92 || headerSize > bs || load<u64>(SECTOR, 24) != lba) return false;
  const crc = load<u32>(SECTOR, 16);
  store<u32>(SECTOR, 0, 16);
  if (crc32(SECTOR, headerSize) != crc) return false;
  store<u32>(SECTOR, crc, 16);
  const count = load<u32>(SECTOR, 80), size = load<u32>(SECTOR, 84);
  if (size < 128 || (size & 7) || <u64>count * <u64>size > <u64>MAX_ENTRY_BYTES) return false;
  const bytes = count * size;
  if (!deviceRead(i, load<u64>(SECTOR, 72) * <u64>bs, ENTRIES, <u64>bytes)) return false;
  return crc32(ENTRIES, bytes) == load<u32>(SECTOR, 88);
}

/** A GPT disk (protective MBR, then a valid primary or backup header): its partitions. */
function scanGpt(i: i32): bool {
  if (!readBlock(i, 0) || load<u16>(SECTOR, 510) != 0xaa55) return false;
  let protective = false;
  for (let r: usize = 0; r < 4; r++) if (load<u8>(SECTOR + MBR_RECORDS + (r << 4) + 4) == MBR_PROTECTIVE) protective = true;
  if (!protective) return false;
  const last = load<u64>(dev(i) + BLOCKS) - 1;
  if (!gptHeader(i, 1) && !gptHeader(i, last)) return false;
  const firstUsable = load<u64>(SECTOR, 40), lastUsable = load<u64>(SECTOR, 48);
  const count = load<u32>(SECTOR, 80), size = load<u32>(SECTOR, 84);
  for (let e: u32 = 0; e < count; e++) {
    const p = ENTRIES + <usize>(e * size);
    if (load<u64>(p) == 0 && load<u64>(p, 8) == 0) continue; // unused entry
    const start = load<u64>(p, 32), end = load<u64>(p, 40);
    if (start < firstUsable || end > lastUsable || end < start) continue;
    addPartition(i, e + 1, start, end - start + 1, true, p + 16, guidEq(p, Guid.PART_TYPE_SYSTEM_PART), p, 128);
  }
  return true;
}

/**
 * An MBR's primary partitions, when the table is consistent (EDK2 PartitionValidMbr:
 * every used record inside the disk, none overlapping); else, a disk without partitions
 * (a "superfloppy": its boot sector may be a file system's). An extended partition's
 * logical partitions follow (logicalPartitions).
 */
function scanMbr(i: i32): void {
  if (!readBlock(i, 0) || load<u16>(SECTOR, 510) != 0xaa55) return;
  const blocks = load<u64>(dev(i) + BLOCKS);
  let used = 0;
  for (let r: usize = 0; r < 4; r++) {
    const p = SECTOR + MBR_RECORDS + (r << 4);
    const type = load<u8>(p, 4);
    const start = <u64>load<u32>(p, 8), size = <u64>load<u32>(p, 12);
    if (!type || !size) continue;
    if ((load<u8>(p) & 0x7f) != 0 || start == 0 || start + size > blocks) return;
    for (let q: usize = 0; q < r; q++) {
      const o = SECTOR + MBR_RECORDS + (q << 4);
      const os = <u64>load<u32>(o, 8), oz = <u64>load<u32>(o, 12);
      if (load<u8>(o, 4) && oz && start < os + oz && os < start + size) return;
    }
    used++;
  }
  if (!used) return;
  const signature = SECTOR + MBR_DISK_SIGNATURE;
  const record = RECORD;
  for (let r: usize = 0; r < 4; r++) {
    // SECTOR is reused by each addPartition's reads: copy the record out first.
    memory.copy(record, SECTOR + MBR_RECORDS + (r << 4), 16);
    memory.copy(record + 16, signature, 4);
    const type = load<u8>(record, 4);
    const start = <u64>load<u32>(record, 8), size = <u64>load<u32>(record, 12);
    if (!type || !size) continue;
    if (isExtended(type)) {
      logicalPartitions(i, start, size, signature);
    } else {
      addPartition(i, <u32>r + 1, start, size, false, record + 16, type == MBR_ESP, record, 16);
    }
    readBlock(i, 0);
  }
}

@inline function isExtended(type: u8): bool { return type == 0x05 || type == 0x0f || type == 0x85; }

/** The MBR's disk signature, kept while the EBRs are read over SECTOR. */
const SIGNATURE: usize = reserve(4);

/**
 * The logical partitions of the extended partition at [base, base + size): a chain of
 * extended boot records (EBRs), each at the start of its slot, whose first record is a
 * logical partition (its start relative to that EBR) and whose second points at the next
 * EBR (relative to the extended partition's start). Numbered from 5, as EDK2 and Linux do;
 * a record outside the extended partition, or a chain that loops, ends the walk.
 */
function logicalPartitions(i: i32, base: u64, size: u64, signature: usize): void {
  memory.copy(SIGNATURE, signature, 4);
  let ebr = base;
  for (let n: u32 = 5; n < 5 + 128; n++) {
    if (!readBlock(i, ebr) || load<u16>(SECTOR, 510) != 0xaa55) return;
    memory.copy(RECORD, SECTOR + MBR_RECORDS, 16);
    const next = SECTOR + MBR_RECORDS + 16;
    const nextType = load<u8>(next, 4);
    const nextAt = <u64>load<u32>(next, 8);
    const type = load<u8>(RECORD, 4);
    const start = ebr + <u64>load<u32>(RECORD, 8), blocks = <u64>load<u32>(RECORD, 12);
    if (type && blocks && start + blocks <= base + size && start > ebr) {
      memory.copy(RECORD + 16, SIGNATURE, 4);
      // The record as the MBR would hold it: its start from the disk's beginning.
      store<u32>(RECORD, <u32>start, 8);
      addPartition(i, n, start, blocks, false, RECORD + 16, type == MBR_ESP, RECORD, 16);
    }
    if (!isExtended(nextType) || !nextAt || nextAt >= size || base + nextAt <= ebr) return;
    ebr = base + nextAt;
  }
}


// ---------------------------------------------------------------- Block I/O --

function checkTransfer(i: i32, mediaId: u32, lba: u64, size: u64, buffer: u64): u64 {
  if (mediaId != 0) return Status.MEDIA_CHANGED;
  const bs = <u64>load<u32>(dev(i) + BLOCK_SIZE);
  if (size % bs) return Status.BAD_BUFFER_SIZE;
  const blocks = load<u64>(dev(i) + BLOCKS);
  if (lba >= blocks || size / bs > blocks - lba) return Status.INVALID_PARAMETER;
  if (size && !buffer) return Status.INVALID_PARAMETER;
  return Status.SUCCESS;
}

export function BlockIo_Reset(self: u64, extended: u8): u64 {
  return findByBlockIo(self) < 0 ? Status.INVALID_PARAMETER : Status.SUCCESS;
}

export function BlockIo_ReadBlocks(self: u64, mediaId: u32, lba: u64, size: u64, buffer: u64): u64 {
  const i = findByBlockIo(self);
  if (i < 0) return Status.INVALID_PARAMETER;
  const st = checkTransfer(i, mediaId, lba, size, buffer);
  if (st != Status.SUCCESS || !size) return st;
  const out = guest(buffer, size);
  if (!out) return Status.INVALID_PARAMETER;
  return deviceRead(i, lba * <u64>load<u32>(dev(i) + BLOCK_SIZE), out, size) ? Status.SUCCESS : Status.DEVICE_ERROR;
}

export function BlockIo_WriteBlocks(self: u64, mediaId: u32, lba: u64, size: u64, buffer: u64): u64 {
  const i = findByBlockIo(self);
  if (i < 0) return Status.INVALID_PARAMETER;
  if (deviceReadOnly(i)) return Status.WRITE_PROTECTED;
  const st = checkTransfer(i, mediaId, lba, size, buffer);
  if (st != Status.SUCCESS || !size) return st;
  const src = guest(buffer, size);
  if (!src) return Status.INVALID_PARAMETER;
  return deviceWrite(i, lba * <u64>load<u32>(dev(i) + BLOCK_SIZE), src, size) ? Status.SUCCESS : Status.DEVICE_ERROR;
}

/** Writes reach the host's overlay at once; the host commits it when the run ends cleanly. */
export function BlockIo_FlushBlocks(self: u64): u64 {
  return findByBlockIo(self) < 0 ? Status.INVALID_PARAMETER : Status.SUCCESS;
}

export function deviceWrite(i: i32, offset: u64, src: usize, bytes: u64): bool {
  const d = dev(i);
  if (offset + bytes > deviceBytes(i) || offset + bytes < offset) return false;
  return transfer(load<u32>(d + DISK), load<u64>(d + FIRST) + offset, src, bytes, true);
}

// ----------------------------------------------------------------- Disk I/O --

export function DiskIo_ReadDisk(self: u64, mediaId: u32, offset: u64, size: u64, buffer: u64): u64 {
  const i = findByDiskIo(self);
  if (i < 0) return Status.INVALID_PARAMETER;
  if (mediaId != 0) return Status.MEDIA_CHANGED;
  if (offset + size > deviceBytes(i) || offset + size < offset) return Status.INVALID_PARAMETER;
  if (!size) return Status.SUCCESS;
  const out = guest(buffer, size);
  if (!out) return Status.INVALID_PARAMETER;
  return deviceRead(i, offset, out, size) ? Status.SUCCESS : Status.DEVICE_ERROR;
}

export function DiskIo_WriteDisk(self: u64, mediaId: u32, offset: u64, size: u64, buffer: u64): u64 {
  const i = findByDiskIo(self);
  if (i < 0) return Status.INVALID_PARAMETER;
  if (mediaId != 0) return Status.MEDIA_CHANGED;
  if (deviceReadOnly(i)) return Status.WRITE_PROTECTED;
  if (offset + size > deviceBytes(i) || offset + size < offset) return Status.INVALID_PARAMETER;
  if (!size) return Status.SUCCESS;
  const src = guest(buffer, size);
  if (!src) return Status.INVALID_PARAMETER;
  return deviceWrite(i, offset, src, size) ? Status.SUCCESS : Status.DEVICE_ERROR;
}

/** Device index of the handle, or -1. */
export function deviceOfHandle(h: u64): i32 {
  for (let i = 0; i < deviceCount; i++) if (h && deviceHandle(i) == h) return i;
  return -1;
}

/** True when device i is a whole disk on which partitions were found. */
export function hasPartitions(i: i32): bool {
  for (let j = 0; j < deviceCount; j++) if (load<i32>(dev(j) + PARENT) == i) return true;
  return false;
}

export function devicePath(i: i32): u64 { return load<u64>(dev(i) + PATH); }
export function deviceIsEsp(i: i32): bool { return load<u32>(dev(i) + ESP) != 0; }
