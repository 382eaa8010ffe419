// The ACPI tables the machine offers (ACPI 6.5), built by the host as a VMM builds them
// (QEMU's acpi-build, Xen's hvmloader) and handed to the guest by either entry: the EFI
// configuration table ACPI_20_TABLE, or hvm_start_info.rsdp_paddr. They describe what a
// kernel needs to power the machine off and nothing more: a FADT whose PM1a event and
// control blocks are the host's (host/devices/acpi-pm.ts), a FACS, and a DSDT holding
// only \_S5_, the sleep type the PM1 control block's SLP_TYP takes for soft-off.
//
// ACPI tables are byte-packed, unlike the natural alignment firmware/spec/decl.ts gives
// UEFI's structs, so their layouts are listed here field by field with their widths.

import { PM1A_CNT_PORT, PM1A_EVT_PORT, SLP_TYP_S5 } from "./devices/acpi-pm.ts";

type Layout = readonly (readonly [name: string, bytes: number])[];

/** Offsets of a packed layout, and its size. */
function packed(fields: Layout): { at: Record<string, { offset: number; bytes: number }>; size: number } {
  const at: Record<string, { offset: number; bytes: number }> = {};
  let offset = 0;
  for (const [name, bytes] of fields) {
    at[name] = { offset, bytes };
    offset += bytes;
  }
  return { at, size: offset };
}

/** §5.2.6 System Description Table Header. */
const HEADER = packed([
  ["Signature", 4], ["Length", 4], ["Revision", 1], ["Checksum", 1], ["OEMID", 6],
  ["OEMTableID", 8], ["OEMRevision", 4], ["CreatorID", 4], ["CreatorRevision", 4],
]);

/** §5.2.5.3 Root System Description Pointer, revision 2. */
const RSDP = packed([
  ["Signature", 8], ["Checksum", 1], ["OEMID", 6], ["Revision", 1], ["RsdtAddress", 4],
  ["Length", 4], ["XsdtAddress", 8], ["ExtendedChecksum", 1], ["Reserved", 3],
]);

/** §5.2.9 Fixed ACPI Description Table, revision 6 (GAS fields: §5.2.3.2, 12 bytes). */
const FADT = packed([
  ["Header", 36], ["FIRMWARE_CTRL", 4], ["DSDT", 4], ["Reserved0", 1], ["Preferred_PM_Profile", 1],
  ["SCI_INT", 2], ["SMI_CMD", 4], ["ACPI_ENABLE", 1], ["ACPI_DISABLE", 1], ["S4BIOS_REQ", 1], ["PSTATE_CNT", 1],
  ["PM1a_EVT_BLK", 4], ["PM1b_EVT_BLK", 4], ["PM1a_CNT_BLK", 4], ["PM1b_CNT_BLK", 4], ["PM2_CNT_BLK", 4],
  ["PM_TMR_BLK", 4], ["GPE0_BLK", 4], ["GPE1_BLK", 4], ["PM1_EVT_LEN", 1], ["PM1_CNT_LEN", 1],
  ["PM2_CNT_LEN", 1], ["PM_TMR_LEN", 1], ["GPE0_BLK_LEN", 1], ["GPE1_BLK_LEN", 1], ["GPE1_BASE", 1],
  ["CST_CNT", 1], ["P_LVL2_LAT", 2], ["P_LVL3_LAT", 2], ["FLUSH_SIZE", 2], ["FLUSH_STRIDE", 2],
  ["DUTY_OFFSET", 1], ["DUTY_WIDTH", 1], ["DAY_ALRM", 1], ["MON_ALRM", 1], ["CENTURY", 1],
  ["IAPC_BOOT_ARCH", 2], ["Reserved1", 1], ["Flags", 4], ["RESET_REG", 12], ["RESET_VALUE", 1],
  ["ARM_BOOT_ARCH", 2], ["FADT_Minor_Version", 1], ["X_FIRMWARE_CTRL", 8], ["X_DSDT", 8],
  ["X_PM1a_EVT_BLK", 12], ["X_PM1b_EVT_BLK", 12], ["X_PM1a_CNT_BLK", 12], ["X_PM1b_CNT_BLK", 12],
  ["X_PM2_CNT_BLK", 12], ["X_PM_TMR_BLK", 12], ["X_GPE0_BLK", 12], ["X_GPE1_BLK", 12],
  ["SLEEP_CONTROL_REG", 12], ["SLEEP_STATUS_REG", 12], ["Hypervisor_Vendor_Identity", 8],
]);

/** §5.2.10 Firmware ACPI Control Structure, version 2 (64 bytes, 64-byte aligned). */
const FACS_SIZE = 64;

/** FADT Flags (§5.2.9 table 5.10): WBINVD works; no fixed power or sleep button. */
const FADT_FLAGS = (1 << 0) | (1 << 4) | (1 << 5);
/** IAPC_BOOT_ARCH (§5.2.9.3): an 8042 keyboard controller is present. */
const IAPC_8042 = 1 << 1;
/** The CMOS register that holds the century (host/devices/cmos.ts). */
const CMOS_CENTURY = 0x32;
/** The ISA IRQ of the SCI, as on a PC; nothing raises it here. */
const SCI_IRQ = 9;

/**
 * DSDT's AML (§20): `Name (\_S5_, Package (4) { SLP_TYP_S5, SLP_TYP_S5, 0, 0 })`.
 * NameOp 0x08, NameString "_S5_", PackageOp 0x12, PkgLength 6 (itself, NumElements and
 * four one-byte elements), NumElements 4, then BytePrefix 0x0a + value for each type
 * (ZeroOp 0x00 when it is 0).
 */
function s5Aml(): Uint8Array {
  const type = SLP_TYP_S5 === 0 ? [0x00] : [0x0a, SLP_TYP_S5];
  const elements = [...type, ...type, 0x00, 0x00];
  const name = [..."_S5_"].map((c) => c.charCodeAt(0));
  return Uint8Array.from([0x08, ...name, 0x12, elements.length + 2, 4, ...elements]);
}

const OEM_ID = "UEFICN";
const OEM_TABLE_ID = "UEFICORN";
const CREATOR_ID = "UCRN";

export interface AcpiTables {
  /** The tables, to be placed at `base` in guest memory. */
  bytes: Uint8Array;
  /** Guest physical address of the RSDP. */
  rsdp: number;
}

/** The machine's ACPI tables for guest physical address `base` (64-byte aligned, below 4 GiB). */
export function acpiTables(base: number): AcpiTables {
  if (base % 64 || base + 0x1000 > 2 ** 32) throw new RangeError(`ACPI tables at 0x${base.toString(16)}: need a 64-byte aligned place below 4 GiB`);
  // One page: FACS 0 (its 64-byte alignment), RSDP 0x40, XSDT 0x80, FADT 0x100, DSDT 0x300.
  const FACS = 0, RSDP_AT = 0x40, XSDT_AT = 0x80, FADT_AT = 0x100, DSDT_AT = 0x300;
  const aml = s5Aml();
  const bytes = new Uint8Array(DSDT_AT + HEADER.size + aml.length);
  const view = new DataView(bytes.buffer);
  const put = (at: number, layout: ReturnType<typeof packed>, name: string, value: number | bigint | string) => {
    const f = layout.at[name];
    if (!f) throw new Error(`no field ${name}`);
    if (typeof value === "string") for (let i = 0; i < f.bytes; i++) bytes[at + f.offset + i] = i < value.length ? value.charCodeAt(i) : 0x20;
    else if (f.bytes === 8) view.setBigUint64(at + f.offset, BigInt(value), true);
    else for (let i = 0; i < f.bytes; i++) bytes[at + f.offset + i] = Number((BigInt(value) >> BigInt(8 * i)) & 0xffn);
  };
  const checksum = (from: number, length: number) => (0x100 - bytes.subarray(from, from + length).reduce((a, b) => (a + b) & 0xff, 0)) & 0xff;
  const table = (at: number, signature: string, length: number, revision: number) => {
    put(at, HEADER, "Signature", signature);
    put(at, HEADER, "Length", length);
    put(at, HEADER, "Revision", revision);
    put(at, HEADER, "OEMID", OEM_ID);
    put(at, HEADER, "OEMTableID", OEM_TABLE_ID);
    put(at, HEADER, "OEMRevision", 1);
    put(at, HEADER, "CreatorID", CREATOR_ID);
    put(at, HEADER, "CreatorRevision", 1);
  };
  const sealTable = (at: number, length: number) => put(at, HEADER, "Checksum", checksum(at, length));

  // FACS (§5.2.10): signature, length, version 2; no waking vector.
  bytes.set([..."FACS"].map((c) => c.charCodeAt(0)), FACS);
  view.setUint32(FACS + 4, FACS_SIZE, true);
  bytes[FACS + 32] = 2;

  // DSDT
  const dsdtLength = HEADER.size + aml.length;
  table(DSDT_AT, "DSDT", dsdtLength, 2);
  bytes.set(aml, DSDT_AT + HEADER.size);
  sealTable(DSDT_AT, dsdtLength);

  // FADT
  table(FADT_AT, "FACP", FADT.size, 6);
  const fadt = (name: string, v: number | bigint) => put(FADT_AT, FADT, name, v);
  fadt("FIRMWARE_CTRL", base + FACS);
  fadt("DSDT", base + DSDT_AT);
  fadt("X_DSDT", base + DSDT_AT);
  fadt("SCI_INT", SCI_IRQ);
  fadt("PM1a_EVT_BLK", PM1A_EVT_PORT);
  fadt("PM1a_CNT_BLK", PM1A_CNT_PORT);
  fadt("PM1_EVT_LEN", 4);
  fadt("PM1_CNT_LEN", 2);
  fadt("CENTURY", CMOS_CENTURY);
  fadt("IAPC_BOOT_ARCH", IAPC_8042);
  fadt("Flags", FADT_FLAGS);
  sealTable(FADT_AT, FADT.size);

  // XSDT: the FADT only.
  const xsdtLength = HEADER.size + 8;
  table(XSDT_AT, "XSDT", xsdtLength, 1);
  view.setBigUint64(XSDT_AT + HEADER.size, BigInt(base + FADT_AT), true);
  sealTable(XSDT_AT, xsdtLength);

  // RSDP: no RSDT; the first 20 bytes and the whole 36 each sum to 0.
  put(RSDP_AT, RSDP, "Signature", "RSD PTR ");
  put(RSDP_AT, RSDP, "OEMID", OEM_ID);
  put(RSDP_AT, RSDP, "Revision", 2);
  put(RSDP_AT, RSDP, "Length", RSDP.size);
  put(RSDP_AT, RSDP, "XsdtAddress", base + XSDT_AT);
  put(RSDP_AT, RSDP, "Reserved", 0);
  put(RSDP_AT, RSDP, "Checksum", checksum(RSDP_AT, 20));
  put(RSDP_AT, RSDP, "ExtendedChecksum", checksum(RSDP_AT, RSDP.size));
  return { bytes, rsdp: base + RSDP_AT };
}
