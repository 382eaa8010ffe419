// The firmware's PE/COFF loader (firmware/loader.ts), through Machine.loadImage and
// through BS.LoadImage called directly: every built guest loads where the Loaded Image
// protocol says, laid out and relocated exactly as an independent model of the PE
// format says it must be; every malformed variant from tests/pe-fixtures.ts is refused
// with the right status, a message naming the field and that field's file offset, and
// leaves the memory map as it was.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ServiceCaller } from "./service-caller.ts";
import { Machine } from "../host/machine.ts";
import { LoadError } from "../host/errors.ts";
import { field, guidBytes } from "../firmware/spec/decl.ts";
import {
  ALLOCATE_TYPE as AT, GUIDS, LOADED_IMAGE_PROTOCOL, LOADED_IMAGE_PROTOCOL_REVISION, MEMORY_DESCRIPTOR,
  MEMORY_TYPE as MT, statusName,
} from "../firmware/spec/uefi.ts";
import { describeFixture, malformedPeFixtures, parsePe, rvaToOffset, withoutRelocations, type PeLayout } from "./pe-fixtures.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const GUEST_DIR = join(ROOT, "build/guests");
const GUESTS = readdirSync(GUEST_DIR).filter((f) => f.endsWith(".efi")).sort();
const read = (name: string) => new Uint8Array(readFileSync(join(GUEST_DIR, name)));
const hello = read("hello.efi");

const PAGE = 4096n;
const U64 = 1n << 64n;
const REL_BASED_ABSOLUTE = 0, REL_BASED_DIR64 = 10;
const hex = (v: bigint | number) => `0x${v.toString(16)}`;
/** PE Subsystem -> [ImageCodeType, ImageDataType]. */
const SUBSYSTEM_MEMORY: Record<number, [number, number]> = {
  10: [MT.LoaderCode, MT.LoaderData], // EFI application
  11: [MT.BootServicesCode, MT.BootServicesData], // boot service driver
  12: [MT.RuntimeServicesCode, MT.RuntimeServicesData], // runtime driver
};

// ---- calling services directly ----

/** The shared service caller, with the memory-map read these tests compare. */
class Services extends ServiceCaller {
  /** The memory map as [type, start, pages] rows (GetMemoryMap: size-0 probe, then read). */
  memoryMap(): { type: number; start: bigint; pages: bigint }[] {
    const size = this.cell(0n), key = this.cell(), descSize = this.cell(), version = this.cell();
    assert.is(statusName(this.call("BS.GetMemoryMap", size, 0n, key, descSize, version)), "BUFFER_TOO_SMALL");
    const map = this.buf(Number(this.u64(size)));
    assert.is(statusName(this.call("BS.GetMemoryMap", size, map, key, descSize, version)), "SUCCESS");
    const rows = [];
    const at = (n: string) => BigInt(field(MEMORY_DESCRIPTOR, n).offset);
    for (let d = map; d < map + this.u64(size); d += this.u64(descSize)) {
      rows.push({ type: this.u32(d + at("Type")), start: this.u64(d + at("PhysicalStart")), pages: this.u64(d + at("NumberOfPages")) });
    }
    return rows;
  }

  /** The Loaded Image protocol on handle h, through HandleProtocol. */
  loadedImage(h: bigint) {
    const guid = this.buf(16);
    this.m.fw.ram.set(guidBytes(GUIDS.LOADED_IMAGE_PROTOCOL), Number(guid));
    const out = this.cell();
    assert.is(statusName(this.call("BS.HandleProtocol", h, guid, out)), "SUCCESS", "HandleProtocol(LOADED_IMAGE)");
    const li = this.u64(out);
    const f = (n: string) => li + BigInt(field(LOADED_IMAGE_PROTOCOL, n).offset);
    return {
      revision: this.u32(f("Revision")),
      parent: this.u64(f("ParentHandle")),
      systemTable: this.u64(f("SystemTable")),
      imageBase: this.u64(f("ImageBase")),
      imageSize: this.u64(f("ImageSize")),
      codeType: this.u32(f("ImageCodeType")),
      dataType: this.u32(f("ImageDataType")),
    };
  }
}

const mapText = (rows: { type: number; start: bigint; pages: bigint }[]) =>
  rows.map((d) => `${d.type}@${hex(d.start)}+${d.pages}`).join(" ");

// ---- an independent model of the loaded image ----

/** DIR64 fixup targets (RVAs), read from the file's base relocation table. */
function dir64Targets(file: Uint8Array, pe: PeLayout): number[] {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const targets: number[] = [];
  if (!pe.relocDir.size) return targets;
  const start = rvaToOffset(pe, pe.relocDir.rva);
  for (let b = start; b + 8 <= start + pe.relocDir.size;) {
    const page = dv.getUint32(b, true), size = dv.getUint32(b + 4, true);
    if (size < 8) throw new Error("bad relocation block in a built guest");
    for (let e = b + 8; e + 2 <= b + size; e += 2) {
      const v = dv.getUint16(e, true);
      if (v >> 12 === REL_BASED_DIR64) targets.push(page + (v & 0xfff));
      else if (v >> 12 !== REL_BASED_ABSOLUTE) throw new Error(`relocation type ${v >> 12} in a built guest`);
    }
    b += size;
  }
  return targets;
}

/** File bytes at an RVA, or zeros where no file data backs it (.bss). */
function fileQword(file: Uint8Array, pe: PeLayout, rva: number): bigint {
  let off: number;
  try { off = rvaToOffset(pe, rva); } catch { return 0n; }
  return new DataView(file.buffer, file.byteOffset).getBigUint64(off, true);
}

/**
 * What SizeOfImage bytes at `base` must hold (PE format, "Section Table" and ".reloc"):
 * zeros, the headers, each section's raw data (at most VirtualSize of it) at its
 * VirtualAddress, then each DIR64 fixup moved by base - ImageBase.
 */
function layOut(file: Uint8Array, base: bigint): Uint8Array {
  const pe = parsePe(file);
  const img = new Uint8Array(pe.sizeOfImage);
  img.set(file.subarray(0, pe.sizeOfHeaders));
  for (const s of pe.sections) {
    const n = Math.min(s.sizeOfRawData, s.virtualSize || s.sizeOfRawData);
    img.set(file.subarray(s.pointerToRawData, s.pointerToRawData + n), s.virtualAddress);
  }
  const dv = new DataView(img.buffer);
  const delta = (base - pe.imageBase + U64) % U64;
  for (const t of dir64Targets(file, pe)) dv.setBigUint64(t, (dv.getBigUint64(t, true) + delta) % U64, true);
  return img;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : Math.min(a.length, b.length);
}

// ---- well-formed images ----

test("the guests under test were built", () => {
  for (const g of ["hello.efi", "exitcode.efi", "conout.efi", "spin.efi", "fault.efi"]) {
    assert.ok(GUESTS.includes(g), `build/guests/${g} exists (guests/build.sh)`);
  }
});

test("every built guest loads; Loaded Image gives a page-aligned ImageBase, ImageSize = SizeOfImage", () => {
  const m = new Machine();
  try {
    const s = new Services(m);
    const ranges: [bigint, bigint, string][] = [];
    for (const g of GUESTS) {
      const file = read(g);
      const pe = parsePe(file);
      const h = m.loadImage(file);
      assert.ok(h !== 0n, `${g}: handle`);
      const li = s.loadedImage(h);
      assert.is(li.revision, LOADED_IMAGE_PROTOCOL_REVISION, `${g}: Revision`);
      assert.is(li.systemTable, m.fw.systemTable, `${g}: SystemTable`);
      assert.is(li.parent, 0n, `${g}: ParentHandle (loaded by the host)`);
      assert.is(li.imageBase % PAGE, 0n, `${g}: ImageBase ${hex(li.imageBase)} is page aligned`);
      assert.is(li.imageBase % BigInt(pe.sectionAlignment), 0n, `${g}: ImageBase is SectionAlignment aligned`);
      assert.is(li.imageSize, BigInt(pe.sizeOfImage), `${g}: ImageSize = SizeOfImage ${hex(pe.sizeOfImage)}`);
      assert.ok(li.imageBase + li.imageSize <= BigInt(m.fw.ram.length), `${g}: inside RAM`);
      if (pe.imageBase >= BigInt(m.fw.ram.length)) assert.is.not(li.imageBase, pe.imageBase, `${g}: relocated (linked past RAM)`);
      // UEFI 2.10 §7.4 LoadImage: applications in loader memory, drivers in boot/runtime services memory.
      const [code, data] = SUBSYSTEM_MEMORY[pe.subsystem] ?? [-1, -1];
      assert.is(li.codeType, code, `${g}: ImageCodeType for subsystem ${pe.subsystem}`);
      assert.is(li.dataType, data, `${g}: ImageDataType for subsystem ${pe.subsystem}`);
      const pages = (li.imageSize + PAGE - 1n) / PAGE;
      const d = s.memoryMap().find((x) => x.start <= li.imageBase && li.imageBase < x.start + x.pages * PAGE);
      assert.ok(d && d.type === code && li.imageBase + pages * PAGE <= d.start + d.pages * PAGE,
        `${g}: its pages are ImageCodeType in the memory map`);
      ranges.push([li.imageBase, li.imageBase + li.imageSize, g]);
    }
    ranges.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (let i = 1; i < ranges.length; i++) {
      assert.ok(ranges[i - 1][1] <= ranges[i][0], `${ranges[i - 1][2]} and ${ranges[i][2]} do not overlap`);
    }
  } finally { m.close(); }
});

test("the loaded image is the file laid out by section, every DIR64 qword = file value + (base - ImageBase)", () => {
  const m = new Machine();
  try {
    const s = new Services(m);
    for (const g of GUESTS) {
      const file = read(g);
      const pe = parsePe(file);
      const li = s.loadedImage(m.loadImage(file));
      const base = li.imageBase;
      const delta = (base - pe.imageBase + U64) % U64;
      const loaded = m.fw.ram.subarray(Number(base), Number(base) + pe.sizeOfImage);
      const targets = dir64Targets(file, pe);
      assert.ok(targets.length > 0, `${g} carries DIR64 relocations`);
      for (const t of targets) {
        const got = m.fw.ramView.getBigUint64(Number(base) + t, true);
        const want = (fileQword(file, pe, t) + delta) % U64;
        assert.is(hex(got), hex(want), `${g}: relocated qword at RVA ${hex(t)}`);
        // Our guests' pointers point into themselves: after relocation, into the loaded image.
        assert.ok(got >= base && got < base + li.imageSize, `${g}: pointer at RVA ${hex(t)} points into the image`);
      }
      const at = firstDifference(loaded, layOut(file, base));
      assert.is(at, -1, `${g}: loaded bytes match the model (first difference at RVA ${hex(at)})`);
    }
  } finally { m.close(); }
});

test("an image with relocations stripped loads exactly at its ImageBase, unrelocated", () => {
  const m = new Machine();
  try {
    const s = new Services(m);
    const free = s.memoryMap().find((d) => d.type === MT.ConventionalMemory && d.pages >= 64n);
    assert.ok(free, "a free range");
    const base = free!.start + 16n * PAGE;
    const file = withoutRelocations(hello, base);
    const li = s.loadedImage(m.loadImage(file));
    assert.is(hex(li.imageBase), hex(base));
    const pe = parsePe(file);
    const loaded = m.fw.ram.subarray(Number(base), Number(base) + pe.sizeOfImage);
    assert.is(firstDifference(loaded, layOut(file, base)), -1, "bytes as in the file, nothing relocated");
  } finally { m.close(); }
});

/**
 * `file` rewritten so that it lies as its image would (each section's raw data at file
 * offset = its VirtualAddress, as in Linux's bzImage), padded with 0xCC between and after,
 * which the loader must not leave in the image.
 */
function flattened(file: Uint8Array): Uint8Array {
  const pe = parsePe(file);
  const size = Math.max(pe.sizeOfHeaders, ...pe.sections.map((x) => x.virtualAddress + x.sizeOfRawData));
  const out = new Uint8Array(size).fill(0xcc);
  out.set(file.subarray(0, pe.sizeOfHeaders));
  const dv = new DataView(out.buffer);
  for (const x of pe.sections) {
    out.set(file.subarray(x.pointerToRawData, x.pointerToRawData + x.sizeOfRawData), x.virtualAddress);
    dv.setUint32(x.headerOffset + 20, x.sizeOfRawData ? x.virtualAddress : 0, true); // PointerToRawData
  }
  return out;
}

/** Stage `file` in pages of guest RAM and give them to the firmware's loader (Firmware.loadImageInPlace). */
function loadInPlace(m: Machine, file: Uint8Array, extraPages = 0) {
  const pages = Math.ceil(Math.max(file.length, parsePe(file).sizeOfImage) / 4096) + extraPages;
  const buf = m.fw.allocPages(MT.BootServicesData, pages);
  m.fw.ram.set(file, Number(buf));
  const r = m.fw.loadImageInPlace(buf, file.length, pages);
  if (!r.adopted) m.fw.freePages(buf, pages);
  return { ...r, buf, pages };
}

test("a staged file that lies as its image would becomes the image where it is: laid out, relocated, its spare pages freed, nothing else kept", () => {
  const m = new Machine();
  try {
    const s = new Services(m);
    const file = flattened(hello);
    const pe = parsePe(file);
    const r = loadInPlace(m, file, 3);
    assert.is(statusName(r.status), "SUCCESS");
    assert.ok(r.adopted, "taken as the image");
    const li = s.loadedImage(r.handle);
    assert.is(hex(li.imageBase), hex(r.buf), "the image is where the file was staged");
    const loaded = m.fw.ram.subarray(Number(li.imageBase), Number(li.imageBase) + pe.sizeOfImage);
    assert.is(firstDifference(loaded, layOut(file, li.imageBase)), -1, "bytes as the model lays them out: the padding zeroed, relocations applied");
    const typeAt = (a: bigint) => s.memoryMap().find((d) => a >= d.start && a < d.start + d.pages * PAGE)?.type;
    assert.is(typeAt(r.buf), MT.LoaderCode, "the staged pages are the image's code");
    // As much memory is left as after the same image copied from a buffer the host then
    // freed (a twin machine, the same calls): the 3 spare pages were given back.
    const free = (x: Services) => x.memoryMap().filter((d) => d.type === MT.ConventionalMemory).reduce((a, d) => a + d.pages, 0n);
    const twin = new Machine();
    try {
      const copied = loadInPlace(twin, hello, 3);
      assert.not.ok(copied.adopted);
      assert.is(free(s), free(new Services(twin)));
    } finally { twin.close(); }
  } finally { m.close(); }
});

test("a staged file laid out otherwise (our guests: file alignment 512) is copied, and the staging pages stay the caller's", () => {
  const m = new Machine();
  try {
    const r = loadInPlace(m, hello);
    assert.is(statusName(r.status), "SUCCESS");
    assert.not.ok(r.adopted);
    const s = new Services(m);
    assert.ok(s.loadedImage(r.handle).imageBase !== r.buf);
  } finally { m.close(); }
});

test("a flat file whose load fails after it was taken leaves the memory map as it was", () => {
  const m = new Machine();
  try {
    const s = new Services(m);
    const file = flattened(hello);
    const pe = parsePe(file);
    // A relocation block whose SizeOfBlock runs past the directory: found after placement.
    new DataView(file.buffer).setUint32(rvaToOffset(pe, pe.relocDir.rva) + 4, pe.relocDir.size + 8, true);
    const before = s.memoryMap();
    const r = loadInPlace(m, file);
    assert.is(statusName(r.status), "LOAD_ERROR");
    assert.ok(r.adopted, "it had been taken");
    assert.equal(s.memoryMap(), before);
  } finally { m.close(); }
});

test("Debian's bzImage is taken where it was read (its sections lie at their RVAs in the file)", () => {
  const kernel = join(ROOT, ".cache/kernel/vmlinuz");
  const m = new Machine();
  try {
    const r = loadInPlace(m, new Uint8Array(readFileSync(kernel)));
    assert.is(statusName(r.status), "SUCCESS");
    assert.ok(r.adopted);
  } finally { m.close(); }
});

test("BS.LoadImage from a guest buffer: ParentHandle set, image kept after the buffer is freed", () => {
  const m = new Machine();
  try {
    const s = new Services(m);
    const parent = m.loadImage(hello);
    const pages = BigInt(Math.ceil(hello.length / 4096));
    const src = s.cell();
    assert.is(statusName(s.call("BS.AllocatePages", BigInt(AT.AllocateAnyPages), BigInt(MT.LoaderData), pages, src)), "SUCCESS");
    const buffer = s.u64(src);
    m.fw.ram.set(hello, Number(buffer));
    const out = s.cell();
    const st = s.call("BS.LoadImage", 0n, parent, 0n, buffer, BigInt(hello.length), out);
    assert.is(statusName(st), "SUCCESS", "BS.LoadImage");
    const h = s.u64(out);
    assert.ok(h !== 0n && h !== parent, "a new handle");
    assert.is(statusName(s.call("BS.FreePages", buffer, pages)), "SUCCESS", "the caller frees its buffer");
    const li = s.loadedImage(h);
    assert.is(li.parent, parent, "ParentHandle");
    const loaded = m.fw.ram.subarray(Number(li.imageBase), Number(li.imageBase) + Number(li.imageSize));
    assert.is(firstDifference(loaded, layOut(hello, li.imageBase)), -1, "loaded bytes match the model");
  } finally { m.close(); }
});

// ---- malformed images ----

for (const f of malformedPeFixtures) {
  test(`malformed: ${describeFixture(f, hello)}`, () => {
    const m = new Machine({ ramMiB: 64 });
    try {
      let err: unknown, handle: bigint | undefined;
      try {
        handle = m.loadImage(f.make(hello));
      } catch (e) {
        err = e;
      }
      assert.is(handle, undefined, `refused, not loaded (handle ${hex(handle ?? 0n)})`);
      assert.instance(err, LoadError, `a LoadError, not ${String(err)}`);
      const e = err as LoadError;
      assert.is(statusName(e.status), f.status, "status");
      assert.match(e.field, f.expectMessage, "message names the field");
      assert.is(hex(e.offset), hex(f.offset(hello)), "offset of the field");
      assert.ok(e.message.includes(e.field) && e.message.includes(hex(e.offset)), "LoadError's message carries both");
    } finally { m.close(); }
  });
}

test("a rejected BS.LoadImage leaves the memory map as it was and writes no handle", () => {
  const m = new Machine();
  try {
    const s = new Services(m);
    const parent = m.loadImage(hello);
    const before = mapText(s.memoryMap());
    for (const f of malformedPeFixtures) {
      const bytes = f.make(hello);
      const pages = BigInt(Math.ceil(bytes.length / 4096));
      const src = s.cell();
      assert.is(statusName(s.call("BS.AllocatePages", BigInt(AT.AllocateAnyPages), BigInt(MT.LoaderData), pages, src)), "SUCCESS");
      const buffer = s.u64(src);
      m.fw.ram.set(bytes, Number(buffer));
      const out = s.cell(0n);
      const st = s.call("BS.LoadImage", 0n, parent, 0n, buffer, BigInt(bytes.length), out);
      assert.is(statusName(st), f.status, `${f.name}: status`);
      assert.is(s.u64(out), 0n, `${f.name}: no handle written`);
      assert.is(statusName(s.call("BS.FreePages", buffer, pages)), "SUCCESS", `${f.name}: FreePages(source)`);
      assert.is(mapText(s.memoryMap()), before, `${f.name}: memory map unchanged`);
    }
  } finally { m.close(); }
});

test.run();
