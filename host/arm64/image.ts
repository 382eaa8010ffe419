// The arm64 Linux boot protocol (Linux Documentation/arch/arm64/booting.rst), the AArch64
// counterpart of x86's PVH entry: no firmware at all. The kernel's Image is placed at a
// 2 MiB-aligned address plus its text_offset, a device tree describes the platform and
// carries the command line and the initrd in /chosen, and the CPU enters the Image's
// first instruction at EL1 with the MMU and D-cache off, interrupts masked and X0 holding
// the tree's address. Debian's arm64 vmlinuz is the Image itself (its EFI stub is in the
// same file: the header is both a PE/COFF one and the Image's); a gzip-compressed Image is
// taken too.
import { closeSync, fstatSync, openSync } from "node:fs";
import { readAt } from "../read-at.ts";
import { zlib } from "../lazy.ts";
import { KernelImageError } from "../errors.ts";
import { buildFdt, cells64 } from "./fdt.ts";
import { platformTree } from "./platform.ts";

/** booting.rst "Setup the kernel image": the 64-byte header. */
const HEADER_BYTES = 64;
const TEXT_OFFSET = 8, IMAGE_SIZE = 16, FLAGS = 24, MAGIC = 56;
const ARM64_MAGIC = 0x644d5241; // "ARM\x64"
/** flags bit 0: big-endian kernel; bits 1-2: page size (0 unspecified, 1 4K, 2 16K, 3 64K). */
const FLAG_BE = 1;
const TWO_MIB = 2 * 1024 * 1024;
const PAGE = 4096;
/** booting.rst: the device tree blob must not exceed 2 MiB. */
const DTB_MAX = TWO_MIB;
/** The rng-seed the direct entry hands over (run.ts): 64 bytes, as QEMU's virt board gives. */
export const RNG_SEED_BYTES = 64;

export interface Arm64Boot {
  /** The Image's bytes, to copy to `base`. */
  image: Uint8Array;
  /** Where the Image goes (a 2 MiB-aligned address plus text_offset), its entry point. */
  base: number;
  /** The device tree and where it goes. */
  dtb: Uint8Array;
  dtbAt: number;
  initrd?: Uint8Array;
  initrdAt?: number;
}

/**
 * The file at `path` for prepareArm64: an uncompressed Image is read straight into `ram`
 * where the boot protocol places it (2 MiB + text_offset), so that a kernel-sized buffer
 * is neither allocated nor copied (bootDirect then finds it in place); anything else (a
 * gzip-compressed Image, a file that is no Image or does not fit) is read as it is.
 */
export function readArm64File(path: string, ram: Uint8Array): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(HEADER_BYTES);
    const h = new DataView(head.buffer);
    const placed = readAt(fd, head, 0) === HEADER_BYTES && h.getUint32(MAGIC, true) === ARM64_MAGIC ? TWO_MIB + Number(h.getBigUint64(TEXT_OFFSET, true)) : -1;
    const into = placed >= 0 && placed % PAGE === 0 && placed + size <= ram.length ? ram.subarray(placed, placed + size) : new Uint8Array(size);
    const got = readAt(fd, into, 0);
    if (got < size) throw new Error(`${path}: ended at byte ${got} of ${size} while reading`);
    return into;
  } finally {
    closeSync(fd);
  }
}

/**
 * What the arm64 boot protocol needs in RAM for `file` (an Image, or one gzip-compressed),
 * with `cmdline`, an optional initrd and an optional seed for the kernel's random-number
 * generator, on a machine with `ramBytes` of RAM at 0. A
 * KernelImageError names the header field and its offset when the file is no arm64 Image.
 */
export function prepareArm64(file: Uint8Array, o: { ramBytes: number; cmdline: string; initrd?: Uint8Array; rngSeed?: Uint8Array }): Arm64Boot {
  const image = file[0] === 0x1f && file[1] === 0x8b ? zlib().gunzipSync(file) : file;
  const what = image === file ? "Image" : "Image (gunzipped)";
  if (image.length < HEADER_BYTES) throw new KernelImageError(what, "header", 0, `${image.length} bytes: shorter than the 64-byte arm64 Image header`);
  const h = new DataView(image.buffer, image.byteOffset, HEADER_BYTES);
  if (h.getUint32(MAGIC, true) !== ARM64_MAGIC) throw new KernelImageError(what, "magic", MAGIC, `0x${h.getUint32(MAGIC, true).toString(16)}, not "ARM\\x64": not an arm64 Linux Image`);
  const textOffset = Number(h.getBigUint64(TEXT_OFFSET, true));
  const imageSize = Number(h.getBigUint64(IMAGE_SIZE, true)) || image.length;
  const flags = Number(h.getBigUint64(FLAGS, true));
  if (flags & FLAG_BE) throw new KernelImageError(what, "flags", FLAGS, "a big-endian kernel; this machine is little-endian");
  if (textOffset % PAGE) throw new KernelImageError(what, "text_offset", TEXT_OFFSET, `0x${textOffset.toString(16)} is not page-aligned`);
  // Layout: the Image at 2 MiB, the tree at the next 2 MiB boundary past the Image's
  // whole size (its BSS included), then the initrd.
  const base = TWO_MIB + textOffset;
  const dtbAt = Math.ceil((base + imageSize) / TWO_MIB) * TWO_MIB;
  const initrdAt = o.initrd ? dtbAt + DTB_MAX : undefined;
  const tree = platformTree(o.ramBytes);
  const chosen = tree.children!.chosen;
  chosen.props = { ...chosen.props, bootargs: o.cmdline };
  // A seed for the kernel's CRNG, as QEMU's virt board and U-Boot give one
  // (Documentation/devicetree/bindings/chosen.txt "rng-seed"): the Cortex-A72 has no
  // RNDR, and without it an early read of /dev/urandom waits for timer jitter.
  if (o.rngSeed) chosen.props["rng-seed"] = o.rngSeed;
  if (o.initrd && initrdAt !== undefined) {
    chosen.props["linux,initrd-start"] = cells64(initrdAt);
    chosen.props["linux,initrd-end"] = cells64(initrdAt + o.initrd.length);
  }
  const dtb = buildFdt(tree);
  if (dtb.length > DTB_MAX) throw new Error(`the device tree is ${dtb.length} bytes; the boot protocol allows 2 MiB`);
  const end = initrdAt !== undefined ? initrdAt + o.initrd!.length : dtbAt + dtb.length;
  if (end > o.ramBytes) throw new RangeError(`the Image (${imageSize} bytes with its BSS), the device tree and the initrd need ${Math.ceil(end / 2 ** 20)} MiB of RAM; the machine has ${o.ramBytes / 2 ** 20}`);
  return { image, base, dtb, dtbAt, initrd: o.initrd, initrdAt };
}
