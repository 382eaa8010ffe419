// End to end: the built guests run through runImage (host/run.ts) and through the
// command line (host/cli.ts in a child process), and every way a run can end maps to
// its exit status and message: success, EFI errors and warnings, a rejected image,
// usage errors, a guest that never returns, a guest that faults.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runImage, exitCode, EXIT } from "../host/run.ts";
import { GuestError, KernelImageError, LoadError, RunError, VarStoreError } from "../host/errors.ts";
import { Unicorn } from "../host/unicorn/index.ts";
import { parsePe, wrongMachine } from "./pe-fixtures.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const guest = (name: string) => join(ROOT, "build/guests", name);
/** What the CLI passes by default; the time budget also keeps a hung guest from hanging the test. */
const OPTS = { ramMiB: 256, timeBudgetMs: 30_000 };

/** `ueficorn ARGS...` in a child process from the repository root. */
function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli.ts", ...args], {
    cwd: ROOT, encoding: "utf8", timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const show = (r: { code: number | null; stdout: string; stderr: string }) =>
  `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** The "N passed, M failed" line of a self-checking guest. */
function tally(console: string): { passed: number; failed: number } {
  const m = /^(\d+) passed, (\d+) failed\r?$/m.exec(console);
  assert.ok(m, `a "N passed, M failed" line in:\n${console}`);
  return { passed: Number(m![1]), failed: Number(m![2]) };
}

/** [start, end) of the image, from a guest's "... image at 0x...[ size 0x...]" line. */
function imageRange(stdout: string, name: string): [bigint, bigint] {
  const m = /image at (0x[0-9a-f]+)(?: size (0x[0-9a-f]+))?/.exec(stdout);
  assert.ok(m, `the guest printed where it runs:\n${stdout}`);
  const start = BigInt(m![1]);
  return [start, start + (m![2] ? BigInt(m![2]) : BigInt(parsePe(new Uint8Array(readFileSync(guest(name)))).sizeOfImage))];
}

/** RIP named in a host error message, checked to lie in [start, end). */
function ripIn(text: string, [start, end]: [bigint, bigint]): bigint {
  const m = /(?:at|from) RIP (0x[0-9a-f]+)/.exec(text);
  assert.ok(m, `the message names the RIP:\n${text}`);
  const rip = BigInt(m![1]);
  assert.ok(rip >= start && rip < end, `RIP ${m![1]} lies in the guest image [0x${start.toString(16)}, 0x${end.toString(16)})`);
  return rip;
}

// ---- the guests exist ----

test("every host-side error is a RunError that carries its kind and exit status (README: exit status)", () => {
  const cases: [RunError, string, number][] = [
    [new LoadError(0x8000_0000_0000_0001n, "IMAGE_NT_HEADERS64.Signature", 0x80n), "load", EXIT.LOAD],
    [new KernelImageError("vmlinux", "Elf64_Ehdr.e_machine", 0x12, "not x86-64"), "load", EXIT.LOAD],
    [new VarStoreError("is corrupt", 7), "vars", EXIT.LOAD],
    [new GuestError("fault", "guest fault", 0x1000n, []), "fault", EXIT.FAULT],
    [new GuestError("firmware", "firmware trapped", 0x1000n, []), "firmware", EXIT.FAULT],
    [new GuestError("budget", "ran past its budget", 0x1000n, []), "budget", EXIT.BUDGET],
    [new GuestError("boot-service-after-exit", "BS.AllocatePool called after ExitBootServices", 0x1000n, []), "boot-service-after-exit", EXIT.BOOT_SERVICE_AFTER_EXIT],
  ];
  for (const [e, kind, exit] of cases) {
    assert.ok(e instanceof RunError, e.name);
    assert.equal([e.kind, e.exit], [kind, exit], e.name);
  }
});

test("guests/build.sh built every guests/*.c into build/guests/NAME.efi", () => {
  const sources = readdirSync(join(ROOT, "guests")).filter((f) => f.endsWith(".c"));
  for (const want of ["hello.c", "exitcode.c", "conout.c", "spin.c", "fault.c"]) assert.ok(sources.includes(want), want);
  for (const c of sources) assert.ok(existsSync(guest(basename(c, ".c") + ".efi")), `build/guests/${basename(c, ".c")}.efi`);
});

// ---- runImage ----

test("runImage(hello): SUCCESS, every check passed, the services it uses counted, no stub hit", () => {
  const r = runImage(guest("hello.efi"), OPTS);
  assert.equal(r.ending, { kind: "returned", status: 0n });
  assert.is(exitCode(r), 0);
  const { passed, failed } = tally(r.console);
  assert.is(failed, 0);
  assert.ok(passed >= 30, `${passed} checks passed`);
  assert.not.match(r.console, /^FAIL:/m);
  assert.match(r.console, /^ok: base relocations applied/m);
  assert.match(r.console, /LoadOptions: \(none\)/);
  for (const s of ["ConOut.OutputString", "BS.AllocatePages", "BS.FreePages", "BS.AllocatePool", "BS.FreePool", "BS.GetMemoryMap", "BS.HandleProtocol"]) {
    assert.ok(r.summary.perService[s] >= 1, `${s} counted`);
  }
  assert.is(r.summary.perService["BS.GetMemoryMap"], 2, "the size-0 probe and the real read");
  assert.is(r.summary.calls, Object.values(r.summary.perService).reduce((a, b) => a + b, 0), "calls = sum per service");
  assert.equal(r.summary.stubbedHit, []);
});

test("runImage(conout): SUCCESS, every check passed", () => {
  const r = runImage(guest("conout.efi"), OPTS);
  assert.equal(r.ending, { kind: "returned", status: 0n });
  assert.is(tally(r.console).failed, 0);
  assert.not.match(r.console, /^FAIL:/m);
  assert.equal(r.summary.stubbedHit, []);
});

test("runImage(hello) with countInstructions: the same count on every run; no kernel entry nor banner in an application", () => {
  const [a, b] = [0, 1].map(() => runImage(guest("hello.efi"), { ...OPTS, countInstructions: true }));
  assert.ok(a.instructions!.total > 10_000, `${a.instructions!.total} instructions`);
  assert.equal(a.instructions, b.instructions);
  assert.equal(a.instructions, { total: a.instructions!.total, kernelEntry: null, linuxVersion: null });
  assert.is(runImage(guest("hello.efi"), OPTS).instructions, undefined, "off by default");
});

test("runImage(exitcode): the guest's status comes back, warnings and errors map to exit codes", () => {
  const err = runImage(guest("exitcode.efi"), { ...OPTS, cmdline: "status=21" });
  assert.equal(err.ending, { kind: "returned", status: (1n << 63n) | 21n });
  assert.is(exitCode(err), 64 + 21);
  const warn = runImage(guest("exitcode.efi"), { ...OPTS, cmdline: "raw=4" });
  assert.equal(warn.ending, { kind: "returned", status: 4n });
  assert.is(exitCode(warn), 1);
});

test("runImage(spin) with a small instruction budget: a budget error naming a RIP in the image", () => {
  // The one run with an instruction count (it slows Unicorn down, see host/machine.ts).
  const r = runImage(guest("spin.efi"), { ...OPTS, instructionBudget: 200_000 });
  assert.is(r.ending.kind, "error");
  const e = r.ending as { kind: "error"; errorKind: string; error: string; rip?: string };
  assert.is(e.errorKind, "budget");
  assert.is(exitCode(r), EXIT.BUDGET);
  assert.match(e.error, /200000 instructions/);
  ripIn(e.error, imageRange(r.console, "spin.efi"));
  assert.ok(e.rip && e.error.includes(`at RIP ${e.rip}`), "rip field matches the message");
});

test("runImage(fault): a fault error naming a RIP in the image and the last EFI calls", () => {
  const r = runImage(guest("fault.efi"), OPTS);
  assert.is(r.ending.kind, "error");
  const e = r.ending as { kind: "error"; errorKind: string; error: string; rip?: string };
  assert.is(e.errorKind, "fault");
  assert.is(exitCode(r), EXIT.FAULT);
  ripIn(e.error, imageRange(r.console, "fault.efi"));
  assert.match(e.error, /page fault/i);
  assert.match(e.error, /last EFI calls:[\s\S]*ConOut\.OutputString\(.*fault: reading 0x7fff00000000/);
  // Named from the image's own COFF symbol table (lld-link -debug:symtab; host/pe-symbols.ts).
  assert.match(e.error, /at RIP 0x[0-9a-f]+ \(fault\.efi: efi_main\+0x[0-9a-f]+\)/);
});

// ---- the command line ----

test("cli: hello --summary --cmdline \"a b\": exit 0, LoadOptions reach the guest, summary lists its services", () => {
  const r = cli("run", "build/guests/hello.efi", "--summary", "--cmdline", "a b");
  assert.is(r.code, 0, show(r));
  assert.is(tally(r.stdout).failed, 0);
  assert.not.match(r.stdout, /^FAIL:/m);
  assert.match(r.stdout, /LoadOptions: "a b"/);
  assert.match(r.stdout, /^--- image returned SUCCESS; \d+ EFI calls/m);
  for (const s of ["ConOut.OutputString", "BS.AllocatePages", "BS.FreePages", "BS.AllocatePool", "BS.FreePool", "BS.GetMemoryMap", "BS.HandleProtocol"]) {
    assert.match(r.stdout, new RegExp(`^\\s+\\d+\\s+${s.replace(".", "\\.")}$`, "m"), `summary row for ${s}`);
  }
  assert.match(r.stdout, /^stubbed services hit: none$/m);
  assert.is(r.stderr, "");
});

test("cli: exitcode status=21 exits 85 (64 + 21), raw=4 exits 1, no argument exits 0", () => {
  const cases: [string[], number, string][] = [
    [["--cmdline", "status=21"], 85, "0x8000000000000015"],
    [["--cmdline", "raw=4"], 1, "0x0000000000000004"],
    [[], 0, "0x0000000000000000"],
  ];
  for (const [args, code, printed] of cases) {
    const r = cli("run", "build/guests/exitcode.efi", ...args);
    assert.is(r.code, code, show(r));
    assert.match(r.stdout, `exitcode: returning ${printed}`);
  }
});

test("cli: --json prints one parseable object with console, ending, summary and exitCode", () => {
  const r = cli("run", "build/guests/exitcode.efi", "--cmdline", "status=21", "--json");
  assert.is(r.code, 85, show(r));
  const j = JSON.parse(r.stdout);
  assert.is(j.exitCode, 85);
  assert.equal(j.ending, { kind: "returned", status: "0x8000000000000015" });
  assert.match(j.console, /^exitcode: returning 0x8000000000000015/);
  assert.is(j.summary.perService["BS.HandleProtocol"], 1);
  assert.is(j.summary.calls, 2);
  assert.equal(j.summary.stubbedHit, []);
  assert.is(j.image, "build/guests/exitcode.efi");
  assert.is(j.instructions, undefined);
  assert.is(j.entryMs, undefined, "an application never exits boot services: no kernel entry");
});

test("cli: --count-instructions: the count in the summary and in --json", () => {
  const text = cli("run", "build/guests/exitcode.efi", "--cmdline", "status=21", "--summary", "--count-instructions");
  const m = /^guest instructions: (\d+) in all$/m.exec(text.stdout);
  assert.ok(m, show(text));
  const j = JSON.parse(cli("run", "build/guests/exitcode.efi", "--cmdline", "status=21", "--json", "--count-instructions").stdout);
  assert.equal(j.instructions, { total: Number(m![1]), kernelEntry: null, linuxVersion: null });
});

test("cli: --help exits 0 with the usage", () => {
  const r = cli("--help");
  assert.is(r.code, 0, show(r));
  assert.match(r.stdout, /usage:\s+ueficorn run IMAGE\.efi/);
  assert.match(r.stdout, /--timeout MS/);
  assert.is(r.stderr, "");
});

test("cli: usage errors exit 2 naming the problem", () => {
  const cases: [string[], RegExp][] = [
    [["frob"], /unknown command "frob"/],
    [[], /no command/],
    [["run"], /run needs an image path/],
    [["run", "build/guests/no-such.efi"], /no such file: build\/guests\/no-such\.efi/],
    [["run", "build/guests/hello.efi", "extra"], /unexpected arguments: extra/],
    [["run", "build/guests/hello.efi", "--timeout", "soon"], /--timeout wants a whole number, not "soon"/],
    [["run", "build/guests/hello.efi", "--frob"], /Unknown option '--frob'/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.is(r.code, EXIT.USAGE, `ueficorn ${args.join(" ")}: ${show(r)}`);
    assert.match(r.stderr, message, `ueficorn ${args.join(" ")}`);
    assert.is(r.stdout, "", "nothing on stdout");
  }
});

test("cli: a rejected image exits 3 naming the field, its offset and the status", () => {
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-run-test-"));
  try {
    const hello = new Uint8Array(readFileSync(guest("hello.efi")));
    const bad = join(dir, "i386.efi");
    writeFileSync(bad, wrongMachine(hello));
    const r = cli("run", bad);
    assert.is(r.code, EXIT.LOAD, show(r));
    assert.match(r.stderr, "Machine is not x86-64");
    assert.match(r.stderr, `at offset 0x${parsePe(hello).coffOffset.toString(16)}`);
    assert.match(r.stderr, "UNSUPPORTED");
    assert.match(r.stderr, bad);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("cli: a runaway guest with --timeout 300 exits 5 naming the budget and a RIP in the image", () => {
  const r = cli("run", "build/guests/spin.efi", "--timeout", "300");
  assert.is(r.code, EXIT.BUDGET, show(r));
  assert.match(r.stdout, /^spin: looping forever/m);
  assert.match(r.stderr, /guest ran past its budget of 300 ms/);
  ripIn(r.stderr, imageRange(r.stdout, "spin.efi"));
  assert.match(r.stderr, /last EFI calls:\n\s+ConOut\.OutputString/);
});

test("cli: a guest reading past RAM exits 4 naming the fault and a RIP in the image", () => {
  const r = cli("run", "build/guests/fault.efi", "--cmdline", "read");
  assert.is(r.code, EXIT.FAULT, show(r));
  assert.match(r.stdout, /^fault: reading 0x7fff00000000/m);
  // No IDT during boot services: the page fault cannot be delivered, which makes a double
  // fault (SDM 3A §6.15), which cannot be delivered either: a triple fault.
  assert.match(r.stderr, /triple fault: double fault \(page fault at 0x7fff00000000 \(error code 0x0\) could not be delivered: vector 14 is beyond the IDT limit/);
  ripIn(r.stderr, imageRange(r.stdout, "fault.efi"));
  assert.match(r.stderr, /last EFI calls:[\s\S]*fault: reading/);
});

test("cli: a guest executing ud2 exits 4 naming an invalid instruction and a RIP in the image", () => {
  const r = cli("run", "build/guests/fault.efi", "--cmdline", "ud2");
  assert.is(r.code, EXIT.FAULT, show(r));
  assert.match(r.stdout, /^fault: executing ud2/m);
  assert.match(r.stderr, /invalid (instruction|opcode)|#UD/i);
  ripIn(r.stderr, imageRange(r.stdout, "fault.efi"));
});

test("cli: a guest overflowing its stack exits 4 naming a stack overflow at the guard page, a RIP in the image, the calls as made", () => {
  const r = cli("run", "build/guests/fault.efi", "--cmdline", "stack");
  assert.is(r.code, EXIT.FAULT, show(r));
  assert.match(r.stdout, /^fault: overflowing the stack/m);
  assert.match(r.stderr, /stack overflow: page fault at 0x[0-9a-f]+, in the guard page below the 1024 KiB stack/);
  ripIn(r.stderr, imageRange(r.stdout, "fault.efi"));
  // Both lines went through the guest's one line buffer: each call shows its own text.
  assert.match(r.stderr, /last EFI calls:[\s\S]*OutputString\(.*"fault: image at[^\n]*\n[^\n]*OutputString\(.*"fault: overflowing the stack/);
});

test("cli: a boot service called after ExitBootServices exits 6 naming the service, a RIP in the image, the calls before", () => {
  const r = cli("run", "build/guests/fault.efi", "--cmdline", "late");
  assert.is(r.code, EXIT.BOOT_SERVICE_AFTER_EXIT, show(r));
  assert.match(r.stdout, /^fault: calling Stall after ExitBootServices/m);
  assert.match(r.stderr, /BS\.Stall called after ExitBootServices from RIP 0x/);
  ripIn(r.stderr, imageRange(r.stdout, "fault.efi"));
  assert.match(r.stderr, /last EFI calls:[\s\S]*BS\.ExitBootServices\(.*\) = SUCCESS/);
});

test("runImage closes its engine however the run ends: returned, fault, stack overflow, budget, rejected image", () => {
  const before = Unicorn.live;
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-close-"));
  const bad = join(dir, "i386.efi");
  writeFileSync(bad, wrongMachine(readFileSync(guest("hello.efi"))));
  const endings = [
    runImage(guest("hello.efi"), OPTS),
    runImage(guest("fault.efi"), { ...OPTS, cmdline: "ud2" }),
    runImage(guest("fault.efi"), { ...OPTS, cmdline: "stack" }),
    runImage(guest("spin.efi"), { ...OPTS, timeBudgetMs: 200 }),
    runImage(bad, OPTS),
  ].map((r) => (r.ending.kind === "error" ? (r.ending as { errorKind: string }).errorKind : r.ending.kind));
  rmSync(dir, { recursive: true });
  assert.equal(endings, ["returned", "fault", "fault", "budget", "load"]);
  assert.is(Unicorn.live, before, "engines left open");
});

test("runImage(fault) with an unknown option returns INVALID_PARAMETER, not a fault", () => {
  const r = runImage(guest("fault.efi"), { ...OPTS, cmdline: "nothing" });
  assert.equal(r.ending, { kind: "returned", status: (1n << 63n) | 2n });
  assert.is(exitCode(r), 64 + 2);
  assert.match(r.console, /^fault: unknown option/m);
});

test("cli: boot --kernel takes a short name for each kernel setup fetches; an unknown one is refused with the names", () => {
  const r = cli("boot", "--kernel", "debian13", "--until", "Linux version");
  assert.is(r.code, 0, show(r));
  assert.match(r.stdout, /Linux version 6\.12\./);
  const bad = cli("boot", "--kernel", "nosuch");
  assert.is(bad.code, EXIT.USAGE, show(bad));
  assert.match(bad.stderr, /no kernel at nosuch, and no kernel of that short name \(debian12, debian12-generic, debian13, unstable, installer, arm64\)/);
});

test.run();
