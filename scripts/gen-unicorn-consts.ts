// Generates host/unicorn/consts.ts from Unicorn's C headers, so that no register,
// hook or error number is typed by hand.
//
//   npx tsx scripts/gen-unicorn-consts.ts [INCLUDE_DIR]
//
// INCLUDE_DIR holds unicorn/unicorn.h, unicorn/x86.h and unicorn/arm64.h; the default is the copy that
// scripts/setup.sh unpacks from Debian's libunicorn-dev, .cache/unicorn/root/usr/include.
// tests/unicorn-consts.test.ts checks that the checked-in output is current.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_INCLUDE_DIR = join(ROOT, ".cache/unicorn/root/usr/include");
export const OUTPUT = join(ROOT, "host/unicorn/consts.ts");

/** The enums taken, with the header each lives in. */
const ENUMS: ReadonlyArray<[header: string, name: string]> = [
  ["unicorn.h", "uc_arch"],
  ["unicorn.h", "uc_mode"],
  ["unicorn.h", "uc_err"],
  ["unicorn.h", "uc_hook_type"],
  ["unicorn.h", "uc_mem_type"],
  ["unicorn.h", "uc_prot"],
  ["unicorn.h", "uc_query_type"],
  ["unicorn.h", "uc_control_type"],
  ["x86.h", "uc_cpu_x86"],
  ["x86.h", "uc_x86_reg"],
  ["x86.h", "uc_x86_insn"],
  ["arm64.h", "uc_cpu_arm64"],
  ["arm64.h", "uc_arm64_reg"],
  ["arm64.h", "uc_arm64_insn"],
];
/** Enums that also get a value -> name table (for messages and traces). */
const NAME_TABLES = new Set(["uc_err", "uc_mem_type"]);
/** Object-like #defines taken: the header's API version and the hook-type unions. */
const DEFINES = /^(UC_API_(MAJOR|MINOR|PATCH|EXTRA)|UC_HOOK_MEM_[A-Z_]+)$/;

type Constant = { name: string; value: number };

/** Removes comments, keeping line structure (so `#define` lines stay lines). */
function stripComments(src: string): string {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "))
    .replace(/\/\/[^\n]*/g, "");
}

// ---- a small C integer-constant-expression evaluator ---------------------------------
// Grammar (C precedence): or := xor ('|' xor)*; xor := and ('^' and)*;
// and := shift ('&' shift)*; shift := add (('<<'|'>>') add)*;
// add := mul (('+'|'-') mul)*; mul := unary (('*'|'/'|'%') unary)*;
// unary := ('-'|'+'|'~') unary | '(' or ')' | NUMBER | IDENT
function evaluate(expr: string, known: ReadonlyMap<string, number>, where: string): number {
  const tokens = expr.match(/0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|[A-Za-z_]\w*|<<|>>|[-+*/%()|&^~]|\S/g) ?? [];
  let i = 0;
  const fail = (msg: string): never => {
    throw new Error(`${where}: cannot evaluate '${expr}': ${msg}`);
  };
  const peek = () => tokens[i];
  const binary = (next: () => bigint, ops: Record<string, (a: bigint, b: bigint) => bigint>) => () => {
    let v = next();
    while (peek() !== undefined && peek() in ops) {
      const op = tokens[i++];
      v = ops[op](v, next());
    }
    return v;
  };
  const primary = (): bigint => {
    const t = tokens[i++];
    if (t === undefined) return fail("unexpected end");
    if (t === "-") return -primary();
    if (t === "+") return primary();
    if (t === "~") return ~primary();
    if (t === "(") {
      const v = or();
      if (tokens[i++] !== ")") fail("missing ')'");
      return v;
    }
    if (/^\d|^0[xX]/.test(t)) return BigInt(t.replace(/[uUlL]+$/, ""));
    if (/^[A-Za-z_]/.test(t)) {
      const v = known.get(t);
      if (v === undefined) fail(`unknown name ${t}`);
      return BigInt(v!);
    }
    return fail(`unexpected '${t}'`);
  };
  const mul = binary(primary, { "*": (a, b) => a * b, "/": (a, b) => a / b, "%": (a, b) => a % b });
  const add = binary(mul, { "+": (a, b) => a + b, "-": (a, b) => a - b });
  const shift = binary(add, { "<<": (a, b) => a << b, ">>": (a, b) => a >> b });
  const and = binary(shift, { "&": (a, b) => a & b });
  const xor = binary(and, { "^": (a, b) => a ^ b });
  const or: () => bigint = binary(xor, { "|": (a, b) => a | b });
  const v = or();
  if (i !== tokens.length) fail(`unexpected '${tokens[i]}'`);
  if (v < BigInt(Number.MIN_SAFE_INTEGER) || v > BigInt(Number.MAX_SAFE_INTEGER)) fail("out of range");
  return Number(v);
}

/** Parses `typedef enum NAME { ... }` / `enum NAME { ... }` from a header. */
export function parseEnum(src: string, name: string, known: Map<string, number>, header = name): Constant[] {
  const code = stripComments(src);
  const m = new RegExp(`\\benum\\s+${name}\\s*\\{([^}]*)\\}`).exec(code);
  if (!m) throw new Error(`${header}: enum ${name} not found`);
  if (/^\s*#/m.test(m[1])) throw new Error(`${header}: enum ${name} contains preprocessor lines`);
  const out: Constant[] = [];
  let next = 0;
  for (const raw of m[1].split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const e = /^([A-Za-z_]\w*)\s*(?:=\s*([\s\S]+))?$/.exec(item);
    if (!e) throw new Error(`${header}: enum ${name}: cannot parse '${item}'`);
    const value = e[2] === undefined ? next : evaluate(e[2], known, `${header} ${e[1]}`);
    out.push({ name: e[1], value });
    known.set(e[1], value);
    next = value + 1;
  }
  return out;
}

/** Object-like `#define NAME EXPR` lines (with continuations) whose name matches. */
export function parseDefines(src: string, filter: RegExp, known: Map<string, number>, header: string): Constant[] {
  const code = stripComments(src).replace(/\\\n/g, " ");
  const out: Constant[] = [];
  for (const m of code.matchAll(/^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?!\()[ \t]+([^\n]+)$/gm)) {
    if (!filter.test(m[1])) continue;
    const value = evaluate(m[2].trim(), known, `${header} ${m[1]}`);
    out.push({ name: m[1], value });
    known.set(m[1], value);
  }
  return out;
}

/** The text of host/unicorn/consts.ts for the headers in includeDir. */
export function generate(includeDir: string = DEFAULT_INCLUDE_DIR): string {
  const headers = new Map<string, string>();
  const read = (h: string) => {
    if (!headers.has(h)) headers.set(h, readFileSync(join(includeDir, "unicorn", h), "utf8"));
    return headers.get(h)!;
  };
  const known = new Map<string, number>();
  const version = parseDefines(read("unicorn.h"), /^UC_API_(MAJOR|MINOR|PATCH)$/, known, "unicorn.h");
  const ver = version.map((c) => c.value).join(".");

  const lines: string[] = [
    `// GENERATED by scripts/gen-unicorn-consts.ts from Unicorn ${ver}'s headers`,
    `// (unicorn/unicorn.h, unicorn/x86.h, unicorn/arm64.h from Debian's libunicorn-dev). Do not edit;`,
    `// regenerate with: npx tsx scripts/gen-unicorn-consts.ts`,
    ``,
    `/** Version of the headers these constants come from. */`,
    `export const UC_HEADERS_VERSION = "${ver}";`,
  ];
  for (const [header, name] of ENUMS) {
    const consts = parseEnum(read(header), name, known, header);
    lines.push(``, `// enum ${name} (${header})`);
    for (const c of consts) lines.push(`export const ${c.name} = ${c.value};`);
    if (NAME_TABLES.has(name)) {
      const table = consts.map((c) => `  ${c.value}: "${c.name}",`);
      lines.push(`export const ${name.toUpperCase()}_NAMES: Readonly<Record<number, string>> = {`, ...table, `};`);
    }
  }
  lines.push(``, `// #defines (unicorn.h)`);
  for (const c of parseDefines(read("unicorn.h"), DEFINES, new Map(known), "unicorn.h")) {
    lines.push(`export const ${c.name} = ${c.value};`);
  }
  return lines.join("\n") + "\n";
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = process.argv[2] ?? DEFAULT_INCLUDE_DIR;
  mkdirSync(dirname(OUTPUT), { recursive: true });
  writeFileSync(OUTPUT, generate(dir));
  console.log(`wrote ${OUTPUT} from ${dir}/unicorn`);
}
