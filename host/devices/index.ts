// The port-I/O devices of a PC, on one bus, as the host's machine wires them: COM1, the
// PIT and port 0x61, the CMOS RTC, the i8042, both 8259As with ELCR, PCI configuration
// mechanism #1 with its reset register, and the ACPI PM1 registers (power-off only).

import { type AccessKind, PortBus } from "./bus.ts";
import { Cmos } from "./cmos.ts";
import { Kbc8042 } from "./kbc.ts";
import { PciHost } from "./pci.ts";
import { AcpiPm } from "./acpi-pm.ts";
import { Pic8259Pair } from "./pic.ts";
import { Pit } from "./pit.ts";
import { COM1, Uart16550A } from "./uart.ts";
import type { IrqSource } from "../interrupts.ts";

export { type AccessKind, type PortDevice, PortBus, POST_PORT } from "./bus.ts";
export { Cmos } from "./cmos.ts";
export { Kbc8042 } from "./kbc.ts";
export { PciHost } from "./pci.ts";
export { Pic8259Pair } from "./pic.ts";
export { Pit, PIT_HZ } from "./pit.ts";
export { COM1, COM2, Uart16550A } from "./uart.ts";

export type ResetSource = "kbc" | "pci-cf9";

export interface PcDevicesOptions {
  /** Time source for the PIT, in ns (a virtual clock from guest progress, or wall time). */
  timeNs: () => number;
  /** Wall clock for the RTC, ms since the epoch, UTC; default Date.now. */
  clockMs?: () => number;
  /** Guest RAM size, for the CMOS memory-size bytes. */
  ramBytes?: number;
  onLine?: (line: string) => void;
  onByte?: (b: number) => void;
  onReset?: (source: ResetSource) => void;
  /** The guest switched the machine off (ACPI soft-off). */
  onPowerOff?: () => void;
  onUnknown?: (port: number, kind: AccessKind, rip: bigint) => void;
}

export interface PcDevices {
  bus: PortBus;
  /** What drives each 8259A input: PIT counter 0 IRQ 0 (edges), COM1 IRQ 4 (level). */
  irqs: IrqSource[];
  com1: Uart16550A;
  pit: Pit;
  cmos: Cmos;
  kbc: Kbc8042;
  pic: Pic8259Pair;
  pci: PciHost;
  acpi: AcpiPm;
}

export function pcDevices(o: PcDevicesOptions): PcDevices {
  const onReset = o.onReset ?? (() => {});
  const bus = new PortBus(o.onUnknown);
  const com1 = bus.add(new Uart16550A(COM1, { name: "com1", onLine: o.onLine, onByte: o.onByte }));
  const pit = bus.add(new Pit(o.timeNs));
  return {
    bus,
    irqs: [
      { irq: 0, nextRiseNs: (since) => pit.counters[0].nextRiseNs(since) },
      { irq: 4, level: () => com1.irq, raised: () => com1.raised },
    ],
    com1,
    pit,
    cmos: bus.add(new Cmos({ clock: o.clockMs, ramBytes: o.ramBytes })),
    kbc: bus.add(new Kbc8042({ onReset })),
    pic: bus.add(new Pic8259Pair()),
    pci: bus.add(new PciHost({ onReset })),
    acpi: bus.add(new AcpiPm(o.onPowerOff ?? (() => {}))),
  };
}
