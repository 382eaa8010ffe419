// `--gdb [HOST:]PORT`: the GDB remote serial protocol (the GDB manual, appendix E "GDB
// Remote Serial Protocol"), so gdb can debug the guest: registers, memory through the
// guest's page tables, breakpoints, watchpoints, single steps, continue, Ctrl-C, detach.
//
// The machine runs the guest synchronously, so the socket lives in a worker thread: it
// acknowledges and unframes packets into a shared inbox, frames replies from a shared
// outbox, and on Ctrl-C (0x03) stops the engine itself (uc_emu_stop from another thread,
// as Unicorn's own timeout thread does). The machine asks the stub before each run of
// the guest (beforeRun), and while the guest is stopped serves gdb's packets there.
import type { Worker } from "node:worker_threads";
import { workerThreads } from "./lazy.ts";
import * as C from "./unicorn/consts.ts";
import type { Hook, Unicorn } from "./unicorn/index.ts";

const BOX = 1 << 16;
// Int32 slots: 0 connection (0 waiting, 1 connected, 2 closed), 1 inbox bytes (-1 empty),
// 2 outbox bytes (-1 empty), 3 interrupt requested, 4 listening port.
const CONN = 0, IN = 1, OUT = 2, INTR = 3, PORT = 4, HEADER = 32;

const WORKER = `
const { workerData } = require("node:worker_threads");
const net = require("node:net");
const koffi = require("koffi");
const { sab, host, port, lib, uc } = workerData;
const st = new Int32Array(sab, 0, 8);
const inbox = new Uint8Array(sab, ${HEADER}, ${BOX});
const outbox = new Uint8Array(sab, ${HEADER} + ${BOX}, ${BOX});
const stop = koffi.load(lib).func("int uc_emu_stop(uintptr_t uc)");
const queue = [];
let sock;
function pump() {
  if (Atomics.load(st, ${IN}) !== -1 || !queue.length) return;
  const p = Buffer.from(queue.shift(), "latin1");
  inbox.set(p.subarray(0, ${BOX}));
  Atomics.store(st, ${IN}, Math.min(p.length, ${BOX}));
  Atomics.notify(st, ${IN});
}
const sum = (s) => { let c = 0; for (let i = 0; i < s.length; i++) c = (c + s.charCodeAt(i)) & 255; return c.toString(16).padStart(2, "0"); };
async function replies() {
  for (;;) {
    const w = Atomics.waitAsync(st, ${OUT}, -1);
    if (w.async) await w.value;
    const n = Atomics.load(st, ${OUT});
    if (n < 0) continue;
    const payload = Buffer.from(outbox.subarray(0, n)).toString("latin1");
    Atomics.store(st, ${OUT}, -1);
    Atomics.notify(st, ${OUT});
    if (sock) sock.write("$" + payload + "#" + sum(payload));
    setImmediate(pump);
  }
}
const server = net.createServer((s) => {
  server.close();
  sock = s;
  s.setNoDelay(true);
  Atomics.store(st, ${CONN}, 1);
  Atomics.notify(st, ${CONN});
  let buf = "";
  s.on("data", (d) => {
    buf += d.toString("latin1");
    for (;;) {
      if (buf[0] === "\\x03") { Atomics.store(st, ${INTR}, 1); stop(uc); buf = buf.slice(1); continue; }
      if (buf[0] === "+" || buf[0] === "-") { buf = buf.slice(1); continue; }
      const start = buf.indexOf("$");
      if (start < 0) { buf = ""; break; }
      const end = buf.indexOf("#", start);
      if (end < 0 || buf.length < end + 3) { buf = buf.slice(start); break; }
      queue.push(buf.slice(start + 1, end));
      buf = buf.slice(end + 3);
      s.write("+");
    }
    pump();
  });
  s.on("close", () => { sock = undefined; Atomics.store(st, ${CONN}, 2); Atomics.notify(st, ${CONN}); Atomics.notify(st, ${IN}); });
  s.on("error", () => {});
});
server.listen(port, host, () => { Atomics.store(st, ${PORT}, server.address().port); Atomics.notify(st, ${PORT}); });
server.on("error", (e) => { Atomics.store(st, ${PORT}, -1); Atomics.notify(st, ${PORT}); });
replies();
`;

/** The connection to gdb: blocking receive and send for the machine's thread. */
export class GdbLink {
  private readonly sab = new SharedArrayBuffer(HEADER + 2 * BOX);
  private readonly st = new Int32Array(this.sab, 0, 8);
  private readonly inbox = new Uint8Array(this.sab, HEADER, BOX);
  private readonly outbox = new Uint8Array(this.sab, HEADER + BOX, BOX);
  private readonly worker: Worker;
  /** The port it listens on (the one asked for, or the one given for port 0). */
  readonly port: number;

  constructor(host: string, port: number, lib: string, uc: number | bigint) {
    this.st[IN] = -1;
    this.st[OUT] = -1;
    this.worker = new (workerThreads().Worker)(WORKER, { eval: true, workerData: { sab: this.sab, host, port, lib, uc } });
    this.worker.unref();
    while (Atomics.load(this.st, PORT) === 0) Atomics.wait(this.st, PORT, 0, 100);
    this.port = Atomics.load(this.st, PORT);
    if (this.port < 0) throw new Error(`--gdb: cannot listen on ${host}:${port}`);
  }

  /** Block until gdb connects. */
  waitForClient(): void {
    while (Atomics.load(this.st, CONN) === 0) Atomics.wait(this.st, CONN, 0, 1000);
  }

  get connected(): boolean { return Atomics.load(this.st, CONN) === 1; }

  /** The next packet's payload; undefined once gdb has gone. */
  recv(): string | undefined {
    for (;;) {
      const n = Atomics.load(this.st, IN);
      if (n >= 0) {
        const p = Buffer.from(this.inbox.subarray(0, n)).toString("latin1");
        Atomics.store(this.st, IN, -1);
        Atomics.notify(this.st, IN);
        return p;
      }
      if (!this.connected) return undefined;
      Atomics.wait(this.st, IN, -1, 1000);
    }
  }

  send(payload: string): void {
    while (Atomics.load(this.st, OUT) !== -1 && this.connected) Atomics.wait(this.st, OUT, Atomics.load(this.st, OUT), 100);
    const b = Buffer.from(payload, "latin1");
    this.outbox.set(b.subarray(0, BOX));
    Atomics.store(this.st, OUT, Math.min(b.length, BOX));
    Atomics.notify(this.st, OUT);
  }

  pendingInterrupt(): boolean {
    return Atomics.load(this.st, INTR) === 1;
  }

  /** Until the last reply is on its way and gdb has hung up (at most a second each: gdb may stay). */
  drain(): void {
    for (let i = 0; i < 10 && Atomics.load(this.st, OUT) !== -1; i++) Atomics.wait(this.st, OUT, Atomics.load(this.st, OUT), 100);
    for (let i = 0; i < 10 && this.connected; i++) Atomics.wait(this.st, CONN, 1, 100);
  }

  /** gdb sent Ctrl-C since the last look. */
  takeInterrupt(): boolean {
    return Atomics.exchange(this.st, INTR, 0) === 1;
  }

  close(): void {
    void this.worker.terminate();
  }
}

/** What the stub needs of the machine. */
export interface DebugTarget {
  uc: Unicorn;
  /** Guest virtual memory through the current page tables; undefined where unmapped. */
  readVirtual(va: bigint, len: number): Uint8Array | undefined;
  writeVirtual(va: bigint, bytes: Uint8Array): boolean;
  /** The physical address of va under the page tables now, or undefined. */
  physical(va: bigint): bigint | undefined;
  /** Drop translated code at [va, va + len), where it is mapped now (flushing an unmapped address faults the guest). */
  flushCode(va: bigint, len: number): void;
  /** Ends the run (gdb's kill). */
  kill(): void;
  /** "symbol+0xoff" for a guest address, when the guest's symbols are known (--system-map). */
  symbolize(addr: bigint): string | undefined;
}

// gdb's i386:x86-64 register numbers (its default target description, amd64): the
// general registers, rip, eflags and the segment selectors are given; the x87 and SSE
// registers are reported unavailable (Unicorn's 2.1.1 binding here reads 64 bits at most);
// fs_base and gs_base follow them.
const GPRS = [C.UC_X86_REG_RAX, C.UC_X86_REG_RBX, C.UC_X86_REG_RCX, C.UC_X86_REG_RDX, C.UC_X86_REG_RSI, C.UC_X86_REG_RDI,
  C.UC_X86_REG_RBP, C.UC_X86_REG_RSP, C.UC_X86_REG_R8, C.UC_X86_REG_R9, C.UC_X86_REG_R10, C.UC_X86_REG_R11,
  C.UC_X86_REG_R12, C.UC_X86_REG_R13, C.UC_X86_REG_R14, C.UC_X86_REG_R15, C.UC_X86_REG_RIP];
const REG32 = [C.UC_X86_REG_EFLAGS, C.UC_X86_REG_CS, C.UC_X86_REG_SS, C.UC_X86_REG_DS, C.UC_X86_REG_ES, C.UC_X86_REG_FS, C.UC_X86_REG_GS];
/** Sizes of gdb's registers 24 on (st0-7, the x87 control words, xmm0-15, mxcsr, fs_base, gs_base). */
const REST = [...Array(8).fill(10), ...Array(8).fill(4), ...Array(16).fill(16), 4, 8, 8];
const FS_BASE = 57, GS_BASE = 58;
const TARGET_XML = `<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target version="1.0"><architecture>i386:x86-64</architecture></target>`;

const hexLe = (v: bigint, bytes: number) => {
  let s = "";
  for (let i = 0; i < bytes; i++) s += Number((v >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, "0");
  return s;
};
const fromHexLe = (h: string) => {
  let v = 0n;
  for (let i = h.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(h.slice(i, i + 2), 16));
  return v;
};
const hexBytes = (b: Uint8Array) => Buffer.from(b).toString("hex");
const min = (a: bigint, b: bigint) => (a < b ? a : b);

/** The debugging session: the machine calls beforeRun before each run of the guest. */
export class GdbStub {
  /** The stop reply owed to gdb, or undefined while the guest runs freely. */
  private stop: string | undefined = "S05";
  /** gdb is waiting for a stop reply (it sent c or s). */
  private resumed = false;
  private stepping = false;
  private detached = false;
  private readonly breakpoints = new Map<bigint, Hook>();
  private readonly watchpoints = new Map<string, Hook[]>();
  /** A breakpoint at the instruction the guest resumes at is passed over once. */
  private skipAt: bigint | undefined;

  constructor(private readonly link: GdbLink, private readonly t: DebugTarget) {}

  /**
   * Before the guest runs (from RIP): the instruction budget to run with, 1 while single
   * stepping, 0 to run freely; first, while the guest is stopped, gdb's packets are
   * served until it resumes, detaches or goes.
   */
  beforeRun(): number {
    if (this.detached) return 0;
    if (!this.link.connected) this.link.waitForClient();
    if (this.link.takeInterrupt() && !this.stop) this.stop = "T02thread:1;";
    if (this.stepping) {
      this.stepping = false;
      this.stop ??= "T05thread:1;";
    }
    if (!this.stop) return 0;
    if (this.resumed) {
      this.link.send(this.stop);
      this.resumed = false;
    }
    for (;;) {
      const p = this.link.recv();
      if (p === undefined) {
        this.detach(); // gdb went away: the guest runs on
        return 0;
      }
      const r = this.handle(p);
      if (r === "resume" || r === "step") {
        this.stop = undefined;
        this.resumed = true;
        const rip = this.t.uc.regRead(C.UC_X86_REG_RIP);
        this.skipAt = this.breakpoints.has(rip) ? rip : undefined;
        this.stepping = r === "step";
        return r === "step" ? 1 : 0;
      }
      if (r === "detach") return 0;
      this.link.send(r);
    }
  }

  /** Whether the guest has to stop for gdb now (the machine then calls beforeRun). */
  wantsStop(): boolean {
    return !this.detached && (this.stop !== undefined || this.stepping || this.link.pendingInterrupt());
  }

  /** The run is over: gdb is told the process exited with `code` (and lets go of the connection). */
  finish(code: number): void {
    if (!this.detached && this.link.connected) {
      this.link.send(`W${(code & 0xff).toString(16).padStart(2, "0")}`);
      this.link.drain();
    }
    this.link.close();
  }

  private detach(): void {
    this.detached = true;
    for (const h of this.breakpoints.values()) this.t.uc.hookDel(h);
    for (const hs of this.watchpoints.values()) for (const h of hs) this.t.uc.hookDel(h);
    this.breakpoints.clear();
    this.watchpoints.clear();
    this.stop = undefined;
  }

  private handle(p: string): string | "resume" | "step" | "detach" {
    const uc = this.t.uc;
    switch (p[0]) {
      case "?": return this.stop ?? "S05";
      case "g": {
        let s = GPRS.map((r) => hexLe(uc.regRead(r), 8)).join("");
        s += REG32.map((r) => hexLe(uc.regRead(r), 4)).join("");
        return s;
      }
      case "p": {
        const n = parseInt(p.slice(1), 16);
        if (n < GPRS.length) return hexLe(uc.regRead(GPRS[n]), 8);
        if (n < GPRS.length + REG32.length) return hexLe(uc.regRead(REG32[n - GPRS.length]), 4);
        if (n === FS_BASE) return hexLe(uc.regRead(C.UC_X86_REG_FS_BASE), 8);
        if (n === GS_BASE) return hexLe(uc.regRead(C.UC_X86_REG_GS_BASE), 8);
        const size = REST[n - 24];
        return size ? "xx".repeat(size) : "E00";
      }
      case "P": {
        const [ns, v] = p.slice(1).split("=");
        const n = parseInt(ns, 16);
        const reg = n < GPRS.length ? GPRS[n] : n < GPRS.length + REG32.length ? REG32[n - GPRS.length] : n === FS_BASE ? C.UC_X86_REG_FS_BASE : n === GS_BASE ? C.UC_X86_REG_GS_BASE : undefined;
        if (reg === undefined) return "E00";
        uc.regWrite(reg, fromHexLe(v));
        return "OK";
      }
      case "G": return "E00"; // gdb writes registers one by one (P) then
      case "m": {
        const [a, l] = p.slice(1).split(",");
        const bytes = this.t.readVirtual(BigInt(`0x${a}`), Math.min(parseInt(l, 16), 0x1000));
        return bytes ? hexBytes(bytes) : "E14";
      }
      case "M": {
        const [where, data] = p.slice(1).split(":");
        const a = where.split(",")[0];
        return this.t.writeVirtual(BigInt(`0x${a}`), Buffer.from(data, "hex")) ? "OK" : "E14";
      }
      case "Z":
      case "z": return this.point(p[0] === "Z", p.slice(1));
      case "c": return "resume";
      case "s": return "step";
      case "D":
        this.link.send("OK");
        this.detach();
        return "detach";
      case "k":
        this.detach();
        this.t.kill();
        return "detach";
      case "H": return "OK";
      case "T": return "OK";
      case "q": return this.query(p);
      case "v": return p === "vMustReplyEmpty" ? "" : "";
      default: return "";
    }
  }

  private query(p: string): string {
    if (p.startsWith("qSupported")) return `PacketSize=${(BOX - 16).toString(16)};qXfer:features:read+;swbreak+;hwbreak+`;
    if (p.startsWith("qXfer:features:read:target.xml:")) {
      const [off, len] = p.slice("qXfer:features:read:target.xml:".length).split(",").map((x) => parseInt(x, 16));
      const part = TARGET_XML.slice(off, off + len);
      return (off + len >= TARGET_XML.length ? "l" : "m") + part;
    }
    if (p === "qAttached") return "1";
    if (p === "qC") return "QC1";
    if (p === "qfThreadInfo") return "m1";
    if (p === "qsThreadInfo") return "l";
    if (p.startsWith("qRcmd,")) return this.monitor(Buffer.from(p.slice(6), "hex").toString());
    return "";
  }

  /**
   * `monitor cr`: the system registers gdb's amd64 description has no place for;
   * `monitor sym [ADDR]`: the guest symbol at ADDR (default RIP), from its System.map.
   */
  private monitor(cmd: string): string {
    const uc = this.t.uc;
    const sym = /^sym(?:\s+(\S+))?$/.exec(cmd.trim());
    if (sym) {
      const addr = sym[1] ? BigInt(sym[1]) : uc.regRead(C.UC_X86_REG_RIP);
      return hexBytes(Buffer.from(`0x${addr.toString(16)} ${this.t.symbolize(addr) ?? "(no symbol: give the run --system-map)"}\n`));
    }
    if (cmd.trim() !== "cr") return hexBytes(Buffer.from(`unknown monitor command "${cmd}"; known: cr, sym [ADDR]\n`));
    const x = (id: number) => `0x${uc.regRead(id).toString(16)}`;
    const idt = uc.mmrRead(C.UC_X86_REG_IDTR), gdt = uc.mmrRead(C.UC_X86_REG_GDTR);
    const text = `cr0 ${x(C.UC_X86_REG_CR0)} cr2 ${x(C.UC_X86_REG_CR2)} cr3 ${x(C.UC_X86_REG_CR3)} cr4 ${x(C.UC_X86_REG_CR4)}\n` +
      `gdtr 0x${gdt.base.toString(16)}/${gdt.limit} idtr 0x${idt.base.toString(16)}/${idt.limit}\n`;
    return hexBytes(Buffer.from(text));
  }

  /** Z/z type,addr,kind: 0 software and 1 hardware breakpoints, 2 write, 3 read, 4 access watchpoints. */
  private point(insert: boolean, args: string): string {
    const [type, a, k] = args.split(",");
    const addr = BigInt(`0x${a}`);
    const uc = this.t.uc;
    if (type === "0" || type === "1") {
      const old = this.breakpoints.get(addr);
      if (!insert) {
        if (old) uc.hookDel(old);
        this.breakpoints.delete(addr);
        return "OK";
      }
      if (old) return "OK";
      const hook = uc.hookCode(addr, addr, (at) => {
        if (at !== addr) return;
        if (this.skipAt === at) {
          this.skipAt = undefined;
          return;
        }
        this.stop = `T05${type === "0" ? "swbreak" : "hwbreak"}:;thread:1;`;
        uc.emuStop();
      });
      // Code already translated has no call to the new hook: translate it again.
      this.t.flushCode(addr, 1);
      this.breakpoints.set(addr, hook);
      return "OK";
    }
    if (type === "2" || type === "3" || type === "4") {
      const len = BigInt(parseInt(k, 16));
      const key = `${type},${a},${k}`;
      if (!insert) {
        for (const h of this.watchpoints.get(key) ?? []) uc.hookDel(h);
        this.watchpoints.delete(key);
        return "OK";
      }
      const kinds: ("read" | "write")[] = type === "2" ? ["write"] : type === "3" ? ["read"] : ["read", "write"];
      const name = type === "2" ? "watch" : type === "3" ? "rwatch" : "awatch";
      // Unicorn 2.1.1 matches memory hooks against physical addresses (cputlb.c
      // HOOK_BOUND_CHECK(hook, paddr)): each page of the range as it is mapped now.
      const hooks: Hook[] = [];
      for (let va = addr; va < addr + len;) {
        const pa = this.t.physical(va);
        const n = min(addr + len - va, 0x1000n - (va & 0xfffn));
        if (pa === undefined) {
          for (const h of hooks) uc.hookDel(h);
          return "E14";
        }
        const base = va;
        for (const kind of kinds) {
          hooks.push(uc.hookMemAccess(kind, pa, pa + n - 1n, (at) => {
            this.stop = `T05${name}:${(base + (at - pa)).toString(16)};thread:1;`;
            uc.emuStop();
          }));
        }
        va += n;
      }
      this.watchpoints.set(key, hooks);
      // Memory hooks are compiled into the code as it is translated: translate it all again.
      uc.flushTranslations();
      return "OK";
    }
    return "";
  }
}
