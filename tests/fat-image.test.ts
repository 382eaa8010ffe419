// A host folder as a FAT disk (host/fat-image.ts), checked with Debian's own tools:
// dosfstools' fsck.fat finds nothing to fix, mtools lists every name and reads every byte
// back, and fdisk's sfdisk reads the GPT. Folders are made under os.tmpdir() and removed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as zlib from "node:zlib";
import { fatImageFromDir, FatImageError, type FatImage, type FatImageOptions } from "../host/fat-image.ts";
import { tableCrc32 } from "../host/crc32.ts";
import { mulberry32 } from "./prng.ts";

const SECTOR = 512;
/** Every file and folder's mtime; FAT keeps it to 2 s, and the image writes UTC (mtools runs with TZ=UTC). */
const FILE_TIME = new Date("2024-05-06T07:08:10Z");
const TOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: "1", TZ: "UTC", LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };

const temps: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "ueficorn-fat-"));
  temps.push(d);
  return d;
}
test.after(() => { for (const d of temps) rmSync(d, { recursive: true, force: true }); });

function randomBytes(seed: number, n: number): Uint8Array {
  const next = mulberry32(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (next() * 256) | 0;
  return b;
}

/** Files (relative path -> bytes) into root, then every mtime set to FILE_TIME, folders last. */
function makeTree(root: string, files: Record<string, Uint8Array>): void {
  const dirs = new Set<string>([root]);
  for (const [rel, bytes] of Object.entries(files)) {
    const path = join(root, rel);
    for (let d = dirname(path); d.length > root.length; d = dirname(d)) dirs.add(d);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    utimesSync(path, FILE_TIME, FILE_TIME);
  }
  for (const d of [...dirs].sort().reverse()) utimesSync(d, FILE_TIME, FILE_TIME);
}

/** Bytes [from, to) of the image into a new file, read 1 MiB at a time; zero MiBs are left as holes. */
function writeImage(img: FatImage, file: string, from = 0, to = Number(img.sectors) * SECTOR): void {
  const fd = openSync(file, "w");
  const chunk = new Uint8Array(1 << 20), zero = new Uint8Array(1 << 20);
  for (let o = from; o < to; o += chunk.length) {
    const c = chunk.subarray(0, Math.min(chunk.length, to - o));
    img.read(o, c);
    if (Buffer.compare(c, zero.subarray(0, c.length)) !== 0) writeSync(fd, c, 0, c.length, o - from);
  }
  ftruncateSync(fd, to - from);
  closeSync(fd);
}

function run(cmd: string, args: string[]): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { env: TOOLS_ENV, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** fsck.fat -n: reports and changes nothing; status 0 means it found nothing to fix. */
function assertFsckClean(file: string): string {
  const r = run("fsck.fat", ["-n", "-v", file]);
  const out = r.stdout.toString();
  assert.is(r.status, 0, out + r.stderr);
  return out;
}

/** mtools lists every path (folders with a trailing "/") and reads each file's bytes back (not those only listed). */
function assertSameFiles(image: string, files: Record<string, Uint8Array>, listedOnly: string[] = []): void {
  const listed = run("mdir", ["-i", image, "-/", "-b", "::/"]).stdout.toString().trim().split("\n").map((l) => l.slice(3)).sort();
  const want = new Set<string>();
  for (const rel of [...Object.keys(files), ...listedOnly]) {
    want.add(rel);
    for (let d = dirname(rel); d !== "."; d = dirname(d)) want.add(d + "/");
  }
  assert.equal(listed, [...want].sort());
  for (const [rel, bytes] of Object.entries(files)) {
    const r = run("mcopy", ["-n", "-i", image, `::/${rel}`, "-"]);
    assert.is(r.status, 0, `${rel}: ${r.stderr}`);
    assert.ok(Buffer.compare(r.stdout, bytes) === 0, `${rel}: ${r.stdout.length} bytes back, ${bytes.length} on the host`);
  }
}

const LONG_255 = "x".repeat(250) + ".long";

function sampleFiles(): Record<string, Uint8Array> {
  const text = (s: string) => new TextEncoder().encode(s);
  const files: Record<string, Uint8Array> = {
    "EFI/BOOT/BOOTX64.EFI": randomBytes(1, 64 << 10),
    "EFI/BOOT/grubx64.efi": randomBytes(2, 5000),
    "A Long Mixed-Case File Name.txt": text("long\n"),
    "Mixed.Txt": text("mixed\n"),
    "README": text("no extension\n"),
    ".hidden": text("dot\n"),
    "héllo wörld ☃.txt": text("unicode\n"),
    [LONG_255]: text("255 UTF-16 units\n"),
    "empty.dat": new Uint8Array(0),
    "boot/initrd.img": randomBytes(3, 3 << 20),
    "a/b/c/deep.txt": text("deep\n"),
    "a/b/empty/.keep": new Uint8Array(0),
  };
  // 200 long names: 3 entries each, 19 KiB of directory (5 clusters), tails past ~9 and ~99.
  for (let i = 0; i < 200; i++) files[`many/file-number-${i}.txt`] = text(`${i}\n`);
  return files;
}

test("a folder as FAT16: fsck.fat finds nothing to fix, mtools lists every name and reads every byte back", () => {
  const dir = tempDir(), image = join(tempDir(), "esp.img");
  const files = sampleFiles();
  makeTree(dir, files);
  const img = fatImageFromDir(dir, { label: "ueficorn" });
  assert.is(img.fatType, "FAT16");
  writeImage(img, image);
  img.close();
  const fsck = assertFsckClean(image);
  assert.match(fsck, /4096 bytes per cluster/);
  assertSameFiles(image, files);

  const root = run("mdir", ["-i", image, "::/"]).stdout.toString();
  assert.match(root, /Volume in drive : is UEFICORN/);
  assert.match(root, /^ALONGM~1 TXT +5 2024-05-06 +7:08 +A Long Mixed-Case File Name\.txt$/m); // alias and long name
  assert.match(root, /^MIXED +TXT +6 .* Mixed\.Txt$/m); // an 8.3 name in mixed case: a long name, no tail
  assert.match(root, /^README +13 2024-05-06 +7:08 *$/m); // upper case 8.3: the short name alone
  assert.match(root, /^HIDDEN~1 +4 .* \.hidden$/m);
  assert.match(root, /^H_LLOW~1 TXT .* héllo wörld ☃\.txt$/m);
  assert.match(root, /^XXXXXX~1 LON .* x{250}\.long$/m);
  const boot = run("mdir", ["-i", image, "::/EFI/BOOT"]).stdout.toString();
  assert.match(boot, /^BOOTX64 +EFI +65536 2024-05-06 +7:08 *$/m);
  assert.match(boot, /^grubx64 +efi +5000 .*\d *$/m); // lower case from DIR_NTRes, no long name
  // Tails in name order (0, 1, 10, 100, ...), the basis cut to make room for more digits.
  const many = run("mdir", ["-i", image, "::/many"]).stdout.toString();
  const order = Object.keys(files).filter((p) => p.startsWith("many/")).map((p) => p.slice(5)).sort();
  assert.match(many, new RegExp(`^FILE-N~9 TXT .* ${order[8]}$`, "m"));
  assert.match(many, new RegExp(`^FILE-~10 TXT .* ${order[9]}$`, "m"));
  assert.match(many, new RegExp(`^FILE~100 TXT .* ${order[99]}$`, "m"));
});

test("read: any range gives the bytes of the whole image at that range; close leaves no file open", () => {
  const dir = tempDir(), image = join(tempDir(), "esp.img");
  makeTree(dir, sampleFiles());
  const openFds = () => readdirSync("/proc/self/fd").length;
  const fdsBefore = openFds();
  const img = fatImageFromDir(dir, { table: "gpt" });
  writeImage(img, image); // reads all 200-odd files: at most 16 stay open
  const whole = readFileSync(image);
  const next = mulberry32(7);
  for (let i = 0; i < 2000; i++) {
    const offset = Math.floor(next() * whole.length);
    const out = new Uint8Array(Math.min(whole.length - offset, Math.floor(next() * 3 * 4096)));
    img.read(offset, out);
    assert.ok(Buffer.compare(out, whole.subarray(offset, offset + out.length)) === 0, `[${offset}, +${out.length})`);
  }
  assert.throws(() => img.read(whole.length - 1, new Uint8Array(2)), RangeError);
  assert.ok(openFds() - fdsBefore <= 16, `${openFds() - fdsBefore} files open`);
  img.close();
  assert.is(openFds(), fdsBefore);
});

test("table gpt: a protective MBR and a GPT that sfdisk verifies, the ESP at LBA 2048, the same GUIDs for the same folder", () => {
  const dir = tempDir(), image = join(tempDir(), "disk.img");
  const files = sampleFiles();
  makeTree(dir, files);
  const img = fatImageFromDir(dir, { table: "gpt" });
  writeImage(img, image);
  const sectors = Number(img.sectors);

  const json = JSON.parse(run("sfdisk", ["--json", image]).stdout.toString()).partitiontable;
  assert.is(json.label, "gpt");
  assert.is(json.partitions.length, 1);
  const esp = json.partitions[0];
  assert.is(esp.start, 2048);
  assert.is(esp.size, sectors - 2048 - 33); // then the backup entries (32 sectors) and header
  assert.is(esp.type, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  const verify = run("sfdisk", ["--verify", image]);
  assert.is(verify.status, 0, verify.stderr);
  assert.match(verify.stdout.toString(), /No errors detected/);
  assert.is(readFileSync(image).subarray(450, 451)[0], 0xee); // the protective record's OSType

  assertSameFiles(`${image}@@1M`, files);
  const volume = join(tempDir(), "volume.img");
  writeImage(img, volume, 2048 * SECTOR, (2048 + esp.size) * SECTOR);
  assert.match(assertFsckClean(volume), /2048 hidden sectors/);

  const again = JSON.parse(run("sfdisk", ["--json", image]).stdout.toString()).partitiontable;
  const twin = fatImageFromDir(dir, { table: "gpt" });
  const twinImage = join(tempDir(), "twin.img");
  writeImage(twin, twinImage);
  assert.ok(Buffer.compare(readFileSync(twinImage), readFileSync(image)) === 0, "two runs, one image");
  const other = tempDir();
  makeTree(other, { "x.txt": new Uint8Array(1) });
  const otherImage = join(tempDir(), "other.img");
  writeImage(fatImageFromDir(other, { table: "gpt" }), otherImage);
  const otherJson = JSON.parse(run("sfdisk", ["--json", otherImage]).stdout.toString()).partitiontable;
  assert.is(again.id, json.id);
  assert.is.not(otherJson.id, json.id);
  assert.is.not(otherJson.partitions[0].uuid, esp.uuid);
  img.close();
  twin.close();
});

test("FAT32 when the content needs more than 65524 clusters (a sparse 300 MiB file), and with minSizeMiB; file data stays on the host", () => {
  const dir = tempDir(), image = join(tempDir(), "esp32.img");
  const files = sampleFiles();
  delete files["boot/initrd.img"];
  makeTree(dir, files);
  writeFileSync(join(dir, "big.img"), "");
  truncateSync(join(dir, "big.img"), 300 << 20);
  utimesSync(join(dir, "big.img"), FILE_TIME, FILE_TIME);
  const before = process.memoryUsage().arrayBuffers;
  const img = fatImageFromDir(dir, { label: "BIG" });
  assert.ok(process.memoryUsage().arrayBuffers - before < 4 << 20, "no file bytes in memory");
  assert.is(img.fatType, "FAT32");
  writeImage(img, image);
  img.close();
  const fsck = assertFsckClean(image);
  assert.match(fsck, /32 bit entries/);
  assert.match(fsck, /Root directory start at cluster 2/);
  assertSameFiles(image, files, ["big.img"]);
  assert.match(run("mdir", ["-i", image, "::/"]).stdout.toString(), /^big +img +314572800 2024-05-06/m);

  const small = tempDir();
  makeTree(small, { "EFI/BOOT/BOOTX64.EFI": randomBytes(4, 1000) });
  const sized = fatImageFromDir(small, { minSizeMiB: 260 });
  assert.is(sized.fatType, "FAT32");
  assert.ok(Number(sized.sectors) * SECTOR >= 260 << 20);
  const sizedImage = join(tempDir(), "sized.img");
  writeImage(sized, sizedImage);
  assertFsckClean(sizedImage);
  assertSameFiles(sizedImage, { "EFI/BOOT/BOOTX64.EFI": randomBytes(4, 1000) });
  assert.is(fatImageFromDir(small).fatType, "FAT16");
});

test("a root with more entries than FAT16's fixed root directory holds (65520) makes FAT32", () => {
  const dir = tempDir(), image = join(tempDir(), "root.img");
  // 3120 names of 255 units take 21 entries each: 65520, and one more file.
  for (let i = 0; i < 3120; i++) writeFileSync(join(dir, String(i).padStart(5, "0") + "r".repeat(250)), "");
  writeFileSync(join(dir, "ONE.TXT"), "1");
  const img = fatImageFromDir(dir);
  assert.is(img.fatType, "FAT32");
  writeImage(img, image);
  assertFsckClean(image);
  assert.is(run("mcopy", ["-n", "-i", image, "::/ONE.TXT", "-"]).stdout.toString(), "1");
  assert.is(run("mdir", ["-i", image, "-b", "::/"]).stdout.toString().trim().split("\n").length, 3121);
});

test("what FAT cannot hold is a FatImageError naming the path", () => {
  const fails = (dir: string, path: string, why: RegExp, options?: FatImageOptions) => {
    try {
      fatImageFromDir(dir, options);
      assert.unreachable("made an image");
    } catch (e) {
      assert.instance(e, FatImageError, (e as Error).stack);
      assert.is((e as FatImageError).path, path);
      assert.match((e as Error).message, why);
    }
  };
  const base = tempDir();
  writeFileSync(join(base, "file"), "x");
  fails(join(base, "file"), join(base, "file"), /not a directory/);
  fails(join(base, "missing"), join(base, "missing"), /no such file/);
  fails(base, base, /label/, { label: "bad:label" });
  fails(base, base, /label/, { label: "TWELVE_CHARS" });

  const one = (name: string, why: RegExp) => {
    const d = tempDir();
    writeFileSync(join(d, name), "x");
    fails(d, join(d, name), why);
  };
  for (const ch of `"*:<>?\\|`) one(`a${ch}b`, /FAT forbids/);
  one("tab\there", /FAT forbids/);
  one("trailing.", /ends in a period/);

  const cased = tempDir();
  writeFileSync(join(cased, "README.txt"), "x");
  writeFileSync(join(cased, "readme.TXT"), "x");
  fails(cased, join(cased, "readme.TXT"), /differ only in case/);

  const dangling = tempDir();
  symlinkSync(join(dangling, "nowhere"), join(dangling, "link"));
  fails(dangling, join(dangling, "link"), /no such file/);
  const loop = tempDir();
  mkdirSync(join(loop, "a"));
  symlinkSync("..", join(loop, "a", "up"));
  fails(loop, join(loop, "a", "up"), /link back/);

  // 3200 names of 255 units: 21 entries each, 67200 in one directory.
  const crowded = tempDir();
  mkdirSync(join(crowded, "sub"));
  for (let i = 0; i < 3200; i++) writeFileSync(join(crowded, "sub", String(i).padStart(5, "0") + "y".repeat(250)), "");
  fails(crowded, join(crowded, "sub"), /too many files/);

  const huge = tempDir();
  writeFileSync(join(huge, "4GiB"), "");
  truncateSync(join(huge, "4GiB"), 2 ** 32);
  fails(huge, join(huge, "4GiB"), /at most 4294967295/);
  // 256 files of 4 GiB - 1 (holes): 2^28 clusters, past FAT32's 2^28 - 16.
  const full = tempDir();
  for (let i = 0; i < 256; i++) {
    writeFileSync(join(full, `part${i}`), "");
    truncateSync(join(full, `part${i}`), 2 ** 32 - 1);
  }
  fails(full, full, /FAT32 holds at most/);
});

test("CRC32: the table-driven fallback is zlib's", () => {
  assert.is(tableCrc32(new TextEncoder().encode("123456789")), 0xcbf43926); // the standard check value
  const z = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (z) for (const n of [0, 1, 92, 16384]) assert.is(tableCrc32(randomBytes(n, n)), z(randomBytes(n, n)));
});

test.run();
