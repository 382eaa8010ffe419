// The rate of the guest's TSC: Unicorn's RDTSC reads the host's counter, so the guest
// sees the host rate, measured once per process against the wall clock: a first reading
// when a machine is made, a second when a guest first asks (CPUID leaf 0x15). A kernel
// asks a few hundred milliseconds in, so the measurement costs it no waiting at all.
import { hostRdtsc } from "./index.ts";

/** Shortest interval measured over: the two readings are ~100 ns apart, 1/10^5 of it. */
const MIN_NS = 10_000_000n;
const SLEEP = new Int32Array(new SharedArrayBuffer(4));

let start: { tsc: bigint; ns: bigint } | undefined;
let cached: number | undefined;

const sample = () => ({ ns: process.hrtime.bigint(), tsc: hostRdtsc() });

/** Take the first reading, if not yet taken. */
export function startTscClock(): void {
  start ??= sample();
}

/** TSC ticks per millisecond (kHz), over at least 10 ms since startTscClock (sleeping out the rest). */
export function hostTscKhz(): number {
  if (cached !== undefined) return cached;
  startTscClock();
  const left = MIN_NS - (process.hrtime.bigint() - start!.ns);
  if (left > 0n) Atomics.wait(SLEEP, 0, 0, Math.ceil(Number(left) / 1e6));
  const end = sample();
  cached = Math.round(Number(end.tsc - start!.tsc) / (Number(end.ns - start!.ns) / 1e6));
  return cached;
}
