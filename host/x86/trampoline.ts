// The EFI trampoline: guest code that takes Unicorn's UC_MODE_64 reset state (CR0 = 0x11,
// EFER = LME|LMA, paging off) to the state UEFI 2.10 §2.3.4 promises an x64 image.
// Control registers written from the host are not reliable (Unicorn 2.0 stores them
// without a mode update); the same writes done by guest instructions are.
//
// Position independent: the only absolute addresses are the inputs (CR3, the GDTR, the
// stack); the far-return target and the MXCSR value are reached RIP-relative. The code,
// the GDT, the GDTR and the 16 bytes below the stack top must lie inside the identity
// map, since paging is on from the `mov cr0` onwards.

import { SEL_CODE64, SEL_DATA } from "./gdt.ts";
import {
  andEaxImm32, cld, cli, CS, DS, ES, fninit, FS, GS, hlt, ldmxcsrRip, leaRaxRip, lgdtRax, movCrRax, movEaxImm32,
  movEcxImm32, movR64Imm64, movRaxCr, movRaxImm64, movSregEax, orEaxImm32, pushImm8, pushRax, rdmsr, retfq, RSP, SS, u32le, wrmsr,
} from "./asm.ts";
import { TRAMPOLINE_SIZE } from "./layout.ts";
import { growTlb, type TlbGrowth } from "./tlb.ts";
import {
  EFI_CR0_CLEAR, EFI_CR0_SET, EFI_CR4_SET, EFI_EFER_SET, MSR_EFER, MXCSR_DEFAULT,
} from "./regs.ts";


export interface EfiTrampolineInput {
  /** PML4 physical address (from `identityMap`). */
  cr3: bigint;
  /** Physical address of the 10-byte GDTR (from `gdtr`) describing the GDT of `efiGdt`. */
  gdtrAddr: bigint;
  /** Initial RSP, 16-byte aligned; the stack grows down from here. */
  stackTop: bigint;
  /** Grow Unicorn's TLB to this many entries before the image runs (host/x86/tlb.ts); none if absent. */
  tlb?: TlbGrowth;
}

export interface Trampoline {
  /** Code, then data it reads RIP-relative; place anywhere identity-mapped. */
  bytes: Uint8Array;
  /** Offset of the end label: a `hlt`. Stop emulation at base + end. */
  end: number;
}

/** Machine code for the bring-up; after it, only RIP and the GPRs remain the host's to set. */
export function efiTrampoline({ cr3, gdtrAddr, stackTop, tlb }: EfiTrampolineInput): Trampoline {
  if (stackTop % 16n !== 0n) throw new RangeError(`stack top 0x${stackTop.toString(16)}: not 16-byte aligned`);
  const code: number[] = [];
  const emit = (...insns: number[][]) => { for (const i of insns) code.push(...i); };

  // IF = 0: §2.3.4 has interrupts on for the boot-services timer alone; the host has no
  // timer interrupt and installs no IDT. DF = 0 as §2.3.4 requires.
  emit(cli(), cld());
  emit(movRaxCr(4), orEaxImm32(EFI_CR4_SET), movCrRax(4));         // CR4 |= PAE|OSFXSR|OSXMMEXCPT
  emit(movRaxImm64(cr3), movCrRax(3));                             // CR3 = PML4
  emit(movEcxImm32(MSR_EFER), rdmsr(), orEaxImm32(EFI_EFER_SET), wrmsr()); // EFER |= LME|NXE
  emit(movRaxCr(0), orEaxImm32(EFI_CR0_SET),                       // CR0 |= PG|NE|MP,
    andEaxImm32(~Number(EFI_CR0_CLEAR)), movCrRax(0));             //   &= ~(EM|TS): long mode, paging on
  emit(movRaxImm64(gdtrAddr), lgdtRax());                          // GDTR = the host's GDT
  emit(movR64Imm64(RSP, stackTop));                                // RSP = stack top, before the first push
  // Far return to the next instruction with CS = SEL_CODE64; lea's displacement skips
  // the push (1 byte) and the retfq (2 bytes). It pops what it pushed: RSP ends at stackTop.
  emit(pushImm8(SEL_CODE64), leaRaxRip(pushRax().length + retfq().length), pushRax(), retfq());
  emit(movEaxImm32(SEL_DATA), ...[DS, ES, SS, FS, GS].map(movSregEax)); // flat data segments
  emit(fninit());                                                  // FCW = 0x037F (§2.3.4)
  if (tlb) emit(growTlb(tlb));                                     // then RAX, RCX, RDX are scratch
  const ldmxcsrAt = code.length;
  emit(ldmxcsrRip(0));                                             // MXCSR = 0x1F80 (§2.3.4), patched below
  const end = code.length;
  emit(hlt());                                                     // end label: harmless if run
  while (code.length % 4 !== 0) code.push(...hlt());
  const mxcsrAt = code.length;
  emit(u32le(MXCSR_DEFAULT));

  const ldmxcsrLen = ldmxcsrRip(0).length;
  code.splice(ldmxcsrAt, ldmxcsrLen, ...ldmxcsrRip(mxcsrAt - (ldmxcsrAt + ldmxcsrLen)));
  if (code.length > TRAMPOLINE_SIZE) throw new Error(`EFI trampoline is ${code.length} bytes, budget ${TRAMPOLINE_SIZE}`);
  return { bytes: Uint8Array.from(code), end };
}
