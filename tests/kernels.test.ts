// Every current Debian kernel (issue 12), one at a time: Debian 13's cloud kernel (6.12,
// a zstd payload), fetched by setup through the private trixie lists, boots through its
// EFI stub and through PVH (the host decompressing the payload) to the test /init, with its
// own System.map found beside it. Debian 12's generic kernel (xz) boots too,
// and the Debian 12 netboot installer reaches its user interface. Debian unstable's kernel
// patches its alternatives in writes Unicorn 2.1.1 misses on its own; the SERIALIZE its
// sync_core() runs after each patch makes the CPU look again (host/x86/cpu.ts), and that
// kernel boots to /init too.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../host/paths.ts";
import { runImage } from "../host/run.ts";
import { systemMapFor } from "../host/symbols.ts";
import { DEFAULT_KERNEL, DEFAULT_SYSTEM_MAP } from "../host/defaults.ts";
import { inspectFile } from "../host/inspect.ts";

const DIR = join(ROOT, ".cache/kernel/debian13");
const KERNEL = join(DIR, "vmlinuz");
const INITRD = join(ROOT, "build/guests/linux/initrd.cpio");

test("Debian 13's cloud kernel: a zstd bzImage with an EFI stub, its System.map beside it", () => {
  assert.ok(existsSync(KERNEL), "setup fetches it (.cache/kernel/debian13)");
  const info = inspectFile(KERNEL);
  assert.match(String(info.version), /^6\.12\./);
  assert.ok(info.entries.some((e: string) => /payload zstd/.test(e)), info.entries.join("; "));
  const map = systemMapFor(KERNEL, join(ROOT, DEFAULT_KERNEL), join(ROOT, DEFAULT_SYSTEM_MAP));
  assert.is(map, join(DIR, readdirSync(DIR).find((f) => f.startsWith("System.map-"))!));
});

test("Debian 13's cloud kernel boots through its EFI stub to /init (its seed from the RNG protocol) and reboots", () => {
  const r = runImage(KERNEL, { initrd: INITRD, cmdline: "console=ttyS0", timeBudgetMs: 120_000, systemMap: systemMapFor(KERNEL, join(ROOT, DEFAULT_KERNEL), join(ROOT, DEFAULT_SYSTEM_MAP)) });
  assert.ok(r.serial.some((l) => /Linux version 6\.12\./.test(l)), r.serial.slice(0, 3).join(" | "));
  assert.ok(r.serial.includes("init: hello from userspace, pid 1, 65536 bytes of fresh memory sum to 8355840"), r.serial.slice(-5).join(" | "));
  assert.ok(r.serial.includes("init: getrandom gave 16 bytes"));
  assert.is(r.ending.kind, "reset");
});

// Through PVH the kernel has no EFI RNG seed: it seeds its CRNG from RDRAND, which the
// machine's CPUID offers and its CPU runs (host/x86/random.ts), so /dev/random (a blocking
// getrandom) answers there too. Interrupts arrive while each kernel runs.
test("a real userspace: Debian's static busybox (fetched by setup) runs its sh as /init under Debian 12's, 13's and unstable's kernels, through both entries, reads /dev/random and powers the machine off", () => {
  const busybox = join(ROOT, "build/guests/linux/busybox.cpio");
  const sid = join(ROOT, ".cache/kernel/unstable/vmlinuz");
  const runs: [string, Parameters<typeof runImage>[1]][] = [];
  for (const entry of ["efi", "pvh"] as const) {
    runs.push([join(ROOT, DEFAULT_KERNEL), { entry }], [KERNEL, { entry }], [sid, { entry }]);
  }
  for (const [kernel, o] of runs) {
    const r = runImage(kernel, { ...o, cmdline: "console=ttyS0", initrd: busybox, timeBudgetMs: 300_000 });
    const what = `${kernel} ${o?.entry}`;
    assert.ok(r.serial.some((l) => /^busybox: Linux x86_64 [67]\.\d+\.\S+ userspace up, pid 1$/.test(l)), `${what}: ${r.serial.slice(-5).join(" | ")}`);
    assert.ok(r.serial.includes("busybox: cpu flags rdrand rdseed"), what);
    assert.ok(r.serial.includes("busybox: 16 bytes of /dev/random"), what);
    assert.equal(r.ending, { kind: "poweroff", source: "acpi" }, what);
    // Interrupts reach the kernel while it runs (the IRQ gate): its timer ticks through
    // the busy init, not only at halts.
    assert.ok(r.interrupts!.running > 100 && r.interrupts!.running > r.interrupts!.halted, `${what}: ${JSON.stringify(r.interrupts)}`);
  }
});

test("through the PVH entry, the zstd and xz payloads are decompressed by the host: Debian 13's and 12's generic kernel reach /init with a seeded CRNG", () => {
  for (const kernel of [KERNEL, join(ROOT, ".cache/kernel/generic/vmlinuz")]) {
    const r = runImage(kernel, { entry: "pvh", initrd: INITRD, cmdline: "console=ttyS0", timeBudgetMs: 120_000 });
    assert.ok(r.serial.includes("init: hello from userspace, pid 1, 65536 bytes of fresh memory sum to 8355840"), `${kernel}: ${r.serial.slice(-5).join(" | ")}`);
    assert.ok(r.serial.includes("init: getrandom gave 16 bytes"), kernel);
    assert.is(r.ending.kind, "reset", kernel);
  }
});

test("Debian 12's generic kernel (an xz payload its EFI stub decompresses, billions of instructions) boots to /init", () => {
  const generic = join(ROOT, ".cache/kernel/generic/vmlinuz");
  assert.ok(inspectFile(generic).entries.some((e: string) => /payload xz/.test(e)));
  const r = runImage(generic, { initrd: INITRD, cmdline: "console=ttyS0", timeBudgetMs: 300_000 });
  assert.ok(r.serial.includes("init: hello from userspace, pid 1, 65536 bytes of fresh memory sum to 8355840"), r.serial.slice(-5).join(" | "));
  assert.is(r.ending.kind, "reset");
});

test("Debian unstable's cloud kernel, whose boot-time patching Unicorn 2.1.1 alone would run stale, boots to /init and reboots (the code-page tracker sees each patch)", () => {
  const sid = join(ROOT, ".cache/kernel/unstable/vmlinuz");
  assert.ok(existsSync(sid), "setup fetches it (.cache/kernel/unstable)");
  const r = runImage(sid, { initrd: INITRD, cmdline: "console=ttyS0", timeBudgetMs: 300_000 });
  assert.ok(r.serial.some((l) => /Linux version [7-9]\./.test(l)), r.serial.slice(0, 3).join(" | "));
  assert.ok(r.serial.includes("init: hello from userspace, pid 1, 65536 bytes of fresh memory sum to 8355840"), r.serial.slice(-8).join(" | "));
  assert.is(r.ending.kind, "reset");
});

test("the Debian 12 netboot installer (text mode, 1 GiB): its kernel, initrd, init and screen-based UI, through its EFI stub and through PVH", () => {
  const dir = join(ROOT, ".cache/installer");
  // Ended where GNU screen first shows the installer's window: from there it waits for a
  // person (--stdin), its status-line clock ticking.
  for (const entry of ["efi", "pvh"] as const) {
    const r = runImage(join(dir, "linux"), { entry, initrd: join(dir, "initrd.gz"), ramMiB: 1024, cmdline: "console=ttyS0", timeBudgetMs: 300_000, stopOnSerial: /1\*installer/ });
    const serial = r.serial.join("\n");
    assert.match(serial, /Starting system log daemon: syslogd, klogd\./, `${entry}: the installer's init ran`);
    assert.is(r.ending.kind, "milestone", `${entry}: ${JSON.stringify(r.ending, (_, v) => (typeof v === "bigint" ? v.toString(16) : v))}`);
  }
});

test.run();
