// Keystrokes for the firmware's ConIn, scripted: `--keys "fs0:{enter}{wait 500}{down}{esc}"`.
// Text is typed as it is; {name} is a key by name (UEFI 2.10 §12.3 table 12-2: EFI scan
// codes; Enter, Backspace and Tab are characters, as ConIn reports them); {wait MS}
// leaves MS milliseconds of guest time before the next key; {{ is a "{". Each key is due
// at the guest time the script reaches it; the firmware asks for it (ReadKeyStroke) or
// waits for it (WaitForKey).

export interface Key {
  /** EFI_INPUT_KEY.ScanCode: 0 for a character. */
  scan: number;
  /** EFI_INPUT_KEY.UnicodeChar: 0 for a scan code. */
  unicode: number;
  /** Guest ns (since the machine started) from which it is due. */
  atNs: number;
}

const SCAN: Record<string, number> = {
  up: 0x01, down: 0x02, right: 0x03, left: 0x04, home: 0x05, end: 0x06, insert: 0x07, delete: 0x08,
  pageup: 0x09, pagedown: 0x0a, f1: 0x0b, f2: 0x0c, f3: 0x0d, f4: 0x0e, f5: 0x0f, f6: 0x10, f7: 0x11,
  f8: 0x12, f9: 0x13, f10: 0x14, f11: 0x15, f12: 0x16, esc: 0x17,
};
const CHAR: Record<string, number> = { enter: 0x0d, backspace: 0x08, tab: 0x09, space: 0x20 };

/** The keys of a script, or an error naming the bad {…} and its offset in the script. */
export function parseKeys(script: string): Key[] {
  const keys: Key[] = [];
  let atNs = 0;
  for (let i = 0; i < script.length; ) {
    if (script.startsWith("{{", i)) {
      keys.push({ scan: 0, unicode: 0x7b, atNs });
      i += 2;
      continue;
    }
    if (script[i] !== "{") {
      const c = script.codePointAt(i)!;
      if (c > 0xffff) throw new Error(`--keys: U+${c.toString(16)} at offset ${i} is outside UCS-2, which ConIn reports`);
      keys.push({ scan: 0, unicode: c === 0x0a ? 0x0d : c, atNs });
      i += 1;
      continue;
    }
    const end = script.indexOf("}", i);
    if (end < 0) throw new Error(`--keys: "{" at offset ${i} is not closed (a literal "{" is "{{")`);
    const name = script.slice(i + 1, end).trim().toLowerCase();
    const wait = /^wait\s+(\d+)$/.exec(name);
    if (wait) atNs += Number(wait[1]) * 1e6;
    else if (name in SCAN) keys.push({ scan: SCAN[name], unicode: 0, atNs });
    else if (name in CHAR) keys.push({ scan: 0, unicode: CHAR[name], atNs });
    else throw new Error(`--keys: no key "{${name}}" at offset ${i} (known: ${[...Object.keys(CHAR), ...Object.keys(SCAN)].join(", ")}, wait MS)`);
    i = end + 1;
  }
  return keys;
}

/** The keys still to come, taken in order once due; typed ones are added as they come. */
export class KeyQueue {
  private next = 0;
  private readonly keys: Key[];
  constructor(keys: readonly Key[]) {
    this.keys = [...keys];
  }

  /** Keys typed now (host/input.ts): after every key already queued. */
  push(keys: readonly Key[]): void {
    this.keys.push(...keys);
  }

  /** When the next key is due (guest ns), or undefined when none is left. */
  nextAt(): number | undefined {
    return this.keys[this.next]?.atNs;
  }

  /** The next key if it is due by `nowNs`. */
  take(nowNs: number): Key | undefined {
    const k = this.keys[this.next];
    if (!k || k.atNs > nowNs) return undefined;
    this.next++;
    return k;
  }
}
