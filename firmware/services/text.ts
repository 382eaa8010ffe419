// Console: EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL on ConOut/StdErr and
// EFI_SIMPLE_TEXT_INPUT_PROTOCOL on ConIn (UEFI 2.10 §12.3, §12.4). Output goes to the
// host; keystrokes come from it (host key_next/key_take: a script of keys, each due at a
// guest time), and WaitForKey is signalled when one is due (events.ts asks nextKeyAt()).
//
// With a display (gop.ts), ConOut also draws its text there, as EDK2's GraphicsConsoleDxe
// does under its console splitter: 8x16 cells (font.ts), the text area centred on the
// screen, the 16 colours of EFI_TEXT_ATTR, scrolling at the bottom. The serial side is
// unchanged: every code unit still goes to the host.
import { gp, guest, reserve, ucs2Len } from "../mem";
import { callGuest, hostConsoleOut, hostKeyNext, hostKeyTake, hostWaitForever } from "../abi";
import { BS_RaiseTPL, currentTpl, restoreTpl } from "./events";
import { allocPool, NONE } from "./alloc";
import { fillRect, framebuffer, moveRect, screenHeight, screenWidth } from "./gop";
import { FIRST, HEIGHT, LAST, WIDTH, glyphRow } from "../font";
import { SIMPLE_TEXT_OUTPUT_MODE, INPUT_KEY, KEY_DATA, KEY_STATE, TOGGLE_STATE_VALID, Feature, MemoryType, Status, Tpl } from "../spec/gen";

// EFI_LIGHTGRAY on EFI_BLACK, the reset attribute.
const DEFAULT_ATTRIBUTE: i32 = 0x07;
// Longest string OutputString accepts, in bytes; a longer one is a runaway pointer.
const MAX_STRING: u64 = 1 << 20;

let mode: u64 = 0; // guest address of SIMPLE_TEXT_OUTPUT_MODE
let columns: u32 = 80; // of the current text mode
let rows: u32 = 25;
let originX: u32 = 0; // where the text area starts on the screen, in pixels
let originY: u32 = 0;

@inline function onScreen(): bool { return Feature.SCREEN && framebuffer != 0; }

export function textInit(modeAddr: u64): void {
  mode = modeAddr;
  const m = gp(mode);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.MaxMode, 1);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.Attribute, DEFAULT_ATTRIBUTE);
  setMode(0);
}

/**
 * The display came (gop.ts): the text modes it can hold. As EDK2's GraphicsConsoleDxe
 * (InitializeGraphicsConsoleTextMode) lists them: 0 is 80x25 and 1 is 80x50, the two
 * §12.4.5 QueryMode names, 1 listed but UNSUPPORTED when the screen is too small for it;
 * 2 is the whole screen in 8x16 cells when that is another size at least 80x25. Without a
 * display there is mode 0 alone, for the serial terminal.
 */
export function consoleOnScreen(): void {
  const c = screenWidth / WIDTH, r = screenHeight / HEIGHT;
  const whole = c >= 80 && r >= 25 && !(c == 80 && (r == 25 || r == 50));
  store<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.MaxMode, whole ? 3 : 2);
  setMode(<u64>load<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.Mode));
}

/** Columns << 16 | rows of text mode n; 0 when there is no such mode or the screen cannot hold it. */
function modeSize(n: u64): u32 {
  if (n >= <u64>load<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.MaxMode)) return 0;
  if (n == 0) return 80 << 16 | 25;
  const c = screenWidth / WIDTH, r = screenHeight / HEIGHT;
  if (n == 1) return c >= 80 && r >= 50 ? 80 << 16 | 50 : 0;
  return c << 16 | r;
}

/** Switch to text mode n: the screen cleared to the background, the cursor at (0, 0) (§12.4.6). */
function setMode(n: u64): u64 {
  const size = modeSize(n);
  if (!size) return Status.UNSUPPORTED;
  store<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.Mode, <i32>n);
  columns = size >> 16;
  rows = size & 0xffff;
  // Centred, as EDK2's DeltaX/DeltaY; a mode wider or taller than the screen starts at its edge and is cut there.
  originX = (screenWidth - min(screenWidth, columns * WIDTH)) >> 1;
  originY = (screenHeight - min(screenHeight, rows * HEIGHT)) >> 1;
  clear();
  return Status.SUCCESS;
}

/** ClearScreen's work: the cursor home and the whole screen in the background colour, as EDK2 fills it. */
function clear(): void {
  const m = gp(mode);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorColumn, 0);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorRow, 0);
  store<u8>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorVisible, 1);
  if (onScreen()) fillRect(0, 0, screenWidth, screenHeight, background());
}

/**
 * BGRX pixel of EFI text colour i (§12.4 EFI_BLACK..EFI_WHITE: bit 0 blue, 1 green, 2 red,
 * 3 bright), the values of EDK2's GraphicsConsole palette (mGraphicsEfiColors): 0x98
 * per channel, 0xff when bright, and dark grey 0x30.
 */
function colour(i: u32): u32 {
  if (i == 8) return 0x303030;
  const v: u32 = i & 8 ? 0xff : 0x98;
  return (i & 1 ? v : 0) | (i & 2 ? v << 8 : 0) | (i & 4 ? v << 16 : 0);
}

@inline function attribute(): u32 { return <u32>load<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.Attribute); }
/** Background: bits 4-6 of the attribute (§12.4.7 SetAttribute). */
@inline function background(): u32 { return colour((attribute() >> 4) & 7); }

/** Code point c has a glyph: printable ASCII; anything else is drawn as a box and reported (EFI_WARN_UNKNOWN_GLYPH). */
@inline function known(c: u32): bool { return c >= FIRST && c <= LAST; }

/** Draw c in cell (col, row) in the current colours; a cell off the screen is not drawn. */
function drawCell(col: u32, row: u32, c: u32): void {
  const x = originX + col * WIDTH, y = originY + row * HEIGHT;
  if (x + WIDTH > screenWidth || y + HEIGHT > screenHeight) return;
  const fg = colour(attribute() & 15), bg = background();
  let p = gp(framebuffer) + <usize>((y * screenWidth + x) << 2);
  for (let j: u32 = 0; j < HEIGHT; j++) {
    // The box of an unknown glyph spans the font's capital height (cell rows 3 to 12).
    const bits = known(c) ? glyphRow(c, j) : j == 3 || j == 12 ? 0x7e : j > 3 && j < 12 ? 0x42 : 0;
    for (let i: u32 = 0; i < WIDTH; i++) store<u32>(p + (i << 2), bits & (0x80 >> i) ? fg : bg);
    p += <usize>(screenWidth << 2);
  }
}

/** The text area one line up; its last line in the background colour. */
function scroll(): void {
  const w = min(columns * WIDTH, screenWidth), h = min(rows * HEIGHT, screenHeight);
  if (h < HEIGHT) return;
  moveRect(originX, originY + HEIGHT, originX, originY, w, h - HEIGHT);
  fillRect(originX, originY + h - HEIGHT, w, HEIGHT, background());
}

export function ConOut_Reset(self: u64, extended: u8): u64 {
  // As EDK2: mode 0, the screen cleared; and the default attribute.
  store<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.Attribute, DEFAULT_ATTRIBUTE);
  return setMode(0);
}

export function ConOut_OutputString(self: u64, str: u64): u64 {
  const n = ucs2Len(str, MAX_STRING);
  if (n < 0) return Status.INVALID_PARAMETER;
  if (n == 0) return Status.SUCCESS;
  const s = guest(str, <u64>n);
  hostConsoleOut(s, <u32>n);
  const st = advanceCursor(s, <usize>n);
  pollKeys();
  return st;
}

/**
 * Track the cursor as a terminal would (CR, LF, BS, wrap at the last column, scroll at the
 * last row), drawing each other character at the cursor on the screen. SUCCESS, or
 * EFI_WARN_UNKNOWN_GLYPH (§12.4.3) when the screen shows some character as a box: the
 * serial terminal has taken every one, so none is skipped there.
 */
function advanceCursor(s: usize, bytes: usize): u64 {
  const m = gp(mode);
  const screen = onScreen();
  let st = Status.SUCCESS;
  let col = <u32>load<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorColumn);
  let row = <u32>load<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorRow);
  for (let i: usize = 0; i < bytes; i += 2) {
    const c = <u32>load<u16>(s + i);
    if (c == 13) col = 0;
    else if (c == 10) row++;
    else if (c == 8) { if (col > 0) col--; }
    else {
      if (screen) {
        drawCell(col, row, c);
        if (!known(c)) st = Status.WARN_UNKNOWN_GLYPH;
      }
      if (++col == columns) { col = 0; row++; }
    }
    if (row == rows) {
      row = rows - 1;
      if (screen) scroll();
    }
  }
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorColumn, <i32>col);
  store<i32>(m + SIMPLE_TEXT_OUTPUT_MODE.CursorRow, <i32>row);
  return st;
}

export function ConOut_TestString(self: u64, str: u64): u64 {
  const n = ucs2Len(str, MAX_STRING);
  if (n < 0) return Status.INVALID_PARAMETER;
  // The serial terminal takes every UCS-2 code unit; the screen only what it has glyphs for.
  if (onScreen()) {
    const s = guest(str, <u64>n);
    for (let i: usize = 0; i < <usize>n; i += 2) {
      const c = <u32>load<u16>(s + i);
      if (c != 13 && c != 10 && c != 8 && !known(c)) return Status.UNSUPPORTED;
    }
  }
  return Status.SUCCESS;
}

export function ConOut_QueryMode(self: u64, modeNumber: u64, columnsOut: u64, rowsOut: u64): u64 {
  const size = modeSize(modeNumber);
  if (!size) return Status.UNSUPPORTED;
  const c = guest(columnsOut, 8);
  const r = guest(rowsOut, 8);
  if (!c || !r) return Status.INVALID_PARAMETER;
  store<u64>(c, size >> 16);
  store<u64>(r, size & 0xffff);
  return Status.SUCCESS;
}

export function ConOut_SetMode(self: u64, modeNumber: u64): u64 {
  return setMode(modeNumber);
}

export function ConOut_SetAttribute(self: u64, attribute: u64): u64 {
  // Foreground in bits 0-3, background in bits 4-6 (§12.4 SetAttribute); what is on the screen keeps its colours.
  if (attribute > 0x7f) return Status.UNSUPPORTED;
  store<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.Attribute, <i32>attribute);
  return Status.SUCCESS;
}

export function ConOut_ClearScreen(self: u64): u64 {
  clear();
  return Status.SUCCESS;
}

export function ConOut_SetCursorPosition(self: u64, column: u64, row: u64): u64 {
  if (column >= <u64>columns || row >= <u64>rows) return Status.UNSUPPORTED;
  store<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.CursorColumn, <i32>column);
  store<i32>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.CursorRow, <i32>row);
  return Status.SUCCESS;
}

// The cursor is not drawn on the screen (the serial terminal draws its own); CursorVisible records the guest's wish.
export function ConOut_EnableCursor(self: u64, visible: u8): u64 {
  store<u8>(gp(mode) + SIMPLE_TEXT_OUTPUT_MODE.CursorVisible, visible ? 1 : 0);
  return Status.SUCCESS;
}

/** ConIn's WaitForKey event (system.ts makes it). */
export let waitForKey: u64 = 0;
export function setWaitForKey(e: u64): void { waitForKey = e; }

/** Guest time (ns since the epoch) of the next keystroke, 0 when one is waiting in the queue; u64 max: none is coming. */
export function nextKeyAt(): u64 {
  pollKeys();
  return readAt != typed ? 0 : hostKeyNext();
}

// Reset leaves the keys to come alone: they are typed over time, and those the queue holds stay.
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
  pollKeys();
  let v: u32;
  if (readAt != typed) {
    v = load<u32>(QUEUE + ((<usize>(readAt++ % QUEUE_KEYS)) << 2));
  } else {
    v = hostKeyTake();
    if (v == 0xffff_ffff) {
      if (hostKeyNext() != u64.MAX_VALUE) idlePolls = 0;
      else if (++idlePolls >= IDLE_POLLS) hostWaitForever();
      return Status.NOT_READY;
    }
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
// toggle state is known, and KeyState says so (neither VALID bit set).
export function SimpleTextInputEx_Reset(self: u64, extended: u8): u64 {
  return Status.SUCCESS;
}

/** The EFI_KEY_DATA of keystroke v (ScanCode << 16 | UnicodeChar) at WASM address d. */
function keyData(d: usize, v: u32): void {
  store<u16>(d + KEY_DATA.Key + INPUT_KEY.ScanCode, <u16>(v >> 16));
  store<u16>(d + KEY_DATA.Key + INPUT_KEY.UnicodeChar, <u16>v);
  store<u32>(d + KEY_DATA.KeyState + KEY_STATE.KeyShiftState, 0);
  store<u8>(d + KEY_DATA.KeyState + KEY_STATE.KeyToggleState, 0);
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

// ------------------------------------------------------------ key notification --
//
// §12.2.5 RegisterKeyNotify, §12.2.6 UnregisterKeyNotify, as EDK2's console drivers do
// them (TerminalDxe, ConSplitterDxe): a keystroke that arrives is queued for the notify
// functions registered for it, which run at TPL_CALLBACK with its EFI_KEY_DATA, and it
// stays in the input queue for ReadKeyStroke(Ex) as well.
//
// While a function is registered, keys due on the host move into QUEUE when they are due
// and the firmware looks (OutputString, ReadKeyStroke(Ex), WaitForEvent and CheckEvent on WaitForKey,
// and each HLT of the guest: nextKeyAt, pollKeys); each is notified then, or when the TPL
// next lets it, below TPL_CALLBACK. A guest that neither uses the console nor waits nor
// idles (it spins, or Stalls) is notified when it next does: there is no timer
// interrupt that polls the keyboard, as EDK2's 20 ms terminal timer does.
//
// A NotifyHandle is the guest address of a 16-byte cell in a pool block the firmware
// allocates at the first registration (a cell per slot, then one that holds the
// EFI_KEY_DATA passed to the functions); the registration behind it is private:
//
//   registration (24 bytes)
//   ┌──────────────┬───────────────────────────────────────┬─────┐
//   │ function u64 │ EFI_KEY_DATA as registered (12 bytes) │ pad │
//   └──────────────┴───────────────────────────────────────┴─────┘
//   0 function (0: a free slot)  8 key data  20 pad
//
// The keys queue is a ring of ScanCode << 16 | UnicodeChar (u32), with two readers:
// ReadKeyStroke(Ex) at readAt and the notifications at notifyAt (counters that only grow).

const MAX_NOTIFY: i32 = 16;
const REGISTRATION: usize = 24;
const KEY: usize = 8;
const CELL: u64 = 16;
const REGISTRATIONS: usize = reserve(<usize>MAX_NOTIFY * REGISTRATION);
const QUEUE_KEYS: u32 = 32;
const QUEUE: usize = reserve(<usize>QUEUE_KEYS << 2);
let typed: u32 = 0; // keys ever put in the queue
let readAt: u32 = 0; // ... ever read from it
let notifyAt: u32 = 0; // ... ever notified
let registered: i32 = 0;
let notifying = false;
let cells: u64 = 0; // guest address of the handles' block

@inline function registration(i: i32): usize { return REGISTRATIONS + <usize>i * REGISTRATION; }
/** The EFI_KEY_DATA the notify functions are given. */
@inline function notifyData(): u64 { return cells + <u64>MAX_NOTIFY * CELL; }

/**
 * Registered key data `r` covers keystroke `d` (both EFI_KEY_DATA at WASM addresses): the
 * same ScanCode and UnicodeChar, and a shift and toggle state that are either 0 (any,
 * as EDK2's IsKeyRegistered reads §12.2.5) or the same.
 */
function covers(r: usize, d: usize): bool {
  const shift = load<u32>(r + KEY_DATA.KeyState + KEY_STATE.KeyShiftState);
  const toggle = load<u8>(r + KEY_DATA.KeyState + KEY_STATE.KeyToggleState);
  return load<u32>(r + KEY_DATA.Key) == load<u32>(d + KEY_DATA.Key) &&
    (!shift || shift == load<u32>(d + KEY_DATA.KeyState + KEY_STATE.KeyShiftState)) &&
    (!toggle || toggle == load<u8>(d + KEY_DATA.KeyState + KEY_STATE.KeyToggleState));
}

/** Move the keys due into the queue, and notify each new one's functions when the TPL allows. */
@noinline function pollKeys(): void {
  if (!Feature.TEXT_INPUT_EX || !registered) return;
  while (typed - min(readAt, notifyAt) < QUEUE_KEYS) {
    const v = hostKeyTake();
    if (v == 0xffff_ffff) break;
    store<u32>(QUEUE + ((<usize>(typed++ % QUEUE_KEYS)) << 2), v);
  }
  if (notifying || currentTpl() >= Tpl.CALLBACK) return;
  // One at a time: a function that reads keys or prints does not notify again inside it.
  notifying = true;
  const old = BS_RaiseTPL(Tpl.CALLBACK);
  const d = gp(notifyData());
  while (notifyAt != typed) {
    const v = load<u32>(QUEUE + ((<usize>(notifyAt++ % QUEUE_KEYS)) << 2));
    for (let i = 0; i < MAX_NOTIFY; i++) {
      const fn = load<u64>(registration(i));
      // Written afresh for each function: the previous one may have changed it.
      keyData(d, v);
      if (fn && covers(registration(i) + KEY, d)) callGuest(fn, notifyData(), 0);
    }
  }
  restoreTpl(old);
  notifying = false;
}

export function SimpleTextInputEx_RegisterKeyNotify(self: u64, keyData: u64, fn: u64, handleOut: u64): u64 {
  const d = guest(keyData, KEY_DATA.SIZE), out = guest(handleOut, 8);
  if (!d || !fn || !out) return Status.INVALID_PARAMETER;
  if (!cells) {
    const block = allocPool(MemoryType.BootServicesData, <u64>(MAX_NOTIFY + 1) * CELL);
    if (block == NONE) return Status.OUT_OF_RESOURCES;
    cells = block;
  }
  let free = -1;
  for (let i = 0; i < MAX_NOTIFY; i++) {
    const f = load<u64>(registration(i));
    if (!f) { if (free < 0) free = i; continue; }
    // The same key for the same function again: its handle, as EDK2 answers.
    if (f == fn && covers(registration(i) + KEY, d)) {
      store<u64>(out, cells + <u64>i * CELL);
      return Status.SUCCESS;
    }
  }
  if (free < 0) return Status.OUT_OF_RESOURCES;
  // Keys the queue already held at the first registration are not notified; those still on the host are, when they move in.
  if (!registered++) notifyAt = typed;
  store<u64>(registration(free), fn);
  memory.copy(registration(free) + KEY, d, KEY_DATA.SIZE);
  store<u64>(out, cells + <u64>free * CELL);
  return Status.SUCCESS;
}

export function SimpleTextInputEx_UnregisterKeyNotify(self: u64, handle: u64): u64 {
  const i = cells && handle >= cells && (handle - cells) % CELL == 0 ? (handle - cells) / CELL : <u64>MAX_NOTIFY;
  if (i >= <u64>MAX_NOTIFY || !load<u64>(registration(<i32>i))) return Status.INVALID_PARAMETER;
  store<u64>(registration(<i32>i), 0);
  registered--;
  return Status.SUCCESS;
}
