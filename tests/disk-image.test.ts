// tests/disk-image.ts: the images it builds are what Debian's tools read back. Every
// file comes back byte for byte through mtools, fsck.fat finds nothing to fix, the
// partition tables say what makeDisk returned, and the bytes the firmware will parse
// (MBR, GPT entry, BPB hidden sectors) are where the specs put them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDisk, fatType, tool, PARTITION_TYPES, DEFAULT_DISK_GUID, defaultPartitionGuid, FIRST_LBA, SECTOR, type DiskSpec } from "./disk-image.ts";
import { mulberry32 } from "./prng.ts";
import { ROOT } from "../host/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "ueficorn-disk-test-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function bytes(n: number, seed: number): Uint8Array {
  const r = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => (r() * 256) | 0);
}

function readAt(path: string, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const fd = openSync(path, "r");
  try { readSync(fd, b, 0, length, offset); } finally { closeSync(fd); }
  return b;
}

/** Every file of `files` reads back byte-identical from the FAT file system at `lba`. */
function assertFiles(image: string, lba: number, files: Record<string, Uint8Array | string>): void {
  for (const [name, content] of Object.entries(files)) {
    const want = typeof content === "string" ? readFileSync(content) : Buffer.from(content);
    const got = tool("mtype", ["-i", `${image}@@${lba * SECTOR}`, `::${name}`]);
    assert.ok(got.equals(want), `${name}: ${got.length} bytes back, ${want.length} put in`);
  }
}

const text = (cmd: string, args: string[]) => tool(cmd, args).toString();

/** fsck.fat -n (check, change nothing; exit 1 if it finds anything) on the file system
 * at `lba`, copied out; warnings (a FAT32 with too few clusters) fail too. */
function fsck(image: string, lba: number, sectors: number): void {
  const copy = join(dir, "fs.img");
  writeFileSync(copy, readAt(image, lba * SECTOR, sectors * SECTOR));
  const out = text("fsck.fat", ["-n", copy]);
  assert.not.match(out, /warning|differ|error/i, out);
  assert.match(out, /, \d+\/\d+ clusters/, out);
}

function sfdiskJson(image: string) {
  return JSON.parse(text("sfdisk", ["--json", image])).partitiontable as {
    label: string; id: string; partitions: { start: number; size: number; type: string; uuid?: string }[];
  };
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

const SYSTEMD_BOOT = join(ROOT, ".cache/loaders/systemd-bootx64.efi");   // scripts/setup.sh step 6
const ESP_FILES: Record<string, Uint8Array | string> = {
  "/EFI/BOOT/BOOTX64.EFI": SYSTEMD_BOOT,
  "/EFI/ueficorn/A Long Mixed-Case Name.Efi": bytes(70_000, 1),
  "/EFI/ueficorn/deep/er/still/leaf.txt": bytes(1, 2),
  "/loader/entries/debian.conf": new TextEncoder().encode("title Debian\nlinux /vmlinuz\n"),
  "/empty": new Uint8Array(0),
};
const GPT: DiskSpec = {
  table: "gpt",
  partitions: [
    { type: "esp", sizeMiB: 33, fat: 32, label: "ESP", files: ESP_FILES },
    { type: "linux", sizeMiB: 1 },
    { type: "basic", sizeMiB: 16, fat: 16, label: "DATA", uuid: "01234567-89ab-cdef-0123-456789abcdef", files: { "/x": bytes(3, 3) } },
  ],
};

test("GPT: an ESP (FAT32) with long, mixed-case and nested names, a bare Linux partition, a FAT16 basic data partition", () => {
  const img = join(dir, "gpt.img");
  const d = makeDisk(img, GPT);
  assert.is(d.sectors, (33 + 1 + 16 + 2) * 2048);
  assert.is(d.diskId, DEFAULT_DISK_GUID);
  assert.equal(d.partitions, [
    { startLba: FIRST_LBA, sectors: 33 * 2048, type: PARTITION_TYPES.esp.gpt, uuid: defaultPartitionGuid(1) },
    { startLba: FIRST_LBA + 33 * 2048, sectors: 2048, type: PARTITION_TYPES.linux.gpt, uuid: defaultPartitionGuid(2) },
    { startLba: FIRST_LBA + 34 * 2048, sectors: 16 * 2048, type: PARTITION_TYPES.basic.gpt, uuid: "01234567-89ab-cdef-0123-456789abcdef" },
  ]);
  const t = sfdiskJson(img);
  assert.is(t.label, "gpt");
  assert.equal(t.partitions.map((p) => [p.start, p.size]), d.partitions.map((p) => [p.startLba, p.sectors]));

  // What the firmware parses (UEFI 2.10 §5.3.2, §5.3.3): "EFI PART" at LBA 1, its entry
  // array at LBA 2, entry 0: type GUID (mixed-endian), StartingLBA u64 @32, EndingLBA u64 @40.
  const header = readAt(img, SECTOR, SECTOR);
  assert.is(header.toString("latin1", 0, 8), "EFI PART");
  assert.is(header.readBigUInt64LE(72), 2n);
  const entry = readAt(img, 2 * SECTOR, 128);
  assert.is(entry.subarray(0, 4).toString("hex"), "28732ac1");   // c12a7328 little-endian
  assert.is(entry.readBigUInt64LE(32), BigInt(FIRST_LBA));
  assert.is(entry.readBigUInt64LE(40), BigInt(FIRST_LBA + 33 * 2048 - 1));

  const esp = d.partitions[0];
  const bpb = readAt(img, esp.startLba * SECTOR, SECTOR);
  assert.is(bpb.readUInt32LE(28), esp.startLba, "BPB hidden sectors = the partition's LBA");
  assert.is(fatType(bpb).type, 32);
  assert.is(fatType(readAt(img, d.partitions[2].startLba * SECTOR, SECTOR)).type, 16);
  assertFiles(img, esp.startLba, ESP_FILES);
  assertFiles(img, d.partitions[2].startLba, GPT.partitions[2].files!);

  const listing = text("mdir", ["-/", "-a", "-i", `${img}@@${esp.startLba * SECTOR}`, "::/"]);
  assert.match(listing, /Volume in drive : is ESP/);
  assert.match(listing, /A Long Mixed-Case Name\.Efi/);
  assert.match(listing, /Directory for ::\/EFI\/ueficorn\/deep\/er\/still/);
  assert.match(listing, /BOOTX64  EFI\s+\d+ 2024-01-01\s+0:00/);
  // An all-lower-case 8.3 name gets no long name, only the short entry's NT case bits
  // (NTRes, byte 12: 0x08 base, 0x10 extension), which mdir honours.
  assert.match(listing, /^empty\s+0 2024-01-01/m);
  fsck(img, esp.startLba, esp.sectors);
  fsck(img, d.partitions[2].startLba, d.partitions[2].sectors);
});

test("MBR: signature and 4 entries where the MBR puts them; an ESP (0xEF, FAT16) and a tiny FAT12", () => {
  const img = join(dir, "mbr.img");
  const files = { "/EFI/BOOT/BOOTX64.EFI": bytes(5000, 4), "/Readme For You.TXT": bytes(10, 5) };
  const d = makeDisk(img, {
    table: "mbr", diskId: "0x0badcafe",
    partitions: [
      { type: "esp", sizeMiB: 16, fat: 16, files },
      { type: "linux", sizeMiB: 2 },
      { type: "basic", sizeMiB: 1, fat: 12, label: "TINY", files: { "/a": SYSTEMD_BOOT } },
    ],
  });
  assert.is(d.diskId, "0x0badcafe");
  assert.equal(d.partitions, [
    { startLba: 2048, sectors: 16 * 2048, type: "ef" },
    { startLba: 17 * 2048, sectors: 2 * 2048, type: "83" },
    { startLba: 19 * 2048, sectors: 2048, type: "c" },
  ]);
  assert.equal(sfdiskJson(img).partitions.map((p) => [p.start, p.size]), d.partitions.map((p) => [p.startLba, p.sectors]));

  // UEFI 2.10 §5.2.1: UniqueMBRDiskSignature u32 @440, partition records @446 (16 bytes:
  // OSType @4, StartingLBA u32 @8, SizeInLBA u32 @12), 0xAA55 @510.
  const mbr = readAt(img, 0, SECTOR);
  assert.is(mbr.readUInt32LE(440), 0x0badcafe);
  assert.is(mbr.readUInt16LE(510), 0xaa55);
  assert.equal([0, 1, 2, 3].map((i) => mbr[446 + 16 * i + 4]), [0xef, 0x83, 0x0c, 0]);
  assert.equal([0, 1, 2].map((i) => mbr.readUInt32LE(446 + 16 * i + 8)), d.partitions.map((p) => p.startLba));

  assert.is(fatType(readAt(img, 2048 * SECTOR, SECTOR)).type, 16);
  assert.is(fatType(readAt(img, 19 * 2048 * SECTOR, SECTOR)).type, 12);
  assertFiles(img, 2048, files);
  assertFiles(img, 19 * 2048, { "/a": SYSTEMD_BOOT });
  assert.match(text("mdir", ["-i", `${img}@@${19 * 2048 * SECTOR}`, "::/"]), /Volume in drive : is TINY/);
  for (const p of [d.partitions[0], d.partitions[2]]) fsck(img, p.startLba, p.sectors);
});

test("superfloppy: one FAT12 file system from LBA 0, hidden sectors 0, no partition table in its boot sector", () => {
  const img = join(dir, "floppy.img");
  const files = { "/EFI/BOOT/BOOTX64.EFI": bytes(100_000, 6), "/startup.nsh": new TextEncoder().encode("fs0:\\EFI\\BOOT\\BOOTX64.EFI\r\n") };
  const d = makeDisk(img, { table: "none", partitions: [{ type: "esp", sizeMiB: 2, fat: 12, files }] });
  assert.equal(d, { sectors: 4096, diskId: "", partitions: [{ startLba: 0, sectors: 4096, type: "none" }] });
  const boot = readAt(img, 0, SECTOR);
  assert.is(boot.readUInt32LE(28), 0);
  assert.ok(boot.subarray(446, 510).every((b) => b === 0), "mkfs.fat --mbr=n: no fake partition entry");
  assert.is(fatType(boot).type, 12);
  assertFiles(img, 0, files);
  fsck(img, 0, d.sectors);
});

test("same spec, same bytes (fixed GUIDs, volume ID and file times)", () => {
  const a = join(dir, "a.img"), b = join(dir, "b.img");
  makeDisk(a, GPT);
  makeDisk(b, GPT);
  assert.is(sha256(a), sha256(b));
});

test("refusals: a FAT32 with FAT16's cluster count, tool errors with their stderr, names FAT cannot tell apart, a fifth MBR primary", () => {
  const img = join(dir, "bad.img");
  assert.throws(() => makeDisk(img, { table: "gpt", partitions: [{ type: "esp", sizeMiB: 32, fat: 32 }] }), /made 64496 clusters, which is FAT16/);
  assert.throws(() => makeDisk(img, { table: "gpt", partitions: [{ type: "esp", sizeMiB: 8, fat: 16 }] }), /mkfs\.fat .* failed \(exit 1\):[^]*too small/);
  assert.throws(() => makeDisk(img, { table: "none", partitions: [{ type: "esp", sizeMiB: 1, fat: 12, files: { "/a.txt": "x", "/A.TXT": "y" } }] }), /one name on FAT/);
  assert.throws(() => makeDisk(img, { table: "mbr", partitions: Array(5).fill({ type: "linux", sizeMiB: 1 }) }), /4 primary/);
});

test.run();
