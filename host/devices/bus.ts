// The x86 I/O port space (64 KiB of ports, accessed by IN/OUT with 1, 2 or 4 bytes) and
// the devices on it. A port nobody emulates behaves as on an empty ISA bus: reads float
// to all ones, writes vanish. Linux relies on that to find absent hardware (the 8250
// driver's IER test on COM2-4, i8237_init reading 0x00 and 0xd0, the i8042 flush loop).
//
// Dispatch is one Uint8Array lookup by the access's first port: a device sees a 2- or
// 4-byte access at its own port and decides what the wider access means (PCI config data
// does; the ISA devices here are byte-wide and use the low byte). Linux writes thousands
// of UART bytes per screen of log, so nothing on this path allocates.

/** One device: the inclusive port ranges it decodes, and its register behaviour. */
export interface PortDevice {
  name: string;
  /** Inclusive [first, last] port ranges. */
  ports: [number, number][];
  read(port: number, size: 1 | 2 | 4): number;
  write(port: number, size: 1 | 2 | 4, value: number): void;
}

export type AccessKind = "read" | "write";

export interface UnknownPort { reads: number; writes: number; firstRip: bigint }

/** The guest RIP of an access, or a function reading it: RIP costs a register read
 *  through Unicorn, and is needed only the first time an unknown port is hit. */
export type Rip = bigint | (() => bigint);

/** Port 0x80, the POST-code port: Linux's io_delay writes it between slow ISA accesses
 *  (outb_p, arch/x86/include/asm/io.h), hundreds of times while booting. Nothing
 *  decodes it on a PC after POST, so reads float; it is named only so it stays quiet. */
export const POST_PORT = 0x80;

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffff_ffff] as const;

export class PortBus {
  private readonly devices: PortDevice[] = [];
  /** Device index + 1 per port, 0 = nothing decodes it. */
  private readonly map = new Uint8Array(0x1_0000);
  /** Every access to an undecoded port, by port. */
  readonly unknown = new Map<number, UnknownPort>();
  /** Called once per undecoded port, on its first access. */
  onUnknown: (port: number, kind: AccessKind, rip: bigint) => void;
  /** The last value written to the POST port, for a host that wants to show it. */
  post = 0;

  constructor(onUnknown: (port: number, kind: AccessKind, rip: bigint) => void = () => {}) {
    this.onUnknown = onUnknown;
  }

  add<D extends PortDevice>(dev: D): D {
    if (this.devices.length === 0xff) throw new Error("PortBus: too many devices");
    for (const [first, last] of dev.ports) {
      if (!(0 <= first && first <= last && last <= 0xffff)) {
        throw new Error(`PortBus: ${dev.name}: bad port range ${hex(first)}-${hex(last)}`);
      }
      for (let p = first; p <= last; p++) {
        const owner = p === POST_PORT ? "POST" : this.map[p] ? this.devices[this.map[p] - 1].name : "";
        if (owner) throw new Error(`PortBus: ${dev.name} claims port ${hex(p)}, already ${owner}'s`);
      }
    }
    this.devices.push(dev);
    for (const [first, last] of dev.ports) this.map.fill(this.devices.length, first, last + 1);
    return dev;
  }

  /** The device decoding a port, if any. */
  deviceAt(port: number): PortDevice | undefined {
    const i = this.map[port & 0xffff];
    return i ? this.devices[i - 1] : undefined;
  }

  read(port: number, size: 1 | 2 | 4, rip: Rip = 0n): number {
    const i = this.map[port];
    if (i) return this.devices[i - 1].read(port, size);
    if (port !== POST_PORT) this.miss(port, "read", rip);
    return ALL_ONES[size];
  }

  write(port: number, size: 1 | 2 | 4, value: number, rip: Rip = 0n): void {
    const i = this.map[port];
    if (i) return this.devices[i - 1].write(port, size, value);
    if (port === POST_PORT) this.post = value & 0xff;
    else this.miss(port, "write", rip);
  }

  private miss(port: number, kind: AccessKind, rip: Rip): void {
    let u = this.unknown.get(port);
    if (!u) {
      u = { reads: 0, writes: 0, firstRip: typeof rip === "function" ? rip() : rip };
      this.unknown.set(port, u);
      this.onUnknown(port, kind, u.firstRip);
    }
    if (kind === "read") u.reads++;
    else u.writes++;
  }
}

const hex = (n: number) => "0x" + n.toString(16).padStart(4, "0");
