// The native Unicorn library (>= 2.1), bound with koffi. Small and flat: one class per
// engine, methods named after the uc_* calls they wrap.
//
// Finding the library, in order: $UEFICORN_LIBUNICORN; the copy scripts/setup.sh puts in
// .cache/unicorn (named by .cache/unicorn/libpath); the system's libunicorn.so.2.
// Older than 2.1 is refused (see shared ARCHITECTURE.md: 2.0.x does not translate
// through the page tables and reports a fake CPUID).
//
// Conventions:
// - The engine handle, the hook handles and the callbacks' uc/user_data pointers are
//   declared uintptr_t/size_t, so koffi hands them over as plain numbers (user-space
//   addresses are < 2^47): no BigInt per call on the hook path.
// - A JS exception inside a koffi callback does not stop the emulation (koffi rethrows
//   only when uc_emu_start returns, after the guest ran on). Every hook wrapper
//   therefore catches, records the first error, calls uc_emu_stop, and emuStart
//   rethrows it.
import type { TypeObject } from "koffi";
import { existsSync } from "node:fs";
import * as C from "./consts.ts";
import { FIX_HINT, NATIVE_LIB, libraryCandidates, loadKoffi, type LibraryCandidate } from "./library.ts";

const koffi = loadKoffi();

export * as consts from "./consts.ts";

const MIN_MAJOR = 2;
const MIN_MINOR = 1;

export type Addr = bigint | number;

// ---- errors ----------------------------------------------------------------------------

/** A uc_* call returned an error: `code` is the uc_err value, `codeName` its UC_ERR_* name. */
export class UnicornError extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly op: string;
  constructor(op: string, code: number, detail = "") {
    const codeName = C.UC_ERR_NAMES[code] ?? `UC_ERR_${code}`;
    super(`${op}: ${codeName}: ${strerror(code)}${detail}`);
    this.name = "UnicornError";
    this.code = code;
    this.codeName = codeName;
    this.op = op;
  }
}

// ---- the library -----------------------------------------------------------------------

export interface LibraryInfo extends LibraryCandidate {
  /** "MAJOR.MINOR.PATCH" as reported by uc_version(). */
  version: string;
  /** Why this version is a poor choice, if it is one (it still works). */
  warning?: string;
}

/**
 * Unicorn 2.1.2 took "Optimize Notdirty write" (unicorn-engine/unicorn#2031): pages that
 * are also executable keep QEMU's not-dirty flag, so every guest store to them takes the
 * slow path. Debian sid's 2.1.4 boots the kernel about 10 times slower than 2.1.1.
 */
export function versionWarning(maj: number, min: number, pat: number): string | undefined {
  if (maj > 2 || (maj === 2 && (min > 1 || pat >= 2))) {
    return `Unicorn ${maj}.${min}.${pat} makes guest stores to executable pages take its slow path ` +
      `(its "Optimize Notdirty write", #2031, since 2.1.2): kernels boot about 10 times slower than on 2.1.1, which setup fetches`;
  }
  return undefined;
}

type KFn = (...args: any[]) => any;
interface Bound {
  info: LibraryInfo;
  version: KFn;
  open: KFn;
  close: KFn;
  strerror: KFn;
  query: KFn;
  ctl: KFn;
  regRead: KFn;
  regWrite: KFn;
  regReadBatch: KFn;
  regWriteBatch: KFn;
  memMap: KFn;
  memMapPtr: KFn;
  memRead: KFn;
  memWrite: KFn;
  emuStart: KFn;
  emuStop: KFn;
  hookAdd: KFn;
  hookDel: KFn;
  contextAlloc: KFn;
  contextSave: KFn;
  contextSize: KFn;
  mmioMap: KFn;
  contextRestore: KFn;
  contextFree: KFn;
  /** Address of a native function safe to use as a no-op hook callback. */
  nopCallback: bigint;
  /** Addresses of uc_reg_read_batch and uc_reg_write, for the native trap gate. */
  regReadBatchPtr: bigint;
  regWritePtr: bigint;
  /** Address of uc_emu_stop, for the native stop timer. */
  emuStopPtr: bigint;
  /** The loaded library, for QEMU functions it exports (Unicorn.setIrqLine). */
  so: ReturnType<typeof koffi.load>;
}

// Callback prototypes (unicorn.h / x86.h typedefs). Registered without their names: koffi
// refuses a name twice, and a process may hold two copies of this module (the library's
// ESM and CommonJS builds, or its bundle beside the sources in the test suite).
const callback = (typedef: string) => koffi.pointer(koffi.proto(typedef.replace(/^(\w+) \w+\(/, "$1 (")));
const P = {
  port: callback("void ueficorn_port_t(uint32_t port, int32_t size, uint32_t value)"),
  u32: callback("void ueficorn_u32_t(uint32_t value)"),
  out: callback("void uc_cb_insn_out_t(uintptr_t uc, uint32_t port, int size, uint32_t value, uintptr_t ud)"),
  in: callback("uint32_t uc_cb_insn_in_t(uintptr_t uc, uint32_t port, int size, uintptr_t ud)"),
  cpuid: callback("int uc_cb_insn_cpuid_t(uintptr_t uc, uintptr_t ud)"),
  syscall: callback("void uc_cb_insn_syscall_t(uintptr_t uc, uintptr_t ud)"),
  code: callback("void uc_cb_hookcode_t(uintptr_t uc, uint64_t address, uint32_t size, uintptr_t ud)"),
  intr: callback("void uc_cb_hookintr_t(uintptr_t uc, uint32_t intno, uintptr_t ud)"),
  mmioRead: callback("uint64_t uc_cb_mmio_read_t(uintptr_t uc, uint64_t offset, uint32_t size, uintptr_t ud)"),
  mmioWrite: callback("void uc_cb_mmio_write_t(uintptr_t uc, uint64_t offset, uint32_t size, uint64_t value, uintptr_t ud)"),
  mem: callback("bool uc_cb_eventmem_t(uintptr_t uc, int type, uint64_t address, int size, int64_t value, uintptr_t ud)"),
  memAccess: callback("void uc_cb_hookmem_t(uintptr_t uc, int type, uint64_t address, int size, int64_t value, uintptr_t ud)"),
  sys: callback("uint32_t ueficorn_sys_t(int32_t reg, uint32_t key, uint64_t val)"),
};

let bound: Bound | undefined;

/** Loads (once) and checks the Unicorn library; throws a message saying how to fix it. */
export function loadUnicorn(): Bound {
  if (bound) return bound;
  const tried: string[] = [];
  for (const c of libraryCandidates()) {
    let lib: ReturnType<typeof koffi.load>;
    try {
      lib = koffi.load(c.path);
    } catch (e) {
      tried.push(`${c.path} (${c.source}): ${(e as Error).message}`);
      continue;
    }
    const ucVersion = lib.func("unsigned int uc_version(void *major, void *minor)");
    const v = (ucVersion(null, null) as number) >>> 0;
    const [maj, min, pat] = [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff];
    const version = `${maj}.${min}.${pat}`;
    if (maj < MIN_MAJOR || (maj === MIN_MAJOR && min < MIN_MINOR)) {
      lib.unload();
      throw new Error(
        `Unicorn ${version} found at ${c.path} (${c.source}) is too old: ueficorn needs >= ${MIN_MAJOR}.${MIN_MINOR} ` +
          `(2.0.x uses guest virtual addresses as physical when paging is on and reports a fake CPUID). ${FIX_HINT}`,
      );
    }
    const f = (decl: string) => lib.func(decl);
    bound = {
      info: { ...c, version, warning: versionWarning(maj, min, pat) },
      version: ucVersion,
      open: f("int uc_open(int arch, int mode, _Out_ uintptr_t *uc)"),
      close: f("int uc_close(uintptr_t uc)"),
      strerror: f("const char *uc_strerror(int code)"),
      query: f("int uc_query(uintptr_t uc, int type, _Out_ size_t *result)"),
      ctl: f("int uc_ctl(uintptr_t uc, int control, ...)"),
      // value/regs/vals point into the engine's native scratch block (see the Unicorn class)
      regRead: f("int uc_reg_read(uintptr_t uc, int regid, uintptr_t value)"),
      regWrite: f("int uc_reg_write(uintptr_t uc, int regid, uintptr_t value)"),
      regReadBatch: f("int uc_reg_read_batch(uintptr_t uc, uintptr_t regs, uintptr_t vals, int count)"),
      regWriteBatch: f("int uc_reg_write_batch(uintptr_t uc, uintptr_t regs, uintptr_t vals, int count)"),
      memMap: f("int uc_mem_map(uintptr_t uc, uint64_t address, size_t size, uint32_t perms)"),
      memMapPtr: f("int uc_mem_map_ptr(uintptr_t uc, uint64_t address, size_t size, uint32_t perms, void *ptr)"),
      memRead: f("int uc_mem_read(uintptr_t uc, uint64_t address, void *bytes, size_t size)"),
      memWrite: f("int uc_mem_write(uintptr_t uc, uint64_t address, const void *bytes, size_t size)"),
      emuStart: f("int uc_emu_start(uintptr_t uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)"),
      emuStop: f("int uc_emu_stop(uintptr_t uc)"),
      hookAdd: f("int uc_hook_add(uintptr_t uc, _Out_ size_t *hh, int type, void *callback, uintptr_t ud, uint64_t begin, uint64_t end, ...)"),
      hookDel: f("int uc_hook_del(uintptr_t uc, size_t hh)"),
      contextAlloc: f("int uc_context_alloc(uintptr_t uc, _Out_ uintptr_t *context)"),
      contextSave: f("int uc_context_save(uintptr_t uc, uintptr_t context)"),
      contextRestore: f("int uc_context_restore(uintptr_t uc, uintptr_t context)"),
      contextFree: f("int uc_context_free(uintptr_t context)"),
      contextSize: f("size_t uc_context_size(uintptr_t uc)"),
      mmioMap: f("int uc_mmio_map(uintptr_t uc, uint64_t address, size_t size, void *read_cb, uintptr_t user_data_read, void *write_cb, uintptr_t user_data_write)"),
      nopCallback: lib.symbol("uc_arch_supported") as bigint,
      regReadBatchPtr: lib.symbol("uc_reg_read_batch") as bigint,
      regWritePtr: lib.symbol("uc_reg_write") as bigint,
      emuStopPtr: lib.symbol("uc_emu_stop") as bigint,
      so: lib,
    };
    return bound;
  }
  throw new Error(`No usable libunicorn found (tried: ${tried.join("; ")}). ${FIX_HINT}`);
}

// Native callbacks (host/unicorn/native.c, built by scripts/setup.sh into
// build/libueficorn-native.so): the instruction counter, the trap gate, the host TSC.
// Loaded on first use, so the rest works without it.
export { NATIVE_LIB };
interface Native {
  /** Kept for good: koffi unloads a library whose handle is garbage-collected, and Unicorn would then call into unmapped code. */
  handle: ReturnType<typeof koffi.load>;
  icountHook: bigint;
  takeInvalid: bigint;
  gateOut: bigint;
  gateNew: KFn;
  gateFree: KFn;
  rdtsc: KFn;
  timerNew: KFn;
  timerArm: KFn;
  timerDisarm: KFn;
  timerExpired: KFn;
  timerFree: KFn;
  hugepages: KFn;
  sysHook: bigint;
  sysNew: KFn;
  sysFree: KFn;
  irqGateNew: KFn;
  irqGateFree: KFn;
  irqGateBlock: bigint;
  irqGateLine: KFn;
  irqGateSyncPc: KFn;
  irqTimerNew: KFn;
  hvcIntr: bigint;
  udIntr: bigint;
  udNew: KFn;
  udFree: KFn;
  udLearn: KFn;
  udCount: KFn;
  hvcNew: KFn;
  hvcFree: KFn;
  smcTrack: KFn;
  smcUntrack: KFn;
  smcStat: KFn;
  heapBlockSize: KFn;
}
let nativeLib: Native | undefined;

function native(): Native {
  if (!nativeLib) {
    if (!existsSync(NATIVE_LIB)) throw new Error(`${NATIVE_LIB} is missing: run \`npm run setup\` (it builds it from host/unicorn/native.c with clang)`);
    const handle = koffi.load(NATIVE_LIB);
    nativeLib = {
      handle,
      icountHook: handle.symbol("icount_hook") as bigint,
      takeInvalid: handle.symbol("take_invalid") as bigint,
      gateOut: handle.symbol("trap_gate_out") as bigint,
      gateNew: handle.func("uintptr_t trap_gate_new(void *read_batch, void *write, void *on_trap, void *on_port, uint32_t trap_port, " +
        "const int32_t *ids, const uint32_t *offsets, int32_t count, uint8_t *base, int32_t result_id, uint32_t result_offset)"),
      gateFree: handle.func("void trap_gate_free(uintptr_t g)"),
      rdtsc: handle.func("uint64_t host_rdtsc(void)"),
      timerNew: handle.func("uintptr_t stop_timer_new(uintptr_t uc, void *stop)"),
      timerArm: handle.func("void stop_timer_arm(uintptr_t t, double us)"),
      timerDisarm: handle.func("void stop_timer_disarm(uintptr_t t)"),
      timerExpired: handle.func("int32_t stop_timer_expired(uintptr_t t)"),
      timerFree: handle.func("void stop_timer_free(uintptr_t t)"),
      hugepages: handle.func("int ram_hugepages(uint8_t *p, uint64_t len)"),
      sysHook: handle.symbol("sys_filter_hook") as bigint,
      sysNew: handle.func("uintptr_t sys_filter_new(void *handler, const uint32_t *keys, int32_t count)"),
      sysFree: handle.func("void sys_filter_free(uintptr_t f)"),
      irqGateNew: handle.func("uintptr_t irq_gate_new(uintptr_t request, uintptr_t cpu_exit, uintptr_t reset, uintptr_t cpu)"),
      irqGateFree: handle.func("void irq_gate_free(uintptr_t g)"),
      irqGateBlock: handle.symbol("irq_gate_block") as bigint,
      irqGateLine: handle.func("void irq_gate_line(uintptr_t g, int32_t level)"),
      irqGateSyncPc: handle.func("void irq_gate_sync_pc(uintptr_t g, uintptr_t write, int32_t pc_id)"),
      irqTimerNew: handle.func("uintptr_t irq_timer_new(uintptr_t g)"),
      hvcIntr: handle.symbol("hvc_gate_intr") as bigint,
      udIntr: handle.symbol("ud_gate_intr") as bigint,
      udNew: handle.func("uintptr_t ud_gate_new(void *read_batch, void *write, void *on_other, void *ram, uint64_t ram_size, int32_t rip_id, int32_t cr3_id)"),
      udFree: handle.func("void ud_gate_free(uintptr_t g)"),
      udLearn: handle.func("void ud_gate_learn(uintptr_t g, uint64_t rip, uint64_t cr3, uint64_t phys)"),
      udCount: handle.func("uint64_t ud_gate_count(uintptr_t g)"),
      hvcNew: handle.func("uintptr_t hvc_gate_new(void *read_batch, void *write, void *on_call, void *on_other, uint32_t excp_hvc, " +
        "uint64_t thunks, uint64_t thunks_end, uint64_t thunk_size, int32_t pc_id, const int32_t *ids, const uint32_t *offsets, int32_t count, " +
        "uint8_t *base, int32_t result_id, uint32_t result_offset)"),
      hvcFree: handle.func("void hvc_gate_free(uintptr_t g)"),
      smcTrack: handle.func("int32_t smc_track(uintptr_t uc, const char *target, uintptr_t in_lib, uintptr_t cpu, void *reset_dirty, void *map_ram, uint32_t page_bits)"),
      smcUntrack: handle.func("void smc_untrack(uintptr_t uc)"),
      smcStat: handle.func("uint64_t smc_stat(uintptr_t uc, int32_t which)"),
      heapBlockSize: handle.func("uint64_t heap_block_size(uintptr_t p)"),
    };
  }
  return nativeLib;
}

/** The host's time-stamp counter, which Unicorn's RDTSC returns (host/unicorn/native.c). */
export function hostRdtsc(): bigint {
  return BigInt(native().rdtsc());
}

/**
 * Asks the kernel for transparent huge pages behind `ram` before it is first touched
 * (host/unicorn/native.c ram_hugepages): fewer page faults while a guest fills it. A
 * hint: where THP is off it changes nothing.
 */
export function adviseHugePages(ram: Uint8Array): void {
  native().hugepages(ram, ram.byteLength);
}

/** The loaded library: path, where it came from, version. */
export function libraryInfo(): LibraryInfo {
  return loadUnicorn().info;
}

function strerror(code: number): string {
  try {
    return loadUnicorn().strerror(code) as string;
  } catch {
    return "(no library)";
  }
}

// uc_ctl control words: type | nargs << 26 | rw << 30 (unicorn.h UC_CTL macro).
const UC_CTL_IO_WRITE = 1;
const ctlWrite = (type: number, nargs: number) => (type | (nargs << 26) | (UC_CTL_IO_WRITE << 30)) | 0;

// ---- the engine ------------------------------------------------------------------------

/** A registered hook: pass to Unicorn.hookDel. */
export interface Hook {
  readonly handle: number | bigint;
  /** The koffi-registered callback, or null for a native one. */
  readonly callback: bigint | null;
  /** Native memory of the hook's own, freed with it. */
  readonly free?: () => void;
}

/** A saved CPU context (uc_context). Free with Unicorn.contextFree or at close(). */
export interface Context {
  readonly ptr: number;
}

export interface Mmr {
  selector: number;
  base: bigint;
  limit: number;
  flags: number;
}

/** What countInstructions() gives. */
export interface InstructionCounter {
  /** Instructions executed so far; still readable after close(). */
  count(): bigint;
  /** Stop the engine before the instruction that would make the count exceed `n` (NO_LIMIT: never). */
  stopAt(n: bigint): void;
  /** True once after the engine stopped at the stopAt limit. */
  reached(): boolean;
}
export const NO_LIMIT = 2n ** 64n - 1n;

/** A countInstructions() counter: native struct icount at `ptr`; at close its count moves to `final` and `view` goes. */
interface Counter {
  ptr: bigint;
  view?: BigUint64Array;
  final: bigint;
}

const BATCH_MAX = 32;
const BATCH_VALS = 64;
const BATCH_PTRS = BATCH_VALS + 8 * BATCH_MAX;
const BATCH_IDS = BATCH_PTRS + 8 * BATCH_MAX;
const SCRATCH_SIZE = BATCH_IDS + 4 * BATCH_MAX;

/** An AArch64 system register by its MRS/MSR encoding (Arm ARM D17: op0, op1, CRn, CRm, op2). */
export interface SysReg { op0: number; op1: number; crn: number; crm: number; op2: number }
const sysRegName = (r: SysReg) => `S${r.op0}_${r.op1}_C${r.crn}_C${r.crm}_${r.op2}`;
/** A system register's encoding packed into one number, as hookSysRegs reports it (native.c sys_key). */
export const sysRegKey = (r: SysReg) => (r.op0 << 16) | (r.op1 << 12) | (r.crn << 8) | (r.crm << 4) | r.op2;

export class Unicorn {
  /** Engines open in this process: a run that ends any way at all closes its own. */
  static live = 0;
  readonly mode: number;
  private readonly lib: Bound;
  private h: number;
  private readonly hooks = new Set<Hook>();
  private readonly contexts = new Set<Context>();
  private readonly counters: Counter[] = [];
  private hasPending = false;
  private pending: unknown = undefined;

  // One native (non-moving) scratch block per engine, passed to uc_reg_* as a plain
  // uintptr_t (inside a hook a koffi call with a typed-array argument costs ~20 ns more):
  //   [0, 64)      value of uc_reg_read/write: up to ZMM size, uc_x86_msr, uc_x86_mmr
  //   [64, 320)    batch values, 32 x u64
  //   [320, 576)   batch pointers to those values, 32 x pointer
  //   [576, 704)   batch register ids, 32 x int
  private scratchPtr: bigint;
  private readonly sAddr: number;
  private readonly s64: BigUint64Array;
  private readonly s32: Uint32Array;
  private readonly s16: Uint16Array;
  private readonly sIds: Int32Array;

  /**
   * Opens an engine for `arch` (default x86, whose `mode` UC_MODE_64, UC_MODE_32 or
   * UC_MODE_16 is the CPU's initial mode). The register, MSR and instruction-hook helpers
   * below are x86's.
   */
  constructor(mode: number = C.UC_MODE_64, readonly arch: number = C.UC_ARCH_X86) {
    this.lib = loadUnicorn();
    this.mode = mode;
    const out: [number | null] = [null];
    this.check("uc_open", this.lib.open(arch, mode, out));
    this.h = out[0] as number;
    Unicorn.live++;
    this.scratchPtr = koffi.alloc("uint8_t", SCRATCH_SIZE) as bigint;
    this.sAddr = Number(this.scratchPtr);
    const ab = koffi.view(this.scratchPtr, SCRATCH_SIZE);
    this.s64 = new BigUint64Array(ab);
    this.s32 = new Uint32Array(ab);
    this.s16 = new Uint16Array(ab);
    this.sIds = new Int32Array(ab, BATCH_IDS, BATCH_MAX);
    for (let i = 0; i < BATCH_MAX; i++) this.s64[BATCH_PTRS / 8 + i] = this.scratchPtr + BigInt(BATCH_VALS + 8 * i);
  }

  /**
   * Before the engine starts (its first mapping, hook or run): translate with target
   * pages of `bytes` (uc_ctl UC_CTL_UC_PAGE_SIZE). False where the library refuses it for
   * this architecture (2.1.1 takes only ARM; see host/arm64/machine.ts).
   */
  targetPageSize(bytes: number): boolean {
    return this.lib.ctl(this.handle, ctlWrite(C.UC_CTL_UC_PAGE_SIZE, 1), "uint32_t", bytes) === 0;
  }

  /** The engine's own state (Unicorn's uc_struct) as bytes, for a quirk found by experiment (host/unicorn/quirks.ts). */
  engineState(): DataView {
    const size = Number(native().heapBlockSize(this.handle));
    return new DataView(koffi.view(BigInt(this.handle), size));
  }

  /** Library version "MAJOR.MINOR.PATCH". */
  version(): string {
    return this.lib.info.version;
  }

  private check(op: string, err: number, detail = ""): void {
    if (err !== 0) throw new UnicornError(op, err, detail);
  }

  /** The uc_engine pointer, for another thread that may only call uc_emu_stop on it (host/gdb.ts). */
  get engineAddress(): number {
    return this.handle;
  }

  private get handle(): number {
    if (!this.h) throw new Error("Unicorn engine is closed");
    return this.h;
  }

  // ---- memory --------------------------------------------------------------------------

  /** Maps fresh zeroed memory owned by Unicorn. addr and size 4 KiB aligned. */
  memMap(addr: Addr, size: number, perms: number = C.UC_PROT_ALL): void {
    this.check("uc_mem_map", this.lib.memMap(this.handle, addr, size, perms), ` (addr ${hex(addr)}, size ${hex(size)})`);
  }

  /**
   * Maps `view` (base + byteOffset, in place, view.byteLength bytes) at guest physical
   * `addr`. The caller guarantees the buffer never moves or shrinks while mapped: a
   * fixed-size WebAssembly.Memory (initial = maximum) is such a buffer.
   */
  memMapPtr(addr: Addr, view: Uint8Array, perms: number = C.UC_PROT_ALL): void {
    this.check(
      "uc_mem_map_ptr",
      this.lib.memMapPtr(this.handle, addr, view.byteLength, perms, view),
      ` (addr ${hex(addr)}, size ${hex(view.byteLength)})`,
    );
  }

  /** Reads guest memory by physical address (see the report: uc_mem_read does not walk page tables). */
  memRead(addr: Addr, len: number): Uint8Array {
    return this.memReadInto(addr, new Uint8Array(len));
  }

  memReadInto(addr: Addr, dst: Uint8Array): Uint8Array {
    this.check("uc_mem_read", this.lib.memRead(this.handle, addr, dst, dst.byteLength), ` (addr ${hex(addr)}, len ${dst.byteLength})`);
    return dst;
  }

  memWrite(addr: Addr, bytes: Uint8Array): void {
    this.check("uc_mem_write", this.lib.memWrite(this.handle, addr, bytes, bytes.byteLength), ` (addr ${hex(addr)}, len ${bytes.byteLength})`);
  }

  // ---- registers -----------------------------------------------------------------------

  /** Reads a register (UC_X86_REG_*) as an unsigned 64-bit value (low 64 bits for wider ones). */
  regRead(id: number): bigint {
    const h = this.handle;
    this.s64[0] = 0n; // segment and 16/32-bit registers write fewer than 8 bytes
    const err = this.lib.regRead(h, id, this.sAddr);
    if (err !== 0) this.check("uc_reg_read", err, ` (reg ${id})`);
    return this.s64[0];
  }

  regWrite(id: number, value: bigint | number): void {
    const h = this.handle;
    this.s64[0] = BigInt.asUintN(64, BigInt(value));
    const err = this.lib.regWrite(h, id, this.sAddr);
    if (err !== 0) this.check("uc_reg_write", err, ` (reg ${id})`);
  }

  /** Reads up to 32 registers (64-bit values) in one call into `out`. */
  regReadBatch(ids: ArrayLike<number>, out: BigUint64Array = new BigUint64Array(ids.length)): BigUint64Array {
    const h = this.handle;
    const n = ids.length;
    if (n > BATCH_MAX) throw new RangeError(`regReadBatch: at most ${BATCH_MAX} registers`);
    const v = this.s64;
    const base = BATCH_VALS / 8;
    for (let i = 0; i < n; i++) {
      this.sIds[i] = ids[i];
      v[base + i] = 0n;
    }
    const err = this.lib.regReadBatch(h, this.sAddr + BATCH_IDS, this.sAddr + BATCH_PTRS, n);
    if (err !== 0) this.check("uc_reg_read_batch", err);
    for (let i = 0; i < n; i++) out[i] = v[base + i];
    return out;
  }

  /** Writes up to 32 registers (64-bit values) in one call. */
  regWriteBatch(ids: ArrayLike<number>, values: ArrayLike<bigint>): void {
    const h = this.handle;
    const n = ids.length;
    if (n > BATCH_MAX) throw new RangeError(`regWriteBatch: at most ${BATCH_MAX} registers`);
    const v = this.s64;
    const base = BATCH_VALS / 8;
    for (let i = 0; i < n; i++) {
      this.sIds[i] = ids[i];
      v[base + i] = BigInt.asUintN(64, values[i]);
    }
    const err = this.lib.regWriteBatch(h, this.sAddr + BATCH_IDS, this.sAddr + BATCH_PTRS, n);
    if (err !== 0) this.check("uc_reg_write_batch", err);
  }

  /** Reads an MSR through UC_X86_REG_MSR (struct uc_x86_msr { u32 rid; u64 value @8 }). */
  msrRead(rid: number): bigint {
    const h = this.handle;
    this.s64[0] = 0n;
    this.s64[1] = 0n;
    this.s32[0] = rid >>> 0;
    this.check("uc_reg_read(MSR)", this.lib.regRead(h, C.UC_X86_REG_MSR, this.sAddr), ` (msr ${hex(rid)})`);
    return this.s64[1];
  }

  msrWrite(rid: number, value: bigint | number): void {
    const h = this.handle;
    this.s64[0] = 0n;
    this.s32[0] = rid >>> 0;
    this.s64[1] = BigInt.asUintN(64, BigInt(value));
    this.check("uc_reg_write(MSR)", this.lib.regWrite(h, C.UC_X86_REG_MSR, this.sAddr), ` (msr ${hex(rid)})`);
  }

  /**
   * Reads GDTR/IDTR/LDTR/TR as struct uc_x86_mmr
   * { u16 selector @0; u64 base @8; u32 limit @16; u32 flags @20 } (24 bytes).
   */
  mmrRead(id: number): Mmr {
    const h = this.handle;
    this.s64.fill(0n, 0, 3);
    this.check("uc_reg_read(MMR)", this.lib.regRead(h, id, this.sAddr), ` (reg ${id})`);
    return { selector: this.s16[0], base: this.s64[1], limit: this.s32[4], flags: this.s32[5] };
  }

  mmrWrite(id: number, mmr: { base: bigint | number; limit: number; selector?: number; flags?: number }): void {
    const h = this.handle;
    this.s64.fill(0n, 0, 3);
    this.s16[0] = mmr.selector ?? 0;
    this.s64[1] = BigInt.asUintN(64, BigInt(mmr.base));
    this.s32[4] = mmr.limit >>> 0;
    this.s32[5] = (mmr.flags ?? 0) >>> 0;
    this.check("uc_reg_write(MMR)", this.lib.regWrite(h, id, this.sAddr), ` (reg ${id})`);
  }

  /**
   * An AArch64 system register through UC_ARM64_REG_CP_REG (struct uc_arm64_cp_reg
   * { u32 crn, crm, op0, op1, op2; u64 val @24 }), named by its MRS/MSR encoding.
   */
  sysRegRead(r: SysReg): bigint {
    this.sysRegSet(r, 0n);
    this.check("uc_reg_read(CP_REG)", this.lib.regRead(this.handle, C.UC_ARM64_REG_CP_REG, this.sAddr), ` (${sysRegName(r)})`);
    return this.s64[3];
  }

  sysRegWrite(r: SysReg, value: bigint | number): void {
    this.sysRegSet(r, BigInt.asUintN(64, BigInt(value)));
    this.check("uc_reg_write(CP_REG)", this.lib.regWrite(this.handle, C.UC_ARM64_REG_CP_REG, this.sAddr), ` (${sysRegName(r)})`);
  }

  private sysRegSet(r: SysReg, value: bigint): void {
    this.s32.set([r.crn, r.crm, r.op0, r.op1, r.op2, 0]);
    this.s64[3] = value;
  }

  /** The program counter, whatever the architecture. */
  pc(): bigint {
    return this.regRead(this.arch === C.UC_ARCH_ARM64 ? C.UC_ARM64_REG_PC : C.UC_X86_REG_RIP);
  }

  // ---- emulation -----------------------------------------------------------------------

  /**
   * Runs from `begin` until RIP == `until`, `timeoutUs` microseconds or `count`
   * instructions (0 = no limit). Rethrows the first error thrown by a hook during the
   * run; throws UnicornError (with RIP) when Unicorn stops on a fault.
   */
  emuStart(begin: Addr, until: Addr, timeoutUs: number = 0, count: number = 0): void {
    const err = this.lib.emuStart(this.handle, begin, until, timeoutUs, count);
    if (this.hasPending) {
      const e = this.pending;
      this.hasPending = false;
      this.pending = undefined;
      throw e;
    }
    if (err !== 0) {
      let rip = "?";
      try {
        rip = hex(this.pc());
      } catch {}
      throw new UnicornError("uc_emu_start", err, ` (${this.arch === C.UC_ARCH_ARM64 ? "PC" : "RIP"} ${rip})`);
    }
  }

  private stopTimer = 0;

  /**
   * Stops emulation `us` microseconds from now: the running emuStart, and until
   * disarmed any started after the deadline. A native thread that sleeps until then
   * (host/unicorn/native.c stop_timer), where emuStart's `timeoutUs` has Unicorn poll
   * the clock every 2 µs for as long as the guest runs.
   */
  armStopTimer(us: number): void {
    const n = native();
    if (!this.stopTimer) {
      this.stopTimer = Number(n.timerNew(this.handle, this.lib.emuStopPtr));
      if (!this.stopTimer) throw new Error("stop timer: no thread could be started");
    }
    n.timerArm(this.stopTimer, us);
  }

  disarmStopTimer(): void {
    if (this.stopTimer) native().timerDisarm(this.stopTimer);
  }

  /** The armed stop timer's deadline has passed (and it has stopped the engine). */
  stopTimerExpired(): boolean {
    return this.stopTimer !== 0 && native().timerExpired(this.stopTimer) !== 0;
  }

  /** Asks the current emuStart to return (from a hook). */
  emuStop(): void {
    this.check("uc_emu_stop", this.lib.emuStop(this.handle));
  }

  /** uc_query(UC_QUERY_*). */
  query(type: number): number {
    const out: [number | bigint | null] = [null];
    this.check("uc_query", this.lib.query(this.handle, type, out));
    return Number(out[0]);
  }

  /**
   * From now on emuStart's `until` is ignored and no address ends a run: runs end at a
   * HLT, a stop or an error (uc_ctl UC_CTL_UC_USE_EXITS with no exit set).
   *
   * Why: at the end of every uc_emu_start, Unicorn 2.1.1 drops the translation of the
   * instruction before the exit address (resume_all_vcpus: uc_invalidate_tb(exit - 1)),
   * and finds it through the guest's page tables as they are then. When the guest has
   * unmapped that address (a kernel past its early boot), the lookup raises a page fault
   * outside any running code: QEMU records it as the exception in flight
   * (old_exception) and long-jumps into a finished frame. The guest's next real fault
   * then becomes a double fault, the one after a triple fault, and the engine resets
   * itself and stops, with no hook told (seen: Linux hanging in execve of /init).
   */
  noExitAddress(): void {
    this.check("uc_ctl(USE_EXITS)", this.lib.ctl(this.handle, ctlWrite(C.UC_CTL_UC_USE_EXITS, 1), "int", 1));
  }

  /** Drops translated code for [begin, end) only (uc_ctl_remove_cache); a full flush costs ~100 ms. */
  /**
   * Drop every translated block and TLB entry: a memory hook added later reaches only code
   * translated, and pages filled into the TLB, after it (a TLB hit does not call hooks).
   */
  flushTranslations(): void {
    this.check("uc_ctl(TB_FLUSH)", this.lib.ctl(this.handle, ctlWrite(C.UC_CTL_TB_FLUSH, 0)));
    this.check("uc_ctl(TLB_FLUSH)", this.lib.ctl(this.handle, ctlWrite(C.UC_CTL_TLB_FLUSH, 0)));
  }

  /** Drops every translated block (not the TLB). */
  flushCode(): void {
    this.check("uc_ctl(TB_FLUSH)", this.lib.ctl(this.handle, ctlWrite(C.UC_CTL_TB_FLUSH, 0)));
  }

  removeCache(begin: Addr, end: Addr): void {
    this.check("uc_ctl(TB_REMOVE_CACHE)", this.lib.ctl(this.handle, ctlWrite(C.UC_CTL_TB_REMOVE_CACHE, 2), "uint64_t", BigInt(begin), "uint64_t", BigInt(end)));
  }

  // ---- contexts (for calling back into the guest from a hook) --------------------------

  contextAlloc(): Context {
    const out: [number | null] = [null];
    this.check("uc_context_alloc", this.lib.contextAlloc(this.handle, out));
    const ctx: Context = { ptr: out[0] as number };
    this.contexts.add(ctx);
    return ctx;
  }

  /** Saves the CPU state into `ctx` (a new one by default) and returns it. */
  /**
   * The raw bytes of a saved context (the uc_context header and the CPU state after it),
   * in place: writes change what contextRestore loads.
   */
  contextBytes(ctx: Context): Uint8Array {
    const size = Number(this.lib.contextSize(this.handle));
    return new Uint8Array(koffi.view(ctx.ptr, size));
  }

  contextSave(ctx: Context = this.contextAlloc()): Context {
    this.check("uc_context_save", this.lib.contextSave(this.handle, ctx.ptr));
    return ctx;
  }

  contextRestore(ctx: Context): void {
    this.check("uc_context_restore", this.lib.contextRestore(this.handle, ctx.ptr));
  }

  /**
   * Read and change CPU state Unicorn does not expose (QEMU's env, at offsets found by
   * host/unicorn/quirks.ts): save a context (into `ctx` when given), let `edit` work on
   * its bytes, restore it.
   */
  editContext<T>(edit: (env: DataView) => T, ctx?: Context): T {
    const saved = this.contextSave(ctx);
    const bytes = this.contextBytes(saved);
    const result = edit(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.contextRestore(saved);
    return result;
  }

  contextFree(ctx: Context): void {
    if (!this.contexts.delete(ctx)) return;
    this.check("uc_context_free", this.lib.contextFree(ctx.ptr));
  }

  // ---- hooks ---------------------------------------------------------------------------

  /**
   * Device memory at [addr, addr + size) (uc_mmio_map): reads and writes call back with
   * the offset into the region. Callbacks follow the hook rules (errors stop the run).
   */
  mmioMap(addr: Addr, size: number, read: (offset: bigint, size: number) => bigint, write: (offset: bigint, size: number, value: bigint) => void): void {
    const r = koffi.register((_uc: number, offset: number | bigint, sz: number) => {
      try {
        return read(BigInt(offset), sz);
      } catch (e) {
        this.fail(e);
        return 0n;
      }
    }, P.mmioRead);
    const w = koffi.register((_uc: number, offset: number | bigint, sz: number, value: number | bigint) => {
      try {
        write(BigInt(offset), sz, BigInt.asUintN(64, BigInt(value)));
      } catch (e) {
        this.fail(e);
      }
    }, P.mmioWrite);
    this.hooks.add({ handle: 0, callback: r });
    this.hooks.add({ handle: 0, callback: w });
    this.check("uc_mmio_map", this.lib.mmioMap(this.handle, addr, size, r, 0, w, 0), ` (0x${addr.toString(16)}+0x${size.toString(16)})`);
  }

  /** Records the first error of a run and stops it; emuStart rethrows it. */
  private fail(e: unknown): void {
    if (!this.hasPending) {
      this.hasPending = true;
      this.pending = e;
    }
    this.lib.emuStop(this.h);
  }

  private addHook(type: number, proto: TypeObject, fn: Function, begin: Addr, end: Addr, extra: unknown[] = []): Hook {
    const callback = koffi.register(fn, proto);
    const out: [number | bigint | null] = [null];
    const err = this.lib.hookAdd(this.handle, out, type, callback, 0, begin, end, ...extra);
    if (err !== 0) {
      koffi.unregister(callback);
      this.check("uc_hook_add", err, ` (type ${type})`);
    }
    const hook: Hook = { handle: out[0]!, callback };
    this.hooks.add(hook);
    return hook;
  }

  /** OUT instruction: cb(port, size in bytes, value). The guest resumes after it. */
  hookInsnOut(cb: (port: number, size: number, value: number) => void): Hook {
    const fn = (_uc: number, port: number, size: number, value: number) => {
      try {
        cb(port, size, value);
      } catch (e) {
        this.fail(e);
      }
    };
    return this.addHook(C.UC_HOOK_INSN, P.out, fn, 1, 0, ["int", C.UC_X86_INS_OUT]);
  }

  /**
   * OUT instruction through the native trap gate (host/unicorn/native.c): an OUT to
   * `trapPort` first has registers `ids` read into `memory` at `offsets`, then calls
   * onTrap(value), then loads register `resultId` from `memory` at `resultOffset`; any
   * other port calls onPort(port, size, value). `memory` must never move while the hook
   * lives (a fixed-size WebAssembly.Memory). Replaces hookInsnOut where a call's
   * registers are wanted: no koffi register call on the way.
   */
  hookOutGate(o: {
    trapPort: number; memory: Uint8Array; ids: number[]; offsets: number[]; resultId: number; resultOffset: number;
    onTrap: (value: number) => void; onPort: (port: number, size: number, value: number) => void;
  }): Hook {
    const n = native();
    const onTrap = koffi.register((_port: number, _size: number, value: number) => {
      try {
        o.onTrap(value >>> 0);
      } catch (e) {
        this.fail(e);
      }
    }, P.port);
    const onPort = koffi.register((port: number, size: number, value: number) => {
      try {
        o.onPort(port, size, value >>> 0);
      } catch (e) {
        this.fail(e);
      }
    }, P.port);
    const lib = this.lib;
    const gate = n.gateNew(lib.regReadBatchPtr, lib.regWritePtr, onTrap, onPort, o.trapPort,
      Int32Array.from(o.ids), Uint32Array.from(o.offsets), o.ids.length, o.memory, o.resultId, o.resultOffset) as number | bigint;
    if (!gate) {
      koffi.unregister(onTrap);
      koffi.unregister(onPort);
      throw new RangeError(`hookOutGate: ${o.ids.length} registers (at most 8), or no memory`);
    }
    const out: [number | bigint | null] = [null];
    const err = lib.hookAdd(this.handle, out, C.UC_HOOK_INSN, n.gateOut, gate, 1, 0, "int", C.UC_X86_INS_OUT);
    if (err !== 0) {
      n.gateFree(gate);
      koffi.unregister(onTrap);
      koffi.unregister(onPort);
      this.check("uc_hook_add(trap gate)", err);
    }
    // The other callback and the gate go with the hook (hookDel, close).
    const hook: Hook = { handle: out[0]!, callback: onTrap, free: () => { koffi.unregister(onPort); n.gateFree(gate); } };
    this.hooks.add(hook);
    return hook;
  }

  /**
   * AArch64 EFI calls through a native HVC gate (host/unicorn/native.c hvc_gate_intr), the
   * counterpart of hookOutGate: for an HVC (exception `excpHvc`) from a thunk in
   * [thunks, thunksEnd), `thunkSize` bytes each, registers `ids` land at memory +
   * offsets, onCall(id) serves the call, and register `resultId` is loaded from memory +
   * resultOffset, without a koffi register call; every other exception goes to onOther
   * as hookIntr's callback would get it.
   */
  hookHvcGate(o: {
    excpHvc: number; thunks: bigint; thunksEnd: bigint; thunkSize: number; pcId: number;
    memory: Uint8Array; ids: number[]; offsets: number[]; resultId: number; resultOffset: number;
    onCall: (id: number) => void; onOther: (intno: number) => void;
  }): Hook {
    const n = native();
    const guard = (f: (v: number) => void) => koffi.register((v: number) => {
      try {
        f(v >>> 0);
      } catch (e) {
        this.fail(e);
      }
    }, P.u32);
    const onCall = guard(o.onCall), onOther = guard(o.onOther);
    const lib = this.lib;
    const gate = n.hvcNew(lib.regReadBatchPtr, lib.regWritePtr, onCall, onOther, o.excpHvc, o.thunks, o.thunksEnd, BigInt(o.thunkSize), o.pcId,
      Int32Array.from(o.ids), Uint32Array.from(o.offsets), o.ids.length, o.memory, o.resultId, o.resultOffset) as number | bigint;
    if (!gate) {
      koffi.unregister(onCall);
      koffi.unregister(onOther);
      throw new RangeError(`hookHvcGate: ${o.ids.length} registers (at most 12), or no memory`);
    }
    const out: [number | bigint | null] = [null];
    const err = lib.hookAdd(this.handle, out, C.UC_HOOK_INTR, n.hvcIntr, gate, 1, 0);
    if (err !== 0) {
      n.hvcFree(gate);
      koffi.unregister(onCall);
      koffi.unregister(onOther);
      this.check("uc_hook_add(hvc gate)", err);
    }
    const hook: Hook = { handle: out[0]!, callback: onCall, free: () => { koffi.unregister(onOther); n.hvcFree(gate); } };
    this.hooks.add(hook);
    return hook;
  }

  /**
   * AArch64 MRS, MSR and SYS (cache and TLB maintenance: op0 1) of the system registers
   * `regs` (others run as Unicorn has them,
   * filtered natively: host/unicorn/native.c sys_filter_hook). cb(rt, reg, value) gets
   * the general register (a UC_ARM64_REG_* id), the register's key (sysRegKey) and, for
   * an MSR, the value written; for an MRS it writes rt itself. It returns true when it
   * emulated the access (the instruction is skipped), false to let Unicorn run it.
   */
  hookSysRegs(regs: readonly SysReg[], cb: (rt: number, key: number, value: bigint, write: boolean) => boolean): Hook[] {
    const n = native();
    const hooks: Hook[] = [];
    for (const [insn, write] of [[C.UC_ARM64_INS_MRS, false], [C.UC_ARM64_INS_MSR, true], [C.UC_ARM64_INS_SYS, true]] as const) {
      const handler = koffi.register((rt: number, key: number, value: number | bigint) => {
        try {
          return cb(rt, key, BigInt.asUintN(64, BigInt(value)), write) ? 1 : 0;
        } catch (e) {
          this.fail(e);
          return 1;
        }
      }, P.sys);
      const filter = n.sysNew(handler, Uint32Array.from(regs.map(sysRegKey)), regs.length) as number | bigint;
      if (!filter) {
        koffi.unregister(handler);
        throw new RangeError(`hookSysRegs: ${regs.length} registers, at most 16`);
      }
      const out: [number | bigint | null] = [null];
      const err = this.lib.hookAdd(this.handle, out, C.UC_HOOK_INSN, n.sysHook, filter, 1, 0, "int", insn);
      if (err !== 0) {
        n.sysFree(filter);
        koffi.unregister(handler);
        this.check("uc_hook_add(sysreg)", err);
      }
      const hook: Hook = { handle: out[0]!, callback: handler, free: () => n.sysFree(filter) };
      this.hooks.add(hook);
      hooks.push(hook);
    }
    return hooks;
  }

  private irqFns: { request: bigint; exit: bigint; reset: bigint; cpu: bigint } | undefined;

  /**
   * Drives the CPU's interrupt input through the native IRQ gate (host/unicorn/native.c
   * irq_gate_*): raised, QEMU is asked for the interrupt (CPU_INTERRUPT_HARD) at the start
   * of the next translation block and takes it once the CPU can (AArch64: PSTATE.I clear,
   * the IRQ exception as the CPU takes it; x86: IF set and no STI/MOV SS shadow, where the
   * host's SVM INTR intercept hands it to the interrupt hook, host/x86/cpu.ts); lowered,
   * it is no longer requested. Call it once before the guest's first instruction: the
   * gate's block hook is only in blocks translated after it.
   */
  setIrqLine(level: boolean): void {
    native().irqGateLine(this.irqGate(), level ? 1 : 0);
  }

  private gate = 0;

  /**
   * The gate sets the PC register `pcId` to the block's start when it requests the
   * interrupt: needed where a UC_HOOK_CODE hook exists (native.c irq_gate_sync_pc).
   */
  irqGateSyncsPc(pcId: number): void {
    native().irqGateSyncPc(this.irqGate(), this.lib.regWritePtr, pcId);
  }

  /** The IRQ gate and its native block hook, made on first use. */
  private irqGate(): number {
    if (this.gate) return this.gate;
    const f = this.cpuFns();
    const n = native();
    const gate = Number(n.irqGateNew(f.request, f.exit, f.reset, f.cpu));
    if (!gate) throw new Error("IRQ gate: out of memory");
    const out: [number | bigint | null] = [null];
    const err = this.lib.hookAdd(this.handle, out, C.UC_HOOK_BLOCK, n.irqGateBlock, gate, 1, 0);
    if (err !== 0) {
      n.irqGateFree(gate);
      this.check("uc_hook_add(irq gate)", err);
    }
    this.hooks.add({ handle: out[0]!, callback: null });
    return (this.gate = gate);
  }

  /**
   * From the interrupt hook: let the AArch64 CPU take the synchronous exception Unicorn
   * is reporting, as it would have without the hook: QEMU's arm_cpu_do_interrupt (which
   * libunicorn exports) with the syndrome, fault address and target EL QEMU recorded
   * when it raised it: ESR_EL1, FAR_EL1, ELR_EL1, SPSR_EL1, the stack pointer and the
   * vector at VBAR_EL1 are set as the architecture says. The run goes on at the vector.
   */
  takeException(): void {
    (this.doInterrupt ??= this.lib.so.func("void arm_cpu_do_interrupt_aarch64(uintptr_t cs)"))(this.cpuFns().cpu);
  }

  private doInterrupt: KFn | undefined;

  private irqTimer = 0;

  /**
   * Raises the CPU's interrupt input `us` microseconds from now, from a native thread
   * (host/unicorn/native.c irq_timer_new) through the IRQ gate, while the guest runs; a
   * later call moves the deadline, undefined cancels it. The host lowers the line
   * (setIrqLine) when its interrupt controller says so.
   */
  raiseIrqIn(us: number | undefined): void {
    const n = native();
    if (!this.irqTimer) {
      this.irqTimer = Number(n.irqTimerNew(this.irqGate()));
      if (!this.irqTimer) throw new Error("IRQ timer: no thread could be started");
    }
    if (us === undefined) n.timerDisarm(this.irqTimer);
    else n.timerArm(this.irqTimer, us);
  }

  private cpuFns(): NonNullable<Unicorn["irqFns"]> {
    if (!this.irqFns) {
      const lib = this.lib.so;
      // qemu_get_cpu (one per target, by its suffix) matches the CPU's cpu_index, which
      // Unicorn 2.1.1 leaves at QEMU's UNASSIGNED_CPU_INDEX (-1): ask for 0, then for that.
      const target = this.arch === C.UC_ARCH_ARM64 ? "aarch64" : "x86_64";
      const get = lib.func(`uintptr_t qemu_get_cpu_${target}(uintptr_t uc, int index)`);
      const cpu = (get(this.handle, 0) || get(this.handle, -1)) as number | bigint;
      if (!cpu) throw new Error(`the engine has no CPU (qemu_get_cpu_${target} found none)`);
      this.irqFns = {
        request: lib.symbol("cpu_interrupt_handler") as bigint, exit: lib.symbol("cpu_exit") as bigint,
        reset: lib.symbol("cpu_reset_interrupt") as bigint, cpu: BigInt(cpu),
      };
    }
    return this.irqFns;
  }

  /** IN instruction: cb(port, size in bytes) returns the value read. */
  hookInsnIn(cb: (port: number, size: number) => number): Hook {
    const fn = (_uc: number, port: number, size: number) => {
      try {
        return cb(port, size) >>> 0;
      } catch (e) {
        this.fail(e);
        return 0;
      }
    };
    return this.addHook(C.UC_HOOK_INSN, P.in, fn, 1, 0, ["int", C.UC_X86_INS_IN]);
  }

  /** CPUID: cb() returns true if it set EAX/EBX/ECX/EDX itself (the instruction is skipped). */
  hookCpuid(cb: () => boolean): Hook {
    const fn = () => {
      try {
        return cb() ? 1 : 0;
      } catch (e) {
        this.fail(e);
        return 1;
      }
    };
    return this.addHook(C.UC_HOOK_INSN, P.cpuid, fn, 1, 0, ["int", C.UC_X86_INS_CPUID]);
  }

  /**
   * SYSCALL: Unicorn runs none of the instruction itself (helper_syscall only calls this
   * hook), and adds the instruction's length to RIP after the hook returns.
   */
  hookSyscall(cb: () => void): Hook {
    const fn = () => {
      try {
        cb();
      } catch (e) {
        this.fail(e);
      }
    };
    return this.addHook(C.UC_HOOK_INSN, P.syscall, fn, 1, 0, ["int", C.UC_X86_INS_SYSCALL]);
  }

  /** Every instruction in [begin, end] (all if begin > end): cb(address, size). Slow. */
  hookCode(begin: Addr, end: Addr, cb: (address: bigint, size: number) => void): Hook {
    const fn = (_uc: number, address: number | bigint, size: number) => {
      try {
        cb(BigInt.asUintN(64, BigInt(address)), size);
      } catch (e) {
        this.fail(e);
      }
    };
    return this.addHook(C.UC_HOOK_CODE, P.code, fn, begin, end);
  }

  /** Every basic block starting in [begin, end] (all if begin > end): cb(address, size). */
  hookBlock(begin: Addr, end: Addr, cb: (address: bigint, size: number) => void): Hook {
    const fn = (_uc: number, address: number | bigint, size: number) => {
      try {
        cb(BigInt.asUintN(64, BigInt(address)), size);
      } catch (e) {
        this.fail(e);
      }
    };
    return this.addHook(C.UC_HOOK_BLOCK, P.code, fn, begin, end);
  }

  /** Guest reads or writes (by virtual address) in [begin, end]: cb(address, size). Slows every access there. */
  hookMemAccess(kind: "read" | "write", begin: Addr, end: Addr, cb: (address: bigint, size: number) => void): Hook {
    const fn = (_uc: number, _type: number, address: number | bigint, size: number) => {
      try {
        cb(BigInt.asUintN(64, BigInt(address)), size);
      } catch (e) {
        this.fail(e);
      }
    };
    return this.addHook(kind === "read" ? C.UC_HOOK_MEM_READ : C.UC_HOOK_MEM_WRITE, P.memAccess, fn, begin, end);
  }

  /** Interrupts and exceptions (INT n, #PF, #GP, ...): cb(interrupt number). */
  hookIntr(cb: (intno: number) => void): Hook {
    const fn = (_uc: number, intno: number) => {
      try {
        cb(intno);
      } catch (e) {
        this.fail(e);
      }
    };
    return this.addHook(C.UC_HOOK_INTR, P.intr, fn, 1, 0);
  }

  /**
   * x86: the interrupt hook (cb(intno)) behind a native filter that runs the SERIALIZE the
   * host last decoded (native.c ud_gate_*): learn(rip, cr3, phys) names it; a #UD there
   * with the same bytes at phys in `ram` is stepped over without calling cb. count() says
   * how many it ran, also after close().
   */
  hookIntrServingSerialize(ram: Uint8Array, cb: (intno: number) => void): { learn(rip: bigint, cr3: bigint, phys: bigint): void; count(): number } {
    const n = native();
    const onOther = koffi.register((intno: number) => {
      try {
        cb(intno);
      } catch (e) {
        this.fail(e);
      }
    }, P.u32);
    const lib = this.lib;
    const gate = n.udNew(lib.regReadBatchPtr, lib.regWritePtr, onOther, ram, BigInt(ram.byteLength),
      C.UC_X86_REG_RIP, C.UC_X86_REG_CR3) as number | bigint;
    if (!gate) {
      koffi.unregister(onOther);
      throw new Error("hookIntrServingSerialize: out of memory");
    }
    const out: [number | bigint | null] = [null];
    const err = lib.hookAdd(this.handle, out, C.UC_HOOK_INTR, n.udIntr, gate, 1, 0);
    if (err !== 0) {
      n.udFree(gate);
      koffi.unregister(onOther);
      this.check("uc_hook_add(#UD gate)", err);
    }
    let final: number | undefined; // the count when the engine closed and the gate went
    this.hooks.add({ handle: out[0]!, callback: onOther, free: () => {
      final = Number(n.udCount(gate));
      n.udFree(gate);
    } });
    return { learn: (rip, cr3, phys) => n.udLearn(gate, rip, cr3, phys), count: () => final ?? Number(n.udCount(gate)) };
  }

  /**
   * Takes every invalid opcode (a native UC_HOOK_INSN_INVALID callback, native.c
   * take_invalid) instead of stopping with UC_ERR_INSN_INVALID: on x86 it then reaches the
   * interrupt hook as #UD (exception 6, Unicorn's cpu_handle_exception).
   */
  takeInvalidInstructions(): void {
    const out: [number | bigint | null] = [null];
    this.check("uc_hook_add(invalid instructions)", this.lib.hookAdd(this.handle, out, C.UC_HOOK_INSN_INVALID, native().takeInvalid, 0, 1, 0));
    this.hooks.add({ handle: out[0]!, callback: null });
  }

  /**
   * Unmapped or protection-violating accesses: cb(UC_MEM_* type, address, size, value)
   * returns true if it fixed the mapping (the access is retried), false to stop with
   * the matching UC_ERR_*.
   */
  hookMemInvalid(cb: (type: number, address: bigint, size: number, value: bigint) => boolean): Hook {
    const fn = (_uc: number, type: number, address: number | bigint, size: number, value: number | bigint) => {
      try {
        return !!cb(type, BigInt(address), size, BigInt(value));
      } catch (e) {
        this.fail(e);
        return false;
      }
    };
    return this.addHook(C.UC_HOOK_MEM_INVALID, P.mem, fn, 1, 0);
  }

  /**
   * Makes a stop requested from a hook (emuStop, or a hook that threw) take effect right
   * after the current instruction when that instruction is in [begin, end]. Without it
   * the stop takes effect at the end of the current translation block: Unicorn only
   * checks for an exit request after instructions covered by a UC_HOOK_CODE hook, and
   * the OUT/IN hooks are not. This adds such a hook whose callback is a native function
   * without side effects (uc_arch_supported(int), which ignores the other arguments),
   * so no JS runs per instruction: ~5 ns per covered instruction. Cover the trap
   * thunks with it. Under countInstructions() it adds nothing: that hook already covers
   * every address, and a second code hook in Unicorn's list costs every instruction
   * again (measured: ~5 ns each, +0.6 s on the kernel's EFI boot).
   */
  preciseStops(begin: Addr, end: Addr): Hook {
    if (this.counters.length) return { handle: 0, callback: null };
    const out: [number | bigint | null] = [null];
    this.check("uc_hook_add", this.lib.hookAdd(this.handle, out, C.UC_HOOK_CODE, this.lib.nopCallback, 0, begin, end));
    const hook: Hook = { handle: out[0]!, callback: null };
    this.hooks.add(hook);
    return hook;
  }

  private codePagesTracked = false;

  /**
   * Makes every guest store to RAM that holds translated code invalidate what it
   * overwrites, as QEMU does and as x86 and the UEFI/ACPI guests we run assume: the
   * native tracker (host/unicorn/native.c, "code pages") gives Unicorn 2.1.1 back QEMU's
   * record of which pages hold code, which it stubs, so a store's TLB entry stays on the
   * slow path while its page holds any code, whatever mapping, address space or page size
   * the store goes through. Costs nothing per store elsewhere. Returns false (nothing
   * changed) where the library does not make the calls it takes over through its GOT.
   */
  trackCodePages(): boolean {
    if (this.codePagesTracked) return true;
    const lib = this.lib.so;
    const target = this.arch === C.UC_ARCH_ARM64 ? "aarch64" : "x86_64";
    const pageBits = Math.log2(this.query(C.UC_QUERY_PAGE_SIZE));
    const ok = native().smcTrack(this.handle, target, lib.symbol("uc_open"), this.cpuFns().cpu,
      lib.symbol(`tlb_reset_dirty_${target}`), lib.symbol(`qemu_map_ram_ptr_${target}`), pageBits) as number;
    return (this.codePagesTracked = ok === 1);
  }

  /** What the code-page tracker did: pages that gained code, stores kept on the slow path because their page held code. */
  codePageStats(): { codePages: number; storesKept: number } {
    if (!this.codePagesTracked) return { codePages: 0, storesKept: 0 };
    const n = native();
    return { codePages: Number(n.smcStat(this.handle, 0)), storesKept: Number(n.smcStat(this.handle, 1)) };
  }

  /**
   * The other way to see every guest write to translated code (trackCodePages is the
   * machine's): with any UC_HOOK_MEM_WRITE present, Unicorn never clears a TLB entry's
   * not-dirty flag; this adds one, native and never called (an address range nothing
   * writes), so every RAM write takes the slow path: measured 4x the time of a kernel
   * boot. For a library whose GOT the tracker cannot take over, and as a cross-check
   * (--guard-code-writes). Unicorn 2.1.2's fix (#2031) costs the same way (the warning in
   * libraryInfo).
   */
  guardCodeWrites(): void {
    const out: [number | bigint | null] = [null];
    const top = 0xffff_ffff_ffff_f000n; // above every mapping
    this.check("uc_hook_add(write guard)", this.lib.hookAdd(this.handle, out, C.UC_HOOK_MEM_WRITE, this.lib.nopCallback, 0, top, top));
    this.hooks.add({ handle: out[0]!, callback: null });
  }

  /**
   * Counts every guest instruction from now on, with a native UC_HOOK_CODE callback
   * over all addresses (host/unicorn/native.c: `++*counter`, no JS per instruction) and
   * returns a reader of the count, still valid after close(). It counts instructions
   * started: the hook runs before each one, so one that does not complete (the one a
   * stop from a hook lands on, one that faults) is counted, and again when it runs
   * later. A rep string instruction counts once per iteration and once as it ends
   * (Unicorn runs each iteration as a step of its own). Translated code only gets the
   * hook call if the hook is there when it is translated: add it before the code to
   * count first runs. As a side effect
   * a stop requested from a hook takes effect after the current instruction
   * everywhere, so a later preciseStops() adds nothing. stopAt() stops the guest at an
   * exact count (a deterministic point to deliver an interrupt at); the instruction it
   * stops before is counted once, when it runs.
   */
  countInstructions(): InstructionCounter {
    const callback = native().icountHook;
    // struct icount (native.c): count, limit, uc_emu_stop.
    const ptr = koffi.alloc("uint64_t", 3) as bigint;
    const view = new BigUint64Array(koffi.view(ptr, 24));
    view.set([0n, NO_LIMIT, this.lib.emuStopPtr]);
    const counter: Counter = { ptr, view, final: 0n };
    const out: [number | bigint | null] = [null];
    const err = this.lib.hookAdd(this.handle, out, C.UC_HOOK_CODE, callback, Number(ptr), 1, 0);
    if (err !== 0) {
      koffi.free(ptr);
      this.check("uc_hook_add(icount)", err);
    }
    this.hooks.add({ handle: out[0]!, callback: null });
    this.counters.push(counter);
    let armed = false;
    return {
      count: () => (counter.view ? counter.view[0] : counter.final),
      stopAt: (n) => {
        armed = n !== NO_LIMIT;
        if (counter.view) counter.view[1] = n;
      },
      reached: () => {
        if (!armed || counter.view?.[1] !== NO_LIMIT) return false;
        armed = false;
        return true;
      },
    };
  }

  hookDel(hook: Hook): void {
    if (!this.hooks.delete(hook)) return;
    const err = this.lib.hookDel(this.handle, hook.handle);
    if (hook.callback !== null) koffi.unregister(hook.callback);
    hook.free?.();
    this.check("uc_hook_del", err);
  }

  // ---- teardown ------------------------------------------------------------------------

  /** Frees contexts, hooks and the engine. Not from inside a hook. Idempotent. */
  close(): void {
    if (!this.h) return;
    // Its thread may call uc_emu_stop: ended before the engine goes.
    if (this.stopTimer) native().timerFree(this.stopTimer);
    this.stopTimer = 0;
    if (this.irqTimer) native().timerFree(this.irqTimer);
    this.irqTimer = 0;
    for (const ctx of this.contexts) this.lib.contextFree(ctx.ptr);
    this.contexts.clear();
    for (const hook of this.hooks) if (hook.handle) this.lib.hookDel(this.h, hook.handle);
    if (this.codePagesTracked) native().smcUntrack(this.h);
    this.codePagesTracked = false;
    const err = this.lib.close(this.h);
    this.h = 0;
    if (this.gate) native().irqGateFree(this.gate);
    this.gate = 0;
    Unicorn.live--;
    for (const hook of this.hooks) {
      if (hook.callback !== null) koffi.unregister(hook.callback);
      hook.free?.();
    }
    this.hooks.clear();
    koffi.free(this.scratchPtr);
    for (const c of this.counters) {
      c.final = c.view![0];
      c.view = undefined;
      koffi.free(c.ptr);
    }
    this.counters.length = 0;
    this.check("uc_close", err);
  }
}

function hex(v: Addr): string {
  return "0x" + v.toString(16);
}
