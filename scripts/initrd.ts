// Writes build/guests/linux/initrd.cpio and build/guests/linux/aa64/initrd.cpio: an
// initramfs with that folder's init (x86-64, AArch64) as /init (host/initramfs.ts); and,
// when setup fetched Debian's static busybox, busybox.cpio beside each: a real userspace,
// busybox with /init a shell script it runs. Run by scripts/setup.sh after guests/build.sh.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { busyboxInitramfs, initramfs } from "../host/initramfs.ts";
import { ROOT } from "../host/paths.ts";

const write = (out: string, bytes: Uint8Array) => {
  writeFileSync(out + ".tmp", bytes);
  renameSync(out + ".tmp", out);
  console.log(`initrd: ${out}`);
};

for (const [dir, arch] of [[join(ROOT, "build/guests/linux"), "amd64"], [join(ROOT, "build/guests/linux/aa64"), "arm64"]]) {
  write(join(dir, "initrd.cpio"), initramfs(readFileSync(join(dir, "init"))));
  const busybox = join(ROOT, ".cache/busybox", arch, "busybox");
  if (existsSync(busybox)) write(join(dir, "busybox.cpio"), busyboxInitramfs(readFileSync(busybox)));
}
