// host/initramfs.ts: the newc cpio layout the kernel's unpacker reads (the kernel itself
// unpacking it and running /init is in tests/boot.test.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { initramfs, newc } from "../host/initramfs.ts";

/** The entries of a newc archive: name, mode, size, rdev, data; checks magic and padding. */
function parse(a: Uint8Array) {
  const text = Buffer.from(a).toString("latin1");
  const out: { name: string; mode: number; rdev: [number, number]; data: string }[] = [];
  let at = 0;
  for (;;) {
    assert.is(at % 4, 0, "each header 4-byte aligned");
    assert.is(text.slice(at, at + 6), "070701");
    const f = (i: number) => parseInt(text.slice(at + 6 + 8 * i, at + 14 + 8 * i), 16);
    const [mode, size, rmaj, rmin, nameSize] = [f(1), f(6), f(9), f(10), f(11)];
    const name = text.slice(at + 110, at + 110 + nameSize - 1);
    assert.is(text[at + 110 + nameSize - 1], "\0");
    const dataAt = (at + 110 + nameSize + 3) & ~3;
    if (name === "TRAILER!!!") return { entries: out, end: dataAt };
    out.push({ name, mode, rdev: [rmaj, rmin], data: text.slice(dataAt, dataAt + size) });
    at = (dataAt + size + 3) & ~3;
  }
}

test("newc: files, directories and character devices with their modes, padded to 4 bytes, then the trailer", () => {
  const a = newc([{ name: "d", kind: "dir" }, { name: "d/c", kind: "char", major: 5, minor: 1 }, { name: "f", kind: "file", data: Buffer.from("hello"), mode: 0o755 }]);
  const { entries, end } = parse(a);
  assert.equal(entries, [
    { name: "d", mode: 0o040755, rdev: [0, 0], data: "" },
    { name: "d/c", mode: 0o020600, rdev: [5, 1], data: "" },
    { name: "f", mode: 0o100755, rdev: [0, 0], data: "hello" },
  ]);
  assert.is(end, a.length, "nothing after the trailer");
});

test("initramfs(init): /dev, /dev/console (5, 1) and an executable /init", () => {
  const { entries } = parse(initramfs(Buffer.from("\x7fELF")));
  assert.equal(entries.map((e) => `${e.name} ${e.mode.toString(8)} ${e.rdev.join(",")}`), ["dev 40755 0,0", "dev/console 20600 5,1", "init 100755 0,0"]);
  assert.is(entries[2].data, "\x7fELF");
});

test.run();
