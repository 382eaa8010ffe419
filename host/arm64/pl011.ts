// The Arm PrimeCell UART PL011 (ARM DDI 0183G), as much as Linux's amba-pl011 driver and
// its earlycon use: the data and flag registers, the interrupt mask, raw and masked
// status and clear, and the identification registers its AMBA bus probe matches. The
// FIFO never fills: each byte written is sent at once, so TXFF never reads set and the
// transmit interrupt is raised by every write, as QEMU's model does.

const DR = 0x000, FR = 0x018, IBRD = 0x024, FBRD = 0x028, LCR_H = 0x02c, CR = 0x030, IFLS = 0x034;
const IMSC = 0x038, RIS = 0x03c, MIS = 0x040, ICR = 0x044, DMACR = 0x048;
const FR_RXFE = 1 << 4, FR_TXFE = 1 << 7;
export const INT_RX = 1 << 4, INT_TX = 1 << 5;
/** PeriphID0-3 and PCellID0-3 at 0xfe0-0xffc: PL011 revision r1p5, the PrimeCell signature. */
const ID = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

export class Pl011 {
  private readonly regs = new Map<number, number>([[CR, 0x300], [IFLS, 0x12]]);
  private raw = 0;
  private mask = 0;
  private readonly rx: number[] = [];
  private line: number[] = [];

  constructor(private readonly out: { onLine: (line: string) => void; onByte?: (b: number) => void; onIrq?: () => void }) {}

  /** The interrupt line: a raw interrupt that is not masked. */
  get level(): boolean {
    return (this.raw & this.mask) !== 0;
  }

  read(offset: number): number {
    switch (offset) {
      case DR: {
        const b = this.rx.shift() ?? 0;
        // The last byte read lowers the receive interrupt: the line must follow at once,
        // or the GIC keeps signalling an interrupt whose status (MIS) reads 0, and Linux
        // disables the UART's IRQ as one nobody cared about.
        if (!this.rx.length && this.raw & INT_RX) {
          this.raw &= ~INT_RX;
          this.out.onIrq?.();
        }
        return b;
      }
      case FR: return FR_TXFE | (this.rx.length ? 0 : FR_RXFE);
      case IMSC: return this.mask;
      case RIS: return this.raw;
      case MIS: return this.raw & this.mask;
      default:
        if (offset >= 0xfe0 && offset < 0x1000) return ID[(offset - 0xfe0) >> 2];
        return this.regs.get(offset) ?? 0;
    }
  }

  write(offset: number, value: number): void {
    switch (offset) {
      case DR: return this.transmit(value & 0xff);
      case IMSC: this.mask = value & 0x7ff; break;
      case ICR: this.raw &= ~value; break;
      case IBRD: case FBRD: case LCR_H: case CR: case IFLS: case DMACR: this.regs.set(offset, value); break;
      default: return;
    }
    this.out.onIrq?.();
  }

  /** Bytes typed at the console: received, with the receive interrupt raised. */
  input(bytes: Iterable<number>): void {
    for (const b of bytes) this.rx.push(b);
    if (this.rx.length) this.raw |= INT_RX;
    this.out.onIrq?.();
  }

  private transmit(b: number): void {
    this.out.onByte?.(b);
    if (b === 0x0a) {
      const text = Buffer.from(this.line).toString("latin1");
      this.line = [];
      this.out.onLine(text);
    } else if (b !== 0x0d) this.line.push(b);
    this.raw |= INT_TX;
    this.out.onIrq?.();
  }
}
