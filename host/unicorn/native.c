// Native callbacks for Unicorn, for what a koffi (JS) callback would make slow.
//
// It includes no Unicorn header and links no libunicorn, so it serves whatever library
// UEFICORN_LIBUNICORN selects: the shapes below are unicorn.h's callback types, and the
// two Unicorn functions the trap gate calls are handed in as pointers by
// host/unicorn/index.ts. Built by scripts/setup.sh:
//   clang -O2 -shared -fPIC -o build/libueficorn-native.so host/unicorn/native.c
#include <stdint.h>
#include <stdlib.h>

// ---- the instruction counter -------------------------------------------------------
// Unicorn 2.1.1 has no readable instruction counter: uc_emu_start's `count` makes every
// later hook exit flush the translation cache, and a JS code hook costs ~130 ns per
// instruction. This UC_HOOK_CODE callback (uc_cb_hookcode_t), added over all addresses
// with user_data = &counter, costs a few ns.
void icount_hook(void *uc, uint64_t address, uint32_t size, void *user_data) {
  (void)uc;
  (void)address;
  (void)size;
  ++*(uint64_t *)user_data;
}

// ---- the trap gate -------------------------------------------------------------------
// A UC_HOOK_INSN OUT callback (uc_cb_insn_out_t). An OUT to the trap port is an EFI
// call: the gate reads the argument registers straight into the firmware's argument
// block in WASM memory, calls the JS handler, and loads the status it left there into
// RAX. Done through koffi, the two register calls cost ~300 of a ~450 ns round trip;
// here they cost a few ns. Any other port goes to the JS device handler unchanged.
typedef int (*reg_read_batch_fn)(void *uc, int *regs, void **vals, int count);
typedef int (*reg_write_fn)(void *uc, int regid, const void *value);
typedef void (*port_fn)(uint32_t port, int32_t size, uint32_t value);

enum { GATE_MAX_REGS = 8 };

struct trap_gate {
  reg_read_batch_fn read_batch; // uc_reg_read_batch
  reg_write_fn write;           // uc_reg_write
  port_fn on_trap, on_port;
  uint32_t trap_port;
  int count;
  int ids[GATE_MAX_REGS];
  void *vals[GATE_MAX_REGS];
  int result_id;
  void *result;
};

void trap_gate_out(void *uc, uint32_t port, int size, uint32_t value, struct trap_gate *g) {
  if (port != g->trap_port) {
    g->on_port(port, size, value);
    return;
  }
  g->read_batch(uc, g->ids, g->vals, g->count);
  g->on_trap(port, size, value);
  g->write(uc, g->result_id, g->result);
}

// A gate reading registers ids[i] into base + offsets[i] and writing register result_id
// from base + result_offset; NULL if count is out of range or memory is short.
struct trap_gate *trap_gate_new(void *read_batch, void *write, void *on_trap, void *on_port, uint32_t trap_port,
                                const int32_t *ids, const uint32_t *offsets, int32_t count, uint8_t *base,
                                int32_t result_id, uint32_t result_offset) {
  if (count < 0 || count > GATE_MAX_REGS) return NULL;
  struct trap_gate *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->read_batch = (reg_read_batch_fn)read_batch;
  g->write = (reg_write_fn)write;
  g->on_trap = (port_fn)on_trap;
  g->on_port = (port_fn)on_port;
  g->trap_port = trap_port;
  g->count = count;
  for (int i = 0; i < count; i++) {
    g->ids[i] = ids[i];
    g->vals[i] = base + offsets[i];
  }
  g->result_id = result_id;
  g->result = base + result_offset;
  return g;
}

void trap_gate_free(struct trap_gate *g) { free(g); }

// ---- the host's TSC ------------------------------------------------------------------
// Unicorn's RDTSC returns the host's counter; reading it here, without an engine, lets
// host/unicorn/tsc.ts measure its rate while a guest runs.
uint64_t host_rdtsc(void) { return __builtin_ia32_rdtsc(); }
