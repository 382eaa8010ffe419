// Time and reset (UEFI 2.10 §8.3, §8.5.1). The clock is the machine's (events.ts now())
// plus whatever SetTime moved it by; there is no wake-up alarm (Get/SetWakeupTime answer
// UNSUPPORTED, as §8.3 allows) and no capsule support.
import { guest } from "../mem";
import { hostResetSystem } from "../abi";
import { now } from "./events";
import { TIME, TIME_CAPABILITIES, Status } from "../spec/gen";

/** Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil inverse). */
function civil(days: i64): i64 {
  const z = days + 719468;
  const era = (z >= 0 ? z : z - 146096) / 146097;
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const d = doy - (153 * mp + 2) / 5 + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return (y << 16) | (m << 8) | d;
}

/** Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil). */
function days(y: i64, m: i64, d: i64): i64 {
  if (m <= 2) y--;
  const era = (y >= 0 ? y : y - 399) / 400;
  const yoe = y - era * 400;
  const doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// What SetTime set, as an offset from the machine's clock, and the zone fields it gave
// (kept as given: GetTime returns the time in the caller's own frame).
let offsetSeconds: i64 = 0;
let timeZone: i16 = 0x7ff; // EFI_UNSPECIFIED_TIMEZONE
let daylight: u8 = 0;

export function RT_SetTime(time: u64): u64 {
  const t = guest(time, TIME.SIZE);
  if (!t) return Status.INVALID_PARAMETER;
  const y = <i64>load<u16>(t + TIME.Year), mo = <i64>load<u8>(t + TIME.Month), d = <i64>load<u8>(t + TIME.Day);
  const h = <i64>load<u8>(t + TIME.Hour), mi = <i64>load<u8>(t + TIME.Minute), s = <i64>load<u8>(t + TIME.Second);
  const tz = load<i16>(t + TIME.TimeZone);
  // §8.3 EFI_TIME ranges; the day must exist in its month.
  if (y < 1900 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return Status.INVALID_PARAMETER;
  if (load<u32>(t + TIME.Nanosecond) > 999999999 || (tz != 0x7ff && (tz < -1440 || tz > 1440))) return Status.INVALID_PARAMETER;
  if (d > days(mo == 12 ? y + 1 : y, mo == 12 ? 1 : mo + 1, 1) - days(y, mo, 1)) return Status.INVALID_PARAMETER;
  offsetSeconds = days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - <i64>(now() / 1000000000);
  timeZone = tz;
  daylight = load<u8>(t + TIME.Daylight);
  return Status.SUCCESS;
}

export function RT_GetTime(time: u64, capabilities: u64): u64 {
  const t = guest(time, TIME.SIZE);
  if (!t) return Status.INVALID_PARAMETER;
  // The machine's clock: time that Stall and WaitForEvent skipped has passed here too.
  const ns = now();
  const secs = <i64>(ns / 1000000000) + offsetSeconds;
  const ymd = civil(secs / 86400);
  const sod = secs % 86400;
  memory.fill(t, 0, TIME.SIZE);
  store<u16>(t + TIME.Year, <u16>(ymd >> 16));
  store<u8>(t + TIME.Month, <u8>(ymd >> 8));
  store<u8>(t + TIME.Day, <u8>ymd);
  store<u8>(t + TIME.Hour, <u8>(sod / 3600));
  store<u8>(t + TIME.Minute, <u8>(sod / 60 % 60));
  store<u8>(t + TIME.Second, <u8>(sod % 60));
  store<u32>(t + TIME.Nanosecond, <u32>(ns % 1000000000));
  store<i16>(t + TIME.TimeZone, timeZone);
  store<u8>(t + TIME.Daylight, daylight);
  const c = guest(capabilities, TIME_CAPABILITIES.SIZE);
  if (c) {
    store<u32>(c + TIME_CAPABILITIES.Resolution, 1);
    store<u32>(c + TIME_CAPABILITIES.Accuracy, 50000000); // 50 ppm; §8.3 counts in 1e-6 ppm
    store<u8>(c + TIME_CAPABILITIES.SetsToZero, 0);
  }
  return Status.SUCCESS;
}

export function RT_ResetSystem(type: u32, status: u64, dataSize: u64, data: u64): void {
  hostResetSystem(type, status);
}
