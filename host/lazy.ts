// Modules a run may never need, loaded at first use. Imported at the top, each of Node's
// own costs every start-up its compilation (Node 20: node:crypto ~2.9 ms,
// node:child_process ~2.6 ms, node:zlib ~1.8 ms, node:worker_threads ~1.4 ms), and the native decompressors more
// (lz4-napi ~7 ms, liblzma ~5 ms).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** A getter that requires `name` the first time it is called. */
export const lazy = <T>(name: string): (() => T) => {
  let m: T | undefined;
  return () => (m ??= require(name) as T);
};

export const zlib = lazy<typeof import("node:zlib")>("node:zlib");
export const childProcess = lazy<typeof import("node:child_process")>("node:child_process");
export const workerThreads = lazy<typeof import("node:worker_threads")>("node:worker_threads");
export const crypto = lazy<typeof import("node:crypto")>("node:crypto");
