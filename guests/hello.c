/*
 * hello.c - the default ueficorn guest (`npm start`).
 *
 * An ordinary x86-64 EFI application that exercises the basics a firmware
 * must provide: the system table, ConOut, the Loaded Image protocol (with its
 * load options = command line), base relocations, page and pool allocation
 * and the memory map.
 *
 * Every check prints one line, "ok: ..." or "FAIL: ...", and a final line
 * "N passed, M failed" follows.
 *
 * Exit status: EFI_SUCCESS if every check passed, EFI_ABORTED
 * (0x8000000000000015) if any check failed (it stops right after the
 * relocation check if that one fails).  If there is no ConOut at all it
 * returns EFI_UNSUPPORTED (0x8000000000000003) without printing anything.
 */
#include <efi.h>
#include "lib/util.h"

/* Defined by lld-link: the first byte of this image (its DOS header).  The
 * address is formed RIP-relative, so it is where the image really runs,
 * whatever base it was linked for. */
extern const UINT8 __ImageBase[];

static const CHAR16 greeting[] =
  L"Hello from an x86-64 EFI application (ueficorn guests/hello.c).";

/* A global, writable table of pointers: the linker stores 64-bit absolute
 * addresses here, so the image carries DIR64 base relocations and only works
 * if the loader applied them.  Not static and not const, so the compiler has
 * to load the entries at run time. */
const CHAR16 *hello_intro[] = {
  greeting,
  L"It checks the system table, prints the firmware vendor and its own load",
  L"options, allocates and frees pages and pool, and reads the memory map.",
  NULL,
};

static EFI_GUID LoadedImageProtocol = EFI_LOADED_IMAGE_PROTOCOL_GUID;

static void label_hex(const CHAR16 *label, UINT64 v) {
  u_puts(label); u_hex(v); u_putc(L'\n');
}

static UINT32 rd32(const UINT8 *p) {
  return (UINT32)p[0] | (UINT32)p[1] << 8 | (UINT32)p[2] << 16 | (UINT32)p[3] << 24;
}

static void check_system_table(EFI_SYSTEM_TABLE *ST) {
  u_check(ST->Hdr.Signature == EFI_SYSTEM_TABLE_SIGNATURE,
          L"SystemTable->Hdr.Signature is \"IBI SYST\"");
  /* Revision is (major << 16) | minor, minor in tenths: 2.10 is 100, 2.3.1 is 31. */
  UINT32 minor = ST->Hdr.Revision & 0xffff;
  u_puts(L"   UEFI revision ");
  u_dec(ST->Hdr.Revision >> 16); u_putc(L'.'); u_dec(minor / 10);
  if (minor % 10) { u_putc(L'.'); u_dec(minor % 10); }
  u_puts(L", firmware revision "); u_hex(ST->FirmwareRevision); u_putc(L'\n');

  const CHAR16 *vendor = ST->FirmwareVendor;
  BOOLEAN vendor_ok = vendor != NULL && u_strnlen(vendor, 256) < 256;
  if (u_check(vendor_ok, L"FirmwareVendor is a NUL-terminated string")) {
    u_puts(L"   FirmwareVendor: \""); u_puts(vendor); u_puts(L"\"\n");
  }
  u_check(ST->BootServices != NULL &&
          ST->BootServices->Hdr.Signature == EFI_BOOT_SERVICES_SIGNATURE,
          L"BootServices->Hdr.Signature is \"BOOTSERV\"");
}

/* hello_intro[0] was stored by the linker as an absolute address for the
 * preferred base (0x140000000); `greeting` is computed RIP-relative.  Compared
 * before any table pointer is dereferenced, so a loader that skips the
 * relocations gets a FAIL line instead of a crash. */
static BOOLEAN check_relocations(void) {
  u_puts(L"   running at "); u_hex((UINT64)(UINTN)__ImageBase);
  u_puts(L", hello_intro[0] = "); u_hex((UINT64)(UINTN)hello_intro[0]);
  u_puts(L", &greeting = "); u_hex((UINT64)(UINTN)greeting); u_putc(L'\n');
  return u_check(hello_intro[0] == greeting,
                 L"base relocations applied (pointer table matches RIP-relative address)");
}

static void check_loaded_image(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *ST) {
  EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
  EFI_STATUS s = ST->BootServices->HandleProtocol(ImageHandle, &LoadedImageProtocol,
                                                  (VOID **)&li);
  if (!u_check_status(s, EFI_SUCCESS, L"HandleProtocol(ImageHandle, LOADED_IMAGE_PROTOCOL)"))
    return;
  if (!u_check(li != NULL, L"loaded image interface is not NULL")) return;

  label_hex(L"   ImageBase: ", (UINT64)(UINTN)li->ImageBase);
  label_hex(L"   ImageSize: ", li->ImageSize);
  u_check(li->Revision == EFI_LOADED_IMAGE_PROTOCOL_REVISION,
          L"loaded image Revision is EFI_LOADED_IMAGE_PROTOCOL_REVISION");
  u_check(li->SystemTable == ST,
          L"loaded image SystemTable is the one passed to the entry point");
  u_check(li->ImageBase == (VOID *)__ImageBase,
          L"loaded image ImageBase is where this image runs");
  u_check(((UINTN)li->ImageBase & 0xfff) == 0, L"ImageBase is 4 KiB aligned");

  /* SizeOfImage from our own PE header: e_lfanew at 0x3c, then "PE\0\0",
   * 20-byte COFF header, SizeOfImage at offset 56 of the optional header. */
  UINT32 lfanew = rd32(__ImageBase + 0x3c);
  UINT32 size_of_image = rd32(__ImageBase + lfanew + 4 + 20 + 56);
  u_check(li->ImageSize == size_of_image, L"ImageSize equals the PE SizeOfImage");

  UINTN here = (UINTN)&check_loaded_image;
  UINTN base = (UINTN)li->ImageBase;
  u_check(here >= base && here - base < li->ImageSize,
          L"this code lies inside [ImageBase, ImageBase + ImageSize)");
  u_check(li->ImageCodeType == EfiLoaderCode, L"ImageCodeType is EfiLoaderCode");
  u_check(li->ImageDataType == EfiLoaderData, L"ImageDataType is EfiLoaderData");

  u_puts(L"   LoadOptionsSize: "); u_dec(li->LoadOptionsSize); u_putc(L'\n');
  if (li->LoadOptionsSize == 0) {
    u_puts(L"   LoadOptions: (none)\n");
  } else if (u_check(li->LoadOptions != NULL, L"LoadOptions is not NULL when LoadOptionsSize > 0")) {
    u_puts(L"   LoadOptions: \"");
    u_putsn((const CHAR16 *)li->LoadOptions, li->LoadOptionsSize / sizeof(CHAR16));
    u_puts(L"\"\n");
  }
}

static void check_pages(EFI_BOOT_SERVICES *BS) {
  enum { PAGES = 4 };
  EFI_PHYSICAL_ADDRESS addr = 0;
  EFI_STATUS s = BS->AllocatePages(AllocateAnyPages, EfiLoaderData, PAGES, &addr);
  if (!u_check_status(s, EFI_SUCCESS, L"AllocatePages(AllocateAnyPages, EfiLoaderData, 4)"))
    return;
  label_hex(L"   pages at ", addr);
  u_check(addr != 0 && (addr & 0xfff) == 0, L"allocated pages are non-zero and 4 KiB aligned");

  /* volatile: really touch the memory, don't let the compiler fold it away */
  volatile UINT64 *p = (volatile UINT64 *)(UINTN)addr;
  const UINTN n = PAGES * 4096 / sizeof(UINT64);
  for (UINTN i = 0; i < n; i++) p[i] = addr ^ (i * 0x9E3779B97F4A7C15ULL);
  UINTN bad = 0;
  for (UINTN i = 0; i < n; i++) bad += p[i] != (addr ^ (i * 0x9E3779B97F4A7C15ULL));
  u_check(bad == 0, L"wrote and read back all 16 KiB of the pages");

  u_check_status(BS->FreePages(addr, PAGES), EFI_SUCCESS, L"FreePages");
}

static void check_pool(EFI_BOOT_SERVICES *BS) {
  VOID *buf = NULL;
  EFI_STATUS s = BS->AllocatePool(EfiLoaderData, 1000, &buf);
  if (!u_check_status(s, EFI_SUCCESS, L"AllocatePool(EfiLoaderData, 1000)")) return;
  label_hex(L"   pool at ", (UINT64)(UINTN)buf);
  u_check(buf != NULL && ((UINTN)buf & 7) == 0, L"pool buffer is non-NULL and 8-byte aligned");
  volatile UINT8 *b = buf;
  for (UINTN i = 0; i < 1000; i++) b[i] = (UINT8)(i * 7);
  UINTN bad = 0;
  for (UINTN i = 0; i < 1000; i++) bad += b[i] != (UINT8)(i * 7);
  u_check(bad == 0, L"wrote and read back the 1000-byte pool buffer");
  u_check_status(BS->FreePool(buf), EFI_SUCCESS, L"FreePool");
}

static void check_memory_map(EFI_BOOT_SERVICES *BS) {
  UINTN size = 0, key = 0, desc_size = 0;
  UINT32 desc_version = 0;
  EFI_STATUS s = BS->GetMemoryMap(&size, NULL, &key, &desc_size, &desc_version);
  u_check_status(s, EFI_BUFFER_TOO_SMALL, L"GetMemoryMap(size 0) returns EFI_BUFFER_TOO_SMALL");
  if (!u_check(size > 0, L"GetMemoryMap(size 0) reports the size it needs")) return;

  /* Allocating the buffer may itself split a descriptor: leave some room. */
  UINTN room = size + 4 * (desc_size > 0 ? desc_size : sizeof(EFI_MEMORY_DESCRIPTOR));
  VOID *map = NULL;
  s = BS->AllocatePool(EfiLoaderData, room, &map);
  if (!u_check_status(s, EFI_SUCCESS, L"AllocatePool for the memory map")) return;

  size = room;
  s = BS->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)map, &key, &desc_size, &desc_version);
  if (u_check_status(s, EFI_SUCCESS, L"GetMemoryMap with a large enough buffer")) {
    u_check(desc_size >= sizeof(EFI_MEMORY_DESCRIPTOR) && (desc_size & 7) == 0,
            L"DescriptorSize >= sizeof(EFI_MEMORY_DESCRIPTOR) and 8-byte multiple");
    u_check(desc_version == EFI_MEMORY_DESCRIPTOR_VERSION, L"DescriptorVersion is 1");
    if (desc_size >= sizeof(EFI_MEMORY_DESCRIPTOR)) {
      u_check(size % desc_size == 0, L"MemoryMapSize is a multiple of DescriptorSize");
      UINTN count = size / desc_size;
      UINT64 conventional_pages = 0;
      UINTN misaligned = 0, empty = 0, overlaps = 0, bad_type = 0;
      const UINT8 *base = map;
      for (UINTN i = 0; i < count; i++) {
        const EFI_MEMORY_DESCRIPTOR *d = (const EFI_MEMORY_DESCRIPTOR *)(base + i * desc_size);
        if (d->Type == EfiConventionalMemory) conventional_pages += d->NumberOfPages;
        if (d->Type >= EfiMaxMemoryType) bad_type++;
        if (d->PhysicalStart & 0xfff) misaligned++;
        if (d->NumberOfPages == 0) empty++;
        UINT64 a0 = d->PhysicalStart, a1 = a0 + d->NumberOfPages * 4096;
        for (UINTN j = i + 1; j < count; j++) {
          const EFI_MEMORY_DESCRIPTOR *e = (const EFI_MEMORY_DESCRIPTOR *)(base + j * desc_size);
          UINT64 b0 = e->PhysicalStart, b1 = b0 + e->NumberOfPages * 4096;
          if (a0 < b1 && b0 < a1) overlaps++;
        }
      }
      u_puts(L"   memory map: "); u_dec(count); u_puts(L" descriptors, ");
      u_dec(conventional_pages * 4); u_puts(L" KiB conventional memory\n");
      u_check(count > 0, L"memory map has descriptors");
      u_check(conventional_pages > 0, L"memory map has EfiConventionalMemory");
      u_check(bad_type == 0, L"every descriptor Type is a valid EFI_MEMORY_TYPE");
      u_check(misaligned == 0, L"every PhysicalStart is 4 KiB aligned");
      u_check(empty == 0, L"every descriptor has NumberOfPages > 0");
      u_check(overlaps == 0, L"no two descriptors overlap");
    }
  }
  u_check_status(BS->FreePool(map), EFI_SUCCESS, L"FreePool(memory map)");
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  if (SystemTable == NULL || SystemTable->ConOut == NULL) return EFI_UNSUPPORTED;
  u_init(ImageHandle, SystemTable);

  u_puts(greeting); u_putc(L'\n');
  if (!check_relocations()) {
    /* Every pointer table (also the status names in lib/util.c) is unusable. */
    u_puts(L"cannot continue without relocations\n");
    u_summary();
    u_flush();
    return EFI_ABORTED;
  }
  for (const CHAR16 **l = hello_intro + 1; *l; l++) { u_puts(*l); u_putc(L'\n'); }

  check_system_table(SystemTable);
  if (SystemTable->BootServices != NULL) {
    check_loaded_image(ImageHandle, SystemTable);
    check_pages(SystemTable->BootServices);
    check_pool(SystemTable->BootServices);
    check_memory_map(SystemTable->BootServices);
  } else {
    u_check(FALSE, L"SystemTable->BootServices is not NULL");
  }

  u_summary();
  u_puts(u_failed ? L"Goodbye (returning EFI_ABORTED).\n" : L"Goodbye (returning EFI_SUCCESS).\n");
  u_flush();
  return u_failed ? EFI_ABORTED : EFI_SUCCESS;
}
