// The CPU the firmware serves, chosen by the host before fw_init (fw_set_arch): what
// differs between x86-64 and AArch64 is the thunk's code, where the arguments past the
// registers are (abi.ts arg) and the PE machine an image must have (loader.ts).
import { Pe, THUNK_TEMPLATE, THUNK_TEMPLATE_AA64 } from "./spec/gen";

export let machine: u32 = Pe.MACHINE_X64;

/** Serve `m` (a PE machine: 0x8664 or 0xAA64); false for any other. */
export function setMachine(m: u32): bool {
  if (m != Pe.MACHINE_X64 && m != Pe.MACHINE_AA64) return false;
  machine = m;
  return true;
}

@inline export function isAa64(): bool { return machine == Pe.MACHINE_AA64; }

/** The 8-byte thunk of service `id`: `mov eax, id ; out ; ret`, or `hvc #id ; ret`. */
export function thunkWord(id: u32): u64 {
  return isAa64() ? THUNK_TEMPLATE_AA64 | (<u64>id << 5) : THUNK_TEMPLATE | (<u64>id << 8);
}

/** The loader's message for an image of another machine (whole strings: the firmware has no heap to concatenate on). */
export function machineMismatch(): string {
  return isAa64() ? "Machine is not AArch64 (0xaa64)" : "Machine is not x86-64 (0x8664)";
}
