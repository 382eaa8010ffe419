/*
 * conformance.c - checks every one of the 43 boot services (UEFI 2.10 §7)
 * against the specification: return values, output parameters, and the
 * error statuses for bad arguments (NULL pointers, unknown handles, bad
 * memory and allocation types, wrong TPL, stale map keys ...).
 *
 * Every check prints one line:
 *   ok: BS.Name: what
 *   FAIL: BS.Name: what (got STATUS, want STATUS)
 * Where the specification leaves room, the check expects what OVMF (the
 * reference firmware) does; where OVMF contradicts the specification, the
 * check accepts both.  Either way a line
 *   note: SECTION Name: what the spec says / what OVMF does
 * follows the check.  The last line is "N passed, M failed".
 *
 * Exit status: EFI_SUCCESS iff M == 0, else EFI_ABORTED.
 *
 * The run has side effects a firmware must survive: it disables the
 * watchdog, and it ends with ExitBootServices(stale MapKey), after which
 * (§7.4.6) only the memory allocation services are used.  Image checks load
 * a PE32+ image built here in memory (build_child): its entry point jumps
 * back into child_entry() of this image, so a nested StartImage/Exit runs
 * code the checks control.
 */
#include <efi.h>
#include "lib/util.h"

extern const UINT8 __ImageBase[];

static EFI_HANDLE gImage;
static EFI_BOOT_SERVICES *BS;

#define PAGE 4096ULL

/* ------------------------------------------------------------ GUIDs */

static EFI_GUID LoadedImageGuid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static EFI_GUID DevicePathGuid = EFI_DEVICE_PATH_PROTOCOL_GUID;
static EFI_GUID ExitBootServicesGroup = EFI_EVENT_GROUP_EXIT_BOOT_SERVICES;
static EFI_GUID VirtualAddressChangeGroup = EFI_EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE;
static EFI_GUID MemoryMapChangeGroup = EFI_EVENT_GROUP_MEMORY_MAP_CHANGE;

/* Private GUIDs of this guest: test protocols, an event group, a table and
 * the vendor device-path nodes.  Nothing else in a firmware uses them. */
/* 69c79de2-fbfa-4fcf-88bb-ffac23d47bb2 */
static EFI_GUID ProtoA = { 0x69c79de2, 0xfbfa, 0x4fcf, { 0x88, 0xbb, 0xff, 0xac, 0x23, 0xd4, 0x7b, 0xb2 } };
/* 7c729b36-3bda-4920-b704-f9e5e6bb2ab5 */
static EFI_GUID ProtoB = { 0x7c729b36, 0x3bda, 0x4920, { 0xb7, 0x04, 0xf9, 0xe5, 0xe6, 0xbb, 0x2a, 0xb5 } };
/* 17ed8e28-2046-4d45-b8aa-e627594d4a73 */
static EFI_GUID ProtoC = { 0x17ed8e28, 0x2046, 0x4d45, { 0xb8, 0xaa, 0xe6, 0x27, 0x59, 0x4d, 0x4a, 0x73 } };
/* fc623d68-d7e2-4320-9ad5-d001b0ef10d0 */
static EFI_GUID ProtoE = { 0xfc623d68, 0xd7e2, 0x4320, { 0x9a, 0xd5, 0xd0, 0x01, 0xb0, 0xef, 0x10, 0xd0 } };
/* f4a2fe6b-9414-4cdd-be78-eabf02887d51: installed nowhere */
static EFI_GUID ProtoNone = { 0xf4a2fe6b, 0x9414, 0x4cdd, { 0xbe, 0x78, 0xea, 0xbf, 0x02, 0x88, 0x7d, 0x51 } };
/* e20cc4e2-82e1-4308-b2bc-3468433f4703 */
static EFI_GUID TestGroup = { 0xe20cc4e2, 0x82e1, 0x4308, { 0xb2, 0xbc, 0x34, 0x68, 0x43, 0x3f, 0x47, 0x03 } };
/* 514a7195-f66b-4a6d-a48c-4596960f7340 */
static EFI_GUID TestTable = { 0x514a7195, 0xf66b, 0x4a6d, { 0xa4, 0x8c, 0x45, 0x96, 0x96, 0x0f, 0x73, 0x40 } };
/* fadd068b-65d0-409e-8f76-0dc7f360d40d */
#define VENDOR_X { 0xfadd068b, 0x65d0, 0x409e, { 0x8f, 0x76, 0x0d, 0xc7, 0xf3, 0x60, 0xd4, 0x0d } }
/* f3ea0143-bdae-4ff6-8fce-0677de2ceccd */
#define VENDOR_Y { 0xf3ea0143, 0xbdae, 0x4ff6, { 0x8f, 0xce, 0x06, 0x77, 0xde, 0x2c, 0xec, 0xcd } }
/* a2b31d88-0387-4898-9c4a-02477dbc8a27 */
#define VENDOR_Z { 0xa2b31d88, 0x0387, 0x4898, { 0x9c, 0x4a, 0x02, 0x47, 0x7d, 0xbc, 0x8a, 0x27 } }

/* ------------------------------------------------------------ reporting */

static void head(BOOLEAN ok, const CHAR16 *svc, const CHAR16 *what) {
  if (ok) { u_passed++; u_puts(L"ok: BS."); }
  else    { u_failed++; u_puts(L"FAIL: BS."); }
  u_puts(svc); u_puts(L": "); u_puts(what);
}

static BOOLEAN check(const CHAR16 *svc, BOOLEAN ok, const CHAR16 *what) {
  head(ok, svc, what);
  u_putc(L'\n');
  return ok;
}

/* got == want, as the specification says. */
static BOOLEAN expect(const CHAR16 *svc, EFI_STATUS got, EFI_STATUS want, const CHAR16 *what) {
  BOOLEAN ok = got == want;
  head(ok, svc, what);
  if (!ok) { u_puts(L" (got "); u_status(got); u_puts(L", want "); u_status(want); u_putc(L')'); }
  u_putc(L'\n');
  return ok;
}

static void note(const CHAR16 *text) {
  u_puts(L"note: "); u_puts(text); u_putc(L'\n');
}

/* The specification leaves room: expect what OVMF does, and say so. */
static BOOLEAN expect_ovmf(const CHAR16 *svc, EFI_STATUS got, EFI_STATUS ovmf, const CHAR16 *what,
                           const CHAR16 *why) {
  BOOLEAN ok = expect(svc, got, ovmf, what);
  note(why);
  return ok;
}

/* OVMF contradicts the specification: accept either, say which one came
 * back when it is not the spec's, and say why. */
static BOOLEAN expect_either(const CHAR16 *svc, EFI_STATUS got, EFI_STATUS spec, EFI_STATUS ovmf,
                             const CHAR16 *what, const CHAR16 *why) {
  BOOLEAN ok = got == spec || got == ovmf;
  head(ok, svc, what);
  if (!ok) {
    u_puts(L" (got "); u_status(got); u_puts(L", want "); u_status(spec);
    u_puts(L" or "); u_status(ovmf); u_putc(L')');
  } else if (got != spec) {
    u_puts(L" [got "); u_status(got); u_puts(L", as OVMF]");
  }
  u_putc(L'\n');
  note(why);
  return ok;
}

/* The same for a condition: spec_ok is what the spec says, ovmf_ok what
 * OVMF does instead. */
static BOOLEAN check_either(const CHAR16 *svc, BOOLEAN spec_ok, BOOLEAN ovmf_ok, const CHAR16 *what,
                            const CHAR16 *why) {
  BOOLEAN ok = spec_ok || ovmf_ok;
  head(ok, svc, what);
  if (ok && !spec_ok) u_puts(L" [as OVMF]");
  u_putc(L'\n');
  note(why);
  return ok;
}

/* ------------------------------------------------------------ helpers */

/* A handle value that is not a handle: zeroed storage, never installed. */
static UINT64 not_a_handle[16];
#define BOGUS ((EFI_HANDLE)not_a_handle)

/* Protocol interfaces: distinct objects, only their addresses matter. */
static UINT64 ifA[2], ifA2[2], ifB[2], ifB2[2], ifC1[2], ifC1b[2], ifC2[2], ifE[2], ifWrong[2];

/* Current TPL: RaiseTPL returns the level it raised from. */
static EFI_TPL tpl_now(void) {
  EFI_TPL t = BS->RaiseTPL(TPL_HIGH_LEVEL);
  BS->RestoreTPL(t);
  return t;
}

/* What a notification function saw. */
typedef struct {
  UINTN count;      /* calls */
  EFI_TPL tpl;      /* TPL during the last call */
  UINTN seq;        /* global order of the last call */
  EFI_EVENT event;  /* Event argument of the last call */
} NOTE;

static UINTN notify_seq;

static void note_reset(NOTE *n) { n->count = 0; n->tpl = 0; n->seq = 0; n->event = NULL; }

/* EVT_NOTIFY_SIGNAL function: records the call; the context is its NOTE. */
static VOID EFIAPI on_signal(EFI_EVENT Event, VOID *Context) {
  NOTE *n = Context;
  n->count++;
  n->tpl = tpl_now();
  n->seq = ++notify_seq;
  n->event = Event;
}

/* EVT_NOTIFY_WAIT function: records the call and signals its event from
 * the second call on. */
static VOID EFIAPI on_wait(EFI_EVENT Event, VOID *Context) {
  NOTE *n = Context;
  n->count++;
  n->tpl = tpl_now();
  n->event = Event;
  if (n->count >= 2) BS->SignalEvent(Event);
}

/* 1 if h is in the handle database, 0 if not, -1 if it could not be read. */
static int handle_known(EFI_HANDLE h) {
  UINTN n = 0;
  EFI_HANDLE *buf = NULL;
  if (BS->LocateHandleBuffer(AllHandles, NULL, NULL, &n, &buf) != EFI_SUCCESS || buf == NULL) return -1;
  int found = 0;
  for (UINTN i = 0; i < n; i++) if (buf[i] == h) found = 1;
  BS->FreePool(buf);
  return found;
}

/* A copy of the memory map.  One buffer, allocated once (scratch), serves
 * every check: allocating a buffer per look would change the map being
 * looked at (a freed page may well come back as that very buffer). */
typedef struct {
  UINT8 *buf;
  UINTN cap, size, key, dsize;
  UINT32 version;
} MAP;

static MAP scratch;

static EFI_STATUS map_alloc(MAP *m) {
  m->buf = NULL;
  m->size = 0;
  m->dsize = 0;
  EFI_STATUS s = BS->GetMemoryMap(&m->size, NULL, &m->key, &m->dsize, &m->version);
  if (s != EFI_BUFFER_TOO_SMALL) return s == EFI_SUCCESS ? EFI_DEVICE_ERROR : s;
  m->cap = 2 * m->size + 16384;   /* room for the map to grow during the run */
  return BS->AllocatePool(EfiLoaderData, m->cap, (VOID **)&m->buf);
}

static EFI_STATUS map_read(MAP *m) {
  if (m->buf == NULL) return EFI_NOT_READY;
  m->size = m->cap;
  EFI_STATUS s = BS->GetMemoryMap(&m->size, (EFI_MEMORY_DESCRIPTOR *)m->buf, &m->key, &m->dsize, &m->version);
  if (s == EFI_SUCCESS && (m->dsize < sizeof(EFI_MEMORY_DESCRIPTOR) || m->size > m->cap)) s = EFI_DEVICE_ERROR;
  return s;
}

static EFI_MEMORY_DESCRIPTOR *map_desc(MAP *m, UINTN i) {
  return (EFI_MEMORY_DESCRIPTOR *)(m->buf + i * m->dsize);
}

static UINTN map_count(MAP *m) { return m->dsize ? m->size / m->dsize : 0; }

static EFI_MEMORY_DESCRIPTOR *map_find(MAP *m, UINT64 addr) {
  for (UINTN i = 0; i < map_count(m); i++) {
    EFI_MEMORY_DESCRIPTOR *d = map_desc(m, i);
    if (addr >= d->PhysicalStart && addr - d->PhysicalStart < d->NumberOfPages * PAGE) return d;
  }
  return NULL;
}

#define NO_TYPE 0xffffffffU

/* Memory type of the descriptor holding addr, from a fresh read of the map. */
static UINT32 type_at(UINT64 addr) {
  if (map_read(&scratch) != EFI_SUCCESS) return NO_TYPE;
  EFI_MEMORY_DESCRIPTOR *d = map_find(&scratch, addr);
  return d ? d->Type : NO_TYPE;
}

/* The start of the lowest free (EfiConventionalMemory) run of at least `pages` pages, or
 * 0: where RAM begins is the platform's (0 on a PC, 1 GiB on QEMU's arm64 virt board). */
static UINT64 lowest_free(UINT64 pages) {
  UINT64 best = 0;
  if (map_read(&scratch) != EFI_SUCCESS) return 0;
  for (UINTN i = 0; i < map_count(&scratch); i++) {
    EFI_MEMORY_DESCRIPTOR *d = map_desc(&scratch, i);
    if (d->Type == EfiConventionalMemory && d->NumberOfPages >= pages && d->PhysicalStart >= PAGE &&
        (!best || d->PhysicalStart < best)) best = d->PhysicalStart;
  }
  return best;
}

static BOOLEAN bytes_are(const UINT8 *p, UINTN n, UINT8 v) {
  for (UINTN i = 0; i < n; i++) if (p[i] != v) return FALSE;
  return TRUE;
}

static void section(const CHAR16 *title) {
  u_puts(L"-- "); u_puts(title); u_putc(L'\n');
}

/* ====================================================================== */
/* 7.5 Miscellaneous boot services                                        */
/* ====================================================================== */

static void test_watchdog(void) {
  const CHAR16 *S = L"SetWatchdogTimer";
  /* The boot manager arms a 5-minute watchdog before starting us (§7.5.1). */
  expect(S, BS->SetWatchdogTimer(0, 0, 0, NULL), EFI_SUCCESS, L"Timeout 0 disables the watchdog");
  expect(S, BS->SetWatchdogTimer(600, 0x10000, 0, NULL), EFI_SUCCESS,
         L"600 s with a loader code (0x10000) -> SUCCESS");
  static const CHAR16 why[] = L"conformance watchdog";
  expect(S, BS->SetWatchdogTimer(600, 0x10001, sizeof why, (CHAR16 *)why), EFI_SUCCESS,
         L"with WatchdogData -> SUCCESS");
  expect_either(S, BS->SetWatchdogTimer(600, 0x0001, 0, NULL), EFI_INVALID_PARAMETER, EFI_SUCCESS,
                L"firmware-reserved WatchdogCode 0x0001 is refused",
                L"7.5.1 SetWatchdogTimer: codes 0x0000-0xFFFF are reserved to the firmware and the spec "
                L"lists INVALID_PARAMETER for an invalid WatchdogCode; OVMF never checks the code and returns SUCCESS");
  expect(S, BS->SetWatchdogTimer(0, 0, 0, NULL), EFI_SUCCESS, L"disabled again");
}

static void test_crc_mem(void) {
  const CHAR16 *S = L"CalculateCrc32";
  static const char vec[] = "123456789";
  UINT32 crc = 0;
  if (expect(S, BS->CalculateCrc32((VOID *)vec, 9, &crc), EFI_SUCCESS, L"\"123456789\" -> SUCCESS"))
    check(S, crc == 0xCBF43926, L"CRC-32 of \"123456789\" is 0xCBF43926");
  expect(S, BS->CalculateCrc32(NULL, 9, &crc), EFI_INVALID_PARAMETER, L"Data NULL -> INVALID_PARAMETER");
  expect(S, BS->CalculateCrc32((VOID *)vec, 9, NULL), EFI_INVALID_PARAMETER, L"Crc32 NULL -> INVALID_PARAMETER");
  expect(S, BS->CalculateCrc32((VOID *)vec, 0, &crc), EFI_INVALID_PARAMETER, L"DataSize 0 -> INVALID_PARAMETER");

  S = L"CopyMem";
  static const char digits[] = "0123456789abcdef";
  char b[17], c[17];
  memcpy(b, digits, 17);
  memset(c, 'x', 17);
  BS->CopyMem(c, b, 16);
  check(S, memcmp(c, digits, 16) == 0 && c[16] == 'x', L"16 bytes, disjoint buffers");
  BS->CopyMem(b + 2, b, 8);   /* Destination > Source, overlapping: copy backwards (§7.5.3 rule 2) */
  check(S, memcmp(b, "0101234567abcdef", 16) == 0, L"overlap, Destination above Source");
  memcpy(b, digits, 17);
  BS->CopyMem(b, b + 2, 8);   /* Destination < Source: copy forwards (rule 3) */
  check(S, memcmp(b, "2345678989abcdef", 16) == 0, L"overlap, Destination below Source");
  memcpy(b, digits, 17);
  BS->CopyMem(b, b, 16);      /* identical: nothing to do (rule 1) */
  check(S, memcmp(b, digits, 16) == 0, L"Destination == Source leaves the buffer as it was");
  BS->CopyMem(c, (VOID *)"zzzz", 0);
  check(S, memcmp(c, digits, 16) == 0, L"Length 0 writes nothing");

  S = L"SetMem";
  UINT8 m[32];
  memset(m, 0x11, sizeof m);
  BS->SetMem(m + 8, 16, 0xA5);
  check(S, bytes_are(m, 8, 0x11) && bytes_are(m + 8, 16, 0xA5) && bytes_are(m + 24, 8, 0x11),
        L"16 bytes of 0xA5, neighbours untouched");
  BS->SetMem(m, 0, 0xFF);
  check(S, bytes_are(m, 8, 0x11), L"Size 0 writes nothing");
}

static void test_monotonic(void) {
  const CHAR16 *S = L"GetNextMonotonicCount";
  UINT64 c1 = 0, c2 = 0;
  EFI_STATUS s1 = BS->GetNextMonotonicCount(&c1);
  EFI_STATUS s2 = BS->GetNextMonotonicCount(&c2);
  expect(S, s1, EFI_SUCCESS, L"-> SUCCESS");
  if (s1 == EFI_SUCCESS && s2 == EFI_SUCCESS) {
    check(S, c2 > c1, L"the next count is larger");
    check(S, (UINT32)c2 == (UINT32)c1 + 1 && (c2 >> 32) == (c1 >> 32),
          L"the low 32 bits grow by 1 per call (7.5.5)");
  }
  expect(S, BS->GetNextMonotonicCount(NULL), EFI_INVALID_PARAMETER, L"Count NULL -> INVALID_PARAMETER");
}

static void test_stall(void) {
  const CHAR16 *S = L"Stall";
  expect(S, BS->Stall(10), EFI_SUCCESS, L"10 us -> SUCCESS");
  /* The spec lists no error status for Stall(); the edge cases stand in. */
  expect(S, BS->Stall(0), EFI_SUCCESS, L"0 us -> SUCCESS (edge: no error status exists)");
  EFI_TPL old = BS->RaiseTPL(TPL_HIGH_LEVEL);
  EFI_STATUS s = BS->Stall(10);
  BS->RestoreTPL(old);
  expect(S, s, EFI_SUCCESS, L"at TPL_HIGH_LEVEL -> SUCCESS (allowed up to TPL_HIGH_LEVEL, table 7.3)");
}

/* ====================================================================== */
/* 7.2 Memory allocation services                                         */
/* ====================================================================== */

static void test_pages(void) {
  const CHAR16 *S = L"AllocatePages";
  EFI_PHYSICAL_ADDRESS a = 0;
  EFI_STATUS s = BS->AllocatePages(AllocateAnyPages, EfiLoaderData, 4, &a);
  if (expect(S, s, EFI_SUCCESS, L"AnyPages, LoaderData, 4 pages -> SUCCESS")) {
    check(S, a != 0 && (a & (PAGE - 1)) == 0, L"AnyPages: the address is page aligned");
    volatile UINT8 *p = (UINT8 *)(UINTN)a;
    p[0] = 0x5A; p[4 * PAGE - 1] = 0xA5;
    check(S, p[0] == 0x5A && p[4 * PAGE - 1] == 0xA5, L"AnyPages: the pages are usable memory");
    check(S, type_at(a) == EfiLoaderData && type_at(a + 3 * PAGE) == EfiLoaderData,
          L"AnyPages: the memory map shows the pages as EfiLoaderData");

    /* Address: the pages just freed can be had again at the same place. */
    if (BS->FreePages(a, 4) == EFI_SUCCESS) {
      EFI_PHYSICAL_ADDRESS b = a;
      s = BS->AllocatePages(AllocateAddress, EfiBootServicesData, 4, &b);
      if (expect(S, s, EFI_SUCCESS, L"Address at free pages -> SUCCESS")) {
        check(S, b == a, L"Address: Memory is the address asked for");
        check(S, type_at(a) == EfiBootServicesData, L"Address: the map shows the type asked for");
        EFI_PHYSICAL_ADDRESS c = a + PAGE;
        expect(S, BS->AllocatePages(AllocateAddress, EfiLoaderData, 1, &c), EFI_NOT_FOUND,
               L"Address at allocated pages -> NOT_FOUND");
        c = a + 0x800;
        expect_ovmf(S, BS->AllocatePages(AllocateAddress, EfiLoaderData, 1, &c), EFI_NOT_FOUND,
                    L"Address not page aligned -> NOT_FOUND",
                    L"7.2.1 AllocatePages: the spec names no status for an unaligned AllocateAddress; OVMF returns NOT_FOUND");
        BS->FreePages(a, 4);
      }
    }
  }

  /* MaxAddress: the whole range lies at or below *Memory; the limit is 8 pages into the
   * lowest free memory, so that there is room below it wherever the platform's RAM starts. */
  UINT64 low = lowest_free(8);
  EFI_PHYSICAL_ADDRESS limit = low + 8 * PAGE - 1, m = limit;
  s = BS->AllocatePages(AllocateMaxAddress, EfiLoaderData, 2, &m);
  if (expect(S, s, EFI_SUCCESS, L"MaxAddress 8 pages into the lowest free memory, 2 pages -> SUCCESS")) {
    check(S, (m & (PAGE - 1)) == 0 && m + 2 * PAGE - 1 <= limit, L"MaxAddress: the last byte is <= the limit");
    BS->FreePages(m, 2);
  }
  limit = m = low + 8 * PAGE - 0x801;   /* not the last byte of a page */
  s = BS->AllocatePages(AllocateMaxAddress, EfiLoaderData, 1, &m);
  if (expect(S, s, EFI_SUCCESS, L"MaxAddress mid-page in the lowest free memory, 1 page -> SUCCESS")) {
    check(S, m + PAGE - 1 <= limit, L"MaxAddress mid-page: the page ends at or below the limit");
    BS->FreePages(m, 1);
  }
  m = 0xFFF;
  expect_ovmf(S, BS->AllocatePages(AllocateMaxAddress, EfiLoaderData, 1, &m), EFI_OUT_OF_RESOURCES,
              L"MaxAddress 0xFFF (no free page below) -> OUT_OF_RESOURCES",
              L"7.2.1 AllocatePages: OUT_OF_RESOURCES (pages could not be allocated) and NOT_FOUND "
              L"(pages could not be found) both fit; OVMF returns OUT_OF_RESOURCES");

  /* OEM and OS-loader memory types are legal (§7.2.1 MemoryType). */
  m = 0;
  s = BS->AllocatePages(AllocateAnyPages, (EFI_MEMORY_TYPE)0x80000001, 1, &m);
  if (expect(S, s, EFI_SUCCESS, L"OS-loader type 0x80000001 -> SUCCESS")) {
    check(S, type_at(m) == 0x80000001, L"the map shows type 0x80000001");
    BS->FreePages(m, 1);
  }
  m = 0;
  s = BS->AllocatePages(AllocateAnyPages, (EFI_MEMORY_TYPE)0x70000000, 1, &m);
  if (expect(S, s, EFI_SUCCESS, L"OEM type 0x70000000 -> SUCCESS")) BS->FreePages(m, 1);

  m = 0;
  expect(S, BS->AllocatePages(MaxAllocateType, EfiLoaderData, 1, &m), EFI_INVALID_PARAMETER,
         L"Type MaxAllocateType -> INVALID_PARAMETER");
  expect(S, BS->AllocatePages(AllocateAnyPages, EfiMaxMemoryType, 1, &m), EFI_INVALID_PARAMETER,
         L"MemoryType EfiMaxMemoryType -> INVALID_PARAMETER");
  expect(S, BS->AllocatePages(AllocateAnyPages, (EFI_MEMORY_TYPE)0x6FFFFFFF, 1, &m), EFI_INVALID_PARAMETER,
         L"MemoryType 0x6FFFFFFF -> INVALID_PARAMETER");
  expect(S, BS->AllocatePages(AllocateAnyPages, EfiPersistentMemory, 1, &m), EFI_INVALID_PARAMETER,
         L"MemoryType EfiPersistentMemory -> INVALID_PARAMETER");
  expect(S, BS->AllocatePages(AllocateAnyPages, EfiUnacceptedMemoryType, 1, &m), EFI_INVALID_PARAMETER,
         L"MemoryType EfiUnacceptedMemoryType -> INVALID_PARAMETER");
  expect_ovmf(S, BS->AllocatePages(AllocateAnyPages, EfiConventionalMemory, 1, &m), EFI_INVALID_PARAMETER,
              L"MemoryType EfiConventionalMemory -> INVALID_PARAMETER",
              L"7.2.1 AllocatePages: the spec does not list EfiConventionalMemory as invalid; "
              L"OVMF refuses it with INVALID_PARAMETER");
  expect(S, BS->AllocatePages(AllocateAnyPages, EfiLoaderData, 1, NULL), EFI_INVALID_PARAMETER,
         L"Memory NULL -> INVALID_PARAMETER");
  m = 0;
  expect(S, BS->AllocatePages(AllocateAnyPages, EfiLoaderData, 0x10000000, &m), EFI_OUT_OF_RESOURCES,
         L"AnyPages, 1 TiB -> OUT_OF_RESOURCES");
  m = 0x7FFF00000000ULL;
  expect(S, BS->AllocatePages(AllocateAddress, EfiLoaderData, 1, &m), EFI_NOT_FOUND,
         L"Address outside RAM -> NOT_FOUND");

  S = L"FreePages";
  a = 0;
  if (BS->AllocatePages(AllocateAnyPages, EfiLoaderData, 2, &a) == EFI_SUCCESS) {
    expect(S, BS->FreePages(a + 0x10, 1), EFI_INVALID_PARAMETER, L"Memory not page aligned -> INVALID_PARAMETER");
    expect(S, BS->FreePages(a, 2), EFI_SUCCESS, L"2 pages from AllocatePages -> SUCCESS");
    check(S, type_at(a) == EfiConventionalMemory, L"the map shows the pages as EfiConventionalMemory");
    expect(S, BS->FreePages(a, 2), EFI_NOT_FOUND, L"the same pages again -> NOT_FOUND");
  } else {
    check(S, FALSE, L"(AllocatePages for the FreePages checks failed)");
  }
  expect(S, BS->FreePages(0x7FFF00000000ULL, 1), EFI_NOT_FOUND, L"memory outside RAM -> NOT_FOUND");
}

static void test_memory_map(void) {
  const CHAR16 *S = L"GetMemoryMap";
  UINTN size = 0, key = 0, dsize = 0;
  UINT32 ver = 0;
  EFI_STATUS s = BS->GetMemoryMap(&size, NULL, &key, &dsize, &ver);
  expect(S, s, EFI_BUFFER_TOO_SMALL, L"size 0 -> BUFFER_TOO_SMALL");
  check(S, size >= sizeof(EFI_MEMORY_DESCRIPTOR), L"BUFFER_TOO_SMALL returns the size needed");
  expect(S, BS->GetMemoryMap(NULL, NULL, &key, &dsize, &ver), EFI_INVALID_PARAMETER,
         L"MemoryMapSize NULL -> INVALID_PARAMETER");
  UINTN big = size + 4096;
  expect(S, BS->GetMemoryMap(&big, NULL, &key, &dsize, &ver), EFI_INVALID_PARAMETER,
         L"large enough but MemoryMap NULL -> INVALID_PARAMETER");

  MAP *m = &scratch;
  s = map_read(m);
  if (!expect(S, s, EFI_SUCCESS, L"a large enough buffer -> SUCCESS")) return;
  check(S, m->version == EFI_MEMORY_DESCRIPTOR_VERSION, L"DescriptorVersion is 1");
  check(S, m->dsize >= sizeof(EFI_MEMORY_DESCRIPTOR) && m->dsize % 8 == 0,
        L"DescriptorSize >= sizeof(EFI_MEMORY_DESCRIPTOR), a multiple of 8");
  check(S, m->size % m->dsize == 0, L"MemoryMapSize is a whole number of descriptors");
  u_puts(L"   "); u_dec(map_count(m)); u_puts(L" descriptors of "); u_dec(m->dsize); u_puts(L" bytes\n");
  BOOLEAN aligned = TRUE, nonempty = TRUE, disjoint = TRUE;
  for (UINTN i = 0; i < map_count(m); i++) {
    EFI_MEMORY_DESCRIPTOR *d = map_desc(m, i);
    if (d->PhysicalStart & (PAGE - 1)) aligned = FALSE;
    if (d->NumberOfPages == 0) nonempty = FALSE;
    for (UINTN j = i + 1; j < map_count(m); j++) {
      EFI_MEMORY_DESCRIPTOR *e = map_desc(m, j);
      if (d->PhysicalStart < e->PhysicalStart + e->NumberOfPages * PAGE &&
          e->PhysicalStart < d->PhysicalStart + d->NumberOfPages * PAGE) disjoint = FALSE;
    }
  }
  check(S, aligned, L"every PhysicalStart is 4 KiB aligned");
  check(S, nonempty, L"no descriptor has NumberOfPages 0");
  check(S, disjoint, L"no two descriptors overlap");
  EFI_MEMORY_DESCRIPTOR *mine = map_find(m, (UINT64)(UINTN)__ImageBase);
  check(S, mine && mine->Type == EfiLoaderCode, L"this image lies in EfiLoaderCode memory");

  /* The key names the map: unchanged map, same key; any change, new key.
   * Nothing is printed between the calls: printing may allocate. */
  EFI_STATUS r1 = map_read(m);
  UINTN k1 = m->key, need = m->size;
  EFI_STATUS r2 = map_read(m);
  UINTN k2 = m->key;
  size = need - 1;
  EFI_STATUS r3 = BS->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)m->buf, &key, &dsize, &ver);
  UINTN asked = size;
  EFI_STATUS r3b = BS->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)m->buf, &key, &dsize, &ver);
  EFI_PHYSICAL_ADDRESS a = 0;
  EFI_STATUS ra = BS->AllocatePages(AllocateAnyPages, EfiLoaderData, 1, &a);
  EFI_STATUS r4 = map_read(m);
  UINTN k3 = m->key;
  EFI_STATUS rf = ra == EFI_SUCCESS ? BS->FreePages(a, 1) : ra;
  EFI_STATUS r5 = map_read(m);
  UINTN k4 = m->key;
  check(S, r1 == EFI_SUCCESS && r2 == EFI_SUCCESS && k1 == k2, L"MapKey is the same while the map is unchanged");
  expect(S, r3, EFI_BUFFER_TOO_SMALL, L"one byte short -> BUFFER_TOO_SMALL");
  check(S, asked >= need && r3b == EFI_SUCCESS, L"one byte short: MemoryMapSize is set to a size that is enough");
  if (asked > need)
    note(L"7.2.3 GetMemoryMap: BUFFER_TOO_SMALL returns 'the size needed'; OVMF asks for room for its "
         L"descriptors before it merges neighbours of one type, more than the map it then returns");
  check(S, ra == EFI_SUCCESS && r4 == EFI_SUCCESS && k3 != k2, L"MapKey changes after AllocatePages");
  check(S, rf == EFI_SUCCESS && r5 == EFI_SUCCESS && k4 != k3, L"MapKey changes after FreePages");
}

static void test_pool(void) {
  const CHAR16 *S = L"AllocatePool";
  static const EFI_MEMORY_TYPE types[] = { EfiLoaderData, EfiBootServicesData, EfiRuntimeServicesData };
  static const CHAR16 *const names[] = {
    L"EfiLoaderData pool lies in EfiLoaderData memory",
    L"EfiBootServicesData pool lies in EfiBootServicesData memory",
    L"EfiRuntimeServicesData pool lies in EfiRuntimeServicesData memory",
  };
  for (UINTN i = 0; i < 3; i++) {
    VOID *p = NULL;
    EFI_STATUS s = BS->AllocatePool(types[i], 100, &p);
    if (s != EFI_SUCCESS || p == NULL) {
      expect(S, s, EFI_SUCCESS, L"100 bytes -> SUCCESS");
      continue;
    }
    if (i == 0) {
      expect(S, s, EFI_SUCCESS, L"100 bytes of EfiLoaderData -> SUCCESS");
      check(S, ((UINTN)p & 7) == 0, L"the buffer is 8-byte aligned");
      memset(p, 0xCC, 100);
      check(S, bytes_are(p, 100, 0xCC), L"the buffer is usable memory");
    }
    check(S, type_at((UINT64)(UINTN)p) == (UINT32)types[i], names[i]);
    BS->FreePool(p);
  }
  VOID *odd[3] = { NULL, NULL, NULL };
  BOOLEAN all8 = TRUE;
  for (UINTN i = 0; i < 3; i++) {
    if (BS->AllocatePool(EfiLoaderData, 1 + 3 * i, &odd[i]) != EFI_SUCCESS || ((UINTN)odd[i] & 7)) all8 = FALSE;
  }
  check(S, all8, L"odd sizes 1, 4, 7: every buffer 8-byte aligned");
  for (UINTN i = 0; i < 3; i++) if (odd[i]) BS->FreePool(odd[i]);

  VOID *p = NULL;
  expect(S, BS->AllocatePool(EfiMaxMemoryType, 16, &p), EFI_INVALID_PARAMETER,
         L"PoolType EfiMaxMemoryType -> INVALID_PARAMETER");
  expect(S, BS->AllocatePool((EFI_MEMORY_TYPE)0x6FFFFFFF, 16, &p), EFI_INVALID_PARAMETER,
         L"PoolType 0x6FFFFFFF -> INVALID_PARAMETER");
  expect(S, BS->AllocatePool(EfiPersistentMemory, 16, &p), EFI_INVALID_PARAMETER,
         L"PoolType EfiPersistentMemory -> INVALID_PARAMETER");
  expect(S, BS->AllocatePool(EfiLoaderData, 16, NULL), EFI_INVALID_PARAMETER, L"Buffer NULL -> INVALID_PARAMETER");
  expect(S, BS->AllocatePool(EfiLoaderData, 0x10000000000ULL, &p), EFI_OUT_OF_RESOURCES,
         L"1 TiB -> OUT_OF_RESOURCES");
  p = NULL;
  if (BS->AllocatePool((EFI_MEMORY_TYPE)0x80000002, 64, &p) == EFI_SUCCESS && p) {
    check(S, type_at((UINT64)(UINTN)p) == 0x80000002, L"OS-loader pool type 0x80000002 is kept");
    BS->FreePool(p);
  } else {
    check(S, FALSE, L"OS-loader pool type 0x80000002 -> SUCCESS");
  }

  S = L"FreePool";
  p = NULL;
  if (BS->AllocatePool(EfiLoaderData, 64, &p) == EFI_SUCCESS) {
    expect(S, BS->FreePool(p), EFI_SUCCESS, L"a buffer from AllocatePool -> SUCCESS");
  } else {
    check(S, FALSE, L"(AllocatePool for the FreePool check failed)");
  }
  expect(S, BS->FreePool(NULL), EFI_INVALID_PARAMETER, L"NULL -> INVALID_PARAMETER");
  EFI_PHYSICAL_ADDRESS pg = 0;
  if (BS->AllocatePages(AllocateAnyPages, EfiLoaderData, 1, &pg) == EFI_SUCCESS) {
    memset((VOID *)(UINTN)pg, 0, PAGE);
    expect(S, BS->FreePool((VOID *)(UINTN)(pg + 256)), EFI_INVALID_PARAMETER,
           L"a pointer into AllocatePages memory -> INVALID_PARAMETER");
    BS->FreePages(pg, 1);
  }
}

/* ====================================================================== */
/* 7.1 Events, timers and task priority                                   */
/* ====================================================================== */

static NOTE n1, n2, n3;

static void test_create_close_signal(void) {
  const CHAR16 *S = L"CreateEvent";
  EFI_EVENT e = NULL;
  note_reset(&n1);
  EFI_STATUS s = BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &n1, &e);
  expect(S, s, EFI_SUCCESS, L"NOTIFY_SIGNAL at TPL_CALLBACK -> SUCCESS");
  check(S, e != NULL, L"the event is not NULL");
  check(S, n1.count == 0, L"a new event is not signalled (no notification)");
  EFI_EVENT plain = NULL;
  expect(S, BS->CreateEvent(0, 0, NULL, NULL, &plain), EFI_SUCCESS, L"Type 0 without notification -> SUCCESS");
  EFI_EVENT t = NULL;
  expect(S, BS->CreateEvent(EVT_TIMER | EVT_NOTIFY_WAIT, TPL_NOTIFY, on_wait, &n2, &t), EFI_SUCCESS,
         L"TIMER|NOTIFY_WAIT at TPL_NOTIFY -> SUCCESS");
  if (t) BS->CloseEvent(t);
  EFI_EVENT ebs = NULL;
  expect(S, BS->CreateEvent(EVT_SIGNAL_EXIT_BOOT_SERVICES, TPL_NOTIFY, on_signal, &n3, &ebs), EFI_SUCCESS,
         L"EVT_SIGNAL_EXIT_BOOT_SERVICES -> SUCCESS");
  if (ebs) BS->CloseEvent(ebs);

  EFI_EVENT x = NULL;
  expect(S, BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &n1, NULL), EFI_INVALID_PARAMETER,
         L"Event NULL -> INVALID_PARAMETER");
  expect(S, BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, NULL, NULL, &x), EFI_INVALID_PARAMETER,
         L"NOTIFY_SIGNAL with NotifyFunction NULL -> INVALID_PARAMETER");
  expect(S, BS->CreateEvent(EVT_NOTIFY_WAIT, TPL_CALLBACK, NULL, NULL, &x), EFI_INVALID_PARAMETER,
         L"NOTIFY_WAIT with NotifyFunction NULL -> INVALID_PARAMETER");
  expect(S, BS->CreateEvent(EVT_NOTIFY_SIGNAL | EVT_NOTIFY_WAIT, TPL_CALLBACK, on_signal, &n1, &x),
         EFI_INVALID_PARAMETER, L"NOTIFY_SIGNAL|NOTIFY_WAIT -> INVALID_PARAMETER");
  expect(S, BS->CreateEvent(0x00000001, 0, NULL, NULL, &x), EFI_INVALID_PARAMETER,
         L"an unsupported Type bit -> INVALID_PARAMETER");
  expect(S, BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_HIGH_LEVEL + 1, on_signal, &n1, &x), EFI_INVALID_PARAMETER,
         L"NotifyTpl 32 (not a TPL) -> INVALID_PARAMETER");
  expect_ovmf(S, BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_APPLICATION, on_signal, &n1, &x), EFI_INVALID_PARAMETER,
              L"NotifyTpl TPL_APPLICATION -> INVALID_PARAMETER",
              L"7.1.1 CreateEvent: notification levels are > TPL_APPLICATION (table 7.3); "
              L"the spec does not name TPL_APPLICATION itself, OVMF refuses it with INVALID_PARAMETER");

  S = L"SignalEvent";
  expect(S, BS->SignalEvent(e), EFI_SUCCESS, L"-> SUCCESS");
  check(S, n1.count == 1, L"at TPL_APPLICATION the notification ran before SignalEvent returned");
  check(S, n1.tpl == TPL_CALLBACK, L"the notification ran at its NotifyTpl (TPL_CALLBACK)");
  check(S, n1.event == e, L"the notification got the event and its NotifyContext");
  EFI_TPL old = BS->RaiseTPL(TPL_NOTIFY);
  BS->SignalEvent(e);
  s = BS->SignalEvent(e);   /* already signalled: SUCCESS, still one notification */
  UINTN held = n1.count;
  BS->RestoreTPL(old);
  expect(S, s, EFI_SUCCESS, L"an event already signalled -> SUCCESS");
  check(S, held == 1 && n1.count == 2, L"signalled twice while masked: notified once");
  expect_ovmf(S, BS->SignalEvent(NULL), EFI_INVALID_PARAMETER, L"NULL -> INVALID_PARAMETER",
              L"7.1.4 SignalEvent: the spec lists only SUCCESS; OVMF returns INVALID_PARAMETER for NULL");

  S = L"CloseEvent";
  expect(S, BS->CloseEvent(e), EFI_SUCCESS, L"-> SUCCESS");
  note_reset(&n1);
  expect(S, BS->CloseEvent(plain), EFI_SUCCESS, L"a Type 0 event -> SUCCESS");
  expect_ovmf(S, BS->CloseEvent(NULL), EFI_INVALID_PARAMETER, L"NULL -> INVALID_PARAMETER",
              L"7.1.3 CloseEvent: the spec lists only SUCCESS; OVMF returns INVALID_PARAMETER for NULL");
  /* CloseEvent inside the event's own notification is allowed (§7.1.3). */
}

static NOTE self_close;
static VOID EFIAPI close_self(EFI_EVENT Event, VOID *Context) {
  NOTE *n = Context;
  n->count++;
  n->seq = BS->CloseEvent(Event) == EFI_SUCCESS;
}

static void test_check_wait(void) {
  const CHAR16 *S = L"CheckEvent";
  EFI_EVENT plain = NULL, sig = NULL, wait = NULL;
  BS->CreateEvent(0, 0, NULL, NULL, &plain);
  note_reset(&n1);
  BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &n1, &sig);
  note_reset(&n2);
  BS->CreateEvent(EVT_NOTIFY_WAIT, TPL_CALLBACK, on_wait, &n2, &wait);
  expect(S, BS->CheckEvent(plain), EFI_NOT_READY, L"not signalled -> NOT_READY");
  BS->SignalEvent(plain);
  expect(S, BS->CheckEvent(plain), EFI_SUCCESS, L"signalled -> SUCCESS");
  expect(S, BS->CheckEvent(plain), EFI_NOT_READY, L"CheckEvent cleared the signal -> NOT_READY");
  expect(S, BS->CheckEvent(sig), EFI_INVALID_PARAMETER, L"a NOTIFY_SIGNAL event -> INVALID_PARAMETER");
  expect(S, BS->CheckEvent(wait), EFI_NOT_READY, L"NOTIFY_WAIT, notify does not signal -> NOT_READY");
  check(S, n2.count == 1 && n2.tpl == TPL_CALLBACK, L"NOTIFY_WAIT: the notification ran once at TPL_CALLBACK");
  expect(S, BS->CheckEvent(wait), EFI_SUCCESS, L"NOTIFY_WAIT, notify signals -> SUCCESS");
  check(S, n2.count == 2, L"NOTIFY_WAIT: the notification ran again");

  S = L"WaitForEvent";
  UINTN idx = 99;
  EFI_EVENT list[3];
  EFI_EVENT other = NULL;
  BS->CreateEvent(0, 0, NULL, NULL, &other);
  BS->SignalEvent(other);
  list[0] = plain; list[1] = other;
  expect(S, BS->WaitForEvent(2, list, &idx), EFI_SUCCESS, L"the second of two is signalled -> SUCCESS");
  check(S, idx == 1, L"Index is 1");
  expect(S, BS->CheckEvent(other), EFI_NOT_READY, L"(CheckEvent) WaitForEvent cleared the signal");
  note_reset(&n2);
  list[0] = wait;
  idx = 99;
  expect(S, BS->WaitForEvent(1, list, &idx), EFI_SUCCESS, L"a NOTIFY_WAIT event whose notify signals -> SUCCESS");
  check(S, idx == 0 && n2.count >= 2, L"its notification was queued while waiting");
  expect(S, BS->WaitForEvent(0, list, &idx), EFI_INVALID_PARAMETER, L"NumberOfEvents 0 -> INVALID_PARAMETER");
  list[0] = plain; list[1] = sig;
  idx = 99;
  expect(S, BS->WaitForEvent(2, list, &idx), EFI_INVALID_PARAMETER,
         L"a NOTIFY_SIGNAL event in the list -> INVALID_PARAMETER");
  check(S, idx == 1, L"Index names the NOTIFY_SIGNAL event");
  BS->SignalEvent(other);
  list[0] = other;
  EFI_TPL old = BS->RaiseTPL(TPL_CALLBACK);
  EFI_STATUS s = BS->WaitForEvent(1, list, &idx);
  BS->RestoreTPL(old);
  expect(S, s, EFI_UNSUPPORTED, L"at TPL_CALLBACK -> UNSUPPORTED");
  BS->CheckEvent(other);
  if (plain) BS->CloseEvent(plain);
  if (sig) BS->CloseEvent(sig);
  if (wait) BS->CloseEvent(wait);
  if (other) BS->CloseEvent(other);

  S = L"CloseEvent";
  EFI_EVENT sc = NULL;
  note_reset(&self_close);
  if (BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, close_self, &self_close, &sc) == EFI_SUCCESS) {
    BS->SignalEvent(sc);
    check(S, self_close.count == 1 && self_close.seq == 1, L"an event closes itself in its notification -> SUCCESS");
  }
}

static void test_tpl(void) {
  const CHAR16 *S = L"RaiseTPL";
  EFI_TPL old = BS->RaiseTPL(TPL_CALLBACK);
  EFI_TPL now = tpl_now();
  BS->RestoreTPL(old);
  check(S, old == TPL_APPLICATION, L"an application starts at TPL_APPLICATION (returned as the old TPL)");
  check(S, now == TPL_CALLBACK, L"raised to TPL_CALLBACK, the TPL is TPL_CALLBACK");
  old = BS->RaiseTPL(TPL_NOTIFY);
  EFI_TPL again = BS->RaiseTPL(TPL_NOTIFY);
  BS->RestoreTPL(again);
  BS->RestoreTPL(old);
  check(S, again == TPL_NOTIFY, L"raising to the current level is allowed and returns it");

  EFI_EVENT cb = NULL, nt = NULL;
  note_reset(&n1); note_reset(&n2);
  BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &n1, &cb);
  BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_NOTIFY, on_signal, &n2, &nt);

  old = BS->RaiseTPL(TPL_NOTIFY);
  BS->SignalEvent(cb);
  UINTN held_cb = n1.count;
  S = L"RestoreTPL";
  BS->RestoreTPL(old);
  check(L"RaiseTPL", held_cb == 0, L"at TPL_NOTIFY a TPL_CALLBACK notification is held");
  check(S, n1.count == 1, L"restoring to TPL_APPLICATION runs the held notification");
  check(S, n1.tpl == TPL_CALLBACK, L"the held notification runs at TPL_CALLBACK");

  old = BS->RaiseTPL(TPL_CALLBACK);
  BS->SignalEvent(nt);
  UINTN ran_nt = n2.count;
  EFI_TPL nt_tpl = n2.tpl;
  BS->SignalEvent(cb);
  UINTN held = n1.count;
  BS->RestoreTPL(old);
  check(L"RaiseTPL", ran_nt == 1 && nt_tpl == TPL_NOTIFY,
        L"at TPL_CALLBACK a TPL_NOTIFY notification runs at once, at TPL_NOTIFY");
  check(L"RaiseTPL", held == 1, L"at TPL_CALLBACK a TPL_CALLBACK notification is held");
  check(S, n1.count == 2, L"restoring from TPL_CALLBACK runs it");

  note_reset(&n1); note_reset(&n2);
  old = BS->RaiseTPL(TPL_HIGH_LEVEL);
  BS->SignalEvent(cb);
  BS->SignalEvent(nt);
  BS->RestoreTPL(old);
  check(S, n1.count == 1 && n2.count == 1, L"from TPL_HIGH_LEVEL: both held notifications run");
  check(S, n2.seq < n1.seq, L"the TPL_NOTIFY notification runs before the TPL_CALLBACK one");
  check(S, tpl_now() == TPL_APPLICATION, L"the TPL is TPL_APPLICATION again");
  BS->CloseEvent(cb);
  BS->CloseEvent(nt);
}

static void test_timers(void) {
  const CHAR16 *S = L"SetTimer";
  EFI_EVENT rel = NULL, per = NULL, sig = NULL;
  BS->CreateEvent(EVT_TIMER, 0, NULL, NULL, &rel);
  note_reset(&n3);
  BS->CreateEvent(EVT_TIMER | EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &n3, &per);
  BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &n1, &sig);

  /* Relative: one shot, 50 ms (TriggerTime is in 100 ns units).  Timing
   * sequences run first and print after: console output takes time. */
  EFI_STATUS s1 = BS->SetTimer(rel, TimerRelative, 500000);
  EFI_STATUS c1 = BS->CheckEvent(rel);
  BS->Stall(200000);
  EFI_STATUS c2 = BS->CheckEvent(rel);
  BS->Stall(200000);
  EFI_STATUS c3 = BS->CheckEvent(rel);
  EFI_STATUS s2 = BS->SetTimer(rel, TimerRelative, 0);
  BS->Stall(100000);
  EFI_STATUS c4 = BS->CheckEvent(rel);
  expect(S, s1, EFI_SUCCESS, L"TimerRelative 50 ms -> SUCCESS");
  expect(S, c1, EFI_NOT_READY, L"(CheckEvent) not signalled at once");
  expect(S, c2, EFI_SUCCESS, L"(CheckEvent) signalled after Stall(200 ms)");
  expect(S, c3, EFI_NOT_READY, L"(CheckEvent) TimerRelative fires once");
  expect(S, s2, EFI_SUCCESS, L"TimerRelative 0 -> SUCCESS");
  expect(S, c4, EFI_SUCCESS, L"(CheckEvent) TriggerTime 0 fires on the next tick");

  /* WaitForEvent on a timer, and on the console's key event with a timeout. */
  EFI_EVENT list[2];
  UINTN idx = 99;
  BS->SetTimer(rel, TimerRelative, 200000);
  list[0] = rel;
  expect(L"WaitForEvent", BS->WaitForEvent(1, list, &idx), EFI_SUCCESS, L"a 20 ms timer -> SUCCESS");
  check(L"WaitForEvent", idx == 0, L"a 20 ms timer: Index 0");
  if (gST->ConIn && gST->ConIn->WaitForKey) {
    BS->SetTimer(rel, TimerRelative, 200000);
    list[0] = gST->ConIn->WaitForKey; list[1] = rel;
    idx = 99;
    expect(L"WaitForEvent", BS->WaitForEvent(2, list, &idx), EFI_SUCCESS,
           L"ConIn->WaitForKey with a 20 ms timeout -> SUCCESS");
    check(L"WaitForEvent", idx == 1, L"no key was pressed: the timer (Index 1) ended the wait");
  } else {
    check(L"WaitForEvent", FALSE, L"ConIn->WaitForKey is an event");
  }

  /* Periodic, then cancelled, then replaced. */
  s1 = BS->SetTimer(per, TimerPeriodic, 100000);
  BS->Stall(200000);
  EFI_STATUS s3 = BS->SetTimer(per, TimerCancel, 0);
  UINTN ticks = n3.count;
  BS->Stall(100000);
  UINTN after_cancel = n3.count;
  EFI_STATUS s4 = BS->SetTimer(per, TimerRelative, 10000000);
  EFI_STATUS s5 = BS->SetTimer(per, TimerRelative, 100000);
  BS->Stall(200000);
  UINTN after_replace = n3.count;
  BS->SetTimer(per, TimerCancel, 0);
  expect(S, s1, EFI_SUCCESS, L"TimerPeriodic 10 ms -> SUCCESS");
  check(S, ticks >= 5, L"TimerPeriodic 10 ms: notified at least 5 times in Stall(200 ms)");
  u_puts(L"   periodic 10 ms timer: "); u_dec(ticks); u_puts(L" notifications in 200 ms\n");
  check(S, n3.tpl == TPL_CALLBACK, L"timer notifications run at their NotifyTpl");
  expect(S, s3, EFI_SUCCESS, L"TimerCancel -> SUCCESS");
  check(S, after_cancel == ticks, L"TimerCancel: no notification after it");
  expect(S, s4, EFI_SUCCESS, L"a new 1 s setting -> SUCCESS");
  expect(S, s5, EFI_SUCCESS, L"replaced by 10 ms -> SUCCESS");
  check(S, after_replace == after_cancel + 1, L"the second setting replaced the first (7.1.7)");

  expect(S, BS->SetTimer(sig, TimerRelative, 1000), EFI_INVALID_PARAMETER,
         L"an event without EVT_TIMER -> INVALID_PARAMETER");
  expect(S, BS->SetTimer(rel, (EFI_TIMER_DELAY)3, 1000), EFI_INVALID_PARAMETER,
         L"Type 3 (not an EFI_TIMER_DELAY) -> INVALID_PARAMETER");
  BS->SetTimer(rel, TimerCancel, 0);
  BS->CloseEvent(rel);
  BS->SetTimer(per, TimerCancel, 0);
  BS->CloseEvent(per);
  if (sig) BS->CloseEvent(sig);

  /* A periodic timer stops when its event is closed. */
  EFI_EVENT gone = NULL;
  note_reset(&n3);
  if (BS->CreateEvent(EVT_TIMER | EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &n3, &gone) == EFI_SUCCESS) {
    BS->SetTimer(gone, TimerPeriodic, 100000);
    BS->Stall(50000);
    BS->CloseEvent(gone);
    ticks = n3.count;
    BS->Stall(100000);
    check(L"CloseEvent", ticks >= 1 && n3.count == ticks, L"a closed periodic timer is notified no more");
  }
}

static NOTE g1, g2, g3, mm;

static void test_groups(void) {
  const CHAR16 *S = L"CreateEventEx";
  EFI_EVENT e1 = NULL, e2 = NULL, e3 = NULL;
  note_reset(&g1); note_reset(&g2); note_reset(&g3);
  expect(S, BS->CreateEventEx(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &g1, &TestGroup, &e1), EFI_SUCCESS,
         L"NOTIFY_SIGNAL in a private group -> SUCCESS");
  BS->CreateEventEx(EVT_NOTIFY_SIGNAL, TPL_NOTIFY, on_signal, &g2, &TestGroup, &e2);
  BS->CreateEventEx(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &g3, NULL, &e3);
  check(S, e1 && e2 && e3, L"the events are not NULL");
  BS->SignalEvent(e1);
  check(S, g1.count == 1 && g2.count == 1, L"signalling one member signals the whole group");
  check(S, g2.seq < g1.seq, L"group notifications run in NotifyTpl order (TPL_NOTIFY first)");
  check(S, g3.count == 0, L"an event outside the group is not signalled");
  BS->SignalEvent(e2);
  check(S, g1.count == 2 && g2.count == 2, L"any member signals the group");
  BS->CloseEvent(e2);
  e2 = NULL;
  BS->SignalEvent(e1);
  check(S, g1.count == 3 && g2.count == 2, L"CloseEvent removes a member from its group");
  BS->SignalEvent(e3);
  check(S, g3.count == 1, L"EventGroup NULL behaves as CreateEvent");
  /* Signal a group through a member created and closed for the purpose (§7.1.4). */
  EFI_EVENT tmp = NULL;
  if (BS->CreateEventEx(0, 0, NULL, NULL, &TestGroup, &tmp) == EFI_SUCCESS) {
    BS->SignalEvent(tmp);
    BS->CloseEvent(tmp);
    check_either(S, g1.count == 4, g1.count == 3, L"a Type 0 member signals the group (the 7.1.4 example)",
                 L"7.1.4 SignalEvent: the spec signals a group through a member created with Type 0, "
                 L"signalled and closed; OVMF signals the group only from EVT_NOTIFY_SIGNAL members");
  }
  if (e1) BS->CloseEvent(e1);
  if (e3) BS->CloseEvent(e3);

  /* The system's groups. */
  note_reset(&mm);
  EFI_EVENT ev = NULL;
  if (expect(S, BS->CreateEventEx(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &mm, &MemoryMapChangeGroup, &ev),
             EFI_SUCCESS, L"EFI_EVENT_GROUP_MEMORY_MAP_CHANGE -> SUCCESS")) {
    EFI_PHYSICAL_ADDRESS a = 0;
    if (BS->AllocatePages(AllocateAnyPages, EfiACPIReclaimMemory, 1, &a) == EFI_SUCCESS) {
      check(S, mm.count >= 1, L"AllocatePages signals EFI_EVENT_GROUP_MEMORY_MAP_CHANGE");
      UINTN before = mm.count;
      BS->FreePages(a, 1);
      check(S, mm.count > before, L"FreePages signals EFI_EVENT_GROUP_MEMORY_MAP_CHANGE");
    }
    BS->CloseEvent(ev);
  }
  ev = NULL;
  if (expect(S, BS->CreateEventEx(EVT_NOTIFY_SIGNAL, TPL_NOTIFY, on_signal, &g3, &VirtualAddressChangeGroup, &ev),
             EFI_SUCCESS, L"EFI_EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE -> SUCCESS"))
    BS->CloseEvent(ev);

  EFI_EVENT x = NULL;
  expect(S, BS->CreateEventEx(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &g1, &TestGroup, NULL),
         EFI_INVALID_PARAMETER, L"Event NULL -> INVALID_PARAMETER");
  expect(S, BS->CreateEventEx(EVT_SIGNAL_EXIT_BOOT_SERVICES, TPL_NOTIFY, on_signal, &g1, &TestGroup, &x),
         EFI_INVALID_PARAMETER, L"EVT_SIGNAL_EXIT_BOOT_SERVICES with a group -> INVALID_PARAMETER");
  expect(S, BS->CreateEventEx(EVT_SIGNAL_VIRTUAL_ADDRESS_CHANGE, TPL_NOTIFY, on_signal, &g1, &TestGroup, &x),
         EFI_INVALID_PARAMETER, L"EVT_SIGNAL_VIRTUAL_ADDRESS_CHANGE with a group -> INVALID_PARAMETER");
  expect(S, BS->CreateEventEx(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, NULL, NULL, &TestGroup, &x),
         EFI_INVALID_PARAMETER, L"NOTIFY_SIGNAL with NotifyFunction NULL -> INVALID_PARAMETER");
}

/* ====================================================================== */
/* 7.3 Protocol handler services                                          */
/* ====================================================================== */

static EFI_HANDLE hA;   /* ProtoA (+ ProtoB), the install/uninstall subject */
static EFI_HANDLE hB;   /* ProtoB only: a second, plain handle (an agent) */

static BOOLEAN has_guid(EFI_GUID **list, UINTN n, EFI_GUID *g) {
  for (UINTN i = 0; i < n; i++) if (list[i] && u_guid_eq(list[i], g)) return TRUE;
  return FALSE;
}

static void test_install(void) {
  const CHAR16 *S = L"InstallProtocolInterface";
  hA = NULL;
  EFI_STATUS s = BS->InstallProtocolInterface(&hA, &ProtoA, EFI_NATIVE_INTERFACE, ifA);
  expect(S, s, EFI_SUCCESS, L"*Handle NULL: a new handle -> SUCCESS");
  check(S, hA != NULL, L"*Handle NULL: the new handle is returned");
  EFI_HANDLE same = hA;
  expect(S, BS->InstallProtocolInterface(&same, &ProtoB, EFI_NATIVE_INTERFACE, ifB), EFI_SUCCESS,
         L"a second protocol on the handle -> SUCCESS");
  check(S, same == hA, L"an existing handle is returned unmodified");
  hB = NULL;
  BS->InstallProtocolInterface(&hB, &ProtoB, EFI_NATIVE_INTERFACE, ifB2);
  same = hA;
  expect(S, BS->InstallProtocolInterface(&same, &ProtoA, EFI_NATIVE_INTERFACE, ifA2), EFI_INVALID_PARAMETER,
         L"Protocol already on the handle -> INVALID_PARAMETER");
  expect(S, BS->InstallProtocolInterface(NULL, &ProtoC, EFI_NATIVE_INTERFACE, ifC1), EFI_INVALID_PARAMETER,
         L"Handle NULL -> INVALID_PARAMETER");
  same = NULL;
  expect(S, BS->InstallProtocolInterface(&same, NULL, EFI_NATIVE_INTERFACE, ifC1), EFI_INVALID_PARAMETER,
         L"Protocol NULL -> INVALID_PARAMETER");
  same = NULL;
  expect(S, BS->InstallProtocolInterface(&same, &ProtoC, (EFI_INTERFACE_TYPE)1, ifC1), EFI_INVALID_PARAMETER,
         L"InterfaceType 1 (not NATIVE) -> INVALID_PARAMETER");
  same = BOGUS;
  expect(S, BS->InstallProtocolInterface(&same, &ProtoC, EFI_NATIVE_INTERFACE, ifC1), EFI_INVALID_PARAMETER,
         L"*Handle not a handle -> INVALID_PARAMETER");

  S = L"HandleProtocol";
  VOID *i = NULL;
  expect(S, BS->HandleProtocol(hA, &ProtoA, &i), EFI_SUCCESS, L"an installed protocol -> SUCCESS");
  check(S, i == ifA, L"Interface is the installed interface");
  EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
  expect(S, BS->HandleProtocol(gImage, &LoadedImageGuid, (VOID **)&li), EFI_SUCCESS,
         L"EFI_LOADED_IMAGE_PROTOCOL on ImageHandle -> SUCCESS");
  check(S, li && li->SystemTable == gST, L"LoadedImage->SystemTable is our SystemTable");
  i = ifWrong;
  expect(S, BS->HandleProtocol(hA, &ProtoC, &i), EFI_UNSUPPORTED, L"a protocol not on the handle -> UNSUPPORTED");
  expect(S, BS->HandleProtocol(NULL, &ProtoA, &i), EFI_INVALID_PARAMETER, L"Handle NULL -> INVALID_PARAMETER");
  expect(S, BS->HandleProtocol(hA, NULL, &i), EFI_INVALID_PARAMETER, L"Protocol NULL -> INVALID_PARAMETER");
  expect(S, BS->HandleProtocol(hA, &ProtoA, NULL), EFI_INVALID_PARAMETER, L"Interface NULL -> INVALID_PARAMETER");
  expect_ovmf(S, BS->HandleProtocol(BOGUS, &ProtoA, &i), EFI_INVALID_PARAMETER,
              L"Handle not a handle -> INVALID_PARAMETER",
              L"7.3.7 HandleProtocol: the spec names INVALID_PARAMETER for a NULL Handle only; OVMF returns it "
              L"for any value that is not a handle (UNSUPPORTED would also read right)");

  S = L"ProtocolsPerHandle";
  EFI_GUID **guids = NULL;
  UINTN n = 0;
  s = BS->ProtocolsPerHandle(hA, &guids, &n);
  if (expect(S, s, EFI_SUCCESS, L"a handle with two protocols -> SUCCESS") && guids) {
    check(S, n == 2 && has_guid(guids, n, &ProtoA) && has_guid(guids, n, &ProtoB),
          L"the list is exactly ProtoA and ProtoB");
    expect(L"FreePool", BS->FreePool(guids), EFI_SUCCESS, L"the ProtocolsPerHandle buffer -> SUCCESS");
  }
  expect(S, BS->ProtocolsPerHandle(NULL, &guids, &n), EFI_INVALID_PARAMETER, L"Handle NULL -> INVALID_PARAMETER");
  expect(S, BS->ProtocolsPerHandle(hA, NULL, &n), EFI_INVALID_PARAMETER, L"ProtocolBuffer NULL -> INVALID_PARAMETER");
  expect(S, BS->ProtocolsPerHandle(hA, &guids, NULL), EFI_INVALID_PARAMETER,
         L"ProtocolBufferCount NULL -> INVALID_PARAMETER");
  expect_ovmf(S, BS->ProtocolsPerHandle(BOGUS, &guids, &n), EFI_INVALID_PARAMETER,
              L"Handle not a handle -> INVALID_PARAMETER",
              L"7.3.14 ProtocolsPerHandle: the spec names INVALID_PARAMETER for a NULL Handle only; "
              L"OVMF returns it for any value that is not a handle");

  S = L"LocateHandle";
  EFI_HANDLE buf[8];
  UINTN size = 0;
  expect(S, BS->LocateHandle(AllHandles, NULL, NULL, &size, NULL), EFI_BUFFER_TOO_SMALL,
         L"AllHandles, BufferSize 0 -> BUFFER_TOO_SMALL");
  check(S, size >= 3 * sizeof(EFI_HANDLE) && size % sizeof(EFI_HANDLE) == 0,
        L"BufferSize is set to a whole number of handles");
  UINTN all = size / sizeof(EFI_HANDLE);
  EFI_HANDLE *every = NULL;
  if (BS->AllocatePool(EfiLoaderData, size + 8 * sizeof(EFI_HANDLE), (VOID **)&every) == EFI_SUCCESS) {
    UINTN sz = size + 8 * sizeof(EFI_HANDLE);
    expect(S, BS->LocateHandle(AllHandles, NULL, NULL, &sz, every), EFI_SUCCESS, L"AllHandles -> SUCCESS");
    BOOLEAN img = FALSE, a = FALSE;
    for (UINTN k = 0; k < sz / sizeof(EFI_HANDLE); k++) {
      if (every[k] == gImage) img = TRUE;
      if (every[k] == hA) a = TRUE;
    }
    check(S, img && a, L"AllHandles holds ImageHandle and the new handle");
    all = sz / sizeof(EFI_HANDLE);
    BS->FreePool(every);
  }
  size = sizeof buf;
  s = BS->LocateHandle(ByProtocol, &ProtoA, NULL, &size, buf);
  expect(S, s, EFI_SUCCESS, L"ByProtocol -> SUCCESS");
  check(S, s == EFI_SUCCESS && size == sizeof(EFI_HANDLE) && buf[0] == hA, L"ByProtocol finds exactly the handle");
  size = sizeof buf;
  s = BS->LocateHandle(ByProtocol, &ProtoB, NULL, &size, buf);
  check(S, s == EFI_SUCCESS && size == 2 * sizeof(EFI_HANDLE) &&
        ((buf[0] == hA && buf[1] == hB) || (buf[0] == hB && buf[1] == hA)),
        L"ByProtocol on a protocol of two handles finds both");
  size = sizeof(EFI_HANDLE);
  expect(S, BS->LocateHandle(ByProtocol, &ProtoB, NULL, &size, buf), EFI_BUFFER_TOO_SMALL,
         L"room for one of two -> BUFFER_TOO_SMALL");
  check(S, size == 2 * sizeof(EFI_HANDLE), L"BufferSize is set to the size needed");
  size = sizeof buf;
  expect(S, BS->LocateHandle(ByProtocol, &ProtoNone, NULL, &size, buf), EFI_NOT_FOUND,
         L"ByProtocol, a protocol nobody has -> NOT_FOUND");
  expect(S, BS->LocateHandle(ByProtocol, NULL, NULL, &size, buf), EFI_INVALID_PARAMETER,
         L"ByProtocol, Protocol NULL -> INVALID_PARAMETER");
  expect(S, BS->LocateHandle(ByRegisterNotify, NULL, NULL, &size, buf), EFI_INVALID_PARAMETER,
         L"ByRegisterNotify, SearchKey NULL -> INVALID_PARAMETER");
  expect(S, BS->LocateHandle((EFI_LOCATE_SEARCH_TYPE)3, NULL, NULL, &size, buf), EFI_INVALID_PARAMETER,
         L"SearchType 3 -> INVALID_PARAMETER");
  expect(S, BS->LocateHandle(AllHandles, NULL, NULL, NULL, buf), EFI_INVALID_PARAMETER,
         L"BufferSize NULL -> INVALID_PARAMETER");
  size = 4096;
  expect(S, BS->LocateHandle(AllHandles, NULL, NULL, &size, NULL), EFI_INVALID_PARAMETER,
         L"BufferSize large enough, Buffer NULL -> INVALID_PARAMETER");

  S = L"LocateHandleBuffer";
  EFI_HANDLE *hb = NULL;
  n = 0;
  s = BS->LocateHandleBuffer(AllHandles, NULL, NULL, &n, &hb);
  if (expect(S, s, EFI_SUCCESS, L"AllHandles -> SUCCESS") && hb) {
    BOOLEAN img = FALSE;
    for (UINTN k = 0; k < n; k++) if (hb[k] == gImage) img = TRUE;
    check(S, n == all && img, L"AllHandles: as many handles as LocateHandle, ImageHandle among them");
    expect(L"FreePool", BS->FreePool(hb), EFI_SUCCESS, L"the LocateHandleBuffer buffer -> SUCCESS");
  }
  hb = NULL;
  s = BS->LocateHandleBuffer(ByProtocol, &ProtoA, NULL, &n, &hb);
  if (expect(S, s, EFI_SUCCESS, L"ByProtocol -> SUCCESS") && hb) {
    check(S, n == 1 && hb[0] == hA, L"ByProtocol finds exactly the handle");
    BS->FreePool(hb);
  }
  expect(S, BS->LocateHandleBuffer(ByProtocol, &ProtoNone, NULL, &n, &hb), EFI_NOT_FOUND,
         L"ByProtocol, a protocol nobody has -> NOT_FOUND");
  expect(S, BS->LocateHandleBuffer(AllHandles, NULL, NULL, NULL, &hb), EFI_INVALID_PARAMETER,
         L"NoHandles NULL -> INVALID_PARAMETER");
  expect(S, BS->LocateHandleBuffer(AllHandles, NULL, NULL, &n, NULL), EFI_INVALID_PARAMETER,
         L"Buffer NULL -> INVALID_PARAMETER");
  expect(S, BS->LocateHandleBuffer((EFI_LOCATE_SEARCH_TYPE)3, NULL, NULL, &n, &hb), EFI_INVALID_PARAMETER,
         L"SearchType 3 -> INVALID_PARAMETER");

  S = L"LocateProtocol";
  i = NULL;
  expect(S, BS->LocateProtocol(&ProtoA, NULL, &i), EFI_SUCCESS, L"a protocol on one handle -> SUCCESS");
  check(S, i == ifA, L"Interface is that handle's interface");
  i = ifWrong;
  expect(S, BS->LocateProtocol(&ProtoNone, NULL, &i), EFI_NOT_FOUND, L"a protocol nobody has -> NOT_FOUND");
  check(S, i == NULL, L"NOT_FOUND sets Interface to NULL");
  expect(S, BS->LocateProtocol(&ProtoA, NULL, NULL), EFI_INVALID_PARAMETER, L"Interface NULL -> INVALID_PARAMETER");
  expect(S, BS->LocateProtocol(NULL, NULL, &i), EFI_INVALID_PARAMETER, L"Protocol NULL -> INVALID_PARAMETER");

  S = L"ReinstallProtocolInterface";
  expect(S, BS->ReinstallProtocolInterface(hA, &ProtoA, ifA, ifA2), EFI_SUCCESS, L"ifA -> ifA2 -> SUCCESS");
  i = NULL;
  BS->HandleProtocol(hA, &ProtoA, &i);
  check(S, i == ifA2, L"HandleProtocol now returns the new interface");
  expect(S, BS->ReinstallProtocolInterface(hA, &ProtoA, ifA2, ifA2), EFI_SUCCESS, L"the same interface -> SUCCESS");
  expect(S, BS->ReinstallProtocolInterface(hA, &ProtoA, ifWrong, ifA), EFI_NOT_FOUND,
         L"OldInterface not on the handle -> NOT_FOUND");
  expect(S, BS->ReinstallProtocolInterface(hA, &ProtoC, ifC1, ifC1b), EFI_NOT_FOUND,
         L"a protocol not on the handle -> NOT_FOUND");
  expect(S, BS->ReinstallProtocolInterface(NULL, &ProtoA, ifA2, ifA), EFI_INVALID_PARAMETER,
         L"Handle NULL -> INVALID_PARAMETER");
  expect(S, BS->ReinstallProtocolInterface(hA, NULL, ifA2, ifA), EFI_INVALID_PARAMETER,
         L"Protocol NULL -> INVALID_PARAMETER");
  expect(S, BS->ReinstallProtocolInterface(BOGUS, &ProtoA, ifA2, ifA), EFI_INVALID_PARAMETER,
         L"Handle not a handle -> INVALID_PARAMETER");

  S = L"UninstallProtocolInterface";
  expect(S, BS->UninstallProtocolInterface(hA, &ProtoB, ifWrong), EFI_NOT_FOUND,
         L"an interface not installed -> NOT_FOUND");
  expect(S, BS->UninstallProtocolInterface(hA, &ProtoC, ifC1), EFI_NOT_FOUND,
         L"a protocol not on the handle -> NOT_FOUND");
  expect(S, BS->UninstallProtocolInterface(NULL, &ProtoB, ifB), EFI_INVALID_PARAMETER,
         L"Handle NULL -> INVALID_PARAMETER");
  expect(S, BS->UninstallProtocolInterface(hA, NULL, ifB), EFI_INVALID_PARAMETER, L"Protocol NULL -> INVALID_PARAMETER");
  expect(S, BS->UninstallProtocolInterface(BOGUS, &ProtoB, ifB), EFI_INVALID_PARAMETER,
         L"Handle not a handle -> INVALID_PARAMETER");
  expect(S, BS->UninstallProtocolInterface(hA, &ProtoB, ifB), EFI_SUCCESS, L"ProtoB -> SUCCESS");
  i = ifWrong;
  expect(S, BS->HandleProtocol(hA, &ProtoB, &i), EFI_UNSUPPORTED, L"(HandleProtocol) ProtoB is gone");
  check(S, handle_known(hA) == 1, L"the handle stays while it has a protocol");
  expect(S, BS->UninstallProtocolInterface(hA, &ProtoA, ifA2), EFI_SUCCESS, L"the last protocol -> SUCCESS");
  check(S, handle_known(hA) == 0, L"removing the last protocol frees the handle");
  expect_ovmf(S, BS->HandleProtocol(hA, &ProtoA, &i), EFI_INVALID_PARAMETER,
              L"(HandleProtocol) the freed handle -> INVALID_PARAMETER",
              L"7.3.3 UninstallProtocolInterface: a freed handle 'is no longer valid'; "
              L"OVMF answers INVALID_PARAMETER for it, as for any unknown handle");
  hA = NULL;
}

static NOTE rn;

static void test_notify(void) {
  const CHAR16 *S = L"RegisterProtocolNotify";
  EFI_EVENT ev = NULL;
  note_reset(&rn);
  BS->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &rn, &ev);
  VOID *reg = NULL;
  EFI_STATUS s = BS->RegisterProtocolNotify(&ProtoC, ev, &reg);
  expect(S, s, EFI_SUCCESS, L"-> SUCCESS");
  check(S, reg != NULL, L"Registration is set");
  VOID *r2 = NULL;
  expect(S, BS->RegisterProtocolNotify(NULL, ev, &r2), EFI_INVALID_PARAMETER, L"Protocol NULL -> INVALID_PARAMETER");
  expect(S, BS->RegisterProtocolNotify(&ProtoC, NULL, &r2), EFI_INVALID_PARAMETER, L"Event NULL -> INVALID_PARAMETER");
  expect(S, BS->RegisterProtocolNotify(&ProtoC, ev, NULL), EFI_INVALID_PARAMETER,
         L"Registration NULL -> INVALID_PARAMETER");

  EFI_HANDLE buf[4];
  UINTN size = sizeof buf;
  expect(L"LocateHandle", BS->LocateHandle(ByRegisterNotify, NULL, reg, &size, buf), EFI_NOT_FOUND,
         L"ByRegisterNotify before any install -> NOT_FOUND");
  EFI_HANDLE c1 = NULL, c2 = NULL;
  BS->InstallProtocolInterface(&c1, &ProtoC, EFI_NATIVE_INTERFACE, ifC1);
  check(S, rn.count == 1 && rn.tpl == TPL_CALLBACK, L"InstallProtocolInterface signals the event");
  BS->InstallProtocolInterface(&c2, &ProtoC, EFI_NATIVE_INTERFACE, ifC2);
  check(S, rn.count == 2, L"a second install signals it again");

  size = sizeof buf;
  s = BS->LocateHandle(ByRegisterNotify, NULL, reg, &size, buf);
  expect(L"LocateHandle", s, EFI_SUCCESS, L"ByRegisterNotify -> SUCCESS");
  check(L"LocateHandle", s == EFI_SUCCESS && size == sizeof(EFI_HANDLE) && buf[0] == c1,
        L"ByRegisterNotify returns one handle: the first new one");
  EFI_HANDLE *hb = NULL;
  UINTN n = 0;
  s = BS->LocateHandleBuffer(ByRegisterNotify, NULL, reg, &n, &hb);
  expect(L"LocateHandleBuffer", s, EFI_SUCCESS, L"ByRegisterNotify -> SUCCESS");
  check(L"LocateHandleBuffer", s == EFI_SUCCESS && hb && n == 1 && hb[0] == c2,
        L"ByRegisterNotify returns the next new handle");
  if (hb) BS->FreePool(hb);
  size = sizeof buf;
  expect(L"LocateHandle", BS->LocateHandle(ByRegisterNotify, NULL, reg, &size, buf), EFI_NOT_FOUND,
         L"ByRegisterNotify with nothing new -> NOT_FOUND");

  BS->ReinstallProtocolInterface(c1, &ProtoC, ifC1, ifC1b);
  check(S, rn.count == 3, L"ReinstallProtocolInterface signals the event (7.3.4)");
  VOID *i = NULL;
  s = BS->LocateProtocol(&ProtoC, reg, &i);
  expect(L"LocateProtocol", s, EFI_SUCCESS, L"with Registration, a reinstalled handle -> SUCCESS");
  check(L"LocateProtocol", i == ifC1b, L"with Registration: the reinstalled interface");
  i = ifWrong;
  expect(L"LocateProtocol", BS->LocateProtocol(&ProtoC, reg, &i), EFI_NOT_FOUND,
         L"with Registration, nothing new -> NOT_FOUND");
  i = NULL;
  s = BS->LocateProtocol(&ProtoC, NULL, &i);
  check(L"LocateProtocol", s == EFI_SUCCESS && (i == ifC1b || i == ifC2),
        L"without Registration: an interface of a handle that has it");

  BS->CloseEvent(ev);   /* also cancels the registration (§7.3.5) */
  UINTN before = rn.count;
  EFI_HANDLE c3 = NULL;
  BS->InstallProtocolInterface(&c3, &ProtoC, EFI_NATIVE_INTERFACE, ifWrong);
  check(S, rn.count == before, L"CloseEvent ends the registration");
  BS->UninstallProtocolInterface(c1, &ProtoC, ifC1b);
  BS->UninstallProtocolInterface(c2, &ProtoC, ifC2);
  BS->UninstallProtocolInterface(c3, &ProtoC, ifWrong);
}

static BOOLEAN info_has(EFI_OPEN_PROTOCOL_INFORMATION_ENTRY *e, UINTN n, EFI_HANDLE agent, EFI_HANDLE ctrl,
                        UINT32 attr, UINT32 count) {
  for (UINTN k = 0; k < n; k++)
    if (e[k].AgentHandle == agent && e[k].ControllerHandle == ctrl && e[k].Attributes == attr &&
        e[k].OpenCount == count) return TRUE;
  return FALSE;
}

static void test_open(void) {
  const CHAR16 *S = L"OpenProtocol";
  EFI_HANDLE h = NULL;
  if (BS->InstallProtocolInterface(&h, &ProtoA, EFI_NATIVE_INTERFACE, ifA) != EFI_SUCCESS || !hB) {
    check(S, FALSE, L"(InstallProtocolInterface for the open checks failed)");
    return;
  }
  EFI_HANDLE a1 = gImage, a2 = hB;   /* two agents */
  VOID *i = NULL;
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, NULL, EFI_OPEN_PROTOCOL_BY_HANDLE_PROTOCOL), EFI_SUCCESS,
         L"BY_HANDLE_PROTOCOL -> SUCCESS");
  check(S, i == ifA, L"BY_HANDLE_PROTOCOL returns the interface");
  BS->OpenProtocol(h, &ProtoA, &i, a1, NULL, EFI_OPEN_PROTOCOL_BY_HANDLE_PROTOCOL);
  i = NULL;
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a2, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL), EFI_SUCCESS,
         L"GET_PROTOCOL -> SUCCESS");
  check(S, i == ifA, L"GET_PROTOCOL returns the interface");

  S = L"OpenProtocolInformation";
  EFI_OPEN_PROTOCOL_INFORMATION_ENTRY *info = NULL;
  UINTN n = 0;
  EFI_STATUS s = BS->OpenProtocolInformation(h, &ProtoA, &info, &n);
  if (expect(S, s, EFI_SUCCESS, L"-> SUCCESS") && info) {
    check(S, n == 2, L"two agents: two entries");
    check(S, info_has(info, n, a1, NULL, EFI_OPEN_PROTOCOL_BY_HANDLE_PROTOCOL, 2),
          L"agent 1: BY_HANDLE_PROTOCOL, OpenCount 2");
    check(S, info_has(info, n, a2, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL, 1), L"agent 2: GET_PROTOCOL, OpenCount 1");
    expect(L"FreePool", BS->FreePool(info), EFI_SUCCESS, L"the OpenProtocolInformation buffer -> SUCCESS");
  }
  expect(S, BS->OpenProtocolInformation(h, &ProtoC, &info, &n), EFI_NOT_FOUND,
         L"a protocol not on the handle -> NOT_FOUND");
  expect(S, BS->OpenProtocolInformation(BOGUS, &ProtoA, &info, &n), EFI_NOT_FOUND,
         L"Handle not a handle -> NOT_FOUND");

  S = L"CloseProtocol";
  expect(S, BS->CloseProtocol(h, &ProtoA, a1, NULL), EFI_SUCCESS, L"agent 1 -> SUCCESS");
  expect(S, BS->CloseProtocol(h, &ProtoA, a2, NULL), EFI_SUCCESS, L"agent 2 -> SUCCESS");
  info = NULL;
  if (BS->OpenProtocolInformation(h, &ProtoA, &info, &n) == EFI_SUCCESS) {
    check(S, n == 0, L"(OpenProtocolInformation) the open list is empty again");
    if (info) BS->FreePool(info);
  }
  expect(S, BS->CloseProtocol(h, &ProtoA, a2, NULL), EFI_NOT_FOUND, L"not open by the agent -> NOT_FOUND");
  expect(S, BS->CloseProtocol(h, &ProtoC, a1, NULL), EFI_NOT_FOUND, L"a protocol not on the handle -> NOT_FOUND");
  expect(S, BS->CloseProtocol(NULL, &ProtoA, a1, NULL), EFI_INVALID_PARAMETER, L"Handle NULL -> INVALID_PARAMETER");
  expect(S, BS->CloseProtocol(h, &ProtoA, NULL, NULL), EFI_INVALID_PARAMETER, L"AgentHandle NULL -> INVALID_PARAMETER");
  expect(S, BS->CloseProtocol(h, NULL, a1, NULL), EFI_INVALID_PARAMETER, L"Protocol NULL -> INVALID_PARAMETER");
  expect(S, BS->CloseProtocol(h, &ProtoA, a1, BOGUS), EFI_INVALID_PARAMETER,
         L"ControllerHandle not a handle -> INVALID_PARAMETER");

  S = L"OpenProtocol";
  expect(S, BS->OpenProtocol(h, &ProtoA, NULL, a1, NULL, EFI_OPEN_PROTOCOL_TEST_PROTOCOL), EFI_SUCCESS,
         L"TEST_PROTOCOL with Interface NULL -> SUCCESS");
  expect(S, BS->OpenProtocol(h, &ProtoC, NULL, a1, NULL, EFI_OPEN_PROTOCOL_TEST_PROTOCOL), EFI_UNSUPPORTED,
         L"TEST_PROTOCOL, a protocol not on the handle -> UNSUPPORTED");
  BS->CloseProtocol(h, &ProtoA, a1, NULL);
  i = ifWrong;
  expect(S, BS->OpenProtocol(h, &ProtoC, &i, a1, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL), EFI_UNSUPPORTED,
         L"GET_PROTOCOL, a protocol not on the handle -> UNSUPPORTED");
  check(S, i == NULL, L"UNSUPPORTED sets *Interface to NULL");
  expect(S, BS->OpenProtocol(h, NULL, &i, a1, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL), EFI_INVALID_PARAMETER,
         L"Protocol NULL -> INVALID_PARAMETER");
  expect(S, BS->OpenProtocol(h, &ProtoA, NULL, a1, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL), EFI_INVALID_PARAMETER,
         L"Interface NULL with GET_PROTOCOL -> INVALID_PARAMETER");
  expect(S, BS->OpenProtocol(NULL, &ProtoA, &i, a1, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL), EFI_INVALID_PARAMETER,
         L"Handle NULL -> INVALID_PARAMETER");
  expect_ovmf(S, BS->OpenProtocol(BOGUS, &ProtoA, &i, a1, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL),
              EFI_INVALID_PARAMETER, L"Handle not a handle -> INVALID_PARAMETER",
              L"7.3.9 OpenProtocol: the spec names INVALID_PARAMETER for a NULL Handle only; "
              L"OVMF returns it for any value that is not a handle");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, NULL, 0), EFI_INVALID_PARAMETER, L"Attributes 0 -> INVALID_PARAMETER");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, NULL, 0x40), EFI_INVALID_PARAMETER,
         L"Attributes 0x40 -> INVALID_PARAMETER");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, NULL, h, EFI_OPEN_PROTOCOL_BY_DRIVER), EFI_INVALID_PARAMETER,
         L"BY_DRIVER, AgentHandle NULL -> INVALID_PARAMETER");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, NULL, EFI_OPEN_PROTOCOL_BY_DRIVER), EFI_INVALID_PARAMETER,
         L"BY_DRIVER, ControllerHandle NULL -> INVALID_PARAMETER");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, NULL, NULL, EFI_OPEN_PROTOCOL_EXCLUSIVE), EFI_INVALID_PARAMETER,
         L"EXCLUSIVE, AgentHandle NULL -> INVALID_PARAMETER");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, h, EFI_OPEN_PROTOCOL_BY_CHILD_CONTROLLER), EFI_INVALID_PARAMETER,
         L"BY_CHILD_CONTROLLER, Handle == ControllerHandle -> INVALID_PARAMETER");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, a2, EFI_OPEN_PROTOCOL_BY_CHILD_CONTROLLER), EFI_SUCCESS,
         L"BY_CHILD_CONTROLLER -> SUCCESS");
  BS->CloseProtocol(h, &ProtoA, a1, a2);

  /* The driver rules.  Neither agent has a Driver Binding protocol, so a
   * DisconnectController() on its behalf fails and it cannot be removed. */
  i = NULL;
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, h, EFI_OPEN_PROTOCOL_BY_DRIVER), EFI_SUCCESS,
         L"BY_DRIVER -> SUCCESS");
  i = NULL;
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, h, EFI_OPEN_PROTOCOL_BY_DRIVER), EFI_ALREADY_STARTED,
         L"BY_DRIVER again, same agent -> ALREADY_STARTED");
  check(S, i == ifA, L"ALREADY_STARTED returns the interface");
  i = ifWrong;
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a2, h, EFI_OPEN_PROTOCOL_BY_DRIVER), EFI_ACCESS_DENIED,
         L"BY_DRIVER, another agent -> ACCESS_DENIED");
  check(S, i == ifWrong, L"ACCESS_DENIED leaves *Interface unmodified");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a2, NULL, EFI_OPEN_PROTOCOL_EXCLUSIVE), EFI_ACCESS_DENIED,
         L"EXCLUSIVE over a BY_DRIVER that cannot be disconnected -> ACCESS_DENIED");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a2, h, EFI_OPEN_PROTOCOL_BY_DRIVER | EFI_OPEN_PROTOCOL_EXCLUSIVE),
         EFI_ACCESS_DENIED, L"BY_DRIVER|EXCLUSIVE over such a BY_DRIVER -> ACCESS_DENIED");
  i = NULL;
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a2, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL), EFI_SUCCESS,
         L"GET_PROTOCOL while opened BY_DRIVER -> SUCCESS");

  expect(L"UninstallProtocolInterface", BS->UninstallProtocolInterface(h, &ProtoA, ifA), EFI_ACCESS_DENIED,
         L"an interface opened BY_DRIVER by a driver that will not stop -> ACCESS_DENIED");
  expect(L"ReinstallProtocolInterface", BS->ReinstallProtocolInterface(h, &ProtoA, ifA, ifA2), EFI_ACCESS_DENIED,
         L"an interface opened BY_DRIVER by a driver that will not stop -> ACCESS_DENIED");
  i = NULL;
  BS->HandleProtocol(h, &ProtoA, &i);
  check(L"ReinstallProtocolInterface", i == ifA, L"ACCESS_DENIED leaves the old interface installed");

  S = L"DisconnectController";
  expect(S, BS->DisconnectController(h, a1, NULL), EFI_INVALID_PARAMETER,
         L"DriverImageHandle without Driver Binding -> INVALID_PARAMETER");
  expect(S, BS->DisconnectController(h, BOGUS, NULL), EFI_INVALID_PARAMETER,
         L"DriverImageHandle not a handle -> INVALID_PARAMETER");

  S = L"CloseProtocol";
  expect(S, BS->CloseProtocol(h, &ProtoA, a1, h), EFI_SUCCESS, L"the BY_DRIVER open -> SUCCESS");
  S = L"OpenProtocol";
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a2, NULL, EFI_OPEN_PROTOCOL_EXCLUSIVE), EFI_SUCCESS,
         L"EXCLUSIVE -> SUCCESS");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, h, EFI_OPEN_PROTOCOL_BY_DRIVER), EFI_ACCESS_DENIED,
         L"BY_DRIVER while EXCLUSIVE -> ACCESS_DENIED");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, NULL, EFI_OPEN_PROTOCOL_EXCLUSIVE), EFI_ACCESS_DENIED,
         L"EXCLUSIVE while EXCLUSIVE -> ACCESS_DENIED");
  i = NULL;
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL), EFI_SUCCESS,
         L"GET_PROTOCOL while EXCLUSIVE -> SUCCESS");
  BS->CloseProtocol(h, &ProtoA, a2, NULL);
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, h, EFI_OPEN_PROTOCOL_BY_DRIVER | EFI_OPEN_PROTOCOL_EXCLUSIVE),
         EFI_SUCCESS, L"BY_DRIVER|EXCLUSIVE -> SUCCESS");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a1, h, EFI_OPEN_PROTOCOL_BY_DRIVER | EFI_OPEN_PROTOCOL_EXCLUSIVE),
         EFI_ALREADY_STARTED, L"BY_DRIVER|EXCLUSIVE again, same agent -> ALREADY_STARTED");
  expect(S, BS->OpenProtocol(h, &ProtoA, &i, a2, h, EFI_OPEN_PROTOCOL_BY_DRIVER | EFI_OPEN_PROTOCOL_EXCLUSIVE),
         EFI_ACCESS_DENIED, L"BY_DRIVER|EXCLUSIVE, another agent -> ACCESS_DENIED");
  BS->CloseProtocol(h, &ProtoA, a1, h);

  /* Uninstall closes the GET_PROTOCOL / BY_HANDLE_PROTOCOL opens itself. */
  expect(L"UninstallProtocolInterface", BS->UninstallProtocolInterface(h, &ProtoA, ifA), EFI_SUCCESS,
         L"with only GET_PROTOCOL opens left -> SUCCESS");
  check(L"UninstallProtocolInterface", handle_known(h) == 0, L"and the handle is freed");
}

/* Vendor-defined hardware device path node (§10.3.2.4) and the end node
 * (§10.3.1: Type 0x7F End of Hardware Device Path, Sub-Type 0xFF End Entire
 * Device Path). */
#define DP_HARDWARE 0x01
#define DP_HW_VENDOR 0x04
#define DP_END 0x7F
#define DP_END_ENTIRE 0xFF

typedef struct {
  EFI_DEVICE_PATH_PROTOCOL Header;
  EFI_GUID Guid;
} VENDOR_NODE;

typedef struct { VENDOR_NODE v; EFI_DEVICE_PATH_PROTOCOL end; } PATH1;
typedef struct { VENDOR_NODE v, w; EFI_DEVICE_PATH_PROTOCOL end; } PATH2;

#define VNODE(g) { { DP_HARDWARE, DP_HW_VENDOR, { sizeof(VENDOR_NODE), 0 } }, g }
#define ENDNODE { DP_END, DP_END_ENTIRE, { 4, 0 } }

static PATH1 pathX = { VNODE(VENDOR_X), ENDNODE };
static PATH1 pathX_copy = { VNODE(VENDOR_X), ENDNODE };   /* same bytes, other memory */
static PATH2 pathXY = { VNODE(VENDOR_X), VNODE(VENDOR_Y), ENDNODE };
static PATH1 pathZ = { VNODE(VENDOR_Z), ENDNODE };
static EFI_DEVICE_PATH_PROTOCOL pathEnd = ENDNODE;

_Static_assert(sizeof(VENDOR_NODE) == 20, "vendor node");
_Static_assert(sizeof(PATH2) == 44, "two nodes and an end");

static void test_multiple_and_paths(void) {
  const CHAR16 *S = L"InstallMultipleProtocolInterfaces";
  EFI_HANDLE h = NULL;
  EFI_STATUS s = BS->InstallMultipleProtocolInterfaces(&h, &DevicePathGuid, &pathX, &ProtoE, ifE, &ProtoA, ifA, NULL);
  expect(S, s, EFI_SUCCESS, L"a device path and two protocols on a new handle -> SUCCESS");
  check(S, h != NULL, L"the new handle is returned");
  EFI_GUID **guids = NULL;
  UINTN n = 0;
  if (h && BS->ProtocolsPerHandle(h, &guids, &n) == EFI_SUCCESS && guids) {
    check(S, n == 3, L"(ProtocolsPerHandle) all three are installed");
    BS->FreePool(guids);
  }
  EFI_HANDLE h2 = NULL;
  expect(S, BS->InstallMultipleProtocolInterfaces(&h2, &ProtoB, ifB, &DevicePathGuid, &pathX_copy, NULL),
         EFI_ALREADY_STARTED, L"a device path already in the database -> ALREADY_STARTED");
  check(S, h2 == NULL, L"ALREADY_STARTED: no handle was created");
  UINTN m = 0;
  EFI_HANDLE *list = NULL;
  if (BS->LocateHandleBuffer(ByProtocol, &ProtoB, NULL, &m, &list) == EFI_SUCCESS && list) {
    check(S, m == 1, L"ALREADY_STARTED: the protocols before the device path were removed again");
    BS->FreePool(list);
  }
  EFI_HANDLE same = h;
  expect(S, BS->InstallMultipleProtocolInterfaces(&same, &ProtoC, ifC1, &ProtoA, ifA2, NULL), EFI_INVALID_PARAMETER,
         L"a protocol already on the handle -> INVALID_PARAMETER");
  VOID *i = ifWrong;
  expect(S, BS->HandleProtocol(h, &ProtoC, &i), EFI_UNSUPPORTED,
         L"(HandleProtocol) INVALID_PARAMETER: the protocols installed before it were removed");
  expect(S, BS->InstallMultipleProtocolInterfaces(NULL, &ProtoC, ifC1, NULL), EFI_INVALID_PARAMETER,
         L"Handle NULL -> INVALID_PARAMETER");

  S = L"LocateDevicePath";
  EFI_DEVICE_PATH_PROTOCOL *p = &pathXY.v.Header;
  EFI_HANDLE dev = NULL;
  s = BS->LocateDevicePath(&DevicePathGuid, &p, &dev);
  expect(S, s, EFI_SUCCESS, L"a path below the handle's path -> SUCCESS");
  check(S, dev == h, L"Device is the handle whose path is the longest prefix");
  check(S, p == &pathXY.w.Header, L"DevicePath is advanced past the matched nodes");
  p = &pathX.v.Header;
  dev = NULL;
  s = BS->LocateDevicePath(&ProtoE, &p, &dev);
  expect(S, s, EFI_SUCCESS, L"the handle's own path, another protocol of it -> SUCCESS");
  check(S, dev == h && p == &pathX.end, L"a direct match leaves DevicePath at the end node");
  p = &pathZ.v.Header;
  expect(S, BS->LocateDevicePath(&ProtoE, &p, &dev), EFI_NOT_FOUND, L"no handle on the path -> NOT_FOUND");
  p = &pathXY.v.Header;
  expect(S, BS->LocateDevicePath(&ProtoNone, &p, &dev), EFI_NOT_FOUND, L"a protocol nobody has -> NOT_FOUND");
  expect(S, BS->LocateDevicePath(NULL, &p, &dev), EFI_INVALID_PARAMETER, L"Protocol NULL -> INVALID_PARAMETER");
  expect(S, BS->LocateDevicePath(&ProtoE, NULL, &dev), EFI_INVALID_PARAMETER, L"DevicePath NULL -> INVALID_PARAMETER");
  p = &pathXY.v.Header;
  expect(S, BS->LocateDevicePath(&ProtoE, &p, NULL), EFI_INVALID_PARAMETER,
         L"a handle matched and Device NULL -> INVALID_PARAMETER");

  S = L"ConnectController";
  if (hB) {
    expect(S, BS->ConnectController(hB, NULL, NULL, FALSE), EFI_NOT_FOUND,
           L"a handle no driver supports -> NOT_FOUND");
    expect(S, BS->ConnectController(hB, NULL, NULL, TRUE), EFI_NOT_FOUND, L"the same, Recursive -> NOT_FOUND");
    expect(S, BS->ConnectController(hB, NULL, &pathEnd, FALSE), EFI_SUCCESS,
           L"no driver, RemainingDevicePath an end node -> SUCCESS");
  }
  expect(S, BS->ConnectController(NULL, NULL, NULL, FALSE), EFI_INVALID_PARAMETER,
         L"ControllerHandle NULL -> INVALID_PARAMETER");
  expect_ovmf(S, BS->ConnectController(BOGUS, NULL, NULL, FALSE), EFI_INVALID_PARAMETER,
              L"ControllerHandle not a handle -> INVALID_PARAMETER",
              L"7.3.12 ConnectController: the spec names INVALID_PARAMETER for a NULL ControllerHandle only; "
              L"OVMF returns it for any value that is not a handle");

  S = L"DisconnectController";
  if (hB) {
    expect(S, BS->DisconnectController(hB, NULL, NULL), EFI_SUCCESS, L"no driver manages the handle -> SUCCESS");
    expect(S, BS->DisconnectController(hB, NULL, BOGUS), EFI_INVALID_PARAMETER,
           L"ChildHandle not a handle -> INVALID_PARAMETER");
  }
  expect(S, BS->DisconnectController(NULL, NULL, NULL), EFI_INVALID_PARAMETER,
         L"ControllerHandle NULL -> INVALID_PARAMETER");

  S = L"UninstallMultipleProtocolInterfaces";
  expect(S, BS->UninstallMultipleProtocolInterfaces(h, &ProtoE, ifE, &ProtoA, ifWrong, NULL), EFI_INVALID_PARAMETER,
         L"one interface not installed -> INVALID_PARAMETER");
  i = NULL;
  check(S, BS->HandleProtocol(h, &ProtoE, &i) == EFI_SUCCESS && i == ifE,
        L"INVALID_PARAMETER: the protocols removed before it were reinstalled");
  expect(S, BS->UninstallMultipleProtocolInterfaces(h, &ProtoA, ifA, &ProtoE, ifE, &DevicePathGuid, &pathX, NULL),
         EFI_SUCCESS, L"all three -> SUCCESS");
  check(S, handle_known(h) == 0, L"the handle is freed with its last protocol");
  p = &pathX.v.Header;
  expect(L"LocateDevicePath", BS->LocateDevicePath(&ProtoE, &p, &dev), EFI_NOT_FOUND,
         L"after the uninstall -> NOT_FOUND");
}

/* ====================================================================== */
/* 7.5.6 Configuration tables                                             */
/* ====================================================================== */

static EFI_CONFIGURATION_TABLE *find_table(EFI_GUID *g) {
  for (UINTN k = 0; k < gST->NumberOfTableEntries; k++)
    if (u_guid_eq(&gST->ConfigurationTable[k].VendorGuid, g)) return &gST->ConfigurationTable[k];
  return NULL;
}

/* Hdr.CRC32 is the CRC of HeaderSize bytes with the field zeroed (§4.2). */
static BOOLEAN st_crc_ok(void) {
  UINT8 copy[sizeof(EFI_SYSTEM_TABLE)];
  UINTN n = gST->Hdr.HeaderSize;
  if (n > sizeof copy) n = sizeof copy;
  memcpy(copy, gST, n);
  ((EFI_SYSTEM_TABLE *)copy)->Hdr.CRC32 = 0;
  UINT32 crc = 0;
  return BS->CalculateCrc32(copy, n, &crc) == EFI_SUCCESS && crc == gST->Hdr.CRC32;
}

static UINT64 table1[2], table2[2];
static NOTE tn;

static void test_config_tables(void) {
  const CHAR16 *S = L"InstallConfigurationTable";
  UINTN n0 = gST->NumberOfTableEntries;
  EFI_EVENT ev = NULL;
  note_reset(&tn);
  BS->CreateEventEx(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, on_signal, &tn, &TestTable, &ev);
  expect(S, BS->InstallConfigurationTable(&TestTable, table1), EFI_SUCCESS, L"add -> SUCCESS");
  EFI_CONFIGURATION_TABLE *t = find_table(&TestTable);
  check(S, gST->NumberOfTableEntries == n0 + 1 && t && t->VendorTable == table1,
        L"add: one more entry, pointing at the table");
  check(S, st_crc_ok(), L"add: SystemTable->Hdr.CRC32 is recomputed");
  check(S, tn.count == 1, L"add: the event group of the table's GUID is signalled (7.1.2)");
  expect(S, BS->InstallConfigurationTable(&TestTable, table2), EFI_SUCCESS, L"replace -> SUCCESS");
  t = find_table(&TestTable);
  check(S, gST->NumberOfTableEntries == n0 + 1 && t && t->VendorTable == table2,
        L"replace: same number of entries, new pointer");
  check(S, tn.count == 2, L"replace: the event group is signalled");
  expect(S, BS->InstallConfigurationTable(&TestTable, NULL), EFI_SUCCESS, L"delete -> SUCCESS");
  check(S, gST->NumberOfTableEntries == n0 && find_table(&TestTable) == NULL, L"delete: the entry is gone");
  check(S, st_crc_ok(), L"delete: SystemTable->Hdr.CRC32 is recomputed");
  check(S, tn.count == 3, L"delete: the event group is signalled");
  expect(S, BS->InstallConfigurationTable(&TestTable, NULL), EFI_NOT_FOUND, L"delete a missing entry -> NOT_FOUND");
  expect(S, BS->InstallConfigurationTable(NULL, table1), EFI_INVALID_PARAMETER, L"Guid NULL -> INVALID_PARAMETER");
  if (ev) BS->CloseEvent(ev);
}

/* ====================================================================== */
/* 7.4 Image services                                                     */
/* ====================================================================== */

/*
 * A minimal PE32+ image, built in memory (PE/COFF; UEFI 2.10 §2.1.1):
 *
 *   file                               image (SizeOfImage 0x2000)
 *   0x000 DOS header, e_lfanew 0x40    0x0000 headers (SizeOfHeaders 0x200)
 *   0x040 "PE\0\0" + COFF header       0x1000 .text: mov rax, imm64 ; jmp rax
 *   0x058 optional header (PE32+, 16 data directories, all empty: no relocations
 *         are needed, the code is position independent)
 *   0x148 section header ".text"
 *   0x200 .text raw data (0x200 bytes)
 *   0x400 end of file
 *
 * The imm64 is the address of child_entry() in this image, so the child's
 * entry point runs our code with the child's ImageHandle.
 */
#define CHILD_FILE 0x400
#define CHILD_IMAGE 0x2000
#define CHILD_TEXT 0x1000
#define CHILD_CODE_LEN 16

static void w16(UINT8 *p, UINTN off, UINT16 v) { p[off] = (UINT8)v; p[off + 1] = (UINT8)(v >> 8); }
static void w32(UINT8 *p, UINTN off, UINT32 v) { for (int k = 0; k < 4; k++) p[off + k] = (UINT8)(v >> (8 * k)); }
static void w64(UINT8 *p, UINTN off, UINT64 v) { for (int k = 0; k < 8; k++) p[off + k] = (UINT8)(v >> (8 * k)); }

enum { CHILD_RETURN, CHILD_EXIT, CHILD_DRIVER };
static struct {
  UINTN mode, calls, unloads, after_exit;
  EFI_HANDLE handle;
  EFI_SYSTEM_TABLE *st;
  EFI_STATUS exit_parent;
} child;
static const CHAR16 child_text[] = L"child image exit data";

static EFI_STATUS EFIAPI child_unload(EFI_HANDLE ImageHandle) {
  (void)ImageHandle;
  child.unloads++;
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI child_entry(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  child.calls++;
  child.handle = ImageHandle;
  child.st = SystemTable;
  if (child.mode == CHILD_RETURN) return EFI_INCOMPATIBLE_VERSION;
  if (child.mode == CHILD_DRIVER) {
    EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
    if (BS->HandleProtocol(ImageHandle, &LoadedImageGuid, (VOID **)&li) == EFI_SUCCESS && li) li->Unload = child_unload;
    return EFI_SUCCESS;
  }
  /* CHILD_EXIT: Exit for an image that is started but not running must
   * come back (§7.4.5), then Exit for ourselves must not. */
  child.exit_parent = BS->Exit(gImage, EFI_SUCCESS, 0, NULL);
  CHAR16 *data = NULL;
  if (BS->AllocatePool(EfiLoaderData, sizeof child_text, (VOID **)&data) != EFI_SUCCESS) return EFI_OUT_OF_RESOURCES;
  memcpy(data, child_text, sizeof child_text);
  BS->Exit(ImageHandle, EFI_ABORTED, sizeof child_text, data);
  child.after_exit++;
  return EFI_ABORTED;
}

static void build_child(UINT8 *f, UINT16 machine, UINT16 subsystem) {
  memset(f, 0, CHILD_FILE);
  f[0] = 'M'; f[1] = 'Z';
  w32(f, 0x3c, 0x40);                       /* e_lfanew */
  f[0x40] = 'P'; f[0x41] = 'E';
  w16(f, 0x44, machine);                    /* COFF: Machine */
  w16(f, 0x46, 1);                          /* NumberOfSections */
  w16(f, 0x54, 240);                        /* SizeOfOptionalHeader */
  w16(f, 0x56, 0x0022);                     /* EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE */
  UINT8 *o = f + 0x58;
  w16(o, 0, 0x20b);                         /* PE32+ */
  w32(o, 4, 0x200);                         /* SizeOfCode */
  w32(o, 16, CHILD_TEXT);                   /* AddressOfEntryPoint */
  w32(o, 20, CHILD_TEXT);                   /* BaseOfCode */
  w64(o, 24, 0x140000000ULL);               /* ImageBase */
  w32(o, 32, 0x1000);                       /* SectionAlignment */
  w32(o, 36, 0x200);                        /* FileAlignment */
  w32(o, 56, CHILD_IMAGE);                  /* SizeOfImage */
  w32(o, 60, 0x200);                        /* SizeOfHeaders */
  w16(o, 68, subsystem);
  w32(o, 108, 16);                          /* NumberOfRvaAndSizes */
  UINT8 *s = f + 0x148;
  memcpy(s, ".text", 5);
  w32(s, 8, CHILD_CODE_LEN);                /* VirtualSize */
  w32(s, 12, CHILD_TEXT);                   /* VirtualAddress */
  w32(s, 16, 0x200);                        /* SizeOfRawData */
  w32(s, 20, 0x200);                        /* PointerToRawData */
  w32(s, 36, 0x60000020);                   /* CODE | EXECUTE | READ */
  UINT8 *c = f + 0x200;
#if defined(__aarch64__)
  w32(c, 0, 0x58000050);                    /* ldr x16, .+8 */
  w32(c, 4, 0xD61F0200);                    /* br x16 */
  w64(c, 8, (UINT64)(UINTN)&child_entry);
#else
  c[0] = 0x48; c[1] = 0xB8;                 /* mov rax, imm64 */
  w64(c, 2, (UINT64)(UINTN)&child_entry);
  c[10] = 0xFF; c[11] = 0xE0;               /* jmp rax */
#endif
}

/* The machine this guest is built for, and another one, which LoadImage must refuse. */
#if defined(__aarch64__)
#define MACHINE_NATIVE 0xAA64
#define MACHINE_FOREIGN 0x8664
#define FOREIGN_NAME L"x86-64"
#else
#define MACHINE_NATIVE 0x8664
#define MACHINE_FOREIGN 0xAA64
#define FOREIGN_NAME L"AArch64"
#endif
#define SUBSYSTEM_APP 10
#define SUBSYSTEM_BS_DRIVER 11

static EFI_HANDLE load_child(UINT8 *f, UINTN mode, EFI_STATUS *status) {
  EFI_HANDLE h = NULL;
  child.mode = mode;
  *status = BS->LoadImage(FALSE, gImage, NULL, f, CHILD_FILE, &h);
  return *status == EFI_SUCCESS ? h : NULL;
}

static void test_images(void) {
  const CHAR16 *S = L"LoadImage";
  UINT8 *f = NULL;
  if (BS->AllocatePool(EfiLoaderData, CHILD_FILE, (VOID **)&f) != EFI_SUCCESS) {
    check(S, FALSE, L"(no buffer for the child image)");
    return;
  }
  build_child(f, MACHINE_NATIVE, SUBSYSTEM_APP);
  EFI_STATUS s;
  EFI_HANDLE h = load_child(f, CHILD_RETURN, &s);
  expect(S, s, EFI_SUCCESS, L"a PE32+ application from a memory buffer -> SUCCESS");
  check(S, h != NULL, L"ImageHandle is set");
  EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
  if (h && BS->HandleProtocol(h, &LoadedImageGuid, (VOID **)&li) == EFI_SUCCESS && li) {
    check(S, li->Revision == EFI_LOADED_IMAGE_PROTOCOL_REVISION, L"LoadedImage.Revision is 0x1000");
    check(S, li->ParentHandle == gImage, L"LoadedImage.ParentHandle is ParentImageHandle");
    check(S, li->SystemTable == gST, L"LoadedImage.SystemTable is the system table");
    UINT64 base = (UINT64)(UINTN)li->ImageBase;
    check(S, base && (base & (PAGE - 1)) == 0, L"LoadedImage.ImageBase is set and page aligned");
    check(S, li->ImageSize >= CHILD_IMAGE, L"LoadedImage.ImageSize covers SizeOfImage");
    check(S, base && memcmp((UINT8 *)(UINTN)base + CHILD_TEXT, f + 0x200, CHILD_CODE_LEN) == 0,
          L"the section is at ImageBase + VirtualAddress");
    check(S, li->ImageCodeType == EfiLoaderCode && li->ImageDataType == EfiLoaderData,
          L"an application: ImageCodeType LoaderCode, ImageDataType LoaderData");
    check(S, base && type_at(base) == EfiLoaderCode, L"the map shows the image as EfiLoaderCode");
    check(S, li->LoadOptionsSize == 0, L"LoadOptionsSize is 0 until the caller sets options");
  } else {
    check(S, FALSE, L"the new handle carries EFI_LOADED_IMAGE_PROTOCOL");
  }

  S = L"StartImage";
  if (h) {
    child.calls = 0;
    UINTN eds = 99;
    CHAR16 *ed = (CHAR16 *)ifWrong;
    s = BS->StartImage(h, &eds, &ed);
    expect(S, s, EFI_INCOMPATIBLE_VERSION, L"returns what the entry point returned");
    check(S, child.calls == 1 && child.handle == h && child.st == gST,
          L"the entry point ran once with the image handle and system table");
    check(S, eds == 0 && ed == NULL, L"no Exit data: ExitDataSize 0, ExitData NULL");
    check(S, handle_known(h) == 0, L"an application's handle is gone once it returned (7.4.5)");
    expect(L"UnloadImage", BS->UnloadImage(h), EFI_INVALID_PARAMETER,
           L"an application that returned -> INVALID_PARAMETER");
  }

  /* Exit with ExitData, and Exit for an image that is not the running one. */
  h = load_child(f, CHILD_EXIT, &s);
  if (h) {
    child.calls = 0; child.after_exit = 0; child.exit_parent = 0;
    UINTN eds = 0;
    CHAR16 *ed = NULL;
    s = BS->StartImage(h, &eds, &ed);
    expect(S, s, EFI_ABORTED, L"an image that calls Exit(EFI_ABORTED) -> ABORTED");
    check(S, child.calls == 1 && child.after_exit == 0, L"Exit does not return to its caller");
    check(S, eds == sizeof child_text && ed && memcmp(ed, child_text, sizeof child_text) == 0,
          L"ExitDataSize and ExitData are those given to Exit");
    if (ed) expect(L"FreePool", BS->FreePool(ed), EFI_SUCCESS, L"the ExitData buffer -> SUCCESS");
    expect(L"Exit", child.exit_parent, EFI_INVALID_PARAMETER,
           L"for a started image that is not running -> INVALID_PARAMETER");
  } else {
    check(S, FALSE, L"(LoadImage for the Exit checks failed)");
  }

  /* A loaded, never started image can be unloaded or exited (§7.4.5). */
  S = L"UnloadImage";
  h = load_child(f, CHILD_RETURN, &s);
  if (h) {
    expect(S, BS->UnloadImage(h), EFI_SUCCESS, L"an image never started -> SUCCESS");
    check(S, handle_known(h) == 0, L"its handle is gone");
  }
  h = load_child(f, CHILD_RETURN, &s);
  if (h) {
    child.calls = 0;
    expect(L"Exit", BS->Exit(h, EFI_SUCCESS, 0, NULL), EFI_SUCCESS, L"an image never started: unloads it -> SUCCESS");
    check(L"Exit", handle_known(h) == 0 && child.calls == 0, L"its handle is gone, its entry point never ran");
    expect(L"StartImage", BS->StartImage(h, NULL, NULL), EFI_INVALID_PARAMETER,
           L"an image unloaded by Exit -> INVALID_PARAMETER");
  }

  /* A boot-service driver stays resident and unloads through its Unload(). */
  build_child(f, MACHINE_NATIVE, SUBSYSTEM_BS_DRIVER);
  h = load_child(f, CHILD_DRIVER, &s);
  expect(L"LoadImage", s, EFI_SUCCESS, L"a boot-service driver -> SUCCESS");
  if (h) {
    li = NULL;
    BS->HandleProtocol(h, &LoadedImageGuid, (VOID **)&li);
    check(L"LoadImage", li && li->ImageCodeType == EfiBootServicesCode && li->ImageDataType == EfiBootServicesData,
          L"a driver: ImageCodeType BootServicesCode, ImageDataType BootServicesData");
    child.calls = 0; child.unloads = 0;
    UINTN eds = 0;
    expect(L"StartImage", BS->StartImage(h, &eds, NULL), EFI_SUCCESS, L"a driver returning SUCCESS -> SUCCESS");
    check(L"StartImage", handle_known(h) == 1, L"the driver stays loaded");
    expect(L"StartImage", BS->StartImage(h, NULL, NULL), EFI_INVALID_PARAMETER,
           L"an image already started -> INVALID_PARAMETER");
    expect(S, BS->UnloadImage(h), EFI_SUCCESS, L"a started driver with an Unload function -> SUCCESS");
    check(S, child.unloads == 1 && handle_known(h) == 0, L"its Unload function ran and its handle is gone");
  }

  S = L"StartImage";
  expect(S, BS->StartImage(gImage, NULL, NULL), EFI_INVALID_PARAMETER, L"ImageHandle already started -> INVALID_PARAMETER");
  expect(S, BS->StartImage(BOGUS, NULL, NULL), EFI_INVALID_PARAMETER, L"not an image handle -> INVALID_PARAMETER");
  expect(S, BS->StartImage(NULL, NULL, NULL), EFI_INVALID_PARAMETER, L"NULL -> INVALID_PARAMETER");

  S = L"UnloadImage";
  expect(S, BS->UnloadImage(BOGUS), EFI_INVALID_PARAMETER, L"not an image handle -> INVALID_PARAMETER");
  if (hB) expect(S, BS->UnloadImage(hB), EFI_INVALID_PARAMETER, L"a handle that is not an image -> INVALID_PARAMETER");
  li = NULL;
  BS->HandleProtocol(gImage, &LoadedImageGuid, (VOID **)&li);
  if (li && li->Unload == NULL)
    expect(S, BS->UnloadImage(gImage), EFI_UNSUPPORTED, L"a started image without Unload -> UNSUPPORTED");
  else
    check(S, FALSE, L"our LoadedImage.Unload is NULL (to check UNSUPPORTED)");

  S = L"Exit";
  expect_ovmf(S, BS->Exit(BOGUS, EFI_SUCCESS, 0, NULL), EFI_INVALID_PARAMETER, L"not an image handle -> INVALID_PARAMETER",
              L"7.4.5 Exit: the spec names INVALID_PARAMETER only for a started image that is not the running one; "
              L"OVMF returns it for a handle that is no image at all");

  S = L"LoadImage";
  EFI_HANDLE x = NULL;
  build_child(f, MACHINE_NATIVE, SUBSYSTEM_APP);
  child.mode = CHILD_RETURN;
  expect(S, BS->LoadImage(FALSE, NULL, NULL, f, CHILD_FILE, &x), EFI_INVALID_PARAMETER,
         L"ParentImageHandle NULL -> INVALID_PARAMETER");
  if (hB) expect(S, BS->LoadImage(FALSE, hB, NULL, f, CHILD_FILE, &x), EFI_INVALID_PARAMETER,
                 L"ParentImageHandle not an image -> INVALID_PARAMETER");
  expect(S, BS->LoadImage(FALSE, gImage, NULL, f, CHILD_FILE, NULL), EFI_INVALID_PARAMETER,
         L"ImageHandle NULL -> INVALID_PARAMETER");
  expect_either(S, BS->LoadImage(FALSE, gImage, NULL, NULL, 0, &x), EFI_NOT_FOUND, EFI_INVALID_PARAMETER,
                L"SourceBuffer and DevicePath NULL -> NOT_FOUND",
                L"7.4.1 LoadImage: the spec says NOT_FOUND when both SourceBuffer and DevicePath are NULL; "
                L"OVMF returns INVALID_PARAMETER");
  expect_ovmf(S, BS->LoadImage(FALSE, gImage, &pathZ.v.Header, NULL, 0, &x), EFI_NOT_FOUND,
              L"from a device path no handle serves -> NOT_FOUND",
              L"7.4.1 LoadImage: the spec has no status for a device path that leads to no file; OVMF returns NOT_FOUND");
  expect_ovmf(S, BS->LoadImage(FALSE, gImage, NULL, f, 0, &x), EFI_LOAD_ERROR, L"SourceSize 0 -> LOAD_ERROR",
              L"7.4.1 LoadImage: the spec has no status for an empty SourceBuffer; OVMF returns LOAD_ERROR");
  UINT8 *junk = f;
  memset(junk, 0x5A, CHILD_FILE);
  expect_ovmf(S, BS->LoadImage(FALSE, gImage, NULL, junk, CHILD_FILE, &x), EFI_UNSUPPORTED,
              L"1 KiB that is not a PE image -> UNSUPPORTED",
              L"7.4.1 LoadImage: UNSUPPORTED (image type not supported) and LOAD_ERROR (format corrupt or not "
              L"understood) both fit a buffer without an MZ header; OVMF returns UNSUPPORTED");
  build_child(f, MACHINE_FOREIGN, SUBSYSTEM_APP);
  expect(S, BS->LoadImage(FALSE, gImage, NULL, f, CHILD_FILE, &x), EFI_UNSUPPORTED,
         L"a PE32+ image for " FOREIGN_NAME L" -> UNSUPPORTED");
  build_child(f, MACHINE_NATIVE, 3 /* Windows console */);
  expect(S, BS->LoadImage(FALSE, gImage, NULL, f, CHILD_FILE, &x), EFI_UNSUPPORTED,
         L"a PE32+ image of a non-EFI subsystem -> UNSUPPORTED");
  BS->FreePool(f);
}

/* ====================================================================== */
/* 7.4.6 ExitBootServices: last, since after a failed call only the       */
/* memory allocation services may be used.                                */
/* ====================================================================== */

static NOTE ebs1, ebs2;

static void test_exit_boot_services(void) {
  const CHAR16 *S = L"ExitBootServices";
  EFI_EVENT e1 = NULL, e2 = NULL;
  note_reset(&ebs1); note_reset(&ebs2);
  BS->CreateEvent(EVT_SIGNAL_EXIT_BOOT_SERVICES, TPL_NOTIFY, on_signal, &ebs1, &e1);
  BS->CreateEventEx(EVT_NOTIFY_SIGNAL, TPL_NOTIFY, on_signal, &ebs2, &ExitBootServicesGroup, &e2);
  /* No output from here to the call: printing may change the map. */
  EFI_STATUS r1 = map_read(&scratch);
  UINTN stale = scratch.key;
  EFI_PHYSICAL_ADDRESS a = 0;
  if (BS->AllocatePages(AllocateAnyPages, EfiLoaderData, 1, &a) == EFI_SUCCESS) BS->FreePages(a, 1);
  EFI_STATUS r2 = map_read(&scratch);
  UINTN current = scratch.key;
  if (r1 != EFI_SUCCESS || r2 != EFI_SUCCESS || current == stale) {
    /* Never call it with a key that may be current: it would succeed. */
    check(S, FALSE, L"(the MapKey did not change; the stale-key call is skipped)");
    return;
  }
  EFI_STATUS s = BS->ExitBootServices(gImage, stale);
  EFI_STATUS r3 = map_read(&scratch);
  UINTN after = scratch.key;
  expect(S, s, EFI_INVALID_PARAMETER, L"a stale MapKey -> INVALID_PARAMETER");
  if (s == EFI_SUCCESS) return;   /* boot services are gone: print nothing more */
  check(S, ebs1.count == 0 && ebs2.count == 0,
        L"a failed call signals no EVT_SIGNAL_EXIT_BOOT_SERVICES / exit-boot-services group event");
  note(L"7.4.6 ExitBootServices: the spec requires the exit-boot-services events before SUCCESS and says "
       L"nothing of a failed call; OVMF signals none of them then");
  expect(L"GetMemoryMap", r3, EFI_SUCCESS, L"still works after a failed ExitBootServices");
  check(S, r3 == EFI_SUCCESS && after == current, L"a failed call leaves the memory map unchanged");
}

/* ====================================================================== */

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  if (SystemTable == NULL || SystemTable->ConOut == NULL) return EFI_UNSUPPORTED;
  u_init(ImageHandle, SystemTable);
  gImage = ImageHandle;
  BS = SystemTable->BootServices;

  u_puts(L"conformance: the 43 boot services of UEFI 2.10 section 7\n");
  u_puts(L"   firmware: "); u_puts(SystemTable->FirmwareVendor); u_puts(L" revision ");
  u_hex(SystemTable->FirmwareRevision); u_puts(L", UEFI ");
  u_dec(SystemTable->Hdr.Revision >> 16); u_putc(L'.'); u_dec((SystemTable->Hdr.Revision & 0xffff) / 10);
  u_putc(L'\n');

  section(L"7.5 miscellaneous");
  test_watchdog();
  if (map_alloc(&scratch) != EFI_SUCCESS) u_puts(L"   (no buffer for the memory map: map checks will fail)\n");
  test_crc_mem();
  test_monotonic();
  test_stall();
  section(L"7.2 memory");
  test_pages();
  test_memory_map();
  test_pool();
  section(L"7.1 events, timers, TPL");
  test_create_close_signal();
  test_check_wait();
  test_tpl();
  test_timers();
  test_groups();
  section(L"7.3 protocol handlers");
  test_install();
  test_notify();
  test_open();
  test_multiple_and_paths();
  section(L"7.5.6 configuration tables");
  test_config_tables();
  section(L"7.4 images");
  test_images();
  section(L"7.4.6 ExitBootServices (last: boot services are partly shut down after it)");
  test_exit_boot_services();

  u_summary();
  u_flush();
  return u_failed ? EFI_ABORTED : EFI_SUCCESS;
}
