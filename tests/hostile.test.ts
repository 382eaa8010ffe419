// The hostile guest (guests/hostile.c) under ueficorn: thousands of calls to every boot
// services, runtime services and console slot with garbage arguments, then its own check
// that the firmware still works. Each seed must end with the image returning SUCCESS
// and "N passed, 0 failed"; a GuestError (a firmware trap, a fault, the budget) is a
// finding, not a pass. HOSTILE_SEED=n adds a seed, HOSTILE_ITERS=n changes the count.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runImage, describeEnding, type RunResult } from "../host/run.ts";
import { SERVICES } from "../firmware/spec/services.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const HOSTILE = join(ROOT, "build/guests/hostile.efi");
const ITERS = Number(process.env.HOSTILE_ITERS ?? 5000);
const SEEDS = [1, 2, 0xdecafbad, ...(process.env.HOSTILE_SEED ? [Number(process.env.HOSTILE_SEED)] : [])];
/** Wall-clock budget per run: a hang inside the guest ends as a budget GuestError. */
const BUDGET_MS = 60_000;

/** The run, with its console and last calls in any failure message. */
function run(seed: number, iters = ITERS): RunResult {
  const r = runImage(HOSTILE, { cmdline: `seed=${seed} iters=${iters}`, timeBudgetMs: BUDGET_MS });
  const show = () => `seed ${seed}: ${describeEnding(r.ending)}\n${r.ending.kind === "error" ? `${r.ending.error}\n` : ""}--- console\n${r.console}`;
  assert.ok(r.ending.kind !== "error", `the host stopped the guest (a finding):\n${show()}`);
  assert.equal(r.ending, { kind: "returned", status: 0n }, show());
  const lines = r.console.trimEnd().split(/\r?\n/);
  assert.match(lines.at(-1) ?? "", /^\d+ passed, 0 failed$/, `last line\n${show()}`);
  assert.not.match(r.console, /^FAIL:/m, show());
  return r;
}

test("build/guests/hostile.efi was built (guests/build.sh)", () => {
  assert.ok(existsSync(HOSTILE), HOSTILE);
});

for (const seed of SEEDS) {
  test(`hostile guest, seed ${seed}: ${ITERS} garbage calls, then the firmware still works`, () => {
    const t0 = performance.now();
    const r = run(seed);
    const ms = performance.now() - t0;
    // Every slot of the two service tables (the Reserved one too) and of the consoles was
    // reached, but for the ones it must not call: ResetSystem and OutputString with garbage.
    const reached = new Set(Object.keys(r.summary.perService));
    const tables = SERVICES.filter((s) => ["BS", "RT", "ConOut", "ConIn"].includes(s.table)).map((s) => `${s.table}.${s.name}`);
    const missed = tables.filter((n) => !reached.has(n) && n !== "RT.ResetSystem");
    assert.equal(missed, [], "slots never called");
    assert.ok(reached.has("BS.Reserved"), "the Reserved slot");
    assert.ok(r.summary.calls >= ITERS, `${r.summary.calls} calls`);
    console.log(`    seed ${seed}: ${r.summary.calls} calls, ${reached.size} services, ${ms.toFixed(0)} ms`);
  });
}

test.run();
