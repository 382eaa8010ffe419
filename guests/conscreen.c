/*
 * conscreen.c - ConOut's text on a display (tests/console-screen.test.ts runs it with a
 * 1024x768 screen and finds its text in the framebuffer).
 *
 * First it reports the text modes on the console, "mode N: CxR" or "mode N: <status>"
 * for each mode below MaxMode, and whether SetMode(MaxMode - 1) took.  Then, in mode 0:
 *   - ClearScreen in light grey on blue: the whole screen blue;
 *   - "Hello, ueficorn!" in yellow on red at column 3, row 2;
 *   - "box:" U+263A "." in light grey on blue at column 0, row 4 (U+263A has no glyph:
 *     OutputString answers EFI_WARN_UNKNOWN_GLYPH and draws a box);
 *   - TestString of printable ASCII with CR LF, and of U+263A;
 *   - "last line" CR LF at column 0, row 24: the text area scrolls one line up, so
 *     the hello line ends on row 1, the box line on row 3 and "last line" on row 23.
 * The statuses are read from the call trace, not printed (printing would move the text).
 *
 * Exit status: EFI_SUCCESS; a failing QueryMode/SetMode status is printed.
 */
#include <efi.h>
#include "lib/util.h"

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *out = SystemTable->ConOut;
  SIMPLE_TEXT_OUTPUT_MODE *m = out->Mode;

  u_puts(L"MaxMode "); u_dec(m->MaxMode); u_putc(L'\n');
  for (INT32 n = 0; n < m->MaxMode; n++) {
    UINTN cols = 0, rows = 0;
    EFI_STATUS s = out->QueryMode(out, n, &cols, &rows);
    u_puts(L"mode "); u_dec(n); u_puts(L": ");
    if (s == EFI_SUCCESS) { u_dec(cols); u_putc(L'x'); u_dec(rows); } else u_status(s);
    u_putc(L'\n');
  }
  u_flush();
  EFI_STATUS s = out->SetMode(out, m->MaxMode - 1);
  u_puts(L"SetMode(last): "); u_status(s); u_puts(L", Mode "); u_dec(m->Mode); u_putc(L'\n');
  u_flush();
  s = out->SetMode(out, 0);
  if (s != EFI_SUCCESS) { u_puts(L"SetMode(0): "); u_status(s); u_putc(L'\n'); u_flush(); return s; }

  out->SetAttribute(out, EFI_TEXT_ATTR(EFI_LIGHTGRAY, EFI_BLUE));
  out->ClearScreen(out);
  out->SetCursorPosition(out, 3, 2);
  out->SetAttribute(out, EFI_TEXT_ATTR(EFI_YELLOW, EFI_RED));
  out->OutputString(out, L"Hello, ueficorn!");
  out->SetAttribute(out, EFI_TEXT_ATTR(EFI_LIGHTGRAY, EFI_BLUE));
  out->SetCursorPosition(out, 0, 4);
  out->OutputString(out, L"box:\x263a.");
  out->TestString(out, L"Printable ASCII, CR and LF\r\n");
  out->TestString(out, L"\x263a");
  out->SetCursorPosition(out, 0, 24);
  out->OutputString(out, L"last line\r\n");
  return EFI_SUCCESS;
}
