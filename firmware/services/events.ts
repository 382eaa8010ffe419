// Events, timers and task priority levels (UEFI 2.10 §7.1), Stall and the watchdog
// (§7.5), on the machine's clock.
//
// An EFI_EVENT is the guest address of a 16-byte cell in a boot-services page the
// firmware owns, as a handle is; the record behind it is private:
//
//   event record (64 bytes)
//   ┌──────────┬──────────┬───────────────┬──────────────┬──────────────┐
//   │ type u32 │ flags u32│ notifyTpl u64 │ notifyFn u64 │ context u64  │
//   ├──────────┴──────────┴───────────────┴──────────────┴──────────────┤
//   │ group GUID (16 bytes)                 │ trigger u64 │ period u64   │
//   └───────────────────────────────────────┴─────────────┴──────────────┘
//   0 type  4 flags  8 tpl  16 fn  24 context  32 group  48 trigger  56 period
// and, beside it, per event: creation order and notify-queue order (u64 each).
//
// Notification follows EDK2's DXE core (MdeModulePkg/Core/Dxe/Event), which OVMF runs:
// a signalled EVT_NOTIFY_SIGNAL event is queued at its NotifyTpl and its function runs
// in the guest (host call_guest) when the TPL drops below that level, highest level
// first, first queued first within a level. Signalling a group member signals every
// event of the group, as §7.1 SignalEvent says (EDK2 only notifies the group's
// EVT_NOTIFY_SIGNAL members and leaves the others unsignalled).
//
// Time: the machine's clock (host time_ns); Stall and WaitForEvent skip it forward
// (host time_skip), so waiting costs no host time and the devices see the same time. Timers fire when a service call finds them due (the
// dispatcher calls tick() after every call), and while Stall or WaitForEvent skip time,
// at each deadline in order (up to MAX_STEPS of them). A periodic timer fires at most
// once per timer tick, as on firmware whose timer interrupt comes every TIMER_TICK.
import { gp, guest, guidEq, reserve } from "../mem";
import { callGuest, hostResetSystem, hostTimeNs, hostTimeSkip, hostWaitForever } from "../abi";
import { nextKeyAt, waitForKey } from "./text";
import { allocPages, FLAG_FIRMWARE } from "./alloc";
import { Evt, Guid, MemoryType, ResetType, Status, TimerDelay, Tpl } from "../spec/gen";

/** No address, no deadline (alloc.ts's NONE; alloc imports this module, so not imported). */
const NONE: u64 = u64.MAX_VALUE;
const MAX_EVENTS: i32 = 512;
const CELL: u64 = 16;
const RECORD: usize = 64;
const RECORDS: usize = reserve(<usize>MAX_EVENTS * RECORD);
const CREATED: usize = reserve(<usize>MAX_EVENTS << 3); // creation order, u64 per event
const QUEUED_AT: usize = reserve(<usize>MAX_EVENTS << 3); // notify-queue order, u64 per event
let arena: u64 = 0;
let cursor: i32 = 0;
let created: u64 = 0;
let queueOrder: u64 = 0;
let pending: i32 = 0; // events in the notify queue
let armed: i32 = 0; // timers armed

const LIVE: u32 = 1, GROUP: u32 = 2, SIGNALED: u32 = 4, QUEUED: u32 = 8, ARMED: u32 = 16;

const TYPE: usize = 0, FLAGS: usize = 4, NOTIFY_TPL: usize = 8, NOTIFY_FN: usize = 16;
const CONTEXT: usize = 24, GROUP_GUID: usize = 32, TRIGGER: usize = 48, PERIOD: usize = 56;

/** The timer interrupt period of EDK2's x86 timer drivers (10 ms), OVMF's among them. */
const TIMER_TICK: u64 = 10_000_000;
/** Idle rounds (timer firings, polls) one WaitForEvent may take with no watchdog armed before the guest counts as hung: 100000 ticks are 17 virtual minutes. */
const WAIT_ROUNDS: i32 = 100_000;

@inline function rec(i: i32): usize { return RECORDS + <usize>i * RECORD; }
@inline function flags(i: i32): u32 { return load<u32>(rec(i) + FLAGS); }
@inline function setFlags(i: i32, f: u32): void { store<u32>(rec(i) + FLAGS, f); }
@inline function evType(i: i32): u32 { return load<u32>(rec(i) + TYPE); }
@inline function tplOf(i: i32): u64 { return load<u64>(rec(i) + NOTIFY_TPL); }
@inline function cellOf(i: i32): u64 { return arena + <u64>i * CELL; }

export function eventsInit(): void {
  arena = allocPages(MemoryType.BootServicesData, (<u64>MAX_EVENTS * CELL + 4095) / 4096, FLAG_FIRMWARE);
}

/** Index of a live event, or -1. */
export function eventIndex(e: u64): i32 {
  if (arena == NONE || e < arena || e >= arena + <u64>MAX_EVENTS * CELL || (e - arena) % CELL) return -1;
  const i = <i32>((e - arena) / CELL);
  return flags(i) & LIVE ? i : -1;
}

/** The creation number of a live event (never reused), or 0: lets others notice a closed event. */
export function eventSerial(e: u64): u64 {
  const i = eventIndex(e);
  return i < 0 ? 0 : load<u64>(CREATED + (<usize>i << 3));
}

// ---------------------------------------------------------------- the clock --

/** Guest time in ns since the epoch; the host's clock never goes back. */
export function now(): u64 {
  return hostTimeNs();
}

function skipTo(t: u64): void {
  if (t > now()) hostTimeSkip(t);
}

@inline function saturatingAdd(a: u64, b: u64): u64 { return a + b < a ? u64.MAX_VALUE : a + b; }
@inline function saturatingMul(a: u64, b: u64): u64 { return a != 0 && b > u64.MAX_VALUE / a ? u64.MAX_VALUE : a * b; }

// ----------------------------------------------------------- TPL and queue --

let tpl: u64 = Tpl.APPLICATION;

export function currentTpl(): u64 { return tpl; }

/** Put event i at the tail of the notify queue of its TPL (EDK2 CoreNotifyEvent). */
function enqueue(i: i32): void {
  if (!(flags(i) & QUEUED)) {
    setFlags(i, flags(i) | QUEUED);
    pending++;
  }
  store<u64>(QUEUED_AT + (<usize>i << 3), ++queueOrder);
}

function unqueue(i: i32): void {
  if (!(flags(i) & QUEUED)) return;
  setFlags(i, flags(i) & ~QUEUED);
  pending--;
}

/**
 * Run the queued notify functions above `level`, highest TPL first, each at its own
 * TPL; then the TPL is `level`. Every notify function may call any service, including
 * ones that signal, close or queue events: the queue is searched afresh each time.
 */
export function restoreTpl(level: u64): void {
  while (pending > 0) {
    let best = -1;
    let bestTpl: u64 = 0;
    let bestAt: u64 = 0;
    for (let i = 0; i < MAX_EVENTS; i++) {
      if (!(flags(i) & QUEUED)) continue;
      const t = tplOf(i);
      const at = load<u64>(QUEUED_AT + (<usize>i << 3));
      if (t > level && (t > bestTpl || (t == bestTpl && at < bestAt))) {
        best = i;
        bestTpl = t;
        bestAt = at;
      }
    }
    if (best < 0) break;
    unqueue(best);
    // Only EVT_NOTIFY_SIGNAL events are cleared here; wait events clear in CheckEvent.
    if (evType(best) & Evt.NOTIFY_SIGNAL) setFlags(best, flags(best) & ~SIGNALED);
    tpl = bestTpl;
    callGuest(load<u64>(rec(best) + NOTIFY_FN), cellOf(best), load<u64>(rec(best) + CONTEXT));
  }
  tpl = level;
}

/** Run what is queued above the current TPL (after a service signalled something). */
export function dispatchPending(): void {
  if (pending > 0) restoreTpl(tpl);
}

export function BS_RaiseTPL(newTpl: u64): u64 {
  // §7.1: raising to a lower level is undefined; EDK2's release build sets it anyway.
  const old = tpl;
  tpl = newTpl;
  return old;
}

export function BS_RestoreTPL(oldTpl: u64): void {
  restoreTpl(oldTpl);
}

// ------------------------------------------------------------------ events --

/**
 * EDK2's list of the types CreateEvent accepts (Event.c mEventTable); §7.1 names the
 * bits but not which combinations make sense.
 */
function validType(t: u32): bool {
  return t == 0 || t == Evt.TIMER || t == (Evt.TIMER | Evt.NOTIFY_SIGNAL) || t == (Evt.TIMER | Evt.NOTIFY_WAIT) ||
    t == Evt.NOTIFY_WAIT || t == Evt.NOTIFY_SIGNAL ||
    t == Evt.SIGNAL_EXIT_BOOT_SERVICES || t == Evt.SIGNAL_VIRTUAL_ADDRESS_CHANGE;
}

/** Why createEvent returned 0. */
export let createStatus: u64 = 0;

/**
 * Create an event; `group` is a WASM address or 0. Returns the event (guest address) or
 * 0 with the status in `createStatus`.
 */
export function createEvent(type: u32, notifyTpl: u64, fn: u64, context: u64, group: usize): u64 {
  createStatus = Status.INVALID_PARAMETER;
  if (!validType(type)) return 0;
  let t = type;
  let g = group;
  if (g) {
    // A group is named by its GUID; the two EVT_SIGNAL_* types name their own.
    if (t == Evt.SIGNAL_EXIT_BOOT_SERVICES || t == Evt.SIGNAL_VIRTUAL_ADDRESS_CHANGE) return 0;
    if (guidEq(g, Guid.EVENT_GROUP_EXIT_BOOT_SERVICES)) t = Evt.SIGNAL_EXIT_BOOT_SERVICES;
    else if (guidEq(g, Guid.EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE)) t = Evt.SIGNAL_VIRTUAL_ADDRESS_CHANGE;
  } else if (t == Evt.SIGNAL_EXIT_BOOT_SERVICES) {
    g = Guid.EVENT_GROUP_EXIT_BOOT_SERVICES;
  } else if (t == Evt.SIGNAL_VIRTUAL_ADDRESS_CHANGE) {
    g = Guid.EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE;
  }
  let tl = notifyTpl, f = fn, c = context;
  if (t & (Evt.NOTIFY_WAIT | Evt.NOTIFY_SIGNAL)) {
    // Notify functions run at TPL_CALLBACK or TPL_NOTIFY (EDK2 rejects APPLICATION and
    // HIGH_LEVEL, and any value that is not a level).
    if (!f || (tl != Tpl.CALLBACK && tl != Tpl.NOTIFY)) return 0;
  } else {
    tl = 0; f = 0; c = 0;
  }
  createStatus = Status.OUT_OF_RESOURCES;
  if (arena == NONE) return 0;
  // Cells are reused round-robin, so a closed event's address stays dead for long.
  let slot = -1;
  for (let n = 0; n < MAX_EVENTS; n++) {
    const i = (cursor + n) % MAX_EVENTS;
    if (!(flags(i) & LIVE)) { slot = i; break; }
  }
  if (slot < 0) return 0;
  cursor = (slot + 1) % MAX_EVENTS;
  const r = rec(slot);
  memory.fill(r, 0, RECORD);
  store<u32>(r + TYPE, t);
  store<u32>(r + FLAGS, LIVE | (g ? GROUP : 0));
  store<u64>(r + NOTIFY_TPL, tl);
  store<u64>(r + NOTIFY_FN, f);
  store<u64>(r + CONTEXT, c);
  if (g) memory.copy(r + GROUP_GUID, g, 16);
  store<u64>(CREATED + (<usize>slot << 3), ++created);
  store<u64>(gp(cellOf(slot)), 0x746e657665); // "event", for anyone dumping memory
  createStatus = Status.SUCCESS;
  return cellOf(slot);
}

/** Mark event i signalled and queue its notify function if it has one that signals. */
function signalOne(i: i32): void {
  setFlags(i, flags(i) | SIGNALED);
  if (evType(i) & Evt.NOTIFY_SIGNAL) enqueue(i);
}

/**
 * Signal every event of a group (guid: WASM address). Members are taken newest first,
 * so that within one TPL their functions run in the order EDK2 runs them (its signal
 * list grows at the head).
 */
export function signalGroup(guid: usize): void {
  let below = u64.MAX_VALUE;
  for (;;) {
    let best = -1;
    let bestSerial: u64 = 0;
    for (let i = 0; i < MAX_EVENTS; i++) {
      if ((flags(i) & (LIVE | GROUP)) != (LIVE | GROUP) || !guidEq(rec(i) + GROUP_GUID, guid)) continue;
      const s = load<u64>(CREATED + (<usize>i << 3));
      if (s < below && s > bestSerial) { best = i; bestSerial = s; }
    }
    if (best < 0) return;
    signalOne(best);
    below = bestSerial;
  }
}

/** Signal event e (queue only: the caller runs dispatchPending when its state is consistent). */
export function signal(e: u64): void {
  const i = eventIndex(e);
  if (i < 0 || flags(i) & SIGNALED) return;
  if (flags(i) & GROUP) signalGroup(rec(i) + GROUP_GUID);
  else signalOne(i);
}

/**
 * Call the notify function of every event in a group directly, oldest first, whatever
 * the TPL: SetVirtualAddressMap's EVT_SIGNAL_VIRTUAL_ADDRESS_CHANGE events, which run
 * after ExitBootServices where there is no TPL machinery (EDK2 RuntimeDxe does the same).
 */
export function callGroupDirect(guid: usize): void {
  let above: u64 = 0;
  for (;;) {
    let best = -1;
    let bestSerial = u64.MAX_VALUE;
    for (let i = 0; i < MAX_EVENTS; i++) {
      if ((flags(i) & (LIVE | GROUP)) != (LIVE | GROUP) || !guidEq(rec(i) + GROUP_GUID, guid)) continue;
      const s = load<u64>(CREATED + (<usize>i << 3));
      if (s > above && s < bestSerial) { best = i; bestSerial = s; }
    }
    if (best < 0) return;
    above = bestSerial;
    const fn = load<u64>(rec(best) + NOTIFY_FN);
    if (fn) callGuest(fn, cellOf(best), load<u64>(rec(best) + CONTEXT));
  }
}

export function BS_CreateEvent(type: u32, notifyTpl: u64, fn: u64, context: u64, eventOut: u64): u64 {
  return BS_CreateEventEx(type, notifyTpl, fn, context, 0, eventOut);
}

export function BS_CreateEventEx(type: u32, notifyTpl: u64, fn: u64, context: u64, group: u64, eventOut: u64): u64 {
  const out = guest(eventOut, 8);
  const g = group ? guest(group, 16) : 1;
  if (!out || !g) return Status.INVALID_PARAMETER;
  const e = createEvent(type, notifyTpl, fn, context, group ? g : 0);
  if (!e) return createStatus;
  store<u64>(out, e);
  return Status.SUCCESS;
}

export function BS_CloseEvent(e: u64): u64 {
  const i = eventIndex(e);
  if (i < 0) return Status.INVALID_PARAMETER;
  disarm(i);
  unqueue(i);
  // Protocol-notify registrations of this event die with it (handles.ts checks the
  // event's serial before each use).
  setFlags(i, 0);
  store<u64>(gp(cellOf(i)), 0);
  return Status.SUCCESS;
}

export function BS_SignalEvent(e: u64): u64 {
  if (eventIndex(e) < 0) return Status.INVALID_PARAMETER;
  signal(e);
  dispatchPending();
  return Status.SUCCESS;
}

/** CheckEvent's work; WaitForEvent uses it for each event. */
function check(e: u64): u64 {
  const i = eventIndex(e);
  if (i < 0 || evType(i) & Evt.NOTIFY_SIGNAL) return Status.INVALID_PARAMETER;
  // ConIn's WaitForKey: signalled once a keystroke is due (§12.3 WaitForKey).
  if (e == waitForKey && !(flags(i) & SIGNALED) && nextKeyAt() <= now()) signalOne(i);
  if (!(flags(i) & SIGNALED) && evType(i) & Evt.NOTIFY_WAIT) {
    // A wait event's function runs each time it is checked unsignalled; it may signal it.
    enqueue(i);
    dispatchPending();
    if (eventIndex(e) != i) return Status.NOT_READY; // its function closed it
  }
  if (!(flags(i) & SIGNALED)) return Status.NOT_READY;
  setFlags(i, flags(i) & ~SIGNALED);
  return Status.SUCCESS;
}

export function BS_CheckEvent(e: u64): u64 {
  return check(e);
}

export function BS_WaitForEvent(count: u64, events: u64, indexOut: u64): u64 {
  if (tpl != Tpl.APPLICATION) return Status.UNSUPPORTED;
  const list = count && count <= <u64>MAX_EVENTS ? guest(events, count << 3) : 0;
  // Index is optional in EDK2; the spec has no status for a NULL one.
  const out = indexOut ? guest(indexOut, 8) : 0;
  if (!list || (indexOut && !out)) return Status.INVALID_PARAMETER;
  for (let rounds = 0; ; rounds++) {
    let polling = false;
    for (let n: u64 = 0; n < count; n++) {
      const e = load<u64>(list + <usize>(n << 3));
      const st = check(e);
      if (st == Status.NOT_READY) {
        const i = eventIndex(e);
        if (i >= 0 && evType(i) & Evt.NOTIFY_WAIT) polling = true;
        continue;
      }
      if (out) store<u64>(out, n);
      return st;
    }
    // Nothing signalled. The CPU idles to the next timer interrupt (EDK2 signals its idle
    // event, which halts): a timer's deadline, or one tick on when a wait event's notify
    // function must poll again.
    let d = nextDeadline();
    if (polling) d = min(d, saturatingAdd(now(), TIMER_TICK));
    if (waits(list, count, waitForKey)) d = min(d, nextKeyAt());
    // No timer, no key to come and nothing polling: nothing can ever signal these events.
    // Nor after WAIT_ROUNDS of idling with no watchdog to end it. The guest waits for
    // ever: the host ends the run, rather than spin where it cannot stop it.
    if (d == NONE || (rounds == WAIT_ROUNDS && watchdogAt == NONE)) {
      hostWaitForever();
      return Status.ABORTED;
    }
    advanceTo(d);
    if (watchdogFired) return Status.TIMEOUT;
  }
  return unreachable();
}

// ------------------------------------------------------------------ timers --

/** Whether event `e` is among the `count` events at `list`. */
function waits(list: usize, count: u64, e: u64): bool {
  for (let n: u64 = 0; n < count; n++) if (load<u64>(list + <usize>(n << 3)) == e) return true;
  return false;
}

function disarm(i: i32): void {
  if (!(flags(i) & ARMED)) return;
  setFlags(i, flags(i) & ~ARMED);
  armed--;
}

let timersStopped = false;
let watchdogAt: u64 = NONE;
export let watchdogFired = false;

/** Timers fire unless ExitBootServices stopped them or interrupts are off (TPL_HIGH_LEVEL). */
@inline function timersRun(): bool { return armed > 0 && !timersStopped && tpl < Tpl.HIGH_LEVEL; }

/** Earliest deadline that can fire now: an armed timer's or the watchdog's; NONE if none. */
function nextDeadline(): u64 {
  let d = watchdogAt;
  if (timersRun()) {
    for (let i = 0; i < MAX_EVENTS; i++) {
      if (flags(i) & ARMED && load<u64>(rec(i) + TRIGGER) < d) d = load<u64>(rec(i) + TRIGGER);
    }
  }
  return d;
}

/**
 * Signal the timers due at t, earliest deadline first (EDK2 CoreCheckTimers); a
 * periodic one is re-armed one period on, or one period after t if it fell behind.
 */
function fireDue(t: u64): void {
  if (watchdogAt <= t) {
    // The platform resets, as EDK2's watchdog driver does: ResetSystem(EfiResetCold, EFI_TIMEOUT).
    watchdogAt = NONE;
    watchdogFired = true;
    hostResetSystem(ResetType.EfiResetCold, Status.TIMEOUT);
    return;
  }
  while (timersRun()) {
    let best = -1;
    let bestAt = t;
    for (let i = 0; i < MAX_EVENTS; i++) {
      if (flags(i) & ARMED && load<u64>(rec(i) + TRIGGER) <= bestAt) {
        if (best < 0 || load<u64>(rec(i) + TRIGGER) < bestAt) { best = i; bestAt = load<u64>(rec(i) + TRIGGER); }
      }
    }
    if (best < 0) return;
    const r = rec(best);
    const period = load<u64>(r + PERIOD);
    if (period) {
      const next = saturatingAdd(bestAt, period);
      store<u64>(r + TRIGGER, next > t ? next : saturatingAdd(t, period));
    } else {
      disarm(best);
    }
    signal(cellOf(best));
  }
}

/**
 * Deadlines one Stall or wait stops at before the rest of its timer ticks are let fall
 * behind: 4096 ticks is 41 s of virtual time at the 10 ms tick, a few milliseconds of
 * host time. Past it, the skip goes straight to its end and each timer fires once there,
 * a periodic one re-armed from then on, as EDK2's CoreCheckTimers does for a timer that
 * fell behind. Without the bound, Stall(2^64 - 1) with a periodic timer armed would keep
 * the host in the firmware for weeks, out of reach of the run's time budget.
 */
const MAX_STEPS = 4096;

/**
 * Let virtual time reach `target`, stopping at every deadline on the way (up to
 * MAX_STEPS), in order, to signal the timers due and run the notify functions that the
 * current TPL allows.
 */
function advanceTo(target: u64): void {
  for (let steps = 0; steps < MAX_STEPS; steps++) {
    fireDue(now());
    dispatchPending();
    if (watchdogFired) return;
    const d = nextDeadline();
    if (d == NONE || d > target) break;
    skipTo(d);
  }
  skipTo(target);
  fireDue(now());
  dispatchPending();
}

let ticking = false;

/** Consecutive idle ticks in which no timer was armed and no key was coming. */
let idleRounds = 0;

/**
 * The guest halted (HLT) during boot services, to wait for the timer interrupt as a loader
 * does in its idle loop: the CPU wakes at the next tick (TIMER_TICK), or at an armed
 * timer's deadline or a keystroke due before it; due timers fire and their notify
 * functions run. False when nothing can ever come: no timer, no keystroke, and the guest
 * has idled WAIT_ROUNDS ticks with nothing (a `hlt` loop waiting for what never comes).
 */
export function idle(): bool {
  const d = min(nextDeadline(), nextKeyAt());
  if (d == NONE && watchdogAt == NONE) {
    if (++idleRounds >= WAIT_ROUNDS) return false;
  } else {
    idleRounds = 0;
  }
  advanceTo(min(d, saturatingAdd(now(), TIMER_TICK)));
  return true;
}

/** After every service call: fire due timers and run what they queue (the timer interrupt). */
export function tick(): void {
  if (!ticking && (armed > 0 || watchdogAt != NONE)) {
    ticking = true;
    fireDue(now());
    ticking = false;
  }
  dispatchPending();
}

export function BS_SetTimer(e: u64, type: u32, triggerTime: u64): u64 {
  const i = eventIndex(e);
  if (i < 0 || type > TimerDelay.TimerRelative || !(evType(i) & Evt.TIMER)) return Status.INVALID_PARAMETER;
  disarm(i);
  if (type == TimerDelay.TimerCancel) return Status.SUCCESS;
  const ns = saturatingMul(triggerTime, 100); // TriggerTime counts 100 ns units
  const r = rec(i);
  // A periodic timer of 0 fires every tick; none fires more often than the tick.
  store<u64>(r + PERIOD, type == TimerDelay.TimerPeriodic ? max(ns, TIMER_TICK) : 0);
  store<u64>(r + TRIGGER, saturatingAdd(now(), ns));
  setFlags(i, flags(i) | ARMED);
  armed++;
  // A relative timer of 0 fires at the next tick: now.
  if (ns == 0) {
    fireDue(now());
    dispatchPending();
  }
  return Status.SUCCESS;
}

/** ExitBootServices: the timer interrupt stops (EDK2 sets the timer period to 0) and so does the watchdog (§7.5). */
export function stopTimers(): void {
  timersStopped = true;
  watchdogAt = NONE;
}

export function BS_Stall(microseconds: u64): u64 {
  advanceTo(saturatingAdd(now(), saturatingMul(microseconds, 1000)));
  return Status.SUCCESS;
}

/**
 * §7.5 SetWatchdogTimer: codes 0 to 0xFFFF are the firmware's own, so arming with one is
 * refused; disarming (Timeout 0) is accepted with any code, since loaders commonly
 * disarm with code 0 (GRUB, EDK2's own boot manager). EDK2 checks no code at all.
 */
export function BS_SetWatchdogTimer(timeout: u64, code: u64, dataSize: u64, data: u64): u64 {
  if (timeout == 0) {
    watchdogAt = NONE;
    return Status.SUCCESS;
  }
  if (code <= 0xffff) return Status.INVALID_PARAMETER;
  watchdogAt = saturatingAdd(now(), saturatingMul(timeout, 1_000_000_000));
  return Status.SUCCESS;
}
