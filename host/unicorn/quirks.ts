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
