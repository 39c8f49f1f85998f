// poll_oneoff, reimplemented so that a sleeping guest can be stopped.
//
// node:wasi sleeps for clock subscriptions inside uvwasi (uv_sleep), where neither Worker.terminate()
// nor anything else can reach the thread until the sleep ends: an hour-long sleep() made the sandbox
// unkillable for an hour. Here the wait is Atomics.wait on the control block's stop word, which the
// agent's Atomics.notify interrupts at once.
//
// Descriptor subscriptions are answered as ready immediately: every descriptor a guest can hold is a
// regular file, a directory or the capture of stdout/stderr, none of which ever blocks.

import type { GuestMemory } from './guest-memory.ts';
import { Clock, Errno, EventType, EVENT_SIZE, SUBCLOCKFLAG_ABSTIME, SUBSCRIPTION_SIZE } from './wasi-abi.ts';

export interface PollHooks {
  /** Blocks up to `ms` milliseconds, returning early (or throwing) when the sandbox is stopped. */
  sleep(ms: number): void;
  /** Called once before the guest blocks (used to flush its log output to the agent). */
  beforeBlock(): void;
}

interface Ready {
  userdata: bigint;
  error: number;
  type: number;
}

export function makePollOneoff(mem: GuestMemory, hooks: PollHooks) {
  return function poll_oneoff(inPtr: number, outPtr: number, nsubs: number, neventsPtr: number): number {
    nsubs >>>= 0;
    if (nsubs === 0) return Errno.INVAL;
    try {
      mem.check(inPtr, nsubs * SUBSCRIPTION_SIZE);
      mem.check(outPtr, nsubs * EVENT_SIZE);
      mem.check(neventsPtr, 4);
    } catch {
      return Errno.FAULT;
    }
    const monoNow = process.hrtime.bigint();
    const immediate: Ready[] = [];
    const timers: Array<{ userdata: bigint; deadline: bigint }> = [];
    let view = mem.view();
    for (let i = 0; i < nsubs; i++) {
      const base = (inPtr >>> 0) + i * SUBSCRIPTION_SIZE;
      const userdata = view.getBigUint64(base, true);
      const tag = view.getUint8(base + 8);
      if (tag === EventType.CLOCK) {
        const id = view.getUint32(base + 16, true);
        const timeout = view.getBigUint64(base + 24, true);
        const absolute = (view.getUint16(base + 40, true) & SUBCLOCKFLAG_ABSTIME) !== 0;
        const deadline = monotonicDeadline(id, timeout, absolute, monoNow);
        if (deadline === undefined) immediate.push({ userdata, error: Errno.INVAL, type: tag });
        else timers.push({ userdata, deadline });
      } else if (tag === EventType.FD_READ || tag === EventType.FD_WRITE) {
        immediate.push({ userdata, error: Errno.SUCCESS, type: tag });
      } else {
        immediate.push({ userdata, error: Errno.INVAL, type: tag });
      }
    }

    let ready = immediate;
    if (ready.length === 0) {
      const first = timers.reduce((min, t) => (t.deadline < min ? t.deadline : min), timers[0].deadline);
      let now = process.hrtime.bigint();
      if (now < first) hooks.beforeBlock();
      while (now < first) {
        hooks.sleep(Number(first - now) / 1e6);
        now = process.hrtime.bigint();
      }
      ready = timers
        .filter((t) => t.deadline <= now)
        .map((t) => ({ userdata: t.userdata, error: 0, type: EventType.CLOCK }));
      view = mem.view(); // the sleep hooks never grow memory, but stay safe against a stale buffer
    }

    ready.forEach((ev, i) => {
      const base = (outPtr >>> 0) + i * EVENT_SIZE;
      for (let b = 0; b < EVENT_SIZE; b += 8) view.setBigUint64(base + b, 0n, true);
      view.setBigUint64(base, ev.userdata, true);
      view.setUint16(base + 8, ev.error, true);
      view.setUint8(base + 10, ev.type);
    });
    view.setUint32(neventsPtr >>> 0, ready.length, true);
    return Errno.SUCCESS;
  };
}

/** A clock subscription's deadline on the monotonic clock (ns), or undefined for an unknown clock. */
function monotonicDeadline(
  id: number,
  timeout: bigint,
  absolute: boolean,
  monoNow: bigint,
): bigint | undefined {
  switch (id) {
    case Clock.MONOTONIC:
      // uvwasi's monotonic clock is uv_hrtime(), the same clock as process.hrtime.
      return absolute ? timeout : monoNow + timeout;
    case Clock.REALTIME:
      if (!absolute) return monoNow + timeout;
      return monoNow + (timeout - BigInt(Date.now()) * 1_000_000n);
    case Clock.PROCESS_CPUTIME:
    case Clock.THREAD_CPUTIME:
      // A sleeping guest burns no CPU, so a CPU-time deadline would never come; treat it as wall time.
      return absolute ? undefined : monoNow + timeout;
    default:
      return undefined;
  }
}
