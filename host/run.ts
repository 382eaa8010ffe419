// Run one EFI image (an application, or a kernel through its EFI stub) to its end: the
// library entry behind `ueficorn run` and `ueficorn boot`.
import { startupMark } from "./startup.ts";
import type { InterruptCounts } from "./machine-base.ts";
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { encodePng } from "./png.ts";
import { LiveInput } from "./input.ts";
import { Machine, type Ending } from "./machine.ts";
import { Arm64Machine } from "./arm64/machine.ts";
import { prepareArm64, readArm64File, RNG_SEED_BYTES } from "./arm64/image.ts";
import { PE_CONST } from "../firmware/spec/pe.ts";
import type { Key } from "./keys.ts";
import { Timeline } from "./timeline.ts";
import { espFromDir, openDisk, type Disk } from "./disk.ts";
import { DiskError, EXIT, FirmwareError, GuestError, LoadError, RunError, VarStoreError, type ErrorKind } from "./errors.ts";
import { Tracer, type CallRecord, type TraceSummary } from "./trace.ts";
import { SymbolMap } from "./symbols.ts";
import { libraryInfo } from "./unicorn/index.ts";
import type { TablesRead } from "./table-watch.ts";
import { preparePvhFile } from "./pvh/index.ts";
import { ERROR_BIT, statusName } from "../firmware/spec/uefi.ts";

export interface RunOptions {
  /** The CPU when no image names it (the boot manager's run); an image's PE machine decides otherwise. */
  arch?: "x86-64" | "aarch64";
  /**
   * Enter a kernel with no firmware instead of through its EFI stub: "pvh", Xen's PVH
   * entry (x86-64); "direct", the architecture's own: PVH on x86-64, the arm64 boot
   * protocol on AArch64.
   */
  entry?: "efi" | "pvh" | "direct";
  cmdline?: string;
  initrd?: string;
  vars?: string;
  /** System.map of the guest, for symbol names in reports. */
  systemMap?: string;
  /** End the run when a serial line matches (exit status 0). */
  stopOnSerial?: RegExp;
  /** Services the host answers with this status instead of the firmware (ablation). */
  disabled?: Map<number, bigint>;
  /** Keep every call, decoded, in the result (measurements). */
  keepCalls?: boolean;
  /** Count guest instructions into the result's `instructions` (a native hook; slows the run, see the README). */
  countInstructions?: boolean;
  /** Write the run's timeline here (host/timeline.ts: Chrome trace event JSON, for Perfetto). */
  traceOut?: string;
  /** Keystrokes for ConIn (host/keys.ts parseKeys). */
  keys?: readonly Key[];
  /** Guest time from guest progress: two runs print the same output at the same instructions (MachineOptions.clock). */
  deterministic?: boolean;
  /** Record the table fields and configuration tables the guest reads into `tablesRead` (EFI entry). */
  watchTables?: boolean;
  /** Another build of the firmware (default build/firmware.wasm). */
  firmware?: string;
  /** Raw disk images (GPT, MBR or a bare file system), in order; read-only unless diskWritable. */
  disks?: string[];
  /** A display of this size (GraphicsOutput); with screenshot, 1024x768 by default. */
  screen?: { width: number; height: number };
  /** Write the display as a PNG here when the run ends (however it ends). */
  screenshot?: string;
  /** Serve gdb's remote protocol on this address ([HOST:]PORT, loopback by default; port 0: any free one), the guest stopped at its first instruction until gdb connects. */
  gdb?: string;
  /** Told the port gdb can connect to, once the stub listens. */
  onGdbListening?: (port: number) => void;
  /** Check every store for translated code (MachineOptions.guardCodeWrites), about 4x slower. */
  guardCodeWrites?: boolean;
  /** x86: interrupts only when the guest halts (MachineOptions.interruptsAtHalt). */
  interruptsAtHalt?: boolean;
  /** Read standard input: keystrokes for ConIn, then the serial console's input (host/input.ts); Ctrl-A x ends the run. */
  stdin?: boolean;
  /** Host folders, each presented as an ESP (FAT, on a GPT disk of its own) after the disks; with diskWritable the guest's writes last for the run, the folder untouched. */
  esp?: string[];
  /** Let the guest write the disks: kept in an overlay, saved atomically when the guest ends by itself (returns, resets, powers off). */
  diskWritable?: boolean;
  ramMiB?: number;
  instructionBudget?: number;
  timeBudgetMs?: number;
  trace?: boolean;
  onConsole?: (text: string) => void;
  onSerial?: (line: string) => void;
  onTrace?: (line: string) => void;
  onLog?: (message: string) => void;
}

export type RunEnding = Ending | { kind: "error"; error: string; errorKind: ErrorKind; exit: number; rip?: string; symbol?: string };

export interface RunResult {
  ending: RunEnding;
  console: string;
  serial: string[];
  summary: TraceSummary;
  calls: CallRecord[];
  wallMs: number;
  /**
   * Milliseconds from the run's start to the kernel's entry: ExitBootServices returning
   * SUCCESS (EFI: the stub's own work in the guest), or the first instruction (PVH: the
   * host's work, decompressing and laying out the kernel). Undefined if never entered.
   */
  entryMs?: number;
  /**
   * Milliseconds from the process's start (performance.timeOrigin) to the guest's first
   * instruction: Node's start, loading the host, the machine's set-up and the image's.
   */
  startupMs?: number;
  /** With countInstructions. */
  instructions?: InstructionCounts;
  /** With watchTables. */
  tablesRead?: TablesRead;
  /** x86: external interrupts delivered while the guest ran (the IRQ gate with the host's clock, paced stops with the deterministic one) and when it had halted. */
  interrupts?: InterruptCounts;
  /** x86: SERIALIZE instructions the guest ran (Linux: one per code patch), each re-arming the code-write checks. */
  serializations?: number;
}

/**
 * Guest instructions executed (Unicorn.countInstructions: a rep string instruction
 * counts per iteration), from the image's (or the PVH kernel's) first instruction.
 */
export interface InstructionCounts {
  /** The whole run. */
  total: number;
  /** To the kernel's entry: ExitBootServices returning SUCCESS (EFI), 0 (PVH); null if never. */
  kernelEntry: number | null;
  /** To the end of the kernel's first serial line with `Linux version` (its banner); null if none. */
  linuxVersion: number | null;
}

const num = (v: bigint | undefined) => (v === undefined ? null : Number(v));

export { EXIT };

export function exitCode(r: RunResult): number {
  const e = r.ending;
  if (e.kind === "error") return e.exit;
  if (e.kind === "halted" || e.kind === "waiting") return EXIT.HALTED;
  if (e.kind === "milestone" || e.kind === "poweroff" || e.kind === "quit") return 0;
  const s = e.status;
  if (s === 0n) return 0;
  if (s & ERROR_BIT) return 64 + Number(s & 63n);
  return 1;
}

export function describeEnding(e: RunEnding): string {
  if (e.kind === "returned") return `image returned ${statusName(e.status)}`;
  if (e.kind === "reset") return `reset (${e.source}, type ${e.resetType}, ${statusName(e.status)})`;
  if (e.kind === "milestone") return `stopped at the awaited serial line: ${e.line}`;
  if (e.kind === "poweroff") return `powered off (${e.source}, soft-off S5)`;
  if (e.kind === "quit") return "ended by the user (Ctrl-A x at the terminal, or kill in gdb)";
  if (e.kind === "waiting") return `waiting for ever, for input that will not come (WaitForEvent, or HLT in boot services, with no timer armed and no key to come) from RIP 0x${e.rip.toString(16)}${e.symbol ? ` (${e.symbol})` : ""}`;
  if (e.kind === "halted") return `CPU halted with ${e.interrupts === "off" ? "interrupts off" : "interrupts on but none to come (no timer armed)"} at RIP 0x${e.rip.toString(16)}${e.symbol ? ` (${e.symbol})` : ""}`;
  return `stopped: ${e.error.split("\n")[0]}`;
}

/** "[HOST:]PORT" as --gdb takes it; the host defaults to loopback. */
export function gdbAddress(text: string): { host: string; port: number } {
  const m = /^(?:(.*):)?(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new RangeError(`--gdb takes [HOST:]PORT, not "${text}"`);
  return { host: m[1] || "127.0.0.1", port };
}

/**
 * Run the image at `path`; with no path, boot as firmware does: the boot manager picks
 * an image from the disks' file systems (Machine.loadBootOption).
 */
export function runImage(path: string | undefined, opts: RunOptions = {}): RunResult {
  const initrd = opts.initrd ? readFileSync(opts.initrd) : undefined;
  const symbols = SymbolMap.load(opts.systemMap);
  const t0 = performance.now();
  const timeline = opts.traceOut ? new Timeline(t0) : undefined;
  const tracer = new Tracer(opts.trace ?? false, opts.onTrace, opts.keepCalls, timeline && ((c, s, e) => timeline.call(c, s, e)));
  let userspaceAt: number | undefined;
  let m: Machine | Arm64Machine | undefined;
  const onSerial = timeline
    ? (line: string) => {
        timeline.serial(line, m?.instructions());
        if (userspaceAt === undefined && /Run .* as init process/.test(line)) userspaceAt = performance.now();
        opts.onSerial?.(line);
      }
    : opts.onSerial;
  let ending: RunEnding;
  const disks: Disk[] = [];
  try {
    for (const d of opts.disks ?? []) disks.push(openDisk(d, opts.diskWritable ?? false));
    for (const d of opts.esp ?? []) disks.push(espFromDir(d, opts.diskWritable ?? false));
    // The CPU: the image's PE machine, else the one asked for (the boot manager's).
    const aa64 = path !== undefined ? peMachine(path) === PE_CONST.MACHINE_AA64 : opts.arch === "aarch64";
    if (aa64) {
      const refused = notYetOnAa64(opts);
      if (refused.length) throw new Error(`not offered on AArch64 yet (issue 14): ${refused.join(", ")}`);
      m = new Arm64Machine({
        disks, ramMiB: opts.ramMiB, instructionBudget: opts.instructionBudget, timeBudgetMs: opts.timeBudgetMs,
        onConsole: opts.onConsole, onSerial, stopOnSerial: opts.stopOnSerial, tracer, varsPath: opts.vars, initrd, disabled: opts.disabled, countInstructions: opts.countInstructions,
        firmwareWasm: opts.firmware, clock: opts.deterministic ? "deterministic" : "host", keys: opts.keys, input: opts.stdin ? new LiveInput() : undefined, symbols,
        entry: opts.entry === "direct" ? "direct" : undefined,
      });
    } else m = new Machine({
      disks,
      guardCodeWrites: opts.guardCodeWrites,
      interruptsAtHalt: opts.interruptsAtHalt,
      gdb: opts.gdb === undefined ? undefined : { ...gdbAddress(opts.gdb), onListening: opts.onGdbListening },
      input: opts.stdin ? new LiveInput() : undefined,
      screen: opts.screen ?? (opts.screenshot ? { width: 1024, height: 768 } : undefined),
      entry: opts.entry === "direct" ? "pvh" : opts.entry,
      ramMiB: opts.ramMiB, instructionBudget: opts.instructionBudget, timeBudgetMs: opts.timeBudgetMs,
      onConsole: opts.onConsole, onSerial, onLog: opts.onLog, tracer, initrd, varsPath: opts.vars,
      symbols, stopOnSerial: opts.stopOnSerial, disabled: opts.disabled, countInstructions: opts.countInstructions,
      watchTables: opts.watchTables, firmwareWasm: opts.firmware, clock: opts.deterministic ? "deterministic" : "host", keys: opts.keys,
    });
    const machine = m;
    startupMark("machine");
    const warning = libraryInfo().warning;
    if (warning) opts.onLog?.(warning);
    const direct = opts.entry === "pvh" || opts.entry === "direct";
    if (direct && path === undefined) throw new Error("a direct entry boots a kernel: give its path");
    if (direct && m instanceof Machine) {
      const { boot } = preparePvhFile(path!, { ramBytes: (opts.ramMiB ?? 256) * 2 ** 20, cmdline: opts.cmdline ?? "", initrd });
      ending = m.bootPvh(boot);
    } else if (direct && m instanceof Arm64Machine) {
      ending = m.bootDirect(prepareArm64(readArm64File(path!, m.ram), { ramBytes: (opts.ramMiB ?? 256) * 2 ** 20, cmdline: opts.cmdline ?? "", initrd, rngSeed: m.randomBytes(RNG_SEED_BYTES) }));
    } else {
      tracer.stubbed = (id) => machine.fw.stubbed(id);
      const handle = path === undefined ? m.loadBootOption() : m.loadImageFile(path, opts.cmdline);
      startupMark("image");
      ending = m.start(handle);
      // The guest's own orderly end: what it wrote to its disks is kept.
      if (ending.kind === "returned" || ending.kind === "reset" || ending.kind === "poweroff") m.commitDisks();
    }
  } catch (e) {
    if (!(e instanceof RunError)) throw e;
    // The error says what and where; the run adds which file (the image, or the store).
    const file = e instanceof VarStoreError ? opts.vars : path ?? "boot manager";
    // A GuestError says where in the guest; a FirmwareError names its own file.
    const error = e instanceof GuestError || e instanceof FirmwareError || e instanceof DiskError ? e.message : `${file}: ${e.message}${e instanceof LoadError ? `, status ${statusName(e.status)}` : ""}`;
    ending = { kind: "error", errorKind: e.kind, exit: e.exit, error };
    if (e instanceof GuestError) Object.assign(ending, { rip: `0x${e.rip.toString(16)}`, symbol: m?.symbolize(e.rip) });
  } finally {
    const shot = opts.screenshot && m?.screenshot();
    if (shot) writeFileSync(opts.screenshot!, encodePng(shot.width, shot.height, shot.rgba));
    if (m) m.close();
    else for (const d of disks) d.close();
  }
  m?.gdb?.finish(exitCode({ ending } as RunResult));
  const wallMs = performance.now() - t0;
  const total = m?.instructions();
  const instructions = total === undefined ? undefined : { total: Number(total), kernelEntry: num(m!.instructionsAtEntry), linuxVersion: num(m!.instructionsAtLine(/Linux version/)) };
  const entryMs = m?.enteredAt === undefined ? undefined : m.enteredAt - t0;
  if (timeline) {
    const end = t0 + wallMs;
    const first = m?.firstRunAt ?? end, entered = m?.enteredAt;
    timeline.phase("set-up (host, machine, image)", t0, first);
    const counts = instructions ? { instructions: instructions.kernelEntry ?? instructions.total } : undefined;
    if (opts.entry !== "pvh" && opts.entry !== "direct") {
      // Booted by the boot manager, a loader runs first: up to the first image it starts
      // itself (systemd-boot, shim), which the EFI stub's phase then begins with; a loader
      // that enters the kernel without StartImage (GRUB's handover) shares one phase with it.
      const nested = path === undefined ? m?.firstStartImageAt : undefined;
      const stub = entered === undefined ? "EFI application" : "EFI stub (to ExitBootServices)";
      if (nested !== undefined) {
        timeline.phase("boot loader", first, nested);
        timeline.phase(stub, nested, entered ?? end, counts);
      } else timeline.phase(path === undefined ? `boot loader and ${stub}` : stub, first, entered ?? end, counts);
    }
    if (entered !== undefined) timeline.phase("kernel", entered, userspaceAt ?? end);
    if (userspaceAt !== undefined) timeline.phase("userspace", userspaceAt, end);
    timeline.write(opts.traceOut!);
  }
  return { ending, console: m?.console ?? "", serial: m?.serial ?? [], summary: tracer.summary(), calls: tracer.records, wallMs, entryMs, startupMs: m?.firstRunAt, instructions, tablesRead: m?.tablesRead(), interrupts: m?.interruptCounts(), serializations: m?.serializations() };
}

/** The PE machine field of the image at `path` (0x8664, 0xAA64...), or undefined when it is no PE image: the loader then says why. */
export function peMachine(path: string): number | undefined {
  const head = Buffer.alloc(4096);
  const fd = openSync(path, "r");
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (head.readUInt16LE(0) !== PE_CONST.DOS_MAGIC) return undefined;
  const nt = head.readUInt32LE(0x3c);
  if (nt + 6 > head.length || head.readUInt32LE(nt) !== PE_CONST.NT_SIGNATURE) return undefined;
  return head.readUInt16LE(nt + 4);
}

/** What `opts` asks for that an AArch64 machine does not offer yet (issue 14), by option name. */
export function notYetOnAa64(opts: RunOptions): string[] {
  const asked: [unknown, string][] = [
    [opts.entry === "pvh", "--entry pvh (Xen's x86 entry; --entry direct is the arm64 boot protocol)"], [opts.gdb !== undefined, "--gdb"], [opts.screen ?? opts.screenshot, "--screen/--screenshot"],
    [opts.guardCodeWrites, "--guard-code-writes"], [opts.watchTables, "table watching"], [opts.interruptsAtHalt, "--interrupts-at-halt"],
  ];
  return asked.filter(([on]) => on).map(([, name]) => name);
}
