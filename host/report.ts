// The measurement report: runs the guests, writes Markdown, JSON and a self-contained
// HTML page with bar charts (inline SVG, no scripts, opens in any browser).
import { mkdirSync, writeFileSync, existsSync, readFileSync } from "node:fs";
import { preparePvh } from "./pvh/index.ts";
import { prepareArm64, RNG_SEED_BYTES } from "./arm64/image.ts";
import { buildFdt } from "./arm64/fdt.ts";
import { platformTree } from "./arm64/platform.ts";
import { join } from "node:path";
import {
  aavmfSize, abiSurface, ablation, arm64KernelSpec, arm64KernelSucceeded, ARM64_KERNEL, ARM64_SUCCESS, chainSpecs, firmwareSize, guestUse, INITRD_SERVICES, kernelSpec, runGuest, type AblationRow, kernelSucceeded, KERNEL_SUCCESS, minimalFirmware, ovmfSizes, parseProbe,
  USERSPACE_LINE, type GuestSpec, type MinimalFirmware, type ProbedAbi,
} from "./measure.ts";
import { OVMF_CODE, runUnderOvmf } from "./ovmf.ts";
import type { TablesRead } from "./table-watch.ts";
import { runImage, describeEnding, type InstructionCounts } from "./run.ts";
import { countInFreshProcess } from "./fresh.ts";
import { ROOT } from "./paths.ts";
import { DEFAULT_KERNEL, TEST_INITRD } from "./defaults.ts";
import { kernelCampaign, kernelTable, type KernelCase, type KernelRow } from "./kernel-campaign.ts";

export interface ReportOptions {
  out: string;
  ablation: boolean;
  progress: (msg: string) => void;
  /** Also the boot chains through Debian's loaders (measure.ts chainSpecs); default true. */
  chains?: boolean;
  /** Also a chain from these disk images, booted by the boot manager (`measure --disk`). */
  disks?: string[];
  /** Also every Debian kernel setup fetches, through both entries, on a worker pool (host/kernel-campaign.ts); default true. */
  kernels?: boolean | KernelCase[];
}

/** One boot chain's run and ablation (its rows empty when the ablation was not asked for or the chain did not boot). */
export interface ChainResult { guest: string; ending: string; succeeded: boolean; calls: number; perService: Record<string, number>; rows: AblationRow[] }

export async function measureAll(o: ReportOptions) {
  const size = firmwareSize(join(ROOT, "build/firmware.names.wasm"));
  const abi = abiSurface(size.stubbed);
  const guests: GuestSpec[] = ["hello", "conout", "conformance"]
    .map((n) => ({ name: `guests/${n}.c`, path: join(ROOT, `build/guests/${n}.efi`), timeBudgetMs: 30000 }))
    .filter((g) => existsSync(g.path));
  const kernelPath = join(ROOT, DEFAULT_KERNEL);
  const kernel = existsSync(kernelPath) ? kernelSpec(kernelPath) : undefined;
  if (kernel) guests.push(kernel);
  // Each guest twice: once plain, for its wall time, once measured (every call kept,
  // instructions counted, tables watched: each slows a run).
  const uses = guests.map((g) => {
    o.progress(`running ${g.name}`);
    const run = (measured: boolean) =>
      runImage(g.path, { cmdline: g.cmdline, stopOnSerial: g.stopOnSerial, timeBudgetMs: g.timeBudgetMs, keepCalls: measured, countInstructions: measured, watchTables: measured });
    // The kernel's timed run also writes its timeline, which the HTML page draws.
    const traceOut = g === kernel ? join(o.out, "kernel-trace.json") : undefined;
    if (traceOut) mkdirSync(o.out, { recursive: true });
    const wallMs = Math.round(runImage(g.path, { cmdline: g.cmdline, stopOnSerial: g.stopOnSerial, timeBudgetMs: g.timeBudgetMs, traceOut }).wallMs);
    const r = run(true);
    return { g, r, use: { ...guestUse(g.name, r), wallMs } };
  });
  let ablationRows: ReturnType<typeof ablation> = [];
  const k = uses.find((u) => u.g === kernel);
  if (k && o.ablation) {
    if (!kernelSucceeded(k.r)) throw new Error(`the kernel's baseline run did not reach the success criterion (${KERNEL_SUCCESS}): ${k.use.ending}`);
    ablationRows = ablation(k.g, k.r, kernelSucceeded, o.progress);
  }
  // The same kernel through boot chains: which services each whole chain cannot do without.
  const chains: ChainResult[] = [];
  if (kernel && (o.chains ?? true)) {
    const extra: GuestSpec[] = o.disks?.length ? [{ ...kernel, path: undefined, cmdline: undefined, name: `the boot manager's choice from ${o.disks.join(", ")}`, disks: o.disks }] : [];
    for (const c of [...chainSpecs(kernel.path), ...extra]) {
      o.progress(`running ${c.name}`);
      const base = runGuest(c, { keepCalls: true });
      const succeeded = kernelSucceeded(base);
      const rows = succeeded && o.ablation ? ablation(c, base, kernelSucceeded, o.progress) : [];
      chains.push({ guest: c.name, ending: describeEnding(base.ending), succeeded, calls: base.summary.calls, perService: base.summary.perService, rows });
    }
  }
  // The same firmware on AArch64 (issue 14): what Debian's arm64 kernel calls and needs,
  // and the same three columns as x86's first table: its own direct entry (the arm64 boot
  // protocol, no firmware), the EFI entry at its ablated minimum, the whole firmware.
  let arm64: (ChainResult & { criterion: string; first: Arm64First }) | undefined;
  if (existsSync(ARM64_KERNEL)) {
    const a = arm64KernelSpec();
    o.progress(`running ${a.name}`);
    const base = runGuest(a, { keepCalls: true });
    const succeeded = arm64KernelSucceeded(base);
    const rows = succeeded && o.ablation ? ablation(a, base, arm64KernelSucceeded, o.progress) : [];
    // The minimal set: what the ablation found required, and the services it could not
    // answer with an error (VOID ones: the arm64 stub's CopyMem and SetMem).
    const required = [...rows.filter((x) => x.verdict === "required").map((x) => x.service),
      ...Object.keys(base.summary.perService).filter((svc) => rows.length && !rows.some((x) => x.service === svc))];
    o.progress("booting the arm64 kernel through the arm64 boot protocol");
    const direct = (counted: boolean) => runImage(ARM64_KERNEL, { entry: "direct", cmdline: a.cmdline, stopOnSerial: /Linux version/, timeBudgetMs: 60000, countInstructions: counted });
    const whole = (counted: boolean) => runGuest(a, { countInstructions: counted });
    const first: Arm64First = {
      dtbBytes: prepareArm64(readFileSync(ARM64_KERNEL), { ramBytes: 256 * 2 ** 20, cmdline: a.cmdline ?? "", rngSeed: new Uint8Array(RNG_SEED_BYTES) }).dtb.length,
      efiDtbBytes: buildFdt(platformTree(256 * 2 ** 20)).length,
      direct: { wallMs: Math.round(direct(false).wallMs), instructions: direct(true).instructions },
      whole: { wallMs: Math.round(whole(false).wallMs), instructions: whole(true).instructions, calls: base.summary.calls, services: Object.keys(base.summary.perService).length },
      minimal: required.length ? minimalFirmware(a, required, arm64KernelSucceeded) : undefined,
    };
    arm64 = { guest: a.name, ending: describeEnding(base.ending), succeeded, calls: base.summary.calls, perService: base.summary.perService, rows, criterion: ARM64_SUCCESS, first };
  }
  // The minimal firmware, built from the ablation's answer and booted: the required
  // services alone (to the criterion), then with the initrd's (to the test /init).
  const minimal: MinimalFirmware[] = [];
  if (k && ablationRows.length) {
    const required = ablationRows.filter((x) => x.verdict === "required").map((x) => x.service);
    o.progress(`building and booting the minimal firmware (${required.length} services)`);
    minimal.push(minimalFirmware(k.g, required, kernelSucceeded));
    const initrd = join(ROOT, TEST_INITRD);
    if (existsSync(initrd)) {
      o.progress("building and booting the minimal firmware with the initrd's services");
      minimal.push(minimalFirmware(k.g, [...required, ...INITRD_SERVICES], (r) => r.serial.some((l) => USERSPACE_LINE.test(l)), initrd));
    }
  }
  // The same probe guest under both firmwares: what each offers an EFI application.
  const probe = join(ROOT, "build/guests/abiprobe.efi");
  const probed: { ueficorn?: ProbedAbi; ovmf?: ProbedAbi; ovmfError?: string } = {};
  if (existsSync(probe)) {
    o.progress("running guests/abiprobe.c under ueficorn");
    probed.ueficorn = parseProbe(runImage(probe, { timeBudgetMs: 30000 }).console);
    if (existsSync(OVMF_CODE)) {
      o.progress("running guests/abiprobe.c under QEMU + OVMF");
      try {
        probed.ovmf = parseProbe(await runUnderOvmf(probe, /abi: done/));
      } catch (e) {
        probed.ovmfError = (e as Error).message;
      }
    } else probed.ovmfError = "OVMF is not installed (bash scripts/setup.sh --bench-tools)";
  }
  // The same kernel through Xen's PVH entry: what the hypervisor hands it instead.
  let pvh: { abiBytes: Record<string, number>; calls: number; ending: string; wallMs: number; instructions?: InstructionCounts } | undefined;
  if (kernel) {
    o.progress("booting the kernel through the PVH entry");
    const file = readFileSync(kernel.path);
    const { boot } = preparePvh(file, { ramBytes: 256 << 20, cmdline: kernel.cmdline ?? "" });
    const abiBytes: Record<string, number> = {};
    // The boot ABI proper: start_info, the tables it points to and the command line
    // (not the kernel's segments, the initrd's contents or the host's GDT).
    for (const r of boot.regions) if (/^(hvm_|cmdline)/.test(r.name)) abiBytes[r.name] = r.bytes.length;
    const r = runImage(kernel.path, { entry: "pvh", cmdline: kernel.cmdline, stopOnSerial: /Linux version/, timeBudgetMs: 60000 });
    const instructions = countInFreshProcess(kernel.path, "pvh", "Linux version", kernel.cmdline);
    pvh = { abiBytes, calls: r.summary.calls, ending: describeEnding(r.ending), wallMs: Math.round(r.wallMs), instructions };
  }
  // Every kernel setup fetches, through both entries (issue 12).
  let kernels: KernelRow[] = [];
  if (o.kernels ?? true) {
    o.progress("running the kernels campaign (every kernel through both entries, on a worker pool)");
    kernels = await kernelCampaign({ kernels: Array.isArray(o.kernels) ? o.kernels : undefined, ablation: o.ablation, progress: o.progress });
  }
  const report = {
    generated: new Date().toISOString(),
    firmware: { wasmBytes: size.wasmBytes, gzipBytes: size.gzipBytes, functions: size.functions, groups: size.groups },
    abi,
    guests: uses.map((u) => u.use),
    ablation: { guest: kernel?.name, criterion: KERNEL_SUCCESS, rows: ablationRows },
    chains,
    arm64,
    minimal,
    ovmf: ovmfSizes(),
    aavmf: aavmfSize(),
    probed,
    pvh,
    kernels,
  };
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, "report.json"), JSON.stringify(report, null, 2));
  writeFileSync(join(o.out, "report.md"), markdown(report));
  writeFileSync(join(o.out, "report.html"), html(report, kernel ? readTimeline(join(o.out, "kernel-trace.json")) : []));
  return report;
}

type Report = Awaited<ReturnType<typeof measureAll>>;

/** The arm64 kernel's first-table columns: the direct entry, the whole firmware, the ablated minimum (built and booted). */
export interface Arm64First {
  /** The device tree the direct entry hands over (with /chosen's bootargs and rng-seed): what the hypervisor writes for it. */
  dtbBytes: number;
  /** The device tree the firmware installs for the EFI entry (the platform alone: the stub writes /chosen). */
  efiDtbBytes: number;
  direct: { wallMs: number; instructions?: InstructionCounts };
  whole: { wallMs: number; instructions?: InstructionCounts; calls: number; services: number };
  minimal?: MinimalFirmware;
}

/** "Guest instructions: ..." for a run that counted them: to the kernel's entry and banner when it got there, and in all. */
export function instructionsLine(n: InstructionCounts | undefined): string | undefined {
  if (!n) return undefined;
  const parts: string[] = [];
  if (n.kernelEntry !== null) parts.push(`**${n.kernelEntry}** to the kernel's entry`);
  if (n.linuxVersion !== null) parts.push(`**${n.linuxVersion}** to \`Linux version\``);
  parts.push(`${n.total} in the whole run`);
  return `Guest instructions: ${parts.join(", ")}.`;
}

/** Markdown lines (each after a blank line) for the tables a guest read as memory: system table fields, runtime slots, configuration tables. */
export function tablesReadLines(t: TablesRead | undefined): string[] {
  if (!t) return [];
  const of = (prefix: string) => t.fields.filter((f) => f.startsWith(prefix)).map((f) => f.slice(prefix.length));
  const L: string[] = [];
  const st = of("SystemTable."), rt = of("RuntimeServices.");
  if (st.length) L.push("", "System table fields read: " + st.join(", "));
  if (rt.length) L.push("", "Runtime services slots read: " + rt.join(", "));
  L.push("", "Configuration tables read: " + (t.configTables.length ? t.configTables.join(", ") : "none"));
  return L;
}

/** Text as one Markdown table cell: pipes escaped, lines joined. */
const mdCell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/**
 * The report's first table: the same kernel to the same point through Xen's PVH entry,
 * through the EFI entry at its ablated minimum (the minimal firmware, built and booted),
 * through ueficorn's whole firmware, and what OVMF weighs. Columns: header, then rows of cells.
 */
export function comparison(r: Report): { head: string[]; rows: string[][] } | undefined {
  const k = r.guests.find((g) => g.name === r.ablation.guest);
  if (!k) return undefined;
  const min = r.minimal[0];
  const n = (v: number | null | undefined) => (v === null || v === undefined ? "—" : v.toLocaleString("en-US"));
  const pvhBytes = r.pvh ? Object.values(r.pvh.abiBytes).reduce((a, b) => a + b, 0) : undefined;
  const ovmf = r.ovmf[0];
  return {
    head: ["", "PVH entry (no firmware)", `EFI entry, ablated minimum${min ? ` (${min.services.length} services)` : ""}`, "ueficorn, whole firmware", "OVMF"],
    rows: [
      ["EFI calls / services called", "0 / 0", min ? `${n(min.calls)} / ${min.servicesCalled}` : "—", `${n(k.calls)} / ${Object.keys(k.perService).length}`, "not run here"],
      ["structures the hypervisor writes (bytes)", n(pvhBytes), n(r.abi.guestVisibleTableBytes), n(r.abi.guestVisibleTableBytes), "—"],
      ["firmware (bytes, gzipped)", "0", min ? `${n(min.wasmBytes)} (${n(min.gzipBytes)})` : "—", `${n(r.firmware.wasmBytes)} (${n(r.firmware.gzipBytes)})`, ovmf ? `${n(ovmf.bytes)} (${n(ovmf.gzipBytes)})` : "not installed"],
      ["guest instructions to the kernel's entry", n(r.pvh?.instructions?.kernelEntry), n(min?.instructions?.kernelEntry), n(k.instructions?.kernelEntry), "—"],
      ["guest instructions to `Linux version`", n(r.pvh?.instructions?.linuxVersion), n(min?.instructions?.linuxVersion), n(k.instructions?.linuxVersion), "—"],
      ["wall time of the run (ms)", n(r.pvh?.wallMs), n(min?.wallMs), n(k.wallMs), "—"],
    ],
  };
}

/** The first table's AArch64 counterpart: the arm64 kernel through its boot protocol, the minimal and the whole firmware. */
export function comparisonArm64(r: Report): { head: string[]; rows: string[][] } | undefined {
  const f = r.arm64?.first;
  if (!f) return undefined;
  const min = f.minimal;
  const n = (v: number | null | undefined) => (v === null || v === undefined ? "—" : v.toLocaleString("en-US"));
  const tables = r.abi.guestVisibleTableBytes + f.efiDtbBytes;
  return {
    head: ["", "arm64 boot protocol (no firmware)", `EFI entry, ablated minimum${min ? ` (${min.services.length} services)` : ""}`, "ueficorn, whole firmware", "AAVMF"],
    rows: [
      ["EFI calls / services called", "0 / 0", min ? `${n(min.calls)} / ${min.servicesCalled}` : "—", `${n(f.whole.calls)} / ${f.whole.services}`, "not run here"],
      ["structures the hypervisor writes (bytes)", `${n(f.dtbBytes)} (device tree)`, `${n(tables)} (tables and device tree)`, `${n(tables)} (tables and device tree)`, "—"],
      ["firmware (bytes, gzipped)", "0", min ? `${n(min.wasmBytes)} (${n(min.gzipBytes)})` : "—", `${n(r.firmware.wasmBytes)} (${n(r.firmware.gzipBytes)})`, r.aavmf ? `${n(r.aavmf.bytes)} (${n(r.aavmf.gzipBytes)})` : "not installed"],
      ["guest instructions to the kernel's entry", n(f.direct.instructions?.kernelEntry), n(min?.instructions?.kernelEntry), n(f.whole.instructions?.kernelEntry), "—"],
      ["guest instructions to `Linux version`", n(f.direct.instructions?.linuxVersion), n(min?.instructions?.linuxVersion), n(f.whole.instructions?.linuxVersion), "—"],
      ["wall time of the run (ms)", n(f.direct.wallMs), n(min?.wallMs), n(f.whole.wallMs), "—"],
    ],
  };
}

function markdown(r: Report): string {
  const L: string[] = [];
  const required = r.ablation.rows.filter((x) => x.verdict === "required");
  L.push("# ueficorn: what the EFI entry costs", "", `Generated ${r.generated} by \`npm run measure\`.`, "");
  const t = comparison(r);
  if (t) {
    L.push(`The same kernel (${r.ablation.guest}), each run to ${r.ablation.criterion} (PVH: to \`Linux version\`). Structures: what the hypervisor writes for the guest to read (PVH: hvm_start_info, its tables and the command line; EFI: the system table, boot and runtime services tables and the protocols it installs). Instructions counted in runs of their own; times are wall time of one run on this machine.`, "");
    L.push(`| ${t.head.join(" | ")} |`, `|---|${t.head.slice(1).map(() => "---:").join("|")}|`);
    for (const row of t.rows) L.push(`| ${row.join(" | ")} |`);
    L.push("");
  }
  const a = comparisonArm64(r);
  if (a) {
    L.push(`On AArch64, the same firmware WASM and ${r.arm64!.guest}, each run to ${r.arm64!.criterion} (the boot protocol: to \`Linux version\`). The hypervisor writes a device tree either way; the EFI entry adds the firmware's tables. Instructions counted in the same process as the run.`, "");
    L.push(`| ${a.head.join(" | ")} |`, `|---|${a.head.slice(1).map(() => "---:").join("|")}|`);
    for (const row of a.rows) L.push(`| ${row.join(" | ")} |`);
    L.push("");
  }
  if (r.ablation.rows.length) {
    L.push("## The answer", "", `For ${r.ablation.guest}, success = ${r.ablation.criterion}.`,
      `Of the ${r.ablation.rows.length} services it calls, **${required.length} are required**: ${required.map((x) => `\`${x.service}\``).join(", ")}. The others can answer with an error.`,
      "(RT.SetVirtualAddressMap is required by the criterion itself: without it the kernel keeps running on physical runtime addresses.)", "");
  }
  if (r.kernels.length) {
    const t = kernelTable(r.kernels);
    L.push("## The answer per kernel", "", `Each Debian kernel setup fetches, through its EFI stub to ${KERNEL_SUCCESS} (its services ablated one by one against that criterion), and through PVH to \`Linux version\` (the host decompressing the bzImage's payload). Instructions and times from one run each on a pool of worker processes, one per core (instruction counts vary by a few per cent with the host clock).`, "");
    L.push(`| ${t.head.map(mdCell).join(" | ")} |`, `|---|${t.head.slice(1).map(() => "---").join("|")}|`);
    for (const row of t.rows) L.push(`| ${row.map(mdCell).join(" | ")} |`);
    L.push("");
  }
  if (r.chains.length) {
    // Service by chain: required (the chain does not reach the criterion without it), tolerated, or not called.
    const kernelUse = r.guests.find((g) => g.name === r.ablation.guest);
    const direct = { guest: `${r.ablation.guest ?? "kernel"}, directly`, rows: r.ablation.rows, perService: kernelUse?.perService ?? {} };
    const cols = [direct, ...r.chains];
    const services = [...new Set(cols.flatMap((c) => Object.keys(c.perService)))].sort();
    const cell = (c: (typeof cols)[number], s: string) => {
      const row = c.rows.find((x) => x.service === s);
      return row ? row.verdict : s in c.perService ? "called" : "—";
    };
    L.push("## The answer per boot chain", "", `The same kernel booted directly (the image handed to the firmware) and through boot chains from an EFI system partition, each to the same criterion (${r.ablation.criterion}). A service is *required* when the chain does not get there with the service answering as a firmware without it would; *called* when the chain used it but no ablation was run; — when the chain never called it.`, "");
    for (const c of r.chains) {
      const req = c.rows.filter((x) => x.verdict === "required").length;
      L.push(`- ${c.guest}: ${c.succeeded ? "reaches the criterion" : "does not reach the criterion"} (${mdCell(c.ending)}); ${c.calls} EFI calls to ${Object.keys(c.perService).length} services${c.rows.length ? `, ${req} required` : ""}.`);
    }
    L.push("", `| service | ${cols.map((c) => mdCell(c.guest)).join(" | ")} |`, `|---|${cols.map(() => "---").join("|")}|`);
    for (const s of services) L.push(`| ${s} | ${cols.map((c) => cell(c, s)).join(" | ")} |`);
    L.push("");
  }
  if (r.arm64) {
    const a = r.arm64, required = a.rows.filter((x) => x.verdict === "required");
    L.push("## The same firmware on AArch64", "", `${a.guest}, booted by the same firmware WASM on an AArch64 CPU: ${a.succeeded ? "reaches" : "does not reach"} the criterion (${a.criterion}; ${mdCell(a.ending)}) with ${a.calls} EFI calls to ${Object.keys(a.perService).length} services.` +
      (a.rows.length ? ` **${required.length} are required**: ${required.map((x) => `\`${x.service}\``).join(", ")}.` : ""), "");
    if (a.rows.length) {
      L.push("| service | calls | answered with | verdict | outcome |", "|---|---:|---|---|---|");
      for (const x of a.rows) L.push(`| ${x.service} | ${x.calls} | ${x.answeredWith} | ${x.verdict} | ${mdCell(x.outcome)} |`);
      L.push("");
    }
  }
  L.push("## Firmware size", "", `Release WASM: **${r.firmware.wasmBytes} bytes** (${r.firmware.gzipBytes} gzipped), ${r.firmware.functions} functions.`, "");
  L.push("| group | AssemblyScript lines | code bytes | functions | services |", "|---|---:|---:|---:|---:|");
  for (const [g, v] of Object.entries(r.firmware.groups).sort((a, b) => b[1].bytes - a[1].bytes)) L.push(`| ${g} | ${v.lines} | ${v.bytes} | ${v.functions} | ${v.services || ""} |`);
  L.push("", "(code bytes: function bodies of a build with names and the release build's optimisation; a function the optimiser inlined counts in its caller's group)", "");
  L.push("## Static ABI surface", "", `Trap ids: ${r.abi.trapIds} (${r.abi.thunkBytes} bytes of thunks). Guest-visible tables: ${r.abi.guestVisibleTableBytes} bytes.`, "");
  L.push("| table | slots | implemented | stubbed |", "|---|---:|---:|---|");
  for (const t of r.abi.tables) L.push(`| ${t.table} (${t.struct}, ${t.structBytes} B) | ${t.slots} | ${t.implemented} | ${t.stubbed.join(", ")} |`);
  if (r.probed.ueficorn) {
    const u = r.probed.ueficorn;
    L.push("", `Offered to an application (found by guests/abiprobe.c): ${u.handles ?? "?"} handles with ${Object.keys(u.protocols).join(", ")}; configuration tables ${u.configTables.join(", ")}. With --initrd, a LoadFile2 handle with its device path as well.`);
  }
  L.push("");
  L.push("## What each guest uses", "",
    "Guest instructions are counted by a native Unicorn code hook (a `rep` string instruction counts once per iteration); a kernel's entry is ExitBootServices returning SUCCESS to its EFI stub. " +
    "Tables read are the fields of the system table and the runtime services table, and the configuration tables whose pointer the guest read, seen by mapping their page as MMIO for the run (host/table-watch.ts).", "");
  for (const g of r.guests) {
    L.push(`### ${g.name}`, "", `${g.ending}; ${g.calls} EFI calls, ${g.boundaryBytes} bytes across the boundary, ${g.wallMs} ms of wall time (timed in a run of its own, without the counting and watching).`, "");
    const n = instructionsLine(g.instructions);
    if (n) L.push(n, "");
    L.push("| service | calls |", "|---|---:|");
    for (const [s, n] of Object.entries(g.perService).sort((a, b) => b[1] - a[1])) L.push(`| ${s} | ${n} |`);
    const gs = Object.entries(g.guids);
    if (gs.length) L.push("", "GUIDs asked for: " + gs.map(([k, v]) => `${k} (${v.found} found, ${v.notFound} not)`).join("; "));
    if (g.configTablesInstalled.length) L.push("", "Configuration tables installed: " + g.configTablesInstalled.join(", "));
    L.push(...tablesReadLines(g.tablesRead));
    if (g.variablesRead.length) L.push("", "Variables read: " + g.variablesRead.join(", "));
    if (g.variablesWritten.length) L.push("", "Variables written: " + g.variablesWritten.join(", "));
    if (g.stubbedHit.length) L.push("", "Stubbed services hit: " + g.stubbedHit.join(", "));
    L.push("");
  }
  if (r.ablation.rows.length) {
    L.push("## Ablation: the minimal ABI", "", `Each service the kernel used, answered instead with the error a firmware without it would give; criterion: ${r.ablation.criterion}.`, "");
    L.push("| service | calls | answered with | verdict | what happens |", "|---|---:|---|---|---|");
    for (const x of r.ablation.rows) L.push(`| ${x.service} | ${x.calls} | ${x.answeredWith} | ${x.verdict} | ${mdCell(x.outcome)} |`);
    L.push("");
  }
  if (r.minimal.length) {
    L.push("## The minimal firmware, built", "",
      `The same firmware built with only these services in its dispatcher (scripts/minimal-firmware.ts; every other slot answers NOT_FOUND or UNSUPPORTED, and the compiler drops what nothing reaches), then booted: the first to the criterion above, the second with the initrd to the test /init in userspace. The full firmware: ${r.firmware.wasmBytes} bytes (${r.firmware.gzipBytes} gzipped).`, "");
    L.push("| services | WASM bytes | gzipped | boots | ending |", "|---|---:|---:|---|---|");
    for (const m of r.minimal) L.push(`| ${m.services.join(", ")} | ${m.wasmBytes} | ${m.gzipBytes} | ${m.boots ? "yes" : "no"} | ${mdCell(m.outcome)} |`);
    L.push("");
  }
  if (r.pvh) {
    L.push("## PVH beside it", "", `The same kernel through Xen's PVH entry: ${r.pvh.calls} calls across the boundary; ${r.pvh.ending} after ${r.pvh.wallMs} ms (timed in a run of its own; instructions counted in a fresh process).`);
    const n = instructionsLine(r.pvh.instructions);
    if (n) L.push("", n);
    L.push("", "What the hypervisor writes for it instead of offering services:", "", "| structure | bytes |", "|---|---:|");
    for (const [k, v] of Object.entries(r.pvh.abiBytes)) L.push(`| ${k} | ${v} |`);
    L.push(`| total | ${Object.values(r.pvh.abiBytes).reduce((a, b) => a + b, 0)} |`, "");
  }
  L.push("## OVMF beside it", "");
  const u = r.probed.ueficorn, v = r.probed.ovmf;
  if (u) {
    L.push("What the same probe guest (guests/abiprobe.c) finds under each firmware:", "");
    L.push("| | ueficorn | OVMF |", "|---|---|---|");
    const cell = (x: ProbedAbi | undefined, f: (a: ProbedAbi) => string) => (x ? f(x) : r.probed.ovmfError ?? "n/a");
    L.push(`| firmware | ${u.firmware} | ${cell(v, (a) => a.firmware)} |`);
    L.push(`| boot / runtime service slots filled | ${u.bsSlots} / ${u.rtSlots} | ${cell(v, (a) => `${a.bsSlots} / ${a.rtSlots}`)} |`);
    L.push(`| configuration tables | ${u.configTables.length}: ${u.configTables.join(", ")} | ${cell(v, (a) => `${a.configTables.length}: ${a.configTables.join(", ")}`)} |`);
    L.push(`| handles | ${u.handles ?? "?"} | ${cell(v, (a) => String(a.handles ?? "?"))} |`);
    const protos = (a: ProbedAbi) => `${Object.keys(a.protocols).length} distinct, ${Object.values(a.protocols).reduce((x, y) => x + y, 0)} instances`;
    L.push(`| protocols | ${protos(u)} | ${cell(v, protos)} |`);
    const mm = (a: ProbedAbi) => Object.entries(a.memmap).map(([t, m]) => `${t} ${m.ranges}×/${m.pages}p`).join(", ");
    L.push(`| memory map (type ranges×/pages) | ${mm(u)} | ${cell(v, mm)} |`, "");
    if (v) L.push("Protocols OVMF offers: " + Object.entries(v.protocols).sort((a, b) => b[1] - a[1]).map(([g, n]) => `${g} ×${n}`).join(", "), "");
  }
  if (r.ovmf.length) {
    L.push("| file | bytes | gzipped |", "|---|---:|---:|");
    for (const f of r.ovmf) L.push(`| ${f.file} | ${f.bytes} | ${f.gzipBytes} |`);
    L.push("", `ueficorn's firmware is ${(r.firmware.wasmBytes / r.ovmf[0].bytes * 100).toFixed(2)}% of OVMF_CODE.fd (${(r.firmware.gzipBytes / r.ovmf[0].gzipBytes * 100).toFixed(2)}% gzipped).`);
  } else L.push("OVMF is not installed (`bash scripts/setup.sh --bench-tools`).");
  L.push("");
  return L.join("\n");
}

function bars(title: string, rows: [string, number][], unit: string): string {
  const max = Math.max(1, ...rows.map((r) => r[1]));
  const h = 22;
  const items = rows.map(([label, v], i) => {
    const w = Math.round((v / max) * 360);
    return `<text x="0" y="${i * h + 15}" font-size="12">${esc(label)}</text><rect x="260" y="${i * h + 4}" width="${w}" height="14" fill="#4a7bd0"/><text x="${266 + w}" y="${i * h + 15}" font-size="12">${v} ${unit}</text>`;
  });
  return `<h3>${esc(title)}</h3><svg width="760" height="${rows.length * h + 8}" role="img" aria-label="${esc(title)}">${items.join("")}</svg>`;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

function comparisonHtml(r: Report): string {
  const cell = (c: string) => esc(c).replace(/`([^`]+)`/g, "<code>$1</code>");
  const table = (t: { head: string[]; rows: string[][] }) =>
    `<table class="answer"><thead><tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>` +
    t.rows.map((row) => `<tr>${row.map((c, i) => (i ? `<td>${cell(c)}</td>` : `<th>${cell(c)}</th>`)).join("")}</tr>`).join("") + "</tbody></table>";
  const tables = [comparison(r), comparisonArm64(r)].filter((t) => t !== undefined).map((t, i) => (i ? `<h3>AArch64</h3>` : "") + table(t!)).join("");
  return tables + (r.kernels.length ? `<h3>Per kernel</h3>${table(kernelTable(r.kernels))}` : "");
}

interface TimelineEvent { name: string; ph: string; ts?: number; dur?: number; cat?: string }

function readTimeline(path: string): TimelineEvent[] {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")).traceEvents as TimelineEvent[]) : [];
}

/** The kernel's run as a timeline (its trace file, host/timeline.ts): phases, each EFI call, each serial line. */
function timelineSvg(events: TimelineEvent[]): string {
  const timed = events.filter((e) => e.ts !== undefined);
  if (!timed.length) return "";
  const end = Math.max(...timed.map((e) => e.ts! + (e.dur ?? 0)));
  const W = 740, x = (us: number) => 10 + (us / end) * W;
  const phases = timed.filter((e) => e.cat === "phase").map((e, i) =>
    `<rect x="${x(e.ts!)}" y="20" width="${Math.max(1, x(e.ts! + e.dur!) - x(e.ts!))}" height="22" fill="${["#9ab7e8", "#f0b86e", "#8fd19e", "#d9a3e0"][i % 4]}"><title>${esc(e.name)}: ${((e.dur ?? 0) / 1000).toFixed(0)} ms</title></rect>` +
    `<text x="${x(e.ts!) + 3}" y="36" font-size="11">${esc(e.name)}</text>`);
  const ticks = (cat: string, y: number, color: string) => timed.filter((e) => e.cat === cat).map((e) =>
    `<rect x="${x(e.ts!)}" y="${y}" width="1" height="14" fill="${color}"><title>${esc(e.name)}</title></rect>`).join("");
  return `<h3>The kernel's boot as a timeline (${(end / 1000).toFixed(0)} ms; open kernel-trace.json in Perfetto for the detail)</h3>` +
    `<svg width="760" height="100" role="img" aria-label="timeline"><text x="10" y="14" font-size="11">phases</text>${phases.join("")}` +
    `<text x="10" y="58" font-size="11">EFI calls</text>${ticks("efi", 62, "#c0392b")}<text x="10" y="88" font-size="11">serial lines</text>${ticks("serial", 80, "#2c3e50")}</svg>`;
}

function html(r: Report, timeline: TimelineEvent[] = []): string {
  const md = markdown(r);
  const charts = [
    bars("Firmware code bytes per group", Object.entries(r.firmware.groups).filter(([, v]) => v.bytes).map(([g, v]) => [g, v.bytes] as [string, number]).sort((a, b) => b[1] - a[1]), "B"),
    bars("Service slots implemented per table", r.abi.tables.map((t) => [`${t.table} (of ${t.slots})`, t.implemented] as [string, number]), ""),
    ...r.guests.map((g) => bars(`EFI calls: ${g.name}`, Object.entries(g.perService).sort((a, b) => b[1] - a[1]), "")),
  ];
  const efi = r.guests.find((g) => g.instructions?.linuxVersion != null)?.instructions;
  const pvhN = r.pvh?.instructions;
  if (efi && pvhN?.linuxVersion != null) {
    charts.push(bars("Guest instructions to \"Linux version\"", [
      ["EFI path: to the kernel's entry", efi.kernelEntry ?? 0], ["EFI path: to \"Linux version\"", efi.linuxVersion!], ["PVH path: to \"Linux version\"", pvhN.linuxVersion],
    ], ""));
  }
  if (r.kernels.length) {
    charts.push(bars("Guest instructions to \"Linux version\" per kernel (millions): EFI stub and kernel, beside PVH", r.kernels.flatMap((k) => [
      [`${k.name}: EFI`, Math.round((k.efi.instructions?.linuxVersion ?? 0) / 1e6)], [`${k.name}: PVH`, Math.round((k.pvh.instructions?.linuxVersion ?? 0) / 1e6)],
    ] as [string, number][]), "M"));
  }
  if (r.ovmf.length) charts.push(bars("Firmware image bytes", [["ueficorn firmware.wasm", r.firmware.wasmBytes], ...r.ovmf.map((f) => [f.file.split("/").pop()!, f.bytes] as [string, number])], "B"));
  if (r.minimal.length) {
    charts.push(bars("The EFI entry, built small (WASM bytes; the kernel boots on each)", [
      [`full firmware (${r.abi.tables.reduce((a, t) => a + t.implemented, 0)} services)`, r.firmware.wasmBytes],
      ...r.minimal.filter((m) => m.boots).map((m) => [`${m.services.length} services`, m.wasmBytes] as [string, number]),
    ], "B"));
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ueficorn report</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}table.answer{border-collapse:collapse;margin:1rem 0}table.answer td,table.answer th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}table.answer tbody th{text-align:left;font-weight:normal}</style></head>
<body><h1>ueficorn: what the EFI entry costs</h1>${comparisonHtml(r)}${timelineSvg(timeline)}${charts.join("\n")}<h2>Full report</h2><pre>${esc(md)}</pre></body></html>\n`;
}
