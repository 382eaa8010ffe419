// Variable services (UEFI 2.10 §8.2) through the dispatcher, and the --vars store file:
// persisted atomically, reloaded, a corrupt or truncated one refused with its offset, a
// failed save leaving the last good store in place.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceCaller } from "./service-caller.ts";
import { VarStoreError } from "../host/errors.ts";
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
  // The boot manager's own variables (firmware/services/variables.ts varsDefaults) first.
  assert.equal(names, ["OsIndicationsSupported", "PlatformLangCodes", "LangCodes", "PlatformLang", "Lang", "Timeout", "A", "Bb", "Ccc"]);
  c.close();
});

test("the boot manager's variables: language codes and OsIndicationsSupported read-only, Timeout a setting", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const read = (name: string) => {
    const size = c.cell(64n), data = c.buf(64), attrs = c.buf(4);
    const st = c.call("RT.GetVariable", c.ucs2(name), c.bytes(guidBytes(GUIDS.GLOBAL_VARIABLE)), attrs, size, data);
    return { st, attrs: c.u32(attrs), data: c.m.fw.ram.slice(Number(data), Number(data) + Number(c.u64(size))) };
  };
  assert.equal(Buffer.from(read("PlatformLangCodes").data).toString("latin1"), "en-US\0");
  assert.equal(Buffer.from(read("Lang").data).toString("latin1"), "eng\0");
  assert.equal([...read("OsIndicationsSupported").data], [0, 0, 0, 0, 0, 0, 0, 0], "no OsIndications bit supported");
  assert.is(read("Timeout").attrs, 7, "Timeout is non-volatile");
  const G = GUIDS.GLOBAL_VARIABLE;
  is(set(c, "PlatformLangCodes", BS_RT, "fr", G), "WRITE_PROTECTED");
  is(set(c, "Timeout", NV_BS_RT, "\u0005\u0000", G), "SUCCESS");
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

/** A store file in a new folder holding `vars` (name → [attributes, data]), saved by a run. */
function savedStore(vars: Record<string, [bigint, string]>): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-vars-"));
  const path = join(dir, "vars.bin");
  const a = new ServiceCaller({ ramMiB: 32, varsPath: path });
  for (const [name, [attrs, data]] of Object.entries(vars)) is(set(a, name, attrs, data), "SUCCESS");
  a.m.saveVarsIfChanged();
  a.close();
  return { dir, path };
}

const refused = (path: string, why: RegExp) =>
  assert.throws(() => new ServiceCaller({ ramMiB: 32, varsPath: path }), (e: unknown) => e instanceof VarStoreError && why.test((e as Error).message));

test("--vars: non-volatile variables persist atomically, volatile ones do not, corruption is refused", () => {
  const { path } = savedStore({ Kept: [NV_BS_RT, "persist me"], Gone: [BS_RT, "volatile"] });
  assert.ok(existsSync(path));
  const b = new ServiceCaller({ ramMiB: 32, varsPath: path });
  assert.is(get(b, "Kept").data, "persist me");
  is(get(b, "Gone").status, "NOT_FOUND");
  b.close();
  // A corrupt store is reported with its offset, and left as it was.
  const bytes = readFileSync(path);
  bytes[20] = 0xff; // inside the first record's name length
  writeFileSync(path, bytes);
  refused(path, /corrupt \(at byte offset \d+\)/);
  assert.equal(readFileSync(path), bytes);
});

test("a guest cannot grow the store past its size: OUT_OF_RESOURCES, QueryVariableInfo agrees, what was stored stays", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const [max, left, each] = [c.cell(), c.cell(), c.cell()];
  is(c.call("RT.QueryVariableInfo", NV_BS_RT, max, left, each), "SUCCESS");
  const value = "v".repeat(1000);
  let n = 0;
  for (; n < 1000; n++) {
    const st = c.scoped(() => set(c, `Fill${n}`, NV_BS_RT, value));
    if (st !== STATUS.SUCCESS) { is(st, "OUT_OF_RESOURCES"); break; }
  }
  assert.ok(n > 10 && n < 1000, `${n} 1000-byte variables fit`);
  is(c.call("RT.QueryVariableInfo", NV_BS_RT, max, left, each), "SUCCESS");
  assert.ok(c.u64(left) < 1000n + 64n, `remaining ${c.u64(left)} would not take another`);
  for (let i = 0; i < n; i++) assert.is(c.scoped(() => get(c, `Fill${i}`, 1000).data), value, `Fill${i} intact`);
  is(set(c, "Fill0", NV_BS_RT, ""), "SUCCESS"); // deleting makes room again
  is(set(c, `Fill${n}`, NV_BS_RT, value), "SUCCESS");
  c.close();
});

test("--vars: a truncated or oversized store is refused with an offset; the file is left as it was", () => {
  const { path } = savedStore({ One: [NV_BS_RT, "first variable"], Two: [NV_BS_RT, "second variable"] });
  const whole = readFileSync(path);
  const cut = whole.subarray(0, whole.length - 5);
  writeFileSync(path, cut);
  refused(path, /corrupt \(at byte offset \d+\)/);
  assert.equal(readFileSync(path), cut);
  writeFileSync(path, new Uint8Array(1 << 20));
  refused(path, /more than the \d+-byte store/);
});

test("--vars: a save that cannot be written ends with a VarStoreError and leaves the last saved store whole", () => {
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-vars-"));
  const path = join(dir, "vars.bin");
  const a = new ServiceCaller({ ramMiB: 32, varsPath: path });
  is(set(a, "Kept", NV_BS_RT, "saved once"), "SUCCESS");
  a.m.saveVarsIfChanged();
  const saved = readFileSync(path);
  // The temporary file's name taken by a directory: the write fails before the rename.
  mkdirSync(join(dir, `.vars.bin.${process.pid}.tmp`));
  is(set(a, "Later", NV_BS_RT, "never saved"), "SUCCESS");
  assert.throws(() => a.m.saveVarsIfChanged(), (e: unknown) => e instanceof VarStoreError && /could not be saved \(.*\); the file holds the store as last saved/.test((e as Error).message));
  a.close();
  assert.equal(readFileSync(path), saved);
  assert.equal(readdirSync(dir).sort(), [`.vars.bin.${process.pid}.tmp`, "vars.bin"]);
});

test.run();
