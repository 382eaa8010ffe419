// How a run ends, the same on every CPU: the endings a guest brings about, the three
// conditions that end a run from deep inside it (thrown through the engine's hooks and
// nested runs to the outermost start), and the state that devices, the firmware and the
// debugger set to stop every run level at once.

/** How a run ended, when it ended by the guest's own doing. */
export type Ending =
  | { kind: "returned"; status: bigint }
  /** HLT (WFI) with interrupts off, or on with no device due to raise one ever: halted for good. */
  | { kind: "halted"; rip: bigint; symbol?: string; interrupts: "off" | "none coming" }
  | { kind: "milestone"; line: string }
  | { kind: "reset"; resetType: number; status: bigint; source: string }
  /** Switched off through ACPI (host/devices/acpi-pm.ts) or PSCI (host/arm64/psci.ts). */
  | { kind: "poweroff"; source: string }
  /** Waiting in WaitForEvent, or halted in boot services, for what nothing will signal, at `rip`: halted for good. */
  | { kind: "waiting"; rip: bigint; symbol?: string }
  /** The user ended the run: Ctrl-A x at the terminal, or kill in gdb. */
  | { kind: "quit" };

/** Endings that stop every run level, whatever the guest is doing. */
export type Stop = Extract<Ending, { kind: "reset" | "poweroff" | "quit" }>;

/** A stopOnSerial line appeared: the run ends there. */
export class MilestoneReached extends Error {
  constructor(readonly line: string) {
    super(`milestone: ${line}`);
  }
}

/** Waiting for ever in boot services (WaitForEvent, or a halt with nothing to come), at `at`. */
export class WaitingForever extends Error {
  constructor(readonly at: bigint) {
    super(`waiting for ever at 0x${at.toString(16)}`);
  }
}

/** The halt (HLT, WFI) at `at` has nothing to wake it: the run is over. */
export class Halted extends Error {
  constructor(readonly at: bigint, readonly interrupts: "off" | "none coming") {
    super(`halted at 0x${at.toString(16)}`);
  }
}

export class RunState {
  /** A reset, power-off or quit: every run level stops, and this is how the machine ended. */
  ended: Stop | undefined;
  /** The first serial line that matched stopOnSerial. */
  milestone: string | undefined;
  /** The firmware unwinds a guest call (an image's Exit from a nested run). */
  unwinding = false;

  /** `stop` ends the engine's current run (Unicorn.emuStop). */
  constructor(private readonly stop: () => void) {}

  end(how: Stop): void {
    this.ended = how;
    this.stop();
  }

  unwind(): void {
    this.unwinding = true;
    this.stop();
  }

  /** A serial line, checked against the milestone pattern. */
  line(line: string, stopOn: RegExp | undefined): void {
    if (this.milestone === undefined && stopOn?.test(line)) {
      this.milestone = line;
      this.stop();
    }
  }

  /** After a run returns: a milestone ends it from any depth. */
  checkMilestone(): void {
    if (this.milestone !== undefined) throw new MilestoneReached(this.milestone);
  }

  /** Runs `go` and says how the machine ended; errors other than the three conditions go on up. */
  settle(go: () => Ending, symbolize: (at: bigint) => string | undefined): Ending {
    try {
      const e = go();
      return this.ended ?? e;
    } catch (e) {
      // The machine was switched off, reset or quit first: what followed is not the ending.
      if (this.ended && (e instanceof Halted || e instanceof WaitingForever || e instanceof MilestoneReached)) return this.ended;
      if (e instanceof Halted) return { kind: "halted", rip: e.at, symbol: symbolize(e.at), interrupts: e.interrupts };
      if (e instanceof WaitingForever) return { kind: "waiting", rip: e.at, symbol: symbolize(e.at) };
      if (e instanceof MilestoneReached) return { kind: "milestone", line: e.line };
      throw e;
    }
  }
}
