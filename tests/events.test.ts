// Events, timers and TPL (UEFI 2.10 §7.1), Stall and the watchdog (§7.5), the
// exit-boot-services and virtual-address-change groups: through the dispatcher, with
// notify functions that run in the guest (tests/guest-asm.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { ServiceCaller } from "./service-caller.ts";
import { Asm, counter, recorder, passThrough, place, thunk } from "./guest-asm.ts";
import { guidBytes } from "../firmware/spec/decl.ts";
import { field } from "../firmware/spec/decl.ts";
import {
  EVT, GUIDS, STATUS, TPL, TIMER_DELAY as TD, SYSTEM_TABLE, SIMPLE_TEXT_INPUT_PROTOCOL, MEMORY_DESCRIPTOR_STRIDE,
  MEMORY_ATTRIBUTE, TIME, statusName,
} from "../firmware/spec/uefi.ts";

const is = (s: bigint, name: keyof typeof STATUS, what = "") => assert.is(statusName(s), name, what);
const hello = readFileSync("build/guests/hello.efi");
const GROUP = "a2a6fd32-0b61-4b7d-8e5c-3a5dba6e7f01";

function create(c: ServiceCaller, type: number, tpl = 0, fn = 0n, ctx = 0n): bigint {
  const out = c.cell();
  is(c.call("BS.CreateEvent", BigInt(type), BigInt(tpl), fn, ctx, out), "SUCCESS", `CreateEvent(0x${type.toString(16)})`);
  return c.u64(out);
}

function createEx(c: ServiceCaller, type: number, tpl: number, fn: bigint, ctx: bigint, group: string): bigint {
  const out = c.cell();
  is(c.call("BS.CreateEventEx", BigInt(type), BigInt(tpl), fn, ctx, c.bytes(guidBytes(group)), out), "SUCCESS", "CreateEventEx");
  return c.u64(out);
}

test("CreateEvent and CreateEventEx: the types and TPLs EDK2 accepts, the rest INVALID_PARAMETER", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const fn = counter(c);
  const bad: [number, number, bigint, string][] = [
    [EVT.RUNTIME, 0, 0n, "EVT_RUNTIME alone"],
    [0x1, 0, 0n, "a reserved bit"],
    [EVT.NOTIFY_SIGNAL | EVT.NOTIFY_WAIT, TPL.CALLBACK, fn, "both notify kinds"],
    [EVT.NOTIFY_SIGNAL, TPL.CALLBACK, 0n, "no notify function"],
    [EVT.NOTIFY_SIGNAL, TPL.APPLICATION, fn, "notify at TPL_APPLICATION"],
    [EVT.NOTIFY_SIGNAL, TPL.HIGH_LEVEL, fn, "notify at TPL_HIGH_LEVEL"],
    [EVT.NOTIFY_WAIT, 5, fn, "a TPL that is not a level"],
  ];
  for (const [type, tpl, f, what] of bad) is(c.call("BS.CreateEvent", BigInt(type), BigInt(tpl), f, 0n, c.cell()), "INVALID_PARAMETER", what);
  is(c.call("BS.CreateEvent", 0n, 0n, 0n, 0n, 0n), "INVALID_PARAMETER", "NULL Event");
  const ebs = c.bytes(guidBytes(GUIDS.EVENT_GROUP_EXIT_BOOT_SERVICES));
  is(c.call("BS.CreateEventEx", BigInt(EVT.SIGNAL_EXIT_BOOT_SERVICES), BigInt(TPL.CALLBACK), fn, 0n, ebs, c.cell()), "INVALID_PARAMETER",
    "an EVT_SIGNAL_* type with a group");
  const a = create(c, 0);
  const b = create(c, EVT.TIMER | EVT.NOTIFY_SIGNAL, TPL.NOTIFY, fn);
  assert.ok(a !== 0n && b !== 0n && a !== b);
  c.close();
});

test("SignalEvent, CheckEvent, CloseEvent on a plain event", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const e = create(c, 0);
  is(c.call("BS.CheckEvent", e), "NOT_READY");
  is(c.call("BS.SignalEvent", e), "SUCCESS");
  is(c.call("BS.CheckEvent", e), "SUCCESS");
  is(c.call("BS.CheckEvent", e), "NOT_READY", "CheckEvent clears the signal");
  const n = create(c, EVT.NOTIFY_SIGNAL, TPL.CALLBACK, counter(c), c.cell());
  is(c.call("BS.CheckEvent", n), "INVALID_PARAMETER", "an EVT_NOTIFY_SIGNAL event cannot be checked");
  is(c.call("BS.CloseEvent", e), "SUCCESS");
  for (const s of ["BS.CloseEvent", "BS.SignalEvent", "BS.CheckEvent"]) is(c.call(s, e), "INVALID_PARAMETER", `${s} on a closed event`);
  is(c.call("BS.SignalEvent", 0n), "INVALID_PARAMETER");
  is(c.call("BS.SignalEvent", c.cell()), "INVALID_PARAMETER", "not an event");
  c.close();
});

test("notify functions run when the TPL drops below theirs, highest TPL first, at their own TPL", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const clock = c.cell();
  const fn = recorder(c, clock);
  const low = c.buf(16), high = c.buf(16), now = c.buf(16);
  const eLow = create(c, EVT.NOTIFY_SIGNAL, TPL.CALLBACK, fn, low);
  const eHigh = create(c, EVT.NOTIFY_SIGNAL, TPL.NOTIFY, fn, high);
  // At TPL_APPLICATION a signal runs the function before SignalEvent returns.
  const eNow = create(c, EVT.NOTIFY_SIGNAL, TPL.CALLBACK, fn, now);
  is(c.call("BS.SignalEvent", eNow), "SUCCESS");
  assert.is(c.u64(now), 1n, "ran at once");
  assert.is(c.u64(now + 8n), BigInt(TPL.CALLBACK), "at its NotifyTpl");
  assert.is(c.call("BS.RaiseTPL", BigInt(TPL.HIGH_LEVEL)), BigInt(TPL.APPLICATION), "RaiseTPL returns the old TPL");
  is(c.call("BS.SignalEvent", eLow), "SUCCESS");
  is(c.call("BS.SignalEvent", eHigh), "SUCCESS");
  assert.is(c.u64(low) + c.u64(high), 0n, "nothing runs at TPL_HIGH_LEVEL");
  c.call("BS.RestoreTPL", BigInt(TPL.CALLBACK));
  assert.is(c.u64(high), 2n, "the TPL_NOTIFY function ran on the way down to TPL_CALLBACK");
  assert.is(c.u64(high + 8n), BigInt(TPL.NOTIFY));
  assert.is(c.u64(low), 0n, "the TPL_CALLBACK one waits");
  c.call("BS.RestoreTPL", BigInt(TPL.APPLICATION));
  assert.is(c.u64(low), 3n);
  assert.is(c.call("BS.RaiseTPL", BigInt(TPL.CALLBACK)), BigInt(TPL.APPLICATION), "back at TPL_APPLICATION");
  c.call("BS.RestoreTPL", BigInt(TPL.APPLICATION));
  c.close();
});

test("signalling a group member signals the whole group (§7.1), the plain members included", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const fn = counter(c);
  const n1 = c.cell(), n2 = c.cell();
  const a = createEx(c, EVT.NOTIFY_SIGNAL, TPL.CALLBACK, fn, n1, GROUP);
  createEx(c, EVT.NOTIFY_SIGNAL, TPL.NOTIFY, fn, n2, GROUP);
  const plain = createEx(c, 0, 0, 0n, 0n, GROUP);
  const outsider = create(c, 0);
  is(c.call("BS.SignalEvent", a), "SUCCESS");
  assert.equal([c.u64(n1), c.u64(n2)], [1n, 1n], "both notify functions ran once");
  is(c.call("BS.CheckEvent", plain), "SUCCESS", "the plain member is signalled too");
  is(c.call("BS.CheckEvent", outsider), "NOT_READY");
  is(c.call("BS.SignalEvent", plain), "SUCCESS");
  assert.equal([c.u64(n1), c.u64(n2)], [2n, 2n], "signalling the plain member signals the others");
  c.close();
});

test("a wait event's notify function runs at each CheckEvent until it signals the event", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  // Notify function: SignalEvent(Event) with the Event it is given.
  const e = create(c, EVT.NOTIFY_WAIT, TPL.CALLBACK, passThrough(c, "BS.SignalEvent"));
  is(c.call("BS.CheckEvent", e), "SUCCESS");
  const count = c.cell();
  const idle = create(c, EVT.NOTIFY_WAIT, TPL.NOTIFY, counter(c), count);
  is(c.call("BS.CheckEvent", idle), "NOT_READY");
  is(c.call("BS.CheckEvent", idle), "NOT_READY");
  assert.is(c.u64(count), 2n);
  c.close();
});

test("SetTimer: relative, periodic, cancel, on the virtual clock that Stall advances", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const t = create(c, EVT.TIMER);
  is(c.call("BS.SetTimer", create(c, 0), BigInt(TD.TimerRelative), 0n), "INVALID_PARAMETER", "not a timer event");
  is(c.call("BS.SetTimer", t, 3n, 0n), "INVALID_PARAMETER", "no such EFI_TIMER_DELAY");
  is(c.call("BS.SetTimer", t, BigInt(TD.TimerRelative), 0n), "SUCCESS");
  is(c.call("BS.CheckEvent", t), "SUCCESS", "a relative 0 fires at once");
  is(c.call("BS.SetTimer", t, BigInt(TD.TimerRelative), 10_000_000n), "SUCCESS"); // 1 s in 100 ns units
  is(c.call("BS.CheckEvent", t), "NOT_READY");
  is(c.call("BS.Stall", 999_000n), "SUCCESS");
  is(c.call("BS.CheckEvent", t), "NOT_READY", "not yet after 0.999 s");
  is(c.call("BS.Stall", 2_000n), "SUCCESS");
  is(c.call("BS.CheckEvent", t), "SUCCESS", "due after 1 s");
  is(c.call("BS.Stall", 2_000_000n), "SUCCESS");
  is(c.call("BS.CheckEvent", t), "NOT_READY", "a relative timer fires once");

  const ticks = c.cell();
  const p = create(c, EVT.TIMER | EVT.NOTIFY_SIGNAL, TPL.CALLBACK, counter(c), ticks);
  is(c.call("BS.SetTimer", p, BigInt(TD.TimerPeriodic), 1_000_000n), "SUCCESS"); // every 100 ms
  is(c.call("BS.Stall", 1_000_000n), "SUCCESS");
  const n = Number(c.u64(ticks));
  assert.is(n, 10, "fired at 100, 200, ... 1000 ms");
  is(c.call("BS.SetTimer", p, BigInt(TD.TimerCancel), 0n), "SUCCESS");
  is(c.call("BS.Stall", 1_000_000n), "SUCCESS");
  assert.is(Number(c.u64(ticks)), n, "cancelled");
  is(c.call("BS.SetTimer", p, BigInt(TD.TimerPeriodic), 1_000_000n), "SUCCESS");
  is(c.call("BS.CloseEvent", p), "SUCCESS");
  is(c.call("BS.Stall", 1_000_000n), "SUCCESS");
  assert.is(Number(c.u64(ticks)), n, "closing a timer event stops it");
  c.close();
});

test("Stall moves the clock GetTime reads", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const t = c.buf(16);
  const secs = () => {
    is(c.call("RT.GetTime", t, 0n), "SUCCESS");
    const v = c.m.fw.ramView;
    return v.getUint8(Number(t) + field(TIME, "Hour").offset) * 3600 + v.getUint8(Number(t) + field(TIME, "Minute").offset) * 60 +
      v.getUint8(Number(t) + field(TIME, "Second").offset);
  };
  const before = secs();
  is(c.call("BS.Stall", 3600_000_000n), "SUCCESS"); // an hour, at no cost
  const after = secs();
  assert.is((after - before + 86400) % 86400, 3600, `${before} → ${after}`);
  c.close();
});

test("WaitForEvent: TPL_APPLICATION only, the index of the signalled event, a timer makes time pass", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const plain = create(c, 0);
  const timer = create(c, EVT.TIMER);
  const list = c.buf(16);
  c.setU64(list, plain);
  c.setU64(list + 8n, timer);
  const index = c.cell(99n);
  is(c.call("BS.WaitForEvent", 0n, list, index), "INVALID_PARAMETER", "no events");
  c.call("BS.RaiseTPL", BigInt(TPL.CALLBACK));
  is(c.call("BS.WaitForEvent", 2n, list, index), "UNSUPPORTED", "above TPL_APPLICATION");
  c.call("BS.RestoreTPL", BigInt(TPL.APPLICATION));
  is(c.call("BS.SignalEvent", plain), "SUCCESS");
  is(c.call("BS.WaitForEvent", 2n, list, index), "SUCCESS");
  assert.is(c.u64(index), 0n);
  // Nothing signalled: the wait lasts until the timer's deadline, 10 virtual minutes on.
  const t0 = c.m.clock.now();
  is(c.call("BS.SetTimer", timer, BigInt(TD.TimerRelative), 6_000_000_000n), "SUCCESS");
  is(c.call("BS.WaitForEvent", 2n, list, index), "SUCCESS");
  assert.is(c.u64(index), 1n);
  assert.is(c.m.clock.now() - t0, 600e9, "the clock skipped to the deadline");
  const n = create(c, EVT.NOTIFY_SIGNAL, TPL.CALLBACK, counter(c), c.cell());
  c.setU64(list + 8n, n);
  is(c.call("BS.WaitForEvent", 2n, list, index), "INVALID_PARAMETER", "an EVT_NOTIFY_SIGNAL event");
  assert.is(c.u64(index), 1n, "Index names the event at fault");
  c.close();
});

test("ConIn.WaitForKey is an event: never signalled without a keyboard, waitable beside a timer", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const st = c.m.fw.systemTable;
  const conIn = c.u64(st + BigInt(field(SYSTEM_TABLE, "ConIn").offset));
  const key = c.u64(conIn + BigInt(field(SIMPLE_TEXT_INPUT_PROTOCOL, "WaitForKey").offset));
  is(c.call("BS.CheckEvent", key), "NOT_READY");
  const timer = create(c, EVT.TIMER);
  is(c.call("BS.SetTimer", timer, BigInt(TD.TimerRelative), 10_000_000n), "SUCCESS");
  const list = c.buf(16);
  c.setU64(list, key);
  c.setU64(list + 8n, timer);
  const index = c.cell();
  is(c.call("BS.WaitForEvent", 2n, list, index), "SUCCESS");
  assert.is(c.u64(index), 1n, "the timer, after 1 virtual second");
  c.close();
});

test("SetWatchdogTimer: firmware codes refused when arming, any code disarms; expiry resets the platform", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  is(c.call("BS.SetWatchdogTimer", 300n, 0n, 0n, 0n), "INVALID_PARAMETER", "code 0 is the firmware's");
  is(c.call("BS.SetWatchdogTimer", 300n, 0xffffn, 0n, 0n), "INVALID_PARAMETER");
  is(c.call("BS.SetWatchdogTimer", 0n, 0n, 0n, 0n), "SUCCESS", "disarming, with code 0 as GRUB does");
  is(c.call("BS.SetWatchdogTimer", 5n, 0x10000n, 0n, 0n), "SUCCESS");
  is(c.call("BS.Stall", 4_000_000n), "SUCCESS");
  const reset = () => c.m.ended;
  assert.is(reset(), undefined, "not yet");
  is(c.call("BS.SetWatchdogTimer", 0n, 0x10000n, 0n, 0n), "SUCCESS");
  is(c.call("BS.Stall", 4_000_000n), "SUCCESS");
  assert.is(reset(), undefined, "disarmed");
  is(c.call("BS.SetWatchdogTimer", 1n, 0x10000n, 0n, 0n), "SUCCESS");
  c.call("BS.Stall", 2_000_000n);
  assert.equal(reset(), { kind: "reset", resetType: 0, status: STATUS.TIMEOUT, source: "ResetSystem" }, "EfiResetCold, EFI_TIMEOUT");
  c.close();
});

test("GetNextMonotonicCount counts up", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const a = c.cell(), b = c.cell();
  is(c.call("BS.GetNextMonotonicCount", a), "SUCCESS");
  is(c.call("BS.GetNextMonotonicCount", b), "SUCCESS");
  assert.ok(c.u64(b) > c.u64(a));
  is(c.call("BS.GetNextMonotonicCount", 0n), "INVALID_PARAMETER");
  c.close();
});

/** GetMemoryMap into scratch memory: the map's address, size and key. */
function memoryMap(c: ServiceCaller): { map: bigint; size: bigint; key: bigint } {
  const size = c.cell(0x4000n), map = c.buf(0x4000), key = c.cell();
  is(c.call("BS.GetMemoryMap", size, map, key, c.cell(), c.cell()), "SUCCESS");
  return { map, size: c.u64(size), key: c.u64(key) };
}

test("ExitBootServices: a stale MapKey fails after the before-exit group ran; then the exit group's notify functions run", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const image = c.m.loadImage(hello);
  const fn = counter(c);
  const before = c.cell(), legacy = c.cell(), grouped = c.cell();
  createEx(c, EVT.NOTIFY_SIGNAL, TPL.CALLBACK, fn, before, GUIDS.EVENT_GROUP_BEFORE_EXIT_BOOT_SERVICES);
  create(c, EVT.SIGNAL_EXIT_BOOT_SERVICES, TPL.NOTIFY, fn, legacy);
  createEx(c, EVT.NOTIFY_SIGNAL, TPL.CALLBACK, fn, grouped, GUIDS.EVENT_GROUP_EXIT_BOOT_SERVICES);
  const { key } = memoryMap(c);
  is(c.call("BS.ExitBootServices", image, key + 1n), "INVALID_PARAMETER", "stale MapKey");
  assert.equal([c.u64(before), c.u64(legacy), c.u64(grouped)], [1n, 0n, 0n]);
  is(c.call("BS.ExitBootServices", image, memoryMap(c).key), "SUCCESS");
  assert.equal([c.u64(before), c.u64(legacy), c.u64(grouped)], [2n, 1n, 1n]);
  assert.ok(c.m.fw.bootServicesExited);
  // §7.4: the system table's boot-time pointers are NULL and its CRC is recomputed.
  const st = c.m.fw.systemTable;
  for (const f of ["ConIn", "ConOut", "StdErr", "ConsoleInHandle", "BootServices"]) assert.is(c.u64(st + BigInt(field(SYSTEM_TABLE, f).offset)), 0n, f);
  const hdr = Buffer.from(c.m.fw.ram.subarray(Number(st), Number(st) + 120));
  const stored = hdr.readUInt32LE(16);
  hdr.writeUInt32LE(0, 16);
  assert.is(stored, crc32(hdr));
  c.close();
});

test("SetVirtualAddressMap calls the virtual-address-change group's notify functions, which may ConvertPointer", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const image = c.m.loadImage(hello);
  const count = c.cell();
  createEx(c, EVT.NOTIFY_SIGNAL, TPL.NOTIFY, counter(c), count, GUIDS.EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE);
  // A second one converts a pointer to the runtime services table, held in its Context.
  const rt = c.u64(c.m.fw.systemTable + BigInt(field(SYSTEM_TABLE, "RuntimeServices").offset));
  const slot = c.cell(rt);
  const convert = place(c, new Asm().subRsp(0x28).movRcx(0n).movRax(thunk(c, "RT.ConvertPointer")).callRax().addRsp(0x28).ret());
  create(c, EVT.SIGNAL_VIRTUAL_ADDRESS_CHANGE, TPL.NOTIFY, convert, slot);
  const { map, size, key } = memoryMap(c);
  const v = c.m.fw.ramView;
  const OFFSET = 0xffff_8000_0000_0000n;
  for (let d = map; d < map + size; d += BigInt(MEMORY_DESCRIPTOR_STRIDE)) {
    if (v.getBigUint64(Number(d) + 32, true) & MEMORY_ATTRIBUTE.RUNTIME) v.setBigUint64(Number(d) + 16, v.getBigUint64(Number(d) + 8, true) + OFFSET, true);
  }
  is(c.call("BS.ExitBootServices", image, key), "SUCCESS");
  is(c.call("RT.SetVirtualAddressMap", size, BigInt(MEMORY_DESCRIPTOR_STRIDE), 1n, map), "SUCCESS");
  assert.is(c.u64(count), 1n, "called once");
  assert.is(c.u64(slot), rt + OFFSET, "ConvertPointer worked inside the notify function");
  c.close();
});

test.run();
