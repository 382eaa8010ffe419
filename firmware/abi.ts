// The boundary with the host: the argument area the host fills before each dispatch,
// and the few host functions the firmware calls (console, time, guest callbacks).
import { guest, reserve } from "./mem";

/**
 * Filled by the host per call: RCX, RDX, R8, R9 (the first four Microsoft x64
 * arguments), the guest RSP at the `out` (pointing at the thunk's return address),
 * and CR3 (whose tables translate every guest pointer).
 */
export const ARGS: usize = reserve(8 * 8);
const ARG_RSP: usize = 4;
export const ARG_CR3: usize = 5;

/** Argument i of the current call: registers, then the stack above the 32-byte shadow space. */
export function arg(i: i32): u64 {
  if (i < 4) return load<u64>(ARGS + (<usize>i << 3));
  // [RSP] return address, [RSP+8..+0x28) shadow space, then argument 5 onwards.
  const at = guest(load<u64>(ARGS + (ARG_RSP << 3)) + 0x28 + (<u64>(i - 4) << 3), 8);
  return at ? load<u64>(at) : 0;
}

@external("host", "console_out")
export declare function hostConsoleOut(ucs2: usize, bytes: u32): void;

/** Ends the run: ResetSystem. */
@external("host", "reset_system")
export declare function hostResetSystem(type: u32, status: u64): void;

/** Runs guest code `fn(a0, a1)` to completion on the current stack; returns its RAX. */
@external("host", "call_guest")
export declare function hostCallGuest(fn: u64, a0: u64, a1: u64): u64;

/** Unwinds the innermost call_guest (BS.Exit): the guest stops at the next instruction. */
@external("host", "unwind_guest")
export declare function hostUnwindGuest(): void;

/** Host wall clock, nanoseconds since the Unix epoch. */
@external("host", "time_ns")
export declare function hostTimeNs(): u64;

/** The firmware wrote code at [base, base + bytes): the CPU must drop stale translations. */
@external("host", "code_written")
export declare function hostCodeWritten(base: u64, bytes: u64): void;
