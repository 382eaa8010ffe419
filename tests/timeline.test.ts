// --trace-out: the run as Chrome trace events (host/timeline.ts), the JSON Perfetto opens.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runImage } from "../host/run.ts";
import { ROOT } from "../host/paths.ts";
import { DEFAULT_CMDLINE, DEFAULT_KERNEL, TEST_INITRD } from "../host/defaults.ts";

interface Ev { name: string; ph: string; ts?: number; dur?: number; tid: number; args?: Record<string, unknown> }

function traced(path: string, opts: Parameters<typeof runImage>[1]): { r: ReturnType<typeof runImage>; events: Ev[] } {
  const dir = mkdtempSync(join(tmpdir(), "ueficorn-tl-"));
  try {
    const out = join(dir, "t.json");
    const r = runImage(path, { ...opts, traceOut: out });
    return { r, events: JSON.parse(readFileSync(out, "utf8")).traceEvents };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const track = (events: Ev[], name: string) => {
  const tid = events.find((e) => e.ph === "M" && e.args?.name === name)!.tid;
  return events.filter((e) => e.tid === tid && e.ph !== "M");
};

test("an EFI application: one slice per EFI call with its arguments and status, in order; set-up and application phases", () => {
  const { r, events } = traced(join(ROOT, "build/guests/hello.efi"), { timeBudgetMs: 30_000 });
  const calls = track(events, "EFI calls");
  assert.is(calls.length, r.summary.calls);
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i].ts! >= calls[i - 1].ts! + calls[i - 1].dur!, `call ${i} after call ${i - 1} ended`);
  const alloc = calls.find((c) => c.name === "BS.AllocatePool")!;
  assert.equal(Object.keys(alloc.args!), ["PoolType", "Size", "Buffer", "status"]);
  assert.is(alloc.args!.status, "SUCCESS");
  assert.equal(track(events, "phases").map((p) => p.name), ["set-up (host, machine, image)", "EFI application"]);
  const [setup, app] = track(events, "phases");
  assert.ok(app.ts! >= setup.ts! + setup.dur! - 1 && calls[0].ts! >= app.ts!);
});

test("a kernel: the stub's calls end at ExitBootServices, then the kernel's serial lines, its banner among them with its instruction count, then userspace", () => {
  const { events } = traced(DEFAULT_KERNEL, { cmdline: DEFAULT_CMDLINE, initrd: join(ROOT, TEST_INITRD), countInstructions: true, timeBudgetMs: 90_000 });
  const phases = track(events, "phases");
  assert.equal(phases.map((p) => p.name), ["set-up (host, machine, image)", "EFI stub (to ExitBootServices)", "kernel", "userspace"]);
  assert.ok((phases[1].args!.instructions as number) > 90_000_000, "the stub's instructions");
  const ebs = track(events, "EFI calls").find((c) => c.name === "BS.ExitBootServices")!;
  assert.ok(ebs.ts! <= phases[2].ts!, "ExitBootServices before the kernel phase");
  const banner = track(events, "serial console").find((e) => /Linux version 6\.1/.test(e.args!.line as string))!;
  assert.ok(banner.ts! >= phases[2].ts! && (banner.args!.instructions as number) > 100_000_000);
  assert.ok(track(events, "serial console").some((e) => (e.args!.line as string).startsWith("init: hello from userspace") && e.ts! >= phases[3].ts!));
});

test.run();
