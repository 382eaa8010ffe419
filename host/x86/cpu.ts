// The x86-64 CPU as the machine needs it beyond what Unicorn does by itself: exceptions
// delivered through the guest's IDT (Unicorn stops at them), SYSCALL (Unicorn leaves it to
// a hook), RDTSC answered from the machine's clock, and the guest's page walk for the
// host's own reads and writes of guest memory, and RDRAND/RDSEED (host/x86/random.ts).
import { Unicorn, type Context } from "../unicorn/index.ts";
import * as C from "../unicorn/consts.ts";
import { errorCodeOffset, exceptionIsIntOffset, hflagsOffset, oldExceptionOffset, svmInterceptOffset } from "../unicorn/quirks.ts";
import { deliver, DeliveryError, gateTarget, HAS_ERROR_CODE, RFLAGS_IF, RFLAGS_RF } from "./interrupts.ts";
import { translate } from "./walk.ts";
import { CR0_PG, EFER_SCE, MSR_EFER, MSR_FMASK, MSR_LSTAR, MSR_STAR, SYSCALL_BYTES } from "./regs.ts";
import type { GuestError } from "../errors.ts";
import type { Entropy } from "../entropy.ts";
import { decodeRandom, GPR, isSerialize, randomResult, SERIALIZE } from "./random.ts";

/** QEMU's hflags bit for SVM guest mode (target/i386/cpu.h HF_GUEST_MASK), and its exception number for an SVM exit, to which Unicorn adds the exit code. */
const HF_GUEST_MASK = 1 << 21;
const EXCP_VMEXIT = 0x100;
/** SVM exit codes (AMD APM vol. 2 appendix C); intercept bit n is exit code SVM_EXIT_INTR + n. */
const SVM_EXIT_INTR = 0x60, SVM_EXIT_RDTSC = 0x6e, SVM_EXIT_RDTSCP = 0x87;
/** IA32_TSC_AUX (Intel SDM vol. 4 table 2-2): what RDTSCP loads into ECX. */
const MSR_TSC_AUX = 0xc000_0103;
/** The double-fault exception's vector (SDM 3A §6.15), and the invalid opcode's. */
const DOUBLE_FAULT = 8, INVALID_OPCODE = 6;
/** The architecture's exception names (SDM 3A table 6-1), for reports. */
const EXCEPTION_NAMES: Record<number, string> = {
  0: "#DE divide error", 1: "#DB debug", 3: "#BP breakpoint", 4: "#OF overflow", 5: "#BR bound range", 6: "#UD invalid opcode",
  7: "#NM no math coprocessor", 10: "#TS invalid TSS", 11: "#NP segment not present", 12: "#SS stack fault", 13: "#GP general protection",
  16: "#MF floating-point error", 17: "#AC alignment check", 18: "#MC machine check", 19: "#XM SIMD floating-point", 21: "#CP control protection",
};
/** QEMU's hflags bit for 64-bit code (target/i386/cpu.h HF_CS64_MASK). */
const HF_CS64_MASK = 1 << 15;
/** The longest x86 instruction. */
const MAX_INSN = 15;
/** The same fault at the same place this many times in a row is a guest stuck, not progress. */
const MAX_REPEATS = 64;

export type Fault = (kind: GuestError["kind"], message: string, at: bigint) => GuestError;

export class X86Cpu {
  /** The context editCpuState saves into, allocated once. */
  private ctx: Context | undefined;
  private readonly oldExceptionOffset = oldExceptionOffset();
  private readonly errorCodeOffset = errorCodeOffset();
  private readonly hflagsOffset = hflagsOffset();
  private readonly isIntOffset = exceptionIsIntOffset();
  private lastException = "";
  private repeats = 0;
  /** A page fault in this page under these tables is the firmware stack's overflow (set by the EFI bring-up). */
  stackGuard: { cr3: bigint; page: bigint; stackBytes: number } | undefined;

  constructor(readonly uc: Unicorn, private readonly ram: DataView, private readonly fault: Fault, private readonly entropy: Entropy) {}

  rip(): bigint {
    return this.uc.regRead(C.UC_X86_REG_RIP);
  }

  /** Interrupts enabled (RFLAGS.IF). */
  interruptible(): boolean {
    return (this.uc.regRead(C.UC_X86_REG_RFLAGS) & RFLAGS_IF) !== 0n;
  }

  /**
   * RDTSC answered by `tsc` (a Clock's): SVM guest mode with the RDTSC and RDTSCP
   * intercepts set (AMD APM vol. 2 §15.9), so that Unicorn hands each one to the
   * interrupt hook as an SVM exit (host/unicorn/quirks.ts svmInterceptOffset). Nothing
   * else in Unicorn 2.1.1 looks at guest mode unless an intercept asks it to.
   */
  trapRdtsc(tsc: () => bigint): void {
    this.tsc = tsc;
    this.intercept((1n << BigInt(SVM_EXIT_RDTSC - SVM_EXIT_INTR)) | (1n << BigInt(SVM_EXIT_RDTSCP - SVM_EXIT_INTR)));
  }

  /**
   * External interrupts through the SVM INTR intercept: QEMU takes a requested interrupt
   * (Unicorn.setIrqLine) only where the CPU would — IF set, no STI or MOV SS shadow, at an
   * instruction boundary (target/i386 x86_cpu_pending_interrupt) — and there, in guest
   * mode with this intercept, exits to the interrupt hook (x86_cpu_exec_interrupt,
   * cpu_svm_check_intercept_param) instead of delivering vector 0, which is all
   * Unicorn's PIC-less QEMU knows. `window` then delivers the machine's interrupt.
   */
  interceptInterrupts(window: () => void): void {
    this.window = window;
    this.intercept(1n);
  }

  private window: (() => void) | undefined;

  /** SVM guest mode with these intercept bits added (bit n: exit code SVM_EXIT_INTR + n). */
  private intercept(bits: bigint): void {
    const at = svmInterceptOffset();
    this.editCpuState((env) => {
      env.setInt32(this.hflagsOffset, env.getInt32(this.hflagsOffset, true) | HF_GUEST_MASK, true);
      env.setBigUint64(at, env.getBigUint64(at, true) | bits, true);
      env.setInt32(this.isIntOffset, 0, true);
    });
  }

  private tsc: (() => bigint) | undefined;

  /** An intercepted RDTSC or RDTSCP (trapRdtsc), RIP at it: do what it does with the clock's TSC. */
  private answerRdtsc(exit: number): void {
    const uc = this.uc;
    const tsc = this.tsc!();
    const regs = [C.UC_X86_REG_RAX, C.UC_X86_REG_RDX], values = [tsc & 0xffffffffn, (tsc >> 32n) & 0xffffffffn];
    if (exit === SVM_EXIT_RDTSCP) regs.push(C.UC_X86_REG_RCX), values.push(uc.msrRead(MSR_TSC_AUX) & 0xffffffffn);
    regs.push(C.UC_X86_REG_RIP), values.push(uc.regRead(C.UC_X86_REG_RIP) + (exit === SVM_EXIT_RDTSCP ? 3n : 2n));
    uc.regWriteBatch(regs, values);
  }

  /** SERIALIZEs run here (answerInvalid). */
  serializations = 0;
  /** Told where a SERIALIZE was found (its RIP, CR3 and physical address), for a native fast path to run it there next time. */
  onSerialize: ((rip: bigint, cr3: bigint, phys: bigint) => void) | undefined;

  /**
   * A #UD at RIP for an instruction the machine's CPUID offers and Unicorn's model lacks:
   * RDRAND or RDSEED (host/x86/random.ts), or SERIALIZE. Runs it; false if it is something else.
   */
  private answerInvalid(rip: bigint): boolean {
    const uc = this.uc;
    const code = this.codeAt(rip);
    if (isSerialize(code)) {
      // SERIALIZE (SDM vol. 2B): nothing to wait for in an in-order emulator; the patch
      // Linux's sync_core() follows was seen as it was written (Unicorn.trackCodePages).
      // (A #UD leaves nothing to clear: QEMU records no old_exception for it, and it is no INT.)
      this.serializations++;
      const cr3 = this.cr3(), phys = this.translate(cr3, rip);
      if (phys !== undefined && (rip & 0xfffn) <= 0x1000n - BigInt(SERIALIZE.length)) this.onSerialize?.(rip, cr3, phys);
      uc.regWrite(C.UC_X86_REG_RIP, rip + BigInt(SERIALIZE.length));
      return true;
    }
    const long = (this.editCpuState((env) => env.getInt32(this.hflagsOffset, true)) & HF_CS64_MASK) !== 0;
    const insn = decodeRandom(code, long);
    if (!insn) return false;
    const random = new Uint8Array(8);
    this.entropy(random);
    const reg = GPR[insn.reg];
    const r = randomResult(insn, uc.regRead(reg), uc.regRead(C.UC_X86_REG_RFLAGS), new DataView(random.buffer).getBigUint64(0, true));
    uc.regWriteBatch([reg, C.UC_X86_REG_RFLAGS, C.UC_X86_REG_RIP], [r.reg, r.rflags, rip + BigInt(insn.length)]);
    return true;
  }

  private bytes: Uint8Array | undefined;
  private get ramBytes(): Uint8Array {
    return (this.bytes ??= new Uint8Array(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength));
  }

  /** The (up to 15) bytes of code at virtual `rip`, zeros past what is mapped: one page walk per page they lie in. */
  private codeAt(rip: bigint): Uint8Array {
    const code = new Uint8Array(MAX_INSN);
    const cr3 = this.cr3();
    for (let i = 0; i < MAX_INSN; ) {
      const va = rip + BigInt(i);
      const p = this.translate(cr3, va);
      if (p === undefined) break;
      const inPage = Math.min(MAX_INSN - i, 0x1000 - Number(va & 0xfffn), this.ram.byteLength - Number(p));
      if (inPage <= 0) break;
      code.set(this.ramBytes.subarray(Number(p), Number(p) + inPage), i);
      i += inPage;
    }
    return code;
  }

  /** Unicorn stops at CPU exceptions (its interrupt hook); deliver them through the guest's IDT as the CPU would. */
  onException(vector: number): void {
    const uc = this.uc;
    if (vector === EXCP_VMEXIT + SVM_EXIT_RDTSC || vector === EXCP_VMEXIT + SVM_EXIT_RDTSCP) return this.answerRdtsc(vector - EXCP_VMEXIT);
    if (vector === EXCP_VMEXIT + SVM_EXIT_INTR && this.window) return this.window();
    const rip = uc.regRead(C.UC_X86_REG_RIP);
    if (vector === INVALID_OPCODE && this.answerInvalid(rip)) return;
    // The error code QEMU computed (Unicorn's hook gets only the vector), then clear its
    // exception-in-flight marker and its software-interrupt flag: the host delivers the
    // exception (host/unicorn/quirks.ts).
    const errorCode = this.editCpuState((env) => {
      env.setInt32(this.oldExceptionOffset, -1, true);
      env.setInt32(this.isIntOffset, 0, true);
      return HAS_ERROR_CODE.has(vector) ? env.getInt32(this.errorCodeOffset, true) >>> 0 : undefined;
    });
    let what = vector in EXCEPTION_NAMES ? `${EXCEPTION_NAMES[vector]} (exception ${vector})` : `exception ${vector}`;
    if (vector === 14) {
      const cr2 = uc.regRead(C.UC_X86_REG_CR2);
      const g = this.stackGuard;
      if (g && uc.regRead(C.UC_X86_REG_CR3) === g.cr3 && cr2 >> 12n === g.page >> 12n) {
        throw this.fault("fault", `stack overflow: page fault at 0x${cr2.toString(16)}, in the guard page below the ${g.stackBytes >> 10} KiB stack`, rip);
      }
      what = `page fault at 0x${cr2.toString(16)} (error code 0x${errorCode!.toString(16)})`;
    }
    const key = `${what}@${rip}`;
    this.repeats = key === this.lastException ? this.repeats + 1 : 0;
    this.lastException = key;
    if (this.repeats > MAX_REPEATS) throw this.fault("fault", `${what} repeats without progress`, rip);
    this.deliverVector(vector, errorCode, what);
  }

  /** Enter the guest's handler for `vector` as the CPU would (host/x86/interrupts.ts). */
  deliverVector(vector: number, errorCode: number | undefined, what: string): void {
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
      if (vector !== DOUBLE_FAULT) return this.deliverVector(DOUBLE_FAULT, 0, `double fault (${what} could not be delivered: ${e.message})`);
      throw this.fault("fault", `triple fault: ${what}`, rip);
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

  /** uc.editContext into the one context the CPU keeps for it. */
  private editCpuState<T>(edit: (env: DataView) => T): T {
    return this.uc.editContext(edit, (this.ctx ??= this.uc.contextAlloc()));
  }

  /**
   * SYSCALL in 64-bit mode (Intel SDM vol. 2B, SYSCALL): RCX = the next RIP, R11 =
   * RFLAGS, RFLAGS masked by IA32_FMASK, CS and SS from IA32_STAR[47:32], RIP =
   * IA32_LSTAR. Unicorn leaves all of it to this hook, then adds the instruction's two
   * bytes to RIP.
   */
  onSyscall(): void {
    const uc = this.uc;
    const rip = uc.regRead(C.UC_X86_REG_RIP);
    if (!(uc.msrRead(MSR_EFER) & EFER_SCE)) throw this.fault("fault", "SYSCALL with EFER.SCE clear (#UD)", rip);
    const rflags = uc.regRead(C.UC_X86_REG_RFLAGS);
    const selector = Number((uc.msrRead(MSR_STAR) >> 32n) & 0xfffcn);
    uc.regWrite(C.UC_X86_REG_RCX, rip + SYSCALL_BYTES);
    uc.regWrite(C.UC_X86_REG_R11, rflags);
    this.enterRing0(selector, selector + 8);
    uc.regWrite(C.UC_X86_REG_RFLAGS, rflags & ~uc.msrRead(MSR_FMASK) & ~RFLAGS_RF);
    uc.regWrite(C.UC_X86_REG_RIP, uc.msrRead(MSR_LSTAR) - SYSCALL_BYTES);
  }

  /** Where the guest's IDT sends `vector`, if it has one. */
  idtTarget(vector: number): bigint | undefined {
    const idt = this.uc.mmrRead(C.UC_X86_REG_IDTR);
    const cr3 = this.cr3();
    if (idt.limit < vector * 16 + 15) return undefined;
    const lo = this.read64(cr3, idt.base + BigInt(vector * 16));
    const hi = this.read64(cr3, idt.base + BigInt(vector * 16 + 8));
    if (lo === undefined || hi === undefined) return undefined;
    return gateTarget(lo, hi);
  }

  cr3(): bigint {
    return this.uc.regRead(C.UC_X86_REG_CR3);
  }

  /** Guest physical address of va under the page tables at cr3 (identity with paging off). */
  translate(cr3: bigint, va: bigint): bigint | undefined {
    const cr0 = this.uc.regRead(C.UC_X86_REG_CR0);
    return translate(this.ram, cr0 & CR0_PG ? cr3 : 0n, va);
  }

  /** RAM offset of the 8 guest bytes at virtual va under cr3, or undefined. */
  private phys8(cr3: bigint, va: bigint): number | undefined {
    const p = this.translate(cr3, va);
    return p !== undefined && p + 8n <= BigInt(this.ram.byteLength) ? Number(p) : undefined;
  }

  read64(cr3: bigint, va: bigint): bigint | undefined {
    const p = this.phys8(cr3, va);
    return p === undefined ? undefined : this.ram.getBigUint64(p, true);
  }

  write64(cr3: bigint, va: bigint, v: bigint): boolean {
    const p = this.phys8(cr3, va);
    if (p === undefined) return false;
    this.ram.setBigUint64(p, v, true);
    return true;
  }

  /** During an EFI call: the guest's call site. In a thunk, [RSP] is the return address. */
  callSite(): bigint {
    return this.read64(this.cr3(), this.uc.regRead(C.UC_X86_REG_RSP)) ?? this.rip();
  }

  /** Unicorn returns from emulation after a HLT, with RIP past it. */
  haltedAt(rip: bigint): boolean {
    const p = this.translate(this.cr3(), rip - 1n);
    return p !== undefined && p < BigInt(this.ram.byteLength) && this.ram.getUint8(Number(p)) === 0xf4;
  }
}
