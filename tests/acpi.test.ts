// The ACPI tables the host builds (host/acpi.ts) and the PM1 registers they point at
// (host/devices/acpi-pm.ts), read back as a kernel's ACPICA would read them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { acpiTables } from "../host/acpi.ts";
import { AcpiPm, PM1A_CNT_PORT, PM1A_EVT_PORT, SLP_TYP_S5 } from "../host/devices/acpi-pm.ts";

const BASE = 0xe0000;

function tables() {
  const { bytes, rsdp } = acpiTables(BASE);
  const v = new DataView(bytes.buffer);
  const at = (paddr: number | bigint) => Number(paddr) - BASE;
  const text = (off: number, n: number) => String.fromCharCode(...bytes.subarray(off, off + n));
  const sum = (off: number, n: number) => bytes.subarray(off, off + n).reduce((a, b) => (a + b) & 0xff, 0);
  return { bytes, v, at, text, sum, rsdp: at(rsdp) };
}

test("RSDP → XSDT → FADT → DSDT and FACS: signatures, lengths, checksums that sum to zero", () => {
  const { v, at, text, sum, rsdp } = tables();
  assert.is(text(rsdp, 8), "RSD PTR ");
  assert.is(v.getUint8(rsdp + 15), 2, "revision 2");
  assert.is(sum(rsdp, 20), 0, "the ACPI 1.0 checksum");
  assert.is(sum(rsdp, v.getUint32(rsdp + 20, true)), 0, "the extended checksum");
  const xsdt = at(v.getBigUint64(rsdp + 24, true));
  assert.is(text(xsdt, 4), "XSDT");
  const table = (off: number) => {
    const length = v.getUint32(off + 4, true);
    assert.is(sum(off, length), 0, `${text(off, 4)} checksum`);
    return length;
  };
  assert.is(table(xsdt), 44, "the FADT only");
  const fadt = at(v.getBigUint64(xsdt + 36, true));
  assert.is(text(fadt, 4), "FACP");
  assert.is(table(fadt), 276, "FADT revision 6 size");
  const dsdt = at(v.getUint32(fadt + 40, true));
  assert.is(at(v.getBigUint64(fadt + 140, true)), dsdt, "X_DSDT agrees");
  assert.is(text(dsdt, 4), "DSDT");
  table(dsdt);
  const facs = at(v.getUint32(fadt + 36, true));
  assert.is(text(facs, 4), "FACS");
  assert.is((facs + BASE) % 64, 0, "FACS 64-byte aligned");
});

test("FADT: the PM1a blocks are the host's ports, SCI 9, no SMI command (always in ACPI mode), no PM timer; the DSDT names \\_S5_", () => {
  const { bytes, v, at, rsdp } = tables();
  const fadt = at(v.getBigUint64(at(v.getBigUint64(rsdp + 24, true)) + 36, true));
  assert.equal([v.getUint32(fadt + 56, true), v.getUint32(fadt + 64, true)], [PM1A_EVT_PORT, PM1A_CNT_PORT]);
  assert.equal([v.getUint8(fadt + 88), v.getUint8(fadt + 89)], [4, 2], "PM1_EVT_LEN, PM1_CNT_LEN");
  assert.is(v.getUint16(fadt + 46, true), 9);
  assert.is(v.getUint32(fadt + 48, true), 0, "SMI_CMD");
  assert.is(v.getUint32(fadt + 76, true), 0, "PM_TMR_BLK");
  const dsdt = at(v.getUint32(fadt + 40, true));
  // Name (_S5_, Package (4) { S5, S5, 0, 0 }) with S5 = 0: ZeroOp each.
  assert.equal([...bytes.subarray(dsdt + 36, dsdt + 36 + 12)], [0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x06, 0x04, SLP_TYP_S5, SLP_TYP_S5, 0, 0]);
});

test("PM1 registers: SCI_EN reads 1, status is write-one-to-clear, SLP_EN with the S5 type powers off and nothing else does", () => {
  let off = 0;
  const pm = new AcpiPm(() => off++);
  assert.is(pm.read(PM1A_CNT_PORT, 2) & 1, 1, "SCI_EN: already in ACPI mode");
  pm.write(PM1A_EVT_PORT + 2, 2, 0x0100); // PM1_EN: PWRBTN_EN
  assert.is(pm.read(PM1A_EVT_PORT + 2, 2), 0x0100);
  pm.write(PM1A_EVT_PORT, 2, 0xffff); // clearing status that is not set leaves it clear
  assert.is(pm.read(PM1A_EVT_PORT, 2), 0);
  pm.write(PM1A_CNT_PORT, 2, (1 << 10) | (1 << 13)); // SLP_TYP 1 (not S5) with SLP_EN
  assert.is(off, 0, "another sleep type does nothing");
  pm.write(PM1A_CNT_PORT, 2, SLP_TYP_S5 << 10); // the type first, as ACPICA writes it
  assert.is(off, 0, "no SLP_EN yet");
  pm.write(PM1A_CNT_PORT, 2, (SLP_TYP_S5 << 10) | (1 << 13));
  assert.is(off, 1, "powered off");
  assert.is(pm.read(PM1A_CNT_PORT, 2) & (1 << 13), 0, "SLP_EN reads 0");
});

test.run();
