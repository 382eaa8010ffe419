// The display (issue 13: "a screen they can capture"): GraphicsOutput's Blt operations on
// the framebuffer, the screenshot as a PNG, and Debian's kernel drawing its console on
// the framebuffer through efifb.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { ServiceCaller } from "./service-caller.ts";
import { guidBytes } from "../firmware/spec/decl.ts";
import { GUIDS, statusName, GRAPHICS } from "../firmware/spec/uefi.ts";
import { runImage } from "../host/run.ts";
import { ROOT } from "../host/paths.ts";
import { DEFAULT_KERNEL } from "../host/defaults.ts";

const is = (status: bigint, name: string, what?: string) => assert.is(statusName(status), name, what);
const dir = mkdtempSync(join(tmpdir(), "ueficorn-screen-"));

/** Decode the PNGs encodePng writes (RGBA, filter 0 on every row). */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  assert.is(png.subarray(1, 4).toString(), "PNG");
  let at = 8, width = 0, height = 0;
  const idat: Buffer[] = [];
  while (at < png.length) {
    const len = png.readUInt32BE(at), type = png.subarray(at + 4, at + 8).toString();
    const data = png.subarray(at + 8, at + 8 + len);
    if (type === "IHDR") { width = data.readUInt32BE(0); height = data.readUInt32BE(4); }
    if (type === "IDAT") idat.push(data);
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) rgba.set(raw.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1)), y * width * 4);
  return { width, height, rgba };
}

test("GraphicsOutput: one mode of the asked size; Blt fill, to and from a buffer, screen to screen; the screenshot's pixels", () => {
  const c = new ServiceCaller({ ramMiB: 32, screen: { width: 64, height: 48 } });
  const out = c.cell();
  is(c.call("BS.LocateProtocol", c.bytes(guidBytes(GUIDS.GRAPHICS_OUTPUT_PROTOCOL)), 0n, out), "SUCCESS");
  const gop = c.u64(out);
  const size = c.cell(), info = c.cell();
  is(c.call("Gop.QueryMode", gop, 0n, size, info), "SUCCESS");
  const i = c.u64(info);
  assert.equal([c.u32(i + 4n), c.u32(i + 8n), c.u32(i + 12n), c.u32(i + 32n)], [64, 48, 1, 64], "64x48, BGRX, 64 pixels a line");
  is(c.call("Gop.QueryMode", gop, 1n, size, info), "INVALID_PARAMETER", "one mode");
  is(c.call("Gop.SetMode", gop, 0n), "SUCCESS");
  // Fill a red 10x5 rectangle at (2, 3): BGRX 0x00ff0000 is red.
  const red = c.bytes(Uint8Array.of(0, 0, 0xff, 0));
  is(c.call("Gop.Blt", gop, red, BigInt(GRAPHICS.VIDEO_FILL), 0n, 0n, 2n, 3n, 10n, 5n, 0n), "SUCCESS");
  // A 2x2 buffer (green, blue / white, black) onto (60, 40); then the screen's (2,3)-(4,5) to (30, 30).
  const px = c.bytes(Uint8Array.of(0, 0xff, 0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0));
  is(c.call("Gop.Blt", gop, px, BigInt(GRAPHICS.BUFFER_TO_VIDEO), 0n, 0n, 60n, 40n, 2n, 2n, 8n), "SUCCESS");
  is(c.call("Gop.Blt", gop, 0n, BigInt(GRAPHICS.VIDEO_TO_VIDEO), 2n, 3n, 30n, 30n, 2n, 2n, 0n), "SUCCESS");
  // Back into a buffer: the green pixel at (60, 40).
  const back = c.buf(4);
  is(c.call("Gop.Blt", gop, back, BigInt(GRAPHICS.VIDEO_TO_BLT_BUFFER), 60n, 40n, 0n, 0n, 1n, 1n, 0n), "SUCCESS");
  assert.equal([...c.m.fw.ram.subarray(Number(back), Number(back) + 4)], [0, 0xff, 0, 0]);
  is(c.call("Gop.Blt", gop, red, BigInt(GRAPHICS.VIDEO_FILL), 0n, 0n, 60n, 40n, 5n, 1n, 0n), "INVALID_PARAMETER", "off the screen's right edge");
  is(c.call("Gop.Blt", gop, red, 4n, 0n, 0n, 0n, 0n, 1n, 1n, 0n), "INVALID_PARAMETER", "no such operation");
  const shot = c.m.screenshot()!;
  const rgb = (x: number, y: number) => [...shot.rgba.subarray((y * 64 + x) * 4, (y * 64 + x) * 4 + 3)];
  assert.equal(rgb(2, 3), [255, 0, 0]);
  assert.equal(rgb(11, 7), [255, 0, 0]);
  assert.equal(rgb(12, 7), [0, 0, 0]);
  assert.equal(rgb(60, 40), [0, 255, 0]);
  assert.equal(rgb(61, 40), [0, 0, 255]);
  assert.equal(rgb(60, 41), [255, 255, 255]);
  assert.equal(rgb(31, 31), [255, 0, 0], "copied screen to screen");
  c.close();
});

test("Debian's kernel draws its console on the framebuffer (efifb); --screenshot writes it as a PNG", () => {
  const png = join(dir, "kernel.png");
  const r = runImage(DEFAULT_KERNEL, {
    initrd: join(ROOT, "build/guests/linux/initrd.cpio"), cmdline: "console=tty0 console=ttyS0", screenshot: png, timeBudgetMs: 120_000,
  });
  assert.is(r.ending.kind, "reset");
  assert.ok(r.serial.some((l) => /efifb: mode is 1024x768x32/.test(l)), "efifb took the GOP's mode");
  const { width, height, rgba } = decodePng(readFileSync(png));
  assert.equal([width, height], [1024, 768]);
  // Console text is grey on black: count the lit pixels in the top half (the last lines scroll there).
  let lit = 0;
  for (let i = 0; i < rgba.length / 2; i += 4) if (rgba[i] > 100) lit++;
  assert.ok(lit > 10_000, `text drawn: ${lit} lit pixels`);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
