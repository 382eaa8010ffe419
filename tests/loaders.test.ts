// Real boot chains (issue 13): Debian's own boot loaders, fetched by setup into
// .cache/loaders, boot Debian's kernel from an EFI system partition to the test /init,
// with nothing but disks given: the firmware's boot manager finds \EFI\BOOT\BOOTX64.EFI,
// the loader reads its configuration and the kernel through SimpleFileSystem (or, GRUB,
// through Block I/O with its own FAT driver) and starts it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDisk, tool, SECTOR } from "./disk-image.ts";
import { runImage, exitCode, EXIT, type RunResult } from "../host/run.ts";
import { ROOT } from "../host/paths.ts";
import { DEFAULT_KERNEL } from "../host/defaults.ts";
import { parseKeys } from "../host/keys.ts";

const LOADERS = join(ROOT, ".cache/loaders");
const INITRD = join(ROOT, "build/guests/linux/initrd.cpio");
const CMDLINE = "console=ttyS0 earlyprintk=serial,ttyS0,115200";
const dir = mkdtempSync(join(tmpdir(), "ueficorn-loaders-"));
const enc = (s: string) => new TextEncoder().encode(s);

const SYSTEMD_BOOT = {
  "/EFI/BOOT/BOOTX64.EFI": join(LOADERS, "systemd-bootx64.efi"),
  "/loader/loader.conf": enc("default debian.conf\ntimeout 0\n"),
  "/loader/entries/debian.conf": enc(`title Debian\nlinux /vmlinuz\ninitrd /initrd.cpio\noptions ${CMDLINE}\n`),
  "/vmlinuz": DEFAULT_KERNEL,
  "/initrd.cpio": INITRD,
};

const GRUB_CFG = enc(`set timeout=0\nmenuentry 'Debian' {\n  linux /vmlinuz ${CMDLINE}\n  initrd /initrd.cpio\n}\n`);

function reachedInit(r: RunResult, what: string): void {
  const init = r.serial.find((l) => l.startsWith("init: hello from userspace"));
  assert.ok(init, `${what}: the kernel ran /init (ending: ${JSON.stringify(r.ending, (_, v) => (typeof v === "bigint" ? v.toString(16) : v))}; last lines: ${r.serial.slice(-3).join(" | ")}${r.console.slice(-300)})`);
  assert.is(r.ending.kind, "reset", `${what}: /init reboots the machine`);
}

const boot = (disks: string[], esp?: string[]) => runImage(undefined, { disks, esp, timeBudgetMs: 120_000 });

test("systemd-boot from a GPT disk's ESP: loader.conf, the entry's kernel and initrd, to /init", () => {
  const image = join(dir, "systemd-boot.img");
  makeDisk(image, { table: "gpt", partitions: [{ type: "esp", sizeMiB: 40, fat: 32, files: SYSTEMD_BOOT }] });
  const r = boot([image]);
  reachedInit(r, "systemd-boot");
  // The kernel came through LoadImage from a device path, and systemd-boot's own initrd LoadFile2.
  assert.match(r.console + r.serial.join("\n"), /Linux version/);
  assert.ok(r.summary.perService["File.Read"] > 0 && r.summary.perService["BS.LoadImage"] === 1);
});

test("systemd-boot from a host folder (--esp), to /init", () => {
  const esp = join(dir, "esp");
  for (const [path, src] of Object.entries(SYSTEMD_BOOT)) {
    mkdirSync(join(esp, path, ".."), { recursive: true });
    if (typeof src === "string") copyFileSync(src, join(esp, path));
    else writeFileSync(join(esp, path), src);
  }
  // Its timeline (--trace-out) tells the loader from the kernel's stub: the loader's phase
  // ends where it starts the kernel's image.
  const trace = join(dir, "sd-boot-trace.json");
  reachedInit(runImage(undefined, { esp: [esp], timeBudgetMs: 120_000, traceOut: trace }), "systemd-boot (--esp)");
  const phases = (JSON.parse(readFileSync(trace, "utf8")).traceEvents as { name: string; cat?: string; ts: number; dur: number }[]).filter((e) => e.cat === "phase");
  assert.equal(phases.map((e) => e.name), ["set-up (host, machine, image)", "boot loader", "EFI stub (to ExitBootServices)", "kernel", "userspace"]);
  assert.ok(phases[1].ts + phases[1].dur <= phases[2].ts + 1, "the stub's phase begins where the loader's ends");
});

test("Debian's signed GRUB from an MBR disk: grub.cfg beside it, linux and initrd, to /init", () => {
  const image = join(dir, "grub.img");
  makeDisk(image, { table: "mbr", partitions: [{ type: "esp", sizeMiB: 32, fat: 16, files: {
    "/EFI/BOOT/BOOTX64.EFI": join(LOADERS, "grubx64.efi"),
    "/EFI/BOOT/grub.cfg": GRUB_CFG,
    "/vmlinuz": DEFAULT_KERNEL,
    "/initrd.cpio": INITRD,
  } }] });
  const r = boot([image]);
  reachedInit(r, "GRUB");
  // GRUB reads the disk itself (its own FAT driver over Block I/O / Disk I/O).
  assert.ok((r.summary.perService["BlockIo.ReadBlocks"] ?? 0) + (r.summary.perService["DiskIo.ReadDisk"] ?? 0) > 0);
});

test("GRUB with no grub.cfg stops at its prompt polling ReadKeyStroke: with no key to come the run ends as waiting for input", () => {
  const image = join(dir, "grub-prompt.img");
  makeDisk(image, { table: "gpt", partitions: [{ type: "esp", sizeMiB: 16, fat: 16, files: { "/EFI/BOOT/BOOTX64.EFI": join(LOADERS, "grubx64.efi") } }] });
  const r = boot([image]);
  assert.match(r.console, /grub>/);
  assert.is(r.ending.kind, "waiting", `ending: ${r.ending.kind}`);
  assert.is(exitCode(r), EXIT.HALTED);
});

test("shim, then GRUB beside it, from a GPT disk, to /init", () => {
  const image = join(dir, "shim.img");
  makeDisk(image, { table: "gpt", partitions: [{ type: "esp", sizeMiB: 32, fat: 16, files: {
    "/EFI/BOOT/BOOTX64.EFI": join(LOADERS, "shimx64.efi"),
    "/EFI/BOOT/grubx64.efi": join(LOADERS, "grubx64.efi"),
    "/EFI/BOOT/grub.cfg": GRUB_CFG,
    "/vmlinuz": DEFAULT_KERNEL,
    "/initrd.cpio": INITRD,
  } }] });
  reachedInit(boot([image]), "shim → GRUB");
});

test("GRUB from a GPT disk: its ESP's grub.cfg finds the ext4 root by label, the menu is driven by keys", () => {
  const image = join(dir, "grub-ext4.img");
  const facts = makeDisk(image, { table: "gpt", sizeMiB: 80, partitions: [
    { type: "esp", sizeMiB: 16, fat: 16, files: {
      "/EFI/BOOT/BOOTX64.EFI": join(LOADERS, "grubx64.efi"),
      "/EFI/BOOT/grub.cfg": enc("search --no-floppy --set=root --label debroot\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n"),
    } },
    { type: "linux", sizeMiB: 60 },
  ] });
  // The root: ext4 made by mke2fs from a folder, in place at the second partition.
  const root = join(dir, "rootfs");
  mkdirSync(join(root, "boot/grub"), { recursive: true });
  copyFileSync(DEFAULT_KERNEL, join(root, "boot/vmlinuz"));
  copyFileSync(INITRD, join(root, "boot/initrd.cpio"));
  // The default entry powers off; the second, picked with the keys, reboots.
  writeFileSync(join(root, "boot/grub/grub.cfg"), "set timeout=30\nset default=0\n" +
    `menuentry 'Debian, powering off' {\n  linux /boot/vmlinuz ${CMDLINE} poweroff\n  initrd /boot/initrd.cpio\n}\n` +
    `menuentry 'Debian' {\n  linux /boot/vmlinuz ${CMDLINE}\n  initrd /boot/initrd.cpio\n}\n`);
  const p = facts.partitions[1];
  tool("mke2fs", ["-q", "-t", "ext4", "-L", "debroot", "-d", root, "-E", `offset=${p.startLba * SECTOR}`, image, `${(p.sectors * SECTOR) >> 10}k`]);
  const r = runImage(undefined, { disks: [image], keys: parseKeys("{wait 2000}{down}{enter}"), timeBudgetMs: 120_000 });
  assert.match(r.console, /Debian, powering off/, "GRUB's menu, from the ext4 root's grub.cfg");
  reachedInit(r, "GRUB (ext4 root, second entry)");
});

test("systemd-boot finds a unified kernel image (linuxx64.efi.stub + kernel + initrd + command line, by objcopy) in \\EFI\\Linux", () => {
  const parts = join(dir, "uki");
  mkdirSync(parts, { recursive: true });
  writeFileSync(join(parts, "cmdline"), CMDLINE);
  writeFileSync(join(parts, "os-release"), 'NAME="Debian"\nID=debian\nPRETTY_NAME="Debian (ueficorn test UKI)"\n');
  const uki = join(parts, "debian.efi");
  // The section addresses systemd 252's documentation gives, past the stub's own image.
  tool("objcopy", [
    "--add-section", `.osrel=${join(parts, "os-release")}`, "--change-section-vma", ".osrel=0x20000",
    "--add-section", `.cmdline=${join(parts, "cmdline")}`, "--change-section-vma", ".cmdline=0x30000",
    "--add-section", `.linux=${DEFAULT_KERNEL}`, "--change-section-vma", ".linux=0x2000000",
    "--add-section", `.initrd=${INITRD}`, "--change-section-vma", ".initrd=0x3000000",
    join(LOADERS, "linuxx64.efi.stub"), uki,
  ]);
  const image = join(dir, "uki.img");
  makeDisk(image, { table: "gpt", partitions: [{ type: "esp", sizeMiB: 40, fat: 32, files: {
    "/EFI/BOOT/BOOTX64.EFI": join(LOADERS, "systemd-bootx64.efi"),
    "/EFI/Linux/debian.efi": uki,
  } }] });
  reachedInit(boot([image]), "systemd-boot → UKI");
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
