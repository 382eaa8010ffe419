// The PVH path's pure front end: kernel file in, guest-physical layout and entry state
// out. bzimage.ts finds the vmlinux, elf.ts reads it, start-info.ts lays the boot out.
import { extractVmlinux, isElf, type Vmlinux } from "./bzimage.ts";
import { readFileSync } from "node:fs";
import { fileSource, parseElf, parseElfSource, type ElfImage } from "./elf.ts";
import { buildPvhBoot, type PvhBoot } from "./start-info.ts";
import { ELF } from "../../firmware/spec/elf.ts";

export { extractVmlinux, identifyCompression, lz4LegacyDecompress, type Compression, type Vmlinux } from "./bzimage.ts";
export { fileSource, parseElf, parseElfSource, pvhEntry, type ElfImage, type ElfNote, type ElfSegment, type ElfSource } from "./elf.ts";
export { KernelImageError } from "../errors.ts";
export { buildPvhBoot, cmdlineBytes, encodeStruct, writeRegions, type MemmapEntry, type PvhBoot, type PvhEntryState, type PvhRegion } from "./start-info.ts";
export * as layout from "./layout.ts";

export interface PvhKernel { vmlinux: Vmlinux; elf: ElfImage; boot: PvhBoot }

/** A bzImage or vmlinux file to a PVH boot layout. Throws KernelImageError naming field and offset. */
export function preparePvh(file: Uint8Array, o: { ramBytes: number; cmdline: string; initrd?: Uint8Array }): PvhKernel {
  const vmlinux = extractVmlinux(file);
  const elf = parseElf(vmlinux.elf, vmlinux.source === "bzImage" ? "vmlinux (decompressed from the bzImage payload)" : "vmlinux");
  return { vmlinux, elf, boot: buildPvhBoot({ ramBytes: o.ramBytes, elf, cmdline: o.cmdline, initrd: o.initrd }) };
}

/**
 * preparePvh for a file: a vmlinux is parsed in place and its segments are read into
 * guest RAM by writeRegions (parseElfSource); a bzImage is read whole and decompressed.
 */
export function preparePvhFile(path: string, o: { ramBytes: number; cmdline: string; initrd?: Uint8Array }): PvhKernel {
  const source = fileSource(path);
  const magic = new Uint8Array(Math.min(ELF.MAGIC.length, source.size));
  source.copy(0, magic);
  if (!isElf(magic)) return preparePvh(readFileSync(path), o);
  const elf = parseElfSource(source);
  return { vmlinux: { elf: elf.bytes, source: "elf" }, elf, boot: buildPvhBoot({ ramBytes: o.ramBytes, elf, cmdline: o.cmdline, initrd: o.initrd }) };
}
