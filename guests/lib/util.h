/*
 * util.h - helpers shared by the ueficorn test guests (NOT spec declarations;
 * those live in include/efi.h).
 *
 * Output is line-buffered: text is collected in a small UCS-2 buffer and handed
 * to ConOut->OutputString once per line (or when the buffer fills, or on
 * u_flush()), so a guest costs one firmware call per line instead of one per
 * fragment.  Call u_flush() before calling ConOut directly.
 */
#ifndef UEFICORN_GUEST_UTIL_H
#define UEFICORN_GUEST_UTIL_H

#include <efi.h>

/* The high bit of EFI_STATUS, set on every error code (spec Appendix D). */
#define U_ERROR_BIT ((EFI_STATUS)0x8000000000000000ULL)
#define U_IS_ERROR(s) (((EFI_STATUS)(s) & U_ERROR_BIT) != 0)

extern EFI_SYSTEM_TABLE *gST;
extern EFI_BOOT_SERVICES *gBS;

/* Remember the system table; all output goes to SystemTable->ConOut. */
void u_init(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable);

/* Output (buffered; '\n' is expanded to "\r\n" and flushes). */
void u_flush(void);
void u_putc(CHAR16 c);
void u_puts(const CHAR16 *s);             /* NUL-terminated UCS-2 */
void u_putsn(const CHAR16 *s, UINTN n);   /* at most n chars, stops at NUL */
void u_puta(const char *s);               /* NUL-terminated ASCII */
void u_hex(UINT64 v);                     /* 0x-prefixed, no leading zeros */
void u_hexw(UINT64 v, unsigned digits);   /* 0x-prefixed, zero padded */
void u_dec(UINT64 v);
void u_status(EFI_STATUS s);              /* symbolic name if known, else hex */

/* Checks: print "ok: what" or "FAIL: what", count them. */
extern unsigned u_passed, u_failed;
BOOLEAN u_check(BOOLEAN cond, const CHAR16 *what);
/* Like u_check(got == want); on failure also prints both statuses. */
BOOLEAN u_check_status(EFI_STATUS got, EFI_STATUS want, const CHAR16 *what);
/* Prints "N passed, M failed". */
void u_summary(void);

/* String / memory helpers. */
/* Finds the ASCII keyword `key` (e.g. "seed=") at the start of a word in s[0..n) and
 * parses the decimal or 0x-hex number after it into *out; FALSE if absent. */
BOOLEAN u_find_number(const CHAR16 *s, UINTN n, const char *key, UINT64 *out);
UINTN u_strlen(const CHAR16 *s);
UINTN u_strnlen(const CHAR16 *s, UINTN max);
int u_guid_eq(const EFI_GUID *a, const EFI_GUID *b);

/* The compiler may emit calls to these even under -ffreestanding. */
void *memset(void *dst, int c, UINTN n);
void *memcpy(void *dst, const void *src, UINTN n);
void *memmove(void *dst, const void *src, UINTN n);
int memcmp(const void *a, const void *b, UINTN n);

/* Wait for an interrupt (x86 hlt, AArch64 wfi) and execute an undefined instruction (ud2, udf #0). */
#if defined(__aarch64__)
#define cpu_halt() __asm__ volatile("wfi" ::: "memory")
#define cpu_undefined() __asm__ volatile("udf #0")
#else
#define cpu_halt() __asm__ volatile("hlt" ::: "memory")
#define cpu_undefined() __asm__ volatile("ud2")
#endif

#endif
