// Native callbacks for Unicorn, for what a koffi (JS) callback would make slow.
//
// It includes no Unicorn header and links no libunicorn, so it serves whatever library
// UEFICORN_LIBUNICORN selects: the shapes below are unicorn.h's callback types, and the
// two Unicorn functions the trap gate calls are handed in as pointers by
// host/unicorn/index.ts. Built by scripts/setup.sh:
//   clang -O2 -shared -fPIC -o build/libueficorn-native.so host/unicorn/native.c
#define _GNU_SOURCE // dl_iterate_phdr
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

// ---- the instruction counter -------------------------------------------------------
// Unicorn 2.1.1 has no readable instruction counter: uc_emu_start's `count` makes every
// later hook exit flush the translation cache, and a JS code hook costs ~130 ns per
// instruction. This UC_HOOK_CODE callback (uc_cb_hookcode_t), added over all addresses
// with user_data = a struct icount, costs a few ns. When the count reaches `limit`, it
// stops the engine before that instruction (the hook runs first, with RIP synced, and
// Unicorn checks for a stop right after it) without counting it: it is counted when it
// runs after the restart. The limit is then spent (UINT64_MAX) until the host sets one.
typedef int (*emu_stop_fn)(void *uc);

struct icount {
  uint64_t count; // read and written by the host at offset 0
  uint64_t limit; // offset 8
  emu_stop_fn stop;
};

void icount_hook(void *uc, uint64_t address, uint32_t size, struct icount *c) {
  (void)address;
  (void)size;
  if (c->count >= c->limit) {
    c->limit = UINT64_MAX;
    c->stop(uc);
    return;
  }
  ++c->count;
}

// ---- invalid instructions ------------------------------------------------------------
// A UC_HOOK_INSN_INVALID callback (uc_cb_hookinsn_invalid_t) that takes every invalid
// instruction, so that on x86 the #UD goes on to the interrupt hook as exception 6 (the
// host runs RDRAND, RDSEED and SERIALIZE there and gives the guest the rest): native,
// since Linux runs ~100,000 SERIALIZEs in a boot and a koffi callback costs ~1 us.
int take_invalid(void *uc, void *user_data) {
  (void)uc;
  (void)user_data;
  return 1;
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

// A gate's registers: ids[i] is read into (or written from) base + offsets[i].
static void reg_block(int *ids_out, void **vals_out, const int32_t *ids, const uint32_t *offsets, int count, uint8_t *base) {
  for (int i = 0; i < count; i++) {
    ids_out[i] = ids[i];
    vals_out[i] = base + offsets[i];
  }
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
  reg_block(g->ids, g->vals, ids, offsets, count, base);
  g->result_id = result_id;
  g->result = base + result_offset;
  return g;
}

void trap_gate_free(struct trap_gate *g) { free(g); }

// ---- the stop timer -----------------------------------------------------------------
// A time budget that costs the guest nothing while it runs. Unicorn's own (uc_emu_start's
// `timeout`) is a thread that wakes every 2 us to look at the clock for as long as the
// guest runs: measured, 35 ms of a boot with an idle second core and 100-160 ms with
// both cores busy. This thread sleeps until the deadline, then calls uc_emu_stop. Once
// expired it stops the engine again every millisecond until disarmed, so a run started
// after the deadline (between two uc_emu_start, Unicorn clears a stop request made
// while no run was under way) is stopped too; the host also checks `expired` before it
// starts one.
struct stop_timer {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  void *uc;
  emu_stop_fn stop;
  struct timespec deadline;
  int armed, quit;
  int once; // after it fires, disarm instead of stopping again every millisecond
  volatile int32_t expired; // read by the host without the lock
};

static void *stop_timer_main(void *arg) {
  struct stop_timer *t = arg;
  pthread_mutex_lock(&t->lock);
  while (!t->quit) {
    if (!t->armed) {
      pthread_cond_wait(&t->wake, &t->lock);
      continue;
    }
    struct timespec until = t->deadline;
    if (t->expired) {
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_nsec += 1000000;
      if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
    }
    int rc = pthread_cond_timedwait(&t->wake, &t->lock, &until);
    if (rc == ETIMEDOUT && t->armed && !t->quit) {
      t->expired = 1;
      t->stop(t->uc);
      if (t->once) t->armed = 0;
    }
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

// A disarmed timer for engine `uc`, stopping it with `stop` (uc_emu_stop); NULL on failure.
struct stop_timer *stop_timer_new(void *uc, void *stop) {
  struct stop_timer *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&t->wake, &attr);
  pthread_condattr_destroy(&attr);
  pthread_mutex_init(&t->lock, NULL);
  t->uc = uc;
  t->stop = (emu_stop_fn)stop;
  if (pthread_create(&t->thread, NULL, stop_timer_main, t) != 0) {
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
    return NULL;
  }
  return t;
}

// Arms the timer to stop the engine `us` microseconds from now.
void stop_timer_arm(struct stop_timer *t, double us) {
  pthread_mutex_lock(&t->lock);
  clock_gettime(CLOCK_MONOTONIC, &t->deadline);
  int64_t ns = t->deadline.tv_nsec + (int64_t)(us * 1000.0);
  t->deadline.tv_sec += ns / 1000000000;
  t->deadline.tv_nsec = ns % 1000000000;
  t->armed = 1;
  t->expired = 0;
  pthread_cond_signal(&t->wake);
  pthread_mutex_unlock(&t->lock);
}

void stop_timer_disarm(struct stop_timer *t) {
  pthread_mutex_lock(&t->lock);
  t->armed = 0;
  t->expired = 0;
  pthread_cond_signal(&t->wake);
  pthread_mutex_unlock(&t->lock);
}

// 1 once the armed deadline has passed (and the engine was told to stop), until disarmed.
int32_t stop_timer_expired(struct stop_timer *t) { return t->expired; }

// Ends the thread; afterwards the engine may be closed.
void stop_timer_free(struct stop_timer *t) {
  pthread_mutex_lock(&t->lock);
  t->quit = 1;
  pthread_cond_signal(&t->wake);
  pthread_mutex_unlock(&t->lock);
  pthread_join(t->thread, NULL);
  pthread_cond_destroy(&t->wake);
  pthread_mutex_destroy(&t->lock);
  free(t);
}

// ---- transparent huge pages for guest RAM --------------------------------------------
// Guest RAM is a WASM memory (or an ArrayBuffer) that Node maps lazily, 4 KiB per first
// touch; where the kernel's THP setting is "madvise" (Debian's default), this asks for
// 2 MiB pages over the 2 MiB-aligned part of [p, p + len): a boot then takes about a
// third of the page faults. Returns madvise's result (0, or -1 with errno), 1 if the
// range holds no aligned 2 MiB.
int ram_hugepages(uint8_t *p, uint64_t len) {
  const uintptr_t huge = 2u << 20;
  uintptr_t from = ((uintptr_t)p + huge - 1) & ~(huge - 1);
  uintptr_t to = ((uintptr_t)p + len) & ~(huge - 1);
  if (to <= from) return 1;
  return madvise((void *)from, to - from, MADV_HUGEPAGE);
}

// ---- the host's TSC ------------------------------------------------------------------
// Unicorn's RDTSC returns the host's counter; reading it here, without an engine, lets
// host/unicorn/tsc.ts measure its rate while a guest runs.
uint64_t host_rdtsc(void) { return __builtin_ia32_rdtsc(); }

// ---- AArch64: system registers the host emulates -------------------------------------
// A UC_HOOK_INSN callback for MRS and MSR (uc_cb_insn_sys_t). Unicorn calls it for every
// MRS and MSR the guest runs, and Linux reads TPIDR_EL1 and DAIF all the time: a JS
// callback for each would cost a koffi round trip. Only the registers in `keys` (op0,
// op1, CRn, CRm, op2 packed by sys_key) reach the JS handler, which emulates the access
// and returns 1 (Unicorn then skips the instruction; for an MRS the handler has written
// the destination register). The cp_reg struct is unicorn/arm64.h's uc_arm64_cp_reg.
struct cp_reg {
  uint32_t crn, crm, op0, op1, op2;
  uint64_t val;
};
typedef uint32_t (*sys_fn)(int32_t reg, uint32_t key, uint64_t val);

enum { SYS_FILTER_MAX = 16 };
struct sys_filter {
  sys_fn handler;
  int32_t count;
  uint32_t keys[SYS_FILTER_MAX];
};

static uint32_t sys_key(const struct cp_reg *c) { return c->op0 << 16 | c->op1 << 12 | c->crn << 8 | c->crm << 4 | c->op2; }

uint32_t sys_filter_hook(void *uc, int32_t reg, const struct cp_reg *cp, struct sys_filter *f) {
  (void)uc;
  uint32_t key = sys_key(cp);
  for (int i = 0; i < f->count; i++)
    if (f->keys[i] == key) return f->handler(reg, key, cp->val);
  return 0;
}

struct sys_filter *sys_filter_new(void *handler, const uint32_t *keys, int32_t count) {
  if (count > SYS_FILTER_MAX) return NULL;
  struct sys_filter *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->handler = (sys_fn)handler;
  f->count = count;
  for (int i = 0; i < count; i++) f->keys[i] = keys[i];
  return f;
}

void sys_filter_free(struct sys_filter *f) { free(f); }

// ---- AArch64: the CPU's IRQ input --------------------------------------------------
// QEMU takes an IRQ exception itself when CPU_INTERRUPT_HARD is requested and PSTATE.I
// is clear (arm_cpu_exec_interrupt: ELR_EL1, SPSR_EL1, the vector at VBAR_EL1 + 0x280
// or + 0x480 from EL0), and Unicorn keeps that path: only synchronous exceptions go to
// UC_HOOK_INTR. The host drives the request through QEMU's own functions, which
// libunicorn exports: the request handler (a variable holding tcg_handle_interrupt),
// cpu_exit (so that the running chain of translation blocks ends and the request is
// looked at), cpu_reset_interrupt. With I set, QEMU holds the request until the guest
// clears it (an MSR DAIFClr ends its translation block) or a WFI, which then does not wait.
//
// Where the exit is requested matters. Unicorn 2.1.1 checks for a pending exit after
// every guest load and store, not only at a block's start (tcg/tcg-op.c:
// tcg_gen_qemu_ld/st end in check_exit_request), and an exit taken there puts PC back
// at the start of the block (accel/tcg/cpu-exec.c cpu_tb_exec: TB_EXIT_REQUESTED,
// synchronize_from_tb): everything the block did up to that access runs again. A
// cpu_exit from another thread, or from an MMIO callback, re-ran loads (the GIC's
// acknowledge was read twice: the first interrupt was never ended, and no other came)
// and stores with writeback (the kernel's stack, once timer interrupts did come). So a
// raised line is only marked pending here, and a native block hook requests the
// interrupt and the exit at the start of the next block, before its first instruction
// and before the block's own exit check: going back to the block's start is then exact.
typedef void (*irq_fn)(void *cpu, int mask);
typedef void (*cpu_fn)(void *cpu);
enum { CPU_INTERRUPT_HARD = 0x0002 };

struct irq_gate {
  irq_fn *request;
  cpu_fn cpu_exit;
  irq_fn reset;
  void *cpu;
  int32_t pending;
  reg_write_fn write; // uc_reg_write, when the PC is to be set from the hook (irq_gate_sync_pc)
  int pc_id;
};

struct irq_gate *irq_gate_new(void *request, void *cpu_exit, void *reset, void *cpu) {
  struct irq_gate *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->request = request;
  g->cpu_exit = (cpu_fn)cpu_exit;
  g->reset = (irq_fn)reset;
  g->cpu = cpu;
  return g;
}

void irq_gate_free(struct irq_gate *g) { free(g); }

// With a UC_HOOK_CODE hook anywhere in the engine, Unicorn 2.1.1 does not put the PC
// back at the block's start when it leaves a block at an exit request
// (accel/tcg/cpu-exec.c cpu_tb_exec skips synchronize_from_tb), so the interrupt would
// be taken with the PC of some earlier instruction. The gate then writes it itself:
// the block's address is exactly where the guest stands (uc_reg_write of the PC also
// marks the exit as one whose PC the user has set).
void irq_gate_sync_pc(struct irq_gate *g, void *write, int32_t pc_id) {
  g->write = (reg_write_fn)write;
  g->pc_id = pc_id;
}

// UC_HOOK_BLOCK over every address: a pending raise becomes the CPU's request here.
void irq_gate_block(void *uc, uint64_t address, uint32_t size, struct irq_gate *g) {
  (void)size;
  if (__atomic_load_n(&g->pending, __ATOMIC_ACQUIRE) && __atomic_exchange_n(&g->pending, 0, __ATOMIC_ACQ_REL)) {
    if (g->write) g->write(uc, g->pc_id, &address);
    (*g->request)(g->cpu, CPU_INTERRUPT_HARD);
    g->cpu_exit(g->cpu);
  }
}

// The line from the host's interrupt controller: raised, pending until the next block
// starts; lowered, no longer pending nor requested (safe at any point: no exit).
void irq_gate_line(struct irq_gate *g, int32_t level) {
  if (level) {
    __atomic_store_n(&g->pending, 1, __ATOMIC_RELEASE);
  } else {
    __atomic_store_n(&g->pending, 0, __ATOMIC_RELEASE);
    g->reset(g->cpu, CPU_INTERRUPT_HARD);
  }
}

// An IRQ timer: a stop timer (set to fire once) whose action raises the gate's line at
// the deadline from its own thread, so that a timer interrupt arrives while the guest
// runs without stopping the run. (Stopping it with uc_emu_stop and starting it again at
// PC corrupted an arm64 Linux boot: the same rewound block as above.)
static int irq_gate_fire(void *arg) {
  struct irq_gate *g = arg;
  __atomic_store_n(&g->pending, 1, __ATOMIC_RELEASE);
  return 0;
}

struct stop_timer *irq_timer_new(struct irq_gate *g) {
  struct stop_timer *t = stop_timer_new(g, (void *)irq_gate_fire);
  if (!t) return NULL;
  t->once = 1;
  return t;
}

// ---- x86: SERIALIZE at its #UD ------------------------------------------------------
// Linux's sync_core() runs a SERIALIZE after patching its own code (a thousand and more
// in a boot), which Unicorn's CPU model lacks: each comes to the interrupt hook as #UD,
// where the host steps over it (host/x86/cpu.ts; nothing to wait for in an in-order CPU,
// and the code-page tracker below has already seen the patch). Through koffi that costs
// ~5 us each; this gate does it natively for the one place the host has last decoded a
// SERIALIZE at (same RIP, same CR3, and the same three bytes still at the physical
// address it found them), and hands every other exception to the host as the interrupt
// hook would.
typedef void (*reset_dirty_fn)(void *cpu, void *start, size_t length);
typedef void (*intr_fn)(uint32_t intno);
static const uint8_t SERIALIZE_BYTES[3] = {0x0f, 0x01, 0xe8};

struct ud_gate {
  reg_read_batch_fn read_batch;
  reg_write_fn write;
  intr_fn on_other;
  uint8_t *ram;
  uint64_t ram_size;
  int ids[2]; // RIP, CR3
  uint64_t rip, cr3, phys;
  int known;
  uint64_t count; // SERIALIZEs run here
};

struct ud_gate *ud_gate_new(void *read_batch, void *write, void *on_other, uint8_t *ram, uint64_t ram_size, int32_t rip_id, int32_t cr3_id) {
  struct ud_gate *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->read_batch = (reg_read_batch_fn)read_batch;
  g->write = (reg_write_fn)write;
  g->on_other = (intr_fn)on_other;
  g->ram = ram;
  g->ram_size = ram_size;
  g->ids[0] = rip_id;
  g->ids[1] = cr3_id;
  return g;
}

void ud_gate_free(struct ud_gate *g) { free(g); }

// The host decoded a SERIALIZE at rip under cr3, its bytes at guest-physical phys.
void ud_gate_learn(struct ud_gate *g, uint64_t rip, uint64_t cr3, uint64_t phys) {
  g->rip = rip;
  g->cr3 = cr3;
  g->phys = phys;
  g->known = phys + sizeof SERIALIZE_BYTES <= g->ram_size;
}

uint64_t ud_gate_count(struct ud_gate *g) { return g->count; }

enum { EXCP_UD = 6 };

void ud_gate_intr(void *uc, uint32_t intno, struct ud_gate *g) {
  if (intno == EXCP_UD && g->known) {
    uint64_t rip = 0, cr3 = 0;
    void *vals[2] = {&rip, &cr3};
    g->read_batch(uc, g->ids, vals, 2);
    const uint8_t *at = g->ram + g->phys;
    if (rip == g->rip && cr3 == g->cr3 && at[0] == SERIALIZE_BYTES[0] && at[1] == SERIALIZE_BYTES[1] && at[2] == SERIALIZE_BYTES[2]) {
      rip += sizeof SERIALIZE_BYTES;
      g->write(uc, g->ids[0], &rip);
      g->count++;
      return;
    }
  }
  g->on_other(intno);
}

// ---- AArch64: EFI calls through HVC ------------------------------------------------------
// A thunk is `hvc #id ; ret` (firmware/arch.ts); Unicorn hands the HVC to UC_HOOK_INTR
// with PC past it. This gate serves what x86's trap gate does for `out`: for an HVC from
// the thunk page it reads X0-X7 and SP into the firmware's argument block natively, has
// the host serve the call, and loads X0 from the STATUS slot; every other exception (the
// sentinel's HVC, PSCI, the OS's own) goes to the host as the interrupt hook would.
typedef void (*call_fn)(uint32_t id);

enum { HVC_MAX_REGS = 12 };

struct hvc_gate {
  reg_read_batch_fn read_batch;
  reg_write_fn write;
  call_fn on_call;
  intr_fn on_other;
  uint32_t excp_hvc;
  uint64_t thunks, thunks_end, thunk_size;
  int pc_id;
  int count;
  int ids[HVC_MAX_REGS];
  void *vals[HVC_MAX_REGS];
  int result_id;
  void *result;
};

void hvc_gate_intr(void *uc, uint32_t intno, struct hvc_gate *g) {
  if (intno == g->excp_hvc) {
    uint64_t pc = 0;
    int id = g->pc_id;
    void *p = &pc;
    g->read_batch(uc, &id, &p, 1);
    uint64_t at = pc - 4; // PC is past the HVC
    if (at >= g->thunks && at < g->thunks_end && (at - g->thunks) % g->thunk_size == 0) {
      g->read_batch(uc, g->ids, g->vals, g->count);
      g->on_call((uint32_t)((at - g->thunks) / g->thunk_size));
      g->write(uc, g->result_id, g->result);
      return;
    }
  }
  g->on_other(intno);
}

struct hvc_gate *hvc_gate_new(void *read_batch, void *write, void *on_call, void *on_other, uint32_t excp_hvc,
                              uint64_t thunks, uint64_t thunks_end, uint64_t thunk_size, int32_t pc_id,
                              const int32_t *ids, const uint32_t *offsets, int32_t count, uint8_t *base,
                              int32_t result_id, uint32_t result_offset) {
  if (count < 0 || count > HVC_MAX_REGS || !thunk_size) return NULL;
  struct hvc_gate *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->read_batch = (reg_read_batch_fn)read_batch;
  g->write = (reg_write_fn)write;
  g->on_call = (call_fn)on_call;
  g->on_other = (intr_fn)on_other;
  g->excp_hvc = excp_hvc;
  g->thunks = thunks;
  g->thunks_end = thunks_end;
  g->thunk_size = thunk_size;
  g->pc_id = pc_id;
  g->count = count;
  reg_block(g->ids, g->vals, ids, offsets, count, base);
  g->result_id = result_id;
  g->result = base + result_offset;
  return g;
}

void hvc_gate_free(struct hvc_gate *g) { free(g); }

// ---- code pages: QEMU's DIRTY_MEMORY_CODE, which Unicorn 2.1.1 stubs out -------------
// QEMU keeps a store to RAM that holds translated code on its slow path (TLB_NOTDIRTY)
// for as long as the page holds any: tlb_protect_code (a page's first TB) arms every TLB
// entry that maps the page, notdirty_write invalidates the TBs a store overlaps, and it
// disarms the store's entry only once tlb_unprotect_code says the page has none left.
// Unicorn 2.1.1 stubs the bitmap behind those calls (ram_addr.h: cpu_physical_memory_
// is_clean is always true, test_and_clear_dirty does nothing) and notdirty_write disarms
// the entry after any first store: the next store through that mapping to other code on
// the page takes the fast path, and the old translation runs (a page patched twice
// through one alias, or data written beside code and then the code; tests/smc.test.ts).
//
// libunicorn makes these calls through its PLT (tlb_protect_code, tlb_unprotect_code,
// tb_invalidate_phys_page_fast, tlb_set_dirty, tlb_reset_dirty_by_vaddr; per target, by
// suffix), so the tracker takes them over in the library's GOT and keeps QEMU's promise:
// a bitmap of the ram_addr pages that hold code per engine; protect also arms every entry
// mapping the page (tlb_reset_dirty over its host bytes, as QEMU's
// tlb_reset_dirty_range_all does); set_dirty after a store to a page that still holds
// code keeps the entry armed.
// With that, an entry that maps code is never disarmed, and the re-arm tb_gen_code does
// after each new block (tlb_reset_dirty_by_vaddr over the whole TLB, every MMU mode: 7% of
// an arm64 boot, whose CPU has 12) has nothing to do: skipped for a registered engine.
// Engines not registered here (smc_track) behave as before.
typedef void (*protect_fn)(void *uc, uint64_t ram_addr);
typedef void (*page_fast_fn)(void *uc, void *pages, uint64_t start, int len, uintptr_t retaddr);
typedef void (*set_dirty_fn)(void *cpu, uint64_t vaddr);
typedef void (*reset_by_vaddr_fn)(void *cpu, uint64_t start, uint64_t length);
typedef void *(*map_ram_fn)(void *uc, void *block, uint64_t ram_addr);

struct smc_engine {
  void *uc, *cpu;
  reset_dirty_fn reset_dirty;
  map_ram_fn map_ram;
  uint32_t page_bits;
  uint64_t *bits; // one per ram_addr page that holds code
  uint64_t words;
  uint64_t protects, kept; // pages that gained code, stores kept on the slow path
  int lossy;               // a page could not be recorded: tb_gen_code's re-arm stays
  struct smc_engine *next;
};

static struct smc_engine *smc_engines;
static pthread_mutex_t smc_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int smc_keep_armed; // set by a store's invalidation, read by its set_dirty

static struct smc_engine *smc_find(void *uc) {
  for (struct smc_engine *e = smc_engines; e; e = e->next)
    if (e->uc == uc) return e;
  return NULL;
}

static struct smc_engine *smc_find_cpu(void *cpu) {
  for (struct smc_engine *e = smc_engines; e; e = e->next)
    if (e->cpu == cpu) return e;
  return NULL;
}

static int smc_test(const struct smc_engine *e, uint64_t ram_addr) {
  uint64_t page = ram_addr >> e->page_bits;
  return page / 64 < e->words && (e->bits[page / 64] >> (page % 64) & 1);
}

static void smc_mark(struct smc_engine *e, uint64_t ram_addr, int code) {
  uint64_t page = ram_addr >> e->page_bits, word = page / 64;
  if (word >= e->words) {
    if (!code) return;
    uint64_t words = word + 1 > 2 * e->words ? word + 1 : 2 * e->words;
    uint64_t *bits = realloc(e->bits, words * sizeof *bits);
    if (!bits) {
      e->lossy = 1; // unrecorded: that page's stores behave as in Unicorn
      return;
    }
    memset(bits + e->words, 0, (words - e->words) * sizeof *bits);
    e->bits = bits;
    e->words = words;
  }
  if (code) e->bits[word] |= 1ull << (page % 64);
  else e->bits[word] &= ~(1ull << (page % 64));
}

// One set of wrappers per target: the originals are that target's functions.
#define SMC_TARGET(T)                                                                     \
  static protect_fn T##_protect, T##_unprotect;                                          \
  static page_fast_fn T##_page_fast;                                                      \
  static set_dirty_fn T##_set_dirty;                                                      \
  static reset_by_vaddr_fn T##_reset_by_vaddr;                                            \
  static void T##_protect_hook(void *uc, uint64_t ram_addr) {                             \
    struct smc_engine *e = smc_find(uc);                                                  \
    if (e) {                                                                              \
      uint64_t page = ram_addr & ~((1ull << e->page_bits) - 1);                           \
      smc_mark(e, page, 1);                                                               \
      e->protects++;                                                                      \
      void *host = e->map_ram(uc, NULL, page);                                            \
      if (host) e->reset_dirty(e->cpu, host, 1ull << e->page_bits);                       \
    }                                                                                     \
    T##_protect(uc, ram_addr);                                                            \
  }                                                                                       \
  static void T##_unprotect_hook(void *uc, uint64_t ram_addr) {                           \
    struct smc_engine *e = smc_find(uc);                                                  \
    if (e) smc_mark(e, ram_addr, 0);                                                      \
    T##_unprotect(uc, ram_addr);                                                          \
  }                                                                                       \
  static void T##_page_fast_hook(void *uc, void *pages, uint64_t start, int len, uintptr_t ra) { \
    smc_keep_armed = 0;                                                                   \
    T##_page_fast(uc, pages, start, len, ra); /* may longjmp: the store runs again */     \
    struct smc_engine *e = smc_find(uc);                                                  \
    if (e && smc_test(e, start)) {                                                        \
      smc_keep_armed = 1;                                                                 \
      e->kept++;                                                                          \
    }                                                                                     \
  }                                                                                       \
  static void T##_set_dirty_hook(void *cpu, uint64_t vaddr) {                             \
    if (smc_keep_armed) {                                                                 \
      smc_keep_armed = 0;                                                                 \
      return;                                                                             \
    }                                                                                     \
    T##_set_dirty(cpu, vaddr);                                                            \
  }                                                                                       \
  static void T##_reset_by_vaddr_hook(void *cpu, uint64_t start, uint64_t length) {       \
    struct smc_engine *e = smc_find_cpu(cpu);                                             \
    if (!e || e->lossy) T##_reset_by_vaddr(cpu, start, length);                           \
  }
SMC_TARGET(x86_64)
SMC_TARGET(aarch64)

// The GOT slots of `lib` (the loaded object holding address `in_lib`) that the dynamic
// linker bound to symbol `name`: each is set to `to`, the bound address goes to *was.
struct got_find {
  uintptr_t in_lib;
  const char *name;
  void *to, **was;
  int patched;
};

static uintptr_t dyn_ptr(uintptr_t base, uintptr_t v) { return v < base ? base + v : v; } // glibc relocates .dynamic in place; others do not

static void got_set(const struct dl_phdr_info *info, uintptr_t slot, struct got_find *f) {
  int relro = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *p = &info->dlpi_phdr[i];
    uintptr_t a = info->dlpi_addr + p->p_vaddr;
    if (p->p_type == PT_GNU_RELRO && slot >= a && slot < a + p->p_memsz) relro = 1;
  }
  uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), page = slot & ~(ps - 1);
  if (relro && mprotect((void *)page, ps, PROT_READ | PROT_WRITE) != 0) return;
  if (!*f->was) *f->was = *(void **)slot;
  *(void **)slot = f->to;
  if (relro) mprotect((void *)page, ps, PROT_READ);
  f->patched++;
}

static int got_visit(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct got_find *f = arg;
  const ElfW(Dyn) *dyn = NULL;
  int holds = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *p = &info->dlpi_phdr[i];
    uintptr_t a = info->dlpi_addr + p->p_vaddr;
    if (p->p_type == PT_LOAD && f->in_lib >= a && f->in_lib < a + p->p_memsz) holds = 1;
    if (p->p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)a;
  }
  if (!holds || !dyn) return 0;
  uintptr_t base = info->dlpi_addr, symtab = 0, strtab = 0, rela[2] = {0, 0}, relasz[2] = {0, 0};
  for (; dyn->d_tag != DT_NULL; dyn++) {
    switch (dyn->d_tag) {
    case DT_SYMTAB: symtab = dyn_ptr(base, dyn->d_un.d_ptr); break;
    case DT_STRTAB: strtab = dyn_ptr(base, dyn->d_un.d_ptr); break;
    case DT_JMPREL: rela[0] = dyn_ptr(base, dyn->d_un.d_ptr); break;
    case DT_PLTRELSZ: relasz[0] = dyn->d_un.d_val; break;
    case DT_RELA: rela[1] = dyn_ptr(base, dyn->d_un.d_ptr); break;
    case DT_RELASZ: relasz[1] = dyn->d_un.d_val; break;
    }
  }
  if (!symtab || !strtab) return 1;
  // The PLT's own relocations first (a few thousand); the rest (hundreds of thousands,
  // nearly all RELATIVE) only for a library that calls through the GOT without a PLT.
  for (int t = 0; t < 2 && !f->patched; t++) {
    const ElfW(Rela) *r = (const ElfW(Rela) *)rela[t];
    for (size_t i = 0; r && i < relasz[t] / sizeof *r; i++) {
      uint32_t type = ELF64_R_TYPE(r[i].r_info), sym = ELF64_R_SYM(r[i].r_info);
#if defined(__x86_64__)
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
#elif defined(__aarch64__)
      if (type != R_AARCH64_JUMP_SLOT && type != R_AARCH64_GLOB_DAT) continue;
#endif
      const ElfW(Sym) *s = (const ElfW(Sym) *)symtab + sym;
      if (strcmp((const char *)strtab + s->st_name, f->name) == 0) got_set(info, base + r[i].r_offset, f);
    }
  }
  return 1;
}

static int got_patch(uintptr_t in_lib, const char *name, void *to, void **was) {
  struct got_find f = {in_lib, name, to, was, 0};
  dl_iterate_phdr(got_visit, &f);
  return f.patched;
}

static int smc_install(uintptr_t in_lib, const char *target) {
  struct {
    const char *fn;
    void *to, **was;
  } x86[] = {
      {"tlb_protect_code_x86_64", (void *)x86_64_protect_hook, (void **)&x86_64_protect},
      {"tlb_unprotect_code_x86_64", (void *)x86_64_unprotect_hook, (void **)&x86_64_unprotect},
      {"tb_invalidate_phys_page_fast_x86_64", (void *)x86_64_page_fast_hook, (void **)&x86_64_page_fast},
      {"tlb_set_dirty_x86_64", (void *)x86_64_set_dirty_hook, (void **)&x86_64_set_dirty},
      {"tlb_reset_dirty_by_vaddr_x86_64", (void *)x86_64_reset_by_vaddr_hook, (void **)&x86_64_reset_by_vaddr},
  },
    a64[] = {
        {"tlb_protect_code_aarch64", (void *)aarch64_protect_hook, (void **)&aarch64_protect},
        {"tlb_unprotect_code_aarch64", (void *)aarch64_unprotect_hook, (void **)&aarch64_unprotect},
        {"tb_invalidate_phys_page_fast_aarch64", (void *)aarch64_page_fast_hook, (void **)&aarch64_page_fast},
        {"tlb_set_dirty_aarch64", (void *)aarch64_set_dirty_hook, (void **)&aarch64_set_dirty},
        {"tlb_reset_dirty_by_vaddr_aarch64", (void *)aarch64_reset_by_vaddr_hook, (void **)&aarch64_reset_by_vaddr},
    },
    *set = strcmp(target, "x86_64") == 0 ? x86 : strcmp(target, "aarch64") == 0 ? a64 : NULL;
  if (!set) return 0;
  if (*set[0].was) return 1; // this target's slots are ours already
  for (int i = 0; i < 5; i++)
    if (!got_patch(in_lib, set[i].fn, set[i].to, set[i].was)) {
      // All or none: put back any taken (a library built otherwise keeps its own behaviour).
      for (int j = 0; j < i; j++) {
        void *orig = *set[j].was, *none = NULL;
        got_patch(in_lib, set[j].fn, orig, &none);
        *set[j].was = NULL;
      }
      return 0;
    }
  return 1;
}

// Registers engine uc (target "x86_64" or "aarch64", its CPU, its page size) with the
// tracker, taking over the target's GOT slots the first time. in_lib is any address in
// libunicorn; reset_dirty and map_ram are its tlb_reset_dirty and qemu_map_ram_ptr for
// the target. Returns 1, or 0 where the library does not make those calls through its
// GOT (then nothing changed).
int32_t smc_track(void *uc, const char *target, uintptr_t in_lib, void *cpu, void *reset_dirty, void *map_ram, uint32_t page_bits) {
  pthread_mutex_lock(&smc_lock);
  int ok = smc_install(in_lib, target);
  struct smc_engine *e = ok ? calloc(1, sizeof *e) : NULL;
  if (e) {
    e->uc = uc;
    e->cpu = cpu;
    e->reset_dirty = (reset_dirty_fn)reset_dirty;
    e->map_ram = (map_ram_fn)map_ram;
    e->page_bits = page_bits;
    e->next = smc_engines;
    smc_engines = e;
  }
  pthread_mutex_unlock(&smc_lock);
  return e != NULL;
}

// Before uc_close: a later engine may get the same address.
void smc_untrack(void *uc) {
  pthread_mutex_lock(&smc_lock);
  for (struct smc_engine **p = &smc_engines; *p; p = &(*p)->next)
    if ((*p)->uc == uc) {
      struct smc_engine *e = *p;
      *p = e->next;
      free(e->bits);
      free(e);
      break;
    }
  pthread_mutex_unlock(&smc_lock);
}

// Pages that gained code, and stores kept on the slow path because their page holds code.
uint64_t smc_stat(void *uc, int32_t which) {
  struct smc_engine *e = smc_find(uc);
  return !e ? 0 : which == 0 ? e->protects : e->kept;
}

// ---- the size of a heap block --------------------------------------------------------
// For reading an engine's uc_struct (calloc'd by uc_open) no further than it reaches,
// where a quirk is found by experiment (host/unicorn/quirks.ts probeTargetBits).
uint64_t heap_block_size(void *p) { return malloc_usable_size(p); }

// ---- loading libunicorn early ----------------------------------------------------------
// dlopen on a thread of its own (host/unicorn/library.ts preloadUnicorn): the handle is
// kept, so the library stays loaded, and a later dlopen of the same path only counts it.
#include <dlfcn.h>

static void *preload_main(void *path) {
  dlopen(path, RTLD_NOW | RTLD_LOCAL);
  free(path);
  return NULL;
}

int32_t preload_library(const char *path) {
  char *copy = strdup(path);
  pthread_t t;
  if (!copy || pthread_create(&t, NULL, preload_main, copy) != 0) {
    free(copy);
    return 0;
  }
  pthread_detach(t);
  return 1;
}
