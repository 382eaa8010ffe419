// SimpleTextInputEx (§12.2) on the console handle, fed by the same keystrokes as ConIn, its
// key notifications from a real guest (guests/keynotify.c), and UnicodeCollation2 (§19.2),
// called as a guest would (tests/service-caller.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ServiceCaller } from "./service-caller.ts";
import { parseKeys } from "../host/keys.ts";
import { guidBytes } from "../firmware/spec/decl.ts";
import { GUIDS, statusName } from "../firmware/spec/uefi.ts";
import { runImage } from "../host/run.ts";
import { ROOT } from "../host/paths.ts";
import { join } from "node:path";

const KEYNOTIFY = join(ROOT, "build/guests/keynotify.efi");

const is = (status: bigint, name: string, what?: string) => assert.is(statusName(status), name, what);

function locate(c: ServiceCaller, guid: string): bigint {
  const out = c.cell();
  is(c.call("BS.LocateProtocol", c.bytes(guidBytes(guid)), 0n, out), "SUCCESS");
  return c.u64(out);
}

test("SimpleTextInputEx: the same keystrokes as ConIn, no shift state claimed, WaitForKeyEx is WaitForKey", () => {
  const c = new ServiceCaller({ ramMiB: 32, keys: parseKeys("a{up}") });
  const ex = locate(c, GUIDS.SIMPLE_TEXT_INPUT_EX_PROTOCOL);
  const data = c.buf(12);
  is(c.call("SimpleTextInputEx.ReadKeyStrokeEx", ex, data), "SUCCESS");
  assert.equal([c.m.fw.ramView.getUint16(Number(data), true), c.m.fw.ramView.getUint16(Number(data) + 2, true), c.u32(data + 4n)], [0, 0x61, 0]);
  is(c.call("SimpleTextInputEx.ReadKeyStrokeEx", ex, data), "SUCCESS");
  assert.is(c.m.fw.ramView.getUint16(Number(data), true), 1, "SCAN_UP");
  is(c.call("SimpleTextInputEx.ReadKeyStrokeEx", ex, data), "NOT_READY");
  // WaitForKeyEx (offset 16) is ConIn's WaitForKey (ConIn at SystemTable + 48, its event at + 16).
  const conIn = c.u64(c.m.fw.systemTable + 48n);
  assert.is(c.u64(ex + 16n), c.u64(conIn + 16n));
  is(c.call("SimpleTextInputEx.SetState", ex, c.bytes(Uint8Array.of(0x80))), "SUCCESS");
  is(c.call("SimpleTextInputEx.SetState", ex, c.bytes(Uint8Array.of(0x02))), "UNSUPPORTED", "no EFI_TOGGLE_STATE_VALID");
  c.close();
});

test("RegisterKeyNotify/UnregisterKeyNotify (§12.2.5-6): keynotify.efi's functions are called at TPL_CALLBACK with the KeyData of the keys they registered, each when it arrives, and the keys are still read", () => {
  // The keys come after the registrations: 'a' and 'x' one guest second in, the rest a second later.
  const r = runImage(KEYNOTIFY, { keys: parseKeys("{wait 1000}ax{wait 1000}y{up}zx{esc}"), deterministic: true, timeBudgetMs: 30_000 });
  assert.equal(r.ending, { kind: "returned", status: 0n });
  const lines = r.console.trim().split(/\r?\n/);
  assert.equal(lines.filter((l) => l.startsWith("FAIL")), []);
  assert.ok(lines.includes("ok: UnregisterKeyNotify('y') again"), "an unknown handle is INVALID_PARAMETER");
  assert.ok(lines.includes("ok: the same key and function again: the same handle"));
  // Every key is read, the notified ones too.
  assert.equal(lines.filter((l) => l.startsWith("key:")), [
    "key: U+0x0061 scan 0", "key: U+0x0078 scan 0", "key: U+0x0079 scan 0", "key: U+0x0000 scan 1",
    "key: U+0x007a scan 0", "key: U+0x0078 scan 0", "key: U+0x0000 scan 23",
  ]);
  // 'x' twice (the last time after 'a' and 'x' were read: notified as it arrived, before it was read);
  // Up once; 'y' not after it was unregistered; shift+'z' never (a terminal's keys carry no shift state).
  assert.equal(lines.filter((l) => l.startsWith("notify")), [
    "notify x: 2 calls, last U+0x0078 scan 0 shift 0x0 toggle 0x0, at TPL 8, 2 keys read before",
    "notify up: 1 calls, last U+0x0000 scan 1 shift 0x0 toggle 0x0, at TPL 8, 2 keys read before",
    "notify y: 0 calls",
    "notify shift-z: 0 calls",
  ]);
  assert.is(lines.at(-1), "32 passed, 0 failed");
});

test("UnicodeCollation2: comparison, wildcards, case, and FAT names", () => {
  const c = new ServiceCaller({ ramMiB: 32 });
  const uc = locate(c, GUIDS.UNICODE_COLLATION2_PROTOCOL);
  const s = (t: string) => c.ucs2(t);
  const read = (p: bigint) => {
    let out = "";
    for (let a = Number(p); c.m.fw.ramView.getUint16(a, true); a += 2) out += String.fromCharCode(c.m.fw.ramView.getUint16(a, true));
    return out;
  };
  const signed = (v: bigint) => BigInt.asIntN(64, v);
  assert.is(signed(c.call("UnicodeCollation.StriColl", uc, s("Boot.EFI"), s("bOOT.efi"))), 0n);
  assert.ok(signed(c.call("UnicodeCollation.StriColl", uc, s("abc"), s("abd"))) < 0n);
  assert.ok(signed(c.call("UnicodeCollation.StriColl", uc, s("b"), s("A"))) > 0n);
  for (const [str, pat, want] of [["BOOTX64.EFI", "*.efi", 1n], ["grubx64.efi", "GRUB?64.*", 1n], ["shim.efi", "[a-r]*", 0n], ["shim.efi", "[r-t]him.EFI", 1n], ["a", "", 0n], ["", "*", 1n]] as const) {
    assert.is(c.call("UnicodeCollation.MetaiMatch", uc, s(str), s(pat)), want, `${str} ~ ${pat}`);
  }
  const mixed = s("MiXed Ünï");
  c.call("UnicodeCollation.StrLwr", uc, mixed);
  assert.is(read(mixed), "mixed ünï");
  c.call("UnicodeCollation.StrUpr", uc, mixed);
  assert.is(read(mixed), "MIXED ÜNÏ");
  const out = c.buf(32);
  c.call("UnicodeCollation.FatToStr", uc, 11n, c.bytes(new TextEncoder().encode("BOOTX64 EFI")), out);
  assert.is(read(out), "BOOTX64 EFI");
  const fat = c.buf(11);
  assert.is(c.call("UnicodeCollation.StrToFat", uc, s("boot.x"), 11n, fat), 0n);
  assert.is(Buffer.from(c.m.fw.ram.subarray(Number(fat), Number(fat) + 11)).toString(), "BOOTX      ");
  assert.is(c.call("UnicodeCollation.StrToFat", uc, s("a*b"), 11n, fat), 1n, "a character FAT cannot hold");
  assert.is(Buffer.from(c.m.fw.ram.subarray(Number(fat), Number(fat) + 3)).toString(), "A_B");
  assert.is(read(c.u64(uc + 48n)).length >= 0, true);
  assert.is(Buffer.from(c.m.fw.ram.subarray(Number(c.u64(uc + 48n)), Number(c.u64(uc + 48n)) + 3)).toString(), "en\0", "SupportedLanguages");
  c.close();
});

test.run();
