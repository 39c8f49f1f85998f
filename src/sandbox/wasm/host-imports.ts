// The import object a guest is instantiated with: node:wasi's preview1 functions, each behind a gate,
// with the ones that are unsafe or unstoppable in node:wasi replaced.
//
// The gate runs before every host call. It is where a stop request takes effect (the guest unwinds
// with GuestStopped at its next host call), where stats() learns the guest's memory size, and where
// a CPU limit below one core is applied.

import { RING_OFFSET, MEMORY_PAGES, STOP } from './control.ts';
import { CpuThrottle } from './cpu-throttle.ts';
import type { FsGuard, WasiFn } from './fs-guard.ts';
import { GuestFault, type GuestMemory } from './guest-memory.ts';
import type { LogRingWriter, StreamName } from './log-ring.ts';
import { PAGE_BYTES } from './memory-cap.ts';
import { makePollOneoff } from './poll.ts';
import { Errno } from './wasi-abi.ts';

/** Thrown through the guest's frames to end it when the agent asked the sandbox to stop. */
export class GuestStopped extends Error {
  constructor() {
    super('the sandbox was stopped');
    this.name = 'GuestStopped';
  }
}

export interface HostImportOptions {
  /** node:wasi's own functions (WASI#wasiImport). */
  wasi: Record<string, WasiFn>;
  mem: GuestMemory;
  control: SharedArrayBuffer;
  ring: LogRingWriter;
  guard: FsGuard;
  /** limits.cpu; only 0 < cpu < 1 changes anything. */
  cpu?: number;
}

export function buildHostImports(o: HostImportOptions): Record<string, WasiFn> {
  const ctl = new Int32Array(o.control, 0, RING_OFFSET / 4);
  const { mem, ring } = o;
  const checkStop = (): void => {
    if (Atomics.load(ctl, STOP) !== 0) throw new GuestStopped();
  };
  /** An interruptible sleep: Atomics.notify on the stop word ends it early. */
  const sleep = (ms: number): void => {
    checkStop();
    Atomics.wait(ctl, STOP, 0, ms);
    checkStop();
  };
  const throttle = o.cpu !== undefined && o.cpu > 0 && o.cpu < 1 ? new CpuThrottle(o.cpu, sleep) : undefined;

  const capture = (stream: StreamName, iovs: number, iovsLen: number, nwrittenPtr: number): number => {
    try {
      mem.check(iovs, iovsLen * 8);
      const view = mem.view();
      let total = 0;
      for (let i = 0; i < iovsLen >>> 0; i++) {
        const ptr = view.getUint32((iovs >>> 0) + i * 8, true);
        const len = view.getUint32((iovs >>> 0) + i * 8 + 4, true);
        if (len === 0) continue;
        ring.write(stream, mem.bytes(ptr, len));
        total += len;
      }
      mem.check(nwrittenPtr, 4);
      mem.view().setUint32(nwrittenPtr >>> 0, total, true);
      return Errno.SUCCESS;
    } catch (err) {
      if (err instanceof GuestFault) return Errno.FAULT;
      throw err;
    }
  };

  const overrides: Record<string, WasiFn> = {
    ...o.guard.wrap(o.wasi, mem),
    // stdout/stderr go to the agent's log sink through the log ring; node:wasi's own stdio fds are
    // /dev/null and only other descriptors reach it.
    fd_write: (fd, iovs, iovsLen, nwrittenPtr) =>
      fd === 1 || fd === 2
        ? capture(fd === 1 ? 'stdout' : 'stderr', iovs, iovsLen, nwrittenPtr)
        : o.wasi.fd_write(fd, iovs, iovsLen, nwrittenPtr),
    fd_pwrite: (fd, ...rest) => (fd === 1 || fd === 2 ? Errno.SPIPE : o.wasi.fd_pwrite(fd, ...rest)),
    poll_oneoff: makePollOneoff(mem, {
      sleep,
      beforeBlock: () => {
        if (ring.pending()) ring.kick();
      },
    }),
    // uvwasi implements proc_raise as kill(getpid(), sig): a guest could kill the whole agent.
    proc_raise: () => Errno.NOSYS,
  };

  const imports: Record<string, WasiFn> = {};
  for (const name of Object.keys(o.wasi)) {
    const impl = overrides[name] ?? o.wasi[name];
    imports[name] = (...args: any[]): number => {
      checkStop();
      Atomics.store(ctl, MEMORY_PAGES, mem.byteLength / PAGE_BYTES);
      throttle?.check();
      return impl(...args);
    };
  }
  return imports;
}
