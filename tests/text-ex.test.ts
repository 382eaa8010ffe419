// SimpleTextInputEx (§12.2) on the console handle, fed by the same keystrokes as ConIn, and
// UnicodeCollation2 (§19.2), called as a guest would (tests/service-caller.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ServiceCaller } from "./service-caller.ts";
import { parseKeys } from "../host/keys.ts";
import { guidBytes } from "../firmware/spec/decl.ts";
import { GUIDS, statusName } from "../firmware/spec/uefi.ts";

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
  is(c.call("SimpleTextInputEx.RegisterKeyNotify", ex, data, 0x1000n, c.cell()), "UNSUPPORTED");
  c.close();
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
