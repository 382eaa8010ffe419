// The machine around the guest: physical addresses nobody emulates, and exception
// delivery through the guest's own IDT.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Machine } from "../host/machine.ts";
import { consts as C } from "../host/unicorn/index.ts";
import { MEMORY_TYPE as MT } from "../firmware/spec/uefi.ts";
import { serviceByName, THUNK_SIZE } from "../firmware/spec/services.ts";
import { Asm } from "./guest-asm.ts";
import { deliver, type Cpu } from "../host/x86/interrupts.ts";
import { SEL_CODE64, SEL_DATA } from "../host/x86/gdt.ts";
import { EFER_SCE, MSR_EFER, MSR_FMASK, MSR_LSTAR, MSR_STAR } from "../host/x86/regs.ts";

test("an unemulated physical address reads as all ones, is logged once, and the guest goes on", () => {
  const log: string[] = [];
  const m = new Machine({ ramMiB: 32, onLog: (l) => log.push(l) });
  const v = m.fw.ramView;
  // Map virtual 1 GiB with one 2 MiB page onto the IO-APIC's physical page (0xfec00000).
  const pml4 = Number(m.uc.regRead(C.UC_X86_REG_CR3) & ~0xfffn);
  const pdpt = Number(v.getBigUint64(pml4, true) & ~0xfffn);
  const pd = Number(m.fw.allocPages(MT.BootServicesData, 1));
  v.setBigUint64(pdpt + 8, BigInt(pd) | 3n, true);
  v.setBigUint64(pd, 0xfec00000n | 0x83n, true); // P | RW | PS
  const code = Number(m.fw.allocPages(MT.LoaderCode, 1));
  // mov rax, [0x40000010] ; mov rbx, [0x40000020] ; ret
  m.fw.ram.set([0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0x40, 0x48, 0x8b, 0x1c, 0x25, 0x20, 0, 0, 0x40, 0xc3], code);
  m.callGuest(BigInt(code), 0n, 0n);
  assert.is(m.uc.regRead(C.UC_X86_REG_RAX), 0xffff_ffff_ffff_ffffn);
  assert.is(m.uc.regRead(C.UC_X86_REG_RBX), 0xffff_ffff_ffff_ffffn);
  assert.equal(log.filter((l) => l.startsWith("mmio:")).length, 1);
  assert.match(log[0], /read of unemulated address 0xfec00010 at RIP 0x/);
  m.close();
});

test("countInstructions: the guest's own instructions, each EFI call 3 more (its thunk), the return 1 (the sentinel's hlt), the host's bring-up not counted", () => {
  const m = new Machine({ ramMiB: 32, countInstructions: true });
  assert.is(m.instructions(), 0n);
  const thunk = (name: string) => m.fw.thunks + BigInt(serviceByName(name).id * THUNK_SIZE);
  // RestoreTPL(RaiseTPL(HIGH_LEVEL)): 9 instructions of its own, two thunks (mov eax,
  // id ; out ; ret) of 3 each, and the hlt at the host's sentinel it returns to.
  const code = new Asm().subRsp(0x28)
    .movRcx(31n).movRax(thunk("BS.RaiseTPL")).callRax()
    .raxToRcx().movRax(thunk("BS.RestoreTPL")).callRax()
    .addRsp(0x28).ret();
  const at = m.fw.allocPages(MT.LoaderCode, 1);
  m.fw.ram.set(code.bytes, Number(at));
  m.callGuest(at, 0n, 0n);
  assert.is(m.instructions(), 9n + 2n * 3n + 1n);
  m.callGuest(at, 0n, 0n);
  assert.is(m.instructions(), 2n * 16n);
  assert.is(m.instructionsAtEntry, undefined, "no ExitBootServices");
  const plain = new Machine({ ramMiB: 32 });
  assert.is(plain.instructions(), undefined, "counting is off by default");
  plain.close();
  m.close();
  assert.is(m.instructions(), 2n * 16n, "the count outlives the engine");
});

test("deterministic clock: RDTSC reads the clock's TSC, one tick per instruction, and CPUID reports its 1 GHz", () => {
  const m = new Machine({ ramMiB: 32, clock: "deterministic" });
  // rdtsc ; shl rdx, 32 ; or rax, rdx ; ret
  const at = m.fw.allocPages(MT.LoaderCode, 1);
  m.fw.ram.set([0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0xc3], Number(at));
  const first = m.callGuest(at, 0n, 0n);
  const second = m.callGuest(at, 0n, 0n);
  // Between the two RDTSCs: shl, or, ret, the sentinel's hlt, then the second rdtsc itself.
  assert.is(second - first, 5n);
  assert.is(second, m.clock.tsc!() - 4n, "the clock's own reading at the second RDTSC (shl, or, ret, hlt since)");
  // cpuid leaf 0x15: EBX/EAX * ECX = the TSC rate in Hz.
  m.fw.ram.set([0xb8, 0x15, 0, 0, 0, 0x0f, 0xa2, 0x48, 0x89, 0xd8, 0xc3], Number(at)); // mov eax, 0x15 ; cpuid ; mov rax, rbx ; ret
  m.uc.removeCache(at, at + 4096n);
  assert.is(m.callGuest(at, 0n, 0n), 1_000_000n, "EBX: TSC kHz over EAX = 1000");
  m.close();
});

test("SYSCALL as the SDM has it: RCX the next RIP, R11 the RFLAGS, RFLAGS masked by FMASK, CS and SS from STAR, RIP from LSTAR", () => {
  const m = new Machine({ ramMiB: 32 });
  const page = m.fw.allocPages(MT.LoaderCode, 1);
  const out = page + 0x800n; // rcx, r11, rflags, cs, ss as the handler saw them
  const caller = [0xf9, 0x0f, 0x05, 0xc3]; // stc ; syscall ; ret
  const store = (i: number) => [0x48, 0xa3, ...new Uint8Array(new BigUint64Array([out + BigInt(8 * i)]).buffer)]; // mov [moffs64], rax
  const handler = [
    0x48, 0x89, 0xc8, ...store(0), //  mov rax, rcx
    0x4c, 0x89, 0xd8, ...store(1), //  mov rax, r11
    0x9c, 0x58, ...store(2), //        pushfq ; pop rax
    0x8c, 0xc8, ...store(3), //        mov eax, cs
    0x8c, 0xd0, ...store(4), //        mov eax, ss
    0xff, 0xe1, //                     jmp rcx: back to the caller's ret
  ];
  m.fw.ram.set(caller, Number(page));
  m.fw.ram.set(handler, Number(page) + 0x400);
  m.uc.msrWrite(MSR_STAR, BigInt(SEL_CODE64) << 32n);
  m.uc.msrWrite(MSR_LSTAR, page + 0x400n);
  m.uc.msrWrite(MSR_FMASK, 1n); // CF
  m.uc.msrWrite(MSR_EFER, m.uc.msrRead(MSR_EFER) | EFER_SCE);
  m.callGuest(page, 0n, 0n);
  const at = (i: number) => m.fw.ramView.getBigUint64(Number(out) + 8 * i, true);
  assert.is(at(0), page + 3n, "RCX: the instruction after syscall");
  assert.is(at(1) & 1n, 1n, "R11: RFLAGS with the stc's CF");
  assert.is(at(2) & 1n, 0n, "RFLAGS: CF masked by FMASK");
  assert.is(at(3) & 0xffffn, BigInt(SEL_CODE64), "CS from STAR[47:32]");
  assert.is(at(4) & 0xffffn, BigInt(SEL_CODE64 + 8), "SS = CS + 8");
  assert.is(SEL_CODE64 + 8, SEL_DATA, "the host's GDT has its data segment there");
  m.close();
});

function cpu(over: Partial<Cpu>, mem: Map<bigint, bigint>): Cpu {
  return {
    rip: 0x1000n, rsp: 0x8000n, rflags: 0x202n, cs: 0x10, ss: 0x18, idtBase: 0x2000n, idtLimit: 0xfff, trBase: 0x3000n,
    read64: (va) => mem.get(va), write64: (va, val) => (mem.set(va, val), true), ...over,
  };
}

/** A 64-bit interrupt gate (SDM 3A figure 6-8) to `target`, selector 0x10, IST `ist`. */
function gate(target: bigint, ist = 0, type = 0xe): [bigint, bigint] {
  const lo = (target & 0xffffn) | (0x10n << 16n) | (BigInt(ist) << 32n) | (BigInt(0x80 | type) << 40n) | (((target >> 16n) & 0xffffn) << 48n);
  return [lo, target >> 32n];
}

test("delivery: interrupt gate, same privilege, error code pushed, IF cleared", () => {
  const mem = new Map<bigint, bigint>();
  const [lo, hi] = gate(0xffff_ffff_8100_1234n);
  mem.set(0x2000n + 14n * 16n, lo);
  mem.set(0x2000n + 14n * 16n + 8n, hi);
  const d = deliver(cpu({}, mem), 14, 2);
  assert.is(d.rip, 0xffff_ffff_8100_1234n);
  assert.is(d.rsp, 0x8000n - 6n * 8n);
  assert.is(d.rflags & 0x200n, 0n);
  // frame, from the new RSP up: error code, RIP, CS, RFLAGS, RSP, SS
  assert.equal([0, 1, 2, 3, 4, 5].map((i) => mem.get(d.rsp + BigInt(i * 8))), [2n, 0x1000n, 0x10n, 0x202n, 0x8000n, 0x18n]);
});

test("delivery: IST stack from the TSS, trap gate keeps IF, missing gate is an error", () => {
  const mem = new Map<bigint, bigint>();
  const [lo, hi] = gate(0x5000n, 1, 0xf);
  mem.set(0x2000n + 3n * 16n, lo);
  mem.set(0x2000n + 3n * 16n + 8n, hi);
  mem.set(0x3000n + 0x24n, 0x9008n); // IST1, realigned down to 16
  const d = deliver(cpu({}, mem), 3);
  assert.is(d.rsp, 0x9000n - 5n * 8n);
  assert.is(d.rflags & 0x200n, 0x200n);
  mem.set(0x2000n + 6n * 16n, 0n);
  mem.set(0x2000n + 6n * 16n + 8n, 0n);
  assert.throws(() => deliver(cpu({}, mem), 6), /not a present interrupt or trap gate/);
  assert.throws(() => deliver(cpu({}, mem), 7), /IDT entry 7 .* is unmapped/);
  assert.throws(() => deliver(cpu({ idtLimit: 0x2f }, mem), 3), /beyond the IDT limit/);
});

test.run();
