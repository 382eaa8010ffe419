// npm run bench: boot each kernel several ways and compare them as a user would see it,
// from process start to a line on the serial console, as interleaved pairs (A B, B A,
// ...) so that a noisy shared machine slows both sides of a pair alike. Prints each
// pair's median ratio with its min and max, each side's median time and peak RSS, the
// start-up (process start to the guest's first instruction), where the EFI path's time
// goes (kernel entry; guest instructions, counted in a run that is not timed) and one
// EFI call's round trip; the same for Debian's arm64 kernel beside QEMU's arm64 virt board
// (its -kernel boot, and AAVMF); then each other x86 kernel setup fetches (Debian 12's
// generic, 13's and unstable's cloud kernels) to both lines through both entries, with
// --other-pairs pairs; writes all of it as JSON and, with --readme, regenerates the
// README's table from that JSON.
//
//   tsx scripts/bench.ts [--pairs N] [--other-pairs N] [--kernel PATH]... [--json FILE] [--readme]
//   tsx scripts/bench.ts --from FILE --readme     (the table from an earlier run)
//
// Measured commands run without NODE_EXTRA_CA_CERTS: Node reads that bundle before any
// JavaScript runs (about 40 ms on this machine) and ueficorn opens no TLS connection.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { extractVmlinux } from "../host/pvh/index.ts";
import { DEFAULT_CMDLINE, DEFAULT_KERNEL, KERNEL_NAMES, TEST_INITRD } from "../host/defaults.ts";
import { runImage } from "../host/run.ts";
import { countInFreshProcess } from "../host/fresh.ts";
import { libraryInfo } from "../host/unicorn/index.ts";

const { values: o } = parseArgs({
  options: {
    pairs: { type: "string", default: "7" },
    "other-pairs": { type: "string", default: "3" },
    kernel: { type: "string", multiple: true },
    json: { type: "string", default: "build/bench.json" },
    readme: { type: "boolean" },
    from: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (o.help) {
  console.log("usage: tsx scripts/bench.ts [--pairs N] [--other-pairs N] [--kernel PATH]... [--json FILE] [--readme]\n       tsx scripts/bench.ts --from FILE --readme");
  process.exit(0);
}

/** The targets issue 16 set: the EFI path against QEMU's direct boot, PVH against QEMU's PVH. */
const TARGETS = { efiVsDirect: 0.75, pvhVsQemuPvh: 1.0, startupMs: 60 };
const LINUX_VERSION = /Linux version/;
const USERSPACE = /init: hello from userspace/;
const TIMEOUT_MS = 120_000;
const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd";
const AAVMF_CODE = "/usr/share/AAVMF/AAVMF_CODE.fd";
/** Debian's arm64 kernel, as setup fetches it (issue 14). */
const ARM64_KERNEL = ".cache/kernel/arm64/vmlinuz";
/** The other x86 kernels setup fetches, each benched to both lines through both entries (the same targets hold). */
const OTHER_KERNELS = ["debian12-generic", "debian13", "unstable"].map((name) => KERNEL_NAMES[name]);
const README = "README.md";
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

interface Cmd { cmd: string; args: string[] }
interface Sample { ms: number; rssKiB: number }
interface Side { name: string; ms: number[]; rssKiB: number[] }
interface Pair { milestone: string; a: Side; b: Side; ratios: number[]; target?: number }
interface KernelResult {
  kernel: string;
  /** A kernel benched briefly: both lines through both entries, no start-up or breakdown. */
  brief?: boolean;
  pairs: Pair[];
  ovmf?: Side;
  startupMs: number[];
  breakdown: { entry: "efi" | "pvh"; entryMs: number; thenMs: number; efiCalls: number; instructionsToEntry: number | null; instructionsThen: number | null }[];
}
interface Bench {
  date: string; cores: number; unicorn: string; qemu: string | null; node: string; pairs: number; otherPairs?: number;
  kernels: KernelResult[]; efiCallNs?: { min: number; median: number };
  /** The arm64 kernel beside QEMU's virt board: its -kernel boot (paired), AAVMF (3 runs). */
  arm64?: { kernel: string; pairs: Pair[]; aavmf?: Side };
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const min = (a: number[]) => Math.min(...a);
const max = (a: number[]) => Math.max(...a);

/** Peak resident set of a live process (VmHWM), in KiB; 0 if it is gone. */
function peakRss(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Spawn a command and time it until a stdout line matches; its peak RSS is read then, and it is killed. */
function timeToLine(c: Cmd, line: RegExp): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(c.cmd, c.args, { stdio: ["ignore", "pipe", "pipe"], env });
    let buf = "";
    let err = "";
    const timer = setTimeout(() => { p.kill("SIGKILL"); reject(new Error(`${c.cmd} ${c.args.join(" ")}: no ${line} within ${TIMEOUT_MS} ms`)); }, TIMEOUT_MS);
    p.stderr.on("data", (d: Buffer) => { err += d.toString("latin1"); });
    p.stdout.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      if (line.test(buf)) {
        const ms = performance.now() - t0;
        const rssKiB = peakRss(p.pid!);
        clearTimeout(timer);
        p.kill("SIGKILL");
        resolve({ ms, rssKiB });
      }
    });
    p.on("exit", (code) => {
      clearTimeout(timer);
      if (!line.test(buf)) reject(new Error(`${c.cmd} ${c.args.join(" ")} exited (${code}) before ${line}: ${err.trim().split("\n").slice(-3).join(" | ")}`));
    });
  });
}

async function pair(milestone: RegExp, a: [string, Cmd], b: [string, Cmd], n: number, target?: number): Promise<Pair> {
  const A: Side = { name: a[0], ms: [], rssKiB: [] }, B: Side = { name: b[0], ms: [], rssKiB: [] };
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) {
    process.stderr.write(`bench: ${a[0]} / ${b[0]} to ${milestone.source}, pair ${i + 1}/${n}\x1b[K\r`);
    // Alternate which side goes first, so neither always runs on a cache the other warmed.
    let sa: Sample, sb: Sample;
    if (i % 2 === 0) {
      sa = await timeToLine(a[1], milestone);
      sb = await timeToLine(b[1], milestone);
    } else {
      sb = await timeToLine(b[1], milestone);
      sa = await timeToLine(a[1], milestone);
    }
    A.ms.push(sa.ms); A.rssKiB.push(sa.rssKiB); B.ms.push(sb.ms); B.rssKiB.push(sb.rssKiB);
    ratios.push(sa.ms / sb.ms);
  }
  return { milestone: milestone.source, a: A, b: B, ratios, target };
}

/** The kernel's vmlinux (QEMU's PVH entry takes only an ELF), extracted once into .cache/bench. */
function vmlinuxOf(kernel: string): string {
  const real = realpathSync(kernel);
  const out = `.cache/bench/${basename(real)}-${basename(real.replace(/\/[^/]*$/, ""))}.vmlinux`;
  if (!existsSync(out)) {
    mkdirSync(".cache/bench", { recursive: true });
    writeFileSync(out, extractVmlinux(readFileSync(kernel)).elf);
  }
  return out;
}

function commandOutput(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? r.stdout : null;
}

async function benchKernel(kernel: string, n: number, qemu: boolean, brief = false): Promise<KernelResult> {
  if (!existsSync(kernel)) throw new Error(`no kernel at ${kernel}: run npm run setup`);
  const vmlinux = vmlinuxOf(kernel);
  const node = (...args: string[]): Cmd => ({ cmd: process.execPath, args: ["build/ueficorn.cjs", "boot", ...args] });
  const qemuCmd = (k: string, ...extra: string[]): Cmd => ({
    cmd: "qemu-system-x86_64",
    args: ["-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-monitor", "none", "-kernel", k, "-append", DEFAULT_CMDLINE, ...extra],
  });
  const efi = (...x: string[]) => node("--kernel", kernel, ...x);
  const pvh = (...x: string[]) => node("--entry", "pvh", "--kernel", vmlinux, ...x);
  const initrd = ["--initrd", TEST_INITRD];
  const r: KernelResult = { kernel, brief: brief || undefined, pairs: [], startupMs: [], breakdown: [] };
  if (qemu && brief) {
    r.pairs.push(await pair(LINUX_VERSION, ["ueficorn EFI (bzImage)", efi()], ["QEMU direct (bzImage)", qemuCmd(kernel)], n, TARGETS.efiVsDirect));
    r.pairs.push(await pair(LINUX_VERSION, ["ueficorn PVH (vmlinux)", pvh()], ["QEMU PVH (vmlinux)", qemuCmd(vmlinux)], n, TARGETS.pvhVsQemuPvh));
    r.pairs.push(await pair(USERSPACE, ["ueficorn EFI (bzImage)", efi(...initrd)], ["QEMU direct (bzImage)", qemuCmd(kernel, "-initrd", TEST_INITRD)], n));
    r.pairs.push(await pair(USERSPACE, ["ueficorn PVH (vmlinux)", pvh(...initrd)], ["QEMU PVH (vmlinux)", qemuCmd(vmlinux, "-initrd", TEST_INITRD)], n));
    return r;
  }
  if (qemu) {
    r.pairs.push(await pair(LINUX_VERSION, ["ueficorn EFI (bzImage)", efi()], ["QEMU direct (bzImage)", qemuCmd(kernel)], n, TARGETS.efiVsDirect));
    r.pairs.push(await pair(LINUX_VERSION, ["ueficorn PVH (vmlinux)", pvh()], ["QEMU PVH (vmlinux)", qemuCmd(vmlinux)], n, TARGETS.pvhVsQemuPvh));
    r.pairs.push(await pair(USERSPACE, ["ueficorn EFI (bzImage)", efi(...initrd)], ["QEMU direct (bzImage)", qemuCmd(kernel, "-initrd", TEST_INITRD)], n));
    r.pairs.push(await pair(USERSPACE, ["ueficorn PVH (vmlinux)", pvh(...initrd)], ["QEMU PVH (vmlinux)", qemuCmd(vmlinux, "-initrd", TEST_INITRD)], n));
    // What delivering interrupts while the guest runs costs (the IRQ gate's block hook, and
    // the kernel's own work on the ticks it now gets), against delivery only at halts.
    r.pairs.push(await pair(USERSPACE, ["ueficorn PVH (vmlinux)", pvh(...initrd)], ["ueficorn PVH, interrupts only at halts", pvh(...initrd, "--interrupts-at-halt")], n));
    if (existsSync(OVMF_CODE)) {
      // OVMF takes seconds a boot: three runs, beside the EFI path's, not paired.
      const ovmf: Side = { name: "QEMU OVMF", ms: [], rssKiB: [] };
      for (let i = 0; i < 3; i++) {
        process.stderr.write(`bench: QEMU OVMF run ${i + 1}/3\x1b[K\r`);
        const s = await timeToLine(qemuCmd(kernel, "-drive", `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`), LINUX_VERSION);
        ovmf.ms.push(s.ms); ovmf.rssKiB.push(s.rssKiB);
      }
      r.ovmf = ovmf;
    }
  } else {
    r.pairs.push(await pair(LINUX_VERSION, ["ueficorn EFI", efi()], ["ueficorn PVH", pvh()], n));
  }
  // Start-up: the CLI's own clock, process start to the guest's first instruction.
  for (let i = 0; i < n; i++) {
    process.stderr.write(`bench: start-up ${i + 1}/${n}\x1b[K\r`);
    const p = spawnSync(efi().cmd, [...efi().args, "--until", "Linux version", "--json"], { encoding: "utf8", env, maxBuffer: 64 << 20 });
    if (p.status !== 0) throw new Error(`start-up run failed (exit ${p.status}): ${p.stderr}`);
    r.startupMs.push(JSON.parse(p.stdout).startupMs);
  }
  // Where the time goes, in process: machine creation to the kernel's entry, then to the line.
  for (const entry of ["efi", "pvh"] as const) {
    const image = entry === "efi" ? kernel : vmlinux;
    const entryMs: number[] = [], thenMs: number[] = [];
    let efiCalls = 0;
    for (let i = 0; i < n; i++) {
      process.stderr.write(`bench: ${entry} in process ${i + 1}/${n}\x1b[K\r`);
      const x = runImage(image, { entry, cmdline: DEFAULT_CMDLINE, timeBudgetMs: TIMEOUT_MS, stopOnSerial: LINUX_VERSION });
      if (x.ending.kind !== "milestone") throw new Error(`${entry} did not reach "Linux version": ${JSON.stringify(x.ending)}`);
      entryMs.push(x.entryMs!); thenMs.push(x.wallMs - x.entryMs!); efiCalls = x.summary.calls;
    }
    const c = countInFreshProcess(image, entry, "Linux version");
    r.breakdown.push({
      entry, entryMs: median(entryMs), thenMs: median(thenMs), efiCalls,
      instructionsToEntry: c.kernelEntry, instructionsThen: c.linuxVersion === null || c.kernelEntry === null ? null : c.linuxVersion - c.kernelEntry,
    });
  }
  return r;
}

/**
 * Debian's arm64 kernel: ueficorn's EFI path and its direct entry (the arm64 boot
 * protocol), each paired with QEMU's virt board booting the same Image with -kernel (its
 * own direct boot), then QEMU with AAVMF (the reference firmware) booting it, not paired.
 */
async function benchArm64(n: number): Promise<NonNullable<Bench["arm64"]>> {
  const cmdline = "console=ttyAMA0";
  const node = (...args: string[]): Cmd => ({ cmd: process.execPath, args: ["build/ueficorn.cjs", "boot", "--kernel", ARM64_KERNEL, "--cmdline", cmdline, ...args] });
  const qemu = (...extra: string[]): Cmd => ({
    cmd: "qemu-system-aarch64",
    args: ["-M", "virt", "-cpu", "cortex-a72", "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-monitor", "none", "-kernel", ARM64_KERNEL, "-append", cmdline, ...extra],
  });
  const r: NonNullable<Bench["arm64"]> = { kernel: ARM64_KERNEL, pairs: [] };
  r.pairs.push(await pair(LINUX_VERSION, ["ueficorn EFI (Image)", node()], ["QEMU virt -kernel (Image)", qemu()], n));
  r.pairs.push(await pair(LINUX_VERSION, ["ueficorn direct (Image)", node("--entry", "direct")], ["QEMU virt -kernel (Image)", qemu()], n));
  if (existsSync(AAVMF_CODE)) {
    const aavmf: Side = { name: "QEMU AAVMF", ms: [], rssKiB: [] };
    for (let i = 0; i < 3; i++) {
      process.stderr.write(`bench: QEMU AAVMF run ${i + 1}/3\x1b[K\r`);
      const s = await timeToLine(qemu("-drive", `if=pflash,format=raw,readonly=on,file=${AAVMF_CODE}`), LINUX_VERSION);
      aavmf.ms.push(s.ms); aavmf.rssKiB.push(s.rssKiB);
    }
    r.aavmf = aavmf;
  }
  return r;
}

/** One EFI call's round trip: a guest calling GetNextMonotonicCount N times, less the same run with none. */
function efiCallNs(n: number): { min: number; median: number } {
  const CALLS = 1_000_000;
  const timeRun = (calls: number) => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ["build/ueficorn.cjs", "run", "build/guests/callbench.efi", "--cmdline", `n=${calls}`], { env });
    if (r.status !== 0) throw new Error(`callbench n=${calls} failed: ${r.stderr}`);
    return performance.now() - t0;
  };
  const ns: number[] = [];
  for (let i = 0; i < n; i++) ns.push(((timeRun(CALLS) - timeRun(0)) * 1e6) / CALLS);
  return { min: min(ns), median: median(ns) };
}

// ---- presenting ------------------------------------------------------------------------

const ms = (x: number) => `${x.toFixed(0)} ms`;
const mib = (kib: number[]) => `${(median(kib) / 1024).toFixed(0)} MiB`;
const ratio = (p: Pair) => `**${median(p.ratios).toFixed(2)}×** (${min(p.ratios).toFixed(2)}–${max(p.ratios).toFixed(2)})`;
const verdict = (p: Pair) => (p.target === undefined ? "" : median(p.ratios) <= p.target ? `≤ ${p.target}: met` : `≤ ${p.target}: **not met**`);
const milestoneName = (m: string) => (m === LINUX_VERSION.source ? "`Linux version`" : "test `/init`");

/** The README's section, as Markdown, from a bench's JSON. */
function table(b: Bench): string {
  const lines = [
    `Measured with \`npm run bench\` on ${b.date} (${b.cores} cores, Unicorn ${b.unicorn}, ${b.qemu ?? "no QEMU"}, Node ${b.node}; ` +
      `${b.pairs} interleaved pairs each, from process start to the serial line; ratio = ueficorn's time / the other's, median (min–max)):`,
    "",
  ];
  for (const k of b.kernels) {
    lines.push(`Kernel \`${k.kernel}\`${k.brief ? ` (${b.otherPairs ?? b.pairs} pairs each)` : ""}:`, "", "| to | ueficorn | vs | ratio | target | ueficorn median, peak RSS | other median, peak RSS |", "|---|---|---|---|---|---|---|");
    for (const p of k.pairs) {
      lines.push(`| ${milestoneName(p.milestone)} | ${p.a.name} | ${p.b.name} | ${ratio(p)} | ${verdict(p)} | ${ms(median(p.a.ms))}, ${mib(p.a.rssKiB)} | ${ms(median(p.b.ms))}, ${mib(p.b.rssKiB)} |`);
    }
    if (k.ovmf) {
      const efi = k.pairs[0].a;
      lines.push(`| \`Linux version\` | ${efi.name} | QEMU OVMF (3 runs, not paired) | ${(median(efi.ms) / median(k.ovmf.ms)).toFixed(2)}× | | ${ms(median(efi.ms))}, ${mib(efi.rssKiB)} | ${ms(median(k.ovmf.ms))}, ${mib(k.ovmf.rssKiB)} |`);
    }
    if (k.brief) {
      lines.push("");
      continue;
    }
    const s = median(k.startupMs);
    lines.push(
      "",
      `Start-up, process start to the guest's first instruction (\`--json\` \`startupMs\`): median ${ms(s)}, min ${ms(min(k.startupMs))} ` +
        `(target < ${TARGETS.startupMs} ms: ${s < TARGETS.startupMs ? "met" : "**not met**"}).`,
      "",
      "| in process (no Node start-up) | to the kernel's entry | guest instructions | then to `Linux version` | guest instructions | EFI calls |",
      "|---|---|---|---|---|---|",
    );
    for (const d of k.breakdown) {
      const name = d.entry === "efi" ? "EFI (entry: ExitBootServices returns)" : "PVH (entry: the kernel's first instruction)";
      lines.push(`| ${name} | ${ms(d.entryMs)} | ${d.instructionsToEntry?.toLocaleString("en-US") ?? "–"} | ${ms(d.thenMs)} | ${d.instructionsThen?.toLocaleString("en-US") ?? "–"} | ${d.efiCalls} |`);
    }
    lines.push("");
  }
  if (b.efiCallNs) lines.push(`One EFI call, guest → host → WASM → guest: median ${b.efiCallNs.median.toFixed(0)} ns (min ${b.efiCallNs.min.toFixed(0)}).`, "");
  if (b.arm64) {
    lines.push(`AArch64, kernel \`${b.arm64.kernel}\` (QEMU's \`virt\` board, cortex-a72, TCG):`, "", "| to | ueficorn | vs | ratio | ueficorn median, peak RSS | other median, peak RSS |", "|---|---|---|---|---|---|");
    for (const p of b.arm64.pairs) lines.push(`| ${milestoneName(p.milestone)} | ${p.a.name} | ${p.b.name} | ${ratio(p)} | ${ms(median(p.a.ms))}, ${mib(p.a.rssKiB)} | ${ms(median(p.b.ms))}, ${mib(p.b.rssKiB)} |`);
    if (b.arm64.aavmf) {
      const efi = b.arm64.pairs[0].a, a = b.arm64.aavmf;
      lines.push(`| \`Linux version\` | ${efi.name} | QEMU AAVMF (3 runs, not paired) | ${(median(efi.ms) / median(a.ms)).toFixed(2)}× | ${ms(median(efi.ms))}, ${mib(efi.rssKiB)} | ${ms(median(a.ms))}, ${mib(a.rssKiB)} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

const BEGIN = "<!-- bench: generated by `npm run bench -- --readme` from build/bench.json; do not edit -->";
const END = "<!-- bench: end -->";

function updateReadme(b: Bench): void {
  const text = readFileSync(README, "utf8");
  const i = text.indexOf(BEGIN), j = text.indexOf(END);
  if (i < 0 || j < i) throw new Error(`${README}: no section between "${BEGIN}" and "${END}"`);
  writeFileSync(README, text.slice(0, i + BEGIN.length) + "\n" + table(b) + text.slice(j));
  console.error(`bench: ${README} table regenerated`);
}

// ---- main ------------------------------------------------------------------------------

let bench: Bench;
if (o.from) {
  bench = JSON.parse(readFileSync(o.from, "utf8"));
} else {
  const n = Number(o.pairs);
  const qemuVersion = commandOutput("qemu-system-x86_64", ["--version"]);
  const qemu = qemuVersion !== null;
  if (!qemu) console.error("bench: qemu-system-x86_64 missing (npm run bench installs it with setup.sh --bench-tools): comparing ueficorn's paths only");
  bench = {
    date: new Date().toISOString().slice(0, 10), cores: cpus().length, unicorn: libraryInfo().version,
    qemu: qemuVersion ? qemuVersion.split("\n")[0].replace(/^QEMU emulator version (\S+).*/, "QEMU $1 TCG") : null,
    node: process.versions.node, pairs: n, otherPairs: Number(o["other-pairs"]), kernels: [],
  };
  for (const k of o.kernel ?? [DEFAULT_KERNEL]) bench.kernels.push(await benchKernel(k, n, qemu));
  if (!o.kernel) {
    for (const k of OTHER_KERNELS) {
      if (existsSync(k)) bench.kernels.push(await benchKernel(k, Number(o["other-pairs"]), qemu, true));
      else console.error(`bench: no ${k} (setup fetches it): not benched`);
    }
  }
  if (existsSync(ARM64_KERNEL) && commandOutput("qemu-system-aarch64", ["--version"]) !== null) bench.arm64 = await benchArm64(n);
  else console.error("bench: no arm64 kernel or no qemu-system-aarch64 (setup.sh and setup.sh --bench-tools fetch them): no AArch64 rows");
  bench.efiCallNs = efiCallNs(Math.min(n, 5));
  process.stderr.write("\x1b[K");
  mkdirSync("build", { recursive: true });
  writeFileSync(o.json!, JSON.stringify(bench, null, 2) + "\n");
  console.error(`bench: wrote ${o.json}`);
}
console.log(table(bench));
if (o.readme) updateReadme(bench);
const missed = bench.kernels.flatMap((k) => k.pairs.filter((p) => p.target !== undefined && median(p.ratios) > p.target));
if (missed.length) console.log(`targets not met: ${missed.map((p) => `${p.a.name} vs ${p.b.name} ${median(p.ratios).toFixed(2)}× > ${p.target}`).join("; ")}`);
