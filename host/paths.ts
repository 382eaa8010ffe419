// Where the project's files are, whether the host runs from its TypeScript sources
// (host/) or from the bundle the setup builds (build/cli.cjs).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "asconfig.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the ueficorn project root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

/** The project folder (the one with asconfig.json). */
export const ROOT = findRoot();
