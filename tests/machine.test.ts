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
