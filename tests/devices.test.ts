// host/devices: each device driven through the bus with the access sequences Linux 6.1
// uses, transcribed from the kernel function named above each test.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PortBus, type AccessKind } from "../host/devices/bus.ts";
import { Cmos } from "../host/devices/cmos.ts";
import { Kbc8042 } from "../host/devices/kbc.ts";
import { i440fxHostBridge, PciHost } from "../host/devices/pci.ts";
import { Pic8259Pair } from "../host/devices/pic.ts";
import { Pit, PIT_HZ } from "../host/devices/pit.ts";
import { COM1, COM2, Uart16550A } from "../host/devices/uart.ts";
import { pcDevices } from "../host/devices/index.ts";

/** Linux's port accessors, argument order included: outb(value, port). */
function io(bus: PortBus) {
  return {
    inb: (port: number) => bus.read(port, 1),
    inw: (port: number) => bus.read(port, 2),
    inl: (port: number) => bus.read(port, 4),
    outb: (value: number, port: number) => bus.write(port, 1, value & 0xff),
    outw: (value: number, port: number) => bus.write(port, 2, value & 0xffff),
    outl: (value: number, port: number) => bus.write(port, 4, value >>> 0),
  };
}

// ---- bus ----

test("bus: an undecoded port reads all ones at every width and is reported once", () => {
  const seen: [number, AccessKind, bigint][] = [];
  const bus = new PortBus((port, kind, rip) => seen.push([port, kind, rip]));
  assert.is(bus.read(0x2e8 + 5, 1, 0x1000n), 0xff);
  assert.is(bus.read(0x2e8 + 5, 2, 0x1004n), 0xffff);
  assert.is(bus.read(0x2e8 + 5, 4, 0x1008n), 0xffff_ffff);
  bus.write(0x2e8 + 5, 1, 0x12, 0x100cn);
  assert.equal(seen, [[0x2ed, "read", 0x1000n]]);
  assert.equal(bus.unknown.get(0x2ed), { reads: 3, writes: 1, firstRip: 0x1000n });
  bus.write(0x3e8, 1, 0, 0x2000n);
  assert.equal(seen[1], [0x3e8, "write", 0x2000n]);
});

test("bus: RIP given as a function is read only for a port's first unknown access", () => {
  let calls = 0;
  const bus = new PortBus();
  const rip = () => (calls++, 0xffff_ffff_8100_0000n);
  bus.add(new Uart16550A(COM1));
  for (let i = 0; i < 1000; i++) bus.read(COM1 + 5, 1, rip);
  assert.is(calls, 0, "decoded ports never ask for RIP");
  bus.read(0xd0, 1, rip);
  bus.read(0xd0, 1, rip);
  assert.is(calls, 1);
  assert.is(bus.unknown.get(0xd0)!.firstRip, 0xffff_ffff_8100_0000n);
});

test("bus: port 0x80 (io_delay's outb_p target) is a silent sink", () => {
  let reported = 0;
  const bus = new PortBus(() => reported++);
  const { inb, outb } = io(bus);
  for (let i = 0; i < 100; i++) outb(i, 0x80);
  assert.is(inb(0x80), 0xff);
  assert.is(reported, 0);
  assert.is(bus.unknown.size, 0);
  assert.is(bus.post, 99);
});

test("bus: overlapping claims are refused, the claimant named", () => {
  const bus = new PortBus();
  bus.add(new Uart16550A(COM1, { name: "com1" }));
  assert.throws(() => bus.add(new Uart16550A(COM1 + 4)), /port 0x03fc, already com1's/);
  assert.throws(() => bus.add({ name: "post", ports: [[0x80, 0x80]], read: () => 0, write: () => {} }), /POST/);
  bus.add(new Uart16550A(COM2));
  assert.is(bus.deviceAt(COM2 + 7)!.name, "uart@2f8");
});

// ---- UART ----

// arch/x86/kernel/early_printk.c: early_serial_hw_init, early_serial_putc, early_serial_write.
const LCR = 3, IER = 1, FCR = 2, MCR = 4, LSR = 5, DLAB = 0x80, DLL = 0, DLH = 1, TXR = 0, XMTRDY = 0x20;

test("uart: earlyprintk=serial,ttyS0,115200 prints lines", () => {
  const bus = new PortBus();
  const lines: string[] = [];
  const bytes: number[] = [];
  const uart = bus.add(new Uart16550A(COM1, { onLine: (l) => lines.push(l), onByte: (b) => bytes.push(b) }));
  const { inb, outb } = io(bus);
  const base = COM1, divisor = 115200 / 115200;
  outb(0x3, base + LCR);  // 8n1
  outb(0, base + IER);    // no interrupt
  outb(0, base + FCR);    // no fifo
  outb(0x3, base + MCR);  // DTR + RTS
  const c = inb(base + LCR);
  outb(c | DLAB, base + LCR);
  outb(divisor & 0xff, base + DLL);
  outb((divisor >> 8) & 0xff, base + DLH);
  outb(c & ~DLAB, base + LCR);
  assert.is(uart.dll, 1);
  assert.is(uart.dlm, 0);
  assert.is(uart.lcr, 0x03);

  let polls = 0;
  const putc = (ch: number) => {
    let timeout = 0xffff;
    while ((inb(base + LSR) & XMTRDY) === 0 && --timeout) polls++;
    outb(ch, base + TXR);
    return timeout ? 0 : -1;
  };
  const write = (s: string) => {
    for (const ch of Buffer.from(s)) {
      if (ch === 0x0a) putc(0x0d);
      putc(ch);
    }
  };
  write("Linux version 6.1.0-18-cloud-amd64\nCommand line: console=ttyS0\npartial");
  assert.is(polls, 0, "THRE is always set: no busy-waiting");
  assert.equal(lines, ["Linux version 6.1.0-18-cloud-amd64", "Command line: console=ttyS0"]);
  assert.equal(uart.lines, lines);
  assert.is(uart.partial, "partial");
  assert.is(bytes.filter((b) => b === 0x0d).length, 2, "onByte sees the \\r the lines drop");
  assert.is(inb(base + LSR), 0x60, "THRE | TEMT, no data ready");
});

test("uart: UTF-8 lines decode whole", () => {
  const uart = new Uart16550A(COM1);
  for (const b of Buffer.from("→ ok\n")) uart.write(COM1, 1, b);
  assert.equal(uart.lines, ["→ ok"]);
});

// drivers/tty/serial/8250/8250_port.c, 6.1: the 8250 driver's register names and values.
const UART_RX = 0, UART_TX = 0, UART_IER = 1, UART_IIR = 2, UART_FCR = 2, UART_EFR = 2, UART_LCR = 3,
  UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7;
const UART_LCR_CONF_MODE_A = 0x80, UART_LCR_CONF_MODE_B = 0xbf, UART_LCR_WLEN8 = 0x03;
const UART_FCR_ENABLE_FIFO = 0x01, UART_FCR_CLEAR_RCVR = 0x02, UART_FCR_CLEAR_XMIT = 0x04, UART_FCR7_64BYTE = 0x20;
const UART_MCR_LOOP = 0x10, UART_IER_UUE = 0x40, UART_IER_THRI = 0x02, UART_LSR_DR = 0x01, UART_LSR_TEMT = 0x40;
const UART_IIR_NO_INT = 0x01;

/** The 8250 driver's port accessors on one UART, and what autoconfig() decided. */
function serial8250(bus: PortBus, iobase: number) {
  const { inb, outb } = io(bus);
  const up = {
    serial_in: (off: number) => inb(iobase + off),
    serial_out: (off: number, v: number) => outb(v, iobase + off),
    dl_read: () => up.serial_in(0) | (up.serial_in(1) << 8),
    dl_write: (v: number) => { up.serial_out(0, v & 0xff); up.serial_out(1, v >> 8); },
    checks: {} as Record<string, number>,
  };
  return up;
}
type Up = ReturnType<typeof serial8250>;

/** size_fifo(): fill the FIFO in loopback and count what comes back. */
function sizeFifo(up: Up): number {
  const { serial_in, serial_out } = up;
  const old_lcr = serial_in(UART_LCR);
  serial_out(UART_LCR, 0);
  const old_fcr = serial_in(UART_FCR);
  const old_mcr = serial_in(UART_MCR);
  serial_out(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT);
  serial_out(UART_MCR, UART_MCR_LOOP);
  serial_out(UART_LCR, UART_LCR_CONF_MODE_A);
  const old_dl = up.dl_read();
  up.dl_write(0x0001);
  serial_out(UART_LCR, UART_LCR_WLEN8);
  for (let count = 0; count < 256; count++) serial_out(UART_TX, count);
  let count = 0;
  for (; serial_in(UART_LSR) & UART_LSR_DR && count < 256; count++) serial_in(UART_RX);
  serial_out(UART_FCR, old_fcr);
  serial_out(UART_MCR, old_mcr);
  serial_out(UART_LCR, UART_LCR_CONF_MODE_A);
  up.dl_write(old_dl);
  serial_out(UART_LCR, old_lcr);
  return count;
}

/** autoconfig_16550a() with CONFIG_SERIAL_8250_16550A_VARIANTS=y: every variant test. */
function autoconfig16550a(up: Up): string {
  const { serial_in, serial_out, checks } = up;
  // EFR with DLAB set: only ST16C650V1 has one. On a 16550A this reads IIR.
  serial_out(UART_LCR, UART_LCR_CONF_MODE_A);
  checks.efrA = serial_in(UART_EFR);
  if (checks.efrA === 0) return "ST16650 or FSL64";
  // EFR with LCR = 0xbf.
  serial_out(UART_LCR, UART_LCR_CONF_MODE_B);
  checks.efrB = serial_in(UART_EFR);
  if (checks.efrB === 0) return "16650V2 family";
  // National SuperIO: EXCR1 in bank 2 (LCR = 0xe0) follows MCR's loop bit.
  serial_out(UART_LCR, 0);
  const mcr = serial_in(UART_MCR);
  serial_out(UART_LCR, 0xe0);
  let excr1 = serial_in(0x02);
  if (!((excr1 ^ mcr) & UART_MCR_LOOP)) {
    serial_out(UART_LCR, 0);
    serial_out(UART_MCR, mcr ^ UART_MCR_LOOP);
    serial_out(UART_LCR, 0xe0);
    excr1 = serial_in(0x02);
    serial_out(UART_LCR, 0);
    serial_out(UART_MCR, mcr);
    if ((excr1 ^ mcr) & UART_MCR_LOOP) return "NS16550A";
  }
  // TI16750: IIR bit 5 set by FCR7_64BYTE only with DLAB.
  serial_out(UART_LCR, 0);
  serial_out(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR7_64BYTE);
  checks.iir1 = serial_in(UART_IIR) >> 5;
  serial_out(UART_FCR, UART_FCR_ENABLE_FIFO);
  serial_out(UART_LCR, UART_LCR_CONF_MODE_A);
  serial_out(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR7_64BYTE);
  checks.iir2 = serial_in(UART_IIR) >> 5;
  serial_out(UART_FCR, UART_FCR_ENABLE_FIFO);
  serial_out(UART_LCR, 0);
  if (checks.iir1 === 6 && checks.iir2 === 7) return "TI16750";
  // XScale: IER bit 6 (UUE) sticks.
  const iersave = serial_in(UART_IER);
  serial_out(UART_IER, iersave & ~UART_IER_UUE);
  if (!(serial_in(UART_IER) & UART_IER_UUE)) {
    serial_out(UART_IER, iersave | UART_IER_UUE);
    if (serial_in(UART_IER) & UART_IER_UUE) return "XScale";
  }
  serial_out(UART_IER, iersave);
  checks.fifo = sizeFifo(up);
  return checks.fifo === 64 ? "U6_16550A" : "16550A";
}

/** autoconfig() as for a port without UPF_SKIP_TEST, so the loopback test runs too. */
function autoconfig(up: Up): string {
  const { serial_in, serial_out, checks } = up;
  let scratch = serial_in(UART_IER);
  serial_out(UART_IER, 0);
  const scratch2 = serial_in(UART_IER) & 0x0f;
  serial_out(UART_IER, 0x0f);
  const scratch3 = serial_in(UART_IER) & 0x0f;
  serial_out(UART_IER, scratch);
  Object.assign(checks, { scratch2, scratch3 });
  if (scratch2 !== 0 || scratch3 !== 0x0f) return "none (IER test failed)";
  const save_mcr = serial_in(UART_MCR);
  const save_lcr = serial_in(UART_LCR);
  serial_out(UART_MCR, UART_MCR_LOOP | 0x0a);
  checks.loop = serial_in(UART_MSR) & 0xf0;
  serial_out(UART_MCR, save_mcr);
  if (checks.loop !== 0x90) return "none (LOOP test failed)";
  serial_out(UART_LCR, UART_LCR_CONF_MODE_B);
  serial_out(UART_EFR, 0);
  serial_out(UART_LCR, 0);
  serial_out(UART_FCR, UART_FCR_ENABLE_FIFO);
  scratch = serial_in(UART_IIR);
  checks.iir = scratch;
  const type = ["8250/16450", "unknown", "16550", autoconfig16550a(up)][scratch >> 6];
  serial_out(UART_LCR, save_lcr);
  // Reset the UART: serial8250_clear_fifos, a read of RX, serial8250_clear_IER.
  serial_out(UART_MCR, save_mcr);
  serial_out(UART_FCR, UART_FCR_ENABLE_FIFO);
  serial_out(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT);
  serial_out(UART_FCR, 0);
  serial_in(UART_RX);
  serial_out(UART_IER, 0);
  return type;
}

test("uart: 8250 autoconfig() identifies a 16550A, every variant test answered as a 16550A", () => {
  const bus = new PortBus();
  const uart = bus.add(new Uart16550A(COM1));
  const up = serial8250(bus, COM1);
  up.serial_out(UART_SCR, 0xa5);
  assert.is(up.serial_in(UART_SCR), 0xa5, "scratch register");
  assert.is(autoconfig(up), "16550A");
  assert.equal(up.checks, {
    scratch2: 0x00, scratch3: 0x0f, // IER test
    loop: 0x90,                     // MCR loopback: OUT2 → DCD, RTS → CTS
    iir: 0xc1,                      // FIFO enabled (bits 7:6 = 11), no interrupt
    efrA: 0xc1, efrB: 0xc1,         // no EFR: offset 2 reads IIR whatever LCR holds
    iir1: 6, iir2: 6,               // no 64-byte FIFO mode (not a TI16750)
    fifo: 16,                       // size_fifo: 16 bytes come back in loopback
  });
  assert.is(uart.lines.length, 0, "loopback bytes never reach the console");
  assert.is(uart.mcr, 0);
  assert.is(uart.lcr, 0);
  assert.is(uart.read(COM1 + UART_LSR, 1) & UART_LSR_DR, 0, "reset left no data");
});

test("uart: autoconfig() finds nothing where no UART is (COM2 absent)", () => {
  const bus = new PortBus();
  bus.add(new Uart16550A(COM1));
  assert.is(autoconfig(serial8250(bus, COM2)), "none (IER test failed)");
});

test("uart: serial8250_do_startup's THRE re-assertion and TXEN tests pass", () => {
  const bus = new PortBus();
  const uart = bus.add(new Uart16550A(COM1));
  const { serial_in, serial_out } = serial8250(bus, COM1);
  assert.is.not(serial_in(UART_LSR), 0xff, "LSR safety check");
  // UART_BUG_THRE test
  serial_out(UART_IER, UART_IER_THRI);
  const iir1 = serial_in(UART_IIR);
  serial_out(UART_IER, 0);
  serial_out(UART_IER, UART_IER_THRI);
  const iir = serial_in(UART_IIR);
  serial_out(UART_IER, 0);
  assert.is(iir1, 0x02, "THRE interrupt pending");
  assert.is(iir, 0x02, "and re-asserted by re-enabling ETBEI");
  const bugThre = !(iir1 & UART_IIR_NO_INT) && (iir & UART_IIR_NO_INT);
  assert.not.ok(bugThre);
  // UART_BUG_TXEN test, after MCR gets OUT2
  serial_out(UART_LCR, UART_LCR_WLEN8);
  serial_out(UART_MCR, 0x0b); // DTR | RTS | OUT2
  serial_out(UART_IER, UART_IER_THRI);
  const lsr = serial_in(UART_LSR);
  assert.ok(uart.irq, "IRQ line up: THRE pending, OUT2 set");
  const iir3 = serial_in(UART_IIR);
  serial_out(UART_IER, 0);
  assert.not.ok(lsr & UART_LSR_TEMT && iir3 & UART_IIR_NO_INT, "no UART_BUG_TXEN");
  assert.not.ok(uart.irq, "IIR read acknowledged THRE");
});

test("uart: input fills the receive FIFO; the rest waits on the line and arrives, in order, as the guest reads", () => {
  const uart = new Uart16550A(COM1);
  uart.write(COM1 + UART_FCR, 1, UART_FCR_ENABLE_FIFO | 0xc0); // trigger level 14
  uart.write(COM1 + UART_IER, 1, 0x05);                         // RDI | RLSI
  uart.input(Buffer.from("abc"));
  assert.is(uart.read(COM1 + UART_IIR, 1), 0xcc, "below the trigger: character timeout");
  const text = "defghijklmnopqrstuvwxyz0123456789";
  uart.input(Buffer.from(text));
  const lsr = uart.read(COM1 + UART_LSR, 1);
  assert.is(lsr & 0x03, 0x01, "DR, and no overrun: the line waits for room");
  assert.is(uart.read(COM1 + UART_IIR, 1), 0xc4, "at the trigger: data available");
  let got = "";
  while (uart.read(COM1 + UART_LSR, 1) & 0x01) got += String.fromCharCode(uart.read(COM1, 1));
  assert.is(got, "abc" + text);
});

test("uart: a byte looped back into a full FIFO is an overrun, reported in LSR once", () => {
  const uart = new Uart16550A(COM1);
  uart.write(COM1 + UART_FCR, 1, UART_FCR_ENABLE_FIFO);
  uart.write(COM1 + UART_MCR, 1, 0x10); // loopback
  for (let i = 0; i < 17; i++) uart.write(COM1, 1, 0x41 + i);
  assert.is(uart.read(COM1 + UART_LSR, 1) & 0x03, 0x03, "DR and OE");
  assert.is(uart.read(COM1 + UART_LSR, 1) & 0x02, 0, "reading LSR cleared OE");
  let got = "";
  while (uart.read(COM1 + UART_LSR, 1) & 0x01) got += String.fromCharCode(uart.read(COM1, 1));
  assert.is(got, "ABCDEFGHIJKLMNOP", "the 17th byte was lost");
});

// ---- PCI ----

// arch/x86/pci/direct.c: PCI_CONF1_ADDRESS, pci_conf1_read, pci_check_type1, pci_sanity_check.
const PCI_CONF1_ADDRESS = (bus: number, devfn: number, reg: number) =>
  (0x8000_0000 | ((reg & 0xf00) << 16) | (bus << 16) | (devfn << 8) | (reg & 0xfc)) >>> 0;

function conf1Read(bus: PortBus, b: number, devfn: number, reg: number, len: 1 | 2 | 4): number {
  const { inb, inw, inl, outl } = io(bus);
  outl(PCI_CONF1_ADDRESS(b, devfn, reg), 0xcf8);
  return len === 1 ? inb(0xcfc + (reg & 3)) : len === 2 ? inw(0xcfc + (reg & 2)) : inl(0xcfc);
}

function checkType1(bus: PortBus): { readBack: number; sane: boolean } {
  const { outb, inl, outl } = io(bus);
  outb(0x01, 0xcfb);
  const tmp = inl(0xcf8);
  outl(0x8000_0000, 0xcf8);
  const readBack = inl(0xcf8);
  let sane = false;
  // pci_sanity_check, with dmi_get_bios_year() = 0: no SMBIOS.
  for (let devfn = 0; devfn < 0x100 && !sane; devfn++) {
    const cls = conf1Read(bus, 0, devfn, 0x0a, 2);
    if (cls === 0x0600 || cls === 0x0300) sane = true;
    const vendor = conf1Read(bus, 0, devfn, 0x00, 2);
    if (vendor === 0x8086 || vendor === 0x0e11) sane = true;
  }
  outl(tmp, 0xcf8);
  return { readBack, sane };
}

test("pci: pci_check_type1 reads the address back and its sanity check finds the host bridge", () => {
  const bus = new PortBus();
  const pci = bus.add(new PciHost());
  assert.equal(checkType1(bus), { readBack: 0x8000_0000, sane: true });
  assert.is(pci.address, 0, "the saved CONFIG_ADDRESS is restored");
  assert.is(conf1Read(bus, 0, 0, 0x00, 4), 0x1237_8086, "00:00.0 vendor and device");
  assert.is(conf1Read(bus, 0, 0, 0x08, 4), 0x0600_0002, "class 06/00/00, revision 2");
  assert.is(conf1Read(bus, 0, 0, 0x0e, 1), 0x00, "header type 0, single function");
  assert.is(conf1Read(bus, 0, 0, 0x10, 4), 0, "no BARs");
  assert.is(conf1Read(bus, 0, 1 << 3, 0x00, 4), 0xffff_ffff, "00:01.0: no device");
  assert.is(conf1Read(bus, 1, 0, 0x00, 2), 0xffff, "bus 1: nothing");
});

test("pci: with no devices every config read is all ones, writes are ignored", () => {
  const bus = new PortBus();
  bus.add(new PciHost({ bus0: new Map() }));
  const { readBack, sane } = checkType1(bus);
  assert.is(readBack, 0x8000_0000);
  assert.not.ok(sane, "Linux would need DMI year >= 2001 to accept type 1 here");
  io(bus).outl(PCI_CONF1_ADDRESS(0, 0, 0x04), 0xcf8);
  io(bus).outw(0x0007, 0xcfc);
  assert.is(conf1Read(bus, 0, 0, 0x04, 2), 0xffff);
  assert.is(conf1Read(bus, 0, 0, 0x00, 1), 0xff);
  io(bus).outl(0, 0xcf8);
  assert.is(io(bus).inl(0xcfc), 0xffff_ffff, "disabled CONFIG_ADDRESS: the data port floats");
});

test("pci: host bridge config writes keep only writable bits", () => {
  const bus = new PortBus();
  bus.add(new PciHost({ bus0: new Map([[0, i440fxHostBridge()]]) }));
  const { outl, outb } = io(bus);
  outl(PCI_CONF1_ADDRESS(0, 0, 0x00), 0xcf8);
  io(bus).outl(0xdead_beef, 0xcfc);
  assert.is(conf1Read(bus, 0, 0, 0x00, 4), 0x1237_8086, "IDs are read-only");
  outl(PCI_CONF1_ADDRESS(0, 0, 0x59), 0xcf8);
  outb(0x30, 0xcfc + (0x59 & 3));
  assert.is(conf1Read(bus, 0, 0, 0x59, 1), 0x30, "PAM0 holds what is written");
  outl(PCI_CONF1_ADDRESS(0, 0, 0x04), 0xcf8);
  io(bus).outw(0xffff, 0xcfc);
  assert.is(conf1Read(bus, 0, 0, 0x04, 2), 0x0046);
});

test("pci: reset via 0xcf9 (native_machine_emergency_restart, BOOT_CF9_FORCE, cold)", () => {
  const resets: string[] = [];
  const bus = new PortBus();
  bus.add(new PciHost({ onReset: (s) => resets.push(s) }));
  const { inb, outb } = io(bus);
  const reboot_code = 0x0e;
  const cf9 = inb(0xcf9) & ~reboot_code;
  outb(cf9 | 2, 0xcf9); // request hard reset
  assert.equal(resets, []);
  outb(cf9 | reboot_code, 0xcf9);
  assert.equal(resets, ["pci-cf9"]);
  assert.is(inb(0xcf9), 0x0a, "RST_CPU self-clears");
});

// ---- CMOS RTC ----

const CMOS_READ = (bus: PortBus, reg: number) => (io(bus).outb(reg, 0x70), io(bus).inb(0x71));
const CMOS_WRITE = (bus: PortBus, v: number, reg: number) => (io(bus).outb(reg, 0x70), io(bus).outb(v, 0x71));

/** mc146818_get_time (drivers/rtc/rtc-mc146818-lib.c) with mc146818_avoid_UIP around
 *  the readout, and no ACPI century register. */
function mc146818GetTime(bus: PortBus) {
  for (let i = 0; i < 100; i++) {
    const seconds = CMOS_READ(bus, 0x00);
    if (CMOS_READ(bus, 0x0a) & 0x80) continue;
    if (seconds !== CMOS_READ(bus, 0x00)) continue;
    const t = {
      sec: seconds, min: CMOS_READ(bus, 0x02), hour: CMOS_READ(bus, 0x04),
      mday: CMOS_READ(bus, 0x07), mon: CMOS_READ(bus, 0x08), year: CMOS_READ(bus, 0x09),
      ctrl: CMOS_READ(bus, 0x0b),
    };
    if (CMOS_READ(bus, 0x0a) & 0x80) continue;
    if (seconds !== CMOS_READ(bus, 0x00)) continue;
    return t;
  }
  throw new Error("UIP never clear");
}

const bcd2bin = (v: number) => (v >> 4) * 10 + (v & 0xf);

test("cmos: the time reads in BCD, 24-hour, for a fixed clock", () => {
  const bus = new PortBus();
  bus.add(new Cmos({ clock: () => Date.UTC(2024, 1, 29, 23, 59, 58, 500) }));
  const t = mc146818GetTime(bus);
  assert.equal(t, { sec: 0x58, min: 0x59, hour: 0x23, mday: 0x29, mon: 0x02, year: 0x24, ctrl: 0x02 });
  assert.is(t.ctrl & 0x04, 0, "DM = 0: BCD");
  // Linux: bcd2bin every field; year 24 <= 69 so tm_year += 100.
  let year = bcd2bin(t.year);
  if (year <= 69) year += 100;
  assert.is(1900 + year, 2024);
  assert.is(CMOS_READ(bus, 0x32), 0x20, "century");
  assert.is(CMOS_READ(bus, 0x06), 0x05, "Thursday");
  assert.is(CMOS_READ(bus, 0x0d), 0x80, "VRT: valid RAM and time");
  assert.is(CMOS_READ(bus, 0x0a), 0x26, "UIP clear, 32.768 kHz base");
  assert.is(CMOS_READ(bus, 0x80 | 0x00), 0x58, "index bit 7 (NMI mask) is not part of the index");
});

test("cmos: the clock moves with the clock function; binary and 12-hour modes", () => {
  let now = Date.UTC(2024, 11, 31, 13, 59, 59);
  const bus = new PortBus();
  bus.add(new Cmos({ clock: () => now }));
  now += 1000;
  assert.equal([CMOS_READ(bus, 0x00), CMOS_READ(bus, 0x02), CMOS_READ(bus, 0x04)], [0x00, 0x00, 0x14]);
  CMOS_WRITE(bus, 0x02 | 0x04, 0x0b); // 24 h, binary
  assert.is(CMOS_READ(bus, 0x04), 14);
  CMOS_WRITE(bus, 0x00, 0x0b);        // 12 h, BCD
  assert.is(CMOS_READ(bus, 0x04), 0x80 | 0x02, "2 PM");
});

test("cmos: mc146818_set_time with SET held moves the guest's clock, not the host's", () => {
  let now = Date.UTC(2024, 0, 1, 0, 0, 0, 250);
  const bus = new PortBus();
  const cmos = bus.add(new Cmos({ clock: () => now }));
  const save_control = CMOS_READ(bus, 0x0b);
  CMOS_WRITE(bus, save_control | 0x80, 0x0b);
  const save_freq_select = CMOS_READ(bus, 0x0a);
  CMOS_WRITE(bus, save_freq_select | 0x70, 0x0a); // RTC_DIV_RESET2
  now += 5000; // the clock is frozen while SET is held
  assert.is(CMOS_READ(bus, 0x00), 0x00);
  CMOS_WRITE(bus, 0x99, 0x09);
  CMOS_WRITE(bus, 0x12, 0x08);
  CMOS_WRITE(bus, 0x31, 0x07);
  CMOS_WRITE(bus, 0x23, 0x04);
  CMOS_WRITE(bus, 0x59, 0x02);
  CMOS_WRITE(bus, 0x30, 0x00);
  CMOS_WRITE(bus, 0x19, 0x32);
  CMOS_WRITE(bus, save_control, 0x0b);
  CMOS_WRITE(bus, save_freq_select, 0x0a);
  assert.equal(mc146818GetTime(bus), { sec: 0x30, min: 0x59, hour: 0x23, mday: 0x31, mon: 0x12, year: 0x99, ctrl: 0x02 });
  now += 30_000;
  assert.equal([CMOS_READ(bus, 0x00), CMOS_READ(bus, 0x02), CMOS_READ(bus, 0x07), CMOS_READ(bus, 0x09), CMOS_READ(bus, 0x32)],
    [0x00, 0x00, 0x01, 0x00, 0x20], "rolls over into 2000");
  assert.is(cmos.offsetMs, Date.UTC(1999, 11, 31, 23, 59, 30) - Date.UTC(2024, 0, 1, 0, 0, 5, 250));
});

test("cmos: NVRAM reads back, status C reads clear, memory bytes from the RAM size", () => {
  const bus = new PortBus();
  bus.add(new Cmos({ ramBytes: 256 << 20 }));
  CMOS_WRITE(bus, 0x5a, 0x40);
  assert.is(CMOS_READ(bus, 0x40), 0x5a);
  assert.is(CMOS_READ(bus, 0x0c), 0x00);
  CMOS_WRITE(bus, 0xff, 0x0d);
  assert.is(CMOS_READ(bus, 0x0d), 0x80, "D is read-only");
  assert.is(CMOS_READ(bus, 0x10), 0x00, "no floppy drives");
  assert.is(CMOS_READ(bus, 0x15) | (CMOS_READ(bus, 0x16) << 8), 640);
  assert.is(CMOS_READ(bus, 0x17) | (CMOS_READ(bus, 0x18) << 8), 0xffff, "saturates at 64 MiB");
  assert.is(CMOS_READ(bus, 0x30) | (CMOS_READ(bus, 0x31) << 8), 0xffff);
  assert.is(CMOS_READ(bus, 0x34) | (CMOS_READ(bus, 0x35) << 8), (256 - 16) * 16, "64 KiB units above 16 MiB");
});

// ---- PIT ----

const NS_PER_TICK = 1e9 / PIT_HZ;
const atTick = (n: number) => Math.ceil(n * NS_PER_TICK);

test("pit: quick_pit_calibrate sees counter 2's MSB fall once per 256 ticks in mode 0", () => {
  let t = 1_000_000;
  const bus = new PortBus();
  bus.add(new Pit(() => t));
  const { inb, outb } = io(bus);
  outb((inb(0x61) & ~0x02) | 0x01, 0x61); // gate high, speaker off
  outb(0xb0, 0x43);                        // counter 2, LSB then MSB, mode 0, binary
  outb(0xff, 0x42);
  outb(0xff, 0x42);
  const t0 = t;
  const pit_verify_msb = (val: number) => (inb(0x42), inb(0x42) === val);
  const readCount = () => inb(0x42) | (inb(0x42) << 8);
  assert.is(readCount(), 0xffff);
  for (const ticks of [1, 100, 255, 256, 257, 1000, 0xff00, 0xffff]) {
    t = t0 + atTick(ticks);
    assert.is(readCount(), 0xffff - ticks, `after ${ticks} ticks`);
  }
  for (let i = 0; i < 50; i++) {
    t = t0 + atTick(i * 256 + 128);
    assert.ok(pit_verify_msb(0xff - i), `MSB ${0xff - i} in its window`);
  }
  t = t0 + atTick(0x1_0000 + 5);
  assert.is(readCount(), 0xfffa, "mode 0 wraps and keeps counting after terminal count");
});

test("pit: pit_calibrate_tsc polls OUT2 (port 0x61 bit 5) until the 10 ms latch expires", () => {
  let t = 0;
  const bus = new PortBus();
  bus.add(new Pit(() => t));
  const { inb, outb } = io(bus);
  const latch = Math.floor(PIT_HZ / (1000 / 10)); // CAL_LATCH
  outb((inb(0x61) & ~0x02) | 0x01, 0x61);
  outb(0xb0, 0x43);
  outb(latch & 0xff, 0x42);
  outb(latch >> 8, 0x42);
  let pitcnt = 0;
  while ((inb(0x61) & 0x20) === 0) {
    t += 1000; // 1 µs per poll
    pitcnt++;
  }
  assert.ok(Math.abs(t - 10_000_000) <= 1000, `OUT2 rose at ${t} ns, latch ${latch}`);
  assert.ok(pitcnt >= 1000, "loopmin");
  assert.is(inb(0x61) & 0x20, 0x20, "and stays high");
});

test("pit: port 0x61 keeps gate and speaker bits, refresh toggles per read", () => {
  const bus = new PortBus();
  bus.add(new Pit(() => 0));
  const { inb, outb } = io(bus);
  outb(0x03, 0x61);
  const a = inb(0x61), b = inb(0x61);
  assert.is(a & 0x0f, 0x03);
  assert.is((a ^ b) & 0x10, 0x10);
});

test("pit: counter latch command freezes the value read while time moves", () => {
  let t = 0;
  const bus = new PortBus();
  const pit = bus.add(new Pit(() => t));
  const { inb, outb } = io(bus);
  outb(0x01, 0x61);
  outb(0xb0, 0x43);
  outb(0x00, 0x42);
  outb(0x10, 0x42); // 0x1000
  t = atTick(0x100);
  outb(0x80, 0x43); // counter 2 latch
  t = atTick(0x800);
  assert.is(inb(0x42) | (inb(0x42) << 8), 0x0f00, "latched");
  assert.is(inb(0x42) | (inb(0x42) << 8), 0x0800, "the latch is spent: live again");
  outb(0x00, 0x61); // gate low stops mode 0
  t = atTick(0x900);
  assert.is(pit.counters[2].value(), 0x0800);
  outb(0x01, 0x61);
  t = atTick(0x900 + 0x10);
  assert.is(pit.counters[2].value(), 0x07f0, "and it resumes where it stopped");
});

test("pit: Linux's i8254() (arch/x86/lib/kaslr.c) reads counter 0 never programmed: read-back status without null count", () => {
  const bus = new PortBus();
  bus.add(new Pit(() => 0));
  const { inb, outb } = io(bus);
  outb(0xc2, 0x43); // read-back: latch counter 0's status
  assert.is(inb(0x40) & 0x40, 0, "no null count: the loop ends");
  outb(0x34, 0x43); // a control word: null count until the count is written
  outb(0xc2, 0x43);
  assert.is(inb(0x40) & 0x40, 0x40);
  outb(0x00, 0x40);
  outb(0x10, 0x40);
  outb(0xc2, 0x43);
  assert.is(inb(0x40) & 0x40, 0, "taken");
});

test("pit: i8253 periodic (0x34, mode 2) and one-shot (0x38, mode 4) on counter 0", () => {
  let t = 0;
  const bus = new PortBus();
  const pit = bus.add(new Pit(() => t));
  const { inb, outb } = io(bus);
  const LATCH = Math.floor((PIT_HZ + 250 / 2) / 250); // HZ = 250
  // pit_set_periodic
  outb(0x34, 0x43);
  outb(LATCH & 0xff, 0x40);
  outb(LATCH >> 8, 0x40);
  const ch0 = pit.counters[0];
  t = atTick(LATCH * 3 + 10);
  assert.is(ch0.value(), LATCH - 10, "mode 2 reloads each period");
  assert.is(ch0.nextRiseNs(), atTick(LATCH * 4), "next IRQ 0 at the period's end");
  // i8253 clocksource read: latch, LSB, MSB
  outb(0x00, 0x43);
  assert.is(inb(0x40) | (inb(0x40) << 8), LATCH - 10);
  // read-back status of counter 0: OUT high, RW = 11, mode 2
  outb(0xe2, 0x43);
  assert.is(inb(0x40), 0x80 | 0x30 | (2 << 1));
  // pit_set_oneshot, then pit_next_event(delta = 1000)
  outb(0x38, 0x43);
  assert.ok(ch0.out(), "mode 4: OUT high after the control word");
  const t1 = 12_000; // the PIT clock runs free: counts start on its edges
  t = atTick(t1) + 300;
  outb(1000 & 0xff, 0x40);
  outb(1000 >> 8, 0x40);
  assert.is(ch0.nextRiseNs(), atTick(t1 + 1001), "the strobe ends one tick after terminal count");
  t = atTick(t1 + 1000);
  assert.not.ok(ch0.out(), "strobe low at terminal count");
  t = atTick(t1 + 1001);
  assert.ok(ch0.out());
  assert.is(ch0.nextRiseNs(), undefined, "one shot");
});

test("pit: BCD counting and LSB-only access", () => {
  let t = 0;
  const bus = new PortBus();
  bus.add(new Pit(() => t));
  const { inb, outb } = io(bus);
  outb(0x11, 0x43); // counter 0, LSB only, mode 0, BCD
  outb(0x99, 0x40); // 99
  t = atTick(10);
  assert.is(inb(0x40), 0x89);
});

// ---- i8042 ----

test("kbc: i8042 probe (flush, self test, CTR, AUX check) and reboot by 0xfe", () => {
  const resets: string[] = [];
  const bus = new PortBus();
  bus.add(new Kbc8042({ onReset: (s) => resets.push(s) }));
  const { inb, outb } = io(bus);
  const OBF = 0x01, IBF = 0x02, AUXDATA = 0x20;
  const waitWrite = () => { for (let i = 0; i < 10000; i++) if (!(inb(0x64) & IBF)) return 0; return -1; };
  const waitRead = () => { for (let i = 0; i < 10000; i++) if (inb(0x64) & OBF) return 0; return -1; };
  // __i8042_command: command in bits 7:0, bytes to send in 15:12, to receive in 11:8.
  const command = (param: number[], cmd: number): number => {
    if (waitWrite()) return -1;
    outb(cmd & 0xff, 0x64);
    for (let i = 0; i < ((cmd >> 12) & 0xf); i++) {
      if (waitWrite()) return -1;
      outb(param[i], 0x60);
    }
    for (let i = 0; i < ((cmd >> 8) & 0xf); i++) {
      if (waitRead()) return -1;
      if (cmd === 0x11d3 && !(inb(0x64) & AUXDATA)) return -1;
      param[i] = inb(0x60);
    }
    return 0;
  };
  // i8042_controller_check: i8042_flush finds nothing waiting.
  assert.is(inb(0x64) & OBF, 0);
  assert.is.not(inb(0x64), 0xff, "a controller is present");
  // i8042_controller_selftest
  const p = [0];
  assert.is(command(p, 0x01aa), 0);
  assert.is(p[0], 0x55);
  // i8042_controller_init: CTR read twice, keyboard disabled, written back.
  const ctr = [0, 0];
  command(ctr.slice(0, 1), 0x0120);
  assert.is(command(ctr, 0x0120), 0);
  assert.ok(inb(0x64) & 0x10, "keylock: not inhibited");
  const newCtr = (ctr[0] | 0x10) & ~0x01;
  assert.is(command([newCtr], 0x1060), 0);
  assert.is((command(p, 0x0120), p[0]), newCtr);
  // i8042_check_aux: loopback, then AUX disable/enable checked through CTR.
  p[0] = 0x5a;
  assert.is(command(p, 0x11d3), 0);
  assert.is(p[0], 0x5a);
  assert.is(command(p, 0x00a7), 0);
  assert.is((command(p, 0x0120), p[0] & 0x20), 0x20, "AUXDIS set");
  assert.is(command(p, 0x00a8), 0);
  assert.is((command(p, 0x0120), p[0] & 0x20), 0, "AUXDIS clear");
  // A keyboard command: nothing attached, nothing answers.
  outb(0xf2, 0x60);
  assert.is(inb(0x64) & OBF, 0);
  // native_machine_emergency_restart, BOOT_KBD: kb_wait, then pulse reset.
  assert.equal(resets, []);
  for (let i = 0; i < 0x10000 && inb(0x64) & IBF; i++);
  outb(0xfe, 0x64);
  assert.equal(resets, ["kbc"]);
});

test("kbc: IRQ 12 follows a looped-back AUX byte when AUXINT is on", () => {
  const kbc = new Kbc8042();
  kbc.write(0x64, 1, 0x60);
  kbc.write(0x60, 1, 0x47); // KBDINT | AUXINT | SYS | XLATE
  kbc.write(0x64, 1, 0xd3);
  kbc.write(0x60, 1, 0xa5);
  assert.ok(kbc.irq12);
  assert.not.ok(kbc.irq1);
  assert.is(kbc.read(0x60, 1), 0xa5);
  assert.not.ok(kbc.irq12);
});

test("kbc: output port write with bit 0 clear resets too", () => {
  let reset = 0;
  const kbc = new Kbc8042({ onReset: () => reset++ });
  kbc.write(0x64, 1, 0xd1);
  kbc.write(0x60, 1, 0x03);
  assert.is(reset, 0);
  kbc.write(0x64, 1, 0xd1);
  kbc.write(0x60, 1, 0x02);
  assert.is(reset, 1);
});

// ---- 8259A ----

// arch/x86/kernel/i8259.c: probe_8259A, init_8259A, mask_and_ack_8259A, i8259A_irq_real.
function init8259A(bus: PortBus, autoEoi = false) {
  const { outb } = io(bus);
  outb(0xff, 0x21);               // mask all of 8259A-1
  outb(0x11, 0x20);               // ICW1: select 8259A-1 init
  outb(0x30, 0x21);               // ICW2: IR0-7 mapped to ISA_IRQ_VECTOR(0)
  outb(1 << 2, 0x21);             // ICW3: slave on IR2
  outb(autoEoi ? 0x03 : 0x01, 0x21); // ICW4: 8086 mode (| AEOI)
  outb(0x11, 0xa0);               // ICW1: select 8259A-2 init
  outb(0x38, 0xa1);               // ICW2: IR0-7 mapped to ISA_IRQ_VECTOR(8)
  outb(2, 0xa1);                  // ICW3: slave identity 2
  outb(0x01, 0xa1);               // ICW4
}

test("pic: probe_8259A reads back its mask, so Linux keeps the legacy PIC", () => {
  const bus = new PortBus();
  bus.add(new Pic8259Pair());
  const { inb, outb } = io(bus);
  const probe_val = ~(1 << 2) & 0xff;
  outb(0xff, 0xa1);
  outb(probe_val, 0x21);
  assert.is(inb(0x21), probe_val);
  assert.is(inb(0xa1), 0xff);
  const empty = new PortBus();
  assert.is(io(empty).inb(0x21), 0xff, "without a PIC: 0xff, the NULL legacy PIC");
});

test("pic: init_8259A, then IMR restores and reads back", () => {
  const bus = new PortBus();
  const pic = bus.add(new Pic8259Pair());
  const { inb, outb } = io(bus);
  init8259A(bus);
  assert.is(pic.master.vectorBase, 0x30);
  assert.is(pic.slave.vectorBase, 0x38);
  assert.is(inb(0x21), 0x00, "ICW1 cleared the mask");
  outb(0xfb, 0x21); // cached_master_mask: all but the cascade
  outb(0xff, 0xa1);
  assert.equal([inb(0x21), inb(0xa1)], [0xfb, 0xff]);
  assert.is(inb(0x20), 0, "IRR selected after init");
});

test("pic: IRQ 0 and IRQ 8 delivery, ISR via OCW3, specific EOI as mask_and_ack_8259A sends", () => {
  const bus = new PortBus();
  const pic = bus.add(new Pic8259Pair());
  const { inb, outb } = io(bus);
  init8259A(bus);
  outb(0xfa, 0x21); // unmask IRQ 0 and the cascade
  outb(0xfe, 0xa1); // unmask IRQ 8
  pic.raise(0);
  pic.lower(0);
  assert.ok(pic.intr);
  assert.is(inb(0x20), 0x01, "IRR");
  assert.is(pic.acknowledge(), 0x30);
  assert.not.ok(pic.intr);
  outb(0x0b, 0x20);
  assert.is(inb(0x20), 0x01, "ISR");
  outb(0x0a, 0x20);
  pic.raise(8);
  assert.not.ok(pic.intr, "IRQ 0 in service blocks the lower-priority cascade");
  outb(0x60 + 0, 0x20); // specific EOI, IR0
  assert.ok(pic.intr);
  assert.is(pic.acknowledge(), 0x38);
  outb(0x0b, 0xa0);
  assert.is(inb(0xa0), 0x01, "slave ISR");
  outb(0x0b, 0x20);
  assert.is(inb(0x20), 0x04, "master ISR: the cascade");
  outb(0x60 + 0, 0xa0); // EOI to the slave, then to the master's IR2
  outb(0x60 + 2, 0x20);
  assert.equal([pic.master.isr, pic.slave.isr], [0, 0]);
  pic.raise(8); // still high: edge-triggered, no new request
  assert.not.ok(pic.intr);
});

test("pic: masked IRQs wait in IRR; an empty INTA gives the spurious IR7 vector", () => {
  const pic = new Pic8259Pair();
  const bus = new PortBus();
  bus.add(pic);
  init8259A(bus);
  io(bus).outb(0xff, 0x21);
  pic.raise(4);
  assert.not.ok(pic.intr);
  assert.is(pic.master.irr, 0x10);
  assert.is(pic.acknowledge(), 0x37);
  io(bus).outb(0xef, 0x21);
  assert.ok(pic.intr);
  assert.is(pic.acknowledge(), 0x34);
});

test("pic: ELCR keeps level bits except IRQ 0, 1, 2, 8, 13; level IRQs follow the line", () => {
  const bus = new PortBus();
  const pic = bus.add(new Pic8259Pair());
  const { inb, outb } = io(bus);
  outb(0xff, 0x4d0);
  outb(0xff, 0x4d1);
  assert.equal([inb(0x4d0), inb(0x4d1)], [0xf8, 0xde]);
  init8259A(bus);
  pic.raise(11);
  assert.is(pic.slave.irr, 0x08);
  pic.lower(11);
  assert.is(pic.slave.irr, 0x00);
});

// ---- the set ----

test("pcDevices: one bus with every device, resets reported by source", () => {
  const resets: string[] = [];
  const lines: string[] = [];
  const d = pcDevices({ timeNs: () => 0, clockMs: () => 0, onReset: (s) => resets.push(s), onLine: (l) => lines.push(l) });
  for (const [port, name] of [[0x3f8, "com1"], [0x43, "pit-8254"], [0x61, "pit-8254"], [0x71, "cmos-rtc"],
    [0x64, "i8042"], [0xa1, "pic-8259"], [0x4d1, "pic-8259"], [0xcfc, "pci-conf1"]] as const) {
    assert.is(d.bus.deviceAt(port)?.name, name, `port ${port.toString(16)}`);
  }
  assert.is(d.bus.deviceAt(0x2f8), undefined, "COM2 is left off");
  for (const b of Buffer.from("hi\n")) d.bus.write(0x3f8, 1, b);
  d.bus.write(0x64, 1, 0xfe);
  d.bus.write(0xcf9, 1, 0x06);
  assert.equal(lines, ["hi"]);
  assert.equal(resets, ["kbc", "pci-cf9"]);
});

test.run();
