// The conformance guest (guests/conformance.c) under ueficorn: it checks each of the 43
// boot services of UEFI 2.10 §7 (success and error paths), every check passes, and it
// returns EFI_SUCCESS. The same guest passes under OVMF, the reference firmware
// (`npm run conformance:ovmf`); its "note:" lines name where the spec leaves room and
// where OVMF departs from it.
//
// runImage runs in a child process: a guest that never returns is killed by the
// wall-clock timeout below, and a native abort inside Unicorn fails this test instead of
// ending the whole test run. The run has no time budget (timeBudgetMs 0) because
// Unicorn's timeout thread does not survive a nested uc_emu_start (StartImage, notify
// functions): the outer call aborts with "qemu_thread_join: No such process".
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SERVICES } from "../firmware/spec/services.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const GUEST = join(ROOT, "build/guests/conformance.efi");
const WALL_CLOCK_MS = 120_000;

interface Run { ending: { kind: string; status?: string; error?: string }; console: string; stubbed: string[] }

const RUNNER = `
import { runImage } from "./host/run.ts";
const r = runImage(process.env.CONFORMANCE_GUEST, {
  ramMiB: 256, timeBudgetMs: 0, onConsole: (text) => process.stderr.write(text),
});
const hex = (k, v) => (typeof v === "bigint" ? "0x" + v.toString(16) : v);
process.stdout.write(JSON.stringify({ ending: r.ending, console: r.console, stubbed: r.summary.stubbedHit }, hex));
`;

let cached: Run | string | undefined;

/** One run of the guest, shared by the tests below. The child echoes the guest's console
 * on stderr, so a run that dies shows the checks it reached. */
function run(): Run {
  if (cached === undefined) {
    assert.ok(existsSync(GUEST), `${GUEST} exists (bash guests/build.sh)`);
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", RUNNER], {
      cwd: ROOT, encoding: "utf8", timeout: WALL_CLOCK_MS, maxBuffer: 64 << 20,
      env: { ...process.env, CONFORMANCE_GUEST: GUEST },
    });
    const how = r.error ? r.error.message : `exit ${r.status}${r.signal ? `, signal ${r.signal}` : ""}`;
    cached = r.status === 0 && r.stdout ? (JSON.parse(r.stdout) as Run)
      : `runImage in a child process ended (${how}); the end of its console and stderr:\n${r.stderr.slice(-3000)}`;
  }
  if (typeof cached === "string") assert.unreachable(cached);
  return cached as Run;
}

const lines = (text: string) => text.split(/\r?\n/).filter((l) => l.length > 0);

test("the guest checks every one of the 43 boot services, at least twice", () => {
  const { console: out } = run();
  const names = SERVICES.filter((s) => s.table === "BS" && s.name !== "Reserved").map((s) => s.name);
  assert.is(names.length, 43);
  const counts = new Map<string, number>();
  for (const l of lines(out)) {
    const m = /^(?:ok|FAIL): BS\.(\w+): /.exec(l);
    if (m) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
  }
  const thin = names.filter((n) => (counts.get(n) ?? 0) < 2);
  assert.equal(thin, [], `services with fewer than two check lines:\n${out.slice(-3000)}`);
});

test("under ueficorn every check passes and the guest returns EFI_SUCCESS", () => {
  const r = run();
  const all = lines(r.console);
  const fails = all.filter((l) => l.startsWith("FAIL:"));
  const last = all[all.length - 1] ?? "";
  assert.match(last, /^\d+ passed, 0 failed$/, `the closing line is "N passed, 0 failed"; it was "${last}"; failing checks:\n${fails.join("\n")}`);
  assert.equal(r.ending, { kind: "returned", status: "0x0" }, `the run ended ${JSON.stringify(r.ending)}`);
});

test("the run used no stubbed boot service", () => {
  const stubbed = run().stubbed.filter((s) => s.startsWith("BS."));
  assert.equal(stubbed, [], `stubbed boot services hit: ${stubbed.join(", ")}`);
});

test("the same guest passes every check under the reference firmwares too: OVMF on x86-64 and AAVMF on arm64 (QEMU, TCG)", () => {
  for (const arch of ["x86-64", "aarch64"]) {
    const r = spawnSync("bash", [join(ROOT, "scripts/conformance-ovmf.sh")], { env: { ...process.env, ARCH: arch }, encoding: "utf8", timeout: 900_000 });
    assert.is(r.status, 0, `${arch}: ${r.stdout.split("\n").filter((l) => l.startsWith("FAIL")).join("\n")}\n${r.stderr.slice(-1500)}`);
    const [, passed, failed] = /^(\d+) passed, (\d+) failed$/m.exec(r.stdout) ?? [];
    assert.is(Number(failed), 0, arch);
    assert.ok(Number(passed) > 400, `${arch}: ${passed} checks`);
  }
});

test.run();
