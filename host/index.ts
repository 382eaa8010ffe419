// The library: `import { Machine, runImage } from "ueficorn"`. The CLI (host/cli.ts) is a
// layer over the same: runImage for one run with a result, Machine for everything else.
export { Machine, type MachineOptions, type Ending } from "./machine.ts";
export { runImage, exitCode, describeEnding, type RunOptions, type RunResult, type RunEnding, type InstructionCounts } from "./run.ts";
export { EXIT, RunError, GuestError, LoadError, KernelImageError, VarStoreError, FirmwareError, type ErrorKind } from "./errors.ts";
export { hostClock, guestClock, wallMs, GUEST_EPOCH_MS, type Clock, type GuestClockOptions } from "./clock.ts";
export { Tracer, type CallRecord, type TraceSummary } from "./trace.ts";
export { SymbolMap } from "./symbols.ts";
export { preparePvhFile } from "./pvh/index.ts";
export { DEFAULT_CMDLINE, DEFAULT_KERNEL, DEFAULT_SYSTEM_MAP, TEST_INITRD } from "./defaults.ts";
