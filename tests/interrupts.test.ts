// The interrupt router (host/interrupts.ts) on the real 8259A pair and local APIC models:
// sources declared once, the machine naming none of them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PortBus } from "../host/devices/bus.ts";
import { Pic8259Pair } from "../host/devices/pic.ts";
import { Lapic } from "../host/devices/lapic.ts";
import { InterruptRouter, type IrqSource } from "../host/interrupts.ts";

/** Both 8259As initialised as Linux's init_8259A does (vectors 0x30 and 0x38), all unmasked. */
function pic(): Pic8259Pair {
  const bus = new PortBus();
  const p = bus.add(new Pic8259Pair());
  for (const [port, v] of [[0x20, 0x11], [0x21, 0x30], [0x21, 4], [0x21, 1], [0xa0, 0x11], [0xa1, 0x38], [0xa1, 2], [0xa1, 1], [0x21, 0], [0xa1, 0]]) bus.write(port, 1, v);
  return p;
}

test("router: a timer's edges latch once each, a level line follows its device, the APIC timer goes first; the next deadline is the earliest source's", () => {
  let now = 0;
  let uartIrq = false;
  const p = pic();
  const lapic = new Lapic(() => now, 1_000_000);
  const tick = 4_000_000; // a 250 Hz timer on IRQ 0
  const sources: IrqSource[] = [
    { irq: 0, nextRiseNs: (since) => (Math.floor(since / tick) + 1) * tick },
    { irq: 4, level: () => uartIrq },
  ];
  const r = new InterruptRouter(p, lapic, sources);
  assert.is(r.take(now), undefined);
  assert.not.ok(r.waiting(now));
  assert.is(r.nextEventNs(now), tick);
  now = tick;
  assert.ok(r.waiting(now), "IRQ 0's edge is due");
  assert.equal(r.take(now), { vector: 0x30, what: "interrupt" });
  p.write(0x20, 1, 0x20); // EOI
  assert.is(r.take(now), undefined, "one edge, taken once");
  uartIrq = true;
  assert.ok(r.waiting(now));
  assert.equal(r.take(now), { vector: 0x34, what: "interrupt" });
  uartIrq = false;
  p.write(0x20, 1, 0x20);
  assert.is(r.take(now), undefined, "the line went down");
  // Local APIC timer, one-shot, vector 0xec, 100 counts at 1 MHz divided by 1: 100 µs.
  lapic.write(0x3e0, 0xb);
  lapic.write(0x320, 0xec);
  lapic.write(0x380, 100);
  assert.is(r.nextEventNs(now), tick + 100_000, "before IRQ 0's next edge");
  now = 2 * tick;
  assert.equal(r.take(now), { vector: 0xec, what: "local APIC timer interrupt" }, "ahead of the 8259A");
  assert.equal(r.take(now), { vector: 0x30, what: "interrupt" });
});

test("router: a one-shot edge that falls between a look and the question when the next comes is still coming, and is taken", () => {
  let now = 0;
  const p = pic();
  // The PIT in mode 4, as Linux's oneshot clockevent programs it: one edge, at 5 ms.
  const edge = 5_000_000;
  const r = new InterruptRouter(p, new Lapic(() => now, 1_000_000), [{ irq: 0, nextRiseNs: (since) => (since < edge ? edge : undefined) }]);
  now = edge - 1;
  assert.is(r.take(now), undefined, "not yet due at the look");
  now = edge + 1; // the host's clock moved on before the machine asked what comes next
  assert.is(r.nextEventNs(now), edge, "the edge since the last look, not none");
  assert.ok(r.waiting(now));
  assert.equal(r.take(now), { vector: 0x30, what: "interrupt" });
  assert.is(r.nextEventNs(now), Infinity, "taken: nothing more will come");
});

test.run();
