// Generates host/guid-names.ts, the one GUID -> name table that traces, the measurement
// report and the OVMF probe print names from, from the declarations of EDK2 and Linux:
//
//   npx tsx scripts/gen-guid-names.ts EDK2_GIT_DIR LINUX_EFI_H [--linux-ref REF] [--out FILE]
//
// EDK2_GIT_DIR is a git directory of tianocore/edk2 (bare is fine): every *.dec file at
// its HEAD gives the names of its [Guids], [Protocols] and [Ppis] sections
// (`gEfiGlobalVariableGuid = { 0x8BE4DF61, 0x93CA, 0x11D2, { 0xAA, ... }}`).
// LINUX_EFI_H is Linux's include/linux/efi.h, whose `#define NAME EFI_GUID(...)` lines
// give the rest; REF says which Linux it is (a git directory of torvalds/linux instead of
// the file reads HEAD:include/linux/efi.h and names that commit). Where both name a GUID,
// EDK2's name is kept; where EDK2 names one GUID twice, its first name in file order.
// FILE defaults to host/guid-names.ts. The same inputs give the same bytes.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { guidText } from "../firmware/spec/decl.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const OUTPUT = join(ROOT, "host/guid-names.ts");

/** One declaration: a name, its GUID in canonical text, and where it was read. */
export type GuidDecl = { name: string; guid: string; where: string };

/** The .dec sections whose entries are `CName = GUID` (an arch suffix may follow: [Protocols.X64]). */
const DEC_SECTIONS = new Set(["guids", "protocols", "ppis"]);

/**
 * The canonical text (8-4-4-4-12, lowercase, as firmware/spec/decl.ts guidText prints) of
 * the C initialiser's 11 numbers: Data1 (32 bits), Data2, Data3 (16), Data4[0..7] (8).
 */
export function guidFromFields(fields: readonly bigint[], where: string): string {
  const widths = [32, 16, 16, 8, 8, 8, 8, 8, 8, 8, 8];
  if (fields.length !== widths.length) throw new Error(`${where}: ${fields.length} numbers in a GUID, not 11`);
  fields.forEach((v, i) => {
    if (v >> BigInt(widths[i]) !== 0n) throw new Error(`${where}: GUID field ${i} (0x${v.toString(16)}) is wider than ${widths[i]} bits`);
  });
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, Number(fields[0]), true);
  dv.setUint16(4, Number(fields[1]), true);
  dv.setUint16(6, Number(fields[2]), true);
  fields.slice(3).forEach((v, i) => (b[8 + i] = Number(v)));
  return guidText(b);
}

/** The integer literals of a C initialiser: hex (0x, 0X) or decimal; C's octal is refused. */
function numbers(s: string, where: string): bigint[] {
  return Array.from(s.matchAll(/\b(0x[0-9a-f]+|\d+)\b/gi), ([n]) => {
    if (/^0\d/.test(n)) throw new Error(`${where}: octal ${n} in a GUID`);
    return BigInt(n);
  });
}

/**
 * The GUID declarations of one .dec file, in file order. `#` starts a comment; an entry
 * is `CName = {...}` and may go on over lines until its braces close.
 */
export function parseDec(src: string, file: string): GuidDecl[] {
  const out: GuidDecl[] = [];
  let inGuids = false;
  let pending: { name: string; text: string; line: number } | undefined;
  const lines = src.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    if (pending) {
      pending.text += " " + line;
    } else {
      const section = /^\[(.*)\]$/.exec(line);
      if (section) {
        // [Guids], [Guids.common], [Guids.IA32, Guids.X64], [Protocols.Common.Private]
        const kinds = section[1].split(",").map((s) => s.trim().split(".")[0].toLowerCase());
        inGuids = kinds.every((k) => DEC_SECTIONS.has(k));
        if (!inGuids && kinds.some((k) => DEC_SECTIONS.has(k))) throw new Error(`${file}:${i + 1}: mixed section [${section[1]}]`);
        return;
      }
      if (!inGuids) return;
      const entry = /^([A-Za-z_]\w*)\s*=\s*(.*)$/.exec(line);
      if (!entry) throw new Error(`${file}:${i + 1}: not a GUID declaration: ${line}`);
      pending = { name: entry[1], text: entry[2], line: i + 1 };
    }
    const opened = (pending.text.match(/\{/g) ?? []).length;
    const closed = (pending.text.match(/\}/g) ?? []).length;
    if (opened === 0 || opened !== closed) return;
    const where = `${file}:${pending.line}`;
    out.push({ name: pending.name, guid: guidFromFields(numbers(pending.text, where), where), where });
    pending = undefined;
  });
  if (pending) throw new Error(`${file}:${pending.line}: ${pending.name}'s GUID never closes`);
  return out;
}

/** Removes C comments and joins `\`-continued lines (so a line number after one is off by the joins: for messages only). */
function cLines(src: string): string[] {
  const bare = src.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/\/\/.*/g, "");
  return bare.replace(/\\\r?\n/g, " ").split(/\r?\n/);
}

/** `#define NAME EFI_GUID(0x..., ...)` in Linux's efi.h, in file order. */
export function parseLinuxEfiH(src: string, file: string): GuidDecl[] {
  const out: GuidDecl[] = [];
  cLines(src).forEach((line, i) => {
    const m = /^\s*#\s*define\s+(\w+)\s+EFI_GUID\s*\(([^)]*)\)\s*$/.exec(line);
    if (!m) return;
    const where = `${file}:${i + 1}`;
    out.push({ name: m[1], guid: guidFromFields(numbers(m[2], where), where), where });
  });
  return out;
}

/** The table: EDK2's names first (the first of a GUID's names wins), then Linux's for GUIDs EDK2 does not name. */
export function mergeNames(edk2: readonly GuidDecl[], linux: readonly GuidDecl[]) {
  const names = new Map<string, GuidDecl>();
  const dropped = { edk2Aliases: [] as GuidDecl[], linuxNamedByEdk2: [] as GuidDecl[], linuxAliases: [] as GuidDecl[] };
  for (const d of edk2) {
    if (names.has(d.guid)) dropped.edk2Aliases.push(d);
    else names.set(d.guid, d);
  }
  const fromEdk2 = names.size;
  for (const d of linux) {
    const named = names.get(d.guid);
    if (!named) names.set(d.guid, d);
    else if (edk2.includes(named)) dropped.linuxNamedByEdk2.push(d);
    else dropped.linuxAliases.push(d);
  }
  const fromLinux = names.size - fromEdk2;
  return { names, fromEdk2, fromLinux, dropped };
}

const git = (dir: string, ...args: string[]) =>
  execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", maxBuffer: 256 << 20 });

/** Every *.dec at HEAD of an EDK2 git directory, in path order, and HEAD's commit. */
export function readEdk2(gitDir: string): { commit: string; describe: string; decs: { path: string; src: string }[] } {
  const commit = git(gitDir, "rev-parse", "HEAD").trim();
  let describe = "";
  try {
    describe = git(gitDir, "describe", "--tags", "HEAD").trim();
  } catch {
    // no tags in this copy: the commit alone names it
  }
  const paths = git(gitDir, "ls-tree", "-r", "--name-only", "HEAD").split("\n").filter((p) => p.endsWith(".dec")).sort();
  return { commit, describe, decs: paths.map((path) => ({ path, src: git(gitDir, "show", `HEAD:${path}`) })) };
}

/** Linux's efi.h: a file (REF says which Linux), or a git directory's HEAD:include/linux/efi.h. */
export function readLinux(source: string, ref: string | undefined): { ref: string; src: string } {
  if (statSync(source).isDirectory()) {
    const commit = git(source, "rev-parse", "HEAD").trim();
    return { ref: ref ?? commit, src: git(source, "show", "HEAD:include/linux/efi.h") };
  }
  if (!ref) throw new Error(`say which Linux ${source} comes from with --linux-ref (a commit, or a version and where the file came from)`);
  return { ref, src: readFileSync(source, "utf8") };
}

/** host/guid-names.ts: header, the table sorted by GUID, guidName. */
export function render(opts: {
  edk2Commit: string;
  edk2Describe: string;
  decCount: number;
  linuxRef: string;
  merged: ReturnType<typeof mergeNames>;
}): string {
  const { merged } = opts;
  const edk2At = opts.edk2Describe ? `${opts.edk2Commit} (${opts.edk2Describe})` : opts.edk2Commit;
  const rows = [...merged.names.keys()].sort().map((g) => `  "${g}": "${merged.names.get(g)!.name}",`);
  return [
    "// GENERATED by scripts/gen-guid-names.ts. Do not edit. The names of GUIDs, from",
    `//   tianocore/edk2 at ${edk2At}:`,
    `//     the [Guids], [Protocols] and [Ppis] sections of its ${opts.decCount} *.dec files;`,
    `//   torvalds/linux at ${opts.linuxRef}:`,
    "//     the `#define NAME EFI_GUID(...)` lines of include/linux/efi.h.",
    `// ${merged.names.size} names: ${merged.fromEdk2} from EDK2, ${merged.fromLinux} from Linux. Where both name a GUID,`,
    `// EDK2's name is kept (${merged.dropped.linuxNamedByEdk2.length} Linux names dropped); where EDK2 names one GUID more than`,
    `// once, its first name in path and file order (${merged.dropped.edk2Aliases.length} later names dropped).`,
    "// Regenerate:",
    "//   npx tsx scripts/gen-guid-names.ts EDK2_GIT_DIR LINUX_EFI_H --linux-ref REF",
    "",
    "/** GUID (canonical lowercase text, 8-4-4-4-12) -> the name EDK2 or Linux declares it by. */",
    "export const GUID_NAMES: Readonly<Record<string, string>> = {",
    ...rows,
    "};",
    "",
    "/** The declared name of a GUID in text form (any case), or undefined. */",
    "export function guidName(text: string): string | undefined {",
    "  const key = text.toLowerCase();",
    "  return Object.hasOwn(GUID_NAMES, key) ? GUID_NAMES[key] : undefined;",
    "}",
    "",
  ].join("\n");
}

function main(argv: string[]): void {
  const positional: string[] = [];
  let out = OUTPUT;
  let linuxRef: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--out") out = resolve(argv[++i]);
    else if (argv[i] === "--linux-ref") linuxRef = argv[++i];
    else positional.push(argv[i]);
  }
  if (positional.length !== 2 || !out || linuxRef === "") {
    console.error("usage: tsx scripts/gen-guid-names.ts EDK2_GIT_DIR LINUX_EFI_H [--linux-ref REF] [--out FILE]");
    process.exit(2);
  }
  const [edk2Dir, linuxSource] = positional;
  const edk2 = readEdk2(edk2Dir);
  const linux = readLinux(linuxSource, linuxRef);
  const edk2Decls = edk2.decs.flatMap((d) => parseDec(d.src, d.path));
  const linuxDecls = parseLinuxEfiH(linux.src, "include/linux/efi.h");
  const merged = mergeNames(edk2Decls, linuxDecls);
  writeFileSync(out, render({ edk2Commit: edk2.commit, edk2Describe: edk2.describe, decCount: edk2.decs.length, linuxRef: linux.ref, merged }));
  const d = merged.dropped;
  console.log(
    `wrote ${relative(process.cwd(), out)}: ${merged.names.size} names (${merged.fromEdk2} EDK2 of ${edk2Decls.length} declared, ` +
      `${merged.fromLinux} Linux of ${linuxDecls.length}); dropped ${d.edk2Aliases.length} EDK2 aliases, ` +
      `${d.linuxNamedByEdk2.length} Linux names EDK2 also names, ${d.linuxAliases.length} Linux aliases`,
  );
  for (const a of d.edk2Aliases) console.log(`  EDK2 alias dropped: ${a.name} (${a.where}) = ${merged.names.get(a.guid)!.name}`);
  for (const a of d.linuxAliases) console.log(`  Linux alias dropped: ${a.name} (${a.where}) = ${merged.names.get(a.guid)!.name}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main(process.argv.slice(2));
