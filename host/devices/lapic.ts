// Local APIC register page (Intel SDM vol. 3A §10.4) and its timer (§10.5.4), as much
// as Linux uses on a uniprocessor without ACPI: the read-only registers filled in, the
// timer counting down at the core crystal rate CPUID leaf 0x15 reports, divided as
// programmed. The host delivers the timer's vector when the guest halts.

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
const LVT_TIMER = 0x320;
const TIMER_INITIAL = 0x380;
const TIMER_CURRENT = 0x390;
const TIMER_DIVIDE = 0x3e0;
const TIMER_PERIODIC = 1 << 17;

export class Lapic {
  private readonly regs = new Uint32Array(LAPIC_SIZE / 4);
  /** When the running count was loaded (ns), and the ns per count at that divisor. */
  private loadedAt = 0;
  private nsPerCount = 1;

  constructor(private readonly timeNs: () => number, private readonly clockHz: number, readonly apicId = 0) {
    this.regs[ID / 4] = apicId << 24;
    this.regs[VERSION / 4] = VERSION_VALUE;
    for (const r of LVT) this.regs[r / 4] = LVT_MASKED;
    this.regs[SVR / 4] = 0xff;
  }

  read(offset: number): number {
    const r = offset & (LAPIC_SIZE - 1);
    if (r === TIMER_CURRENT) return this.currentCount();
    return this.regs[r >> 2];
  }

  write(offset: number, value: number): void {
    const r = offset & (LAPIC_SIZE - 1);
    if (r === ID || r === VERSION || r === TIMER_CURRENT) return; // read-only here
    this.regs[r >> 2] = value >>> 0;
    if (r === TIMER_INITIAL) this.load();
  }

  private divisor(): number {
    // §10.5.4 figure 10-10: bits 0, 1, 3 → 2, 4, 8, 16, 32, 64, 128, 1
    const v = this.regs[TIMER_DIVIDE / 4];
    const code = (v & 3) | ((v >> 1) & 4);
    return code === 7 ? 1 : 2 << code;
  }

  private load(): void {
    this.loadedAt = this.timeNs();
    this.nsPerCount = (1e9 / this.clockHz) * this.divisor();
  }

  private currentCount(now = this.timeNs()): number {
    const initial = this.regs[TIMER_INITIAL / 4];
    if (!initial) return 0;
    const elapsed = Math.floor((now - this.loadedAt) / this.nsPerCount);
    if (this.regs[LVT_TIMER / 4] & TIMER_PERIODIC) return initial - (elapsed % initial);
    return elapsed >= initial ? 0 : initial - elapsed;
  }

  /**
   * When the timer next fires (ns), with its vector, or undefined when it is stopped or
   * masked. A one-shot timer fires once: take() consumes it.
   */
  timerDue(): { at: number; vector: number } | undefined {
    const lvt = this.regs[LVT_TIMER / 4];
    const initial = this.regs[TIMER_INITIAL / 4];
    if (!initial || lvt & LVT_MASKED) return undefined;
    const period = initial * this.nsPerCount;
    return { at: this.loadedAt + period, vector: lvt & 0xff };
  }

  /** The timer fired and its interrupt was delivered: a periodic timer reloads. */
  take(): void {
    if (this.regs[LVT_TIMER / 4] & TIMER_PERIODIC) this.loadedAt += this.regs[TIMER_INITIAL / 4] * this.nsPerCount;
    else this.regs[TIMER_INITIAL / 4] = 0;
  }
}
