// The EFI link: the firmware WASM joined to a guest CPU, the same for every architecture.
// It makes the firmware with the host's side of its imports (console, reset, nested guest
// calls, time, entropy, keys, disks), gives it what it hands the guest (the variable
// store, an initrd, disks, a display), serves each trapped call (ablation, the
// boot-services rule, the trace, saving the store) and loads images. It knows no CPU: a
// machine's trap puts the call's registers in the argument block, calls serve(id), and
// gives the guest the STATUS slot.
import { closeSync, fstatSync, openSync } from "node:fs";
import { readAt } from "./read-at.ts";
import { adviseHugePages } from "./unicorn/index.ts";
import { Firmware } from "./firmware.ts";
import { GuestError, LoadError, VarStoreError } from "./errors.ts";
import { SERVICES, argSlot, serviceByName } from "../firmware/spec/services.ts";
import { MEMORY_TYPE, STATUS } from "../firmware/spec/uefi.ts";
import { readVarStore, writeVarStore } from "./vars.ts";
import { hostEntropy, seededEntropy, type Entropy } from "./entropy.ts";
import { WaitingForever, type Ending, type RunState } from "./run-state.ts";
import type { Clock } from "./clock.ts";
import type { Tracer } from "./trace.ts";
import type { KeyQueue } from "./keys.ts";
import type { Typing } from "./input.ts";
import type { Disk } from "./disk.ts";
import { basename } from "node:path";
import { nameAt, peLayoutHint, peSymbols, type PeSymbols } from "./pe-symbols.ts";

const PAGE = 4096;
const STATUS_SLOT = argSlot("STATUS");
const EXIT_BOOT_SERVICES = serviceByName("BS.ExitBootServices").id;
const SET_VARIABLE = serviceByName("RT.SetVariable").id;
const START_IMAGE = serviceByName("BS.StartImage").id;
/** How long a wait for typed input sleeps before looking at the machine's timers again. */
export const INPUT_POLL_MS = 10;

/** What the link needs of the CPU it serves. */
export interface LinkCpu {
  /** During a service: the guest's call site (the call's return address). */
  callSite(): bigint;
  /** The guest's program counter now. */
  pc(): bigint;
  /** A GuestError at (or "from") guest address `at`, naming the last calls. */
  error(kind: GuestError["kind"], message: string, at: bigint, where?: "at" | "from"): GuestError;
  symbolize(at: bigint): string | undefined;
  /** Run guest code fn(a0, a1) to its return, nested inside the current call. */
  callGuest(fn: bigint, a0: bigint, a1: bigint): bigint;
  /** Guest instructions so far, when they are counted. */
  instructions(): bigint | undefined;
  /** The firmware wrote code at [base, base + bytes): translations of it are stale. */
  codeWritten(base: bigint, bytes: bigint): void;
}

export interface LinkOptions {
  /** The PE machine the firmware serves (PE_CONST.MACHINE_*). */
  machine: number;
  ramBytes: number;
  clock: Clock;
  state: RunState;
  tracer: Tracer;
  keys: KeyQueue;
  typing?: Typing;
  /** Another build of the firmware (default build/firmware.wasm). */
  firmwareWasm?: string;
  entropy?: Entropy;
  deterministic?: boolean;
  varsPath?: string;
  initrd?: Uint8Array;
  disks?: Disk[];
  screen?: { width: number; height: number };
  /** Services answered with this status instead of the firmware (the ablation). */
  disabled?: Map<number, bigint>;
  onConsole?: (text: string) => void;
  /**
   * The platform's description for the firmware to hand over (ACPI tables, a device
   * tree), placed first: before the initrd, so that the layout of guest memory does not
   * move with the initrd's size.
   */
  describe?: (fw: Firmware) => void;
}

/** The largest SectionAlignment a file is staged at (2 MiB: beyond, it is copied). */
const MAX_STAGING_ALIGN = 2 << 20;

export class EfiLink {
  readonly fw: Firmware;
  /** ConOut's text so far. */
  console = "";
  /** Mirrors the firmware's flag, read once per ExitBootServices instead of per call. */
  bootServicesExited = false;
  /** performance.now() when ExitBootServices first succeeded: the guest's kernel entered. */
  enteredAt: number | undefined;
  /** With counted instructions: the count then. */
  instructionsAtEntry: bigint | undefined;
  /** performance.now() when a guest first called StartImage: an image (a boot loader) starting another. */
  firstStartImageAt: number | undefined;
  private readonly disks: Disk[];
  private readonly disabled: Map<number, bigint>;
  private readonly varsPath?: string;
  private varsSaved = 0;
  private readonly tracer: Tracer;
  private readonly state: RunState;
  /** The images the host loaded, with what their files say of their symbols. */
  private readonly images: { name: string; base: bigint; end: bigint; syms: PeSymbols }[] = [];

  constructor(private readonly cpu: LinkCpu, o: LinkOptions) {
    this.disks = o.disks ?? [];
    this.disabled = o.disabled ?? new Map();
    this.tracer = o.tracer;
    this.state = o.state;
    const { clock, keys, typing, state } = o;
    const onConsole = o.onConsole ?? (() => {});
    const epochNs = BigInt(clock.epochMs) * 1_000_000n;
    const fw = (this.fw = new Firmware(o.ramBytes, {
      consoleOut: (text) => {
        this.console += text;
        onConsole(text);
      },
      resetSystem: (resetType, status) => state.end({ kind: "reset", resetType, status, source: "ResetSystem" }),
      callGuest: (fn, a0, a1) => cpu.callGuest(fn, a0, a1),
      unwindGuest: () => state.unwind(),
      timeNs: () => epochNs + BigInt(Math.floor(clock.now())),
      timeSkip: (ns) => clock.skipTo(Number(ns - epochNs)),
      randomFill: o.entropy ?? (o.deterministic ? seededEntropy() : hostEntropy),
      waitForever: () => {
        throw new WaitingForever(cpu.callSite());
      },
      keyNext: () => {
        typing?.pump();
        let at = keys.nextAt();
        // Typing may still come: wait a tick of real time for it, then look again.
        if (at === undefined && typing?.open) {
          typing.input.wait(INPUT_POLL_MS);
          typing.pump();
          at = keys.nextAt() ?? clock.now() + INPUT_POLL_MS * 1e6;
        }
        return at === undefined ? undefined : epochNs + BigInt(Math.ceil(at));
      },
      keyTake: () => {
        typing?.pump();
        const k = keys.take(clock.now());
        return k && ((k.scan << 16) | k.unicode) >>> 0;
      },
      codeWritten: (base, bytes) => cpu.codeWritten(base, bytes),
      diskRead: (disk, offset, out) => this.disks[disk]?.read(offset, out) ?? false,
      diskWrite: (disk, offset, data) => this.disks[disk]?.write(offset, data) ?? false,
      memoryCreated: adviseHugePages,
    }, o.firmwareWasm, o.machine));
    this.varsPath = o.varsPath;
    const saved = this.varsPath ? readVarStore(this.varsPath) : undefined;
    if (saved) fw.loadVars(saved);
    fw.varsDefaults();
    // Defaults alone are not a change to save: the store file is written when the guest changes it.
    this.varsSaved = fw.varsGeneration;
    o.describe?.(fw);
    if (o.initrd) {
      const at = fw.allocPages(MEMORY_TYPE.BootServicesData, Math.ceil(o.initrd.length / PAGE) || 1, "copied");
      fw.ram.set(o.initrd, Number(at));
      fw.setInitrd(at, o.initrd.length);
    }
    for (const disk of this.disks) fw.addDisk(disk.sectors, !disk.writable);
    if (o.screen) fw.setScreen(o.screen.width, o.screen.height);
  }

  /** Guest RAM: the firmware's memory window. */
  get ram(): Uint8Array { return this.fw.ram; }

  /** An EFI call: the argument block holds the call's registers; the status goes to its STATUS slot. */
  serve(id: number): void {
    const svc = SERVICES[id];
    const fw = this.fw, cpu = this.cpu;
    if (!svc) throw cpu.error("fault", `trap with unknown service id ${id}`, cpu.pc());
    if (this.bootServicesExited && svc.table === "BS") throw cpu.error("boot-service-after-exit", `BS.${svc.name} called after ExitBootServices`, cpu.callSite(), "from");
    const t0 = this.tracer.timed ? process.hrtime.bigint() : 0n;
    if (id === START_IMAGE) this.firstStartImageAt ??= performance.now();
    const disabled = this.disabled.size ? this.disabled.get(id) : undefined;
    if (disabled !== undefined) fw.args[STATUS_SLOT] = disabled;
    else {
      try {
        fw.trap(id);
      } catch (e) {
        // A trap inside the firmware is a firmware bug: end the run and say where, never
        // hand the guest a made-up status.
        if (!(e instanceof WebAssembly.RuntimeError)) throw e;
        throw cpu.error("firmware", `firmware trapped (${e.message}) serving ${svc.table}.${svc.name}`, cpu.callSite(), "from");
      }
    }
    this.tracer.record(svc, fw, t0);
    if (id === EXIT_BOOT_SERVICES) {
      this.bootServicesExited = fw.bootServicesExited;
      if (fw.args[STATUS_SLOT] === 0n) {
        this.enteredAt ??= performance.now();
        this.instructionsAtEntry ??= cpu.instructions();
      }
    } else if (id === SET_VARIABLE) this.saveVarsIfChanged();
  }

  /** With a store file: write it (atomically) when a non-volatile variable changed. */
  saveVarsIfChanged(): void {
    if (!this.varsPath || this.fw.varsGeneration === this.varsSaved) return;
    try {
      writeVarStore(this.varsPath, this.fw.varsBytes());
    } catch (e) {
      throw new VarStoreError(`could not be saved (${(e as Error).message}); the file holds the store as last saved`);
    }
    this.varsSaved = this.fw.varsGeneration;
  }

  /** Copy an image into guest memory and load it; throws a LoadError naming the field. */
  loadImage(bytes: Uint8Array, cmdline?: string): bigint {
    return this.loadStaged(bytes.length, Math.ceil(bytes.length / PAGE) || 1, PAGE, (ram) => ram.set(bytes), cmdline, "image");
  }

  /**
   * loadImage for a file, read straight into guest memory and, where the file lies as the
   * image would (Linux's bzImage), loaded where it was read: no kernel-sized copy.
   */
  loadImageFile(path: string, cmdline?: string): bigint {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      if (size > this.fw.ram.length) throw new LoadError(STATUS.LOAD_ERROR, `the file (${size} bytes) is larger than guest RAM`, 0n);
      const head = new Uint8Array(Math.min(size, PAGE));
      readAt(fd, head, 0);
      // Room for the whole image, aligned as it asks (an arm64 Image: 64 KiB), so that the
      // firmware can take the buffer as it (it checks every field; a wrong hint here only
      // means a copy).
      const hint = peLayoutHint(head);
      const pages = Math.max(Math.ceil(size / PAGE), Math.ceil(hint.sizeOfImage / PAGE), 1);
      const align = hint.sectionAlignment > PAGE && hint.sectionAlignment <= MAX_STAGING_ALIGN && !(hint.sectionAlignment & (hint.sectionAlignment - 1)) ? hint.sectionAlignment : PAGE;
      return this.loadStaged(size, pages, align, (ram) => {
        const got = readAt(fd, ram, 0);
        if (got < size) throw new Error(`${path}: ended at byte ${got} of ${size} while reading`);
      }, cmdline, basename(path));
    } finally {
      closeSync(fd);
    }
  }

  /**
   * `pages` aligned to `align` for `size` bytes, filled by `fill`, given to the firmware's
   * PE loader (which may keep them as the image).
   */
  private loadStaged(size: number, pages: number, align: number, fill: (ram: Uint8Array) => void, cmdline: string | undefined, name: string): bigint {
    const slack = align / PAGE - 1;
    const whole = this.fw.allocPages(MEMORY_TYPE.BootServicesData, pages + slack, "copied");
    const buf = (whole + BigInt(align - 1)) & ~BigInt(align - 1);
    const before = Number(buf - whole) / PAGE;
    if (before) this.fw.freePages(whole, before);
    if (slack - before) this.fw.freePages(buf + BigInt(pages * PAGE), slack - before);
    const file = this.fw.ram.subarray(Number(buf), Number(buf) + size);
    fill(file);
    const syms = peSymbols(file); // before the load, which may zero what lies between the sections
    const r = this.fw.loadImageInPlace(buf, size, pages);
    if (!r.adopted) this.fw.freePages(buf, pages);
    if (r.status !== 0n) throw new LoadError(r.status, r.error, r.offset);
    const base = syms && this.fw.imageBase(r.handle);
    if (syms && base) this.images.push({ name, base, end: base + BigInt(syms.size), syms });
    if (cmdline !== undefined) {
      const text = Buffer.from(cmdline + "\0", "utf16le");
      const opts = this.fw.allocPages(MEMORY_TYPE.LoaderData, Math.ceil(text.length / PAGE));
      this.fw.ram.set(text, Number(opts));
      this.fw.setLoadOptions(r.handle, opts, text.length);
    }
    return r.handle;
  }

  /**
   * Load what the firmware's boot manager picks (BootNext, BootOrder, then the removable
   * path on each file system); throws a LoadError when nothing loads.
   */
  loadBootOption(): bigint {
    const r = this.fw.boot();
    if (r.status !== 0n) throw new LoadError(r.status, r.error, r.offset);
    return r.handle;
  }

  /**
   * "file: symbol+0xoff" (or "file+0xrva") for an address inside an image the host loaded,
   * while boot services last (after them an OS has its own map: System.map).
   */
  symbolize(at: bigint): string | undefined {
    if (this.bootServicesExited) return undefined;
    const im = this.images.find((i) => at >= i.base && at < i.end);
    if (!im) return undefined;
    const rva = Number(at - im.base);
    const name = nameAt(im.syms, rva);
    return name ? `${im.name}: ${name}` : `${im.name}+0x${rva.toString(16)}`;
  }

  /** StartImage on a loaded image: how the machine ended. */
  start(handle: bigint): Ending {
    return this.state.settle(() => ({ kind: "returned", status: this.fw.startImage(handle) }), (at) => this.cpu.symbolize(at));
  }

  /** The display as it is now, as RGBA (the framebuffer's BGRX pixels); undefined without one. */
  screenshot(): { width: number; height: number; rgba: Uint8Array } | undefined {
    const s = this.fw.screen;
    if (!s) return undefined;
    const rgba = new Uint8Array(s.width * s.height * 4);
    const fb = this.fw.ram.subarray(s.base, s.base + rgba.length);
    for (let i = 0; i < rgba.length; i += 4) {
      rgba[i] = fb[i + 2];
      rgba[i + 1] = fb[i + 1];
      rgba[i + 2] = fb[i];
      rgba[i + 3] = 0xff;
    }
    return { width: s.width, height: s.height, rgba };
  }

  /** Save what the guest wrote to writable disks, each atomically (Disk.commit). */
  commitDisks(): void {
    for (const d of this.disks) d.commit();
  }
}
