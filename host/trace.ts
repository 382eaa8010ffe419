// The call trace: every EFI call counted, the last few kept for error reports, and
// each one printed with decoded arguments when tracing is on. Argument decoding comes
// from the service table's signatures, so a new service is traced without code here.
import type { Service } from "../firmware/spec/services.ts";
import { SERVICES } from "../firmware/spec/services.ts";
import { ALLOCATE_TYPE, GUIDS, MEMORY_TYPE, statusName } from "../firmware/spec/uefi.ts";
import { guidText } from "../firmware/spec/decl.ts";
import type { Firmware } from "./firmware.ts";

const KEEP = 16;
const guidNames = new Map<string, string>(Object.entries(GUIDS).map(([name, text]) => [text, name]));
const memTypeNames = Object.fromEntries(Object.entries(MEMORY_TYPE).map(([k, v]) => [v, k]));
const allocTypeNames = Object.fromEntries(Object.entries(ALLOCATE_TYPE).map(([k, v]) => [v, k]));

export interface CallRecord { service: string; args: string; status: string; ns: number }

export interface TraceSummary {
  calls: number;
  perService: Record<string, number>;
  stubbedHit: string[];
}

export class Tracer {
  readonly counts = new Uint32Array(SERVICES.length);
  private readonly ring: string[] = [];
  calls = 0;
  /** Guest-code stubs the firmware does not implement, by service id. */
  stubbed: (id: number) => boolean = () => false;

  constructor(readonly enabled = false, private readonly sink: (line: string) => void = () => {}) {}

  record(svc: Service, fw: Firmware, status: bigint, t0: bigint): void {
    this.counts[svc.id]++;
    this.calls++;
    const ns = this.enabled ? Number(process.hrtime.bigint() - t0) : 0;
    const line = `${svc.table}.${svc.name}(${decodeArgs(svc, fw)}) = ${svc.sig.returns === "VOID" ? "void" : statusName(status)}`;
    if (this.ring.length === KEEP) this.ring.shift();
    this.ring.push(line);
    if (this.enabled) this.sink(`efi: ${line}  ${(ns / 1000).toFixed(1)} µs`);
  }

  /** The last calls, oldest first, for error reports. */
  last(): string[] {
    return [...this.ring];
  }

  summary(): TraceSummary {
    const perService: Record<string, number> = {};
    const stubbedHit: string[] = [];
    for (const s of SERVICES) {
      const n = this.counts[s.id];
      if (!n) continue;
      perService[`${s.table}.${s.name}`] = n;
      if (this.stubbed(s.id)) stubbedHit.push(`${s.table}.${s.name}`);
    }
    return { calls: this.calls, perService, stubbedHit };
  }
}

function readGuid(fw: Firmware, p: bigint): string {
  if (p === 0n || p + 16n > BigInt(fw.ram.length)) return `0x${p.toString(16)}`;
  const text = guidText(fw.ram.subarray(Number(p), Number(p) + 16));
  return guidNames.get(text) ?? text;
}

function readString(fw: Firmware, p: bigint, max = 48): string {
  if (p === 0n || p >= BigInt(fw.ram.length)) return `0x${p.toString(16)}`;
  let s = "";
  for (let i = Number(p); i + 1 < fw.ram.length && s.length < max; i += 2) {
    const c = fw.ramView.getUint16(i, true);
    if (c === 0) return JSON.stringify(s);
    s += String.fromCharCode(c);
  }
  return JSON.stringify(s) + "…";
}

function decodeArgs(svc: Service, fw: Firmware): string {
  return svc.sig.params.map((p, i) => {
    const v = fw.arg(i);
    let text: string;
    if (p.pointer === 1 && p.type === "EFI_GUID") text = readGuid(fw, v);
    else if (p.pointer === 1 && p.type === "CHAR16") text = readString(fw, v);
    else if (p.pointer) text = `0x${v.toString(16)}`;
    else if (p.type === "EFI_MEMORY_TYPE") text = memTypeNames[Number(v & 0xffffffffn)] ?? `0x${(v & 0xffffffffn).toString(16)}`;
    else if (p.type === "EFI_ALLOCATE_TYPE") text = allocTypeNames[Number(v & 0xffffffffn)] ?? String(v & 0xffffffffn);
    else if (p.type === "BOOLEAN") text = (v & 0xffn) ? "TRUE" : "FALSE";
    else text = v < 0x10000n ? String(v) : `0x${v.toString(16)}`;
    return `${p.name}=${text}`;
  }).join(", ");
}
