// npm run bench: boot the same kernel with the same command line several ways, side by
// side in one run, and print min/median time to "Linux version" on the serial console
// with ratios against the first row. Timings are from process start, as a user sees them.
// For ueficorn's EFI and PVH paths, the in-process runs also time the kernel's entry,
// and one more run (a fresh CLI process) counts the guest instructions to the kernel's
// entry and to "Linux version" (not timed: counting costs ~3 ns per instruction).
//
//   tsx scripts/bench.ts [--runs N] [--json FILE] [--kernel PATH]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { extractVmlinux } from "../host/pvh/index.ts";
import { parseArgs } from "node:util";
import { DEFAULT_CMDLINE, DEFAULT_KERNEL } from "../host/defaults.ts";
import { countInFreshProcess, runImage, type InstructionCounts } from "../host/run.ts";

const { values: o } = parseArgs({
  options: { runs: { type: "string", default: "5" }, json: { type: "string" }, kernel: { type: "string", default: DEFAULT_KERNEL }, help: { type: "boolean", short: "h" } },
});
if (o.help) {
  console.log("usage: tsx scripts/bench.ts [--runs N] [--json FILE] [--kernel PATH]");
  process.exit(0);
}
const runs = Number(o.runs);
const kernel = o.kernel!;
const MILESTONE = /Linux version/;
const TIMEOUT_MS = 120_000;
const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd";

interface Row { name: string; ms: number[]; note?: string; efiCalls?: number; instructions?: InstructionCounts; entryMs?: number[] }

/** Spawn a command and time it until a stdout line matches; the process is then killed. */
function timeToLine(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let buf = "";
    const timer = setTimeout(() => { p.kill("SIGKILL"); reject(new Error(`${cmd}: no "Linux version" within ${TIMEOUT_MS} ms`)); }, TIMEOUT_MS);
    p.stdout.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      if (MILESTONE.test(buf)) {
        const ms = performance.now() - t0;
        clearTimeout(timer);
        p.kill("SIGKILL");
        resolve(ms);
      }
    });
    p.on("exit", () => { clearTimeout(timer); if (!MILESTONE.test(buf)) reject(new Error(`${cmd} exited before "Linux version"`)); });
  });
}

async function measure(name: string, cmd: string, args: string[]): Promise<Row> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`bench: ${name} run ${i + 1}/${runs}\r`);
    ms.push(await timeToLine(cmd, args));
  }
  return { name, ms };
}

const qemu = spawnSync("sh", ["-c", "command -v qemu-system-x86_64"]).status === 0;
const qemuArgs = ["-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-monitor", "none", "-kernel", kernel, "-append", DEFAULT_CMDLINE];

const rows: Row[] = [];
if (!existsSync(kernel)) throw new Error(`no kernel at ${kernel}: run npm run setup`);
rows.push(await measure("ueficorn EFI path (CLI process)", process.execPath, ["build/ueficorn.mjs", "boot", "--kernel", kernel, "--until", "Linux version"]));
rows.push(await measure("ueficorn PVH path (CLI process)", process.execPath, ["build/ueficorn.mjs", "boot", "--entry", "pvh", "--kernel", kernel, "--until", "Linux version"]));

// The same, in process: machine creation to the line, without Node and tsx start-up;
// then one run with the guest instructions counted, which is not timed.
function inProcess(name: string, entry: "efi" | "pvh"): Row {
  const boot = () => {
    const r = runImage(kernel, { entry, cmdline: DEFAULT_CMDLINE, timeBudgetMs: TIMEOUT_MS, stopOnSerial: MILESTONE });
    if (r.ending.kind !== "milestone") throw new Error(`${name} did not reach "Linux version": ${JSON.stringify(r.ending)}`);
    return r;
  };
  const ms: number[] = [];
  const entryMs: number[] = [];
  let efiCalls = 0;
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`bench: ${name} run ${i + 1}/${runs}\r`);
    const r = boot();
    ms.push(r.wallMs);
    entryMs.push(r.entryMs!);
    efiCalls = r.summary.calls;
  }
  process.stderr.write(`bench: ${name} counting instructions\r`);
  return { name, ms, efiCalls, entryMs, instructions: countInFreshProcess(kernel, entry, "Linux version") };
}

rows.push(inProcess("ueficorn EFI path (in process)", "efi"));
rows.push(inProcess("ueficorn PVH path (in process)", "pvh"));

if (qemu) {
  rows.push(await measure("QEMU TCG, direct bzImage boot", "qemu-system-x86_64", qemuArgs));
  // QEMU boots an uncompressed vmlinux with a PVH note through the PVH entry.
  const vmlinux = ".cache/kernel/vmlinux";
  if (!existsSync(vmlinux)) writeFileSync(vmlinux, extractVmlinux(readFileSync(kernel)).elf);
  rows.push(await measure("QEMU TCG, PVH (vmlinux)", "qemu-system-x86_64", qemuArgs.map((a) => (a === kernel ? vmlinux : a))));
  if (existsSync(OVMF_CODE)) {
    rows.push(await measure("QEMU TCG, OVMF (EFI stub)", "qemu-system-x86_64", ["-drive", `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, ...qemuArgs]));
  } else rows.push({ name: "QEMU TCG, OVMF", ms: [], note: `not measured: ${OVMF_CODE} missing (apt-get install ovmf)` });
} else {
  rows.push({ name: "QEMU TCG", ms: [], note: "not measured: qemu-system-x86_64 missing (apt-get install qemu-system-x86 ovmf)" });
}
process.stderr.write("\n");

const min = (a: number[]) => Math.min(...a);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const base = median(rows[0].ms);
console.log(`time from process start to "Linux version" on the serial console; ${runs} runs each; kernel ${kernel}`);
console.log(`${"".padEnd(36)} ${"min ms".padStart(8)} ${"median".padStart(8)} ${"vs row 1".padStart(9)}  EFI calls`);
for (const r of rows) {
  if (!r.ms.length) {
    console.log(`${r.name.padEnd(36)} ${r.note}`);
    continue;
  }
  const ratio = median(r.ms) / base;
  console.log(`${r.name.padEnd(36)} ${min(r.ms).toFixed(0).padStart(8)} ${median(r.ms).toFixed(0).padStart(8)} ${ratio.toFixed(2).padStart(8)}x  ${r.efiCalls ?? ""}`);
}
// One EFI call's round trip: the bundled CLI running a guest that calls
// GetNextMonotonicCount N times, less the same run with none. (The same code loaded
// through tsx costs about twice as much per call.) Target (issue 6): under 300 ns.
const CALLS = 1_000_000;
const timeRun = (n: number) => {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ["build/ueficorn.mjs", "run", "build/guests/callbench.efi", "--cmdline", `n=${n}`]);
  if (r.status !== 0) throw new Error(`callbench n=${n} failed: ${r.stderr}`);
  return performance.now() - t0;
};
const roundTrip: number[] = [];
for (let i = 0; i < runs; i++) roundTrip.push(((timeRun(CALLS) - timeRun(0)) * 1e6) / CALLS);
console.log(`one EFI call (guest → host → WASM → guest, ${CALLS} calls): min ${min(roundTrip).toFixed(0)} ns, median ${median(roundTrip).toFixed(0)} ns`);
// Where the time before the kernel goes: the EFI stub's work is the guest's (it
// decompresses the kernel itself), PVH's is the host's (decompressing and laying out
// the kernel before its first instruction).
console.log("to the kernel's entry (EFI: ExitBootServices returned SUCCESS; PVH: its first instruction), then to \"Linux version\":");
console.log(`${"".padEnd(36)} ${"entry ms".padStart(12)} ${"then ms".padStart(12)} ${"instructions".padStart(12)} ${"then".padStart(12)}`);
for (const r of rows) {
  if (!r.instructions || !r.entryMs) continue;
  const entry = median(r.entryMs), rest = median(r.ms.map((ms, i) => ms - r.entryMs![i]));
  const n = r.instructions;
  console.log(`${r.name.replace(" (in process)", "").padEnd(36)} ${entry.toFixed(0).padStart(12)} ${rest.toFixed(0).padStart(12)} ${String(n.kernelEntry).padStart(12)} ${String(n.linuxVersion! - n.kernelEntry!).padStart(12)}`);
}
if (o.json) writeFileSync(o.json, JSON.stringify({ kernel, runs, efiCallNs: { min: min(roundTrip), median: median(roundTrip) }, rows: rows.map((r) => ({ ...r, minMs: r.ms.length ? min(r.ms) : null, medianMs: r.ms.length ? median(r.ms) : null })) }, null, 2));
