// Writes build/guests/linux/initrd.cpio and build/guests/linux/aa64/initrd.cpio: an
// initramfs with that folder's init (x86-64, AArch64) as /init (host/initramfs.ts).
// Run by scripts/setup.sh after guests/build.sh.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initramfs } from "../host/initramfs.ts";
import { ROOT } from "../host/paths.ts";

for (const dir of [join(ROOT, "build/guests/linux"), join(ROOT, "build/guests/linux/aa64")]) {
  const out = join(dir, "initrd.cpio");
  writeFileSync(out + ".tmp", initramfs(readFileSync(join(dir, "init"))));
  renameSync(out + ".tmp", out);
  console.log(`initrd: ${out}`);
}
