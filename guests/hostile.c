/*
 * hostile.c - a guest that calls every service slot with garbage, then checks that the
 * firmware still works (issue 7: a guest can only hurt itself).
 *
 * For `iters` iterations (default 2000) it picks a slot of the boot services table
 * (the Reserved slot included), the runtime services table or the console protocols,
 * and calls it through the table with arguments drawn by a xorshift64* generator seeded
 * by `seed` (default 1): NULL, small integers, pointers into its own arena (aligned and
 * not), just past the end of RAM, just below it, all ones, random, kernel-half
 * addresses, its own image and console handles, words the firmware wrote into the arena
 * earlier (handles, events, pool pointers), real GUIDs, strings and device paths.
 * Command line (LoadOptions): "seed=N iters=N", decimal or 0x-hex, both optional.
 *
 * The garbage is confined to what cannot legitimately end or wreck the guest itself:
 *  - Exit, ExitBootServices and StartImage never get its own handle with a way to
 *    succeed (ExitBootServices gets a wrong MapKey; StartImage of a started image must
 *    fail); ResetSystem and ConOut.OutputString are not called.
 *  - Pointers the firmware writes through lead into the arena (which has room for the
 *    largest reply, a memory map), page 0, or outside RAM: never at the guest's own
 *    code, stack or data, nor at the firmware's tables. CopyMem and SetMem lengths are
 *    small or larger than RAM.
 *  - Notify functions are NULL or a real function here; the LOADED_IMAGE GUID is not
 *    offered (uninstalling its own would be the guest's own doing).
 *  - WaitForEvent only sees values that are no event (an event nothing signals waits for
 *    ever); Stall at most 1 ms (a long Stall with a periodic timer armed keeps the
 *    firmware busy for as long: a firmware bug reported in issue 7); an armed watchdog
 *    is disarmed at once.
 *
 * Then the checks, each an "ok:"/"FAIL:" line, and "N passed, M failed"; returns
 * EFI_SUCCESS iff none failed, else EFI_ABORTED.
 */
#include <efi.h>
#include "lib/util.h"

extern const UINT8 __ImageBase[];

#define PAGE 4096ULL
#define ARENA_PAGES 32
/* Pointers into the arena land in its first half: the largest thing the firmware
 * writes behind one (a memory map, a variable, a handle list) fits in the second. */
#define ARENA_WINDOW (ARENA_PAGES * PAGE / 2)
#define MAP_PAGES 16
#define NON_EVENTS 640

static UINT64 rng;
static UINT8 *arena;
static UINT64 ram_end;
static EFI_HANDLE image, console;
static EFI_SYSTEM_TABLE *ST;
static EFI_BOOT_SERVICES *BS;
static EFI_RUNTIME_SERVICES *RT;
static EFI_MEMORY_DESCRIPTOR *map_buf;
static volatile UINT64 notified;
static UINT64 non_events[NON_EVENTS];
static EFI_DEVICE_PATH_PROTOCOL *path_cell;

static EFI_GUID LoadedImageGuid = EFI_LOADED_IMAGE_PROTOCOL_GUID;

/* GUIDs offered as arguments: protocols and groups the firmware knows, and strangers. */
static EFI_GUID guids[] = {
  EFI_DEVICE_PATH_PROTOCOL_GUID,
  EFI_SIMPLE_TEXT_INPUT_PROTOCOL_GUID,
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL_GUID,
  EFI_LOADED_IMAGE_DEVICE_PATH_PROTOCOL_GUID,
  EFI_DEVICE_PATH_UTILITIES_PROTOCOL_GUID,
  EFI_DEVICE_PATH_TO_TEXT_PROTOCOL_GUID,
  EFI_EVENT_GROUP_EXIT_BOOT_SERVICES,
  EFI_ACPI_20_TABLE_GUID,
  EFI_GLOBAL_VARIABLE,
  EFI_LOAD_FILE2_PROTOCOL_GUID,
  LINUX_EFI_INITRD_MEDIA_GUID,
  /* and one nothing declares */
  { 0x0e8e6cb9, 0x52d5, 0x4b62, { 0x9d, 0x5b, 0x2c, 0x0c, 0x5b, 0xc2, 0xf0, 0xa1 } },
};
#define NGUIDS (sizeof guids / sizeof guids[0])

static const CHAR16 *const strings[] = {
  L"X", L"Boot0000", L"SecureBoot", L"HostileVariable", L"", L"PlatformLang",
};
#define NSTRINGS (sizeof strings / sizeof strings[0])

/* Device paths: an end node; Linux's initrd vendor media node then end; a node of
 * length 0 (malformed); a node claiming 0xffff bytes. */
static const UINT8 paths[4][24] = {
  { 0x7f, 0xff, 4, 0 },
  { 0x04, 0x03, 20, 0, 0x27, 0xe4, 0x68, 0x55, 0xfc, 0x68, 0x3d, 0x4f,
    0xac, 0x74, 0xca, 0x55, 0x52, 0x31, 0xcc, 0x68, 0x7f, 0xff, 4, 0 },
  { 0x01, 0x04, 0, 0 },
  { 0x04, 0x04, 0xff, 0xff },
};

static UINT64 image_base, image_end;

static BOOLEAN streq(const char *a, const char *b) {
  while (*a && *a == *b) { a++; b++; }
  return *a == *b;
}

/* xorshift64* (Vigna), never seeded with 0. */
static UINT64 next(void) {
  rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1DULL;
}
static UINT64 below(UINT64 n) { return next() % n; }

static VOID EFIAPI notify(EFI_EVENT event, VOID *context) {
  (void)event; (void)context;
  notified++;
}

/* ---- argument kinds ---- */

static UINT64 arena_ptr(void) { return (UINT64)(UINTN)arena + (below(ARENA_WINDOW) & ~7ULL); }

/* A word the firmware may have written into the arena (a handle, an event, a pointer). */
static UINT64 arena_word(void) {
  UINT64 v;
  memcpy(&v, arena + (below(ARENA_WINDOW) & ~7ULL), 8);
  return v;
}

/* A pointer the firmware may write through. */
static UINT64 out_ptr(void) {
  switch (below(10)) {
  case 0: return 0;
  case 1: return 1 + below(64);                       /* page 0 */
  case 2: case 3: return arena_ptr();
  case 4: return arena_ptr() | (1 + below(7));        /* misaligned */
  case 5: return ram_end + below(0x2000);             /* past the end of RAM */
  case 6: return ram_end - 1 - below(64);             /* crossing it */
  case 7: return ~0ULL;
  case 8: return 0xffff800000000000ULL | (next() & 0x7fffffffffffULL);
  default: return next();
  }
}

/* Any value, for parameters the firmware only reads or compares. */
static UINT64 any_value(void) {
  switch (below(12)) {
  case 0: return 0;
  case 1: return below(65);
  case 2: return below(17) << 12;
  case 3: return arena_word();
  case 4: return (UINT64)(UINTN)image;
  case 5: return (UINT64)(UINTN)console;
  case 6: return (UINT64)(UINTN)&guids[below(NGUIDS)];
  case 7: return 0x80000000ULL | below(3);
  default: return out_ptr();
  }
}

static UINT64 handle_arg(void) {
  switch (below(4)) {
  case 0: return (UINT64)(UINTN)image;
  case 1: return (UINT64)(UINTN)console;
  case 2: return arena_word();
  default: return any_value();
  }
}

static UINT64 guid_arg(void) {
  return below(3) ? (UINT64)(UINTN)&guids[below(NGUIDS)] : out_ptr();
}

static UINT64 string_arg(void) {
  switch (below(4)) {
  case 0: case 1: return (UINT64)(UINTN)strings[below(NSTRINGS)];
  case 2: return arena_ptr() + 2 * below(8);          /* a garbage string */
  default: return out_ptr();
  }
}

static UINT64 path_arg(void) {
  return below(3) ? (UINT64)(UINTN)paths[below(4)] : out_ptr();
}

/* EFI_DEVICE_PATH_PROTOCOL **: a cell of ours the firmware may advance, or garbage. */
static UINT64 path_cell_arg(void) {
  if (below(2)) return out_ptr();
  path_cell = (EFI_DEVICE_PATH_PROTOCOL *)(UINTN)path_arg();
  return (UINT64)(UINTN)&path_cell;
}

/* CopyMem/SetMem: a destination of ours or outside RAM, and a length that is small or
 * larger than RAM (a RAM-sized length from a low address would wipe the guest). */
static UINT64 dest_arg(void) {
  switch (below(6)) {
  case 0: case 1: return arena_ptr() + below(8);
  case 2: return 0;
  case 3: return ram_end + below(0x2000);
  case 4: return ~0ULL - below(0x1000);
  default: return next() | (1ULL << 63);
  }
}
static UINT64 length_arg(void) {
  switch (below(4)) {
  case 0: return 0;
  case 1: return below(0x400);
  case 2: return ram_end + below(0x1000);
  default: return next() | (1ULL << 62);
  }
}

static UINT64 fn_arg(void) { return below(2) ? 0 : (UINT64)(UINTN)&notify; }

/* ---- the slots ----
 * One letter per parameter: v any value, p pointer written through, h handle or event,
 * g GUID pointer, s string, d device path, q device path cell, D/L CopyMem and SetMem
 * destination and length, f notify function, k Stall microseconds, e event type, t TPL,
 * y timer type, z a NULL that ends a variadic list (sometimes not), c This of ConOut,
 * i This of ConIn.
 * Special: W WaitForEvent, E Exit, X ExitBootServices, T SetWatchdogTimer, - not called. */

struct slot { const char *name; const char *args; };

static const struct slot bs_slots[] = {
  { "RaiseTPL", "v" }, { "RestoreTPL", "v" }, { "AllocatePages", "vvvp" }, { "FreePages", "hv" },
  { "GetMemoryMap", "ppppp" }, { "AllocatePool", "vvp" }, { "FreePool", "h" },
  { "CreateEvent", "etfvp" }, { "SetTimer", "hyv" }, { "WaitForEvent", "W" }, { "SignalEvent", "h" },
  { "CloseEvent", "h" }, { "CheckEvent", "h" }, { "InstallProtocolInterface", "pgvv" },
  { "ReinstallProtocolInterface", "hgvv" }, { "UninstallProtocolInterface", "hgv" },
  { "HandleProtocol", "hgp" }, { "Reserved", "vvvvvv" }, { "RegisterProtocolNotify", "ghp" },
  { "LocateHandle", "vgvpp" }, { "LocateDevicePath", "gqp" }, { "InstallConfigurationTable", "gv" },
  { "LoadImage", "vhdvvp" }, { "StartImage", "hpp" }, { "Exit", "E" }, { "UnloadImage", "h" },
  { "ExitBootServices", "X" }, { "GetNextMonotonicCount", "p" }, { "Stall", "k" },
  { "SetWatchdogTimer", "T" }, { "ConnectController", "hpdv" }, { "DisconnectController", "hhh" },
  { "OpenProtocol", "hgphhv" }, { "CloseProtocol", "hghh" }, { "OpenProtocolInformation", "hgpp" },
  { "ProtocolsPerHandle", "hpp" }, { "LocateHandleBuffer", "vgvpp" }, { "LocateProtocol", "gvp" },
  { "InstallMultipleProtocolInterfaces", "pgvgvz" }, { "UninstallMultipleProtocolInterfaces", "hgvgvz" },
  { "CalculateCrc32", "vvp" }, { "CopyMem", "DvL" }, { "SetMem", "DLv" }, { "CreateEventEx", "etfvgp" },
};

static const struct slot rt_slots[] = {
  { "GetTime", "pp" }, { "SetTime", "p" }, { "GetWakeupTime", "ppp" }, { "SetWakeupTime", "vp" },
  { "SetVirtualAddressMap", "vvvp" }, { "ConvertPointer", "vp" }, { "GetVariable", "sgppp" },
  { "GetNextVariableName", "ppg" }, { "SetVariable", "sgvvv" }, { "GetNextHighMonotonicCount", "p" },
  { "ResetSystem", "-" }, { "UpdateCapsule", "vvv" }, { "QueryCapsuleCapabilities", "vvpp" },
  { "QueryVariableInfo", "vppp" },
};

static const struct slot conout_slots[] = {
  { "Reset", "cv" }, { "OutputString", "-" }, { "TestString", "cs" }, { "QueryMode", "cvpp" },
  { "SetMode", "cv" }, { "SetAttribute", "cv" }, { "ClearScreen", "c" }, { "SetCursorPosition", "cvv" },
  { "EnableCursor", "cv" },
};

static const struct slot conin_slots[] = { { "Reset", "iv" }, { "ReadKeyStroke", "ip" } };

#define COUNT(a) (sizeof (a) / sizeof (a)[0])

typedef UINT64 (EFIAPI *ANY_FN)(UINT64, UINT64, UINT64, UINT64, UINT64, UINT64);

static UINT64 arg_of(char c) {
  switch (c) {
  case 'p': return out_ptr();
  case 'h': return handle_arg();
  case 'g': return guid_arg();
  case 's': return string_arg();
  case 'd': return path_arg();
  case 'q': return path_cell_arg();
  case 'D': return dest_arg();
  case 'L': return length_arg();
  case 'f': return fn_arg();
  case 'k': return below(1000);
  case 'e': { /* §7.1 EVT_* types, alone and combined, or garbage */
    static const UINT64 types[] = { 0, EVT_TIMER, EVT_NOTIFY_WAIT, EVT_NOTIFY_SIGNAL, EVT_TIMER | EVT_NOTIFY_SIGNAL,
                                    EVT_TIMER | EVT_NOTIFY_WAIT, EVT_SIGNAL_EXIT_BOOT_SERVICES, EVT_SIGNAL_VIRTUAL_ADDRESS_CHANGE };
    return below(4) ? types[below(8)] : any_value();
  }
  case 't': return below(4) ? (UINT64)(4 << below(3)) : below(2) ? 31 : any_value(); /* TPL_APPLICATION..NOTIFY, HIGH */
  case 'y': return below(4) ? below(3) : any_value();                                  /* TimerCancel..Relative */
  case 'z': return below(4) ? 0 : any_value();
  case 'c': return below(4) ? (UINT64)(UINTN)ST->ConOut : any_value();
  case 'i': return below(4) ? (UINT64)(UINTN)ST->ConIn : any_value();
  default: return any_value();
  }
}

/* The current MapKey (a successful GetMemoryMap), or 0. */
static UINTN map_key(void) {
  UINTN size = MAP_PAGES * PAGE, key = 0, desc = 0;
  UINT32 version = 0;
  return BS->GetMemoryMap(&size, map_buf, &key, &desc, &version) == EFI_SUCCESS ? key : 0;
}

/* ---- the tally ---- */

static UINT64 calls, successes, errors, warnings, values, undefined;

/* An EFI status the spec defines: SUCCESS, a warning 1-7, an error 1-35. */
static BOOLEAN defined_status(UINT64 s) {
  if (s == 0) return TRUE;
  if (s & U_ERROR_BIT) return (s & ~U_ERROR_BIT) >= 1 && (s & ~U_ERROR_BIT) <= 35;
  return s <= 7;
}

static void call_slot(const char *table, const struct slot *sl, UINT64 fn) {
  UINT64 a[6] = { 0, 0, 0, 0, 0, 0 };
  const char *spec = sl->args;
  if (spec[0] == '-') return;
  if (spec[0] == 'W') {
    /* NumberOfEvents; an array of values that are no event, or no array; Index. */
    static const UINT64 no_array[] = { 0, 1, ~0ULL, 0xffff800000000000ULL };
    a[0] = any_value();
    a[1] = below(2) ? (UINT64)(UINTN)non_events : below(2) ? ram_end + below(0x100) : no_array[below(4)];
    a[2] = out_ptr();
  } else if (spec[0] == 'E') {
    a[0] = handle_arg();
    if (a[0] == (UINT64)(UINTN)image) a[0] = (UINT64)(UINTN)console;
    a[1] = any_value(); a[2] = any_value(); a[3] = string_arg();
  } else if (spec[0] == 'X') {
    a[0] = handle_arg();
    a[1] = any_value();
    if (a[0] == (UINT64)(UINTN)image) a[1] = map_key() + 1 + below(8); /* never the current key */
  } else if (spec[0] == 'T') {
    a[0] = any_value(); a[1] = any_value(); a[2] = any_value(); a[3] = string_arg();
  } else {
    for (int i = 0; spec[i] && i < 6; i++) a[i] = arg_of(spec[i]);
  }
  /* The arena holds memory maps the firmware wrote, so its words include this image's
   * own pages and the map buffer: freeing those would be the guest's own undoing. */
  if (streq(sl->name, "FreePages") && a[0] < image_end && a[0] + a[1] * PAGE > image_base) a[0] ^= 0x1000;
  if (streq(sl->name, "FreePool") && a[0] == (UINT64)(UINTN)map_buf) a[0] ^= 8;
  UINT64 r = ((ANY_FN)(UINTN)fn)(a[0], a[1], a[2], a[3], a[4], a[5]);
  calls++;
  if (spec[0] == 'T') BS->SetWatchdogTimer(0, 0, 0, NULL); /* disarmed again at once */
  /* RaiseTPL returns a TPL; RestoreTPL, CopyMem and SetMem return nothing. */
  const char *n = sl->name;
  BOOLEAN value = table[0] == 'B' && (streq(n, "RaiseTPL") || streq(n, "RestoreTPL") || streq(n, "CopyMem") || streq(n, "SetMem"));
  if (value) { values++; return; }
  if (r == 0) successes++;
  else if (r & U_ERROR_BIT) errors++;
  else warnings++;
  if (!defined_status(r)) {
    if (undefined++ < 5) {
      u_puts(L"   undefined status "); u_hex(r); u_puts(L" from "); u_puta(table); u_putc(L'.'); u_puta(n);
      u_putc(L'(');
      for (int i = 0; i < 6; i++) { if (i) u_puts(L", "); u_hex(a[i]); }
      u_puts(L")\n");
    }
  }
}

static void fuzz(UINT64 iters) {
  UINT64 total = COUNT(bs_slots) + COUNT(rt_slots) + COUNT(conout_slots) + COUNT(conin_slots);
  UINT64 *bs = (UINT64 *)((UINT8 *)BS + sizeof(EFI_TABLE_HEADER));
  UINT64 *rt = (UINT64 *)((UINT8 *)RT + sizeof(EFI_TABLE_HEADER));
  UINT64 *co = (UINT64 *)ST->ConOut;
  UINT64 *ci = (UINT64 *)ST->ConIn;
  UINT64 missing = 0;
  for (UINT64 i = 0; i < iters; i++) {
    UINT64 k = below(total);
    const char *table;
    const struct slot *sl;
    UINT64 fn;
    if (k < COUNT(bs_slots)) { table = "BS"; sl = &bs_slots[k]; fn = bs[k]; }
    else if ((k -= COUNT(bs_slots)) < COUNT(rt_slots)) { table = "RT"; sl = &rt_slots[k]; fn = rt[k]; }
    else if ((k -= COUNT(rt_slots)) < COUNT(conout_slots)) { table = "ConOut"; sl = &conout_slots[k]; fn = co[k]; }
    else { k -= COUNT(conout_slots); table = "ConIn"; sl = &conin_slots[k]; fn = ci[k]; }
    if (!fn) { missing++; continue; }
    call_slot(table, sl, fn);
  }
  u_check(missing == 0, L"every service slot holds a function (the Reserved slot too)");
}

/* ---- the checks afterwards ---- */

static void check_pages(void) {
  EFI_PHYSICAL_ADDRESS p = 0;
  EFI_STATUS s = BS->AllocatePages(AllocateAnyPages, EfiLoaderData, 1, &p);
  if (!u_check_status(s, EFI_SUCCESS, L"AllocatePages(AnyPages, LoaderData, 1)")) return;
  u_check((p & (PAGE - 1)) == 0 && p != 0 && p + PAGE <= ram_end, L"the page is aligned, not NULL, inside RAM");
  memset((VOID *)(UINTN)p, 0xa5, PAGE);
  u_check_status(BS->FreePages(p, 1), EFI_SUCCESS, L"FreePages of it");
  u_check_status(BS->FreePages(p, 1), EFI_NOT_FOUND, L"FreePages of it again: NOT_FOUND");
}

static void check_pool(void) {
  VOID *b = NULL;
  if (!u_check_status(BS->AllocatePool(EfiLoaderData, 100, &b), EFI_SUCCESS, L"AllocatePool(LoaderData, 100)")) return;
  memset(b, 0x5a, 100);
  u_check_status(BS->FreePool(b), EFI_SUCCESS, L"FreePool of it");
  u_check_status(BS->FreePool(b), EFI_INVALID_PARAMETER, L"FreePool of it again: INVALID_PARAMETER");
}

static void check_map(void) {
  UINTN size = 0, key = 0, desc = 0;
  UINT32 version = 0;
  EFI_STATUS s = BS->GetMemoryMap(&size, NULL, &key, &desc, &version);
  u_check_status(s, EFI_BUFFER_TOO_SMALL, L"GetMemoryMap size probe");
  if (size > MAP_PAGES * PAGE || desc < sizeof(EFI_MEMORY_DESCRIPTOR)) {
    u_check(FALSE, L"memory map fits the buffer, DescriptorSize at least sizeof(EFI_MEMORY_DESCRIPTOR)");
    return;
  }
  size = MAP_PAGES * PAGE;
  if (!u_check_status(BS->GetMemoryMap(&size, map_buf, &key, &desc, &version), EFI_SUCCESS, L"GetMemoryMap")) return;
  BOOLEAN sorted = TRUE;
  UINT64 end = 0, count = size / desc;
  for (UINT64 i = 0; i < count; i++) {
    EFI_MEMORY_DESCRIPTOR *d = (EFI_MEMORY_DESCRIPTOR *)((UINT8 *)map_buf + i * desc);
    if (d->PhysicalStart < end || d->NumberOfPages == 0 || (d->PhysicalStart & (PAGE - 1))) sorted = FALSE;
    end = d->PhysicalStart + d->NumberOfPages * PAGE;
  }
  u_check(sorted, L"memory map sorted, non-overlapping, no empty descriptor");
  u_puts(L"   "); u_dec(count); u_puts(L" descriptors, RAM ends at "); u_hex(end); u_putc(L'\n');
}

static void check_image(void) {
  EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
  EFI_STATUS s = BS->HandleProtocol(image, &LoadedImageGuid, (VOID **)&li);
  if (!u_check_status(s, EFI_SUCCESS, L"HandleProtocol(ImageHandle, LOADED_IMAGE)")) return;
  u_check(li != NULL && li->ImageBase == (VOID *)__ImageBase, L"its ImageBase is where this image runs");
}

static void check_variable(void) {
  static CHAR16 name[] = L"HostileCheck";
  static UINT8 data[] = { 1, 2, 3, 4, 5 };
  EFI_GUID *vendor = &guids[NGUIDS - 1];
  u_check_status(RT->SetVariable(name, vendor, 6, sizeof data, data), EFI_SUCCESS,
                 L"SetVariable(BOOTSERVICE_ACCESS | RUNTIME_ACCESS)");
  UINT8 back[16];
  UINTN size = sizeof back;
  UINT32 attrs = 0;
  EFI_STATUS s = RT->GetVariable(name, vendor, &attrs, &size, back);
  if (u_check_status(s, EFI_SUCCESS, L"GetVariable of it"))
    u_check(size == sizeof data && attrs == 6 && !memcmp(back, data, sizeof data), L"same data and attributes back");
  u_check_status(RT->SetVariable(name, vendor, 6, 0, NULL), EFI_SUCCESS, L"deleting it");
}

static void check_tables(void) {
  u_check(ST->BootServices == BS && BS->Hdr.Signature == EFI_BOOT_SERVICES_SIGNATURE &&
          ST->RuntimeServices == RT && RT->Hdr.Signature == EFI_RUNTIME_SERVICES_SIGNATURE,
          L"system table still points at the service tables, signatures intact");
  /* §4.2: CRC32 over HeaderSize bytes with the CRC field zero. */
  static UINT8 copy[512];
  UINT32 n = ST->Hdr.HeaderSize, crc = 0;
  if (u_check(n >= sizeof(EFI_SYSTEM_TABLE) && n <= sizeof copy, L"system table HeaderSize is sane")) {
    memcpy(copy, ST, n);
    ((EFI_TABLE_HEADER *)copy)->CRC32 = 0;
    u_check(BS->CalculateCrc32(copy, n, &crc) == EFI_SUCCESS && crc == ST->Hdr.CRC32, L"system table CRC32 matches");
  }
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  ST = SystemTable; BS = SystemTable->BootServices; RT = SystemTable->RuntimeServices;
  image = ImageHandle;
  console = SystemTable->ConsoleOutHandle;

  UINT64 seed = 1, iters = 2000;
  EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
  if (BS->HandleProtocol(ImageHandle, &LoadedImageGuid, (VOID **)&li) == EFI_SUCCESS && li &&
      li->LoadOptions && li->LoadOptionsSize >= sizeof(CHAR16)) {
    const CHAR16 *opt = li->LoadOptions;
    UINTN n = u_strnlen(opt, li->LoadOptionsSize / sizeof(CHAR16));
    u_find_number(opt, n, "seed=", &seed);
    u_find_number(opt, n, "iters=", &iters);
  }
  image_base = (UINT64)(UINTN)__ImageBase;
  image_end = image_base + (li ? li->ImageSize : 0x100000);
  rng = seed ? seed : 0x9e3779b97f4a7c15ULL;

  /* The arena below 16 MiB, far from the image and the stack (allocated top-down). */
  EFI_PHYSICAL_ADDRESS a = 0xffffff;
  VOID *m = NULL;
  if (BS->AllocatePages(AllocateMaxAddress, EfiLoaderData, ARENA_PAGES, &a) != EFI_SUCCESS ||
      BS->AllocatePool(EfiLoaderData, MAP_PAGES * PAGE, &m) != EFI_SUCCESS) {
    u_puts(L"FAIL: no memory for the arena\n");
    return EFI_OUT_OF_RESOURCES;
  }
  arena = (UINT8 *)(UINTN)a;
  map_buf = m;
  /* RAM's end from the map: the highest descriptor's end. */
  UINTN size = MAP_PAGES * PAGE, key, desc;
  UINT32 version;
  if (BS->GetMemoryMap(&size, map_buf, &key, &desc, &version) == EFI_SUCCESS) {
    for (UINTN off = 0; off + desc <= size; off += desc) {
      EFI_MEMORY_DESCRIPTOR *d = (EFI_MEMORY_DESCRIPTOR *)((UINT8 *)map_buf + off);
      UINT64 e = d->PhysicalStart + d->NumberOfPages * PAGE;
      if (e > ram_end) ram_end = e;
    }
  }
  /* Garbage: UCS-2 words, one in eight NUL (short strings everywhere). */
  for (UINT64 i = 0; i < ARENA_PAGES * PAGE; i += 2) {
    UINT16 w = (UINT16)next();
    if (!below(8)) w = 0;
    memcpy(arena + i, &w, 2);
  }
  /* Values no firmware hands out as an event: NULL, all ones, odd, past RAM. */
  for (UINT64 i = 0; i < NON_EVENTS; i++) {
    UINT64 v = next();
    non_events[i] = i % 4 == 0 ? 0 : i % 4 == 1 ? ~0ULL : i % 4 == 2 ? (v | 1) : ram_end + (v & 0xffff0);
  }

  u_puts(L"hostile: seed "); u_dec(seed); u_puts(L", "); u_dec(iters); u_puts(L" iterations, RAM ends at ");
  u_hex(ram_end); u_puts(L", arena at "); u_hex(a); u_putc(L'\n');

  fuzz(iters);
  BS->RestoreTPL(TPL_APPLICATION); /* whatever TPL the garbage left */

  u_puts(L"   "); u_dec(calls); u_puts(L" calls: "); u_dec(successes); u_puts(L" SUCCESS, ");
  u_dec(errors); u_puts(L" errors, "); u_dec(warnings); u_puts(L" warnings, "); u_dec(values);
  u_puts(L" values; notify functions ran "); u_dec(notified); u_puts(L" times\n");
  u_check(undefined == 0, L"every call returned a status the spec defines");

  check_pages();
  check_pool();
  check_map();
  check_image();
  check_variable();
  check_tables();
  u_flush();
  u_check(ST->ConOut->OutputString(ST->ConOut, L"   (OutputString still works)\r\n") == EFI_SUCCESS,
          L"OutputString");
  u_summary();
  return u_failed == 0 ? EFI_SUCCESS : EFI_ABORTED;
}
