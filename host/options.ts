// What a machine is made with, the same on every CPU (host/machine.ts for x86-64,
// host/arm64/machine.ts): options an architecture does not offer yet are refused by name.
import type { Tracer } from "./trace.ts";
import type { SymbolMap } from "./symbols.ts";
import type { Clock } from "./clock.ts";
import type { Key } from "./keys.ts";
import type { Entropy } from "./entropy.ts";
import type { Disk } from "./disk.ts";
import type { LiveInput } from "./input.ts";

export interface MachineOptions {
  /**
   * How the guest is entered: through the EFI firmware (default), or with no firmware at
   * all: Xen's PVH entry on x86-64, the arm64 boot protocol ("direct") on AArch64.
   */
  entry?: "efi" | "pvh" | "direct";
  ramMiB?: number;
  /**
   * Guest instructions per guest run before it is stopped (0: no limit). Costly: see
   * bringUp() on what Unicorn's instruction count does to later calls.
   */
  instructionBudget?: number;
  /** Wall-clock budget per top-level run, milliseconds (0: no limit). */
  timeBudgetMs?: number;
  /** Called with console text as the guest prints it. */
  onConsole?: (text: string) => void;
  tracer?: Tracer;
  /** Called with each line the guest writes to the serial port (COM1). */
  onSerial?: (line: string) => void;
  /** Host notes: unemulated ports and addresses, once each. */
  onLog?: (message: string) => void;
  /** The guest kernel's symbols, for names in reports (KASLR slide found from the IDT). */
  symbols?: SymbolMap;
  /**
   * Services answered by the host with the given status instead of the firmware, as a
   * firmware without them would (the ABI ablation in `ueficorn measure`).
   */
  disabled?: Map<number, bigint>;
  /** Stop the run as soon as a serial line matches (a milestone reached). */
  stopOnSerial?: RegExp;
  /** Offered to the guest through LoadFile2 on Linux's initrd vendor device path. */
  initrd?: Uint8Array;
  /** Variable store file: loaded if it exists, saved atomically on every non-volatile change. */
  varsPath?: string;
  /** Count guest instructions (Unicorn.countInstructions: a native hook, a few ns each). */
  countInstructions?: boolean;
  /**
   * Guest time (host/clock.ts): the host's clock (default), "deterministic" (time from
   * the instruction count: every run of a boot sees the same times at the same
   * instructions; counts instructions, answers RDTSC from it at 1 GHz, delivers timer
   * interrupts while the guest runs, guards code writes: about 4x slower), or a clock of
   * the caller's.
   */
  clock?: "host" | "deterministic" | Clock;
  /** Keystrokes for ConIn (host/keys.ts), each due at a guest time. */
  keys?: readonly Key[];
  /** Bytes for the firmware's EFI_RNG_PROTOCOL and the CPU's RDRAND/RDSEED (host/entropy.ts): the host's, or a fixed stream with clock "deterministic". */
  entropy?: Entropy;
  /** Record which table fields the guest reads (host/table-watch.ts; each access a host callback). */
  watchTables?: boolean;
  /** Another build of the firmware (default build/firmware.wasm), e.g. scripts/minimal-firmware.ts's. */
  firmwareWasm?: string;
  /**
   * Disks (host/disk.ts), in order: each a Block I/O handle with a child per partition and
   * a file system on each FAT one. The machine closes them; commitDisks() saves writes.
   */
  disks?: Disk[];
  /**
   * Typed input (host/input.ts): keystrokes for ConIn during boot services, bytes for
   * COM1 after; Ctrl-A x ends the run. The machine closes it.
   */
  input?: LiveInput;
  /**
   * Serve gdb's remote protocol (host/gdb.ts) on this address: the guest stops before its
   * first instruction until gdb connects and continues. `onListening` is told the port.
   */
  gdb?: { host: string; port: number; onListening?: (port: number) => void };
  /**
   * Check every guest store for translated code (Unicorn.guardCodeWrites) instead of only
   * stores to pages that hold code (Unicorn.trackCodePages): about 4x the cost of a run, a
   * cross-check of the tracker. Default false.
   */
  guardCodeWrites?: boolean;
  /**
   * x86 with the host's clock: deliver interrupts only when the guest halts, as before the
   * IRQ gate (host/machine.ts) — for measuring what the gate costs. Default false.
   */
  interruptsAtHalt?: boolean;
  /** A display (GraphicsOutput) of this size; none by default, so that a kernel's boot stays headless. */
  screen?: { width: number; height: number };
}

/**
 * Guest RAM ends below 3 GiB on every machine: below the 32-bit MMIO hole on a PC (the
 * local APIC at 0xfee00000, no RAM above 4 GiB), below the GIC and the PL011 on arm64
 * (host/arm64/platform.ts).
 */
export const MAX_RAM_MIB = 3072;
export const MIN_RAM_MIB = 16;
const MIB = 1 << 20;

/** The RAM `o` asks for (256 MiB by default), in bytes; a RangeError names the limits. */
export function ramBytes(o: MachineOptions): number {
  const mib = o.ramMiB ?? 256;
  if (!Number.isInteger(mib) || mib < MIN_RAM_MIB || mib > MAX_RAM_MIB) {
    throw new RangeError(`guest RAM is ${MIN_RAM_MIB} to ${MAX_RAM_MIB} MiB (it ends below the MMIO space at 3 GiB), not ${mib}`);
  }
  return mib * MIB; // not << 20: 2 GiB and more overflow an int32
}
