// scripts/minimal-firmware.ts: the firmware built with only some services, as the
// ablation's answer to "how small can an EFI entry be", then used for real.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildMinimalFirmware } from "../scripts/minimal-firmware.ts";
import { ServiceCaller } from "./service-caller.ts";
import { INITRD_SERVICES, kernelSpec, kernelSucceeded, USERSPACE_LINE } from "../host/measure.ts";
import { FIRMWARE_WASM } from "../host/firmware.ts";
import { runImage } from "../host/run.ts";
import { DEFAULT_CMDLINE, DEFAULT_KERNEL, TEST_INITRD } from "../host/defaults.ts";
import { ROOT } from "../host/paths.ts";
import { serviceByName } from "../firmware/spec/services.ts";
import { STATUS, statusName } from "../firmware/spec/uefi.ts";

// What the ablation finds the Debian kernel cannot boot without (tests/measure.test.ts
// checks the verdicts; `npm run measure` rebuilds this firmware from its own result).
const REQUIRED = ["BS.AllocatePages", "BS.GetMemoryMap", "BS.AllocatePool", "BS.HandleProtocol", "BS.InstallConfigurationTable", "BS.ExitBootServices", "RT.SetVirtualAddressMap"];
const dir = mkdtempSync(join(tmpdir(), "ueficorn-minimal-"));
const minimal = buildMinimalFirmware(REQUIRED, join(dir, "minimal.wasm"));

test("the minimal firmware is smaller, serves what it keeps, answers the rest as a firmware without them", () => {
  assert.ok(minimal.wasmBytes < readFileSync(FIRMWARE_WASM).length, `${minimal.wasmBytes} bytes`);
  // The full firmware first, in the same process: each build is its own module.
  const full = new ServiceCaller({ ramMiB: 32 });
  assert.not.ok(full.m.fw.stubbed(serviceByName("BS.CreateEvent").id));
  full.close();
  const c = new ServiceCaller({ ramMiB: 32, firmwareWasm: minimal.path });
  try {
    const out = c.cell();
    assert.is(statusName(c.call("BS.AllocatePages", 0n, 2n, 1n, out)), "SUCCESS");
    assert.is(statusName(c.call("BS.LocateProtocol", c.buf(16), 0n, c.cell())), "NOT_FOUND");
    assert.is(statusName(c.call("BS.CreateEvent", 0n, 8n, 0n, 0n, c.cell())), "UNSUPPORTED");
    assert.ok(c.m.fw.stubbed(serviceByName("BS.CreateEvent").id) && !c.m.fw.stubbed(serviceByName("BS.AllocatePages").id));
    assert.is(c.call("BS.FreePages", c.u64(out), 1n), STATUS.UNSUPPORTED, "FreePages was left out");
  } finally { c.close(); }
});

test("the Debian kernel boots on the minimal firmware: Linux version, SetVirtualAddressMap SUCCESS", () => {
  const spec = kernelSpec(DEFAULT_KERNEL);
  const r = runImage(spec.path, { cmdline: spec.cmdline, firmware: minimal.path, keepCalls: true, timeBudgetMs: 60000, stopOnSerial: spec.stopOnSerial });
  assert.is(r.ending.kind, "milestone", JSON.stringify(r.ending));
  assert.ok(kernelSucceeded(r));
  assert.ok(r.summary.stubbedHit.includes("BS.LocateProtocol"), "it asked for what is not there");
});

test("with the initrd's two services as well, it runs the test /init in userspace", () => {
  const withInitrd = buildMinimalFirmware([...REQUIRED, ...INITRD_SERVICES], join(dir, "initrd.wasm"));
  assert.ok(withInitrd.wasmBytes > minimal.wasmBytes);
  const r = runImage(DEFAULT_KERNEL, { cmdline: DEFAULT_CMDLINE, firmware: withInitrd.path, initrd: join(ROOT, TEST_INITRD), timeBudgetMs: 90000 });
  assert.equal(r.ending, { kind: "reset", resetType: 0, status: 0n, source: "kbc" });
  assert.ok(r.serial.some((l) => USERSPACE_LINE.test(l)));
});

test.run();
