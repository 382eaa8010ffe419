// Every way a run ends that is not the guest's own doing, as one family: each error says
// what and where (file offset, guest address, service), and which exit status the CLI
// gives it (README: exit status). Thrown by the loaders, the firmware link and the
// machine; turned into a run's ending by host/run.ts, which adds nothing but the file.

/** Process exit codes: EFI_SUCCESS 0, a warning 1, EFI error N 64 + N; host-side ends below. */
export const EXIT = { USAGE: 2, LOAD: 3, FAULT: 4, BUDGET: 5, BOOT_SERVICE_AFTER_EXIT: 6, HALTED: 7 } as const;

export type ErrorKind = "load" | "vars" | "disk" | "fault" | "firmware" | "budget" | "boot-service-after-exit";

export abstract class RunError extends Error {
  abstract readonly kind: ErrorKind;
  abstract readonly exit: number;
}

/** A PE image the firmware's loader refused: the field at fault and its offset in the file. */
export class LoadError extends RunError {
  readonly kind = "load";
  readonly exit = EXIT.LOAD;
  constructor(readonly status: bigint, readonly field: string, readonly offset: bigint) {
    super(`image rejected: ${field} (at offset 0x${offset.toString(16)})`);
    this.name = "LoadError";
  }
}

/** A kernel the PVH path's readers refused: which structure's field says so, and where. */
export class KernelImageError extends RunError {
  readonly kind = "load";
  readonly exit = EXIT.LOAD;
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

/** The store file is refused (with the first bad byte's offset) or could not be saved (offset undefined). */
export class VarStoreError extends RunError {
  readonly kind = "vars";
  readonly exit = EXIT.LOAD;
  constructor(what: string, readonly offset?: number) {
    super(`variable store ${what}${offset === undefined ? "" : ` (at byte offset ${offset})`}`);
    this.name = "VarStoreError";
  }
}

/** A firmware file (--firmware) that is not a build of ueficorn's firmware this host can run. */
export class FirmwareError extends RunError {
  readonly kind = "load";
  readonly exit = EXIT.LOAD;
  constructor(readonly file: string, what: string) {
    super(`firmware ${file}: ${what}`);
    this.name = "FirmwareError";
  }
}

/** A disk image refused (not whole sectors, unreadable), or what the guest wrote to it not saved (the image then unchanged). */
export class DiskError extends RunError {
  readonly kind = "disk";
  readonly exit = EXIT.LOAD;
  constructor(readonly file: string, what: string) {
    super(`disk ${file}: ${what}`);
    this.name = "DiskError";
  }
}

const GUEST_EXIT = { fault: EXIT.FAULT, firmware: EXIT.FAULT, budget: EXIT.BUDGET, "boot-service-after-exit": EXIT.BOOT_SERVICE_AFTER_EXIT } as const;

/** A run the host stopped: guest fault, budget spent, or a rule broken; where, and the last EFI calls. */
export class GuestError extends RunError {
  readonly exit: number;
  constructor(
    readonly kind: keyof typeof GUEST_EXIT,
    message: string,
    readonly rip: bigint,
    readonly lastCalls: string[],
    symbol?: string,
    /** "at" the faulting instruction; "from" a service's call site (its return address). */
    where: "at" | "from" = "at",
    /** The program counter's name on the guest's CPU. */
    pcName: "RIP" | "PC" = "RIP",
  ) {
    super(`${message} ${where} ${pcName} 0x${rip.toString(16)}${symbol ? ` (${symbol})` : ""}` +
      (lastCalls.length ? `\nlast EFI calls:\n  ${lastCalls.join("\n  ")}` : ""));
    this.name = "GuestError";
    this.exit = GUEST_EXIT[kind];
  }
}
