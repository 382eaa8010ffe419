// The one error the PVH path's image readers throw: what is wrong, which field of which
// structure says so, and where that field is, as LoadError does for PE images
// (host/machine.ts).

export class KernelImageError extends Error {
  constructor(
    /** Which bytes the offset is in: "bzImage", or "vmlinux" (for a bzImage, the decompressed payload). */
    readonly file: string,
    /** Structure and field, as the spec spells them ("Elf64_Phdr[2].p_filesz"). */
    readonly field: string,
    /** Offset of that field in `file`. */
    readonly offset: number,
    what: string,
  ) {
    super(`${file}: ${field} (at offset 0x${offset.toString(16)}): ${what}`);
    this.name = "KernelImageError";
  }
}

export const hex = (v: number | bigint) => "0x" + v.toString(16);
