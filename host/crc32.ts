// CRC-32 as zlib computes it (reflected, polynomial 0xEDB88320): GPT headers and entry
// arrays (UEFI 2.10 §5.3.2), PNG chunks. zlib.crc32 where Node has it (20.15 on), else a table.
import { zlib } from "./lazy.ts";

export function tableCrc32(data: Uint8Array): number {
  let c = ~0;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

let chosen: ((data: Uint8Array) => number) | undefined;
export const crc32 = (data: Uint8Array): number => (chosen ??= (zlib() as { crc32?: (data: Uint8Array) => number }).crc32 ?? tableCrc32)(data);
