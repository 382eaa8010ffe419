// The PVH path's pure parts: start_info.h and ELF layouts, the bzImage payload and its
// LZ4 legacy frame, the vmlinux's PVH note, the guest-physical layout; then the real
// Debian kernel's own PVH entry code reading that layout in Unicorn.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { compressSync } from "lz4-napi";
import { field, type Struct } from "../firmware/spec/decl.ts";
import {
  BOOT_PROTOCOL, HVM_MEMMAP_TABLE_ENTRY, HVM_MODLIST_ENTRY, HVM_START_INFO, SETUP_HEADER,
  XEN_ELFNOTE_PHYS32_ENTRY, XEN_HVM_MEMMAP_TYPE, XEN_HVM_START_MAGIC_VALUE,
} from "../firmware/spec/pvh.ts";
import { ELF, ELF64_EHDR, ELF64_NHDR, ELF64_PHDR } from "../firmware/spec/elf.ts";
import {
  buildPvhBoot, cmdlineBytes, encodeStruct, extractVmlinux, identifyCompression, KernelImageError,
  layout, lz4LegacyDecompress, parseElf, parseElfSource, fileSource, preparePvh, preparePvhFile, pvhEntry, writeRegions,
  type Compression, type ElfImage, type ElfSource, type PvhBoot, type Vmlinux,
} from "../host/pvh/index.ts";
import { gunzipVmlinux, LZ4_LEGACY_BLOCK_SIZE, LZ4_LEGACY_MAGIC } from "../host/pvh/bzimage.ts";
import { enterPvh } from "../host/pvh/enter.ts";
import { zstdFrames } from "../host/pvh/zstd-frame.ts";
import { efiGdt, gdtBytes, SEL_CODE32, SEL_DATA } from "../host/x86/gdt.ts";
import { Unicorn, consts as UC } from "../host/unicorn/index.ts";
import { DEFAULT_KERNEL } from "../host/defaults.ts";

const MiB = 1 << 20;
const off = (s: Struct, name: string) => field(s, name).offset;

/** Little-endian writes at a struct's field offsets. */
function put(bytes: Uint8Array, s: Struct, base: number, name: string, v: number | bigint): void {
  const f = field(s, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (f.size === 1) view.setUint8(base + f.offset, Number(v));
  else if (f.size === 2) view.setUint16(base + f.offset, Number(v), true);
  else if (f.size === 4) view.setUint32(base + f.offset, Number(v), true);
  else view.setBigUint64(base + f.offset, BigInt(v), true);
}
function get(bytes: Uint8Array, s: Struct, base: number, name: string): bigint {
  const f = field(s, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (f.size === 1) return BigInt(view.getUint8(base + f.offset));
  if (f.size === 2) return BigInt(view.getUint16(base + f.offset, true));
  if (f.size === 4) return BigInt(view.getUint32(base + f.offset, true));
  return view.getBigUint64(base + f.offset, true);
}

/** KernelImageError with field and offset, or a test failure naming what was thrown. */
function throwsImage(fn: () => unknown, fieldPattern: RegExp, offset: number, message?: RegExp): KernelImageError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof KernelImageError)) throw e;
    assert.match(e.field, fieldPattern, e.message);
    assert.is(e.offset, offset, e.message);
    assert.ok(e.message.includes(`0x${offset.toString(16)}`), e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  throw new assert.Assertion({ message: `no KernelImageError (${fieldPattern})`, operator: "throws", expects: "", actual: "" } as never);
}

// ---- fixtures ----

/**
 * A minimal ELF64 x86-64 executable: header, PT_NOTE and PT_LOAD program headers, a
 * note segment with the Xen PVH note, 0x1000 bytes loaded at physical 16 MiB (memsz
 * 0x2000: half of it .bss).
 *   0x000 Elf64_Ehdr   0x040 Elf64_Phdr[0] PT_NOTE   0x078 Elf64_Phdr[1] PT_LOAD
 *   0x100 notes        0x1000 loaded bytes
 */
const FIX = { notes: 0x100, load: 0x1000, loadSize: 0x1000, paddr: 16 * MiB, entry: 16 * MiB + 0x10 };
function makeElf(o: { noteType?: number; noteName?: string; desc?: Uint8Array; entry?: number } = {}): Uint8Array {
  const bytes = new Uint8Array(FIX.load + FIX.loadSize);
  bytes.set(ELF.MAGIC, 0);
  bytes[4] = ELF.CLASS64; bytes[5] = ELF.DATA2LSB; bytes[6] = ELF.EV_CURRENT;
  put(bytes, ELF64_EHDR, 0, "e_type", ELF.ET_EXEC);
  put(bytes, ELF64_EHDR, 0, "e_machine", ELF.EM_X86_64);
  put(bytes, ELF64_EHDR, 0, "e_version", 1);
  put(bytes, ELF64_EHDR, 0, "e_entry", FIX.paddr);
  put(bytes, ELF64_EHDR, 0, "e_phoff", ELF64_EHDR.size);
  put(bytes, ELF64_EHDR, 0, "e_ehsize", ELF64_EHDR.size);
  put(bytes, ELF64_EHDR, 0, "e_phentsize", ELF64_PHDR.size);
  put(bytes, ELF64_EHDR, 0, "e_phnum", 2);
  // The note: "Xen\0", type 18, an 8-byte entry as Linux's _ASM_PTR emits it.
  const name = Buffer.from((o.noteName ?? "Xen") + "\0");
  const desc = o.desc ?? (() => { const d = new Uint8Array(8); new DataView(d.buffer).setBigUint64(0, BigInt(o.entry ?? FIX.entry), true); return d; })();
  put(bytes, ELF64_NHDR, FIX.notes, "n_namesz", name.length);
  put(bytes, ELF64_NHDR, FIX.notes, "n_descsz", desc.length);
  put(bytes, ELF64_NHDR, FIX.notes, "n_type", o.noteType ?? XEN_ELFNOTE_PHYS32_ENTRY);
  bytes.set(name, FIX.notes + ELF64_NHDR.size);
  const descAt = FIX.notes + ELF64_NHDR.size + Math.ceil(name.length / 4) * 4;
  bytes.set(desc, descAt);
  const notesSize = descAt + Math.ceil(desc.length / 4) * 4 - FIX.notes;
  const ph = (i: number, kv: Record<string, number | bigint>) => { for (const [k, v] of Object.entries(kv)) put(bytes, ELF64_PHDR, ELF64_EHDR.size + i * ELF64_PHDR.size, k, v); };
  ph(0, { p_type: ELF.PT_NOTE, p_flags: ELF.PF_R, p_offset: FIX.notes, p_vaddr: 0, p_paddr: 0, p_filesz: notesSize, p_memsz: notesSize, p_align: 4 });
  ph(1, { p_type: ELF.PT_LOAD, p_flags: ELF.PF_R | ELF.PF_X, p_offset: FIX.load, p_vaddr: 0xffff_ffff_8100_0000n, p_paddr: FIX.paddr, p_filesz: FIX.loadSize, p_memsz: 2 * FIX.loadSize, p_align: 0x1000 });
  bytes.fill(0x90, FIX.load, FIX.load + FIX.loadSize); // nops
  return bytes;
}

/** An LZ4 legacy frame (as `lz4 -l` writes it) of `data`, with the kernel's size trailer. */
function lz4Legacy(data: Uint8Array, { trailer = true, concatenate = false } = {}): Uint8Array {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
  parts.push(u32(LZ4_LEGACY_MAGIC));
  for (let i = 0; i < data.length; i += LZ4_LEGACY_BLOCK_SIZE) {
    if (concatenate && i > 0) parts.push(u32(LZ4_LEGACY_MAGIC)); // a second frame starts
    const block = compressSync(Buffer.from(data.subarray(i, i + LZ4_LEGACY_BLOCK_SIZE))).subarray(4); // drop lz4_flex's size prefix
    parts.push(u32(block.length), block);
  }
  if (trailer) parts.push(u32(data.length));
  return Buffer.concat(parts);
}

/** A bzImage shell: one setup sector, protocol `version`, the payload 0x10 bytes into the protected-mode part. */
const BZ = { setupSects: 1, payloadOffset: 0x10 };
const BZ_PAYLOAD_AT = (BZ.setupSects + 1) * 512 + BZ.payloadOffset;
function makeBzImage(payload: Uint8Array, o: { version?: number; payloadLength?: number } = {}): Uint8Array {
  const bytes = new Uint8Array(BZ_PAYLOAD_AT + payload.length);
  put(bytes, SETUP_HEADER, 0, "setup_sects", BZ.setupSects);
  put(bytes, SETUP_HEADER, 0, "boot_flag", BOOT_PROTOCOL.BOOT_FLAG);
  bytes.set(Buffer.from("HdrS"), off(SETUP_HEADER, "header"));
  put(bytes, SETUP_HEADER, 0, "version", o.version ?? 0x020f);
  put(bytes, SETUP_HEADER, 0, "payload_offset", BZ.payloadOffset);
  put(bytes, SETUP_HEADER, 0, "payload_length", o.payloadLength ?? payload.length);
  bytes.set(payload, BZ_PAYLOAD_AT);
  return bytes;
}

/** Deterministic, compressible bytes. */
function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = (i & 0x3ff) < 0x200 ? i & 0xff : x >>> 24;
  }
  return b;
}

// The real kernel, decompressed once for the tests that use it.
let real: { file: Uint8Array; vm: Vmlinux; elf: ElfImage } | undefined;
function debian() {
  if (!real) {
    assert.ok(existsSync(DEFAULT_KERNEL), `${DEFAULT_KERNEL} is missing: run npm run setup`);
    const file = readFileSync(DEFAULT_KERNEL);
    const vm = extractVmlinux(file);
    real = { file, vm, elf: parseElf(vm.elf) };
  }
  return real;
}

// ---- layouts ----

test("start_info.h: hvm_start_info 56 bytes, hvm_modlist_entry 32, hvm_memmap_table_entry 24, at the header's offsets", () => {
  assert.is(HVM_START_INFO.size, 56);
  assert.equal(HVM_START_INFO.fields.map((f) => [f.name, f.offset]), [
    ["magic", 0], ["version", 4], ["flags", 8], ["nr_modules", 12], ["modlist_paddr", 16],
    ["cmdline_paddr", 24], ["rsdp_paddr", 32], ["memmap_paddr", 40], ["memmap_entries", 48], ["reserved", 52],
  ]);
  assert.is(HVM_MODLIST_ENTRY.size, 32);
  assert.equal(HVM_MODLIST_ENTRY.fields.map((f) => [f.name, f.offset]), [["paddr", 0], ["size", 8], ["cmdline_paddr", 16], ["reserved", 24]]);
  assert.is(HVM_MEMMAP_TABLE_ENTRY.size, 24);
  assert.equal(HVM_MEMMAP_TABLE_ENTRY.fields.map((f) => [f.name, f.offset, f.size]), [["addr", 0, 8], ["size", 8, 8], ["type", 16, 4], ["reserved", 20, 4]]);
  // "xEn3" with the 0x80 bit of the "E" set
  assert.is(XEN_HVM_START_MAGIC_VALUE, Buffer.from([0x78, 0x45 | 0x80, 0x6e, 0x33]).readUInt32LE());
  assert.equal(XEN_HVM_MEMMAP_TYPE, { RAM: 1, RESERVED: 2, ACPI: 3, NVS: 4, UNUSABLE: 5, DISABLED: 6, PMEM: 7 });
  assert.is(XEN_ELFNOTE_PHYS32_ENTRY, 18);
});

test("ELF64 (gABI) and setup_header (boot.rst file offsets) layouts", () => {
  assert.is(ELF64_EHDR.size, 64);
  assert.is(off(ELF64_EHDR, "e_machine"), 18);
  assert.is(off(ELF64_EHDR, "e_entry"), 24);
  assert.is(off(ELF64_EHDR, "e_phoff"), 32);
  assert.is(off(ELF64_EHDR, "e_phentsize"), 54);
  assert.is(off(ELF64_EHDR, "e_phnum"), 56);
  assert.is(off(ELF64_EHDR, "e_shstrndx"), 62);
  assert.is(ELF64_PHDR.size, 56);
  assert.equal(ELF64_PHDR.fields.map((f) => f.offset), [0, 4, 8, 16, 24, 32, 40, 48]);
  assert.is(ELF64_NHDR.size, 12);
  // Every offset boot.rst's table lists, as file offsets.
  const expect: [string, number][] = [
    ["setup_sects", 0x1f1], ["root_flags", 0x1f2], ["syssize", 0x1f4], ["ram_size", 0x1f8], ["vid_mode", 0x1fa],
    ["root_dev", 0x1fc], ["boot_flag", 0x1fe], ["jump", 0x200], ["header", 0x202], ["version", 0x206],
    ["realmode_swtch", 0x208], ["start_sys_seg", 0x20c], ["kernel_version", 0x20e], ["type_of_loader", 0x210],
    ["loadflags", 0x211], ["setup_move_size", 0x212], ["code32_start", 0x214], ["ramdisk_image", 0x218],
    ["ramdisk_size", 0x21c], ["bootsect_kludge", 0x220], ["heap_end_ptr", 0x224], ["ext_loader_ver", 0x226],
    ["ext_loader_type", 0x227], ["cmd_line_ptr", 0x228], ["initrd_addr_max", 0x22c], ["kernel_alignment", 0x230],
    ["relocatable_kernel", 0x234], ["min_alignment", 0x235], ["xloadflags", 0x236], ["cmdline_size", 0x238],
    ["hardware_subarch", 0x23c], ["hardware_subarch_data", 0x240], ["payload_offset", 0x248], ["payload_length", 0x24c],
    ["setup_data", 0x250], ["pref_address", 0x258], ["init_size", 0x260], ["handover_offset", 0x264], ["kernel_info_offset", 0x268],
  ];
  for (const [name, at] of expect) assert.is(off(SETUP_HEADER, name), at, name);
  assert.is(BOOT_PROTOCOL.HEADER_MAGIC, Buffer.from("HdrS").readUInt32LE());
});

test("encodeStruct writes every field at its declared offset and refuses a missing or unknown one", () => {
  const b = encodeStruct(HVM_MEMMAP_TABLE_ENTRY, { addr: 0x100000n, size: 0x2000n, type: 1, reserved: 0 });
  assert.is(Buffer.from(b).toString("hex"), "0000100000000000" + "0020000000000000" + "01000000" + "00000000");
  assert.throws(() => encodeStruct(HVM_MEMMAP_TABLE_ENTRY, { addr: 0, size: 0, type: 1 }), /reserved not given/);
  assert.throws(() => encodeStruct(HVM_MEMMAP_TABLE_ENTRY, { addr: 0, size: 0, type: 1, reserved: 0, extra: 1 }), /no field extra/);
});

// ---- LZ4 legacy frames and bzImage payloads ----

test("LZ4 legacy: blocks of 8 MiB and a short last one, concatenated frames, round trip", () => {
  const data = pattern(LZ4_LEGACY_BLOCK_SIZE + 300_000);
  for (const concatenate of [false, true]) {
    const frame = lz4Legacy(data, { trailer: false, concatenate });
    const out = lz4LegacyDecompress(frame, data.length);
    assert.is(out.length, data.length);
    assert.ok(Buffer.from(out).equals(Buffer.from(data)), `concatenate=${concatenate}`);
  }
});

test("LZ4 legacy errors name the block and its offset", () => {
  const data = pattern(100_000);
  const frame = lz4Legacy(data, { trailer: false });
  // Block 0's size field is at 4, its data at 8.
  throwsImage(() => lz4LegacyDecompress(frame.subarray(0, frame.length - 10), data.length), /lz4 block\[0\] size/, 4, /runs past the end/);
  const bigSize = Uint8Array.from(frame); new DataView(bigSize.buffer).setUint32(4, 0x7fff_ffff, true);
  throwsImage(() => lz4LegacyDecompress(bigSize, data.length), /lz4 block\[0\] size/, 4, /not a legacy block size/);
  // Zeros where the first sequence is: a match of offset 0 with nothing decoded yet.
  const zeroed = Uint8Array.from(frame); zeroed.fill(0, 8, 8 + 64);
  throwsImage(() => lz4LegacyDecompress(zeroed, data.length, 0x1000), /lz4 block\[0\]/, 0x1000 + 8, /corrupt LZ4 block/);
  throwsImage(() => lz4LegacyDecompress(frame, data.length + 1), /lz4 block\[0\]/, 8, /decompressed to 0x186a0 bytes, not 0x186a1/);
  // All blocks full and right, yet the trailer announces more: named at the trailer.
  const full = lz4Legacy(pattern(LZ4_LEGACY_BLOCK_SIZE), { trailer: false });
  throwsImage(() => lz4LegacyDecompress(full, LZ4_LEGACY_BLOCK_SIZE + 5), /size trailer/, full.length, /announces 0x800005 bytes, the frame holds 0x800000/);
  throwsImage(() => lz4LegacyDecompress(Uint8Array.from([1, 2, 3, 4, 5]), 1), /lz4 magic/, 0);
});

test("bzImage: LZ4 and gzip payloads give the vmlinux; the compression is named from the payload's magic", () => {
  const elf = makeElf();
  const lz = extractVmlinux(makeBzImage(lz4Legacy(elf)));
  assert.is(lz.source, "bzImage");
  assert.is(lz.compression, "lz4");
  assert.is(lz.payloadOffset, BZ_PAYLOAD_AT);
  assert.ok(Buffer.from(lz.elf).equals(Buffer.from(elf)));
  const gz = extractVmlinux(makeBzImage(gzipSync(elf)));
  assert.is(gz.compression, "gzip");
  assert.ok(Buffer.from(gz.elf).equals(Buffer.from(elf)));
  // A vmlinux is taken as it is.
  const plain = extractVmlinux(elf);
  assert.is(plain.source, "elf");
  assert.is(plain.elf, elf);
  const magic = (hex: string) => identifyCompression(Buffer.from(hex + "00000000", "hex"));
  assert.is(magic("1f8b08"), "gzip");
  assert.is(magic("425a6839"), "bzip2");
  assert.is(magic("5d000080"), "lzma");
  assert.is(magic("fd377a585a00"), "xz");
  assert.is(magic("894c5a4f"), "lzo");
  assert.is(magic("02214c18"), "lz4");
  assert.is(magic("28b52ffd"), "zstd");
  assert.is(magic("7f454c46"), undefined);
});

test("bzImage: a gzip payload that inflates past the limit (a gzip bomb) is refused at the payload, corrupt gzip too", () => {
  const bomb = gzipSync(new Uint8Array(1 << 20)); // 1 MiB of zeros in ~1 KiB
  throwsImage(() => gunzipVmlinux(bomb, BZ_PAYLOAD_AT, 64 << 10), /^payload$/, BZ_PAYLOAD_AT, /gzip payload inflates past 0x10000 bytes/);
  assert.is(gunzipVmlinux(bomb, BZ_PAYLOAD_AT, 1 << 20).length, 1 << 20, "up to the limit it inflates");
  const cut = gzipSync(makeElf()).subarray(0, 40);
  throwsImage(() => extractVmlinux(makeBzImage(cut)), /^payload$/, BZ_PAYLOAD_AT, /corrupt gzip payload/);
});

// Each format as Linux's Makefiles make it (arch/x86/boot/compressed/Makefile,
// scripts/Makefile.lib): Debian's own tool over the first 8 MiB of the Debian kernel's
// vmlinux (faster levels than the kernel's -9/-22; the format is the same), the size
// trailer appended as size_append does, but for gzip, which x86 builds without it.
const TOOLS: Record<Compression, string[]> = {
  gzip: ["gzip", "-n", "-1", "-c"],
  bzip2: ["bzip2", "-1", "-c"],
  lzma: ["lzma", "-1", "-c"],
  xz: ["xz", "--check=crc32", "--x86", "--lzma2=preset=1", "-c"], // the kernel's BCJ filter
  lzo: ["lzop", "-1", "-c"],
  lz4: ["lz4", "-l", "-1", "-c"],
  zstd: ["zstd", "-1", "-c"],
};
let slice: Uint8Array | undefined;
function kernelPayload(compression: Compression): { elf: Uint8Array; payload: Buffer } {
  slice ??= debian().vm.elf.slice(0, 8 * MiB);
  const [tool, ...args] = TOOLS[compression];
  const stream = execFileSync(tool, args, { input: slice, maxBuffer: 64 * MiB });
  if (compression === "gzip") return { elf: slice, payload: stream };
  const size = Buffer.alloc(4);
  size.writeUInt32LE(slice.length);
  return { elf: slice, payload: Buffer.concat([stream, size]) };
}

test("bzImage: every payload format Linux builds, made by Debian's tools from the Debian vmlinux, gives that vmlinux back", () => {
  for (const compression of Object.keys(TOOLS) as Compression[]) {
    const { elf, payload } = kernelPayload(compression);
    const vm = extractVmlinux(makeBzImage(payload));
    assert.is(vm.compression, compression);
    assert.ok(Buffer.from(vm.elf).equals(Buffer.from(elf)), `${compression}: the same bytes`);
  }
});

test("bzImage: a payload that is cut short, says less than it holds, or is damaged is refused with the place", () => {
  for (const compression of ["bzip2", "lzma", "xz", "lzo", "lz4", "zstd"] as const) {
    const { elf, payload } = kernelPayload(compression);
    const trailerAt = BZ_PAYLOAD_AT + payload.length - 4;
    const withSize = (body: Uint8Array, size: number) => {
      const b = Buffer.concat([body, Buffer.alloc(4)]);
      b.writeUInt32LE(size, b.length - 4);
      return makeBzImage(b);
    };
    const body = payload.subarray(0, payload.length - 4);
    // Cut in half: the stream ends early (named at the payload, its trailer, or the block).
    const cut = (() => { try { extractVmlinux(withSize(body.subarray(0, body.length >> 1), elf.length)); } catch (e) { return e; } })();
    assert.ok(cut instanceof KernelImageError, `${compression}: a cut stream is refused (${cut})`);
    assert.ok(cut.offset >= BZ_PAYLOAD_AT && cut.offset <= BZ_PAYLOAD_AT + body.length, `${compression}: ${cut.message}`);
    // A trailer announcing half: the decoder stops at the buffer's end, it does not grow it (a bomb).
    const over = (() => { try { extractVmlinux(withSize(body, elf.length >> 1)); } catch (e) { return e; } })();
    assert.ok(over instanceof KernelImageError, `${compression}: more data than announced is refused`);
    assert.match(over.message, compression === "lz4" ? /more data than|expected to give/ : /holds more|past|corrupt/, `${compression}: ${over.message}`);
    // A trailer announcing more than the stream holds (on Node < 22.15, where fzstd does not
    // say how much it wrote, the frame's content checksum finds it).
    if (compression !== "lz4") {
      const short = (() => { try { extractVmlinux(withSize(body, elf.length + 4096)); } catch (e) { return e; } })();
      assert.ok(short instanceof KernelImageError && short.offset >= BZ_PAYLOAD_AT && short.offset <= trailerAt, `${compression}: ${short}`);
      assert.match(short.message, /0x801000/, `${compression}: the announced size is named`);
    }
  }
  // Damage in the middle of the data: each decoder names it (fzstd's output through the
  // frame's content checksum).
  for (const compression of ["bzip2", "lzma", "xz", "lzo", "lz4", "zstd"] as const) {
    const { payload } = kernelPayload(compression);
    const bad = Buffer.from(payload);
    for (let i = 0; i < 64; i++) bad[(bad.length >> 1) + i] ^= 0xa5;
    const e = (() => { try { extractVmlinux(makeBzImage(bad)); } catch (x) { return x; } })();
    assert.ok(e instanceof KernelImageError, `${compression}: damage is found (${e})`);
    assert.match(e.message, /corrupt|check|block/, `${compression}: ${e.message}`);
  }
  throwsImage(() => extractVmlinux(makeBzImage(Buffer.from("00112233445566778899", "hex"))), /^payload$/, BZ_PAYLOAD_AT, /compression not recognised \(first bytes 00 11 22/);
});

test("zstd frames: what a stream declares, read without decoding it (content size from a file, none from a pipe; the checksum); sizes that disagree with the trailer are refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-zstd-"));
  try {
    const data = Buffer.from(debian().vm.elf.slice(0, 1 * MiB));
    writeFileSync(join(dir, "data"), data);
    const fromFile = execFileSync("zstd", ["-1", "-c", join(dir, "data")]);
    const fromPipe = execFileSync("zstd", ["-1", "-c"], { input: data });
    assert.equal(zstdFrames(fromFile).map((f) => f.contentSize), [data.length]);
    const [piped] = zstdFrames(fromPipe);
    assert.is(piped.contentSize, undefined, "a pipe's frame declares no size (as the kernel's build makes it)");
    assert.type(piped.checksum, "number");
    assert.throws(() => zstdFrames(fromPipe.subarray(0, fromPipe.length - 2)), /Content_Checksum at byte \d+ runs past/);
    assert.throws(() => zstdFrames(Buffer.from("0011223344", "hex")), /no zstd frame magic at byte 0/);
    // A trailer announcing more than the frame declares (the buffer holds it all; the frame says less).
    const size = Buffer.alloc(4);
    size.writeUInt32LE(data.length + 4096);
    const e = (() => { try { extractVmlinux(makeBzImage(Buffer.concat([fromFile, size]))); } catch (x) { return x; } })();
    assert.ok(e instanceof KernelImageError, String(e));
    assert.match(e.message, /announces 0x101000 bytes|0x101000/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bzImage header errors name the setup_header field and its offset", () => {
  const good = makeBzImage(lz4Legacy(makeElf()));
  throwsImage(() => extractVmlinux(new Uint8Array(0x300)), /setup_header\.header/, 0x202, /neither an ELF vmlinux .* nor a bzImage/);
  throwsImage(() => extractVmlinux(good.subarray(0, 0x208)), /setup_header\.payload_length/, 0x24c, /ends inside the setup header/);
  throwsImage(() => extractVmlinux(makeBzImage(lz4Legacy(makeElf()), { version: 0x0207 })), /setup_header\.version/, 0x206, /2\.07 has no payload_offset/);
  throwsImage(() => extractVmlinux(makeBzImage(lz4Legacy(makeElf()), { payloadLength: 0x100_0000 })), /setup_header\.payload_length/, 0x24c, /runs past the end/);
  const noFlag = Uint8Array.from(good); put(noFlag, SETUP_HEADER, 0, "boot_flag", 0);
  throwsImage(() => extractVmlinux(noFlag), /setup_header\.boot_flag/, 0x1fe);
  const lateOffset = Uint8Array.from(good); put(lateOffset, SETUP_HEADER, 0, "payload_offset", 0x10_0000);
  throwsImage(() => extractVmlinux(lateOffset), /setup_header\.payload_offset/, 0x248, /past the end/);
  // A payload that is LZ4 but decompresses to something that is not an ELF.
  throwsImage(() => extractVmlinux(makeBzImage(lz4Legacy(pattern(5000)))), /^payload$/, BZ_PAYLOAD_AT, /not an ELF vmlinux/);
  // Trailer announcing the wrong size: named at the trailer's file offset.
  const payload = lz4Legacy(makeElf());
  new DataView(payload.buffer, payload.byteOffset).setUint32(payload.length - 4, 0x100, true);
  throwsImage(() => extractVmlinux(makeBzImage(payload)), /lz4 block\[0\]/, BZ_PAYLOAD_AT + 8, /expected to give 0x100/);
});

// ---- the Debian kernel ----

test("Debian kernel: the bzImage payload is LZ4 (legacy frame) and decompresses to an x86-64 vmlinux", () => {
  const { file, vm } = debian();
  assert.is(vm.source, "bzImage");
  assert.is(vm.compression, "lz4");
  assert.ok(vm.bootProtocol! >= 0x020f, `boot protocol ${vm.bootProtocol?.toString(16)}`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const sects = file[off(SETUP_HEADER, "setup_sects")];
  assert.is(vm.payloadOffset, (sects + 1) * 512 + view.getUint32(off(SETUP_HEADER, "payload_offset"), true));
  assert.is(vm.payloadLength, view.getUint32(off(SETUP_HEADER, "payload_length"), true));
  // The size trailer is what came out, and it fits the kernel's own init_size.
  assert.is(vm.elf.length, view.getUint32(vm.payloadOffset! + vm.payloadLength! - 4, true));
  assert.ok(vm.elf.length < view.getUint32(off(SETUP_HEADER, "init_size"), true));
  assert.ok(Buffer.from(vm.elf).includes("Linux version 6.1"), "the banner is in the decompressed kernel");
  // Timing: a fresh decompression, reported so the benchmark can quote it.
  const t0 = performance.now();
  const again = extractVmlinux(file);
  console.log(`    LZ4 payload ${(vm.payloadLength! / MiB).toFixed(1)} MiB → vmlinux ${(vm.elf.length / MiB).toFixed(1)} MiB: first ${vm.decompressMs!.toFixed(0)} ms, again ${(performance.now() - t0).toFixed(0)} ms`);
  assert.is(again.elf.length, vm.elf.length);
});

test("Debian kernel: XEN_ELFNOTE_PHYS32_ENTRY lies in a PT_LOAD segment; PT_LOAD segments are sane", () => {
  const { elf } = debian();
  const entry = pvhEntry(elf);
  const seg = elf.loads.find((s) => entry >= s.paddr && entry < s.paddr + s.filesz);
  assert.ok(seg, `entry 0x${entry.toString(16)}`);
  assert.ok(seg!.flags & ELF.PF_X, "the entry segment is executable");
  assert.is(elf.bytes[seg!.offset + (entry - seg!.paddr)], 0xfc, "pvh_start_xen begins with cld");
  assert.ok(elf.loads.length >= 2);
  let end = 0;
  for (const s of elf.loads) {
    assert.ok(s.paddr >= 16 * MiB, `segment ${s.index} at 0x${s.paddr.toString(16)}: Linux loads at LOAD_PHYSICAL_ADDR`);
    assert.is(s.paddr % 0x1000, 0, `segment ${s.index} page aligned`);
    assert.ok(s.filesz <= s.memsz);
    assert.ok(s.offset + s.filesz <= elf.bytes.length);
    assert.ok(s.paddr >= end, "in ascending, disjoint order");
    end = s.paddr + s.memsz;
  }
  assert.ok(end < 128 * MiB, `kernel ends at 0x${end.toString(16)}`);
});

test("Debian kernel with a corrupted payload: the error names the LZ4 block and its file offset", () => {
  const { file, vm } = debian();
  const bad = Uint8Array.from(file);
  const block0 = vm.payloadOffset! + 8; // magic, block 0's size, then its data
  bad.fill(0, block0, block0 + 64);
  throwsImage(() => extractVmlinux(bad), /lz4 block\[0\]/, block0, /corrupt LZ4 block/);
  // Truncated: payload_length claims more than the file has.
  throwsImage(() => extractVmlinux(file.subarray(0, vm.payloadOffset! + vm.payloadLength! - 100)), /setup_header\.payload_length/, 0x24c, /runs past the end/);
});

// ---- ELF validation ----

test("ELF: the fixture parses, and each corruption is named by field and offset", () => {
  const elf = parseElf(makeElf());
  assert.is(elf.loads.length, 1);
  assert.is(elf.loads[0].paddr, FIX.paddr);
  assert.is(elf.loads[0].memsz, 2 * FIX.loadSize);
  assert.is(pvhEntry(elf), FIX.entry);
  const ph1 = ELF64_EHDR.size + ELF64_PHDR.size; // PT_LOAD's program header
  const mutate = (f: (b: Uint8Array) => void) => { const b = makeElf(); f(b); return b; };
  throwsImage(() => parseElf(makeElf().subarray(0, 40)), /^Elf64_Ehdr$/, 0, /truncated: the file is 40 bytes/);
  throwsImage(() => parseElf(mutate((b) => { b[1] = 0x46; })), /e_ident\[EI_MAG\]/, 0);
  throwsImage(() => parseElf(mutate((b) => { b[4] = 1; })), /e_ident\[EI_CLASS\]/, 4, /ELFCLASS64/);
  throwsImage(() => parseElf(mutate((b) => { b[5] = 2; })), /e_ident\[EI_DATA\]/, 5);
  throwsImage(() => parseElf(mutate((b) => put(b, ELF64_EHDR, 0, "e_machine", 3))), /e_machine/, 18, /EM_X86_64/);
  throwsImage(() => parseElf(mutate((b) => put(b, ELF64_EHDR, 0, "e_phentsize", 32))), /e_phentsize/, 54);
  throwsImage(() => parseElf(mutate((b) => put(b, ELF64_EHDR, 0, "e_phoff", 0x1ff0))), /e_phoff/, 32, /program header table .* runs past the end/);
  throwsImage(() => parseElf(mutate((b) => put(b, ELF64_EHDR, 0, "e_phnum", 0))), /e_phnum/, 56);
  throwsImage(() => parseElf(mutate((b) => put(b, ELF64_PHDR, ph1, "p_filesz", 0x2000))), /Elf64_Phdr\[1\]\.p_filesz/, ph1 + 32, /runs past the end/);
  throwsImage(() => parseElf(mutate((b) => put(b, ELF64_PHDR, ph1, "p_offset", 0x10_0000))), /Elf64_Phdr\[1\]\.p_offset/, ph1 + 8);
  throwsImage(() => parseElf(mutate((b) => put(b, ELF64_PHDR, ph1, "p_memsz", 0x10))), /Elf64_Phdr\[1\]\.p_memsz/, ph1 + 40, /smaller than p_filesz/);
  throwsImage(() => parseElf(mutate((b) => put(b, ELF64_PHDR, ph1, "p_paddr", 2n ** 60n))), /Elf64_Phdr\[1\]\.p_paddr/, ph1 + 24);
  throwsImage(() => parseElf(mutate((b) => put(b, ELF64_NHDR, FIX.notes, "n_descsz", 0x40))), /Elf64_Nhdr\.n_descsz/, FIX.notes + 4, /runs past the end of the PT_NOTE/);
  // The real vmlinux cut short: its program headers now point past the end.
  const { elf: deb } = debian();
  throwsImage(() => parseElf(deb.bytes.subarray(0, 0x1000)), /Elf64_Phdr\[0\]\.p_(offset|filesz)/, deb.phoff + off(ELF64_PHDR, "p_offset"));
});

/** An in-memory ElfSource that records the byte ranges read. */
function recordingSource(bytes: Uint8Array): ElfSource & { read: number } {
  const s = { size: bytes.length, read: 0, copy(offset: number, dest: Uint8Array) { dest.set(bytes.subarray(offset, offset + dest.length)); s.read += dest.length; } };
  return s;
}

test("ELF from a file (parseElfSource): the same image and the same errors as from memory, reading only headers and notes", () => {
  const fixture = makeElf();
  const a = parseElf(fixture), b = parseElfSource(recordingSource(fixture));
  assert.equal(b.loads, a.loads);
  assert.equal(b.notes.map((n) => [n.name, n.type, n.offset, [...n.desc]]), a.notes.map((n) => [n.name, n.type, n.offset, [...n.desc]]));
  assert.is(pvhEntry(b), pvhEntry(a));
  const mutate = (f: (b: Uint8Array) => void) => { const b = makeElf(); f(b); return b; };
  const ph1 = ELF64_EHDR.size + ELF64_PHDR.size;
  throwsImage(() => parseElfSource(recordingSource(fixture.subarray(0, 40))), /^Elf64_Ehdr$/, 0, /truncated/);
  throwsImage(() => parseElfSource(recordingSource(mutate((x) => put(x, ELF64_EHDR, 0, "e_phoff", 2n ** 62n)))), /e_phoff/, 32);
  throwsImage(() => parseElfSource(recordingSource(mutate((x) => put(x, ELF64_PHDR, ph1, "p_filesz", 0x2000)))), /Elf64_Phdr\[1\]\.p_filesz/, ph1 + 32, /runs past the end/);
  throwsImage(() => parseElfSource(recordingSource(mutate((x) => put(x, ELF64_NHDR, FIX.notes, "n_descsz", 0x40)))), /Elf64_Nhdr\.n_descsz/, FIX.notes + 4);
  throwsImage(() => parseElfSource({ size: 2 ** 31, copy() { throw new Error("not read"); } }), /^file$/, 0, /larger than any vmlinux/);

  // The Debian vmlinux from a file: a few KB read to parse it, the same guest RAM after writeRegions.
  const { elf } = debian();
  const src = recordingSource(elf.bytes);
  const fromFile = parseElfSource(src);
  assert.ok(src.read < 64 * 1024, `${src.read} bytes read to parse`);
  assert.equal(fromFile.loads, elf.loads);
  assert.is(pvhEntry(fromFile), pvhEntry(elf));
  const o = { ramBytes: 128 * MiB, cmdline: "console=ttyS0", initrd: pattern(5000) };
  const ramA = new Uint8Array(o.ramBytes), ramB = new Uint8Array(o.ramBytes);
  writeRegions(ramA, buildPvhBoot({ ...o, elf }));
  writeRegions(ramB, buildPvhBoot({ ...o, elf: fromFile }));
  assert.ok(Buffer.from(ramA).equals(Buffer.from(ramB)), "the same guest RAM");
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-pvh-"));
  try {
    const path = join(dir, "vmlinux");
    writeFileSync(path, elf.bytes);
    const k = preparePvhFile(path, o);
    assert.ok(k.elf.source, "a vmlinux file is parsed in place");
    const ramC = new Uint8Array(o.ramBytes);
    writeRegions(ramC, k.boot);
    assert.ok(Buffer.from(ramA).equals(Buffer.from(ramC)), "the same guest RAM from the file");
    writeFileSync(path, elf.bytes.subarray(0, 0x1000));
    throwsImage(() => preparePvhFile(path, o), /Elf64_Phdr\[0\]\.p_(offset|filesz)/, elf.phoff + off(ELF64_PHDR, "p_offset"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ELF without the PVH note, or with a bad one: a clear error", () => {
  throwsImage(() => pvhEntry(parseElf(makeElf({ noteType: 1 }))), /PT_NOTE notes/, ELF64_EHDR.size, /no XEN_ELFNOTE_PHYS32_ENTRY note \("Xen", type 18\) among 1 notes \(1 of them "Xen"\).*CONFIG_PVH/);
  throwsImage(() => pvhEntry(parseElf(makeElf({ noteName: "Xe" }))), /PT_NOTE notes/, ELF64_EHDR.size, /0 of them "Xen"/);
  // A 4-byte description (a 32-bit kernel's) is accepted.
  const d4 = new Uint8Array(4); new DataView(d4.buffer).setUint32(0, FIX.entry + 4, true);
  assert.is(pvhEntry(parseElf(makeElf({ desc: d4 }))), FIX.entry + 4);
  throwsImage(() => pvhEntry(parseElf(makeElf({ desc: new Uint8Array(2) }))), /n_descsz/, FIX.notes + 4, /not 4 or 8/);
  throwsImage(() => pvhEntry(parseElf(makeElf({ entry: 0x2000 }))), /PHYS32_ENTRY/, FIX.notes, /lies in no PT_LOAD/);
  // In .bss (memsz beyond filesz) is no better than outside.
  throwsImage(() => pvhEntry(parseElf(makeElf({ entry: FIX.paddr + FIX.loadSize + 8 }))), /PHYS32_ENTRY/, FIX.notes, /lies in no PT_LOAD/);
  const d8 = new Uint8Array(8); new DataView(d8.buffer).setBigUint64(0, 1n << 32n, true);
  throwsImage(() => pvhEntry(parseElf(makeElf({ desc: d8 }))), /PHYS32_ENTRY/, FIX.notes, /above 4 GiB/);
  // The Debian vmlinux with its note's type changed.
  const { elf } = debian();
  const note = elf.notes.find((n) => n.name === "Xen" && n.type === XEN_ELFNOTE_PHYS32_ENTRY)!;
  const patched = Uint8Array.from(elf.bytes);
  put(patched, ELF64_NHDR, note.offset, "n_type", 0x99);
  throwsImage(() => pvhEntry(parseElf(patched)), /PT_NOTE notes/, elf.phoff, /no XEN_ELFNOTE_PHYS32_ENTRY/);
});

// ---- layout ----

/** Write a layout into a RAM image, as the machine will. */
function ramImage(boot: PvhBoot, ramBytes: number): Uint8Array {
  const ram = new Uint8Array(ramBytes);
  for (const r of boot.regions) ram.set(r.bytes, r.paddr);
  return ram;
}

test("buildPvhBoot on the Debian kernel: disjoint regions in RAM, a memory map covering RAM, start_info pointing at each", () => {
  const { elf } = debian();
  const ramBytes = 128 * MiB;
  const initrd = pattern(300_001);
  const cmdline = "console=ttyS0 earlyprintk=serial,ttyS0,115200";
  const boot = buildPvhBoot({ ramBytes, elf, cmdline, initrd });
  // Regions: sorted, disjoint, in RAM, each no larger than it owns.
  for (let i = 0; i < boot.regions.length; i++) {
    const r = boot.regions[i];
    assert.ok(r.bytes.length <= r.size, r.name);
    assert.ok(r.paddr >= 0 && r.paddr + r.size <= ramBytes, r.name);
    if (i > 0) assert.ok(boot.regions[i - 1].paddr + boot.regions[i - 1].size <= r.paddr, `${boot.regions[i - 1].name} / ${r.name}`);
    // Only the ACPI tables live in the legacy hole (its ROM area, reserved, as on a PC).
    const hole = r.paddr < layout.HIGH_MEMORY_START && r.paddr + r.size > layout.ISA_HOLE_START;
    assert.is(hole, r.name === "acpi", `${r.name} in the legacy hole`);
  }
  assert.equal(boot.regions.map((r) => r.name), ["gdt", "hvm_start_info", "hvm_modlist", "hvm_memmap_table", "cmdline", "acpi", ...elf.loads.map((s) => `PT_LOAD[${s.index}]`), "initrd"]);
  // Low structures below 64 KiB; initrd page aligned, at the top, above the kernel.
  for (const r of boot.regions.slice(0, 5)) assert.ok(r.paddr + r.size <= layout.PVH_LOW_END, r.name);
  assert.is(boot.initrd!.paddr % 0x1000, 0);
  assert.ok(boot.initrd!.paddr + initrd.length <= ramBytes && boot.initrd!.paddr + initrd.length > ramBytes - 0x1000);
  assert.ok(boot.initrd!.paddr >= boot.kernel.end);

  // Memory map: contiguous from 0 to the end of RAM, the legacy hole reserved, RAM elsewhere.
  assert.equal(boot.memmap, [
    { addr: 0, size: 0xa0000, type: XEN_HVM_MEMMAP_TYPE.RAM },
    { addr: 0xa0000, size: 0x60000, type: XEN_HVM_MEMMAP_TYPE.RESERVED },
    { addr: 0x100000, size: ramBytes - 0x100000, type: XEN_HVM_MEMMAP_TYPE.RAM },
  ]);
  // Every region lies inside a RAM entry, the ACPI tables inside the reserved one.
  for (const r of boot.regions) {
    const type = r.name === "acpi" ? XEN_HVM_MEMMAP_TYPE.RESERVED : XEN_HVM_MEMMAP_TYPE.RAM;
    assert.ok(boot.memmap.some((e) => e.type === type && r.paddr >= e.addr && r.paddr + r.size <= e.addr + e.size), `${r.name} in its memory`);
  }

  // Follow the pointers as Linux's xen_prepare_pvh does, from EBX.
  const ram = ramImage(boot, ramBytes);
  const si = boot.entry.ebx;
  assert.is(si, layout.PVH_START_INFO_START);
  const S = (name: string) => get(ram, HVM_START_INFO, si, name);
  assert.is(S("magic"), BigInt(XEN_HVM_START_MAGIC_VALUE));
  assert.is(S("version"), 1n);
  assert.is(S("flags"), 0n);
  const rsdp = Number(S("rsdp_paddr"));
  assert.is(Buffer.from(ram.subarray(rsdp, rsdp + 8)).toString("latin1"), "RSD PTR ", "rsdp_paddr points at the RSDP");
  assert.is(S("reserved"), 0n);
  assert.is(S("nr_modules"), 1n);
  const mod = Number(S("modlist_paddr"));
  assert.is(get(ram, HVM_MODLIST_ENTRY, mod, "paddr"), BigInt(boot.initrd!.paddr));
  assert.is(get(ram, HVM_MODLIST_ENTRY, mod, "size"), BigInt(initrd.length));
  assert.is(get(ram, HVM_MODLIST_ENTRY, mod, "cmdline_paddr"), 0n);
  assert.ok(Buffer.from(ram.subarray(boot.initrd!.paddr, boot.initrd!.paddr + initrd.length)).equals(Buffer.from(initrd)));
  const cmd = Number(S("cmdline_paddr"));
  const nul = ram.indexOf(0, cmd);
  assert.is(Buffer.from(ram.subarray(cmd, nul)).toString("latin1"), cmdline);
  const mm = Number(S("memmap_paddr"));
  assert.is(Number(S("memmap_entries")), boot.memmap.length);
  boot.memmap.forEach((e, i) => {
    const at = mm + i * HVM_MEMMAP_TABLE_ENTRY.size;
    assert.equal([get(ram, HVM_MEMMAP_TABLE_ENTRY, at, "addr"), get(ram, HVM_MEMMAP_TABLE_ENTRY, at, "size"), get(ram, HVM_MEMMAP_TABLE_ENTRY, at, "type"), get(ram, HVM_MEMMAP_TABLE_ENTRY, at, "reserved")],
      [BigInt(e.addr), BigInt(e.size), BigInt(e.type), 0n]);
  });
  // Kernel bytes where the program headers say, .bss-style tails zero.
  for (const s of elf.loads) {
    assert.ok(Buffer.from(ram.subarray(s.paddr, s.paddr + s.filesz)).equals(Buffer.from(elf.bytes.subarray(s.offset, s.offset + s.filesz))), `PT_LOAD[${s.index}]`);
  }
});

test("buildPvhBoot: the PVH entry state (32-bit protected mode, paging off, flat CS/DS from the host GDT)", () => {
  const { elf } = debian();
  const boot = buildPvhBoot({ ramBytes: 128 * MiB, elf, cmdline: "" });
  const e = boot.entry;
  assert.is(e.eip, pvhEntry(elf));
  assert.is(e.ebx, boot.startInfo);
  assert.is(e.cr0, 1n, "CR0 = PE only");
  assert.is(e.cr4, 0n);
  assert.is(e.efer, 0n);
  assert.is(e.eflags & ((1n << 8n) | (1n << 9n) | (1n << 17n)), 0n, "TF, IF, VM clear");
  assert.is(e.cs, SEL_CODE32);
  assert.is(e.cs, 0x18);
  for (const s of [e.ds, e.es, e.ss]) assert.is(s, SEL_DATA);
  const gdt = boot.regions.find((r) => r.name === "gdt")!;
  assert.is(gdt.paddr, e.gdtr.base);
  assert.is(e.gdtr.limit, gdt.bytes.length - 1);
  assert.ok(Buffer.from(gdt.bytes).equals(Buffer.from(gdtBytes(efiGdt()))));
  const desc = (sel: number) => new DataView(gdt.bytes.buffer, gdt.bytes.byteOffset).getBigUint64(sel, true);
  const cs = desc(e.cs);
  assert.is((cs >> 43n) & 1n, 1n, "CS is code");
  assert.is((cs >> 54n) & 1n, 1n, "CS.D: 32-bit");
  assert.is((cs >> 53n) & 1n, 0n, "CS.L clear");
  assert.is((cs >> 55n) & 1n, 1n, "4 KiB granularity, limit 4 GiB");
  assert.is((desc(e.ds) >> 43n) & 1n, 0n, "DS is data");
  // No initrd: no modules, modlist_paddr 0 (= not present), no modlist region.
  const ram = ramImage(boot, 128 * MiB);
  assert.is(get(ram, HVM_START_INFO, boot.startInfo, "nr_modules"), 0n);
  assert.is(get(ram, HVM_START_INFO, boot.startInfo, "modlist_paddr"), 0n);
  assert.not.ok(boot.regions.some((r) => r.name === "hvm_modlist"));
  assert.is(ram[boot.cmdline], 0, "an empty command line is a lone NUL");
});

test("buildPvhBoot refuses what does not fit, saying why", () => {
  const { elf } = debian();
  assert.throws(() => buildPvhBoot({ ramBytes: 32 * MiB, elf, cmdline: "" }), /PT_LOAD segment \d+ ends at 0x[0-9a-f]+, past the end of RAM at 0x2000000/);
  assert.throws(() => buildPvhBoot({ ramBytes: 64 * MiB, elf, cmdline: "", initrd: new Uint8Array(4 * MiB) }), /initrd of 0x400000 bytes does not fit between the kernel's end/);
  assert.throws(() => buildPvhBoot({ ramBytes: 0xc000_1000, elf, cmdline: "" }), /past 3 GiB/);
  assert.throws(() => buildPvhBoot({ ramBytes: 64 * MiB + 1, elf, cmdline: "" }), /not a whole number of pages/);
  assert.throws(() => cmdlineBytes("x".repeat(2048)), /COMMAND_LINE_SIZE \(2048 bytes with its NUL\)/);
  assert.is(cmdlineBytes("x".repeat(2047)).length, 2048);
  assert.throws(() => cmdlineBytes("root=/dev/vdä"), /character 12 \(U\+00e4\)/);
  assert.throws(() => buildPvhBoot({ ramBytes: 128 * MiB, elf: parseElf(makeElf({ noteType: 1 })), cmdline: "" }), (e: unknown) => e instanceof KernelImageError && /PHYS32_ENTRY/.test((e as Error).message));
});

test("preparePvh: bzImage file to layout in one call, errors labelled with the decompressed vmlinux", () => {
  const k = preparePvh(makeBzImage(lz4Legacy(makeElf())), { ramBytes: 32 * MiB, cmdline: "quiet" });
  assert.is(k.vmlinux.compression, "lz4");
  assert.is(k.boot.entry.eip, FIX.entry);
  const seg = k.boot.regions.find((r) => r.name === "PT_LOAD[1]")!;
  assert.is(seg.size, 2 * FIX.loadSize, "memsz: the tail is zero-filled");
  assert.is(seg.bytes.length, FIX.loadSize);
  try {
    preparePvh(makeBzImage(lz4Legacy(makeElf({ noteType: 1 }))), { ramBytes: 32 * MiB, cmdline: "" });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, KernelImageError);
    assert.match((e as Error).message, /^vmlinux \(decompressed from the bzImage payload\): PT_NOTE notes/);
  }
});

// ---- the kernel's own PVH entry reading the layout ----

// Linux's struct boot_params (Documentation/x86/zero-page.rst): its setup_header sits at
// 0x1f1 as in the image file, so SETUP_HEADER's offsets hold; the E820 table is below.
const ZP_E820_ENTRIES = 0x1e8; // u8
const ZP_E820_TABLE = 0x2d0;   // struct boot_e820_entry { u64 addr; u64 size; u32 type } __packed, 20 bytes
const PAGE_OFFSET = 0xffff_8880_0000_0000n; // direct map base before KASLR randomises it (later, in setup_arch)

test("Unicorn: the Debian kernel's pvh_start_xen enters long mode from this state and builds its boot_params from our start_info", () => {
  const { elf } = debian();
  const ramBytes = 128 * MiB;
  const initrd = pattern(8192 + 17);
  const cmdline = "console=ttyS0 pvh-test";
  const boot = buildPvhBoot({ ramBytes, elf, cmdline, initrd });
  const ram = new Uint8Array(new ArrayBuffer(ramBytes));
  for (const r of boot.regions) ram.set(r.bytes, r.paddr);
  const uc = new Unicorn(UC.UC_MODE_64);
  try {
    uc.memMapPtr(0, ram);
    // The first exception ends the run: xen_prepare_pvh has run by then (a BUG() on a bad
    // magic would be #UD, 6); the first #PF is x86_64_start_kernel → copy_bootdata reading
    // the kernel's boot_params through the not yet populated direct map.
    let first: { vector: number; cr2: bigint; rip: bigint } | undefined;
    uc.hookIntr((vector) => {
      first ??= { vector, cr2: uc.regRead(UC.UC_X86_REG_CR2), rip: uc.regRead(UC.UC_X86_REG_RIP) };
      uc.emuStop();
    });
    enterPvh(uc, boot.entry);
    assert.is(uc.regRead(UC.UC_X86_REG_CR0) & 0x8000_0001n, 1n, "PE on, PG off at entry");
    assert.throws(() => enterPvh(uc, boot.entry), /freshly reset UC_MODE_64 engine/);
    assert.is(uc.msrRead(0xc000_0080), 0n, "the refused second call changed nothing");
    uc.emuStart(boot.entry.eip, 0, 10_000_000);
    assert.ok(first, "the kernel stopped on an exception");
    assert.is(first!.vector, 14, `vector ${first!.vector} at 0x${first!.rip.toString(16)}`);
    assert.ok(uc.msrRead(0xc000_0080) & (1n << 10n), "EFER.LMA: the kernel is in long mode");
    assert.ok(first!.cr2 >= PAGE_OFFSET && first!.cr2 < PAGE_OFFSET + BigInt(ramBytes), `cr2 0x${first!.cr2.toString(16)}`);
    const bp = Number(first!.cr2 - PAGE_OFFSET); // the kernel's pvh_bootparams
    assert.ok(elf.loads.some((s) => bp >= s.paddr && bp < s.paddr + s.memsz), "boot_params inside the kernel image");
    const hdr = (name: string) => Number(get(ram, SETUP_HEADER, bp, name));
    assert.is(hdr("version"), 0x020c, "init_pvh_bootparams: protocol 2.12");
    assert.is(hdr("type_of_loader"), 0xb0, "0xb0: a PVH loader that is not Xen");
    assert.is(hdr("cmd_line_ptr"), boot.cmdline);
    assert.is(hdr("ramdisk_image"), boot.initrd!.paddr);
    assert.is(hdr("ramdisk_size"), initrd.length);
    const v = new DataView(ram.buffer, bp);
    const e820 = Array.from({ length: ram[bp + ZP_E820_ENTRIES] }, (_, i) => {
      const at = ZP_E820_TABLE + i * 20;
      return { addr: Number(v.getBigUint64(at, true)), size: Number(v.getBigUint64(at + 8, true)), type: v.getUint32(at + 16, true) };
    });
    // Our three entries, then the ISA range Linux appends itself.
    assert.equal(e820, [...boot.memmap, { addr: 0xa0000, size: 0x60000, type: XEN_HVM_MEMMAP_TYPE.RESERVED }]);
  } finally {
    uc.close();
  }
});

test.run();
