// Calls firmware services directly, as the OUT hook does, with no guest code: fills
// the argument area (RCX, RDX, R8, R9, RSP, CR3 = 0: pointers are physical) and reads
// results from guest memory. Shared by the service tests.
import { Machine, type MachineOptions } from "../host/machine.ts";
import { guestClock } from "../host/clock.ts";
import { serviceByName } from "../firmware/spec/services.ts";
import { MEMORY_TYPE as MT } from "../firmware/spec/uefi.ts";

const PAGE = 4096n;
const SCRATCH_PAGES = 16;

/**
 * A firmware on a machine, and a way to call its services: one firmware-owned scratch
 * area in guest RAM holds out-parameters and a fake guest stack for arguments 5 onwards
 * ([RSP] return address, [RSP+8, RSP+0x28) shadow space, then argument 5, 6, ...).
 */
export class ServiceCaller {
  readonly m: Machine;
  readonly ramBytes: bigint;
  private readonly scratch: bigint;
  private next = 0n;
  private readonly stack: bigint;

  /**
   * On a new machine made with `options`, or on an existing machine. A new machine's
   * clock is by default a guest clock with no progress: time moves only where a service
   * skips it (Stall, WaitForEvent), so tests of time assert exact values.
   */
  constructor(options: MachineOptions | Machine = {}) {
    this.m = options instanceof Machine ? options : new Machine({ clock: guestClock(), ...options });
    this.ramBytes = BigInt(this.m.fw.ram.length);
    this.scratch = this.m.fw.allocPages(MT.BootServicesData, SCRATCH_PAGES);
    this.stack = this.buf(0x100);
  }

  /** Bytes of zeroed scratch guest memory, 16-byte aligned. */
  buf(bytes: number): bigint {
    const p = this.scratch + this.next;
    this.next += (BigInt(bytes) + 15n) & ~15n;
    if (this.next > BigInt(SCRATCH_PAGES) * PAGE) throw new Error("scratch exhausted");
    this.m.fw.ram.fill(0, Number(p), Number(p) + bytes);
    return p;
  }
  /** Run fn, then give back the scratch memory it took (for loops of calls). */
  scoped<T>(fn: () => T): T {
    const mark = this.next;
    try { return fn(); } finally { this.next = mark; }
  }
  u64(p: bigint): bigint { return this.m.fw.ramView.getBigUint64(Number(p), true); }
  u32(p: bigint): number { return this.m.fw.ramView.getUint32(Number(p), true); }
  setU64(p: bigint, v: bigint): void { this.m.fw.ramView.setBigUint64(Number(p), v, true); }
  /** A fresh 8-byte out-parameter holding v. */
  cell(v = 0n): bigint { const p = this.buf(8); this.setU64(p, v); return p; }
  /** A NUL-terminated UCS-2 string in scratch memory. */
  ucs2(text: string): bigint {
    const b = Buffer.from(text + "\0", "utf16le");
    const p = this.buf(b.length);
    this.m.fw.ram.set(b, Number(p));
    return p;
  }
  /** Bytes in scratch memory. */
  bytes(b: Uint8Array): bigint {
    const p = this.buf(b.length);
    this.m.fw.ram.set(b, Number(p));
    return p;
  }

  /** Call service `name` ("BS.AllocatePages") with Microsoft x64 arguments; its status. */
  call(name: string, ...args: bigint[]): bigint {
    const svc = serviceByName(name);
    for (let i = 4; i < args.length; i++) this.setU64(this.stack + 0x28n + 8n * BigInt(i - 4), args[i]);
    const regs = [0n, 0n, 0n, 0n].map((z, i) => args[i] ?? z);
    this.m.fw.args.fill(0n);
    this.m.fw.args.set([...regs, this.stack]);
    return this.m.fw.dispatch(svc.id);
  }

  close(): void {
    this.m.close();
  }
}
