// The emulated machine: Unicorn CPU + the WASM firmware + the trap that joins them.
//
// A guest calls an EFI service through a table slot into its thunk
// (`mov eax, id ; out TRAP_PORT, eax ; ret`); the native trap gate on that OUT copies
// the Microsoft x64 argument registers into the firmware's argument block, onOut runs
// the firmware's dispatch(id), and the gate loads the status it left there into RAX.
// Firmware callbacks into the guest (StartImage, later event notifications) are nested
// emulator runs that return to a sentinel address.
import { adviseHugePages, libraryInfo, NO_LIMIT, Unicorn, UnicornError, type Context, type InstructionCounter } from "./unicorn/index.ts";
import * as C from "./unicorn/consts.ts";
import { errorCodeOffset, exceptionIsIntOffset, hflagsOffset, oldExceptionOffset, svmInterceptOffset } from "./unicorn/quirks.ts";
import { Firmware } from "./firmware.ts";
import { GuestError, LoadError, VarStoreError } from "./errors.ts";
import { TableWatch, type TablesRead } from "./table-watch.ts";
import { ARG_SLOTS, SERVICES, TRAP_PORT, argSlot, serviceByName } from "../firmware/spec/services.ts";
import { MEMORY_TYPE, RESET_TYPE, STATUS } from "../firmware/spec/uefi.ts";
import { pcDevices, type PcDevices } from "./devices/index.ts";
import { identityMap, pagingBytes } from "./x86/paging.ts";
import { efiGdt, gdtBytes, gdtr } from "./x86/gdt.ts";
import { efiTrampoline } from "./x86/trampoline.ts";
import { TLB_ENTRIES, tlbTouchBytes, type TlbGrowth } from "./x86/tlb.ts";
import { GDT_OFFSET, GDTR_OFFSET, TRAMPOLINE_OFFSET, STACK_SIZE } from "./x86/layout.ts";
import { Tracer } from "./trace.ts";
import { kernelSlide, type SymbolMap } from "./symbols.ts";
import { Lapic, LAPIC_BASE, LAPIC_SIZE } from "./devices/lapic.ts";
import { InterruptRouter } from "./interrupts.ts";
import { acpiTables } from "./acpi.ts";
import { KeyQueue, type Key } from "./keys.ts";
import { cpuidOverride, CRYSTAL_HZ } from "./x86/cpuid.ts";
import { guestClock, hostClock, wallMs, type Clock } from "./clock.ts";
import { hostEntropy, seededEntropy, type Entropy } from "./entropy.ts";
import { deliver, DeliveryError, gateTarget, HAS_ERROR_CODE, RFLAGS_IF, RFLAGS_RF } from "./x86/interrupts.ts";
import { translate } from "./x86/walk.ts";
import { CR0_PG, EFER_SCE, MSR_EFER, MSR_FMASK, MSR_LSTAR, MSR_STAR, SYSCALL_BYTES } from "./x86/regs.ts";
import { enterPvh } from "./pvh/enter.ts";
import { writeRegions, type PvhBoot } from "./pvh/start-info.ts";
import { readVarStore, writeVarStore } from "./vars.ts";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { Disk } from "./disk.ts";
import { keystrokes, type LiveInput } from "./input.ts";
import { GdbLink, GdbStub } from "./gdb.ts";

const PAGE = 4096;
const MIB = 1 << 20;
/** Guest RAM ends below the 32-bit MMIO hole at 3 GiB (the local APIC at 0xfee00000), as on a PC with no RAM above 4 GiB. */
export const MAX_RAM_MIB = 3072;
export const MIN_RAM_MIB = 16;
// In the order of the firmware's ARGS area (firmware/abi.ts).
const STATUS_SLOT = argSlot("STATUS");
/** Room a nested call leaves below the interrupted guest's RSP (red zone, alignment). */
const NESTED_CALL_GAP = 0x100n;
const EXIT_BOOT_SERVICES = serviceByName("BS.ExitBootServices").id;
const SET_VARIABLE = serviceByName("RT.SetVariable").id;
/** The register behind each x86-64 argument slot (those before STATUS, which the gate loads into RAX). */
const ARG_REGISTERS: Record<"ARG0" | "ARG1" | "ARG2" | "ARG3" | "STACK" | "PAGE_ROOT", number> = {
  ARG0: C.UC_X86_REG_RCX, ARG1: C.UC_X86_REG_RDX, ARG2: C.UC_X86_REG_R8, ARG3: C.UC_X86_REG_R9, STACK: C.UC_X86_REG_RSP, PAGE_ROOT: C.UC_X86_REG_CR3,
};
/** QEMU's hflags bit for SVM guest mode (target/i386/cpu.h HF_GUEST_MASK), and its exception number for an SVM exit, to which Unicorn adds the exit code. */
const HF_GUEST_MASK = 1 << 21;
const EXCP_VMEXIT = 0x100;
/** SVM exit codes (AMD APM vol. 2 appendix C); intercept bit n is exit code SVM_EXIT_INTR + n. */
const SVM_EXIT_INTR = 0x60, SVM_EXIT_RDTSC = 0x6e, SVM_EXIT_RDTSCP = 0x87;
/** IA32_TSC_AUX (Intel SDM vol. 4 table 2-2): what RDTSCP loads into ECX. */
const MSR_TSC_AUX = 0xc000_0103;
/** Instructions between looks at an interrupt that IF = 0 holds back: from 1,000 up to 1,000,000 (1 ms of a guest clock). */
const MIN_HELD_POLL = 1000n;
const MAX_HELD_POLL = 1_000_000n;
/** The double-fault exception's vector (SDM 3A §6.15). */
const DOUBLE_FAULT = 8;
/** How long a wait for typed input sleeps before looking at the machine's timers again. */
const INPUT_POLL_MS = 10;
const CPUID_REGS = [C.UC_X86_REG_EAX, C.UC_X86_REG_EBX, C.UC_X86_REG_ECX, C.UC_X86_REG_EDX];

export interface MachineOptions {
  /** How the guest is entered: through the EFI firmware (default) or Xen's PVH entry, with no firmware at all. */
  entry?: "efi" | "pvh";
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
  /** Bytes for the firmware's EFI_RNG_PROTOCOL (host/entropy.ts): the host's, or a fixed stream with clock "deterministic". */
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
   * Catch every code write Unicorn 2.1.1 misses (Unicorn.guardCodeWrites: code patched
   * through another virtual alias, as Linux's text_poke does), at about 4x the cost of a
   * run; always on with clock "deterministic".
   */
  guardCodeWrites?: boolean;
  /** A display (GraphicsOutput) of this size; none by default, so that a kernel's boot stays headless. */
  screen?: { width: number; height: number };
}

/** How a run ended, when it ended by the guest's own doing. */
export type Ending =
  | { kind: "returned"; status: bigint }
  /** HLT with interrupts off, or on with no device due to raise one ever: halted for good. */
  | { kind: "halted"; rip: bigint; symbol?: string; interrupts: "off" | "none coming" }
  | { kind: "milestone"; line: string }
  | { kind: "reset"; resetType: number; status: bigint; source: string }
  /** Switched off through ACPI (the PM1 control block's soft-off, host/devices/acpi-pm.ts). */
  | { kind: "poweroff"; source: string }
  /** Waiting in WaitForEvent, or halted in boot services, for what nothing will signal, at `rip`: halted for good. */
  | { kind: "waiting"; rip: bigint; symbol?: string }
  /** The user ended the run: Ctrl-A x at the terminal, or kill in gdb. */
  | { kind: "quit" };

/** A stopOnSerial line appeared: the run ends there. */
class MilestoneReached extends Error {
  constructor(readonly line: string) {
    super("milestone reached");
  }
}

/** The guest waits in WaitForEvent for events nothing will signal: the run is over. */
class WaitingForever extends Error {
  constructor(readonly rip: bigint) {
    super("waiting for ever");
  }
}

/** The guest executed HLT with nothing to wake it: the run is over. */
class Halted extends Error {
  constructor(readonly rip: bigint, readonly interrupts: "off" | "none coming") {
    super("guest halted");
  }
}

export class Machine {
  readonly uc: Unicorn;
  private readonly firmware: Firmware | undefined;
  /** Guest RAM: the firmware's window (EFI entry) or a plain buffer (PVH entry). */
  readonly ram: Uint8Array;
  readonly ramView: DataView;
  readonly tracer: Tracer;
  private readonly opts: Required<Pick<MachineOptions, "ramMiB" | "instructionBudget" | "timeBudgetMs">>;
  private readonly varsPath?: string;
  private readonly disks: Disk[] = [];
  private varsSaved = 0;
  private readonly onConsole: (text: string) => void;
  private sentinel = 0n;
  private stackTop = 0n;
  /** The unmapped page below the EFI stack, in the identity tables at efiCr3 (host/x86/paging.ts). */
  private stackGuard = -1n;
  private efiCr3 = -1n;
  private depth = 0;
  private unwinding = false;
  /** A reset or power-off the guest asked for: every run level stops, and this is how the machine ended. */
  private ended: Extract<Ending, { kind: "reset" | "poweroff" | "quit" }> | undefined;
  private readonly input?: LiveInput;
  /** The debugger's session, with --gdb. */
  readonly gdb?: GdbStub;
  private readonly keys: KeyQueue;
  /** The last byte typed was Ctrl-A (the escape of Ctrl-A x). */
  private escape = false;
  devices!: PcDevices;
  private interrupts!: InterruptRouter;
  /** Guest time, for the firmware, the devices and the TSC. */
  readonly clock: Clock;
  /** Lines the guest wrote to COM1. */
  readonly serial: string[] = [];
  private readonly onSerial: (line: string) => void;
  private readonly log: (message: string) => void;
  private readonly symbols?: SymbolMap;
  private readonly stopOnSerial?: RegExp;
  private readonly disabled: Map<number, bigint>;
  private milestone: string | undefined;
  console = "";
  private icount: InstructionCounter | undefined;
  /** The count after the host's own bring-up code, which is not the guest's. */
  private icountBase = 0n;
  /** With countInstructions: the count when each line of `serial` was complete. */
  private readonly serialInstructions: bigint[] = [];
  /**
   * With countInstructions: the count when the guest's kernel was entered: when
   * ExitBootServices returned SUCCESS (EFI entry), 0 (PVH entry: the kernel runs first).
   */
  instructionsAtEntry: bigint | undefined;
  /** performance.now() when the guest's kernel was entered, as for instructionsAtEntry. */
  enteredAt: number | undefined;
  /** performance.now() (milliseconds since the process started) when the guest's first instruction ran. */
  firstRunAt: number | undefined;

  constructor(options: MachineOptions = {}) {
    const ramMiB = options.ramMiB ?? 256;
    if (!Number.isInteger(ramMiB) || ramMiB < MIN_RAM_MIB || ramMiB > MAX_RAM_MIB) {
      throw new RangeError(`guest RAM is ${MIN_RAM_MIB} to ${MAX_RAM_MIB} MiB (it ends below the 32-bit MMIO hole at 3 GiB), not ${ramMiB}`);
    }
    this.opts = {
      ramMiB,
      instructionBudget: options.instructionBudget ?? 0,
      timeBudgetMs: options.timeBudgetMs ?? 0,
    };
    this.onConsole = options.onConsole ?? (() => {});
    this.onSerial = options.onSerial ?? (() => {});
    this.log = options.onLog ?? (() => {});
    this.symbols = options.symbols;
    this.stopOnSerial = options.stopOnSerial;
    this.disabled = options.disabled ?? new Map();
    this.tracer = options.tracer ?? new Tracer();
    this.input = options.input;
    this.keys = new KeyQueue(options.keys ?? []);
    this.uc = new Unicorn(C.UC_MODE_64);
    // Runs end at the sentinel's HLT, never at an exit address (see noExitAddress).
    this.uc.noExitAddress();
    // Before any code runs, so that every translation block carries the hook.
    const deterministic = options.clock === "deterministic";
    if (options.countInstructions || deterministic) this.icount = this.uc.countInstructions();
    // Code patched while interrupts arrive mid-run must not keep running as it was
    // (Unicorn.guardCodeWrites): a deterministic boot pays that, and so does any boot that
    // asks (Debian unstable's kernel patches its alternatives through an alias Unicorn misses).
    if (deterministic || options.guardCodeWrites) this.uc.guardCodeWrites();
    const clock = options.clock ?? "host";
    this.clock = clock === "host" ? hostClock() : clock === "deterministic" ? guestClock({ progress: this.icount!.count }) : clock;
    const ramBytes = this.opts.ramMiB * MIB; // not << 20: 2 GiB and more overflow an int32
    if (options.entry === "pvh") {
      this.firmware = undefined;
      // Never resized, so its backing store stays where Unicorn maps it.
      this.ram = new Uint8Array(new ArrayBuffer(ramBytes));
      adviseHugePages(this.ram);
      this.ramView = new DataView(this.ram.buffer);
      this.uc.memMapPtr(0, this.ram);
    } else {
      this.disks = options.disks ?? [];
      const fw = (this.firmware = this.makeFirmware(ramBytes, options.entropy ?? (deterministic ? seededEntropy() : hostEntropy), this.keys, options.firmwareWasm));
      this.ram = fw.ram;
      this.ramView = fw.ramView;
      this.varsPath = options.varsPath;
      const saved = this.varsPath ? readVarStore(this.varsPath) : undefined;
      if (saved) fw.loadVars(saved);
      fw.varsDefaults();
      // Defaults alone are not a change to save: the store file is written when the guest changes it.
      this.varsSaved = fw.varsGeneration;
      // The ACPI tables (host/acpi.ts) in a page of their own, as firmware reports them.
      const acpiAt = fw.allocPages(MEMORY_TYPE.ACPIReclaimMemory, 1);
      const acpi = acpiTables(Number(acpiAt));
      fw.ram.set(acpi.bytes, Number(acpiAt));
      fw.setAcpi(BigInt(acpi.rsdp));
      if (options.initrd) {
        const at = fw.allocPages(MEMORY_TYPE.BootServicesData, Math.ceil(options.initrd.length / PAGE) || 1, "copied");
        fw.ram.set(options.initrd, Number(at));
        fw.setInitrd(at, options.initrd.length);
      }
      for (const disk of this.disks) fw.addDisk(disk.sectors, !disk.writable);
      if (options.screen) fw.setScreen(options.screen.width, options.screen.height);
      if (options.watchTables) this.mapWatchingTables(fw);
      else this.uc.memMapPtr(0, fw.ram);
    }
    this.wire();
    if (this.firmware) this.bringUp();
    else if (this.icount) this.instructionsAtEntry = 0n;
    if (options.gdb) this.gdb = this.debugger(options.gdb);
    this.icountBase = this.icount?.count() ?? 0n;
  }

  /** Guest instructions executed so far, with the countInstructions option. */
  instructions(): bigint | undefined {
    return this.icount && this.icount.count() - this.icountBase;
  }

  /** With countInstructions: the count when the first serial line matching `re` was complete. */
  instructionsAtLine(re: RegExp): bigint | undefined {
    const i = this.serial.findIndex((l) => re.test(l));
    return i < 0 ? undefined : this.serialInstructions[i];
  }

  private tableWatch: TableWatch | undefined;

  /** RAM, with the page of the system table mapped as MMIO through a TableWatch. */
  private mapWatchingTables(fw: Firmware): void {
    const watch = (this.tableWatch = new TableWatch(fw.ram, Number(fw.systemTable), PAGE));
    const p = watch.page;
    this.uc.memMapPtr(0, fw.ram.subarray(0, p));
    this.uc.mmioMap(p, PAGE, (off, size) => watch.read(p + Number(off), size), (off, size, v) => watch.write(p + Number(off), size, v));
    this.uc.memMapPtr(p + PAGE, fw.ram.subarray(p + PAGE));
  }

  /** With watchTables: the table fields and configuration tables the guest read. */
  tablesRead(): TablesRead | undefined {
    return this.tableWatch?.result();
  }

  /** The EFI firmware; there is none on the PVH entry. */
  get fw(): Firmware {
    if (!this.firmware) throw new Error("this machine has no EFI firmware (PVH entry)");
    return this.firmware;
  }

  private makeFirmware(ramBytes: number, entropy: Entropy, keys: KeyQueue, wasmPath?: string): Firmware {
    const epochNs = BigInt(this.clock.epochMs) * 1_000_000n;
    return new Firmware(ramBytes, {
      consoleOut: (text) => {
        this.console += text;
        this.onConsole(text);
      },
      resetSystem: (resetType, status) => {
        this.ended = { kind: "reset", resetType, status, source: "ResetSystem" };
        this.uc.emuStop();
      },
      callGuest: (fn, a0, a1) => this.callGuest(fn, a0, a1),
      unwindGuest: () => {
        this.unwinding = true;
        this.uc.emuStop();
      },
      timeNs: () => epochNs + BigInt(Math.floor(this.clock.now())),
      timeSkip: (ns) => this.clock.skipTo(Number(ns - epochNs)),
      randomFill: entropy,
      waitForever: () => {
        throw new WaitingForever(this.callSite());
      },
      keyNext: () => {
        this.pumpInput();
        let at = keys.nextAt();
        // Typing may still come: wait a tick of real time for it, then look again.
        if (at === undefined && this.input && !this.input.closed) {
          this.input.wait(INPUT_POLL_MS);
          this.pumpInput();
          at = keys.nextAt() ?? this.clock.now() + INPUT_POLL_MS * 1e6;
        }
        return at === undefined ? undefined : epochNs + BigInt(Math.ceil(at));
      },
      keyTake: () => {
        this.pumpInput();
        const k = keys.take(this.clock.now());
        return k && ((k.scan << 16) | k.unicode) >>> 0;
      },
      codeWritten: (base, bytes) => this.uc.removeCache(base, base + bytes),
      diskRead: (disk, offset, out) => this.disks[disk]?.read(offset, out) ?? false,
      diskWrite: (disk, offset, data) => this.disks[disk]?.write(offset, data) ?? false,
      memoryCreated: adviseHugePages,
    }, wasmPath);
  }

  /** Devices, hooks and the CPU model: the same for both entries. */
  private wire(): void {
    const clock = this.clock;
    const rip = () => this.uc.regRead(C.UC_X86_REG_RIP);
    this.devices = pcDevices({
      timeNs: () => clock.now(),
      clockMs: () => wallMs(clock),
      ramBytes: this.ram.length,
      onLine: (line) => {
        this.serial.push(line);
        if (this.icount) this.serialInstructions.push(this.instructions()!);
        this.onSerial(line);
        if (this.stopOnSerial?.test(line) && !this.milestone) {
          this.milestone = line;
          this.uc.emuStop();
        }
      },
      onReset: (source) => {
        this.ended = { kind: "reset", resetType: RESET_TYPE.EfiResetCold, status: 0n, source };
        this.uc.emuStop();
      },
      onPowerOff: () => {
        this.ended = { kind: "poweroff", source: "acpi" };
        this.uc.emuStop();
      },
      // RIP is read at the first access only (and may be stale inside an I/O hook).
      onUnknown: (port, kind, at) => this.log(`io: ${kind} of unemulated port 0x${port.toString(16)} at RIP 0x${at.toString(16)}`),
    });
    const bus = this.devices.bus;
    // A device's level-triggered line can fall and rise again at any access (a UART's
    // IIR read drops THRE, the next THR write raises it): the controller sees each
    // level as it is after every access, so no edge is lost between two looks.
    this.uc.hookInsnIn((port, size) => {
      const v = bus.read(port, size as 1 | 2 | 4, rip);
      this.interrupts.driveLevels();
      return v;
    });
    // A guest that programs a timer, unmasks or acknowledges an interrupt moves the
    // next point the paced run stops at.
    const onPort = (port: number, size: number, value: number) => {
      bus.write(port, size as 1 | 2 | 4, value, rip);
      this.interrupts.driveLevels();
      this.rearm();
    };
    const fw = this.firmware;
    if (!fw) {
      this.uc.hookInsnOut(onPort); // PVH: no firmware, every port a device's
    } else {
      // EFI calls through the native trap gate: the argument registers land in the
      // firmware's argument block and RAX is loaded from its STATUS slot without a koffi
      // register call (host/unicorn/native.c).
      this.uc.hookOutGate({
        trapPort: TRAP_PORT,
        memory: new Uint8Array(fw.memory.buffer),
        ids: ARG_SLOTS.slice(0, STATUS_SLOT).map((name) => ARG_REGISTERS[name as keyof typeof ARG_REGISTERS]),
        offsets: ARG_SLOTS.slice(0, STATUS_SLOT).map((_, i) => fw.args.byteOffset + 8 * i),
        resultId: C.UC_X86_REG_RAX,
        resultOffset: fw.args.byteOffset + 8 * STATUS_SLOT,
        onTrap: (value) => this.onOut(value),
        onPort,
      });
    }
    this.uc.hookIntr((vector) => this.onException(vector));
    this.uc.hookSyscall(() => this.onSyscall());
    const lapic = new Lapic(() => clock.now(), CRYSTAL_HZ);
    this.interrupts = new InterruptRouter(this.devices.pic, lapic, this.devices.irqs);
    if (clock.tsc) this.trapRdtsc();
    this.uc.hookCpuid(() => {
      const leaf = Number(this.uc.regRead(C.UC_X86_REG_EAX) & 0xffffffffn);
      const r = cpuidOverride(leaf, Number(this.uc.regRead(C.UC_X86_REG_ECX) & 0xffffffffn), clock.tscKhz);
      if (!r) return false;
      this.uc.regWriteBatch(CPUID_REGS, r.map(BigInt));
      return true;
    });
    this.uc.mmioMap(LAPIC_BASE, LAPIC_SIZE, (off) => BigInt(lapic.read(Number(off))), (off, _size, v) => {
      lapic.write(Number(off), Number(v & 0xffffffffn));
      this.rearm();
    });
    // The rest of the 32-bit physical space nobody emulates (IO-APIC, HPET, ROM...) is an
    // open bus, as on a PC: reads are all ones, writes vanish, each page logged once.
    // (Mapping lazily from Unicorn's invalid-memory hook recursed inside the engine.)
    const ram = BigInt(this.ram.length);
    for (const [from, to] of [[ram, BigInt(LAPIC_BASE)], [BigInt(LAPIC_BASE + LAPIC_SIZE), 1n << 32n]]) {
      if (to > from) this.uc.mmioMap(from, Number(to - from), (off, size) => this.openBus(from + off, "read of", size), (off) => void this.openBus(from + off, "write to"));
    }
  }

  /** The gdb stub (host/gdb.ts), listening; gdb's view of memory is the guest's virtual one, through its page tables now. */
  private debugger(o: NonNullable<MachineOptions["gdb"]>): GdbStub {
    const link = new GdbLink(o.host, o.port, libraryInfo().path, this.uc.engineAddress);
    o.onListening?.(link.port);
    const page = (va: bigint) => this.translate(this.uc.regRead(C.UC_X86_REG_CR3), va);
    // The bytes of [va, va + len) that are mapped, up to the first that is not.
    const span = (va: bigint, len: number): [number, number][] => {
      const out: [number, number][] = [];
      for (let done = 0; done < len;) {
        const p = page(va + BigInt(done));
        if (p === undefined || p >= BigInt(this.ram.length)) break;
        const n = Math.min(len - done, 4096 - Number((va + BigInt(done)) & 0xfffn), this.ram.length - Number(p));
        out.push([Number(p), n]);
        done += n;
      }
      return out;
    };
    return new GdbStub(link, {
      uc: this.uc,
      readVirtual: (va, len) => {
        const parts = span(va, len);
        if (!parts.length) return undefined;
        return Buffer.concat(parts.map(([p, n]) => this.ram.subarray(p, p + n)));
      },
      writeVirtual: (va, bytes) => {
        const parts = span(va, bytes.length);
        if (parts.reduce((a, [, n]) => a + n, 0) !== bytes.length) return false;
        let at = 0;
        for (const [p, n] of parts) {
          this.ram.set(bytes.subarray(at, at + n), p);
          at += n;
        }
        this.uc.removeCache(va, va + BigInt(bytes.length));
        return true;
      },
      physical: (va) => page(va),
      flushCode: (va, len) => {
        if (span(va, len).length) this.uc.removeCache(va, va + BigInt(len));
      },
      kill: () => {
        this.ended = { kind: "quit" };
        this.uc.emuStop();
      },
      symbolize: (addr) => this.symbolize(addr),
    });
  }

  /** Long mode with paging, as UEFI 2.10 §2.3.4 promises an image. */
  private bringUp(): void {
    const ram = BigInt(this.fw.ram.length);
    // The stack, with its lowest page a guard the page tables leave unmapped.
    const stack = this.fw.allocPages(MEMORY_TYPE.BootServicesData, STACK_SIZE / PAGE + 1);
    this.stackGuard = stack;
    this.stackTop = stack + BigInt(PAGE + STACK_SIZE);
    const tablePages = Number(pagingBytes(ram, this.stackGuard)) / PAGE;
    const tables = this.fw.allocPages(MEMORY_TYPE.BootServicesData, tablePages);
    const { bytes: pt, cr3 } = identityMap(tables, ram, this.stackGuard);
    this.fw.ram.set(pt, Number(tables));
    this.efiCr3 = cr3;

    // CPU page: GDT, GDTR, trampoline (host/x86/layout.ts), then the sentinel `hlt` that
    // nested guest calls return to.
    const cpu = this.fw.allocPages(MEMORY_TYPE.RuntimeServicesData, 1);
    const gdt = efiGdt();
    this.fw.ram.set(gdtBytes(gdt), Number(cpu) + GDT_OFFSET);
    this.fw.ram.set(gdtr(cpu + BigInt(GDT_OFFSET), gdt), Number(cpu) + GDTR_OFFSET);
    const tr = efiTrampoline({ cr3, gdtrAddr: cpu + BigInt(GDTR_OFFSET), stackTop: this.stackTop, tlb: this.tlbGrowth(ram) });
    const trAt = cpu + BigInt(TRAMPOLINE_OFFSET);
    this.fw.ram.set(tr.bytes, Number(trAt));
    this.sentinel = trAt + BigInt(tr.end); // the trampoline's end label is a hlt
    // No instruction count here: once uc_emu_start has been given a count, Unicorn 2.1.1
    // flushes its whole translation cache on every later hook exit (measured: 120 µs per
    // EFI call instead of 0.5 µs). The trampoline is straight-line code ending in a hlt.
    this.uc.emuStart(trAt, 0n); // to the hlt at its end
    // A hook that stops emulation takes effect at once only inside a code-hooked range;
    // the thunks are where our hooks stop the guest.
    this.uc.preciseStops(this.fw.thunks, this.fw.thunks + BigInt(PAGE));
  }

  /** Where the trampoline grows the TLB (host/x86/tlb.ts): pages below the guard page, or above the stack. */
  private tlbGrowth(ram: bigint): TlbGrowth | undefined {
    const span = BigInt(tlbTouchBytes(TLB_ENTRIES));
    const base = this.stackGuard >= span ? 0n : this.stackTop;
    return base + span <= ram ? { base, entries: TLB_ENTRIES } : undefined;
  }

  /** An EFI call: the gate has put its registers in the firmware's argument block. */
  private onOut(value: number): void {
    const id = value >>> 0;
    const svc = SERVICES[id];
    if (!svc) {
      const rip = this.uc.regRead(C.UC_X86_REG_RIP);
      throw new GuestError("fault", `trap with unknown service id ${id}`, rip, this.tracer.last(), this.symbolize(rip));
    }
    if (this.bootServicesExited && svc.table === "BS") this.serviceError("boot-service-after-exit", `BS.${svc.name} called after ExitBootServices`);
    const t0 = this.tracer.timed ? process.hrtime.bigint() : 0n;
    const fw = this.fw;
    // The status goes to the argument block's STATUS slot, which the gate loads into RAX.
    const disabled = this.disabled.size ? this.disabled.get(id) : undefined;
    if (disabled !== undefined) fw.args[STATUS_SLOT] = disabled;
    else {
      try {
        fw.trap(id);
      } catch (e) {
        // A trap inside the firmware is a firmware bug: end the run and say where, never
        // hand the guest a made-up status.
        if (!(e instanceof WebAssembly.RuntimeError)) throw e;
        this.serviceError("firmware", `firmware trapped (${e.message}) serving ${svc.table}.${svc.name}`);
      }
    }
    this.tracer.record(svc, fw, t0);
    if (id === EXIT_BOOT_SERVICES) {
      this.bootServicesExited = fw.bootServicesExited;
      if (fw.args[STATUS_SLOT] === 0n) {
        this.enteredAt ??= performance.now();
        if (this.icount) this.instructionsAtEntry ??= this.instructions();
      }
    }
    else if (id === SET_VARIABLE) this.saveVarsIfChanged();
    // ResetSystem or an error inside a nested run stops every level, not just the innermost.
    if (this.ended) this.uc.emuStop();
  }

  /** Ends the run over the EFI call being made, reported from the guest's call site. */
  private serviceError(kind: "boot-service-after-exit" | "firmware", message: string): never {
    const at = this.callSite();
    throw new GuestError(kind, message, at, this.tracer.last(), this.symbolize(at), "from");
  }

  /** During an EFI call: the guest's call site. In a thunk, [RSP] is the return address. */
  private callSite(): bigint {
    const uc = this.uc;
    return this.read64(uc.regRead(C.UC_X86_REG_CR3), uc.regRead(C.UC_X86_REG_RSP)) ?? uc.regRead(C.UC_X86_REG_RIP);
  }

  /** Mirrors the firmware's flag, read once per ExitBootServices instead of per call. */
  private bootServicesExited = false;
  private lastException = "";
  /** The context editCpuState saves into, allocated once. */
  private exceptionCtx: Context | undefined;
  private readonly oldExceptionOffset = oldExceptionOffset();
  private readonly errorCodeOffset = errorCodeOffset();
  private readonly hflagsOffset = hflagsOffset();
  private readonly isIntOffset = exceptionIsIntOffset();
  private exceptionRepeats = 0;

  /**
   * RDTSC answered from the machine's clock (Clock.tsc): SVM guest mode with only the
   * RDTSC and RDTSCP intercepts set (AMD APM vol. 2 §15.9), so that Unicorn hands each
   * one to the interrupt hook as an SVM exit (host/unicorn/quirks.ts svmInterceptOffset).
   * Nothing else in Unicorn 2.1.1 looks at guest mode unless an intercept asks it to.
   */
  private trapRdtsc(): void {
    const intercept = svmInterceptOffset();
    this.editCpuState((env) => {
      env.setInt32(this.hflagsOffset, env.getInt32(this.hflagsOffset, true) | HF_GUEST_MASK, true);
      env.setBigUint64(intercept, (1n << BigInt(SVM_EXIT_RDTSC - SVM_EXIT_INTR)) | (1n << BigInt(SVM_EXIT_RDTSCP - SVM_EXIT_INTR)), true);
      env.setInt32(this.isIntOffset, 0, true);
    });
  }

  /** An intercepted RDTSC or RDTSCP (trapRdtsc), RIP at it: do what it does with the clock's TSC. */
  private answerRdtsc(exit: number): void {
    const uc = this.uc;
    const tsc = this.clock.tsc!();
    const regs = [C.UC_X86_REG_RAX, C.UC_X86_REG_RDX], values = [tsc & 0xffffffffn, (tsc >> 32n) & 0xffffffffn];
    if (exit === SVM_EXIT_RDTSCP) regs.push(C.UC_X86_REG_RCX), values.push(uc.msrRead(MSR_TSC_AUX) & 0xffffffffn);
    regs.push(C.UC_X86_REG_RIP), values.push(uc.regRead(C.UC_X86_REG_RIP) + (exit === SVM_EXIT_RDTSCP ? 3n : 2n));
    uc.regWriteBatch(regs, values);
  }

  /** Unicorn stops at CPU exceptions; deliver them through the guest's IDT as the CPU would. */
  private onException(vector: number): void {
    const uc = this.uc;
    if (vector === EXCP_VMEXIT + SVM_EXIT_RDTSC || vector === EXCP_VMEXIT + SVM_EXIT_RDTSCP) return this.answerRdtsc(vector - EXCP_VMEXIT);
    const rip = uc.regRead(C.UC_X86_REG_RIP);
    // The error code QEMU computed (Unicorn's hook gets only the vector), then clear its
    // exception-in-flight marker and its software-interrupt flag: the host delivers the
    // exception (host/unicorn/quirks.ts).
    const errorCode = this.editCpuState((env) => {
      env.setInt32(this.oldExceptionOffset, -1, true);
      env.setInt32(this.isIntOffset, 0, true);
      return HAS_ERROR_CODE.has(vector) ? env.getInt32(this.errorCodeOffset, true) >>> 0 : undefined;
    });
    let what = `exception ${vector}`;
    if (vector === 14) {
      const cr2 = uc.regRead(C.UC_X86_REG_CR2);
      if (uc.regRead(C.UC_X86_REG_CR3) === this.efiCr3 && cr2 >> 12n === this.stackGuard >> 12n) {
        throw new GuestError("fault", `stack overflow: page fault at 0x${cr2.toString(16)}, in the guard page below the ${STACK_SIZE >> 10} KiB stack`, rip, this.tracer.last(), this.symbolize(rip));
      }
      what = `page fault at 0x${cr2.toString(16)} (error code 0x${errorCode!.toString(16)})`;
    }
    // The same fault at the same place over and over is a guest stuck, not progress.
    const key = `${what}@${rip}`;
    this.exceptionRepeats = key === this.lastException ? this.exceptionRepeats + 1 : 0;
    this.lastException = key;
    if (this.exceptionRepeats > 64) throw new GuestError("fault", `${what} repeats without progress`, rip, this.tracer.last(), this.symbolize(rip));
    this.deliverVector(vector, errorCode, what);
  }

  /** Enter the guest's handler for `vector` as the CPU would (host/x86/interrupts.ts). */
  private deliverVector(vector: number, errorCode: number | undefined, what: string): void {
    const uc = this.uc;
    const rip = uc.regRead(C.UC_X86_REG_RIP);
    const cr3 = uc.regRead(C.UC_X86_REG_CR3);
    const cs = Number(uc.regRead(C.UC_X86_REG_CS));
    const idt = uc.mmrRead(C.UC_X86_REG_IDTR);
    let d;
    try {
      d = deliver({
        rip, cs,
        rsp: uc.regRead(C.UC_X86_REG_RSP),
        rflags: uc.regRead(C.UC_X86_REG_RFLAGS),
        ss: Number(uc.regRead(C.UC_X86_REG_SS)),
        idtBase: idt.base,
        idtLimit: idt.limit,
        trBase: uc.mmrRead(C.UC_X86_REG_TR).base,
        read64: (va) => this.read64(cr3, va),
        write64: (va, v) => this.write64(cr3, va, v),
      }, vector, errorCode);
    } catch (e) {
      if (!(e instanceof DeliveryError)) throw e;
      // SDM 3A §6.15 (interrupt 8): a fault while delivering an exception or interrupt
      // makes a double fault, delivered through its own gate (Linux gives #DF a stack of
      // its own, an IST, so that a stack overflow reaches its handler); a fault while
      // delivering the double fault shuts the CPU down.
      if (vector !== DOUBLE_FAULT) {
        this.deliverVector(DOUBLE_FAULT, 0, `double fault (${what} could not be delivered: ${e.message})`);
        return;
      }
      throw new GuestError("fault", `triple fault: ${what}`, rip, this.tracer.last(), this.symbolize(rip));
    }
    if ((d.cs & 3) < (cs & 3)) this.enterRing0(d.cs, d.ss);
    else if (d.cs !== cs) uc.regWrite(C.UC_X86_REG_CS, BigInt(d.cs));
    uc.regWrite(C.UC_X86_REG_RSP, d.rsp);
    uc.regWrite(C.UC_X86_REG_RFLAGS, d.rflags);
    uc.regWrite(C.UC_X86_REG_RIP, d.rip);
  }

  /**
   * Switch to ring 0 with code selector `cs` and stack selector `ss`, as an interrupt
   * gate or SYSCALL does. Unicorn refuses ring-0 selectors written from ring 3, so the
   * CPL (QEMU's hflags, host/unicorn/quirks.ts) is lowered first in a saved context.
   */
  private enterRing0(cs: number, ss: number): void {
    this.editCpuState((env) => env.setInt32(this.hflagsOffset, env.getInt32(this.hflagsOffset, true) & ~3, true));
    this.uc.regWrite(C.UC_X86_REG_SS, BigInt(ss));
    this.uc.regWrite(C.UC_X86_REG_CS, BigInt(cs));
  }

  /** uc.editContext into the one context the machine keeps for it. */
  private editCpuState<T>(edit: (env: DataView) => T): T {
    return this.uc.editContext(edit, (this.exceptionCtx ??= this.uc.contextAlloc()));
  }

  /**
   * SYSCALL in 64-bit mode (Intel SDM vol. 2B, SYSCALL): RCX = the next RIP, R11 =
   * RFLAGS, RFLAGS masked by IA32_FMASK, CS and SS from IA32_STAR[47:32], RIP =
   * IA32_LSTAR. Unicorn leaves all of it to this hook, then adds the instruction's two
   * bytes to RIP.
   */
  private onSyscall(): void {
    const uc = this.uc;
    const rip = uc.regRead(C.UC_X86_REG_RIP);
    if (!(uc.msrRead(MSR_EFER) & EFER_SCE)) throw new GuestError("fault", "SYSCALL with EFER.SCE clear (#UD)", rip, this.tracer.last(), this.symbolize(rip));
    const rflags = uc.regRead(C.UC_X86_REG_RFLAGS);
    const selector = Number((uc.msrRead(MSR_STAR) >> 32n) & 0xfffcn);
    uc.regWrite(C.UC_X86_REG_RCX, rip + SYSCALL_BYTES);
    uc.regWrite(C.UC_X86_REG_R11, rflags);
    this.enterRing0(selector, selector + 8);
    uc.regWrite(C.UC_X86_REG_RFLAGS, rflags & ~uc.msrRead(MSR_FMASK) & ~RFLAGS_RF);
    uc.regWrite(C.UC_X86_REG_RIP, uc.msrRead(MSR_LSTAR) - SYSCALL_BYTES);
  }

  /** Run guest code fn(a0, a1) to its return; nested when called from a hook. */
  callGuest(fn: bigint, a0: bigint, a1: bigint): bigint {
    const uc = this.uc;
    const ctx = this.depth > 0 ? uc.contextSave() : undefined;
    const rsp = this.depth > 0 ? (uc.regRead(C.UC_X86_REG_RSP) - NESTED_CALL_GAP) & ~0xfn : this.stackTop;
    // Return address = sentinel; RSP ≡ 8 (mod 16) at entry, as after a call.
    const entryRsp = rsp - 8n;
    const ret = new Uint8Array(8);
    new DataView(ret.buffer).setBigUint64(0, this.sentinel, true);
    this.fw.ram.set(ret, Number(entryRsp));
    uc.regWrite(C.UC_X86_REG_RSP, entryRsp);
    uc.regWrite(C.UC_X86_REG_RCX, a0);
    uc.regWrite(C.UC_X86_REG_RDX, a1);
    this.depth++;
    try {
      this.run(fn, this.sentinel, this.depth === 1);
      const status = uc.regRead(C.UC_X86_REG_RAX);
      this.unwinding = false;
      return status;
    } finally {
      this.depth--;
      if (ctx) {
        uc.contextRestore(ctx);
        uc.contextFree(ctx);
      }
    }
  }

  /**
   * Runs from pc until the guest returns to `returnTo` (the sentinel, whose hlt then has
   * run; never, for a kernel entered directly). A run resumes after a HLT with interrupts
   * on, once the host has delivered the interrupt the guest waits for, at any depth: a
   * kernel chain-loaded by a boot loader runs inside the loader's StartImage. (Runs are not cut into time slices to raise interrupts in between: when a
   * UC_HOOK_CODE hook exists anywhere, as preciseStops' does, Unicorn 2.1.1 does not set
   * RIP from the interrupted block on an asynchronous stop (cpu_tb_exec), so a run
   * resumed after a timeout starts from a stale RIP; sliced every 5 ms, the EFI stub's
   * decompression then fails. Without that hook it succeeds, but the kernel later
   * panicked, for reasons not found.)
   */
  private run(pc: bigint, returnTo: bigint | undefined, outermost: boolean): void {
    const uc = this.uc;
    const deadline = this.opts.timeBudgetMs ? performance.now() + this.opts.timeBudgetMs : Infinity;
    // The outermost run arms the stop timer (host/unicorn/native.c): it also stops a
    // nested call that runs away, and costs nothing while the guest runs.
    const timed = outermost && deadline !== Infinity;
    this.firstRunAt ??= performance.now();
    if (timed) uc.armStopTimer(this.opts.timeBudgetMs * 1000);
    // A clock paced by the instruction count: the run stops at the next timer's deadline
    // to deliver its interrupt while the guest runs (host/clock.ts). Nested runs too: a
    // kernel started by a boot loader (StartImage inside StartImage) runs nested.
    const outerPaced = this.paced;
    const paced = this.icount ? this.clock.stepsAt : undefined;
    this.paced = paced;
    try {
      for (;;) {
        this.rearm();
        // A debugger stops the guest here first when it asked to (it sees RIP at pc, and
        // may move it), and may make this run one step.
        let steps = 0;
        if (this.gdb) {
          uc.regWrite(C.UC_X86_REG_RIP, pc);
          steps = this.gdb.beforeRun();
          if (this.ended) return;
          pc = uc.regRead(C.UC_X86_REG_RIP);
        }
        if (!uc.stopTimerExpired()) this.emulate(pc, steps);
        const rip = uc.regRead(C.UC_X86_REG_RIP);
        if (this.milestone !== undefined) throw new MilestoneReached(this.milestone);
        if (this.ended) return;
        // Stopped for the debugger (a breakpoint, a watchpoint, a step, Ctrl-C): it takes over at the top.
        if (this.gdb?.wantsStop()) {
          pc = rip;
          continue;
        }
        if (this.icount?.reached()) {
          // At an instruction boundary, the instruction at RIP not yet run.
          if (paced && this.interruptible()) this.deliverPending();
          pc = uc.regRead(C.UC_X86_REG_RIP);
          continue;
        }
        // Back at the sentinel: its hlt has run.
        if (this.unwinding || this.ended || (returnTo !== undefined && rip === returnTo + 1n)) return;
        if (this.haltedAt(rip)) {
          // In boot services a HLT waits for the firmware's timer tick (interrupts stay off:
          // the firmware has no handlers in the guest), which the firmware gives here.
          if (this.firmware && !this.firmware.bootServicesExited) {
            if (!this.firmware.idle()) throw new WaitingForever(rip - 1n);
            if (this.unwinding || this.ended) return;
            pc = rip;
            continue;
          }
          const interruptible = this.interruptible();
          if (interruptible && this.waitForInterrupt(deadline)) {
            pc = uc.regRead(C.UC_X86_REG_RIP);
            continue;
          }
          if (!interruptible || performance.now() < deadline) throw new Halted(rip, interruptible ? "none coming" : "off");
        }
        const budget = this.opts.instructionBudget ? `${this.opts.instructionBudget} instructions` : `${this.opts.timeBudgetMs} ms`;
        throw new GuestError("budget", `guest ran past its budget of ${budget}`, rip, this.tracer.last(), this.symbolize(rip));
      }
    } finally {
      if (timed) uc.disarmStopTimer();
      this.paced = outerPaced;
      if (paced && !outerPaced) this.icount!.stopAt(NO_LIMIT);
      this.rearm();
    }
  }

  /** In a run paced by the instruction count: guest time to the count it reaches it at. */
  private paced: ((ns: number) => bigint) | undefined;

  /** In a paced run: stop at the next point an interrupt can be due (nothing otherwise). */
  private rearm(): void {
    if (this.paced) this.icount!.stopAt(this.nextInterruptStep(this.paced));
  }

  private interruptible(): boolean {
    return (this.uc.regRead(C.UC_X86_REG_RFLAGS) & RFLAGS_IF) !== 0n;
  }

  private emulate(pc: bigint, steps = 0): void {
    try {
      this.uc.emuStart(pc, 0n, 0, steps || this.opts.instructionBudget);
    } catch (e) {
      if (e instanceof UnicornError) {
        const rip = this.uc.regRead(C.UC_X86_REG_RIP);
        throw new GuestError("fault", `guest fault: ${e.message.replace(/ \(RIP 0x[0-9a-f]+\)$/, "")}`, rip, this.tracer.last(), this.symbolize(rip));
      }
      throw e;
    }
  }

  /** "symbol+0xoff" for a guest address, when the guest's symbols are known. */
  symbolize(rip: bigint): string | undefined {
    if (!this.symbols) return undefined;
    return this.symbols.lookup(rip, kernelSlide(this.symbols, this.idtTarget(14)));
  }

  /** Where the guest's IDT sends `vector`, if it has one. */
  private idtTarget(vector: number): bigint | undefined {
    const idt = this.uc.mmrRead(C.UC_X86_REG_IDTR);
    const cr3 = this.uc.regRead(C.UC_X86_REG_CR3);
    if (idt.limit < vector * 16 + 15) return undefined;
    const lo = this.read64(cr3, idt.base + BigInt(vector * 16));
    const hi = this.read64(cr3, idt.base + BigInt(vector * 16 + 8));
    if (lo === undefined || hi === undefined) return undefined;
    return gateTarget(lo, hi);
  }

  /** RAM offset of the 8 guest bytes at virtual va under cr3, or undefined. */
  private phys8(cr3: bigint, va: bigint): number | undefined {
    const p = this.translate(cr3, va);
    return p !== undefined && p + 8n <= BigInt(this.ram.length) ? Number(p) : undefined;
  }

  private read64(cr3: bigint, va: bigint): bigint | undefined {
    const p = this.phys8(cr3, va);
    return p === undefined ? undefined : this.ramView.getBigUint64(p, true);
  }

  private write64(cr3: bigint, va: bigint, v: bigint): boolean {
    const p = this.phys8(cr3, va);
    if (p === undefined) return false;
    this.ramView.setBigUint64(p, v, true);
    return true;
  }

  /** Steps between looks at an interrupt held back by IF = 0, doubling up to MAX_HELD_POLL. */
  private heldPoll = MIN_HELD_POLL;

  /**
   * HLT with interrupts on: let guest time pass (host clock: really wait, the guest's TSC
   * is the host's) to the next interrupt a device raises, and enter its handler. False
   * when none will come before the deadline.
   */
  private waitForInterrupt(deadline: number): boolean {
    for (;;) {
      this.pumpInput();
      if (this.ended) return true;
      if (this.deliverPending()) return true;
      const next = this.interrupts.nextEventNs(this.clock.now());
      const typing = this.input !== undefined && !this.input.closed;
      if ((next === Infinity && !typing) || performance.now() >= deadline) return false;
      // While input may come, sleep in short slices that a keystroke cuts short.
      if (typing) this.input!.wait(Math.min(INPUT_POLL_MS, (next - this.clock.now()) / 1e6, deadline - performance.now()));
      else this.clock.idleUntil(next, deadline);
    }
  }

  /**
   * Take what was typed: keystrokes for ConIn in boot services, bytes for COM1 after.
   * Ctrl-A x (as in QEMU) ends the run; Ctrl-A Ctrl-A types one Ctrl-A.
   */
  private pumpInput(): void {
    if (!this.input?.ready) return;
    const typed: number[] = [];
    for (const b of this.input.read()) {
      if (this.escape) {
        this.escape = false;
        if (b === 0x78 || b === 0x58) {
          this.ended = { kind: "quit" };
          this.uc.emuStop();
          return;
        }
        if (b === 0x01) typed.push(b);
      } else if (b === 0x01) {
        this.escape = true;
      } else {
        typed.push(b);
      }
    }
    if (!typed.length) return;
    if (this.firmware && !this.firmware.bootServicesExited) this.keys.push(keystrokes(Uint8Array.from(typed), this.clock.now()));
    else this.devices.com1.input(typed);
    this.interrupts.driveLevels();
  }

  /** Enter the handler of the interrupt the CPU takes now, if there is one. */
  private deliverPending(): boolean {
    const i = this.interrupts.take(this.clock.now());
    if (i) this.deliverVector(i.vector, undefined, i.what);
    return i !== undefined;
  }

  /**
   * The instruction count to stop at next: the next device's interrupt, or, while one
   * is held back (IF = 0, or pending now), a look again a little later.
   */
  private nextInterruptStep(stepsAt: (ns: number) => bigint): bigint {
    const now = this.clock.now();
    if (!this.interrupts.waiting(now)) {
      this.heldPoll = MIN_HELD_POLL;
      const next = this.interrupts.nextEventNs(now);
      return next === Infinity ? NO_LIMIT : stepsAt(next);
    }
    const at = this.icount!.count() + this.heldPoll;
    this.heldPoll = this.heldPoll * 2n < MAX_HELD_POLL ? this.heldPoll * 2n : MAX_HELD_POLL;
    return at;
  }

  private readonly openBusPages = new Set<bigint>();

  private openBus(addr: bigint, kind: string, size = 8): bigint {
    const page = addr >> 12n;
    if (!this.openBusPages.has(page)) {
      this.openBusPages.add(page);
      this.log(`mmio: ${kind} unemulated address 0x${addr.toString(16)} at RIP 0x${this.uc.regRead(C.UC_X86_REG_RIP).toString(16)}`);
    }
    return (1n << BigInt(8 * size)) - 1n;
  }

  /** With --vars: write the store (atomically) when a non-volatile variable changed. */
  saveVarsIfChanged(): void {
    if (!this.varsPath || this.fw.varsGeneration === this.varsSaved) return;
    try {
      writeVarStore(this.varsPath, this.fw.varsBytes());
    } catch (e) {
      throw new VarStoreError(`could not be saved (${(e as Error).message}); the file holds the store as last saved`);
    }
    this.varsSaved = this.fw.varsGeneration;
  }

  /** Guest physical address of va under the page tables at cr3 (0: paging off). */
  translate(cr3: bigint, va: bigint): bigint | undefined {
    const cr0 = this.uc.regRead(C.UC_X86_REG_CR0);
    return translate(this.ramView, cr0 & CR0_PG ? cr3 : 0n, va);
  }

  /** Unicorn returns from emulation after a HLT, with RIP past it. */
  private haltedAt(rip: bigint): boolean {
    const p = this.translate(this.uc.regRead(C.UC_X86_REG_CR3), rip - 1n);
    return p !== undefined && p < BigInt(this.ram.length) && this.ram[Number(p)] === 0xf4;
  }

  /** Copy an image into guest memory and load it; throws a LoadError naming the field. */
  loadImage(bytes: Uint8Array, cmdline?: string): bigint {
    return this.loadStaged(bytes.length, (ram) => ram.set(bytes), cmdline);
  }

  /** loadImage for a file, read straight into guest memory (no copy of a kernel-sized buffer). */
  loadImageFile(path: string, cmdline?: string): bigint {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      if (size > this.ram.length) throw new LoadError(STATUS.LOAD_ERROR, `the file (${size} bytes) is larger than guest RAM`, 0n);
      return this.loadStaged(size, (ram) => {
        for (let at = 0; at < size;) {
          const n = readSync(fd, ram, at, size - at, at);
          if (n === 0) throw new Error(`${path}: ended at byte ${at} of ${size} while reading`);
          at += n;
        }
      }, cmdline);
    } finally {
      closeSync(fd);
    }
  }

  /** Pages for `size` bytes, filled by `fill`, loaded by the firmware's PE loader, then freed. */
  private loadStaged(size: number, fill: (ram: Uint8Array) => void, cmdline?: string): bigint {
    const pages = Math.ceil(size / PAGE) || 1;
    const buf = this.fw.allocPages(MEMORY_TYPE.BootServicesData, pages, "copied");
    fill(this.fw.ram.subarray(Number(buf), Number(buf) + size));
    const r = this.fw.loadImage(buf, size);
    this.fw.freePages(buf, pages);
    if (r.status !== 0n) throw new LoadError(r.status, r.error, r.offset);
    if (cmdline !== undefined) {
      const text = Buffer.from(cmdline + "\0", "utf16le");
      const opts = this.fw.allocPages(MEMORY_TYPE.LoaderData, Math.ceil(text.length / PAGE));
      this.fw.ram.set(text, Number(opts));
      this.fw.setLoadOptions(r.handle, opts, text.length);
    }
    return r.handle;
  }

  /**
   * Load what the firmware's boot manager picks (BootNext, BootOrder, then
   * \EFI\BOOT\BOOTX64.EFI on each file system); throws a LoadError when nothing loads.
   */
  loadBootOption(): bigint {
    const r = this.fw.boot();
    if (r.status !== 0n) throw new LoadError(r.status, r.error, r.offset);
    return r.handle;
  }

  /** The display as it is now, as RGBA (the framebuffer's BGRX pixels); undefined without one. */
  screenshot(): { width: number; height: number; rgba: Uint8Array } | undefined {
    const s = this.firmware?.screen;
    if (!s) return undefined;
    const rgba = new Uint8Array(s.width * s.height * 4);
    const fb = this.ram.subarray(s.base, s.base + rgba.length);
    for (let i = 0; i < rgba.length; i += 4) {
      rgba[i] = fb[i + 2];
      rgba[i + 1] = fb[i + 1];
      rgba[i + 2] = fb[i];
      rgba[i + 3] = 0xff;
    }
    return { width: s.width, height: s.height, rgba };
  }

  /** Save what the guest wrote to writable disks, each atomically (Disk.commit). */
  commitDisks(): void {
    for (const d of this.disks) d.commit();
  }

  /** StartImage on a loaded image: how it ended. */
  start(handle: bigint): Ending {
    return this.ending(() => ({ kind: "returned", status: this.fw.startImage(handle) }));
  }

  /**
   * Enter a kernel through Xen's PVH entry (host/pvh): its segments, hvm_start_info,
   * command line, memory map and initrd copied into RAM, the CPU put in the 32-bit
   * state the PVH ABI gives, no firmware and no EFI call. Runs to the kernel's end.
   */
  bootPvh(boot: PvhBoot): Ending {
    if (this.firmware) throw new Error("bootPvh needs a machine made with entry: \"pvh\"");
    writeRegions(this.ram, boot);
    enterPvh(this.uc, boot.entry);
    this.enteredAt = performance.now();
    // The kernel never returns: run "until" an address it cannot reach.
    return this.ending(() => {
      this.run(BigInt(boot.entry.eip), undefined, true);
      return { kind: "returned", status: this.uc.regRead(C.UC_X86_REG_RAX) };
    });
  }

  private ending(go: () => Ending): Ending {
    try {
      const e = go();
      return this.ended ?? e;
    } catch (e) {
      // The machine was switched off, reset or quit first: what followed is not the ending.
      if (this.ended && (e instanceof Halted || e instanceof WaitingForever || e instanceof MilestoneReached)) return this.ended;
      if (e instanceof Halted) return { kind: "halted", rip: e.rip - 1n, symbol: this.symbolize(e.rip - 1n), interrupts: e.interrupts };
      if (e instanceof WaitingForever) return { kind: "waiting", rip: e.rip, symbol: this.symbolize(e.rip) };
      if (e instanceof MilestoneReached) return { kind: "milestone", line: e.line };
      throw e;
    }
  }

  close(): void {
    this.input?.close();
    this.uc.close();
    for (const d of this.disks) d.close();
  }
}
