// The import object a guest is instantiated with: node:wasi's preview1 functions, each behind a gate,
// with the ones that are unsafe, unstoppable or blocking in node:wasi replaced.
//
// The gate runs before every host call. It is where a stop request takes effect (the guest unwinds
// with GuestStopped at its next host call), where stats() learns the guest's memory size, and where
// a CPU limit below one core is applied. A host function returns a number, or a promise when the guest
// has to wait (a sleep in poll_oneoff, a full log ring, a CPU-limit pause): the worker wraps every
// import in WebAssembly.Suspending, so a waiting guest is suspended and its thread runs other guests.
//
// Node's own code (node:wasi, node:fs) runs only on the thread's main stack, never on a guest's
// suspendable (JSPI) stack: node:wasi reports its allocations to V8 from there, and V8 aborts the whole
// process (`Check failed: isolate_->IsOnCentralStack()`) when that report triggers a GC — seen with
// 2,000 guests in one thread. So a call that reaches node:wasi suspends the guest for one microtask and
// is made from the main stack; our own functions (stdout/stderr capture, the arguments and environment,
// poll_oneoff, proc_exit) run in place.

import { MEMORY_PAGES, STOP, StopLevel, type SlotViews } from './control.ts';
import { CpuThrottle } from './cpu-throttle.ts';
import type { FsGuard, WasiFn } from './fs-guard.ts';
import { GuestFault, type GuestMemory } from './guest-memory.ts';
import { StringTable } from './command-line.ts';
import type { LogRingWriter, StreamName } from './log-ring.ts';
import { PAGE_BYTES } from './memory-cap.ts';
import { makePollOneoff } from './poll.ts';
import { Errno, FD_ARGS, FDSTAT_SIZE, Filetype, Rights } from './wasi-abi.ts';

/** Thrown through the guest's frames to end it when the agent asked the sandbox to stop. */
export class GuestStopped extends Error {
  constructor() {
    super('the sandbox was stopped');
    this.name = 'GuestStopped';
  }
}

/** Thrown through the guest's frames when a stop was forced (the grace period ran out). */
export class GuestKilled extends Error {
  constructor() {
    super('the sandbox was killed');
    this.name = 'GuestKilled';
  }
}

/** Thrown by proc_exit: the guest's end with an exit code (node:wasi's own needs wasi.start()). */
export class GuestExit extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

export type HostFn = (...args: any[]) => number | Promise<number>;

/** node:wasi's stdin, stdout and stderr (after the guest's numbers are translated). */
const isStdio = (fd: number): boolean => fd >= 0 && fd <= 2;

export interface HostImportOptions {
  /** node:wasi's own functions (WASI#wasiImport). */
  wasi: Record<string, WasiFn>;
  /** The guest's arguments and environment (served here, not by node:wasi: command-line.ts). */
  args: readonly string[];
  env: Record<string, string>;
  mem: GuestMemory;
  /** The guest's slot in the worker's control block (stop word, memory size). */
  slot: SlotViews;
  /** The guest's id, which tags its records in the worker's log ring. */
  guest: number;
  ring: LogRingWriter;
  guard: FsGuard;
  /** limits.cpu; only 0 < cpu < 1 changes anything. */
  cpu?: number;
  /** Waits `ms`; a stop request ends the wait early. */
  sleep(ms: number): Promise<void>;
  /** CPU time this guest has used so far (ms). */
  cpuMs(): number;
  /** The functions the module imports (default: all): only these get a gate, which saves memory per guest. */
  names?: readonly string[];
}

export interface HostImports {
  imports: Record<string, HostFn>;
  /** Ends the guest if the agent asked (throws); used at preemption points too. */
  checkStop(level?: number): void;
  /** The CPU limit's verdict: a promise when the guest must pause first. */
  throttle(): Promise<void> | undefined;
}

export function buildHostImports(o: HostImportOptions): HostImports {
  const { mem, ring, slot, guest } = o;
  /** Ends the guest if a stop of at least `level` was requested. */
  const checkStop = (level: number = StopLevel.STOP): void => {
    const s = Atomics.load(slot.words, STOP);
    if (s < level || s === StopLevel.RUN) return;
    throw s === StopLevel.KILL ? new GuestKilled() : new GuestStopped();
  };
  /** An interruptible sleep: a stop request ends it, and the guest then unwinds. */
  const sleep = async (ms: number): Promise<void> => {
    checkStop();
    await o.sleep(ms);
    checkStop();
  };
  const cpuLimited = o.cpu !== undefined && o.cpu > 0 && o.cpu < 1;
  const throttle = cpuLimited ? new CpuThrottle(o.cpu!, sleep, o.cpuMs) : undefined;

  const capture = (
    stream: StreamName,
    iovs: number,
    iovsLen: number,
    nwrittenPtr: number,
  ): number | Promise<number> => {
    try {
      mem.check(iovs, iovsLen * 8);
      mem.check(nwrittenPtr, 4);
      const view = mem.view();
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; i < iovsLen >>> 0; i++) {
        const ptr = view.getUint32((iovs >>> 0) + i * 8, true);
        const len = view.getUint32((iovs >>> 0) + i * 8 + 4, true);
        if (len === 0) continue;
        chunks.push(mem.bytes(ptr, len));
        total += len;
      }
      const done = (): number => {
        mem.view().setUint32(nwrittenPtr >>> 0, total, true);
        return Errno.SUCCESS;
      };
      // A full ring suspends the guest; the views stay valid meanwhile (a suspended guest cannot grow
      // its memory), and the rest is written as the agent drains.
      const writeFrom = (i: number): number | Promise<number> => {
        for (; i < chunks.length; i++) {
          const wait = ring.write(guest, stream, chunks[i], checkStop);
          if (wait) {
            const next = i + 1;
            return wait.then(() => writeFrom(next));
          }
        }
        return done();
      };
      return writeFrom(0);
    } catch (err) {
      if (err instanceof GuestFault) return Errno.FAULT;
      throw err;
    }
  };

  const args = new StringTable(o.args);
  const environ = StringTable.fromEnv(o.env);
  const guarded = o.guard.wrap(o.wasi, mem);
  /** Runs Node's code on the main stack: the guest suspends until the microtask has run. */
  const onMainStack = (name: string, args: any[]): Promise<number> =>
    Promise.resolve().then(() => (guarded[name] ?? o.wasi[name])(...args));

  const own: Record<string, HostFn> = {
    // stdout/stderr go to the agent's log sink through the log ring; node:wasi's own stdio fds are
    // /dev/null and only other descriptors reach it.
    fd_write: (fd, iovs, iovsLen, nwrittenPtr) =>
      fd === 1 || fd === 2
        ? capture(fd === 1 ? 'stdout' : 'stderr', iovs, iovsLen, nwrittenPtr)
        : onMainStack('fd_write', [fd, iovs, iovsLen, nwrittenPtr]),
    // stdin, stdout and stderr are streams (as in wasmtime): no offsets. (stdin is a file underneath,
    // so that reading it never blocks; a guest cannot tell.)
    fd_seek: (fd, ...rest) => (isStdio(fd) ? Errno.SPIPE : onMainStack('fd_seek', [fd, ...rest])),
    fd_tell: (fd, ...rest) => (isStdio(fd) ? Errno.SPIPE : onMainStack('fd_tell', [fd, ...rest])),
    fd_pread: (fd, ...rest) => (isStdio(fd) ? Errno.SPIPE : onMainStack('fd_pread', [fd, ...rest])),
    fd_pwrite: (fd, ...rest) => (isStdio(fd) ? Errno.SPIPE : onMainStack('fd_pwrite', [fd, ...rest])),
    // As wasmtime describes stdio that is not a terminal: filetype unknown, no flags, the one right
    // (node:wasi reported its host descriptors: a character device, /dev/null, with every right).
    fd_fdstat_get: (fd, ptr) => {
      if (!isStdio(fd)) return onMainStack('fd_fdstat_get', [fd, ptr]);
      try {
        mem.check(ptr, FDSTAT_SIZE);
      } catch {
        return Errno.FAULT;
      }
      const view = mem.view();
      const rights = fd === 0 ? Rights.FD_READ : Rights.FD_WRITE;
      view.setUint8(ptr >>> 0, Filetype.UNKNOWN);
      view.setUint16((ptr >>> 0) + 2, 0, true); // fs_flags
      view.setBigUint64((ptr >>> 0) + 8, rights, true);
      view.setBigUint64((ptr >>> 0) + 16, rights, true);
      return Errno.SUCCESS;
    },
    args_sizes_get: (countPtr, sizePtr) => args.sizesGet(mem, countPtr, sizePtr),
    args_get: (ptrsPtr, bufPtr) => args.get(mem, ptrsPtr, bufPtr),
    environ_sizes_get: (countPtr, sizePtr) => environ.sizesGet(mem, countPtr, sizePtr),
    environ_get: (ptrsPtr, bufPtr) => environ.get(mem, ptrsPtr, bufPtr),
    poll_oneoff: makePollOneoff(mem, {
      fdKind: (fd) => o.guard.kindOf(fd),
      sleep,
      beforeBlock: () => {
        if (ring.pending()) ring.kick();
      },
    }),
    proc_exit: (code: number) => {
      throw new GuestExit(code >>> 0);
    },
    // uvwasi implements proc_raise as kill(getpid(), sig): a guest could kill the whole agent.
    proc_raise: () => Errno.NOSYS,
  };

  const imports: Record<string, HostFn> = {};
  for (const name of o.names ?? Object.keys(o.wasi)) {
    if (!(name in o.wasi)) continue;
    const impl: HostFn = own[name] ?? ((...args) => onMainStack(name, args));
    const fdArgs = FD_ARGS[name];
    imports[name] = (...args: any[]): number | Promise<number> => {
      checkStop();
      Atomics.store(slot.words, MEMORY_PAGES, mem.byteLength / PAGE_BYTES);
      // Once the guest renumbered onto or away from stdio, its numbers become node:wasi's here (a file
      // renumbered onto fd 1 is written as a file; the capture follows stdout to its new number).
      // Descriptors arrive as signed i32: 0xffffffff is a bad descriptor (BADF), not an invalid argument.
      if (fdArgs) for (const i of fdArgs) args[i] = o.guard.hostFd(args[i] >>> 0);
      const pause = throttle?.check();
      return pause ? pause.then(() => impl(...args)) : impl(...args);
    };
  }
  return { imports, checkStop, throttle: () => throttle?.check() };
}
