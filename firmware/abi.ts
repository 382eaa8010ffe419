// The boundary with the host: the argument area the host fills before each dispatch,
// and the few host functions the firmware calls (console, time, guest callbacks).
import { guest, reserve } from "./mem";
import { Arg } from "./spec/gen";
import { isAa64 } from "./arch";

/** The argument block, laid out by firmware/spec/services.ts ARG_SLOTS (Arg.*). */
export const ARGS: usize = reserve(Arg.SLOTS << 3);

/**
 * Run guest code fn(a0, a1) through the host (a notify function, an image's entry) and
 * return its RAX. The guest's own EFI calls in there refill the argument block, so the
 * current call's block is put back afterwards: its stack arguments, the trace of it and
 * page-table root for its pointers stay the caller's.
 */
export function callGuest(fn: u64, a0: u64, a1: u64): u64 {
  // Every slot but STATUS, on the WASM stack (calls nest).
  const r0 = load<u64>(ARGS + (Arg.ARG0 << 3)), r1 = load<u64>(ARGS + (Arg.ARG1 << 3));
  const r2 = load<u64>(ARGS + (Arg.ARG2 << 3)), r3 = load<u64>(ARGS + (Arg.ARG3 << 3));
  const r4 = load<u64>(ARGS + (Arg.ARG4 << 3)), r5 = load<u64>(ARGS + (Arg.ARG5 << 3));
  const r6 = load<u64>(ARGS + (Arg.ARG6 << 3)), r7 = load<u64>(ARGS + (Arg.ARG7 << 3));
  const stack = load<u64>(ARGS + (Arg.STACK << 3)), root = load<u64>(ARGS + (Arg.PAGE_ROOT << 3));
  const high = load<u64>(ARGS + (Arg.PAGE_ROOT_HIGH << 3)), config = load<u64>(ARGS + (Arg.PAGE_CONFIG << 3));
  const status = hostCallGuest(fn, a0, a1);
  store<u64>(ARGS + (Arg.ARG0 << 3), r0); store<u64>(ARGS + (Arg.ARG1 << 3), r1);
  store<u64>(ARGS + (Arg.ARG2 << 3), r2); store<u64>(ARGS + (Arg.ARG3 << 3), r3);
  store<u64>(ARGS + (Arg.ARG4 << 3), r4); store<u64>(ARGS + (Arg.ARG5 << 3), r5);
  store<u64>(ARGS + (Arg.ARG6 << 3), r6); store<u64>(ARGS + (Arg.ARG7 << 3), r7);
  store<u64>(ARGS + (Arg.STACK << 3), stack); store<u64>(ARGS + (Arg.PAGE_ROOT << 3), root);
  store<u64>(ARGS + (Arg.PAGE_ROOT_HIGH << 3), high); store<u64>(ARGS + (Arg.PAGE_CONFIG << 3), config);
  return status;
}

/** Argument i of the current call: registers, then the stack. */
export function arg(i: i32): u64 {
  if (i < 4) return load<u64>(ARGS + (<usize>i << 3));
  let at: usize;
  if (isAa64()) {
    // AAPCS64 §6.8.2: X4-X7, then the stack at SP (the thunk pushes nothing).
    if (i < 8) return load<u64>(ARGS + ((Arg.ARG4 + <usize>(i - 4)) << 3));
    at = guest(load<u64>(ARGS + (Arg.STACK << 3)) + (<u64>(i - 8) << 3), 8);
  } else {
    // Microsoft x64: [RSP] return address, [RSP+8..+0x28) shadow space, then argument 5 onwards.
    at = guest(load<u64>(ARGS + (Arg.STACK << 3)) + 0x28 + (<u64>(i - 4) << 3), 8);
  }
  return at ? load<u64>(at) : 0;
}

@external("host", "console_out")
export declare function hostConsoleOut(ucs2: usize, bytes: u32): void;

/** Ends the run: ResetSystem. */
@external("host", "reset_system")
export declare function hostResetSystem(type: u32, status: u64): void;

/** Runs guest code `fn(a0, a1)` to completion on the current stack; returns its RAX. Use callGuest. */
@external("host", "call_guest")
declare function hostCallGuest(fn: u64, a0: u64, a1: u64): u64;

/** Unwinds the innermost call_guest (BS.Exit): the guest stops at the next instruction. */
@external("host", "unwind_guest")
export declare function hostUnwindGuest(): void;

/** The machine's clock (host/clock.ts): guest time, nanoseconds since the Unix epoch. */
@external("host", "time_ns")
export declare function hostTimeNs(): u64;

/** Guest time moves on to `ns` (since the epoch) at once: Stall and WaitForEvent skip, not wait. */
@external("host", "time_skip")
export declare function hostTimeSkip(ns: u64): void;

/**
 * The guest waits for events nothing will signal (no timer, no key to come, or only a
 * wait function polling with no watchdog to end it): the host ends the run there, as a
 * CPU halted with nothing to wake it. Does not return.
 */
@external("host", "wait_forever")
export declare function hostWaitForever(): void;

/** The next keystroke's guest time (ns since the epoch, as time_ns), or u64 max when none is coming. */
@external("host", "key_next")
export declare function hostKeyNext(): u64;

/** Take the keystroke due by now: ScanCode << 16 | UnicodeChar, or 0xffffffff when none is. */
@external("host", "key_take")
export declare function hostKeyTake(): u32;

/** Fill [p, p + bytes) of WASM memory with random bytes: the machine's entropy (host/machine.ts). */
@external("host", "random_fill")
export declare function hostRandomFill(p: usize, bytes: u32): void;

/** The firmware wrote code at [base, base + bytes): the CPU must drop stale translations. */
@external("host", "code_written")
export declare function hostCodeWritten(base: u64, bytes: u64): void;

/** Read `bytes` at byte `offset` of host disk `disk` into WASM memory at p; false on a host error. */
@external("host", "disk_read")
export declare function hostDiskRead(disk: u32, offset: u64, p: usize, bytes: u32): bool;

/** Write `bytes` from WASM memory at p to host disk `disk` at byte `offset`; false on a host error. */
@external("host", "disk_write")
export declare function hostDiskWrite(disk: u32, offset: u64, p: usize, bytes: u32): bool;
