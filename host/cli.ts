#!/usr/bin/env -S npx tsx
// ueficorn command line.
import { parseArgs } from "node:util";
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { MAX_RAM_MIB, MIN_RAM_MIB } from "./machine.ts";
import { runImage, exitCode, describeEnding, gdbAddress, notYetOnAa64, peMachine, EXIT, type RunOptions, type RunResult } from "./run.ts";
import { PE_CONST } from "../firmware/spec/pe.ts";
import { GUEST_EPOCH_MS } from "./clock.ts";
import { systemMapFor } from "./symbols.ts";
import { parseKeys, type Key } from "./keys.ts";
import { DEFAULT_CMDLINE, DEFAULT_KERNEL, DEFAULT_SYSTEM_MAP, KERNEL_NAMES } from "./defaults.ts";
import { ROOT } from "./paths.ts";
import { join } from "node:path";


const HELP = `ueficorn — run x86-64 EFI images under Unicorn, served by a WASM firmware

usage:
  ueficorn run IMAGE.efi [options]
  ueficorn run --disk IMAGE... | --esp DIR [--arch x86-64|aarch64] [options]
                          boot as firmware does: BootNext, BootOrder, then \EFI\BOOT\BOOTX64.EFI
                          (BOOTAA64.EFI) on each disk's file systems (GRUB, systemd-boot, shim...)
                          An image's PE machine picks the CPU: x86-64, or AArch64 (issue 14: no
                          --gdb, --screen there yet)
  ueficorn boot [--kernel PATH] [--initrd PATH] [--entry efi|pvh|direct] [options]
                          a Linux kernel through its EFI stub, or with no firmware
  ueficorn measure [--out DIR] [--no-ablation] [--no-chains] [--no-kernels] [--disk IMAGE...]
                          the ABI-size report (Markdown, JSON, HTML): per service, what the kernel
                          needs booted directly and through GRUB, systemd-boot (and --disk's chain),
                          and every Debian kernel setup fetches through both entries (a worker per core)
  ueficorn inspect KERNEL|IMAGE [--json]                  which entries an image offers (EFI, handover,
                          mixed mode, x86 boot protocol, PVH...), read from its headers

options:
  --cmdline TEXT         LoadOptions for the image (UCS-2 command line); for boot the default
                         is "${DEFAULT_CMDLINE}"
  --kernel PATH|NAME     boot: the bzImage (default: the Debian cloud kernel set up in ${DEFAULT_KERNEL}),
                         or one setup fetches by name: ${Object.keys(KERNEL_NAMES).join(", ")}
  --entry efi|pvh|direct boot: through the EFI stub with ueficorn's firmware (default), or with no
                         firmware (the comparison): pvh, Xen's PVH entry with hvm_start_info
                         (x86-64); direct, the kernel's own entry: PVH on x86-64, the arm64 boot
                         protocol (an Image, a device tree in X0) on AArch64
  --initrd PATH          EFI: offered through LoadFile2 on Linux's initrd device path; PVH: module 0
                         (build/guests/linux/initrd.cpio: a /init that prints from userspace and reboots)
  --disk IMAGE           a raw disk image (GPT, MBR or one bare FAT file system), as a Block I/O
                         device with a child per partition and a file system on each FAT one;
                         repeat for more disks. Read-only unless --disk-writable
  --esp DIR              a host folder as a FAT file system (read-only unless --disk-writable): an ESP on a disk of its own
                         (after the --disk ones), built on the fly, e.g. a folder holding
                         EFI/BOOT/BOOTX64.EFI, loader/ entries and a kernel for systemd-boot
  --disk-writable        the guest may write the disks: its writes are kept aside and saved into
                         the images atomically when it ends by itself (returns, resets, powers off);
                         on an --esp folder, the files it changed are saved back into the folder
  --screen WxH           a display (GraphicsOutput, a linear framebuffer) of that size; none by default
  --screenshot FILE.png  write the display as a PNG when the run ends (a 1024x768 display by default)
  --vars FILE            variable store: loaded if it exists, saved atomically on change
  --firmware FILE        another build of the firmware (default build/firmware.wasm), e.g.
                         build/firmware.minimal.wasm from scripts/minimal-firmware.ts
  --until REGEX          end the run (status 0) when a serial line matches, e.g. "Linux version"
  --system-map PATH      symbols for reports, a System.map or an unstripped vmlinux (boot default: the
                         kernel's own: ${DEFAULT_SYSTEM_MAP} for the default kernel, System.map-VERSION
                         beside any other, VERSION from its header, or the one map beside an arm64 Image)
  --gdb [HOST:]PORT      serve gdb's remote protocol (loopback unless HOST is given): the guest
                         waits at its first instruction for gdb (target remote :PORT); registers,
                         memory through the guest's page tables, breakpoints, watchpoints, steps,
                         Ctrl-C, detach; "monitor cr" prints the control registers. No time budget
                         unless --timeout is given
  --trace                print every EFI call: service, decoded arguments, status, time
  --trace-out FILE.json  write the run's timeline (Chrome trace events; open it in Perfetto): each
                         EFI call with its arguments and status, the boot's phases, the serial lines
  --summary              print calls per service and stubbed services hit at the end
  --json                 print one JSON object (console, ending, summary) instead of text
  --ram MIB              guest RAM in MiB (default 256)
  --timeout MS           wall-clock budget per guest run (default 30000, boot 120000; 0: none)
  --max-instructions N   instruction budget per guest run (default 0: none; slows emulation)
  --count-instructions   count guest instructions (to the kernel's entry and its banner too);
                         a native hook, 3-4 ns per instruction
  --stdin                type into the guest: standard input (a terminal in raw mode, or a pipe)
                         becomes ConIn's keystrokes in boot services and the serial console's
                         input after; Ctrl-A x ends the run (Ctrl-A Ctrl-A types a Ctrl-A)
  --keys TEXT            keystrokes for ConIn, typed as the guest runs: text as it is, {enter},
                         {esc}, {up}, {down}, {left}, {right}, {f1}..{f12}, {wait MS}, {{ for "{"
  --deterministic        guest time from the instruction count (1 ns each, TSC 1 GHz, the
                         clock starting at ${new Date(GUEST_EPOCH_MS).toISOString()}) and skipped while the
                         guest halts: two runs print the same output and make the same calls
  --guard-code-writes    check every guest store for translated code (a Unicorn memory hook) instead of
                         only stores to pages that hold code; about 4x slower, a cross-check
  --interrupts-at-halt   x86: deliver interrupts only when the guest halts, not while it runs (the
                         machine before its IRQ gate: for comparison)
  -h, --help             this text

exit status:
  0 EFI_SUCCESS, 1 an EFI warning, 64+N EFI error N (e.g. 85 = EFI_ABORTED),
  ${EXIT.USAGE} usage, ${EXIT.LOAD} image rejected, ${EXIT.FAULT} guest fault, ${EXIT.BUDGET} budget spent,
  ${EXIT.BOOT_SERVICE_AFTER_EXIT} boot service called after ExitBootServices, ${EXIT.HALTED} CPU halted (HLT, or WaitForEvent, with nothing to wake it)`;

function usage(msg: string): never {
  process.stderr.write(`ueficorn: ${msg} (see ueficorn --help)\n`);
  process.exit(EXIT.USAGE);
}

function num(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) usage(`--${name} wants a whole number, not "${v}"`);
  return n;
}

function keys(script: string): Key[] {
  try {
    return parseKeys(script);
  } catch (e) {
    usage((e as Error).message);
  }
}

/** `path` is a regular file, or the run ends with a usage error saying what it is instead. */
function regularFile(path: string, what: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    usage(`${what}: no such file: ${path}`);
  }
  if (st.isDirectory()) usage(`${what}: ${path} is a directory, not a file`);
  if (!st.isFile()) usage(`${what}: ${path} is not a regular file`);
}

function isWasm(path: string): boolean {
  const head = new Uint8Array(4);
  const fd = openSync(path, "r");
  try {
    return readSync(fd, head, 0, 4, 0) === 4 && head.every((b, i) => b === [0x00, 0x61, 0x73, 0x6d][i]);
  } finally {
    closeSync(fd);
  }
}

function gdbArg(text: string): string {
  try {
    gdbAddress(text);
  } catch (e) {
    usage((e as Error).message);
  }
  return text;
}

function regex(text: string): RegExp {
  try {
    return new RegExp(text);
  } catch (e) {
    usage(`--until: ${(e as Error).message}`);
  }
}

function printSummary(r: RunResult, out: (s: string) => void): void {
  const { summary } = r;
  out(`\n--- ${describeEnding(r.ending)}; ${summary.calls} EFI calls in ${r.wallMs.toFixed(0)} ms`);
  const n = r.instructions;
  if (n) {
    const to = (v: number | null, what: string) => (v === null ? "" : `${v} to ${what}, `);
    out(`guest instructions: ${to(n.kernelEntry, "the kernel's entry")}${to(n.linuxVersion, "`Linux version`")}${n.total} in all`);
  }
  const irq = r.interrupts;
  if (irq && irq.running + irq.halted) out(`interrupts delivered: ${irq.running} while the guest ran, ${irq.halted} when it had halted`);
  if (r.serializations) out(`SERIALIZE run ${r.serializations} times`);
  const rows = Object.entries(summary.perService).sort((a, b) => b[1] - a[1]);
  for (const [name, n] of rows) out(`  ${String(n).padStart(6)}  ${name}`);
  out(summary.stubbedHit.length ? `stubbed services hit: ${summary.stubbedHit.join(", ")}` : "stubbed services hit: none");
}

let stdoutReady = false;

/**
 * process.stdout, made at first use: Node builds the stream when it is first touched (~2.5
 * ms, a pipe's more), and a boot writes nothing before its guest runs. A closed pipe
 * (`ueficorn run x | head`) ends the output, not the process with an error.
 */
function stdout(): NodeJS.WriteStream {
  if (!stdoutReady) {
    stdoutReady = true;
    process.stdout.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  return process.stdout;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        cmdline: { type: "string" },
        kernel: { type: "string" },
        entry: { type: "string" },
        initrd: { type: "string" },
        vars: { type: "string" },
        disk: { type: "string", multiple: true },
        "disk-writable": { type: "boolean" },
        esp: { type: "string", multiple: true },
        screen: { type: "string" },
        screenshot: { type: "string" },
        firmware: { type: "string" },
        "system-map": { type: "string" },
        until: { type: "string" },
        out: { type: "string" },
        "no-ablation": { type: "boolean" },
        "no-chains": { type: "boolean" },
        "no-kernels": { type: "boolean" },
        trace: { type: "boolean" },
        "trace-out": { type: "string" },
        summary: { type: "boolean" },
        json: { type: "boolean" },
        ram: { type: "string" },
        timeout: { type: "string" },
        "max-instructions": { type: "string" },
        "count-instructions": { type: "boolean" },
        deterministic: { type: "boolean" },
        keys: { type: "string" },
        stdin: { type: "boolean" },
        gdb: { type: "string" },
        "guard-code-writes": { type: "boolean" },
        "interrupts-at-halt": { type: "boolean" },
        arch: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    usage((e as Error).message);
  }
  const { values: o, positionals } = parsed;
  if (o.help) {
    stdout().write(HELP + "\n");
    return 0;
  }
  const [cmd, ...rest] = positionals;
  if (cmd === "measure") {
    const out = o.out ?? "build/report";
    // Imported here: the report's modules (and node:child_process, node:zlib) cost a boot's start-up ~4 ms.
    const { measureAll } = await import("./report.ts");
    for (const d of o.disk ?? []) regularFile(d, "--disk");
    const report = await measureAll({ out, ablation: !o["no-ablation"], chains: !o["no-chains"], kernels: !o["no-kernels"], disks: o.disk, progress: (m) => process.stderr.write(`measure: ${m}\n`) });
    const required = report.ablation.rows.filter((r) => r.verdict === "required").map((r) => r.service);
    stdout().write(`wrote ${out}/report.md, report.json, report.html\n`);
    stdout().write(`firmware: ${report.firmware.wasmBytes} bytes of WASM (${report.firmware.gzipBytes} gzipped)\n`);
    if (report.ablation.rows.length) stdout().write(`the kernel requires ${required.length} of the ${report.ablation.rows.length} services it calls: ${required.join(", ")}\n`);
    for (const k of report.kernels) {
      const req = k.ablation.filter((a) => a.required).length;
      stdout().write(`${k.name} (${k.version}): EFI ${k.efi.ok ? "reaches the criterion" : `fails: ${k.efi.ending}`}, ${k.efi.calls} calls to ${Object.keys(k.efi.perService).length} services${k.ablation.length ? `, ${req} required` : ""}; PVH ${k.pvh.reached ? "reaches `Linux version`" : `fails: ${k.pvh.ending}`}\n`);
    }
    for (const m of report.minimal) {
      stdout().write(`a firmware with ${m.services.length} services: ${m.wasmBytes} bytes of WASM (${m.gzipBytes} gzipped); the kernel ${m.boots ? "boots" : "does not boot"} on it (${m.outcome})\n`);
    }
    return 0;
  }
  if (cmd === "inspect") {
    if (rest.length !== 1) usage("inspect takes one file");
    regularFile(rest[0], "inspect");
    const { inspectFile } = await import("./inspect.ts");
    const { KernelImageError } = await import("./errors.ts");
    try {
      const r = inspectFile(rest[0]);
      if (o.json) stdout().write(JSON.stringify(r, null, 2) + "\n");
      else {
        stdout().write(`${r.file}: ${r.format}${r.version ? `, Linux ${r.version}` : ""}, ${r.size} bytes\n`);
        for (const e of r.entries) stdout().write(`  ${e}\n`);
        if (Array.isArray(r.xenNotes) && r.xenNotes.length) stdout().write(`  Xen notes: ${r.xenNotes.map((n) => `${n.name}=${n.value}`).join(", ")}\n`);
        if (r.pe) stdout().write(`  sections: ${r.pe.sections.map((s) => s.name).join(" ")}\n`);
      }
      return 0;
    } catch (e) {
      if (!(e instanceof KernelImageError)) throw e;
      process.stderr.write(`ueficorn: ${e.message}\n`);
      return EXIT.LOAD;
    }
  }
  if (cmd !== "run" && cmd !== "boot") usage(cmd ? `unknown command "${cmd}"` : "no command");
  const boot = cmd === "boot";
  let image: string | undefined;
  if (boot) {
    if (rest.length) usage(`unexpected arguments: ${rest.join(" ")}`);
    const named = o.kernel !== undefined && !existsSync(o.kernel) ? KERNEL_NAMES[o.kernel] : undefined;
    const kernel: string = named ? join(ROOT, named) : o.kernel ?? DEFAULT_KERNEL;
    image = kernel;
    if (!existsSync(kernel)) {
      usage(o.kernel === undefined ? `no kernel at ${kernel} (run \`npm run setup\` to fetch the Debian cloud kernel)`
        : named ? `no kernel at ${kernel} for "${o.kernel}" (run \`npm run setup\` to fetch it)`
        : `no kernel at ${o.kernel}, and no kernel of that short name (${Object.keys(KERNEL_NAMES).join(", ")})`);
    }
    regularFile(kernel, "--kernel");
  } else {
    if (!rest[0] && !o.disk?.length && !o.esp?.length) usage("run needs an image path, or a --disk or --esp to boot from");
    if (rest.length > 1) usage(`unexpected arguments: ${rest.slice(1).join(" ")}`);
    image = rest[0];
    if (image !== undefined) regularFile(image, "the image");
  }
  for (const d of o.disk ?? []) {
    regularFile(d, "--disk");
    const size = statSync(d).size;
    if (size === 0 || size % 512) usage(`--disk: ${d} is ${size} bytes, not a whole number of 512-byte sectors`);
  }
  if (o["disk-writable"] && !o.disk?.length && !o.esp?.length) usage("--disk-writable needs a --disk or an --esp");
  for (const d of o.esp ?? []) {
    if (!existsSync(d) || !statSync(d).isDirectory()) usage(`--esp: ${d} is not a folder`);
  }
  for (const [name, path] of [["initrd", o.initrd], ["system-map", o["system-map"]], ["firmware", o.firmware]] as const) {
    if (path !== undefined) regularFile(path, `--${name}`);
  }
  // The store may not exist yet (it is made at the first save), but it is a file.
  if (o.vars !== undefined && existsSync(o.vars)) regularFile(o.vars, "--vars");
  if (o.firmware !== undefined && !isWasm(o.firmware)) usage(`--firmware: ${o.firmware} is not a WebAssembly module (no "\\0asm" at offset 0)`);
  const ramMiB = num(o.ram, "ram", 256);
  if (ramMiB < MIN_RAM_MIB || ramMiB > MAX_RAM_MIB) usage(`--ram takes ${MIN_RAM_MIB} to ${MAX_RAM_MIB} MiB: guest RAM ends below the 32-bit MMIO hole at 3 GiB, not ${o.ram}`);
  if (o.initrd !== undefined && statSync(o.initrd).size === 0) usage(`--initrd: ${o.initrd} is empty`);
  if (o.entry !== undefined && (!boot || !["efi", "pvh", "direct"].includes(o.entry))) usage(`--entry takes efi, pvh or direct, with boot`);

  if (o.arch !== undefined && (image !== undefined || (o.arch !== "x86-64" && o.arch !== "aarch64"))) {
    usage("--arch takes x86-64 or aarch64, for a run with no image (an image's PE header names its machine)");
  }
  if (o.stdin && o.deterministic) usage("--stdin and --deterministic: typing cannot be replayed at the same instructions; use --keys");
  let screen: { width: number; height: number } | undefined;
  if (o.screen !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(o.screen);
    const [w, h] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
    if (!m || w < 64 || h < 64 || w > 4096 || h > 4096) usage(`--screen takes WIDTHxHEIGHT, each 64 to 4096, not "${o.screen}"`);
    screen = { width: w, height: h };
  }
  const json = o.json ?? false;
  const out = (s: string) => stdout().write(s + "\n");
  const opts: RunOptions = {
    arch: o.arch as RunOptions["arch"],
    entry: o.entry as "efi" | "pvh" | "direct" | undefined,
    cmdline: o.cmdline ?? (boot ? DEFAULT_CMDLINE : undefined),
    initrd: o.initrd,
    vars: o.vars,
    disks: o.disk,
    diskWritable: o["disk-writable"],
    esp: o.esp,
    screen,
    screenshot: o.screenshot,
    firmware: o.firmware,
    stopOnSerial: o.until === undefined ? undefined : regex(o.until),
    systemMap: o["system-map"] ?? (boot ? systemMapFor(image, DEFAULT_KERNEL, DEFAULT_SYSTEM_MAP) : undefined),
    ramMiB,
    timeBudgetMs: num(o.timeout, "timeout", o.gdb !== undefined ? 0 : boot || image === undefined ? 120000 : 30000),
    gdb: o.gdb === undefined ? undefined : gdbArg(o.gdb),
    onGdbListening: (port) => process.stderr.write(`ueficorn: waiting for gdb on ${gdbAddress(o.gdb!).host}:${port} (in gdb: target remote ${gdbAddress(o.gdb!).host}:${port})\n`),
    instructionBudget: num(o["max-instructions"], "max-instructions", 0),
    countInstructions: o["count-instructions"],
    deterministic: o.deterministic,
    keys: o.keys === undefined ? undefined : keys(o.keys),
    stdin: o.stdin,
    guardCodeWrites: o["guard-code-writes"],
    interruptsAtHalt: o["interrupts-at-halt"],
    trace: o.trace,
    traceOut: o["trace-out"],
    onConsole: json ? undefined : (t) => stdout().write(t.replace(/\r\n/g, "\n")),
    onSerial: json ? undefined : (line) => stdout().write(line + "\n"),
    onTrace: json ? undefined : (line) => process.stderr.write(line + "\n"),
    onLog: json ? undefined : (line) => process.stderr.write(`ueficorn: ${line}\n`),
  };
  if ((image !== undefined ? peMachine(image) === PE_CONST.MACHINE_AA64 : o.arch === "aarch64") && notYetOnAa64(opts).length) {
    usage(`not offered on AArch64 yet (issue 14): ${notYetOnAa64(opts).join(", ")}`);
  }
  const r = runImage(image, opts);
  const code = exitCode(r);
  if (json) {
    const ending = Object.fromEntries(Object.entries(r.ending).map(([k, v]) => [k, typeof v === "bigint" ? `0x${v.toString(16)}` : v]));
    out(JSON.stringify({ image: image ?? null, ending, exitCode: code, console: r.console, serial: r.serial, summary: r.summary, wallMs: r.wallMs, entryMs: r.entryMs, startupMs: r.startupMs, instructions: r.instructions }, null, 2));
  } else {
    if (r.ending.kind === "error") process.stderr.write(`ueficorn: ${r.ending.error}\n`);
    if (o.summary || o.trace || boot) printSummary(r, out);
    else out(`--- ${describeEnding(r.ending)}`);
  }
  return code;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
