// The measurement report's parts: sizes read from real builds, the static ABI surface
// from the service table, a guest's dynamic use from a real run, and the ablation on
// the real Debian kernel.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wasmFunctionSizes } from "../host/wasm-sizes.ts";
import { abiSurface, firmwareSize, guestUse, kernelSpec, kernelSucceeded, ablation, parseProbe } from "../host/measure.ts";
import { measureAll, instructionsLine } from "../host/report.ts";
import { runImage } from "../host/run.ts";
import { DEFAULT_KERNEL } from "../host/defaults.ts";

test("function sizes come from the WASM code section, named by the name section", () => {
  const fns = wasmFunctionSizes(readFileSync("build/firmware.names.wasm"));
  assert.ok(fns.some((f) => f.name === "firmware/services/alloc/BS_AllocatePages" || f.name.startsWith("firmware/services/alloc/")));
  const total = fns.reduce((a, f) => a + f.bytes, 0);
  assert.ok(total > 5000 && total < readFileSync("build/firmware.names.wasm").length);
  assert.throws(() => wasmFunctionSizes(Uint8Array.of(1, 2, 3, 4)), /not a WebAssembly module/);
});

test("static ABI surface: every slot counted, implemented + stubbed = slots", () => {
  const size = firmwareSize("build/firmware.names.wasm");
  assert.is(size.wasmBytes, readFileSync("build/firmware.wasm").length);
  assert.ok(size.gzipBytes < size.wasmBytes);
  const abi = abiSurface(size.stubbed);
  const bs = abi.tables.find((t) => t.table === "BS")!;
  assert.is(bs.slots, 44);
  assert.is(bs.implemented + bs.stubbed.length, bs.slots);
  assert.is(abi.tables.find((t) => t.table === "RT")!.slots, 14);
  assert.is(abi.trapIds, abi.tables.reduce((a, t) => a + t.slots, 0));
});

test("a guest's use: services, GUIDs asked for, boundary bytes, instructions", () => {
  const r = runImage("build/guests/hello.efi", { keepCalls: true, timeBudgetMs: 30000, countInstructions: true });
  const use = guestUse("hello", r);
  assert.ok(use.instructions!.total > 10_000);
  assert.equal(use.instructions, r.instructions);
  assert.is(instructionsLine(use.instructions), `Guest instructions: ${use.instructions!.total} in the whole run.`);
  assert.is(instructionsLine({ total: 30, kernelEntry: 10, linuxVersion: 20 }), "Guest instructions: **10** to the kernel's entry, **20** to `Linux version`, 30 in the whole run.");
  assert.is(use.perService["BS.HandleProtocol"], 1);
  assert.equal(use.guids.LOADED_IMAGE_PROTOCOL, { found: 1, notFound: 0 });
  assert.is(use.boundaryBytes, r.calls.reduce((a, c) => a + 8 * (c.args.length + 1), 0));
  assert.ok(use.calls > 10);
});

test("the ABI probe guest under ueficorn: every slot filled, the RT properties table, the memory map", () => {
  const r = runImage("build/guests/abiprobe.efi", { timeBudgetMs: 30000 });
  const abi = parseProbe(r.console);
  assert.is(abi.firmware.split(" ")[0], "ueficorn");
  assert.is(abi.bsSlots, 44);
  assert.is(abi.rtSlots, 14);
  assert.ok(abi.configTables.includes("RT_PROPERTIES_TABLE"));
  assert.ok(abi.memmap.ConventionalMemory.pages > 1000);
  assert.throws(() => parseProbe("abi: handles 3\n"), /no 'abi: done'/);
});

test("ablation on the Debian kernel names the services it cannot boot without", () => {
  assert.ok(existsSync(DEFAULT_KERNEL), "npm run setup fetches the kernel");
  const spec = kernelSpec(DEFAULT_KERNEL);
  const base = runImage(spec.path, { cmdline: spec.cmdline, stopOnSerial: spec.stopOnSerial, timeBudgetMs: spec.timeBudgetMs, keepCalls: true });
  assert.ok(kernelSucceeded(base));
  const rows = ablation(spec, base, kernelSucceeded, () => {});
  const verdict = (s: string) => rows.find((r) => r.service === s)?.verdict;
  // The stub cannot do without its memory, its LoadedImage and ExitBootServices...
  assert.is(verdict("BS.AllocatePages"), "required");
  assert.is(verdict("BS.GetMemoryMap"), "required");
  assert.is(verdict("BS.HandleProtocol"), "required");
  assert.is(verdict("BS.ExitBootServices"), "required");
  // ...and treats a missing RNG/TCG/GOP/initrd as optional.
  assert.is(verdict("BS.LocateProtocol"), "tolerated");
  assert.is(verdict("BS.LocateHandle"), "tolerated");
});

test("the report files are written, the HTML self-contained", async () => {
  const out = mkdtempSync(join(tmpdir(), "ueficorn-report-"));
  const r = await measureAll({ out, ablation: false, progress: () => {} });
  const md = readFileSync(join(out, "report.md"), "utf8");
  assert.match(md, /Release WASM: \*\*\d+ bytes\*\*/);
  const json = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.is(json.firmware.wasmBytes, r.firmware.wasmBytes);
  const html = readFileSync(join(out, "report.html"), "utf8");
  // Every guest's instructions counted; the kernel's to its entry, then to its banner,
  // more through the EFI stub than through PVH (which starts at the kernel itself).
  for (const g of json.guests) assert.ok(g.instructions.total > 0, g.name);
  assert.match(md, /^Guest instructions: \d+ in the whole run\.$/m);
  const k = json.guests.find((g: { name: string }) => /kernel/.test(g.name)).instructions;
  const p = json.pvh.instructions;
  assert.ok(k.kernelEntry > 0 && k.kernelEntry < k.linuxVersion && k.linuxVersion < k.total, JSON.stringify(k));
  assert.is(p.kernelEntry, 0);
  assert.ok(p.linuxVersion > 0 && p.linuxVersion < k.linuxVersion, JSON.stringify(p));
  assert.ok(md.includes(`Guest instructions: **${k.kernelEntry}** to the kernel's entry, **${k.linuxVersion}** to \`Linux version\``));
  assert.match(html, /<h3>Guest instructions to &quot;Linux version&quot;<\/h3>/);
  assert.match(html, /<svg /);
  assert.not.match(html, /<script|https?:\/\//);
});

test.run();
