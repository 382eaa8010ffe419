// Counting guest instructions in a process of its own (the bundled CLI), off the boot's
// path: node:child_process alone costs a start-up about 3 ms.
import { childProcess } from "./lazy.ts";
import { join } from "node:path";
import { ROOT } from "./paths.ts";
import type { InstructionCounts } from "./run.ts";

/**
 * Guest instructions of a kernel boot to the first serial line matching `until`, counted
 * by the bundled CLI in a process of its own, as a user's run would. The PVH count
 * reads 18,450,151 or 18,423,894 depending on how long the host took before the
 * kernel's first instruction (README, "Speed"); a fresh process, with the same input,
 * counts the same every time.
 */
export function countInFreshProcess(kernel: string, entry: "efi" | "pvh", until: string, cmdline?: string): InstructionCounts {
  const args = [join(ROOT, "build/ueficorn.cjs"), "boot", "--entry", entry, "--kernel", kernel, "--until", until, "--count-instructions", "--json"];
  if (cmdline !== undefined) args.push("--cmdline", cmdline);
  const r = childProcess().spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`counting ${entry} boot failed (exit ${r.status}): ${r.stderr.trim().split("\n")[0]}`);
  return JSON.parse(r.stdout).instructions;
}
