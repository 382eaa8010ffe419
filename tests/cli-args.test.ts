// Every input checked at the door: random command lines (options, values and paths of
// every kind) never end in a stack trace or a silent substitution, only in a named error
// with the usage status, a rejected image, or a run. Seeded: FUZZ_SEED=N reproduces one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../host/paths.ts";
import { EXIT } from "../host/errors.ts";
import { mulberry32 } from "./prng.ts";

const CLI = join(ROOT, "build/ueficorn.cjs");
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const RUNS = Number(process.env.FUZZ_RUNS ?? 24);

const PATHS = ["/tmp", "/dev/null", "/nonexistent/x", "", join(ROOT, "build/guests/hello.efi"), join(ROOT, "build/guests/linux/initrd.cpio"), join(ROOT, "package.json"), join(ROOT, "build/firmware.wasm")];
const NUMBERS = ["0", "1", "16", "64", "3072", "3073", "4096", "99999999", "-5", "1.5", "abc", "", "0x20", "1e3"];
const OPTIONS: [string, string[]][] = [
  ["--ram", NUMBERS], ["--timeout", NUMBERS], ["--max-instructions", NUMBERS], ["--initrd", PATHS], ["--vars", PATHS],
  ["--firmware", PATHS], ["--system-map", PATHS], ["--kernel", PATHS], ["--entry", ["efi", "pvh", "arm", ""]],
  ["--until", ["Linux version", "(", ""]], ["--keys", ["ab{enter}", "{nope}", "{", "{wait x}"]], ["--cmdline", ["console=ttyS0", ""]],
  ["--json", []], ["--summary", []], ["--deterministic", []], ["--bogus", []],
];

test(`random command lines end in a named error or a run, never a stack trace (seed ${SEED}, ${RUNS} runs)`, () => {
  const r = mulberry32(SEED);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  for (let run = 0; run < RUNS; run++) {
    const args = [pick(["run", "boot", "measure-typo"])];
    if (args[0] === "run") args.push(pick(PATHS));
    for (let n = Math.floor(r() * 4); n > 0; n--) {
      const [name, values] = pick(OPTIONS);
      args.push(name);
      if (values.length) args.push(pick(values));
    }
    // Bounded: a boot stops at the kernel's banner, every run within a few seconds of guest work.
    if (args[0] === "boot" && !args.includes("--until")) args.push("--until", "Linux version");
    if (!args.includes("--timeout")) args.push("--timeout", "5000");
    const p = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000 });
    const what = `ueficorn ${args.map((a) => JSON.stringify(a)).join(" ")} → ${p.status}\n${p.stderr}`;
    assert.ok(p.status !== null, `${what}: killed`);
    assert.not.match(p.stderr, /^\s+at .*:\d+:\d+\)?$/m, `${what}: a stack trace`);
    assert.not.match(p.stderr, /node:internal|Node\.js v\d/, `${what}: a crash`);
    const ok = [0, 1, EXIT.USAGE, EXIT.LOAD, EXIT.FAULT, EXIT.BUDGET, EXIT.BOOT_SERVICE_AFTER_EXIT, EXIT.HALTED].includes(p.status!) || p.status! >= 64;
    assert.ok(ok, `${what}: an exit status that means nothing`);
    const ram = args[args.indexOf("--ram") + 1];
    if (args.includes("--ram") && !(Number(ram) >= 16 && Number(ram) <= 3072 && /^\d+$/.test(ram))) assert.is(p.status, EXIT.USAGE, `${what}: --ram ${ram} was not refused`);
  }
});

test.run();
