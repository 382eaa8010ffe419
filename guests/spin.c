/*
 * spin.c - a runaway guest: loops forever without calling the firmware, so
 * the host's budget (--timeout, --max-instructions) must be what stops it.
 *
 * It prints one line first, "spin: looping forever in the image at 0x...",
 * so a test can tell it really started and check that the RIP the host
 * reports lies inside the image; then it never returns.  The empty asm with
 * a "memory" clobber keeps the compiler from proving the loop has no side
 * effects and deleting it (C11 6.8.5p6 lets an implementation assume such a
 * loop terminates).
 */
#include <efi.h>
#include "lib/util.h"

/* Defined by lld-link: the first byte of this image, formed RIP-relative. */
extern const UINT8 __ImageBase[];

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  u_puts(L"spin: looping forever in the image at ");
  u_hex((UINT64)(UINTN)__ImageBase);
  u_putc(L'\n');
  for (;;) __asm__ volatile("" ::: "memory");
}
