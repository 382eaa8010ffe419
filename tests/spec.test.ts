// The single declaration: x64 layouts as the spec gives them, generated files current,
// the C guests' header agreeing field by field, statuses and GUIDs well formed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as uefi from "../firmware/spec/uefi.ts";
import * as pe from "../firmware/spec/pe.ts";
import { field, guidBytes, guidText, type Struct } from "../firmware/spec/decl.ts";
import { SERVICES, thunkBytes, TRAP_PORT } from "../firmware/spec/services.ts";
import { OUTPUTS } from "../scripts/gen-spec.ts";

const off = (s: Struct, name: string) => field(s, name).offset;

test("x64 sizes of the tables (UEFI 2.10 §4)", () => {
  assert.is(uefi.TABLE_HEADER.size, 24);
  assert.is(uefi.SYSTEM_TABLE.size, 120);
  assert.is(uefi.BOOT_SERVICES.size, 376);
  assert.is(uefi.RUNTIME_SERVICES.size, 136);
  assert.is(uefi.LOADED_IMAGE_PROTOCOL.size, 96);
  assert.is(uefi.MEMORY_DESCRIPTOR.size, 40);
  assert.is(uefi.CONFIGURATION_TABLE.size, 24);
  assert.is(uefi.SIMPLE_TEXT_OUTPUT_PROTOCOL.size, 80);
  assert.is(uefi.SIMPLE_TEXT_OUTPUT_MODE.size, 24);
  assert.is(uefi.SIMPLE_TEXT_INPUT_PROTOCOL.size, 24);
  assert.is(uefi.TIME.size, 16);
  assert.is(uefi.GUID.size, 16);
  assert.is(uefi.GUID.align, 4);
});

test("x64 offsets that guests depend on", () => {
  assert.is(off(uefi.SYSTEM_TABLE, "FirmwareRevision"), 32);
  assert.is(off(uefi.SYSTEM_TABLE, "ConsoleInHandle"), 40); // padding after the UINT32
  assert.is(off(uefi.SYSTEM_TABLE, "ConOut"), 64);
  assert.is(off(uefi.SYSTEM_TABLE, "BootServices"), 96);
  assert.is(off(uefi.SYSTEM_TABLE, "ConfigurationTable"), 112);
  assert.is(off(uefi.BOOT_SERVICES, "RaiseTPL"), 24);
  assert.is(off(uefi.BOOT_SERVICES, "Reserved"), 24 + 17 * 8);
  assert.is(off(uefi.BOOT_SERVICES, "ExitBootServices"), 24 + 26 * 8);
  assert.is(off(uefi.BOOT_SERVICES, "CreateEventEx"), 368);
  assert.is(off(uefi.RUNTIME_SERVICES, "SetVirtualAddressMap"), 24 + 4 * 8);
  assert.is(off(uefi.RUNTIME_SERVICES, "QueryVariableInfo"), 128);
  assert.is(off(uefi.LOADED_IMAGE_PROTOCOL, "ParentHandle"), 8);
  assert.is(off(uefi.LOADED_IMAGE_PROTOCOL, "LoadOptionsSize"), 48);
  assert.is(off(uefi.LOADED_IMAGE_PROTOCOL, "LoadOptions"), 56);
  assert.is(off(uefi.LOADED_IMAGE_PROTOCOL, "ImageCodeType"), 80);
  assert.is(off(uefi.MEMORY_DESCRIPTOR, "PhysicalStart"), 8);
  assert.is(off(uefi.SIMPLE_TEXT_OUTPUT_PROTOCOL, "Mode"), 72);
  assert.is(off(uefi.TIME, "Nanosecond"), 8);
  assert.is(off(uefi.TIME, "TimeZone"), 12);
});

test("PE/COFF layouts", () => {
  assert.is(off(pe.IMAGE_DOS_HEADER, "e_lfanew"), 0x3c);
  assert.is(pe.IMAGE_NT_HEADERS_PREFIX.size, 24);
  assert.is(pe.IMAGE_OPTIONAL_HEADER64.size, 112);
  assert.is(off(pe.IMAGE_OPTIONAL_HEADER64, "ImageBase"), 24);
  assert.is(off(pe.IMAGE_OPTIONAL_HEADER64, "SizeOfImage"), 56);
  assert.is(off(pe.IMAGE_OPTIONAL_HEADER64, "Subsystem"), 68);
  assert.is(pe.IMAGE_SECTION_HEADER.size, 40);
});

test("service table: 44 boot slots (43 services + Reserved), 14 runtime, ids dense", () => {
  assert.is(SERVICES.filter((s) => s.table === "BS").length, 44);
  assert.is(SERVICES.filter((s) => s.table === "RT").length, 14);
  SERVICES.forEach((s, i) => assert.is(s.id, i));
  const names = new Set(SERVICES.map((s) => `${s.table}.${s.name}`));
  assert.is(names.size, SERVICES.length);
  const imp = SERVICES.find((s) => s.name === "InstallMultipleProtocolInterfaces")!;
  assert.ok(imp.sig.variadic);
  const ap = SERVICES.find((s) => s.name === "AllocatePages")!;
  assert.equal(ap.sig.params.map((p) => p.type), ["EFI_ALLOCATE_TYPE", "EFI_MEMORY_TYPE", "UINTN", "EFI_PHYSICAL_ADDRESS"]);
  assert.is(ap.sig.params[3].pointer, 1);
});

test("thunk bytes: mov eax, id ; out TRAP_PORT, eax ; ret", () => {
  assert.equal([...thunkBytes(0x1234)], [0xb8, 0x34, 0x12, 0, 0, 0xe7, TRAP_PORT, 0xc3]);
});

test("status codes: unique, errors have the high bit, warnings do not", () => {
  const values = Object.values(uefi.STATUS);
  assert.is(new Set(values).size, values.length);
  for (const [name, v] of Object.entries(uefi.STATUS)) {
    if (name === "SUCCESS") assert.is(v, 0n);
    else if (name.startsWith("WARN_")) assert.is(v & uefi.ERROR_BIT, 0n, name);
    else assert.is(v & uefi.ERROR_BIT, uefi.ERROR_BIT, name);
  }
  assert.is(uefi.statusName(uefi.STATUS.BUFFER_TOO_SMALL), "BUFFER_TOO_SMALL");
});

test("GUIDs: canonical text round-trips through the mixed-endian bytes", () => {
  const b = guidBytes(uefi.GUIDS.LOADED_IMAGE_PROTOCOL);
  // Appendix A: Data1..3 little-endian, Data4 as written.
  assert.equal([...b], [0xa1, 0x31, 0x1b, 0x5b, 0x62, 0x95, 0xd2, 0x11, 0x8e, 0x3f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);
  for (const text of Object.values(uefi.GUIDS)) assert.is(guidText(guidBytes(text)), text);
  const values = Object.values(uefi.GUIDS);
  assert.is(new Set(values).size, values.length);
});

test("generated firmware files are current (npm run gen)", () => {
  for (const [path, make] of OUTPUTS) assert.ok(readFileSync(path, "utf8") === make(), `${path} is stale: run npm run gen`);
});

test("guests/include/efi.h agrees with the declaration, field by field", () => {
  const lines = [`#include <stddef.h>`, `#include "efi.h"`];
  const structs = Object.values(uefi).filter((v): v is Struct => !!v && typeof v === "object" && "fields" in v);
  for (const s of structs) {
    lines.push(`_Static_assert(sizeof(${s.name}) == ${s.size}, "sizeof ${s.name}");`);
    for (const f of s.fields) lines.push(`_Static_assert(offsetof(${s.name}, ${f.name}) == ${f.offset}, "${s.name}.${f.name}");`);
  }
  for (const [name, v] of Object.entries(uefi.STATUS)) {
    lines.push(`_Static_assert(EFI_${name} == ${v}ULL, "EFI_${name}");`);
  }
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-efih-"));
  const src = join(dir, "check.c");
  writeFileSync(src, lines.join("\n") + "\n");
  const r = spawnSync("clang", ["--target=x86_64-unknown-windows", "-ffreestanding", "-fshort-wchar", "-fsyntax-only", "-Iguests/include", src], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
});

test.run();
