// The i8042 keyboard controller at 0x60 (data) and 0x64 (status in, command out), with
// nothing plugged into its keyboard or AUX port. It matters to Linux twice:
//
// - reset: the x86 reboot path's BOOT_KBD (arch/x86/kernel/reboot.c) waits for the input
//   buffer to drain (kb_wait) and writes 0xfe to 0x64, pulsing the CPU reset line.
// - probing: drivers/input/serio/i8042.c flushes the output buffer (a status of 0xff,
//   an empty bus, would mean "No controller found"), runs the self test (0xaa → 0x55),
//   reads the control register twice until stable (0x20) and writes it back (0x60),
//   then i8042_check_aux tries the AUX loopback (0xd3), toggles the AUX port (0xa7/0xa8)
//   checking the control register, and waits up to 250 ms for IRQ 12 from a looped-back
//   byte. Without that interrupt it flushes and decides there is no AUX port; the
//   keyboard port gets registered, and atkbd's probe times out (no device answers) and
//   gives up. None of this spins forever: each wait is bounded in the driver.
//
// Commands and bits follow the IBM PS/2 keyboard controller, as Linux names them
// (drivers/input/serio/i8042.h). The controller answers at once: IBF never reads set.

import type { PortDevice } from "./bus.ts";

export const I8042_DATA_REG = 0x60;
export const I8042_COMMAND_REG = 0x64;
export const I8042_STATUS_REG = 0x64;

export const I8042_STR_OBF = 0x01;
export const I8042_STR_IBF = 0x02;
export const I8042_STR_SYSFLAG = 0x04;
export const I8042_STR_CMDDAT = 0x08;   // last write was to the command port
export const I8042_STR_KEYLOCK = 0x10;  // set = keyboard not inhibited
export const I8042_STR_AUXDATA = 0x20;

export const I8042_CTR_KBDINT = 0x01;
export const I8042_CTR_AUXINT = 0x02;
export const I8042_CTR_SYSFLAG = 0x04;
export const I8042_CTR_IGNKEYLOCK = 0x08;
export const I8042_CTR_KBDDIS = 0x10;
export const I8042_CTR_AUXDIS = 0x20;
export const I8042_CTR_XLATE = 0x40;

export const I8042_CMD_CTL_RCTR = 0x20;  // 0x20-0x3f read internal RAM byte n (0 = CTR)
export const I8042_CMD_CTL_WCTR = 0x60;  // 0x60-0x7f write internal RAM byte n, data follows
export const I8042_CMD_AUX_DISABLE = 0xa7;
export const I8042_CMD_AUX_ENABLE = 0xa8;
export const I8042_CMD_AUX_TEST = 0xa9;
export const I8042_CMD_CTL_TEST = 0xaa;
export const I8042_CMD_KBD_TEST = 0xab;
export const I8042_CMD_KBD_DISABLE = 0xad;
export const I8042_CMD_KBD_ENABLE = 0xae;
export const I8042_CMD_READ_OUTPUT = 0xd0;
export const I8042_CMD_WRITE_OUTPUT = 0xd1;
export const I8042_CMD_KBD_LOOP = 0xd2;
export const I8042_CMD_AUX_LOOP = 0xd3;
export const I8042_CMD_AUX_SEND = 0xd4;
export const I8042_CMD_PULSE = 0xf0;     // 0xf0-0xff: pulse output port bits 3:0 that are 0
export const I8042_CMD_RESET = 0xfe;     // pulse bit 0, the CPU reset line

export const I8042_RET_CTL_TEST = 0x55;

export const OUTPUT_RESET = 0x01;  // output port bit 0: CPU reset, active low
export const OUTPUT_A20 = 0x02;

/** The control register a PC firmware leaves with no mouse: keyboard interrupt on, AUX
 *  disabled, scan-code translation on, system flag set (POST passed). */
const CTR_AT_BOOT = I8042_CTR_XLATE | I8042_CTR_AUXDIS | I8042_CTR_SYSFLAG | I8042_CTR_KBDINT;

export interface KbcOptions {
  onReset?: (source: "kbc") => void;
}

export class Kbc8042 implements PortDevice {
  readonly name = "i8042";
  readonly ports: [number, number][] = [[I8042_DATA_REG, I8042_DATA_REG], [I8042_COMMAND_REG, I8042_COMMAND_REG]];
  /** Internal RAM; byte 0 is the control register (CTR). */
  readonly ram = new Uint8Array(32);
  /** Output port bits 3:0 (bit 0 reset, active low; bit 1 A20). */
  outputPort = OUTPUT_RESET | OUTPUT_A20;
  onReset: (source: "kbc") => void;
  private status = I8042_STR_SYSFLAG | I8042_STR_KEYLOCK;
  /** Bytes for the guest to read, each with I8042_STR_AUXDATA when from the AUX side. */
  private readonly out: { byte: number; aux: boolean }[] = [];
  private last = 0;
  /** The command waiting for its data byte on port 0x60, or 0. */
  private pending = 0;

  constructor(opts: KbcOptions = {}) {
    this.ram[0] = CTR_AT_BOOT;
    this.onReset = opts.onReset ?? (() => {});
  }

  get ctr(): number {
    return this.ram[0];
  }

  /** IRQ 1: a keyboard byte waits and CTR enables its interrupt. */
  get irq1(): boolean {
    return this.out.length > 0 && !this.out[0].aux && (this.ctr & I8042_CTR_KBDINT) !== 0;
  }

  /** IRQ 12: an AUX byte waits and CTR enables its interrupt. */
  get irq12(): boolean {
    return this.out.length > 0 && this.out[0].aux && (this.ctr & I8042_CTR_AUXINT) !== 0;
  }

  read(port: number, _size: 1 | 2 | 4): number {
    if (port === I8042_STATUS_REG) {
      const head = this.out[0];
      return this.status | (head ? I8042_STR_OBF | (head.aux ? I8042_STR_AUXDATA : 0) : 0);
    }
    const head = this.out.shift();
    if (head) this.last = head.byte;
    return this.last; // an empty buffer reads its last byte again
  }

  write(port: number, _size: 1 | 2 | 4, value: number): void {
    value &= 0xff;
    if (port === I8042_COMMAND_REG) {
      this.status |= I8042_STR_CMDDAT;
      this.pending = 0;
      this.command(value);
      return;
    }
    this.status &= ~I8042_STR_CMDDAT;
    const cmd = this.pending;
    this.pending = 0;
    if (cmd >= I8042_CMD_CTL_WCTR && cmd < I8042_CMD_CTL_WCTR + 0x20) {
      this.ram[cmd - I8042_CMD_CTL_WCTR] = value;
      if (cmd === I8042_CMD_CTL_WCTR) this.status = (this.status & ~I8042_STR_SYSFLAG) | (value & I8042_CTR_SYSFLAG);
    } else if (cmd === I8042_CMD_WRITE_OUTPUT) {
      this.setOutputPort(value);
    } else if (cmd === I8042_CMD_KBD_LOOP) {
      this.push(value, false);
    } else if (cmd === I8042_CMD_AUX_LOOP) {
      this.push(value, true);
    }
    // I8042_CMD_AUX_SEND, or no command: the byte goes to the mouse or keyboard, and
    // with none attached nothing answers.
  }

  private command(cmd: number): void {
    if (cmd >= I8042_CMD_CTL_RCTR && cmd < I8042_CMD_CTL_RCTR + 0x20) {
      this.push(this.ram[cmd - I8042_CMD_CTL_RCTR], false);
      return;
    }
    if (cmd >= I8042_CMD_PULSE) {
      if (!(cmd & OUTPUT_RESET)) this.onReset("kbc");
      return;
    }
    switch (cmd) {
      case I8042_CMD_AUX_DISABLE: this.ram[0] |= I8042_CTR_AUXDIS; return;
      case I8042_CMD_AUX_ENABLE: this.ram[0] &= ~I8042_CTR_AUXDIS; return;
      case I8042_CMD_KBD_DISABLE: this.ram[0] |= I8042_CTR_KBDDIS; return;
      case I8042_CMD_KBD_ENABLE: this.ram[0] &= ~I8042_CTR_KBDDIS; return;
      case I8042_CMD_AUX_TEST: this.push(0x00, false); return; // 0 = no error on the lines
      case I8042_CMD_KBD_TEST: this.push(0x00, false); return;
      case I8042_CMD_CTL_TEST:
        this.status |= I8042_STR_SYSFLAG;
        this.push(I8042_RET_CTL_TEST, false);
        return;
      case I8042_CMD_READ_OUTPUT:
        // Bits 4 and 5 show the IRQ 1 / IRQ 12 outputs; 6 and 7 the idle keyboard lines.
        this.push(this.outputPort | (this.irq1 ? 0x10 : 0) | (this.irq12 ? 0x20 : 0) | 0xc0, false);
        return;
      case I8042_CMD_WRITE_OUTPUT: case I8042_CMD_KBD_LOOP: case I8042_CMD_AUX_LOOP: case I8042_CMD_AUX_SEND:
        this.pending = cmd;
        return;
      default:
        if (cmd >= I8042_CMD_CTL_WCTR && cmd < I8042_CMD_CTL_WCTR + 0x20) this.pending = cmd;
        // Anything else is accepted and ignored, as a controller does with a command it lacks.
    }
  }

  private setOutputPort(value: number): void {
    this.outputPort = value & 0x0f;
    if (!(value & OUTPUT_RESET)) this.onReset("kbc");
  }

  private push(byte: number, aux: boolean): void {
    this.out.push({ byte, aux });
  }
}
