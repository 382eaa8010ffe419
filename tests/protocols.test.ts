// The protocol database (UEFI 2.10 §7.3) through the dispatcher: install, reinstall,
// uninstall (one and many), the OpenProtocol attribute rules and their records,
// ProtocolsPerHandle, the three LocateHandle searches, RegisterProtocolNotify,
// LocateDevicePath, and Connect/DisconnectController with no drivers.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ServiceCaller } from "./service-caller.ts";
import { counter } from "./guest-asm.ts";
import { serviceByName, THUNK_SIZE } from "../firmware/spec/services.ts";
import { guidBytes, guidText } from "../firmware/spec/decl.ts";
import { EVT, GUIDS, STATUS, TPL, OPEN_PROTOCOL as OP, LOCATE_SEARCH_TYPE as LS, statusName } from "../firmware/spec/uefi.ts";

const is = (s: bigint, name: keyof typeof STATUS, what = "") => assert.is(statusName(s), name, what);
const P1 = "6a1ee763-d47a-43b4-aabe-ef1de2ab56fc";
const P2 = "9b6a7c1e-2d8e-4f3a-b5c4-0d1e2f3a4b5c";

class Db {
  constructor(readonly c: ServiceCaller) {}
  guid(text: string): bigint { return this.c.bytes(guidBytes(text)); }
  /** InstallProtocolInterface on `h` (0: a new handle); the status and the handle. */
  install(h: bigint, proto: string, iface: bigint): { status: bigint; handle: bigint } {
    const hp = this.c.cell(h);
    const status = this.c.call("BS.InstallProtocolInterface", hp, this.guid(proto), 0n, iface);
    return { status, handle: this.c.u64(hp) };
  }
  handleProtocol(h: bigint, proto: string): { status: bigint; iface: bigint } {
    const out = this.c.cell(0xdeadn);
    const status = this.c.call("BS.HandleProtocol", h, this.guid(proto), out);
    return { status, iface: this.c.u64(out) };
  }
  open(h: bigint, proto: string, agent: bigint, controller: bigint, attrs: number, out = this.c.cell(0xdeadn)): { status: bigint; iface: bigint } {
    const status = this.c.call("BS.OpenProtocol", h, this.guid(proto), out, agent, controller, BigInt(attrs));
    return { status, iface: out ? this.c.u64(out) : 0n };
  }
  info(h: bigint, proto: string): { status: bigint; entries: { agent: bigint; controller: bigint; attrs: number; count: number }[] } {
    const buf = this.c.cell(), n = this.c.cell();
    const status = this.c.call("BS.OpenProtocolInformation", h, this.guid(proto), buf, n);
    const p = this.c.u64(buf);
    const entries = Array.from({ length: Number(this.c.u64(n)) }, (_, i) => {
      const e = p + BigInt(24 * i);
      return { agent: this.c.u64(e), controller: this.c.u64(e + 8n), attrs: this.c.u32(e + 16n), count: this.c.u32(e + 20n) };
    });
    return { status, entries };
  }
  locate(search: number, proto: string | null, key = 0n): { status: bigint; handles: bigint[] } {
    const size = this.c.cell(0x800n), buf = this.c.buf(0x800);
    const status = this.c.call("BS.LocateHandle", BigInt(search), proto ? this.guid(proto) : 0n, key, size, buf);
    const n = status === 0n ? Number(this.c.u64(size)) / 8 : 0;
    return { status, handles: Array.from({ length: n }, (_, i) => this.c.u64(buf + BigInt(8 * i))) };
  }
}

test("install, reinstall, uninstall: the statuses, and a handle dies with its last protocol", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const db = new Db(c);
  const { status, handle: h } = db.install(0n, P1, 0x1000n);
  is(status, "SUCCESS");
  is(db.install(h, P1, 0x2000n).status, "INVALID_PARAMETER", "the same protocol twice");
  is(c.call("BS.InstallProtocolInterface", c.cell(), db.guid(P2), 1n, 0n), "INVALID_PARAMETER", "not EFI_NATIVE_INTERFACE");
  is(db.install(c.cell(), P2, 0n).status, "INVALID_PARAMETER", "not a handle");
  is(db.install(h, P2, 0x3000n).status, "SUCCESS");
  is(c.call("BS.ReinstallProtocolInterface", h, db.guid(P1), 0x9999n, 0x1100n), "NOT_FOUND", "wrong old interface");
  is(c.call("BS.ReinstallProtocolInterface", h, db.guid(P1), 0x1000n, 0x1100n), "SUCCESS");
  assert.is(db.handleProtocol(h, P1).iface, 0x1100n);
  is(c.call("BS.UninstallProtocolInterface", h, db.guid(P1), 0x1000n), "NOT_FOUND", "wrong interface");
  is(c.call("BS.UninstallProtocolInterface", h, db.guid(P1), 0x1100n), "SUCCESS");
  const gone = db.handleProtocol(h, P1);
  is(gone.status, "UNSUPPORTED");
  assert.is(gone.iface, 0n, "Interface NULL when unsupported");
  is(c.call("BS.UninstallProtocolInterface", h, db.guid(P2), 0x3000n), "SUCCESS");
  is(db.handleProtocol(h, P2).status, "INVALID_PARAMETER", "the handle is gone");
  is(c.call("BS.UninstallProtocolInterface", h, db.guid(P2), 0x3000n), "INVALID_PARAMETER");
  c.close();
});

test("OpenProtocol: attribute checks, ALREADY_STARTED, ACCESS_DENIED, records per agent and controller", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const db = new Db(c);
  const h = db.install(0n, P1, 0x1000n).handle;
  const agent = db.install(0n, P2, 1n).handle;
  const agent2 = db.install(0n, P2, 2n).handle;
  const ctrl = db.install(0n, P2, 3n).handle;
  is(db.open(h, P1, agent, ctrl, 0x3).status, "INVALID_PARAMETER", "two attributes");
  is(db.open(h, P1, agent, 0n, OP.BY_DRIVER).status, "INVALID_PARAMETER", "BY_DRIVER needs a controller");
  is(db.open(h, P1, agent, h, OP.BY_CHILD_CONTROLLER).status, "INVALID_PARAMETER", "child controller = handle");
  is(db.open(h, P1, 0n, 0n, OP.EXCLUSIVE).status, "INVALID_PARAMETER", "EXCLUSIVE needs an agent");
  is(db.open(h, P1, agent, 0n, OP.GET_PROTOCOL, 0n).status, "INVALID_PARAMETER", "NULL Interface");
  is(db.open(h, P1, agent, 0n, OP.TEST_PROTOCOL, 0n).status, "SUCCESS", "TEST_PROTOCOL needs no Interface");
  const missing = db.open(h, P2, agent, 0n, OP.GET_PROTOCOL);
  is(missing.status, "UNSUPPORTED");
  assert.is(missing.iface, 0n);

  const g = db.open(h, P1, 0n, 0n, OP.GET_PROTOCOL);
  is(g.status, "SUCCESS");
  assert.is(g.iface, 0x1000n);
  assert.equal(db.info(h, P1).entries.map((e) => e.attrs), [OP.TEST_PROTOCOL], "no record for a NULL agent");
  is(db.open(h, P1, agent, 0n, OP.GET_PROTOCOL).status, "SUCCESS");
  is(db.open(h, P1, agent, 0n, OP.GET_PROTOCOL).status, "SUCCESS");
  assert.equal(db.info(h, P1).entries.find((e) => e.attrs === OP.GET_PROTOCOL), { agent, controller: 0n, attrs: OP.GET_PROTOCOL, count: 2 });

  is(db.open(h, P1, agent, ctrl, OP.BY_DRIVER).status, "SUCCESS");
  const again = db.open(h, P1, agent, ctrl, OP.BY_DRIVER);
  is(again.status, "ALREADY_STARTED");
  assert.is(again.iface, 0x1000n, "ALREADY_STARTED still gives the interface");
  is(db.open(h, P1, agent2, ctrl, OP.BY_DRIVER).status, "ACCESS_DENIED", "another driver");
  is(db.open(h, P1, agent2, 0n, OP.EXCLUSIVE).status, "ACCESS_DENIED", "EXCLUSIVE would have to stop the driver");
  is(c.call("BS.UninstallProtocolInterface", h, db.guid(P1), 0x1000n), "ACCESS_DENIED", "opened BY_DRIVER");
  is(c.call("BS.ReinstallProtocolInterface", h, db.guid(P1), 0x1000n, 0x1000n), "ACCESS_DENIED");
  is(db.info(c.cell(), P1).status, "NOT_FOUND");

  is(c.call("BS.CloseProtocol", h, db.guid(P1), agent, 0n), "SUCCESS", "closes the GET_PROTOCOL and TEST_PROTOCOL records");
  is(c.call("BS.CloseProtocol", h, db.guid(P1), agent, 0n), "NOT_FOUND");
  is(c.call("BS.CloseProtocol", h, db.guid(P1), 0n, 0n), "INVALID_PARAMETER", "NULL agent");
  is(c.call("BS.CloseProtocol", h, db.guid(P1), agent, ctrl), "SUCCESS");
  assert.equal(db.info(h, P1), { status: STATUS.SUCCESS, entries: [] });

  is(db.open(h, P1, agent2, 0n, OP.EXCLUSIVE).status, "SUCCESS");
  is(db.open(h, P1, agent, ctrl, OP.BY_DRIVER).status, "ACCESS_DENIED", "held exclusively");
  is(c.call("BS.UninstallProtocolInterface", h, db.guid(P1), 0x1000n), "ACCESS_DENIED", "opened EXCLUSIVE");
  is(c.call("BS.CloseProtocol", h, db.guid(P1), agent2, 0n), "SUCCESS");
  // Casual opens do not keep an interface: they are dropped with it.
  is(db.open(h, P1, agent, 0n, OP.GET_PROTOCOL).status, "SUCCESS");
  is(c.call("BS.UninstallProtocolInterface", h, db.guid(P1), 0x1000n), "SUCCESS");
  c.close();
});

test("InstallMultipleProtocolInterfaces: all or nothing, a duplicate device path is ALREADY_STARTED", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const db = new Db(c);
  const hp = c.cell();
  is(c.call("BS.InstallMultipleProtocolInterfaces", hp, db.guid(P1), 0x10n, db.guid(P2), 0x20n, 0n), "SUCCESS");
  const h = c.u64(hp);
  assert.is(db.handleProtocol(h, P1).iface, 0x10n);
  assert.is(db.handleProtocol(h, P2).iface, 0x20n);
  const all = db.locate(LS.AllHandles, null).handles.length;
  const fresh = c.cell();
  is(c.call("BS.InstallMultipleProtocolInterfaces", fresh, db.guid(P1), 1n, db.guid(P1), 2n, 0n), "INVALID_PARAMETER", "the same GUID twice");
  assert.is(c.u64(fresh), 0n, "*Handle as it was");
  assert.is(db.locate(LS.AllHandles, null).handles.length, all, "no handle left behind");
  // A device path some handle has already: the initrd-style vendor path, installed twice.
  const path = c.bytes(Uint8Array.of(4, 3, 20, 0, ...guidBytes(P1), 0x7f, 0xff, 4, 0));
  const copy = c.bytes(c.m.fw.ram.slice(Number(path), Number(path) + 24));
  is(c.call("BS.InstallMultipleProtocolInterfaces", c.cell(), db.guid(GUIDS.DEVICE_PATH_PROTOCOL), path, 0n), "SUCCESS");
  const dup = c.cell();
  is(c.call("BS.InstallMultipleProtocolInterfaces", dup, db.guid(P2), 5n, db.guid(GUIDS.DEVICE_PATH_PROTOCOL), copy, 0n), "ALREADY_STARTED");
  assert.is(c.u64(dup), 0n);
  is(c.call("BS.InstallMultipleProtocolInterfaces", 0n, 0n), "INVALID_PARAMETER", "NULL Handle");

  is(c.call("BS.UninstallMultipleProtocolInterfaces", h, db.guid(P1), 0x10n, db.guid(P2), 0x99n, 0n), "INVALID_PARAMETER", "one wrong interface");
  assert.is(db.handleProtocol(h, P1).iface, 0x10n, "nothing was removed");
  is(c.call("BS.UninstallMultipleProtocolInterfaces", h, db.guid(P1), 0x10n, db.guid(P2), 0x20n, 0n), "SUCCESS");
  is(db.handleProtocol(h, P1).status, "INVALID_PARAMETER", "the emptied handle is gone");
  c.close();
});

test("ProtocolsPerHandle returns pointers to the GUIDs on the handle", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const db = new Db(c);
  const h = db.install(0n, P1, 1n).handle;
  db.install(h, P2, 2n);
  const buf = c.cell(), n = c.cell();
  is(c.call("BS.ProtocolsPerHandle", h, buf, n), "SUCCESS");
  const guids = Array.from({ length: Number(c.u64(n)) }, (_, i) => {
    const g = Number(c.u64(c.u64(buf) + BigInt(8 * i)));
    return guidText(c.m.fw.ram.subarray(g, g + 16));
  });
  assert.equal(guids.sort(), [P1, P2].sort());
  is(c.call("BS.FreePool", c.u64(buf)), "SUCCESS", "a pool buffer the caller frees");
  is(c.call("BS.ProtocolsPerHandle", c.cell(), buf, n), "INVALID_PARAMETER");
  is(c.call("BS.ProtocolsPerHandle", h, 0n, n), "INVALID_PARAMETER");
  c.close();
});

test("LocateHandle: AllHandles, ByProtocol in install order, ByRegisterNotify one new handle per call", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const db = new Db(c);
  const count = c.cell();
  const ev = c.cell();
  is(c.call("BS.CreateEvent", BigInt(EVT.NOTIFY_SIGNAL), BigInt(TPL.CALLBACK), counter(c), count, ev), "SUCCESS");
  const key = c.cell();
  is(c.call("BS.RegisterProtocolNotify", db.guid(P1), c.u64(ev), key), "SUCCESS");
  is(c.call("BS.RegisterProtocolNotify", db.guid(P1), c.cell(), key), "INVALID_PARAMETER", "not an event");
  const reg = c.u64(key);
  is(db.locate(LS.ByRegisterNotify, null, reg).status, "NOT_FOUND", "nothing installed yet");
  const a = db.install(0n, P1, 0xa0n).handle;
  assert.is(c.u64(count), 1n, "the event is signalled on install");
  const b = db.install(0n, P1, 0xb0n).handle;
  assert.is(c.u64(count), 2n);
  assert.equal(db.locate(LS.ByProtocol, P1).handles, [a, b]);
  assert.ok(db.locate(LS.AllHandles, null).handles.includes(a));
  is(db.locate(LS.ByProtocol, P2).status, "NOT_FOUND");
  is(db.locate(7, P1).status, "INVALID_PARAMETER", "no such search type");
  assert.equal(db.locate(LS.ByRegisterNotify, null, reg).handles, [a]);
  const iface = c.cell();
  is(c.call("BS.LocateProtocol", db.guid(P1), reg, iface), "SUCCESS");
  assert.is(c.u64(iface), 0xb0n, "LocateProtocol with the registration moves on to b");
  is(db.locate(LS.ByRegisterNotify, null, reg).status, "NOT_FOUND", "both seen");
  const small = c.cell(0n);
  is(c.call("BS.ReinstallProtocolInterface", a, db.guid(P1), 0xa0n, 0xa1n), "SUCCESS");
  assert.is(c.u64(count), 3n, "reinstalling signals too");
  is(c.call("BS.LocateHandle", BigInt(LS.ByRegisterNotify), 0n, reg, small, 0n), "BUFFER_TOO_SMALL");
  assert.is(c.u64(small), 8n);
  assert.equal(db.locate(LS.ByRegisterNotify, null, reg).handles, [a], "the reinstalled interface is new to the registration");
  // LocateHandleBuffer: NOT_FOUND leaves a zero count and a NULL buffer.
  const n = c.cell(5n), buf = c.cell(5n);
  is(c.call("BS.LocateHandleBuffer", BigInt(LS.ByProtocol), db.guid(P2), 0n, n, buf), "NOT_FOUND");
  assert.equal([c.u64(n), c.u64(buf)], [0n, 0n]);
  is(c.call("BS.LocateHandleBuffer", BigInt(LS.ByProtocol), db.guid(P1), 0n, n, buf), "SUCCESS");
  assert.is(c.u64(n), 2n);
  // Closing the event ends the registration.
  is(c.call("BS.CloseEvent", c.u64(ev)), "SUCCESS");
  is(db.locate(LS.ByRegisterNotify, null, reg).status, "INVALID_PARAMETER");
  db.install(0n, P1, 0xc0n);
  assert.is(c.u64(count), 3n);
  c.close();
});

test("LocateDevicePath matches the first instance of a multi-instance path", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const db = new Db(c);
  const node = Array.from(guidBytes(P1));
  const dev = c.bytes(Uint8Array.of(1, 4, 20, 0, ...node, 0x7f, 0xff, 4, 0));
  const h = db.install(0n, GUIDS.DEVICE_PATH_PROTOCOL, dev).handle;
  // VenHw(P1)/VenMedia(P2) , VenHw(P2): the first instance begins with h's path.
  const path = c.bytes(Uint8Array.of(1, 4, 20, 0, ...node, 4, 3, 20, 0, ...guidBytes(P2), 0x7f, 0x01, 4, 0, 1, 4, 20, 0, ...guidBytes(P2), 0x7f, 0xff, 4, 0));
  const pp = c.cell(path), out = c.cell();
  is(c.call("BS.LocateDevicePath", db.guid(GUIDS.DEVICE_PATH_PROTOCOL), pp, out), "SUCCESS");
  assert.is(c.u64(out), h);
  assert.is(c.u64(pp), path + 20n, "the rest of the path");
  is(c.call("BS.LocateDevicePath", db.guid(P2), c.cell(path), out), "NOT_FOUND");
  is(c.call("BS.LocateDevicePath", db.guid(GUIDS.DEVICE_PATH_PROTOCOL), c.cell(c.bytes(Uint8Array.of(1, 4, 2, 0))), out), "INVALID_PARAMETER", "a malformed path");
  c.close();
});

test("ConnectController and DisconnectController with no drivers", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const db = new Db(c);
  const h = db.install(0n, P1, 1n).handle;
  const other = db.install(0n, P2, 2n).handle;
  is(c.call("BS.ConnectController", c.cell(), 0n, 0n, 1n), "INVALID_PARAMETER");
  is(c.call("BS.ConnectController", h, 0n, 0n, 1n), "NOT_FOUND", "no driver to connect");
  is(c.call("BS.DisconnectController", c.cell(), 0n, 0n), "INVALID_PARAMETER");
  is(c.call("BS.DisconnectController", h, 0n, c.cell()), "INVALID_PARAMETER", "bad child");
  is(c.call("BS.DisconnectController", h, 0n, 0n), "SUCCESS", "nothing manages it");
  is(c.call("BS.DisconnectController", h, other, 0n), "INVALID_PARAMETER", "not a driver");
  c.close();
});

test("EFI_RNG_PROTOCOL: one handle, GetInfo lists RAW, GetRNG fills from the machine's entropy, by RAW or the default", () => {
  let calls = 0;
  const c = new ServiceCaller({ ramMiB: 32, entropy: (out) => { calls++; out.forEach((_, i) => (out[i] = 0xa0 + i)); } });
  const db = new Db(c);
  const iface = c.cell();
  is(c.call("BS.LocateProtocol", db.guid(GUIDS.RNG_PROTOCOL), 0n, iface), "SUCCESS");
  const rng = c.u64(iface);
  // Its two slots are the thunks of Rng.GetInfo and Rng.GetRNG.
  const thunk = (name: string) => c.m.fw.thunks + BigInt(serviceByName(name).id * THUNK_SIZE);
  assert.equal([c.u64(rng), c.u64(rng + 8n)], [thunk("Rng.GetInfo"), thunk("Rng.GetRNG")]);
  const size = c.cell(8n), list = c.buf(32);
  is(c.call("Rng.GetInfo", rng, size, list), "BUFFER_TOO_SMALL", "GetInfo with room for less than one GUID");
  assert.is(c.u64(size), 16n);
  is(c.call("Rng.GetInfo", rng, size, list), "SUCCESS");
  assert.is(guidText(c.m.fw.ram.subarray(Number(list), Number(list) + 16)), GUIDS.RNG_ALGORITHM_RAW);
  const value = c.buf(24);
  is(c.call("Rng.GetRNG", rng, 0n, 24n, value), "SUCCESS", "the default algorithm");
  assert.equal([...c.m.fw.ram.subarray(Number(value), Number(value) + 24)], Array.from({ length: 24 }, (_, i) => 0xa0 + i));
  is(c.call("Rng.GetRNG", rng, list, 8n, value), "SUCCESS", "RAW by name");
  is(c.call("Rng.GetRNG", rng, db.guid(P1), 8n, value), "UNSUPPORTED", "an algorithm it does not have");
  is(c.call("Rng.GetRNG", rng, 0n, 0n, value), "INVALID_PARAMETER", "no length");
  is(c.call("Rng.GetRNG", rng, 0n, 8n, 0n), "INVALID_PARAMETER", "no buffer");
  assert.is(calls, 2);
  c.close();
});

test.run();
