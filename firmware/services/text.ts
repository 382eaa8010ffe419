// Console: EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL on ConOut/StdErr and
// EFI_SIMPLE_TEXT_INPUT_PROTOCOL on ConIn (UEFI 2.10 §12.3, §12.4). Output goes to the
// host; keystrokes come from it (host key_next/key_take: a script of keys, each due at a
// guest time), and WaitForKey is signalled when one is due (events.ts asks keyDue()).
import { guest, gp, ucs2Len } from "../mem";
import { hostConsoleOut, hostKeyNext, hostKeyTake, hostWaitForever } from "../abi";
import { SIMPLE_TEXT_OUTPUT_MODE, INPUT_KEY, KEY_DATA, KEY_STATE, TOGGLE_STATE_VALID, Status } from "../spec/gen";

// Mode 0 is the 80x25 mode every console must offer (§12.4 QueryMode).
const COLUMNS: u64 = 80;
const ROWS: u64 = 25;
// EFI_LIGHTGRAY on EFI_BLACK, the reset attribute.
const DEFAULT_ATTRIBUTE: i32 = 0x07;
// Longest string OutputString accepts, in bytes; a longer one is a runaway pointer.
const MAX_STRING: u64 = 1 << 20;

let mode: u64 = 0; // guest address of SIMPLE_TEXT_OUTPUT_MODE

export function textInit(modeAddr: u64): void {
  mode = modeAddr;
  const m = gp(mode);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.MaxMode, 1);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.Mode, 0);
  clear(true);
}

function clear(resetAttribute: bool): void {
  const m = gp(mode);
  if (resetAttribute) store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.Attribute, DEFAULT_ATTRIBUTE);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorColumn, 0);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorRow, 0);
  store<u8>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorVisible, 1);
}

export function ConOut_Reset(self: u64, extended: u8): u64 {
  clear(true);
  return Status.SUCCESS;
}

export function ConOut_OutputString(self: u64, str: u64): u64 {
  const n = ucs2Len(str, MAX_STRING);
  if (n < 0) return Status.INVALID_PARAMETER;
  if (n == 0) return Status.SUCCESS;
  const s = guest(str, <u64>n);
  hostConsoleOut(s, <u32>n);
  advanceCursor(s, <usize>n);
  return Status.SUCCESS;
}

/** Track the cursor as a terminal would: CR, LF, BS, wrap at the last column, scroll. */
function advanceCursor(s: usize, bytes: usize): void {
  const m = gp(mode);
  let col = <u64>load<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorColumn);
  let row = <u64>load<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorRow);
  for (let i: usize = 0; i < bytes; i += 2) {
    const c = load<u16>(s + i);
    if (c == 13) col = 0;
    else if (c == 10) row++;
    else if (c == 8) { if (col > 0) col--; }
    else if (++col == COLUMNS) { col = 0; row++; }
    if (row == ROWS) row = ROWS - 1;
  }
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorColumn, <i32>col);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorRow, <i32>row);
}

export function ConOut_TestString(self: u64, str: u64): u64 {
  // Every UCS-2 code unit is passed through to the host terminal.
  return ucs2Len(str, MAX_STRING) < 0 ? Status.INVALID_PARAMETER : Status.SUCCESS;
}

export function ConOut_QueryMode(self: u64, modeNumber: u64, columns: u64, rows: u64): u64 {
  if (modeNumber != 0) return Status.UNSUPPORTED;
  const c = guest(columns, 8);
  const r = guest(rows, 8);
  if (!c || !r) return Status.INVALID_PARAMETER;
  store<u64>(c, COLUMNS);
  store<u64>(r, ROWS);
  return Status.SUCCESS;
}

export function ConOut_SetMode(self: u64, modeNumber: u64): u64 {
  if (modeNumber != 0) return Status.UNSUPPORTED;
  clear(false);
  return Status.SUCCESS;
}

export function ConOut_SetAttribute(self: u64, attribute: u64): u64 {
  // Foreground in bits 0-3, background in bits 4-6 (§12.4 SetAttribute).
  if (attribute > 0x7f) return Status.UNSUPPORTED;
  store<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.Attribute, <i32>attribute);
  return Status.SUCCESS;
}

export function ConOut_ClearScreen(self: u64): u64 {
  clear(false);
  return Status.SUCCESS;
}

export function ConOut_SetCursorPosition(self: u64, column: u64, row: u64): u64 {
  if (column >= COLUMNS || row >= ROWS) return Status.UNSUPPORTED;
  store<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.CursorColumn, <i32>column);
  store<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.CursorRow, <i32>row);
  return Status.SUCCESS;
}

export function ConOut_EnableCursor(self: u64, visible: u8): u64 {
  store<u8>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.CursorVisible, visible ? 1 : 0);
  return Status.SUCCESS;
}

/** ConIn's WaitForKey event (system.ts makes it). */
export let waitForKey: u64 = 0;
export function setWaitForKey(e: u64): void { waitForKey = e; }

/** Guest time (ns since the epoch) of the next keystroke; u64 max: none is coming. */
export function nextKeyAt(): u64 { return hostKeyNext(); }

// Reset leaves the keys to come alone: they are typed over time, not buffered yet.
export function ConIn_Reset(self: u64, extended: u8): u64 {
  return Status.SUCCESS;
}

/**
 * Polls in a row that found no key while none was coming: a guest at a prompt that reads
 * keys without waiting (GRUB's rescue shell polls ReadKeyStroke) waits for ever, and
 * after this many the run ends as such rather than spin to its time budget.
 */
const IDLE_POLLS: u32 = 200_000;
let idlePolls: u32 = 0;

/** The keystroke due now into the EFI_INPUT_KEY at WASM address k; NOT_READY when none is. */
function takeKey(k: usize): u64 {
  const v = hostKeyTake();
  if (v == 0xffff_ffff) {
    if (hostKeyNext() != u64.MAX_VALUE) idlePolls = 0;
    else if (++idlePolls >= IDLE_POLLS) hostWaitForever();
    return Status.NOT_READY;
  }
  idlePolls = 0;
  store<u16>(k + INPUT_KEY.ScanCode, <u16>(v >> 16));
  store<u16>(k + INPUT_KEY.UnicodeChar, <u16>v);
  return Status.SUCCESS;
}

export function ConIn_ReadKeyStroke(self: u64, key: u64): u64 {
  const k = guest(key, INPUT_KEY.SIZE);
  return k ? takeKey(k) : Status.INVALID_PARAMETER;
}

// SimpleTextInputEx (§12.2) on the same console and the same keystrokes; WaitForKeyEx is
// ConIn's WaitForKey event. A terminal sends characters, not key positions: no shift or
// toggle state is known, and KeyState says so (neither VALID bit set). RegisterKeyNotify
// is not offered (UNSUPPORTED).
export function SimpleTextInputEx_Reset(self: u64, extended: u8): u64 {
  return Status.SUCCESS;
}

export function SimpleTextInputEx_ReadKeyStrokeEx(self: u64, data: u64): u64 {
  const d = guest(data, KEY_DATA.SIZE);
  if (!d) return Status.INVALID_PARAMETER;
  const st = takeKey(d + KEY_DATA.Key);
  if (st != Status.SUCCESS) return st;
  store<u32>(d + KEY_DATA.KeyState + KEY_STATE.KeyShiftState, 0);
  store<u8>(d + KEY_DATA.KeyState + KEY_STATE.KeyToggleState, 0);
  return Status.SUCCESS;
}

/** As EDK2's terminal driver: a state without EFI_TOGGLE_STATE_VALID is UNSUPPORTED; a valid one is accepted (there are no lock lights to set). */
export function SimpleTextInputEx_SetState(self: u64, toggle: u64): u64 {
  const t = guest(toggle, 1);
  if (!t) return Status.INVALID_PARAMETER;
  return load<u8>(t) & TOGGLE_STATE_VALID ? Status.SUCCESS : Status.UNSUPPORTED;
}
