// The x86-64 machine: Unicorn's CPU, the PC around it, and the WASM firmware joined to it.
//
// A guest calls an EFI service through a table slot into its thunk
// (`mov eax, id ; out TRAP_PORT, eax ; ret`); the native trap gate on that OUT copies
// the Microsoft x64 argument registers into the firmware's argument block, the EFI link
// serves the call (host/efi-link.ts), and the gate loads the status it left there into
// RAX. Firmware callbacks into the guest (StartImage, event notifications) are nested
// runs that return to a sentinel `hlt` (host/runner.ts). The parts: the CPU's exceptions,
// SYSCALL and RDTSC (host/x86/cpu.ts), the PC's devices and interrupt controllers
// (host/x86/pc.ts), the runner, the EFI link; this file joins them, brings the CPU up as
// UEFI promises, and paces interrupts by the instruction count on a deterministic clock.
import { libraryInfo, NO_LIMIT, Unicorn } from "./unicorn/index.ts";
import * as C from "./unicorn/consts.ts";
import type { Firmware } from "./firmware.ts";
import { GuestError } from "./errors.ts";
import { TableWatch, type TablesRead } from "./table-watch.ts";
import { ARG_SLOTS, TRAP_PORT, argSlot } from "../firmware/spec/services.ts";
import { MEMORY_TYPE } from "../firmware/spec/uefi.ts";
import { PE_CONST } from "../firmware/spec/pe.ts";
import { identityMap, pagingBytes } from "./x86/paging.ts";
import { efiGdt, gdtBytes, gdtr } from "./x86/gdt.ts";
import { efiTrampoline } from "./x86/trampoline.ts";
import { TLB_ENTRIES, tlbTouchBytes, type TlbGrowth } from "./x86/tlb.ts";
import { GDT_OFFSET, GDTR_OFFSET, TRAMPOLINE_OFFSET, STACK_SIZE } from "./x86/layout.ts";
import { X86Cpu } from "./x86/cpu.ts";
import { PcPlatform } from "./x86/pc.ts";
import { kernelSlide } from "./symbols.ts";
import { acpiTables } from "./acpi.ts";
import { RESET_TYPE } from "../firmware/spec/uefi.ts";
import { enterPvh } from "./pvh/enter.ts";
import { writeRegions, type PvhBoot } from "./pvh/start-info.ts";
import { GdbLink, GdbStub } from "./gdb.ts";
import { INPUT_POLL_MS } from "./efi-link.ts";
import { Runner, type Core } from "./runner.ts";
import type { Ending } from "./run-state.ts";
import type { MachineOptions } from "./options.ts";
import { MachineBase, type InterruptCounts } from "./machine-base.ts";

export type { MachineOptions } from "./options.ts";
export { MAX_RAM_MIB, MIN_RAM_MIB } from "./options.ts";
export type { Ending } from "./run-state.ts";

const PAGE = 4096;
// In the order of the firmware's ARGS area (firmware/abi.ts).
const STATUS_SLOT = argSlot("STATUS");
/** The register behind each x86-64 argument slot (those before STATUS, which the gate loads into RAX). */
const ARG_REGISTERS: Record<"ARG0" | "ARG1" | "ARG2" | "ARG3" | "STACK" | "PAGE_ROOT", number> = {
  ARG0: C.UC_X86_REG_RCX, ARG1: C.UC_X86_REG_RDX, ARG2: C.UC_X86_REG_R8, ARG3: C.UC_X86_REG_R9, STACK: C.UC_X86_REG_RSP, PAGE_ROOT: C.UC_X86_REG_CR3,
};
/** Instructions between looks at an interrupt that IF = 0 holds back: from 1,000 up to 1,000,000 (1 ms of a guest clock). */
const MIN_HELD_POLL = 1000n;
/** The IRQ gate's deadline when an interrupt is pending now (armGate). */
const RAISED = -1;
const MAX_HELD_POLL = 1_000_000n;

export class Machine extends MachineBase {
  /** The debugger's session, with --gdb. */
  readonly gdb?: GdbStub;
  private readonly cpu: X86Cpu;
  private readonly platform: PcPlatform;
  private sentinel = 0n;
  private stackTop = 0n;
  /** The unmapped page below the EFI stack, in the identity tables (host/x86/paging.ts). */
  private stackGuard = -1n;
  private tableWatch: TableWatch | undefined;

  constructor(options: MachineOptions = {}) {
    super(options, new Unicorn(C.UC_MODE_64), {
      machine: PE_CONST.MACHINE_X64,
      firmware: options.entry !== "pvh",
      // The ACPI tables (host/acpi.ts) in a page of their own, as firmware reports them.
      describe: (fw) => {
        const at = fw.allocPages(MEMORY_TYPE.ACPIReclaimMemory, 1);
        const acpi = acpiTables(Number(at));
        fw.ram.set(acpi.bytes, Number(at));
        fw.setAcpi(BigInt(acpi.rsdp));
      },
      // Every store checked for code (Unicorn.guardCodeWrites), about 4x slower: only when
      // asked; code writes are seen without it (Unicorn.trackCodePages).
      guardCodeWrites: !!options.guardCodeWrites,
    });
    if (this.link && options.watchTables) this.mapWatchingTables(this.link.fw);
    else this.uc.memMapPtr(0, this.ram);
    this.cpu = new X86Cpu(this.uc, this.ramView, (kind, message, at) => this.error(kind, message, at), this.entropy);
    this.platform = this.wire(options);
    // With the host's clock, interrupts reach a running guest through the IRQ gate (a
    // paced run stops at each one instead), raised only once the guest owns the IDT.
    this.gated = !this.clock.stepsAt && !options.interruptsAtHalt;
    if (this.gated) this.cpu.interceptInterrupts(() => this.interruptWindow());
    this.runner = new Runner(this.core(), this.state, { instructions: options.instructionBudget ?? 0, timeMs: options.timeBudgetMs ?? 0 }, () => this.bootIdle());
    if (this.link) this.bringUp();
    if (options.gdb) this.gdb = this.debugger(options.gdb);
    this.icountBase = this.icount?.count() ?? 0n;
  }

  protected callSite(): bigint {
    return this.cpu.callSite();
  }

  protected pc(): bigint {
    return this.cpu.rip();
  }

  protected error(kind: GuestError["kind"], message: string, at: bigint, where?: "at" | "from"): GuestError {
    return new GuestError(kind, message, at, this.tracer.last(), this.symbolize(at), where);
  }

  protected serialInput(bytes: Uint8Array): void {
    this.platform.serialInput(bytes);
  }

  /** The CPU as the runner sees it (host/runner.ts). */
  private core(): Core {
    const uc = this.uc, cpu = this.cpu;
    return {
      uc,
      pc: () => cpu.rip(),
      sp: () => uc.regRead(C.UC_X86_REG_RSP),
      enterCall: (a0, a1, sp, sentinel) => {
        // Return address = sentinel; RSP ≡ 8 (mod 16) at entry, as after a call.
        this.ramView.setBigUint64(Number(sp - 8n), sentinel, true);
        uc.regWriteBatch([C.UC_X86_REG_RSP, C.UC_X86_REG_RCX, C.UC_X86_REG_RDX], [sp - 8n, a0, a1]);
      },
      result: () => uc.regRead(C.UC_X86_REG_RAX),
      // Back at the sentinel: its hlt has run.
      returned: (pc) => pc === this.sentinel + 1n,
      haltedBefore: (pc) => (cpu.haltedAt(pc) ? pc - 1n : undefined),
      waitForInterrupt: (deadline) => (!cpu.interruptible() ? "off" : this.waitForInterrupt(deadline) || "none coming"),
      // A debugger stops the guest here first when it asked to (it sees RIP at pc, and may
      // move it), and may make this run one step.
      beforeRun: (pc) => {
        this.rearm();
        if (!this.gdb) return { pc, steps: 0 };
        uc.regWrite(C.UC_X86_REG_RIP, pc);
        const steps = this.gdb.beforeRun();
        return { pc: uc.regRead(C.UC_X86_REG_RIP), steps };
      },
      resume: () => {
        // Stopped for the debugger (a breakpoint, a watchpoint, a step, Ctrl-C): it takes over at the top.
        if (this.gdb?.wantsStop()) return true;
        if (!this.icount?.reached()) return false;
        // A pacing point, at an instruction boundary, the instruction at RIP not yet run.
        if (this.paced && cpu.interruptible()) this.deliverPending("running");
        return true;
      },
      // A clock paced by the instruction count: each run level stops at the next timer's
      // deadline to deliver its interrupt while the guest runs (host/clock.ts). Nested
      // runs too: a kernel started by a boot loader runs inside StartImage.
      enterRun: () => {
        const outer = this.paced;
        const paced = (this.paced = this.icount ? this.clock.stepsAt : undefined);
        return () => {
          this.paced = outer;
          if (paced && !outer) this.icount!.stopAt(NO_LIMIT);
          this.rearm();
        };
      },
      error: (kind, message, at) => new GuestError(kind, message, at, this.tracer.last(), this.symbolize(at)),
    };
  }

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

  /** The PC, the trap gate and the CPU's hooks: the same for both entries but for the gate. */
  private wire(options: MachineOptions): PcPlatform {
    const uc = this.uc, state = this.state;
    const platform = new PcPlatform(uc, this.clock, this.ram.length, {
      onLine: (line) => this.serialLine(line, options),
      onReset: (source) => state.end({ kind: "reset", resetType: RESET_TYPE.EfiResetCold, status: 0n, source }),
      onPowerOff: () => state.end({ kind: "poweroff", source: "acpi" }),
      log: options.onLog ?? (() => {}),
      // A guest that programs a timer, unmasks or acknowledges an interrupt moves the
      // next point the paced run stops at.
      onProgrammed: () => this.rearm(),
    });
    const onPort = (port: number, size: number, value: number) => platform.portOut(port, size, value);
    const link = this.link;
    if (!link) {
      uc.hookInsnOut(onPort); // PVH: no firmware, every port a device's
    } else {
      // EFI calls through the native trap gate: the argument registers land in the
      // firmware's argument block and RAX is loaded from its STATUS slot without a koffi
      // register call (host/unicorn/native.c).
      const fw = link.fw;
      uc.hookOutGate({
        trapPort: TRAP_PORT,
        memory: new Uint8Array(fw.memory.buffer),
        ids: ARG_SLOTS.slice(0, STATUS_SLOT).map((name) => ARG_REGISTERS[name as keyof typeof ARG_REGISTERS]),
        offsets: ARG_SLOTS.slice(0, STATUS_SLOT).map((_, i) => fw.args.byteOffset + 8 * i),
        resultId: C.UC_X86_REG_RAX,
        resultOffset: fw.args.byteOffset + 8 * STATUS_SLOT,
        onTrap: (value) => {
          link.serve(value >>> 0);
          // ResetSystem or an error inside a nested run stops every level, not just the innermost.
          if (state.ended) uc.emuStop();
        },
        onPort,
      });
    }
    // Exceptions to the CPU (host/x86/cpu.ts), but the SERIALIZE Linux runs after each
    // code patch, served natively where the CPU last found one.
    const serialize = uc.hookIntrServingSerialize(this.ram, (vector) => this.cpu.onException(vector));
    this.cpu.onSerialize = serialize.learn;
    this.nativeSerializations = serialize.count;
    // An invalid opcode is Unicorn's "invalid instruction" stop unless this hook takes it;
    // taken, it reaches the interrupt hook above as #UD (Unicorn's cpu_handle_exception),
    // where RDRAND/RDSEED are run and anything else goes to the guest's own handler (a
    // kernel's BUG() and WARN() are ud2).
    uc.takeInvalidInstructions();
    uc.hookSyscall(() => this.cpu.onSyscall());
    if (this.clock.tsc) this.cpu.trapRdtsc(this.clock.tsc);
    return platform;
  }

  /** The gdb stub (host/gdb.ts), listening; gdb's view of memory is the guest's virtual one, through its page tables now. */
  private debugger(o: NonNullable<MachineOptions["gdb"]>): GdbStub {
    const link = new GdbLink(o.host, o.port, libraryInfo().path, this.uc.engineAddress);
    o.onListening?.(link.port);
    const page = (va: bigint) => this.cpu.translate(this.cpu.cr3(), va);
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
      kill: () => this.state.end({ kind: "quit" }),
      symbolize: (addr) => this.symbolize(addr),
    });
  }

  /** Long mode with paging, as UEFI 2.10 §2.3.4 promises an image. */
  private bringUp(): void {
    const fw = this.fw;
    const ram = BigInt(fw.ram.length);
    // The stack, with its lowest page a guard the page tables leave unmapped.
    const stack = fw.allocPages(MEMORY_TYPE.BootServicesData, STACK_SIZE / PAGE + 1);
    this.stackGuard = stack;
    this.stackTop = stack + BigInt(PAGE + STACK_SIZE);
    const tablePages = Number(pagingBytes(ram, this.stackGuard)) / PAGE;
    const tables = fw.allocPages(MEMORY_TYPE.BootServicesData, tablePages);
    const { bytes: pt, cr3 } = identityMap(tables, ram, this.stackGuard);
    fw.ram.set(pt, Number(tables));
    this.cpu.stackGuard = { cr3, page: this.stackGuard, stackBytes: STACK_SIZE };

    // CPU page: GDT, GDTR, trampoline (host/x86/layout.ts), then the sentinel `hlt` that
    // nested guest calls return to.
    const cpu = fw.allocPages(MEMORY_TYPE.RuntimeServicesData, 1);
    const gdt = efiGdt();
    fw.ram.set(gdtBytes(gdt), Number(cpu) + GDT_OFFSET);
    fw.ram.set(gdtr(cpu + BigInt(GDT_OFFSET), gdt), Number(cpu) + GDTR_OFFSET);
    const tr = efiTrampoline({ cr3, gdtrAddr: cpu + BigInt(GDTR_OFFSET), stackTop: this.stackTop, tlb: this.tlbGrowth(ram) });
    const trAt = cpu + BigInt(TRAMPOLINE_OFFSET);
    fw.ram.set(tr.bytes, Number(trAt));
    this.sentinel = trAt + BigInt(tr.end); // the trampoline's end label is a hlt
    // No instruction count here: once uc_emu_start has been given a count, Unicorn 2.1.1
    // flushes its whole translation cache on every later hook exit (measured: 120 µs per
    // EFI call instead of 0.5 µs). The trampoline is straight-line code ending in a hlt.
    this.uc.emuStart(trAt, 0n); // to the hlt at its end
    // A hook that stops emulation takes effect at once only inside a code-hooked range;
    // the thunks are where our hooks stop the guest.
    this.uc.preciseStops(fw.thunks, fw.thunks + BigInt(PAGE));
  }

  /** Where the trampoline grows the TLB (host/x86/tlb.ts): pages below the guard page, or above the stack. */
  private tlbGrowth(ram: bigint): TlbGrowth | undefined {
    const span = BigInt(tlbTouchBytes(TLB_ENTRIES));
    const base = this.stackGuard >= span ? 0n : this.stackTop;
    return base + span <= ram ? { base, entries: TLB_ENTRIES } : undefined;
  }

  /** Run guest code fn(a0, a1) to its return; nested when called from a hook. */
  callGuest(fn: bigint, a0: bigint, a1: bigint): bigint {
    return this.runner.call(fn, a0, a1, this.stackTop, this.sentinel);
  }

  /** "symbol+0xoff" for a guest address: in an image the host loaded (its own symbols), else from the kernel's System.map. */
  symbolize(rip: bigint): string | undefined {
    const image = this.link?.symbolize(rip);
    if (image) return image;
    if (!this.symbols) return undefined;
    return this.symbols.lookup(rip, kernelSlide(this.symbols, this.cpu.idtTarget(14)));
  }

  /** Guest physical address of va under the page tables at cr3 (identity with paging off). */
  translate(cr3: bigint, va: bigint): bigint | undefined {
    return this.cpu.translate(cr3, va);
  }

  /** In a run paced by the instruction count: guest time to the count it reaches it at. */
  private paced: ((ns: number) => bigint) | undefined;

  /**
   * In a paced run: stop at the next point an interrupt can be due. With the host's
   * clock, once the guest owns the IDT (PVH from the start, EFI after ExitBootServices;
   * in boot services the firmware's tick is served when the guest halts): raise the IRQ
   * gate now if an interrupt is pending, else at the next device deadline, from a native
   * timer thread, so that it arrives while the guest runs.
   */
  private rearm(): void {
    if (this.paced) this.icount!.stopAt(this.nextInterruptStep(this.paced));
    else if (this.gated && (!this.link || this.link.fw.bootServicesExited)) this.armGate();
  }

  private readonly gated: boolean;

  private armGate(): void {
    const now = this.clock.now();
    const interrupts = this.platform.interrupts;
    // Each device access comes here (a serial line is dozens of OUTs): the native timer
    // is only re-armed when the deadline moves.
    const due = interrupts.pending(now) ? RAISED : interrupts.nextEventNs(now);
    if (due === this.gateDue) return;
    // The gate's block hook costs every translation block a call (the EFI stub's
    // decompression ~25%): it is added when there is first something to deliver (a
    // kernel programs its timer after its banner), and is then in every block translated
    // from there on: the kernel's code from that point, and all of it again once Unicorn
    // retranslates (a full code buffer, patched code).
    if (!this.gateHooked) {
      if (due === Infinity) return;
      this.uc.setIrqLine(false);
      this.uc.irqGateSyncsPc(C.UC_X86_REG_RIP);
      this.gateHooked = true;
    }
    this.gateDue = due;
    if (due === RAISED) this.uc.setIrqLine(true);
    else this.uc.raiseIrqIn(due === Infinity ? undefined : Math.max(0, Math.ceil((due - now) / 1000)));
  }

  /** The deadline the gate is armed for (guest ns, or RAISED), until an interrupt is taken. */
  private gateDue: number | undefined;
  private gateHooked = false;

  /** The CPU can take an interrupt now (the SVM INTR exit, host/x86/cpu.ts): the pending one, if it still is, through the IDT. */
  private interruptWindow(): void {
    this.uc.setIrqLine(false);
    this.gateDue = undefined;
    this.deliverPending("running");
    this.armGate();
  }

  /** Steps between looks at an interrupt held back by IF = 0, doubling up to MAX_HELD_POLL. */
  private heldPoll = MIN_HELD_POLL;

  /**
   * HLT with interrupts on: let guest time pass (host clock: really wait, the guest's TSC
   * is the host's) to the next interrupt a device raises, and enter its handler. False
   * when none will come before the deadline.
   */
  private waitForInterrupt(deadline: number): boolean {
    const typing = this.typing;
    for (;;) {
      typing?.pump();
      if (this.state.ended) return true;
      if (this.deliverPending("halted")) return true;
      const now = this.clock.now();
      const next = this.platform.interrupts.nextEventNs(now);
      const open = typing?.open ?? false;
      if ((next === Infinity && !open) || performance.now() >= deadline) return false;
      // While input may come, sleep in short slices that a keystroke cuts short.
      if (open) typing!.input.wait(Math.min(INPUT_POLL_MS, (next - now) / 1e6, deadline - performance.now()));
      else this.clock.idleUntil(next, deadline);
    }
  }

  /** Enter the handler of the interrupt the CPU takes now, if there is one. */
  private deliverPending(when: keyof InterruptCounts): boolean {
    const i = this.platform.interrupts.take(this.clock.now());
    if (i) {
      this.cpu.deliverVector(i.vector, undefined, i.what);
      this.delivered[when]++;
      this.gateDue = undefined; // whatever the gate was armed for may be what was just taken
    }
    return i !== undefined;
  }

  private readonly delivered: InterruptCounts = { running: 0, halted: 0 };
  private nativeSerializations: () => number = () => 0;

  /** SERIALIZEs the guest ran (host/x86/cpu.ts). */
  override serializations(): number {
    return this.cpu.serializations + this.nativeSerializations();
  }

  override interruptCounts(): InterruptCounts {
    return { ...this.delivered };
  }

  /**
   * The instruction count to stop at next: the next device's interrupt, or, while one
   * is held back (IF = 0, or pending now), a look again a little later.
   */
  private nextInterruptStep(stepsAt: (ns: number) => bigint): bigint {
    const now = this.clock.now();
    const interrupts = this.platform.interrupts;
    if (!interrupts.waiting(now)) {
      this.heldPoll = MIN_HELD_POLL;
      const next = interrupts.nextEventNs(now);
      return next === Infinity ? NO_LIMIT : stepsAt(next);
    }
    const at = this.icount!.count() + this.heldPoll;
    this.heldPoll = this.heldPoll * 2n < MAX_HELD_POLL ? this.heldPoll * 2n : MAX_HELD_POLL;
    return at;
  }

  /**
   * Enter a kernel through Xen's PVH entry (host/pvh): its segments, hvm_start_info,
   * command line, memory map and initrd copied into RAM, the CPU put in the 32-bit
   * state the PVH ABI gives, no firmware and no EFI call. Runs to the kernel's end.
   */
  bootPvh(boot: PvhBoot): Ending {
    if (this.link) throw new Error("bootPvh needs a machine made with entry: \"pvh\"");
    writeRegions(this.ram, boot);
    enterPvh(this.uc, boot.entry);
    return this.enterDirectly(BigInt(boot.entry.eip), () => this.uc.regRead(C.UC_X86_REG_RAX));
  }
}
