// A GICv2 for one CPU (ARM IHI 0048B): the distributor and the CPU interface, as Linux's
// irq-gic driver uses them. Interrupts 0-15 are SGIs, 16-31 PPIs (the generic timer's),
// 32 and up SPIs (the PL011's); each has an enable, pending and active bit, a priority
// and a configuration. Devices drive level-sensitive lines (setLine); the CPU's IRQ
// input is `irq`: an enabled, pending, inactive interrupt whose priority is above the
// priority mask and the running priority, with both the distributor and the CPU
// interface enabled. Security extensions and groups are not modelled (group 0 only).

export const GIC_LINES = 96;
/** GICD_TYPER.ITLinesNumber: 32 * (N + 1) interrupt lines. */
const IT_LINES = GIC_LINES / 32 - 1;
const SPURIOUS = 1023;
const IDLE_PRIORITY = 0x100;

// Distributor register offsets (§4.3).
const D_CTLR = 0x000, D_TYPER = 0x004, D_IIDR = 0x008;
const D_IGROUPR = 0x080, D_ISENABLER = 0x100, D_ICENABLER = 0x180, D_ISPENDR = 0x200, D_ICPENDR = 0x280;
const D_ISACTIVER = 0x300, D_ICACTIVER = 0x380, D_IPRIORITYR = 0x400, D_ITARGETSR = 0x800, D_ICFGR = 0xc00;
const D_SGIR = 0xf00, D_PIDR2 = 0xfe8;
// CPU interface register offsets (§4.4).
const C_CTLR = 0x00, C_PMR = 0x04, C_BPR = 0x08, C_IAR = 0x0c, C_EOIR = 0x10, C_RPR = 0x14, C_HPPIR = 0x18;
const C_IIDR = 0xfc, C_DIR = 0x1000;
/** Arm's implementer code (0x43b) with the architecture version: GIC-400-like identification. */
const D_IIDR_VALUE = 0x0200_043b, C_IIDR_VALUE = 0x0202_043b;

export class Gic {
  private distEnabled = false;
  private cpuEnabled = false;
  private pmr = 0;
  private bpr = 0;
  private readonly enabled = new Uint8Array(GIC_LINES);
  private readonly pending = new Uint8Array(GIC_LINES); // latched: edge, or ISPENDR
  private readonly line = new Uint8Array(GIC_LINES); // a device's level
  private readonly active = new Uint8Array(GIC_LINES);
  private readonly priority = new Uint8Array(GIC_LINES);
  private readonly config = new Uint32Array(GIC_LINES / 16);
  private readonly group = new Uint32Array(GIC_LINES / 32);
  private readonly targets = new Uint8Array(GIC_LINES);
  /** Active interrupts in the order they were acknowledged: the running priority is the last one's. */
  private readonly running: number[] = [];

  /** Called whenever `irq` may have changed. */
  constructor(private readonly onChange: () => void = () => {}) {
    this.config.fill(0x5555_5555, 0, 1); // SGIs are edge-triggered (read-only 0b10 pairs in real GICs; Linux does not care)
  }

  /** A device drives interrupt `id` (level-sensitive) to `level`. */
  setLine(id: number, level: boolean): void {
    if (this.line[id] === (level ? 1 : 0)) return;
    this.line[id] = level ? 1 : 0;
    this.onChange();
  }

  private isPending(id: number): boolean {
    return this.pending[id] === 1 || this.line[id] === 1;
  }

  private runningPriority(): number {
    return this.running.length ? this.priority[this.running[this.running.length - 1]] : IDLE_PRIORITY;
  }

  /** The highest-priority pending interrupt that may be signalled, or SPURIOUS. */
  private highest(): number {
    let best = SPURIOUS, bestPriority = IDLE_PRIORITY;
    for (let id = 0; id < GIC_LINES; id++) {
      if (!this.enabled[id] || this.active[id] || !this.isPending(id)) continue;
      if (this.priority[id] < bestPriority) (best = id), (bestPriority = this.priority[id]);
    }
    return best;
  }

  /** The CPU's IRQ input. */
  get irq(): boolean {
    if (!this.distEnabled || !this.cpuEnabled) return false;
    const id = this.highest();
    return id !== SPURIOUS && this.priority[id] < this.pmr && this.priority[id] < this.runningPriority();
  }

  readDist(offset: number, size: number): number {
    if (offset >= D_IPRIORITYR && offset < D_IPRIORITYR + GIC_LINES) return this.bytes(this.priority, offset - D_IPRIORITYR, size);
    if (offset >= D_ITARGETSR && offset < D_ITARGETSR + GIC_LINES) {
      // Interrupts 0-31 are this CPU's own: their targets read as CPU 0.
      return offset < D_ITARGETSR + 32 ? [0x01, 0x0101, 0, 0x0101_0101][size - 1] : this.bytes(this.targets, offset - D_ITARGETSR, size);
    }
    const bank = (base: number) => (offset - base) >> 2;
    if (offset === D_CTLR) return this.distEnabled ? 1 : 0;
    if (offset === D_TYPER) return IT_LINES; // CPUNumber 0: one CPU
    if (offset === D_IIDR) return D_IIDR_VALUE;
    if (offset === D_PIDR2) return 0x20; // ArchRev 2: GICv2
    if (inBank(offset, D_IGROUPR)) return this.group[bank(D_IGROUPR)];
    if (inBank(offset, D_ISENABLER) || inBank(offset, D_ICENABLER)) return this.bits(this.enabled, bank(offset < D_ICENABLER ? D_ISENABLER : D_ICENABLER));
    if (inBank(offset, D_ISPENDR) || inBank(offset, D_ICPENDR)) return this.bitsOf((id) => this.isPending(id), bank(offset < D_ICPENDR ? D_ISPENDR : D_ICPENDR));
    if (inBank(offset, D_ISACTIVER) || inBank(offset, D_ICACTIVER)) return this.bits(this.active, bank(offset < D_ICACTIVER ? D_ISACTIVER : D_ICACTIVER));
    if (offset >= D_ICFGR && offset < D_ICFGR + GIC_LINES / 4) return this.config[(offset - D_ICFGR) >> 2];
    return 0;
  }

  writeDist(offset: number, size: number, value: number): void {
    if (offset >= D_IPRIORITYR && offset < D_IPRIORITYR + GIC_LINES) this.setBytes(this.priority, offset - D_IPRIORITYR, size, value);
    else if (offset >= D_ITARGETSR + 32 && offset < D_ITARGETSR + GIC_LINES) this.setBytes(this.targets, offset - D_ITARGETSR, size, value);
    else if (offset === D_CTLR) this.distEnabled = (value & 1) !== 0;
    else if (inBank(offset, D_IGROUPR)) this.group[(offset - D_IGROUPR) >> 2] = value;
    else if (inBank(offset, D_ISENABLER)) this.setBits(this.enabled, (offset - D_ISENABLER) >> 2, value, 1);
    else if (inBank(offset, D_ICENABLER)) this.setBits(this.enabled, (offset - D_ICENABLER) >> 2, value, 0);
    else if (inBank(offset, D_ISPENDR)) this.setBits(this.pending, (offset - D_ISPENDR) >> 2, value, 1);
    else if (inBank(offset, D_ICPENDR)) this.setBits(this.pending, (offset - D_ICPENDR) >> 2, value, 0);
    else if (inBank(offset, D_ISACTIVER)) this.setBits(this.active, (offset - D_ISACTIVER) >> 2, value, 1);
    else if (inBank(offset, D_ICACTIVER)) this.setBits(this.active, (offset - D_ICACTIVER) >> 2, value, 0);
    else if (offset >= D_ICFGR && offset < D_ICFGR + GIC_LINES / 4) this.config[(offset - D_ICFGR) >> 2] = value;
    else if (offset === D_SGIR) {
      // Software-generated interrupts to this CPU (target filter 0 with CPU 0 in the list, or 2: self).
      const filter = (value >>> 24) & 3, list = (value >>> 16) & 0xff;
      if (filter === 2 || (filter === 0 && list & 1)) this.pending[value & 15] = 1;
    } else return;
    this.onChange();
  }

  readCpu(offset: number): number {
    switch (offset) {
      case C_CTLR: return this.cpuEnabled ? 1 : 0;
      case C_PMR: return this.pmr;
      case C_BPR: return this.bpr;
      case C_IAR: return this.acknowledge();
      case C_RPR: return this.runningPriority() === IDLE_PRIORITY ? 0xff : this.runningPriority();
      case C_HPPIR: return this.highest();
      case C_IIDR: return C_IIDR_VALUE;
      default: return 0;
    }
  }

  writeCpu(offset: number, value: number): void {
    switch (offset) {
      case C_CTLR: this.cpuEnabled = (value & 1) !== 0; break;
      case C_PMR: this.pmr = value & 0xff; break;
      case C_BPR: this.bpr = value & 7; break;
      case C_EOIR: case C_DIR: this.endOfInterrupt(value & 0x3ff); break;
      default: return;
    }
    this.onChange();
  }

  /** GICC_IAR: the highest pending interrupt becomes active; SPURIOUS when none may be signalled. */
  private acknowledge(): number {
    if (!this.irq) return SPURIOUS;
    const id = this.highest();
    this.active[id] = 1;
    this.pending[id] = 0; // a level-sensitive one stays pending while its line is high
    this.running.push(id);
    this.onChange();
    return id;
  }

  private endOfInterrupt(id: number): void {
    if (id >= GIC_LINES) return;
    this.active[id] = 0;
    const at = this.running.lastIndexOf(id);
    if (at >= 0) this.running.splice(at, 1);
  }

  private bits(a: Uint8Array, word: number): number {
    return this.bitsOf((id) => a[id] === 1, word);
  }

  private bitsOf(set: (id: number) => boolean, word: number): number {
    let v = 0;
    for (let i = 0; i < 32; i++) if (word * 32 + i < GIC_LINES && set(word * 32 + i)) v |= 1 << i;
    return v >>> 0;
  }

  private setBits(a: Uint8Array, word: number, value: number, to: 0 | 1): void {
    for (let i = 0; i < 32; i++) if (value & (1 << i) && word * 32 + i < GIC_LINES) a[word * 32 + i] = to;
  }

  private bytes(a: Uint8Array, at: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size && at + i < a.length; i++) v |= a[at + i] << (8 * i);
    return v >>> 0;
  }

  private setBytes(a: Uint8Array, at: number, size: number, value: number): void {
    for (let i = 0; i < size && at + i < a.length; i++) a[at + i] = (value >>> (8 * i)) & 0xff;
  }
}

/** Whether `offset` is in the bank of one bit per interrupt starting at `base`. */
function inBank(offset: number, base: number): boolean {
  return offset >= base && offset < base + GIC_LINES / 8;
}
