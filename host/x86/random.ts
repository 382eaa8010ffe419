// RDRAND and RDSEED (Intel SDM vol. 2B), answered by the host from the machine's entropy.
//
// Unicorn's CPU model (QEMU's qemu64) has neither, and its translator decodes both as an
// invalid opcode, which Unicorn reports as #UD (its invalid-instruction hook). The
// machine's CPUID says it has both (host/x86/cpuid.ts), so the CPU must run them: the
// host takes the #UD, sees one of them at RIP, and does what the instruction does,
// with bytes from the same entropy as the firmware's EFI_RNG_PROTOCOL (the host's CSPRNG,
// or a fixed stream on a deterministic machine). Linux seeds its CRNG from them
// (random_init, arch_get_random_seed_longs), so a kernel entered without EFI (PVH) has
// entropy from its first instruction and a blocking getrandom() returns.
//
// Encoding: [66] [REX] 0F C7 /6 (RDRAND) or /7 (RDSEED), ModRM.mod = 11, the register in
// ModRM.rm (REX.B extends it); 66 makes it 16-bit, REX.W 64-bit. F3 0F C7 /7 is RDPID
// and a LOCK or REP prefix makes either #UD: those are not taken here.
import * as C from "../unicorn/consts.ts";

export interface RandomInstruction {
  /** RDSEED rather than RDRAND. */
  seed: boolean;
  /** Destination: the general register number (0 = RAX ... 15 = R15). */
  reg: number;
  /** Operand size in bytes. */
  size: 2 | 4 | 8;
  /** Instruction length in bytes. */
  length: number;
}

/** SERIALIZE: NP 0F 01 E8 (with F3 it is SETSSBSY, with F2 XSUSLDTRK). */
export const SERIALIZE = [0x0f, 0x01, 0xe8] as const;
export const isSerialize = (code: Uint8Array) => SERIALIZE.every((b, i) => code[i] === b);

/** Segment overrides and the address-size prefix: allowed, and they change nothing here. */
const HARMLESS_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x67]);
const OPERAND_SIZE = 0x66;

/** Decode RDRAND/RDSEED at the start of `code` (`long`: 64-bit mode, where REX exists). */
export function decodeRandom(code: Uint8Array, long: boolean): RandomInstruction | undefined {
  let i = 0, size: 2 | 4 | 8 = 4, rexB = 0;
  while (i < code.length && (HARMLESS_PREFIXES.has(code[i]) || code[i] === OPERAND_SIZE)) if (code[i++] === OPERAND_SIZE) size = 2;
  if (long && (code[i] & 0xf0) === 0x40) {
    const rex = code[i++];
    if (rex & 8) size = 8;
    rexB = rex & 1;
  }
  if (code[i] !== 0x0f || code[i + 1] !== 0xc7 || i + 2 >= code.length) return undefined;
  const modrm = code[i + 2];
  const op = (modrm >> 3) & 7;
  if (modrm >> 6 !== 3 || (op !== 6 && op !== 7)) return undefined;
  return { seed: op === 7, reg: (modrm & 7) | (rexB << 3), size, length: i + 3 };
}

/** Unicorn's ids of the general registers, in encoding order. */
export const GPR = [
  C.UC_X86_REG_RAX, C.UC_X86_REG_RCX, C.UC_X86_REG_RDX, C.UC_X86_REG_RBX, C.UC_X86_REG_RSP, C.UC_X86_REG_RBP, C.UC_X86_REG_RSI, C.UC_X86_REG_RDI,
  C.UC_X86_REG_R8, C.UC_X86_REG_R9, C.UC_X86_REG_R10, C.UC_X86_REG_R11, C.UC_X86_REG_R12, C.UC_X86_REG_R13, C.UC_X86_REG_R14, C.UC_X86_REG_R15,
] as const;

/** RFLAGS bits the instruction sets: CF = 1 (a value was delivered), OF SF ZF AF PF = 0. */
const CF = 1n, PF = 1n << 2n, AF = 1n << 4n, ZF = 1n << 6n, SF = 1n << 7n, OF = 1n << 11n;

/**
 * The register and RFLAGS after the instruction: a 32-bit result zero-extends into the
 * 64-bit register, a 16-bit one keeps the register's upper bits (SDM vol. 1 §3.4.1.1).
 */
export function randomResult(i: RandomInstruction, old: bigint, rflags: bigint, random: bigint): { reg: bigint; rflags: bigint } {
  const reg = i.size === 8 ? random : i.size === 4 ? random & 0xffff_ffffn : (old & ~0xffffn) | (random & 0xffffn);
  return { reg, rflags: (rflags & ~(PF | AF | ZF | SF | OF)) | CF };
}
