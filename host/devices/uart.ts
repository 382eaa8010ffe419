// An 8250-family UART, as a 16550A: eight registers at base..base+7, a 16-byte receive
// FIFO, and a transmitter that sends each byte the moment it is written (THRE and TEMT
// are therefore always set). Two guests matter:
//
// - earlyprintk=serial (arch/x86/kernel/early_printk.c): early_serial_init programs
//   LCR, IER, FCR, MCR and the divisor; serial_putc polls LSR bit 5 (THRE) and writes THR.
// - the 8250 driver (drivers/tty/serial/8250/8250_port.c): autoconfig() must find a
//   16550A, so the IER test, the MCR loopback test, IIR bits 7:6 with the FIFO on, the
//   absence of an EFR or 64-byte FIFO, and size_fifo()'s count (16, by loopback) all
//   answer as National's PC16550D does. Its startup then checks that THRE interrupts
//   re-assert when IER.ETBEI is re-enabled (UART_BUG_THRE), which IIR models too.
//
// Bytes from the host's console wait on the line until the receiver has room, as a
// sender held off by hardware flow control would (QEMU's chardev asks
// serial_can_receive likewise): a pasted line or a pipe longer than the FIFO arrives
// whole instead of overrunning it.
//
// Register names are Linux's (include/uapi/linux/serial_reg.h); behaviour follows the
// PC16550D datasheet (National Semiconductor, 1995), with the re-assertion of THRE on
// an IER write taken from QEMU's hw/char/serial.c, which Windows and Linux rely on.

import type { PortDevice } from "./bus.ts";

export const COM1 = 0x3f8;
export const COM2 = 0x2f8;

// Register offsets. With LCR.DLAB set, offsets 0 and 1 are the divisor latch.
export const UART_RX = 0;   // in:  receiver buffer (RBR)
export const UART_TX = 0;   // out: transmitter holding (THR)
export const UART_DLL = 0;  // divisor latch low, DLAB = 1
export const UART_IER = 1;
export const UART_DLM = 1;  // divisor latch high, DLAB = 1
export const UART_IIR = 2;  // in:  interrupt identification
export const UART_FCR = 2;  // out: FIFO control
export const UART_LCR = 3;
export const UART_MCR = 4;
export const UART_LSR = 5;
export const UART_MSR = 6;
export const UART_SCR = 7;

export const UART_IER_RDI = 0x01;   // received data available
export const UART_IER_THRI = 0x02;  // transmitter holding register empty
export const UART_IER_RLSI = 0x04;  // receiver line status
export const UART_IER_MSI = 0x08;   // modem status
const IER_MASK = 0x0f;              // bits 7:4 read 0 on a 16550A (autoconfig's UUE test)

export const UART_IIR_NO_INT = 0x01;
export const UART_IIR_MSI = 0x00;
export const UART_IIR_THRI = 0x02;
export const UART_IIR_RDI = 0x04;
export const UART_IIR_RLSI = 0x06;
export const UART_IIR_RX_TIMEOUT = 0x0c;
export const UART_IIR_FIFO_ENABLED = 0xc0;  // both bits: a 16550A with its FIFO on

export const UART_FCR_ENABLE_FIFO = 0x01;
export const UART_FCR_CLEAR_RCVR = 0x02;
export const UART_FCR_CLEAR_XMIT = 0x04;
export const UART_FCR_DMA_SELECT = 0x08;
const FCR_KEPT = 0xc9;              // enable, DMA mode, RX trigger; bits 5:4 reserved on a 16550A
const RX_TRIGGER = [1, 4, 8, 14];   // FCR bits 7:6

export const UART_LCR_DLAB = 0x80;

export const UART_MCR_DTR = 0x01;
export const UART_MCR_RTS = 0x02;
export const UART_MCR_OUT1 = 0x04;
export const UART_MCR_OUT2 = 0x08;  // on a PC, gates the IRQ line
export const UART_MCR_LOOP = 0x10;
const MCR_MASK = 0x1f;

export const UART_LSR_DR = 0x01;
export const UART_LSR_OE = 0x02;
export const UART_LSR_BRK_ERROR_BITS = 0x1e;  // OE | PE | FE | BI, cleared by reading LSR
export const UART_LSR_THRE = 0x20;
export const UART_LSR_TEMT = 0x40;

export const UART_MSR_DCTS = 0x01;
export const UART_MSR_DDSR = 0x02;
export const UART_MSR_TERI = 0x04;
export const UART_MSR_DDCD = 0x08;
export const UART_MSR_CTS = 0x10;
export const UART_MSR_DSR = 0x20;
export const UART_MSR_RI = 0x40;
export const UART_MSR_DCD = 0x80;
/** Modem inputs outside loopback: a terminal is attached and ready (as QEMU reports
 *  with no flow-control backend), so a console with UPF_CONS_FLOW sees CTS. */
const MSR_LINES_ATTACHED = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;

const FIFO_SIZE = 16;

export interface UartOptions {
  name?: string;
  /** Every byte transmitted (not those looped back in MCR loopback mode). */
  onByte?: (b: number) => void;
  /** Every complete line, without its \n and without any \r. */
  onLine?: (line: string) => void;
}

export class Uart16550A implements PortDevice {
  readonly name: string;
  readonly ports: [number, number][];
  /** Complete lines transmitted so far. */
  readonly lines: string[] = [];
  onByte: (b: number) => void;
  onLine: (line: string) => void;

  // Registers.
  ier = 0;
  lcr = 0;
  mcr = 0;
  fcr = 0;     // as kept: 0 when the FIFO is off
  dll = 0;
  dlm = 0;
  scr = 0;
  private lsrErrors = 0;   // OE/PE/FE/BI until LSR is read
  private msrDeltas = 0;   // DCTS/DDSR/TERI/DDCD until MSR is read
  private msrLines = MSR_LINES_ATTACHED;
  private thrIpending = false;

  // Receiver: a ring of FIFO_SIZE bytes; without the FIFO, only one byte is held (RBR).
  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  private rbr = 0;
  /** Input from the host not yet received: it enters as the receiver makes room. */
  private readonly waiting: number[] = [];

  private line = new Uint8Array(256);
  private lineLen = 0;
  private readonly decoder = new TextDecoder();

  constructor(readonly base = COM1, opts: UartOptions = {}) {
    this.name = opts.name ?? `uart@${base.toString(16)}`;
    this.ports = [[base, base + 7]];
    this.onByte = opts.onByte ?? (() => {});
    this.onLine = opts.onLine ?? (() => {});
  }

  /** The text of the line being transmitted, not yet ended by \n. */
  get partial(): string {
    return this.decoder.decode(this.line.subarray(0, this.lineLen));
  }

  /** The interrupt request output: a pending interrupt, gated by MCR.OUT2 as PC boards
   *  wire it (in loopback the OUT2 pin is held inactive). ISA IRQ 4 for COM1, 3 for COM2. */
  /**
   * How many times an interrupt was raised anew. A real UART's line falls for a character
   * time after a THR write before THRE raises it again; this one transmits at once, so a
   * controller that looks at the level only would miss that edge (host/interrupts.ts).
   */
  raised = 0;

  get irq(): boolean {
    return (this.mcr & (UART_MCR_OUT2 | UART_MCR_LOOP)) === UART_MCR_OUT2 && !(this.iir() & UART_IIR_NO_INT);
  }

  /** Bytes arriving on the serial line (a host console's keyboard, say), as fast as the receiver takes them. */
  input(bytes: ArrayLike<number>): void {
    if (this.mcr & UART_MCR_LOOP) return; // the receiver listens to the transmitter only
    for (let i = 0; i < bytes.length; i++) this.waiting.push(bytes[i] & 0xff);
    this.admit();
  }

  /** Bytes waiting on the line that the receiver has room for now. */
  private admit(): void {
    const depth = this.fcr & UART_FCR_ENABLE_FIFO ? FIFO_SIZE : 1;
    let n = 0;
    while (n < this.waiting.length && this.rxCount < depth) this.receive(this.waiting[n++]);
    if (n) this.waiting.splice(0, n);
  }

  read(port: number, _size: 1 | 2 | 4): number {
    switch (port - this.base) {
      case UART_RX:
        return this.lcr & UART_LCR_DLAB ? this.dll : this.readRbr();
      case UART_IER:
        return this.lcr & UART_LCR_DLAB ? this.dlm : this.ier;
      case UART_IIR: {
        const iir = this.iir();
        // Reading IIR acknowledges a THRE interrupt when that is the one it reports.
        if ((iir & 0x0f) === UART_IIR_THRI) this.thrIpending = false;
        return iir;
      }
      case UART_LCR:
        return this.lcr;
      case UART_MCR:
        return this.mcr;
      case UART_LSR: {
        const lsr = (this.rxCount ? UART_LSR_DR : 0) | this.lsrErrors | UART_LSR_THRE | UART_LSR_TEMT;
        this.lsrErrors = 0;
        return lsr;
      }
      case UART_MSR: {
        const msr = this.msrLines | this.msrDeltas;
        this.msrDeltas = 0;
        return msr;
      }
      default:
        return this.scr;
    }
  }

  write(port: number, _size: 1 | 2 | 4, value: number): void {
    value &= 0xff;
    switch (port - this.base) {
      case UART_TX:
        if (this.lcr & UART_LCR_DLAB) this.dll = value;
        else this.transmit(value);
        return;
      case UART_IER:
        if (this.lcr & UART_LCR_DLAB) {
          this.dlm = value;
        } else {
          const changed = (this.ier ^ value) & UART_IER_THRI;
          this.ier = value & IER_MASK;
          // Turning ETBEI on with THR empty raises the THRE interrupt again, even if an
          // IIR read had cleared it; 8250_port.c's UART_BUG_THRE test depends on it.
          if (changed) this.thrIpending = (this.ier & UART_IER_THRI) !== 0;
          if (changed && this.thrIpending) this.raised++;
        }
        return;
      case UART_FCR: {
        const was = this.fcr;
        // FCR0 must be set for the other bits to be written (PC16550D, FCR description).
        this.fcr = value & UART_FCR_ENABLE_FIFO ? value & FCR_KEPT : 0;
        if ((was ^ this.fcr) & UART_FCR_ENABLE_FIFO || value & UART_FCR_CLEAR_RCVR) this.clearRx();
        this.admit(); // a FIFO turned on or emptied takes what waits on the line
        return;
      }
      case UART_LCR:
        this.lcr = value;
        return;
      case UART_MCR:
        this.mcr = value & MCR_MASK;
        this.setMsrLines(this.mcr & UART_MCR_LOOP ? loopbackLines(this.mcr) : MSR_LINES_ATTACHED);
        return;
      case UART_LSR:
      case UART_MSR:
        return; // factory test registers: writes have no defined effect
      default:
        this.scr = value;
    }
  }

  /** IIR as the highest-priority pending interrupt would read (PC16550D table IV). */
  iir(): number {
    const fifo = this.fcr & UART_FCR_ENABLE_FIFO;
    const high = fifo ? UART_IIR_FIFO_ENABLED : 0;
    const ier = this.ier;
    if (ier & UART_IER_RLSI && this.lsrErrors) return high | UART_IIR_RLSI;
    if (ier & UART_IER_RDI && this.rxCount) {
      // The character timeout (4 character times with data below the trigger level and
      // no reads) is taken as elapsed: this model has no character clock.
      if (!fifo || this.rxCount >= RX_TRIGGER[this.fcr >> 6]) return high | UART_IIR_RDI;
      return high | UART_IIR_RX_TIMEOUT;
    }
    if (ier & UART_IER_THRI && this.thrIpending) return high | UART_IIR_THRI;
    if (ier & UART_IER_MSI && this.msrDeltas) return high | UART_IIR_MSI;
    return high | UART_IIR_NO_INT;
  }

  private transmit(b: number): void {
    // The shift register takes the byte at once, so THR is empty again and, with ETBEI
    // set, the THRE interrupt is pending: raised anew, though the line never fell.
    this.thrIpending = true;
    this.raised++;
    if (this.mcr & UART_MCR_LOOP) {
      this.receive(b); // loopback: the serial output is held marking, the byte comes back
      return;
    }
    this.onByte(b);
    if (b === 0x0a) {
      const text = this.partial;
      this.lineLen = 0;
      this.lines.push(text);
      this.onLine(text);
    } else if (b !== 0x0d) {
      if (this.lineLen === this.line.length) {
        const bigger = new Uint8Array(this.line.length * 2);
        bigger.set(this.line);
        this.line = bigger;
      }
      this.line[this.lineLen++] = b;
    }
  }

  private receive(b: number): void {
    const depth = this.fcr & UART_FCR_ENABLE_FIFO ? FIFO_SIZE : 1;
    if (this.rxCount === depth) {
      // Overrun: with the FIFO, the byte in the shift register is lost; without it, the
      // new byte overwrites RBR. Either way OE is reported.
      this.lsrErrors |= UART_LSR_OE;
      if (depth === 1) this.rx[this.rxHead] = b;
      return;
    }
    this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = b;
    this.rxCount++;
  }

  private readRbr(): number {
    if (this.rxCount) {
      this.rbr = this.rx[this.rxHead];
      this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
      this.rxCount--;
      if (this.waiting.length) this.admit();
    }
    return this.rbr;
  }

  private clearRx(): void {
    this.rxHead = 0;
    this.rxCount = 0;
  }

  private setMsrLines(lines: number): void {
    const changed = this.msrLines ^ lines;
    if (changed & UART_MSR_CTS) this.msrDeltas |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR) this.msrDeltas |= UART_MSR_DDSR;
    if (changed & UART_MSR_DCD) this.msrDeltas |= UART_MSR_DDCD;
    if (changed & this.msrLines & UART_MSR_RI) this.msrDeltas |= UART_MSR_TERI; // RI falling edge
    this.msrLines = lines;
  }
}

/** In loopback the modem outputs feed the modem inputs: DTR→DSR, RTS→CTS, OUT1→RI,
 *  OUT2→DCD (PC16550D, MCR bit 4). autoconfig() writes LOOP|OUT2|RTS and wants 0x90. */
export function loopbackLines(mcr: number): number {
  return ((mcr & UART_MCR_DTR) << 5) | ((mcr & UART_MCR_RTS) << 3) |
    ((mcr & UART_MCR_OUT1) << 4) | ((mcr & UART_MCR_OUT2) << 4);
}
