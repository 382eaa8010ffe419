// Code a guest rewrites through other mappings (issue 12): guests/smc.c writes a page of
// translated code through a 4 KiB alias, through the same alias in a second address
// space and through a 2 MiB large-page alias, each time first a byte elsewhere on the
// page, then the code, and runs it. Unicorn 2.1.1 keeps the old translation when the
// second write takes the fast path (tests/unicorn.test.ts shows the engine's side); the
// machine sees the new code when the guest serializes, as Linux's sync_core() does (the
// CPU re-arms its code-write checks at SERIALIZE), and every time with the guard.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { ROOT } from "../host/paths.ts";
import { runImage } from "../host/run.ts";
import { libraryInfo } from "../host/unicorn/index.ts";

const SMC = join(ROOT, "build/guests/smc.efi");
const WAYS = ["alias", "cr3", "large"];
const run = (o: Parameters<typeof runImage>[1]) => runImage(SMC, { timeBudgetMs: 30_000, ...o });

test("a guest that serializes after rewriting its code sees the new code through an alias, a second address space and a large page", () => {
  const r = run({ cmdline: "serialize" });
  for (const way of WAYS) assert.ok(r.console.includes(`smc: ${way} ok`), `${way}: ${r.console}`);
  assert.equal(r.ending, { kind: "returned", status: 0n });
  assert.is(r.serializations, 6, "two SERIALIZEs a way, each run by the CPU");
});

test("with every code write caught (--guard-code-writes), the new code is seen every way without serializing", () => {
  const r = run({ guardCodeWrites: true });
  for (const way of WAYS) assert.ok(r.console.includes(`smc: ${way} ok`), `${way}: ${r.console}`);
  assert.equal(r.ending, { kind: "returned", status: 0n });
});

test("without either, Unicorn 2.1.1 runs the old code every way (the engine's quirk; if this fails, the library no longer has it)", () => {
  if (libraryInfo().version !== "2.1.1") return;
  const r = run({});
  for (const way of WAYS) assert.match(r.console, new RegExp(`smc: ${way} stale \\(got 1, want \\d\\)`));
  assert.match(r.console, /smc: done, 0 of 3 ways see the new code/);
});

test.run();
