// What a person (or a pipe) types into the guest: standard input, read by a worker
// thread with blocking reads into a shared ring, so that the machine, which runs the
// guest synchronously, can take what has arrived at any point (a firmware key poll, a
// HLT) and sleep until more comes. Bytes become EFI keystrokes during boot services
// (keystrokes(): VT100/xterm sequences for the arrows, Home, F1...) and go to the UART
// as they are after (host/machine.ts).
import type { Worker } from "node:worker_threads";
import { workerThreads } from "./lazy.ts";
import type { Key } from "./keys.ts";

const RING = 1 << 16;
// Int32 slots: bytes written in all (the worker's), closed flag, then the ring.
const WRITTEN = 0, CLOSED = 1, HEADER = 8;

const WORKER = `
const { workerData } = require("node:worker_threads");
const { readSync } = require("node:fs");
const { sab, fd } = workerData;
const state = new Int32Array(sab, 0, 2);
const ring = new Uint8Array(sab, ${HEADER});
const buf = Buffer.alloc(4096);
const sleep = new Int32Array(new SharedArrayBuffer(4));
for (;;) {
  let n;
  try {
    n = readSync(fd, buf, 0, buf.length, null);
  } catch (e) {
    if (e.code === "EAGAIN") { Atomics.wait(sleep, 0, 0, 10); continue; }
    n = 0;
  }
  if (n === 0) { Atomics.store(state, 1, 1); Atomics.notify(state, 0); break; }
  let w = Atomics.load(state, 0);
  for (let i = 0; i < n; i++) ring[(w + i) % ${RING}] = buf[i];
  Atomics.add(state, 0, n);
  Atomics.notify(state, 0);
}
`;

/** Standard input (or another readable fd) as the guest's keyboard and serial line. */
export class LiveInput {
  private readonly sab = new SharedArrayBuffer(HEADER + RING);
  private readonly state = new Int32Array(this.sab, 0, 2);
  private readonly ring = new Uint8Array(this.sab, HEADER);
  private taken = 0;
  private readonly worker: Worker;
  private readonly raw: boolean;

  constructor(fd = 0) {
    // A terminal in raw mode: each key as it is typed, no echo, Ctrl-C to the guest.
    this.raw = fd === 0 && !!process.stdin.isTTY;
    if (this.raw) process.stdin.setRawMode(true);
    this.worker = new (workerThreads().Worker)(WORKER, { eval: true, workerData: { sab: this.sab, fd } });
    this.worker.unref();
  }

  /** Everything that arrived since the last read (empty when nothing has). */
  read(): Uint8Array {
    const written = Atomics.load(this.state, WRITTEN);
    const n = Math.min(written - this.taken, RING);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.ring[(this.taken + i) % RING];
    this.taken = written;
    return out;
  }

  /** Whether bytes are waiting to be read. */
  get ready(): boolean { return Atomics.load(this.state, WRITTEN) !== this.taken; }

  /** The input ended (end of file) and everything in it was read. */
  get closed(): boolean { return Atomics.load(this.state, CLOSED) === 1 && !this.ready; }

  /** Sleep until input arrives or `ms` pass. */
  wait(ms: number): void {
    const seen = Atomics.load(this.state, WRITTEN);
    if (seen === this.taken && !this.closed && ms > 0) Atomics.wait(this.state, WRITTEN, seen, ms);
  }

  close(): void {
    if (this.raw) process.stdin.setRawMode(false);
    void this.worker.terminate();
  }
}

/**
 * What was typed, taken when the machine looks: Ctrl-A x (as in QEMU) quits, Ctrl-A
 * Ctrl-A types one Ctrl-A, everything else goes to `typed` (ConIn's keystrokes in boot
 * services, the serial port's receiver after: the machine decides).
 */
export class Typing {
  /** The last byte typed was Ctrl-A (the escape of Ctrl-A x). */
  private escape = false;

  constructor(readonly input: LiveInput, private readonly quit: () => void, private readonly typed: (bytes: Uint8Array) => void) {}

  pump(): void {
    if (!this.input.ready) return;
    const typed: number[] = [];
    for (const b of this.input.read()) {
      if (this.escape) {
        this.escape = false;
        if (b === 0x78 || b === 0x58) return this.quit();
        if (b === 0x01) typed.push(b);
      } else if (b === 0x01) {
        this.escape = true;
      } else {
        typed.push(b);
      }
    }
    if (typed.length) this.typed(Uint8Array.from(typed));
  }

  /** Input may still come: the terminal (or pipe) is open. */
  get open(): boolean { return !this.input.closed; }
}

// xterm/VT100 sequences after ESC [ (or ESC O) for the EFI scan codes (UEFI 2.10 §12.3 table 12-2).
const CSI: Record<string, number> = {
  A: 0x01, B: 0x02, C: 0x03, D: 0x04, H: 0x05, F: 0x06, "2~": 0x07, "3~": 0x08, "5~": 0x09, "6~": 0x0a,
  "1~": 0x05, "4~": 0x06, P: 0x0b, Q: 0x0c, R: 0x0d, S: 0x0e, "15~": 0x0f, "17~": 0x10, "18~": 0x11,
  "19~": 0x12, "20~": 0x13, "21~": 0x14, "23~": 0x15, "24~": 0x16,
};
const SCAN_ESC = 0x17;

/**
 * The EFI keystrokes typed as `bytes` (UTF-8 text, control characters, escape sequences),
 * each due at `atNs`. Enter (CR or LF) is CHAR_CARRIAGE_RETURN, DEL and BS are
 * CHAR_BACKSPACE, an ESC not starting a sequence is the Esc key.
 */
export function keystrokes(bytes: Uint8Array, atNs: number): Key[] {
  const keys: Key[] = [];
  const text = Buffer.from(bytes).toString("utf8");
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x1b) {
      const m = /^\x1b[[O](\d*~|[A-HPQRS])/.exec(text.slice(i));
      if (m && m[1] in CSI) {
        keys.push({ scan: CSI[m[1]], unicode: 0, atNs });
        i += m[0].length - 1;
      } else {
        keys.push({ scan: SCAN_ESC, unicode: 0, atNs });
      }
      continue;
    }
    const unicode = c === 0x0a ? 0x0d : c === 0x7f ? 0x08 : c;
    keys.push({ scan: 0, unicode, atNs });
  }
  return keys;
}
