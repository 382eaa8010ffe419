// Typing into the guest (issue 13: "a console you can type into"): `--stdin` feeds
// standard input to ConIn as keystrokes in boot services (escape sequences as arrow
// keys) and to the serial console after; Ctrl-A x ends the run; input that ends while
// the guest waits for more ends the run as waiting. Each run is the real CLI with a pipe.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../host/paths.ts";
import { EXIT } from "../host/errors.ts";

const CLI = join(ROOT, "build/ueficorn.cjs");
const KEYS = join(ROOT, "build/guests/keys.efi");
const INITRD = join(ROOT, "build/guests/linux/initrd.cpio");
/** 62 bytes: more than the 16550A's 16-byte FIFO holds, sent at once. */
const LONG = "hello there, a line typed faster than a serial line carries it";

const run = (args: string[], input: string) => spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf8", timeout: 120_000 });

test("a pipe's bytes become ConIn keystrokes: text, an arrow's escape sequence, Enter, then Esc", () => {
  const r = run(["run", KEYS, "--stdin"], "ab\x1b[A\r\x1b");
  assert.match(r.stdout, /key: U\+0x0061 scan 0\nkey: U\+0x0062 scan 0\nkey: U\+0x0000 scan 1\nkey: U\+0x000d scan 0\nkey: U\+0x0000 scan 23/);
  assert.match(r.stdout, /image returned SUCCESS/);
  assert.is(r.status, 0);
});

test("Ctrl-A x ends the run, status 0; input that ends while the guest waits: waiting for input, HALTED", () => {
  const quit = run(["run", KEYS, "--stdin"], "q\x01x");
  assert.match(quit.stdout, /ended by the user \(Ctrl-A x at the terminal, or kill in gdb\)/);
  assert.is(quit.status, 0);
  const closed = run(["run", KEYS, "--stdin"], "z");
  assert.match(closed.stdout, /key: U\+0x007a scan 0/);
  assert.match(closed.stdout, /waiting for ever, for input that will not come/);
  assert.is(closed.status, EXIT.HALTED);
});

test("the kernel's serial console reads what is typed, a line longer than the UART's FIFO whole: /init echoes two lines, the second ends it", async () => {
  const child = spawn(process.execPath, [CLI, "boot", "--initrd", INITRD, "--cmdline", "console=ttyS0 echo", "--stdin", "--timeout", "120000"], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  // Typed once /init asks, as a person would: bytes sent earlier would reach a UART nobody reads yet.
  child.stdout.on("data", (d: Buffer) => {
    const before = out;
    out += d.toString();
    if (!before.includes("type a line") && out.includes("type a line")) child.stdin.write(`${LONG}\nbye\n`);
  });
  // A safety net for a run that never ends (its own --timeout should end it first), not a time assertion.
  const guard = setTimeout(() => child.kill(), 300_000);
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(guard);
  assert.ok(out.includes(`init: you typed: ${LONG}\ninit: you typed: bye`), `the echoes, in: ${JSON.stringify(out.slice(-800))}`);
  assert.match(out, /--- reset/);
  assert.is(status, 0);
});

test.run();
