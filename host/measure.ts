// `ueficorn measure`: what the EFI entry costs a hypervisor, measured. Static size and
// ABI surface of the firmware, the ABI each guest really uses, and the ablation that
// finds the services the kernel cannot boot without.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { childProcess, zlib } from "./lazy.ts";
import { dirname, join } from "node:path";
import { SERVICES, THUNK_SIZE, minimalAnswer } from "../firmware/spec/services.ts";
import { INTERFACES, MEMORY_TYPE, STATUS, STRUCTS, statusName } from "../firmware/spec/uefi.ts";
import { runImage, describeEnding, type InstructionCounts, type RunOptions, type RunResult } from "./run.ts";
import type { TablesRead } from "./table-watch.ts";
import { Firmware, FIRMWARE_WASM } from "./firmware.ts";
import { ROOT } from "./paths.ts";
import { nameOfGuid } from "./guids.ts";
import { DEFAULT_CMDLINE } from "./defaults.ts";
import { wasmFunctionSizes } from "./wasm-sizes.ts";

/**
 * A guest to run: an image (path), or, with no path, whatever the boot manager boots
 * from the disks and ESP folders given (a boot chain: loader, then kernel).
 */
export interface GuestSpec { name: string; path?: string; cmdline?: string; stopOnSerial?: RegExp; timeBudgetMs?: number; disks?: string[]; esp?: string[] }

/** runImage for a guest spec, with more options. */
export function runGuest(g: GuestSpec, more: RunOptions = {}): RunResult {
  return runImage(g.path, { cmdline: g.cmdline, stopOnSerial: g.stopOnSerial, timeBudgetMs: g.timeBudgetMs, disks: g.disks, esp: g.esp, ...more });
}

export interface GuestUse {
  name: string;
  ending: string;
  wallMs: number;
  calls: number;
  perService: Record<string, number>;
  stubbedHit: string[];
  guids: Record<string, { found: number; notFound: number }>;
  configTablesInstalled: string[];
  variablesRead: string[];
  variablesWritten: string[];
  /** 8 bytes per argument and per status, for every call: the words that cross the trap. */
  boundaryBytes: number;
  /** Guest instructions, when the run counted them (to the kernel's entry and banner for a kernel). */
  instructions?: InstructionCounts;
  /** Table fields and configuration tables read as memory, when the run watched them. */
  tablesRead?: TablesRead;
}

export interface AblationRow { service: string; calls: number; answeredWith: string; verdict: "required" | "tolerated"; outcome: string }

/** Lines of code that are not blank and not only a comment. */
function codeLines(path: string): number {
  return readFileSync(path, "utf8").split("\n").filter((l) => l.trim() && !/^\s*(\/\/|\*|\/\*)/.test(l)).length;
}

export function firmwareSize(namesWasm?: string) {
  const wasm = readFileSync(FIRMWARE_WASM);
  const groups: Record<string, { lines: number; bytes: number; functions: number; services: number }> = {};
  const group = (g: string) => (groups[g] ??= { lines: 0, bytes: 0, functions: 0, services: 0 });
  const files = [
    ...readdirSync(join(ROOT, "firmware/services")).map((f) => `firmware/services/${f}`),
    ...readdirSync(join(ROOT, "firmware")).filter((f) => f.endsWith(".ts")).map((f) => `firmware/${f}`),
    "firmware/spec/dispatch.ts", "firmware/spec/gen.ts",
  ].filter((f) => f.endsWith(".ts"));
  for (const f of files) group(f.replace(/^firmware\//, "").replace(/\.ts$/, "")).lines += codeLines(join(ROOT, f));
  let functions = 0;
  if (namesWasm && existsSync(namesWasm)) {
    // Function bodies per source module, from a build of the same code with a name section.
    for (const fn of wasmFunctionSizes(readFileSync(namesWasm))) {
      functions++;
      const m = /^firmware\/(.+?)\/[^/]+$/.exec(fn.name);
      const g = m ? m[1] : "runtime";
      group(g).bytes += fn.bytes;
      group(g).functions++;
    }
  }
  const fw = new Firmware(16 << 20, { consoleOut() {}, resetSystem() {}, callGuest: () => 0n, unwindGuest() {}, timeNs: () => 0n, timeSkip() {}, waitForever: () => { throw new Error("waits for ever"); }, keyNext: () => undefined, keyTake: () => undefined, randomFill() {}, codeWritten() {} });
  for (const s of SERVICES) if (!fw.stubbed(s.id)) {
    const mod = Object.keys(groups).find((g) => g.startsWith("services/") && readFileSync(join(ROOT, "firmware", g + ".ts"), "utf8").includes(`export function ${s.handler}(`));
    if (mod) groups[mod].services++;
  }
  return { wasmBytes: wasm.length, gzipBytes: zlib().gzipSync(wasm, { level: 9 }).length, functions, groups, stubbed: (id: number) => fw.stubbed(id) };
}

export function abiSurface(stubbed: (id: number) => boolean) {
  const tables = INTERFACES.map(({ table, struct }) => {
    const svcs = SERVICES.filter((s) => s.table === table);
    const impl = svcs.filter((s) => !stubbed(s.id));
    return { table, struct: struct.name, structBytes: struct.size, slots: svcs.length, implemented: impl.length, stubbed: svcs.filter((s) => stubbed(s.id)).map((s) => s.name) };
  });
  const guestVisible = ["EFI_SYSTEM_TABLE", "EFI_BOOT_SERVICES", "EFI_RUNTIME_SERVICES", "EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL", "SIMPLE_TEXT_OUTPUT_MODE",
    "EFI_SIMPLE_TEXT_INPUT_PROTOCOL", "EFI_LOADED_IMAGE_PROTOCOL", "EFI_LOAD_FILE2_PROTOCOL", "EFI_RT_PROPERTIES_TABLE"];
  const tableBytes = STRUCTS.filter((s) => guestVisible.includes(s.name)).reduce((a, s) => a + s.size, 0);
  return {
    trapIds: SERVICES.length,
    thunkBytes: SERVICES.length * THUNK_SIZE,
    tables,
    guestVisibleTableBytes: tableBytes,
  };
}

const guidArgs = new Set(["Protocol", "Guid", "VendorGuid", "EventGroup"]);

export function guestUse(name: string, r: RunResult): GuestUse {
  const guids: GuestUse["guids"] = {};
  const installed = new Set<string>();
  const read = new Set<string>();
  const written = new Set<string>();
  let boundary = 0;
  for (const c of r.calls) {
    boundary += 8 * (c.args.length + 1);
    const ok = c.status === "SUCCESS";
    for (const a of c.args) {
      // A NULL protocol (LocateHandle's AllHandles, say) asks for no GUID.
      if (!guidArgs.has(a.name) || a.text === "NULL") continue;
      const e = (guids[a.text] ??= { found: 0, notFound: 0 });
      if (ok) e.found++;
      else e.notFound++;
    }
    const arg = (n: string) => c.args.find((a) => a.name === n)?.text ?? "?";
    if (c.service === "BS.InstallConfigurationTable" && ok) installed.add(arg("Guid"));
    if (c.service === "RT.GetVariable") read.add(`${arg("VariableName")} (${c.status})`);
    if (c.service === "RT.SetVariable") written.add(`${arg("VariableName")} (${c.status})`);
  }
  return {
    name, ending: describeEnding(r.ending), wallMs: Math.round(r.wallMs), calls: r.summary.calls, perService: r.summary.perService,
    stubbedHit: r.summary.stubbedHit, guids, configTablesInstalled: [...installed], variablesRead: [...read], variablesWritten: [...written], boundaryBytes: boundary,
    instructions: r.instructions, tablesRead: r.tablesRead,
  };
}

/**
 * Rerun the guest with each service it used answered by `minimalAnswer` in turn; a
 * service is required when the run then misses `success`.
 */
export function ablation(g: GuestSpec, baseline: RunResult, success: (r: RunResult) => boolean, progress: (msg: string) => void): AblationRow[] {
  const rows: AblationRow[] = [];
  const used = Object.entries(baseline.summary.perService);
  for (const [i, [service, calls]] of used.entries()) {
    const svc = SERVICES.find((s) => `${s.table}.${s.name}` === service)!;
    if (svc.sig.returns === "VOID") continue;
    const answer = STATUS[minimalAnswer(service)];
    progress(`ablation ${i + 1}/${used.length}: ${service} → ${statusName(answer)}`);
    const r = runGuest(g, { disabled: new Map([[svc.id, answer]]), keepCalls: true });
    const ok = success(r);
    rows.push({ service, calls, answeredWith: statusName(answer), verdict: ok ? "tolerated" : "required", outcome: ok ? "boots as before" : outcome(r) });
  }
  return rows;
}

function outcome(r: RunResult): string {
  const stub = r.console.split(/\r?\n/).filter((l) => /EFI stub: (ERROR|WARNING)/.test(l)).at(-1);
  return stub ? `${stub.trim()}; ${describeEnding(r.ending)}` : describeEnding(r.ending);
}

export const KERNEL_SUCCESS = "`Linux version` printed and SetVirtualAddressMap returned SUCCESS";

export function kernelSucceeded(r: RunResult): boolean {
  return r.serial.some((l) => /Linux version/.test(l)) && r.calls.some((c) => c.service === "RT.SetVirtualAddressMap" && c.status === "SUCCESS");
}

export function kernelSpec(path: string): GuestSpec & { path: string } {
  // Stop soon after efi_enter_virtual_mode (start_kernel): vfs_caches_init prints this.
  return { name: "Debian 12 kernel (EFI stub)", path, cmdline: DEFAULT_CMDLINE, stopOnSerial: /Mount-cache hash table entries/, timeBudgetMs: 60000 };
}

/** Debian 12's arm64 cloud kernel, as setup fetches it (issue 14). */
export const ARM64_KERNEL = join(ROOT, ".cache/kernel/arm64/vmlinuz");

/**
 * The arm64 kernel's criterion: the counterpart of x86's SetVirtualAddressMap, which
 * arm64 Linux never calls. arm_enable_runtime_services prints this line once it has
 * mapped the runtime services with the memory map the stub handed over (and "EFI
 * services will not be available" when it cannot).
 */
export const ARM64_SUCCESS = "`Linux version` printed and `Remapping and enabling EFI services` reached";

export function arm64KernelSpec(path = ARM64_KERNEL): GuestSpec & { path: string } {
  return { name: "Debian 12 arm64 kernel (EFI stub)", path, cmdline: "console=ttyAMA0", stopOnSerial: /Remapping and enabling EFI services/, timeBudgetMs: 60000 };
}

export function arm64KernelSucceeded(r: RunResult): boolean {
  return r.serial.some((l) => /Linux version/.test(l)) && r.ending.kind === "milestone";
}

/** Debian's loaders, as setup fetches them. */
export const LOADERS_DIR = join(ROOT, ".cache/loaders");

/**
 * The same kernel booted through real boot chains, each an ESP folder presented with
 * --esp (host/fat-image.ts), under build/chains/: the firmware's boot manager starts
 * Debian's signed GRUB (grub.cfg beside it), or systemd-boot (a Boot Loader
 * Specification entry), which loads the kernel. The kernel's criterion is the same as
 * for the direct boot. Chains whose loader setup has not fetched are left out.
 */
export function chainSpecs(kernelPath: string, cmdline = DEFAULT_CMDLINE): GuestSpec[] {
  const base = kernelSpec(kernelPath);
  // Text, or { link }: a host file by reference (the FAT image reads it where it is).
  const make = (name: string, files: Record<string, string | { link: string }>): string => {
    const dir = join(ROOT, "build/chains", name);
    rmSync(dir, { recursive: true, force: true });
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      if (typeof content === "string") writeFileSync(join(dir, path), content);
      else symlinkSync(content.link, join(dir, path));
    }
    return dir;
  };
  const specs: GuestSpec[] = [];
  const grub = join(LOADERS_DIR, "grubx64.efi"), sdboot = join(LOADERS_DIR, "systemd-bootx64.efi");
  if (existsSync(grub)) {
    specs.push({ ...base, path: undefined, cmdline: undefined, name: "Debian 12 kernel through GRUB (boot manager, signed grubx64.efi, EFI stub)", esp: [make("grub", {
      "EFI/BOOT/BOOTX64.EFI": { link: grub },
      "EFI/BOOT/grub.cfg": `set timeout=0\nmenuentry 'Debian' {\n  linux /vmlinuz ${cmdline}\n}\n`,
      "vmlinuz": { link: kernelPath },
    })] });
  }
  if (existsSync(sdboot)) {
    specs.push({ ...base, path: undefined, cmdline: undefined, name: "Debian 12 kernel through systemd-boot (boot manager, systemd-bootx64.efi, EFI stub)", esp: [make("systemd-boot", {
      "EFI/BOOT/BOOTX64.EFI": { link: sdboot },
      "loader/loader.conf": "default debian.conf\ntimeout 0\n",
      "loader/entries/debian.conf": `title Debian\nlinux /vmlinuz\noptions ${cmdline}\n`,
      "vmlinuz": { link: kernelPath },
    })] });
  }
  return specs;
}

export function ovmfSizes() {
  const dir = "/usr/share/OVMF";
  const files = ["OVMF_CODE.fd", "OVMF_VARS.fd"].filter((f) => existsSync(join(dir, f)));
  return files.map((f) => ({ file: join(dir, f), bytes: statSync(join(dir, f)).size, gzipBytes: zlib().gzipSync(readFileSync(join(dir, f)), { level: 9 }).length }));
}

/**
 * AAVMF, OVMF's arm64 build as Debian ships it: its code volume is padded to the 64 MiB of
 * QEMU virt's flash with a fill byte; `bytes` is what is left without that padding.
 */
export function aavmfSize(): { file: string; bytes: number; gzipBytes: number } | undefined {
  const file = "/usr/share/AAVMF/AAVMF_CODE.fd";
  if (!existsSync(file)) return undefined;
  const all = readFileSync(file);
  const fill = all[all.length - 1];
  let end = all.length;
  while (end > 0 && all[end - 1] === fill) end--;
  return { file, bytes: end, gzipBytes: zlib().gzipSync(all.subarray(0, end), { level: 9 }).length };
}

/** What abiprobe (guests/abiprobe.c) printed, gathered. */
export interface ProbedAbi {
  firmware: string;
  bsSlots: number;
  rtSlots: number;
  configTables: string[];
  handles: number | null;
  protocols: Record<string, number>;
  memmap: Record<string, { ranges: number; pages: number }>;
}

const MEMORY_TYPE_NAME = Object.fromEntries(Object.entries(MEMORY_TYPE).map(([k, v]) => [String(v), k]));
/** A GUID's name (host/guids.ts), as the report prints it. */
export const guidName = nameOfGuid;

export function parseProbe(text: string): ProbedAbi {
  const abi: ProbedAbi = { firmware: "?", bsSlots: 0, rtSlots: 0, configTables: [], handles: null, protocols: {}, memmap: {} };
  let done = false;
  for (const line of text.split(/\r?\n/)) {
    const m = /^abi: (.*)$/.exec(line.trim());
    if (!m) continue;
    const f = m[1];
    let x: RegExpExecArray | null;
    if ((x = /^firmware (.*)$/.exec(f))) abi.firmware = x[1];
    else if ((x = /^tables bs-slots (\d+) rt-slots (\d+)$/.exec(f))) [abi.bsSlots, abi.rtSlots] = [Number(x[1]), Number(x[2])];
    else if ((x = /^config (\S+)$/.exec(f))) abi.configTables.push(guidName(x[1]));
    else if ((x = /^handles (\d+)$/.exec(f))) abi.handles = Number(x[1]);
    else if ((x = /^handle \d+ protocol (\S+)$/.exec(f))) abi.protocols[guidName(x[1])] = (abi.protocols[guidName(x[1])] ?? 0) + 1;
    else if ((x = /^memmap (\d+) ranges (\d+) pages (\d+)$/.exec(f))) abi.memmap[MEMORY_TYPE_NAME[x[1]] ?? x[1]] = { ranges: Number(x[2]), pages: Number(x[3]) };
    else if (f === "done") done = true;
  }
  if (!done) throw new Error("abiprobe output has no 'abi: done' line");
  return abi;
}

/** The services the kernel's initrd needs beyond the boot itself: the stub finds it through LoadFile2. */
export const INITRD_SERVICES = ["BS.LocateDevicePath", "LoadFile2.LoadFile"];

export interface MinimalFirmware {
  services: string[]; wasmBytes: number; gzipBytes: number; boots: boolean; outcome: string;
  /** The boot on it: EFI calls, services called, guest instructions, wall time. */
  calls: number; servicesCalled: number; instructions?: InstructionCounts; wallMs: number;
}

/**
 * Build the firmware with only `services` (scripts/minimal-firmware.ts, in a process of
 * its own: it compiles with asc) and boot `kernel` on it: does it still meet `success`?
 */
export function minimalFirmware(kernel: GuestSpec, services: string[], success: (r: RunResult) => boolean, initrd?: string): MinimalFirmware {
  const out = join(ROOT, "build/firmware.minimal.wasm");
  const b = childProcess().spawnSync(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "scripts/minimal-firmware.ts"), services.join(","), "--out", out, "--json"], { cwd: ROOT, encoding: "utf8" });
  if (b.status !== 0) throw new Error(`building the minimal firmware failed: ${b.stderr}`);
  const { wasmBytes, gzipBytes } = JSON.parse(b.stdout.trim().split("\n").pop()!);
  const run = (counted: boolean) => runGuest(kernel, { initrd, firmware: out, keepCalls: counted, countInstructions: counted, timeBudgetMs: 60000, stopOnSerial: initrd ? undefined : kernel.stopOnSerial });
  // Timed in a plain run, counted in another (counting slows a run).
  const wallMs = Math.round(run(false).wallMs);
  const r = run(true);
  return {
    services, wasmBytes, gzipBytes, boots: success(r), outcome: describeEnding(r.ending),
    calls: r.summary.calls, servicesCalled: Object.keys(r.summary.perService).length, instructions: r.instructions, wallMs,
  };
}

/** The test /init's line (guests/linux/init.c). */
export const USERSPACE_LINE = /^init: hello from userspace/;
