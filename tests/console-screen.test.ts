// ConOut's text on the display (issue 13; firmware/services/text.ts, firmware/font.ts): a
// real guest (guests/conscreen.c) prints known text in known colours, and its glyphs are
// found, pixel for pixel, at the expected cells of the framebuffer the host keeps; the
// serial console gets exactly the text it got before there was a screen.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Machine } from "../host/machine.ts";
import { Tracer } from "../host/trace.ts";
import { ROOT } from "../host/paths.ts";

const GUEST = join(ROOT, "build/guests/conscreen.efi");
const W = 1024, H = 768;

/** The font as firmware/font.ts holds it (its one source): ROWS bytes a glyph from U+0020, drawn from cell row TOP. */
function readFont(): (c: string) => number[] {
  const src = readFileSync(join(ROOT, "firmware/font.ts"), "utf8");
  const rows = Number(/ROWS: u32 = (\d+)/.exec(src)![1]), top = Number(/TOP: u32 = (\d+)/.exec(src)![1]);
  const table = src.slice(src.indexOf("memory.data<u8>(["), src.indexOf("]);"));
  const bytes = [...table.matchAll(/0x([0-9a-f]{2})/g)].map((m) => parseInt(m[1], 16));
  assert.is(bytes.length, 95 * rows, "95 glyphs");
  return (c) => Array.from({ length: 16 }, (_, r) => (r >= top && r < top + rows ? bytes[(c.charCodeAt(0) - 0x20) * rows + r - top] : 0));
}
const glyph = readFont();

// EDK2's GraphicsConsole palette as BGRX words: EFI_BLUE, EFI_RED, EFI_LIGHTGRAY, EFI_YELLOW.
const BLUE = 0x000098, RED = 0x980000, LIGHTGRAY = 0x989898, YELLOW = 0xffff00;

test("conscreen.efi: its text drawn in 8x16 cells at the expected places and colours, scrolled once; UNKNOWN_GLYPH for U+263A; the serial text unchanged", () => {
  const tracer = new Tracer(false, () => {}, true);
  const m = new Machine({ screen: { width: W, height: H }, tracer, clock: "deterministic" });
  try {
    const ending = m.start(m.loadImageFile(GUEST));
    assert.equal(ending, { kind: "returned", status: 0n });

    // The serial console: every code unit as printed, U+263A included (the screen draws a box).
    assert.is(m.console, [
      "MaxMode 3", "mode 0: 80x25", "mode 1: EFI_UNSUPPORTED", "mode 2: 128x48", "SetMode(last): EFI_SUCCESS, Mode 2",
      "Hello, ueficorn!box:\u263a.last line", "",
    ].join("\r\n"));
    const statuses = (name: string) => tracer.records.filter((r) => r.service === name).map((r) => r.status);
    assert.equal(statuses("ConOut.OutputString").slice(-3), ["SUCCESS", "WARN_UNKNOWN_GLYPH", "SUCCESS"], "hello, box, last line");
    assert.equal(statuses("ConOut.TestString"), ["SUCCESS", "UNSUPPORTED"], "printable ASCII with CR LF; U+263A");

    // The framebuffer the host keeps (BGRX), and its RGBA screenshot (what --screenshot encodes).
    const s = m.fw.screen!;
    assert.equal([s.width, s.height], [W, H]);
    const fb = new DataView(m.fw.ram.buffer, m.fw.ram.byteOffset + s.base, W * H * 4);
    const px = (x: number, y: number) => fb.getUint32((y * W + x) * 4, true) & 0xffffff;
    const shot = m.screenshot()!;
    for (const [x, y] of [[0, 0], [200, 203], [W - 1, H - 1]]) {
      const rgba = [...shot.rgba.subarray((y * W + x) * 4, (y * W + x) * 4 + 3)];
      assert.equal(rgba, [(px(x, y) >> 16) & 0xff, (px(x, y) >> 8) & 0xff, px(x, y) & 0xff], `screenshot pixel (${x}, ${y})`);
    }

    // Mode 0's 80x25 cells are centred: (1024 - 640) / 2, (768 - 400) / 2.
    const X0 = 192, Y0 = 184;
    /** The cell's 16 rows as bitmaps (bit 7 leftmost), every pixel either fg or bg. */
    const cell = (col: number, row: number, fg: number, bg: number) => Array.from({ length: 16 }, (_, r) => {
      let bits = 0;
      for (let i = 0; i < 8; i++) {
        const p = px(X0 + col * 8 + i, Y0 + row * 16 + r);
        if (p !== fg && p !== bg) assert.unreachable(`cell (${col}, ${row}) pixel (${i}, ${r}) is 0x${p.toString(16)}, neither colour`);
        if (p === fg) bits |= 0x80 >> i;
      }
      return bits;
    });
    const text = (col: number, row: number, str: string, fg: number, bg: number) => {
      for (let i = 0; i < str.length; i++) assert.equal(cell(col + i, row, fg, bg), glyph(str[i]), `'${str[i]}' at (${col + i}, ${row})`);
    };
    // 'H' as drawn by hand, so that a wrong table and a wrong reader cannot agree.
    assert.equal(glyph("H"), [0, 0, 0, 0x42, 0x42, 0x42, 0x42, 0x7e, 0x42, 0x42, 0x42, 0x42, 0, 0, 0, 0]);
    // Printed on rows 2, 4 and 24; the line feed on row 24 scrolled the text area one line up.
    text(3, 1, "Hello, ueficorn!", YELLOW, RED);
    text(0, 3, "box:", LIGHTGRAY, BLUE);
    assert.equal(cell(4, 3, LIGHTGRAY, BLUE), [0, 0, 0, 0x7e, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x7e, 0, 0, 0], "U+263A as a box");
    text(5, 3, ".", LIGHTGRAY, BLUE);
    text(0, 23, "last line", LIGHTGRAY, BLUE);
    // Blank cells in the background: before the hello line, after it, the row that scrolled in.
    for (const [col, row] of [[2, 1], [19, 1], [0, 2], [0, 24], [79, 24]]) assert.equal(cell(col, row, LIGHTGRAY, BLUE), glyph(" "), `(${col}, ${row}) blank`);
    // ClearScreen painted the whole screen, outside the text area too.
    for (const [x, y] of [[0, 0], [X0 - 1, Y0], [W - 1, H - 1], [X0 + 640, Y0 + 399]]) assert.is(px(x, y), BLUE, `(${x}, ${y}) blue`);
  } finally {
    m.close();
  }
});

test.run();
