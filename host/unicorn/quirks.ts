// Work-arounds for Unicorn 2.1 behaviour the host depends on, each measured, not assumed.
//
// Fields of QEMU's CPU state that Unicorn does not expose are reached in a saved
// context (uc_context_save / uc_context_restore). Their offsets are not guessed from a
// header: each is found by experiment on the loaded library, by running a few
// instructions whose effect on the field is known and looking for the one int32 of the
// context that changed exactly so.
//
// The probes cost about 7 ms each (a throwaway engine), so their results
// are kept in .cache/unicorn/quirks.json, keyed by the library's identity (path, inode,
// size, modification time, version): a different or rebuilt library is probed afresh.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT } from "../paths.ts";
import { Unicorn, libraryInfo } from "./index.ts";
import * as C from "./consts.ts";

export const QUIRKS_CACHE = join(ROOT, ".cache/unicorn/quirks.json");

/** Experiments per field: a field that fits by chance in one (a clock, a pointer) does not in all. */
const ROUNDS = 3;

/** Where a field is looked for: a throwaway engine, and a snapshot of the state that holds it. */
interface Haystack {
  name: string;
  open: () => Unicorn;
  snap: (uc: Unicorn) => DataView;
}

/** The CPU state of an x86-64 engine, as uc_context_save copies it. */
const SAVED_CONTEXT: Haystack = {
  name: "Unicorn's saved context",
  open: () => new Unicorn(C.UC_MODE_64),
  snap: (uc) => new DataView(uc.contextBytes(uc.contextSave()).slice().buffer),
};

/**
 * Runs `experiment` on throwaway engines, ROUNDS times; each returns snapshots of the
 * haystack (by default an x86-64 engine's saved context). The field is the one int32
 * offset at which `fits` accepts the snapshots' values, in order, in every round. (One
 * round once found two: the other a field whose low bits happened to change the same way,
 * in one clean-clone CI run.)
 */
function findField(field: string, experiment: (uc: Unicorn, snap: () => DataView) => DataView[], fits: (values: number[]) => boolean, where: Haystack = SAVED_CONTEXT): number {
  try {
    let found: number[] | undefined;
    for (let round = 0; round < ROUNDS && (found === undefined || found.length > 1); round++) {
      const uc = where.open();
      try {
        const snaps = experiment(uc, () => where.snap(uc));
        const here: number[] = [];
        for (let i = 0; i + 4 <= snaps[0].byteLength; i += 4) if (fits(snaps.map((s) => s.getInt32(i, true)))) here.push(i);
        found = found === undefined ? here : found.filter((i) => here.includes(i));
      } finally {
        uc.close();
      }
    }
    if (found!.length !== 1) throw new Error(`candidates ${found!.join(", ") || "none"}`);
    return found![0];
  } catch (e) {
    throw new Error(`cannot locate ${field} in ${where.name}: ${(e as Error).message}`);
  }
}

/** The loaded library's identity: what the cached offsets are valid for. */
function libraryKey(): string {
  const { path, version } = libraryInfo();
  try {
    const st = statSync(path);
    return `${path} ${st.ino} ${st.size} ${st.mtimeMs} ${version}`;
  } catch {
    return `${path} ${version}`; // a bare soname: found by the loader, not by path
  }
}

type Offsets = Record<string, unknown>;

function readCache(): Record<string, Offsets> {
  try {
    const c = JSON.parse(readFileSync(QUIRKS_CACHE, "utf8"));
    return c && typeof c === "object" ? c : {};
  } catch {
    return {};
  }
}

/** Written whole or not at all (a temporary file renamed); a cache that cannot be written is only slower. */
function writeCache(c: Record<string, Offsets>): void {
  try {
    mkdirSync(dirname(QUIRKS_CACHE), { recursive: true });
    const tmp = `${QUIRKS_CACHE}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(c, null, 1) + "\n");
    renameSync(tmp, QUIRKS_CACHE);
  } catch {}
}

const isOffset = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/** `probe`'s result for this library: from the cache, or probed once and cached. */
const cached = <T>(field: string, probe: () => T, valid: (v: unknown) => v is T = isOffset as (v: unknown) => v is T): (() => T) => {
  let v: T | undefined;
  return () => {
    if (v !== undefined) return v;
    const key = libraryKey();
    const cache = readCache();
    const hit = cache[key]?.[field];
    if (valid(hit)) return (v = hit);
    v = probe();
    writeCache({ ...cache, [key]: { ...cache[key], [field]: v } });
    return v;
  };
};

const CODE = 0x1000;
const PT_PML4 = 0x10000;
const MSR_EFER = 0xc000_0080;
const EFER_SVME = 1n << 12n;

/**
 * 4-level paging over the first 256 KiB in 4 KiB pages, identity, with `flags` per page
 * (absent where 0), then code that turns it on; returns where that code ends.
 */
function pagingOn(uc: Unicorn, flags: (page: number) => number): number {
  uc.memMap(0, 0x40000);
  const q = (at: number, v: bigint) => uc.memWrite(at, new Uint8Array(new BigUint64Array([v]).buffer));
  q(PT_PML4, BigInt(PT_PML4 + 0x1000) | 7n); // PML4[0] -> PDPT
  q(PT_PML4 + 0x1000, BigInt(PT_PML4 + 0x2000) | 7n); // PDPT[0] -> PD
  q(PT_PML4 + 0x2000, BigInt(PT_PML4 + 0x3000) | 7n); // PD[0] -> PT
  for (let p = 0; p < 0x40; p++) if (flags(p)) q(PT_PML4 + 0x3000 + 8 * p, BigInt((p << 12) | flags(p)));
  const code = [
    0x48, 0xc7, 0xc0, 0x00, 0x00, 0x01, 0x00, 0x0f, 0x22, 0xd8, // mov rax, PT_PML4 ; mov cr3, rax
    0x0f, 0x20, 0xe0, 0x48, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, // cr4 |= PAE
    0x0f, 0x20, 0xc0, 0x0f, 0xba, 0xe8, 0x1f, //                   mov rax, cr0 ; bts eax, 31 (PG)
    0x0f, 0xba, 0xe8, 0x10, 0x0f, 0x22, 0xc0, //                   bts eax, 16 (WP) ; mov cr0, rax
  ];
  uc.memWrite(CODE, Uint8Array.from(code));
  return CODE + code.length;
}

/**
 * Byte offset, in a saved context, of QEMU's `env->old_exception`.
 *
 * QEMU remembers the exception in flight in old_exception and clears it only in its own
 * delivery code (x86_cpu_do_interrupt), to escalate a fault raised while delivering
 * another into a double fault (check_exception in target/i386/excp_helper.c). Unicorn
 * hands exceptions to the interrupt hook and never runs that code, so after the first
 * page fault every later one comes back as vector 8, and the one after that as a triple
 * fault. The host delivers exceptions itself and then clears the field through a
 * context save/patch/restore.
 *
 * Found with the quirk itself: two divide errors in a row are reported as #DE (0) then
 * #DF (8); the field is the one int32 that reads -1, then 0, then 8.
 */
export const probeOldException = (): number =>
  findField("old_exception", (uc, snap) => {
    uc.memMap(0, 0x10000);
    // xor ecx, ecx ; div rcx ; div rcx ; hlt
    uc.memWrite(CODE, Uint8Array.from([0x31, 0xc9, 0x48, 0xf7, 0xf1, 0x48, 0xf7, 0xf1, 0xf4]));
    const snaps = [snap()];
    const vectors: number[] = [];
    uc.hookIntr((vector) => {
      vectors.push(vector);
      snaps.push(snap());
      if (snaps.length === 2) uc.regWrite(C.UC_X86_REG_RIP, CODE + 5);
      else uc.emuStop();
    });
    uc.emuStart(CODE, CODE + 8);
    if (vectors.join() !== "0,8") throw new Error(`expected exceptions 0 then 8, Unicorn reported ${vectors.join(", ") || "none"}`);
    return snaps;
  }, ([a, b, c]) => a === -1 && b === 0 && c === 8);

/**
 * Byte offset, in a saved context, of QEMU's `env->error_code`: the error code of the
 * exception being raised. Unicorn's interrupt hook gets only the vector, and a page
 * fault's error code says what the kernel must do: a write to a not-present page
 * reported as a read gets the shared zero page mapped, and the write then faults on it
 * for ever (seen: Linux's copy_user_generic_string looping in execve of /init).
 *
 * Found with three page faults of known error codes (Intel SDM vol. 3A §4.7) under
 * paging with CR0.WP: a write to a present read-only page (P|W = 3), a write to a
 * not-present page (W = 2), a read of it (0).
 */
export const probeErrorCode = (): number =>
  findField("error_code", (uc, snap) => {
    // 0x5000 read-only, 0x6000 absent.
    let at = pagingOn(uc, (p) => (p === 6 ? 0 : p === 5 ? 1 : 3));
    const faults = [
      [0x48, 0x89, 0x1c, 0x25, 0x00, 0x50, 0x00, 0x00], // mov [0x5000], rbx
      [0x48, 0x89, 0x1c, 0x25, 0x00, 0x60, 0x00, 0x00], // mov [0x6000], rbx
      [0x48, 0x8b, 0x1c, 0x25, 0x00, 0x60, 0x00, 0x00], // mov rbx, [0x6000]
    ];
    const next: number[] = [];
    for (const f of faults) {
      uc.memWrite(at, Uint8Array.from(f));
      next.push((at += f.length));
    }
    uc.memWrite(at, Uint8Array.of(0xf4)); // hlt
    const exceptionAt = oldExceptionOffset();
    const snaps: DataView[] = [];
    uc.hookIntr((vector) => {
      if (vector !== 14) throw new Error(`expected page faults, Unicorn reported ${vector}`);
      snaps.push(snap());
      // Clear the exception in flight, as the host does after delivering one.
      uc.editContext((env) => env.setInt32(exceptionAt, -1, true));
      if (snaps.length === faults.length) uc.emuStop();
      else uc.regWrite(C.UC_X86_REG_RIP, BigInt(next[snaps.length - 1]));
    });
    uc.emuStart(CODE, 0n);
    if (snaps.length !== faults.length) throw new Error(`expected ${faults.length} page faults, saw ${snaps.length}`);
    return snaps;
  }, ([a, b, c]) => a === 3 && b === 2 && c === 0);

/**
 * Byte offset, in a saved context, of QEMU's `env->hflags`, whose low two bits are the
 * CPL. The host enters ring 0 itself (exception delivery from user mode, SYSCALL, which
 * Unicorn leaves to a hook), and Unicorn refuses a ring-0 SS or CS written from ring 3
 * (uc_check_cpu_x86_load_seg), so the host first lowers the CPL in a saved context.
 *
 * Found with an iretq to a 64-bit user code segment and a page fault there: the field
 * is the one int32 whose low bits read 0 before the iretq and 3 after, all else equal.
 */
export const probeHflags = (): number =>
  findField("hflags", (uc, snap) => {
    const at = pagingOn(uc, (p) => (p === 0x30 ? 0 : 7)); // user pages; 0x30000 absent
    const q = (at: number, v: bigint) => uc.memWrite(at, new Uint8Array(new BigUint64Array([v]).buffer));
    // GDT: null, ring-0 code, ring-0 data, ring-3 data (0x1b), ring-3 64-bit code (0x23).
    [0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x00cff3000000ffffn, 0x00affb000000ffffn].forEach((d, i) => q(0x500 + 8 * i, d));
    uc.mmrWrite(C.UC_X86_REG_GDTR, { base: 0x500n, limit: 5 * 8 - 1 });
    const iret = [
      0x6a, 0x1b, 0x68, 0x00, 0x80, 0x00, 0x00, //  push ss 0x1b ; push rsp 0x8000
      0x68, 0x02, 0x00, 0x00, 0x00, 0x6a, 0x23, //  push rflags 2 ; push cs 0x23
      0x68, 0x00, 0x00, 0x03, 0x00, //              push rip 0x30000 (absent)
      0x48, 0xcf, //                                iretq
    ];
    uc.memWrite(at, Uint8Array.from(iret));
    uc.regWrite(C.UC_X86_REG_RSP, 0x9000n);
    const iretq = at + iret.length - 2;
    const snaps: DataView[] = [];
    uc.hookCode(BigInt(iretq), BigInt(iretq), () => void snaps.push(snap()));
    uc.hookIntr(() => {
      snaps.push(snap());
      uc.emuStop();
    });
    uc.emuStart(CODE, 0n);
    if (snaps.length !== 2 || (uc.regRead(C.UC_X86_REG_CS) & 3n) !== 3n) throw new Error("the probe did not fault in ring 3");
    return snaps;
  }, ([before, after]) => (before & 3) === 0 && (before ^ after) === 3);

/**
 * Byte offset, in a saved context, of QEMU's `env->exception_is_int`: set by a software
 * interrupt (INT n, INT3), left set until the next exception. Unicorn moves RIP to
 * `exception_next_eip` before calling the interrupt hook whenever it is set, for any
 * exception, including the SVM exit the host uses to answer RDTSC (rdtscInterceptOffset),
 * which would then be reported at a stale RIP. The host clears it after each exception.
 *
 * Found with INT3, a divide error, INT3: the one int32 that reads 0, 1, 0, 1.
 */
export const probeExceptionIsInt = (): number =>
  findField("exception_is_int", (uc, snap) => {
    uc.memMap(0, 0x10000);
    // int3 ; xor ecx, ecx ; div rcx ; int3 ; hlt
    uc.memWrite(CODE, Uint8Array.from([0xcc, 0x31, 0xc9, 0x48, 0xf7, 0xf1, 0xcc, 0xf4]));
    const exceptionAt = oldExceptionOffset();
    const snaps = [snap()];
    const vectors: number[] = [];
    uc.hookIntr((vector) => {
      vectors.push(vector);
      snaps.push(snap());
      uc.editContext((env) => env.setInt32(exceptionAt, -1, true));
      if (vector === 0) uc.regWrite(C.UC_X86_REG_RIP, CODE + 6); // past the div
    });
    uc.emuStart(CODE, CODE + 7);
    if (vectors.join() !== "3,0,3") throw new Error(`expected exceptions 3, 0, 3, Unicorn reported ${vectors.join(", ") || "none"}`);
    return snaps;
  }, ([a, b, c, d]) => a === 0 && b === 1 && c === 0 && d === 1);

/**
 * Byte offset, in a saved context, of QEMU's `env->intercept`: the SVM intercept bits
 * (AMD APM vol. 2 §15.9, the VMCB's intercept vector at 0x0C) checked while the CPU is
 * in guest mode (hflags HF_GUEST_MASK). Unicorn 2.1.1 has no hook for RDTSC (a
 * UC_HOOK_INSN for it is refused) and returns the host's counter; with guest mode on and
 * the RDTSC intercept set, helper_rdtsc raises an SVM exit instead, which Unicorn hands
 * to the interrupt hook as EXCP_VMEXIT + the exit code, RIP at the RDTSC: the host
 * answers it from the machine's clock.
 *
 * Found with a VMRUN (which loads the field from the VMCB) on a VMCB whose intercept
 * vector holds a pattern: the one offset holding it afterwards.
 */
export const probeSvmIntercept = (): number => {
  const uc = new Unicorn(C.UC_MODE_64);
  try {
    const at = pagingOn(uc, () => 3);
    const vmcb = 0x21000;
    const pattern = 0x0123_4567_89ab_cdefn;
    uc.memWrite(vmcb + 0x0c, new Uint8Array(new BigUint64Array([pattern]).buffer));
    uc.memWrite(at, Uint8Array.from([0x48, 0xc7, 0xc0, vmcb & 0xff, (vmcb >> 8) & 0xff, vmcb >> 16, 0x00, 0x0f, 0x01, 0xd8])); // mov rax, vmcb ; vmrun
    uc.msrWrite(MSR_EFER, uc.msrRead(MSR_EFER) | EFER_SVME);
    if (!(uc.msrRead(MSR_EFER) & EFER_SVME)) throw new Error("the CPU model has no SVM (EFER.SVME stays clear)");
    let snap: DataView | undefined;
    const take = () => {
      snap ??= new DataView(uc.contextBytes(uc.contextSave()).slice().buffer);
      uc.emuStop();
    };
    // The guest state VMRUN loads (all zero) runs nowhere useful: stop at its first instruction or fault.
    uc.hookCode(0n, BigInt(CODE - 1), take);
    uc.hookIntr(take);
    try {
      uc.emuStart(CODE, 0n);
    } catch (e) {
      if (!snap) throw e;
    }
    if (!snap) throw new Error("VMRUN did not run");
    const found: number[] = [];
    for (let i = 0; i + 8 <= snap.byteLength; i += 4) if (snap.getBigUint64(i, true) === pattern) found.push(i);
    if (found.length !== 1) throw new Error(`candidates ${found.join(", ") || "none"}`);
    return found[0];
  } catch (e) {
    throw new Error(`cannot locate intercept in Unicorn's saved context: ${(e as Error).message}`);
  } finally {
    uc.close();
  }
};

export const oldExceptionOffset = cached("old_exception", probeOldException);
export const errorCodeOffset = cached("error_code", probeErrorCode);
export const hflagsOffset = cached("hflags", probeHflags);
export const exceptionIsIntOffset = cached("exception_is_int", probeExceptionIsInt);
export const svmInterceptOffset = cached("svm_intercept", probeSvmIntercept);

/** EAX, EBX, ECX, EDX as CPUID leaves them. */
export type CpuidRegs = [eax: number, ebx: number, ecx: number, edx: number];

/**
 * Unicorn's own CPUID answers for leaf 1 (feature flags) and leaf 7 subleaf 0 (extended
 * features), run once on a throwaway engine: the machine reports them with bits added
 * (host/x86/cpuid.ts), and a CPUID hook can only answer a leaf whole.
 */
function probeCpuid(): { leaf1: CpuidRegs; leaf7: CpuidRegs } {
  const uc = new Unicorn(C.UC_MODE_64);
  try {
    uc.memMap(0, 0x1000);
    uc.memWrite(0, Uint8Array.of(0x0f, 0xa2)); // cpuid
    const run = (leaf: number): CpuidRegs => {
      uc.regWriteBatch([C.UC_X86_REG_RAX, C.UC_X86_REG_RCX], [BigInt(leaf), 0n]);
      uc.emuStart(0, 2n);
      return [C.UC_X86_REG_EAX, C.UC_X86_REG_EBX, C.UC_X86_REG_ECX, C.UC_X86_REG_EDX].map((r) => Number(uc.regRead(r) & 0xffff_ffffn)) as CpuidRegs;
    };
    return { leaf1: run(1), leaf7: run(7) };
  } finally {
    uc.close();
  }
}
const isRegs = (v: unknown): v is CpuidRegs => Array.isArray(v) && v.length === 4 && v.every(isOffset);
export const unicornCpuid = cached("cpuid", probeCpuid, (v: unknown): v is ReturnType<typeof probeCpuid> =>
  typeof v === "object" && v !== null && isRegs((v as { leaf1?: unknown }).leaf1) && isRegs((v as { leaf7?: unknown }).leaf7));

/**
 * Byte offset, in the engine's own state (uc_struct), of `target_bits`: the target page
 * bits uc_ctl(UC_CTL_UC_PAGE_SIZE) sets before an engine starts, which Unicorn 2.1.1's
 * uc_ctl accepts only for 32-bit ARM (host/arm64/machine.ts sets it for AArch64).
 *
 * Found on ARM engines: the one int32 that reads 0, then 13 after asking for 4096, then
 * 11 after asking for 1024 (2.1.1 counts one bit too many; finalize_target_page_bits
 * takes the field as the page's bits as it is), in every round.
 */
export const probeTargetBits = (): number =>
  findField("target_bits", (uc, snap) => {
    const before = snap();
    if (!uc.targetPageSize(4096)) throw new Error("uc_ctl(UC_CTL_UC_PAGE_SIZE) refused on ARM");
    const at4k = snap();
    uc.targetPageSize(1024);
    return [before, at4k, snap()];
  }, ([a, b, c]) => a === 0 && b - c === 2 && (b === 12 || b === 13), { // 4 KiB: 12 bits, or 13 where 2.1.1 counts one too many
    name: "Unicorn's uc_struct",
    open: () => new Unicorn(C.UC_MODE_ARM, C.UC_ARCH_ARM),
    // A copy: the engine's own bytes change as it goes on.
    snap: (uc) => {
      const v = uc.engineState();
      return new DataView(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
    },
  });
export const targetBitsOffset = cached("target_bits", probeTargetBits);
