// Scripted keystrokes for ConIn (host/keys.ts, firmware/services/text.ts): the script
// language, and a real guest (guests/keys.c) that waits on WaitForKey and reads each key.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { KeyQueue, parseKeys } from "../host/keys.ts";
import { describeEnding, exitCode, runImage, EXIT } from "../host/run.ts";
import { ROOT } from "../host/paths.ts";

const KEYS = join(ROOT, "build/guests/keys.efi");

test("parseKeys: text as typed (a newline is Enter), {name} keys, {wait MS} moves the time, {{ is a brace; errors say where", () => {
  assert.equal(parseKeys("a\n{up}{wait 20}{{{Esc}"), [
    { scan: 0, unicode: 0x61, atNs: 0 },
    { scan: 0, unicode: 0x0d, atNs: 0 },
    { scan: 0x01, unicode: 0, atNs: 0 },
    { scan: 0, unicode: 0x7b, atNs: 20e6 },
    { scan: 0x17, unicode: 0, atNs: 20e6 },
  ]);
  assert.throws(() => parseKeys("ab{nope}"), /no key "\{nope\}" at offset 2/);
  assert.throws(() => parseKeys("x{enter"), /"\{" at offset 1 is not closed/);
  assert.throws(() => parseKeys("😀"), /outside UCS-2/);
  const q = new KeyQueue(parseKeys("a{wait 5}b"));
  assert.is(q.take(0)?.unicode, 0x61);
  assert.is(q.take(4e6), undefined, "b is not due before 5 ms");
  assert.is(q.nextAt(), 5e6);
  assert.is(q.take(5e6)?.unicode, 0x62);
  assert.is(q.nextAt(), undefined);
});

test("a guest waiting on WaitForKey gets each scripted key, in order, then NOT_READY; waits cost guest time only", () => {
  const r = runImage(KEYS, { keys: parseKeys("ok{enter}{wait 60000}{down}{esc}"), timeBudgetMs: 30_000 });
  assert.equal(r.ending, { kind: "returned", status: 0n });
  assert.equal(r.console.trim().split(/\r?\n/), [
    "key: U+0x006f scan 0", "key: U+0x006b scan 0", "key: U+0x000d scan 0",
    "key: U+0x0000 scan 2", "key: U+0x0000 scan 23", "after Esc: EFI_NOT_READY",
  ]);
  assert.is(r.summary.perService["ConIn.ReadKeyStroke"], 6);
});

test("a guest waiting for a key that will never come ends the run as waiting for ever, from its call site, with the halted status", () => {
  const r = runImage(KEYS, { keys: parseKeys("x"), timeBudgetMs: 30_000 });
  assert.is(r.ending.kind, "waiting");
  assert.is(exitCode(r), EXIT.HALTED);
  assert.match(describeEnding(r.ending), /^waiting for ever, for input that will not come \(WaitForEvent, or HLT in boot services, with no timer armed and no key to come\) from RIP 0x[0-9a-f]+ \(keys\.efi: [a-z_]+\+0x[0-9a-f]+\)$/);
  assert.equal(r.console.trim().split(/\r?\n/), ["key: U+0x0078 scan 0"]);
});

test("cli: --keys with a key it does not know is a usage error naming it", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "build/ueficorn.cjs"), "run", KEYS, "--keys", "{enterr}"], { encoding: "utf8" });
  assert.is(r.status, EXIT.USAGE);
  assert.match(r.stderr, /no key "\{enterr\}" at offset 0/);
});

test.run();
