// Guest time (host/clock.ts): the host's clock and the clock made from guest progress.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GUEST_EPOCH_MS, GUEST_TSC_KHZ, guestClock, hostClock, wallMs } from "../host/clock.ts";

test("guestClock: time is progress times the step plus what was skipped; the TSC is 1 GHz; stepsAt inverts it", () => {
  let steps = 1000n;
  const c = guestClock({ progress: () => steps, nsPerStep: 2 });
  assert.is(c.now(), 0, "counts from where progress was when it was made");
  steps += 500n;
  assert.is(c.now(), 1000);
  c.skipTo(5000);
  assert.is(c.now(), 5000);
  c.skipTo(10);
  assert.is(c.now(), 5000, "never back");
  steps += 1n;
  assert.is(c.now(), 5002);
  assert.is(c.tsc!(), 5002n * BigInt(GUEST_TSC_KHZ) / 1_000_000n);
  assert.is(c.tscKhz(), GUEST_TSC_KHZ);
  // At which progress does time reach 6000? 4000 of it skipped, 2 per step from 1000.
  assert.is(c.stepsAt!(6000), 2000n);
  steps = 2000n;
  assert.is(c.now(), 6000);
  assert.is(wallMs(c), GUEST_EPOCH_MS + 0.006);
});

test("guestClock without progress moves only when skipped, and has no pace to stop the guest at", () => {
  const c = guestClock();
  assert.is(c.now(), 0);
  c.idleUntil(123, 0);
  assert.is(c.now(), 123, "an idle guest clock skips");
  assert.is(c.stepsAt, undefined);
});

test("hostClock: monotonic, skips add on, the TSC is the host's", () => {
  const before = Date.now();
  const c = hostClock();
  const after = Date.now();
  const a = c.now();
  c.skipTo(a + 1e12);
  const b = c.now();
  assert.ok(b >= a + 1e12, `${a} → ${b}`);
  assert.ok(c.now() >= b);
  assert.is(c.tsc, undefined);
  assert.ok(c.epochMs >= before && c.epochMs <= after, "its epoch is the wall clock when it was made");
});

test.run();
