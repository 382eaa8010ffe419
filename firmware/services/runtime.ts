// Runtime services served so far (UEFI 2.10 §8). Variables, virtual addressing and
// capsules are not served yet and answer UNSUPPORTED from the dispatcher.
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

export function RT_GetTime(time: u64, capabilities: u64): u64 {
  const t = guest(time, TIME.SIZE);
  if (!t) return Status.INVALID_PARAMETER;
  // The virtual clock: time that Stall and WaitForEvent skipped has passed here too.
  const ns = now();
  const secs = <i64>(ns / 1000000000);
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
  store<i16>(t + TIME.TimeZone, 0x7ff); // EFI_UNSPECIFIED_TIMEZONE: the clock is UTC
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
