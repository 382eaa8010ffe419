// A run as a timeline in the Chrome trace event format ("Trace Event Format", the JSON
// that Perfetto and chrome://tracing open): each EFI call a slice on its own track with
// its decoded arguments and status, the boot's phases (set-up, the EFI application or
// loader, the kernel, userspace) as slices on another, each serial line an instant
// event, with guest instruction counts where the run counts them. Times are the host's,
// in microseconds from the run's start.
import { renameSync, writeFileSync } from "node:fs";
import type { CallRecord } from "./trace.ts";

interface TraceEvent {
  name: string;
  ph: "X" | "i" | "M";
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  cat?: string;
  s?: "t";
  args?: Record<string, unknown>;
}

const PID = 1;
const TRACK = { phases: 1, efi: 2, serial: 3 } as const;

export class Timeline {
  private readonly events: TraceEvent[] = [];
  /** One reading of both clocks, to put hrtime readings on performance.now()'s scale. */
  private readonly hr0 = process.hrtime.bigint();
  private readonly pn0 = performance.now();

  /** `startMs`: the run's start, a performance.now() reading. */
  constructor(private readonly startMs: number) {
    for (const [name, tid] of [["phases", TRACK.phases], ["EFI calls", TRACK.efi], ["serial console", TRACK.serial]] as const) {
      this.events.push({ name: "thread_name", ph: "M", pid: PID, tid, args: { name } });
    }
  }

  /** µs from the run's start, for a performance.now() reading. */
  private us(ms: number): number {
    return Math.max(0, (ms - this.startMs) * 1000);
  }

  /** µs from the run's start, for a process.hrtime.bigint() reading. */
  private usHr(hr: bigint): number {
    return this.us(this.pn0 + Number(hr - this.hr0) / 1e6);
  }

  call(c: CallRecord, startHr: bigint, endHr: bigint): void {
    const ts = this.usHr(startHr);
    this.events.push({
      name: c.service, ph: "X", cat: "efi", pid: PID, tid: TRACK.efi, ts, dur: Math.max(0, this.usHr(endHr) - ts),
      args: { ...Object.fromEntries(c.args.map((a) => [a.name, a.text])), status: c.status },
    });
  }

  serial(line: string, instructions?: bigint): void {
    this.events.push({
      name: line.length > 80 ? line.slice(0, 77) + "..." : line, ph: "i", s: "t", cat: "serial", pid: PID, tid: TRACK.serial,
      ts: this.us(performance.now()), args: instructions === undefined ? { line } : { line, instructions: Number(instructions) },
    });
  }

  /** A phase from `fromMs` to `toMs` (performance.now() readings). */
  phase(name: string, fromMs: number, toMs: number, args?: Record<string, unknown>): void {
    this.events.push({ name, ph: "X", cat: "phase", pid: PID, tid: TRACK.phases, ts: this.us(fromMs), dur: Math.max(0, (toMs - fromMs) * 1000), args });
  }

  /** The trace as its JSON object form. */
  json(): { traceEvents: TraceEvent[]; displayTimeUnit: "ms" } {
    return { traceEvents: this.events, displayTimeUnit: "ms" };
  }

  /** Written whole or not at all (a temporary file renamed). */
  write(path: string): void {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.json()));
    renameSync(tmp, path);
  }
}
