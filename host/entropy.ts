// The machine's entropy, what the firmware's EFI_RNG_PROTOCOL hands out: the host's own
// (crypto.randomFillSync) or, on a deterministic machine, a fixed stream (SplitMix64 from
// a seed, Steele et al. 2014), so that two runs see the same bytes. The stream is for
// reproducible runs, not for secrets.
import { crypto } from "./lazy.ts";

export type Entropy = (out: Uint8Array) => void;

export const hostEntropy: Entropy = (out) => void crypto().randomFillSync(out);

const M = (1n << 64n) - 1n;

/** SplitMix64 from `seed` (default the ASCII of "ueficorn"). */
export function seededEntropy(seed = 0x7565_6669_636f_726en): Entropy {
  let s = seed & M;
  return (out) => {
    const word = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < out.length; i += 8) {
      s = (s + 0x9e37_79b9_7f4a_7c15n) & M;
      let z = s;
      z = ((z ^ (z >> 30n)) * 0xbf58_476d_1ce4_e5b9n) & M;
      z = ((z ^ (z >> 27n)) * 0x94d0_49bb_1331_11ebn) & M;
      word.setBigUint64(0, z ^ (z >> 31n), true);
      out.set(new Uint8Array(word.buffer, 0, Math.min(8, out.length - i)), i);
    }
  };
}
