/*
 * fault.c - a guest that faults, so tests can check how the host reports a
 * guest CPU exception (kind, RIP, last EFI calls).
 *
 * The command line (LoadOptions) picks the fault:
 *   (none) or "read"   load a qword from 0x7fff00000000, far beyond guest RAM
 *                      and outside the firmware's identity map
 *   "ud2"              execute UD2, an invalid opcode (#UD)
 *   "stack"            recurse, 4 KiB a frame, until the stack runs out
 *   "late"             ExitBootServices, then call BS->Stall through the saved table
 * Anything else returns EFI_INVALID_PARAMETER.  It first prints
 * "fault: image at 0x... size 0x..." (ImageBase and ImageSize, so a test can
 * check that the RIP the host reports lies inside the image), then one line
 * naming the fault, then triggers it; it never returns from a fault.
 */
#include <efi.h>
#include "lib/util.h"

static EFI_GUID LoadedImageProtocol = EFI_LOADED_IMAGE_PROTOCOL_GUID;

/* True when the load options are exactly the ASCII word w. */
static BOOLEAN options_are(const CHAR16 *s, UINTN n, const char *w) {
  UINTN i = 0;
  for (; i < n && s[i] && w[i]; i++) if (s[i] != (CHAR16)w[i]) return FALSE;
  return (i == n || s[i] == 0) && w[i] == 0;
}

/* Each frame holds a 4 KiB buffer the compiler cannot drop; the depth test keeps clang
 * from seeing the recursion as infinite, though no stack is deep enough to end it. */
static UINTN deep(UINTN n) {
  volatile UINT8 frame[4096];
  frame[0] = (UINT8)n;
  if (n == (UINTN)-1) return frame[0];
  return deep(n + 1) + frame[0];
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
  EFI_STATUS s = SystemTable->BootServices->HandleProtocol(ImageHandle, &LoadedImageProtocol,
                                                           (VOID **)&li);
  if (s != EFI_SUCCESS || li == NULL) return EFI_LOAD_ERROR;
  u_puts(L"fault: image at "); u_hex((UINT64)(UINTN)li->ImageBase);
  u_puts(L" size "); u_hex(li->ImageSize); u_putc(L'\n');
  const CHAR16 *opt = li->LoadOptions;
  UINTN n = opt ? li->LoadOptionsSize / sizeof(CHAR16) : 0;

  if (n == 0 || options_are(opt, n, "read")) {
    u_puts(L"fault: reading 0x7fff00000000\n");
    u_flush();
    UINT64 v = *(volatile UINT64 *)0x7fff00000000ULL;
    u_hex(v); /* not reached */
    u_flush();
    return EFI_SUCCESS;
  }
  if (options_are(opt, n, "ud2")) {
    u_puts(L"fault: executing ud2\n");
    u_flush();
    cpu_undefined();
    return EFI_SUCCESS; /* not reached */
  }
  if (options_are(opt, n, "stack")) {
    u_puts(L"fault: overflowing the stack\n");
    u_flush();
    u_hex(deep(0)); /* not reached */
    return EFI_SUCCESS;
  }
  if (options_are(opt, n, "late")) {
    static UINT8 map[16384];
    UINTN size = sizeof map, key = 0, dsize = 0;
    UINT32 version = 0;
    EFI_BOOT_SERVICES *bs = SystemTable->BootServices;
    u_puts(L"fault: calling Stall after ExitBootServices\n");
    u_flush();
    if (bs->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)map, &key, &dsize, &version) != EFI_SUCCESS) return EFI_ABORTED;
    if (bs->ExitBootServices(ImageHandle, key) != EFI_SUCCESS) return EFI_ABORTED;
    bs->Stall(1);
    return EFI_SUCCESS; /* not reached */
  }
  u_puts(L"fault: unknown option\n");
  return EFI_INVALID_PARAMETER;
}
