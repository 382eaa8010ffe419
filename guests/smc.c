/*
 * smc.c - code that rewrites itself through other mappings, then runs: does the CPU run
 * the new code? (issue 12: Unicorn 2.1.1 misses some such writes.)
 *
 * A page of code holds f: `mov eax, imm32 ; ret`, run once through the firmware's
 * identity map (so it is translated). Each way then writes through a mapping of its own
 * to the same physical page: first a byte elsewhere on the page (in Unicorn 2.1.1 such a
 * write clears the page's not-dirty flag for that mapping), then f's immediate; f is
 * called again through the identity map and must return the new value.
 *   alias   a 4 KiB alias page (PML4[1], a table of our own)
 *   cr3     the same alias in a second address space: a PML4 copied from the firmware's,
 *           CR3 switched to it for the writes and back
 *   large   a 2 MiB large-page alias of the region holding the page
 *   first   a page that held no code when the alias first wrote it (f written through the
 *           alias, so that mapping's not-dirty flag is clear), then run through the
 *           identity map, then patched through the same alias
 * With "serialize" on the command line, each way runs SERIALIZE (0F 01 E8) after its
 * writes, as Linux's sync_core() does after patching (the machine's CPUID offers it);
 * without, nothing but a call separates write and run, which is all x86 asks for code
 * a processor modifies for itself.
 * Prints "smc: <way> ok" or "smc: <way> stale (got N, want M)" for each, then
 * "smc: done, K of 4 ways see the new code", and returns EFI_SUCCESS when all 4 do.
 * On AArch64 one way ("same", below: the mapping that runs the code, a word elsewhere on
 * the page first) with the cache maintenance the architecture asks for.
 */
#include <efi.h>
#include "lib/util.h"

static EFI_GUID LoadedImageProtocol = EFI_LOADED_IMAGE_PROTOCOL_GUID;

#if defined(__x86_64__)

#define PAGE 4096ull
#define PTE_P 1ull
#define PTE_RW 2ull
#define PTE_PS (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull
#define ALIAS_BASE (1ull << 39) /* PML4[1]: nothing of the firmware's lives there */
#define F_AT 0x100              /* f's offset in the code page */
#define ELSEWHERE 0x900         /* a byte on the same page, not f's */

typedef UINT32 (*fn)(void);

static UINT64 read_cr3(void) { UINT64 v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static void write_cr3(UINT64 v) { __asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
static void serialize(void) { __asm__ volatile(".byte 0x0f, 0x01, 0xe8" ::: "memory"); }

static UINT64 *zeroed_page(EFI_BOOT_SERVICES *bs) {
  EFI_PHYSICAL_ADDRESS a = 0;
  if (bs->AllocatePages(AllocateAnyPages, EfiLoaderData, 1, &a) != EFI_SUCCESS) return NULL;
  UINT64 *p = (UINT64 *)(UINTN)a;
  for (UINTN i = 0; i < PAGE / 8; i++) p[i] = 0;
  return p;
}

/* The page tables under PML4[1] mapping ALIAS_BASE: a 4 KiB page at phys, or (large) the 2 MiB around it. */
static UINT64 map_alias(EFI_BOOT_SERVICES *bs, UINT64 *pml4, UINT64 phys, BOOLEAN large) {
  UINT64 *pdpt = zeroed_page(bs), *pd = zeroed_page(bs);
  if (!pdpt || !pd) return 0;
  pml4[1] = (UINT64)(UINTN)pdpt | PTE_P | PTE_RW;
  pdpt[0] = (UINT64)(UINTN)pd | PTE_P | PTE_RW;
  if (large) {
    pd[0] = (phys & ~0x1fffffull) | PTE_P | PTE_RW | PTE_PS;
    return ALIAS_BASE + (phys & 0x1fffffull);
  }
  UINT64 *pt = zeroed_page(bs);
  if (!pt) return 0;
  pd[0] = (UINT64)(UINTN)pt | PTE_P | PTE_RW;
  pt[0] = (phys & ADDR_MASK) | PTE_P | PTE_RW;
  return ALIAS_BASE;
}

static UINTN seen;

static void check(const char *way, UINT8 *code, UINT32 want) {
  UINT32 got = ((fn)(UINTN)(code + F_AT))();
  u_puts(L"smc: ");
  for (const char *c = way; *c; c++) u_putc((CHAR16)*c);
  if (got == want) {
    u_puts(L" ok\n");
    seen++;
  } else {
    u_puts(L" stale (got ");
    u_dec(got);
    u_puts(L", want ");
    u_dec(want);
    u_puts(L")\n");
  }
}

/* Write through `alias` (the code page's image there): a byte elsewhere, then f's
 * immediate, each followed by SERIALIZE when asked (as a patch and then the next one). */
static void patch(volatile UINT8 *alias, UINT32 value, BOOLEAN ser) {
  alias[ELSEWHERE] = (UINT8)value;
  if (ser) serialize();
  *(volatile UINT32 *)(alias + F_AT + 1) = value;
  if (ser) serialize();
}

static BOOLEAN options_are(const CHAR16 *s, UINTN n, const char *w) {
  UINTN i = 0;
  for (; i < n && s[i] && w[i]; i++) if (s[i] != (CHAR16)w[i]) return FALSE;
  return (i == n || s[i] == 0) && w[i] == 0;
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  EFI_BOOT_SERVICES *bs = SystemTable->BootServices;
  EFI_LOADED_IMAGE_PROTOCOL *li = NULL;
  BOOLEAN ser = FALSE;
  if (bs->HandleProtocol(ImageHandle, &LoadedImageProtocol, (void **)&li) == EFI_SUCCESS && li->LoadOptions)
    ser = options_are(li->LoadOptions, li->LoadOptionsSize / sizeof(CHAR16), "serialize");

  EFI_PHYSICAL_ADDRESS c = 0;
  if (bs->AllocatePages(AllocateAnyPages, EfiLoaderCode, 1, &c) != EFI_SUCCESS) return EFI_OUT_OF_RESOURCES;
  UINT8 *code = (UINT8 *)(UINTN)c;
  static const UINT8 f[] = {0xb8, 1, 0, 0, 0, 0xc3}; /* mov eax, 1 ; ret */
  for (UINTN i = 0; i < sizeof f; i++) code[F_AT + i] = f[i];
  check("identity", code, 1); /* translated now */
  seen = 0;

  UINT64 cr3 = read_cr3();
  UINT64 *pml4 = (UINT64 *)(UINTN)(cr3 & ADDR_MASK);
  if (pml4[1]) return EFI_UNSUPPORTED; /* the firmware uses PML4[1]: no room for the alias */

  /* alias: a 4 KiB alias in the firmware's own address space */
  UINT64 va = map_alias(bs, pml4, c, FALSE);
  if (!va) return EFI_OUT_OF_RESOURCES;
  write_cr3(cr3);
  patch((volatile UINT8 *)(UINTN)va, 2, ser);
  check("alias", code, 2);

  /* cr3: the alias in a second address space, written there, run back in the first */
  UINT64 *pml4b = zeroed_page(bs);
  if (!pml4b) return EFI_OUT_OF_RESOURCES;
  for (UINTN i = 0; i < PAGE / 8; i++) pml4b[i] = pml4[i];
  pml4[1] = 0;
  write_cr3(cr3);
  write_cr3((UINT64)(UINTN)pml4b);
  patch((volatile UINT8 *)(UINTN)va, 3, ser);
  write_cr3(cr3);
  check("cr3", code, 3);

  /* large: a 2 MiB alias of the region holding the page */
  va = map_alias(bs, pml4, c, TRUE);
  if (!va) return EFI_OUT_OF_RESOURCES;
  write_cr3(cr3);
  patch((volatile UINT8 *)(UINTN)va, 4, ser);
  check("large", code, 4);
  pml4[1] = 0;
  write_cr3(cr3);

  /* first: f written through the alias into a page without code, run, then patched there */
  EFI_PHYSICAL_ADDRESS c2 = 0;
  if (bs->AllocatePages(AllocateAnyPages, EfiLoaderCode, 1, &c2) != EFI_SUCCESS) return EFI_OUT_OF_RESOURCES;
  va = map_alias(bs, pml4, c2, FALSE);
  if (!va) return EFI_OUT_OF_RESOURCES;
  write_cr3(cr3);
  volatile UINT8 *alias = (volatile UINT8 *)(UINTN)va;
  for (UINTN i = 0; i < sizeof f; i++) alias[F_AT + i] = f[i];
  if (ser) serialize();
  if (((fn)(UINTN)(c2 + F_AT))() != 1) u_puts(L"smc: first: f not written\n");
  *(volatile UINT32 *)(alias + F_AT + 1) = 5;
  if (ser) serialize();
  check("first", (UINT8 *)(UINTN)c2, 5);
  pml4[1] = 0;
  write_cr3(cr3);

  u_puts(L"smc: done, ");
  u_dec(seen);
  u_puts(L" of 4 ways see the new code\n");
  return seen == 4 ? EFI_SUCCESS : EFI_ABORTED;
}

#elif defined(__aarch64__)

/* AArch64: the one way that needs no page tables of our own. f (`mov w0, #1 ; ret`) runs
 * through the firmware's identity map, a word elsewhere on its page is written through
 * that same mapping, then f's first instruction becomes `mov w0, #2`, with the cache
 * maintenance the architecture asks for (DC CVAU, DSB, IC IVAU, DSB, ISB; B2.4.4). */
#define F_AT 0x100
#define ELSEWHERE 0x300 /* same page whether Unicorn's is 1 KiB (its AArch64 default) or 4 KiB */

typedef UINT32 (*fn)(void);

static UINT32 mov_w0(UINT32 imm) { return 0x52800000u | (imm & 0xffffu) << 5; }

static void sync_code(volatile UINT32 *at) {
  __asm__ volatile("dc cvau, %0\n dsb ish\n ic ivau, %0\n dsb ish\n isb" ::"r"(at) : "memory");
}

EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *SystemTable) {
  u_init(ImageHandle, SystemTable);
  (void)LoadedImageProtocol;
  EFI_PHYSICAL_ADDRESS c = 0;
  if (SystemTable->BootServices->AllocatePages(AllocateAnyPages, EfiLoaderCode, 1, &c) != EFI_SUCCESS) return EFI_OUT_OF_RESOURCES;
  volatile UINT32 *f = (volatile UINT32 *)(UINTN)(c + F_AT);
  f[0] = mov_w0(1);
  f[1] = 0xd65f03c0u; /* ret */
  sync_code(f);
  UINT32 first = ((fn)(UINTN)f)(); /* translated now */
  *(volatile UINT32 *)(UINTN)(c + ELSEWHERE) = 7;
  f[0] = mov_w0(2);
  sync_code(f);
  UINT32 got = ((fn)(UINTN)f)();
  if (first == 1 && got == 2) {
    u_puts(L"smc: same ok\n");
    u_puts(L"smc: done, 1 of 1 ways see the new code\n");
    return EFI_SUCCESS;
  }
  u_puts(L"smc: same stale (got ");
  u_dec(got);
  u_puts(L", want 2)\n");
  u_puts(L"smc: done, 0 of 1 ways see the new code\n");
  return EFI_ABORTED;
}

#endif
