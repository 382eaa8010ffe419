// The PVH path's pure front end: kernel file in, guest-physical layout and entry state
// out. bzimage.ts finds the vmlinux, elf.ts reads it, start-info.ts lays the boot out.
import { extractVmlinux, type Vmlinux } from "./bzimage.ts";
import { parseElf, type ElfImage } from "./elf.ts";
import { buildPvhBoot, type PvhBoot } from "./start-info.ts";

export { extractVmlinux, identifyCompression, lz4LegacyDecompress, type Compression, type Vmlinux } from "./bzimage.ts";
export { parseElf, pvhEntry, type ElfImage, type ElfNote, type ElfSegment } from "./elf.ts";
export { KernelImageError } from "./error.ts";
export { buildPvhBoot, cmdlineBytes, encodeStruct, type MemmapEntry, type PvhBoot, type PvhEntryState, type PvhRegion } from "./start-info.ts";
export * as layout from "./layout.ts";

export interface PvhKernel { vmlinux: Vmlinux; elf: ElfImage; boot: PvhBoot }

/** A bzImage or vmlinux file to a PVH boot layout. Throws KernelImageError naming field and offset. */
export function preparePvh(file: Uint8Array, o: { ramBytes: number; cmdline: string; initrd?: Uint8Array }): PvhKernel {
  const vmlinux = extractVmlinux(file);
  const elf = parseElf(vmlinux.elf, vmlinux.source === "bzImage" ? "vmlinux (decompressed from the bzImage payload)" : "vmlinux");
  return { vmlinux, elf, boot: buildPvhBoot({ ramBytes: o.ramBytes, elf, cmdline: o.cmdline, initrd: o.initrd }) };
}
