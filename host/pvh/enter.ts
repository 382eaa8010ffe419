// Puts a Unicorn CPU into the PVH entry state (start-info.ts's PvhEntryState).
//
// The engine must be UC_MODE_64: Unicorn picks its register accessors by the engine's
// mode, not the CPU's, so only a 64-bit engine can read RIP, R8–R15 and 64-bit CRs
// once the kernel is in long mode. Its reset state, though, is long mode without
// paging (CR0 = PE|ET, EFER = LME|LMA, CS 64-bit), which no real CPU has. Leaving it:
//
// - QEMU clears EFER.LMA (and the 64-bit code flag) only when a CR0 write turns PG from
//   1 to 0 (cpu_x86_update_cr0, "exit long mode"), and turning PG on while LME is set
//   requires CR4.PAE. So: CR4 = PAE, CR0 = PE|PG, CR0 = PE. No instruction runs in
//   between, so CR3 is never walked and needs no page tables.
// - wrmsr(EFER) may clear LME (it cannot touch LMA, which is why the CR0 dance comes
//   first); then CR4 = 0.
// - In a UC_MODE_64 engine a write to CS/DS/ES/SS sets the selector only, not the
//   descriptor cache (qemu/target/i386/unicorn.c, reg_write). That is enough here: the
//   reset cache is base 0 with 32-bit code and stack flags (HF_CS32/HF_SS32), i.e. flat
//   32-bit segments, and head.S reloads every segment from its own GDT before any
//   far transfer. FS/GS writes do load from the GDT, so GDTR is set first.
//   This is also why the engine must be fresh: after any code has loaded a 64-bit CS
//   (the EFI trampoline, say), the cache would say 16-bit code once long mode is left.
//
// Measured with the Debian 6.1 cloud kernel: pvh_start_xen runs, enters long mode
// itself and reaches "Linux version" (tests/pvh.test.ts checks the kernel's own copy of
// the boot parameters right after xen_prepare_pvh).
import type { Unicorn } from "../unicorn/index.ts";
import * as C from "../unicorn/consts.ts";
import { CR0_PG, CR4_PAE, EFER_LMA, EFER_LME, MSR_EFER } from "../x86/regs.ts";
import type { PvhEntryState } from "./start-info.ts";

/** Write `e` into the CPU; the caller then starts emulation at `e.eip`. */
export function enterPvh(uc: Unicorn, e: PvhEntryState): void {
  const cr0At = uc.regRead(C.UC_X86_REG_CR0);
  const eferAt = uc.msrRead(MSR_EFER);
  if ((cr0At & CR0_PG) !== 0n || eferAt !== (EFER_LME | EFER_LMA)) {
    throw new Error(`enterPvh needs a freshly reset UC_MODE_64 engine (CR0 0x${cr0At.toString(16)}, EFER 0x${eferAt.toString(16)}; reset is PG off, EFER LME|LMA)`);
  }
  uc.mmrWrite(C.UC_X86_REG_GDTR, { base: e.gdtr.base, limit: e.gdtr.limit });
  uc.regWrite(C.UC_X86_REG_CR4, CR4_PAE);
  uc.regWrite(C.UC_X86_REG_CR0, e.cr0 | CR0_PG);
  uc.regWrite(C.UC_X86_REG_CR0, e.cr0);
  uc.msrWrite(MSR_EFER, e.efer);
  uc.regWrite(C.UC_X86_REG_CR4, e.cr4);
  uc.regWrite(C.UC_X86_REG_CS, BigInt(e.cs));
  uc.regWrite(C.UC_X86_REG_DS, BigInt(e.ds));
  uc.regWrite(C.UC_X86_REG_ES, BigInt(e.es));
  uc.regWrite(C.UC_X86_REG_SS, BigInt(e.ss));
  uc.regWrite(C.UC_X86_REG_FS, BigInt(e.fs));
  uc.regWrite(C.UC_X86_REG_GS, BigInt(e.gs));
  uc.regWrite(C.UC_X86_REG_RFLAGS, e.eflags);
  uc.regWrite(C.UC_X86_REG_RBX, BigInt(e.ebx));
  uc.regWrite(C.UC_X86_REG_RIP, BigInt(e.eip));
  const cr0 = uc.regRead(C.UC_X86_REG_CR0);
  const efer = uc.msrRead(MSR_EFER);
  if ((cr0 & CR0_PG) !== 0n || efer !== e.efer) {
    throw new Error(`Unicorn did not take the PVH entry state: CR0 0x${cr0.toString(16)}, EFER 0x${efer.toString(16)}`);
  }
}
