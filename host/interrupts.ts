// Interrupts on the PC platform: which device drives which input of the 8259A pair, the
// local APIC's own timer beside them, and when the next one falls due. The machine asks
// at each point where the CPU can take an interrupt (a HLT with IF set; on a clock paced
// by the instruction count, the counts of the deadlines) and names no device itself: a
// new device adds its IrqSource where the devices are made (host/devices/index.ts).
import type { Lapic } from "./devices/lapic.ts";
import type { Pic8259Pair } from "./devices/pic.ts";

/** A device wired to an input (IRQ) of the interrupt controller. */
export interface IrqSource {
  readonly irq: number;
  /** Level-triggered: the line as the device drives it now. */
  level?(): boolean;
  /** Level-triggered, optional: a count of the times the device raised its line anew, for the falls too short to see. */
  raised?(): number;
  /** Edge-triggered (a timer): when the line next rises after `since`, guest ns; undefined: it will not by itself. */
  nextRiseNs?(since: number): number | undefined;
}

export interface Interrupt {
  vector: number;
  what: string;
}

export class InterruptRouter {
  /** Guest time of the last look: edges after it are still to be latched. */
  private lastPollNs = 0;
  /** Each source's raised() at the last look. */
  private readonly raisedSeen: number[];

  constructor(private readonly pic: Pic8259Pair, private readonly lapic: Lapic, private readonly sources: readonly IrqSource[]) {
    this.raisedSeen = sources.map((s) => s.raised?.() ?? 0);
  }

  /**
   * The interrupt the CPU takes now, acknowledged: the local APIC timer's if due (it
   * does not go through the 8259A), else the 8259A's highest after the lines are
   * driven as they are at `now` (the edges since the last look latched).
   */
  take(now: number): Interrupt | undefined {
    const apic = this.lapic.timerDue();
    if (apic && apic.at <= now) {
      this.lapic.take();
      return { vector: apic.vector, what: "local APIC timer interrupt" };
    }
    this.latch(now);
    return this.pic.intr ? { vector: this.pic.acknowledge(), what: "interrupt" } : undefined;
  }

  /**
   * Whether the CPU would take an interrupt now if IF allowed it (what take() would
   * return, without acknowledging it): a due local APIC timer, or the 8259A's INTR with
   * the lines driven and the edges latched up to `now`. A line the 8259A masks is not.
   */
  pending(now: number): boolean {
    if (this.due(this.lapic.timerDue()?.at, now)) return true;
    this.latch(now);
    return this.pic.intr;
  }

  /** Drive the level lines as they are, and latch the edge-triggered sources' edges due by `now`. */
  private latch(now: number): void {
    this.driveLevels();
    for (const s of this.sources) {
      if (!s.level && this.due(s.nextRiseNs?.(this.lastPollNs), now)) {
        this.pic.raise(s.irq);
        this.pic.lower(s.irq);
      }
    }
    this.lastPollNs = now;
  }

  /** Drive the controller's inputs from the level-triggered devices as they are now. */
  driveLevels(): void {
    this.sources.forEach((s, i) => {
      if (!s.level) return;
      const level = s.level();
      const raised = s.raised?.() ?? 0;
      // Raised again since the last look with the line still up: it fell in between.
      if (raised !== this.raisedSeen[i] && level) this.pic.setIrq(s.irq, false);
      this.raisedSeen[i] = raised;
      this.pic.setIrq(s.irq, level);
    });
  }

  /** Whether something is due or pending at `now` that the CPU has not taken (IF = 0 holds it back). */
  waiting(now: number): boolean {
    if (this.pic.intr || this.due(this.lapic.timerDue()?.at, now)) return true;
    return this.sources.some((s) => (s.level ? s.level() : this.due(s.nextRiseNs?.(this.lastPollNs), now)));
  }

  /**
   * When a device next raises an interrupt by itself, guest ns, counting the edges not
   * latched yet (those since the last look, which may be before `now`); Infinity: none
   * will. Not the edges after `now`: with the host's clock, time passes between take()
   * and this question, and a one-shot timer's edge that fell in between would be lost —
   * a kernel idling on its PIT in mode 4 then halted for good, once in about a hundred
   * boots on a loaded machine.
   */
  nextEventNs(now: number): number {
    let next = this.lapic.timerDue()?.at ?? Infinity;
    const since = Math.min(this.lastPollNs, now);
    for (const s of this.sources) next = Math.min(next, s.nextRiseNs?.(since) ?? Infinity);
    return next;
  }

  private due(at: number | undefined, now: number): boolean {
    return at !== undefined && at <= now;
  }
}
