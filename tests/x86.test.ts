// host/x86: GDT, page tables and trampoline read back byte by byte, then run for real.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeRandom, isSerialize, randomResult } from "../host/x86/random.ts";
import {
  efiGdt, gdtBytes, gdtEntry, gdtr, GDTR_SIZE, SEL_CODE32, SEL_CODE64, SEL_DATA,
} from "../host/x86/gdt.ts";
import { identityMap, pagingBytes } from "../host/x86/paging.ts";
import { efiTrampoline } from "../host/x86/trampoline.ts";
import { movR64Imm64, RAX, RCX, RDX } from "../host/x86/asm.ts";
import { growTlb, TLB_ENTRIES, tlbTouchBytes } from "../host/x86/tlb.ts";
import { Unicorn, consts as UC } from "../host/unicorn/index.ts";
import {
  CPU_PAGE_SIZE, EFI_MIN_STACK_SIZE, GDT_OFFSET, GDT_SIZE, GDTR_OFFSET, STACK_ALIGN, STACK_SIZE,
  TRAMPOLINE_OFFSET, TRAMPOLINE_SIZE,
} from "../host/x86/layout.ts";
import {
  CR0_EM, CR0_MP, CR0_NE, CR0_PE, CR0_PG, CR0_TS, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_PAE,
  EFER_LMA, EFER_LME, EFER_NXE, FCW_DEFAULT, MSR_EFER, MXCSR_DEFAULT, RFLAGS_DF, RFLAGS_IF,
} from "../host/x86/regs.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const u64 = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getBigUint64(off, true);
const MiB = 1n << 20n, GiB = 1n << 30n;

// ---- GDT ----

test("gdtEntry places every field where SDM vol. 3A figure 3-8 puts it", () => {
  // base 0x12345678, limit 0x9abcd, byte 5 = 0x93, high nibble of byte 6 = 0x4 (D/B):
  // base 31:24 = 12 | G D L AVL = 4, limit 19:16 = 9 | byte 5 = 93 | base 23:0 = 345678 | limit 15:0 = abcd
  assert.is(gdtEntry(0x4093, 0x12345678, 0x9abcd), 0x1249_9334_5678_abcdn);
  assert.is(gdtEntry(0x0f00, 0, 0), 0n, "bits 8-11 of flags are the limit's place, ignored");
});

test("efiGdt: one exact descriptor per selector", () => {
  const gdt = efiGdt();
  assert.equal(gdt, [
    0x0000_0000_0000_0000n, // 0x00 null
    0x00af_9b00_0000_ffffn, // 0x08 code64: 9b = P, DPL 0, S, type 1011 (code, exec/read, accessed);
                            //      a = G (4 KiB units), L (64-bit), D = 0 (required with L); limit f_ffff
    0x00cf_9300_0000_ffffn, // 0x10 data:   93 = P, DPL 0, S, type 0011 (data, read/write, accessed);
                            //      c = G, B (32-bit); base 0, limit f_ffff × 4 KiB = 4 GiB
    0x00cf_9b00_0000_ffffn, // 0x18 code32: 9b as code64; c = G, D (32-bit default operand size)
  ]);
  assert.is(SEL_CODE64, 1 * 8);
  assert.is(SEL_DATA, 2 * 8);
  assert.is(SEL_CODE32, 3 * 8);
  assert.is(GDT_SIZE, gdt.length * 8);
});

test("gdtBytes: little-endian u64 per entry", () => {
  assert.is(hex(gdtBytes(efiGdt())),
    "0000000000000000" + "ffff0000009baf00" + "ffff00000093cf00" + "ffff0000009bcf00");
});

test("gdtr: limit = size - 1, then the 64-bit base", () => {
  const r = gdtr(0x1234_5678_9abc_def0n, efiGdt());
  assert.is(r.length, GDTR_SIZE);
  assert.is(hex(r), "1f00" + "f0debc9a78563412");
  assert.throws(() => gdtr(0n, []));
});

// ---- Paging ----

const PTE_TABLE = 0x3n;  // P | RW: points at the next table
const PTE_2M = 0x83n;    // P | RW | PS: maps a 2 MiB page

/** Reads every entry back: the expected ones from `want`, zero everywhere else. */
function checkTables(base: bigint, ram: bigint) {
  const { bytes, cr3 } = identityMap(base, ram);
  const pds = Number((ram + GiB - 1n) / GiB);
  const pages = Number((ram + 2n * MiB - 1n) / (2n * MiB));
  assert.is(cr3, base);
  assert.is(BigInt(bytes.length), pagingBytes(ram));
  assert.is(bytes.length, (2 + pds) * 4096);
  const want = (table: number, i: number): bigint => {
    if (table === 0) return i === 0 ? (base + 0x1000n) | PTE_TABLE : 0n;             // PML4
    if (table === 1) return i < pds ? (base + BigInt(2 + i) * 0x1000n) | PTE_TABLE : 0n; // PDPT
    const m = (table - 2) * 512 + i;                                                 // PDs
    return m < pages ? (BigInt(m) * 2n * MiB) | PTE_2M : 0n;
  };
  let mapped = 0;
  for (let t = 0; t < 2 + pds; t++) {
    for (let i = 0; i < 512; i++) {
      const e = u64(bytes, t * 4096 + i * 8);
      if (e !== want(t, i)) assert.unreachable(`table ${t} entry ${i}: 0x${e.toString(16)}, want 0x${want(t, i).toString(16)}`);
      if (t >= 2 && e !== 0n) mapped++;
    }
  }
  assert.is(mapped, pages);
  return bytes;
}

test("identityMap 256 MiB: 3 tables, 128 large pages", () => {
  const b = checkTables(0x10_0000n, 256n * MiB);
  assert.is(u64(b, 0), 0x10_1003n);            // PML4[0] → PDPT at base + 4 KiB
  assert.is(u64(b, 0x1000), 0x10_2003n);       // PDPT[0] → PD at base + 8 KiB
  assert.is(u64(b, 0x2000 + 127 * 8), 0x0fe0_0083n); // last 2 MiB page: 254 MiB
  assert.is(u64(b, 0x2000 + 128 * 8), 0n);
});

test("identityMap 3 GiB: 5 tables, 1536 large pages", () => {
  const b = checkTables(0x7fe0_0000n, 3n * GiB);
  assert.is(u64(b, 0x1000 + 2 * 8), 0x7fe0_4003n);   // PDPT[2] → third PD
  assert.is(u64(b, 0x4000 + 511 * 8), 0xbfe0_0083n); // 3 GiB - 2 MiB
});

test("identityMap rounds up to 2 MiB and rejects what it cannot do", () => {
  checkTables(0n, 3n * MiB + 1n);                  // 2 large pages
  assert.is(pagingBytes(512n * GiB), 514n * 4096n);
  assert.throws(() => identityMap(0x800n, MiB), /aligned/);
  assert.throws(() => identityMap(0n, 0n), RangeError);
  assert.throws(() => identityMap(0n, 512n * GiB + 1n), RangeError);
});

test("identityMap with a guard page: one more table, the 2 MiB around it in 4 KiB pages, the guard unmapped", () => {
  const base = 0x10_0000n, ram = 256n * MiB, guard = 0x0ff3_3000n;
  const { bytes } = identityMap(base, ram, guard);
  assert.is(BigInt(bytes.length), pagingBytes(ram, guard));
  assert.is(pagingBytes(ram, guard), pagingBytes(ram) + 4096n);
  const pt = base + 3n * 0x1000n; // after PML4, PDPT and the one PD
  const m = Number(guard / (2n * MiB));
  assert.is(u64(bytes, 0x2000 + m * 8), pt | PTE_TABLE, "the PD entry points at the PT");
  assert.is(u64(bytes, 0x2000 + (m - 1) * 8), (BigInt(m - 1) * 2n * MiB) | PTE_2M, "its neighbours stay 2 MiB pages");
  const region = BigInt(m) * 2n * MiB;
  for (let i = 0; i < 512; i++) {
    const page = region + BigInt(i) * 0x1000n;
    assert.is(u64(bytes, 0x3000 + i * 8), page === guard ? 0n : page | PTE_TABLE, `PT entry ${i}`);
  }
  assert.throws(() => identityMap(base, ram, guard + 8n), /guard page/);
  assert.throws(() => identityMap(base, ram, ram), /guard page/);
});

// ---- Trampoline ----

const CR3 = 0x1000n, GDTR_ADDR = 0x4040n, STACK_TOP = 0x10_0000n;

test("efiTrampoline: the exact instruction stream", () => {
  const t = efiTrampoline({ cr3: CR3, gdtrAddr: GDTR_ADDR, stackTop: STACK_TOP });
  const listing: [string, string][] = [
    ["fa", "cli"],
    ["fc", "cld"],
    ["0f20e0", "mov rax, cr4"],
    ["0d20060000", "or eax, 0x620 (PAE|OSFXSR|OSXMMEXCPT)"],
    ["0f22e0", "mov cr4, rax"],
    ["48b80010000000000000", "mov rax, 0x1000"],
    ["0f22d8", "mov cr3, rax"],
    ["b9800000c0", "mov ecx, 0xc0000080 (EFER)"],
    ["0f32", "rdmsr"],
    ["0d00090000", "or eax, 0x900 (LME|NXE)"],
    ["0f30", "wrmsr"],
    ["0f20c0", "mov rax, cr0"],
    ["0d22000080", "or eax, 0x80000022 (PG|NE|MP)"],
    ["25f3ffffff", "and eax, ~0xc (EM|TS)"],
    ["0f22c0", "mov cr0, rax"],
    ["48b84040000000000000", "mov rax, 0x4040"],
    ["0f0110", "lgdt [rax]"],
    ["48bc0000100000000000", "mov rsp, 0x100000"],
    ["6a08", "push 0x08 (SEL_CODE64)"],
    ["488d0503000000", "lea rax, [rip + 3] (after the retfq)"],
    ["50", "push rax"],
    ["48cb", "retfq"],
    ["b810000000", "mov eax, 0x10 (SEL_DATA)"],
    ["8ed8", "mov ds, eax"],
    ["8ec0", "mov es, eax"],
    ["8ed0", "mov ss, eax"],
    ["8ee0", "mov fs, eax"],
    ["8ee8", "mov gs, eax"],
    ["dbe3", "fninit"],
    ["0fae1501000000", "ldmxcsr [rip + 1] (the dword after hlt)"],
    ["f4", "hlt (end label)"],
    ["801f0000", "dd 0x1f80 (MXCSR)"],
  ];
  const code = hex(t.bytes);
  let at = 0;
  for (const [bytes, what] of listing) {
    assert.is(code.slice(at, at + bytes.length), bytes, `${what} at +0x${(at / 2).toString(16)}`);
    if (what.startsWith("hlt")) assert.is(t.end, at / 2, "end label offset");
    at += bytes.length;
  }
  assert.is(at, code.length, "nothing after the MXCSR dword");
  assert.ok(t.bytes.length <= TRAMPOLINE_SIZE);
});

test("efiTrampoline: inputs land in their immediates; stack alignment is checked", () => {
  const t = efiTrampoline({ cr3: 0x1234_5678_9000n, gdtrAddr: 0xfeed_beefn, stackTop: 0xdead_bee0n });
  const code = hex(t.bytes);
  assert.ok(code.includes("48b80090785634120000" + "0f22d8"), "mov rax, cr3 value; mov cr3, rax");
  assert.ok(code.includes("48b8efbeedfe00000000" + "0f0110"), "mov rax, gdtr; lgdt [rax]");
  assert.ok(code.includes("48bce0beadde00000000"), "mov rsp, stackTop");
  assert.throws(() => efiTrampoline({ cr3: 0n, gdtrAddr: 0n, stackTop: 0x1008n }), /aligned/);
});

test("growTlb: one round per doubling, each touching as many pages as the TLB has entries, then reloading CR3", () => {
  const round = (pages: string) => "48b90000200000000000" // mov rcx, 0x200000
    + `ba${pages}` +                                      // mov edx, pages
    "8a01" + "4881c100100000" + "ffca" + "75f3" +          // L: mov al, [rcx]; add rcx, 4096; dec edx; jnz L
    "0f20d8" + "0f22d8";                                   // mov rax, cr3; mov cr3, rax
  const code = Buffer.from(growTlb({ base: 0x20_0000n, entries: 2048 })).toString("hex");
  assert.is(code, round("00010000") + round("00020000") + round("00040000"), "256 -> 512 -> 1024 -> 2048");
  assert.is(tlbTouchBytes(TLB_ENTRIES), TLB_ENTRIES / 2 * 4096);
  assert.throws(() => growTlb({ base: 0n, entries: 256 }), /power of two above 256/);
  assert.throws(() => growTlb({ base: 0n, entries: 3000 }), /power of two/);
});

test("efiTrampoline: the TLB growth sits after fninit, and the whole fits its slot at the size the machine uses", () => {
  const plain = hex(efiTrampoline({ cr3: CR3, gdtrAddr: GDTR_ADDR, stackTop: STACK_TOP }).bytes);
  const tlb = { base: 0n, entries: TLB_ENTRIES };
  const t = efiTrampoline({ cr3: CR3, gdtrAddr: GDTR_ADDR, stackTop: STACK_TOP, tlb });
  const grown = hex(t.bytes);
  const at = plain.indexOf("dbe3") + 4;
  assert.is(grown.slice(at, at + 2 * growTlb(tlb).length), hex(Uint8Array.from(growTlb(tlb))));
  assert.ok(t.bytes.length <= TRAMPOLINE_SIZE, `${t.bytes.length} bytes`);
});

// ---- Layout ----

test("layout: CPU page slots do not overlap and fit the page", () => {
  assert.ok(GDT_OFFSET % 8 === 0 && GDT_OFFSET + GDT_SIZE <= GDTR_OFFSET);
  assert.ok(GDTR_OFFSET + GDTR_SIZE <= TRAMPOLINE_OFFSET);
  assert.ok(TRAMPOLINE_OFFSET + TRAMPOLINE_SIZE <= CPU_PAGE_SIZE);
  assert.ok(STACK_SIZE >= EFI_MIN_STACK_SIZE && STACK_SIZE % 4096 === 0);
  assert.is(STACK_ALIGN, 16);
});

// ---- A real run in Unicorn ----
//
// 4 MiB of guest RAM at physical 0:
//   0x1000  page tables (3 pages: PML4, PDPT, one PD) identity-mapping [0, 4 MiB)
//   0x4000  CPU page: GDT +0x000, GDTR +0x040, trampoline +0x100
//   0x5000  probe code, run after the trampoline
//   0x5800  marker B;  0x20_5800 marker A
//   0x10_0000 stack top
const RAM = 4n * MiB, TABLES = 0x1000n, CPU_PAGE = 0x4000n, PROBE = 0x5000n, STACK = 0x10_0000n;
const X = 0x5800n, MARK_A = 0xa5a5_0123_4567_89abn, MARK_B = 0x5a5a_fedc_ba98_7654n;
const le64 = (v: bigint) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, v, true); return b; };

test("real run: the trampoline brings Unicorn to the UEFI x64 entry state", () => {
  const uc = new Unicorn(UC.UC_MODE_64);
  try {
    uc.memMap(0, Number(RAM));
    const { bytes: tables, cr3 } = identityMap(TABLES, RAM);
    const gdt = efiGdt();
    const t = efiTrampoline({ cr3, gdtrAddr: CPU_PAGE + BigInt(GDTR_OFFSET), stackTop: STACK });
    uc.memWrite(TABLES, tables);
    uc.memWrite(CPU_PAGE + BigInt(GDT_OFFSET), gdtBytes(gdt));
    uc.memWrite(CPU_PAGE + BigInt(GDTR_OFFSET), gdtr(CPU_PAGE + BigInt(GDT_OFFSET), gdt));
    uc.memWrite(CPU_PAGE + BigInt(TRAMPOLINE_OFFSET), t.bytes);
    uc.memWrite(0x20_0000n + X, le64(MARK_A));
    uc.memWrite(X, le64(MARK_B));

    const entry = CPU_PAGE + BigInt(TRAMPOLINE_OFFSET);
    uc.emuStart(entry, entry + BigInt(t.end), 0, 100); // at most 100 instructions

    const cr0 = uc.regRead(UC.UC_X86_REG_CR0);
    assert.is(cr0 & (CR0_PG | CR0_PE | CR0_NE | CR0_MP), CR0_PG | CR0_PE | CR0_NE | CR0_MP, `CR0 0x${cr0.toString(16)}`);
    assert.is(cr0 & (CR0_EM | CR0_TS), 0n, "CR0.EM and TS clear");
    const cr4 = uc.regRead(UC.UC_X86_REG_CR4);
    assert.is(cr4 & (CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT, `CR4 0x${cr4.toString(16)}`);
    assert.is(uc.regRead(UC.UC_X86_REG_CR3), TABLES);
    const efer = uc.msrRead(MSR_EFER);
    assert.is(efer & (EFER_LMA | EFER_LME | EFER_NXE), EFER_LMA | EFER_LME | EFER_NXE, `EFER 0x${efer.toString(16)}`);
    assert.is(uc.regRead(UC.UC_X86_REG_CS), BigInt(SEL_CODE64));
    for (const seg of [UC.UC_X86_REG_DS, UC.UC_X86_REG_SS]) assert.is(uc.regRead(seg), BigInt(SEL_DATA));
    const g = uc.mmrRead(UC.UC_X86_REG_GDTR);
    assert.is(g.base, CPU_PAGE + BigInt(GDT_OFFSET));
    assert.is(g.limit, GDT_SIZE - 1);
    assert.is(uc.regRead(UC.UC_X86_REG_RSP), STACK);
    assert.is(uc.regRead(UC.UC_X86_REG_RIP), entry + BigInt(t.end));
    assert.is(uc.regRead(UC.UC_X86_REG_RFLAGS) & (RFLAGS_IF | RFLAGS_DF), 0n, "IF and DF clear");
    assert.is(uc.regRead(UC.UC_X86_REG_MXCSR), BigInt(MXCSR_DEFAULT));
    assert.is(uc.regRead(UC.UC_X86_REG_FPCW), BigInt(FCW_DEFAULT));

    // Loads through the page tables: first as built (virtual 2 MiB + X is physical 2 MiB + X),
    // then with PD[1] pointed at physical 0 by the guest itself, which only a real
    // translation notices (Unicorn 2.0.1 would read MARK_A again).
    const va = 0x20_0000n + X;
    const probe = Uint8Array.from([
      ...movR64Imm64(RAX, va),
      0x48, 0x8b, 0x00,                           // mov rax, [rax]          REX.W 8B /r, ModRM 00 000 000
      ...movR64Imm64(RCX, TABLES + 0x2000n + 8n), // rcx = &PD[1]
      0x48, 0xc7, 0x01, 0x83, 0x00, 0x00, 0x00,   // mov qword [rcx], 0x83   REX.W C7 /0 id: 2 MiB page at physical 0
      ...movR64Imm64(RDX, va),
      0x0f, 0x01, 0x3a,                           // invlpg [rdx]            0F 01 /7, ModRM 00 111 010
      0x48, 0x8b, 0x12,                           // mov rdx, [rdx]          REX.W 8B /r, ModRM 00 010 010
    ]);
    uc.memWrite(PROBE, probe);
    uc.emuStart(PROBE, PROBE + BigInt(probe.length), 0, 10);
    assert.is(uc.regRead(UC.UC_X86_REG_RAX), MARK_A, "identity-mapped load");
    assert.is(uc.regRead(UC.UC_X86_REG_RDX), MARK_B, "load through the remapped PD entry");
  } finally {
    uc.close();
  }
});

test("real run: the trampoline with TLB growth reaches the same state, having read every page it was given", () => {
  const uc = new Unicorn(UC.UC_MODE_64);
  try {
    uc.memMap(0, Number(RAM));
    const { bytes: tables, cr3 } = identityMap(TABLES, RAM);
    const gdt = efiGdt();
    const entries = 1024, base = 0x10_0000n;
    const t = efiTrampoline({ cr3, gdtrAddr: CPU_PAGE + BigInt(GDTR_OFFSET), stackTop: STACK, tlb: { base, entries } });
    uc.memWrite(TABLES, tables);
    uc.memWrite(CPU_PAGE + BigInt(GDT_OFFSET), gdtBytes(gdt));
    uc.memWrite(CPU_PAGE + BigInt(GDTR_OFFSET), gdtr(CPU_PAGE + BigInt(GDT_OFFSET), gdt));
    uc.memWrite(CPU_PAGE + BigInt(TRAMPOLINE_OFFSET), t.bytes);
    const entry = CPU_PAGE + BigInt(TRAMPOLINE_OFFSET);
    uc.emuStart(entry, entry + BigInt(t.end), 0, 100 + 4 * (256 + 512) + 10);
    assert.is(uc.regRead(UC.UC_X86_REG_RIP), entry + BigInt(t.end), "at the end label");
    assert.is(uc.regRead(UC.UC_X86_REG_RAX), cr3, "RAX: the CR3 reloaded last");
    assert.is(uc.regRead(UC.UC_X86_REG_RCX), base + BigInt(tlbTouchBytes(entries)), "RCX: past the last page read");
    assert.is(uc.regRead(UC.UC_X86_REG_CR3), cr3);
    assert.is(uc.regRead(UC.UC_X86_REG_RSP), STACK);
  } finally {
    uc.close();
  }
});


test("RDRAND/RDSEED decode (SDM vol. 2B): register, operand size, length; RDPID, memory forms and other 0F C7 are not taken", () => {
  const d = (hex: string, long = true) => decodeRandom(Buffer.from(hex.replace(/ /g, ""), "hex"), long);
  assert.equal(d("0f c7 f0"), { seed: false, reg: 0, size: 4, length: 3 }); //       rdrand eax
  assert.equal(d("48 0f c7 f0"), { seed: false, reg: 0, size: 8, length: 4 }); //    rdrand rax
  assert.equal(d("49 0f c7 f7"), { seed: false, reg: 15, size: 8, length: 4 }); //   rdrand r15
  assert.equal(d("66 0f c7 f3"), { seed: false, reg: 3, size: 2, length: 4 }); //    rdrand bx
  assert.equal(d("48 0f c7 f9"), { seed: true, reg: 1, size: 8, length: 4 }); //     rdseed rcx
  assert.equal(d("65 0f c7 fa"), { seed: true, reg: 2, size: 4, length: 4 }); //     gs: rdseed edx
  assert.is(d("48 0f c7 f0", false), undefined, "outside 64-bit mode 0x48 is dec eax, not REX");
  assert.is(d("f3 0f c7 f8"), undefined, "rdpid");
  assert.is(d("0f c7 30"), undefined, "vmptrld [rax]: a memory operand");
  assert.is(d("0f c7 c8"), undefined, "/1 with mod 11");
  assert.is(d("f0 0f c7 f0"), undefined, "lock: #UD on hardware too");
  assert.is(d("0f c7"), undefined, "cut short");
});

test("SERIALIZE is NP 0F 01 E8 only: F3 (SETSSBSY), F2 (XSUSLDTRK) and other 0F 01 forms are not", () => {
  const b = (hex: string) => Buffer.from(hex.replace(/ /g, "") + "00".repeat(8), "hex");
  assert.ok(isSerialize(b("0f 01 e8")));
  assert.not.ok(isSerialize(b("f3 0f 01 e8")));
  assert.not.ok(isSerialize(b("f2 0f 01 e8")));
  assert.not.ok(isSerialize(b("0f 01 f8")), "swapgs");
  assert.not.ok(isSerialize(b("0f 01 d0")), "xgetbv");
});

test("RDRAND/RDSEED results: CF set, OF SF ZF AF PF clear; 32-bit zero-extends, 16-bit keeps the upper bits", () => {
  const r = 0x1122_3344_5566_7788n, old = 0xaaaa_bbbb_cccc_ddddn, flags = 0x2n | 0x8d5n; // every status flag set
  const i = (size: 2 | 4 | 8) => ({ seed: false, reg: 0, size, length: 3 });
  assert.equal(randomResult(i(8), old, flags, r), { reg: r, rflags: 0x3n });
  assert.is(randomResult(i(4), old, flags, r).reg, 0x5566_7788n);
  assert.is(randomResult(i(2), old, flags, r).reg, 0xaaaa_bbbb_cccc_7788n);
  assert.is(randomResult(i(8), old, 0x202n, r).rflags, 0x203n, "IF and the reserved bit untouched");
});

test.run();
