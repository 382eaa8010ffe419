// The runner: guest code run to its end on any CPU. It owns what every architecture's run
// has in common — nested guest calls (a firmware callback runs guest code inside an EFI
// call), the budgets (instructions per run, wall time per outermost run, through the
// native stop timer), how a halt ends in boot services (the firmware's tick) and after
// (the next interrupt, or halted for good), and how a stopped engine becomes an ending —
// and asks its Core for the rest.
import { FIRST_INSTRUCTION, startupReport } from "./startup.ts";
import { UnicornError, type Unicorn } from "./unicorn/index.ts";
import { Halted, WaitingForever, type RunState } from "./run-state.ts";
import type { GuestError } from "./errors.ts";

/** Room a nested call leaves below the interrupted guest's stack pointer (red zone, alignment). */
const NESTED_CALL_GAP = 0x100n;

/** What the runner needs of a CPU (and of the platform around it). */
export interface Core {
  readonly uc: Unicorn;
  /** The program counter now. */
  pc(): bigint;
  sp(): bigint;
  /** Registers for a call fn(a0, a1) with stack pointer `sp` that returns to `sentinel` (the call's first instruction is run's `pc`). */
  enterCall(a0: bigint, a1: bigint, sp: bigint, sentinel: bigint): void;
  /** The returned value of a call, after it returned. */
  result(): bigint;
  /** The engine stopped at `pc` because the guest returned to the sentinel. */
  returned(pc: bigint): boolean;
  /** The engine stopped at `pc` after a halting instruction (HLT, WFI): its address, else undefined. */
  haltedBefore(pc: bigint): bigint | undefined;
  /**
   * A halt after boot services: let guest time pass to the next interrupt and have the
   * CPU take it (true). Else why none will end it: "off" (the CPU holds interrupts back
   * for good: x86's HLT with IF clear), or "none coming" (no device will raise one, or
   * not before `deadline`, performance.now() ms).
   */
  waitForInterrupt(deadline: number): true | "off" | "none coming";
  /** Before each start of the engine: the pc to start at and a step count (0: none), e.g. a debugger's. */
  beforeRun?(pc: bigint): { pc: bigint; steps: number };
  /** After a stop that was no return: a stop the core asked for (a debugger's, a pacing point, stale code), handled; true to go on from pc(). */
  resume?(pc: bigint): boolean;
  /** Around each run level (e.g. pacing interrupts by the instruction count): returns what undoes it. */
  enterRun?(): () => void;
  error(kind: GuestError["kind"], message: string, at: bigint): GuestError;
}

export interface Budget {
  /** Guest instructions per run before it is stopped (0: no limit). */
  instructions: number;
  /** Wall-clock milliseconds per outermost run (0: no limit). */
  timeMs: number;
}

export class Runner {
  /** Guest calls in progress: 0 outside, 1 in the outermost. */
  depth = 0;
  /** performance.now() when the guest's first instruction ran. */
  firstRunAt: number | undefined;

  /**
   * `bootIdle` is the firmware's idle while boot services last (a halt waits for its
   * timer tick: true when something came, false when nothing ever will); undefined
   * after them, or with no firmware.
   */
  constructor(private readonly core: Core, private readonly state: RunState, private readonly budget: Budget, private readonly bootIdle: () => boolean | undefined = () => undefined) {}

  /** Run guest code fn(a0, a1) to its return to `sentinel`; nested when called from a hook. */
  call(fn: bigint, a0: bigint, a1: bigint, stackTop: bigint, sentinel: bigint): bigint {
    const { core } = this, uc = core.uc;
    const ctx = this.depth > 0 ? uc.contextSave() : undefined;
    const sp = this.depth > 0 ? (core.sp() - NESTED_CALL_GAP) & ~0xfn : stackTop;
    core.enterCall(a0, a1, sp, sentinel);
    this.depth++;
    try {
      this.run(fn, true);
      const status = core.result();
      this.state.unwinding = false;
      return status;
    } finally {
      this.depth--;
      if (ctx) {
        uc.contextRestore(ctx);
        uc.contextFree(ctx);
      }
    }
  }

  /**
   * Runs from pc until the guest returns to the sentinel (`returns`; never, for a kernel
   * entered directly). A run resumes after a halt with interrupts on, once the interrupt
   * it waits for is taken, at any depth: a kernel chain-loaded by a boot loader runs
   * inside the loader's StartImage. (Runs are not cut into time slices to raise
   * interrupts in between: when a UC_HOOK_CODE hook exists anywhere, Unicorn 2.1.1 does
   * not set the PC from the interrupted block on an asynchronous stop (cpu_tb_exec), so a
   * run resumed after a timeout starts from a stale PC; interrupts come from the cores'
   * own means: x86's pacing points, arm64's native IRQ timer.)
   */
  run(pc: bigint, returns: boolean): void {
    const { core, state } = this, uc = core.uc;
    const deadline = this.budget.timeMs ? performance.now() + this.budget.timeMs : Infinity;
    // The outermost run arms the stop timer (host/unicorn/native.c): it also stops a
    // nested call that runs away, and costs nothing while the guest runs.
    const timed = this.depth <= 1 && deadline !== Infinity;
    if (this.firstRunAt === undefined) {
      this.firstRunAt = performance.now();
      startupReport();
      process.emit(FIRST_INSTRUCTION);
    }
    if (timed) uc.armStopTimer(this.budget.timeMs * 1000);
    const leave = core.enterRun?.();
    try {
      for (;;) {
        let steps = 0;
        if (core.beforeRun) ({ pc, steps } = core.beforeRun(pc));
        if (state.ended) return;
        if (!uc.stopTimerExpired()) this.emulate(pc, steps);
        state.checkMilestone();
        if (state.ended || state.unwinding) return;
        pc = core.pc();
        if (returns && core.returned(pc)) return;
        if (core.resume?.(pc)) {
          pc = core.pc();
          continue;
        }
        const halt = core.haltedBefore(pc);
        if (halt !== undefined) {
          const idle = this.bootIdle();
          if (idle !== undefined) {
            if (!idle) throw new WaitingForever(halt);
            if (state.unwinding || state.ended) return;
            continue;
          }
          const woken = core.waitForInterrupt(deadline);
          if (woken === true) {
            pc = core.pc();
            continue;
          }
          // Past the deadline, the run ends on its budget instead.
          if (woken === "off" || performance.now() < deadline) throw new Halted(halt, woken);
        }
        const budget = this.budget.instructions ? `${this.budget.instructions} instructions` : `${this.budget.timeMs} ms`;
        throw core.error("budget", `guest ran past its budget of ${budget}`, pc);
      }
    } finally {
      if (timed) uc.disarmStopTimer();
      leave?.();
    }
  }

  private emulate(pc: bigint, steps: number): void {
    try {
      this.core.uc.emuStart(pc, 0n, 0, steps || this.budget.instructions);
    } catch (e) {
      if (!(e instanceof UnicornError)) throw e;
      throw this.core.error("fault", `guest fault: ${e.message.replace(/ \((?:RIP|PC) 0x[0-9a-f]+\)$/, "")}`, this.core.pc());
    }
  }
}
