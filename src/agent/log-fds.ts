// A bounded set of open log-file descriptors, shared by every container log of the agent.
//
// A log kept its file open for the container's whole life: one descriptor per running container, which at
// 10,000 wasm pods was half of the process's open-file limit (RLIMIT_NOFILE 20,000 in this machine's
// container: the last 176 pods failed with EMFILE). Logs now borrow a descriptor for each write from this
// cache; at most `capacity` idle ones stay open, the least recently used closed first, and a write whose
// file is not open opens it again (its offset is positional, see logs.ts, so no O_APPEND is needed).
//
// A descriptor in use (a write in flight) is never closed under it: it is pinned until released, and
// one that was evicted or forgotten (a rotation renamed its file) while pinned is closed at its release.
// The map's insertion order is the LRU order: an entry is moved to the end each time it is used.
import { closeSync, constants, open as openCb, openSync } from 'node:fs';

/**
 * Idle descriptors kept open (measured, src/sandbox/wasm/README.md "Log descriptors"): with fewer live
 * logs than this no write reopens its file; past it the cache costs at most this many descriptors.
 */
export const DEFAULT_LOG_FD_CACHE = 256;
/**
 * Asynchronous writes lent a descriptor at once; the rest wait their turn. Without it, 10,000 logs
 * flushed in one tick opened 10,000 files before the first write (the threadpool's queue runs opens
 * before the writes queued behind them) — as many descriptors as before, all at once.
 */
export const MAX_ASYNC_LEASES = 64;

/** No O_APPEND: every write goes to an offset the log reserved for it (see logs.ts). */
export const LOG_OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT;

interface Entry {
  fd: number;
  path: string;
  /** Writes in flight on this descriptor. */
  pins: number;
  /** Still the path's current descriptor (false once evicted or forgotten: closed at the last release). */
  cached: boolean;
}

/** A descriptor lent for one write: give it back with `release()` (once). */
export interface FdLease {
  readonly fd: number;
  release(): void;
}

export class LogFdCache {
  capacity: number;
  private readonly entries = new Map<string, Entry>();
  /** Opens that went to the disk (a miss or a first open), for tests and measurements. */
  opens = 0;
  /** Leases lent by acquire() and not yet released, and the acquires waiting for one. */
  private asyncLeases = 0;
  private readonly waiting: (() => void)[] = [];
  /** Bumped by every forget(): an open that ran across one is used once, not cached (see acquire). */
  private forgets = 0;

  constructor(capacity = DEFAULT_LOG_FD_CACHE) {
    this.capacity = Math.max(0, capacity);
  }

  /** Descriptors open now: cached ones plus evicted ones still pinned by a write. */
  get openCount(): number {
    return this.entries.size + this.orphans;
  }
  private orphans = 0;

  /** The path's descriptor, opened synchronously when not cached (a close, a reader's flush, process exit). */
  acquireSync(path: string): FdLease {
    const hit = this.hit(path);
    if (hit) return hit;
    const fd = openSync(path, LOG_OPEN_FLAGS, 0o640);
    this.opens++;
    return this.insert(path, fd);
  }

  /** The path's descriptor, opened off the thread when not cached. */
  acquire(path: string, cb: (err: Error | null, lease?: FdLease) => void): void {
    if (this.asyncLeases >= MAX_ASYNC_LEASES) {
      this.waiting.push(() => this.acquire(path, cb));
      return;
    }
    this.asyncLeases++;
    const lent = (lease: FdLease): FdLease => ({
      fd: lease.fd,
      release: once(() => {
        lease.release();
        this.asyncLeases--;
        this.waiting.shift()?.();
      }),
    });
    const hit = this.hit(path);
    if (hit) return cb(null, lent(hit));
    const forgets = this.forgets;
    openCb(path, LOG_OPEN_FLAGS, 0o640, (err, fd) => {
      if (err) {
        this.asyncLeases--;
        this.waiting.shift()?.();
        return cb(err);
      }
      this.opens++;
      // Someone opened it synchronously meanwhile: use theirs, so the path keeps one descriptor.
      const again = this.hit(path);
      if (again) {
        closeSync(fd);
        return cb(null, lent(again));
      }
      // A path forgotten (rotated, closed) while this open ran may have been opened before the rename:
      // such a descriptor serves this one write and is closed, never cached for the path's next writes.
      if (this.forgets !== forgets) {
        const e: Entry = { fd, path, pins: 1, cached: false };
        this.orphans++;
        return cb(null, lent(this.lease(e)));
      }
      cb(null, lent(this.insert(path, fd)));
    });
  }

  /** Hands a descriptor the caller opened (a log's first open) to the cache, idle. */
  adopt(path: string, fd: number): void {
    this.forget(path);
    this.insert(path, fd).release();
  }

  /** The path's file is going away or being renamed (rotation, close): its descriptor is not reused. */
  forget(path: string): void {
    this.forgets++;
    const e = this.entries.get(path);
    if (!e) return;
    this.entries.delete(path);
    this.retire(e);
  }

  /** Closes every idle descriptor (tests; an agent shutting down). */
  clear(): void {
    for (const path of [...this.entries.keys()]) this.forget(path);
  }

  private hit(path: string): FdLease | undefined {
    const e = this.entries.get(path);
    if (!e) return undefined;
    this.entries.delete(path); // re-inserted last: most recently used
    this.entries.set(path, e);
    e.pins++;
    return this.lease(e);
  }

  private insert(path: string, fd: number): FdLease {
    const e: Entry = { fd, path, pins: 1, cached: true };
    this.entries.set(path, e);
    this.evict();
    return this.lease(e);
  }

  private lease(e: Entry): FdLease {
    return {
      fd: e.fd,
      release: once(() => {
        e.pins--;
        if (!e.cached && e.pins === 0) {
          this.orphans--;
          closeSync(e.fd);
        } else this.evict();
      }),
    };
  }

  /** Closes the least recently used idle descriptors past the capacity (pinned ones wait for release). */
  private evict(): void {
    if (this.entries.size <= this.capacity) return;
    for (const e of this.entries.values()) {
      if (this.entries.size <= this.capacity) return;
      if (e.pins > 0) continue;
      this.entries.delete(e.path);
      this.retire(e);
    }
  }

  private retire(e: Entry): void {
    e.cached = false;
    if (e.pins === 0) closeSync(e.fd);
    else this.orphans++;
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** The agent's cache: every RotatingLog of the process shares it (and so the descriptor budget). */
export const logFds = new LogFdCache(
  Number.parseInt(process.env.STRATA_LOG_FD_CACHE ?? '', 10) >= 0
    ? Number.parseInt(process.env.STRATA_LOG_FD_CACHE!, 10)
    : DEFAULT_LOG_FD_CACHE,
);
