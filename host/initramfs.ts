// An initramfs as the kernel's unpacker reads it: a "newc" cpio archive (Linux
// Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte
// ASCII header of thirteen 8-digit hex fields, the NUL-terminated name, the data, each
// padded to 4 bytes; the archive ends with an entry named TRAILER!!!.

export type Entry =
  | { name: string; kind: "file"; data: Uint8Array; mode?: number }
  | { name: string; kind: "dir"; mode?: number }
  | { name: string; kind: "char"; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000, S_IFCHR = 0o020000, S_IFREG = 0o100000;
const MAGIC = "070701";

/** The archive of `entries`, in order (a directory before what it holds). */
export function newc(entries: Entry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    length += b.length;
  };
  const pad = () => push(new Uint8Array((4 - (length % 4)) % 4));
  const add = (ino: number, name: string, mode: number, data: Uint8Array, rdev: [number, number]) => {
    const nameZ = Buffer.from(name + "\0");
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameZ.length, 0];
    push(Buffer.from(MAGIC + fields.map((v) => v.toString(16).padStart(8, "0")).join("")));
    push(nameZ);
    pad();
    push(data);
    pad();
  };
  entries.forEach((e, i) => {
    if (e.kind === "file") add(i + 1, e.name, S_IFREG | (e.mode ?? 0o644), e.data, [0, 0]);
    else if (e.kind === "dir") add(i + 1, e.name, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0), [0, 0]);
    else add(i + 1, e.name, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(0), [e.major, e.minor]);
  });
  add(0, "TRAILER!!!", 0, new Uint8Array(0), [0, 0]);
  return Buffer.concat(parts);
}

/** An initramfs whose /init is `init`, with the /dev/console the kernel opens for it (5, 1). */
export function initramfs(init: Uint8Array): Uint8Array {
  return newc([
    { name: "dev", kind: "dir" },
    { name: "dev/console", kind: "char", major: 5, minor: 1 },
    { name: "init", kind: "file", data: init, mode: 0o755 },
  ]);
}

/**
 * The /init of the busybox userspace: busybox's own sh runs it (the kernel reads the
 * "#!" line). It mounts /proc, says which kernel and machine it runs on, how the kernel
 * was started and which random-number instructions the CPU offers, reads /dev/random
 * (since Linux 5.18 it blocks as getrandom(0) does, until the CRNG is seeded), then
 * powers the machine off (`poweroff -f`: no init system to stop).
 */
export const BUSYBOX_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
echo "busybox: $(/bin/busybox uname -sm) $(/bin/busybox uname -r) userspace up, pid $$"
echo "busybox: cmdline $(/bin/busybox cat /proc/cmdline)"
echo "busybox: cpu flags$(for f in rdrand rdseed; do /bin/busybox grep -q -w $f /proc/cpuinfo && echo -n " $f"; done)"
echo "busybox: $(/bin/busybox head -c 16 /dev/urandom 2>/dev/null | /bin/busybox wc -c) bytes of /dev/urandom"
echo "busybox: $(/bin/busybox head -c 16 /dev/random 2>/dev/null | /bin/busybox wc -c) bytes of /dev/random"
/bin/busybox poweroff -f
`;

/** An initramfs holding Debian's static busybox as /bin/busybox and BUSYBOX_INIT as /init. */
export function busyboxInitramfs(busybox: Uint8Array): Uint8Array {
  return newc([
    { name: "dev", kind: "dir" },
    { name: "dev/console", kind: "char", major: 5, minor: 1 },
    { name: "dev/null", kind: "char", major: 1, minor: 3, mode: 0o666 },
    { name: "dev/random", kind: "char", major: 1, minor: 8, mode: 0o666 },
    { name: "dev/urandom", kind: "char", major: 1, minor: 9, mode: 0o666 },
    { name: "bin", kind: "dir" },
    { name: "bin/busybox", kind: "file", data: busybox, mode: 0o755 },
    { name: "init", kind: "file", data: Buffer.from(BUSYBOX_INIT), mode: 0o755 },
  ]);
}
