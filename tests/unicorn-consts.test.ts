// host/unicorn/consts.ts is generated from Unicorn's headers and checked in: it must be
// current, and the parser must handle the headers' enum forms.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_INCLUDE_DIR, OUTPUT, generate, parseDefines, parseEnum } from "../scripts/gen-unicorn-consts.ts";
import * as C from "../host/unicorn/consts.ts";

const haveHeaders = existsSync(join(DEFAULT_INCLUDE_DIR, "unicorn/x86.h"));

test("checked-in consts.ts matches the headers", () => {
  if (!haveHeaders) {
    console.warn(`(skipped: no headers in ${DEFAULT_INCLUDE_DIR}; run npm run setup)`);
    return;
  }
  const fresh = generate(DEFAULT_INCLUDE_DIR);
  assert.ok(fresh === readFileSync(OUTPUT, "utf8"), "host/unicorn/consts.ts is stale: run npx tsx scripts/gen-unicorn-consts.ts");
});

test("known values", () => {
  assert.is(C.UC_X86_REG_RAX, 35);
  assert.is(C.UC_X86_REG_RCX, 38);
  assert.is(C.UC_X86_REG_RDX, 40);
  assert.is(C.UC_X86_REG_RIP, 41);
  assert.is(C.UC_X86_REG_RSP, 44);
  assert.is(C.UC_X86_REG_CR0, 50);
  assert.is(C.UC_X86_REG_CR3, 53);
  assert.is(C.UC_X86_REG_R8, 106);
  assert.is(C.UC_X86_REG_IDTR, 242);
  assert.is(C.UC_X86_REG_GDTR, 243);
  assert.is(C.UC_X86_REG_MSR, 248);
  assert.is(C.UC_HOOK_INTR, 1);
  assert.is(C.UC_HOOK_INSN, 2);
  assert.is(C.UC_HOOK_CODE, 4);
  assert.is(C.UC_HOOK_MEM_INVALID, 0x3f0);
  assert.is(C.UC_X86_INS_OUT, 500);
  assert.is(C.UC_X86_INS_CPUID, 113);
  assert.is(C.UC_X86_INS_SYSCALL, 699);
  assert.is(C.UC_MODE_64, 8);
  assert.is(C.UC_MODE_32, 4);
  assert.is(C.UC_ARCH_X86, 4);
  assert.is(C.UC_PROT_ALL, 7);
  assert.is(C.UC_QUERY_MODE, 1);
  assert.is(C.UC_MEM_READ_UNMAPPED, 19);
  assert.is(C.UC_ERR_NAMES[C.UC_ERR_READ_UNMAPPED], "UC_ERR_READ_UNMAPPED");
  assert.is(C.UC_ERR_NAMES[0], "UC_ERR_OK");
});

test("parser: implicit increments, = OTHER + n, shifts, comments", () => {
  const known = new Map<string, number>();
  const src = `
    /* leading comment, enum e { X = 9 } */
    typedef enum e {
      A = 0,     // zero
      B,         /* one */
      C = B + 2, // = OTHER_NAME + n
      D,
      E = 1 << 4,
      F = (1 << 2) | 1,
      G = -1,
      H = 0x10U,
    } e;
    #define E_ALL \\
        (E + F)
    #define E_FN(x) (x)
  `;
  const got = parseEnum(src, "e", known);
  assert.equal(
    got.map((c) => [c.name, c.value]),
    [["A", 0], ["B", 1], ["C", 3], ["D", 4], ["E", 16], ["F", 5], ["G", -1], ["H", 16]],
  );
  assert.equal(parseDefines(src, /^E_/, known, "test.h"), [{ name: "E_ALL", value: 21 }]);
  assert.throws(() => parseEnum("enum f { A = NOPE };", "f", new Map()), /unknown name NOPE/);
});

test.run();
