// An AArch64 machine for EFI images (issue 14): the same firmware WASM as x86-64, serving
// an arm64 CPU in Unicorn. The CPU starts as UEFI 2.10 §2.3.6.1 promises an AArch64
// image (non-secure EL1, MMU on with an identity map, caches and FP/SIMD on, interrupts
// masked); each service's thunk is `hvc #id ; ret`, and the HVC reaches Unicorn's
// interrupt hook with PC past it, where the EFI link (host/efi-link.ts) serves the call
// and the status goes to X0. The platform (host/arm64/platform.ts: a GICv2, the generic
// timer, a PL011, PSCI) is described by a device tree handed over as a configuration
// table. After ExitBootServices the OS's exceptions are taken by QEMU's own exception
// entry and its IRQs requested through QEMU's interrupt line, so Debian's arm64 kernel
// runs its userspace here. Runs, nested calls and budgets are the runner's (host/runner.ts).
import { Unicorn, sysRegKey } from "../unicorn/index.ts";
import { targetBitsOffset } from "../unicorn/quirks.ts";
import * as C from "../unicorn/consts.ts";
import { GuestError } from "../errors.ts";
import { argSlot } from "../../firmware/spec/services.ts";
import { MEMORY_TYPE, RESET_TYPE } from "../../firmware/spec/uefi.ts";
import { PE_CONST } from "../../firmware/spec/pe.ts";
import { arm64Slide } from "../symbols.ts";
import { MachineBase } from "../machine-base.ts";
import type { MachineOptions } from "../options.ts";
import { INPUT_POLL_MS } from "../efi-link.ts";
import { Runner, type Core } from "../runner.ts";
import type { Ending } from "../run-state.ts";
import { identityTables, tablePages, translate, MAIR, TCR, type Translation } from "./paging.ts";
import {
  B_SELF, CPACR_FPEN, EXCP, EXCP_NAMES, HCR_EL2, HCR_EL2_RW, PSTATE_EL1H_MASKED, SCR_EL3, SCR_EL3_NS_HVC_AA64,
  SCTLR_EL1, SCTLR_MMU_CACHES, SENTINEL_HVC, TCR_EL1, WFI, hvc,
} from "./regs.ts";
import { buildFdt } from "./fdt.ts";
import { psci } from "./psci.ts";
import { platformTree } from "./platform.ts";
import type { Arm64Boot } from "./image.ts";
import { VirtPlatform } from "./virt.ts";

/** Instruction-cache maintenance (Arm ARM C5.3: SYS encodings): by address to PoU, all to PoU, all to PoU Inner Shareable. */
const IC_IVAU = { op0: 1, op1: 3, crn: 7, crm: 5, op2: 1 }, IC_IALLU = { op0: 1, op1: 0, crn: 7, crm: 5, op2: 0 }, IC_IALLUIS = { op0: 1, op1: 0, crn: 7, crm: 1, op2: 0 };
const IC_IVAU_KEY = sysRegKey(IC_IVAU);
/** The smallest I-cache line a CPU may have (CTR_EL0.IminLine is at least 4 words): IC IVAU covers at least this. */
const CACHE_LINE = 64n;

const PAGE = 4096;
const STACK_BYTES = 1024 * 1024; // UEFI 2.10 §2.3.6 asks at least 128 KiB; as the x86 side (host/x86/layout.ts)
/** SP this near the guard page at a data abort is a stack overflow: a store below SP, or a frame allocated at once (`sub sp, sp, #N`), faults there. */
const STACK_FRAME_SLACK = 64n * 1024n;
const PAGE_ROOT = argSlot("PAGE_ROOT"), PAGE_ROOT_HIGH = argSlot("PAGE_ROOT_HIGH"), PAGE_CONFIG = argSlot("PAGE_CONFIG"), STATUS = argSlot("STATUS");
const THUNK_SIZE = 8n;
const PSTATE_I = 1n << 7n;

/** X0-X7 and SP, read in one batch at each call: the argument block's ARG0-ARG7 and STACK. */
const X = (n: number) => C.UC_ARM64_REG_X0 + n;
const CALL_REGS = [X(0), X(1), X(2), X(3), X(4), X(5), X(6), X(7), C.UC_ARM64_REG_SP];
const CALL_SLOTS = [argSlot("ARG0"), argSlot("ARG1"), argSlot("ARG2"), argSlot("ARG3"), argSlot("ARG4"), argSlot("ARG5"), argSlot("ARG6"), argSlot("ARG7"), argSlot("STACK")];

/** Options an AArch64 machine does not offer yet, named in the error a user gets. */
const NOT_YET: ReadonlyArray<[keyof MachineOptions, string]> = [
  ["gdb", "the gdb stub"], ["watchTables", "table watching"],
  ["screen", "a display"], ["guardCodeWrites", "the code-write guard"],
];

/** For sleeping without spinning: Atomics.wait on a word nobody changes. */
const SLEEP = new Int32Array(new SharedArrayBuffer(4));

/**
 * The engine, translating in 4 KiB pages as QEMU does for this CPU (arm_cpu_realizefn
 * asks for them on v7VMSA and later). Unicorn leaves AArch64 at ARMv5's 1 KiB (that
 * request is #if 0 in its copy): a quarter of the TLB's reach, and blocks cut at every
 * 1 KiB. Its uc_ctl takes ARM64 page sizes from 2.1.3; on 2.1.1 the same field is set
 * directly, before the engine starts (quirks.ts targetBitsOffset).
 */
function engine(): Unicorn {
  const uc = new Unicorn(C.UC_MODE_ARM, C.UC_ARCH_ARM64);
  if (!uc.targetPageSize(PAGE_SIZE)) uc.engineState().setInt32(targetBitsOffset(), Math.log2(PAGE_SIZE), true);
  return uc;
}
const PAGE_SIZE = 4096;

export class Arm64Machine extends MachineBase {
  readonly gdb = undefined;
  private readonly platform: VirtPlatform;
  private stackTop = 0n;
  private stackGuard = -1n;
  private sentinel = 0n;
  /** The sentinel's HVC ran: the guest call returned. */
  private returned = false;

  constructor(options: MachineOptions = {}) {
    for (const [key, what] of NOT_YET) {
      if (options[key] !== undefined && options[key] !== false) throw new Error(`${what} is not offered on AArch64 yet (issue 14)`);
    }
    if (options.entry === "pvh") throw new Error("Xen's PVH entry is x86's; the AArch64 machine's direct entry is the arm64 boot protocol (entry \"direct\")");
    super(options, engine(), {
      machine: PE_CONST.MACHINE_AA64,
      // The arm64 boot protocol (bootDirect) runs with no firmware.
      firmware: options.entry !== "direct",
      // The platform's device tree (host/arm64/platform.ts), as firmware hands it over.
      describe: (fw) => {
        const fdt = buildFdt(platformTree(fw.ram.length));
        const at = fw.allocPages(MEMORY_TYPE.ACPIReclaimMemory, Math.ceil(fdt.length / PAGE));
        fw.ram.set(fdt, Number(at));
        fw.setDeviceTree(at);
      },
      guardCodeWrites: false,
    });
    const uc = this.uc;
    uc.memMapPtr(0, this.ram);
    this.platform = this.wire(options);
    const link = this.link;
    if (link) {
      // EFI calls through the native HVC gate (host/unicorn/native.c): X0-X7 and SP land in
      // the firmware's argument block and X0 is loaded from its STATUS slot without a koffi
      // register call; every other exception comes to onException.
      const fw = link.fw;
      uc.hookHvcGate({
        excpHvc: EXCP.HVC, thunks: fw.thunks, thunksEnd: fw.thunks + BigInt(PAGE), thunkSize: Number(THUNK_SIZE), pcId: C.UC_ARM64_REG_PC,
        memory: new Uint8Array(fw.memory.buffer), ids: CALL_REGS, offsets: CALL_SLOTS.map((slot) => fw.args.byteOffset + 8 * slot),
        resultId: X(0), resultOffset: fw.args.byteOffset + 8 * STATUS,
        onCall: (id) => this.serve(id), onOther: (intno) => this.onException(intno),
      });
    } else uc.hookIntr((intno) => this.onException(intno));
    this.runner = new Runner(this.core(), this.state, { instructions: options.instructionBudget ?? 0, timeMs: options.timeBudgetMs ?? 0 }, () => this.bootIdle());
    if (link) this.bringUp();
  }

  protected callSite(): bigint {
    return this.uc.regRead(C.UC_ARM64_REG_LR);
  }

  protected pc(): bigint {
    return this.uc.regRead(C.UC_ARM64_REG_PC);
  }

  protected serialInput(bytes: Uint8Array): void {
    this.platform.uart.input(bytes);
  }

  /** The CPU as the runner sees it (host/runner.ts). */
  private core(): Core {
    const uc = this.uc;
    return {
      uc,
      pc: () => uc.regRead(C.UC_ARM64_REG_PC),
      sp: () => uc.regRead(C.UC_ARM64_REG_SP),
      enterCall: (a0, a1, sp, sentinel) => uc.regWriteBatch([C.UC_ARM64_REG_SP, X(0), X(1), C.UC_ARM64_REG_LR], [sp, a0, a1, sentinel]),
      result: () => uc.regRead(X(0)),
      returned: () => this.returned,
      haltedBefore: (pc) => (this.wfiBefore(pc) ? pc - 4n : undefined),
      // WFI wakes on a pending interrupt even when PSTATE.I masks it (Arm ARM D1.16.2):
      // arm64 Linux idles that way, and unmasks after.
      waitForInterrupt: (deadline) => {
        if (this.waitForInterrupt(deadline)) return true;
        const masked = (uc.regRead(C.UC_ARM64_REG_PSTATE) & PSTATE_I) !== 0n && !this.platform.irqLine;
        return masked && performance.now() < deadline ? "off" : "none coming";
      },
      beforeRun: (pc) => {
        this.returned = false;
        this.platform.pollTimer();
        return { pc, steps: 0 };
      },
      // Code the guest said it changed while it ran there (IC IVAU), dropped between runs.
      resume: () => {
        if (this.staleCode !== "all" && !this.staleCode.length) return false;
        this.dropStaleCode();
        return true;
      },
      error: (kind, message, at) => this.error(kind, message, at),
    };
  }

  /** The devices: the GIC, the generic timer, the PL011 (its lines are the serial console). */
  /** The platform's devices (host/arm64/virt.ts); the instruction-cache maintenance that names changed code. */
  private wire(options: MachineOptions): VirtPlatform {
    const platform = new VirtPlatform(this.uc, (line) => this.serialLine(line, options));
    this.uc.hookSysRegs([IC_IVAU, IC_IALLU, IC_IALLUIS], (_rt, key, value) => this.codeChanged(key === IC_IVAU_KEY ? value : undefined));
    return platform;
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
    this.ramView.setUint32(Number(this.sentinel), hvc(SENTINEL_HVC), true);
    this.ramView.setUint32(Number(this.sentinel) + 4, B_SELF, true);
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

  tablesRead(): undefined {
    return undefined;
  }

  /**
   * "file: symbol+0xoff" for an address in an image the host loaded (host/pe-symbols.ts),
   * else "symbol+0xoff" from the kernel's System.map (the KASLR slide from VBAR_EL1).
   */
  symbolize(pc: bigint): string | undefined {
    const image = this.link?.symbolize(pc);
    if (image || !this.symbols) return image;
    return this.symbols.lookup(pc, arm64Slide(this.symbols, this.uc.regRead(C.UC_ARM64_REG_VBAR_EL1)));
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
    const phys = (pa: bigint) => (pa + 8n <= BigInt(this.ram.length) ? this.ramView.getBigUint64(Number(pa), true) : undefined);
    const pa = translate(t, va, phys);
    return pa === undefined ? undefined : phys(pa);
  }

  /** A GuestError at (or "from") guest address `at`, with the last calls. */
  protected error(kind: GuestError["kind"], message: string, at: bigint, where: "at" | "from" = "at"): GuestError {
    return new GuestError(kind, message, at, this.tracer.last(), this.symbolize(at), where, "PC");
  }

  /** Every exception but an EFI call (the HVC gate serves those): the sentinel's HVC (a guest call returning), PSCI, the OS's own after ExitBootServices; any other is the guest's fault. */
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
      // (An HVC from the thunk page is an EFI call, served by the gate before it gets here.
      // The page is identity-mapped in boot services, and an OS calls runtime services
      // through it at those addresses: arm64 Linux never calls SetVirtualAddressMap.)
      return this.hypercall();
    }
    // After ExitBootServices the OS owns exceptions: its vectors take them (system calls,
    // page faults, BRK), as on a CPU. Before, a fault is the image's, reported here.
    if ((this.link?.bootServicesExited ?? true) && uc.regRead(C.UC_ARM64_REG_VBAR_EL1) !== 0n) return uc.takeException();
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
      return this.state.end(r.end === "reset" ? { kind: "reset", resetType: RESET_TYPE.EfiResetCold, status: 0n, source: "psci" } : { kind: "poweroff", source: "psci" });
    }
    uc.regWrite(X(0), BigInt.asUintN(64, BigInt(r.result)));
  }

  /** An EFI call, its registers in the argument block (the HVC gate): the link serves it, and the gate loads X0 from STATUS. */
  private serve(id: number): void {
    const link = this.efi, args = link.fw.args;
    // The identity map in boot services (0: none to walk); after them the OS's own tables.
    if (link.bootServicesExited) {
      const t = this.translation();
      args[PAGE_ROOT] = t.mmuOn ? t.ttbr0 | 1n : 0n; // never 0 with the MMU on, even for tables at 0
      args[PAGE_ROOT_HIGH] = t.ttbr1;
      args[PAGE_CONFIG] = t.tcr;
    } else args[PAGE_ROOT] = 0n;
    link.serve(id);
    // ResetSystem or an error inside a nested run stops every level, not just the innermost.
    if (this.state.ended) this.uc.emuStop();
  }

  /** Run guest code fn(a0, a1) to its return (to the sentinel, through LR); nested when called from a hook. */
  callGuest(fn: bigint, a0: bigint, a1: bigint): bigint {
    return this.runner.call(fn, a0, a1, this.stackTop, this.sentinel);
  }

  /**
   * WFI after boot services: wait (host time) for an interrupt: the timer's line, or a
   * byte typed for the PL011. False when nothing will raise one before `deadline`.
   */
  private waitForInterrupt(deadline: number): boolean {
    const typing = this.typing;
    for (;;) {
      typing?.pump();
      if (this.state.ended) return true;
      this.platform.pollTimer();
      if (this.platform.irqLine) return true;
      const rise = this.platform.timer.nextRiseNs();
      const open = typing?.open ?? false;
      if ((rise === undefined && !open) || performance.now() >= deadline) return false;
      let ms = deadline - performance.now();
      if (rise !== undefined) ms = Math.min(ms, Number(rise - process.hrtime.bigint()) / 1e6);
      if (open) typing!.input.wait(Math.min(ms, INPUT_POLL_MS));
      else if (ms > 0) Atomics.wait(SLEEP, 0, 0, ms);
    }
  }

  /** Unicorn returns from emulation after a WFI, with PC past it. */
  private wfiBefore(pc: bigint): boolean {
    const word = this.read64(pc - 4n);
    return word !== undefined && Number(word & 0xffff_ffffn) === WFI;
  }

  /**
   * Enter a kernel through the arm64 boot protocol (host/arm64/image.ts): the Image, the
   * device tree and the initrd copied into RAM, the CPU at non-secure EL1 with the MMU
   * and caches off and interrupts masked, X0 the tree's address (booting.rst). No
   * firmware and no EFI call. Runs to the kernel's end.
   */
  bootDirect(boot: Arm64Boot): Ending {
    if (this.link) throw new Error("bootDirect needs a machine made with entry: \"direct\"");
    const uc = this.uc;
    // readArm64File may have read the Image where it belongs already.
    if (boot.image.buffer !== this.ram.buffer || boot.image.byteOffset !== boot.base) this.ram.set(boot.image, boot.base);
    this.ram.set(boot.dtb, boot.dtbAt);
    if (boot.initrd && boot.initrdAt !== undefined) this.ram.set(boot.initrd, boot.initrdAt);
    // PSTATE first: a PSTATE write does not refresh Unicorn's cached EL until a CP_REG write (ARM64.md).
    uc.regWrite(C.UC_ARM64_REG_PSTATE, PSTATE_EL1H_MASKED);
    uc.sysRegWrite(SCR_EL3, SCR_EL3_NS_HVC_AA64);
    uc.sysRegWrite(HCR_EL2, HCR_EL2_RW);
    uc.sysRegWrite(SCTLR_EL1, uc.sysRegRead(SCTLR_EL1) & ~SCTLR_MMU_CACHES);
    uc.regWriteBatch([X(0), X(1), X(2), X(3)], [BigInt(boot.dtbAt), 0n, 0n, 0n]);
    return this.enterDirectly(BigInt(boot.base), () => uc.regRead(X(0)));
  }
}
