/*
 * init.c - PID 1 for the kernel boots: the first userspace program, run by the
 * Debian kernel from the initrd (built into build/guests/linux/initrd.cpio with
 * /dev/console). It proves the emulated machine runs userspace: system calls
 * through SYSCALL (which the host performs, Unicorn leaving it to a hook), page
 * faults on fresh anonymous memory that need the write bit of their error code,
 * and a clean restart through the kernel's reboot path.
 *
 * Prints "init: hello from userspace, pid 1, 65536 bytes of fresh memory sum to N"
 * on the console (ttyS0); then "init: getrandom gave 16 bytes" if the kernel's CRNG
 * is ready (seeded by the firmware's EFI_RNG_PROTOCOL, say), or "init: getrandom would
 * block" if a blocking getrandom() would wait for entropy (asked with GRND_NONBLOCK, so
 * that the boot always ends); then reboot(LINUX_REBOOT_CMD_RESTART), or, with the word "poweroff" on the kernel's command
 * line (which the kernel passes on as an argument to init),
 * reboot(LINUX_REBOOT_CMD_POWER_OFF): what `poweroff -f` does. With "echo" on the
 * command line it first reads lines from the console and prints each back ("init: you
 * typed: ..."), until "bye" or the end of input: a console to type into.
 * Built for x86-64 and for AArch64 (build/guests/linux/aa64/init). Linux x86-64 system
 * call ABI: number in RAX, arguments in RDI, RSI, RDX; SYSCALL clobbers RCX and R11.
 * AArch64: number in X8, arguments and result in X0-X2, through SVC #0; its numbers are
 * the generic table's (include/uapi/asm-generic/unistd.h).
 */
#if defined(__aarch64__)
#define SYS_read 63
#define SYS_write 64
#define SYS_ioctl 29
#define SYS_getpid 172
#define SYS_reboot 142
#define SYS_getrandom 278
#else
#define SYS_read 0
#define SYS_write 1
#define SYS_ioctl 16
#define SYS_getpid 39
#define SYS_reboot 169
#define SYS_getrandom 318
#endif
#define TCSBRK 0x5409
#define GRND_NONBLOCK 1
#define EAGAIN 11
#define LINUX_REBOOT_MAGIC1 0xfee1dead
#define LINUX_REBOOT_MAGIC2 672274793
#define LINUX_REBOOT_CMD_RESTART 0x01234567
#define LINUX_REBOOT_CMD_POWER_OFF 0x4321fedc

static long sys3(long n, long a, long b, long c) {
#if defined(__aarch64__)
  register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
#else
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
#endif
}

/* .bss: the kernel maps it on demand, page by page, as it is first written. */
static volatile unsigned char fresh[65536];

static unsigned long len(const char *s) {
  unsigned long n = 0;
  while (s[n]) n++;
  return n;
}

static void put(const char *s) { sys3(SYS_write, 1, (long)s, (long)len(s)); }

static void put_number(unsigned long v) {
  char buf[24];
  int i = sizeof buf - 1;
  buf[i] = 0;
  do buf[--i] = (char)('0' + v % 10); while ((v /= 10) && i > 0);
  put(buf + i);
}

/* The process starts with the stack pointer at argc, then argv[], NULL, envp[] (the
   System V ABI's initial stack): hand that to main with the stack 16-byte aligned. */
#if defined(__aarch64__)
__asm__(".globl _start\n_start:\n  mov x0, sp\n  and sp, x0, #-16\n  bl main\n  udf #0\n");
#else
__asm__(".globl _start\n_start:\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call main\n  ud2\n");
#endif

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

void main(long *stack) {
  long argc = stack[0];
  char **argv = (char **)(stack + 1);
  int poweroff = 0, echo = 0;
  for (long i = 1; i < argc; i++) {
    poweroff |= same(argv[i], "poweroff");
    echo |= same(argv[i], "echo");
  }
  for (unsigned long i = 0; i < sizeof fresh; i++) fresh[i] = (unsigned char)i;
  unsigned long sum = 0;
  for (unsigned long i = 0; i < sizeof fresh; i++) sum += fresh[i];
  put("init: hello from userspace, pid ");
  put_number((unsigned long)sys3(SYS_getpid, 0, 0, 0));
  put(", ");
  put_number(sizeof fresh);
  put(" bytes of fresh memory sum to ");
  put_number(sum);
  put("\n");
  unsigned char random[16];
  long got = sys3(SYS_getrandom, (long)random, sizeof random, GRND_NONBLOCK);
  if (got == -EAGAIN) {
    put("init: getrandom would block\n");
  } else {
    put("init: getrandom gave ");
    put_number(got < 0 ? 0 : (unsigned long)got);
    put(" bytes\n");
  }
  if (echo) {
    /* A console to type into: each line read back, until "bye" or the end of input. */
    put("init: type a line (bye to end)\n");
    char line[256];
    unsigned long n = 0;
    for (;;) {
      char c;
      long got = sys3(SYS_read, 0, (long)&c, 1);
      if (got != 1) {
        put(got == 0 ? "init: end of input\n" : "init: read failed\n");
        break;
      }
      if (c != '\n' && c != '\r' && n < sizeof line - 1) { line[n++] = c; continue; }
      if (c == '\r') continue;
      line[n] = 0;
      put("init: you typed: ");
      put(line);
      put("\n");
      if (same(line, "bye")) break;
      n = 0;
    }
    /* tcdrain: what was written reaches the line before the reboot cuts it off. */
    sys3(SYS_ioctl, 1, TCSBRK, 1);
  }
  sys3(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, poweroff ? LINUX_REBOOT_CMD_POWER_OFF : LINUX_REBOOT_CMD_RESTART);
  for (;;) {}
}
