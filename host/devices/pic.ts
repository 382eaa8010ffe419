// The PC/AT's two Intel 8259A interrupt controllers, the slave cascaded into the
// master's IR2, and the edge/level control registers (ELCR) of PCI-era chipsets.
//
//   0x20 / 0xa0  command: ICW1 (bit 4 set), OCW2 (bits 4:3 = 00), OCW3 (bits 4:3 = 01);
//                read: IRR or ISR as OCW3 selected, or the poll byte after a poll command
//   0x21 / 0xa1  data: ICW2-4 during initialisation, then OCW1 (the mask, IMR); read: IMR
//   0x4d0/0x4d1  ELCR: bit n = 1 makes IRQ n level-triggered; IRQ 0, 1, 2, 8 and 13 are
//                edge-only (Intel PIIX/ICH datasheets), so those bits read 0
//
// Linux touches it in arch/x86/kernel/i8259.c: probe_8259A masks the slave (0xff to 0xa1),
// writes 0xfb (all but the cascade) to 0x21 and expects to read 0xfb back, else it runs
// with the NULL legacy PIC, has_legacy_pic() is false and the PIT calibrations in tsc.c
// are skipped. init_8259A then sends ICW1-4 to both (vectors 0x30 and 0x38 on x86_64),
// and mask_and_ack_8259A uses specific EOIs and OCW3 reads of ISR.
//
// Delivery is ready for the host to wire: raise()/lower() drive the IR inputs, intr says
// whether the master's INT output is up, acknowledge() is the CPU's INTA cycle and
// returns the vector. The priority logic follows the 8259A datasheet (Intel 231468) as
// QEMU's hw/intc/i8259.c implements it, rotation and special mask mode included.

import type { PortDevice } from "./bus.ts";

export const PIC_MASTER_CMD = 0x20;
export const PIC_MASTER_IMR = 0x21;
export const PIC_SLAVE_CMD = 0xa0;
export const PIC_SLAVE_IMR = 0xa1;
export const PIC_ELCR1 = 0x4d0;
export const PIC_ELCR2 = 0x4d1;
export const PIC_CASCADE_IR = 2;

export const ICW1_INIT = 0x10;
export const ICW1_IC4 = 0x01;    // ICW4 follows
export const ICW1_SNGL = 0x02;   // single, no ICW3
export const ICW1_LTIM = 0x08;   // level-triggered inputs
export const ICW4_AEOI = 0x02;
export const ICW4_SFNM = 0x10;
export const OCW3_SELECT = 0x08;
export const OCW3_RIS = 0x01;    // read ISR (with RR) instead of IRR
export const OCW3_RR = 0x02;
export const OCW3_POLL = 0x04;
export const OCW3_SMM = 0x20;
export const OCW3_ESMM = 0x40;

const ELCR_MASK = [0xf8, 0xde] as const;

/** One 8259A. */
export class I8259 {
  irr = 0;
  isr = 0;
  imr = 0;
  vectorBase = 0;
  elcr = 0;
  /** ICW3: the slaves' IRs on a master, the cascade identity on a slave. */
  icw3 = 0;
  /** 0 = operational; 2, 3, 4 = the ICW expected next on the data port. */
  initStep = 0;
  ltim = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  specialMask = false;
  readIsr = false;
  poll = false;
  /** The IR with the highest priority (0 until rotation moves it). */
  priorityAdd = 0;
  private needIcw4 = false;
  private single = false;
  /** Input levels, for edge detection. */
  private levels = 0;

  constructor(readonly master: boolean) {}

  /** An IR input changed level. */
  setInput(ir: number, level: boolean): void {
    const bit = 1 << ir;
    if (this.ltim || this.elcr & bit) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && !(this.levels & bit)) {
      this.irr |= bit; // rising edge
    }
    this.levels = level ? this.levels | bit : this.levels & ~bit;
  }

  /** The IR this chip would interrupt with now, or -1. */
  pending(): number {
    const req = this.priority(this.irr & ~this.imr);
    if (req === 8) return -1;
    let inService = this.isr;
    // In special fully nested mode a master lets a slave's higher request through.
    if (this.specialFullyNested && this.master) inService &= ~this.icw3;
    if (this.specialMask) inService &= ~this.imr;
    return req < this.priority(inService) ? (req + this.priorityAdd) & 7 : -1;
  }

  /** INTA for IR `ir`: into service (unless auto-EOI), out of request if edge-triggered. */
  intack(ir: number): void {
    const bit = 1 << ir;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (ir + 1) & 7;
    } else {
      this.isr |= bit;
    }
    if (!(this.ltim || this.elcr & bit)) this.irr &= ~bit;
  }

  writeCommand(v: number): void {
    if (v & ICW1_INIT) {
      // ICW1 resets the chip: mask and service cleared, IR7 lowest, IRR read selected.
      this.irr &= this.elcr;
      this.levels = 0;
      this.isr = this.imr = 0;
      this.priorityAdd = 0;
      this.readIsr = this.poll = this.specialMask = false;
      this.autoEoi = this.rotateOnAutoEoi = this.specialFullyNested = false;
      this.needIcw4 = (v & ICW1_IC4) !== 0;
      this.single = (v & ICW1_SNGL) !== 0;
      this.ltim = (v & ICW1_LTIM) !== 0;
      this.initStep = 2;
    } else if (v & OCW3_SELECT) {
      if (v & OCW3_POLL) this.poll = true;
      if (v & OCW3_RR) this.readIsr = (v & OCW3_RIS) !== 0;
      if (v & OCW3_ESMM) this.specialMask = (v & OCW3_SMM) !== 0;
    } else {
      this.ocw2(v);
    }
  }

  /** OCW2: R, SL, EOI in bits 7:5, the IR level in 2:0. */
  private ocw2(v: number): void {
    const ir = v & 7;
    switch (v >> 5) {
      case 0: this.rotateOnAutoEoi = false; break;             // clear rotate in AEOI mode
      case 4: this.rotateOnAutoEoi = true; break;              // set rotate in AEOI mode
      case 1: case 5: {                                        // non-specific EOI (and rotate)
        const p = this.priority(this.isr);
        if (p === 8) break;
        const served = (p + this.priorityAdd) & 7;
        this.isr &= ~(1 << served);
        if (v >> 5 === 5) this.priorityAdd = (served + 1) & 7;
        break;
      }
      case 3: this.isr &= ~(1 << ir); break;                   // specific EOI
      case 7: this.isr &= ~(1 << ir); this.priorityAdd = (ir + 1) & 7; break; // and rotate
      case 6: this.priorityAdd = (ir + 1) & 7; break;          // set priority: ir lowest
      default: break;                                          // 2: no operation
    }
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 2: // ICW2
        this.vectorBase = v & 0xf8;
        this.initStep = this.single ? (this.needIcw4 ? 4 : 0) : 3;
        return;
      case 3: // ICW3
        this.icw3 = v;
        this.initStep = this.needIcw4 ? 4 : 0;
        return;
      case 4: // ICW4
        this.autoEoi = (v & ICW4_AEOI) !== 0;
        this.specialFullyNested = (v & ICW4_SFNM) !== 0;
        this.initStep = 0;
        return;
      default: // OCW1
        this.imr = v;
    }
  }

  /** A poll command's answer: the pending IR (acknowledged) with bit 7, or 0. */
  pollRead(): number {
    this.poll = false;
    const ir = this.pending();
    if (ir < 0) return 0;
    this.intack(ir);
    return 0x80 | ir;
  }

  /** Priority rank (0 = highest) of the best IR in `mask`, 8 for none. */
  private priority(mask: number): number {
    for (let p = 0; p < 8; p++) if (mask & (1 << ((p + this.priorityAdd) & 7))) return p;
    return 8;
  }
}

export class Pic8259Pair implements PortDevice {
  readonly name = "pic-8259";
  readonly ports: [number, number][] = [[0x20, 0x21], [0xa0, 0xa1], [PIC_ELCR1, PIC_ELCR2]];
  readonly master = new I8259(true);
  readonly slave = new I8259(false);

  /** ISA IRQ 0-15 input level (edge-triggered IRQs latch on the rising edge). */
  setIrq(irq: number, level: boolean): void {
    (irq < 8 ? this.master : this.slave).setInput(irq & 7, level);
    this.cascade();
  }

  raise(irq: number): void {
    this.setIrq(irq, true);
  }

  lower(irq: number): void {
    this.setIrq(irq, false);
  }

  /** The master's INT output: the CPU should take an interrupt when RFLAGS.IF allows. */
  get intr(): boolean {
    return this.master.pending() >= 0;
  }

  /** The INTA cycle: the vector to deliver, with IRR/ISR updated. With nothing pending
   *  (a request withdrawn before INTA) the 8259A answers with IR7, a spurious IRQ 7 or 15. */
  acknowledge(): number {
    const ir = this.master.pending();
    let vector: number;
    if (ir < 0) {
      vector = this.master.vectorBase + 7;
    } else if (ir === PIC_CASCADE_IR) {
      const ir2 = this.slave.pending();
      if (ir2 >= 0) this.slave.intack(ir2);
      vector = this.slave.vectorBase + (ir2 >= 0 ? ir2 : 7);
      this.master.intack(ir);
    } else {
      vector = this.master.vectorBase + ir;
      this.master.intack(ir);
    }
    this.cascade();
    return vector;
  }

  read(port: number, _size: 1 | 2 | 4): number {
    if (port === PIC_ELCR1 || port === PIC_ELCR2) return (port === PIC_ELCR1 ? this.master : this.slave).elcr;
    const chip = port < PIC_SLAVE_CMD ? this.master : this.slave;
    if (chip.poll) {
      const v = chip.pollRead();
      this.cascade();
      return v;
    }
    if (port & 1) return chip.imr;
    return chip.readIsr ? chip.isr : chip.irr;
  }

  write(port: number, _size: 1 | 2 | 4, value: number): void {
    value &= 0xff;
    if (port === PIC_ELCR1 || port === PIC_ELCR2) {
      const i = port - PIC_ELCR1;
      (i ? this.slave : this.master).elcr = value & ELCR_MASK[i];
      return;
    }
    const chip = port < PIC_SLAVE_CMD ? this.master : this.slave;
    if (port & 1) chip.writeData(value);
    else chip.writeCommand(value);
    this.cascade();
  }

  /** The slave's INT output drives the master's IR2. */
  private cascade(): void {
    this.master.setInput(PIC_CASCADE_IR, this.slave.pending() >= 0);
  }
}
