// The library as a user gets it: `import ... from "ueficorn"` resolves through
// package.json's exports to the built bundle (build/lib.mjs) and its types
// (build/types/), made by setup. Several machines live in one process, one after another
// or side by side, and give what a fresh process gives.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { DEFAULT_CMDLINE, DEFAULT_KERNEL, EXIT, Machine, runImage, type Ending } from "ueficorn";
import { ROOT } from "../host/paths.ts";

const HELLO = join(ROOT, "build/guests/hello.efi");

test("the package resolves to the built bundles: CommonJS for require, ESM for import", () => {
  assert.ok(createRequire(import.meta.url).resolve("ueficorn").endsWith("/build/lib.cjs"));
  const esm = spawnSync(process.execPath, ["--input-type=module", "-e", 'const m = await import("ueficorn"); console.log(import.meta.resolve("ueficorn"), typeof m.Machine, typeof m.runImage)'], { cwd: ROOT, encoding: "utf8" });
  assert.is(esm.status, 0, esm.stderr);
  assert.match(esm.stdout, /\/build\/lib\.mjs function function/);
});

test("runImage: an EFI application with its console, summary and exit status", () => {
  const lines: string[] = [];
  const r = runImage(HELLO, { onConsole: (t) => lines.push(t), timeBudgetMs: 30_000 });
  assert.equal(r.ending, { kind: "returned", status: 0n });
  assert.match(lines.join(""), /passed, 0 failed/);
  assert.ok(r.summary.calls > 0);
  assert.is(EXIT.LOAD, 3);
});

test("Machine: two deterministic machines side by side boot the kernel to its banner at the same instruction, with the same lines", () => {
  const boot = (m: Machine): Ending => m.start(m.loadImageFile(DEFAULT_KERNEL, DEFAULT_CMDLINE));
  const make = () => new Machine({ clock: "deterministic", stopOnSerial: /Linux version/, timeBudgetMs: 300_000, initrd: readFileSync(join(ROOT, "build/guests/linux/initrd.cpio")) });
  const [a, b] = [make(), make()];
  try {
    const ea = boot(a), eb = boot(b);
    assert.is(ea.kind, "milestone");
    assert.equal(eb, ea);
    assert.ok(a.instructions()! > 100_000_000n, `${a.instructions()} instructions`);
    assert.is(b.instructions(), a.instructions());
    assert.equal(b.serial, a.serial);
  } finally {
    a.close();
    b.close();
  }
});

test.run();
