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
import { measureAll, instructionsLine, tablesReadLines } from "../host/report.ts";
import { kernelCampaign, kernelCases, kernelTable } from "../host/kernel-campaign.ts";
import { runImage } from "../host/run.ts";
import { DEFAULT_KERNEL } from "../host/defaults.ts";
import { TableWatch } from "../host/table-watch.ts";
import { field, guidBytes, type Struct } from "../firmware/spec/decl.ts";
import { CONFIGURATION_TABLE, GUIDS, RUNTIME_SERVICES, SYSTEM_TABLE } from "../firmware/spec/uefi.ts";

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

test("watched tables: the fields a guest reads as memory, the configuration tables whose pointer it reads", () => {
  const r = runImage("build/guests/hello.efi", { timeBudgetMs: 30000, watchTables: true });
  assert.is(r.ending.kind, "returned");
  // hello prints through SystemTable->ConOut and finds its LoadedImage through BootServices.
  for (const f of ["SystemTable.ConOut", "SystemTable.BootServices"]) assert.ok(r.tablesRead!.fields.includes(f), f);
  assert.ok(!r.tablesRead!.fields.some((f) => f.startsWith("RuntimeServices.")), "no runtime slot");
  assert.equal(r.tablesRead!.configTables, []);
  assert.equal(tablesReadLines(r.tablesRead), ["", "System table fields read: " + r.tablesRead!.fields.map((f) => f.slice("SystemTable.".length)).join(", "), "", "Configuration tables read: none"]);
  assert.is(runImage("build/guests/hello.efi", { timeBudgetMs: 30000 }).tablesRead, undefined, "not watched unless asked");
});

test("TableWatch: reads served from RAM and named by field; a configuration entry counts when its VendorTable is read; writes reach RAM", () => {
  const ram = new Uint8Array(0x4000);
  const dv = new DataView(ram.buffer);
  const st = 0x1000, rt = st + 128, ct = st + 512;
  const at = (s: Struct, f: string) => field(s, f).offset;
  dv.setBigUint64(st + at(SYSTEM_TABLE, "RuntimeServices"), BigInt(rt), true);
  dv.setBigUint64(st + at(SYSTEM_TABLE, "ConfigurationTable"), BigInt(ct), true);
  dv.setBigUint64(st + at(SYSTEM_TABLE, "NumberOfTableEntries"), 2n, true);
  ram.set(guidBytes(GUIDS.RT_PROPERTIES_TABLE), ct);
  ram.set(guidBytes(GUIDS.ACPI_20_TABLE), ct + CONFIGURATION_TABLE.size);
  dv.setBigUint64(ct + CONFIGURATION_TABLE.size + at(CONFIGURATION_TABLE, "VendorTable"), 0x1234_5678_9abcn, true);
  const w = new TableWatch(ram, st, 0x1000);
  assert.is(w.page, st);
  assert.is(w.read(st + at(SYSTEM_TABLE, "NumberOfTableEntries"), 8), 2n);
  assert.is(w.read(rt + at(RUNTIME_SERVICES, "GetVariable") + 4, 4), 0n); // inside the slot
  w.read(ct, 8); // a GUID compared: not a use
  assert.is(w.read(ct + CONFIGURATION_TABLE.size + at(CONFIGURATION_TABLE, "VendorTable"), 8), 0x1234_5678_9abcn);
  w.read(ct + 2 * CONFIGURATION_TABLE.size + 16, 8); // past NumberOfTableEntries: not an entry
  assert.equal(w.result(), { fields: ["SystemTable.NumberOfTableEntries", "RuntimeServices.GetVariable"], configTables: ["ACPI_20_TABLE"] });
  w.write(st + 0x800, 4, 0xdeadbeefn);
  assert.is(dv.getUint32(st + 0x800, true), 0xdeadbeef);
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
  // The kernels campaign with the default kernel alone here; every kernel in the test below.
  const r = await measureAll({ out, ablation: false, kernels: kernelCases().slice(0, 1), progress: () => {} });
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
  // The kernel read, as memory, the runtime slots it calls and the configuration tables
  // it looks up: among them its own boot memory map and our RT properties table.
  const kt = json.guests.find((g: { name: string }) => /kernel/.test(g.name)).tablesRead;
  for (const f of ["SystemTable.ConfigurationTable", "SystemTable.RuntimeServices", "RuntimeServices.SetVirtualAddressMap", "RuntimeServices.GetVariable"]) assert.ok(kt.fields.includes(f), f);
  for (const t of ["LINUX_EFI_BOOT_MEMMAP", "RT_PROPERTIES_TABLE"]) assert.ok(kt.configTables.includes(t), t);
  assert.match(md, /^Configuration tables read: .*LINUX_EFI_BOOT_MEMMAP/m);
  // The boot chains (GRUB, systemd-boot from ESP folders) reach the kernel's criterion, and the table says which services each called.
  assert.is(json.chains.length, 2);
  for (const c of json.chains) assert.ok(c.succeeded, `${c.guest}: ${c.ending}`);
  assert.ok(json.chains[0].perService["BlockIo.ReadBlocks"] > 0, "GRUB reads the disk through Block I/O");
  assert.ok(json.chains[1].perService["File.Read"] > 0, "systemd-boot reads files through SimpleFileSystem");
  assert.match(md, /^## The answer per boot chain$/m);
  // GRUB starts the kernel through its handover entry; systemd-boot with LoadImage from the ESP.
  assert.match(md, /^\| BS\.LoadImage \| — \| — \| called \|$/m);
  assert.match(html, /<h3>Guest instructions to &quot;Linux version&quot;<\/h3>/);
  // The first screen: the comparison table, before anything else, and the boot as a timeline.
  const firstTable = md.split("\n").find((l) => l.startsWith("|"));
  assert.is(firstTable, "|  | PVH entry (no firmware) | EFI entry, ablated minimum | ueficorn, whole firmware | OVMF |");
  assert.match(md, new RegExp(`^\\| firmware \\(bytes, gzipped\\) \\| 0 \\| — \\| ${json.firmware.wasmBytes.toLocaleString("en-US")} \\(`, "m"));
  assert.ok(html.indexOf('<table class="answer">') < html.indexOf("<svg "), "the table first");
  // Its AArch64 counterpart: Debian's arm64 kernel through the arm64 boot protocol (no EFI
  // call, instructions from the Image's first) and through the whole firmware.
  const a = json.arm64.first;
  assert.is(a.direct.instructions.kernelEntry, 0);
  assert.ok(a.direct.instructions.linuxVersion > 0, JSON.stringify(a.direct));
  assert.ok(a.whole.instructions.kernelEntry > 0 && a.whole.instructions.kernelEntry < a.whole.instructions.linuxVersion, JSON.stringify(a.whole));
  assert.ok(a.dtbBytes > 500 && a.dtbBytes < 4096, `${a.dtbBytes}-byte device tree`);
  assert.match(md, /^\|  \| arm64 boot protocol \(no firmware\) \| EFI entry, ablated minimum \| ueficorn, whole firmware \| AAVMF \|$/m);
  assert.match(html, /<h3>AArch64<\/h3><table class="answer">/);
  assert.match(html, /aria-label="timeline"/);
  // The per-kernel table: a column per kernel, in the Markdown and the HTML, and its chart.
  assert.match(md, /^## The answer per kernel$/m);
  assert.match(md, /^\|  \| Debian 12 cloud \|$/m);
  assert.match(md, /^\| EFI: services required \(ablation\) \| not run \|$/m);
  assert.match(html, /<h3>Per kernel<\/h3><table class="answer">/);
  assert.match(html, /per kernel \(millions\): EFI stub and kernel, beside PVH/);
  assert.match(html, /EFI calls<\/text><rect [^>]*><title>(BS|RT|ConOut)\./);
  assert.match(html, /<svg /);
  assert.not.match(html, /<script|https?:\/\//);
});

test("the answer per kernel: each Debian kernel setup fetches, through both entries on a worker pool, its EFI services ablated", async () => {
  const cases = kernelCases();
  assert.ok(cases.length >= 4, `setup fetches Debian 12's cloud and generic, 13's and unstable's kernels: ${cases.map((k) => k.name)}`);
  // The two kernels whose ablation is quick; the other two run both entries without it.
  const seen: string[] = [];
  const ablated = await kernelCampaign({ kernels: cases.filter((k) => /cloud/.test(k.name) && !/unstable/.test(k.name)), ablation: true, progress: (m) => seen.push(m) });
  const rest = await kernelCampaign({ kernels: cases.filter((k) => /generic|unstable/.test(k.name)), ablation: false, progress: (m) => seen.push(m) });
  assert.ok(seen.some((m) => /^kernels: \d+\/\d+ done/.test(m)), "progress is shown");
  for (const k of [...ablated, ...rest]) {
    assert.ok(k.efi.ok, `${k.name} EFI: ${k.efi.ending}`);
    assert.ok(k.pvh.reached, `${k.name} PVH: ${k.pvh.ending}`);
    assert.ok(k.efi.instructions!.kernelEntry! > 0 && k.efi.instructions!.kernelEntry! < k.efi.instructions!.linuxVersion!, k.name);
    assert.ok(k.pvh.instructions!.linuxVersion! < k.efi.instructions!.linuxVersion!, `${k.name}: PVH starts at the kernel, past the stub's work`);
    assert.ok(k.efi.tablesRead!.configTables.includes("LINUX_EFI_BOOT_MEMMAP"), k.name);
  }
  assert.match(ablated[0].version!, /^6\.1\./);
  assert.match(ablated[1].version!, /^6\.12\./);
  for (const k of ablated) {
    const required = k.ablation.filter((a) => a.required).map((a) => a.service);
    for (const s of ["BS.ExitBootServices", "BS.GetMemoryMap", "RT.SetVirtualAddressMap"]) assert.ok(required.includes(s), `${k.name} requires ${s}: ${required}`);
    assert.ok(k.ablation.some((a) => !a.required), `${k.name} tolerates some services`);
  }
  const t = kernelTable([...ablated, ...rest]);
  assert.is(t.head.length, 5);
  assert.ok(t.rows.every((row) => row.length === 5));
  assert.match(t.rows.find((r) => r[0] === "bzImage payload")!.join(" "), /lz4 .*zstd .*xz .*zstd/);
});

test.run();
