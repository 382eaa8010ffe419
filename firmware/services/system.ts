// The system table, the service tables and the configuration table (UEFI 2.10 §4).
//
// Runtime-services data page (survives ExitBootServices):
//   0    EFI_SYSTEM_TABLE          120 bytes
//   128  EFI_RUNTIME_SERVICES      136 bytes
//   272  FirmwareVendor           UCS-2, NUL-terminated
//   512  EFI_CONFIGURATION_TABLE[MAX_CONFIG_TABLES]   24 bytes each
//   2048 EFI_RT_PROPERTIES_TABLE     8 bytes
// Boot-services data page:
//   0    EFI_BOOT_SERVICES         376 bytes
//   384  ConOut protocol            80 bytes
//   464  SIMPLE_TEXT_OUTPUT_MODE    24 bytes
//   488  ConIn protocol             24 bytes
//   512  DevicePathUtilities        64 bytes
//   576  DevicePathToText           16 bytes
// Runtime-services code page: one 8-byte thunk per service id (arch.ts thunkWord).
import { gp, guest, guidEq, reserve } from "../mem";
import { thunkWord } from "../arch";
import { allocPages, allocPool, FLAG_FIRMWARE, NONE } from "./alloc";
import { crc32 } from "./misc";
import { install, newHandle } from "./handles";
import { createEvent, signalGroup, dispatchPending } from "./events";
import { setWaitForKey, textInit } from "./text";
import {
  SYSTEM_TABLE, BOOT_SERVICES, RUNTIME_SERVICES, TABLE_HEADER, CONFIGURATION_TABLE,
  SIMPLE_TEXT_OUTPUT_PROTOCOL, SIMPLE_TEXT_INPUT_PROTOCOL, Signature, MemoryType, Status, Guid, Table,
  SYSTEM_TABLE_REVISION, FIRMWARE_REVISION, FIRMWARE_VENDOR, SERVICE_COUNT, SLOT_TABLE,
  THUNK_SIZE, STUBBED, RT_PROPERTIES_TABLE,
  SIMPLE_TEXT_INPUT_EX_PROTOCOL, Feature,
} from "../spec/gen";

const RT_OFFSET: u64 = 128;
const VENDOR_OFFSET: u64 = 272;
const CONFIG_OFFSET: u64 = 512;
const MAX_CONFIG_TABLES: u64 = 64; // 512 + 64 * 24 = 2048 bytes, within the page
const RT_PROPERTIES_OFFSET: u64 = 2048;
const CONOUT_OFFSET: u64 = 384;
const MODE_OFFSET: u64 = 464;
const CONIN_OFFSET: u64 = 488;
const DP_UTILITIES_OFFSET: u64 = 512;
const DP_TO_TEXT_OFFSET: u64 = 576;

export let systemTable: u64 = 0;
export let bootServices: u64 = 0;
export let runtimeServices: u64 = 0;
export let thunks: u64 = 0;
let configTables: u64 = 0;

// The configuration table as the firmware knows it, kept privately and published to
// configTables after every change: the published copy (GUIDs, count) is guest RAM, which
// a guest may overwrite, so nothing is ever read back from it.
const CONFIG: usize = reserve(<usize>(MAX_CONFIG_TABLES * CONFIGURATION_TABLE.SIZE));
let configCount: u64 = 0;

function publishConfig(): void {
  memory.copy(gp(configTables), CONFIG, <usize>(configCount * CONFIGURATION_TABLE.SIZE));
  store<u64>(gp(systemTable) + SYSTEM_TABLE.NumberOfTableEntries, configCount);
  sealSystemTable();
}

function header(table: u64, signature: u64, size: usize): void {
  const t = gp(table);
  store<u64>(t + TABLE_HEADER.Signature, signature);
  store<u32>(t + TABLE_HEADER.Revision, SYSTEM_TABLE_REVISION);
  store<u32>(t + TABLE_HEADER.HeaderSize, <u32>size);
  sealHeader(table, size);
}

/**
 * Recompute a table's header CRC32 (§4.2: over HeaderSize bytes, CRC field zero). The
 * size is the firmware's own: HeaderSize in guest RAM is the guest's to overwrite.
 */
function sealHeader(table: u64, size: usize): void {
  const t = gp(table);
  store<u32>(t + TABLE_HEADER.CRC32, 0);
  store<u32>(t + TABLE_HEADER.CRC32, crc32(t, size));
}

function sealSystemTable(): void { sealHeader(systemTable, SYSTEM_TABLE.SIZE); }

/** Point every function slot of table `which` (at guest address `base`) at its thunk. */
export function fillSlots(which: u32, base: u64): void {
  for (let id: u32 = 0; id < SERVICE_COUNT; id++) {
    const e = SLOT_TABLE + (<usize>id << 2);
    if (<u32>load<u16>(e) == which) store<u64>(gp(base) + <usize>load<u16>(e, 2), thunks + <u64>id * THUNK_SIZE);
  }
}

export function systemInit(): bool {
  thunks = allocPages(MemoryType.RuntimeServicesCode, 1, FLAG_FIRMWARE);
  const rt = allocPages(MemoryType.RuntimeServicesData, 1, FLAG_FIRMWARE);
  const bs = allocPages(MemoryType.BootServicesData, 1, FLAG_FIRMWARE);
  if (thunks == NONE || rt == NONE || bs == NONE) return false;
  for (let id: u32 = 0; id < SERVICE_COUNT; id++) {
    store<u64>(gp(thunks) + <usize>id * THUNK_SIZE, thunkWord(id));
  }

  systemTable = rt;
  runtimeServices = rt + RT_OFFSET;
  bootServices = bs;
  configTables = rt + CONFIG_OFFSET;
  const conOut = bs + CONOUT_OFFSET;
  const conIn = bs + CONIN_OFFSET;

  const vendor = String.UTF16.byteLength(FIRMWARE_VENDOR);
  memory.copy(gp(rt + VENDOR_OFFSET), changetype<usize>(FIRMWARE_VENDOR), vendor);

  fillSlots(Table.ConOut, conOut);
  store<u64>(gp(conOut) + SIMPLE_TEXT_OUTPUT_PROTOCOL.Mode, bs + MODE_OFFSET);
  textInit(bs + MODE_OFFSET);
  fillSlots(Table.ConIn, conIn);
  // WaitForKey: signalled when a keystroke is due (events.ts check, text.ts); the guest
  // may also check, wait on (with a timer beside it) or signal it itself.
  const waitForKey = createEvent(0, 0, 0, 0, 0);
  if (!waitForKey) return false;
  setWaitForKey(waitForKey);
  store<u64>(gp(conIn) + SIMPLE_TEXT_INPUT_PROTOCOL.WaitForKey, waitForKey);
  const console = newHandle();
  install(console, Guid.SIMPLE_TEXT_OUTPUT_PROTOCOL, conOut);
  install(console, Guid.SIMPLE_TEXT_INPUT_PROTOCOL, conIn);
  if (Feature.TEXT_INPUT_EX) {
    const conInEx = allocPool(MemoryType.BootServicesData, SIMPLE_TEXT_INPUT_EX_PROTOCOL.SIZE);
    if (conInEx == NONE) return false;
    fillSlots(Table.SimpleTextInputEx, conInEx);
    store<u64>(gp(conInEx) + SIMPLE_TEXT_INPUT_EX_PROTOCOL.WaitForKeyEx, waitForKey);
    install(console, Guid.SIMPLE_TEXT_INPUT_EX_PROTOCOL, conInEx);
  }

  // The device-path protocols on a handle of their own, as EDK2's DevicePathDxe has them.
  fillSlots(Table.DevicePathUtilities, bs + DP_UTILITIES_OFFSET);
  fillSlots(Table.DevicePathToText, bs + DP_TO_TEXT_OFFSET);
  const devicePathDriver = newHandle();
  install(devicePathDriver, Guid.DEVICE_PATH_UTILITIES_PROTOCOL, bs + DP_UTILITIES_OFFSET);
  install(devicePathDriver, Guid.DEVICE_PATH_TO_TEXT_PROTOCOL, bs + DP_TO_TEXT_OFFSET);

  fillSlots(Table.BS, bs);
  header(bs, Signature.BOOT_SERVICES, BOOT_SERVICES.SIZE);
  fillSlots(Table.RT, runtimeServices);
  header(runtimeServices, Signature.RUNTIME_SERVICES, RUNTIME_SERVICES.SIZE);

  const st = gp(rt);
  store<u64>(st + SYSTEM_TABLE.FirmwareVendor, rt + VENDOR_OFFSET);
  store<u32>(st + SYSTEM_TABLE.FirmwareRevision, FIRMWARE_REVISION);
  store<u64>(st + SYSTEM_TABLE.ConsoleInHandle, console);
  store<u64>(st + SYSTEM_TABLE.ConIn, conIn);
  store<u64>(st + SYSTEM_TABLE.ConsoleOutHandle, console);
  store<u64>(st + SYSTEM_TABLE.ConOut, conOut);
  store<u64>(st + SYSTEM_TABLE.StandardErrorHandle, console);
  store<u64>(st + SYSTEM_TABLE.StdErr, conOut);
  store<u64>(st + SYSTEM_TABLE.RuntimeServices, runtimeServices);
  store<u64>(st + SYSTEM_TABLE.BootServices, bs);
  store<u64>(st + SYSTEM_TABLE.ConfigurationTable, configTables);
  header(systemTable, Signature.SYSTEM_TABLE, SYSTEM_TABLE.SIZE);

  // Which runtime services answer for real, derived from the dispatcher's stubs.
  const props = rt + RT_PROPERTIES_OFFSET;
  let supported: u32 = 0;
  for (let id: u32 = 0; id < SERVICE_COUNT; id++) {
    const e = SLOT_TABLE + (<usize>id << 2);
    if (<u32>load<u16>(e) != Table.RT || load<u8>(STUBBED + id)) continue;
    supported |= 1 << ((<u32>load<u16>(e, 2) - <u32>TABLE_HEADER.SIZE) >> 3);
  }
  store<u16>(gp(props) + RT_PROPERTIES_TABLE.Version, 1);
  store<u16>(gp(props) + RT_PROPERTIES_TABLE.Length, <u16>RT_PROPERTIES_TABLE.SIZE);
  store<u32>(gp(props) + RT_PROPERTIES_TABLE.RuntimeServicesSupported, supported);
  installConfigTable(Guid.RT_PROPERTIES_TABLE, props);
  return true;
}

/**
 * §7.4 ExitBootServices: "several fields of the EFI System Table should be set to NULL"
 * (the consoles and the boot services table), and its CRC recomputed. The boot services
 * table itself stays, so that a late call through a saved pointer still reaches a thunk
 * and is reported by the host.
 */
export function exitBootServicesTables(): void {
  const st = gp(systemTable);
  store<u64>(st + SYSTEM_TABLE.ConsoleInHandle, 0);
  store<u64>(st + SYSTEM_TABLE.ConIn, 0);
  store<u64>(st + SYSTEM_TABLE.ConsoleOutHandle, 0);
  store<u64>(st + SYSTEM_TABLE.ConOut, 0);
  store<u64>(st + SYSTEM_TABLE.StandardErrorHandle, 0);
  store<u64>(st + SYSTEM_TABLE.StdErr, 0);
  store<u64>(st + SYSTEM_TABLE.BootServices, 0);
  sealSystemTable();
}

/** Whether every runtime pointer in the tables has a mapping under `convert` (else NO_MAPPING). */
export function tablesMappable(convert: (p: u64) => u64): bool {
  return convert(systemTable + VENDOR_OFFSET) != NONE && convert(runtimeServices) != NONE &&
    convert(configTables) != NONE && convert(thunks) != NONE;
}

/**
 * SetVirtualAddressMap's fix-up (§8.4): every guest-visible pointer into runtime memory
 * becomes the virtual address `convert` gives; the firmware itself keeps working on
 * physical memory. Each pointer is rewritten from the firmware's own value, not read
 * back from the tables. The caller checked tablesMappable first.
 */
export function relocateTables(convert: (p: u64) => u64): void {
  const st = gp(systemTable);
  const rt = gp(runtimeServices);
  for (let id: u32 = 0; id < SERVICE_COUNT; id++) {
    const e = SLOT_TABLE + (<usize>id << 2);
    if (<u32>load<u16>(e) == Table.RT) store<u64>(rt + <usize>load<u16>(e, 2), convert(thunks + <u64>id * THUNK_SIZE));
  }
  for (let i: u64 = 0; i < configCount; i++) {
    const e = CONFIG + <usize>(i * CONFIGURATION_TABLE.SIZE) + CONFIGURATION_TABLE.VendorTable;
    const v = convert(load<u64>(e));
    if (v != NONE) store<u64>(e, v); // tables in boot-services or OS memory stay physical
  }
  store<u64>(st + SYSTEM_TABLE.FirmwareVendor, convert(systemTable + VENDOR_OFFSET));
  store<u64>(st + SYSTEM_TABLE.RuntimeServices, convert(runtimeServices));
  store<u64>(st + SYSTEM_TABLE.ConfigurationTable, convert(configTables));
  sealHeader(runtimeServices, RUNTIME_SERVICES.SIZE);
  publishConfig();
}

/**
 * §7.3 InstallConfigurationTable: add, replace, or (Table == NULL) delete; on success the
 * event group named by the table's GUID is signalled (§7.1 CreateEventEx).
 */
export function BS_InstallConfigurationTable(guidPtr: u64, table: u64): u64 {
  const guid = guest(guidPtr, 16);
  if (!guid) return Status.INVALID_PARAMETER;
  const st = installConfigTable(guid, table);
  if (st == Status.SUCCESS) {
    signalGroup(guid);
    dispatchPending();
  }
  return st;
}

export function installConfigTable(guid: usize, table: u64): u64 {
  for (let i: u64 = 0; i < configCount; i++) {
    const e = CONFIG + <usize>(i * CONFIGURATION_TABLE.SIZE);
    if (!guidEq(e + CONFIGURATION_TABLE.VendorGuid, guid)) continue;
    if (table) {
      store<u64>(e + CONFIGURATION_TABLE.VendorTable, table);
    } else {
      configCount--;
      memory.copy(e, CONFIG + <usize>(configCount * CONFIGURATION_TABLE.SIZE), CONFIGURATION_TABLE.SIZE);
    }
    publishConfig();
    return Status.SUCCESS;
  }
  if (!table) return Status.NOT_FOUND;
  if (configCount == MAX_CONFIG_TABLES) return Status.OUT_OF_RESOURCES;
  const e = CONFIG + <usize>(configCount * CONFIGURATION_TABLE.SIZE);
  memory.copy(e + CONFIGURATION_TABLE.VendorGuid, guid, 16);
  store<u64>(e + CONFIGURATION_TABLE.VendorTable, table);
  configCount++;
  publishConfig();
  return Status.SUCCESS;
}
