// The WASM firmware on its own (no CPU): tables it builds in guest RAM, read back with
// the single declaration's offsets, and its memory discipline.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { Firmware, type FirmwareHost } from "../host/firmware.ts";
import * as uefi from "../firmware/spec/uefi.ts";
import { field, type Struct } from "../firmware/spec/decl.ts";
import { SERVICES, THUNK_SIZE, thunkBytes } from "../firmware/spec/services.ts";

const fake: FirmwareHost = {
  consoleOut: () => {},
  resetSystem: () => {},
  callGuest: () => 0n,
  unwindGuest: () => {},
  timeNs: () => 0n,
  timeSkip: () => {},
  randomFill: () => {},
  waitForever: () => { throw new Error("waits for ever"); },
  keyNext: () => undefined,
  keyTake: () => undefined,
  codeWritten: () => {},
};

function boot(mib = 64) {
  const fw = new Firmware(mib << 20, fake);
  const v = fw.ramView;
  const u64 = (p: bigint | number) => v.getBigUint64(Number(p), true);
  const u32 = (p: bigint | number) => v.getUint32(Number(p), true);
  const at = (base: bigint, s: Struct, name: string) => base + BigInt(field(s, name).offset);
  return { fw, u64, u32, at };
}

function checkHeader(fw: Firmware, table: bigint, signature: bigint, size: number) {
  const p = Number(table);
  const v = fw.ramView;
  assert.is(v.getBigUint64(p, true), signature);
  assert.is(v.getUint32(p + 8, true), uefi.SYSTEM_TABLE_REVISION);
  assert.is(v.getUint32(p + 12, true), size);
  const copy = Buffer.from(fw.ram.subarray(p, p + size));
  const stored = copy.readUInt32LE(16);
  copy.writeUInt32LE(0, 16);
  assert.is(stored, crc32(copy), "header CRC32 over HeaderSize bytes with the CRC field zero");
}

test("system, boot and runtime tables: signatures, revision 2.70, header CRC32s", () => {
  const { fw, u64, at } = boot();
  const st = fw.systemTable;
  checkHeader(fw, st, uefi.SYSTEM_TABLE_SIGNATURE, 120);
  checkHeader(fw, u64(at(st, uefi.SYSTEM_TABLE, "BootServices")), uefi.BOOT_SERVICES_SIGNATURE, 376);
  checkHeader(fw, u64(at(st, uefi.SYSTEM_TABLE, "RuntimeServices")), uefi.RUNTIME_SERVICES_SIGNATURE, 136);
});

test("FirmwareVendor reads ueficorn; consoles are set", () => {
  const { fw, u64, at } = boot();
  const st = fw.systemTable;
  const vendor = Number(u64(at(st, uefi.SYSTEM_TABLE, "FirmwareVendor")));
  assert.is(Buffer.from(fw.ram.subarray(vendor, vendor + 18)).toString("utf16le"), "ueficorn\0");
  for (const f of ["ConIn", "ConOut", "StdErr", "ConsoleInHandle", "ConsoleOutHandle", "StandardErrorHandle"]) {
    assert.ok(u64(at(st, uefi.SYSTEM_TABLE, f)) !== 0n, f);
  }
});

test("every service slot points at the thunk for its id", () => {
  const { fw, u64, at } = boot();
  const st = fw.systemTable;
  const base: Record<string, bigint> = {
    BS: u64(at(st, uefi.SYSTEM_TABLE, "BootServices")),
    RT: u64(at(st, uefi.SYSTEM_TABLE, "RuntimeServices")),
    ConOut: u64(at(st, uefi.SYSTEM_TABLE, "ConOut")),
    ConIn: u64(at(st, uefi.SYSTEM_TABLE, "ConIn")),
  };
  for (const s of SERVICES) {
    if (!(s.table in base)) continue; // protocols installed elsewhere (LoadFile2 with an initrd only)
    const thunk = u64(base[s.table] + BigInt(s.slot));
    assert.is(thunk, fw.thunks + BigInt(s.id * THUNK_SIZE), `${s.table}.${s.name}`);
    assert.equal([...fw.ram.subarray(Number(thunk), Number(thunk) + THUNK_SIZE)], [...thunkBytes(s.id)], `${s.table}.${s.name} thunk`);
  }
});

test("private state stays below the guest window; the build has no heap allocator", () => {
  const { fw } = boot();
  assert.is(fw.guestBase, 16 << 20);
  // --runtime stub would bump-allocate into guest RAM: no managed allocation may exist.
  const wat = readFileSync(new URL("../build/firmware.wat", import.meta.url), "utf8");
  assert.not.match(wat, /~lib\/rt\/stub\/__alloc/);
  assert.not.match(wat, /memory\.grow/);
});

test("guest RAM size is checked", () => {
  assert.throws(() => new Firmware(1000, fake), /multiple of 64 KiB/);
});

test.run();
