// The PC around an x86-64 CPU: the port devices on one bus (host/devices), the 8259A pair
// and the local APIC as the interrupt controllers (host/interrupts.ts names no device:
// each adds its IrqSource where the devices are made), CPUID as the machine presents it,
// and the rest of the 32-bit physical space as an open bus. A new port device is added
// in host/devices/index.ts; the machine only routes OUT to portOut (its EFI trap gate
// owns one port).
import type { Unicorn } from "../unicorn/index.ts";
import * as C from "../unicorn/consts.ts";
import { pcDevices, type PcDevices, type ResetSource } from "../devices/index.ts";
import { Lapic, LAPIC_BASE, LAPIC_SIZE } from "../devices/lapic.ts";
import { InterruptRouter } from "../interrupts.ts";
import { cpuidOverride, CRYSTAL_HZ } from "./cpuid.ts";
import { unicornCpuid } from "../unicorn/quirks.ts";
import { wallMs, type Clock } from "../clock.ts";

const CPUID_REGS = [C.UC_X86_REG_EAX, C.UC_X86_REG_EBX, C.UC_X86_REG_ECX, C.UC_X86_REG_EDX];

export interface PcEvents {
  /** A line the guest wrote to COM1. */
  onLine(line: string): void;
  onReset(source: ResetSource): void;
  /** ACPI soft-off. */
  onPowerOff(): void;
  /** Host notes: unemulated ports and addresses, once each. */
  log(message: string): void;
  /** The guest programmed a timer, unmasked or acknowledged an interrupt: when the next one is due may have moved. */
  onProgrammed(): void;
}

export class PcPlatform {
  readonly devices: PcDevices;
  readonly interrupts: InterruptRouter;
  private readonly openBusPages = new Set<bigint>();
  private readonly rip: () => bigint;

  constructor(uc: Unicorn, clock: Clock, ramBytes: number, private readonly ev: PcEvents) {
    this.rip = () => uc.regRead(C.UC_X86_REG_RIP);
    this.devices = pcDevices({
      timeNs: () => clock.now(),
      clockMs: () => wallMs(clock),
      ramBytes,
      onLine: ev.onLine,
      onReset: ev.onReset,
      onPowerOff: ev.onPowerOff,
      // RIP is read at the first access only (and may be stale inside an I/O hook).
      onUnknown: (port, kind, at) => ev.log(`io: ${kind} of unemulated port 0x${port.toString(16)} at RIP 0x${at.toString(16)}`),
    });
    const lapic = new Lapic(() => clock.now(), CRYSTAL_HZ);
    this.interrupts = new InterruptRouter(this.devices.pic, lapic, this.devices.irqs);
    uc.hookInsnIn((port, size) => this.portIn(port, size));
    // Probed (or read from the cache) here, not inside the hook: a second engine is not
    // made while this one runs.
    const cpuidBase = unicornCpuid();
    uc.hookCpuid(() => {
      const leaf = Number(uc.regRead(C.UC_X86_REG_EAX) & 0xffffffffn);
      const r = cpuidOverride(leaf, Number(uc.regRead(C.UC_X86_REG_ECX) & 0xffffffffn), clock.tscKhz, () => cpuidBase);
      if (!r) return false;
      uc.regWriteBatch(CPUID_REGS, r.map(BigInt));
      return true;
    });
    uc.mmioMap(LAPIC_BASE, LAPIC_SIZE, (off) => BigInt(lapic.read(Number(off))), (off, _size, v) => {
      lapic.write(Number(off), Number(v & 0xffffffffn));
      ev.onProgrammed();
    });
    // The rest of the 32-bit physical space nobody emulates (IO-APIC, HPET, ROM...) is an
    // open bus, as on a PC: reads are all ones, writes vanish, each page logged once.
    // (Mapping lazily from Unicorn's invalid-memory hook recursed inside the engine.)
    const ram = BigInt(ramBytes);
    for (const [from, to] of [[ram, BigInt(LAPIC_BASE)], [BigInt(LAPIC_BASE + LAPIC_SIZE), 1n << 32n]]) {
      if (to > from) uc.mmioMap(from, Number(to - from), (off, size) => this.openBus(from + off, "read of", size), (off) => void this.openBus(from + off, "write to"));
    }
  }

  /**
   * An IN. A device's level-triggered line can fall and rise again at any access (a
   * UART's IIR read drops THRE, the next THR write raises it): the controller sees each
   * level as it is after every access, so no edge is lost between two looks.
   */
  portIn(port: number, size: number): number {
    const v = this.devices.bus.read(port, size as 1 | 2 | 4, this.rip);
    this.interrupts.driveLevels();
    return v;
  }

  /** An OUT (every port but the EFI trap's). */
  portOut(port: number, size: number, value: number): void {
    this.devices.bus.write(port, size as 1 | 2 | 4, value, this.rip);
    this.interrupts.driveLevels();
    this.ev.onProgrammed();
  }

  /** Bytes typed for COM1's receiver. */
  serialInput(bytes: Uint8Array): void {
    this.devices.com1.input(bytes);
    this.interrupts.driveLevels();
    this.ev.onProgrammed();
  }

  private openBus(addr: bigint, kind: string, size = 8): bigint {
    const page = addr >> 12n;
    if (!this.openBusPages.has(page)) {
      this.openBusPages.add(page);
      this.ev.log(`mmio: ${kind} unemulated address 0x${addr.toString(16)} at RIP 0x${this.rip().toString(16)}`);
    }
    return (1n << BigInt(8 * size)) - 1n;
  }
}
