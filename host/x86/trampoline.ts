// The EFI trampoline: guest code that takes Unicorn's UC_MODE_64 reset state (CR0 = 0x11,
// EFER = LME|LMA, paging off) to the state UEFI 2.10 §2.3.4 promises an x64 image.
// Control registers written from the host are not reliable (Unicorn 2.0 stores them
// without a mode update); the same writes done by guest instructions are.
//
// Position independent: the only absolute addresses are the inputs (CR3, the GDTR, the
// stack); the far-return target and the MXCSR value are reached RIP-relative. The code,
// the GDT, the GDTR and the 16 bytes below the stack top must lie inside the identity
// map, since paging is on from the `mov cr0` onwards.

import { SEL_CODE64, SEL_DATA } from "./gdt.ts";
import { TRAMPOLINE_SIZE } from "./layout.ts";
import {
  EFI_CR0_CLEAR, EFI_CR0_SET, EFI_CR4_SET, EFI_EFER_SET, MSR_EFER, MXCSR_DEFAULT,
} from "./regs.ts";

// ---- Emitters: one instruction each, encoding from SDM vol. 2 in the comment. ----
// ModRM = mod(2) reg(3) rm(3); register numbers: rax 0, rcx 1, rdx 2, rbx 3, rsp 4.

/** Register numbers as ModRM and opcode+r encode them. */
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4;
/** Segment register numbers as `mov Sreg, r/m16` encodes them in ModRM.reg. */
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;

const u32le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const u64le = (v: bigint) => {
  const out: number[] = [];
  for (let i = 0n; i < 64n; i += 8n) out.push(Number((BigInt.asUintN(64, v) >> i) & 0xffn));
  return out;
};
const imm32 = (v: number | bigint) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < -0x8000_0000 || n > 0xffff_ffff) throw new RangeError(`imm32 ${v}`);
  return u32le(n >>> 0);
};

/** cli — FA */
export const cli = () => [0xfa];
/** cld — FC */
export const cld = () => [0xfc];
/** hlt — F4 */
export const hlt = () => [0xf4];
/** mov r64, imm64 — REX.W B8+r io */
export const movR64Imm64 = (r: number, v: bigint) => [0x48, 0xb8 + r, ...u64le(v)];
/** mov rax, imm64 — 48 B8 io */
export const movRaxImm64 = (v: bigint) => movR64Imm64(RAX, v);
/** mov eax, imm32 — B8 id (zero-extends into RAX) */
export const movEaxImm32 = (v: number | bigint) => [0xb8, ...imm32(v)];
/** mov ecx, imm32 — B9 id */
export const movEcxImm32 = (v: number | bigint) => [0xb9, ...imm32(v)];
/** mov rax, crN — 0F 20 /r, ModRM 11 n 000 */
export const movRaxCr = (n: number) => [0x0f, 0x20, 0xc0 | (n << 3) | RAX];
/** mov crN, rax — 0F 22 /r, ModRM 11 n 000 (mov cr3, rax = 0F 22 D8) */
export const movCrRax = (n: number) => [0x0f, 0x22, 0xc0 | (n << 3) | RAX];
/** or eax, imm32 — 0D id (zero-extends RAX: fine for CR0 and CR4, whose bits 63:32 are reserved 0) */
export const orEaxImm32 = (v: number | bigint) => [0x0d, ...imm32(v)];
/** and eax, imm32 — 25 id */
export const andEaxImm32 = (v: number | bigint) => [0x25, ...imm32(v)];
/** rdmsr — 0F 32: EDX:EAX = MSR[ECX] */
export const rdmsr = () => [0x0f, 0x32];
/** wrmsr — 0F 30: MSR[ECX] = EDX:EAX */
export const wrmsr = () => [0x0f, 0x30];
/** lgdt [rax] — 0F 01 /2, ModRM 00 010 000 = 10 */
export const lgdtRax = () => [0x0f, 0x01, 0x10];
/** push imm8 — 6A ib (sign-extended to 64 bits) */
export const pushImm8 = (v: number) => {
  if (v < 0 || v > 0x7f) throw new RangeError(`push imm8 ${v}`);
  return [0x6a, v];
};
/** lea rax, [rip + disp32] — REX.W 8D /r, ModRM 00 000 101 = 05, cd; disp from the next instruction */
export const leaRaxRip = (disp: number) => [0x48, 0x8d, 0x05, ...imm32(disp)];
/** push rax — 50 */
export const pushRax = () => [0x50];
/** retfq — REX.W CB: pops RIP, then CS (8 bytes each) */
export const retfq = () => [0x48, 0xcb];
/** mov Sreg, eax — 8E /r, ModRM 11 sreg 000 (mov ds, eax = 8E D8) */
export const movSregEax = (sreg: number) => [0x8e, 0xc0 | (sreg << 3) | RAX];
/** fninit — DB E3: FCW = 0x037F, empty x87 stack */
export const fninit = () => [0xdb, 0xe3];
/** ldmxcsr [rip + disp32] — 0F AE /2, ModRM 00 010 101 = 15, cd */
export const ldmxcsrRip = (disp: number) => [0x0f, 0xae, 0x15, ...imm32(disp)];

// ---- The trampoline. ----

export interface EfiTrampolineInput {
  /** PML4 physical address (from `identityMap`). */
  cr3: bigint;
  /** Physical address of the 10-byte GDTR (from `gdtr`) describing the GDT of `efiGdt`. */
  gdtrAddr: bigint;
  /** Initial RSP, 16-byte aligned; the stack grows down from here. */
  stackTop: bigint;
}

export interface Trampoline {
  /** Code, then data it reads RIP-relative; place anywhere identity-mapped. */
  bytes: Uint8Array;
  /** Offset of the end label: a `hlt`. Stop emulation at base + end. */
  end: number;
}

/** Machine code for the bring-up; after it, only RIP and the GPRs remain the host's to set. */
export function efiTrampoline({ cr3, gdtrAddr, stackTop }: EfiTrampolineInput): Trampoline {
  if (stackTop % 16n !== 0n) throw new RangeError(`stack top 0x${stackTop.toString(16)}: not 16-byte aligned`);
  const code: number[] = [];
  const emit = (...insns: number[][]) => { for (const i of insns) code.push(...i); };

  // IF = 0: §2.3.4 has interrupts on for the boot-services timer alone; the host has no
  // timer interrupt and installs no IDT. DF = 0 as §2.3.4 requires.
  emit(cli(), cld());
  emit(movRaxCr(4), orEaxImm32(EFI_CR4_SET), movCrRax(4));         // CR4 |= PAE|OSFXSR|OSXMMEXCPT
  emit(movRaxImm64(cr3), movCrRax(3));                             // CR3 = PML4
  emit(movEcxImm32(MSR_EFER), rdmsr(), orEaxImm32(EFI_EFER_SET), wrmsr()); // EFER |= LME|NXE
  emit(movRaxCr(0), orEaxImm32(EFI_CR0_SET),                       // CR0 |= PG|NE|MP,
    andEaxImm32(~Number(EFI_CR0_CLEAR)), movCrRax(0));             //   &= ~(EM|TS): long mode, paging on
  emit(movRaxImm64(gdtrAddr), lgdtRax());                          // GDTR = the host's GDT
  emit(movR64Imm64(RSP, stackTop));                                // RSP = stack top, before the first push
  // Far return to the next instruction with CS = SEL_CODE64; lea's displacement skips
  // the push (1 byte) and the retfq (2 bytes). It pops what it pushed: RSP ends at stackTop.
  emit(pushImm8(SEL_CODE64), leaRaxRip(pushRax().length + retfq().length), pushRax(), retfq());
  emit(movEaxImm32(SEL_DATA), ...[DS, ES, SS, FS, GS].map(movSregEax)); // flat data segments
  emit(fninit());                                                  // FCW = 0x037F (§2.3.4)
  const ldmxcsrAt = code.length;
  emit(ldmxcsrRip(0));                                             // MXCSR = 0x1F80 (§2.3.4), patched below
  const end = code.length;
  emit(hlt());                                                     // end label: harmless if run
  while (code.length % 4 !== 0) code.push(...hlt());
  const mxcsrAt = code.length;
  emit(u32le(MXCSR_DEFAULT));

  const ldmxcsrLen = ldmxcsrRip(0).length;
  code.splice(ldmxcsrAt, ldmxcsrLen, ...ldmxcsrRip(mxcsrAt - (ldmxcsrAt + ldmxcsrLen)));
  if (code.length > TRAMPOLINE_SIZE) throw new Error(`EFI trampoline is ${code.length} bytes, budget ${TRAMPOLINE_SIZE}`);
  return { bytes: Uint8Array.from(code), end };
}
