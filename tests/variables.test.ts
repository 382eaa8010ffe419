// Variable services (UEFI 2.10 §8.2) through the dispatcher, and the --vars store file:
// persisted atomically, reloaded, a corrupt one refused with its offset.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceCaller } from "./service-caller.ts";
import { VarStoreError } from "../host/firmware.ts";
import { guidBytes } from "../firmware/spec/decl.ts";
import { GUIDS, STATUS, statusName } from "../firmware/spec/uefi.ts";

const NV_BS_RT = 7n; // NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS
const BS_RT = 6n;
const VENDOR = "0e8e6cb9-52d5-4b62-9d5b-2c0c5bc2f0a1";
const is = (s: bigint, name: keyof typeof STATUS) => assert.is(statusName(s), name);

function set(c: ServiceCaller, name: string, attrs: bigint, data: string, guid = VENDOR): bigint {
  const d = Buffer.from(data);
  return c.call("RT.SetVariable", c.ucs2(name), c.bytes(guidBytes(guid)), attrs, BigInt(d.length), d.length ? c.bytes(d) : 0n);
}

function get(c: ServiceCaller, name: string, room = 64, guid = VENDOR): { status: bigint; data: string; attrs: number; size: bigint } {
  const size = c.cell(BigInt(room));
  const attrs = c.buf(4);
  const data = c.buf(Math.max(room, 1));
  const status = c.call("RT.GetVariable", c.ucs2(name), c.bytes(guidBytes(guid)), attrs, size, data);
  const n = Number(c.u64(size));
  return { status, size: c.u64(size), attrs: c.u32(attrs), data: Buffer.from(c.m.fw.ram.subarray(Number(data), Number(data) + Math.min(n, room))).toString() };
}

test("set, get, BUFFER_TOO_SMALL with the size, delete", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  is(set(c, "Answer", NV_BS_RT, "42"), "SUCCESS");
  const g = get(c, "Answer");
  is(g.status, "SUCCESS");
  assert.is(g.data, "42");
  assert.is(g.attrs, 7);
  const small = get(c, "Answer", 1);
  is(small.status, "BUFFER_TOO_SMALL");
  assert.is(small.size, 2n);
  is(get(c, "Nobody").status, "NOT_FOUND");
  is(set(c, "Answer", NV_BS_RT, ""), "SUCCESS"); // size 0 deletes
  is(get(c, "Answer").status, "NOT_FOUND");
  is(set(c, "Answer", NV_BS_RT, ""), "NOT_FOUND");
  c.close();
});

test("bad arguments get the spec's statuses", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  is(c.call("RT.SetVariable", 0n, c.bytes(guidBytes(VENDOR)), NV_BS_RT, 1n, c.cell()), "INVALID_PARAMETER"); // NULL name
  is(c.call("RT.SetVariable", c.ucs2(""), c.bytes(guidBytes(VENDOR)), NV_BS_RT, 1n, c.cell()), "INVALID_PARAMETER"); // empty name
  is(set(c, "X", 4n, "a"), "INVALID_PARAMETER"); // runtime access without boot-service access
  is(set(c, "X", 0x20n | NV_BS_RT, "a"), "UNSUPPORTED"); // time-based authenticated writes
  is(set(c, "SecureBoot", BS_RT, "\u0001", GUIDS.GLOBAL_VARIABLE), "WRITE_PROTECTED");
  is(set(c, "X", BS_RT, "a"), "SUCCESS");
  is(set(c, "X", NV_BS_RT, "b"), "INVALID_PARAMETER"); // other attributes than the existing variable
  is(c.call("RT.GetVariable", c.ucs2("X"), c.bytes(guidBytes(VENDOR)), 0n, 0n, 0n), "INVALID_PARAMETER"); // NULL DataSize
  c.close();
});

test("GetNextVariableName walks every variable once, then NOT_FOUND", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  for (const n of ["A", "Bb", "Ccc"]) is(set(c, n, BS_RT, n), "SUCCESS");
  const names: string[] = [];
  const size = c.cell();
  const name = c.buf(64);
  const guid = c.buf(16);
  for (;;) {
    c.setU64(size, 64n);
    const st = c.call("RT.GetNextVariableName", size, name, guid);
    if (st === STATUS.NOT_FOUND) break;
    is(st, "SUCCESS");
    names.push(Buffer.from(c.m.fw.ram.subarray(Number(name), Number(name) + Number(c.u64(size)) - 2)).toString("utf16le"));
  }
  assert.equal(names, ["A", "Bb", "Ccc"]);
  c.close();
});

test("QueryVariableInfo reports the store and its free space", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const [max, left, each] = [c.cell(), c.cell(), c.cell()];
  is(c.call("RT.QueryVariableInfo", NV_BS_RT, max, left, each), "SUCCESS");
  const before = c.u64(left);
  is(set(c, "Big", NV_BS_RT, "x".repeat(1000)), "SUCCESS");
  is(c.call("RT.QueryVariableInfo", NV_BS_RT, max, left, each), "SUCCESS");
  assert.ok(c.u64(left) <= before - 1000n);
  assert.ok(c.u64(max) >= c.u64(left));
  is(set(c, "Huge", NV_BS_RT, "x".repeat(Number(c.u64(each)) + 1)), "OUT_OF_RESOURCES");
  is(c.call("RT.QueryVariableInfo", 0n, max, left, each), "INVALID_PARAMETER");
  c.close();
});

test("--vars: non-volatile variables persist atomically, volatile ones do not, corruption is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-vars-"));
  const path = join(dir, "vars.bin");
  const a = new ServiceCaller({ ramMiB: 32, varsPath: path });
  is(set(a, "Kept", NV_BS_RT, "persist me"), "SUCCESS");
  is(set(a, "Gone", BS_RT, "volatile"), "SUCCESS");
  a.m.saveVarsIfChanged();
  a.close();
  assert.ok(existsSync(path));
  const b = new ServiceCaller({ ramMiB: 32, varsPath: path });
  assert.is(get(b, "Kept").data, "persist me");
  is(get(b, "Gone").status, "NOT_FOUND");
  b.close();
  // A corrupt store is reported with its offset, and left as it was.
  const bytes = readFileSync(path);
  bytes[20] = 0xff; // inside the first record's name length
  writeFileSync(path, bytes);
  assert.throws(() => new ServiceCaller({ ramMiB: 32, varsPath: path }), (e: unknown) => e instanceof VarStoreError && /corrupt \(at byte offset \d+\)/.test((e as Error).message));
  assert.equal(readFileSync(path), bytes);
});

test.run();
