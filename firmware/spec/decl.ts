// The declaration mechanism: C-like struct text parsed into fields with x64 offsets.
//
// Plain TypeScript (not AssemblyScript): the host imports it directly, and
// scripts/gen-spec.ts turns it into firmware/spec/gen.ts (AssemblyScript) and
// guests/include/efi.h (C), so every layout is typed once. Alignment follows the
// Microsoft x64 ABI the UEFI spec mandates (UEFI 2.10 §2.3.4.2): natural alignment,
// struct size rounded up to its largest member.

export interface Param { type: string; name: string; pointer: number }

export interface Field {
  name: string;
  type: string;        // base type name as the spec spells it
  pointer: number;     // levels of '*'
  count: number;       // array length, 1 for scalars
  offset: number;
  size: number;        // bytes of the whole field (count * element)
  fn?: FnSig;          // set when the field is a function pointer (a service slot)
}

/** `returns` is the spec's return type; a pointer keeps its stars ("CHAR16 *"). */
export interface FnSig { returns: string; params: Param[]; variadic: boolean }

export interface Struct { name: string; size: number; align: number; fields: Field[] }

const scalars: Record<string, number> = {
  UINT8: 1, INT8: 1, CHAR8: 1, BOOLEAN: 1,
  UINT16: 2, INT16: 2, CHAR16: 2,
  UINT32: 4, INT32: 4,
  UINT64: 8, INT64: 8, UINTN: 8, INTN: 8,
  EFI_STATUS: 8, EFI_HANDLE: 8, EFI_EVENT: 8, EFI_TPL: 8, EFI_LBA: 8,
  EFI_PHYSICAL_ADDRESS: 8, EFI_VIRTUAL_ADDRESS: 8,
  // C enums are 4 bytes in the MS x64 ABI
  EFI_MEMORY_TYPE: 4, EFI_ALLOCATE_TYPE: 4, EFI_INTERFACE_TYPE: 4,
  EFI_LOCATE_SEARCH_TYPE: 4, EFI_TIMER_DELAY: 4, EFI_RESET_TYPE: 4,
};

const structs = new Map<string, Struct>();

/** Size and alignment of a non-pointer type name. */
export function typeInfo(type: string): { size: number; align: number } {
  if (type in scalars) return { size: scalars[type], align: scalars[type] };
  const s = structs.get(type);
  if (s) return { size: s.size, align: s.align };
  throw new Error(`unknown type ${type}`);
}

/** Parse `TYPE *NAME` / `TYPE NAME[N]` / `CONST TYPE *NAME`. */
export function parseDecl(text: string): { type: string; name: string; pointer: number; count: number } {
  const m = /^(?:IN\s+|OUT\s+|OPTIONAL\s+|CONST\s+)*([A-Za-z_]\w*)\s*(\**)\s*([A-Za-z_]\w*)\s*(?:\[(\d+)\])?$/.exec(text.trim());
  if (!m) throw new Error(`cannot parse declaration "${text.trim()}"`);
  return { type: m[1], pointer: m[2].length, name: m[3], count: m[4] ? Number(m[4]) : 1 };
}

function parseFn(returns: string, params: string): FnSig {
  const list = params.split(",").map((p) => p.trim()).filter((p) => p && p !== "VOID");
  const variadic = list.at(-1) === "...";
  if (variadic) list.pop();
  return {
    returns,
    variadic,
    params: list.map((p) => {
      const d = parseDecl(p);
      if (d.count !== 1) throw new Error(`array parameter ${p}`);
      return { type: d.type, name: d.name, pointer: d.pointer };
    }),
  };
}

/**
 * Declare a struct from its C body. A member `RET Name(PARAMS);` is a function-pointer
 * slot (8 bytes) whose signature is kept for the service table. Laid out when first
 * read: the host declares a hundred structs at start-up and reads a few before its guest
 * runs (~1.6 ms of every start-up parsed eagerly).
 */
export function struct(name: string, body: string): Struct {
  let laid: Struct | undefined;
  const lay = () => (laid ??= layout(name, body));
  const s: Struct = {
    name,
    get size() { return lay().size; },
    get align() { return lay().align; },
    get fields() { return lay().fields; },
  };
  structs.set(name, s);
  return s;
}

function layout(name: string, body: string): Struct {
  const fields: Field[] = [];
  let offset = 0;
  let align = 1;
  for (const raw of body.split(";")) {
    const text = raw.replace(/\/\/.*$/gm, "").replace(/\s+/g, " ").trim();
    if (!text) continue;
    // `RET Name(...)` or `RET *Name(...)`: a slot returning a pointer (CHAR16 *, ...).
    const fm = /^([A-Za-z_]\w*) ?(\**) ?([A-Za-z_]\w*)\((.*)\)$/.exec(text);
    let f: Omit<Field, "offset">;
    let a: number;
    if (fm) {
      f = { name: fm[3], type: "FN", pointer: 1, count: 1, size: 8, fn: parseFn(fm[2] ? `${fm[1]} ${fm[2]}` : fm[1], fm[4]) };
      a = 8;
    } else {
      const d = parseDecl(text);
      const info = d.pointer ? { size: 8, align: 8 } : typeInfo(d.type);
      f = { name: d.name, type: d.type, pointer: d.pointer, count: d.count, size: info.size * d.count };
      a = info.align;
    }
    offset = Math.ceil(offset / a) * a;
    fields.push({ ...f, offset });
    offset += f.size;
    align = Math.max(align, a);
  }
  return { name, size: Math.ceil(offset / align) * align, align, fields };
}

/** A function-pointer type the spec names (EFI_EVENT_NOTIFY): 8 bytes in a struct, its signature for C. */
export interface FnType { name: string; fn: FnSig }

/** Declare a function-pointer type from `RET (PARAMS)`. */
export function fnType(name: string, text: string): FnType {
  const m = /^\s*([A-Za-z_]\w*(?: ?\*+)?)\s*\((.*)\)\s*$/s.exec(text);
  if (!m) throw new Error(`cannot parse function type ${name}: "${text}"`);
  scalars[name] = 8;
  return { name, fn: parseFn(m[1].replace(/ ?(\*+)$/, " $1"), m[2].replace(/\s+/g, " ")) };
}

export function field(s: Struct, name: string): Field {
  const f = s.fields.find((x) => x.name === name);
  if (!f) throw new Error(`${s.name} has no field ${name}`);
  return f;
}

/** The spec's canonical GUID text to its in-memory (mixed-endian) bytes, UEFI 2.10 Appendix A. */
export function guidBytes(text: string): Uint8Array {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(text);
  if (!m) throw new Error(`bad GUID "${text}"`);
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, parseInt(m[1], 16), true);
  dv.setUint16(4, parseInt(m[2], 16), true);
  dv.setUint16(6, parseInt(m[3], 16), true);
  const tail = m[4] + m[5];
  for (let i = 0; i < 8; i++) b[8 + i] = parseInt(tail.slice(2 * i, 2 * i + 2), 16);
  return b;
}

/** Inverse of guidBytes, for traces. */
export function guidText(b: Uint8Array): string {
  const dv = new DataView(b.buffer, b.byteOffset, 16);
  const h = (v: number, n: number) => v.toString(16).padStart(n, "0");
  const tail = Array.from(b.subarray(8, 16), (x) => h(x, 2)).join("");
  return `${h(dv.getUint32(0, true), 8)}-${h(dv.getUint16(4, true), 4)}-${h(dv.getUint16(6, true), 4)}-${tail.slice(0, 4)}-${tail.slice(4)}`;
}
