// poll_oneoff, reimplemented so that a sleeping guest suspends instead of blocking its thread.
//
// node:wasi sleeps for clock subscriptions inside uvwasi (uv_sleep), where neither Worker.terminate()
// nor anything else can reach the thread until the sleep ends: an hour-long sleep() made the sandbox
// unkillable for an hour, and it held a whole thread. Here a wait returns a promise (a timer that a
// stop ends early): the guest suspends through JSPI and the other guests of its thread run.
//
// Descriptor subscriptions are answered as ready immediately: every descriptor a guest can read or
// write is a regular file or the capture of stdout/stderr, none of which ever blocks. As in wasmtime
// (its preview1 poll_oneoff, test preview1_poll_oneoff_files), a subscription that names a descriptor
// that cannot be polled that way — a bad one, a directory, reading stdout, writing stdin — fails the
// whole call with BADF; it is not reported as an event.

import type { GuestMemory } from './guest-memory.ts';
import { Clock, Errno, EventType, EVENT_SIZE, SUBCLOCKFLAG_ABSTIME, SUBSCRIPTION_SIZE } from './wasi-abi.ts';

/** What a guest descriptor is, as far as polling it goes. */
export type FdKind = 'stdin' | 'output' | 'file' | 'directory' | 'bad';

export interface PollHooks {
  /** What the guest's descriptor `fd` refers to (its own numbering, stdio redirections included). */
  fdKind(fd: number): FdKind;
  /** Waits up to `ms` milliseconds, settling early (or rejecting) when the sandbox is stopped. */
  sleep(ms: number): Promise<void>;
  /** Called once before the guest blocks (used to flush its log output to the agent). */
  beforeBlock(): void;
}

interface Ready {
  userdata: bigint;
  error: number;
  type: number;
}

export function makePollOneoff(mem: GuestMemory, hooks: PollHooks) {
  return function poll_oneoff(
    inPtr: number,
    outPtr: number,
    nsubs: number,
    neventsPtr: number,
  ): number | Promise<number> {
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
    const view = mem.view();
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
        const kind = hooks.fdKind(view.getUint32(base + 16, true));
        const ok = kind === 'file' || kind === (tag === EventType.FD_READ ? 'stdin' : 'output');
        if (!ok) return Errno.BADF;
        immediate.push({ userdata, error: Errno.SUCCESS, type: tag });
      } else {
        immediate.push({ userdata, error: Errno.INVAL, type: tag });
      }
    }

    const report = (ready: Ready[]): number => {
      const view = mem.view(); // fresh: the guest may have grown its memory before it called us
      ready.forEach((ev, i) => {
        const base = (outPtr >>> 0) + i * EVENT_SIZE;
        for (let b = 0; b < EVENT_SIZE; b += 8) view.setBigUint64(base + b, 0n, true);
        view.setBigUint64(base, ev.userdata, true);
        view.setUint16(base + 8, ev.error, true);
        view.setUint8(base + 10, ev.type);
        // fd_readwrite.nbytes: wasmtime reports 1 for every ready descriptor (it does not count).
        if (ev.type !== EventType.CLOCK && ev.error === Errno.SUCCESS) view.setBigUint64(base + 16, 1n, true);
      });
      view.setUint32(neventsPtr >>> 0, ready.length, true);
      return Errno.SUCCESS;
    };
    if (immediate.length > 0) return report(immediate);

    const first = timers.reduce((min, t) => (t.deadline < min ? t.deadline : min), timers[0].deadline);
    const expired = (now: bigint): Ready[] =>
      timers
        .filter((t) => t.deadline <= now)
        .map((t) => ({ userdata: t.userdata, error: 0, type: EventType.CLOCK }));
    const now = process.hrtime.bigint();
    if (now >= first) return report(expired(now));
    hooks.beforeBlock();
    return (async () => {
      // Timers can fire a little early by the monotonic clock: sleep again for the remainder.
      for (let t = process.hrtime.bigint(); t < first; t = process.hrtime.bigint()) {
        await hooks.sleep(Number(first - t) / 1e6);
      }
      return report(expired(process.hrtime.bigint()));
    })();
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
