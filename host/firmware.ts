// Loads the WASM firmware and gives the host a typed view of it.
//
// One WebAssembly.Memory, initial = maximum so its buffer never moves: the low
// GUEST_BASE bytes are the firmware's private state, the next ramBytes are guest RAM
// (mapped into Unicorn at guest physical 0 with uc_mem_map_ptr).
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./paths.ts";
import { ARG_SLOTS } from "../firmware/spec/services.ts";
import { PE_CONST } from "../firmware/spec/pe.ts";
import { FirmwareError, VarStoreError } from "./errors.ts";
import { FIRMWARE_EXPORTS, type FirmwareExports, type FirmwareImports } from "../firmware/spec/boundary.ts";

export const FIRMWARE_WASM = join(ROOT, "build/firmware.wasm");
const WASM_PAGE = 65536;

/** What the firmware calls back into (its `host` imports). */
export interface FirmwareHost {
  consoleOut(text: string): void;
  resetSystem(type: number, status: bigint): void;
  callGuest(fn: bigint, a0: bigint, a1: bigint): bigint;
  unwindGuest(): void;
  /** Guest time, ns since the Unix epoch (host/clock.ts). */
  timeNs(): bigint;
  /** Guest time moves on to `ns` since the epoch at once. */
  timeSkip(ns: bigint): void;
  /** The guest waits for events nothing will signal: end the run (throws). */
  waitForever(): never;
  /** The next keystroke's guest time, ns since the epoch; undefined when none is coming. */
  keyNext(): bigint | undefined;
  /** The keystroke due now, as ScanCode << 16 | UnicodeChar; undefined when none is. */
  keyTake(): number | undefined;
  /** Random bytes for EFI_RNG_PROTOCOL, written into `out` (a view of the firmware's memory). */
  randomFill(out: Uint8Array): void;
  codeWritten(base: bigint, bytes: bigint): void;
  /** Fill `out` from host disk `disk` at byte `offset`; false when it cannot (no such disk, outside it). */
  diskRead?(disk: number, offset: number, out: Uint8Array): boolean;
  /** Write `data` to host disk `disk` at byte `offset`; false when it cannot (read-only, outside). */
  diskWrite?(disk: number, offset: number, data: Uint8Array): boolean;
  /** The WASM memory, before the firmware first touches it (e.g. to advise huge pages). */
  memoryCreated?(memory: Uint8Array): void;
}

const u64 = (v: bigint) => BigInt.asUintN(64, v);

/** The module instantiated, or a FirmwareError: another program's WASM asks for imports this host does not give. */
function instantiate(path: string, module: WebAssembly.Module, imports: WebAssembly.Imports): WebAssembly.Instance {
  try {
    return new WebAssembly.Instance(module, imports);
  } catch (e) {
    throw new FirmwareError(path, `not ueficorn's firmware, or built for another host (${(e as Error).message})`);
  }
}
/** Compiled firmware modules, by file and version: each build compiled once per process. */
const modules = new Map<string, WebAssembly.Module>();

/** What a load reports: SUCCESS and the image's handle, or the status and the field it names (message and file offset). */
export interface LoadResult { status: bigint; handle: bigint; error: string; offset: bigint }

export class Firmware {
  readonly memory: WebAssembly.Memory;
  readonly guestBase: number;
  /** Guest RAM: guest physical p is ram[p]. */
  readonly ram: Uint8Array;
  readonly ramView: DataView;
  /** The argument block of the current call (firmware/spec/services.ts ARG_SLOTS), in WASM memory. */
  readonly args: BigUint64Array;
  private readonly x: FirmwareExports;

  /** `machine`: the PE machine of the CPU it serves (0x8664 x86-64, 0xAA64 AArch64). */
  constructor(readonly ramBytes: number, host: FirmwareHost, wasmPath = FIRMWARE_WASM, readonly machine: number = PE_CONST.MACHINE_X64) {
    if (ramBytes % WASM_PAGE !== 0 || ramBytes < 16 << 20) throw new Error(`guest RAM must be a multiple of 64 KiB and at least 16 MiB, not ${ramBytes}`);
    const { mtimeMs, size } = statSync(wasmPath);
    const key = `${wasmPath} ${mtimeMs} ${size}`;
    let module = modules.get(key);
    if (!module) {
      try {
        module = new WebAssembly.Module(readFileSync(wasmPath));
      } catch (e) {
        throw new FirmwareError(wasmPath, `not a WebAssembly module (${(e as Error).message})`);
      }
      modules.set(key, module);
    }
    // GUEST_BASE is fixed in firmware/mem.ts; checked against the module below.
    const guestBase = 16 << 20;
    const pages = (guestBase + ramBytes) / WASM_PAGE;
    if (pages > 65536) throw new Error(`guest RAM of ${ramBytes >> 20} MiB does not fit in 4 GiB of WASM memory`);
    // Shared: V8 counts a plain ArrayBuffer's bytes as its heap's external memory, and a
    // fresh guest RAM's hundreds of MiB set off a full garbage collection in every start-up.
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    host.memoryCreated?.(new Uint8Array(this.memory.buffer));
    // WASM passes a usize as an i32: addresses past 2 GiB (guest RAM above 2 GiB - 16 MiB) arrive negative.
    const text = (p: number, bytes: number) => Buffer.from(this.memory.buffer, p >>> 0, bytes >>> 0).toString("utf16le");
    const imports: FirmwareImports = {
      console_out: (p: number, bytes: number) => host.consoleOut(text(p, bytes)),
      reset_system: (type: number, status: bigint) => host.resetSystem(type, u64(status)),
      call_guest: (fn: bigint, a0: bigint, a1: bigint) => host.callGuest(u64(fn), u64(a0), u64(a1)),
      unwind_guest: () => host.unwindGuest(),
      time_ns: () => host.timeNs(),
      time_skip: (ns: bigint) => host.timeSkip(u64(ns)),
      wait_forever: () => host.waitForever(),
      key_next: () => host.keyNext() ?? 2n ** 64n - 1n,
      key_take: () => host.keyTake() ?? 0xffff_ffff,
      random_fill: (p: number, bytes: number) => host.randomFill(new Uint8Array(this.memory.buffer, p >>> 0, bytes >>> 0)),
      code_written: (base: bigint, bytes: bigint) => host.codeWritten(u64(base), u64(bytes)),
      disk_read: (disk: number, offset: bigint, p: number, bytes: number) => host.diskRead?.(disk, Number(u64(offset)), new Uint8Array(this.memory.buffer, p >>> 0, bytes >>> 0)) ? 1 : 0,
      disk_write: (disk: number, offset: bigint, p: number, bytes: number) => host.diskWrite?.(disk, Number(u64(offset)), new Uint8Array(this.memory.buffer, p >>> 0, bytes >>> 0)) ? 1 : 0,
    };
    // Typed by the firmware's own declaration (firmware/spec/boundary.ts, generated): a host
    // function missing or of another shape is a compile error here.
    const instance = instantiate(wasmPath, module, { env: { memory: this.memory }, host: { ...imports } });
    this.x = instance.exports as unknown as FirmwareExports;
    const missing = FIRMWARE_EXPORTS.filter((name) => typeof (instance.exports as Record<string, unknown>)[name] !== "function");
    if (missing.length) throw new FirmwareError(wasmPath, `not ueficorn's firmware: no ${missing.join(", ")}`);
    this.guestBase = this.x.fw_guest_base();
    if (this.guestBase !== guestBase) throw new FirmwareError(wasmPath, `GUEST_BASE ${this.guestBase} differs from the host's ${guestBase}`);
    const end = this.x.fw_private_end();
    if (end > this.guestBase) throw new Error(`firmware private state (${end} bytes) reaches into guest RAM at ${this.guestBase}`);
    this.ram = new Uint8Array(this.memory.buffer, this.guestBase, ramBytes);
    this.ramView = new DataView(this.memory.buffer, this.guestBase, ramBytes);
    this.args = new BigUint64Array(this.memory.buffer, this.x.fw_args(), ARG_SLOTS.length);
    if (!this.x.fw_set_machine(machine)) throw new FirmwareError(wasmPath, `serves no CPU of PE machine 0x${machine.toString(16)}`);
    const st = u64(this.x.fw_init(BigInt(ramBytes)));
    if (st !== 0n) throw new Error(`firmware initialisation failed with status 0x${st.toString(16)}`);
  }

  get systemTable(): bigint { return u64(this.x.fw_system_table()); }
  /** Guest address of the thunk page (one 8-byte thunk per service id). */
  get thunks(): bigint { return u64(this.x.fw_thunks()); }

  /** Zeroed pages; `contents: "copied"` leaves them as they are, for a caller that overwrites them. */
  allocPages(type: number, pages: number, contents: "zeroed" | "copied" = "zeroed"): bigint {
    const p = u64(this.x.fw_alloc_pages(type, BigInt(pages), contents === "zeroed" ? 1 : 0));
    if (p === 2n ** 64n - 1n) throw new Error(`firmware has no ${pages} free pages for the host`);
    return p;
  }

  freePages(addr: bigint, pages: number): void {
    this.x.fw_free_pages(addr, BigInt(pages));
  }

  /** Load a PE image already copied into guest memory. */
  loadImage(src: bigint, size: number): LoadResult {
    return this.loadResult(this.x.fw_load_image(src, BigInt(size)));
  }

  /**
   * loadImage for a buffer of `pages` at src that the caller gives up: the firmware may
   * make it the image itself (firmware/loader.ts offerSourceAsImage); `adopted` says it
   * did, and then none of the buffer is the caller's to free.
   */
  loadImageInPlace(src: bigint, size: number, pages: number): LoadResult & { adopted: boolean } {
    const r = this.loadResult(this.x.fw_load_image_in_place(src, BigInt(size), BigInt(pages)));
    return { ...r, adopted: this.x.fw_load_adopted() !== 0 };
  }

  /** A load's status, with the handle it made or the error it named. */
  private loadResult(raw: bigint): LoadResult {
    const status = u64(raw);
    if (status === 0n) return { status, handle: u64(this.x.fw_loaded_handle()), error: "", offset: 0n };
    return { status, handle: 0n, error: this.readAsString(this.x.fw_load_error()), offset: u64(this.x.fw_load_error_offset()) };
  }

  /** Where the image with `handle` was loaded; 0n when the handle is no image. */
  imageBase(handle: bigint): bigint { return u64(this.x.fw_image_base(handle)); }

  setLoadOptions(handle: bigint, p: bigint, bytes: number): void {
    const st = u64(this.x.fw_set_load_options(handle, p, bytes));
    if (st !== 0n) throw new Error(`setting LoadOptions failed: 0x${st.toString(16)}`);
  }

  startImage(handle: bigint): bigint { return u64(this.x.fw_start_image(handle)); }
  /** A HLT in boot services: the firmware's timer tick; false when nothing will ever wake the guest. */
  idle(): boolean { return this.x.fw_idle() !== 0; }
  dispatch(id: number): bigint { return u64(this.x.dispatch(id)); }
  /** dispatch() leaving the status in the argument block's STATUS slot (the trap gate's path). */
  trap(id: number): void { this.x.fw_trap(id); }
  arg(i: number): bigint { return u64(this.x.fw_arg(i)); }
  get bootServicesExited(): boolean { return this.x.fw_boot_services_exited() !== 0; }
  stubbed(id: number): boolean { return this.x.fw_stubbed(id) !== 0; }

  /** Replace the variable store with a saved one; throws naming the first bad byte. */
  loadVars(bytes: Uint8Array): void {
    if (bytes.length > this.x.fw_vars_capacity()) throw new VarStoreError(`is ${bytes.length} bytes, more than the ${this.x.fw_vars_capacity()}-byte store`, 0);
    const store = new Uint8Array(this.memory.buffer, this.x.fw_vars_store(), this.x.fw_vars_capacity());
    const saved = store.slice();
    store.fill(0);
    store.set(bytes);
    const bad = this.x.fw_vars_load(bytes.length);
    if (bad !== 0) {
      store.set(saved);
      throw new VarStoreError("is corrupt", bad - 1);
    }
  }

  /** The variable store as it would be saved. */
  varsBytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer, this.x.fw_vars_store(), this.x.fw_vars_used()).slice();
  }

  /** Set the boot manager's variables the store lacks (after loadVars, before the guest runs). */
  varsDefaults(): void { this.x.fw_vars_defaults(); }

  /** Changes whenever a non-volatile variable changes. */
  get varsGeneration(): number { return this.x.fw_vars_generation(); }

  setInitrd(base: bigint, size: number): void {
    const st = u64(this.x.fw_set_initrd(base, BigInt(size)));
    if (st !== 0n) throw new Error(`offering the initrd failed: 0x${st.toString(16)}`);
  }

  /** Publish ACPI tables already in guest memory: the ACPI 2.0 configuration table points at `rsdp`. */
  setAcpi(rsdp: bigint): void {
    const st = u64(this.x.fw_set_acpi(rsdp));
    if (st !== 0n) throw new Error(`publishing the ACPI tables failed: 0x${st.toString(16)}`);
  }

  /** Publish a device tree already in guest memory as the DTB configuration table. */
  setDeviceTree(fdt: bigint): void {
    const st = u64(this.x.fw_set_device_tree(fdt));
    if (st !== 0n) throw new Error(`publishing the device tree failed: 0x${st.toString(16)}`);
  }

  /** Attach a disk of `sectors` 512-byte sectors (host disk index = order of calls): the number of handles made for it and its partitions. */
  addDisk(sectors: number, readOnly: boolean): number {
    const n = this.x.fw_add_disk(BigInt(sectors), 512, readOnly ? 1 : 0);
    if (n === 0) throw new Error("the firmware has no room for another disk");
    return n;
  }

  /** The boot manager: load the first bootable option, as loadImage reports it. */
  boot(): { status: bigint; handle: bigint; error: string; offset: bigint } {
    const status = u64(this.x.fw_boot());
    if (status === 0n) return { status, handle: u64(this.x.fw_loaded_handle()), error: "", offset: 0n };
    return { status, handle: 0n, error: this.readAsString(this.x.fw_load_error()), offset: u64(this.x.fw_load_error_offset()) };
  }

  /** A display of width x height pixels (GraphicsOutput, 32-bit BGRX, linear framebuffer in guest RAM). */
  setScreen(width: number, height: number): void {
    const st = u64(this.x.fw_set_screen(width, height));
    if (st !== 0n) throw new Error(`no room in guest RAM for a ${width}x${height} framebuffer`);
  }

  /** The display, if there is one: its framebuffer's guest address and size. */
  get screen(): { base: number; width: number; height: number } | undefined {
    const base = Number(u64(this.x.fw_framebuffer()));
    const wh = this.x.fw_screen_size() >>> 0;
    return base ? { base, width: wh >>> 16, height: wh & 0xffff } : undefined;
  }

  /** An AssemblyScript string: UTF-16 code units, byte length in the word before it. */
  private readAsString(p: number): string {
    const bytes = new DataView(this.memory.buffer).getUint32(p - 4, true);
    return Buffer.from(this.memory.buffer, p, bytes).toString("utf16le");
  }
}
