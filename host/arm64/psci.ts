// PSCI 1.0 over HVC (Arm DEN 0022D), for one CPU: what an OS asks the firmware or
// hypervisor to do with CPUs and the machine. Function ids in X0 (SMC32/SMC64 calling
// convention, DEN 0028), the result back in X0.

export const PSCI = {
  VERSION: 0x8400_0000, CPU_SUSPEND: 0xc400_0001, CPU_OFF: 0x8400_0002, CPU_ON: 0xc400_0003,
  AFFINITY_INFO: 0xc400_0004, MIGRATE_INFO_TYPE: 0x8400_0006, SYSTEM_OFF: 0x8400_0008,
  SYSTEM_RESET: 0x8400_0009, FEATURES: 0x8400_000a,
} as const;

const SUCCESS = 0, NOT_SUPPORTED = -1, INVALID_PARAMETERS = -2, ALREADY_ON = -4;
const VERSION_1_0 = 0x1_0000;
/** MIGRATE_INFO_TYPE: no Trusted OS that would need migrating. */
const NO_TRUSTED_OS = 2;
/** AFFINITY_INFO: the CPU is on. */
const AFFINITY_ON = 0;
/** The functions served, as PSCI_FEATURES reports them (the SMC64 forms of those that have one too). */
const SERVED = new Set<number>([...Object.values(PSCI), 0xc400_0001, 0xc400_0003, 0xc400_0004]);

export type PsciAction = { result: number } | { end: "poweroff" | "reset" };

/** Serve PSCI call `fn` with arguments x1-x3 for a machine of one CPU (MPIDR 0). */
export function psci(fn: number, x1: bigint): PsciAction {
  switch (fn >>> 0) {
    case PSCI.VERSION: return { result: VERSION_1_0 };
    case PSCI.MIGRATE_INFO_TYPE: return { result: NO_TRUSTED_OS };
    case PSCI.CPU_ON: return { result: (x1 & 0xff_00ff_ffffn) === 0n ? ALREADY_ON : INVALID_PARAMETERS };
    case PSCI.AFFINITY_INFO: return { result: (x1 & 0xff_00ff_ffffn) === 0n ? AFFINITY_ON : INVALID_PARAMETERS };
    case PSCI.FEATURES: return { result: SERVED.has(Number(x1 & 0xffff_ffffn)) ? SUCCESS : NOT_SUPPORTED };
    case PSCI.SYSTEM_OFF: return { end: "poweroff" };
    case PSCI.SYSTEM_RESET: return { end: "reset" };
    // CPU_SUSPEND (an idle state) and CPU_OFF of the only CPU are not offered: the OS idles with WFI.
    default: return { result: NOT_SUPPORTED };
  }
}
