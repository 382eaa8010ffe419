// The PC's CMOS RTC (Motorola MC146818A and its clones): an index port 0x70 and a data
// port 0x71 onto 128 bytes, of which 0x00-0x0d are the clock and 0x0e-0x7f battery-
// backed RAM. Bit 7 of the index is the chipset's NMI mask, not part of the index.
//
//   0x00 seconds  0x01 sec alarm  0x02 minutes  0x03 min alarm  0x04 hours  0x05 hr alarm
//   0x06 weekday (1 = Sunday)  0x07 day  0x08 month  0x09 year % 100
//   0x0a A: UIP(7) divider(6:4) rate(3:0)  0x0b B: SET(7) PIE AIE UIE SQWE DM(2) 24/12(1) DSE
//   0x0c C: IRQF PF AF UF (read-only, read clears)   0x0d D: VRT(7) (read-only)
//   0x32 century (IBM PC/AT convention; ACPI's FADT.century names it when present)
//
// Linux reads the time in mc146818_get_time (drivers/rtc/rtc-mc146818-lib.c), bracketed
// by mc146818_avoid_UIP: seconds, UIP, seconds again; then the fields and register B for
// DM. Without ACPI there is no century register for it, so years below 70 count as 20xx.
// The clock is the host's: reads compute the fields from clock() + an offset the guest
// sets by writing the time (with SET held, as mc146818_set_time does). UIP always reads
// clear: an update cycle takes no time here, so no read can see one half done.

import type { PortDevice } from "./bus.ts";

export const RTC_INDEX = 0x70;
export const RTC_DATA = 0x71;
export const RTC_NMI_DISABLE = 0x80;

export const RTC_SECONDS = 0x00;
export const RTC_SECONDS_ALARM = 0x01;
export const RTC_MINUTES = 0x02;
export const RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04;
export const RTC_HOURS_ALARM = 0x05;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
export const CMOS_CENTURY = 0x32;

export const RTC_UIP = 0x80;       // A
export const RTC_SET = 0x80;       // B: updates halted, time may be written
export const RTC_DM_BINARY = 0x04; // B: 1 = binary, 0 = BCD
export const RTC_24H = 0x02;       // B
export const RTC_VRT = 0x80;       // D: valid RAM and time
export const RTC_HOURS_PM = 0x80;  // hours, 12-hour mode

/** Register A after POST: 32.768 kHz time base (divider 010), 1024 Hz periodic rate. */
const REG_A_DEFAULT = 0x26;
/** Register B after POST: 24-hour, BCD, no interrupts, no daylight saving. */
const REG_B_DEFAULT = RTC_24H;

// NVRAM set-up a PC BIOS leaves (IBM PC/AT Technical Reference, CMOS RAM map).
export const CMOS_FLOPPY_TYPES = 0x10;  // 0: no drives
export const CMOS_EQUIPMENT = 0x14;
export const CMOS_BASE_MEM_LO = 0x15;   // KiB below 1 MiB: 640
export const CMOS_EXT_MEM_LO = 0x17;    // KiB from 1 MiB, saturating at 0xffff (64 MiB)
export const CMOS_EXT_MEM2_LO = 0x30;   // a copy of 0x17/0x18 (POST's count)
export const CMOS_MEM_16M_LO = 0x34;    // 64 KiB units from 16 MiB to 4 GiB (AMI/SeaBIOS convention)

export interface CmosOptions {
  /** Milliseconds since the Unix epoch, UTC; default Date.now. */
  clock?: () => number;
  /** Guest RAM in bytes, to fill the memory-size bytes; left 0 without it. */
  ramBytes?: number;
}

/** The guest's date and time as fields, and the instant they were taken (ms since the
 *  epoch, guest time), whose milliseconds into the second survive a write of the time. */
interface Fields { sec: number; min: number; hour: number; day: number; month: number; year: number; ms: number }

export class Cmos implements PortDevice {
  readonly name = "cmos-rtc";
  readonly ports: [number, number][] = [[RTC_INDEX, RTC_DATA]];
  /** Registers 0x00-0x7f; the time fields 0x00, 0x02, 0x04, 0x06-0x09 and 0x32 are
   *  computed on read and not stored here. */
  readonly ram = new Uint8Array(128);
  index = 0;
  /** The last NMI-mask bit written with an index, for a host that delivers NMIs. */
  nmiDisabled = false;
  /** Guest time minus clock(), in ms: what writing the time changed. */
  offsetMs = 0;
  private readonly clock: () => number;
  /** The time fields while SET is held: frozen, and written field by field. */
  private held: Fields | undefined;

  constructor(opts: CmosOptions = {}) {
    this.clock = opts.clock ?? Date.now;
    this.ram[RTC_REG_A] = REG_A_DEFAULT;
    this.ram[RTC_REG_B] = REG_B_DEFAULT;
    this.ram[RTC_REG_D] = RTC_VRT;
    setU16(this.ram, CMOS_BASE_MEM_LO, 640);
    if (opts.ramBytes !== undefined) {
      const above1M = Math.max(0, opts.ramBytes - 0x10_0000) / 1024;
      setU16(this.ram, CMOS_EXT_MEM_LO, Math.min(0xffff, above1M));
      setU16(this.ram, CMOS_EXT_MEM2_LO, Math.min(0xffff, above1M));
      const above16M = Math.max(0, Math.min(opts.ramBytes, 2 ** 32) - 0x100_0000) / 0x1_0000;
      setU16(this.ram, CMOS_MEM_16M_LO, Math.min(0xffff, above16M));
    }
  }

  read(port: number, _size: 1 | 2 | 4): number {
    if (port === RTC_INDEX) return 0xff; // write-only on PC chipsets
    const i = this.index;
    switch (i) {
      case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH: case RTC_MONTH: case RTC_YEAR: case CMOS_CENTURY:
        return this.timeRegister(i);
      case RTC_REG_C:
        return 0; // interrupt flags: no periodic, alarm or update interrupt is modelled
      default:
        return this.ram[i];
    }
  }

  write(port: number, _size: 1 | 2 | 4, value: number): void {
    value &= 0xff;
    if (port === RTC_INDEX) {
      this.index = value & 0x7f;
      this.nmiDisabled = (value & RTC_NMI_DISABLE) !== 0;
      return;
    }
    const i = this.index;
    switch (i) {
      case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH: case RTC_MONTH: case RTC_YEAR: case CMOS_CENTURY:
        this.setTimeRegister(i, value);
        return;
      case RTC_REG_A:
        this.ram[i] = value & ~RTC_UIP; // UIP is read-only, and never set here
        return;
      case RTC_REG_B: {
        const was = this.ram[i];
        this.ram[i] = value;
        if (value & RTC_SET && !(was & RTC_SET)) this.held = this.now();
        if (!(value & RTC_SET) && this.held) {
          // The divider restarts with the new time at the start of its second.
          this.offsetMs += fieldsMs(this.held) - this.now().ms;
          this.held = undefined;
        }
        return;
      }
      case RTC_REG_C: case RTC_REG_D:
        return; // read-only
      default:
        this.ram[i] = value;
    }
  }

  private now(): Fields {
    const t = this.clock() + this.offsetMs;
    const d = new Date(t);
    return {
      sec: d.getUTCSeconds(), min: d.getUTCMinutes(), hour: d.getUTCHours(),
      day: d.getUTCDate(), month: d.getUTCMonth() + 1, year: d.getUTCFullYear(), ms: t,
    };
  }

  private timeRegister(i: number): number {
    const f = this.held ?? this.now();
    const b = this.ram[RTC_REG_B];
    const enc = (n: number) => (b & RTC_DM_BINARY ? n : toBcd(n));
    switch (i) {
      case RTC_SECONDS: return enc(f.sec);
      case RTC_MINUTES: return enc(f.min);
      case RTC_HOURS: {
        if (b & RTC_24H) return enc(f.hour);
        const h12 = f.hour % 12 === 0 ? 12 : f.hour % 12;
        return enc(h12) | (f.hour >= 12 ? RTC_HOURS_PM : 0);
      }
      case RTC_DAY_OF_WEEK: return enc(new Date(Date.UTC(f.year, f.month - 1, f.day)).getUTCDay() + 1);
      case RTC_DAY_OF_MONTH: return enc(f.day);
      case RTC_MONTH: return enc(f.month);
      case RTC_YEAR: return enc(f.year % 100);
      default: return enc(Math.floor(f.year / 100)); // CMOS_CENTURY
    }
  }

  /** A time field written: applied to the held fields under SET, else at once. The
   *  weekday is derived from the date, so writes to it are dropped. */
  private setTimeRegister(i: number, value: number): void {
    if (i === RTC_DAY_OF_WEEK) return;
    const b = this.ram[RTC_REG_B];
    const dec = (v: number) => (b & RTC_DM_BINARY ? v : fromBcd(v));
    const f = this.held ?? this.now();
    switch (i) {
      case RTC_SECONDS: f.sec = dec(value); break;
      case RTC_MINUTES: f.min = dec(value); break;
      case RTC_HOURS:
        if (b & RTC_24H) f.hour = dec(value);
        else f.hour = (dec(value & ~RTC_HOURS_PM) % 12) + (value & RTC_HOURS_PM ? 12 : 0);
        break;
      case RTC_DAY_OF_MONTH: f.day = dec(value); break;
      case RTC_MONTH: f.month = dec(value); break;
      case RTC_YEAR: f.year = f.year - (f.year % 100) + dec(value); break;
      default: f.year = dec(value) * 100 + (f.year % 100); // CMOS_CENTURY
    }
    if (!this.held) this.offsetMs += fieldsMs(f) + (f.ms % 1000 + 1000) % 1000 - f.ms;
  }
}

function fieldsMs(f: Fields): number {
  return Date.UTC(f.year, f.month - 1, f.day, f.hour, f.min, f.sec);
}

export const toBcd = (n: number) => ((Math.floor(n / 10) % 10) << 4) | (n % 10);
export const fromBcd = (v: number) => (v >> 4) * 10 + (v & 0x0f);

function setU16(ram: Uint8Array, at: number, v: number): void {
  ram[at] = v & 0xff;
  ram[at + 1] = (v >> 8) & 0xff;
}
