// `ueficorn inspect` (host/inspect.ts): what the real kernel and an EFI application offer,
// read from their headers, and a named error for what is neither.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inspect, inspectFile } from "../host/inspect.ts";
import { KernelImageError, EXIT } from "../host/errors.ts";
import { preparePvhFile } from "../host/pvh/index.ts";
import { DEFAULT_KERNEL } from "../host/defaults.ts";
import { ROOT } from "../host/paths.ts";

test("the Debian kernel: EFI (signed PE/COFF), mixed mode, boot protocol 2.15 with the EFI handover entry, its payload, and the PVH entry the PVH path uses", () => {
  const r = inspectFile(DEFAULT_KERNEL);
  assert.is(r.format, "bzImage");
  assert.match(r.version!, /^6\.1\.0-\d+-cloud-amd64$/);
  assert.is(r.pe!.machine, "x86-64");
  assert.is(r.pe!.subsystem, "EFI application");
  assert.ok(r.pe!.signed, "Debian signs its kernels");
  assert.equal(r.pe!.sections.map((s) => s.name), [".setup", ".compat", ".text", ".data"]);
  assert.ok(r.pe!.compat32Entry! > 0);
  assert.is(r.bootProtocol!.version, "2.15");
  assert.ok(r.bootProtocol!.xloadflags.includes("EFI_HANDOVER_64") && r.bootProtocol!.handoverOffset! > 0);
  assert.is(r.bootProtocol!.payload.compression, "lz4");
  const pvh = preparePvhFile(DEFAULT_KERNEL, { ramBytes: 256 << 20, cmdline: "" }).boot.entry.eip;
  assert.ok(r.entries.includes(`PVH: Xen ELF note PHYS32_ENTRY, 32-bit entry at 0x${pvh.toString(16)}`), r.entries.join("\n"));
  const notes = r.xenNotes as { name: string; value: string }[];
  assert.ok(notes.some((n) => n.name === "GUEST_OS" && n.value === "linux"));
});

test("an EFI application: PE/COFF, no boot protocol, no PVH", () => {
  const r = inspectFile(join(ROOT, "build/guests/hello.efi"));
  assert.is(r.format, "PE/COFF");
  assert.equal(r.entries, ["EFI: PE/COFF x86-64 EFI application, entry RVA 0x1000"]);
  assert.is(r.bootProtocol, undefined);
  assert.not.ok(r.pe!.signed);
});

test("what is not an image, or a broken one, gets an error naming the field and its offset", () => {
  const fails = (bytes: Uint8Array, field: string) => {
    try {
      inspect(bytes, "x");
      assert.unreachable("inspected");
    } catch (e) {
      assert.instance(e, KernelImageError);
      assert.is((e as KernelImageError).field, field, (e as Error).message);
    }
  };
  fails(new TextEncoder().encode("{ \"name\": \"not a kernel\" }"), "IMAGE_DOS_HEADER.e_magic");
  const hello = new Uint8Array(readFileSync(join(ROOT, "build/guests/hello.efi")));
  fails(hello.slice(0, 0x60), "IMAGE_DOS_HEADER.e_lfanew");
  const bad = hello.slice();
  bad[new DataView(bad.buffer).getUint32(0x3c, true)] = 0x51; // "QE\0\0"
  fails(bad, "Signature");
});

test("cli: inspect --json on the kernel; a non-image exits with the load status", () => {
  const cli = join(ROOT, "build/ueficorn.cjs");
  const ok = spawnSync(process.execPath, [cli, "inspect", DEFAULT_KERNEL, "--json"], { encoding: "utf8" });
  assert.is(ok.status, 0, ok.stderr);
  assert.is(JSON.parse(ok.stdout).bootProtocol.version, "2.15");
  const no = spawnSync(process.execPath, [cli, "inspect", join(ROOT, "package.json")], { encoding: "utf8" });
  assert.is(no.status, EXIT.LOAD);
  assert.match(no.stderr, /IMAGE_DOS_HEADER\.e_magic \(at offset 0x0\): not a kernel or EFI image/);
});

test.run();
