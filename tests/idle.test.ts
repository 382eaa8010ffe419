// A HLT in boot services is where the firmware's timer tick comes (issue 13): a loader's
// idle loop halts until its timer's notify function has run, and a guest that halts with
// nothing armed is reported as waiting for ever, with the HALTED exit status.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { runImage, exitCode, describeEnding, EXIT } from "../host/run.ts";
import { ROOT } from "../host/paths.ts";

const IDLE = join(ROOT, "build/guests/idle.efi");

test("hlt in an idle loop: the periodic timer's notify function runs at each tick, and the loop ends", () => {
  const r = runImage(IDLE, { timeBudgetMs: 60_000 });
  assert.match(r.console, /idle: 3 ticks at 10 ms after \d+ halts/);
  assert.is(exitCode(r), 0);
});

test("hlt with no timer armed and no key to come: waiting for ever, exit status HALTED", () => {
  const r = runImage(IDLE, { cmdline: "forever", timeBudgetMs: 60_000 });
  assert.match(r.console, /halting with nothing to wake me/);
  assert.is(r.ending.kind, "waiting");
  assert.match(describeEnding(r.ending), /HLT in boot services, with no timer armed/);
  assert.is(exitCode(r), EXIT.HALTED);
});

test.run();
