// The ACPI fixed-hardware power-management registers a kernel needs to switch the machine
// off (ACPI 6.5 §4.8.3): the PM1a event block (PM1_STS, PM1_EN) and the PM1a control block
// (PM1_CNT) at the ports the FADT names (host/acpi.ts). The machine is always in ACPI
// mode (SCI_EN reads 1, there is no SMI_CMD); a write of SLP_EN with the soft-off sleep
// type (\_S5_ in the DSDT) powers it off. No other sleep state, timer or event exists.
import type { PortDevice } from "./bus.ts";

export const PM1A_EVT_PORT = 0x600;
export const PM1A_CNT_PORT = 0x604;
/** SLP_TYP for S5 (soft-off), as \_S5_ gives it; 0 as on QEMU's PIIX4. */
export const SLP_TYP_S5 = 0;

const SCI_EN = 1 << 0;
const SLP_EN = 1 << 13;
const SLP_TYP_SHIFT = 10;

export class AcpiPm implements PortDevice {
  readonly name = "acpi-pm1";
  readonly ports: [number, number][] = [[PM1A_EVT_PORT, PM1A_CNT_PORT + 1]];
  /** PM1_STS, PM1_EN, PM1_CNT: 16 bits each, little-endian at their ports. */
  private readonly regs = new Uint16Array(3);

  constructor(private readonly onPowerOff: () => void) {
    this.regs[2] = SCI_EN;
  }

  read(port: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.byte(port + i) << (8 * i);
    return v >>> 0;
  }

  write(port: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) this.writeByte(port + i, (value >>> (8 * i)) & 0xff);
    // A 16-bit write of PM1_CNT is one event: its sleep type and SLP_EN together.
    if (port <= PM1A_CNT_PORT + 1 && port + size > PM1A_CNT_PORT) this.control();
  }

  private byte(port: number): number {
    const off = port - PM1A_EVT_PORT;
    return off >= 0 && off < 6 ? (this.regs[off >> 1] >> (8 * (off & 1))) & 0xff : 0xff;
  }

  private writeByte(port: number, v: number): void {
    const off = port - PM1A_EVT_PORT;
    if (off < 0 || off >= 6) return;
    const reg = off >> 1, shift = 8 * (off & 1);
    if (reg === 0) this.regs[0] &= ~(v << shift); // PM1_STS: write 1 to clear
    else this.regs[reg] = (this.regs[reg] & ~(0xff << shift)) | (v << shift);
  }

  private control(): void {
    const cnt = this.regs[2];
    this.regs[2] = (cnt & ~SLP_EN) | SCI_EN; // SLP_EN reads 0; the machine stays in ACPI mode
    if (cnt & SLP_EN && ((cnt >> SLP_TYP_SHIFT) & 7) === SLP_TYP_S5) this.onPowerOff();
  }
}
