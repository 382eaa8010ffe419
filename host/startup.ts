// Start-up, process start to the guest's first instruction (issue 16: under 60 ms).
//
// FIRST_INSTRUCTION is the process event a run emits when its guest's first instruction
// is about to run (host/runner.ts): the end of start-up. The CLI's launcher
// (host/launch.cts) saves its code cache there, so that the cache holds what start-up
// compiles and no more.
//
// With UEFICORN_STARTUP_TRACE=1, each phase's end is marked (performance.now(), which
// counts from the process's start) and the marks are printed to stderr at the first
// instruction. The launcher and the bundle each carry a copy of this module: the marks
// live on a process-wide symbol.
export const FIRST_INSTRUCTION = "ueficorn:first-instruction";

const TRACE = !!process.env.UEFICORN_STARTUP_TRACE;
const KEY = Symbol.for("ueficorn.startup-marks");
const marks = (): [string, number][] => ((globalThis as Record<symbol, [string, number][]>)[KEY] ??= []);

/** Marks the end of a start-up phase (only with UEFICORN_STARTUP_TRACE). */
export function startupMark(phase: string): void {
  if (TRACE) marks().push([phase, performance.now()]);
}

/** At the first instruction: the marks, one line, each phase's end and its length. */
export function startupReport(): void {
  if (!TRACE) return;
  startupMark("first instruction");
  let last = 0;
  const parts = marks().map(([phase, at]) => {
    const s = `${phase} ${at.toFixed(1)} (+${(at - last).toFixed(1)})`;
    last = at;
    return s;
  });
  process.stderr.write(`startup ms: ${parts.join(", ")}\n`);
}
