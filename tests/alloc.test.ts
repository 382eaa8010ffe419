// The firmware's page allocator, pool and memory map (UEFI 2.10 §7.2), called through
// its service dispatcher exactly as the OUT hook calls it, with no guest code: the test
// fills the argument area (RCX, RDX, R8, R9, RSP) and reads results from guest memory.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ServiceCaller } from "./service-caller.ts";
import { field } from "../firmware/spec/decl.ts";
import {
  ALLOCATE_TYPE as AT, MEMORY_ATTRIBUTE, MEMORY_DESCRIPTOR, MEMORY_DESCRIPTOR_STRIDE,
  MEMORY_DESCRIPTOR_VERSION, MEMORY_TYPE as MT, STATUS, statusName,
} from "../firmware/spec/uefi.ts";

const PAGE = 4096n;
const GiB4 = 1n << 32n;
const RAM_MIB = 64;

/** The service caller, with the allocator calls these tests make again and again. */
class Bench extends ServiceCaller {
  // GetMemoryMap's buffers, reused by every memoryMap() call.
  private readonly mapOut = { size: this.cell(), key: this.cell(), descSize: this.cell(), version: this.cell() };
  private readonly mapBuf = this.buf(2 * Number(PAGE));

  constructor() {
    super({ ramMiB: RAM_MIB });
  }

  allocatePages(type: number, memType: number, pages: bigint, memory = 0n): { status: bigint; addr: bigint } {
    const out = this.cell(memory);
    const status = this.call("BS.AllocatePages", BigInt(type), BigInt(memType), pages, out);
    return { status, addr: this.u64(out) };
  }

  allocatePool(memType: number, size: bigint): { status: bigint; addr: bigint } {
    const out = this.cell();
    const status = this.call("BS.AllocatePool", BigInt(memType), size, out);
    return { status, addr: this.u64(out) };
  }

  /** GetMemoryMap as a guest does it: size-0 probe, then a buffer of the size it asked for. */
  memoryMap(): { key: bigint; descSize: bigint; version: number; map: Desc[] } {
    const { size, key, descSize, version } = this.mapOut;
    this.setU64(size, 0n);
    const probe = this.call("BS.GetMemoryMap", size, 0n, key, descSize, version);
    assert.is(statusName(probe), "BUFFER_TOO_SMALL", "size-0 probe");
    const buffer = this.mapBuf;
    if (this.u64(size) > 2n * PAGE) throw new Error("memory map larger than the bench's buffer");
    const st = this.call("BS.GetMemoryMap", size, buffer, key, descSize, version);
    assert.is(statusName(st), "SUCCESS", "GetMemoryMap with the size the probe asked for");
    const stride = this.u64(descSize);
    const map: Desc[] = [];
    for (let d = buffer; d < buffer + this.u64(size); d += stride) {
      map.push({
        type: this.u32(d + off("Type")),
        start: this.u64(d + off("PhysicalStart")),
        pages: this.u64(d + off("NumberOfPages")),
        attribute: this.u64(d + off("Attribute")),
      });
    }
    return { key: this.u64(key), descSize: stride, version: this.u32(version), map };
  }

  /** The descriptor that contains address a. */
  typeAt(a: bigint): number {
    const d = this.memoryMap().map.find((x) => a >= x.start && a < x.start + x.pages * PAGE);
    if (!d) throw new Error(`no descriptor covers 0x${a.toString(16)}`);
    return d.type;
  }

  /** The start of `pages` free pages inside a conventional range, away from its ends. */
  freeRange(pages: bigint): bigint {
    const d = this.memoryMap().map.find((x) => x.type === MT.ConventionalMemory && x.pages >= pages + 32n);
    if (!d) throw new Error("no free range");
    return d.start + 16n * PAGE;
  }

  close(): void { this.m.close(); }
}

interface Desc { type: number; start: bigint; pages: bigint; attribute: bigint }
const off = (name: string) => BigInt(field(MEMORY_DESCRIPTOR, name).offset);
const is = (got: bigint, want: keyof typeof STATUS, what: string) =>
  assert.is(statusName(got), want, `${what}: got ${statusName(got)}, want ${want}`);
const strip = (map: Desc[]) => map.map((d) => `${d.type}@${d.start.toString(16)}+${d.pages}`);

// ---- AllocatePages ----

test("AllocatePages(AnyPages): page aligned, inside RAM below 4 GiB, typed in the map, disjoint", () => {
  const b = new Bench();
  try {
    const a = b.allocatePages(AT.AllocateAnyPages, MT.LoaderData, 4n);
    const c = b.allocatePages(AT.AllocateAnyPages, MT.BootServicesCode, 3n);
    is(a.status, "SUCCESS", "first");
    is(c.status, "SUCCESS", "second");
    for (const [x, n] of [[a.addr, 4n], [c.addr, 3n]] as const) {
      assert.is(x % PAGE, 0n, `0x${x.toString(16)} is page aligned`);
      assert.ok(x > 0n && x + n * PAGE <= b.ramBytes && x + n * PAGE <= GiB4, "inside RAM below 4 GiB");
    }
    assert.ok(a.addr + 4n * PAGE <= c.addr || c.addr + 3n * PAGE <= a.addr, "the two allocations do not overlap");
    assert.is(b.typeAt(a.addr), MT.LoaderData);
    assert.is(b.typeAt(a.addr + 3n * PAGE), MT.LoaderData, "last page too");
    assert.is(b.typeAt(c.addr), MT.BootServicesCode);
  } finally { b.close(); }
});

test("AllocatePages(MaxAddress): the whole allocation ends at or below MaxAddress", () => {
  const b = new Bench();
  try {
    for (const max of [0x1f_ffffn, 0x20_0ffen, 0x30_0000n]) {
      const r = b.allocatePages(AT.AllocateMaxAddress, MT.LoaderData, 4n, max);
      is(r.status, "SUCCESS", `MaxAddress 0x${max.toString(16)}`);
      assert.is(r.addr % PAGE, 0n);
      assert.ok(r.addr > 0n && r.addr + 4n * PAGE - 1n <= max,
        `[0x${r.addr.toString(16)}, +4 pages) ends at or below 0x${max.toString(16)}`);
    }
    // Only page 0 (reserved) lies at or below 0xfff.
    is(b.allocatePages(AT.AllocateMaxAddress, MT.LoaderData, 1n, 0xfffn).status, "OUT_OF_RESOURCES", "MaxAddress 0xfff");
    // u64 max means no limit.
    is(b.allocatePages(AT.AllocateMaxAddress, MT.LoaderData, 1n, 2n ** 64n - 1n).status, "SUCCESS", "MaxAddress ~0");
  } finally { b.close(); }
});

test("AllocatePages(Address): the exact address is honoured; taken, partly taken or outside RAM is NOT_FOUND", () => {
  const b = new Bench();
  try {
    const at = b.freeRange(4n);
    const r = b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 4n, at);
    is(r.status, "SUCCESS", "free address");
    assert.is(r.addr, at, "*Memory still holds the requested address");
    assert.is(b.typeAt(at), MT.LoaderCode);
    assert.is(b.typeAt(at + 3n * PAGE), MT.LoaderCode);
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 4n, at).status, "NOT_FOUND", "same address again");
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 2n, at - PAGE).status, "NOT_FOUND", "overlapping its first page");
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 1n, at + 3n * PAGE).status, "NOT_FOUND", "its last page");
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 1n, 0n).status, "NOT_FOUND", "page 0 (reserved)");
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 1n, b.m.fw.systemTable & ~(PAGE - 1n)).status,
      "NOT_FOUND", "the system table's page");
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 1n, b.ramBytes).status, "NOT_FOUND", "first page past RAM");
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 2n, b.ramBytes - PAGE).status, "NOT_FOUND", "straddling the end of RAM");
    const before = b.memoryMap().map;
    // §7.2 names no status for a misaligned Address; EDK2 (OVMF) answers NOT_FOUND.
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 1n, at + 0x800n).status, "NOT_FOUND", "misaligned address");
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderCode, 1n, at - PAGE + 8n).status, "NOT_FOUND", "misaligned by 8");
    assert.equal(strip(b.memoryMap().map), strip(before), "failed calls leave the map alone");
  } finally { b.close(); }
});

test("AllocatePages: memory types and allocation types the spec rejects are INVALID_PARAMETER", () => {
  const b = new Bench();
  try {
    const bad: [number, string][] = [
      [MT.ConventionalMemory, "EfiConventionalMemory (7)"],
      [MT.PersistentMemory, "EfiPersistentMemory (14)"],
      [MT.UnacceptedMemoryType, "EfiUnacceptedMemoryType (15)"],
      [MT.MaxMemoryType, "EfiMaxMemoryType (16)"],
      [0x6fff_ffff, "0x6FFFFFFF, last below the OEM range"],
    ];
    for (const [t, what] of bad) {
      is(b.allocatePages(AT.AllocateAnyPages, t, 1n).status, "INVALID_PARAMETER", what);
      is(b.allocatePool(t, 64n).status, "INVALID_PARAMETER", `AllocatePool ${what}`);
    }
    is(b.allocatePages(3, MT.LoaderData, 1n).status, "INVALID_PARAMETER", "AllocateType 3 (MaxAllocateType)");
    is(b.call("BS.AllocatePages", BigInt(AT.AllocateAnyPages), BigInt(MT.LoaderData), 1n, 0n), "INVALID_PARAMETER", "Memory NULL");
    is(b.call("BS.AllocatePool", BigInt(MT.LoaderData), 8n, 0n), "INVALID_PARAMETER", "Buffer NULL");
  } finally { b.close(); }
});

test("AllocatePages: OEM (0x70000000) and OS-loader (0x80000000) memory types are accepted and kept", () => {
  const b = new Bench();
  try {
    for (const t of [0x7000_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]) {
      const r = b.allocatePages(AT.AllocateAnyPages, t, 2n);
      is(r.status, "SUCCESS", `type 0x${t.toString(16)}`);
      assert.is(b.typeAt(r.addr), t, `the map reports type 0x${t.toString(16)}`);
    }
  } finally { b.close(); }
});

// ---- FreePages ----

test("FreePages: never allocated, firmware-owned, pool and doubly freed pages are NOT_FOUND", () => {
  const b = new Bench();
  try {
    const free = b.freeRange(2n);
    is(b.call("BS.FreePages", free, 1n), "NOT_FOUND", "never-allocated (conventional) page");
    is(b.call("BS.FreePages", 0n, 1n), "NOT_FOUND", "page 0 (reserved)");
    is(b.call("BS.FreePages", b.m.fw.systemTable & ~(PAGE - 1n), 1n), "NOT_FOUND", "the system table's page");
    const fwPages = b.m.fw.allocPages(MT.BootServicesData, 1);
    is(b.call("BS.FreePages", fwPages, 1n), "NOT_FOUND", "pages the host took from the firmware");
    is(b.call("BS.FreePages", b.ramBytes, 1n), "NOT_FOUND", "past the end of RAM");
    const pool = b.allocatePool(MT.LoaderData, 100n);
    is(pool.status, "SUCCESS", "AllocatePool");
    is(b.call("BS.FreePages", pool.addr & ~(PAGE - 1n), 1n), "NOT_FOUND", "a pool allocation's page");

    const before = b.memoryMap().map;
    const a = b.allocatePages(AT.AllocateAnyPages, MT.LoaderData, 3n);
    is(a.status, "SUCCESS", "AllocatePages");
    is(b.call("BS.FreePages", a.addr + 0x10n, 3n), "INVALID_PARAMETER", "misaligned address");
    is(b.call("BS.FreePages", a.addr, 4n), "NOT_FOUND", "one page more than allocated (free memory after it)");
    is(b.call("BS.FreePages", a.addr, 3n), "SUCCESS", "FreePages");
    assert.equal(strip(b.memoryMap().map), strip(before), "the map is as before the allocation");
    is(b.call("BS.FreePages", a.addr, 3n), "NOT_FOUND", "FreePages again");
  } finally { b.close(); }
});

// ---- Pool ----

test("AllocatePool: 8-byte aligned, disjoint, typed in the map; FreePool twice is INVALID_PARAMETER", () => {
  const b = new Bench();
  try {
    const before = b.memoryMap().map;
    const sizes = [0n, 1n, 7n, 8n, 1000n, 4096n, 4097n, 70000n];
    const got = sizes.map((n) => ({ n, ...b.allocatePool(MT.BootServicesData, n) }));
    for (const { n, status, addr } of got) {
      is(status, "SUCCESS", `AllocatePool(${n})`);
      assert.ok(addr !== 0n && addr % 8n === 0n, `AllocatePool(${n}) = 0x${addr.toString(16)} is 8-byte aligned`);
      assert.ok(addr + n <= b.ramBytes, "inside RAM");
      assert.is(b.typeAt(addr), MT.BootServicesData);
    }
    const spans = got.map(({ n, addr }) => [addr, addr + (n || 1n)] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i - 1][1] <= spans[i][0], "pool buffers do not overlap");
    const other = b.allocatePool(0x8000_0001, 16n);
    is(other.status, "SUCCESS", "OS-loader pool type");
    assert.is(b.typeAt(other.addr), 0x8000_0001);

    for (const { addr } of got) is(b.call("BS.FreePool", addr), "SUCCESS", "FreePool");
    is(b.call("BS.FreePool", other.addr), "SUCCESS", "FreePool");
    assert.equal(strip(b.memoryMap().map), strip(before), "the map is as before");
    is(b.call("BS.FreePool", got[4].addr), "INVALID_PARAMETER", "FreePool twice");
    is(b.call("BS.FreePool", 0n), "INVALID_PARAMETER", "FreePool(NULL)");
    const pages = b.allocatePages(AT.AllocateAnyPages, MT.LoaderData, 1n);
    is(b.call("BS.FreePool", pages.addr), "INVALID_PARAMETER", "FreePool of AllocatePages memory");
    const inside = b.allocatePool(MT.LoaderData, 64n);
    is(b.call("BS.FreePool", inside.addr + 8n), "INVALID_PARAMETER", "FreePool of a pointer inside a buffer");
  } finally { b.close(); }
});

// ---- GetMemoryMap ----

test("GetMemoryMap: size-0 probe is BUFFER_TOO_SMALL with the size, DescriptorSize 48, version 1", () => {
  const b = new Bench();
  try {
    const size = b.cell(0n), key = b.cell(0xdeadn), descSize = b.cell(), version = b.cell();
    is(b.call("BS.GetMemoryMap", size, 0n, key, descSize, version), "BUFFER_TOO_SMALL", "size 0, map NULL");
    const needed = b.u64(size);
    assert.is(b.u64(descSize), BigInt(MEMORY_DESCRIPTOR_STRIDE), "DescriptorSize even on BUFFER_TOO_SMALL");
    assert.is(MEMORY_DESCRIPTOR_STRIDE, 48);
    assert.ok(MEMORY_DESCRIPTOR_STRIDE >= MEMORY_DESCRIPTOR.size, "stride holds a descriptor");
    assert.is(b.u32(version), MEMORY_DESCRIPTOR_VERSION);
    assert.is(MEMORY_DESCRIPTOR_VERSION, 1);
    assert.ok(needed > 0n && needed % 48n === 0n, `needed size ${needed} is a whole number of descriptors`);

    const buffer = b.buf(Number(needed));
    b.setU64(size, needed - 1n);
    is(b.call("BS.GetMemoryMap", size, buffer, key, descSize, version), "BUFFER_TOO_SMALL", "one byte short");
    assert.is(b.u64(size), needed, "and says again what it needs");
    b.setU64(size, needed);
    is(b.call("BS.GetMemoryMap", size, buffer, key, descSize, version), "SUCCESS", "exactly the needed size");
    assert.is(b.u64(size), needed);
    assert.is.not(b.u64(key), 0xdeadn, "MapKey written");
    is(b.call("BS.GetMemoryMap", 0n, buffer, key, descSize, version), "INVALID_PARAMETER", "MemoryMapSize NULL");
    b.setU64(size, needed + 48n * 4n);
    is(b.call("BS.GetMemoryMap", size, 0n, key, descSize, version), "INVALID_PARAMETER", "large size, MemoryMap NULL");
  } finally { b.close(); }
});

test("GetMemoryMap: sorted, disjoint, gapless over all RAM, neighbours of one type merged", () => {
  const b = new Bench();
  try {
    // Make the map interesting: a mix of types, some freed again.
    const keep = [MT.LoaderData, MT.RuntimeServicesData, MT.LoaderData, MT.ACPIReclaimMemory, MT.RuntimeServicesCode]
      .map((t) => b.allocatePages(AT.AllocateAnyPages, t, 2n));
    const gone = b.allocatePages(AT.AllocateAnyPages, MT.LoaderCode, 5n);
    b.allocatePool(MT.LoaderData, 5000n);
    is(b.call("BS.FreePages", gone.addr, 5n), "SUCCESS", "FreePages");
    for (const k of keep) is(k.status, "SUCCESS", "AllocatePages");

    const { map, descSize, version } = b.memoryMap();
    assert.is(descSize, 48n);
    assert.is(version, 1);
    assert.ok(map.length >= 5, `${map.length} descriptors`);
    let end = 0n, total = 0n;
    for (const [i, d] of map.entries()) {
      const where = `descriptor ${i} (type ${d.type} at 0x${d.start.toString(16)}, ${d.pages} pages)`;
      assert.is(d.start, end, `${where} starts where the one before ends (sorted, no gap, no overlap)`);
      assert.ok(d.pages > 0n, `${where} is not empty`);
      assert.is(d.start % PAGE, 0n, `${where} is page aligned`);
      if (i > 0) assert.is.not(d.type, map[i - 1].type, `${where} is merged with its neighbour of the same type`);
      const runtime = d.type === MT.RuntimeServicesCode || d.type === MT.RuntimeServicesData;
      assert.is((d.attribute & MEMORY_ATTRIBUTE.RUNTIME) !== 0n, runtime, `${where}: EFI_MEMORY_RUNTIME iff runtime memory`);
      assert.ok((d.attribute & MEMORY_ATTRIBUTE.WB) !== 0n, `${where} is write-back cacheable`);
      end = d.start + d.pages * PAGE;
      total += d.pages;
    }
    assert.is(end, b.ramBytes, "the last descriptor ends at the end of RAM");
    assert.is(total * PAGE, b.ramBytes, "the pages add up to all of RAM");
    assert.is(map[0].start, 0n);
    assert.is(map[0].type, MT.ReservedMemoryType, "page 0 is reserved (no allocation is ever NULL)");
    for (const k of keep) assert.ok(map.some((d) => d.start <= k.addr && k.addr < d.start + d.pages * PAGE), "allocation listed");
  } finally { b.close(); }
});

test("GetMemoryMap: MapKey changes with every change of the map, and not with a read or a failed call", () => {
  const b = new Bench();
  try {
    const k0 = b.memoryMap().key;
    assert.is(b.memoryMap().key, k0, "a second read");
    const a = b.allocatePages(AT.AllocateAnyPages, MT.LoaderData, 1n);
    const k1 = b.memoryMap().key;
    assert.is.not(k1, k0, "after AllocatePages");
    is(b.allocatePages(AT.AllocateAddress, MT.LoaderData, 1n, a.addr).status, "NOT_FOUND", "taken address");
    is(b.allocatePages(AT.AllocateAnyPages, MT.ConventionalMemory, 1n).status, "INVALID_PARAMETER", "bad type");
    is(b.call("BS.FreePool", a.addr), "INVALID_PARAMETER", "FreePool of pages");
    assert.is(b.memoryMap().key, k1, "failed calls change nothing");
    is(b.call("BS.FreePages", a.addr, 1n), "SUCCESS", "FreePages");
    const k2 = b.memoryMap().key;
    assert.is.not(k2, k1, "after FreePages");
    const p = b.allocatePool(MT.LoaderData, 10n);
    const k3 = b.memoryMap().key;
    assert.is.not(k3, k2, "after AllocatePool");
    is(b.call("BS.FreePool", p.addr), "SUCCESS", "FreePool");
    assert.is.not(b.memoryMap().key, k3, "after FreePool");
  } finally { b.close(); }
});

test.run();
