/*
 * keynotify.c - EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL's RegisterKeyNotify and
 * UnregisterKeyNotify (UEFI 2.10 §12.2.5, §12.2.6), as a guest uses them.
 *
 * Registers notify functions for 'x', for the Up arrow (scan 1), for 'y' (then
 * unregistered) and for 'z' with Left Shift held (no key from a terminal carries a shift
 * state, so it never matches); checks the statuses of bad calls ("ok: ..."/"FAIL: ...").
 * Then reads keys as keys.c does (WaitForEvent on WaitForKeyEx, ReadKeyStrokeEx), each
 * printed "key: U+XXXX scan N", until Esc, unregisters, and prints what each function saw:
 *   "notify NAME: N calls, last U+XXXX scan S shift H toggle T, at TPL P, K keys read before"
 * and "N passed, M failed".
 *
 * Exit status: EFI_SUCCESS if every check passed, else EFI_ABORTED.
 */
#include <efi.h>
#include "lib/util.h"

/* §12.2.3 EFI_KEY_STATE.KeyShiftState bits. */
#define SHIFT_STATE_VALID 0x80000000u
#define LEFT_SHIFT_PRESSED 0x00000002u
#define SCAN_UP 0x01
#define SCAN_ESC 0x17

struct seen {
  const CHAR16 *name;
  UINTN calls;
  EFI_KEY_DATA last;
  EFI_TPL tpl;
  UINTN read_before;
};
static struct seen seen_x = { .name = L"x" }, seen_up = { .name = L"up" }, seen_y = { .name = L"y" }, seen_shift_z = { .name = L"shift-z" };
static UINTN keys_read;

static EFI_TPL current_tpl(void) {
  EFI_TPL t = gBS->RaiseTPL(TPL_HIGH_LEVEL);
  gBS->RestoreTPL(t);
  return t;
}

static void record(struct seen *s, EFI_KEY_DATA *k) {
  s->calls++;
  s->last = *k;
  s->tpl = current_tpl();
  s->read_before = keys_read;
}

static EFI_STATUS EFIAPI on_x(EFI_KEY_DATA *k) { record(&seen_x, k); return EFI_SUCCESS; }
static EFI_STATUS EFIAPI on_up(EFI_KEY_DATA *k) { record(&seen_up, k); return EFI_SUCCESS; }
static EFI_STATUS EFIAPI on_y(EFI_KEY_DATA *k) { record(&seen_y, k); return EFI_SUCCESS; }
static EFI_STATUS EFIAPI on_shift_z(EFI_KEY_DATA *k) { record(&seen_shift_z, k); return EFI_SUCCESS; }

static void report(const struct seen *s) {
  u_puts(L"notify "); u_puts(s->name); u_puts(L": "); u_dec(s->calls); u_puts(L" calls");
  if (s->calls) {
    u_puts(L", last U+"); u_hexw(s->last.Key.UnicodeChar, 4);
    u_puts(L" scan "); u_dec(s->last.Key.ScanCode);
    u_puts(L" shift "); u_hex(s->last.KeyState.KeyShiftState);
    u_puts(L" toggle "); u_hex(s->last.KeyState.KeyToggleState);
    u_puts(L", at TPL "); u_dec(s->tpl);
    u_puts(L", "); u_dec(s->read_before); u_puts(L" keys read before");
  }
  u_putc(L'\n');
}

static EFI_KEY_DATA key(UINT16 scan, CHAR16 c, UINT32 shift) {
  EFI_KEY_DATA k = { { scan, c }, { shift, 0 } };
  return k;
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  EFI_GUID guid = EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL_GUID;
  EFI_SIMPLE_TEXT_INPUT_EX_PROTOCOL *ex = NULL;
  if (!u_check_status(gBS->LocateProtocol(&guid, NULL, (VOID **)&ex), EFI_SUCCESS, L"LocateProtocol(SimpleTextInputEx)")) goto done;

  EFI_KEY_DATA kx = key(0, L'x', 0), kup = key(SCAN_UP, 0, 0), ky = key(0, L'y', 0), kz = key(0, L'z', SHIFT_STATE_VALID | LEFT_SHIFT_PRESSED);
  VOID *hx = NULL, *hx2 = NULL, *hup = NULL, *hy = NULL, *hz = NULL;
  u_check_status(ex->RegisterKeyNotify(ex, NULL, (VOID *)on_x, &hx), EFI_INVALID_PARAMETER, L"RegisterKeyNotify(KeyData NULL)");
  u_check_status(ex->RegisterKeyNotify(ex, &kx, NULL, &hx), EFI_INVALID_PARAMETER, L"RegisterKeyNotify(function NULL)");
  u_check_status(ex->RegisterKeyNotify(ex, &kx, (VOID *)on_x, NULL), EFI_INVALID_PARAMETER, L"RegisterKeyNotify(NotifyHandle NULL)");
  u_check_status(ex->UnregisterKeyNotify(ex, NULL), EFI_INVALID_PARAMETER, L"UnregisterKeyNotify(NULL)");
  u_check_status(ex->UnregisterKeyNotify(ex, &seen_x), EFI_INVALID_PARAMETER, L"UnregisterKeyNotify(not a handle)");

  u_check_status(ex->RegisterKeyNotify(ex, &kx, (VOID *)on_x, &hx), EFI_SUCCESS, L"RegisterKeyNotify('x')");
  u_check_status(ex->RegisterKeyNotify(ex, &kx, (VOID *)on_x, &hx2), EFI_SUCCESS, L"RegisterKeyNotify('x') again");
  u_check(hx != NULL && hx2 == hx, L"the same key and function again: the same handle");
  u_check_status(ex->RegisterKeyNotify(ex, &kup, (VOID *)on_up, &hup), EFI_SUCCESS, L"RegisterKeyNotify(Up)");
  u_check_status(ex->RegisterKeyNotify(ex, &ky, (VOID *)on_y, &hy), EFI_SUCCESS, L"RegisterKeyNotify('y')");
  u_check_status(ex->RegisterKeyNotify(ex, &kz, (VOID *)on_shift_z, &hz), EFI_SUCCESS, L"RegisterKeyNotify(Left Shift + 'z')");
  u_check(hup != hx && hy != hx && hy != hup && hz != hy, L"a handle per registration");
  u_check_status(ex->UnregisterKeyNotify(ex, hy), EFI_SUCCESS, L"UnregisterKeyNotify('y')");
  u_check_status(ex->UnregisterKeyNotify(ex, hy), EFI_INVALID_PARAMETER, L"UnregisterKeyNotify('y') again");

  for (;;) {
    UINTN index;
    EFI_KEY_DATA k;
    EFI_STATUS s = gBS->WaitForEvent(1, &ex->WaitForKeyEx, &index);
    if (!u_check_status(s, EFI_SUCCESS, L"WaitForEvent(WaitForKeyEx)")) break;
    s = ex->ReadKeyStrokeEx(ex, &k);
    if (!u_check_status(s, EFI_SUCCESS, L"ReadKeyStrokeEx")) break;
    keys_read++;
    u_puts(L"key: U+"); u_hexw(k.Key.UnicodeChar, 4); u_puts(L" scan "); u_dec(k.Key.ScanCode); u_putc(L'\n');
    if (k.Key.ScanCode == SCAN_ESC) break;
  }

  u_check_status(ex->UnregisterKeyNotify(ex, hx), EFI_SUCCESS, L"UnregisterKeyNotify('x')");
  u_check_status(ex->UnregisterKeyNotify(ex, hup), EFI_SUCCESS, L"UnregisterKeyNotify(Up)");
  u_check_status(ex->UnregisterKeyNotify(ex, hz), EFI_SUCCESS, L"UnregisterKeyNotify(Left Shift + 'z')");
  report(&seen_x);
  report(&seen_up);
  report(&seen_y);
  report(&seen_shift_z);

done:
  u_summary();
  u_flush();
  return u_failed ? EFI_ABORTED : EFI_SUCCESS;
}
