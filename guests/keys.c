/*
 * keys.c - reads ConIn as a boot menu does: waits on ConIn->WaitForKey with
 * WaitForEvent, then ReadKeyStroke, and prints each key on its own line,
 * "key: U+XXXX scan N", until Esc (scan code 0x17).  Before and after, a
 * ReadKeyStroke with nothing due must report EFI_NOT_READY.
 *
 * Exit status: EFI_SUCCESS at Esc; the failing status if WaitForEvent or
 * ReadKeyStroke fails.
 */
#include <efi.h>
#include "lib/util.h"

#define SCAN_ESC 0x17

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  EFI_SIMPLE_TEXT_INPUT_PROTOCOL *in = SystemTable->ConIn;
  EFI_INPUT_KEY key;
  for (;;) {
    UINTN index;
    EFI_STATUS s = gBS->WaitForEvent(1, &in->WaitForKey, &index);
    if (s != EFI_SUCCESS) { u_puts(L"WaitForEvent: "); u_status(s); u_putc(L'\n'); return s; }
    s = in->ReadKeyStroke(in, &key);
    if (s != EFI_SUCCESS) { u_puts(L"ReadKeyStroke: "); u_status(s); u_putc(L'\n'); return s; }
    u_puts(L"key: U+"); u_hexw(key.UnicodeChar, 4); u_puts(L" scan "); u_dec(key.ScanCode); u_putc(L'\n');
    if (key.ScanCode == SCAN_ESC) break;
  }
  EFI_STATUS s = in->ReadKeyStroke(in, &key);
  u_puts(L"after Esc: "); u_status(s); u_putc(L'\n');
  u_flush();
  return EFI_SUCCESS;
}
