// --deterministic: guest time from the instruction count (host/clock.ts), so boots of the
// Debian kernel print the same serial output, timestamps included, make the same EFI
// calls and run the same instructions, whether each has a fresh process or several
// share one. Two boots as child processes of the CLI run beside two in this process (a
// PVH boot, then an EFI boot on a second engine); each is ~15 s of one core and ends at
// the restart the test /init asks for.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../host/paths.ts";
import { DEFAULT_CMDLINE, DEFAULT_KERNEL, TEST_INITRD } from "../host/defaults.ts";
import { runImage } from "../host/run.ts";

interface Boot { ending: { kind: string }; serial: string[]; summary: unknown; instructions: unknown }
const INITRD = join(ROOT, TEST_INITRD);

/** A boot in a fresh process: the CLI's --json, written to a file (this process is busy meanwhile). */
function childBoot(entry: "efi" | "pvh", dir: string): Promise<Boot> {
  const out = join(dir, `${entry}.json`);
  const args = [join(ROOT, "build/ueficorn.cjs"), "boot", "--entry", entry, "--initrd", INITRD, "--deterministic", "--json", "--timeout", "600000"];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", openSync(out, "w"), "inherit"] });
    child.on("error", reject);
    child.on("close", () => {
      try {
        resolve(JSON.parse(readFileSync(out, "utf8")));
      } catch {
        reject(new Error(`boot --entry ${entry} left no JSON in ${out}`));
      }
    });
  });
}

function inProcessBoot(entry: "efi" | "pvh"): Boot {
  const r = runImage(DEFAULT_KERNEL, { entry, initrd: INITRD, cmdline: DEFAULT_CMDLINE, deterministic: true, timeBudgetMs: 600_000 });
  return { ending: r.ending, serial: r.serial, summary: r.summary, instructions: r.instructions };
}

test("deterministic boots through each entry: byte-identical serial logs, the same calls and counts, in a fresh process or after another machine in this one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-det-"));
  try {
    const children = Promise.all([childBoot("efi", dir), childBoot("pvh", dir)]);
    await new Promise((r) => setTimeout(r, 100)); // let both start before this process gets busy
    const pvh = inProcessBoot("pvh");
    const efi = inProcessBoot("efi"); // the second engine in this process
    const [efiFresh, pvhFresh] = await children;
    for (const [name, a, b] of [["EFI", efi, efiFresh], ["PVH", pvh, pvhFresh]] as const) {
      assert.is(a.ending.kind, "reset", `${name} ended so`);
      assert.ok(a.serial.some((l) => /^init: hello from userspace/.test(l)), `${name}: userspace ran`);
      // Timestamps come from the TSC, which the host answers from the clock.
      assert.ok(a.serial.some((l) => /^\[\s+[1-9]\d*\.\d{6}\] /.test(l)), `${name}: the clock moved`);
      assert.equal(a.serial, b.serial, `${name}: the same serial output`);
      assert.equal(a.summary, b.summary, `${name}: the same EFI calls`);
      assert.equal(a.instructions, b.instructions, `${name}: the same instruction counts`);
    }
    assert.ok(efi.serial.some((l) => /^\[\s+0\.\d{6}\] Linux version 6\.1/.test(l)));
    // The firmware's RNG hands out a fixed stream on a deterministic machine: the same seed, the same bytes.
    assert.ok(efi.serial.includes("init: getrandom gave 16 bytes"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
