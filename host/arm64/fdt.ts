// A flattened device tree (Devicetree Specification v0.4, chapter 5): the blob an AArch64
// OS reads its platform from, handed over as a configuration table (UEFI 2.10 §4.6.1.3,
// EFI_DTB_TABLE_GUID). Big-endian throughout.

export type PropValue = string | string[] | number[] | Uint8Array | true;
export interface FdtNode {
  props?: Record<string, PropValue>;
  children?: Record<string, FdtNode>;
}

const MAGIC = 0xd00d_feed;
const BEGIN_NODE = 1, END_NODE = 2, PROP = 3, END = 9;
const HEADER = 40; // 10 u32 fields
const VERSION = 17, LAST_COMP_VERSION = 16;

/** Bytes of a property value: strings NUL-terminated, numbers as u32 cells, `true` empty. */
function valueBytes(v: PropValue): Uint8Array {
  if (v === true) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return Buffer.from(v + "\0", "utf8");
  if (v.length && typeof v[0] === "string") return Buffer.from((v as string[]).map((s) => s + "\0").join(""), "utf8");
  const b = new Uint8Array(v.length * 4);
  const d = new DataView(b.buffer);
  (v as number[]).forEach((c, i) => d.setUint32(i * 4, c >>> 0));
  return b;
}

/** The blob for `root`, its structure block walked depth-first in insertion order. */
export function buildFdt(root: FdtNode): Uint8Array {
  const struct: number[] = [];
  const strings: number[] = [];
  const stringAt = new Map<string, number>();
  const u32 = (v: number) => struct.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  const pad = () => { while (struct.length % 4) struct.push(0); };
  const nameOff = (name: string) => {
    let at = stringAt.get(name);
    if (at === undefined) {
      at = strings.length;
      stringAt.set(name, at);
      strings.push(...Buffer.from(name + "\0", "utf8"));
    }
    return at;
  };
  const node = (name: string, n: FdtNode) => {
    u32(BEGIN_NODE);
    struct.push(...Buffer.from(name + "\0", "utf8"));
    pad();
    for (const [k, v] of Object.entries(n.props ?? {})) {
      const bytes = valueBytes(v);
      u32(PROP);
      u32(bytes.length);
      u32(nameOff(k));
      struct.push(...bytes);
      pad();
    }
    for (const [k, c] of Object.entries(n.children ?? {})) node(k, c);
    u32(END_NODE);
  };
  node("", root);
  u32(END);
  const rsvmap = HEADER; // one empty reservation entry: 16 zero bytes
  const structAt = rsvmap + 16;
  const stringsAt = structAt + struct.length;
  const total = stringsAt + strings.length;
  const out = new Uint8Array(total);
  const d = new DataView(out.buffer);
  [MAGIC, total, structAt, stringsAt, rsvmap, VERSION, LAST_COMP_VERSION, 0, strings.length, struct.length].forEach((v, i) => d.setUint32(i * 4, v));
  out.set(struct, structAt);
  out.set(strings, stringsAt);
  return out;
}

/** A 64-bit address or size as two cells (#address-cells = #size-cells = 2). */
export const cells64 = (v: number | bigint): number[] => [Number(BigInt(v) >> 32n), Number(BigInt(v) & 0xffff_ffffn)];
