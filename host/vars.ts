// The variable store file (--vars): loaded before the run, saved whenever a
// non-volatile variable changes. Saving is atomic: a temporary file in the same folder,
// fsync, rename over the old one, fsync the folder; a crash mid-write leaves the
// previous store whole.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";

export function readVarStore(path: string): Uint8Array | undefined {
  return existsSync(path) ? readFileSync(path) : undefined;
}

export function writeVarStore(path: string, bytes: Uint8Array): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, "w", 0o644);
    try {
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try { rmSync(tmp, { force: true }); } catch { /* not ours to remove (a directory) */ }
    // The store at `path` is untouched.
    throw e;
  }
  const d = openSync(dir, "r");
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}
