// Writes build/guests/linux/initrd.cpio: an initramfs with build/guests/linux/init as
// /init (host/initramfs.ts). Run by scripts/setup.sh after guests/build.sh.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initramfs } from "../host/initramfs.ts";
import { ROOT } from "../host/paths.ts";

const dir = join(ROOT, "build/guests/linux");
const out = join(dir, "initrd.cpio");
writeFileSync(out + ".tmp", initramfs(readFileSync(join(dir, "init"))));
renameSync(out + ".tmp", out);
console.log(`initrd: ${out}`);
