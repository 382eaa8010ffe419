// Local APIC register page (Intel SDM vol. 3A §10.4), as much as Linux reads while it
// sets up a uniprocessor without ACPI: a register file with the read-only registers
// filled in. No timer or interrupt delivery yet.

export const LAPIC_BASE = 0xfee0_0000;
export const LAPIC_SIZE = 0x1000;

const ID = 0x20;
const VERSION = 0x30;
// Version 0x14 (integrated APIC), 6 LVT entries (max LVT index 5 in bits 23:16).
const VERSION_VALUE = 0x0005_0014;
// LVT registers reset with the mask bit (16) set.
const LVT = [0x2f0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370];
const LVT_MASKED = 0x1_0000;
// Spurious-interrupt vector register resets to 0xff (APIC software-disabled).
const SVR = 0xf0;

export class Lapic {
  private readonly regs = new Uint32Array(LAPIC_SIZE / 4);

  constructor(readonly apicId = 0) {
    this.regs[ID / 4] = apicId << 24;
    this.regs[VERSION / 4] = VERSION_VALUE;
    for (const r of LVT) this.regs[r / 4] = LVT_MASKED;
    this.regs[SVR / 4] = 0xff;
  }

  read(offset: number): number {
    return this.regs[(offset & (LAPIC_SIZE - 1)) >> 2];
  }

  write(offset: number, value: number): void {
    const r = offset & (LAPIC_SIZE - 1);
    if (r === ID || r === VERSION) return; // read-only here
    this.regs[r >> 2] = value >>> 0;
  }
}
