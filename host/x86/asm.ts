// x86-64 instruction emitters for the host's own guest code (the EFI trampoline, the TLB
// growth loop): one instruction each, its encoding from SDM vol. 2 in the comment.
// ModRM = mod(2) reg(3) rm(3); register numbers: rax 0, rcx 1, rdx 2, rbx 3, rsp 4.

export const u32le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/** Register numbers as ModRM and opcode+r encode them. */
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4;
/** Segment register numbers as `mov Sreg, r/m16` encodes them in ModRM.reg. */
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;

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
/** mov al, [rcx] — 8A /r, ModRM 00 000 001 = 01 */
export const movAlAtRcx = () => [0x8a, 0x01];
/** add rcx, imm32 — REX.W 81 /0 id, ModRM 11 000 001 = C1 */
export const addRcxImm32 = (v: number) => [0x48, 0x81, 0xc1, ...imm32(v)];
/** dec edx — FF /1, ModRM 11 001 010 = CA */
export const decEdx = () => [0xff, 0xca];
/** mov edx, imm32 — BA id */
export const movEdxImm32 = (v: number | bigint) => [0xba, ...imm32(v)];
/** jnz rel8 — 75 cb; rel from the next instruction */
export const jnzRel8 = (rel: number) => {
  if (rel < -128 || rel > 127) throw new RangeError(`jnz rel8 ${rel}`);
  return [0x75, rel & 0xff];
};
