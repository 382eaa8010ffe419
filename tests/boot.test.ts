// The real Debian cloud kernel (fetched by scripts/setup.sh) through its EFI stub, under
// ueficorn's firmware only, and through PVH. Each run ends at a serial milestone or at
// the restart that guests/linux/init.c asks for, so it stays bounded.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bzImageVersion, systemMapFor } from "../host/symbols.ts";
import { exitCode, runImage } from "../host/run.ts";
import { DEFAULT_CMDLINE, DEFAULT_KERNEL, DEFAULT_SYSTEM_MAP, TEST_INITRD } from "../host/defaults.ts";
import { ROOT } from "../host/paths.ts";

const kernel = DEFAULT_KERNEL;

/** The initrd setup builds: /init is guests/linux/init.c, which prints and reboots. */
const INITRD = join(ROOT, TEST_INITRD);
const USERSPACE = /^init: hello from userspace, pid 1, 65536 bytes of fresh memory sum to 8355840$/m;

test("setup provided the Debian kernel and the test initrd", () => {
  assert.ok(existsSync(kernel), `${kernel} is missing: run npm run setup`);
  assert.ok(existsSync(INITRD), `${INITRD} is missing: run npm run setup`);
});

test("EFI stub → ExitBootServices → Linux version 6.1 → EFI v2.70 by ueficorn → SetVirtualAddressMap → initrd unpacked → userspace → reboot", () => {
  const trace: string[] = [];
  const r = runImage(kernel, { cmdline: DEFAULT_CMDLINE, initrd: INITRD, trace: true, onTrace: (line) => trace.push(line), timeBudgetMs: 90000 });
  // The whole boot, to the restart /init asks for: the kernel resets through the
  // keyboard controller.
  assert.equal(r.ending, { kind: "reset", resetType: 0, status: 0n, source: "kbc" });
  assert.ok(r.entryMs! > 0 && r.entryMs! < r.wallMs, `kernel entered after ${r.entryMs} of ${r.wallMs} ms`);
  // 1. the stub's own message on ConOut, and a successful ExitBootServices
  assert.match(r.console, "EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID device path");
  const ebs = trace.findIndex((l) => /BS\.ExitBootServices\(.*\) = SUCCESS/.test(l));
  assert.ok(ebs >= 0, "ExitBootServices succeeded");
  assert.ok(trace.some((l) => /LoadFile2\.LoadFile\(.*\) = SUCCESS/.test(l)), "the initrd was read through LoadFile2");
  // 2. the kernel's banner on the serial console
  const serial = r.serial.join("\n");
  assert.match(serial, /Linux version 6\.1\.\d+/);
  // 3. the firmware named, then the kernel's EFI memory map lines
  const at = r.serial.findIndex((l) => /efi: EFI v2\.70 by ueficorn/.test(l));
  assert.ok(at >= 0, "efi: EFI v2.70 by ueficorn");
  const map = r.serial.slice(at).filter((l) => /efi: mem\d+: \[/.test(l));
  assert.ok(map.length >= 8, `${map.length} memory map lines`);
  assert.ok(map.some((l) => /Runtime Code\|RUN\|/.test(l)), "a runtime-code range with the RUNTIME attribute");
  assert.match(serial, /efi: RTPROP=0x[0-9a-f]+ ACPI 2\.0=0x[0-9a-f]+ INITRD=0x[0-9a-f]+ RNG=0x[0-9a-f]+/);
  // The stub's seed from EFI_RNG_PROTOCOL (the RNG table) makes the CRNG ready at once.
  assert.ok(trace.some((l) => /Rng\.GetRNG\(.*RNGAlgorithm=RNG_ALGORITHM_RAW.*\) = SUCCESS/.test(l)), "the stub asked for a raw seed");
  assert.match(serial, /\[\s+0\.000000\] random: crng init done/);
  // 4. SetVirtualAddressMap, once, after ExitBootServices; then runtime services at
  //    the kernel's virtual addresses (its stack is in vmalloc space, 0xffffc9.. and up)
  const svam = trace.filter((l) => /RT\.SetVirtualAddressMap\(/.test(l));
  assert.is(svam.length, 1);
  assert.match(svam[0], /= SUCCESS/);
  assert.ok(trace.indexOf(svam[0]) > ebs);
  // efi.c generic_ops_supported probes with a one-character buffer: the store holds the
  // boot manager's variables (OsIndicationsSupported first), so the answer is BUFFER_TOO_SMALL.
  assert.ok(trace.some((l) => /RT\.GetNextVariableName\(VariableNameSize=0xffff[0-9a-f]+.*\) = BUFFER_TOO_SMALL/.test(l)), "GetNextVariableName probed");
  // 5. the initrd found early, then unpacked by the kernel
  assert.match(serial, /RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]/);
  assert.match(serial, /Trying to unpack rootfs image as initramfs\.\.\./);
  assert.not.match(serial, /Initramfs unpacking failed/);
  // 6. the devices the kernel probes, then /init in userspace (SYSCALL, page faults on
  //    fresh memory) and the reboot it asks for
  assert.match(serial, /serial8250: ttyS0 at I\/O 0x3f8 \(irq = 4, base_baud = 115200\) is a 16550A/);
  assert.match(serial, /Calibrating delay loop \(skipped\), value calculated using timer frequency/);
  assert.match(serial, /Run \/init as init process/);
  assert.match(serial, USERSPACE);
  assert.match(serial, /^init: getrandom gave 16 bytes$/m);
  assert.match(serial, /reboot: Restarting system/);
});

test("without an initrd the stub finds no LoadFile2 device path and boots on; with the instructions counted", () => {
  const trace: string[] = [];
  const r = runImage(kernel, { cmdline: DEFAULT_CMDLINE, trace: true, onTrace: (l) => trace.push(l), timeBudgetMs: 60000, stopOnSerial: /Linux version/, countInstructions: true });
  assert.is(r.ending.kind, "milestone");
  assert.ok(trace.some((l) => /BS\.LocateDevicePath\(Protocol=LOAD_FILE2_PROTOCOL.*\) = NOT_FOUND/.test(l)));
  assert.equal(r.summary.stubbedHit, []);
  // The stub's work, decompressing the kernel among it (measured: ~99 M), then the
  // kernel to its banner (~18 M); the run stops one instruction after the banner's line.
  const n = r.instructions!;
  assert.ok(n.kernelEntry! > 10_000_000, `${n.kernelEntry} instructions to ExitBootServices`);
  assert.ok(n.linuxVersion! > n.kernelEntry! + 1_000_000, `${n.linuxVersion} instructions to Linux version`);
  assert.ok(n.total >= n.linuxVersion! && n.total <= n.linuxVersion! + 1, `${n.total} in all`);
});

test("the same kernel through Xen's PVH entry: no firmware, no EFI call, the same kernel lines, the same userspace", () => {
  const r = runImage(kernel, { entry: "pvh", cmdline: DEFAULT_CMDLINE, initrd: INITRD, timeBudgetMs: 90000, countInstructions: true });
  assert.equal(r.ending, { kind: "reset", resetType: 0, status: 0n, source: "kbc" });
  assert.is(r.summary.calls, 0);
  assert.ok(r.entryMs! > 0 && r.entryMs! < r.wallMs, `kernel entered after ${r.entryMs} of ${r.wallMs} ms`);
  // Entered at the kernel's own first instruction; its banner comes after ~18 M.
  const n = r.instructions!;
  assert.is(n.kernelEntry, 0);
  assert.ok(n.linuxVersion! > 1_000_000 && n.linuxVersion! < n.total, `${n.linuxVersion} instructions to Linux version, ${n.total} in all`);
  const serial = r.serial.join("\n");
  assert.match(serial, /Linux version 6\.1\.\d+/);
  assert.match(serial, /Command line: console=ttyS0/);
  assert.match(serial, /RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]/);
  assert.match(serial, /Trying to unpack rootfs image as initramfs/);
  assert.not.match(serial, /efi: EFI v2/);
  assert.match(serial, USERSPACE);
  // No firmware, no seed: the CRNG is not ready by /init's time (issue 12; /init asks
  // with GRND_NONBLOCK so that the boot ends either way).
  assert.match(serial, /^init: getrandom (gave 16 bytes|would block)$/m);
});

test("poweroff from userspace switches the machine off through ACPI, through either entry, and the run ends with status 0", () => {
  for (const entry of ["efi", "pvh"] as const) {
    // "poweroff" on the command line: the kernel passes it to /init, which then powers off.
    const r = runImage(kernel, { entry, cmdline: `${DEFAULT_CMDLINE} poweroff`, initrd: INITRD, timeBudgetMs: 90000 });
    assert.equal(r.ending, { kind: "poweroff", source: "acpi" }, entry);
    assert.is(exitCode(r), 0);
    const serial = r.serial.join("\n");
    assert.match(serial, /ACPI: RSDP 0x[0-9A-F]+ 000024 \(v02 UEFICN\)/);
    assert.match(serial, /ACPI: PM: \(supports S0 S5\)/);
    assert.match(serial, USERSPACE);
    assert.match(serial, /reboot: Power down/);
  }
});

test("a kernel's symbols are its own System.map: the default's for the default kernel, System.map-VERSION beside any other, else none", () => {
  assert.match(bzImageVersion(kernel)!, /^6\.1\.0-\d+-cloud-amd64$/);
  assert.is(systemMapFor(kernel, DEFAULT_KERNEL, DEFAULT_SYSTEM_MAP), DEFAULT_SYSTEM_MAP);
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-map-"));
  try {
    const other = join(dir, "vmlinuz-copy");
    symlinkSync(resolve(kernel), other);
    assert.is(systemMapFor(other, DEFAULT_KERNEL, DEFAULT_SYSTEM_MAP), undefined, "no map of its own: none, not the default's");
    const own = join(dir, `System.map-${bzImageVersion(kernel)}`);
    writeFileSync(own, "ffffffff81000000 T _text\n");
    assert.is(systemMapFor(other, DEFAULT_KERNEL, DEFAULT_SYSTEM_MAP), own);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a run stopped by its budget reports RIP, the nearest symbol and the last EFI calls", () => {
  const r = runImage(kernel, { cmdline: DEFAULT_CMDLINE, timeBudgetMs: 300, systemMap: existsSync(DEFAULT_SYSTEM_MAP) ? DEFAULT_SYSTEM_MAP : undefined });
  assert.is(r.ending.kind, "error");
  if (r.ending.kind !== "error") return;
  assert.is(r.ending.errorKind, "budget");
  assert.match(r.ending.rip ?? "", /^0x[0-9a-f]+$/);
  assert.match(r.ending.error, /last EFI calls:\n/);
});

test.run();
