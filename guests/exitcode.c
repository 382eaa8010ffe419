/*
 * exitcode.c - returns an EFI_STATUS chosen by its command line, so tests can
 * check how the host maps a guest's exit status.
 *
 * The command line is the Loaded Image protocol's LoadOptions (UCS-2,
 * LoadOptionsSize bytes, need not be NUL-terminated).  Anywhere in it:
 *   status=N    return the error status  0x8000000000000000 | N   (N = 0: EFI_SUCCESS)
 *   raw=N       return N unchanged (e.g. raw=4 -> EFI_WARN_BUFFER_TOO_SMALL)
 * N is decimal or 0x-prefixed hex.  With neither (or no load options at
 * all) it returns EFI_SUCCESS.  If the Loaded Image protocol cannot be
 * obtained it returns EFI_LOAD_ERROR.  It prints one line saying what it
 * returns.
 */
#include <efi.h>
#include "lib/util.h"

static EFI_GUID LoadedImageProtocol = EFI_LOADED_IMAGE_PROTOCOL_GUID;

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
  EFI_STATUS s = SystemTable->BootServices->HandleProtocol(ImageHandle, &LoadedImageProtocol,
                                                           (VOID **)&li);
  EFI_STATUS ret = EFI_SUCCESS;
  if (s != EFI_SUCCESS || li == NULL) {
    ret = EFI_LOAD_ERROR;
  } else if (li->LoadOptions != NULL && li->LoadOptionsSize >= sizeof(CHAR16)) {
    const CHAR16 *opt = li->LoadOptions;
    UINTN n = u_strnlen(opt, li->LoadOptionsSize / sizeof(CHAR16));
    UINT64 v;
    if (u_find_number(opt, n, "status=", &v)) ret = v ? (U_ERROR_BIT | v) : EFI_SUCCESS;
    else if (u_find_number(opt, n, "raw=", &v)) ret = v;
  }
  u_puts(L"exitcode: returning "); u_hexw(ret, 16); u_putc(L'\n');
  return ret;
}
