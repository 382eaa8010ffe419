// Disks, partitions and FAT file systems (issue 13), on real images made by Debian's
// tools (tests/disk-image.ts): Block I/O, Disk I/O, Partition Info and device paths as
// the firmware builds them, the FAT driver through SimpleFileSystem and EFI_FILE_PROTOCOL,
// called as a guest would (tests/service-caller.ts), and the boot manager.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, readSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync, copyFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ServiceCaller } from "./service-caller.ts";
import { makeDisk, defaultPartitionGuid, SECTOR, tool } from "./disk-image.ts";
import { mulberry32 } from "./prng.ts";
import { espFromDir, openDisk } from "../host/disk.ts";
import { readFatTree } from "../host/fat-read.ts";
import { GUIDS, LOCATE_SEARCH_TYPE as LS, FILE_INFO, FILE_SYSTEM_INFO, BLOCK_IO_MEDIA, BLOCK_IO_PROTOCOL, PARTITION_INFO_PROTOCOL, statusName, type GuidName } from "../firmware/spec/uefi.ts";
import { guidBytes, guidText } from "../firmware/spec/decl.ts";
import { ROOT } from "../host/paths.ts";
import { runImage } from "../host/run.ts";

const dir = mkdtempSync(join(tmpdir(), "ueficorn-disks-"));
const HELLO = join(ROOT, "build/guests/hello.efi");
const rand = mulberry32(13);
const DEEP = Uint8Array.from({ length: 300_000 }, () => Math.floor(rand() * 256));
const LONG_TEXT = "a file whose name is long and Mixed Case\n";

const image = join(dir, "gpt.img");
const facts = makeDisk(image, {
  table: "gpt",
  partitions: [
    { type: "esp", sizeMiB: 16, fat: 16, label: "MYESP", files: {
      "/EFI/BOOT/BOOTX64.EFI": HELLO,
      "/Long Mixed Name.txt": new TextEncoder().encode(LONG_TEXT),
      "/dir/sub/deep.bin": DEEP,
      "/read.me": new TextEncoder().encode("lower-case 8.3\n"),
      "/empty": new Uint8Array(0),
    } },
    { type: "linux", sizeMiB: 2 },
    { type: "basic", sizeMiB: 1, fat: 12, label: "SMALL", files: { "/x.txt": new TextEncoder().encode("x") } },
  ],
});

const is = (status: bigint, name: string, what?: string) => assert.is(statusName(status), name, what);

/** A machine with the image attached, and helpers to call its protocols. */
class Fs {
  readonly c: ServiceCaller;
  constructor(path = image, writable = false, caller?: ServiceCaller) {
    this.c = caller ?? new ServiceCaller({ ramMiB: 64, disks: [openDisk(path, writable)] });
  }
  guid(name: GuidName): bigint { return this.c.bytes(guidBytes(GUIDS[name])); }
  handles(proto: GuidName): bigint[] {
    const n = this.c.cell(), buf = this.c.cell();
    const st = this.c.call("BS.LocateHandleBuffer", BigInt(LS.ByProtocol), this.guid(proto), 0n, n, buf);
    if (st !== 0n) return [];
    const p = this.c.u64(buf);
    return Array.from({ length: Number(this.c.u64(n)) }, (_, i) => this.c.u64(p + BigInt(8 * i)));
  }
  iface(h: bigint, proto: GuidName): bigint {
    const out = this.c.cell();
    const st = this.c.call("BS.HandleProtocol", h, this.guid(proto), out);
    return st === 0n ? this.c.u64(out) : 0n;
  }
  text(h: bigint): string {
    const p = this.c.call("DevicePathToText.ConvertDevicePathToText", this.iface(h, "DEVICE_PATH_PROTOCOL"), 0n, 0n);
    return this.ucs2At(p);
  }
  ucs2At(p: bigint): string {
    const ram = this.c.m.fw.ram;
    let end = Number(p);
    while (ram[end] | ram[end + 1]) end += 2;
    return Buffer.from(ram.subarray(Number(p), end)).toString("utf16le");
  }
  root(h: bigint): bigint {
    const out = this.c.cell();
    is(this.c.call("SimpleFileSystem.OpenVolume", this.iface(h, "SIMPLE_FILE_SYSTEM_PROTOCOL"), out), "SUCCESS");
    return this.c.u64(out);
  }
  open(from: bigint, name: string, mode = 1n, attributes = 0n): { status: bigint; file: bigint } {
    const out = this.c.cell();
    const status = this.c.call("File.Open", from, out, this.c.ucs2(name), mode, attributes);
    return { status, file: status === 0n ? this.c.u64(out) : 0n };
  }
  read(file: bigint, bytes: number): { status: bigint; data: Uint8Array } {
    const size = this.c.cell(BigInt(bytes)), buf = this.c.buf(Math.max(bytes, 1));
    const status = this.c.call("File.Read", file, size, buf);
    const n = Number(this.c.u64(size));
    return { status, data: this.c.m.fw.ram.slice(Number(buf), Number(buf) + (status === 0n ? n : 0)) };
  }
  info(file: bigint, type: GuidName = "FILE_INFO"): { status: bigint; at: bigint; size: bigint } {
    const size = this.c.cell(0n);
    is(this.c.call("File.GetInfo", file, this.guid(type), size, 0n), "BUFFER_TOO_SMALL", "GetInfo with no buffer");
    const at = this.c.buf(Number(this.c.u64(size)));
    const status = this.c.call("File.GetInfo", file, this.guid(type), size, at);
    return { status, at, size: this.c.u64(size) };
  }
  close(): void { this.c.close(); }
}

const SFS = "SIMPLE_FILE_SYSTEM_PROTOCOL";

test("a GPT disk: one Block I/O for the disk and one per partition, with OVMF-style device paths", () => {
  const fs = new Fs();
  const c = fs.c;
  const blocks = fs.handles("BLOCK_IO_PROTOCOL");
  assert.is(blocks.length, 4, "the disk and its three partitions");
  const paths = blocks.map((h) => fs.text(h));
  assert.is(paths[0], "PciRoot(0x0)/Pci(0x4,0x0)");
  const p1 = facts.partitions[0];
  assert.is(paths[1], `PciRoot(0x0)/Pci(0x4,0x0)/HD(1,GPT,${defaultPartitionGuid(1)},0x${p1.startLba.toString(16)},0x${p1.sectors.toString(16)})`);
  // The disk's media: the whole image; a partition's: its own blocks, a logical partition.
  const media = (h: bigint) => c.u64(fs.iface(h, "BLOCK_IO_PROTOCOL") + BigInt(BLOCK_IO_PROTOCOL.fields.find((f) => f.name === "Media")!.offset));
  const field = (name: string) => BigInt(BLOCK_IO_MEDIA.fields.find((f) => f.name === name)!.offset);
  assert.is(c.u64(media(blocks[0]) + field("LastBlock")), BigInt(facts.sectors - 1));
  assert.is(c.m.fw.ram[Number(media(blocks[0]) + field("LogicalPartition"))], 0);
  assert.is(c.u64(media(blocks[1]) + field("LastBlock")), BigInt(p1.sectors - 1));
  assert.is(c.m.fw.ram[Number(media(blocks[1]) + field("LogicalPartition"))], 1);
  assert.is(c.m.fw.ram[Number(media(blocks[1]) + field("ReadOnly"))], 1, "read-only without --disk-writable");
  // ReadBlocks: LBA 1 of the disk is the GPT header; LBA 0 of the ESP its FAT boot sector.
  const buf = c.buf(SECTOR);
  is(c.call("BlockIo.ReadBlocks", fs.iface(blocks[0], "BLOCK_IO_PROTOCOL"), 0n, 1n, BigInt(SECTOR), buf), "SUCCESS");
  assert.is(Buffer.from(c.m.fw.ram.subarray(Number(buf), Number(buf) + 8)).toString(), "EFI PART");
  is(c.call("BlockIo.ReadBlocks", fs.iface(blocks[1], "BLOCK_IO_PROTOCOL"), 0n, 0n, BigInt(SECTOR), buf), "SUCCESS");
  assert.is(Buffer.from(c.m.fw.ram.subarray(Number(buf) + 54, Number(buf) + 59)).toString(), "FAT16");
  // The spec's errors: a partial block, past the end, another medium, writing read-only media.
  const bio = fs.iface(blocks[1], "BLOCK_IO_PROTOCOL");
  is(c.call("BlockIo.ReadBlocks", bio, 0n, 0n, 100n, buf), "BAD_BUFFER_SIZE");
  is(c.call("BlockIo.ReadBlocks", bio, 0n, BigInt(p1.sectors), BigInt(SECTOR), buf), "INVALID_PARAMETER");
  is(c.call("BlockIo.ReadBlocks", bio, 0n, BigInt(p1.sectors - 1), BigInt(2 * SECTOR), buf), "INVALID_PARAMETER");
  is(c.call("BlockIo.ReadBlocks", bio, 7n, 0n, BigInt(SECTOR), buf), "MEDIA_CHANGED");
  is(c.call("BlockIo.WriteBlocks", bio, 0n, 0n, BigInt(SECTOR), buf), "WRITE_PROTECTED");
  // Disk I/O: any byte range; the ESP's bytes 3..11 are mkfs.fat's OEM name.
  const dio = fs.iface(blocks[1], "DISK_IO_PROTOCOL");
  is(c.call("DiskIo.ReadDisk", dio, 0n, 3n, 8n, buf), "SUCCESS");
  assert.is(Buffer.from(c.m.fw.ram.subarray(Number(buf), Number(buf) + 8)).toString(), "mkfs.fat");
  is(c.call("DiskIo.ReadDisk", dio, 0n, BigInt(p1.sectors * SECTOR - 4), 8n, buf), "INVALID_PARAMETER");
  fs.close();
});

test("Partition Info and the ESP's system-partition GUID, on the ESP only", () => {
  const fs = new Fs();
  const [, esp, linux] = fs.handles("BLOCK_IO_PROTOCOL");
  const pi = fs.iface(esp, "PARTITION_INFO_PROTOCOL");
  const off = (n: string) => BigInt(PARTITION_INFO_PROTOCOL.fields.find((f) => f.name === n)!.offset);
  assert.is(fs.c.u32(pi + off("Type")), 2, "GPT");
  assert.is(fs.c.m.fw.ram[Number(pi + off("System"))], 1);
  const entry = fs.c.m.fw.ram.slice(Number(pi + off("Info")), Number(pi + off("Info")) + 128);
  assert.is(guidText(entry.subarray(0, 16)), GUIDS.PART_TYPE_SYSTEM_PART, "the GPT entry itself");
  assert.is(fs.c.m.fw.ram[Number(fs.iface(linux, "PARTITION_INFO_PROTOCOL") + off("System"))], 0);
  assert.equal(fs.handles("PART_TYPE_SYSTEM_PART"), [esp]);
  fs.close();
});

test("FAT: SimpleFileSystem on each FAT partition (FAT16, FAT12), none on the raw one", () => {
  const fs = new Fs();
  const [, esp, , small] = fs.handles("BLOCK_IO_PROTOCOL");
  assert.equal(fs.handles(SFS), [esp, small]);
  const root = fs.root(small);
  const x = fs.open(root, "X.TXT");
  is(x.status, "SUCCESS");
  assert.equal([...fs.read(x.file, 10).data], [0x78]);
  const label = fs.info(root, "FILE_SYSTEM_VOLUME_LABEL");
  assert.is(fs.ucs2At(label.at), "SMALL");
  fs.close();
});

test("FAT: paths, long and short names, reads across clusters, positions, info", () => {
  const fs = new Fs();
  const c = fs.c;
  const esp = fs.handles(SFS)[0];
  const root = fs.root(esp);
  // Case-insensitive long names; '.' and '..' components; a leading '\' from a subfolder.
  const long = fs.open(root, "\\long MIXED name.TXT");
  is(long.status, "SUCCESS");
  assert.is(new TextDecoder().decode(fs.read(long.file, 1000).data), LONG_TEXT);
  const r2 = fs.read(long.file, 10);
  is(r2.status, "SUCCESS", "at the end: 0 bytes");
  assert.is(r2.data.length, 0);
  const sub = fs.open(root, "dir\\.\\sub");
  is(sub.status, "SUCCESS");
  is(fs.open(sub.file, "..\\..\\Long Mixed Name.txt").status, "SUCCESS");
  is(fs.open(sub.file, "\\EFI\\BOOT\\BOOTX64.EFI").status, "SUCCESS");
  is(fs.open(root, "nope.txt").status, "NOT_FOUND");
  is(fs.open(root, "Long Mixed Name.txt\\x").status, "NOT_FOUND", "a file is not a folder");
  // Read-only volume: opening to write is WRITE_PROTECTED, creating too.
  is(fs.open(root, "Long Mixed Name.txt", 3n).status, "WRITE_PROTECTED");
  is(fs.open(root, "new.txt", 0x8000000000000003n).status, "WRITE_PROTECTED");
  is(fs.open(root, "x", 2n).status, "INVALID_PARAMETER", "write without read is no mode");
  // A 300 KB file in odd pieces, with a seek back: every byte as written.
  const deep = fs.open(sub.file, "deep.bin").file;
  const got: number[] = [];
  for (let n = 1; got.length < DEEP.length; n = n * 3 + 7) got.push(...c.scoped(() => fs.read(deep, Math.min(n, 50_000)).data));
  assert.ok(Buffer.from(got).equals(Buffer.from(DEEP)), "deep.bin read back whole");
  is(c.call("File.SetPosition", deep, 123_457n), "SUCCESS");
  assert.ok(Buffer.from(fs.read(deep, 4096).data).equals(Buffer.from(DEEP.subarray(123_457, 123_457 + 4096))));
  const pos = c.cell();
  is(c.call("File.GetPosition", deep, pos), "SUCCESS");
  assert.is(c.u64(pos), 123_457n + 4096n);
  is(c.call("File.SetPosition", deep, 0xffff_ffff_ffff_ffffn), "SUCCESS", "to the end");
  is(c.call("File.GetPosition", deep, pos), "SUCCESS");
  assert.is(c.u64(pos), BigInt(DEEP.length));
  // FILE_INFO: size, the name as stored, the archive bit; 2024-01-01 stamps (FILE_TIME).
  const info = fs.info(deep);
  is(info.status, "SUCCESS");
  const f = (n: string) => BigInt(FILE_INFO.fields.find((x) => x.name === n)!.offset);
  assert.is(c.u64(info.at + f("FileSize")), BigInt(DEEP.length));
  assert.is(fs.ucs2At(info.at + f("FileName")), "deep.bin");
  assert.is(c.u64(info.at + f("Attribute")) & 0x10n, 0n);
  assert.is(c.m.fw.ramView.getUint16(Number(info.at + f("ModificationTime")), true), 2024);
  // mcopy stores "read.me" as 8.3 with the lower-case flags: the name comes back lower-case.
  assert.is(fs.ucs2At(fs.info(fs.open(root, "READ.ME").file).at + f("FileName")), "read.me");
  // Writes on a read-only handle.
  is(c.call("File.Write", deep, c.cell(1n), c.buf(1)), "ACCESS_DENIED");
  is(c.call("File.Close", deep), "SUCCESS");
  is(c.call("File.Close", deep), "INVALID_PARAMETER", "closed");
  // The volume: read-only, its label, its size and free space in clusters.
  const vol = fs.info(root, "FILE_SYSTEM_INFO");
  const v = (n: string) => BigInt(FILE_SYSTEM_INFO.fields.find((x) => x.name === n)!.offset);
  assert.is(c.m.fw.ram[Number(vol.at + v("ReadOnly"))], 1);
  assert.is(fs.ucs2At(vol.at + v("VolumeLabel")), "MYESP");
  const volSize = c.u64(vol.at + v("VolumeSize")), free = c.u64(vol.at + v("FreeSpace"));
  assert.ok(volSize > 15n << 20n && volSize < 16n << 20n, `volume size ${volSize}`);
  assert.ok(free < volSize - 300_000n && free > volSize - 1_000_000n, `free ${free} of ${volSize}`);
  is(c.call("File.GetInfo", root, fs.guid("LOADED_IMAGE_PROTOCOL"), c.cell(100n), c.buf(100)), "UNSUPPORTED");
  fs.close();
});

test("FAT: directory reads list every entry once, with FILE_INFO, then 0 bytes", () => {
  const fs = new Fs();
  const root = fs.root(fs.handles(SFS)[0]);
  const names: string[] = [];
  for (;;) {
    const size = fs.c.cell(4n);
    const small = fs.c.buf(4);
    const st = fs.c.call("File.Read", root, size, small);
    if (st === 0n) {
      assert.is(fs.c.u64(size), 0n, "only the end fits in 4 bytes");
      break;
    }
    is(st, "BUFFER_TOO_SMALL");
    const r = fs.read(root, Number(fs.c.u64(size)));
    is(r.status, "SUCCESS");
    names.push(Buffer.from(r.data.subarray(80, r.data.length - 2)).toString("utf16le"));
  }
  assert.equal(names.sort(), ["EFI", "Long Mixed Name.txt", "dir", "empty", "read.me"]);
  is(fs.c.call("File.SetPosition", root, 5n), "UNSUPPORTED", "a folder only rewinds");
  is(fs.c.call("File.SetPosition", root, 0n), "SUCCESS");
  const first = fs.read(root, 512);
  assert.ok(first.data.length > 80, "rewound: entries again");
  fs.close();
});

test("the boot manager: \\EFI\\BOOT\\BOOTX64.EFI on the ESP, run by `ueficorn run --disk` with no image; the read-only image stays byte-identical", () => {
  const before = createHash("sha256").update(readFileSync(image)).digest("hex");
  const r = runImage(undefined, { disks: [image] });
  assert.is(createHash("sha256").update(readFileSync(image)).digest("hex"), before);
  assert.is(r.ending.kind, "returned");
  assert.is((r.ending as { status: bigint }).status, 0n);
  assert.match(r.console, /36 passed, 0 failed/);
});

test("the boot manager: BootOrder's Boot#### (a short-form HD path) before the removable path; BootCurrent set", () => {
  const other = join(dir, "order.img");
  makeDisk(other, { table: "gpt", partitions: [{ type: "esp", sizeMiB: 16, fat: 16, files: { "/EFI/BOOT/BOOTX64.EFI": HELLO, "/EFI/other/app.efi": join(ROOT, "build/guests/exitcode.efi") } }] });
  const c = new ServiceCaller({ ramMiB: 64, disks: [openDisk(other, false)] });
  // Boot0003: HD(1,GPT,guid,2048,...)/\EFI\other\app.efi, optional data as its LoadOptions.
  const info = makeDisk(join(dir, "scratch.img"), { table: "gpt", partitions: [{ type: "esp", sizeMiB: 16, fat: 16 }] }).partitions[0];
  const hd = Buffer.alloc(42);
  hd.writeUInt8(4, 0); hd.writeUInt8(1, 1); hd.writeUInt16LE(42, 2);
  hd.writeUInt32LE(1, 4); hd.writeBigUInt64LE(BigInt(info.startLba), 8); hd.writeBigUInt64LE(BigInt(info.sectors), 16);
  Buffer.from(guidBytes(defaultPartitionGuid(1))).copy(hd, 24); hd.writeUInt8(2, 40); hd.writeUInt8(2, 41);
  const name = Buffer.from("\\EFI\\other\\app.efi\0", "utf16le");
  const file = Buffer.concat([Buffer.from([4, 4, (4 + name.length) & 0xff, (4 + name.length) >> 8]), name]);
  const path = Buffer.concat([hd, file, Buffer.from([0x7f, 0xff, 4, 0])]);
  const desc = Buffer.from("Other\0", "utf16le");
  const data = Buffer.from("status=5\0", "utf16le");
  const head = Buffer.alloc(6); head.writeUInt32LE(1, 0); head.writeUInt16LE(path.length, 4);
  const option = Buffer.concat([head, desc, path, data]);
  const g = c.bytes(guidBytes(GUIDS.GLOBAL_VARIABLE));
  is(c.call("RT.SetVariable", c.ucs2("Boot0003"), g, 7n, BigInt(option.length), c.bytes(option)), "SUCCESS");
  is(c.call("RT.SetVariable", c.ucs2("BootOrder"), g, 7n, 4n, c.bytes(Uint8Array.of(9, 0, 3, 0))), "SUCCESS", "Boot0009 does not exist");
  const h = c.m.loadBootOption();
  const size = c.cell(2n), out = c.buf(2);
  is(c.call("RT.GetVariable", c.ucs2("BootCurrent"), g, 0n, size, out), "SUCCESS");
  assert.is(c.m.fw.ramView.getUint16(Number(out), true), 3);
  const ending = c.m.start(h);
  assert.is(ending.kind, "returned");
  assert.is(statusName((ending as { status: bigint }).status), "BUFFER_TOO_SMALL", "exitcode.efi returns error 5, as its LoadOptions (the option's data) say");
  is(c.call("RT.SetVariable", c.ucs2("BootCurrent"), g, 6n, 2n, c.bytes(Uint8Array.of(1, 0))), "WRITE_PROTECTED", "BootCurrent is the firmware's");
  c.close();
});

test("nothing to boot: a disk without an ESP loader is a load error naming what was tried", () => {
  const bare = join(dir, "bare.img");
  makeDisk(bare, { table: "mbr", partitions: [{ type: "basic", sizeMiB: 1, fat: 12, files: { "/x.txt": new Uint8Array(1) } }] });
  const r = runImage(undefined, { disks: [bare] });
  assert.is(r.ending.kind, "error");
  assert.match((r.ending as { error: string }).error, /nothing to boot.*BOOTX64\.EFI/);
});

test("MBR: an extended partition's logical partitions (EBR chain) get handles 5, 6, ... and file systems", () => {
  const img = join(dir, "extended.img");
  writeFileSync(img, new Uint8Array(16 << 20));
  tool("sfdisk", ["-q", img], "label: dos\nlabel-id: 0x12345678\nstart=2048, size=4096, type=c\nstart=6144, type=5\nsize=4096, type=c\nsize=4096, type=83\n");
  const layout = JSON.parse(tool("sfdisk", ["--json", img]).toString()).partitiontable.partitions as { node: string; start: number; size: number }[];
  const logical = layout.find((p) => p.node.endsWith("5"))!;
  tool("mkfs.fat", ["-F", "12", "--offset", String(logical.start), "-n", "LOGICAL", img, String(logical.size / 2)]);
  tool("mcopy", ["-i", `${img}@@${logical.start * SECTOR}`, "-", "::/in-logical.txt"], "inside an extended partition\n");
  const fs = new Fs(img);
  const paths = fs.handles("BLOCK_IO_PROTOCOL").map((h) => fs.text(h));
  assert.equal(paths.slice(1), [
    "PciRoot(0x0)/Pci(0x4,0x0)/HD(1,MBR,0x12345678,0x800,0x1000)",
    `PciRoot(0x0)/Pci(0x4,0x0)/HD(5,MBR,0x12345678,0x${logical.start.toString(16)},0x${logical.size.toString(16)})`,
    "PciRoot(0x0)/Pci(0x4,0x0)/HD(6,MBR,0x12345678,0x3800,0x1000)",
  ], "the primary, then the logical partitions; the extended container itself has no handle");
  const [volume] = fs.handles(SFS);
  const f = fs.open(fs.root(volume), "IN-LOGICAL.TXT");
  is(f.status, "SUCCESS");
  assert.is(new TextDecoder().decode(fs.read(f.file, 100).data), "inside an extended partition\n");
  fs.close();
});

test("GPT: a primary header that fails its CRC falls back to the backup header", () => {
  const broken = join(dir, "backup.img");
  copyFileSync(image, broken);
  const fd = openSync(broken, "r+");
  writeSync(fd, Buffer.from([0xff]), 0, 1, SECTOR + 90); // in the primary header's reserved bytes
  closeSync(fd);
  const fs = new Fs(broken);
  assert.is(fs.handles("BLOCK_IO_PROTOCOL").length, 4);
  assert.is(fs.handles(SFS).length, 2);
  fs.close();
});

test("writable disks: BlockIo writes reach the image only when committed, atomically", () => {
  const w = join(dir, "writable.img");
  copyFileSync(image, w);
  const before = readFileSync(w);
  const fs = new Fs(w, true);
  const bio = fs.iface(fs.handles("BLOCK_IO_PROTOCOL")[2], "BLOCK_IO_PROTOCOL"); // the raw partition
  const data = fs.c.bytes(new Uint8Array(SECTOR).fill(0x5a));
  is(fs.c.call("BlockIo.WriteBlocks", bio, 0n, 3n, BigInt(SECTOR), data), "SUCCESS");
  const back = fs.c.buf(SECTOR);
  is(fs.c.call("BlockIo.ReadBlocks", bio, 0n, 3n, BigInt(SECTOR), back), "SUCCESS");
  assert.is(fs.c.m.fw.ram[Number(back) + 100], 0x5a, "read back from the overlay");
  assert.ok(readFileSync(w).equals(before), "the image is untouched until the commit");
  fs.c.m.commitDisks();
  const after = readFileSync(w);
  const at = (facts.partitions[1].startLba + 3) * SECTOR;
  assert.is(after[at + 100], 0x5a);
  after.fill(0, at, at + SECTOR);
  before.fill(0, at, at + SECTOR);
  assert.ok(after.equals(before), "nothing else changed");
  fs.close();
});

test("FAT writes on a writable disk: create, write, make folders, truncate, delete; fsck.fat and mtools agree", () => {
  const w = join(dir, "fatwrite.img");
  copyFileSync(image, w);
  const fs = new Fs(w, true);
  const c = fs.c;
  const root = fs.root(fs.handles(SFS)[0]);
  const vol = fs.info(root, "FILE_SYSTEM_INFO");
  assert.is(c.m.fw.ram[Number(vol.at + BigInt(FILE_SYSTEM_INFO.fields.find((x) => x.name === "ReadOnly")!.offset))], 0);
  const CREATE = 0x8000000000000003n;
  // A new file with a long name, written in pieces across clusters.
  const text = Uint8Array.from({ length: 10_000 }, (_, i) => 0x41 + (i % 26));
  const made = fs.open(root, "A New Long File.txt", CREATE);
  is(made.status, "SUCCESS");
  for (let at = 0; at < text.length; at += 3000) {
    const piece = text.subarray(at, at + 3000);
    const size = c.cell(BigInt(piece.length));
    is(c.scoped(() => c.call("File.Write", made.file, size, c.bytes(piece))), "SUCCESS");
    assert.is(c.u64(size), BigInt(piece.length));
  }
  is(c.call("File.Close", made.file), "SUCCESS");
  // A folder and an 8.3 lower-case file in it; a second create of the folder opens it.
  const folder = fs.open(root, "newdir", CREATE, 0x10n);
  is(folder.status, "SUCCESS");
  const inner = fs.open(folder.file, "a.txt", CREATE);
  is(inner.status, "SUCCESS");
  is(c.call("File.Write", inner.file, c.cell(5n), c.bytes(new TextEncoder().encode("hello"))), "SUCCESS");
  // The new file reads back through the firmware too.
  is(c.call("File.SetPosition", inner.file, 0n), "SUCCESS");
  assert.is(new TextDecoder().decode(fs.read(inner.file, 100).data), "hello");
  is(c.call("File.Close", inner.file), "SUCCESS");
  // Truncate deep.bin to 1000 bytes through SetInfo.
  const deep = fs.open(root, "dir\\sub\\deep.bin", 3n).file;
  const info = fs.info(deep);
  c.setU64(info.at + BigInt(FILE_INFO.fields.find((x) => x.name === "FileSize")!.offset), 1000n);
  is(c.call("File.SetInfo", deep, fs.guid("FILE_INFO"), info.size, info.at), "SUCCESS");
  is(c.call("File.Close", deep), "SUCCESS");
  // Delete read.me; a folder with something in it stays.
  is(c.call("File.Delete", fs.open(root, "read.me", 3n).file), "SUCCESS");
  is(c.call("File.Delete", fs.open(root, "newdir", 3n).file), "WARN_DELETE_FAILURE");
  is(fs.open(root, "read.me").status, "NOT_FOUND");
  // Rename through SetInfo: in place, then into a folder; a folder moved under another
  // (its ".." follows, which fsck.fat checks); a name that exists is ACCESS_DENIED.
  const setName = (file: bigint, name: string) => c.scoped(() => {
    const i = fs.info(file);
    const head = c.m.fw.ram.slice(Number(i.at), Number(i.at) + 80);
    const text = Buffer.from(name + "\0", "utf16le");
    const buf = c.bytes(Buffer.concat([head, text]));
    c.setU64(buf, BigInt(80 + text.length));
    return c.call("File.SetInfo", file, fs.guid("FILE_INFO"), BigInt(80 + text.length), buf);
  });
  const moving = fs.open(root, "A New Long File.txt", 3n).file;
  is(setName(moving, "Renamed Long File.txt"), "SUCCESS");
  is(setName(moving, "newdir\\moved.txt"), "SUCCESS");
  is(c.call("File.Close", moving), "SUCCESS");
  const sub2 = fs.open(root, "newdir", 3n).file;
  is(setName(sub2, "\\dir\\newdir2"), "SUCCESS");
  is(c.call("File.Close", sub2), "SUCCESS");
  is(setName(fs.open(root, "dir\\sub\\deep.bin", 3n).file, "..\\newdir2\\a.txt"), "ACCESS_DENIED", "the target exists");
  // A read-only handle may not write; a folder is not written to.
  const ro = fs.open(root, "dir\\newdir2\\moved.txt").file;
  is(c.call("File.Write", ro, c.cell(1n), c.buf(1)), "ACCESS_DENIED");
  is(c.call("File.Write", folder.file, c.cell(1n), c.buf(1)), "UNSUPPORTED");
  c.m.commitDisks();
  fs.close();
  // Debian's tools on the committed image: a clean file system with exactly those changes.
  const at = `${w}@@${facts.partitions[0].startLba * SECTOR}`;
  assert.is(tool("mtype", ["-i", at, "::/dir/newdir2/moved.txt"]).toString(), new TextDecoder().decode(text));
  assert.is(tool("mtype", ["-i", at, "::/dir/newdir2/a.txt"]).toString(), "hello");
  assert.not.match(tool("mdir", ["-i", at, "-b", "::/"]).toString(), /Long File|newdir/);
  const deepBack = tool("mtype", ["-i", at, "::/dir/sub/deep.bin"]);
  assert.ok(deepBack.equals(Buffer.from(DEEP.subarray(0, 1000))), "deep.bin cut to 1000 bytes");
  assert.not.match(tool("mdir", ["-i", at, "::/"]).toString(), /read\s+me/i);
  const part = join(dir, "fatwrite.part");
  const img = readFileSync(w);
  writeFileSync(part, img.subarray(facts.partitions[0].startLba * SECTOR, (facts.partitions[0].startLba + facts.partitions[0].sectors) * SECTOR));
  tool("fsck.fat", ["-n", part]); // exits non-zero on any inconsistency
});

test("FAT32 writes (FSInfo set to unknown, a root that grows by clusters): fsck.fat finds the volume clean", () => {
  const w = join(dir, "fat32.img");
  const f32 = makeDisk(w, { table: "gpt", partitions: [{ type: "esp", sizeMiB: 40, fat: 32, files: { "/keep.txt": new Uint8Array(10) } }] });
  const fs = new Fs(w, true);
  const c = fs.c;
  const root = fs.root(fs.handles(SFS)[0]);
  // 150 long names: more entries than one 512-byte cluster of the root holds.
  for (let i = 0; i < 150; i++) {
    c.scoped(() => {
      const f = fs.open(root, `Some Long Name Number ${i}.data`, 0x8000000000000003n);
      is(f.status, "SUCCESS", `file ${i}`);
      is(c.call("File.Write", f.file, c.cell(2000n), c.buf(2000)), "SUCCESS");
      is(c.call("File.Close", f.file), "SUCCESS");
    });
  }
  c.m.commitDisks();
  fs.close();
  const p = f32.partitions[0];
  const part = join(dir, "fat32.part");
  writeFileSync(part, readFileSync(w).subarray(p.startLba * SECTOR, (p.startLba + p.sectors) * SECTOR));
  tool("fsck.fat", ["-n", part]);
  const listing = tool("mdir", ["-i", `${w}@@${p.startLba * SECTOR}`, "-b", "::/"]).toString();
  assert.is(listing.split("\n").filter((l) => /Some Long Name Number \d+\.data/.test(l)).length, 150);
});

test("an --esp folder with --disk-writable: what the guest writes, makes and deletes goes back into the folder when it ends; untouched files are not rewritten; read-only, nothing changes", () => {
  const folder = join(dir, "esp-folder");
  mkdirSync(join(folder, "EFI", "old"), { recursive: true });
  writeFileSync(join(folder, "EFI", "seed"), "old seed");
  writeFileSync(join(folder, "EFI", "old", "gone.txt"), "to be deleted");
  writeFileSync(join(folder, "keep.bin"), Buffer.alloc(9000, 7));
  const keptAt = statSync(join(folder, "keep.bin")).mtimeMs;
  const guestWrites = (writable: boolean) => {
    const c = new ServiceCaller({ ramMiB: 64, disks: [espFromDir(folder, writable)] });
    const fs = new Fs(undefined, false, c);
    const root = fs.root(fs.handles(SFS)[0]);
    const made = fs.open(root, "EFI\\new file.txt", 0x8000000000000003n);
    is(made.status, writable ? "SUCCESS" : "WRITE_PROTECTED");
    if (writable) {
      is(c.call("File.Write", made.file, c.cell(5n), c.bytes(new TextEncoder().encode("fresh"))), "SUCCESS");
      is(fs.open(root, "EFI\\made", 0x8000000000000003n, 0x10n).status, "SUCCESS");
      const seed = fs.open(root, "EFI\\seed", 3n).file;
      is(c.call("File.Write", seed, c.cell(3n), c.bytes(new TextEncoder().encode("new"))), "SUCCESS");
      is(c.call("File.Delete", fs.open(root, "EFI\\old\\gone.txt", 3n).file), "SUCCESS");
      is(c.call("File.Delete", fs.open(root, "EFI\\old", 3n).file), "SUCCESS");
      assert.ok(existsSync(join(folder, "EFI", "old", "gone.txt")), "nothing reaches the folder during the run");
    }
    c.m.commitDisks();
    c.close();
  };
  guestWrites(false);
  assert.is(readFileSync(join(folder, "EFI", "seed"), "utf8"), "old seed", "read-only: the folder is untouched");
  guestWrites(true);
  assert.is(readFileSync(join(folder, "EFI", "seed"), "utf8"), "new seed");
  assert.is(readFileSync(join(folder, "EFI", "new file.txt"), "utf8"), "fresh");
  assert.ok(statSync(join(folder, "EFI", "made")).isDirectory());
  assert.not.ok(existsSync(join(folder, "EFI", "old")), "the deleted file and folder are gone");
  assert.ok(readFileSync(join(folder, "keep.bin")).equals(Buffer.alloc(9000, 7)));
  assert.is(statSync(join(folder, "keep.bin")).mtimeMs, keptAt, "an untouched file is not rewritten");
  assert.equal(readdirSync(join(folder, "EFI")).filter((n) => n.includes("ueficorn")), [], "no temporary file left");
});

test("the host's FAT reader (host/fat-read.ts) lists what Debian's mkfs.fat and mcopy put on a GPT disk, names and bytes", () => {
  const fd = openSync(image, "r");
  try {
    const tree = readFatTree((offset, length) => {
      const out = new Uint8Array(length);
      readSync(fd, out, 0, length, offset);
      return out;
    });
    assert.equal([...tree.keys()].sort(), ["EFI", "EFI/BOOT", "EFI/BOOT/BOOTX64.EFI", "Long Mixed Name.txt", "dir", "dir/sub", "dir/sub/deep.bin", "empty", "read.me"]);
    const file = (p: string) => {
      const n = tree.get(p)!;
      return n.dir ? undefined : Buffer.from(n.bytes());
    };
    assert.ok(file("dir/sub/deep.bin")!.equals(Buffer.from(DEEP)), "300,000 bytes across clusters");
    assert.ok(file("EFI/BOOT/BOOTX64.EFI")!.equals(readFileSync(HELLO)));
    assert.is(file("Long Mixed Name.txt")!.toString(), LONG_TEXT);
    assert.is(file("empty")!.length, 0);
  } finally {
    closeSync(fd);
  }
});

test("a disk image that is not whole sectors is refused with its size", () => {
  const odd = join(dir, "odd.img");
  writeFileSync(odd, new Uint8Array(1000));
  assert.throws(() => openDisk(odd, false), /whole number of 512-byte sectors; this one is 1000 bytes/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
