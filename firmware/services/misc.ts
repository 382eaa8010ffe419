// Small boot services: CRC32, memory copy and fill, monotonic counter (UEFI 2.10 §7.5).
import { guest, reserve } from "../mem";
import { Status } from "../spec/gen";

// CRC-32 as §4.2 requires for table headers: IEEE 802.3 polynomial, reflected.
const CRC_TABLE: usize = reserve(256 * 4);
let crcReady = false;

export function crc32(p: usize, len: usize): u32 {
  if (!crcReady) {
    for (let n: u32 = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      store<u32>(CRC_TABLE + (<usize>n << 2), c);
    }
    crcReady = true;
  }
  let c: u32 = 0xffffffff;
  for (let i: usize = 0; i < len; i++) {
    c = load<u32>(CRC_TABLE + (<usize>((c ^ load<u8>(p + i)) & 0xff) << 2)) ^ (c >>> 8);
  }
  return ~c;
}

export function BS_CalculateCrc32(data: u64, size: u64, crcOut: u64): u64 {
  const d = guest(data, size);
  const out = guest(crcOut, 4);
  if (size == 0 || !d || !out) return Status.INVALID_PARAMETER;
  store<u32>(out, crc32(d, <usize>size));
  return Status.SUCCESS;
}

// CopyMem and SetMem return nothing (§7.5); a range outside RAM is ignored rather
// than written, since the guest cannot be told.
export function BS_CopyMem(dst: u64, src: u64, length: u64): void {
  const d = guest(dst, length);
  const s = guest(src, length);
  if (length && d && s) memory.copy(d, s, <usize>length); // memmove semantics, as §7.5 asks
}

export function BS_SetMem(buffer: u64, size: u64, value: u8): void {
  const b = guest(buffer, size);
  if (size && b) memory.fill(b, value, <usize>size);
}

// §7.5 GetNextMonotonicCount: the high 32 bits survive resets (here: the run), the
// low 32 bits count calls.
let monotonic: u64 = 0;

export function BS_GetNextMonotonicCount(countOut: u64): u64 {
  const out = guest(countOut, 8);
  if (!out) return Status.INVALID_PARAMETER;
  store<u64>(out, monotonic++);
  return Status.SUCCESS;
}

export function RT_GetNextHighMonotonicCount(highOut: u64): u64 {
  const out = guest(highOut, 4);
  if (!out) return Status.INVALID_PARAMETER;
  monotonic = ((monotonic >> 32) + 1) << 32;
  store<u32>(out, <u32>(monotonic >> 32));
  return Status.SUCCESS;
}
