// Run one EFI image to its end: the library entry behind `ueficorn run`.
import { readFileSync } from "node:fs";
import { Machine, GuestError, LoadError, type Ending } from "./machine.ts";
import { Tracer, type TraceSummary } from "./trace.ts";
import { ERROR_BIT, statusName } from "../firmware/spec/uefi.ts";

export interface RunOptions {
  cmdline?: string;
  ramMiB?: number;
  instructionBudget?: number;
  timeBudgetMs?: number;
  trace?: boolean;
  onConsole?: (text: string) => void;
  onTrace?: (line: string) => void;
}

export interface RunResult {
  ending: Ending | { kind: "error"; error: string; errorKind: string; rip?: string };
  console: string;
  summary: TraceSummary;
  wallMs: number;
}

/** Process exit codes: EFI_SUCCESS 0, a warning 1, EFI error N 64 + N; host-side ends below. */
export const EXIT = { USAGE: 2, LOAD: 3, FAULT: 4, BUDGET: 5, BOOT_SERVICE_AFTER_EXIT: 6 } as const;

export function exitCode(r: RunResult): number {
  const e = r.ending;
  if (e.kind === "error") {
    return { load: EXIT.LOAD, fault: EXIT.FAULT, budget: EXIT.BUDGET, "boot-service-after-exit": EXIT.BOOT_SERVICE_AFTER_EXIT }[e.errorKind] ?? EXIT.FAULT;
  }
  const s = e.status;
  if (s === 0n) return 0;
  if (s & ERROR_BIT) return 64 + Number(s & 63n);
  return 1;
}

export function describeEnding(e: RunResult["ending"]): string {
  if (e.kind === "returned") return `image returned ${statusName(e.status)}`;
  if (e.kind === "reset") return `ResetSystem(type ${e.resetType}, ${statusName(e.status)})`;
  return e.error;
}

export function runImage(path: string, opts: RunOptions = {}): RunResult {
  const bytes = readFileSync(path);
  const tracer = new Tracer(opts.trace ?? false, opts.onTrace);
  const t0 = performance.now();
  const m = new Machine({ ramMiB: opts.ramMiB, instructionBudget: opts.instructionBudget, timeBudgetMs: opts.timeBudgetMs, onConsole: opts.onConsole, tracer });
  tracer.stubbed = (id) => m.fw.stubbed(id);
  let ending: RunResult["ending"];
  try {
    const handle = m.loadImage(bytes, opts.cmdline);
    ending = m.start(handle);
  } catch (e) {
    if (e instanceof LoadError) ending = { kind: "error", errorKind: "load", error: `${path}: ${e.message}, status ${statusName(e.status)}` };
    else if (e instanceof GuestError) ending = { kind: "error", errorKind: e.kind, error: e.message, rip: `0x${e.rip.toString(16)}` };
    else throw e;
  } finally {
    m.close();
  }
  return { ending, console: m.console, summary: tracer.summary(), wallMs: performance.now() - t0 };
}

