// One firmware for two architectures (issue 14): the same build/firmware.wasm serves
// AArch64 EFI applications in Unicorn's arm64 mode, and Debian 12's arm64 cloud kernel
// (fetched by setup into .cache/kernel/arm64) through its EFI stub to userspace. The
// guests are ours, cross-built by guests/build.sh for aarch64 (COFF, lld-link
// /machine:arm64) into build/guests/aa64/; the CPU is picked from each image's PE
// machine field.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../host/paths.ts";
import { peMachine, runImage, type RunResult } from "../host/run.ts";
import { Pl011 } from "../host/arm64/pl011.ts";
import { systemMapFor } from "../host/symbols.ts";
import { Arm64Machine } from "../host/arm64/machine.ts";
import { peLayoutHint } from "../host/pe-symbols.ts";
import { MEMORY_TYPE } from "../firmware/spec/uefi.ts";

const AA64 = join(ROOT, "build/guests/aa64");
const X64 = join(ROOT, "build/guests");
const run = (name: string, opts: Parameters<typeof runImage>[1] = {}) => runImage(join(AA64, `${name}.efi`), { instructionBudget: 500_000_000, ...opts });
const error = (r: RunResult) => (r.ending.kind === "error" ? r.ending.error : `not an error: ${JSON.stringify(r.ending, (_, v) => (typeof v === "bigint" ? v.toString(16) : v))}`);

test("the arm64 guests are PE32+ images for machine 0xAA64, the others for 0x8664", () => {
  assert.is(peMachine(join(AA64, "hello.efi")), 0xaa64);
  assert.is(peMachine(join(X64, "hello.efi")), 0x8664);
});

test("hello on AArch64: its console output comes through ConOut, through HVC thunks, and it returns SUCCESS", () => {
  const r = run("hello");
  assert.match(r.console, /Hello/);
  assert.equal(r.ending, { kind: "returned", status: 0n });
  assert.ok((r.summary.perService["ConOut.OutputString"] ?? 0) > 0, JSON.stringify(r.summary));
});

test("the conformance guest passes every check on AArch64, as many as on x86-64", () => {
  const counts = (r: RunResult) => /(\d+) passed, (\d+) failed/.exec(r.console)?.slice(1).map(Number);
  const arm = run("conformance", { instructionBudget: 0, timeBudgetMs: 0 });
  const x86 = runImage(join(X64, "conformance.efi"), { timeBudgetMs: 0 });
  const [passed, failed] = counts(arm) ?? [0, -1];
  assert.is(failed, 0, arm.console.split("\n").filter((l) => l.startsWith("FAIL")).join("\n"));
  assert.ok(passed > 400, arm.console.slice(-300));
  assert.equal(counts(arm), counts(x86));
  assert.equal(arm.ending, { kind: "returned", status: 0n });
  // Its LoadImage checks: a child image of its own machine loads and runs, one for x86-64 is refused.
  assert.match(arm.console, /ok: BS\.LoadImage: a PE32\+ image for x86-64 -> UNSUPPORTED/);
});

test("the hostile guest's bad arguments get honest statuses on AArch64 too", () => {
  const r = run("hostile");
  assert.match(r.console, / passed, 0 failed/);
  assert.equal(r.ending, { kind: "returned", status: 0n });
});

test("WFI in boot services waits for the firmware's timer tick; with nothing to come the run ends as waiting", () => {
  assert.match(run("idle").console, /idle: 3 ticks at 10 ms after \d+ halts/);
  assert.is(run("idle", { cmdline: "f" }).ending.kind, "waiting");
});

test("faults are reported with what and where: a data abort, an undefined instruction, a stack overflow at the guard page", () => {
  const read = run("fault", { cmdline: "read" });
  assert.match(error(read), /^guest fault: data abort at PC 0x[0-9a-f]+ \(fault\.efi: efi_main\+0x[0-9a-f]+\)/);
  assert.match(error(run("fault", { cmdline: "ud2" })), /^guest fault: undefined instruction at PC 0x/);
  assert.match(error(run("fault", { cmdline: "stack" })), /^stack overflow: data abort with SP 0x[0-9a-f]+, at the guard page below the 1024 KiB stack at PC 0x/);
  assert.ok(read.ending.kind === "error" && read.ending.exit === 4);
  const late = run("fault", { cmdline: "late" });
  assert.match(error(late), /^BS\.Stall called after ExitBootServices from PC 0x/);
  assert.ok(late.ending.kind === "error" && late.ending.exit === 6);
});

test("a runaway guest hits its instruction budget, reported with its PC, its symbol and last calls", () => {
  const r = run("spin", { instructionBudget: 5_000_000 });
  assert.match(error(r), /^guest ran past its budget of 5000000 instructions at PC 0x[0-9a-f]+ \(spin\.efi: [a-z_]+\+0x[0-9a-f]+\)\nlast EFI calls:\n.*OutputString/);
});

test("with no image the boot manager takes \\EFI\\BOOT\\BOOTAA64.EFI on an AArch64 machine, and not on x86-64", () => {
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-aa64-"));
  try {
    mkdirSync(join(dir, "EFI/BOOT"), { recursive: true });
    copyFileSync(join(AA64, "hello.efi"), join(dir, "EFI/BOOT/BOOTAA64.EFI"));
    const arm = runImage(undefined, { arch: "aarch64", esp: [dir], instructionBudget: 500_000_000 });
    assert.match(arm.console, /Hello/);
    assert.equal(arm.ending, { kind: "returned", status: 0n });
    const x86 = runImage(undefined, { esp: [dir] });
    assert.match(error(x86), /no file system holds \\EFI\\BOOT\\BOOTX64\.EFI/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const KERNEL = join(ROOT, ".cache/kernel/arm64/vmlinuz");

test("Debian's arm64 Image, staged where its 64 KiB SectionAlignment allows, is taken as the image where it lies; staged 4 KiB off, it is copied", () => {
  const file = new Uint8Array(readFileSync(KERNEL));
  const m = new Arm64Machine({});
  try {
    const stage = (off: bigint) => {
      const pages = Math.ceil(Math.max(file.length, peLayoutHint(file).sizeOfImage) / 4096);
      const whole = m.fw.allocPages(MEMORY_TYPE.BootServicesData, pages + 16);
      const at = ((whole + 0xffffn) & ~0xffffn) + off;
      m.fw.ram.set(file, Number(at));
      return m.fw.loadImageInPlace(at, file.length, pages);
    };
    const aligned = stage(0n);
    assert.is(aligned.status, 0n, aligned.error);
    assert.ok(aligned.adopted);
    const off = stage(0x1000n);
    assert.is(off.status, 0n, off.error);
    assert.not.ok(off.adopted, "an image placed off its SectionAlignment is copied");
  } finally {
    m.close();
  }
});
const INITRD = join(ROOT, "build/guests/linux/aa64/initrd.cpio");
const HELLO = "init: hello from userspace, pid 1, 65536 bytes of fresh memory sum to 8355840";

test("Debian 12's arm64 kernel: EFI stub, device tree, GICv2, timer, PL011, runtime services, userspace, reboot", () => {
  assert.is(peMachine(KERNEL), 0xaa64, "setup fetches it (.cache/kernel/arm64)");
  const r = runImage(KERNEL, { initrd: INITRD, cmdline: "console=ttyAMA0", timeBudgetMs: 120_000, keepCalls: true });
  const serial = r.serial.join("\n");
  assert.match(r.console, /EFI stub: Using DTB from configuration table/);
  assert.match(serial, /Linux version 6\.1\.\d+.*-cloud-arm64/);
  assert.match(serial, /efi: EFI v2\.70 by ueficorn/);
  assert.match(serial, /psci: PSCIv1\.0 detected in firmware/);
  assert.match(serial, /arch_timer: cp15 timer\(s\) running at 62\.50MHz \(virt\)/);
  assert.match(serial, /ttyAMA0 at MMIO 0xc9000000 .* is a PL011/);
  // Runtime services called with pointers in the kernel's TTBR1 range, answered through its tables.
  assert.match(serial, /rtc-efi rtc-efi\.0: registered as rtc0/);
  assert.ok(r.serial.includes(HELLO), r.serial.slice(-6).join(" | "));
  assert.ok(r.serial.includes("init: getrandom gave 16 bytes"));
  assert.equal(r.ending, { kind: "reset", resetType: 0, status: 0n, source: "ResetSystem" });
  const services = new Set(r.calls.map((c) => c.service));
  assert.ok(services.has("BS.ExitBootServices") && !services.has("RT.SetVirtualAddressMap"), [...services].join(" "));
});

test("poweroff from arm64 userspace ends the run through ResetSystem(EfiResetShutdown)", () => {
  const r = runImage(KERNEL, { initrd: INITRD, cmdline: "console=ttyAMA0 poweroff", timeBudgetMs: 120_000 });
  assert.ok(r.serial.includes(HELLO), r.serial.slice(-6).join(" | "));
  assert.equal(r.ending, { kind: "reset", resetType: 2, status: 0n, source: "ResetSystem" });
});

test("typing on AArch64 (--stdin): keystrokes reach ConIn in boot services, and the PL011's receiver after, where /init echoes lines", async () => {
  const cli = join(ROOT, "build/ueficorn.cjs");
  const keys = spawnSync(process.execPath, [cli, "run", join(AA64, "keys.efi"), "--stdin"], { input: "ab\x1b", encoding: "utf8", timeout: 120_000 });
  assert.match(keys.stdout, /key: U\+0x0061 scan 0\nkey: U\+0x0062 scan 0\nkey: U\+0x0000 scan 23/);
  assert.is(keys.status, 0, keys.stdout + keys.stderr);
  const child = spawn(process.execPath, [cli, "boot", "--kernel", KERNEL, "--initrd", INITRD, "--cmdline", "console=ttyAMA0 echo", "--stdin", "--timeout", "120000"], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  // Typed once /init asks, as a person would.
  child.stdout.on("data", (d: Buffer) => {
    const before = out;
    out += d.toString();
    if (!before.includes("type a line") && out.includes("type a line")) child.stdin.write("hello arm\nbye\n");
  });
  // A safety net for a run that never ends (its own --timeout ends it first), not a time assertion.
  const guard = setTimeout(() => child.kill(), 300_000);
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(guard);
  assert.match(out, /init: you typed: hello arm\ninit: you typed: bye/, out.slice(-1500));
  assert.is(status, 0, out.slice(-500));
});

test("the arm64 boot protocol (--entry direct): the same kernel with no firmware, a device tree in X0, to userspace and a PSCI reset; a file that is no Image is refused naming its magic", () => {
  const r = runImage(KERNEL, { entry: "direct", initrd: INITRD, cmdline: "console=ttyAMA0", timeBudgetMs: 120_000 });
  assert.ok(r.serial.includes(HELLO), r.serial.slice(-6).join(" | "));
  assert.ok(r.serial.some((l) => /Machine model: ueficorn AArch64/.test(l)), "the kernel read our device tree");
  assert.equal(r.ending, { kind: "reset", resetType: 0, status: 0n, source: "psci" });
  assert.is(r.calls.length, 0, "no EFI call");
  assert.is(r.summary.calls, 0);
  const notImage = runImage(join(AA64, "hello.efi"), { entry: "direct" });
  assert.match(error(notImage), /Image: magic \(at offset 0x38\): .*not an arm64 Linux Image/);
  assert.throws(() => runImage(KERNEL, { entry: "pvh" }), /--entry pvh \(Xen's x86 entry; --entry direct is the arm64 boot protocol\)/);
});

test("the arm64 kernel's own symbols: a stop inside it is named from its System.map (setup fetches it), the KASLR slide found from VBAR_EL1", () => {
  const map = systemMapFor(KERNEL, "", "");
  assert.ok(map && /System\.map-6\.1\..*arm64$/.test(map), `the map beside the Image: ${map}`);
  const r = runImage(KERNEL, { cmdline: "console=ttyAMA0", systemMap: map, instructionBudget: 200_000_000, timeBudgetMs: 120_000 });
  assert.match(error(r), /^guest ran past its budget of 200000000 instructions at PC 0xffff[0-9a-f]+ \([A-Za-z_][\w.]*\+0x[0-9a-f]+\)/);
});

test("a real userspace on arm64: Debian's static busybox (arm64, fetched by setup) as /init, through the EFI entry and the boot protocol, powering off through PSCI", () => {
  const busybox = join(ROOT, "build/guests/linux/aa64/busybox.cpio");
  for (const entry of ["efi", "direct"] as const) {
    const r = runImage(KERNEL, { entry, initrd: busybox, cmdline: "console=ttyAMA0", timeBudgetMs: 120_000 });
    assert.ok(r.serial.some((l) => /^busybox: Linux aarch64 6\.1\.\S+ userspace up, pid 1$/.test(l)), `${entry}: ${r.serial.slice(-5).join(" | ")}`);
    assert.ok(r.serial.includes("busybox: 16 bytes of /dev/urandom"), entry);
    // Seeded at boot (EFI: the RNG protocol; directly: /chosen/rng-seed): /dev/random answers.
    assert.ok(r.serial.includes("busybox: 16 bytes of /dev/random"), entry);
    assert.ok(r.serial.some((l) => /random: crng init done/.test(l)), entry);
    // Through EFI the kernel powers off by ResetSystem (its EFI runtime services), directly by PSCI.
    assert.equal(r.ending, entry === "efi" ? { kind: "reset", resetType: 2, status: 0n, source: "ResetSystem" } : { kind: "poweroff", source: "psci" }, entry);
  }
});

test("PL011: its interrupt line follows its status at every access: received bytes raise it, reading the last one lowers it (a stale line made Linux disable the UART's IRQ)", () => {
  const levels: boolean[] = [];
  const uart: Pl011 = new Pl011({ onLine: () => {}, onIrq: () => levels.push(uart.level) });
  uart.write(0x038, 1 << 4); // IMSC: the receive interrupt
  uart.input([0x61, 0x62]);
  assert.is(uart.level, true);
  assert.is(uart.read(0x000), 0x61);
  assert.is(uart.level, true, "one byte still to read");
  assert.is(uart.read(0x000), 0x62);
  assert.is(uart.level, false);
  assert.is(levels.at(-1), false, "the line was told");
  assert.is(uart.read(0x040), 0, "MIS reads 0 with the line low");
});

test("what AArch64 does not offer yet is refused by name, not ignored", () => {
  assert.throws(() => run("hello", { gdb: "0", screen: { width: 640, height: 480 } }), /not offered on AArch64 yet \(issue 14\): --gdb, --screen\/--screenshot/);
});

test.run();
