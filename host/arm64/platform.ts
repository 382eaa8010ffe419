// The AArch64 platform ueficorn builds: where its devices are and the device tree that
// says so. RAM starts at 0 (up to 3 GiB, as on x86-64); the devices sit above it, at
// addresses of our choosing: an OS finds them in the tree, not at fixed places.
import { cells64, type FdtNode } from "./fdt.ts";

export const GICD_BASE = 0xc800_0000, GICD_SIZE = 0x1_0000; // GICv2 distributor
export const GICC_BASE = 0xc801_0000, GICC_SIZE = 0x1_0000; // GICv2 CPU interface
export const UART_BASE = 0xc900_0000, UART_SIZE = 0x1000; // PL011
/** The PL011's shared peripheral interrupt (GIC INTID 32 + 1). */
export const UART_SPI = 1;
/** The generic timer's private peripheral interrupts (INTID 16 + n): secure and non-secure physical, virtual, hypervisor. */
export const TIMER_PPI = { secure: 13, physical: 14, virtual: 11, hyp: 10 } as const;
/** The UART's reference clock: PL011 divisors are computed from it. */
export const UART_CLOCK_HZ = 24_000_000;

const PHANDLE_GIC = 1, PHANDLE_CLOCK = 2;
// Interrupt specifiers (Documentation/devicetree/bindings/interrupt-controller/arm,gic.yaml):
// type (0 SPI, 1 PPI), number, flags (4 level high; for PPIs the CPU mask in bits 15:8).
const SPI = 0, PPI = 1, LEVEL_HIGH = 4, PPI_CPU0 = 0x100;

/** The tree for a machine with `ramBytes` of RAM at 0; the boot loader adds /chosen's bootargs and initrd. */
export function platformTree(ramBytes: number): FdtNode {
  const uart = `/pl011@${UART_BASE.toString(16)}`;
  const ppi = (n: number) => [PPI, n, PPI_CPU0 | LEVEL_HIGH];
  return {
    props: {
      compatible: "ueficorn,virt", model: "ueficorn AArch64", "#address-cells": [2], "#size-cells": [2], "interrupt-parent": [PHANDLE_GIC],
    },
    children: {
      chosen: { props: { "stdout-path": uart } },
      aliases: { props: { serial0: uart } },
      "memory@0": { props: { device_type: "memory", reg: [...cells64(0), ...cells64(ramBytes)] } },
      cpus: {
        props: { "#address-cells": [1], "#size-cells": [0] },
        children: { "cpu@0": { props: { device_type: "cpu", compatible: "arm,cortex-a72", reg: [0], "enable-method": "psci" } } },
      },
      psci: { props: { compatible: ["arm,psci-1.0", "arm,psci-0.2"], method: "hvc" } },
      timer: {
        props: {
          compatible: "arm,armv8-timer", "always-on": true,
          interrupts: [...ppi(TIMER_PPI.secure), ...ppi(TIMER_PPI.physical), ...ppi(TIMER_PPI.virtual), ...ppi(TIMER_PPI.hyp)],
        },
      },
      [`intc@${GICD_BASE.toString(16)}`]: {
        props: {
          compatible: "arm,cortex-a15-gic", "#interrupt-cells": [3], "interrupt-controller": true, phandle: [PHANDLE_GIC],
          reg: [...cells64(GICD_BASE), ...cells64(GICD_SIZE), ...cells64(GICC_BASE), ...cells64(GICC_SIZE)],
        },
      },
      "apb-pclk": {
        props: { compatible: "fixed-clock", "#clock-cells": [0], "clock-frequency": [UART_CLOCK_HZ], "clock-output-names": "clk24mhz", phandle: [PHANDLE_CLOCK] },
      },
      [uart.slice(1)]: {
        props: {
          compatible: ["arm,pl011", "arm,primecell"], reg: [...cells64(UART_BASE), ...cells64(UART_SIZE)],
          interrupts: [SPI, UART_SPI, LEVEL_HIGH], clocks: [PHANDLE_CLOCK, PHANDLE_CLOCK], "clock-names": ["uartclk", "apb_pclk"],
        },
      },
    },
  };
}
