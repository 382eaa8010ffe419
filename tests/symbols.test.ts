// Symbols from an ELF file's own symbol table (an unstripped vmlinux, as a -dbg package
// ships it), beside System.map: host/symbols.ts elfSymbolsAsMap. The ELF is built here by
// clang and lld; a stripped one is an error naming the file.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SymbolMap } from "../host/symbols.ts";

const dir = mkdtempSync(join(tmpdir(), "ueficorn-symbols-"));

function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  assert.is(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
}

test("an ELF's function symbols name addresses as System.map's do; a stripped ELF says it has none", () => {
  const src = join(dir, "k.c"), elf = join(dir, "k.elf"), stripped = join(dir, "k.stripped");
  writeFileSync(src, "void start(void) { for (;;) {} }\nint second(int x) { return x * 3 + 1; }\nint third(int x) { return second(x) - 2; }\n");
  must("clang", ["--target=x86_64-linux-gnu", "-O1", "-ffreestanding", "-nostdlib", "-fuse-ld=lld", "-Wl,-e,start", "-Wl,-Ttext=0xffffffff81000000", "-o", elf, src]);
  const map = SymbolMap.load(elf)!;
  const second = map.addressOf("second")!, third = map.addressOf("third")!;
  assert.ok(second >= 0xffffffff81000000n && third > second, `${second.toString(16)} ${third.toString(16)}`);
  assert.is(map.lookup(second + 3n), "second+0x3");
  assert.is(map.lookup(third), "third+0x0");
  must("clang", ["--target=x86_64-linux-gnu", "-O1", "-ffreestanding", "-nostdlib", "-fuse-ld=lld", "-Wl,-e,start", "-Wl,-Ttext=0xffffffff81000000", "-Wl,--strip-all", "-o", stripped, src]);
  assert.throws(() => SymbolMap.load(stripped)!.lookup(second), /k\.stripped: an ELF file with no symbol table \(stripped\?\)/);
});

test.run();
