/*
 * idle.c - a loader's idle loop: a periodic timer whose notify function counts its
 * ticks, and `hlt` until it has counted three, as GRUB-like loaders wait for the
 * firmware's timer interrupt.  Then, with "forever" in its command line, it halts
 * again with no timer armed: nothing can wake it, and the host must say so.
 *
 * Prints "idle: 3 ticks at 10 ms after N halts" and returns EFI_SUCCESS.
 */
#include <efi.h>
#include "lib/util.h"

static volatile UINTN ticks;

static VOID EFIAPI on_tick(EFI_EVENT Event, VOID *Context) {
  (void)Event;
  (void)Context;
  ticks++;
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  EFI_BOOT_SERVICES *bs = SystemTable->BootServices;
  EFI_EVENT timer;
  EFI_STATUS s = bs->CreateEvent(EVT_TIMER | EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_tick, NULL, &timer);
  if (s != EFI_SUCCESS) return s;
  s = bs->SetTimer(timer, TimerPeriodic, 100000); /* 10 ms in 100 ns units */
  if (s != EFI_SUCCESS) return s;
  UINTN halts = 0;
  while (ticks < 3) {
    cpu_halt();
    halts++;
  }
  bs->SetTimer(timer, TimerCancel, 0);
  bs->CloseEvent(timer);
  u_puts(L"idle: ");
  u_dec(ticks);
  u_puts(L" ticks at 10 ms after ");
  u_dec(halts);
  u_puts(L" halts\n");
  EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
  static EFI_GUID lip = EFI_LOADED_IMAGE_PROTOCOL_GUID;
  bs->HandleProtocol(ImageHandle, &lip, (VOID **)&li);
  if (li && li->LoadOptionsSize >= 2 && ((CHAR16 *)li->LoadOptions)[0] == L'f') {
    u_puts(L"idle: halting with nothing to wake me\n");
    u_flush();
    for (;;) cpu_halt();
  }
  u_flush();
  return EFI_SUCCESS;
}
