// --deterministic: guest time from the instruction count (host/clock.ts), so two boots of
// the Debian kernel print the same serial output, timestamps included, and make the same
// EFI calls. Four boots as child processes of the CLI, side by side (each is one core's
// work for ~15 s), ending at the restart the test /init asks for.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../host/paths.ts";
import { TEST_INITRD } from "../host/defaults.ts";

interface Boot { exitCode: number; ending: { kind: string }; serial: string[]; summary: unknown; instructions: unknown }

function boot(entry: "efi" | "pvh"): Promise<Boot> {
  const args = [join(ROOT, "build/ueficorn.cjs"), "boot", "--entry", entry, "--initrd", join(ROOT, TEST_INITRD), "--deterministic", "--json", "--timeout", "600000"];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT });
    let out = "", err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`boot --entry ${entry} printed no JSON: ${err || out.slice(0, 400)}`));
      }
    });
  });
}

test("two --deterministic boots through each entry print byte-identical serial logs and make the same calls", async () => {
  const [efi1, efi2, pvh1, pvh2] = await Promise.all([boot("efi"), boot("efi"), boot("pvh"), boot("pvh")]);
  for (const [name, a, b] of [["EFI", efi1, efi2], ["PVH", pvh1, pvh2]] as const) {
    assert.is(a.ending.kind, "reset", `${name}: ${JSON.stringify(a.ending)}`);
    assert.ok(a.serial.some((l) => /^init: hello from userspace/.test(l)), `${name}: userspace ran`);
    // Timestamps come from the TSC, which the host answers from the clock.
    assert.ok(a.serial.some((l) => /^\[\s+[1-9]\d*\.\d{6}\] /.test(l)), `${name}: the clock moved`);
    assert.equal(a.serial, b.serial, `${name}: the same serial output`);
    assert.equal(a.summary, b.summary, `${name}: the same EFI calls`);
    assert.equal(a.instructions, b.instructions, `${name}: the same instruction counts`);
  }
  assert.ok(efi1.serial.some((l) => /^\[\s+0\.\d{6}\] Linux version 6\.1/.test(l)));
});

test.run();
