// Which parts of the firmware's tables a guest reads: the system table's fields, the
// runtime services table's slots, the configuration table's entries. A guest reads them
// as memory, with no call to trace, so a measurement run maps the page that holds them
// (the runtime-services data page, firmware/services/system.ts) as MMIO: every access
// to it comes here, is served from guest RAM as it is, and is recorded by the field it
// touches. Only for measurements: each access costs a host callback.
import { field, guidText, type Struct } from "../firmware/spec/decl.ts";
import { CONFIGURATION_TABLE, RUNTIME_SERVICES, SYSTEM_TABLE } from "../firmware/spec/uefi.ts";
import { nameOfGuid } from "./guids.ts";


export interface TablesRead {
  /** "SystemTable.ConfigurationTable", "RuntimeServices.GetVariable", ...: fields read, in first-read order. */
  fields: string[];
  /** Configuration tables whose VendorTable pointer the guest read, by GUID name. */
  configTables: string[];
}

export class TableWatch {
  readonly page: number;
  private readonly regions: { at: number; struct: Struct; name: string }[];
  private readonly configAt: number;
  /** Where the firmware keeps NumberOfTableEntries, read at each access: entries come and go. */
  private readonly entriesAt: number;
  private readonly dv: DataView;
  private readonly fields = new Set<string>();
  private readonly configTables = new Set<string>();

  /** Watch the page of the system table at guest physical `systemTable` in `ram`, as the firmware has laid it out. */
  constructor(private readonly ram: Uint8Array, systemTable: number, pageSize: number) {
    const dv = (this.dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength));
    const ptr = (f: string) => Number(dv.getBigUint64(systemTable + field(SYSTEM_TABLE, f).offset, true));
    this.page = systemTable - (systemTable % pageSize);
    this.regions = [
      { at: systemTable, struct: SYSTEM_TABLE, name: "SystemTable" },
      { at: ptr("RuntimeServices"), struct: RUNTIME_SERVICES, name: "RuntimeServices" },
    ];
    // Physical addresses, taken before the guest runs: after SetVirtualAddressMap the
    // table's own pointers are the OS's virtual ones.
    this.configAt = ptr("ConfigurationTable");
    this.entriesAt = systemTable + field(SYSTEM_TABLE, "NumberOfTableEntries").offset;
  }

  /** A guest read of `size` bytes at physical `addr` in the watched page. */
  read(addr: number, size: number): bigint {
    this.note(addr);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.ram[addr + i]);
    return v;
  }

  /** A guest write: it goes to RAM, as it would without the watch. */
  write(addr: number, size: number, value: bigint): void {
    for (let i = 0; i < size; i++) this.ram[addr + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }

  private note(addr: number): void {
    for (const r of this.regions) {
      if (addr < r.at || addr >= r.at + r.struct.size) continue;
      const f = r.struct.fields.find((x) => addr - r.at >= x.offset && addr - r.at < x.offset + x.size);
      if (f) this.fields.add(`${r.name}.${f.name}`);
      return;
    }
    const entries = Number(this.dv.getBigUint64(this.entriesAt, true));
    if (addr >= this.configAt && addr < this.configAt + entries * CONFIGURATION_TABLE.size) {
      const entry = this.configAt + Math.floor((addr - this.configAt) / CONFIGURATION_TABLE.size) * CONFIGURATION_TABLE.size;
      const table = field(CONFIGURATION_TABLE, "VendorTable");
      if (addr - entry < table.offset) return; // a GUID compared: a scan, not a use
      const guid = guidText(this.ram.subarray(entry, entry + 16));
      this.configTables.add(nameOfGuid(guid));
    }
  }

  result(): TablesRead {
    return { fields: [...this.fields], configTables: [...this.configTables] };
  }
}
