// The volume label through EFI_FILE_PROTOCOL (issue 13; UEFI 2.10 §13.5.14 SetInfo with
// FILE_SYSTEM_INFO and FILE_SYSTEM_VOLUME_LABEL), as a guest sets it: guests/label.c,
// booted by the boot manager from a GPT disk that Debian's tools built (tests/disk-image.ts)
// with a labelled FAT16 ESP, an unlabelled FAT32 partition (no volume-ID entry: the
// firmware makes one) and a labelled FAT12 one. Read-only, every SetInfo is
// WRITE_PROTECTED and the image stays byte-identical; writable, dosfstools' fatlabel and
// mtools' mlabel read the guest's labels from the committed image, the boot sectors'
// BS_VolLab (FAT32's backup too) say the same, and fsck.fat finds every volume clean.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDisk, SECTOR, tool } from "./disk-image.ts";
import { ROOT } from "../host/paths.ts";
import { runImage, type RunResult } from "../host/run.ts";

const dir = mkdtempSync(join(tmpdir(), "ueficorn-label-"));
const LABEL = join(ROOT, "build/guests/label.efi");
const image = join(dir, "label.img");
const facts = makeDisk(image, {
  table: "gpt",
  partitions: [
    { type: "esp", sizeMiB: 16, fat: 16, label: "OLDLABEL", files: { "/EFI/BOOT/BOOTX64.EFI": LABEL } },
    { type: "basic", sizeMiB: 40, fat: 32 },
    { type: "basic", sizeMiB: 1, fat: 12, label: "SMALL", files: { "/x.txt": new TextEncoder().encode("x") } },
  ],
});
const FAT = [16, 32, 12] as const;

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const run = (diskWritable: boolean) => runImage(undefined, { disks: [image], diskWritable, deterministic: true });
function passed(r: RunResult): string {
  assert.is(r.ending.kind, "returned", `${r.ending.kind}: ${(r.ending as { error?: string }).error ?? ""}\n${r.console}`);
  assert.not.match(r.console, /FAIL/, r.console);
  assert.is((r.ending as { status: bigint }).status, 0n, r.console);
  return r.console;
}
/** Partition i's bytes, as a file of its own (fatlabel and fsck.fat take a device). */
function partition(i: number): string {
  const p = facts.partitions[i];
  const path = join(dir, `part${i + 1}.img`);
  writeFileSync(path, readFileSync(image).subarray(p.startLba * SECTOR, (p.startLba + p.sectors) * SECTOR));
  return path;
}

test("Debian's tools see the labels the image was made with: the FAT32 volume has none", () => {
  assert.is(tool("fatlabel", [partition(0)]).toString().trim(), "OLDLABEL");
  assert.is(tool("mlabel", ["-s", "-i", `${image}@@${facts.partitions[1].startLba * SECTOR}`, "::"]).toString().trim(), "Volume has no label");
});

test("a read-only disk: SetInfo with either type is WRITE_PROTECTED, the labels stay, the image is byte-identical", () => {
  const before = sha(image);
  const out = passed(run(false));
  assert.is(sha(image), before);
  assert.is(out.match(/ok: read-only: SetInfo\(FILE_SYSTEM_INFO\)/g)?.length, 3, out);
  assert.is(out.match(/ok: read-only: SetInfo\(FILE_SYSTEM_VOLUME_LABEL\)/g)?.length, 3, out);
  assert.match(out, /volume 1: label 'OLDLABEL'/);
  assert.match(out, /volume 2: label ''/);
  assert.match(out, /volume 3: label 'SMALL'/);
  assert.match(out, /22 passed, 0 failed/);
});

test("--disk-writable: the guest's labels, set with both types, are on the image as FAT keeps them; bad sizes and labels FAT cannot hold were refused", () => {
  const out = passed(run(true));
  for (const n of [1, 2, 3]) assert.match(out, new RegExp(`volume ${n}: label 'UEFICORN ${n}'`));
  for (const what of ["FILE_SYSTEM_INFO without room for a NUL", "FILE_SYSTEM_INFO whose Size is more than BufferSize",
    "FILE_SYSTEM_VOLUME_LABEL of 1 byte", "FILE_SYSTEM_VOLUME_LABEL with no NUL within BufferSize",
    "a label of 12 characters", "FILE_SYSTEM_INFO with a long label", "a label with '\\*'", "a label starting with a space",
    "refusals change nothing", "stored upper case", "FILE_SYSTEM_INFO's other fields were ignored", "no label"]) {
    assert.is(out.match(new RegExp(`^ok: ${what.replace(/[()]/g, "\\$&")}\\r?$`, "gm"))?.length, 3, `${what}\n${out}`);
  }
  const img = readFileSync(image);
  facts.partitions.forEach((p, i) => {
    const want = `UEFICORN ${i + 1}`;
    const part = partition(i);
    assert.is(tool("fatlabel", [part]).toString().trim(), want, `fatlabel, partition ${i + 1}`);
    assert.is(tool("mlabel", ["-s", "-i", `${image}@@${p.startLba * SECTOR}`, "::"]).toString().trim(), `Volume label is ${want}`);
    // BS_VolLab (Microsoft's FAT specification §3.1, §3.2): 43 on FAT12/16, 71 on FAT32,
    // where FAT32's backup boot sector (BPB_BkBootSec, offset 50) holds it too.
    const boot = img.subarray(p.startLba * SECTOR);
    const at = FAT[i] === 32 ? 71 : 43;
    assert.is(boot.subarray(at, at + 11).toString("latin1"), want.padEnd(11), `BS_VolLab, partition ${i + 1}`);
    if (FAT[i] === 32) {
      const backup = boot.readUInt16LE(50) * SECTOR;
      assert.ok(backup > 0);
      assert.is(boot.subarray(backup + at, backup + at + 11).toString("latin1"), want.padEnd(11), "the backup boot sector");
    }
    tool("fsck.fat", ["-n", part]); // exits non-zero on any inconsistency, the two labels disagreeing included
  });
  // The FAT12 volume's only file is still there.
  assert.is(tool("mtype", ["-i", `${image}@@${facts.partitions[2].startLba * SECTOR}`, "::/x.txt"]).toString(), "x");
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
