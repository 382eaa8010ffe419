// AArch64 system registers and values the bring-up writes (Arm ARM DDI 0487, chapter D17),
// by their MSR encodings: Unicorn 2.1.1 has register ids for only some of them.
import type { SysReg } from "../unicorn/index.ts";

const sys = (op0: number, op1: number, crn: number, crm: number, op2: number): SysReg => ({ op0, op1, crn, crm, op2 });

export const SCTLR_EL1 = sys(3, 0, 1, 0, 0);
export const TCR_EL1 = sys(3, 0, 2, 0, 2);
export const SCR_EL3 = sys(3, 6, 1, 1, 0);
export const HCR_EL2 = sys(3, 4, 1, 1, 0);

/**
 * Unicorn's default CPU (Cortex-A72) has EL2 and EL3 and starts in Secure EL1 with
 * SCR_EL3 = 0, where HVC is undefined (ARM64.md). SCR_EL3: NS (bit 0), HCE (bit 8:
 * HVC enabled), RW (bit 10: EL2 is AArch64). HCR_EL2.RW (bit 31): EL1 is AArch64.
 */
export const SCR_EL3_NS_HVC_AA64 = 0x501n;
export const HCR_EL2_RW = 1n << 31n;

/** PSTATE: EL1 with SP_EL1 (M = 0b0101), D, A, I and F masked (UEFI 2.10 §2.3.6.1: interrupts masked, or the firmware's). */
export const PSTATE_EL1H_MASKED = 0x3c5n;

/** CPACR_EL1.FPEN = 0b11: FP and SIMD do not trap at EL1 or EL0 (§2.3.6: the floating-point unit is enabled). */
export const CPACR_FPEN = 3n << 20n;

/**
 * SCTLR_EL1: M (MMU on), C and I (caches on), with the RES1 bits set (11, 20, 22, 23,
 * 28, 29); alignment checking off (A = 0, SA = 0), little-endian. As UEFI 2.10 §2.3.6.1
 * promises an AArch64 image: MMU on, identity map, caches on.
 */
export const SCTLR_MMU_CACHES = 0x30d0_1805n;

/** The HVC immediate of the sentinel that guest calls return to (services use their id, below 512). */
export const SENTINEL_HVC = 0xffff;

/** Instruction encodings the host recognises (Arm ARM C6.2). */
export const WFI = 0xd503_207f;
export const hvc = (imm: number) => (0xd400_0002 | ((imm & 0xffff) << 5)) >>> 0;
export const B_SELF = 0x1400_0000; // b .

/** QEMU's exception numbers as Unicorn's interrupt hook gives them (target/arm/cpu.h EXCP_*). */
export const EXCP = {
  UDEF: 1, SWI: 2, PREFETCH_ABORT: 3, DATA_ABORT: 4, IRQ: 5, FIQ: 6, BKPT: 7, HVC: 11, SMC: 13,
} as const;
export const EXCP_NAMES: Record<number, string> = {
  1: "undefined instruction", 2: "SVC", 3: "prefetch abort (instruction fetch fault)", 4: "data abort",
  5: "IRQ", 6: "FIQ", 7: "breakpoint (BRK)", 13: "SMC",
};
