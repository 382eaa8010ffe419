// The answer per kernel (issue 12): each Debian kernel setup fetches, through its EFI stub
// and through PVH — what the stub calls and reads, which services it cannot boot without
// (the ablation, one boot per service), and the guest instructions and time to the
// kernel's entry and its banner — in one table, so that the EFI entry's demands can be
// compared across kernel generations.
//
// Every boot is a job for a pool of worker processes (workerpool, one per core): a process
// of its own per worker keeps each Unicorn engine and its native hooks apart, and a
// kernel's boots run beside another kernel's. build/measure-worker.cjs is the worker.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { SERVICES, minimalAnswer } from "../firmware/spec/services.ts";
import { STATUS, statusName } from "../firmware/spec/uefi.ts";
import { DEFAULT_CMDLINE, DEFAULT_KERNEL } from "./defaults.ts";
import { inspectFile } from "./inspect.ts";
import { guestUse, kernelSucceeded } from "./measure.ts";
import { ROOT } from "./paths.ts";
import { describeEnding, runImage, type InstructionCounts } from "./run.ts";
import type { TablesRead } from "./table-watch.ts";

/** A kernel of the campaign, as setup fetches it. */
export interface KernelCase {
  name: string;
  path: string;
  /** Catch every code write (Unicorn.guardCodeWrites); no Debian kernel needs it. */
  guardCodeWrites?: boolean;
}

/** The x86 kernels setup fetches (those present). The installer's kernel is Debian 12's generic one, so it is not run twice. */
export function kernelCases(): KernelCase[] {
  const all: KernelCase[] = [
    { name: "Debian 12 cloud", path: join(ROOT, DEFAULT_KERNEL) },
    { name: "Debian 12 generic", path: join(ROOT, ".cache/kernel/generic/vmlinuz") },
    { name: "Debian 13 cloud", path: join(ROOT, ".cache/kernel/debian13/vmlinuz") },
    { name: "Debian unstable cloud", path: join(ROOT, ".cache/kernel/unstable/vmlinuz") },
  ];
  return all.filter((k) => existsSync(k.path));
}

/** One boot, as a worker runs it. */
export type KernelJob =
  | { kind: "efi"; kernel: KernelCase }
  | { kind: "pvh"; kernel: KernelCase }
  | { kind: "ablate"; kernel: KernelCase; service: string };

export interface EfiResult {
  ok: boolean;
  ending: string;
  calls: number;
  perService: Record<string, number>;
  variablesRead: string[];
  configTablesInstalled: string[];
  tablesRead?: TablesRead;
  instructions?: InstructionCounts;
  entryMs?: number;
  wallMs: number;
}
export interface PvhResult { reached: boolean; ending: string; instructions?: InstructionCounts; wallMs: number }
export interface AblateResult { service: string; answeredWith: string; required: boolean; ending: string }

/** The criterion (host/measure.ts kernelSucceeded) is met soon after this line, printed by vfs_caches_init. */
const CRITERION_LINE = /Mount-cache hash table entries/;
const BUDGET_MS = 300_000;

/** Run one job (in a worker process); the result is plain JSON. */
export function kernelJob(job: KernelJob): EfiResult | PvhResult | AblateResult {
  const k = job.kernel;
  const base = { cmdline: DEFAULT_CMDLINE, timeBudgetMs: BUDGET_MS, guardCodeWrites: k.guardCodeWrites };
  if (job.kind === "pvh") {
    const r = runImage(k.path, { ...base, entry: "pvh", stopOnSerial: /Linux version/, countInstructions: true });
    return { reached: r.ending.kind === "milestone", ending: describeEnding(r.ending), instructions: r.instructions, wallMs: Math.round(r.wallMs) };
  }
  if (job.kind === "ablate") {
    const svc = SERVICES.find((s) => `${s.table}.${s.name}` === job.service);
    if (!svc) throw new Error(`no service ${job.service}`);
    const answer = STATUS[minimalAnswer(job.service)];
    const r = runImage(k.path, { ...base, stopOnSerial: CRITERION_LINE, disabled: new Map([[svc.id, answer]]), keepCalls: true });
    return { service: job.service, answeredWith: statusName(answer), required: !kernelSucceeded(r), ending: describeEnding(r.ending) };
  }
  const r = runImage(k.path, { ...base, stopOnSerial: CRITERION_LINE, keepCalls: true, countInstructions: true, watchTables: true });
  const use = guestUse(k.name, r);
  return {
    ok: kernelSucceeded(r), ending: use.ending, calls: use.calls, perService: use.perService, variablesRead: use.variablesRead,
    configTablesInstalled: use.configTablesInstalled, tablesRead: use.tablesRead, instructions: r.instructions, entryMs: r.entryMs, wallMs: Math.round(r.wallMs),
  };
}

export interface KernelRow {
  name: string;
  path: string;
  version?: string;
  payload?: string;
  efi: EfiResult;
  pvh: PvhResult;
  /** Services the stub used, each answered with its minimal error in turn; empty when the ablation was not asked for. */
  ablation: AblateResult[];
}

/**
 * Boot every kernel through both entries, then ablate each one's services, all on a
 * pool of `workers` processes; `progress` hears each job as it ends.
 */
export async function kernelCampaign(o: { kernels?: KernelCase[]; ablation: boolean; workers?: number; progress: (msg: string) => void }): Promise<KernelRow[]> {
  const kernels = o.kernels ?? kernelCases();
  // Required, not imported: the CLI runs its bundle as a vm.Script (host/launch.cts),
  // where a dynamic import() of a package has no loader.
  const workerpool = createRequire(import.meta.url)("workerpool") as typeof import("workerpool");
  const script = join(ROOT, "build/measure-worker.cjs");
  if (!existsSync(script)) throw new Error(`${script} is missing: npm run build:host`);
  const pool = workerpool.pool(script, { workerType: "process", maxWorkers: o.workers ?? availableParallelism() });
  let done = 0, total = 0;
  const run = <T>(job: KernelJob): Promise<T> => {
    total++;
    return (pool.exec("kernelJob", [job]) as Promise<T>).then((r) => {
      o.progress(`kernels: ${++done}/${total} done (${job.kernel.name}, ${job.kind}${job.kind === "ablate" ? ` ${job.service}` : ""})`);
      return r;
    });
  };
  try {
    const firsts = await Promise.all(kernels.map(async (kernel) => {
      const [efi, pvh] = await Promise.all([run<EfiResult>({ kind: "efi", kernel }), run<PvhResult>({ kind: "pvh", kernel })]);
      return { kernel, efi, pvh };
    }));
    const ablations = await Promise.all(firsts.map(({ kernel, efi }) => {
      if (!o.ablation || !efi.ok) return Promise.resolve([]);
      const services = Object.keys(efi.perService).filter((s) => SERVICES.find((x) => `${x.table}.${x.name}` === s)?.sig.returns !== "VOID");
      return Promise.all(services.map((service) => run<AblateResult>({ kind: "ablate", kernel, service })));
    }));
    return firsts.map(({ kernel, efi, pvh }, i) => {
      const info = inspectFile(kernel.path);
      return { name: kernel.name, path: kernel.path, version: info.version ?? undefined, payload: info.entries.find((e) => /payload/.test(e)), efi, pvh, ablation: ablations[i] };
    });
  } finally {
    await pool.terminate();
  }
}

const n = (v: number | null | undefined) => (v == null ? "—" : v.toLocaleString("en-US"));
const m = (v: number | null | undefined) => (v == null ? "—" : (v / 1e6).toFixed(1) + " M");

/** The per-kernel table: a column per kernel, a row per measure. */
export function kernelTable(rows: KernelRow[]): { head: string[]; rows: string[][] } {
  const required = (r: KernelRow) => r.ablation.filter((a) => a.required).map((a) => a.service);
  const line = (label: string, f: (r: KernelRow) => string) => [label, ...rows.map(f)];
  return {
    head: ["", ...rows.map((r) => r.name)],
    rows: [
      line("version", (r) => r.version ?? "?"),
      line("bzImage payload", (r) => r.payload?.replace(/^.*payload /, "") ?? "?"),
      line("EFI: reaches the criterion", (r) => (r.efi.ok ? "yes" : `no: ${r.efi.ending}`)),
      line("EFI: calls / services", (r) => `${n(r.efi.calls)} / ${Object.keys(r.efi.perService).length}`),
      line("EFI: services required (ablation)", (r) => (r.ablation.length ? `${required(r).length}: ${required(r).join(", ")}` : "not run")),
      line("EFI: configuration tables read", (r) => r.efi.tablesRead?.configTables.join(", ") || "none"),
      line("EFI: table fields read", (r) => String(r.efi.tablesRead?.fields.length ?? "—")),
      line("EFI: variables read", (r) => r.efi.variablesRead.join(", ") || "none"),
      line("EFI: instructions to the kernel's entry", (r) => m(r.efi.instructions?.kernelEntry)),
      line("EFI: instructions to `Linux version`", (r) => m(r.efi.instructions?.linuxVersion)),
      line("EFI: ms to the entry / to the criterion (measured run)", (r) => `${n(r.efi.entryMs == null ? null : Math.round(r.efi.entryMs))} / ${n(r.efi.wallMs)}`),
      line("PVH: instructions to `Linux version`", (r) => m(r.pvh.instructions?.linuxVersion)),
      line("PVH: ms to `Linux version` (the host decompresses)", (r) => (r.pvh.reached ? n(r.pvh.wallMs) : `not reached: ${r.pvh.ending}`)),
    ],
  };
}
