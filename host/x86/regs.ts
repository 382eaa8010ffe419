// Architectural register bits the EFI entry state is made of (Intel SDM vol. 3A §2.5,
// §2.2.1 for EFER; UEFI 2.10 §2.3.4 for what an x64 image may assume). Unicorn's own
// register ids are not here: they come generated from its headers with the binding.

// CR0 (SDM vol. 3A §2.5).
/** Protection enable: Unicorn's UC_MODE_64 reset state already has it (CR0 = 0x11). */
export const CR0_PE = 1n << 0n;
/** Monitor coprocessor: WAIT/FWAIT also honour TS; the setting for a CPU with an x87 unit. */
export const CR0_MP = 1n << 1n;
/** x87 emulation: must be clear, or every x87/SSE instruction raises #UD/#NM (UEFI 2.10 §2.3.4). */
export const CR0_EM = 1n << 2n;
/** Task switched: must be clear, or the first x87/SSE instruction raises #NM (UEFI 2.10 §2.3.4). */
export const CR0_TS = 1n << 3n;
/** Extension type: hard-wired to 1 on anything newer than a 386. */
export const CR0_ET = 1n << 4n;
/** Numeric error: report x87 errors as #MF, not through the legacy FERR#/IRQ 13 path. */
export const CR0_NE = 1n << 5n;
/** Paging: with EFER.LME this activates long mode (EFER.LMA becomes 1). */
export const CR0_PG = 1n << 31n;

// CR4 (SDM vol. 3A §2.5).
/** Physical address extension: required for long-mode (4-level) paging. */
export const CR4_PAE = 1n << 5n;
/** OS supports FXSAVE/FXRSTOR: without it SSE instructions raise #UD. */
export const CR4_OSFXSR = 1n << 9n;
/** OS handles unmasked SIMD floating-point exceptions (#XM instead of #UD). */
export const CR4_OSXMMEXCPT = 1n << 10n;

// IA32_EFER (SDM vol. 3A §2.2.1, MSR 0xC0000080).
/** MSR number of IA32_EFER for rdmsr/wrmsr. */
export const MSR_EFER = 0xc000_0080;
/** System-call extensions: SYSCALL and SYSRET are defined only with it set. */
export const EFER_SCE = 1n << 0n;
/** Long mode enable: paging turned on with it set enters IA-32e mode. */
export const EFER_LME = 1n << 8n;
/** Long mode active: read-only, set by the CPU once CR0.PG and LME are both set. */
export const EFER_LMA = 1n << 10n;
/** No-execute enable: without it bit 63 (XD) of a paging entry is reserved and faults, so a
 *  guest (or a later firmware W^X policy) writing XD entries needs it on. */
export const EFER_NXE = 1n << 11n;

// SYSCALL's MSRs (SDM vol. 2B, SYSCALL; vol. 4 table 2-2).
/** IA32_STAR: bits 47:32 are SYSCALL's CS (SS is CS + 8); bits 63:48 SYSRET's. */
export const MSR_STAR = 0xc000_0081;
/** IA32_LSTAR: SYSCALL's target RIP in 64-bit mode. */
export const MSR_LSTAR = 0xc000_0082;
/** IA32_FMASK: RFLAGS bits SYSCALL clears. */
export const MSR_FMASK = 0xc000_0084;
/** SYSCALL is 0F 05. */
export const SYSCALL_BYTES = 2n;

// RFLAGS (SDM vol. 1 §3.4.3).
/** Interrupt enable: kept clear; the host delivers no interrupts and installs no IDT. */
export const RFLAGS_IF = 1n << 9n;
/** Direction: clear at entry (UEFI 2.10 §2.3.4: "Direction flag in EFLAGs is clear"). */
export const RFLAGS_DF = 1n << 10n;

/** MXCSR at entry: all SIMD exceptions masked, round to nearest (UEFI 2.10 §2.3.4). */
export const MXCSR_DEFAULT = 0x1f80;
/** x87 control word at entry, which `fninit` produces (UEFI 2.10 §2.3.4). */
export const FCW_DEFAULT = 0x037f;

// What the EFI trampoline does to Unicorn's reset state.
/** CR0 bits the EFI entry sets. */
export const EFI_CR0_SET = CR0_PG | CR0_NE | CR0_MP;
/** CR0 bits the EFI entry clears. */
export const EFI_CR0_CLEAR = CR0_EM | CR0_TS;
/** CR4 bits the EFI entry sets (long-mode paging and SSE). */
export const EFI_CR4_SET = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
/** EFER bits the EFI entry sets; LMA then follows from CR0.PG. */
export const EFI_EFER_SET = EFER_LME | EFER_NXE;
