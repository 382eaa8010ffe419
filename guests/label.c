/*
 * label.c - sets and reads back the label of every FAT volume through EFI_FILE_PROTOCOL
 * (UEFI 2.10 §13.5.13 GetInfo, §13.5.14 SetInfo) with both information types that carry
 * it: EFI_FILE_SYSTEM_INFO (§13.5.16; only its VolumeLabel counts) and
 * EFI_FILE_SYSTEM_VOLUME_LABEL (§13.5.17).
 *
 * For each SimpleFileSystem handle, numbered from 1 in LocateHandleBuffer's order:
 *   read-only volume  both SetInfo types answer EFI_WRITE_PROTECTED and the label stays;
 *   writable volume   "First One" through FILE_SYSTEM_INFO (its other fields set to
 *                     nonsense, which must be ignored) reads back as "FIRST ONE" through
 *                     both types; bad sizes are EFI_BAD_BUFFER_SIZE, a label FAT cannot
 *                     hold (12 characters, '*', a leading space) EFI_UNSUPPORTED, and
 *                     change nothing; "" removes the label; then "ueficorn N" is set
 *                     through FILE_SYSTEM_VOLUME_LABEL from a handle opened read-only
 *                     (allowed: the spec's ACCESS_DENIED for read-only handles is
 *                     FILE_INFO's) and reads back as "UEFICORN N".
 * Every check prints "ok: ..." or "FAIL: ...", each volume "volume N: label '...'" at the
 * end, and a final "N passed, M failed". Exit status: EFI_SUCCESS when every check
 * passed, EFI_ABORTED otherwise.
 */
#include <efi.h>
#include "lib/util.h"

static EFI_GUID SimpleFileSystem = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
static EFI_GUID FileSystemInfo = EFI_FILE_SYSTEM_INFO_ID;
static EFI_GUID VolumeLabel = EFI_FILE_SYSTEM_VOLUME_LABEL_ID;

/* EFI_FILE_SYSTEM_INFO's fixed part: VolumeLabel's offset (SIZE_OF_EFI_FILE_SYSTEM_INFO). */
#define FSI_FIXED ((UINTN)&((EFI_FILE_SYSTEM_INFO *)0)->VolumeLabel)

static union { EFI_FILE_SYSTEM_INFO info; UINT8 bytes[256]; } fsi;
static CHAR16 label[64];

static BOOLEAN same(const CHAR16 *a, const CHAR16 *b) {
  while (*a && *a == *b) { a++; b++; }
  return *a == *b;
}

/* The label through FILE_SYSTEM_VOLUME_LABEL, into `label`. */
static EFI_STATUS get_label(EFI_FILE_PROTOCOL *f) {
  UINTN size = sizeof label;
  return f->GetInfo(f, &VolumeLabel, &size, label);
}

/* FILE_SYSTEM_INFO into `fsi`. */
static EFI_STATUS get_info(EFI_FILE_PROTOCOL *f) {
  UINTN size = sizeof fsi;
  return f->GetInfo(f, &FileSystemInfo, &size, &fsi);
}

/* `fsi` with `text` as VolumeLabel and nonsense in the other fields. */
static void fill_info(const CHAR16 *text) {
  UINTN n = u_strlen(text);
  memset(&fsi, 0xa5, sizeof fsi);
  fsi.info.Size = FSI_FIXED + (n + 1) * sizeof(CHAR16);
  fsi.info.ReadOnly = TRUE;
  memcpy(&fsi.info.VolumeLabel, text, (n + 1) * sizeof(CHAR16));
}

static EFI_STATUS set_info(EFI_FILE_PROTOCOL *f, const CHAR16 *text) {
  fill_info(text);
  return f->SetInfo(f, &FileSystemInfo, fsi.info.Size, &fsi);
}

static EFI_STATUS set_label(EFI_FILE_PROTOCOL *f, const CHAR16 *text) {
  return f->SetInfo(f, &VolumeLabel, (u_strlen(text) + 1) * sizeof(CHAR16), (VOID *)text);
}

/* Both GetInfo types agree on `want`. */
static void check_label(EFI_FILE_PROTOCOL *root, const CHAR16 *want, const CHAR16 *what) {
  BOOLEAN ok = get_label(root) == EFI_SUCCESS && same(label, want);
  ok = ok && get_info(root) == EFI_SUCCESS && same(&fsi.info.VolumeLabel, want);
  u_puts(what); u_puts(L": '"); u_puts(label); u_puts(L"'\n");
  u_check(ok, what);
}

static void volume(EFI_HANDLE h, UINTN n) {
  EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *sfs = NULL;
  EFI_FILE_PROTOCOL *root = NULL;
  if (!u_check_status(gBS->HandleProtocol(h, &SimpleFileSystem, (VOID **)&sfs), EFI_SUCCESS, L"HandleProtocol(SimpleFileSystem)") ||
      !u_check_status(sfs->OpenVolume(sfs, &root), EFI_SUCCESS, L"OpenVolume")) return;
  if (!u_check_status(get_info(root), EFI_SUCCESS, L"GetInfo(FILE_SYSTEM_INFO)")) return;
  BOOLEAN readOnly = fsi.info.ReadOnly;
  UINT64 volumeSize = fsi.info.VolumeSize;
  u_check_status(get_label(root), EFI_SUCCESS, L"GetInfo(FILE_SYSTEM_VOLUME_LABEL)");
  CHAR16 before[12];
  memcpy(before, label, sizeof before);
  before[11] = 0;
  u_puts(L"volume "); u_dec(n); u_puts(readOnly ? L" (read-only)" : L" (writable)");
  u_puts(L": label was '"); u_puts(before); u_puts(L"'\n");

  if (readOnly) {
    u_check_status(set_info(root, L"First One"), EFI_WRITE_PROTECTED, L"read-only: SetInfo(FILE_SYSTEM_INFO)");
    u_check_status(set_label(root, L"Other"), EFI_WRITE_PROTECTED, L"read-only: SetInfo(FILE_SYSTEM_VOLUME_LABEL)");
    check_label(root, before, L"read-only: the label stays");
  } else {
    u_check_status(set_info(root, L"First One"), EFI_SUCCESS, L"SetInfo(FILE_SYSTEM_INFO, \"First One\")");
    check_label(root, L"FIRST ONE", L"stored upper case");
    u_check(!fsi.info.ReadOnly && fsi.info.VolumeSize == volumeSize, L"FILE_SYSTEM_INFO's other fields were ignored");

    /* Sizes (EDK2's FatSetVolumeInfo and FatSetVolumeLabelInfo), then labels FAT cannot hold. */
    fill_info(L"Sized");
    u_check_status(root->SetInfo(root, &FileSystemInfo, FSI_FIXED + 1, &fsi), EFI_BAD_BUFFER_SIZE, L"FILE_SYSTEM_INFO without room for a NUL");
    fsi.info.Size += 2;
    u_check_status(root->SetInfo(root, &FileSystemInfo, fsi.info.Size - 2, &fsi), EFI_BAD_BUFFER_SIZE, L"FILE_SYSTEM_INFO whose Size is more than BufferSize");
    u_check_status(root->SetInfo(root, &VolumeLabel, 1, (VOID *)L"X"), EFI_BAD_BUFFER_SIZE, L"FILE_SYSTEM_VOLUME_LABEL of 1 byte");
    u_check_status(root->SetInfo(root, &VolumeLabel, 6, (VOID *)L"ABCDEF"), EFI_BAD_BUFFER_SIZE, L"FILE_SYSTEM_VOLUME_LABEL with no NUL within BufferSize");
    u_check_status(set_label(root, L"TWELVE CHARS"), EFI_UNSUPPORTED, L"a label of 12 characters");
    u_check_status(set_info(root, L"much too long for FAT"), EFI_UNSUPPORTED, L"FILE_SYSTEM_INFO with a long label");
    u_check_status(set_label(root, L"bad*name"), EFI_UNSUPPORTED, L"a label with '*'");
    u_check_status(set_label(root, L" lead"), EFI_UNSUPPORTED, L"a label starting with a space");
    check_label(root, L"FIRST ONE", L"refusals change nothing");

    u_check_status(set_label(root, L""), EFI_SUCCESS, L"SetInfo(FILE_SYSTEM_VOLUME_LABEL, \"\")");
    check_label(root, L"", L"no label");

    EFI_FILE_PROTOCOL *ro = NULL;
    CHAR16 final[] = L"ueficorn N";
    final[9] = (CHAR16)(L'0' + n % 10);
    if (u_check_status(root->Open(root, &ro, L".", EFI_FILE_MODE_READ, 0), EFI_SUCCESS, L"Open(\".\", READ)")) {
      u_check_status(set_label(ro, final), EFI_SUCCESS, L"SetInfo(FILE_SYSTEM_VOLUME_LABEL) from a read-only handle");
      ro->Close(ro);
    }
    CHAR16 want[] = L"UEFICORN N";
    want[9] = final[9];
    check_label(root, want, L"read back");
  }
  get_label(root);
  u_puts(L"volume "); u_dec(n); u_puts(L": label '"); u_puts(label); u_puts(L"'\n");
  root->Close(root);
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  UINTN count = 0;
  EFI_HANDLE *handles = NULL;
  if (u_check_status(gBS->LocateHandleBuffer(ByProtocol, &SimpleFileSystem, NULL, &count, &handles), EFI_SUCCESS,
                     L"LocateHandleBuffer(SimpleFileSystem)")) {
    for (UINTN i = 0; i < count; i++) volume(handles[i], i + 1);
    gBS->FreePool(handles);
  }
  u_summary();
  u_flush();
  return u_failed ? EFI_ABORTED : EFI_SUCCESS;
}
