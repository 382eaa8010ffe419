// Defaults shared by the CLI, the tests and the benchmarks.

/** The Debian cloud kernel scripts/setup.sh fetches (a symlink to the current one). */
export const DEFAULT_KERNEL = ".cache/kernel/vmlinuz";
/** Its System.map, when setup fetched it. */
export const DEFAULT_SYSTEM_MAP = ".cache/kernel/System.map";
/** Serial console for both the early and the real 8250 console, and the stub's debug output. */
export const DEFAULT_CMDLINE = "console=ttyS0 earlyprintk=serial,ttyS0,115200 efi=debug";
/** The initrd scripts/setup.sh packs: guests/linux/init.c as /init, which prints and restarts. */
export const TEST_INITRD = "build/guests/linux/initrd.cpio";

/**
 * Short names for the kernels setup fetches (`boot --kernel NAME`), relative to the
 * project: a --kernel that names no file may be one of these.
 */
export const KERNEL_NAMES: Readonly<Record<string, string>> = {
  debian12: DEFAULT_KERNEL, // Debian 12's cloud kernel
  "debian12-generic": ".cache/kernel/generic/vmlinuz",
  debian13: ".cache/kernel/debian13/vmlinuz",
  unstable: ".cache/kernel/unstable/vmlinuz",
  installer: ".cache/installer/linux", // the Debian 12 netboot installer's kernel
  arm64: ".cache/kernel/arm64/vmlinuz", // Debian 12's arm64 cloud kernel
};
