// Hand-assembled x86-64 for the service tests: small guest functions (notify functions,
// image entry points) that the firmware runs through the host's call_guest, and that
// call services back through their thunks. Each emitter names its instruction.
import type { ServiceCaller } from "./service-caller.ts";
import { serviceByName, THUNK_SIZE } from "../firmware/spec/services.ts";
import { MEMORY_TYPE as MT } from "../firmware/spec/uefi.ts";

const le64 = (v: bigint) => Array.from({ length: 8 }, (_, i) => Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn));

export class Asm {
  readonly bytes: number[] = [];
  private emit(...b: number[]): this { this.bytes.push(...b); return this; }
  movRax(v: bigint): this { return this.emit(0x48, 0xb8, ...le64(v)); } // mov rax, imm64
  movRcx(v: bigint): this { return this.emit(0x48, 0xb9, ...le64(v)); } // mov rcx, imm64
  movRdx(v: bigint): this { return this.emit(0x48, 0xba, ...le64(v)); } // mov rdx, imm64
  movR8(v: bigint): this { return this.emit(0x49, 0xb8, ...le64(v)); } // mov r8, imm64
  movR9(v: bigint): this { return this.emit(0x49, 0xb9, ...le64(v)); } // mov r9, imm64
  callRax(): this { return this.emit(0xff, 0xd0); } // call rax
  subRsp(n: number): this { return this.emit(0x48, 0x83, 0xec, n); } // sub rsp, imm8
  addRsp(n: number): this { return this.emit(0x48, 0x83, 0xc4, n); } // add rsp, imm8
  ret(): this { return this.emit(0xc3); } // ret
  saveRdx(d: number): this { return this.emit(0x48, 0x89, 0x54, 0x24, d); } // mov [rsp+d], rdx
  loadRdx(d: number): this { return this.emit(0x48, 0x8b, 0x54, 0x24, d); } // mov rdx, [rsp+d]
  saveRcx(d: number): this { return this.emit(0x48, 0x89, 0x4c, 0x24, d); } // mov [rsp+d], rcx
  loadRcx(d: number): this { return this.emit(0x48, 0x8b, 0x4c, 0x24, d); } // mov rcx, [rsp+d]
  raxToStack(d: number): this { return this.emit(0x48, 0x89, 0x44, 0x24, d); } // mov [rsp+d], rax
  raxToRdxAt(d: number): this { return this.emit(0x48, 0x89, 0x42, d); } // mov [rdx+d], rax
  rcxToRaxAt(): this { return this.emit(0x48, 0x89, 0x08); } // mov [rax], rcx
  incAtRdx(): this { return this.emit(0x48, 0xff, 0x02); } // inc qword [rdx]
  loadRaxAbs(a: bigint): this { return this.emit(0x48, 0xa1, ...le64(a)); } // mov rax, [moffs64]
  storeRaxAbs(a: bigint): this { return this.emit(0x48, 0xa3, ...le64(a)); } // mov [moffs64], rax
  incRax(): this { return this.emit(0x48, 0xff, 0xc0); } // inc rax
  raxToRcx(): this { return this.emit(0x48, 0x89, 0xc1); } // mov rcx, rax
  loadRcxAbs(a: bigint): this { return this.movRax(a).emit(0x48, 0x8b, 0x08); } // mov rax, a ; mov rcx, [rax]
}

/** Guest address of the thunk of service `name` ("BS.SignalEvent"). */
export function thunk(c: ServiceCaller, name: string): bigint {
  return c.m.fw.thunks + BigInt(serviceByName(name).id * THUNK_SIZE);
}

/** Put code in a fresh page of guest memory; its address. */
export function place(c: ServiceCaller, code: Asm | number[]): bigint {
  const bytes = code instanceof Asm ? code.bytes : code;
  const at = c.m.fw.allocPages(MT.LoaderCode, Math.ceil(bytes.length / 4096) || 1);
  c.m.fw.ram.set(bytes, Number(at));
  return at;
}

/** Notify function: `inc qword [Context]`. */
export function counter(c: ServiceCaller): bigint {
  return place(c, new Asm().incAtRdx().ret());
}

/**
 * Notify function that records, in its 16-byte Context, the order it ran in (from a
 * shared counter at `clock`) and the TPL it ran at (RaiseTPL(HIGH_LEVEL) returns it).
 */
export function recorder(c: ServiceCaller, clock: bigint): bigint {
  return place(c, new Asm()
    .subRsp(0x28).saveRdx(0x20)
    .movRcx(31n).movRax(thunk(c, "BS.RaiseTPL")).callRax()
    .loadRdx(0x20).raxToRdxAt(8)
    .raxToRcx().movRax(thunk(c, "BS.RestoreTPL")).callRax()
    .loadRaxAbs(clock).incRax().storeRaxAbs(clock)
    .loadRdx(0x20).raxToRdxAt(0)
    .addRsp(0x28).ret());
}

/** A function that calls service `name` with its own (Event, Context) arguments passed through, and returns its status. */
export function passThrough(c: ServiceCaller, name: string): bigint {
  return place(c, new Asm().subRsp(0x28).movRax(thunk(c, name)).callRax().addRsp(0x28).ret());
}
