// Guest instruction counter for Unicorn, as a native UC_HOOK_CODE callback.
//
// Unicorn 2.1.1 has no readable instruction counter: uc_emu_start's `count` makes every
// later hook exit flush the translation cache, and a JS (koffi) code hook costs ~130 ns
// per instruction. This callback costs a few ns. host/unicorn/index.ts adds it with
// uc_hook_add(uc, &h, UC_HOOK_CODE, icount_hook, &counter, 1, 0) (all addresses) and
// reads the counter. It has the shape of unicorn.h's uc_cb_hookcode_t but includes no
// Unicorn header and links no libunicorn, so it serves whatever library
// UEFICORN_LIBUNICORN selects.
//
// Built by scripts/setup.sh: clang -O2 -shared -fPIC -o build/libicount.so host/unicorn/icount.c
#include <stdint.h>

void icount_hook(void *uc, uint64_t address, uint32_t size, void *user_data) {
  (void)uc;
  (void)address;
  (void)size;
  ++*(uint64_t *)user_data;
}
