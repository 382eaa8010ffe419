// The service table: one row per function slot of every interface the firmware serves
// (boot services, runtime services, console protocols), in declaration order. A row's
// index is its service id: the thunk loads it into EAX before trapping, the firmware's
// generated dispatcher switches on it, and traces and the ABI report name it.
import { INTERFACES } from "./uefi.ts";
import type { FnSig } from "./decl.ts";

export interface Service {
  id: number;
  table: string;      // "BS", "RT", "ConOut", "ConIn"
  name: string;       // slot name as in the spec
  slot: number;       // byte offset of the slot in its table
  sig: FnSig;
  handler: string;    // firmware function that serves it: `${table}_${name}`
}

export const SERVICES: Service[] = INTERFACES.flatMap(({ table, struct }) =>
  struct.fields.filter((f) => f.fn).map((f) => ({ table, name: f.name, slot: f.offset, sig: f.fn!, handler: `${table}_${f.name}` })),
).map((s, id) => ({ id, ...s }));

export function serviceByName(qualified: string): Service {
  const s = SERVICES.find((x) => `${x.table}.${x.name}` === qualified);
  if (!s) throw new Error(`no service ${qualified}`);
  return s;
}

// Thunk per service: `mov eax, imm32 ; out TRAP_PORT, eax ; ret` (B8 id32, E7 port, C3).
// An 8-bit port keeps every argument register intact (`out dx` would clobber RDX, the
// second argument). 0xEF is unused on PCs and by Linux.
export const TRAP_PORT = 0xef;
export const THUNK_SIZE = 8;

/**
 * The argument block (firmware/abi.ts ARGS), u64 slots in this order: the register
 * arguments (Microsoft x64: RCX, RDX, R8, R9), the stack pointer at the trap (the
 * thunk's return address, above it the stack arguments), the page-table root whose
 * tables translate the pointers (CR3), all filled by the host's trap gate before the
 * dispatch; then STATUS, where the host leaves the result for the gate to load into the
 * return register (RAX). The names are the calling convention's, not one CPU's: the host
 * maps each to its architecture's register (host/machine.ts ARG_REGISTERS). AArch64
 * passes eight arguments in registers (AAPCS64: X0-X7): ARG4-ARG7 follow, after STATUS,
 * so that x86-64's block keeps its layout; and its pointers are translated by two tables
 * (Arm ARM D8.2): PAGE_ROOT is TTBR0_EL1, PAGE_ROOT_HIGH TTBR1_EL1, PAGE_CONFIG TCR_EL1.
 */
export const ARG_SLOTS = ["ARG0", "ARG1", "ARG2", "ARG3", "STACK", "PAGE_ROOT", "STATUS", "ARG4", "ARG5", "ARG6", "ARG7", "PAGE_ROOT_HIGH", "PAGE_CONFIG"] as const;
export type ArgSlot = (typeof ARG_SLOTS)[number];
export const argSlot = (name: ArgSlot): number => ARG_SLOTS.indexOf(name);

export function thunkBytes(id: number): Uint8Array {
  return Uint8Array.of(0xb8, id & 0xff, (id >> 8) & 0xff, (id >> 16) & 0xff, id >>> 24, 0xe7, TRAP_PORT, 0xc3);
}

/**
 * AArch64's thunk: `hvc #id ; ret` (Arm ARM C6.2.111: HVC is 0xD4000002 | imm16 << 5).
 * The HVC traps to the host with the service id in its immediate; the host also finds it
 * from the thunk's offset in its page ((PC - 4) & 0xfff) / THUNK_SIZE), whatever virtual
 * address the OS maps the page at. Other HVCs (PSCI's) come from outside the page.
 */
export function thunkBytesAa64(id: number): Uint8Array {
  const b = new Uint8Array(THUNK_SIZE), v = new DataView(b.buffer);
  v.setUint32(0, (0xd4000002 | ((id & 0xffff) << 5)) >>> 0, true);
  v.setUint32(4, 0xd65f03c0, true);
  return b;
}

/**
 * What a firmware without service `qualified` ("BS.LocateProtocol") answers: NOT_FOUND
 * where the spec has a lookup find nothing (the Locate services, GetVariable,
 * GetNextVariableName), UNSUPPORTED otherwise. The ablation answers with it, and the
 * minimal firmware's absent services do (scripts/minimal-firmware.ts).
 */
export function minimalAnswer(qualified: string): "NOT_FOUND" | "UNSUPPORTED" {
  return /^(BS\.Locate|RT\.GetVariable$|RT\.GetNextVariableName$)/.test(qualified) ? "NOT_FOUND" : "UNSUPPORTED";
}
