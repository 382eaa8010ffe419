// EFI_UNICODE_COLLATION_PROTOCOL (UEFI 2.10 §19.2, the "2" revision: RFC 4646 language
// codes): case-insensitive comparison, wildcard matching and FAT 8.3 conversion, as EFI
// shells and file managers use it. One language, "en"; case folding covers ASCII and
// Latin-1, as EDK2's English collation does.
import { gp, guest, ucs2Len } from "../mem";
import { allocPool, NONE } from "./alloc";
import { install, newHandle } from "./handles";
import { fillSlots } from "./system";
import { Guid, MemoryType, Table, UNICODE_COLLATION_PROTOCOL } from "../spec/gen";

const MAX_STRING: u64 = 1 << 20;
const LANGUAGES = "en";

/** Installed at start by the generated installProtocols (firmware/spec/dispatch.ts). */
export function UnicodeCollation_install(): bool {
  const p = allocPool(MemoryType.BootServicesData, UNICODE_COLLATION_PROTOCOL.SIZE + 8);
  const h = newHandle();
  if (p == NONE || !h) return false;
  fillSlots(Table.UnicodeCollation, p);
  const langs = p + <u64>UNICODE_COLLATION_PROTOCOL.SIZE;
  for (let i = 0; i < LANGUAGES.length; i++) store<u8>(gp(langs) + <usize>i, <u8>LANGUAGES.charCodeAt(i));
  store<u8>(gp(langs) + <usize>LANGUAGES.length, 0);
  store<u64>(gp(p) + UNICODE_COLLATION_PROTOCOL.SupportedLanguages, langs);
  install(h, Guid.UNICODE_COLLATION2_PROTOCOL, p);
  return true;
}

@inline function upper(c: u32): u32 {
  if (c >= 0x61 && c <= 0x7a) return c - 0x20;
  if (c >= 0xe0 && c <= 0xfe && c != 0xf7) return c - 0x20;
  return c;
}
@inline function lower(c: u32): u32 {
  if (c >= 0x41 && c <= 0x5a) return c + 0x20;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 0x20;
  return c;
}

/** WASM address of a guest string with its NUL, or 0. */
function str(p: u64): usize {
  const n = ucs2Len(p, MAX_STRING);
  return n < 0 ? 0 : guest(p, <u64>n + 2);
}

/** §19.2.2 StriColl: < 0, 0, > 0 as s1 sorts before, with, after s2, ignoring case. */
export function UnicodeCollation_StriColl(self: u64, s1: u64, s2: u64): u64 {
  const a = str(s1), b = str(s2);
  if (!a || !b) return 0;
  for (let i: usize = 0; ; i += 2) {
    const x = upper(<u32>load<u16>(a + i)), y = upper(<u32>load<u16>(b + i));
    if (x != y || !x) return <u64>(<i64>x - <i64>y);
  }
  return 0;
}

/** Case-insensitive match of the string at s against the pattern at p: * any run, ? one character, [abc] and [a-z] one of a set. */
function match(s: usize, p: usize): bool {
  for (;;) {
    const c = <u32>load<u16>(p);
    if (!c) return load<u16>(s) == 0;
    if (c == 0x2a) { // '*'
      for (let t = s; ; t += 2) {
        if (match(t, p + 2)) return true;
        if (!load<u16>(t)) return false;
      }
    }
    const ch = <u32>load<u16>(s);
    if (!ch) return false;
    if (c == 0x3f) { s += 2; p += 2; continue; } // '?'
    if (c == 0x5b) { // '['
      let q = p + 2, ok = false;
      let prev: u32 = 0;
      for (; load<u16>(q) && load<u16>(q) != 0x5d; q += 2) {
        const m = <u32>load<u16>(q);
        if (m == 0x2d && prev && load<u16>(q + 2) && load<u16>(q + 2) != 0x5d) {
          const hi = <u32>load<u16>(q + 2);
          if (upper(ch) >= upper(prev) && upper(ch) <= upper(hi)) ok = true;
          q += 2;
          prev = 0;
          continue;
        }
        if (upper(m) == upper(ch)) ok = true;
        prev = m;
      }
      if (!ok || !load<u16>(q)) return false;
      s += 2;
      p = q + 2;
      continue;
    }
    if (upper(c) != upper(ch)) return false;
    s += 2;
    p += 2;
  }
  return false;
}

export function UnicodeCollation_MetaiMatch(self: u64, string: u64, pattern: u64): u64 {
  const s = str(string), p = str(pattern);
  return s && p && match(s, p) ? 1 : 0;
}

export function UnicodeCollation_StrLwr(self: u64, string: u64): void {
  const s = str(string);
  if (s) for (let q = s; load<u16>(q); q += 2) store<u16>(q, <u16>lower(<u32>load<u16>(q)));
}

export function UnicodeCollation_StrUpr(self: u64, string: u64): void {
  const s = str(string);
  if (s) for (let q = s; load<u16>(q); q += 2) store<u16>(q, <u16>upper(<u32>load<u16>(q)));
}

/** §19.2.6 FatToStr: FatSize OEM characters (or up to a NUL) to a NUL-terminated string. */
export function UnicodeCollation_FatToStr(self: u64, fatSize: u64, fat: u64, string: u64): void {
  if (fatSize > MAX_STRING) return;
  const f = guest(fat, fatSize ? fatSize : 1);
  if (!f) return;
  let n: u64 = 0;
  while (n < fatSize && load<u8>(f + <usize>n)) n++;
  const out = guest(string, (n + 1) << 1);
  if (!out) return;
  for (let i: u64 = 0; i < n; i++) store<u16>(out + <usize>(i << 1), <u16>load<u8>(f + <usize>i));
  store<u16>(out + <usize>(n << 1), 0);
}

/**
 * §19.2.7 StrToFat: upper-cased, '.' and ' ' left out, characters FAT names cannot hold
 * replaced by '_' (then TRUE: the conversion lost something), the rest padded with spaces.
 */
export function UnicodeCollation_StrToFat(self: u64, string: u64, fatSize: u64, fat: u64): u64 {
  const s = str(string);
  if (!s || fatSize > MAX_STRING) return 0;
  const f = fatSize ? guest(fat, fatSize) : 1;
  if (!f) return 0;
  let lossy = false;
  let o: u64 = 0;
  for (let q = s; load<u16>(q) && o < fatSize; q += 2) {
    const c = upper(<u32>load<u16>(q));
    if (c == 0x2e || c == 0x20) continue;
    const bad = c > 0x7e || c < 0x20 || c == 0x22 || c == 0x2a || c == 0x2b || c == 0x2c || c == 0x2f ||
      c == 0x3a || c == 0x3b || c == 0x3c || c == 0x3d || c == 0x3e || c == 0x3f || c == 0x5b || c == 0x5c || c == 0x5d || c == 0x7c;
    if (bad) lossy = true;
    store<u8>(f + <usize>o, <u8>(bad ? 0x5f : c));
    o++;
  }
  for (; o < fatSize; o++) store<u8>(f + <usize>o, 0x20);
  return lossy ? 1 : 0;
}
