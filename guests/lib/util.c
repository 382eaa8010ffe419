/* util.c - see util.h */
#include "util.h"

EFI_SYSTEM_TABLE *gST;
EFI_BOOT_SERVICES *gBS;
unsigned u_passed, u_failed;

#define LINE_MAX 160
static CHAR16 line[LINE_MAX + 1];
static UINTN line_len;

void u_init(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  (void)ImageHandle;
  gST = SystemTable;
  gBS = SystemTable ? SystemTable->BootServices : NULL;
  line_len = 0;
  u_passed = u_failed = 0;
}

void u_flush(void) {
  if (line_len == 0) return;
  line[line_len] = 0;
  if (gST && gST->ConOut) gST->ConOut->OutputString(gST->ConOut, line);
  line_len = 0;
}

void u_putc(CHAR16 c) {
  if (c == L'\n') {
    if (line_len + 2 > LINE_MAX) u_flush();
    line[line_len++] = L'\r';
    line[line_len++] = L'\n';
    u_flush();
    return;
  }
  if (line_len + 1 > LINE_MAX) u_flush();
  line[line_len++] = c;
}

void u_puts(const CHAR16 *s) {
  if (!s) { u_puts(L"(null)"); return; }
  while (*s) u_putc(*s++);
}

void u_putsn(const CHAR16 *s, UINTN n) {
  for (UINTN i = 0; i < n && s[i]; i++) u_putc(s[i]);
}

void u_puta(const char *s) {
  while (*s) u_putc((CHAR16)(unsigned char)*s++);
}

void u_hexw(UINT64 v, unsigned digits) {
  static const char hex[] = "0123456789abcdef";
  CHAR16 buf[17];
  if (digits == 0) digits = 1;
  if (digits > 16) digits = 16;
  unsigned n = 0;
  do { buf[n++] = (CHAR16)hex[v & 15]; v >>= 4; } while (v && n < 16);
  while (n < digits) buf[n++] = L'0';
  u_putc(L'0'); u_putc(L'x');
  while (n) u_putc(buf[--n]);
}

void u_hex(UINT64 v) { u_hexw(v, 1); }

void u_dec(UINT64 v) {
  CHAR16 buf[21];
  unsigned n = 0;
  do { buf[n++] = (CHAR16)(L'0' + v % 10); v /= 10; } while (v);
  while (n) u_putc(buf[--n]);
}

/* Error-code names, indexed by the low bits (spec Appendix D).  A table of
 * pointers: it needs base relocations in the image. */
static const CHAR16 *const error_names[] = {
  [1] = L"EFI_LOAD_ERROR",        [2] = L"EFI_INVALID_PARAMETER",
  [3] = L"EFI_UNSUPPORTED",       [4] = L"EFI_BAD_BUFFER_SIZE",
  [5] = L"EFI_BUFFER_TOO_SMALL",  [6] = L"EFI_NOT_READY",
  [7] = L"EFI_DEVICE_ERROR",      [8] = L"EFI_WRITE_PROTECTED",
  [9] = L"EFI_OUT_OF_RESOURCES",  [14] = L"EFI_NOT_FOUND",
  [15] = L"EFI_ACCESS_DENIED",    [18] = L"EFI_TIMEOUT",
  [19] = L"EFI_NOT_STARTED",      [20] = L"EFI_ALREADY_STARTED",
  [21] = L"EFI_ABORTED",          [25] = L"EFI_INCOMPATIBLE_VERSION",
  [26] = L"EFI_SECURITY_VIOLATION",
};

void u_status(EFI_STATUS s) {
  if (s == EFI_SUCCESS) { u_puts(L"EFI_SUCCESS"); return; }
  if (U_IS_ERROR(s)) {
    UINT64 code = s & ~U_ERROR_BIT;
    if (code < sizeof error_names / sizeof error_names[0] && error_names[code]) {
      u_puts(error_names[code]);
      return;
    }
  }
  u_hex(s);
}

BOOLEAN u_check(BOOLEAN cond, const CHAR16 *what) {
  if (cond) { u_passed++; u_puts(L"ok: "); }
  else      { u_failed++; u_puts(L"FAIL: "); }
  u_puts(what);
  u_putc(L'\n');
  return cond;
}

BOOLEAN u_check_status(EFI_STATUS got, EFI_STATUS want, const CHAR16 *what) {
  BOOLEAN ok = got == want;
  if (ok) { u_passed++; u_puts(L"ok: "); }
  else    { u_failed++; u_puts(L"FAIL: "); }
  u_puts(what);
  if (!ok) {
    u_puts(L" (got "); u_status(got);
    u_puts(L", want "); u_status(want); u_putc(L')');
  }
  u_putc(L'\n');
  return ok;
}

void u_summary(void) {
  u_dec(u_passed); u_puts(L" passed, ");
  u_dec(u_failed); u_puts(L" failed\n");
}

UINTN u_strlen(const CHAR16 *s) {
  UINTN n = 0;
  while (s[n]) n++;
  return n;
}

UINTN u_strnlen(const CHAR16 *s, UINTN max) {
  UINTN n = 0;
  while (n < max && s[n]) n++;
  return n;
}

int u_guid_eq(const EFI_GUID *a, const EFI_GUID *b) {
  return memcmp(a, b, sizeof *a) == 0;
}

/* Byte loops on purpose; -ffreestanding (which implies -fno-builtin) keeps
 * clang from turning these loops back into calls to themselves. */
void *memset(void *dst, int c, UINTN n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

void *memcpy(void *dst, const void *src, UINTN n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memmove(void *dst, const void *src, UINTN n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d < s) { while (n--) *d++ = *s++; }
  else if (d > s) { d += n; s += n; while (n--) *--d = *--s; }
  return dst;
}

int memcmp(const void *a, const void *b, UINTN n) {
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++)
    if (*x != *y) return *x < *y ? -1 : 1;
  return 0;
}

/* Command-line options ("key=N", decimal or 0x hex, keyword at the start of a word). */
BOOLEAN u_find_number(const CHAR16 *s, UINTN n, const char *key, UINT64 *out) {
  UINTN klen = 0;
  while (key[klen]) klen++;
  for (UINTN i = 0; i + klen <= n; i++) {
    UINTN k = 0;
    while (k < klen && s[i + k] == (CHAR16)key[k]) k++;
    if (k != klen || (i > 0 && s[i - 1] != L' ')) continue;
    UINTN j = i + klen;
    UINT64 v = 0, base = 10;
    if (j + 1 < n && s[j] == L'0' && (s[j + 1] == L'x' || s[j + 1] == L'X')) { base = 16; j += 2; }
    UINTN digits = 0;
    for (; j < n; j++, digits++) {
      CHAR16 c = s[j];
      UINT64 d;
      if (c >= L'0' && c <= L'9') d = c - L'0';
      else if (base == 16 && c >= L'a' && c <= L'f') d = c - L'a' + 10;
      else if (base == 16 && c >= L'A' && c <= L'F') d = c - L'A' + 10;
      else break;
      v = v * base + d;
    }
    if (digits == 0) continue;
    *out = v;
    return TRUE;
  }
  return FALSE;
}
