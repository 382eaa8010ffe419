// One positioned read loop: readSync may return fewer bytes than asked (a pipe, a
// network file system, a signal), so every reader of a file region loops until it has
// them all or the file ends. Each caller says what a file that ends early means.
import { readSync } from "node:fs";

/** Fills `out` from file offset `position` of `fd` as far as the file goes; returns the bytes read (fewer than out.length only at the file's end). */
export function readAt(fd: number, out: Uint8Array, position: number): number {
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
