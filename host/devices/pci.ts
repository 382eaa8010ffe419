// PCI configuration mechanism #1 (PCI Local Bus Specification 3.0, §3.2.2.3.2) at
// 0xcf8-0xcff, and the chipset's reset control register at 0xcf9.
//
//   0xcf8  CONFIG_ADDRESS, dword accesses only:
//          bit 31 enable | 30:24 reserved | 23:16 bus | 15:11 device | 10:8 function | 7:2 register | 1:0 = 00
//   0xcfc  CONFIG_DATA: bytes 0xcfc-0xcff are the four bytes of the addressed dword,
//          decoded only while CONFIG_ADDRESS.enable is set.
//   0xcf9  RST_CNT, byte accesses (Intel ICH/PCH datasheets, "Reset Control Register"):
//          bit 3 full reset, bit 2 RST_CPU (0→1 starts the reset), bit 1 SYS_RST (hard).
//
// Linux (arch/x86/pci/direct.c, pci_check_type1) writes 0x80000000 to CONFIG_ADDRESS and
// reads it back, then runs pci_sanity_check: unless DMI says the BIOS is from 2001 or
// later, bus 0 must hold a host bridge, a VGA device, or an Intel or Compaq device, or
// Linux concludes there is no type-1 access at all ("PCI: Fatal: No config space access
// function found"). ueficorn's firmware publishes no SMBIOS table, so the default bus
// holds one device: a host bridge with the identity of the i440FX's PMC (8086:1237),
// the host bridge QEMU's `pc` machine has, and the one that triggers no Linux quirks
// beyond a flag (quirk_natoma). Everything else reads as no device (vendor 0xffff).

import type { PortDevice } from "./bus.ts";

export const PCI_CONFIG_ADDRESS = 0xcf8;
export const PCI_CONFIG_DATA = 0xcfc;
export const RST_CNT = 0xcf9;

export const PCI_CONFIG_ENABLE = 0x8000_0000;
export const RST_CNT_SYS_RST = 0x02;
export const RST_CNT_RST_CPU = 0x04;
export const RST_CNT_FULL_RST = 0x08;

// Configuration header offsets (PCI 3.0 §6.1) used by the host bridge.
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;

export const PCI_VENDOR_ID_INTEL = 0x8086;
export const PCI_DEVICE_ID_INTEL_82441 = 0x1237; // 440FX PCI and memory controller (PMC)
export const PCI_CLASS_BRIDGE_HOST = 0x0600;

/** A device function's 256-byte configuration space, with the bytes a write may change. */
export interface PciFunction {
  readonly config: Uint8Array;
  readonly writable: Uint8Array;
}

/** The i440FX PMC at 00:00.0 as far as Linux's probing reads it: IDs, class, header
 *  type 0, no BARs. Command, latency timer and the chipset registers from 0x40 up
 *  (PAM, SMRAM, DRAM rows) hold what is written; everything else is read-only. */
export function i440fxHostBridge(): PciFunction {
  const config = new Uint8Array(256);
  const dv = new DataView(config.buffer);
  dv.setUint16(PCI_VENDOR_ID, PCI_VENDOR_ID_INTEL, true);
  dv.setUint16(PCI_DEVICE_ID, PCI_DEVICE_ID_INTEL_82441, true);
  dv.setUint16(PCI_COMMAND, 0x0006, true);  // memory space | bus master, as firmware leaves it
  dv.setUint16(PCI_STATUS, 0x0280, true);   // fast back-to-back capable, DEVSEL medium
  config[PCI_REVISION_ID] = 0x02;
  dv.setUint16(PCI_CLASS_DEVICE, PCI_CLASS_BRIDGE_HOST, true);
  const writable = new Uint8Array(256);
  writable[PCI_COMMAND] = 0x46;               // memory, bus master, parity error response
  writable[PCI_LATENCY_TIMER] = 0xf8;
  writable.fill(0xff, 0x40);
  return { config, writable };
}

export interface PciOptions {
  /** Functions on bus 0, by devfn (device << 3 | function). Default: the host bridge at 0. */
  bus0?: Map<number, PciFunction>;
  /** RST_CNT asked for a reset. */
  onReset?: (source: "pci-cf9") => void;
}

export class PciHost implements PortDevice {
  readonly name = "pci-conf1";
  readonly ports: [number, number][] = [[0xcf8, 0xcff]];
  /** CONFIG_ADDRESS as written: read back verbatim, so pci_check_type1 finds type 1. */
  address = 0;
  /** RST_CNT without the self-clearing RST_CPU bit. */
  rstCnt = 0;
  readonly bus0: Map<number, PciFunction>;
  onReset: (source: "pci-cf9") => void;

  constructor(opts: PciOptions = {}) {
    this.bus0 = opts.bus0 ?? new Map([[0, i440fxHostBridge()]]);
    this.onReset = opts.onReset ?? (() => {});
  }

  read(port: number, size: 1 | 2 | 4): number {
    if (port === PCI_CONFIG_ADDRESS && size === 4) return this.address;
    if (port === RST_CNT && size === 1) return this.rstCnt;
    if (port >= PCI_CONFIG_DATA) {
      const f = this.target();
      if (f) {
        const off = (this.address & 0xfc) + (port - PCI_CONFIG_DATA);
        let v = 0;
        for (let i = size - 1; i >= 0; i--) v = (v << 8) | f.config[(off + i) & 0xff];
        return v >>> 0;
      }
    }
    // No function answers (master abort): all ones. Narrow accesses to 0xcf8-0xcfb
    // other than RST_CNT are not decoded here, which is what pci_check_type2 expects
    // of a type-1-only chipset.
    return size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff;
  }

  write(port: number, size: 1 | 2 | 4, value: number): void {
    if (port === PCI_CONFIG_ADDRESS && size === 4) {
      this.address = value >>> 0;
    } else if (port === RST_CNT && size === 1) {
      this.rstCnt = value & (RST_CNT_FULL_RST | RST_CNT_SYS_RST);
      if (value & RST_CNT_RST_CPU) this.onReset("pci-cf9");
    } else if (port >= PCI_CONFIG_DATA) {
      const f = this.target();
      if (!f) return;
      const off = (this.address & 0xfc) + (port - PCI_CONFIG_DATA);
      for (let i = 0; i < size; i++, value >>>= 8) {
        const at = (off + i) & 0xff;
        f.config[at] = (f.config[at] & ~f.writable[at]) | (value & f.writable[at]);
      }
    }
  }

  /** The function CONFIG_ADDRESS selects, if enabled and present. Only bus 0 is populated. */
  private target(): PciFunction | undefined {
    const a = this.address;
    if (!(a & PCI_CONFIG_ENABLE) || (a >>> 16) & 0xff) return undefined;
    return this.bus0.get((a >>> 8) & 0xff);
  }
}
