// The measurement report's HTML page renders in a real browser (headless Chromium, from
// Debian; setup installs it): the charts are there as drawn shapes, nothing is fetched.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { measureAll } from "../host/report.ts";

// Flags for a closed network and no profile (see the machine notes): no background
// traffic, no first-run work, a fresh user-data dir.
const CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

test("report.html renders in headless Chromium with its charts", async () => {
  const out = mkdtempSync(join(tmpdir(), "ueficorn-render-"));
  await measureAll({ out, ablation: false, kernels: false, progress: () => {} });
  const page = `file://${join(out, "report.html")}`;
  const dom = spawnSync("chromium", [...CHROMIUM, `--user-data-dir=${mkdtempSync(join(tmpdir(), "chromium-"))}`, "--dump-dom", page], { encoding: "utf8", timeout: 60000 });
  assert.is(dom.status, 0, dom.stderr);
  assert.match(dom.stdout, /<h1>ueficorn: what the EFI entry costs<\/h1>/);
  assert.match(dom.stdout, /<h3>Guest instructions to "Linux version"<\/h3>/);
  const bars = (dom.stdout.match(/<rect /g) ?? []).length;
  const json = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  // One bar per firmware group with code, per table, per service each guest called.
  const expected = Object.values(json.firmware.groups as Record<string, { bytes: number }>).filter((g) => g.bytes).length + json.abi.tables.length;
  assert.ok(bars >= expected, `${bars} bars drawn, at least ${expected} expected`);
  const png = join(out, "report.png");
  const shot = spawnSync("chromium", [...CHROMIUM, `--user-data-dir=${mkdtempSync(join(tmpdir(), "chromium-"))}`, "--window-size=1000,1400", `--screenshot=${png}`, page], { encoding: "utf8", timeout: 60000 });
  assert.is(shot.status, 0, shot.stderr);
  assert.ok(statSync(png).size > 20000, "a screenshot with content");
});

test.run();
