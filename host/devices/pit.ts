// The Intel 8254 programmable interval timer at 0x40-0x43, and the PC's system control
// port B at 0x61 that gates counter 2 and reads its output back.
//
//   0x40-0x42  counters 0-2: count in/out, in the byte order the control word chose
//   0x43       control word, write-only:
//              SC(7:6) counter, 11 = read-back | RW(5:4) 00 latch, 01 LSB, 10 MSB, 11 LSB then MSB
//              | M(3:1) mode 0-5 (6, 7 alias 2, 3) | BCD(0)
//   0x61       bit 0 counter 2 gate, bit 1 speaker data enable, bits 3:2 NMI enables (kept),
//              bit 4 refresh toggle, bit 5 OUT2 (read-only)
//
// Every counter is clocked at 1.193182 MHz (14.31818 MHz / 12). Counters are not
// stepped: a counter remembers when it started and from which value, and a read
// computes its value from a time source in nanoseconds (the host's choice: a virtual
// clock from guest progress, or the wall clock). Counter 0 is the system tick (IRQ 0):
// Linux programs it in mode 2 (pit_set_periodic, 0x34) or mode 4 (pit_set_oneshot, 0x38,
// then LSB and MSB per event) in drivers/clocksource/i8253.c. Counter 2 is the TSC
// calibration reference: arch/x86/kernel/tsc.c sets the gate (port 0x61 bit 0), programs
// mode 0 (0xb0) and either polls OUT2 in port 0x61 until terminal count
// (pit_calibrate_tsc) or reads the live count's MSB fall by one every 256 ticks
// (quick_pit_calibrate). Counter 1 (DRAM refresh) is here because it is on the chip.
//
// The clock runs free, its edges at fixed multiples of 1/1.193182 MHz of the time source.
// Simplifications, against the 8254 datasheet (Intel 231164): a count written counts as
// loaded at the edge just past, so it decrements one edge sooner than the chip, which
// loads on the next edge without decrementing; in modes 2 and 3 a new count written
// without a control word restarts the period at once instead of at its end; mode 3 with
// an odd count reads an even value one lower. Port 0x61 bit 4 toggles on each read, not
// every 15 µs: it shows progress to a poller, which is all Linux ever asks of it.

import type { PortDevice } from "./bus.ts";

export const PIT_HZ = 1_193_182;
export const PIT_CH0 = 0x40;
export const PIT_CH2 = 0x42;
export const PIT_MODE = 0x43;
export const SYSTEM_CONTROL_B = 0x61;

export const PIT_RW_LATCH = 0;
export const PIT_RW_LSB = 1;
export const PIT_RW_MSB = 2;
export const PIT_RW_LSB_MSB = 3;
export const PIT_READBACK = 3;           // SC = 11

export const SCB_GATE2 = 0x01;
export const SCB_SPEAKER = 0x02;
const SCB_KEPT = 0x0f;
export const SCB_REFRESH = 0x10;
export const SCB_OUT2 = 0x20;

export const STATUS_OUT = 0x80;
export const STATUS_NULL_COUNT = 0x40;

const NS_PER_TICK = 1e9 / PIT_HZ;
const tickOf = (ns: number) => Math.floor(ns / NS_PER_TICK);

/** One counter of the 8254. */
export class PitCounter {
  mode = 0;
  rw = PIT_RW_LSB_MSB;
  bcd = false;
  /** The count as last written (0 = the modulus: 65536, or 10000 in BCD). */
  initial = 0;
  /** GATE input: tied high for counters 0 and 1, port 0x61 bit 0 for counter 2. */
  gate = true;

  /** Counting since clock edge startTick from startValue (false: stopped, value frozen). */
  private counting = false;
  private startTick = 0;
  private startValue = 0;
  /** Modes 0, 1, 4, 5: terminal count was reached before the current run began. */
  private tcDone = false;
  /** OUT while not counting. */
  private idleOut = false;
  /**
   * Count written but not yet taken (null count, and modes 1 and 5 awaiting a trigger).
   * Clear at power-on, as in QEMU: Linux's i8254() (arch/x86/lib/kaslr.c, its entropy
   * on a CPU without TSC or RDRAND) polls the read-back status until it is, whether or
   * not the counter was ever programmed.
   */
  private nullCount = false;
  /** A whole count has been written since the control word: a gate edge may use it. */
  private hasCount = false;

  private writeMsbNext = false;
  private lsb = 0;               // first byte of a two-byte count
  private readMsbNext = false;   // the read flip-flop, shared by live and latched reads
  private latched = -1;          // latched count, -1 when none
  private status = -1;           // latched status byte, -1 when none

  constructor(private readonly timeNs: () => number) {}

  private get modulus(): number {
    return this.bcd ? 10_000 : 0x1_0000;
  }

  /** Clock edges since the start. The clock runs free: its edges fall at fixed instants
   *  (multiples of NS_PER_TICK), whenever the guest starts or resumes a count. */
  private ticks(now: number): number {
    return Math.max(0, tickOf(now) - this.startTick);
  }

  /** The count element's value now, as a binary number in 0..modulus-1. */
  value(now = this.timeNs()): number {
    if (!this.counting) return this.startValue;
    const k = this.ticks(now), m = this.modulus;
    switch (this.mode) {
      case 2: {
        const n = this.initial || m;
        return (n - (k % n)) % m;
      }
      case 3: {
        const n = this.initial || m, half = Math.ceil(n / 2), phase = k % n;
        return ((n & ~1) - 2 * (phase < half ? phase : phase - half)) % m;
      }
      default: // 0, 1, 4, 5: count down through zero and on, wrapping
        return (((this.startValue - k) % m) + m) % m;
    }
  }

  /** The OUT pin now. */
  out(now = this.timeNs()): boolean {
    if (!this.counting) return this.idleOut;
    const k = this.ticks(now);
    switch (this.mode) {
      case 0: case 1:
        return this.tcDone || k >= (this.startValue || this.modulus);
      case 4: case 5:
        return this.tcDone || k !== (this.startValue || this.modulus);
      case 2: {
        const n = this.initial || this.modulus;
        return k % n !== n - 1;
      }
      default: { // 3
        const n = this.initial || this.modulus;
        return k % n < Math.ceil(n / 2);
      }
    }
  }

  /** When OUT next rises after now, in the time source's ns; undefined if it will not
   *  without another write. IRQ 0 is that edge of counter 0. */
  nextRiseNs(now = this.timeNs()): number | undefined {
    if (!this.counting) return undefined;
    const k = this.ticks(now);
    let at: number;
    switch (this.mode) {
      case 0: case 1:
        if (this.tcDone) return undefined;
        at = this.startValue || this.modulus;
        break;
      case 4: case 5:
        if (this.tcDone) return undefined;
        at = (this.startValue || this.modulus) + 1; // OUT is low for the one clock at TC
        break;
      default: { // 2, 3: each period ends with OUT rising as the count reloads
        const n = this.initial || this.modulus;
        at = (Math.floor(k / n) + 1) * n;
      }
    }
    if (at <= k) return undefined;
    const t = Math.ceil((this.startTick + at) * NS_PER_TICK);
    return this.ticks(t) < at ? t + 1 : t; // never a rounding short of the edge
  }

  control(rw: number, mode: number, bcd: boolean): void {
    if (rw === PIT_RW_LATCH) return this.latchCount();
    this.freeze();
    this.rw = rw;
    this.mode = mode > 5 ? mode - 4 : mode;
    this.bcd = bcd;
    this.counting = false;
    this.idleOut = this.mode !== 0; // mode 0: OUT low after the control word; others high
    this.nullCount = true;
    this.hasCount = false;
    this.writeMsbNext = this.readMsbNext = false;
    this.latched = -1;
    this.status = -1;
  }

  latchCount(): void {
    if (this.latched < 0) this.latched = this.encode(this.value());
  }

  latchStatus(): void {
    if (this.status >= 0) return;
    this.status = (this.out() ? STATUS_OUT : 0) | (this.nullCount ? STATUS_NULL_COUNT : 0) |
      (this.rw << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }

  read(): number {
    if (this.status >= 0) {
      const s = this.status;
      this.status = -1;
      return s;
    }
    const latched = this.latched >= 0;
    const v = latched ? this.latched : this.encode(this.value());
    let msb = this.rw === PIT_RW_MSB;
    if (this.rw === PIT_RW_LSB_MSB) {
      msb = this.readMsbNext;
      this.readMsbNext = !msb;
    }
    // A latch holds until it has been read whole.
    if (latched && (this.rw !== PIT_RW_LSB_MSB || msb)) this.latched = -1;
    return msb ? v >> 8 : v & 0xff;
  }

  write(byte: number): void {
    const now = this.timeNs();
    if (this.rw === PIT_RW_LSB_MSB && !this.writeMsbNext) {
      this.writeMsbNext = true;
      this.lsb = byte;
      // Mode 0: writing the first byte stops the count and drops OUT.
      if (this.mode === 0) {
        this.freeze(now);
        this.counting = false;
        this.idleOut = false;
        this.hasCount = false;
      }
      return;
    }
    this.writeMsbNext = false;
    const raw = this.rw === PIT_RW_LSB ? byte : this.rw === PIT_RW_MSB ? byte << 8 : this.lsb | (byte << 8);
    this.initial = this.bcd ? fromBcd16(raw) : raw;
    this.nullCount = true;
    this.hasCount = true;
    if (this.mode === 1 || this.mode === 5) {
      if (!this.counting) this.idleOut = true;
      return; // taken on the next gate trigger
    }
    this.start(now);
  }

  /** Port 0x61 bit 0 for counter 2. */
  setGate(level: boolean): void {
    if (level === this.gate) return;
    const now = this.timeNs();
    this.gate = level;
    if (level) {
      // Rising edge: modes 0 and 4 resume; 1, 2, 3 and 5 (re)start from the initial count.
      if (!this.hasCount) return;
      if (this.mode === 0 || this.mode === 4) this.resume(now);
      else this.start(now);
    } else if (this.mode === 0 || this.mode === 4 || this.mode === 2 || this.mode === 3) {
      // Low gate suspends modes 0 and 4; in 2 and 3 it also forces OUT high.
      const out = this.mode === 2 || this.mode === 3 ? true : this.out(now);
      this.freeze(now);
      this.counting = false;
      this.idleOut = out;
    }
  }

  private start(now: number): void {
    this.nullCount = false;
    this.startValue = this.initial % this.modulus;
    this.tcDone = false;
    this.startTick = tickOf(now);
    this.counting = this.gate || this.mode === 1 || this.mode === 5;
    if (!this.counting) this.idleOut = this.mode !== 0;
  }

  private resume(now: number): void {
    this.startTick = tickOf(now);
    this.counting = true;
  }

  /** Keep the current value (and whether TC has passed) as the start of the next run. */
  private freeze(now = this.timeNs()): void {
    if (!this.counting) return;
    const k = this.ticks(now);
    if (this.mode !== 2 && this.mode !== 3) this.tcDone ||= k >= (this.startValue || this.modulus);
    this.startValue = this.value(now);
  }

  private encode(v: number): number {
    return this.bcd ? toBcd16(v) : v;
  }
}

export class Pit implements PortDevice {
  readonly name = "pit-8254";
  readonly ports: [number, number][] = [[PIT_CH0, PIT_MODE], [SYSTEM_CONTROL_B, SYSTEM_CONTROL_B]];
  readonly counters: [PitCounter, PitCounter, PitCounter];
  /** Port 0x61 bits 3:0 as written. */
  scb = 0;
  private refresh = 0;

  constructor(readonly timeNs: () => number) {
    this.counters = [new PitCounter(timeNs), new PitCounter(timeNs), new PitCounter(timeNs)];
    this.counters[2].gate = false; // port 0x61 bit 0 starts clear
  }

  read(port: number, _size: 1 | 2 | 4): number {
    if (port === SYSTEM_CONTROL_B) {
      this.refresh ^= SCB_REFRESH;
      return this.scb | this.refresh | (this.counters[2].out() ? SCB_OUT2 : 0);
    }
    if (port === PIT_MODE) return 0xff; // the control word register cannot be read
    return this.counters[port - PIT_CH0].read();
  }

  write(port: number, _size: 1 | 2 | 4, value: number): void {
    value &= 0xff;
    if (port === SYSTEM_CONTROL_B) {
      this.scb = value & SCB_KEPT;
      this.counters[2].setGate((value & SCB_GATE2) !== 0);
    } else if (port === PIT_MODE) {
      const sc = value >> 6;
      if (sc === PIT_READBACK) {
        // Read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 3:1
        // select counters 2, 1, 0.
        for (let i = 0; i < 3; i++) {
          if (!(value & (2 << i))) continue;
          if (!(value & 0x20)) this.counters[i].latchCount();
          if (!(value & 0x10)) this.counters[i].latchStatus();
        }
      } else {
        this.counters[sc].control((value >> 4) & 3, (value >> 1) & 7, (value & 1) !== 0);
      }
    } else {
      this.counters[port - PIT_CH0].write(value);
    }
  }
}

const toBcd16 = (n: number) => {
  let r = 0;
  for (let shift = 0; shift < 16; shift += 4, n = Math.floor(n / 10)) r |= (n % 10) << shift;
  return r;
};
const fromBcd16 = (v: number) =>
  ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
