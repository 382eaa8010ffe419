// --gdb (issue 15): Debian's gdb, driven by a script, debugging a guest through the stub
// (host/gdb.ts): the first stop at the image's entry, a step, memory, `monitor cr`, a
// breakpoint on an EFI service's thunk, continue to the end; and in the kernel, a
// breakpoint on a System.map symbol and a watchpoint on jiffies_64.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../host/paths.ts";
import { Machine } from "../host/machine.ts";
import { serviceByName, THUNK_SIZE } from "../firmware/spec/services.ts";

const CLI = join(ROOT, "build/ueficorn.cjs");
const dir = mkdtempSync(join(tmpdir(), "ueficorn-gdb-"));

/** Run the CLI with --gdb on a free port and gdb with `script` (PORT replaced) against it; both outputs and the CLI's status. */
async function debug(args: string[], script: string): Promise<{ gdb: string; cli: string; status: number | null }> {
  const child = spawn(process.execPath, [CLI, ...args, "--gdb", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  const closed = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  let cli = "";
  const port = await new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      cli += d.toString();
      const m = /waiting for gdb on 127\.0\.0\.1:(\d+)/.exec(cli);
      if (m) resolve(m[1]);
    });
    child.stdout.on("data", (d: Buffer) => (cli += d.toString()));
    void closed.then(() => reject(new Error(`the CLI ended before listening: ${cli}`)));
  });
  const file = join(dir, "script.gdb");
  writeFileSync(file, `set pagination off\nset confirm off\ntarget remote 127.0.0.1:${port}\n${script}`);
  const g = spawnSync("gdb", ["-nx", "-batch", "-x", file], { encoding: "utf8", timeout: 180_000 });
  // A safety net for a stub that never lets go, not a time assertion.
  const guard = setTimeout(() => child.kill(), 180_000);
  const status = await closed;
  clearTimeout(guard);
  return { gdb: g.stdout + g.stderr, cli, status };
}

test("an EFI application: stopped at its entry, a step, memory, monitor cr, a breakpoint on ConOut.OutputString's thunk, then to its end", async () => {
  // The thunk page is where a machine of the same size puts it (the firmware lays out the same every run).
  const m = new Machine({});
  const thunk = m.fw.thunks + BigInt(serviceByName("ConOut.OutputString").id * THUNK_SIZE);
  const conOut = m.ramView.getBigUint64(Number(m.fw.systemTable) + 64, true);
  m.close();
  const r = await debug(["run", join(ROOT, "build/guests/hello.efi")], [
    "info registers rip", "stepi", "info registers rip", "x/1xb $rip", "monitor cr",
    `break *0x${thunk.toString(16)}`, "continue", "info registers rip rcx", "delete", "continue",
  ].join("\n") + "\n");
  const rips = [...r.gdb.matchAll(/^rip\s+(0x[0-9a-f]+)/gm)].map((x) => BigInt(x[1]));
  assert.ok(rips.length === 3, r.gdb);
  assert.ok(rips[1] > rips[0] && rips[1] - rips[0] < 16n, "one instruction on");
  assert.match(r.gdb, /cr0 0x8[0-9a-f]+ cr2 0x[0-9a-f]+ cr3 0x[0-9a-f]+ cr4 0x[0-9a-f]+/, "monitor cr: paging on");
  assert.is(rips[2], thunk, "stopped in the thunk");
  assert.match(r.gdb, new RegExp(`^rcx\\s+0x${conOut.toString(16)}\\b`, "m"), "This = ConOut");
  assert.match(r.gdb, /\[Inferior 1 \(Remote target\) exited normally\]/);
  assert.match(r.cli, /36 passed, 0 failed/);
  assert.is(r.status, 0);
});

test("the kernel: a breakpoint on start_kernel (System.map, nokaslr), a watchpoint on jiffies_64, then to its end", async () => {
  const map = readFileSync(join(ROOT, ".cache/kernel/System.map"), "utf8");
  const sym = (name: string) => new RegExp(`^([0-9a-f]+) \\w ${name}$`, "m").exec(map)![1];
  const r = await debug(["boot", "--initrd", join(ROOT, "build/guests/linux/initrd.cpio"), "--cmdline", "console=ttyS0 nokaslr"], [
    `break *0x${sym("start_kernel")}`, "continue", "info registers rip",
    "monitor sym",
    `watch *(long *)0x${sym("jiffies_64")}`, "continue", "delete", "continue",
  ].join("\n") + "\n");
  assert.match(r.gdb, new RegExp(`^0x${sym("start_kernel")} start_kernel\\+0x0$`, "m"), "monitor sym names RIP from System.map");
  assert.match(r.gdb, new RegExp(`^rip\\s+0x${sym("start_kernel")}\\b`, "m"), r.gdb);
  const m = /Old value = (\d+)\nNew value = (\d+)/.exec(r.gdb);
  assert.ok(m && BigInt(m[2]) === BigInt(m[1]) + 1n, `jiffies_64 ticked: ${r.gdb}`);
  assert.match(r.gdb, /exited normally/);
  assert.match(r.cli, /init: hello from userspace/);
});

test("Ctrl-C stops a guest that runs away (spin.efi), inside its image; kill ends the run", async () => {
  const child = spawn(process.execPath, [CLI, "run", join(ROOT, "build/guests/spin.efi"), "--gdb", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let cli = "";
  let g: ReturnType<typeof spawn> | undefined;
  const port = await new Promise<string>((resolve) => {
    const look = (d: Buffer) => {
      const before = cli;
      cli += d.toString();
      const m = /waiting for gdb on 127\.0\.0\.1:(\d+)/.exec(cli);
      if (m) resolve(m[1]);
      // gdb turns its own SIGINT into the remote Ctrl-C, as at a terminal: sent once the
      // guest runs (it prints its line after gdb's continue; spin never ends by itself).
      const started = /looping forever/;
      if (!started.test(before) && started.test(cli)) g?.kill("SIGINT");
    };
    child.stderr.on("data", look);
    child.stdout.on("data", look);
  });
  const file = join(dir, "ctrlc.gdb");
  writeFileSync(file, `set pagination off\nset confirm off\ntarget remote 127.0.0.1:${port}\ncontinue\ninfo registers rip\nkill\n`);
  g = spawn("gdb", ["-nx", "-batch", "-x", file], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  g.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  g.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const guard = setTimeout(() => { g?.kill(); child.kill(); }, 180_000);
  const cliClosed = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  await new Promise((resolve) => g!.on("close", resolve));
  const status = await cliClosed;
  clearTimeout(guard);
  assert.match(out, /received signal SIGINT/, out);
  const rip = BigInt(/^rip\s+(0x[0-9a-f]+)/m.exec(out)![1]);
  const base = BigInt(/looping forever in the image at (0x[0-9a-f]+)/.exec(cli)![1]);
  // In its loop, or still returning from its last EFI call (the thunk page) when the interrupt came.
  const m = new Machine({});
  const thunks = m.fw.thunks;
  m.close();
  const inImage = rip >= base && rip < base + 0x10000n, inThunks = rip >= thunks && rip < thunks + 0x1000n;
  assert.ok(inImage || inThunks, `RIP 0x${rip.toString(16)}: not in the image at 0x${base.toString(16)} nor in the thunks at 0x${thunks.toString(16)}`);
  assert.match(cli, /ended by the user/);
  assert.is(status, 0);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
