// What the guest's CPUID says beyond Unicorn's own model (QEMU's qemu64).
//
// Linux can only time itself on a machine without HPET or ACPI PM timer if it knows the
// TSC frequency: otherwise it calibrates against the PIT, which fails under emulation
// (its jitter check, tsc.c pit_calibrate_tsc), marks the TSC unstable and busy-waits in
// calibrate_delay for timer ticks. Intel's CPUID leaf 0x15 gives the TSC frequency
// directly (SDM vol. 2A, CPUID leaf 15H), and Linux also derives the local APIC timer
// rate from it (tsc.c native_calibrate_tsc: lapic_timer_period). Linux reads leaf 0x15
// only from a GenuineIntel CPU whose maximum basic leaf reaches it, so the vendor and
// the maximum leaf are reported accordingly, and the leaves between Unicorn's maximum
// (0xd) and 0x16 read as zero, as on a CPU that has nothing to say there.
//
// RDRAND (leaf 1 ECX bit 30) and RDSEED (leaf 7 EBX bit 18) are added to Unicorn's own
// answers: the CPU runs both, the host answering the #UD Unicorn raises for them
// (host/x86/random.ts). Linux then seeds its CRNG at boot without EFI's RNG protocol.
// SERIALIZE (leaf 7 EDX bit 14) the same way: Linux's sync_core() after patching its code
// uses it, and there the host makes the next code write anywhere be seen (cpu.ts).

/** The core crystal clock we report in leaf 0x15, and that drives the LAPIC timer. */
export const CRYSTAL_HZ = 1_000_000;
const MAX_BASIC_LEAF = 0x16;
const UNICORN_MAX_BASIC_LEAF = 0xd;
const VENDOR = "GenuineIntel";

export type Regs = [eax: number, ebx: number, ecx: number, edx: number];

export const CPUID_1_ECX_RDRAND = 1 << 30;
export const CPUID_7_EBX_RDSEED = 1 << 18;
export const CPUID_7_EDX_SERIALIZE = 1 << 14;

/** Unicorn's answers for the leaves reported with bits added (host/unicorn/quirks.ts unicornCpuid). */
export interface BaseLeaves { leaf1: Regs; leaf7: Regs }

const word = (s: string, i: number) => s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);

/** The answer for (leaf, subleaf), or undefined to let Unicorn answer. tscKhz is asked only by the leaves that report it. */
export function cpuidOverride(leaf: number, subleaf: number, tscKhz: () => number, base: () => BaseLeaves): Regs | undefined {
  switch (leaf) {
    case 1: {
      const [a, b, c, d] = base().leaf1;
      return [a, b, (c | CPUID_1_ECX_RDRAND) >>> 0, d];
    }
    case 7: {
      if (subleaf !== 0) return undefined;
      const [a, b, c, d] = base().leaf7;
      return [a, (b | CPUID_7_EBX_RDSEED) >>> 0, c, (d | CPUID_7_EDX_SERIALIZE) >>> 0];
    }
    case 0: // max basic leaf; vendor in EBX, EDX, ECX order
      return [MAX_BASIC_LEAF, word(VENDOR, 0), word(VENDOR, 8), word(VENDOR, 4)];
    case 0x15: // TSC = ECX (crystal Hz) * EBX / EAX
      return [1000, tscKhz(), CRYSTAL_HZ, 0];
    case 0x16: // base, max and bus MHz
      return [Math.round(tscKhz() / 1000), Math.round(tscKhz() / 1000), 100, 0];
    default:
      return leaf > UNICORN_MAX_BASIC_LEAF && leaf < MAX_BASIC_LEAF ? [0, 0, 0, 0] : undefined;
  }
}
