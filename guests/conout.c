/*
 * conout.c - exercises every EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL function on
 * SystemTable->ConOut, the SIMPLE_TEXT_OUTPUT_MODE fields, StdErr, and
 * ConIn->ReadKeyStroke (which must report EFI_NOT_READY: no key is pending).
 *
 * Prints "ok: ..." / "FAIL: ..." per check and ends with "N passed, M failed".
 * Exit status: EFI_SUCCESS iff M == 0, else EFI_ABORTED (0x8000000000000015).
 */
#include <efi.h>
#include "lib/util.h"

static EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *out;

/* Row/column are only meaningful to compare while nothing else printed. */
static void mode_line(void) {
  SIMPLE_TEXT_OUTPUT_MODE *m = out->Mode;
  u_puts(L"   Mode: MaxMode="); u_dec(m->MaxMode);
  u_puts(L" Mode="); u_dec(m->Mode);
  u_puts(L" Attribute="); u_hexw(m->Attribute, 2);
  u_puts(L" Cursor="); u_dec(m->CursorColumn); u_putc(L','); u_dec(m->CursorRow);
  u_puts(L" CursorVisible="); u_dec(m->CursorVisible); u_putc(L'\n');
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  if (SystemTable == NULL || SystemTable->ConOut == NULL) return EFI_UNSUPPORTED;
  u_init(ImageHandle, SystemTable);
  out = SystemTable->ConOut;
  EFI_STATUS s;

  u_puts(L"conout: exercising EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL\n");

  u_check_status(out->Reset(out, FALSE), EFI_SUCCESS, L"Reset(FALSE)");

  SIMPLE_TEXT_OUTPUT_MODE *m = out->Mode;
  if (!u_check(m != NULL, L"Mode is not NULL")) goto done;
  mode_line();
  u_check(m->MaxMode >= 1, L"Mode->MaxMode >= 1");
  u_check(m->Mode >= 0 && m->Mode < m->MaxMode, L"0 <= Mode->Mode < Mode->MaxMode");
  u_check(m->CursorVisible == TRUE || m->CursorVisible == FALSE, L"Mode->CursorVisible is a BOOLEAN");
  u_check((m->Attribute & ~0x7f) == 0, L"Mode->Attribute fits in 7 bits");

  /* OutputString */
  u_flush();
  s = out->OutputString(out, L"   (direct OutputString call)\r\n");
  u_check_status(s, EFI_SUCCESS, L"OutputString");

  /* TestString */
  u_check_status(out->TestString(out, L"Hello, world! 0123456789"), EFI_SUCCESS,
                 L"TestString(printable ASCII)");

  /* QueryMode */
  UINTN cols = 0, rows = 0;
  s = out->QueryMode(out, 0, &cols, &rows);
  if (u_check_status(s, EFI_SUCCESS, L"QueryMode(0)"))
    u_check(cols == 80 && rows == 25, L"mode 0 is 80x25");
  u_puts(L"   mode 0: "); u_dec(cols); u_putc(L'x'); u_dec(rows); u_putc(L'\n');
  s = out->QueryMode(out, (UINTN)m->MaxMode, &cols, &rows);
  u_check_status(s, EFI_UNSUPPORTED, L"QueryMode(MaxMode) is EFI_UNSUPPORTED");
  s = out->QueryMode(out, 0xffff, &cols, &rows);
  u_check_status(s, EFI_UNSUPPORTED, L"QueryMode(0xffff) is EFI_UNSUPPORTED");

  /* SetMode */
  u_check_status(out->SetMode(out, 0), EFI_SUCCESS, L"SetMode(0)");
  u_check(m->Mode == 0, L"Mode->Mode is 0 after SetMode(0)");
  u_check_status(out->SetMode(out, (UINTN)m->MaxMode), EFI_UNSUPPORTED,
                 L"SetMode(MaxMode) is EFI_UNSUPPORTED");

  /* SetAttribute */
  UINTN attr = EFI_TEXT_ATTR(EFI_YELLOW, EFI_BLUE);
  u_check(attr == (EFI_YELLOW | EFI_BACKGROUND_BLUE), L"EFI_TEXT_ATTR(EFI_YELLOW, EFI_BLUE)");
  u_check_status(out->SetAttribute(out, attr), EFI_SUCCESS, L"SetAttribute(yellow on blue)");
  u_check(m->Attribute == (INT32)attr, L"Mode->Attribute follows SetAttribute");
  UINTN normal = EFI_TEXT_ATTR(EFI_LIGHTGRAY, EFI_BLACK);
  u_check_status(out->SetAttribute(out, normal), EFI_SUCCESS, L"SetAttribute(lightgray on black)");
  u_check(m->Attribute == (INT32)normal, L"Mode->Attribute is back to lightgray on black");

  /* ClearScreen: cursor goes to (0, 0).  Flush first so the pending text is
   * not the first thing on the cleared screen, and check before printing. */
  u_flush();
  s = out->ClearScreen(out);
  INT32 c0 = m->CursorColumn, r0 = m->CursorRow;
  u_check_status(s, EFI_SUCCESS, L"ClearScreen");
  u_check(c0 == 0 && r0 == 0, L"cursor at (0,0) after ClearScreen");

  /* SetCursorPosition */
  u_flush();
  s = out->SetCursorPosition(out, 5, 3);
  INT32 c1 = m->CursorColumn, r1 = m->CursorRow;
  u_puts(L"\r\n");    /* leave row 3 where the cursor was put */
  u_check_status(s, EFI_SUCCESS, L"SetCursorPosition(5, 3)");
  u_check(c1 == 5 && r1 == 3, L"Mode cursor is (5,3) after SetCursorPosition(5, 3)");
  u_flush();
  s = out->SetCursorPosition(out, cols ? cols : 80, 0);
  u_check_status(s, EFI_UNSUPPORTED, L"SetCursorPosition(Columns, 0) is EFI_UNSUPPORTED");
  u_flush();
  s = out->SetCursorPosition(out, 0, rows ? rows : 25);
  u_check_status(s, EFI_UNSUPPORTED, L"SetCursorPosition(0, Rows) is EFI_UNSUPPORTED");

  /* OutputString moves the cursor. */
  u_flush();
  out->SetCursorPosition(out, 0, 10);
  out->OutputString(out, L"abc");
  INT32 c2 = m->CursorColumn, r2 = m->CursorRow;
  out->OutputString(out, L"\r\n");
  INT32 c3 = m->CursorColumn, r3 = m->CursorRow;
  u_check(c2 == 3 && r2 == 10, L"OutputString(\"abc\") at (0,10) leaves the cursor at (3,10)");
  u_check(c3 == 0 && r3 == 11, L"OutputString(\"\\r\\n\") moves the cursor to (0,11)");

  /* EnableCursor: EFI_UNSUPPORTED is allowed if the device cannot. */
  s = out->EnableCursor(out, FALSE);
  if (s == EFI_UNSUPPORTED) {
    u_check(TRUE, L"EnableCursor(FALSE) (EFI_UNSUPPORTED: not supported by the device)");
  } else {
    u_check_status(s, EFI_SUCCESS, L"EnableCursor(FALSE)");
    u_check(m->CursorVisible == FALSE, L"Mode->CursorVisible is FALSE after EnableCursor(FALSE)");
    u_check_status(out->EnableCursor(out, TRUE), EFI_SUCCESS, L"EnableCursor(TRUE)");
    u_check(m->CursorVisible == TRUE, L"Mode->CursorVisible is TRUE after EnableCursor(TRUE)");
  }
  mode_line();

  /* StdErr */
  if (u_check(SystemTable->StdErr != NULL, L"SystemTable->StdErr is not NULL")) {
    u_flush();
    s = SystemTable->StdErr->OutputString(SystemTable->StdErr, L"conout: a line on StdErr\r\n");
    u_check_status(s, EFI_SUCCESS, L"StdErr->OutputString");
  }

  /* ConIn */
  if (u_check(SystemTable->ConIn != NULL, L"SystemTable->ConIn is not NULL")) {
    EFI_SIMPLE_TEXT_INPUT_PROTOCOL *in = SystemTable->ConIn;
    u_check_status(in->Reset(in, FALSE), EFI_SUCCESS, L"ConIn->Reset(FALSE)");
    EFI_INPUT_KEY key = { 0xffff, 0xffff };
    u_check_status(in->ReadKeyStroke(in, &key), EFI_NOT_READY,
                   L"ConIn->ReadKeyStroke with no key pending is EFI_NOT_READY");
  }

done:
  u_summary();
  u_flush();
  return u_failed ? EFI_ABORTED : EFI_SUCCESS;
}
