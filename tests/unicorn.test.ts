// The native Unicorn binding (host/unicorn), against the real library.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Unicorn, UnicornError, hostRdtsc, libraryInfo, versionWarning, consts as C } from "../host/unicorn/index.ts";
import { hostTscKhz } from "../host/unicorn/tsc.ts";
import { targetBitsOffset, errorCodeOffset, exceptionIsIntOffset, hflagsOffset, oldExceptionOffset, probeErrorCode, probeExceptionIsInt, probeHflags, probeOldException, probeSvmIntercept, QUIRKS_CACHE, svmInterceptOffset, unicornCpuid } from "../host/unicorn/quirks.ts";
import { readFileSync } from "node:fs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// Guest physical 0 is WASM address GUEST_BASE, as in the real host: a fixed-size
// WebAssembly.Memory whose upper part is the guest window.
const GUEST_BASE = 0x10_0000; // 1 MiB of "firmware state" below the window
const GUEST_SIZE = 0x10_0000; // 1 MiB guest window
const CODE = 0x4000; // guest code
const DATA = 0x1000; // guest data
const STACK_TOP = 0x8000;
const EFER = 0xc000_0080;

function machine(mode = C.UC_MODE_64) {
  const mem = new WebAssembly.Memory({ initial: 32, maximum: 32 }); // 2 MiB, never grows
  const view = new Uint8Array(mem.buffer, GUEST_BASE, GUEST_SIZE);
  const dv = new DataView(mem.buffer, GUEST_BASE, GUEST_SIZE);
  const uc = new Unicorn(mode);
  uc.memMapPtr(0, view);
  uc.regWrite(C.UC_X86_REG_RSP, STACK_TOP);
  return { mem, view, dv, uc };
}

/** Places code at `at` and returns the address just after it (the `until` address). */
function place(view: Uint8Array, at: number, bytes: number[]): number {
  view.set(bytes, at);
  return at + bytes.length;
}

test("library is Unicorn >= 2.1", () => {
  const info = libraryInfo();
  const [maj, min] = info.version.split(".").map(Number);
  assert.ok(maj > 2 || (maj === 2 && min >= 1), `${info.path} is ${info.version}`);
  const { uc } = machine();
  assert.is(uc.version(), info.version);
  assert.is(uc.query(C.UC_QUERY_MODE), C.UC_MODE_64);
  uc.close();
});

test("versions from 2.1.2 on are warned about (Notdirty write, #2031), 2.1.1 and before are not", () => {
  for (const [a, b, c] of [[2, 1, 0], [2, 1, 1]]) assert.is(versionWarning(a, b, c), undefined, `${a}.${b}.${c}`);
  for (const [a, b, c] of [[2, 1, 2], [2, 1, 4], [2, 2, 0], [3, 0, 0]]) assert.match(versionWarning(a, b, c) ?? "", /#2031/, `${a}.${b}.${c}`);
  if (libraryInfo().source === ".cache/unicorn") assert.is(libraryInfo().warning, undefined, `setup's library ${libraryInfo().version} is not one of them`);
});

test("memMapPtr: guest and JS see the same bytes, in place", () => {
  const { mem, view, dv, uc } = machine();
  const end = place(view, CODE, [
    0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00, // mov [0x1000], rax
    0x48, 0x8b, 0x1c, 0x25, 0x08, 0x10, 0x00, 0x00, // mov rbx, [0x1008]
  ]);
  uc.regWrite(C.UC_X86_REG_RAX, 0x1122_3344_5566_7788n);
  dv.setBigUint64(DATA + 8, 0xdead_beef_cafe_f00dn, true); // JS write, read by the guest
  uc.emuStart(CODE, end);
  // The guest's store landed in the WASM memory at GUEST_BASE + 0x1000.
  assert.is(new DataView(mem.buffer).getBigUint64(GUEST_BASE + DATA, true), 0x1122_3344_5566_7788n);
  assert.is(uc.regRead(C.UC_X86_REG_RBX), 0xdead_beef_cafe_f00dn);
  // uc_mem_read/write go to the same bytes.
  assert.equal([...uc.memRead(DATA, 8)], [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
  uc.memWrite(DATA + 16, new Uint8Array([1, 2, 3, 4]));
  assert.is(dv.getUint32(DATA + 16, true), 0x0403_0201);
  uc.close();
});

test("OUT hook sees port, size and value; the guest resumes with the host's RAX", () => {
  const { view, dv, uc } = machine();
  const end = place(view, CODE, [
    0xb8, 0x78, 0x56, 0x34, 0x12, //                   mov eax, 0x12345678
    0xe7, 0x80, //                                     out 0x80, eax
    0x48, 0x89, 0x04, 0x25, 0x10, 0x10, 0x00, 0x00, // mov [0x1010], rax
    0x66, 0xba, 0xf8, 0x03, //                         mov dx, 0x3f8
    0xee, //                                           out dx, al
    0xbb, 0x2a, 0x00, 0x00, 0x00, //                   mov ebx, 42
  ]);
  const seen: Array<[number, number, number]> = [];
  uc.hookInsnOut((port, size, value) => {
    seen.push([port, size, value]);
    if (port === 0x80) uc.regWrite(C.UC_X86_REG_RAX, 0x99); // the "service's" return value
  });
  uc.emuStart(CODE, end);
  assert.equal(seen, [
    [0x80, 4, 0x1234_5678],
    [0x3f8, 1, 0x99],
  ]);
  assert.is(dv.getBigUint64(DATA + 0x10, true), 0x99n);
  assert.is(uc.regRead(C.UC_X86_REG_RBX), 42n);
  uc.close();
});

test("IN hook supplies the value read", () => {
  const { view, uc } = machine();
  const end = place(view, CODE, [
    0x66, 0xba, 0xfd, 0x03, // mov dx, 0x3fd
    0xec, //                   in al, dx
    0xe5, 0x71, //             in eax, 0x71
  ]);
  const seen: Array<[number, number]> = [];
  uc.hookInsnIn((port, size) => {
    seen.push([port, size]);
    return port === 0x3fd ? 0x60 : 0xabcd_ef01;
  });
  uc.regWrite(C.UC_X86_REG_RAX, 0);
  uc.emuStart(CODE, end);
  assert.equal(seen, [
    [0x3fd, 1],
    [0x71, 4],
  ]);
  assert.is(uc.regRead(C.UC_X86_REG_RAX), 0xabcd_ef01n);
  uc.close();
});

// Code for the two tests below: the OUT throws; `jmp` ends the translation block.
const THROWING = [
  0xe7, 0x80, //                               out 0x80, eax    (the hook throws)
  0x48, 0xc7, 0xc3, 0x01, 0x00, 0x00, 0x00, // mov rbx, 1       (same translation block)
  0xeb, 0x00, //                               jmp +0           (ends the block)
  0x48, 0xc7, 0xc1, 0x02, 0x00, 0x00, 0x00, // mov rcx, 2       (next block)
];

test("a hook that throws makes emuStart throw it and stops the guest", () => {
  const { view, uc } = machine();
  const end = place(view, CODE, THROWING);
  const boom = new Error("boom");
  uc.hookInsnOut(() => {
    throw boom;
  });
  uc.preciseStops(CODE, end - 1);
  try {
    uc.emuStart(CODE, end);
    assert.unreachable("emuStart should have thrown");
  } catch (e) {
    assert.is(e, boom);
  }
  assert.is(uc.regRead(C.UC_X86_REG_RBX), 0n, "the instruction after OUT did not run");
  assert.is(uc.regRead(C.UC_X86_REG_RCX), 0n);
  assert.is(uc.regRead(C.UC_X86_REG_RIP), BigInt(CODE + 2), "stopped right after the OUT");
  // The error is not reported twice: the next run is clean.
  uc.regWrite(C.UC_X86_REG_RIP, CODE + 2);
  uc.emuStart(CODE + 2, end);
  assert.is(uc.regRead(C.UC_X86_REG_RCX), 2n);
  uc.close();
});

test("without preciseStops a throwing hook stops at the end of the translation block", () => {
  // Documents Unicorn 2.1's behaviour: uc_emu_stop from an OUT hook takes effect when
  // the current block ends. If this starts failing, Unicorn now stops precisely.
  const { view, uc } = machine();
  const end = place(view, CODE, THROWING);
  uc.hookInsnOut(() => {
    throw new Error("boom");
  });
  assert.throws(() => uc.emuStart(CODE, end), /boom/);
  assert.is(uc.regRead(C.UC_X86_REG_RBX), 1n, "same block: ran on");
  assert.is(uc.regRead(C.UC_X86_REG_RCX), 0n, "next block: did not run");
  uc.close();
});

test("nested emuStart from a hook with contextSave/contextRestore", () => {
  const { view, dv, uc } = machine();
  const RET = 0x6000; // the nested run's `until`: pushed as the callee's return address
  const end = place(view, CODE, [
    0xb9, 0x29, 0x00, 0x00, 0x00, //                   mov ecx, 41
    0xbb, 0x07, 0x00, 0x00, 0x00, //                   mov ebx, 7
    0xe7, 0x81, //                                     out 0x81, eax  (host calls the guest)
    0x48, 0x89, 0x04, 0x25, 0x20, 0x10, 0x00, 0x00, // mov [0x1020], rax
    0x48, 0x89, 0x0c, 0x25, 0x28, 0x10, 0x00, 0x00, // mov [0x1028], rcx
  ]);
  const CALLEE = 0x5000;
  place(view, CALLEE, [
    0x48, 0x89, 0xc8, //       mov rax, rcx
    0x48, 0x83, 0xc0, 0x01, // add rax, 1
    0x31, 0xc9, //             xor ecx, ecx
    0xc3, //                   ret
  ]);
  let calls = 0;
  uc.hookInsnOut((port) => {
    assert.is(port, 0x81);
    calls++;
    const ctx = uc.contextSave();
    const rsp = uc.regRead(C.UC_X86_REG_RSP) - 0x100n; // below the interrupted frame
    dv.setBigUint64(Number(rsp) - 8, BigInt(RET), true); // return address = until
    uc.regWrite(C.UC_X86_REG_RSP, rsp - 8n);
    uc.regWrite(C.UC_X86_REG_RCX, 100);
    uc.emuStart(CALLEE, RET);
    const result = uc.regRead(C.UC_X86_REG_RAX);
    uc.contextRestore(ctx);
    uc.contextFree(ctx);
    uc.regWrite(C.UC_X86_REG_RAX, result);
  });
  uc.emuStart(CODE, end);
  assert.is(calls, 1);
  assert.is(dv.getBigUint64(DATA + 0x20, true), 101n, "callee's result returned in RAX");
  assert.is(dv.getBigUint64(DATA + 0x28, true), 41n, "RCX restored from the context");
  assert.is(uc.regRead(C.UC_X86_REG_RBX), 7n);
  assert.is(uc.regRead(C.UC_X86_REG_RSP), BigInt(STACK_TOP));
  assert.is(uc.regRead(C.UC_X86_REG_RIP), BigInt(end));
  uc.close();
});

test("an error thrown inside a nested run reaches the outer emuStart", () => {
  const { view, uc } = machine();
  const end = place(view, CODE, [0xe7, 0x81]); // out 0x81, eax
  place(view, 0x5000, [0xe7, 0x82]); //            out 0x82, eax
  uc.hookInsnOut((port) => {
    if (port === 0x82) throw new Error("inner");
    uc.emuStart(0x5000, 0x5002);
  });
  assert.throws(() => uc.emuStart(CODE, end), /inner/);
  uc.close();
});

test("MSR read/write through UC_X86_REG_MSR (EFER)", () => {
  const { uc } = machine();
  // UC_MODE_64 starts in long mode with paging off: EFER = LME | LMA.
  assert.is(uc.msrRead(EFER) & 0x500n, 0x500n);
  uc.msrWrite(EFER, uc.msrRead(EFER) | 0x800n); // NXE (2.0.1 could not set it)
  assert.is(uc.msrRead(EFER) & 0x800n, 0x800n);
  uc.close();
});

test("registers: batch read/write, GDTR, CR0, 32-bit mode", () => {
  const { uc } = machine();
  uc.regWriteBatch([C.UC_X86_REG_R8, C.UC_X86_REG_R9, C.UC_X86_REG_RDX], [1n, 0xffff_ffff_ffff_ffffn, 3n]);
  const out = uc.regReadBatch([C.UC_X86_REG_R9, C.UC_X86_REG_RDX, C.UC_X86_REG_R8, C.UC_X86_REG_CS]);
  assert.equal([...out], [0xffff_ffff_ffff_ffffn, 3n, 1n, 0n]);
  uc.regWrite(C.UC_X86_REG_RAX, -1n);
  assert.is(uc.regRead(C.UC_X86_REG_RAX), 0xffff_ffff_ffff_ffffn);
  uc.mmrWrite(C.UC_X86_REG_GDTR, { base: 0x9000n, limit: 0x27 });
  const gdtr = uc.mmrRead(C.UC_X86_REG_GDTR);
  assert.is(gdtr.base, 0x9000n);
  assert.is(gdtr.limit, 0x27);
  assert.is(uc.regRead(C.UC_X86_REG_CR0), 0x11n, "PE|ET, paging off");
  uc.close();
  const u32 = new Unicorn(C.UC_MODE_32);
  assert.is(u32.query(C.UC_QUERY_MODE), C.UC_MODE_32);
  u32.close();
});

test("unmapped accesses are UnicornErrors naming UC_ERR_*_UNMAPPED", () => {
  const { view, uc } = machine();
  const read = place(view, CODE, [0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40]); // mov rax, [0x40000000]
  try {
    uc.emuStart(CODE, read);
    assert.unreachable("should fault");
  } catch (e) {
    assert.instance(e, UnicornError);
    assert.is((e as UnicornError).codeName, "UC_ERR_READ_UNMAPPED");
    assert.match((e as Error).message, /UC_ERR_READ_UNMAPPED/);
    assert.match((e as Error).message, /RIP 0x4000/);
  }
  const write = place(view, CODE, [0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40]); // mov [0x40000000], rax
  assert.throws(() => uc.emuStart(CODE, write), (e: unknown) => (e as UnicornError).codeName === "UC_ERR_WRITE_UNMAPPED");
  assert.throws(() => uc.memRead(0x4000_0000, 8), (e: unknown) => (e as UnicornError).codeName === "UC_ERR_READ_UNMAPPED");
  uc.close();
});

test("hookMemInvalid can map the page and let the access proceed", () => {
  const { view, uc } = machine();
  const end = place(view, CODE, [0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40]); // mov rax, [0x40000000]
  const seen: Array<[number, bigint, number]> = [];
  uc.hookMemInvalid((type, addr, size) => {
    seen.push([type, addr, size]);
    uc.memMap(0x4000_0000, 0x1000);
    uc.memWrite(0x4000_0000, new Uint8Array([0x2a]));
    return true;
  });
  uc.regWrite(C.UC_X86_REG_RAX, 5);
  uc.emuStart(CODE, end);
  assert.equal(seen, [[C.UC_MEM_READ_UNMAPPED, 0x4000_0000n, 8]]);
  assert.is(uc.regRead(C.UC_X86_REG_RAX), 0x2an);
  uc.close();
});

test("uc_mem_read takes physical addresses once paging is on", () => {
  const { view, dv, uc } = machine();
  const q = (at: number, v: number) => dv.setBigUint64(at, BigInt(v), true);
  q(0x10000, 0x11000 | 3); // PML4[0] -> PDPT
  q(0x11000, 0x12000 | 3); // PDPT[0] -> PD: virtual 0..1 GiB
  q(0x12000, 0x0 | 0x83); //  PD[0]: 2 MiB page, identity
  q(0x11008, 0x13000 | 3); // PDPT[1] -> PD2: virtual 1..2 GiB
  q(0x13000, 0x14000 | 3); // PD2[0] -> PT
  q(0x14000, 0x3000 | 3); //  PT[0]: virtual 0x40000000 -> physical 0x3000
  const end = place(view, CODE, [
    0x48, 0xc7, 0xc0, 0x00, 0x00, 0x01, 0x00, //       mov rax, 0x10000
    0x0f, 0x22, 0xd8, //                               mov cr3, rax
    0x0f, 0x20, 0xe0, //                               mov rax, cr4
    0x48, 0x83, 0xc8, 0x20, //                         or rax, 0x20 (PAE)
    0x0f, 0x22, 0xe0, //                               mov cr4, rax
    0x0f, 0x20, 0xc0, //                               mov rax, cr0
    0x0f, 0xba, 0xe8, 0x1f, //                         bts eax, 31 (PG)
    0x0f, 0x22, 0xc0, //                               mov cr0, rax
    0x48, 0x89, 0x1c, 0x25, 0x00, 0x00, 0x00, 0x40, // mov [0x40000000], rbx
  ]);
  uc.regWrite(C.UC_X86_REG_RBX, 0x5566_7788_99aa_bbccn);
  uc.emuStart(CODE, end);
  assert.is(uc.regRead(C.UC_X86_REG_CR0) >> 31n, 1n, "paging on");
  // The guest's virtual store went to physical 0x3000 (2.0.1 used 0x40000000 as physical).
  assert.is(dv.getBigUint64(0x3000, true), 0x5566_7788_99aa_bbccn);
  assert.is(Buffer.from(uc.memRead(0x3000, 8)).readBigUInt64LE(), 0x5566_7788_99aa_bbccn);
  // uc_mem_read does not walk the page tables.
  assert.throws(() => uc.memRead(0x4000_0000, 8), (e: unknown) => (e as UnicornError).codeName === "UC_ERR_READ_UNMAPPED");
  uc.close();
});

test("code, block, interrupt and CPUID hooks", () => {
  const { view, uc } = machine();
  const end = place(view, CODE, [
    0x31, 0xc0, //       xor eax, eax
    0x0f, 0xa2, //       cpuid          (the hook answers)
    0xcc, //             int3           (the hook sees vector 3; ends a block)
    0xeb, 0x00, //       jmp +0         (ends a block)
    0x90, //             nop
  ]);
  const code: bigint[] = [];
  const blocks: bigint[] = [];
  const intr: number[] = [];
  uc.hookCode(CODE, end - 1, (addr) => void code.push(addr));
  uc.hookBlock(1, 0, (addr) => void blocks.push(addr));
  uc.hookIntr((n) => void intr.push(n));
  uc.hookCpuid(() => {
    uc.regWriteBatch([C.UC_X86_REG_RAX, C.UC_X86_REG_RBX], [0x1234n, 0x756e_6547n]);
    return true;
  });
  uc.emuStart(CODE, end);
  assert.equal(code, [0, 2, 4, 5, 7].map((o) => BigInt(CODE + o)));
  assert.equal(blocks, [0, 5, 7].map((o) => BigInt(CODE + o)));
  assert.equal(intr, [3]);
  assert.is(uc.regRead(C.UC_X86_REG_RAX), 0x1234n);
  uc.close();
});

const LOOP_TURNS = 1000;
/** At CODE: mov ecx, LOOP_TURNS ; 1: dec ecx ; jnz 1b ; nop. Returns the address after it. */
const placeLoop = (view: Uint8Array) => place(view, CODE, [
  0xb9, LOOP_TURNS & 0xff, LOOP_TURNS >> 8, 0x00, 0x00, // mov ecx, LOOP_TURNS
  0xff, 0xc9, //                                         1: dec ecx
  0x75, 0xfc, //                                         jnz 1b
  0x90, //                                               nop
]);

test("countInstructions: a native hook counts each executed instruction exactly; the count outlives close()", () => {
  const { view, uc } = machine();
  const { count } = uc.countInstructions();
  const N = LOOP_TURNS;
  const loop = placeLoop(view);
  uc.emuStart(CODE, loop);
  assert.is(count(), BigInt(1 + 2 * N + 1));
  // A rep string instruction counts once per iteration and once more for the check
  // that ends it (Unicorn runs each iteration as its own step); with RCX = 0, once.
  // (Each piece of code at its own address: code written from the host behind
  // Unicorn's back is not retranslated.)
  for (const [at, rcx] of [[CODE + 0x100, 100], [CODE + 0x200, 0]]) {
    const before = count();
    const end = place(view, at, [
      0xb9, rcx, 0x00, 0x00, 0x00, //       mov ecx, rcx
      0xbf, 0x00, 0x10, 0x00, 0x00, //      mov edi, DATA
      0xf3, 0xaa, //                        rep stosb
    ]);
    uc.emuStart(at, end);
    assert.is(count() - before, BigInt(2 + rcx + 1), `rep stosb with RCX = ${rcx}`);
  }
  // The hook covers every address, so a stop from another hook is precise: the OUT
  // hook stops the guest right after the OUT, not at the end of its block. The first
  // nop is counted though it does not run: its code hook fires before the stop is
  // looked at.
  const before = count();
  const stop = place(view, CODE + 0x300, [
    0xe7, 0x80, //                         out 0x80, eax
    0x90, 0x90, 0x90, //                   nop ×3
  ]);
  uc.hookInsnOut(() => uc.emuStop());
  uc.emuStart(CODE + 0x300, stop);
  assert.is(uc.regRead(C.UC_X86_REG_RIP), BigInt(CODE + 0x302));
  assert.is(count() - before, 2n);
  const last = count();
  uc.close();
  assert.is(count(), last);
});

test("countInstructions' stopAt: the engine stops before the instruction past the limit, which is counted once, when it runs", () => {
  const { view, uc } = machine();
  const counter = uc.countInstructions();
  const N = LOOP_TURNS;
  const end = placeLoop(view);
  counter.stopAt(500n); // mov, 249 turns of dec/jnz, a dec: 500 run; it stops before the jnz
  uc.emuStart(CODE, end);
  assert.ok(counter.reached());
  assert.not.ok(counter.reached(), "once");
  assert.is(counter.count(), 500n);
  assert.is(uc.regRead(C.UC_X86_REG_RIP), BigInt(CODE + 7));
  assert.is(uc.regRead(C.UC_X86_REG_RCX), BigInt(N - 250));
  uc.emuStart(CODE + 7, end);
  assert.not.ok(counter.reached(), "no limit set: the run ends at its end");
  assert.is(counter.count(), BigInt(1 + 2 * N + 1), "the same count as an uninterrupted run");
  uc.close();
});

// f's page translated, then a store elsewhere on it, then a store to f's immediate: the
// second store's TLB entry is the one the first made fast in Unicorn 2.1.1.
function patchAfterWriteElsewhere(arm: (uc: Unicorn) => void): bigint {
  const { view, uc } = machine();
  arm(uc);
  place(view, 0x5000, [0xb8, 1, 0, 0, 0, 0xc3]); // f: mov eax, 1 ; ret
  const rel = (next: number) => [...new Uint8Array(new Int32Array([0x5000 - next]).buffer)];
  const end = place(view, CODE, [
    0xe8, ...rel(CODE + 5), //                              call f (translates it)
    0xc6, 0x04, 0x25, 0x00, 0x58, 0x00, 0x00, 0x00, //    mov byte [0x5800], 0: f's page, not f
    0xc6, 0x04, 0x25, 0x01, 0x50, 0x00, 0x00, 0x02, //    mov byte [0x5001], 2: f's immediate
    0xe8, ...rel(CODE + 0x1a), //                         call f
  ]);
  uc.emuStart(CODE, end);
  const eax = uc.regRead(C.UC_X86_REG_RAX);
  uc.close();
  return eax;
}

test("a write to code after a write elsewhere on its page: Unicorn 2.1.1 alone runs the old translation; trackCodePages and guardCodeWrites each see the new code", () => {
  if (libraryInfo().version === "2.1.1") assert.is(patchAfterWriteElsewhere(() => {}), 1n, "the quirk (if this fails, the library no longer has it)");
  let tracked = false;
  assert.is(patchAfterWriteElsewhere((uc) => (tracked = uc.trackCodePages())), 2n);
  assert.ok(tracked, "the tracker took over libunicorn's calls");
  assert.is(patchAfterWriteElsewhere((uc) => uc.guardCodeWrites()), 2n);
});

test("trackCodePages: pages that gained code and stores kept on the slow path are counted; a closed engine's record goes with it", () => {
  const { view, uc } = machine();
  assert.ok(uc.trackCodePages());
  const end = place(view, CODE, [
    0xc6, 0x04, 0x25, 0x00, 0x60, 0x00, 0x00, 0x00, //    mov byte [0x6000], 0: a page without code
    0xc6, 0x04, 0x25, 0x00, 0x48, 0x00, 0x00, 0x00, //    mov byte [0x4800], 0: this code's page (CODE's)
  ]);
  uc.emuStart(CODE, end);
  const stats = uc.codePageStats();
  assert.is(stats.codePages, 1);
  assert.is(stats.storesKept, 1);
  uc.close();
  assert.equal(uc.codePageStats(), { codePages: 0, storesKept: 0 });
});

test("target pages: Unicorn 2.1.1 leaves AArch64 at 1 KiB and refuses uc_ctl's page size for it; the field found on ARM makes it 4 KiB, as host/arm64/machine.ts does", () => {
  const a64 = () => new Unicorn(C.UC_MODE_ARM, C.UC_ARCH_ARM64);
  const plain = a64();
  const refused = !plain.targetPageSize(4096);
  if (libraryInfo().version === "2.1.1") {
    assert.ok(refused, "2.1.1 refuses ARM64 (if this fails, the library takes it)");
    assert.is(plain.query(C.UC_QUERY_PAGE_SIZE), 1024);
  }
  plain.close();
  const four = a64();
  four.engineState().setInt32(targetBitsOffset(), 12, true);
  assert.is(four.query(C.UC_QUERY_PAGE_SIZE), 4096);
  four.close();
});

test("hookOutGate: the trap port's registers land in memory before the handler, RAX comes from memory after; other ports go to onPort", () => {
  const { mem, view, uc } = machine();
  const block = new BigUint64Array(mem.buffer, 0x100, 4); // below the guest window: private memory
  const seen: string[] = [];
  uc.hookOutGate({
    trapPort: 0xef, memory: new Uint8Array(mem.buffer),
    ids: [C.UC_X86_REG_RCX, C.UC_X86_REG_RDX, C.UC_X86_REG_R9], offsets: [0x100, 0x108, 0x110],
    resultId: C.UC_X86_REG_RAX, resultOffset: 0x118,
    onTrap: (value) => {
      seen.push(`trap ${value.toString(16)}: ${[...block.slice(0, 3)].map((v) => v.toString(16)).join(" ")}`);
      block[3] = 0x8000_0000_0000_0003n + BigInt(value);
    },
    onPort: (port, size, value) => seen.push(`port ${port.toString(16)}/${size}: ${value.toString(16)}`),
  });
  const end = place(view, CODE, [
    0x48, 0xb9, ...[0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0xf1], // mov rcx, 0xf111111111111111
    0xba, 0x22, 0x00, 0x00, 0x00, //                                mov edx, 0x22
    0x41, 0xb9, 0x33, 0x00, 0x00, 0x00, //                          mov r9d, 0x33
    0xb8, 0x07, 0x00, 0x00, 0x00, //                                mov eax, 7
    0xe7, 0xef, //                                                  out 0xef, eax
    0x48, 0x89, 0xc3, //                                            mov rbx, rax
    0xb0, 0x41, //                                                  mov al, 0x41
    0xe6, 0x80, //                                                  out 0x80, al
  ]);
  uc.emuStart(CODE, end);
  assert.equal(seen, ["trap 7: f111111111111111 22 33", "port 80/1: 41"]);
  assert.is(uc.regRead(C.UC_X86_REG_RBX), 0x8000_0000_0000_000an, "RAX loaded from the result slot after the handler");
  uc.close();
});

test("the host TSC read natively ticks with the guest's RDTSC: hostTscKhz() is the rate the guest sees", () => {
  const { view, uc } = machine();
  const end = place(view, CODE, [0x0f, 0x31]); // rdtsc
  const guestTsc = () => {
    uc.emuStart(CODE, end);
    return (uc.regRead(C.UC_X86_REG_RDX) << 32n) | (uc.regRead(C.UC_X86_REG_RAX) & 0xffffffffn);
  };
  const h0 = hostRdtsc(), g0 = guestTsc(), h1 = hostRdtsc();
  assert.ok(h0 <= g0 && g0 <= h1, "the guest's RDTSC lies between two native readings: the same counter");
  const khz = hostTscKhz();
  const t0 = process.hrtime.bigint(), c0 = guestTsc();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
  const c1 = guestTsc(), t1 = process.hrtime.bigint();
  const seen = Number(c1 - c0) / (Number(t1 - t0) / 1e6);
  assert.ok(Math.abs(seen - khz) / khz < 0.05, `guest rate ${seen.toFixed(0)} kHz, hostTscKhz ${khz}`);
  uc.close();
});

test("noExitAddress: with an exit address the guest has unmapped, the end of a run leaves a page fault in flight and the guest's next one arrives as #DF; without, as #PF", () => {
  const vectors = (noExit: boolean) => {
    const { view, dv, uc } = machine();
    if (noExit) uc.noExitAddress();
    const q = (at: number, v: number) => dv.setBigUint64(at, BigInt(v), true);
    q(0x10000, 0x11000 | 3); // PML4[0] -> PDPT
    q(0x11000, 0x12000 | 3); // PDPT[0] -> PD
    q(0x12000, 0x0 | 0x83); //  PD[0]: the first 2 MiB, identity; nothing else mapped
    const paging = place(view, CODE, [
      0x48, 0xc7, 0xc0, 0x00, 0x00, 0x01, 0x00, 0x0f, 0x22, 0xd8, // mov rax, 0x10000 ; mov cr3, rax
      0x0f, 0x20, 0xe0, 0x48, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, // cr4 |= PAE
      0x0f, 0x20, 0xc0, 0x0f, 0xba, 0xe8, 0x1f, 0x0f, 0x22, 0xc0, // cr0 |= PG
      0xf4, //                                                       hlt
    ]);
    const read = place(view, paging, [0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x50, 0xf4]); // mov rax, [0x50000000] ; hlt
    const seen: number[] = [];
    uc.hookIntr((v) => { seen.push(v); uc.emuStop(); });
    uc.emuStart(CODE, 0x4000_0001); // ends at the hlt; the "exit" is unmapped once paging is on
    uc.emuStart(paging, read);
    uc.close();
    return seen;
  };
  assert.equal(vectors(false), [8], "Unicorn 2.1.1's quirk: if this changes, noExitAddress may no longer be needed");
  assert.equal(vectors(true), [14]);
});

test("quirks: old_exception, error_code, hflags, exception_is_int and the SVM intercept vector are each found at one offset of the saved context, all distinct", () => {
  const names = ["old_exception", "error_code", "hflags", "exception_is_int", "svm_intercept"];
  const offsets = [oldExceptionOffset(), errorCodeOffset(), hflagsOffset(), exceptionIsIntOffset(), svmInterceptOffset()];
  const size = new Unicorn(C.UC_MODE_64);
  const bytes = size.contextBytes(size.contextSave()).length;
  size.close();
  assert.is(new Set(offsets).size, offsets.length);
  for (const o of offsets) assert.ok(o >= 0 && o + 4 <= bytes && o % 4 === 0, `offset ${o} in a ${bytes}-byte context`);
  // Probed afresh, on throwaway engines, they are where the cache says.
  assert.equal([probeOldException(), probeErrorCode(), probeHflags(), probeExceptionIsInt(), probeSvmIntercept()], offsets);
  const cache = JSON.parse(readFileSync(QUIRKS_CACHE, "utf8"));
  const entry = Object.entries(cache).find(([key]) => key.startsWith(libraryInfo().path + " "));
  assert.ok(entry, `${QUIRKS_CACHE} has an entry for ${libraryInfo().path}`);
  const cachedOffsets = entry![1] as Record<string, unknown>;
  assert.equal(Object.fromEntries(names.map((n) => [n, cachedOffsets[n]])), Object.fromEntries(names.map((n, i) => [n, offsets[i]])));
});

test("quirks: Unicorn's own CPUID leaves 1 and 7, probed once and cached, are what the engine answers (qemu64: no RDRAND, no RDSEED)", () => {
  const base = unicornCpuid();
  const uc = new Unicorn(C.UC_MODE_64);
  uc.memMap(0, 0x1000);
  uc.memWrite(0, Uint8Array.of(0x0f, 0xa2));
  for (const [leaf, regs] of [[1, base.leaf1], [7, base.leaf7]] as const) {
    uc.regWriteBatch([C.UC_X86_REG_RAX, C.UC_X86_REG_RCX], [BigInt(leaf), 0n]);
    uc.emuStart(0, 2n);
    assert.equal([C.UC_X86_REG_EAX, C.UC_X86_REG_EBX, C.UC_X86_REG_ECX, C.UC_X86_REG_EDX].map((r) => Number(uc.regRead(r))), [...regs], `leaf ${leaf}`);
  }
  uc.close();
  assert.is(base.leaf1[2] & (1 << 30), 0, "the model has no RDRAND: the machine adds it and runs it (host/x86/random.ts)");
  assert.is(base.leaf7[1] & (1 << 18), 0, "nor RDSEED");
});

test("armStopTimer stops a guest spinning for ever, and any run started after its deadline, until disarmed", () => {
  const { view, uc } = machine();
  place(view, CODE, [0xeb, 0xfe]); // jmp $
  // Unicorn's own timeout, 60 s, is only a backstop: if the stop timer failed, the test
  // would fail on `expired` instead of hanging.
  const backstopUs = 60_000_000;
  uc.armStopTimer(1000);
  uc.emuStart(CODE, 0, backstopUs);
  assert.ok(uc.stopTimerExpired(), "stopped by the stop timer, not the backstop");
  assert.is(uc.regRead(C.UC_X86_REG_RIP), BigInt(CODE));
  uc.emuStart(CODE, 0, backstopUs);
  assert.ok(uc.stopTimerExpired(), "a run started after the deadline is stopped too");
  uc.disarmStopTimer();
  assert.not.ok(uc.stopTimerExpired());
  uc.armStopTimer(1000);
  uc.emuStart(CODE, 0, backstopUs);
  assert.ok(uc.stopTimerExpired(), "re-armed");
  uc.close(); // ends the timer's thread first
  assert.not.ok(uc.stopTimerExpired());
});

test("hookDel, close twice, use after close", () => {
  const { view, uc } = machine();
  const end = place(view, CODE, [0xe7, 0x80]); // out 0x80, eax
  let n = 0;
  const h = uc.hookInsnOut(() => void n++);
  uc.emuStart(CODE, end);
  uc.hookDel(h);
  uc.emuStart(CODE, end);
  assert.is(n, 1);
  uc.close();
  uc.close();
  assert.throws(() => uc.regRead(C.UC_X86_REG_RAX), /closed/);
});

test("a missing or old library is refused with a fix", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", "await import('./host/unicorn/index.ts').then((m) => new m.Unicorn())"], {
    cwd: ROOT,
    env: { ...process.env, UEFICORN_LIBUNICORN: "/nonexistent/libunicorn.so.2" },
    encoding: "utf8",
  });
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /UEFICORN_LIBUNICORN=\/nonexistent\/libunicorn.so.2 does not exist/);
  assert.match(r.stderr, /npm run setup/);
});

test("AArch64 IRQ line: raised from an MMIO read callback, the read is not run again (Unicorn 2.1.1 rewinds a block to its start on an exit taken after a load; the IRQ gate raises at the next block's start)", () => {
  const uc = new Unicorn(C.UC_MODE_ARM, C.UC_ARCH_ARM64);
  try {
    uc.memMap(0, 0x10000);
    // loop: ldr w0, [x2] ; add x1, x1, #1 ; cmp x1, #1000 ; b.ne loop ; nop
    uc.memWrite(0x1000n, Uint8Array.from([0x40, 0x00, 0x40, 0xb9, 0x21, 0x04, 0x00, 0x91, 0x3f, 0xa0, 0x0f, 0xf1, 0xa1, 0xff, 0xff, 0x54, 0x1f, 0x20, 0x03, 0xd5]));
    let reads = 0;
    uc.mmioMap(0x10_0000, 0x1000, () => {
      // A runaway (each read run again for ever) ends instead of hanging the test.
      if (++reads > 5000) uc.emuStop();
      uc.setIrqLine(true); // as a GIC's acknowledge may, with IRQs masked
      uc.setIrqLine(false);
      return 0n;
    }, () => {});
    uc.regWrite(C.UC_ARM64_REG_PSTATE, 0x3c5n); // EL1h, DAIF masked
    uc.setIrqLine(false); // the gate, before any block is translated
    uc.regWriteBatch([C.UC_ARM64_REG_X1, C.UC_ARM64_REG_X2], [0n, 0x10_0000n]);
    uc.emuStart(0x1000n, 0x1010n);
    assert.is(uc.regRead(C.UC_ARM64_REG_X1), 1000n);
    assert.is(reads, 1000, "one read per iteration");
  } finally {
    uc.close();
  }
});

test.run();
