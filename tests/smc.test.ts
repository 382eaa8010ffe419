// Code a guest rewrites through other mappings (issue 12): guests/smc.c writes a page of
// translated code through a 4 KiB alias, through the same alias in a second address
// space and through a 2 MiB large-page alias, each time first a byte elsewhere on the
// page, then the code; and writes code through an alias into a page that held none, runs
// it, and patches it there. Unicorn 2.1.1 alone runs the old code every way (tests/
// unicorn.test.ts shows the engine's side); the machine restores QEMU's record of the
// pages that hold code (Unicorn.trackCodePages), so the guest sees its new code with no
// serializing instruction, as x86 promises code a processor modifies for itself.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { ROOT } from "../host/paths.ts";
import { runImage } from "../host/run.ts";

const SMC = join(ROOT, "build/guests/smc.efi");
const WAYS = ["alias", "cr3", "large", "first"];
const run = (o: Parameters<typeof runImage>[1]) => runImage(SMC, { timeBudgetMs: 30_000, ...o });
const seesEveryWay = (r: ReturnType<typeof run>) => {
  for (const way of WAYS) assert.ok(r.console.includes(`smc: ${way} ok`), `${way}: ${r.console}`);
  assert.match(r.console, /smc: done, 4 of 4 ways see the new code/);
  assert.equal(r.ending, { kind: "returned", status: 0n });
};

test("a guest that rewrites its code through an alias, a second address space, a large page, and into a page without code sees the new code without serializing", () => {
  const r = run({});
  seesEveryWay(r);
  assert.is(r.serializations, 0);
});

test("the same with a SERIALIZE after each write (Linux's sync_core()), each run by the CPU", () => {
  const r = run({ cmdline: "serialize" });
  seesEveryWay(r);
  assert.is(r.serializations, 8, "two SERIALIZEs a way");
});

test("with every store checked (--guard-code-writes), the same", () => {
  seesEveryWay(run({ guardCodeWrites: true }));
});

test("on AArch64, code patched through the mapping that runs it, a word elsewhere on its page written first, is seen after the architecture's cache maintenance", () => {
  const r = runImage(join(ROOT, "build/guests/aa64/smc.efi"), { timeBudgetMs: 30_000 });
  assert.match(r.console, /smc: same ok/);
  assert.equal(r.ending, { kind: "returned", status: 0n });
});

test.run();
