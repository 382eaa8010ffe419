// Work-arounds for Unicorn 2.1 behaviour the host depends on, each measured, not assumed.
import { Unicorn, consts as C } from "./index.ts";

let cachedOffset: number | undefined;

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
 * The offset is found by experiment on the loaded library, with the quirk itself: two
 * divide errors in a row are reported as #DE (0) then #DF (8); the field is the one
 * int32 that reads -1, then 0, then 8.
 */
export function oldExceptionOffset(): number {
  if (cachedOffset !== undefined) return cachedOffset;
  const uc = new Unicorn(C.UC_MODE_64);
  try {
    uc.memMap(0, 0x10000);
    // 0x1000: xor ecx, ecx ; 0x1002: div rcx ; 0x1005: div rcx ; 0x1008: hlt
    uc.memWrite(0x1000, Uint8Array.from([0x31, 0xc9, 0x48, 0xf7, 0xf1, 0x48, 0xf7, 0xf1, 0xf4]));
    const snaps = [uc.contextBytes(uc.contextSave()).slice()];
    const vectors: number[] = [];
    uc.hookIntr((vector) => {
      vectors.push(vector);
      snaps.push(uc.contextBytes(uc.contextSave()).slice());
      if (snaps.length === 2) uc.regWrite(C.UC_X86_REG_RIP, 0x1005n);
      else uc.emuStop();
    });
    uc.emuStart(0x1000, 0x1008);
    if (vectors.join() !== "0,8") throw new Error(`expected exceptions 0 then 8, Unicorn reported ${vectors.join(", ") || "none"}`);
    const [s0, s1, s2] = snaps.map((b) => new DataView(b.buffer));
    const found: number[] = [];
    for (let i = 0; i + 4 <= snaps[0].length; i += 4) {
      if (s0.getInt32(i, true) === -1 && s1.getInt32(i, true) === 0 && s2.getInt32(i, true) === 8) found.push(i);
    }
    if (found.length !== 1) throw new Error(`candidates ${found.join(", ") || "none"}`);
    cachedOffset = found[0];
    return cachedOffset;
  } catch (e) {
    throw new Error(`cannot locate old_exception in Unicorn's saved context: ${(e as Error).message}`);
  } finally {
    uc.close();
  }
}

let cachedErrorCodeOffset: number | undefined;

/**
 * Byte offset, in a saved context, of QEMU's `env->error_code`: the error code of the
 * exception being raised. Unicorn's interrupt hook gets only the vector, and a page
 * fault's error code says what the kernel must do: a write to a not-present page
 * reported as a read gets the shared zero page mapped, and the write then faults on it
 * for ever (seen: Linux's copy_user_generic_string looping in execve of /init).
 *
 * Found like old_exception: three page faults with known error codes (Intel SDM vol. 3A
 * §4.7) under paging with CR0.WP: a write to a present read-only page (P|W = 3), a
 * write to a not-present page (W = 2), a read of it (0); the field is the one int32
 * that reads 3, 2, 0.
 */
export function errorCodeOffset(): number {
  if (cachedErrorCodeOffset !== undefined) return cachedErrorCodeOffset;
  const exceptionAt = oldExceptionOffset();
  const uc = new Unicorn(C.UC_MODE_64);
  try {
    uc.memMap(0, 0x20000);
    const q = (at: number, v: number) => uc.memWrite(at, new Uint8Array(new BigUint64Array([BigInt(v)]).buffer));
    q(0x10000, 0x11000 | 3); // PML4[0] -> PDPT
    q(0x11000, 0x12000 | 3); // PDPT[0] -> PD
    q(0x12000, 0x13000 | 3); // PD[0] -> PT: 4 KiB pages, identity
    for (let p = 0; p < 0x20; p++) if (p !== 6) q(0x13000 + 8 * p, (p << 12) | (p === 5 ? 1 : 3)); // 0x5000 read-only, 0x6000 absent
    const code = [
      0x48, 0xc7, 0xc0, 0x00, 0x00, 0x01, 0x00, //       mov rax, 0x10000
      0x0f, 0x22, 0xd8, //                               mov cr3, rax
      0x0f, 0x20, 0xe0, 0x48, 0x83, 0xc8, 0x20, //       mov rax, cr4 ; or rax, 0x20 (PAE)
      0x0f, 0x22, 0xe0, //                               mov cr4, rax
      0x0f, 0x20, 0xc0, //                               mov rax, cr0
      0x0f, 0xba, 0xe8, 0x1f, 0x0f, 0xba, 0xe8, 0x10, // bts eax, 31 (PG) ; bts eax, 16 (WP)
      0x0f, 0x22, 0xc0, //                               mov cr0, rax
    ];
    const faults = [
      [0x48, 0x89, 0x1c, 0x25, 0x00, 0x50, 0x00, 0x00], // mov [0x5000], rbx
      [0x48, 0x89, 0x1c, 0x25, 0x00, 0x60, 0x00, 0x00], // mov [0x6000], rbx
      [0x48, 0x8b, 0x1c, 0x25, 0x00, 0x60, 0x00, 0x00], // mov rbx, [0x6000]
    ];
    const start = 0x1000;
    let at = start + code.length;
    const next: number[] = [];
    for (const f of faults) next.push((at += f.length));
    const bytes = Uint8Array.from([...code, ...faults.flat(), 0xf4]); // ... hlt
    uc.memWrite(start, bytes);
    const snaps: DataView[] = [];
    const vectors: number[] = [];
    uc.hookIntr((vector) => {
      vectors.push(vector);
      const ctx = uc.contextSave();
      const b = uc.contextBytes(ctx);
      snaps.push(new DataView(b.slice().buffer));
      new DataView(b.buffer, b.byteOffset).setInt32(exceptionAt, -1, true); // as the host does after delivering
      uc.contextRestore(ctx);
      if (snaps.length === faults.length) uc.emuStop();
      else uc.regWrite(C.UC_X86_REG_RIP, BigInt(next[snaps.length - 1]));
    });
    uc.emuStart(start, start + bytes.length - 1);
    if (vectors.join() !== "14,14,14") throw new Error(`expected three page faults, Unicorn reported ${vectors.join(", ") || "none"}`);
    const want = [3, 2, 0];
    const found: number[] = [];
    for (let i = 0; i + 4 <= snaps[0].byteLength; i += 4) {
      if (want.every((v, k) => snaps[k].getInt32(i, true) === v)) found.push(i);
    }
    if (found.length !== 1) throw new Error(`candidates ${found.join(", ") || "none"}`);
    cachedErrorCodeOffset = found[0];
    return cachedErrorCodeOffset;
  } catch (e) {
    throw new Error(`cannot locate error_code in Unicorn's saved context: ${(e as Error).message}`);
  } finally {
    uc.close();
  }
}

let cachedHflagsOffset: number | undefined;

/**
 * Byte offset, in a saved context, of QEMU's `env->hflags`, whose low two bits are the
 * CPL. The host enters ring 0 itself (exception delivery from user mode, SYSCALL, which
 * Unicorn leaves to a hook), and Unicorn refuses a ring-0 SS or CS written from ring 3
 * (uc_check_cpu_x86_load_seg), so the host first lowers the CPL in a saved context.
 *
 * Found by experiment: an iretq to a 64-bit user code segment, then a page fault there;
 * the field is the one int32 whose low bits read 0 before and 3 after, all else equal.
 */
export function hflagsOffset(): number {
  if (cachedHflagsOffset !== undefined) return cachedHflagsOffset;
  const uc = new Unicorn(C.UC_MODE_64);
  try {
    uc.memMap(0, 0x40000);
    const q = (at: number, v: bigint) => uc.memWrite(at, new Uint8Array(new BigUint64Array([v]).buffer));
    // GDT: null, ring-0 code, ring-0 data, ring-3 data (0x1b), ring-3 64-bit code (0x23).
    [0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x00cff3000000ffffn, 0x00affb000000ffffn].forEach((d, i) => q(0x500 + 8 * i, d));
    uc.mmrWrite(C.UC_X86_REG_GDTR, { base: 0x500n, limit: 5 * 8 - 1 });
    // Identity map of 256 KiB in user pages, but for 0x30000.
    q(0x10000, 0x11000n | 7n);
    q(0x11000, 0x12000n | 7n);
    q(0x12000, 0x13000n | 7n);
    for (let p = 0; p < 0x40; p++) if (p !== 0x30) q(0x13000 + 8 * p, BigInt(p << 12) | 7n);
    const code = [
      0x48, 0xc7, 0xc0, 0x00, 0x00, 0x01, 0x00, 0x0f, 0x22, 0xd8, // mov rax, 0x10000 ; mov cr3, rax
      0x0f, 0x20, 0xe0, 0x48, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, // cr4 |= PAE
      0x0f, 0x20, 0xc0, 0x0f, 0xba, 0xe8, 0x1f, 0x0f, 0x22, 0xc0, // cr0 |= PG
      0x6a, 0x1b, 0x68, 0x00, 0x80, 0x00, 0x00, //                   push ss 0x1b ; push rsp 0x8000
      0x68, 0x02, 0x00, 0x00, 0x00, 0x6a, 0x23, //                   push rflags 2 ; push cs 0x23
      0x68, 0x00, 0x00, 0x03, 0x00, //                               push rip 0x30000 (absent)
      0x48, 0xcf, //                                                 iretq
    ];
    uc.memWrite(0x1000, Uint8Array.from(code));
    uc.regWrite(C.UC_X86_REG_RSP, 0x9000n);
    const iretq = 0x1000 + code.length - 2;
    let before: DataView | undefined;
    let after: DataView | undefined;
    uc.hookCode(BigInt(iretq), BigInt(iretq), () => {
      before = new DataView(uc.contextBytes(uc.contextSave()).slice().buffer);
    });
    uc.hookIntr(() => {
      after = new DataView(uc.contextBytes(uc.contextSave()).slice().buffer);
      uc.emuStop();
    });
    uc.emuStart(0x1000, 0n);
    if (!before || !after || (uc.regRead(C.UC_X86_REG_CS) & 3n) !== 3n) throw new Error("the probe did not fault in ring 3");
    const found: number[] = [];
    for (let i = 0; i + 4 <= before.byteLength; i += 4) {
      const a = before.getInt32(i, true), b = after.getInt32(i, true);
      if ((a & 3) === 0 && (a ^ b) === 3) found.push(i);
    }
    if (found.length !== 1) throw new Error(`candidates ${found.join(", ") || "none"}`);
    cachedHflagsOffset = found[0];
    return cachedHflagsOffset;
  } catch (e) {
    throw new Error(`cannot locate hflags in Unicorn's saved context: ${(e as Error).message}`);
  } finally {
    uc.close();
  }
}
