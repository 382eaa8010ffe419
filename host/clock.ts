// Guest time: one clock per machine, read by the firmware (GetTime, timers, Stall), the
// devices (PIT, local APIC, RTC) and the CPU (the TSC, and its rate in CPUID).
//
// hostClock follows the host's monotonic clock, as a VM does; the guest's TSC is the
// host's own counter (Unicorn's RDTSC) at the rate measured in host/unicorn/tsc.ts.
// guestClock derives time from guest progress (the machine's instruction counter:
// --deterministic), so a boot sees the same times at the same instructions in every
// run: its TSC (RDTSC answered by the host, host/unicorn/quirks.ts svmInterceptOffset),
// PIT, local APIC timer, RTC and GetTime, and timer interrupts that the machine
// delivers at instruction counts (stepsAt), not only at HLT.
// Both let time jump where nobody can tell it did not pass: the firmware's Stall and
// WaitForEvent skip to their deadline (UEFI 2.10 §7.5 only promises "at least").
import { hostTscKhz, startTscClock } from "./unicorn/tsc.ts";

const SLEEP = new Int32Array(new SharedArrayBuffer(4));

export interface Clock {
  /** Guest nanoseconds since the machine was made; never goes back. */
  now(): number;
  /** Guest time moves on to `ns` at once (no effect when it is already past it). */
  skipTo(ns: number): void;
  /** The guest halted until `ns`: a host clock sleeps (at most until performance.now() reaches `hostDeadlineMs`), a guest clock skips. */
  idleUntil(ns: number, hostDeadlineMs: number): void;
  /** Wall-clock time at guest time 0: ms since the Unix epoch, UTC. */
  readonly epochMs: number;
  /** TSC ticks per ms, as CPUID leaf 0x15 reports it. */
  tscKhz(): number;
  /** The TSC the guest reads; absent: the host's counter, through Unicorn's own RDTSC. */
  readonly tsc?: () => bigint;
  /** The guest progress (instruction count) at which guest time reaches `ns`; absent: time passes by itself. */
  readonly stepsAt?: (ns: number) => bigint;
}

/** Wall time (ms since the epoch, UTC) that `clock` shows now: the RTC's and GetTime's. */
export const wallMs = (clock: Clock): number => clock.epochMs + clock.now() / 1e6;

/** The host's monotonic clock, plus what was skipped. */
export function hostClock(): Clock {
  startTscClock();
  const t0 = process.hrtime.bigint();
  let skipped = 0;
  let last = 0;
  const now = () => (last = Math.max(last, Number(process.hrtime.bigint() - t0) + skipped));
  return {
    now,
    skipTo(ns) {
      const n = now();
      if (ns > n) skipped += ns - n, last = ns;
    },
    idleUntil(ns, hostDeadlineMs) {
      const ms = Math.min((ns - now()) / 1e6, hostDeadlineMs - performance.now());
      if (ms > 0) Atomics.wait(SLEEP, 0, 0, ms);
    },
    epochMs: Date.now(),
    tscKhz: hostTscKhz,
  };
}

/** 2026-01-01T00:00:00Z: a guest clock's wall time at its start, the same in every run. */
export const GUEST_EPOCH_MS = Date.UTC(2026, 0, 1);
/** A guest clock's TSC: 1 GHz, one tick per guest nanosecond. */
export const GUEST_TSC_KHZ = 1_000_000;

export interface GuestClockOptions {
  /** Guest progress, e.g. instructions executed; default none (time moves only by skipping). */
  progress?: () => bigint;
  /** Guest nanoseconds per unit of progress; default 1 (a 1 GHz CPU that retires one instruction per cycle). */
  nsPerStep?: number;
  epochMs?: number;
}

/** Time from guest progress: the same instant at the same instruction, run after run. */
export function guestClock(o: GuestClockOptions = {}): Clock {
  const progress = o.progress ?? (() => 0n);
  const step = o.nsPerStep ?? 1;
  const start = progress();
  let skipped = 0;
  const now = () => Number(progress() - start) * step + skipped;
  const skipTo = (ns: number) => {
    const n = now();
    if (ns > n) skipped += ns - n;
  };
  return {
    now,
    skipTo,
    idleUntil: skipTo,
    epochMs: o.epochMs ?? GUEST_EPOCH_MS,
    tscKhz: () => GUEST_TSC_KHZ,
    tsc: () => BigInt(Math.floor(now() * (GUEST_TSC_KHZ / 1e6))),
    stepsAt: o.progress && ((ns) => start + BigInt(Math.max(0, Math.ceil((ns - skipped) / step)))),
  };
}
