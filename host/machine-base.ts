// What every machine shares, whatever its CPU (host/machine.ts for x86-64,
// host/arm64/machine.ts): the engine with its instruction counter and clock, the run
// state, typed input, guest RAM (the firmware's window through the EFI link, or a buffer
// of the machine's own for a direct kernel entry), the serial log, and the public face a
// run uses: loading and starting images, the counts and times, saving disks and the
// store. A machine adds its CPU, its platform and how it brings the CPU up.
import { startupMark } from "./startup.ts";
import { adviseHugePages, type InstructionCounter, type Unicorn } from "./unicorn/index.ts";
import type { Firmware } from "./firmware.ts";
import type { GuestError } from "./errors.ts";
import { Tracer } from "./trace.ts";
import { KeyQueue } from "./keys.ts";
import { guestClock, hostClock, type Clock } from "./clock.ts";
import type { Disk } from "./disk.ts";
import type { SymbolMap } from "./symbols.ts";
import { ramBytes, type MachineOptions } from "./options.ts";
import { EfiLink } from "./efi-link.ts";
import { hostEntropy, seededEntropy, type Entropy } from "./entropy.ts";
import type { Runner } from "./runner.ts";
import { RunState, type Ending, type Stop } from "./run-state.ts";

export interface InterruptCounts { running: number; halted: number }
import { keystrokes, Typing } from "./input.ts";

/** What a machine tells the shared part about itself. */
export interface MachineKind {
  /** The PE machine the firmware serves (PE_CONST.MACHINE_*). */
  machine: number;
  /** With no firmware (a direct kernel entry): RAM is a buffer of the machine's own. */
  firmware: boolean;
  /** The platform's description the firmware hands over (ACPI tables, a device tree). */
  describe: (fw: Firmware) => void;
  /** Catch every code write Unicorn misses (Unicorn.guardCodeWrites), set before any code runs. */
  guardCodeWrites: boolean;
}

export abstract class MachineBase {
  readonly uc: Unicorn;
  /** Guest RAM: the firmware's window, or the machine's own buffer with no firmware. */
  readonly ram: Uint8Array;
  readonly ramView: DataView;
  readonly tracer: Tracer;
  /** Guest time, for the firmware and the devices. */
  readonly clock: Clock;
  /** Lines the guest wrote to its serial console. */
  readonly serial: string[] = [];
  /** The firmware and its link to this CPU; none on a direct kernel entry. */
  protected readonly link: EfiLink | undefined;
  protected readonly state: RunState;
  protected readonly typing?: Typing;
  protected readonly disks: Disk[];
  protected readonly symbols?: SymbolMap;
  protected readonly icount: InstructionCounter | undefined;
  /** The machine's randomness: the firmware's RNG protocol and the CPU's RDRAND draw from it. */
  protected readonly entropy: Entropy;
  /** The count after the host's own bring-up code, which is not the guest's. */
  protected icountBase = 0n;
  /** Made by the machine once its CPU can answer the runner (host/runner.ts). */
  protected runner!: Runner;
  /** With countInstructions: the count when each line of `serial` was complete. */
  private readonly serialInstructions: bigint[] = [];
  /** A direct entry: performance.now() when the kernel was entered. */
  private directEnteredAt: number | undefined;

  protected constructor(options: MachineOptions, uc: Unicorn, kind: MachineKind) {
    startupMark("engine");
    const bytes = ramBytes(options);
    this.uc = uc;
    this.symbols = options.symbols;
    this.tracer = options.tracer ?? new Tracer();
    this.disks = options.disks ?? [];
    // Runs end at the sentinel's halt or trap, never at an exit address (see noExitAddress).
    uc.noExitAddress();
    // Before any code runs, so that every translation block carries the hook.
    const deterministic = options.clock === "deterministic";
    if (options.countInstructions || deterministic) this.icount = uc.countInstructions();
    // Code the guest rewrites is seen however it writes it: Unicorn's own checks restored
    // (Unicorn.trackCodePages), or every store checked (the guard), for a library without them.
    if (kind.guardCodeWrites || !uc.trackCodePages()) uc.guardCodeWrites();
    this.entropy = options.entropy ?? (deterministic ? seededEntropy() : hostEntropy);
    const clock = options.clock ?? "host";
    this.clock = clock === "host" ? hostClock() : clock === "deterministic" ? guestClock({ progress: this.icount!.count }) : clock;
    const state = (this.state = new RunState(() => uc.emuStop()));
    const keys = new KeyQueue(options.keys ?? []);
    if (options.input) {
      // Keystrokes for ConIn in boot services, bytes for the serial port after.
      this.typing = new Typing(options.input, () => state.end({ kind: "quit" }), (typed) => {
        if (this.link && !this.link.fw.bootServicesExited) keys.push(keystrokes(typed, this.clock.now()));
        else this.serialInput(typed);
      });
    }
    if (!kind.firmware) {
      this.link = undefined;
      // Never resized, so its backing store stays where Unicorn maps it.
      this.ram = new Uint8Array(new SharedArrayBuffer(bytes)); // shared: see Firmware's memory
      adviseHugePages(this.ram);
      this.ramView = new DataView(this.ram.buffer);
      return;
    }
    const link = (this.link = new EfiLink({
      callSite: () => this.callSite(),
      pc: () => this.pc(),
      error: (k, message, at, where) => this.error(k, message, at, where),
      symbolize: (at) => this.symbolize(at),
      callGuest: (fn, a0, a1) => this.callGuest(fn, a0, a1),
      instructions: () => this.instructions(),
      codeWritten: (base, n) => uc.removeCache(base, base + n),
    }, {
      machine: kind.machine, ramBytes: bytes, clock: this.clock, state, tracer: this.tracer, keys, typing: this.typing, deterministic,
      entropy: this.entropy, firmwareWasm: options.firmwareWasm, varsPath: options.varsPath, initrd: options.initrd, disks: this.disks,
      screen: options.screen, disabled: options.disabled, onConsole: options.onConsole, describe: kind.describe,
    }));
    startupMark("firmware");
    this.ram = link.fw.ram;
    this.ramView = link.fw.ramView;
  }

  /** During an EFI call: the guest's call site (the call's return address). */
  protected abstract callSite(): bigint;
  /** The guest's program counter now. */
  protected abstract pc(): bigint;
  /** A GuestError at (or "from") guest address `at`, naming the last calls and a symbol. */
  protected abstract error(kind: GuestError["kind"], message: string, at: bigint, where?: "at" | "from"): GuestError;
  /** Bytes typed after boot services, for the platform's serial port. */
  protected abstract serialInput(bytes: Uint8Array): void;
  /** Run guest code fn(a0, a1) to its return; nested when called from a hook. */
  abstract callGuest(fn: bigint, a0: bigint, a1: bigint): bigint;
  /** "symbol+0xoff" for a guest address, when symbols are known. */
  abstract symbolize(at: bigint): string | undefined;

  /** A line the guest wrote to the serial console: logged, counted, reported, checked against the milestone. */
  protected serialLine(line: string, options: MachineOptions): void {
    this.serial.push(line);
    if (this.icount) this.serialInstructions.push(this.instructions()!);
    options.onSerial?.(line);
    this.state.line(line, options.stopOnSerial);
  }

  /** In boot services a halt waits for the firmware's timer tick (Runner's bootIdle); undefined after them, or with no firmware. */
  protected bootIdle(): boolean | undefined {
    const fw = this.link?.fw;
    return fw && !fw.bootServicesExited ? fw.idle() : undefined;
  }

  /** A direct kernel entry at `pc`, the CPU already set up: runs to the kernel's end. */
  protected enterDirectly(pc: bigint, result: () => bigint): Ending {
    this.directEnteredAt = performance.now();
    // The kernel never returns.
    return this.state.settle(() => {
      this.runner.run(pc, false);
      return { kind: "returned", status: result() };
    }, (at) => this.symbolize(at));
  }

  /** Guest instructions executed so far, with the countInstructions option. */
  instructions(): bigint | undefined {
    return this.icount && this.icount.count() - this.icountBase;
  }

  /** With countInstructions: the count when the first serial line matching `re` was complete. */
  instructionsAtLine(re: RegExp): bigint | undefined {
    const i = this.serial.findIndex((l) => re.test(l));
    return i < 0 ? undefined : this.serialInstructions[i];
  }

  /**
   * With countInstructions: the count when the guest's kernel was entered: when
   * ExitBootServices returned SUCCESS (EFI entry), 0 (a direct entry: the kernel runs first).
   */
  get instructionsAtEntry(): bigint | undefined {
    return this.link ? this.link.instructionsAtEntry : this.icount && 0n;
  }

  /** `n` bytes of the machine's entropy (the host's, or the deterministic stream), for seeds a boot loader hands over. */
  randomBytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.entropy(out);
    return out;
  }

  /** External interrupts delivered while the guest ran, and when it had halted (HLT/WFI); undefined where the CPU takes them itself. */
  interruptCounts(): InterruptCounts | undefined {
    return undefined;
  }

  /** SERIALIZEs the guest ran (x86); undefined where not counted. */
  serializations(): number | undefined {
    return undefined;
  }

  /** performance.now() when the guest's kernel was entered, as for instructionsAtEntry. */
  get enteredAt(): number | undefined {
    return this.link ? this.link.enteredAt : this.directEnteredAt;
  }

  /** performance.now() when a guest first called StartImage (a boot loader starting an image). */
  get firstStartImageAt(): number | undefined {
    return this.link?.firstStartImageAt;
  }

  /** performance.now() (milliseconds since the process started) when the guest's first instruction ran. */
  get firstRunAt(): number | undefined {
    return this.runner.firstRunAt;
  }

  /** What the guest wrote through ConOut. */
  get console(): string {
    return this.link?.console ?? "";
  }

  /** A reset, power-off or quit that stopped the machine, if one did (the guest may still be inside a call). */
  get ended(): Stop | undefined {
    return this.state.ended;
  }

  /** The EFI firmware; there is none on a direct entry. */
  get fw(): Firmware {
    return this.efi.fw;
  }

  protected get efi(): EfiLink {
    if (!this.link) throw new Error("this machine has no EFI firmware (a direct kernel entry)");
    return this.link;
  }

  /** With --vars: write the store (atomically) when a non-volatile variable changed. */
  saveVarsIfChanged(): void {
    this.link?.saveVarsIfChanged();
  }

  /** Copy an image into guest memory and load it; throws a LoadError naming the field. */
  loadImage(bytes: Uint8Array, cmdline?: string): bigint {
    return this.efi.loadImage(bytes, cmdline);
  }

  /** loadImage for a file, read straight into guest memory (no copy of a kernel-sized buffer). */
  loadImageFile(path: string, cmdline?: string): bigint {
    return this.efi.loadImageFile(path, cmdline);
  }

  /**
   * Load what the firmware's boot manager picks (BootNext, BootOrder, then the removable
   * path on each file system); throws a LoadError when nothing loads.
   */
  loadBootOption(): bigint {
    return this.efi.loadBootOption();
  }

  /** StartImage on a loaded image: how it ended. */
  start(handle: bigint): Ending {
    return this.efi.start(handle);
  }

  /** The display as it is now, as RGBA (the framebuffer's BGRX pixels); undefined without one. */
  screenshot(): { width: number; height: number; rgba: Uint8Array } | undefined {
    return this.link?.screenshot();
  }

  /** Save what the guest wrote to writable disks, each atomically (Disk.commit). */
  commitDisks(): void {
    this.link?.commitDisks();
  }

  close(): void {
    this.typing?.input.close();
    this.uc.close();
    for (const d of this.disks) d.close();
  }
}
