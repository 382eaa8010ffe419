/*
 * abiprobe: prints the ABI a firmware offers an EFI application, one fact per line,
 * for `ueficorn measure` to compare ueficorn with OVMF on the same guest:
 *
 *   abi: firmware VENDOR revision 0xR uefi 0xR
 *   abi: tables bs-slots N rt-slots N
 *   abi: config GUID
 *   abi: handles N
 *   abi: handle I protocol GUID
 *   abi: memmap TYPE ranges N pages N
 *   abi: done
 *
 * Handles come from LocateHandleBuffer(AllHandles) and their protocols from
 * ProtocolsPerHandle; where a firmware lacks those, it says so and goes on.
 */
#include "efi.h"
#include "lib/util.h"

/* Lower-case hex, zero padded, no prefix: GUIDs in their canonical text form. */
static void hex(UINT64 v, int digits) {
  for (int i = digits - 1; i >= 0; i--) u_putc(L"0123456789abcdef"[(v >> (4 * i)) & 15]);
}

static void guid(const EFI_GUID *g) {
  hex(g->Data1, 8);
  u_putc(L'-');
  hex(g->Data2, 4);
  u_putc(L'-');
  hex(g->Data3, 4);
  u_putc(L'-');
  hex((UINT64)g->Data4[0] << 8 | g->Data4[1], 4);
  u_putc(L'-');
  UINT64 node = 0;
  for (int i = 2; i < 8; i++) node = node << 8 | g->Data4[i];
  hex(node, 12);
}

static void line(const char *what) { u_puta("abi: "); u_puta(what); }

EFI_STATUS EFIAPI efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {
  u_init(image, st);
  EFI_BOOT_SERVICES *bs = st->BootServices;

  line("firmware ");
  u_puts(st->FirmwareVendor ? st->FirmwareVendor : L"(none)");
  u_puta(" revision ");
  u_hex(st->FirmwareRevision);
  u_puta(" uefi ");
  u_hex(st->Hdr.Revision);
  u_putc(L'\n');

  /* Non-NULL function slots in the two service tables (the header is 24 bytes). */
  UINTN bsSlots = 0, rtSlots = 0;
  VOID **p = (VOID **)((UINT8 *)bs + sizeof(EFI_TABLE_HEADER));
  for (UINTN i = 0; i < (sizeof(EFI_BOOT_SERVICES) - sizeof(EFI_TABLE_HEADER)) / sizeof(VOID *); i++) bsSlots += p[i] != 0;
  p = (VOID **)((UINT8 *)st->RuntimeServices + sizeof(EFI_TABLE_HEADER));
  for (UINTN i = 0; i < (sizeof(EFI_RUNTIME_SERVICES) - sizeof(EFI_TABLE_HEADER)) / sizeof(VOID *); i++) rtSlots += p[i] != 0;
  line("tables bs-slots ");
  u_dec(bsSlots);
  u_puta(" rt-slots ");
  u_dec(rtSlots);
  u_putc(L'\n');

  for (UINTN i = 0; i < st->NumberOfTableEntries; i++) {
    line("config ");
    guid(&st->ConfigurationTable[i].VendorGuid);
    u_putc(L'\n');
  }

  UINTN count = 0;
  EFI_HANDLE *handles = 0;
  EFI_STATUS s = bs->LocateHandleBuffer(AllHandles, 0, 0, &count, &handles);
  if (s != EFI_SUCCESS) {
    line("handles unknown: LocateHandleBuffer ");
    u_status(s);
    u_putc(L'\n');
  } else {
    line("handles ");
    u_dec(count);
    u_putc(L'\n');
    for (UINTN h = 0; h < count; h++) {
      EFI_GUID **protocols = 0;
      UINTN n = 0;
      s = bs->ProtocolsPerHandle(handles[h], &protocols, &n);
      if (s != EFI_SUCCESS) {
        line("handle ");
        u_dec(h);
        u_puta(" protocols unknown: ProtocolsPerHandle ");
        u_status(s);
        u_putc(L'\n');
        continue;
      }
      for (UINTN i = 0; i < n; i++) {
        line("handle ");
        u_dec(h);
        u_puta(" protocol ");
        guid(protocols[i]);
        u_putc(L'\n');
      }
      bs->FreePool(protocols);
    }
    bs->FreePool(handles);
  }

  UINTN size = 0, key = 0, dsize = 0;
  UINT32 dver = 0;
  bs->GetMemoryMap(&size, 0, &key, &dsize, &dver);
  EFI_MEMORY_DESCRIPTOR *map = 0;
  size += 8 * dsize;
  if (bs->AllocatePool(EfiLoaderData, size, (VOID **)&map) == EFI_SUCCESS &&
      bs->GetMemoryMap(&size, map, &key, &dsize, &dver) == EFI_SUCCESS) {
    UINT64 ranges[16] = {0}, pages[16] = {0};
    for (UINTN off = 0; off + dsize <= size; off += dsize) {
      EFI_MEMORY_DESCRIPTOR *d = (EFI_MEMORY_DESCRIPTOR *)((UINT8 *)map + off);
      UINT32 t = d->Type < 16 ? d->Type : 15;
      ranges[t]++;
      pages[t] += d->NumberOfPages;
    }
    for (UINT32 t = 0; t < 16; t++) {
      if (!ranges[t]) continue;
      line("memmap ");
      u_dec(t);
      u_puta(" ranges ");
      u_dec(ranges[t]);
      u_puta(" pages ");
      u_dec(pages[t]);
      u_putc(L'\n');
    }
    bs->FreePool(map);
  }
  line("done\n");
  u_flush();
  return EFI_SUCCESS;
}
