// The AArch64 platform's devices wired to the CPU, as host/x86/pc.ts wires a PC's: the
// GICv2 (distributor and CPU interface as MMIO) driving the CPU's IRQ input through QEMU's
// own request functions, the generic timer's EL1 registers (MRS/MSR, filtered natively so
// that only those reach JS) with its interrupt raised by a native thread at its deadline,
// and the PL011 as the serial console. Where each sits and the device tree that says so:
// platform.ts. A new device adds its file, its node there and its mapping here.
import type { Unicorn } from "../unicorn/index.ts";
import { Gic } from "./gic.ts";
import { GenericTimer, TIMER_REGS } from "./timer.ts";
import { Pl011 } from "./pl011.ts";
import { GICC_BASE, GICC_SIZE, GICD_BASE, GICD_SIZE, TIMER_PPI, UART_BASE, UART_SIZE, UART_SPI } from "./platform.ts";

/** GIC interrupt ids of the first PPI and the first SPI. */
const PPI_BASE = 16, SPI_BASE = 32;

export class VirtPlatform {
  readonly gic: Gic;
  readonly timer: GenericTimer;
  readonly uart: Pl011;
  /** The CPU's IRQ input as last set. */
  irqLine = false;

  constructor(private readonly uc: Unicorn, onLine: (line: string) => void) {
    // The IRQ gate's block hook must be in every translated block: made before any runs.
    uc.setIrqLine(false);
    const gic = (this.gic = new Gic(() => this.updateIrq()));
    const timer = (this.timer = new GenericTimer());
    uc.mmioMap(GICD_BASE, GICD_SIZE, (off, size) => BigInt(gic.readDist(Number(off), size)), (off, size, v) => gic.writeDist(Number(off), size, Number(v & 0xffff_ffffn)));
    // The timer's line is looked at when the CPU interface is read (the IRQ timer raised
    // the CPU's input without telling the GIC), and the input set from the answer: a
    // spurious acknowledge lowers it.
    uc.mmioMap(GICC_BASE, GICC_SIZE, (off) => {
      this.pollTimer();
      const v = gic.readCpu(Number(off));
      this.updateIrq();
      return BigInt(v);
    }, (off, _size, v) => gic.writeCpu(Number(off), Number(v & 0xffff_ffffn)));
    uc.hookSysRegs(TIMER_REGS, (rt, key, value, write) => {
      if (write) timer.write(key, value);
      else uc.regWrite(rt, timer.read(key));
      this.pollTimer();
      if (write) this.armTimerIrq();
      return true;
    });
    const uart = (this.uart = new Pl011({ onIrq: () => gic.setLine(SPI_BASE + UART_SPI, uart.level), onLine }));
    uc.mmioMap(UART_BASE, UART_SIZE, (off) => BigInt(uart.read(Number(off))), (off, _size, v) => uart.write(Number(off), Number(v & 0xffff_ffffn)));
  }

  /** The timer's lines into the GIC, as they are now. */
  pollTimer(): void {
    const l = this.timer.levels();
    this.gic.setLine(PPI_BASE + TIMER_PPI.virtual, l.virtual);
    this.gic.setLine(PPI_BASE + TIMER_PPI.physical, l.physical);
  }

  /**
   * The CPU's IRQ input follows the GIC's output (QEMU takes the exception when the CPU
   * may). Set every time, not on changes only: the IRQ timer raises it behind our back.
   */
  private updateIrq(): void {
    this.irqLine = this.gic.irq;
    this.uc.setIrqLine(this.irqLine);
  }

  /**
   * The generic timer's interrupt while the guest runs: a native thread raises the CPU's
   * IRQ input when the timer's line is due to rise (Unicorn.raiseIrqIn). When the guest
   * takes it, its handler reads GICC_IAR, where the GIC, polling the timer, names it.
   */
  private armTimerIrq(): void {
    const rise = this.timer.nextRiseNs();
    this.uc.raiseIrqIn(rise === undefined ? undefined : Math.max(Number(rise - process.hrtime.bigint()) / 1000, 0));
  }
}
