// The machine's disks: what the firmware's Block I/O reads through the host (firmware
// imports disk_read/disk_write). A disk is a source of sectors (a raw image file, or a
// FAT volume made from a host folder: host/fat-image.ts) and, when writable, an overlay
// of the blocks the guest wrote. The source is never written during the run: commit()
// writes the overlay into a copy of the image and renames it over the original, so the
// user's image is either as it was or as the guest left it, never half-written.
import { closeSync, copyFileSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, renameSync, rmdirSync, rmSync, writeSync } from "node:fs";
import { readAt } from "./read-at.ts";
import { basename, dirname, join } from "node:path";
import { DiskError } from "./errors.ts";
import { fatImageFromDir, FatImageError } from "./fat-image.ts";
import { readFatTree, FatReadError, type FatTree } from "./fat-read.ts";

/** 512-byte sectors, the only block size offered (as virtio-blk's default). */
export const SECTOR = 512;
/** Overlay granule: a written byte range dirties whole chunks. */
const CHUNK = 4096;

/** Where a disk's bytes come from. */
export interface DiskSource {
  /** Bytes; a whole number of sectors. */
  readonly bytes: number;
  /** Fill `out` with the bytes at `offset`. */
  read(offset: number, out: Uint8Array): void;
  close?(): void;
}

/** The overlay chunks bytes [offset, offset + length) fall in: chunk, offset within it, bytes there, bytes before. */
function* spans(offset: number, length: number): Generator<[number, number, number, number]> {
  for (let done = 0; done < length;) {
    const chunk = Math.floor((offset + done) / CHUNK);
    const within = offset + done - chunk * CHUNK;
    const n = Math.min(CHUNK - within, length - done);
    yield [chunk, within, n, done];
    done += n;
  }
}

export class Disk {
  private readonly overlay = new Map<number, Uint8Array>();

  /**
   * Where commit() saves what the guest wrote: `path`, the image file it replaces, or
   * `folder`, the host folder a FAT volume was made from (fat-image.ts), whose files it
   * changes as the guest changed the volume's.
   */
  constructor(readonly name: string, private readonly source: DiskSource, readonly writable: boolean, private readonly path?: string, private readonly folder?: string) {
    if (!source.bytes || source.bytes % SECTOR) throw new DiskError(name, `a disk is a whole number of ${SECTOR}-byte sectors; this one is ${source.bytes} bytes`);
  }

  get sectors(): number { return this.source.bytes / SECTOR; }
  get dirty(): boolean { return this.overlay.size > 0; }

  /** Bytes [offset, offset + out.length) into out; false when the range is outside the disk. */
  read(offset: number, out: Uint8Array): boolean {
    if (offset < 0 || offset + out.length > this.source.bytes) return false;
    if (!this.overlay.size) {
      this.source.read(offset, out);
      return true;
    }
    for (const [chunk, within, n, done] of spans(offset, out.length)) {
      const o = this.overlay.get(chunk);
      if (o) out.set(o.subarray(within, within + n), done);
      else this.source.read(offset + done, out.subarray(done, done + n));
    }
    return true;
  }

  /** Write into the overlay; false when read-only or outside the disk. */
  write(offset: number, data: Uint8Array): boolean {
    if (!this.writable || offset < 0 || offset + data.length > this.source.bytes) return false;
    for (const [chunk, within, n, done] of spans(offset, data.length)) {
      let o = this.overlay.get(chunk);
      if (!o) {
        o = new Uint8Array(Math.min(CHUNK, this.source.bytes - chunk * CHUNK));
        this.source.read(chunk * CHUNK, o);
        this.overlay.set(chunk, o);
      }
      o.set(data.subarray(done, done + n), within);
    }
    return true;
  }

  /**
   * Make what the guest wrote permanent, atomically: a copy of the image (a reflink where
   * the file system has them) takes the overlay and is fsynced, then renamed over the image.
   */
  commit(): void {
    if (!this.dirty) return;
    if (this.folder) return this.commitFolder(this.folder);
    if (!this.path) return;
    const tmp = join(dirname(this.path), `.${basename(this.path)}.ueficorn-${process.pid}.tmp`);
    try {
      copyFileSync(this.path, tmp, constants.COPYFILE_FICLONE);
      const fd = openSync(tmp, "r+");
      try {
        for (const [chunk, bytes] of this.overlay) writeSync(fd, bytes, 0, bytes.length, chunk * CHUNK);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new DiskError(this.name, `saving what the guest wrote failed; the image is unchanged (${(e as Error).message})`);
    }
    this.overlay.clear();
  }

  /**
   * A folder's volume: the tree the guest left is compared with the one it was given, and
   * the differences are made in the folder: new folders, then each new or changed file
   * written beside itself, fsynced and renamed over (a file is as it was or as the guest
   * left it, never half-written), then what the guest deleted. Both trees are read whole
   * first: a volume the host cannot read changes nothing. Files the guest did not touch
   * are not rewritten, so host edits to them during the run stay.
   */
  private commitFolder(folder: string): void {
    const tree = (read: (offset: number, out: Uint8Array) => unknown): FatTree => readFatTree((offset, length) => {
      const out = new Uint8Array(length);
      read(offset, out);
      return out;
    });
    let before: FatTree, after: FatTree;
    try {
      before = tree((o, out) => this.source.read(o, out));
      after = tree((o, out) => this.read(o, out));
    } catch (e) {
      if (!(e instanceof FatReadError)) throw e;
      throw new DiskError(this.name, `what the guest left is not a FAT volume the host can read (${e.message}); the folder is unchanged`);
    }
    const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
    const changed = [...after].filter(([p, n]) => {
      const was = before.get(p);
      if (n.dir) return !was?.dir;
      return !was || was.dir || was.size !== n.size || !same(was.bytes(), n.bytes());
    });
    const gone = [...before].filter(([p, n]) => !after.has(p) || after.get(p)!.dir !== n.dir).map(([p, n]) => [p, n.dir] as const);
    let done = 0;
    try {
      for (const [p, n] of changed) if (n.dir) mkdirSync(join(folder, p), { recursive: true });
      for (const [p, n] of changed) {
        if (n.dir) continue;
        const target = join(folder, p);
        const tmp = join(dirname(target), `.${basename(target)}.ueficorn-${process.pid}.tmp`);
        try {
          const fd = openSync(tmp, "w");
          try {
            const bytes = n.bytes();
            for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
          renameSync(tmp, target);
        } catch (e) {
          rmSync(tmp, { force: true });
          throw e;
        }
        done++;
      }
      // Deepest first, so that a folder is empty when its turn comes.
      for (const [p, dir] of gone.sort(([a], [b]) => b.length - a.length)) {
        if (dir) rmdirSync(join(folder, p));
        else rmSync(join(folder, p));
        done++;
      }
    } catch (e) {
      throw new DiskError(this.name, `saving what the guest wrote into the folder stopped after ${done} of ${changed.length + gone.length} changes (${(e as Error).message}); each file is whole, as it was or as the guest left it`);
    }
    this.overlay.clear();
  }

  close(): void {
    this.source.close?.();
  }
}

/** A raw image file as a disk source (read with pread; the file is only opened for reading). */
export function imageFile(path: string): DiskSource {
  const fd = openSync(path, "r");
  const bytes = fstatSync(fd).size;
  return {
    bytes,
    read(offset, out) {
      const got = readAt(fd, out, offset);
      if (got < out.length) throw new DiskError(path, `the file ended at byte ${offset + got} of ${bytes} (changed while in use?)`);
    },
    close: () => closeSync(fd),
  };
}

/** `--disk PATH`: the image, read-only unless `writable` (then committed by Disk.commit). */
export function openDisk(path: string, writable: boolean): Disk {
  const source = imageFile(path);
  try {
    return new Disk(path, source, writable, path);
  } catch (e) {
    source.close?.();
    throw e;
  }
}

/**
 * `--esp DIR`: the folder as the FAT file system of an ESP on a GPT disk (host/fat-image.ts).
 * Writable, what the guest changes on it (a loader's random seed, its saved state, files
 * it writes) goes back into the folder when the guest ends by itself (Disk.commit).
 */
export function espFromDir(dir: string, writable = false): Disk {
  try {
    return new Disk(dir, fatImageFromDir(dir, { table: "gpt" }), writable, undefined, dir);
  } catch (e) {
    if (e instanceof FatImageError) throw new DiskError(dir, e.message);
    throw e;
  }
}
