// Builds a minimal firmware: the same AssemblyScript, with only the given services
// dispatched; every other slot answers as a firmware without it would (NOT_FOUND for
// lookups, UNSUPPORTED otherwise: services.ts minimalAnswer), and the compiler drops the
// code nothing reaches any more. How small an EFI entry can be, built rather than guessed.
//   tsx scripts/minimal-firmware.ts BS.AllocatePages,BS.GetMemoryMap,... [--out FILE]
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { generate, generateDispatch } from "./gen-spec.ts";
import { SERVICES } from "../firmware/spec/services.ts";
import { ROOT } from "../host/paths.ts";

export const MINIMAL_WASM = join(ROOT, "build/firmware.minimal.wasm");

/** Build the firmware serving only `keep` ("BS.AllocatePages", ...) into `out`; its sizes. */
export function buildMinimalFirmware(keep: string[], out = MINIMAL_WASM): { path: string; wasmBytes: number; gzipBytes: number } {
  const known = new Set(SERVICES.map((s) => `${s.table}.${s.name}`));
  const unknown = keep.filter((k) => !known.has(k));
  if (unknown.length) throw new Error(`not services: ${unknown.join(", ")}`);
  const keepSet = new Set(keep);
  // A copy of the firmware with its generated files made for `keep` (the sources'
  // relative imports stay valid in the copy).
  const dir = join(ROOT, "build/minimal");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(ROOT, "firmware"), join(dir, "firmware"), { recursive: true });
  writeFileSync(join(dir, "firmware/spec/gen.ts"), generate(keepSet));
  writeFileSync(join(dir, "firmware/spec/dispatch.ts"), generateDispatch(keepSet));
  // The release target of asconfig.json, for the copy's entry and this output.
  const config = JSON.parse(readFileSync(join(ROOT, "asconfig.json"), "utf8"));
  const minimal = {
    entries: [relative(dir, join(dir, "firmware/index.ts"))],
    options: config.options,
    targets: { release: { ...config.targets.release, outFile: relative(dir, out), textFile: undefined } },
  };
  writeFileSync(join(dir, "asconfig.json"), JSON.stringify(minimal, null, 2));
  const asc = join(ROOT, "node_modules/.bin/asc");
  const r = spawnSync(asc, ["--config", "asconfig.json", "--target", "release"], { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`asc failed building the minimal firmware:\n${r.stderr}`);
  const wasm = readFileSync(out);
  return { path: out, wasmBytes: wasm.length, gzipBytes: gzipSync(wasm, { level: 9 }).length };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  if (json) args.splice(args.indexOf("--json"), 1);
  const at = args.indexOf("--out");
  const out = at >= 0 ? args.splice(at, 2)[1] : MINIMAL_WASM;
  if (!args[0]) {
    console.error("usage: tsx scripts/minimal-firmware.ts BS.AllocatePages,BS.GetMemoryMap,... [--out FILE] [--json]");
    process.exit(2);
  }
  const b = buildMinimalFirmware(args[0].split(","), out);
  console.log(json ? JSON.stringify(b) : `minimal firmware: ${b.path}: ${b.wasmBytes} bytes of WASM (${b.gzipBytes} gzipped)`);
}
