// Property-based fuzzing (fast-check) of everything a guest or an image file controls:
//
//   1. the PE loader: the built guests with bytes flipped, the file cut short, header,
//      section-table and relocation fields overwritten, loaded by the host
//      (Machine.loadImage) and by a guest (BS.LoadImage);
//   2. service argument decoding: every service with 64-bit garbage arguments (plus
//      pokes of the firmware's guest-visible tables), then a consistency check;
//   3. the same through page tables the guest built itself (pointers are virtual);
//   4. the PVH path's readers (host/pvh): a small vmlinux, bare and in a bzImage.
//
// Each property is bounded (numRuns, interruptAfterTimeLimit) and seeded: FUZZ_SEED=n
// replays a failure; FUZZ_RUNS=n (runs per property, 200 by default) and FUZZ_TIME_MS
// (8000) search longer; FUZZ_STATS=1 prints what each service returned, FUZZ_TRACE=1
// every call before it is made (to find a hang). A failure prints the seed, the shrunk
// counterexample and the concrete mutations or calls, ready for a regression test.
import { mulberry32 } from "./prng.ts";
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readdirSync, readFileSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { compressSync as lz4CompressSync } from "lz4-napi";
import { ServiceCaller } from "./service-caller.ts";
import { parsePe, rvaToOffset } from "./pe-fixtures.ts";
import { LoadError } from "../host/errors.ts";
import { extractVmlinux, KernelImageError, parseElf, pvhEntry } from "../host/pvh/index.ts";
import { LZ4_LEGACY_MAGIC } from "../host/pvh/bzimage.ts";
import { SERVICES, type Service } from "../firmware/spec/services.ts";
import { field, guidBytes, type Struct } from "../firmware/spec/decl.ts";
import {
  IMAGE_BASE_RELOCATION, IMAGE_DATA_DIRECTORY, IMAGE_DOS_HEADER, IMAGE_NT_HEADERS_PREFIX,
  IMAGE_OPTIONAL_HEADER64, IMAGE_SECTION_HEADER,
} from "../firmware/spec/pe.ts";
import {
  ALLOCATE_TYPE as AT, BOOT_SERVICES, ERROR_BIT, GUIDS, LOADED_IMAGE_PROTOCOL, MEMORY_DESCRIPTOR, MEMORY_TYPE as MT,
  RUNTIME_SERVICES, SIMPLE_TEXT_OUTPUT_PROTOCOL, STATUS, SYSTEM_TABLE, TABLE_HEADER, statusName,
} from "../firmware/spec/uefi.ts";
import { EI, ELF, ELF64_EHDR, ELF64_NHDR, ELF64_PHDR } from "../firmware/spec/elf.ts";
import { BOOT_PROTOCOL, SETUP_HEADER, XEN_ELFNOTE_NAME, XEN_ELFNOTE_PHYS32_ENTRY } from "../firmware/spec/pvh.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const GUEST_DIR = join(ROOT, "build/guests");
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 0x5eed_0007;
const SCALE = process.env.FUZZ_RUNS !== undefined ? Number(process.env.FUZZ_RUNS) / 200 : 1;
const STATS = process.env.FUZZ_STATS ? new Map<string, Map<string, number>>() : undefined;
const TRACE = !!process.env.FUZZ_TRACE;
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
/** Wall-clock cap per property; fast-check stops generating (and says so) past it. */
const TIME_LIMIT_MS = Number(process.env.FUZZ_TIME_MS ?? 8_000);
/** One run (a machine, a load or a call sequence, the checks) taking longer is a hang in the making. */
const RUN_LIMIT_MS = 2_000;

const PAGE = 4096n;
const U64_MAX = (1n << 64n) - 1n;
const RAM_MIB = 32;
const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const off = (s: Struct, name: string) => field(s, name).offset;
const STATUSES = new Set<bigint>(Object.values(STATUS));

/** fc.check with the shared seed and the run and time bounds; a failure names the seed to replay. */
function check<T>(name: string, prop: fc.IProperty<T>, numRuns: number): void {
  const t0 = performance.now();
  const out = fc.check(prop, { seed: SEED, numRuns: runs(numRuns), interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false });
  const ms = performance.now() - t0;
  if (out.failed) {
    throw new Error(`${name}: property failed (replay: FUZZ_SEED=${SEED}; seed ${out.seed}, path "${out.counterexamplePath}")\n` +
      `${fc.defaultReportMessage(out) ?? ""}\n--- the shrunk case fails with:\n${out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)}`);
  }
  if (STATS?.size) {
    for (const [svc, m] of [...STATS].sort()) console.log(`      ${svc}: ${[...m].map(([k, n]) => `${k} ${n}`).join(", ")}`);
    STATS.clear();
  }
  console.log(`    ${name}: ${out.numRuns} runs${out.interrupted ? " (time limit reached)" : ""}, ${(ms / 1000).toFixed(1)} s, seed ${SEED}`);
}


// ---------------------------------------------------------------------------------------
// The memory map and the firmware consistency check, shared by every property.

interface Desc { type: number; start: bigint; pages: bigint }

/** GetMemoryMap as a guest calls it: the size-0 probe, then the read. Throws on any other status. */
function memoryMap(c: ServiceCaller): Desc[] {
  const size = c.cell(0n), key = c.cell(), descSize = c.cell(), version = c.cell();
  const probe = c.call("BS.GetMemoryMap", size, 0n, key, descSize, version);
  if (probe !== STATUS.BUFFER_TOO_SMALL) throw new Error(`GetMemoryMap size probe returned ${statusName(probe)}`);
  const bytes = Number(c.u64(size));
  const buf = c.buf(bytes);
  const st = c.call("BS.GetMemoryMap", size, buf, key, descSize, version);
  if (st !== STATUS.SUCCESS) throw new Error(`GetMemoryMap returned ${statusName(st)}`);
  const stride = c.u64(descSize);
  const rows: Desc[] = [];
  for (let d = buf; d < buf + c.u64(size); d += stride) {
    rows.push({
      type: c.u32(d + BigInt(off(MEMORY_DESCRIPTOR, "Type"))),
      start: c.u64(d + BigInt(off(MEMORY_DESCRIPTOR, "PhysicalStart"))),
      pages: c.u64(d + BigInt(off(MEMORY_DESCRIPTOR, "NumberOfPages"))),
    });
  }
  return rows;
}

const mapText = (map: Desc[]) => map.map((d) => `${d.type}@${hex(d.start)}+${d.pages}`).join(" ");
const conventional = (map: Desc[]) => map.filter((d) => d.type === MT.ConventionalMemory).reduce((n, d) => n + d.pages, 0n);

/** The descriptors are sorted, do not overlap, leave no gap and cover exactly RAM. */
function checkMapShape(map: Desc[], ramBytes: bigint): void {
  let at = 0n;
  for (const d of map) {
    if (d.start !== at) throw new Error(`memory map: descriptor at ${hex(d.start)} where ${hex(at)} was expected (gap, overlap or unsorted): ${mapText(map)}`);
    if (d.pages === 0n) throw new Error(`memory map: empty descriptor at ${hex(d.start)}`);
    if (d.type >= MT.MaxMemoryType && d.type < 0x7000_0000) throw new Error(`memory map: type ${d.type} at ${hex(d.start)}`);
    at += d.pages * PAGE;
  }
  if (at !== ramBytes) throw new Error(`memory map covers ${hex(at)} bytes, RAM is ${hex(ramBytes)}`);
}

function typeAt(map: Desc[], a: bigint): number | undefined {
  return map.find((d) => a >= d.start && a < d.start + d.pages * PAGE)?.type;
}

const VENDOR = guidBytes("6d1f4a0e-94b5-4c8a-b2de-3f0c1e5a7b91");
const BS_RT = 6n; // BOOTSERVICE_ACCESS | RUNTIME_ACCESS

/**
 * After any sequence of calls the firmware still works: the map is well formed, its own
 * pages are still typed, page and pool allocation and freeing work (and a double free is
 * refused), a variable round-trips, the image still has its Loaded Image protocol.
 */
function checkConsistent(c: ServiceCaller, fixed: { page: bigint; type: number; what: string }[], image?: bigint): void {
  const fail = (what: string) => { throw new Error(`firmware inconsistent afterwards: ${what}`); };
  const map = memoryMap(c);
  checkMapShape(map, c.ramBytes);
  for (const f of fixed) {
    const t = typeAt(map, f.page);
    if (t !== f.type) fail(`${f.what} page ${hex(f.page)} is type ${t}, not ${f.type}`);
  }
  const out = c.cell();
  let st = c.call("BS.AllocatePages", BigInt(AT.AllocateAnyPages), BigInt(MT.LoaderData), 1n, out);
  if (st !== STATUS.SUCCESS) fail(`AllocatePages(AnyPages, LoaderData, 1) = ${statusName(st)} with ${conventional(map)} free pages`);
  const page = c.u64(out);
  if (typeAt(map, page) !== MT.ConventionalMemory) fail(`AllocatePages gave ${hex(page)}, which was type ${typeAt(map, page)}`);
  if ((st = c.call("BS.FreePages", page, 1n)) !== STATUS.SUCCESS) fail(`FreePages = ${statusName(st)}`);
  if ((st = c.call("BS.FreePages", page, 1n)) !== STATUS.NOT_FOUND) fail(`FreePages twice = ${statusName(st)}`);
  if ((st = c.call("BS.AllocatePool", BigInt(MT.LoaderData), 100n, out)) !== STATUS.SUCCESS) fail(`AllocatePool = ${statusName(st)}`);
  const pool = c.u64(out);
  if ((st = c.call("BS.FreePool", pool)) !== STATUS.SUCCESS) fail(`FreePool = ${statusName(st)}`);
  if ((st = c.call("BS.FreePool", pool)) !== STATUS.INVALID_PARAMETER) fail(`FreePool twice = ${statusName(st)}`);
  const name = c.ucs2("FuzzConsistency"), guid = c.bytes(VENDOR), data = c.bytes(Uint8Array.of(1, 2, 3, 4));
  if ((st = c.call("RT.SetVariable", name, guid, BS_RT, 4n, data)) !== STATUS.SUCCESS) fail(`SetVariable = ${statusName(st)}`);
  const size = c.cell(16n), back = c.buf(16), attrs = c.buf(4);
  if ((st = c.call("RT.GetVariable", name, guid, attrs, size, back)) !== STATUS.SUCCESS) fail(`GetVariable = ${statusName(st)}`);
  if (c.u64(size) !== 4n || c.u32(back) !== 0x04030201 || c.u32(attrs) !== 6) fail(`GetVariable read back size ${c.u64(size)}, data ${hex(c.u32(back))}, attributes ${c.u32(attrs)}`);
  if ((st = c.call("RT.SetVariable", name, guid, BS_RT, 0n, 0n)) !== STATUS.SUCCESS) fail(`deleting the variable = ${statusName(st)}`);
  if (image !== undefined) {
    const li = c.cell();
    st = c.call("BS.HandleProtocol", image, c.bytes(guidBytes(GUIDS.LOADED_IMAGE_PROTOCOL)), li);
    if (st !== STATUS.SUCCESS) fail(`HandleProtocol(image, LOADED_IMAGE) = ${statusName(st)}`);
  }
}

// ---------------------------------------------------------------------------------------
// 1. The PE loader

interface PeField { name: string; at: number; width: 1 | 2 | 4 | 8 }

/** Every header field the loader reads, at the offsets parsed from this file. */
function peFields(file: Uint8Array): PeField[] {
  const pe = parsePe(file);
  const out: PeField[] = [];
  const add = (s: Struct, base: number, prefix: string) => {
    for (const f of s.fields) {
      if (f.count !== 1 || ![1, 2, 4, 8].includes(f.size)) continue;
      out.push({ name: `${prefix}${f.name}`, at: base + f.offset, width: f.size as PeField["width"] });
    }
  };
  add(IMAGE_DOS_HEADER, 0, "");
  add(IMAGE_NT_HEADERS_PREFIX, pe.peOffset, "");
  add(IMAGE_OPTIONAL_HEADER64, pe.optOffset, "");
  const dirs = pe.optOffset + IMAGE_OPTIONAL_HEADER64.size;
  for (let i = 0; dirs + (i + 1) * IMAGE_DATA_DIRECTORY.size <= pe.sectionTableOffset; i++) {
    add(IMAGE_DATA_DIRECTORY, dirs + i * IMAGE_DATA_DIRECTORY.size, `DataDirectory[${i}].`);
  }
  for (const s of pe.sections) add(IMAGE_SECTION_HEADER, s.headerOffset, `section[${s.index}] ${s.name}.`);
  if (pe.relocDir.size) {
    const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const start = rvaToOffset(pe, pe.relocDir.rva);
    for (let b = start, i = 0; b + 8 <= start + pe.relocDir.size; i++) {
      add(IMAGE_BASE_RELOCATION, b, `reloc block[${i}].`);
      const size = dv.getUint32(b + 4, true);
      for (let e = b + 8; e + 2 <= b + size; e += 2) out.push({ name: `reloc block[${i}] entry ${(e - b - 8) / 2}`, at: e, width: 2 });
      if (size < 8) break;
      b += size;
    }
  }
  return out;
}

/** A file to mutate: its bytes, its fields, and the sizes relative field values are drawn near. */
interface Target { bytes: Uint8Array; fields: PeField[]; sizeOfImage: number; sizeOfHeaders: number }
interface PeGuest extends Target { name: string }

const PE_GUESTS: PeGuest[] = readdirSync(GUEST_DIR).filter((f) => f.endsWith(".efi")).sort().map((name) => {
  const bytes = new Uint8Array(readFileSync(join(GUEST_DIR, name)));
  const pe = parsePe(bytes);
  return { name, bytes, fields: peFields(bytes), sizeOfImage: pe.sizeOfImage, sizeOfHeaders: pe.sizeOfHeaders };
});

/** A value for a field: absolute, or relative to a size the loader compares it with. */
const fieldValue = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 7n, 8n, 9n, 0xfffn, 0x1000n, 0x1001n, 0x8664n, 0x20bn, 10n, 11n, 12n, 0x7fff_ffffn, 0x8000_0000n, 0xffff_fff8n, 0xffff_ffffn, U64_MAX),
  fc.record({ rel: fc.constantFrom("fileLength", "sizeOfImage", "sizeOfHeaders", "ram"), delta: fc.bigInt({ min: -16n, max: 16n }) }),
  fc.bigInt({ min: 0n, max: 0xffff_ffffn }),
  fc.bigInt({ min: 0n, max: U64_MAX }),
);

type PeMutation =
  | { kind: "field"; field: number; value: bigint | { rel: string; delta: bigint } }
  | { kind: "byte"; at: number; value: number; headers: boolean }
  | { kind: "truncate"; at: number };

const peMutation: fc.Arbitrary<PeMutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("field" as const), field: fc.nat(), value: fieldValue }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("byte" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), headers: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }) },
);

/** Apply mutations to a copy of the guest; also a line per mutation naming what it did. */
function mutate(g: Target, muts: PeMutation[]): { bytes: Uint8Array; steps: string[] } {
  let bytes = new Uint8Array(g.bytes);
  const steps: string[] = [];
  for (const m of muts) {
    if (m.kind === "truncate") {
      const at = m.at % (bytes.length + 1);
      bytes = bytes.slice(0, at);
      steps.push(`truncate to ${hex(at)} bytes`);
    } else if (m.kind === "byte") {
      if (!bytes.length) continue;
      const at = m.at % (m.headers ? Math.min(bytes.length, 0x400) : bytes.length);
      bytes[at] = m.value;
      steps.push(`byte ${hex(at)} = ${hex(m.value)}`);
    } else {
      const f = g.fields[m.field % g.fields.length];
      if (f.at + f.width > bytes.length) continue;
      let v: bigint;
      if (typeof m.value === "bigint") v = m.value;
      else {
        const base = { fileLength: bytes.length, sizeOfImage: g.sizeOfImage, sizeOfHeaders: g.sizeOfHeaders, ram: RAM_MIB << 20 }[m.value.rel]!;
        v = BigInt(base) + m.value.delta;
      }
      v = BigInt.asUintN(f.width * 8, v);
      const dv = new DataView(bytes.buffer);
      if (f.width === 1) dv.setUint8(f.at, Number(v));
      else if (f.width === 2) dv.setUint16(f.at, Number(v), true);
      else if (f.width === 4) dv.setUint32(f.at, Number(v), true);
      else dv.setBigUint64(f.at, v, true);
      steps.push(`${f.name} (file offset ${hex(f.at)}, ${f.width} bytes) = ${hex(v)}`);
    }
  }
  return { bytes, steps };
}

/** Words in loader messages that name a header field or table. */
const FIELD_WORDS = /e_magic|e_lfanew|DOS header|PE signature|Machine|SizeOfOptionalHeader|Magic|Subsystem|SizeOfImage|SizeOfHeaders|AddressOfEntryPoint|section|SectionAlignment|ImageBase|relocation/;
const SUBSYSTEM_CODE: Record<number, number> = { 10: MT.LoaderCode, 11: MT.BootServicesCode, 12: MT.RuntimeServicesCode };

/** §7.4 LoadImage's statuses. */
const LOAD_IMAGE_STATUSES = new Set<bigint>([
  STATUS.SUCCESS, STATUS.NOT_FOUND, STATUS.INVALID_PARAMETER, STATUS.UNSUPPORTED, STATUS.OUT_OF_RESOURCES,
  STATUS.LOAD_ERROR, STATUS.DEVICE_ERROR, STATUS.ACCESS_DENIED, STATUS.SECURITY_VIOLATION,
]);

/** The pages of the image on handle h are in RAM and typed as its code type (Subsystem's). */
function checkLoaded(c: ServiceCaller, handle: bigint, bytes: Uint8Array): void {
  const li = c.cell();
  const st = c.call("BS.HandleProtocol", handle, c.bytes(guidBytes(GUIDS.LOADED_IMAGE_PROTOCOL)), li);
  if (st !== STATUS.SUCCESS) throw new Error(`loaded, but HandleProtocol(LOADED_IMAGE) = ${statusName(st)}`);
  const p = c.u64(li);
  const base = c.u64(p + BigInt(off(LOADED_IMAGE_PROTOCOL, "ImageBase")));
  const size = c.u64(p + BigInt(off(LOADED_IMAGE_PROTOCOL, "ImageSize")));
  const code = c.u32(p + BigInt(off(LOADED_IMAGE_PROTOCOL, "ImageCodeType")));
  const subsystem = new DataView(bytes.buffer).getUint16(parsePe(bytes).optOffset + off(IMAGE_OPTIONAL_HEADER64, "Subsystem"), true);
  if (code !== SUBSYSTEM_CODE[subsystem]) throw new Error(`ImageCodeType ${code} for Subsystem ${subsystem}`);
  if (base % PAGE || size === 0n || base + size > c.ramBytes) throw new Error(`loaded at ${hex(base)} size ${hex(size)}: not page aligned inside RAM`);
  const map = memoryMap(c);
  checkMapShape(map, c.ramBytes);
  for (let a = base; a < base + size; a += PAGE) {
    if (typeAt(map, a) !== code) throw new Error(`image page ${hex(a)} is type ${typeAt(map, a)}, not ${code}`);
  }
}

/**
 * One image on a fresh machine, through Machine.loadImage (the host's path: a LoadError)
 * or through BS.LoadImage from a guest (the status LoadImage returns). It loads, and its
 * pages are in RAM and typed as its code type; or a LoadError names a field at an offset
 * inside the file, LoadImage returns one of its statuses, and the memory map is as it
 * was. Anything else (another exception, a WASM trap) is a failure.
 */
function loadOne(bytes: Uint8Array, via: "host" | "guest"): void {
  const t0 = performance.now();
  const c = new ServiceCaller({ ramMiB: RAM_MIB });
  try {
    let parent = 0n, src = 0n;
    if (via === "guest") {
      parent = c.m.loadImage(PE_GUESTS.find((g) => g.name === "hello.efi")!.bytes);
      src = c.m.fw.allocPages(MT.BootServicesData, Math.ceil(bytes.length / 4096) || 1);
      c.m.fw.ram.set(bytes, Number(src));
    }
    const before = memoryMap(c);
    const rejected = (what: string) => {
      const after = memoryMap(c);
      if (mapText(after) !== mapText(before)) throw new Error(`memory map changed by a rejected image (${what}):\n  before ${mapText(before)}\n  after  ${mapText(after)}`);
    };
    let handle: bigint;
    if (via === "guest") {
      const out = c.cell();
      let st: bigint;
      try {
        st = c.call("BS.LoadImage", 0n, parent, 0n, src, BigInt(bytes.length), out);
      } catch (e) {
        throw new Error(`BS.LoadImage threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
      if (!LOAD_IMAGE_STATUSES.has(st)) throw new Error(`BS.LoadImage returned ${statusName(st)}, not one of LoadImage's statuses`);
      if (st !== STATUS.SUCCESS) return rejected(`BS.LoadImage returned ${statusName(st)}`);
      handle = c.u64(out);
    } else {
      try {
        handle = c.m.loadImage(bytes);
      } catch (e) {
        if (!(e instanceof LoadError)) throw new Error(`loadImage threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not a LoadError`);
        if (!STATUSES.has(e.status) || !(e.status & ERROR_BIT)) throw new Error(`LoadError status ${hex(e.status)} is not an EFI error`);
        if (!FIELD_WORDS.test(e.field)) throw new Error(`LoadError names no field: "${e.message}"`);
        if (e.offset < 0n || e.offset >= BigInt(Math.max(bytes.length, 1))) {
          throw new Error(`LoadError offset ${hex(e.offset)} is outside the ${hex(bytes.length)}-byte file: "${e.message}"`);
        }
        return rejected(`"${e.message}"`);
      }
    }
    checkLoaded(c, handle, bytes);
  } finally {
    c.close();
  }
  const ms = performance.now() - t0;
  if (ms > RUN_LIMIT_MS) throw new Error(`one load took ${ms.toFixed(0)} ms`);
}

test("fuzz: mutated built guests load, or are rejected (LoadError naming a field inside the file; LoadImage's status), map unchanged", () => {
  assert.ok(PE_GUESTS.some((g) => g.name === "hello.efi"), "build/guests/hello.efi (guests/build.sh)");
  check("PE mutations", fc.property(
    fc.nat({ max: PE_GUESTS.length - 1 }),
    fc.array(peMutation, { minLength: 1, maxLength: 4 }),
    fc.constantFrom("host" as const, "guest" as const),
    (gi, muts, via) => {
      const g = PE_GUESTS[gi];
      const { bytes, steps } = mutate(g, muts);
      try {
        loadOne(bytes, via);
      } catch (e) {
        throw new Error(`${g.name} with ${steps.join("; ") || "no change"}, loaded by the ${via}:\n${(e as Error).message}`);
      }
    },
  ), 200);
});

// ---------------------------------------------------------------------------------------
// 2. Service argument decoding

/**
 * Services a garbage call must not reach: they run guest code (StartImage) or end the
 * run (Exit, ExitBootServices, ResetSystem); WaitForEvent on an event nothing signals
 * waits for ever, which the firmware answers with a trap by design.
 */
const SKIP = new Set(["BS.StartImage", "BS.Exit", "BS.ExitBootServices", "RT.ResetSystem", "BS.WaitForEvent"]);
const FUZZED: Service[] = SERVICES.filter((s) => !SKIP.has(`${s.table}.${s.name}`));

/** GUIDs a typed argument points at: the protocols and tables the firmware knows, and a stranger. */
const FUZZ_GUIDS = Object.entries(GUIDS)
  // A driver binding installed with a garbage interface would make ConnectController
  // call garbage as guest code: the guest's own doing, not the firmware's.
  .filter(([name]) => name !== "DRIVER_BINDING_PROTOCOL")
  .map(([, text]) => guidBytes(text)).concat([VENDOR]);
const FUZZ_STRINGS = ["X", "Boot0000", "SecureBoot", "PlatformLang", "FuzzVariable", "\u00e9\u4e2d"];

/** The per-run filler for the bench's memory, from a seed fast-check chooses. */
const prng = mulberry32;

const KINDS = [
  "zero", "small", "pages", "out", "outOdd", "cell", "random", "guid", "string", "path", "pe", "peSize",
  "pastEnd", "ramEnd", "endMinus", "allOnes", "wrap", "any64", "kernel", "handle", "harvest", "table", "virt", "virtBase",
] as const;
type Kind = typeof KINDS[number];

/** Typed values of the small enums: 0 up to one past the last valid value. */
const ENUM_RANGE: Record<string, number> = {
  EFI_ALLOCATE_TYPE: 4, EFI_LOCATE_SEARCH_TYPE: 4, EFI_TIMER_DELAY: 4, EFI_INTERFACE_TYPE: 2, BOOLEAN: 3, UINT8: 256, UINT16: 64,
};

/** One argument: a kind (or, when typed, a kind fitting the parameter's type) and the numbers that pick within it. */
interface ArgSpec { typed: boolean; kind: Kind; n: number; v: bigint }
const argSpec: fc.Arbitrary<ArgSpec> = fc.record({
  typed: fc.boolean(),
  kind: fc.constantFrom(...KINDS),
  n: fc.nat(),
  v: fc.bigInt({ min: 0n, max: U64_MAX }),
});

type Step =
  | { op: "call"; svc: number; args: ArgSpec[]; wellTyped: boolean }
  | { op: "poke"; target: number; at: number; width: 1 | 2 | 4 | 8; value: ArgSpec };
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 9, arbitrary: fc.record({ op: fc.constant("call" as const), svc: fc.nat({ max: FUZZED.length - 1 }), args: fc.array(argSpec, { minLength: 10, maxLength: 10 }), wellTyped: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("poke" as const), target: fc.nat(), at: fc.nat(), width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), value: argSpec }) },
);

// The bench's area (host pages the guest cannot free), by offset.
const GUID_AT = 0x0000n, STRING_AT = 0x0400n, PATH_AT = 0x0800n, CELLS_AT = 0x1000n, RANDOM_AT = 0x2000n;
const PE_AT = 0x6000n, OUT_AT = 0x2_0000n, OUT_BYTES = 0x8000n, TABLES_AT = 0x3_0000n, STACK_AT = 0x3_f000n;
const AREA_PAGES = 0x40;
const CELLS = 512;

/** A virtual window the guest's own page tables map (property 3): where, and to what. */
interface Window { base: bigint; pages: bigint[] }

/**
 * A fresh machine with hello.efi loaded (an image handle), an area of host memory laid
 * out for typed arguments, and the calls and pokes it has seen. Arguments are resolved
 * here, so a counterexample replays exactly; the log is the concrete calls.
 */
class Bench {
  readonly c = new ServiceCaller({ ramMiB: RAM_MIB });
  readonly m = this.c.m;
  readonly ram = this.c.ramBytes;
  readonly area = this.m.fw.allocPages(MT.BootServicesData, AREA_PAGES);
  readonly image: bigint;
  readonly handles: bigint[];
  readonly harvested: bigint[] = [];
  readonly log: string[] = [];
  /** Firmware-published structures, for "table" pointers and pokes: [address, bytes, name]. */
  readonly tables: [bigint, number, string][];
  cr3 = 0n;
  window?: Window;
  private readonly watched: Uint8Array;
  imageGone = false;

  constructor(seed: number) {
    const rnd = prng(seed);
    const m = this.m, a = this.area;
    this.image = m.loadImage(PE_GUESTS.find((g) => g.name === "hello.efi")!.bytes);
    const st = m.fw.systemTable;
    const u64 = (p: bigint) => this.c.u64(p);
    const conOut = u64(st + BigInt(off(SYSTEM_TABLE, "ConOut")));
    this.handles = [this.image, u64(st + BigInt(off(SYSTEM_TABLE, "ConsoleOutHandle")))];
    const li = this.c.cell();
    this.c.call("BS.HandleProtocol", this.image, this.c.bytes(guidBytes(GUIDS.LOADED_IMAGE_PROTOCOL)), li);
    this.tables = [
      [st, SYSTEM_TABLE.size, "SystemTable"],
      [u64(st + BigInt(off(SYSTEM_TABLE, "RuntimeServices"))), TABLE_HEADER.size, "RuntimeServices.Hdr"],
      [u64(st + BigInt(off(SYSTEM_TABLE, "BootServices"))), TABLE_HEADER.size, "BootServices.Hdr"],
      [conOut, SIMPLE_TEXT_OUTPUT_PROTOCOL.size, "ConOut"],
      [u64(conOut + BigInt(off(SIMPLE_TEXT_OUTPUT_PROTOCOL, "Mode"))), 24, "ConOut.Mode"],
      [u64(st + BigInt(off(SYSTEM_TABLE, "ConfigurationTable"))), 4 * 24, "ConfigurationTable"],
      [u64(li), LOADED_IMAGE_PROTOCOL.size, "LoadedImage(hello)"],
      [this.ram - PAGE, 4096, "top RAM page"],
    ];
    const ram = m.fw.ram, at = (o: bigint) => Number(a + o);
    FUZZ_GUIDS.forEach((g, i) => ram.set(g, at(GUID_AT) + 16 * i));
    let sp = at(STRING_AT);
    for (const t of FUZZ_STRINGS) { const b = Buffer.from(t + "\0", "utf16le"); ram.set(b, sp); sp += b.length + 2; }
    // Device paths: an end node; a vendor media node (the initrd's) then end; a node of
    // length 0; a node running past the area's page.
    const paths = [
      [0x7f, 0xff, 4, 0],
      [0x04, 0x03, 20, 0, ...guidBytes(GUIDS.LINUX_EFI_INITRD_MEDIA), 0x7f, 0xff, 4, 0],
      [0x01, 0x04, 0, 0],
      [0x04, 0x04, 0xff, 0xff],
    ];
    paths.forEach((p, i) => ram.set(p, at(PATH_AT) + 0x100 * i));
    for (let i = 0; i < 4 * 4096; i++) ram[at(RANDOM_AT) + i] = rnd() < 0.1 ? 0 : Math.floor(rnd() * 256);
    ram.set(PE_GUESTS.find((g) => g.name === "hello.efi")!.bytes, at(PE_AT));
    for (let i = 0; i < CELLS; i++) this.c.setU64(a + CELLS_AT + BigInt(8 * i), this.cellValue(rnd));
    this.watched = new Uint8Array(Number(OUT_BYTES) + 4096);
  }

  /** An in/out cell's starting value: a size, a limit, a pointer or handle to pass through. */
  private cellValue(rnd: () => number): bigint {
    const a = this.area;
    const choices = [
      0n, 8n, 16n, 0x30n, 0x100n, 0x1000n, 0x8000n, 0x10000n, 1n << 32n, U64_MAX, this.ram, this.ram + 8n,
      a + GUID_AT, a + STRING_AT, a + PATH_AT, a + PATH_AT + 0x100n, a + PATH_AT + 0x200n, a + OUT_AT,
      this.image, this.handles[1], BigInt(Math.floor(rnd() * 2 ** 32)) << 12n,
    ];
    return choices[Math.floor(rnd() * choices.length)];
  }

  /** A concrete 64-bit argument. */
  resolve(s: ArgSpec, p: { type: string; name: string; pointer: number } | undefined): bigint {
    return this.resolveKind(s, p);
  }

  private resolveKind(s: ArgSpec, p: { type: string; name: string; pointer: number } | undefined): bigint {
    const a = this.area, n = s.n;
    // Parameters the firmware would call: no guest code to run here.
    if (p?.name === "NotifyFunction") return 0n;
    let kind = s.kind;
    if (s.typed && p) {
      const choose = (...k: Kind[]) => k[n % k.length];
      if (p.name === "SourceBuffer") kind = this.window ? choose("pe", "virtBase") : "pe";
      else if (p.name === "SourceSize") kind = "peSize";
      else if (p.pointer > 0 && p.type === "EFI_GUID") kind = "guid";
      else if (p.pointer > 0 && p.type === "CHAR16") kind = this.window ? choose("string", "virt") : "string";
      else if (p.pointer === 1 && p.type === "EFI_DEVICE_PATH_PROTOCOL") kind = "path";
      else if (p.pointer > 0) kind = choose("out", "cell", ...(this.window ? ["virt" as const] : []));
      else if (p.type === "EFI_HANDLE") kind = choose("handle", "harvest");
      else if (p.type === "EFI_EVENT" || p.type === "EFI_PHYSICAL_ADDRESS") kind = choose("harvest", "out");
      else if (p.type === "EFI_TPL") return [4n, 8n, 16n, 31n][n % 4];
      // CreateEvent(Ex)'s Type (§7.1 EVT_*); with no notify function, only some are valid.
      else if (p.name === "Type" && p.type === "UINT32") return [0n, 0x8000_0000n, 0x4000_0000n, 0x100n, 0x200n, 0x201n, 0x6000_0202n, 0x8000_0200n][n % 8];
      else if (p.type in ENUM_RANGE) return BigInt(n % ENUM_RANGE[p.type]);
      else if (p.type === "EFI_MEMORY_TYPE") return n & 0x100 ? 0x8000_0000n + BigInt(n % 3) : BigInt(n % 17);
      else kind = choose("small", "pages");
    }
    const word = (x: number) => BigInt(x & ~7);
    switch (kind) {
      case "zero": return 0n;
      case "small": return BigInt(n % 65);
      case "pages": return BigInt(n % 4) * 0x1000n + BigInt(n % 3);
      case "out": return a + OUT_AT + word(n % Number(OUT_BYTES - 64n));
      case "outOdd": return a + OUT_AT + BigInt((n % 0x4000) | 1);
      case "cell": return a + CELLS_AT + BigInt(8 * (n % CELLS));
      case "random": return a + RANDOM_AT + BigInt(n % 0x4000);
      case "guid": return a + GUID_AT + BigInt(16 * (n % FUZZ_GUIDS.length));
      case "string": return a + STRING_AT + BigInt(n % 0x40) * 2n;
      case "path": return a + PATH_AT + 0x100n * BigInt(n % 4);
      case "pe": return a + PE_AT;
      case "peSize": return BigInt(PE_GUESTS.find((g) => g.name === "hello.efi")!.bytes.length - (n % 3) * 0x800);
      case "pastEnd": return this.ram + BigInt(n % 0x2000);
      case "ramEnd": return this.ram;
      case "endMinus": return this.ram - 1n - BigInt(n % 64);
      case "allOnes": return U64_MAX;
      case "wrap": return U64_MAX - BigInt(n % 0x1000);
      case "any64": return s.v;
      case "kernel": return 0xffff_8000_0000_0000n | (s.v & 0x7fff_ffff_ffffn);
      case "handle": return this.handles[n % this.handles.length];
      case "harvest": return this.harvested.length ? this.harvested[n % this.harvested.length] : 0n;
      case "table": { const [t, size] = this.tables[n % this.tables.length]; return t + BigInt((n >> 4) % size); }
      case "virtBase": return this.window ? this.window.base : a + PE_AT;
      case "virt": {
        if (!this.window) return a + OUT_AT;
        // Near the window's page boundaries, where a walk must follow the tables.
        const page = BigInt((n >> 8) % this.window.pages.length);
        return this.window.base + page * PAGE + (n & 0x80 ? PAGE - BigInt(n % 64) : BigInt(n % 64));
      }
    }
  }

  /** Call service `svc` with concrete arguments under the bench's CR3, as the OUT hook does. */
  dispatch(svc: Service, args: bigint[]): bigint {
    const stack = this.area + STACK_AT;
    for (let i = 4; i < args.length; i++) this.c.setU64(stack + 0x28n + 8n * BigInt(i - 4), args[i]);
    this.m.fw.args.fill(0n);
    this.m.fw.args.set([args[0] ?? 0n, args[1] ?? 0n, args[2] ?? 0n, args[3] ?? 0n, stack, this.cr3]);
    return this.m.fw.dispatch(svc.id);
  }

  /** Values the firmware wrote to the out area since the last look (handles, events, pointers). */
  harvest(): void {
    const base = Number(this.area + OUT_AT);
    const now = this.m.fw.ram.subarray(base, base + this.watched.length);
    const dv = new DataView(now.buffer, now.byteOffset, now.byteLength);
    const was = new DataView(this.watched.buffer);
    for (let i = 0; i + 8 <= now.length; i += 8) {
      const v = dv.getBigUint64(i, true);
      if (v !== was.getBigUint64(i, true) && v !== 0n && !this.harvested.includes(v) && this.harvested.length < 64) this.harvested.push(v);
    }
    this.watched.set(now);
  }

  run(steps: Step[]): void {
    for (const s of steps) {
      if (s.op === "poke") {
        const [t, size, name] = this.tables[s.target % this.tables.length];
        const at = BigInt(Math.floor((s.at % size) / s.width) * s.width);
        const v = BigInt.asUintN(s.width * 8, this.resolve(s.value, undefined));
        const p = Number(t + at), dv = this.m.fw.ramView;
        if (s.width === 1) dv.setUint8(p, Number(v));
        else if (s.width === 2) dv.setUint16(p, Number(v), true);
        else if (s.width === 4) dv.setUint32(p, Number(v), true);
        else dv.setBigUint64(p, v, true);
        this.log.push(`poke u${s.width * 8} [${name}+${hex(at)}] = ${hex(v)}`);
        continue;
      }
      const svc = FUZZED[s.svc];
      const sig = svc.sig;
      const count = sig.variadic ? 10 : Math.max(sig.params.length, 1);
      // Half the calls have every argument of its parameter's type (deeper paths), half a mix.
      const args = s.args.slice(0, count).map((x, i) => this.resolve(s.wellTyped ? { ...x, typed: true } : x, sig.params[i]));
      const text = `${svc.table}.${svc.name}(${args.map((x) => hex(x)).join(", ")})${this.cr3 ? ` with CR3 ${hex(this.cr3)}` : ""}`;
      let r: bigint;
      if (TRACE) writeSync(2, `${text}\n`);
      try {
        r = this.dispatch(svc, args);
      } catch (e) {
        this.log.push(`${text} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        throw new Error(`a service threw (a WASM trap is a RuntimeError):\n  ${this.log.join("\n  ")}`);
      }
      this.log.push(`${text} = ${sig.returns === "EFI_STATUS" ? statusName(r) : hex(r)}`);
      if (STATS) {
        const k = `${svc.table}.${svc.name}`;
        const m = STATS.get(k) ?? new Map<string, number>();
        const st = sig.returns === "EFI_STATUS" ? statusName(r) : "value";
        m.set(st, (m.get(st) ?? 0) + 1);
        STATS.set(k, m);
      }
      const bad = this.checkReturn(sig.returns, r);
      if (bad) throw new Error(`${bad}:\n  ${this.log.join("\n  ")}`);
      if (sig.returns.includes("*") && r) this.harvested.push(r);
      if (r === STATUS.SUCCESS && args[0] === this.image && /^(UnloadImage|UninstallProtocolInterface|ReinstallProtocolInterface|UninstallMultipleProtocolInterfaces)$/.test(svc.name)) this.imageGone = true;
      this.harvest();
    }
  }

  /** What a return value breaks, or undefined: statuses from STATUS, VOID 0, pointers in RAM. */
  private checkReturn(returns: string, r: bigint): string | undefined {
    if (returns === "EFI_STATUS") return STATUSES.has(r) ? undefined : `returned ${hex(r)}, not an EFI status`;
    if (returns === "VOID") return r === 0n ? undefined : `VOID service returned ${hex(r)}`;
    if (returns === "BOOLEAN") return r <= 1n ? undefined : `BOOLEAN service returned ${hex(r)}`;
    if (returns.includes("*")) return r === 0n || r < this.ram ? undefined : `returned pointer ${hex(r)} outside RAM`;
    return undefined; // EFI_TPL (the previous TPL), UINTN (a size)
  }

  /** The firmware still works (with paging off: physical pointers). */
  consistent(): void {
    this.cr3 = 0n;
    if (TRACE) writeSync(2, "(consistency check)\n");
    const fixed = [
      { page: this.m.fw.systemTable & ~(PAGE - 1n), type: MT.RuntimeServicesData, what: "system table" },
      { page: this.m.fw.thunks, type: MT.RuntimeServicesCode, what: "thunk" },
      { page: this.tables[2][0] & ~(PAGE - 1n), type: MT.BootServicesData, what: "boot services table" },
      ...Array.from({ length: AREA_PAGES }, (_, i) => ({ page: this.area + BigInt(i) * PAGE, type: MT.BootServicesData, what: "host area" })),
    ];
    try {
      checkConsistent(this.c, fixed, this.imageGone ? undefined : this.image);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nafter:\n  ${this.log.join("\n  ")}`);
    }
  }

  close(): void { this.c.close(); }
}

function benchRun(seed: number, steps: Step[], window?: { base: bigint; targets: { kind: string; n: number }[]; contiguous: boolean }): void {
  const t0 = performance.now();
  const b = new Bench(seed);
  try {
    if (TRACE) writeSync(2, `(run, seed ${seed})\n`);
    if (window) mapWindow(b, window);
    b.run(steps);
    b.consistent();
  } finally {
    b.close();
  }
  const ms = performance.now() - t0;
  if (ms > RUN_LIMIT_MS) throw new Error(`one run took ${ms.toFixed(0)} ms:\n  ${b.log.join("\n  ")}`);
}

test("fuzz: every service with garbage arguments (and pokes of the firmware's tables) returns an EFI status; the firmware stays consistent", () => {
  check("service arguments", fc.property(
    fc.integer(), fc.array(step, { minLength: 1, maxLength: 16 }),
    (seed, steps) => benchRun(seed, steps),
  ), 200);
});

// ---------------------------------------------------------------------------------------
// 3. Guest pointers through the guest's own page tables

const PTE_P = 1n, PTE_RW = 2n, PTE_PS = 0x80n;

/**
 * Page tables in the bench's area: the first GiB identity-mapped with one 1 GiB page (so
 * the area, the stack and RAM keep their addresses), and an 8-page window at `base`
 * mapped page by page to the targets (or, contiguous, to one run from the first).
 */
function mapWindow(b: Bench, w: { base: bigint; targets: { kind: string; n: number }[]; contiguous: boolean }): void {
  let next = b.area + TABLES_AT;
  const fresh = () => { const p = next; next += PAGE; b.m.fw.ram.fill(0, Number(p), Number(p + PAGE)); return p; };
  const root = fresh();
  const entry = (table: bigint, va: bigint, level: number) => table + ((va >> BigInt(12 + 9 * level)) & 511n) * 8n;
  const walk = (va: bigint): bigint => {
    let table = root;
    for (let level = 3; level > 0; level--) {
      const e = entry(table, va, level);
      let v = b.c.u64(e);
      if (!(v & PTE_P)) { v = fresh() | PTE_P | PTE_RW; b.c.setU64(e, v); }
      table = v & 0x000f_ffff_ffff_f000n;
    }
    return entry(table, va, 0);
  };
  const pdpt = fresh();
  b.c.setU64(root, pdpt | PTE_P | PTE_RW);
  b.c.setU64(pdpt, 0n | PTE_P | PTE_RW | PTE_PS);
  const target = (t: { kind: string; n: number }): bigint | undefined => {
    switch (t.kind) {
      case "pe": return b.area + PE_AT + BigInt(t.n % 4) * PAGE;
      case "out": return b.area + OUT_AT + BigInt(t.n % 8) * PAGE;
      case "random": return b.area + RANDOM_AT + BigInt(t.n % 4) * PAGE;
      case "lastRam": return b.ram - PAGE * BigInt(1 + (t.n % 4));
      case "lastRamFilled": {
        // The guest fills the end of RAM (a firmware page) with non-NUL UCS-2, then maps it.
        b.m.fw.ram.fill(0x41, Number(b.ram) - (t.n % 4096) - 2);
        return b.ram - PAGE;
      }
      case "page0": return 0n;
      case "pastRam": return b.ram + PAGE * BigInt(t.n % 4);
      default: return undefined; // not present
    }
  };
  const pages: bigint[] = [];
  const first = target(w.targets[0]);
  w.targets.forEach((t, i) => {
    const pa = w.contiguous && first !== undefined ? first + BigInt(i) * PAGE : target(t);
    pages.push(pa ?? -1n);
    if (pa !== undefined) b.c.setU64(walk(w.base + BigInt(i) * PAGE), pa | PTE_P | PTE_RW);
  });
  b.cr3 = root;
  b.window = { base: w.base, pages };
  b.log.push(`CR3 ${hex(root)}: window ${hex(w.base)} -> ${pages.map((p) => (p < 0n ? "absent" : hex(p))).join(" ")}`);
}

const windowSpec = fc.record({
  // Above the identity GiB; where the low 32 bits wrap a WASM address; a kernel address;
  // the very top of the address space.
  base: fc.constantFrom(0x4000_0000n, 0xff00_0000n, 0xffff_ffff_8000_0000n, 0xffff_ffff_ffff_8000n),
  targets: fc.array(fc.record({ kind: fc.constantFrom("pe", "out", "random", "lastRam", "lastRamFilled", "page0", "pastRam", "absent"), n: fc.nat() }), { minLength: 8, maxLength: 8 }),
  contiguous: fc.boolean(),
});

test("fuzz: the same through page tables the guest built (virtual pointers, windows onto any page)", () => {
  check("services through guest page tables", fc.property(
    fc.integer(), windowSpec, fc.array(step, { minLength: 1, maxLength: 12 }),
    (seed, window, steps) => benchRun(seed, steps, window),
  ), 200);
});

// ---------------------------------------------------------------------------------------
// 4. The PVH path's image readers (host/pvh): an ELF vmlinux, and one in a bzImage

/** Write field `name` of struct s at base (little endian, its declared width). */
function put(bytes: Uint8Array, s: Struct, base: number, name: string, v: number | bigint): void {
  const f = field(s, name);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = base + f.offset;
  if (f.size === 1) dv.setUint8(at, Number(v));
  else if (f.size === 2) dv.setUint16(at, Number(v), true);
  else if (f.size === 4) dv.setUint32(at, Number(v), true);
  else dv.setBigUint64(at, BigInt(v), true);
}

/**
 * A small valid vmlinux: Elf64_Ehdr, a PT_NOTE with Xen's PHYS32_ENTRY note, a PT_LOAD
 * of 0x200 bytes at physical 16 MiB (memsz twice that); its fields, for mutations.
 *   0x000 Elf64_Ehdr  0x040 Elf64_Phdr[0] PT_NOTE  0x078 Elf64_Phdr[1] PT_LOAD  0x100 note  0x200 load
 */
function smallVmlinux(): { bytes: Uint8Array; fields: PeField[] } {
  const bytes = new Uint8Array(0x400);
  bytes.set(ELF.MAGIC, 0);
  bytes[EI.CLASS] = ELF.CLASS64; bytes[EI.DATA] = ELF.DATA2LSB; bytes[EI.VERSION] = ELF.EV_CURRENT;
  const eh = (kv: Record<string, number | bigint>) => { for (const [k, v] of Object.entries(kv)) put(bytes, ELF64_EHDR, 0, k, v); };
  eh({ e_type: ELF.ET_EXEC, e_machine: ELF.EM_X86_64, e_version: 1, e_entry: 0x100_0000, e_phoff: ELF64_EHDR.size, e_ehsize: ELF64_EHDR.size, e_phentsize: ELF64_PHDR.size, e_phnum: 2 });
  const note = 0x100;
  put(bytes, ELF64_NHDR, note, "n_namesz", 4);
  put(bytes, ELF64_NHDR, note, "n_descsz", 8);
  put(bytes, ELF64_NHDR, note, "n_type", XEN_ELFNOTE_PHYS32_ENTRY);
  bytes.set(Buffer.from(XEN_ELFNOTE_NAME + "\0"), note + ELF64_NHDR.size);
  new DataView(bytes.buffer).setBigUint64(note + ELF64_NHDR.size + 4, 0x100_0010n, true);
  const ph = (i: number, kv: Record<string, number | bigint>) => { for (const [k, v] of Object.entries(kv)) put(bytes, ELF64_PHDR, ELF64_EHDR.size + i * ELF64_PHDR.size, k, v); };
  ph(0, { p_type: ELF.PT_NOTE, p_flags: ELF.PF_R, p_offset: note, p_filesz: 24, p_memsz: 24, p_align: 4 });
  ph(1, { p_type: ELF.PT_LOAD, p_flags: ELF.PF_R | ELF.PF_X, p_offset: 0x200, p_vaddr: 0xffff_ffff_8100_0000n, p_paddr: 0x100_0000, p_filesz: 0x200, p_memsz: 0x400, p_align: 0x1000 });
  bytes.fill(0x90, 0x200);
  const fields: PeField[] = [];
  const add = (s: Struct, base: number, prefix: string) => {
    for (const f of s.fields) if (f.count === 1) fields.push({ name: `${prefix}${f.name}`, at: base + f.offset, width: f.size as PeField["width"] });
  };
  add(ELF64_EHDR, 0, "");
  for (let i = 0; i < 16; i++) fields.push({ name: `e_ident[${i}]`, at: i, width: 1 });
  add(ELF64_PHDR, ELF64_EHDR.size, "Elf64_Phdr[0].");
  add(ELF64_PHDR, ELF64_EHDR.size + ELF64_PHDR.size, "Elf64_Phdr[1].");
  add(ELF64_NHDR, note, "Elf64_Nhdr.");
  fields.push({ name: "PHYS32_ENTRY", at: note + ELF64_NHDR.size + 4, width: 8 });
  return { bytes, fields };
}

/** smallVmlinux in a bzImage (boot protocol 2.15, one setup sector), gzip or LZ4-legacy compressed. */
function smallBzImage(compression: "gzip" | "lz4"): { bytes: Uint8Array; fields: PeField[] } {
  const elf = smallVmlinux().bytes;
  let payload: Uint8Array;
  if (compression === "gzip") payload = gzipSync(elf);
  else {
    const block = lz4CompressSync(Buffer.from(elf)).subarray(4); // lz4_flex's size prefix off: a raw block
    const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
    payload = Buffer.concat([u32(LZ4_LEGACY_MAGIC), u32(block.length), block, u32(elf.length)]);
  }
  const at = 2 * 512 + 0x10;
  const bytes = new Uint8Array(at + payload.length);
  put(bytes, SETUP_HEADER, 0, "setup_sects", 1);
  put(bytes, SETUP_HEADER, 0, "boot_flag", BOOT_PROTOCOL.BOOT_FLAG);
  put(bytes, SETUP_HEADER, 0, "version", 0x020f);
  bytes.set(Buffer.from("HdrS"), field(SETUP_HEADER, "header").offset);
  put(bytes, SETUP_HEADER, 0, "payload_offset", 0x10);
  put(bytes, SETUP_HEADER, 0, "payload_length", payload.length);
  bytes.set(payload, at);
  const fields: PeField[] = ["setup_sects", "boot_flag", "version", "payload_offset", "payload_length", "init_size"]
    .map((n) => ({ name: `setup_header.${n}`, at: field(SETUP_HEADER, n).offset, width: field(SETUP_HEADER, n).size as PeField["width"] }));
  fields.push({ name: "payload size trailer", at: bytes.length - 4, width: 4 });
  for (let i = 0; i < 12; i++) fields.push({ name: `payload[${i}]`, at: at + i, width: 1 });
  return { bytes, fields };
}

const KERNEL_FILES = [
  { name: "vmlinux", ...smallVmlinux() },
  { name: "bzImage (gzip)", ...smallBzImage("gzip") },
  { name: "bzImage (lz4)", ...smallBzImage("lz4") },
].map((k) => ({ ...k, sizeOfImage: 0x400, sizeOfHeaders: ELF64_EHDR.size }));

/**
 * extractVmlinux, parseElf and pvhEntry on the bytes: each succeeds or throws a
 * KernelImageError naming a field, its offset inside the file it names; never another
 * exception (a RangeError from a DataView read past the end, say).
 */
function readKernel(bytes: Uint8Array): void {
  const t0 = performance.now();
  let vmlinux: Uint8Array | undefined;
  try {
    vmlinux = extractVmlinux(bytes).elf;
    pvhEntry(parseElf(vmlinux));
  } catch (e) {
    if (!(e instanceof KernelImageError)) throw new Error(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not a KernelImageError`);
    if (!e.field) throw new Error(`KernelImageError names no field: "${e.message}"`);
    const length = e.file === "bzImage" ? bytes.length : vmlinux?.length ?? bytes.length;
    // A field the file is too short to hold is named where it belongs, past the end.
    const short = /file is only|ends inside|truncated|runs past the end|bytes left|too short/.test(e.message);
    if (e.offset < 0 || (e.offset >= Math.max(length, 1) && !short)) {
      throw new Error(`KernelImageError offset ${hex(e.offset)} is outside the ${hex(length)}-byte ${e.file}: "${e.message}"`);
    }
  }
  const ms = performance.now() - t0;
  if (ms > RUN_LIMIT_MS) throw new Error(`reading took ${ms.toFixed(0)} ms`);
}

test("fuzz: mutated vmlinux and bzImage files are read, or refused with a KernelImageError naming a field inside the file", () => {
  check("ELF/bzImage mutations", fc.property(
    fc.nat({ max: KERNEL_FILES.length - 1 }),
    fc.array(peMutation, { minLength: 1, maxLength: 4 }),
    (ki, muts) => {
      const k = KERNEL_FILES[ki];
      const { bytes, steps } = mutate(k, muts);
      try {
        readKernel(bytes);
      } catch (e) {
        throw new Error(`${k.name} with ${steps.join("; ") || "no change"}:\n${(e as Error).message}`);
      }
    },
  ), 1000);
});

test.run();
