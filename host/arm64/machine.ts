// An AArch64 machine for EFI images (issue 14): the same firmware WASM as x86-64, serving
// an arm64 CPU in Unicorn. The CPU starts as UEFI 2.10 §2.3.6.1 promises an AArch64
// image (non-secure EL1, MMU on with an identity map, caches and FP/SIMD on, interrupts
// masked); each service's thunk is `hvc #id ; ret`, and the HVC reaches Unicorn's
// interrupt hook with PC past it, where the host serves the call and puts the status in
// X0. The platform (host/arm64/platform.ts: a GICv2, the generic timer, a PL011, PSCI)
// is described by a device tree handed over as a configuration table. After
// ExitBootServices the OS's exceptions are taken by QEMU's own exception entry and its
// IRQs requested through QEMU's interrupt line, so Debian's arm64 kernel runs its
// userspace here.
import { Unicorn, UnicornError, sysRegKey, type InstructionCounter } from "../unicorn/index.ts";
import * as C from "../unicorn/consts.ts";
import { Firmware } from "../firmware.ts";
import { GuestError, LoadError, VarStoreError } from "../errors.ts";
import { SERVICES, argSlot, serviceByName } from "../../firmware/spec/services.ts";
import { MEMORY_TYPE, RESET_TYPE, STATUS } from "../../firmware/spec/uefi.ts";
import { PE_CONST } from "../../firmware/spec/pe.ts";
import { Tracer } from "../trace.ts";
import { KeyQueue } from "../keys.ts";
import { guestClock, hostClock, type Clock } from "../clock.ts";
import { hostEntropy, seededEntropy } from "../entropy.ts";
import { readVarStore, writeVarStore } from "../vars.ts";
import type { Disk } from "../disk.ts";
import type { Ending, MachineOptions } from "../machine.ts";
import { identityTables, tablePages, translate, MAIR, TCR, type Translation } from "./paging.ts";
import {
  B_SELF, CPACR_FPEN, EXCP, EXCP_NAMES, HCR_EL2, HCR_EL2_RW, PSTATE_EL1H_MASKED, SCR_EL3, SCR_EL3_NS_HVC_AA64,
  SCTLR_EL1, SCTLR_MMU_CACHES, SENTINEL_HVC, TCR_EL1, WFI, hvc,
} from "./regs.ts";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { buildFdt } from "./fdt.ts";
import { Pl011 } from "./pl011.ts";
import { psci } from "./psci.ts";
import { GICC_BASE, GICC_SIZE, GICD_BASE, GICD_SIZE, platformTree, TIMER_PPI, UART_BASE, UART_SIZE, UART_SPI } from "./platform.ts";
import { Gic } from "./gic.ts";
import { GenericTimer, TIMER_REGS } from "./timer.ts";

/** Instruction-cache maintenance (Arm ARM C5.3: SYS encodings): by address to PoU, all to PoU, all to PoU Inner Shareable. */
const IC_IVAU = { op0: 1, op1: 3, crn: 7, crm: 5, op2: 1 }, IC_IALLU = { op0: 1, op1: 0, crn: 7, crm: 5, op2: 0 }, IC_IALLUIS = { op0: 1, op1: 0, crn: 7, crm: 1, op2: 0 };
const IC_IVAU_KEY = sysRegKey(IC_IVAU), IC_IALLU_KEY = sysRegKey(IC_IALLU), IC_IALLUIS_KEY = sysRegKey(IC_IALLUIS);
/** The smallest I-cache line a CPU may have (CTR_EL0.IminLine is at least 4 words): IC IVAU covers at least this. */
const CACHE_LINE = 64n;

/** GIC interrupt ids of the first PPI and the first SPI. */
const PPI_BASE = 16, SPI_BASE = 32;

const PAGE = 4096;
const MIB = 1 << 20;
const STACK_BYTES = 1024 * 1024; // UEFI 2.10 §2.3.6 asks at least 128 KiB; as the x86 side (host/x86/layout.ts)
/** SP this near the guard page at a data abort is a stack overflow: a store below SP, or a frame allocated at once (`sub sp, sp, #N`), faults there. */
const STACK_FRAME_SLACK = 64n * 1024n;
/** Below the caller's SP, where a nested guest call (a notify function, a child image) starts its stack. */
const NESTED_CALL_GAP = 0x100n;
const EXIT_BOOT_SERVICES = serviceByName("BS.ExitBootServices").id;
const SET_VARIABLE = serviceByName("RT.SetVariable").id;
const STATUS_SLOT = argSlot("STATUS");
const PAGE_ROOT = argSlot("PAGE_ROOT"), PAGE_ROOT_HIGH = argSlot("PAGE_ROOT_HIGH"), PAGE_CONFIG = argSlot("PAGE_CONFIG");
const THUNK_SIZE = 8n;

/** X0-X7 and SP, read in one batch at each call: the argument block's ARG0-ARG7 and STACK. */
const X = (n: number) => C.UC_ARM64_REG_X0 + n;
const CALL_REGS = [X(0), X(1), X(2), X(3), X(4), X(5), X(6), X(7), C.UC_ARM64_REG_SP];
const CALL_SLOTS = [argSlot("ARG0"), argSlot("ARG1"), argSlot("ARG2"), argSlot("ARG3"), argSlot("ARG4"), argSlot("ARG5"), argSlot("ARG6"), argSlot("ARG7"), argSlot("STACK")];

/** Options an AArch64 machine does not offer yet, named in the error a user gets. */
const NOT_YET: ReadonlyArray<[keyof MachineOptions, string]> = [
  ["entry", "a direct kernel entry"], ["gdb", "the gdb stub"], ["watchTables", "table watching"],
  ["input", "standard input"], ["screen", "a display"], ["guardCodeWrites", "the code-write guard"],
];

export class Arm64Machine {
  readonly uc: Unicorn;
  readonly fw: Firmware;
  readonly ram: Uint8Array;
  readonly tracer: Tracer;
  readonly clock: Clock;
  /** Lines the guest wrote to the PL011. */
  readonly serial: string[] = [];
  private uart!: Pl011;
  private gic!: Gic;
  private timer!: GenericTimer;
  private irqLine = false;
  private milestone: string | undefined;
  console = "";
  readonly gdb = undefined;
  enteredAt: number | undefined;
  firstRunAt: number | undefined;
  instructionsAtEntry: bigint | undefined;
  private readonly opts: { instructionBudget: number; timeBudgetMs: number };
  private readonly icount: InstructionCounter | undefined;
  private readonly disks: Disk[];
  private readonly varsPath?: string;
  private varsSaved = 0;
  private readonly disabled: Map<number, bigint>;
  private readonly onConsole: (text: string) => void;
  private ended: Extract<Ending, { kind: "reset" | "poweroff" }> | undefined;
  private stackTop = 0n;
  private stackGuard = -1n;
  private sentinel = 0n;
  private depth = 0;
  private unwinding = false;
  private returned = false;
  private bootServicesExited = false;

  constructor(options: MachineOptions = {}) {
    for (const [key, what] of NOT_YET) {
      if (options[key] !== undefined && options[key] !== false && !(key === "entry" && options.entry === "efi")) throw new Error(`${what} is not offered on AArch64 yet (issue 14)`);
    }
    const ramMiB = options.ramMiB ?? 256;
    if (!Number.isInteger(ramMiB) || ramMiB < 16 || ramMiB > 3072) throw new RangeError(`guest RAM is 16 to 3072 MiB, not ${ramMiB}`);
    this.opts = { instructionBudget: options.instructionBudget ?? 0, timeBudgetMs: options.timeBudgetMs ?? 0 };
    this.tracer = options.tracer ?? new Tracer();
    this.disabled = options.disabled ?? new Map();
    this.onConsole = options.onConsole ?? (() => {});
    this.disks = options.disks ?? [];
    this.uc = new Unicorn(C.UC_MODE_ARM, C.UC_ARCH_ARM64);
    // Runs end at the sentinel's HVC, a WFI, a stop or an error (Unicorn.noExitAddress).
    this.uc.noExitAddress();
    const deterministic = options.clock === "deterministic";
    if (options.countInstructions || deterministic) this.icount = this.uc.countInstructions();
    const clock = options.clock ?? "host";
    this.clock = clock === "host" ? hostClock() : clock === "deterministic" ? guestClock({ progress: this.icount!.count }) : clock;
    const keys = new KeyQueue(options.keys ?? []);
    const entropy = options.entropy ?? (deterministic ? seededEntropy() : hostEntropy);
    const epochNs = BigInt(this.clock.epochMs) * 1_000_000n;
    const fw = (this.fw = new Firmware(ramMiB * MIB, {
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
        throw new Waiting(this.uc.regRead(C.UC_ARM64_REG_LR));
      },
      keyNext: () => {
        const at = keys.nextAt();
        return at === undefined ? undefined : epochNs + BigInt(Math.ceil(at));
      },
      keyTake: () => {
        const k = keys.take(this.clock.now());
        return k && ((k.scan << 16) | k.unicode) >>> 0;
      },
      codeWritten: (base, bytes) => this.uc.removeCache(base, base + bytes),
      diskRead: (disk, offset, out) => this.disks[disk]?.read(offset, out) ?? false,
      diskWrite: (disk, offset, data) => this.disks[disk]?.write(offset, data) ?? false,
    }, options.firmwareWasm, PE_CONST.MACHINE_AA64));
    this.ram = fw.ram;
    this.varsPath = options.varsPath;
    const saved = this.varsPath ? readVarStore(this.varsPath) : undefined;
    if (saved) fw.loadVars(saved);
    fw.varsDefaults();
    this.varsSaved = fw.varsGeneration;
    if (options.initrd) {
      const at = fw.allocPages(MEMORY_TYPE.BootServicesData, Math.ceil(options.initrd.length / PAGE) || 1, "copied");
      fw.ram.set(options.initrd, Number(at));
      fw.setInitrd(at, options.initrd.length);
    }
    for (const disk of this.disks) fw.addDisk(disk.sectors, !disk.writable);
    // The platform's device tree (host/arm64/platform.ts), as firmware hands it over.
    const fdt = buildFdt(platformTree(fw.ram.length));
    const fdtAt = fw.allocPages(MEMORY_TYPE.ACPIReclaimMemory, Math.ceil(fdt.length / PAGE));
    fw.ram.set(fdt, Number(fdtAt));
    fw.setDeviceTree(fdtAt);
    this.uc.memMapPtr(0, fw.ram);
    this.wire(options);
    this.uc.hookIntr((intno) => this.onException(intno));
    this.bringUp();
  }

  /** The devices: the GIC, the generic timer, the PL011 (its lines are the serial console). */
  private wire(options: MachineOptions): void {
    const uc = this.uc;
    const onSerial = options.onSerial ?? (() => {});
    const gic = (this.gic = new Gic(() => this.updateIrq()));
    const timer = (this.timer = new GenericTimer());
    uc.mmioMap(GICD_BASE, GICD_SIZE, (off, size) => BigInt(gic.readDist(Number(off), size)), (off, size, v) => gic.writeDist(Number(off), size, Number(v & 0xffff_ffffn)));
    // The timer's line is looked at when the CPU interface is read (the IRQ timer raised
    // the CPU's input without telling the GIC), and the input set from the answer: a
    // spurious acknowledge lowers it.
    uc.mmioMap(GICC_BASE, GICC_SIZE, (off) => {
      this.pollTimer();
      const v = gic.readCpu(Number(off));
      this.updateIrq();
      return BigInt(v);
    }, (off, _size, v) => gic.writeCpu(Number(off), Number(v & 0xffff_ffffn)));
    uc.hookSysRegs([...TIMER_REGS, IC_IVAU, IC_IALLU, IC_IALLUIS], (rt, key, value, write) => {
      if (key === IC_IVAU_KEY) return this.codeChanged(value);
      if (key === IC_IALLU_KEY || key === IC_IALLUIS_KEY) return this.codeChanged(undefined);
      if (write) timer.write(key, value);
      else uc.regWrite(rt, timer.read(key));
      this.pollTimer();
      if (write) this.armTimerIrq();
      return true;
    });
    this.uart = new Pl011({
      onIrq: () => gic.setLine(SPI_BASE + UART_SPI, this.uart.level),
      onLine: (line) => {
        this.serial.push(line);
        onSerial(line);
        if (options.stopOnSerial?.test(line) && this.milestone === undefined) {
          this.milestone = line;
          this.uc.emuStop();
        }
      },
    });
    const uart = this.uart;
    this.uc.mmioMap(UART_BASE, UART_SIZE, (off) => BigInt(uart.read(Number(off))), (off, _size, v) => uart.write(Number(off), Number(v & 0xffff_ffffn)));
  }

  /**
   * IC IVAU: the guest invalidates the instruction cache line holding `va` after writing
   * code there, as the architecture requires of self-modifying code (Arm ARM B2.4.4):
   * Unicorn's translations of that line go with it. Unicorn 2.1.1 misses some code
   * writes by itself (a write through another mapping, as Linux's fixmap text patching
   * makes); on AArch64 this maintenance names every one.
   */
  private codeChanged(va: bigint | undefined): boolean {
    if (va !== undefined) {
      const line = va & ~(CACHE_LINE - 1n);
      const pc = this.uc.regRead(C.UC_ARM64_REG_PC); // synced before the hook: the IC instruction's
      // Dropped at once, unless it may hold the block being run (translated blocks do not
      // cross a page): freeing that from inside the hook would pull the code from under
      // the engine (the kernel cleans its own text, the cleaning loop included).
      if ((line & ~0xfffn) !== (pc & ~0xfffn)) {
        if (this.read64(line) !== undefined) this.uc.removeCache(line, line + CACHE_LINE);
        return true;
      }
      if (this.staleCode !== "all") this.staleCode.push(line);
    } else this.staleCode = "all";
    // Otherwise between two runs. The stop takes effect at the end of the translation
    // block, and the ISB that must follow the maintenance before new code runs ends one.
    this.uc.emuStop();
    return true;
  }

  /** Code the guest said it changed (IC IVAU lines, or all), to drop before the run goes on. */
  private staleCode: bigint[] | "all" = [];

  private dropStaleCode(): void {
    const stale = this.staleCode;
    this.staleCode = [];
    if (stale === "all") return this.uc.flushCode();
    for (const line of stale) if (this.read64(line) !== undefined) this.uc.removeCache(line, line + CACHE_LINE);
  }

  /** The timer's lines into the GIC, as they are now. */
  private pollTimer(): void {
    const l = this.timer.levels();
    this.gic.setLine(PPI_BASE + TIMER_PPI.virtual, l.virtual);
    this.gic.setLine(PPI_BASE + TIMER_PPI.physical, l.physical);
  }

  /**
   * The CPU's IRQ input follows the GIC's output (QEMU takes the exception when the CPU
   * may). Set every time, not on changes only: the IRQ timer raises it behind our back.
   */
  private updateIrq(): void {
    this.irqLine = this.gic.irq;
    this.uc.setIrqLine(this.irqLine);
  }

  /**
   * The generic timer's interrupt while the guest runs: a native thread raises the CPU's
   * IRQ input when the timer's line is due to rise (Unicorn.raiseIrqIn). When the guest
   * takes it, its handler reads GICC_IAR, where the GIC, polling the timer, names it.
   */
  private armTimerIrq(): void {
    const rise = this.timer.nextRiseNs();
    this.uc.raiseIrqIn(rise === undefined ? undefined : Math.max(Number(rise - process.hrtime.bigint()) / 1000, 0));
  }

  /** Non-secure EL1, the identity map, caches and FP/SIMD on; a stack, and the sentinel guest calls return to. */
  private bringUp(): void {
    const fw = this.fw, uc = this.uc;
    // The stack, with its lowest page a guard the tables leave unmapped.
    const stack = fw.allocPages(MEMORY_TYPE.BootServicesData, STACK_BYTES / PAGE + 1);
    this.stackGuard = stack;
    this.stackTop = stack + BigInt(PAGE + STACK_BYTES);
    const table = fw.allocPages(MEMORY_TYPE.BootServicesData, tablePages(fw.ram.length));
    fw.ram.set(identityTables(table, fw.ram.length, stack), Number(table));
    // The sentinel: `hvc #SENTINEL_HVC ; b .` in code memory of its own.
    this.sentinel = fw.allocPages(MEMORY_TYPE.BootServicesCode, 1);
    fw.ramView.setUint32(Number(this.sentinel), hvc(SENTINEL_HVC), true);
    fw.ramView.setUint32(Number(this.sentinel) + 4, B_SELF, true);
    // PSTATE first: a PSTATE write does not refresh Unicorn's cached EL until a CP_REG write (ARM64.md).
    uc.regWrite(C.UC_ARM64_REG_PSTATE, PSTATE_EL1H_MASKED);
    uc.sysRegWrite(SCR_EL3, SCR_EL3_NS_HVC_AA64);
    uc.sysRegWrite(HCR_EL2, HCR_EL2_RW);
    uc.regWrite(C.UC_ARM64_REG_CPACR_EL1, CPACR_FPEN);
    uc.regWrite(C.UC_ARM64_REG_MAIR_EL1, MAIR);
    uc.sysRegWrite(TCR_EL1, TCR);
    uc.regWrite(C.UC_ARM64_REG_TTBR0_EL1, table);
    uc.sysRegWrite(SCTLR_EL1, SCTLR_MMU_CACHES);
    uc.regWrite(C.UC_ARM64_REG_SP, this.stackTop);
  }

  /** Guest instructions executed so far, with the countInstructions option. */
  instructions(): bigint | undefined {
    return this.icount?.count();
  }

  instructionsAtLine(_re: RegExp): bigint | undefined {
    return undefined;
  }

  tablesRead(): undefined {
    return undefined;
  }

  screenshot(): undefined {
    return undefined;
  }

  symbolize(_pc: bigint): string | undefined {
    return undefined;
  }

  /** The guest's translation registers now. */
  translation(): Translation {
    const uc = this.uc;
    return {
      ttbr0: uc.regRead(C.UC_ARM64_REG_TTBR0_EL1), ttbr1: uc.regRead(C.UC_ARM64_REG_TTBR1_EL1),
      tcr: uc.sysRegRead(TCR_EL1), mmuOn: (uc.sysRegRead(SCTLR_EL1) & 1n) !== 0n,
    };
  }

  /** 8 bytes at guest virtual `va` through the guest's tables now, or undefined. */
  read64(va: bigint, t = this.translation()): bigint | undefined {
    const phys = (pa: bigint) => (pa + 8n <= BigInt(this.ram.length) ? this.fw.ramView.getBigUint64(Number(pa), true) : undefined);
    const pa = translate(t, va, phys);
    return pa === undefined ? undefined : phys(pa);
  }

  /** A GuestError at (or "from") guest address `at`, with the last calls. */
  private error(kind: ConstructorParameters<typeof GuestError>[0], message: string, at: bigint, where: "at" | "from" = "at"): GuestError {
    return new GuestError(kind, message, at, this.tracer.last(), undefined, where, "PC");
  }

  /** HVC from a thunk (an EFI call) or the sentinel (a guest call returning); any other exception is the guest's fault. */
  private onException(intno: number): void {
    const uc = this.uc;
    const pc = uc.regRead(C.UC_ARM64_REG_PC);
    if (intno === EXCP.HVC) {
      const at = pc - 4n; // PC is past the HVC
      if (at === this.sentinel) {
        this.returned = true;
        uc.emuStop();
        return;
      }
      // The thunk page is identity-mapped in boot services, and an OS calls runtime
      // services through it at those addresses (arm64 Linux never calls SetVirtualAddressMap).
      if (at >= this.fw.thunks && at < this.fw.thunks + BigInt(PAGE)) return this.serve(Number((at - this.fw.thunks) / THUNK_SIZE));
      return this.hypercall();
    }
    // After ExitBootServices the OS owns exceptions: its vectors take them (system calls,
    // page faults, BRK), as on a CPU. Before, a fault is the image's, reported here.
    if (this.bootServicesExited && uc.regRead(C.UC_ARM64_REG_VBAR_EL1) !== 0n) return uc.takeException();
    const sp = uc.regRead(C.UC_ARM64_REG_SP);
    if (intno === EXCP.DATA_ABORT && sp >= this.stackGuard - STACK_FRAME_SLACK && sp < this.stackGuard + BigInt(PAGE) + STACK_FRAME_SLACK) {
      throw this.error("fault", `stack overflow: data abort with SP 0x${sp.toString(16)}, at the guard page below the ${STACK_BYTES >> 10} KiB stack`, pc);
    }
    const what = EXCP_NAMES[intno] ?? `exception ${intno}`;
    throw this.error("fault", `guest fault: ${what}`, pc);
  }

  /** An HVC from the OS: PSCI (host/arm64/psci.ts). */
  private hypercall(): void {
    const uc = this.uc;
    const [x0, x1] = uc.regReadBatch([X(0), X(1)]);
    const r = psci(Number(x0 & 0xffff_ffffn), x1);
    if ("end" in r) {
      this.ended = r.end === "reset" ? { kind: "reset", resetType: RESET_TYPE.EfiResetCold, status: 0n, source: "psci" } : { kind: "poweroff", source: "psci" };
      uc.emuStop();
      return;
    }
    uc.regWrite(X(0), BigInt.asUintN(64, BigInt(r.result)));
  }

  /** An EFI call: X0-X7 and SP into the argument block, the firmware serves it, the status into X0. */
  private serve(id: number): void {
    const svc = SERVICES[id];
    const uc = this.uc, fw = this.fw;
    if (!svc) throw this.error("fault", `trap with unknown service id ${id}`, uc.regRead(C.UC_ARM64_REG_PC));
    if (this.bootServicesExited && svc.table === "BS") {
      const at = uc.regRead(C.UC_ARM64_REG_LR);
      throw this.error("boot-service-after-exit", `BS.${svc.name} called after ExitBootServices`, at, "from");
    }
    const t0 = this.tracer.timed ? process.hrtime.bigint() : 0n;
    const regs = uc.regReadBatch(CALL_REGS);
    for (let i = 0; i < CALL_SLOTS.length; i++) fw.args[CALL_SLOTS[i]] = regs[i];
    // The identity map in boot services (0: none to walk); after them the OS's own tables.
    if (this.bootServicesExited) {
      const t = this.translation();
      fw.args[PAGE_ROOT] = t.mmuOn ? t.ttbr0 | 1n : 0n; // never 0 with the MMU on, even for tables at 0
      fw.args[PAGE_ROOT_HIGH] = t.ttbr1;
      fw.args[PAGE_CONFIG] = t.tcr;
    } else fw.args[PAGE_ROOT] = 0n;
    const disabled = this.disabled.size ? this.disabled.get(id) : undefined;
    if (disabled !== undefined) fw.args[STATUS_SLOT] = disabled;
    else {
      try {
        fw.trap(id);
      } catch (e) {
        if (!(e instanceof WebAssembly.RuntimeError)) throw e;
        throw this.error("firmware", `firmware trapped (${e.message}) serving ${svc.table}.${svc.name}`, uc.regRead(C.UC_ARM64_REG_LR), "from");
      }
    }
    this.tracer.record(svc, fw, t0);
    if (id === EXIT_BOOT_SERVICES && fw.args[STATUS_SLOT] === 0n) {
      this.bootServicesExited = true;
      this.enteredAt ??= performance.now();
      if (this.icount) this.instructionsAtEntry ??= this.instructions();
    } else if (id === SET_VARIABLE) this.saveVarsIfChanged();
    uc.regWrite(X(0), fw.args[STATUS_SLOT]);
    if (this.ended) uc.emuStop();
  }

  /** Run guest code fn(a0, a1) to its return (to the sentinel, through LR); nested when called from a hook. */
  callGuest(fn: bigint, a0: bigint, a1: bigint): bigint {
    const uc = this.uc;
    const ctx = this.depth > 0 ? uc.contextSave() : undefined;
    const sp = this.depth > 0 ? (uc.regRead(C.UC_ARM64_REG_SP) - NESTED_CALL_GAP) & ~0xfn : this.stackTop;
    uc.regWriteBatch([C.UC_ARM64_REG_SP, X(0), X(1), C.UC_ARM64_REG_LR], [sp, a0, a1, this.sentinel]);
    this.depth++;
    try {
      this.run(fn);
      const status = uc.regRead(X(0));
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
   * Runs from pc until the guest returns to the sentinel. A WFI in boot services waits
   * for the firmware's tick; after them, for the next interrupt (armTimerIrq delivers
   * the timer's while the guest runs).
   */
  private run(pc: bigint): void {
    const uc = this.uc;
    const outermost = this.depth === 1;
    const deadline = outermost && this.opts.timeBudgetMs > 0 ? performance.now() + this.opts.timeBudgetMs : Infinity;
    this.firstRunAt ??= performance.now();
    try {
      for (;;) {
        this.returned = false;
        if (outermost) {
          this.runDeadline = deadline;
          this.pollTimer();
          this.armStop();
        }
        if (performance.now() < deadline) this.emulate(pc);
        if (this.milestone !== undefined) throw new Milestone(this.milestone);
        if (this.returned || this.unwinding || this.ended) return;
        pc = uc.regRead(C.UC_ARM64_REG_PC);
        if (this.staleCode === "all" || this.staleCode.length) {
          this.dropStaleCode();
          continue;
        }
        if (this.wfiBefore(pc)) {
          if (!this.bootServicesExited) {
            if (!this.fw.idle()) throw new Waiting(pc - 4n);
            if (this.unwinding || this.ended) return;
            continue;
          }
          if (!this.waitForInterrupt(deadline)) {
            const masked = (uc.regRead(C.UC_ARM64_REG_PSTATE) & PSTATE_I) !== 0n && !this.irqLine;
            if (performance.now() < deadline) throw new Halted(pc - 4n, masked ? "off" : "none coming");
          }
          continue;
        }
        const budget = this.opts.instructionBudget ? `${this.opts.instructionBudget} instructions` : `${this.opts.timeBudgetMs} ms`;
        throw this.error("budget", `guest ran past its budget of ${budget}`, pc);
      }
    } finally {
      if (outermost) {
        uc.disarmStopTimer();
        this.runDeadline = undefined;
      }
    }
  }

  /** The outermost run's time budget, while it runs (performance.now() ms). */
  private runDeadline: number | undefined;

  /** The stop timer ends the run at its budget. */
  private armStop(): void {
    if (this.runDeadline === undefined) return;
    const stopMs = this.runDeadline - performance.now();
    if (stopMs !== Infinity) this.uc.armStopTimer(Math.max(stopMs, 0) * 1000);
    else this.uc.disarmStopTimer();
  }

  /** WFI after boot services: wait (host time) for the timer's line; false when nothing will raise one before `deadline`. */
  private waitForInterrupt(deadline: number): boolean {
    for (;;) {
      this.pollTimer();
      if (this.irqLine) return true;
      const rise = this.timer.nextRiseNs();
      if (rise === undefined) return false;
      const ms = Math.min(Number(rise - process.hrtime.bigint()) / 1e6, deadline - performance.now());
      if (performance.now() >= deadline) return false;
      if (ms > 0) Atomics.wait(SLEEP, 0, 0, ms);
    }
  }

  private emulate(pc: bigint): void {
    try {
      this.uc.emuStart(pc, 0n, 0, this.opts.instructionBudget);
    } catch (e) {
      if (e instanceof UnicornError) {
        const at = this.uc.regRead(C.UC_ARM64_REG_PC);
        throw this.error("fault", `guest fault: ${e.message.replace(/ \(PC 0x[0-9a-f]+\)$/, "")}`, at);
      }
      throw e;
    }
  }

  /** Unicorn returns from emulation after a WFI, with PC past it. */
  private wfiBefore(pc: bigint): boolean {
    const word = this.read64(pc - 4n);
    return word !== undefined && Number(word & 0xffff_ffffn) === WFI;
  }

  saveVarsIfChanged(): void {
    if (!this.varsPath || this.fw.varsGeneration === this.varsSaved) return;
    try {
      writeVarStore(this.varsPath, this.fw.varsBytes());
    } catch (e) {
      throw new VarStoreError(`could not be saved (${(e as Error).message}); the file holds the store as last saved`);
    }
    this.varsSaved = this.fw.varsGeneration;
  }

  /** Copy an image file into guest memory and load it; throws a LoadError naming the field. */
  loadImageFile(path: string, cmdline?: string): bigint {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      if (size > this.ram.length) throw new LoadError(STATUS.LOAD_ERROR, `the file (${size} bytes) is larger than guest RAM`, 0n);
      const pages = Math.ceil(size / PAGE) || 1;
      const buf = this.fw.allocPages(MEMORY_TYPE.BootServicesData, pages, "copied");
      for (let at = 0; at < size;) {
        const n = readSync(fd, this.ram, Number(buf) + at, size - at, at);
        if (n === 0) throw new Error(`${path}: ended at byte ${at} of ${size} while reading`);
        at += n;
      }
      const r = this.fw.loadImage(buf, size);
      this.fw.freePages(buf, pages);
      if (r.status !== 0n) throw new LoadError(r.status, r.error, r.offset);
      if (cmdline !== undefined) {
        const text = Buffer.from(cmdline + "\0", "utf16le");
        const at = this.fw.allocPages(MEMORY_TYPE.LoaderData, Math.ceil(text.length / PAGE));
        this.ram.set(text, Number(at));
        this.fw.setLoadOptions(r.handle, at, text.length);
      }
      return r.handle;
    } finally {
      closeSync(fd);
    }
  }

  loadBootOption(): bigint {
    const r = this.fw.boot();
    if (r.status !== 0n) throw new LoadError(r.status, r.error, r.offset);
    return r.handle;
  }

  commitDisks(): void {
    for (const d of this.disks) d.commit();
  }

  /** StartImage on a loaded image: how it ended. */
  start(handle: bigint): Ending {
    try {
      const status = this.fw.startImage(handle);
      return this.ended ?? { kind: "returned", status };
    } catch (e) {
      if (this.ended && (e instanceof Waiting || e instanceof Milestone || e instanceof Halted)) return this.ended;
      if (e instanceof Halted) return { kind: "halted", rip: e.pc, interrupts: e.interrupts };
      if (e instanceof Milestone) return { kind: "milestone", line: e.line };
      if (e instanceof Waiting) return { kind: "waiting", rip: e.pc };
      throw e;
    }
  }

  close(): void {
    this.uc.close();
    for (const d of this.disks) d.close();
  }
}

/** A WFI that nothing will end: interrupts masked with none pending, or no timer armed. */
class Halted extends Error {
  constructor(readonly pc: bigint, readonly interrupts: "off" | "none coming") {
    super(`halted at 0x${pc.toString(16)}`);
  }
}

/** For sleeping without spinning: Atomics.wait on a word nobody changes. */
const SLEEP = new Int32Array(new SharedArrayBuffer(4));
const PSTATE_I = 1n << 7n;

/** A stopOnSerial line appeared: the run ends there. */
class Milestone extends Error {
  constructor(readonly line: string) {
    super(`milestone: ${line}`);
  }
}

/** Waiting for ever in boot services (WaitForEvent or WFI with nothing to come), at `pc`. */
class Waiting extends Error {
  constructor(readonly pc: bigint) {
    super(`waiting at 0x${pc.toString(16)}`);
  }
}
