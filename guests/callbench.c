/*
 * callbench: calls BS->GetNextMonotonicCount N times, N from the command line
 * ("n=1000000"; default 0), to time one EFI call's round trip (guest -> trap -> host ->
 * WASM firmware -> guest). Returns EFI_SUCCESS, or EFI_ABORTED if a call fails.
 */
#include "efi.h"

static UINT64 parse_n(EFI_LOADED_IMAGE_PROTOCOL *li) {
  const CHAR16 *s = li ? (const CHAR16 *)li->LoadOptions : 0;
  UINTN len = li ? li->LoadOptionsSize / 2 : 0;
  UINT64 n = 0;
  for (UINTN i = 0; i + 1 < len; i++) {
    if (s[i] == L'n' && s[i + 1] == L'=') {
      for (i += 2; i < len && s[i] >= L'0' && s[i] <= L'9'; i++) n = n * 10 + (s[i] - L'0');
      break;
    }
  }
  return n;
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {
  EFI_GUID lip = EFI_LOADED_IMAGE_PROTOCOL_GUID;
  EFI_LOADED_IMAGE_PROTOCOL *li = 0;
  st->BootServices->HandleProtocol(image, &lip, (VOID **)&li);
  UINT64 n = parse_n(li), count = 0;
  for (UINT64 i = 0; i < n; i++) {
    if (st->BootServices->GetNextMonotonicCount(&count) != EFI_SUCCESS) return EFI_ABORTED;
  }
  return EFI_SUCCESS;
}
