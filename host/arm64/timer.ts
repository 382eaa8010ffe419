// The generic timer's EL1 virtual and physical timers (Arm ARM D11.2), kept by the host:
// Unicorn 2.1.1 drops writes to CNTV_CTL_EL0 and CNTV_CVAL_EL0 (ARM64.md), and has no
// interrupt controller to raise the timer's line on. The counter is Unicorn's own: the
// host's CLOCK_MONOTONIC in 16 ns steps (CNTFRQ_EL0 reads 62.5 MHz; measured), which
// the guest reads unhooked; with CNTVOFF_EL2 zero the virtual count equals it.
import type { SysReg } from "../unicorn/index.ts";
import { sysRegKey } from "../unicorn/index.ts";

export const COUNTER_NS = 16n;
const CTL_ENABLE = 1n, CTL_IMASK = 2n, CTL_ISTATUS = 4n;

const reg = (crm: number, op2: number): SysReg => ({ op0: 3, op1: 3, crn: 14, crm, op2 });
/** CNTV_* (CRm 3) and CNTP_* (CRm 2): TVAL (op2 0), CTL (1), CVAL (2). */
export const TIMER_REGS = [reg(3, 0), reg(3, 1), reg(3, 2), reg(2, 0), reg(2, 1), reg(2, 2)];

/** The guest's counter at host monotonic time `ns`. */
export const counterAt = (ns: bigint) => ns / COUNTER_NS;

class OneTimer {
  ctl = 0n;
  cval = 0n;

  /** The timer condition (ISTATUS): enabled and the counter at or past CVAL. */
  fired(count: bigint): boolean {
    return (this.ctl & CTL_ENABLE) !== 0n && count >= this.cval;
  }

  /** Its interrupt line: the condition, unmasked. */
  level(count: bigint): boolean {
    return this.fired(count) && (this.ctl & CTL_IMASK) === 0n;
  }

  /** Host monotonic ns at which the line rises, if it will and has not. */
  nextRiseNs(count: bigint): bigint | undefined {
    if ((this.ctl & CTL_ENABLE) === 0n || (this.ctl & CTL_IMASK) !== 0n || count >= this.cval) return undefined;
    return this.cval * COUNTER_NS;
  }
}

export class GenericTimer {
  readonly virtual = new OneTimer();
  readonly physical = new OneTimer();

  /** @param now host CLOCK_MONOTONIC ns (process.hrtime.bigint) */
  constructor(private readonly now: () => bigint = process.hrtime.bigint) {}

  private count(): bigint {
    return counterAt(this.now());
  }

  /** An MRS of one of TIMER_REGS (by sysRegKey): its value. */
  read(key: number): bigint {
    const [t, which] = this.decode(key);
    const count = this.count();
    if (which === 1) return t.ctl | (t.fired(count) ? CTL_ISTATUS : 0n);
    if (which === 2) return t.cval;
    return BigInt.asUintN(32, t.cval - count); // TVAL: the signed 32-bit distance to CVAL
  }

  /** An MSR of one of TIMER_REGS. */
  write(key: number, value: bigint): void {
    const [t, which] = this.decode(key);
    if (which === 1) t.ctl = value & (CTL_ENABLE | CTL_IMASK);
    else if (which === 2) t.cval = value;
    else t.cval = this.count() + BigInt.asIntN(32, value);
  }

  /** The lines now: the virtual timer's and the physical timer's. */
  levels(): { virtual: boolean; physical: boolean } {
    const count = this.count();
    return { virtual: this.virtual.level(count), physical: this.physical.level(count) };
  }

  /** Host monotonic ns of the next rise of either line, or undefined. */
  nextRiseNs(): bigint | undefined {
    const count = this.count();
    const a = this.virtual.nextRiseNs(count), b = this.physical.nextRiseNs(count);
    return a === undefined ? b : b === undefined ? a : a < b ? a : b;
  }

  private decode(key: number): [OneTimer, number] {
    const crm = (key >> 4) & 15, op2 = key & 7;
    return [crm === 3 ? this.virtual : this.physical, op2];
  }
}

export const TIMER_KEYS = new Set(TIMER_REGS.map(sysRegKey));
