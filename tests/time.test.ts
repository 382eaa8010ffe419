// GetTime / SetTime (UEFI 2.10 §8.3) through the dispatcher.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ServiceCaller } from "./service-caller.ts";
import { field } from "../firmware/spec/decl.ts";
import { TIME, statusName } from "../firmware/spec/uefi.ts";

const off = (name: string) => BigInt(field(TIME, name).offset);

function time(c: ServiceCaller, y: number, mo: number, d: number, h = 12, mi = 0, s = 0, tz = 0x7ff): bigint {
  const p = c.buf(TIME.size);
  const v = c.m.fw.ramView;
  v.setUint16(Number(p + off("Year")), y, true);
  for (const [n, x] of [["Month", mo], ["Day", d], ["Hour", h], ["Minute", mi], ["Second", s]] as const) v.setUint8(Number(p + off(n)), x);
  v.setInt16(Number(p + off("TimeZone")), tz, true);
  return p;
}

test("SetTime moves the clock GetTime reads; the zone is kept as given", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  assert.is(statusName(c.call("RT.SetTime", time(c, 2030, 6, 15, 8, 30, 0, 60))), "SUCCESS");
  const out = c.buf(TIME.size);
  assert.is(statusName(c.call("RT.GetTime", out, 0n)), "SUCCESS");
  const v = c.m.fw.ramView;
  assert.is(v.getUint16(Number(out + off("Year")), true), 2030);
  assert.is(v.getUint8(Number(out + off("Month"))), 6);
  assert.is(v.getUint8(Number(out + off("Day"))), 15);
  assert.is(v.getUint8(Number(out + off("Hour"))), 8);
  assert.ok(v.getUint8(Number(out + off("Minute"))) <= 31);
  assert.is(v.getInt16(Number(out + off("TimeZone")), true), 60);
  c.close();
});

test("SetTime refuses times that do not exist", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const bad = (t: bigint) => assert.is(statusName(c.call("RT.SetTime", t)), "INVALID_PARAMETER");
  bad(time(c, 2023, 2, 29)); // not a leap year
  bad(time(c, 2024, 4, 31));
  bad(time(c, 1899, 12, 31));
  bad(time(c, 2024, 13, 1));
  bad(time(c, 2024, 1, 1, 24));
  bad(time(c, 2024, 1, 1, 12, 0, 0, 1441));
  bad(0n);
  assert.is(statusName(c.call("RT.SetTime", time(c, 2024, 2, 29))), "SUCCESS");
  assert.is(statusName(c.call("RT.GetTime", 0n, 0n)), "INVALID_PARAMETER");
  c.close();
});

test.run();
