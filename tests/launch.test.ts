// build/ueficorn.cjs (host/launch.cts) runs the bundle through V8's code cache: written
// at the first guest instruction (or the end) of the first run, used as it is by the next, rewritten when the bundle
// changes. Run from a copy inside build/, so that the bundle still finds the project.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

test("the launcher writes the code cache once, keeps it while the bundle is unchanged, rewrites it when it changes", () => {
  const dir = mkdtempSync(join(ROOT, "build", "launch-test-"));
  try {
    for (const f of ["cli.cjs", "ueficorn.cjs"]) copyFileSync(join(ROOT, "build", f), join(dir, f));
    const cache = join(dir, "cli.cjs.v8cache");
    const run = () => {
      const r = spawnSync(process.execPath, [join(dir, "ueficorn.cjs"), "--help"], { encoding: "utf8", timeout: 60_000 });
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stdout, /usage/i);
    };
    const header = () => readFileSync(cache).subarray(0, 64).toString("latin1").split("\n")[0];
    const bundle = () => statSync(join(dir, "cli.cjs"));

    run();
    assert.is(header(), `${bundle().size} ${bundle().mtimeMs}`, "keyed by the bundle's size and mtime");
    const first = statSync(cache).mtimeMs;
    run();
    assert.is(statSync(cache).mtimeMs, first, "accepted by V8, so not rewritten");

    appendFileSync(join(dir, "cli.cjs"), "\n// changed\n");
    run();
    assert.is(header(), `${bundle().size} ${bundle().mtimeMs}`, "rewritten for the changed bundle");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("UEFICORN_STARTUP_TRACE=1: a boot prints its start-up phases in order, from Node to the guest's first instruction", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "build/ueficorn.cjs"), "boot", "--until", "Linux version"], {
    encoding: "utf8", timeout: 120_000, env: { ...process.env, UEFICORN_STARTUP_TRACE: "1" },
  });
  assert.is(r.status, 0, r.stderr);
  const line = r.stderr.split("\n").find((l) => l.startsWith("startup ms: "));
  assert.ok(line, r.stderr);
  const marks = [...line!.matchAll(/([a-z ]+) ([\d.]+) \(\+([\d.]+)\)/g)].map((m) => ({ phase: m[1].replace(/^, /, "").trim(), at: Number(m[2]) }));
  assert.equal(marks.map((m) => m.phase), ["node", "bundle compiled", "engine", "firmware", "machine", "image", "first instruction"]);
  for (let i = 1; i < marks.length; i++) assert.ok(marks[i].at >= marks[i - 1].at, `${marks[i].phase} after ${marks[i - 1].phase}`);
});

test("the bundle imports no package dynamically: the launcher runs it as a vm.Script, where import() has no loader (measure's worker pool failed so)", () => {
  const bundle = readFileSync(join(ROOT, "build/cli.cjs"), "utf8");
  const dynamic = [...bundle.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]);
  assert.equal(dynamic, [], `import() of ${dynamic.join(", ")} in build/cli.cjs`);
});

test.run();
