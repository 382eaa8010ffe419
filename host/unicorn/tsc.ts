// The rate of the guest's TSC: Unicorn's RDTSC reads the host's counter, so the guest
// sees the host rate, measured once per process against the wall clock.
import { Unicorn, consts as C } from "./index.ts";

let cached: number | undefined;

/** TSC ticks per millisecond (kHz), measured over ~20 ms. */
export function tscKhz(): number {
  if (cached !== undefined) return cached;
  const uc = new Unicorn(C.UC_MODE_64);
  try {
    uc.memMap(0, 0x1000);
    // rdtsc ; hlt
    uc.memWrite(0, Uint8Array.of(0x0f, 0x31, 0xf4));
    const read = () => {
      uc.emuStart(0, 2);
      return (uc.regRead(C.UC_X86_REG_RDX) << 32n) | (uc.regRead(C.UC_X86_REG_RAX) & 0xffffffffn);
    };
    const t0 = process.hrtime.bigint();
    const c0 = read();
    let t1 = t0;
    while (t1 - t0 < 20_000_000n) t1 = process.hrtime.bigint();
    const c1 = read();
    cached = Math.round(Number(c1 - c0) / (Number(t1 - t0) / 1e6));
    return cached;
  } finally {
    uc.close();
  }
}
