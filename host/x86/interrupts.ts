// Interrupt and exception delivery in IA-32e mode (Intel SDM vol. 3A §6.14).
//
// Unicorn reports a CPU exception (or `int n`) to its interrupt hook and does not enter
// the guest's IDT itself; the kernel, though, relies on its handlers from its first
// instructions (the early #PF handler builds the direct map on demand). This module
// does what the CPU would: read the gate, pick the stack (IST, RSP0 or the current one),
// push the 64-bit frame and jump.

/** Vectors whose exceptions push an error code (SDM 3A table 6-1). */
export const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);

export const RFLAGS_TF = 1n << 8n;
export const RFLAGS_IF = 1n << 9n;
export const RFLAGS_NT = 1n << 14n;
export const RFLAGS_RF = 1n << 16n;

// 64-bit TSS (SDM 3A figure 8-11): RSP0 at 4, IST1..7 from 0x24.
const TSS_RSP0 = 0x04;
const TSS_IST1 = 0x24;
const GATE_SIZE = 16;
const GATE_INTERRUPT = 0xe;
const GATE_TRAP = 0xf;

/** What delivery needs from the CPU and guest memory; the host implements it on Unicorn. */
export interface Cpu {
  rip: bigint;
  rsp: bigint;
  rflags: bigint;
  cs: number;
  ss: number;
  idtBase: bigint;
  idtLimit: number;
  trBase: bigint;
  read64(va: bigint): bigint | undefined;
  write64(va: bigint, v: bigint): boolean;
}

export interface Delivery { rip: bigint; rsp: bigint; rflags: bigint; cs: number; ss: number }

export class DeliveryError extends Error {}

/** Handler address of a 16-byte IDT gate (SDM 3A figure 6-8): offset bits 15:0, 31:16, 63:32. */
export function gateTarget(lo: bigint, hi: bigint): bigint {
  return (lo & 0xffffn) | (((lo >> 48n) & 0xffffn) << 16n) | ((hi & 0xffffffffn) << 32n);
}

/** The CPU state after delivering `vector` (with `errorCode` when it has one). */
export function deliver(cpu: Cpu, vector: number, errorCode?: number): Delivery {
  const at = BigInt(vector * GATE_SIZE);
  if (at + BigInt(GATE_SIZE - 1) > BigInt(cpu.idtLimit)) throw new DeliveryError(`vector ${vector} is beyond the IDT limit 0x${cpu.idtLimit.toString(16)}`);
  const lo = cpu.read64(cpu.idtBase + at);
  const hi = cpu.read64(cpu.idtBase + at + 8n);
  if (lo === undefined || hi === undefined) throw new DeliveryError(`IDT entry ${vector} at 0x${(cpu.idtBase + at).toString(16)} is unmapped`);
  const attrs = Number((lo >> 40n) & 0xffn);
  const type = attrs & 0xf;
  if (!(attrs & 0x80) || (type !== GATE_INTERRUPT && type !== GATE_TRAP)) {
    throw new DeliveryError(`IDT entry ${vector} is not a present interrupt or trap gate (attributes 0x${attrs.toString(16)})`);
  }
  const selector = Number((lo >> 16n) & 0xffffn);
  const ist = Number((lo >> 32n) & 7n);
  const target = gateTarget(lo, hi);
  const cpl = cpu.cs & 3;
  const newCpl = selector & 3;

  let rsp = cpu.rsp;
  if (ist) rsp = need(cpu.read64(cpu.trBase + BigInt(TSS_IST1 + 8 * (ist - 1))), "TSS IST entry");
  else if (newCpl < cpl) rsp = need(cpu.read64(cpu.trBase + BigInt(TSS_RSP0)), "TSS RSP0");
  rsp &= ~0xfn; // the frame is 16-byte aligned in IA-32e mode

  const frame = [BigInt(cpu.ss), cpu.rsp, cpu.rflags, BigInt(cpu.cs), cpu.rip];
  if (errorCode !== undefined) frame.push(BigInt(errorCode));
  for (const v of frame) {
    rsp -= 8n;
    if (!cpu.write64(rsp, v)) throw new DeliveryError(`exception frame at 0x${rsp.toString(16)} is unmapped`);
  }
  let rflags = cpu.rflags & ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF);
  if (type === GATE_INTERRUPT) rflags &= ~RFLAGS_IF;
  // A privilege change loads SS with the null selector at the new CPL.
  return { rip: target, rsp, rflags, cs: selector, ss: newCpl < cpl ? newCpl : cpu.ss };
}

function need(v: bigint | undefined, what: string): bigint {
  if (v === undefined) throw new DeliveryError(`${what} is unmapped`);
  return v;
}
