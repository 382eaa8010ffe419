// Where the native libraries are, and how the process starts loading them: shared by the
// binding (host/unicorn/index.ts) and the CLI's launcher (host/launch.cts), which starts
// libunicorn's loading before the bundle is even compiled.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isAbsolute, join } from "node:path";
import { ROOT } from "../paths.ts";

export const FIX_HINT =
  "Run `npm run setup` (it fetches Debian 13's libunicorn 2.1 into .cache/unicorn without touching the system) " +
  "or set UEFICORN_LIBUNICORN to the path of a libunicorn.so.2 >= 2.1.";

/** Native callbacks (host/unicorn/native.c), built by scripts/setup.sh. */
export const NATIVE_LIB = join(ROOT, "build/libueficorn-native.so");

export interface LibraryCandidate {
  /** The path loaded (or the bare soname, for the system search path). */
  path: string;
  source: "UEFICORN_LIBUNICORN" | ".cache/unicorn" | "system";
}

/** libunicorn, in the order tried: $UEFICORN_LIBUNICORN; the copy setup keeps in .cache/unicorn; the system's. */
export function libraryCandidates(): LibraryCandidate[] {
  const env = process.env.UEFICORN_LIBUNICORN;
  if (env) {
    if (!existsSync(env)) throw new Error(`UEFICORN_LIBUNICORN=${env} does not exist. ${FIX_HINT}`);
    return [{ path: env, source: "UEFICORN_LIBUNICORN" }];
  }
  const list: LibraryCandidate[] = [];
  const dir = join(ROOT, ".cache/unicorn");
  const libpath = join(dir, "libpath");
  if (existsSync(libpath)) {
    const p = readFileSync(libpath, "utf8").trim();
    const abs = isAbsolute(p) ? p : join(dir, p);
    if (existsSync(abs)) list.push({ path: abs, source: ".cache/unicorn" });
  }
  list.push({ path: "libunicorn.so.2", source: "system" });
  return list;
}

/**
 * koffi's native module. Its own loader (required, not imported: the ESM entry costs ~3 ms
 * more) reads Node's ELF interpreter to pick glibc or musl, then wraps the module's
 * functions with deprecated aliases: ~7 of its ~9 ms in every start-up (Node 20). Where
 * koffi's platform package holds the glibc x86-64 build (its exact-version optional
 * dependency, which npm hoists), that module is loaded as it is: its exports are koffi's
 * API. Anywhere else, or if it fails to load, through koffi's loader.
 */
export function loadKoffi(): typeof import("koffi") {
  const req = createRequire(import.meta.url);
  if (process.platform === "linux" && process.arch === "x64") {
    try {
      const native = req("@koromix/koffi-linux-x64/linux_x64/koffi.node");
      if (typeof native.load === "function" && typeof native.view === "function") return native;
    } catch {
      // not there, or not loadable here (a musl system): koffi's loader knows
    }
  }
  return req("koffi");
}

/** Kept for the process's life: koffi unloads a library whose handle is collected, and the preloading thread runs its code. */
let preloader: unknown;

/**
 * Starts loading libunicorn on a native thread (native.c preload_library) and returns at
 * once. The dynamic linker relocates all of its ~30 MB when it loads (the library is
 * linked BIND_NOW): ~6 ms of every start-up, which this moves onto the second core while
 * this one compiles and starts the bundle; the binding's own load then finds it loaded
 * (or waits on the loader's lock for the rest). Best effort: any failure leaves the load
 * to the binding, which reports it.
 */
export function preloadUnicorn(): void {
  try {
    const first = libraryCandidates()[0];
    if (!existsSync(NATIVE_LIB) || first.source === "system") return;
    const lib = loadKoffi().load(NATIVE_LIB);
    preloader = lib;
    lib.func("int32_t preload_library(const char *path)")(first.path);
  } catch {
    // the binding loads it, and says what is wrong
  }
}
