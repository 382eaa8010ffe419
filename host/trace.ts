// The call trace: every EFI call counted, the last few kept for error reports, each one
// printed with decoded arguments when tracing is on, and kept whole when a measurement
// wants them. Argument decoding comes from the service table's signatures, so a new
// service is traced without code here.
import type { Service } from "../firmware/spec/services.ts";
import { ARG_SLOTS, SERVICES, argSlot } from "../firmware/spec/services.ts";
import { ALLOCATE_TYPE, MEMORY_TYPE, statusName } from "../firmware/spec/uefi.ts";
import { nameOfGuid } from "./guids.ts";
import { guidText } from "../firmware/spec/decl.ts";
import type { Firmware } from "./firmware.ts";
import { translate } from "./x86/walk.ts";

const KEEP = 16;
const memTypeNames = Object.fromEntries(Object.entries(MEMORY_TYPE).map(([k, v]) => [v, k]));
const allocTypeNames = Object.fromEntries(Object.entries(ALLOCATE_TYPE).map(([k, v]) => [v, k]));

/** One call, decoded: the arguments as the trace prints them, GUIDs and strings named. */
export interface CallRecord {
  service: string;
  args: { name: string; text: string }[];
  status: string;
}

export interface TraceSummary {
  calls: number;
  perService: Record<string, number>;
  stubbedHit: string[];
}

/** A call as recorded on the hot path: decoded only when someone asks. */
interface RawCall { svc: Service; args: bigint[]; status: bigint; cr3: bigint }

/**
 * Services with a GUID or a string argument: their calls are decoded as they are made,
 * since the guest may reuse the memory before a report reads it (a console line buffer
 * printed twice would show the second line twice).
 */
const EAGER = SERVICES.map((s) => s.sig.params.some((p) => p.pointer === 1 && (p.type === "EFI_GUID" || p.type === "CHAR16")));

// A ring slot, u64s: the firmware's argument block as the call left it (ARG0-ARG3,
// STACK, PAGE_ROOT, STATUS: firmware/spec/services.ts ARG_SLOTS), then the stack arguments of
// services with more than four.
const SLOT_STATUS = argSlot("STATUS"), SLOT_STACK = ARG_SLOTS.length, MAX_PARAMS = 10;
const SLOT = SLOT_STACK + MAX_PARAMS - 4;
if (SERVICES.some((s) => s.sig.params.length > MAX_PARAMS)) throw new Error("trace.ts: a service has more than MAX_PARAMS parameters");

export class Tracer {
  readonly counts = new Uint32Array(SERVICES.length);
  // The last KEEP calls, without an allocation per call: service ids and raw values,
  // or the decoded record of an EAGER call.
  private readonly ringIds = new Int32Array(KEEP);
  private readonly ringVals = new BigUint64Array(KEEP * SLOT);
  private readonly ringBytes = new Uint8Array(this.ringVals.buffer);
  private readonly ringDecoded: (CallRecord | undefined)[] = new Array(KEEP).fill(undefined);
  private fw: Firmware | undefined;
  private argBytes: Uint8Array | undefined;
  /** Every call, decoded, when constructed with keep = true (measurements). */
  readonly records: CallRecord[] = [];
  calls = 0;
  /** Guest-code stubs the firmware does not implement, by service id. */
  stubbed: (id: number) => boolean = () => false;

  constructor(
    readonly enabled = false,
    private readonly sink: (line: string) => void = () => {},
    private readonly keep = false,
    /** Each call, decoded, with when it started and ended (process.hrtime.bigint()): a timeline's. */
    private readonly onCall?: (call: CallRecord, startHr: bigint, endHr: bigint) => void,
  ) {}

  /** Whether calls need their start time (record's t0). */
  get timed(): boolean {
    return this.enabled || this.onCall !== undefined;
  }

  /** Call `svc` has been served: its arguments and status are in the firmware's argument block. */
  record(svc: Service, fw: Firmware, t0: bigint): void {
    this.counts[svc.id]++;
    const slot = this.calls++ % KEEP;
    if (this.fw !== fw) {
      this.fw = fw;
      this.argBytes = new Uint8Array(fw.args.buffer, fw.args.byteOffset, SLOT_STACK * 8);
    }
    const decoded = EAGER[svc.id] || this.keep || this.timed ? decode(this.raw(svc, fw), fw) : undefined;
    this.ringIds[slot] = svc.id;
    this.ringDecoded[slot] = decoded;
    if (!decoded) {
      this.ringBytes.set(this.argBytes!, slot * SLOT * 8); // the registers and the status
      for (let i = 4; i < svc.sig.params.length; i++) this.ringVals[slot * SLOT + SLOT_STACK + i - 4] = fw.arg(i);
      return;
    }
    if (this.keep) this.records.push(decoded);
    this.onCall?.(decoded, t0, process.hrtime.bigint());
    if (this.enabled) this.sink(`efi: ${format(decoded)}  ${(Number(process.hrtime.bigint() - t0) / 1000).toFixed(1)} µs`);
  }

  /** The call being made now, from the firmware's argument block. */
  private raw(svc: Service, fw: Firmware): RawCall {
    return { svc, args: svc.sig.params.map((_, i) => fw.arg(i)), status: fw.args[SLOT_STATUS], cr3: fw.args[argSlot("PAGE_ROOT")] };
  }

  /** The call in ring slot `slot`, as recorded. */
  private slotCall(slot: number): RawCall {
    const svc = SERVICES[this.ringIds[slot]];
    const v = (k: number) => this.ringVals[slot * SLOT + k];
    return { svc, args: svc.sig.params.map((_, i) => (i < 4 ? v(i) : v(SLOT_STACK + i - 4))), status: v(SLOT_STATUS), cr3: v(argSlot("PAGE_ROOT")) };
  }

  /** The last calls, oldest first, for error reports (GUIDs and strings as they were passed). */
  last(): string[] {
    const fw = this.fw;
    if (!fw) return [];
    const n = Math.min(this.calls, KEEP);
    const out: string[] = [];
    for (let k = this.calls - n; k < this.calls; k++) {
      const slot = k % KEEP;
      out.push(format(this.ringDecoded[slot] ?? decode(this.slotCall(slot), fw)));
    }
    return out;
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

const format = (r: CallRecord) => `${r.service}(${r.args.map((a) => `${a.name}=${a.text}`).join(", ")}) = ${r.status}`;

/** Guest bytes at virtual p under the call's page tables, or undefined. */
function read(fw: Firmware, cr3: bigint, p: bigint, len: number): Uint8Array | undefined {
  if (p === 0n) return undefined;
  const phys = translate(fw.ramView, cr3, p);
  if (phys === undefined || phys + BigInt(len) > BigInt(fw.ram.length)) return undefined;
  return fw.ram.subarray(Number(phys), Number(phys) + len);
}

function readGuid(fw: Firmware, cr3: bigint, p: bigint): string {
  if (p === 0n) return "NULL";
  const b = read(fw, cr3, p, 16);
  if (!b) return `0x${p.toString(16)}`;
  return nameOfGuid(guidText(b));
}

/** A guest UCS-2 string for a trace, read a page at a time (one translation each), at most `max` characters. */
function readString(fw: Firmware, cr3: bigint, p: bigint, max = 48): string {
  let s = "";
  for (let at = p; s.length < max;) {
    const n = Math.min(Number(0x1000n - (at & 0xfffn)) & ~1, (max - s.length) * 2);
    const b = n >= 2 ? read(fw, cr3, at, n) : undefined;
    if (!b) return s ? JSON.stringify(s) + "…" : `0x${p.toString(16)}`;
    for (let i = 0; i + 1 < b.length; i += 2) {
      const c = b[i] | (b[i + 1] << 8);
      if (c === 0) return JSON.stringify(s);
      s += String.fromCharCode(c);
    }
    at += BigInt(b.length);
  }
  return JSON.stringify(s) + "…";
}

function decode({ svc, args: values, status, cr3 }: RawCall, fw: Firmware): CallRecord {
  const args = svc.sig.params.map((p, i) => {
    const v = values[i];
    let text: string;
    if (p.pointer === 1 && p.type === "EFI_GUID") text = readGuid(fw, cr3, v);
    else if (p.pointer === 1 && p.type === "CHAR16") text = readString(fw, cr3, v);
    else if (p.pointer) text = `0x${v.toString(16)}`;
    else if (p.type === "EFI_MEMORY_TYPE") text = memTypeNames[Number(v & 0xffffffffn)] ?? `0x${(v & 0xffffffffn).toString(16)}`;
    else if (p.type === "EFI_ALLOCATE_TYPE") text = allocTypeNames[Number(v & 0xffffffffn)] ?? String(v & 0xffffffffn);
    else if (p.type === "BOOLEAN") text = (v & 0xffn) ? "TRUE" : "FALSE";
    else text = v < 0x10000n ? String(v) : `0x${v.toString(16)}`;
    return { name: p.name, text };
  });
  return { service: `${svc.table}.${svc.name}`, args, status: svc.sig.returns === "VOID" ? "void" : statusName(status) };
}
