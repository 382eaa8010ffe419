/**
 * Real disk images for the disk, FAT and boot-manager tests, built with Debian's own
 * tools (fdisk's sfdisk, dosfstools' mkfs.fat, mtools' mcopy; scripts/setup.sh installs
 * them), so the firmware is tested against what those tools write, not against what we
 * think they write.
 *
 * Layout, 512-byte sectors (the only size sfdisk and mkfs.fat are asked for here):
 *
 *   gpt, mbr   LBA 0        protective MBR (gpt) or the MBR with up to 4 primaries
 *              LBA 1..33    GPT header and entries (gpt)
 *              LBA 2048     partition 1, then each next partition right after the last
 *                           (every size is whole MiB, so all stay 1 MiB aligned)
 *              last 1 MiB   free; the GPT backup header sits in its last 33 sectors
 *   none       LBA 0        a "superfloppy": one FAT file system fills the image
 *
 * Each FAT file system is made in place (mkfs.fat --offset, with the partition's start
 * LBA as its BPB hidden sectors) and filled with one `mcopy -s -m -i image@@offset` of
 * a staging tree under os.tmpdir(), removed afterwards.
 *
 * Same spec, same bytes: GUIDs and the MBR signature default to fixed values (below),
 * mkfs.fat runs with --invariant (volume ID 1234-ABCD, no time in the boot sector) and
 * every file and folder is stamped FILE_TIME. Give distinct `diskId`s to disks that
 * meet in one machine.
 */
import { execFileSync } from "node:child_process";
import { closeSync, copyFileSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const SECTOR = 512;
const MIB_SECTORS = (1 << 20) / SECTOR;
/** Where the first partition starts (sfdisk's default alignment). */
export const FIRST_LBA = MIB_SECTORS;

/** Each partition kind as a GPT type GUID and an MBR OS type byte. The ESP: UEFI 2.10
 * §5.3.3 (GUID) and §5.2.1 (0xEF); Linux filesystem data: the Discoverable Partitions
 * Specification; Microsoft basic data, and 0x0C, FAT32 with LBA addressing. */
export const PARTITION_TYPES = {
  esp: { gpt: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", mbr: 0xef },
  linux: { gpt: "0fc63daf-8483-4772-8e79-3d69d8477de4", mbr: 0x83 },
  basic: { gpt: "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", mbr: 0x0c },
} as const;

/** Defaults: GPT disk GUID, partition n's GUID (n from 1, in the last 12 digits), MBR disk signature. */
export const DEFAULT_DISK_GUID = "d15c0000-0000-4000-8000-000000000000";
export const defaultPartitionGuid = (n: number) => `d15c0000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
export const DEFAULT_MBR_SIGNATURE = "0xd15c0000";
/** The time of every file and folder (FAT keeps local time; mtools runs with TZ=UTC). */
export const FILE_TIME = new Date("2024-01-01T00:00:00Z");

export interface PartitionSpec {
  type: keyof typeof PARTITION_TYPES;
  /** Whole MiB. */
  sizeMiB: number;
  /** Format with `mkfs.fat -F N`; absent: left unformatted (zeros). mkfs.fat 4.2 with its
   * default cluster size refuses FAT16 below 16 MiB and FAT12 above 128 MiB, and makes a
   * FAT32 below 33 MiB that has fewer than 65525 clusters, which is FAT16 by the spec's
   * count: makeDisk throws for that rather than hand the firmware a mislabelled volume. */
  fat?: 12 | 16 | 32;
  /** FAT volume label (mkfs.fat -n, at most 11 characters). */
  label?: string;
  /** GPT unique partition GUID; default defaultPartitionGuid(index + 1). */
  uuid?: string;
  /** "/EFI/BOOT/BOOTX64.EFI" -> its bytes, or the path of a host file to copy. Folders are
   * made as needed; names may be long and mixed case (mtools adds the VFAT long name). */
  files?: Record<string, Uint8Array | string>;
}

export interface DiskSpec {
  /** "none": no table, the one partition's FAT file system is the whole image. */
  table: "gpt" | "mbr" | "none";
  partitions: PartitionSpec[];
  /** Default: 1 MiB before, the partitions, 1 MiB after. */
  sizeMiB?: number;
  /** GPT disk GUID, or the MBR disk signature as "0x" and 8 hex digits. */
  diskId?: string;
}

export interface DiskImage {
  /** Image size in sectors. */
  sectors: number;
  /** GPT disk GUID (lower case), MBR disk signature ("0x12345678"), "" for "none". */
  diskId: string;
  /** As `sfdisk --json` reads them back; `type` is the GPT type GUID (lower case), the
   * MBR type byte in hex ("ef") or "none"; `uuid` only on GPT. */
  partitions: { startLba: number; sectors: number; type: string; uuid?: string }[];
}

/** Build the image at `path` (overwritten) and read its partition table back. */
export function makeDisk(path: string, spec: DiskSpec): DiskImage {
  const parts = spec.partitions;
  if (spec.table === "none" && parts.length !== 1) throw new Error(`a superfloppy ("none") holds exactly one file system, not ${parts.length}`);
  if (spec.table === "mbr" && parts.length > 4) throw new Error(`an MBR holds 4 primary partitions, not ${parts.length}`);
  for (const p of parts) {
    if (!Number.isInteger(p.sizeMiB) || p.sizeMiB < 1) throw new Error(`partition size ${p.sizeMiB} MiB: whole MiB only`);
    if (spec.table === "none" && !p.fat) throw new Error(`a superfloppy needs a file system (fat: 12, 16 or 32)`);
  }

  const sum = parts.reduce((s, p) => s + p.sizeMiB, 0);
  const sizeMiB = spec.sizeMiB ?? (spec.table === "none" ? sum : sum + 2);
  const starts: number[] = [];
  let lba = spec.table === "none" ? 0 : FIRST_LBA;
  for (const p of parts) { starts.push(lba); lba += p.sizeMiB * MIB_SECTORS; }

  const fd = openSync(path, "w");
  try { ftruncateSync(fd, sizeMiB * 2 ** 20); } finally { closeSync(fd); }   // sparse

  if (spec.table !== "none") {
    const gpt = spec.table === "gpt";
    const script = [
      `label: ${gpt ? "gpt" : "dos"}`,
      `label-id: ${spec.diskId ?? (gpt ? DEFAULT_DISK_GUID : DEFAULT_MBR_SIGNATURE)}`,
      "unit: sectors",
      `sector-size: ${SECTOR}`,
      ...parts.map((p, i) => {
        const t = PARTITION_TYPES[p.type];
        const fields = [`start=${starts[i]}`, `size=${p.sizeMiB * MIB_SECTORS}`];
        if (gpt) fields.push(`type=${t.gpt}`, `uuid=${p.uuid ?? defaultPartitionGuid(i + 1)}`);
        else fields.push(`type=${t.mbr.toString(16)}`);
        return fields.join(", ");
      }),
    ].join("\n") + "\n";
    tool("sfdisk", ["--quiet", "--no-reread", "--no-tell-kernel", path], script);
  }

  parts.forEach((p, i) => { if (p.fat) makeFat(path, starts[i], p); });
  return readBack(path, spec.table, sizeMiB * MIB_SECTORS);
}

function makeFat(image: string, startLba: number, p: PartitionSpec): void {
  const args = ["-F", String(p.fat), "-h", String(startLba), `--offset=${startLba}`, "--mbr=n", "--invariant"];
  if (p.label) args.push("-n", p.label);
  tool("mkfs.fat", [...args, image, String(p.sizeMiB * 1024)]);

  const bpb = Buffer.alloc(SECTOR);
  const fd = openSync(image, "r");
  try { readSync(fd, bpb, 0, SECTOR, startLba * SECTOR); } finally { closeSync(fd); }
  const { type, clusters } = fatType(bpb);
  if (type !== p.fat) throw new Error(`mkfs.fat -F ${p.fat} on ${p.sizeMiB} MiB made ${clusters} clusters, which is FAT${type} by the spec's count: choose another size`);

  const files = Object.entries(p.files ?? {});
  if (files.length === 0) return;
  const folded = new Map<string, string>();
  for (const [name] of files) {
    if (!/^(\/[^/\\]+)+$/.test(name) || name.split("/").some((c) => c === "." || c === "..")) throw new Error(`file name ${JSON.stringify(name)}: want "/FOLDER/NAME"`);
    const other = folded.get(name.toUpperCase());
    if (other) throw new Error(`${other} and ${name} are one name on FAT (case-insensitive)`);
    folded.set(name.toUpperCase(), name);
  }

  const stage = mkdtempSync(join(tmpdir(), "ueficorn-disk-"));
  try {
    for (const [name, content] of files) {
      const dest = join(stage, name);
      mkdirSync(dirname(dest), { recursive: true });
      if (typeof content === "string") copyFileSync(content, dest);
      else writeFileSync(dest, content);
    }
    stamp(stage);
    const top = readdirSync(stage).sort().map((n) => join(stage, n));
    tool("mcopy", ["-s", "-m", "-i", `${image}@@${startLba * SECTOR}`, ...top, "::/"]);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** FAT12, 16 or 32 as Microsoft's FAT specification (§3.5) decides it: by the count of
 * data clusters alone, whatever the BPB's strings say. BPB offsets: BytsPerSec u16 @11,
 * SecPerClus u8 @13, RsvdSecCnt u16 @14, NumFATs u8 @16, RootEntCnt u16 @17, TotSec16
 * u16 @19, FATSz16 u16 @22, TotSec32 u32 @32, FATSz32 u32 @36. */
export function fatType(bootSector: Uint8Array): { type: 12 | 16 | 32; clusters: number } {
  const b = Buffer.from(bootSector.buffer, bootSector.byteOffset, bootSector.byteLength);
  const bytesPerSector = b.readUInt16LE(11);
  const rootSectors = Math.ceil((b.readUInt16LE(17) * 32) / bytesPerSector);
  const fatSectors = b.readUInt16LE(22) || b.readUInt32LE(36);
  const totalSectors = b.readUInt16LE(19) || b.readUInt32LE(32);
  const dataSectors = totalSectors - (b.readUInt16LE(14) + b[16] * fatSectors + rootSectors);
  const clusters = Math.floor(dataSectors / b[13]);
  return { type: clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32, clusters };
}

function stamp(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) stamp(p);
    utimesSync(p, FILE_TIME, FILE_TIME);
  }
  utimesSync(dir, FILE_TIME, FILE_TIME);
}

function readBack(path: string, table: DiskSpec["table"], sectors: number): DiskImage {
  if (table === "none") return { sectors, diskId: "", partitions: [{ startLba: 0, sectors, type: "none" }] };
  interface SfdiskJson { partitiontable: { id: string; partitions: { start: number; size: number; type: string; uuid?: string }[] } }
  const t = (JSON.parse(tool("sfdisk", ["--json", path]).toString()) as SfdiskJson).partitiontable;
  return {
    sectors,
    diskId: t.id.toLowerCase(),
    partitions: t.partitions.map((p) => ({
      startLba: p.start, sectors: p.size, type: p.type.toLowerCase(),
      ...(p.uuid ? { uuid: p.uuid.toLowerCase() } : {}),
    })),
  };
}

/** Run a Debian tool, return its stdout; on failure throw with its command line and its
 * stderr. sfdisk and
 * mkfs.fat live in /usr/sbin, which a user's PATH may lack; mtools runs with TZ=UTC
 * (FILE_TIME stored as is) and MTOOLS_SKIP_CHECK=1 (no geometry checks on image files). */
export function tool(cmd: string, args: string[], input?: string): Buffer {
  try {
    return execFileSync(cmd, args, {
      input, stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin`, TZ: "UTC", MTOOLS_SKIP_CHECK: "1", LC_ALL: "C" },
    });
  } catch (e) {
    const err = e as { status?: number | null; stderr?: Buffer; message: string };
    const why = err.stderr?.toString().trim() || err.message;
    throw new Error(`${cmd} ${args.join(" ")} failed${err.status != null ? ` (exit ${err.status})` : ""}:\n${why}`);
  }
}
