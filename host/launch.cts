// The CLI's entry, built to build/ueficorn.cjs: runs the bundle (build/cli.cjs) through
// V8's code cache, so that a start compiles little of its 220 KB (about 4 ms of every
// start-up; Node 20 has no module compile cache, Node >= 22.1's enableCompileCache would
// do this). The cache sits beside the bundle, keyed by the bundle's size and mtime (V8's
// own check compares only the source's length), and is written atomically when missing
// or rejected, at the end of a run, so that it holds the functions the run compiled. A
// read-only install runs without it.
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { wrap } from "node:module";
import { Script } from "node:vm";
import { preloadUnicorn } from "./unicorn/library.ts";
import { FIRST_INSTRUCTION, startupMark } from "./startup.ts";

startupMark("node");
// libunicorn loads on another thread while this one reads and compiles the bundle.
preloadUnicorn();

const bundle = join(__dirname, "cli.cjs");
const cachePath = `${bundle}.v8cache`;
const { size, mtimeMs } = statSync(bundle);
const key = Buffer.from(`${size} ${mtimeMs}\n`);
let cached: Buffer | undefined;
try {
  const c = readFileSync(cachePath);
  if (c.subarray(0, key.length).equals(key)) cached = c.subarray(key.length);
} catch {
  // no cache yet
}
// Read as latin1: esbuild writes the code ASCII-only (its default charset), so only comments
// can hold other bytes, and a one-byte string is read without UTF-8 decoding (~1.5 ms).
const script = new Script(wrap(readFileSync(bundle, "latin1").replace(/^#!.*/, "")), { filename: bundle, cachedData: cached });
if (!cached || script.cachedDataRejected) {
  let saved = false;
  const save = () => {
    if (saved) return;
    saved = true;
    const tmp = `${cachePath}.${process.pid}`;
    try {
      writeFileSync(tmp, Buffer.concat([key, script.createCachedData()]));
      renameSync(tmp, cachePath);
    } catch {
      // a read-only build folder: the next start compiles again
    }
  };
  process.once(FIRST_INSTRUCTION, save);
  process.once("exit", save);
}
startupMark("bundle compiled");
const module_ = { exports: {} };
script.runInThisContext()(module_.exports, require, module_, bundle, __dirname);
