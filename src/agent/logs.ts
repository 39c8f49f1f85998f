// Per-container log files with size-based rotation, like the kubelet's containerLogMaxSize/MaxFiles.
//
// Layout: <podDir>/logs/<container>/<restartCount>.log (+ .log.1 after rotation). The current run's
// file is `restartCount`, the previous run's is `restartCount - 1` (what `strata logs --previous` shows).
// Lines are stored as CRI log records (log-format.ts): the time and the stream of each line, in arrival order.
//
// Writes are buffered and flushed off the main thread: a synchronous write per chunk per pod cost ~20 % of
// a core with 2,000 ticker pods (src/sandbox/wasm/README.md, "Density through the API"). A chunk is
// formatted (and stamped) when it arrives, queued, and written by one asynchronous positional write per
// file every FLUSH_MS. Nothing queued is lost to the agent: close() and process exit write what is left
// synchronously, a reader (log-reader.ts) flushes the file it reads first, so `logs` sees every line the
// container has written, and a guest that outruns the disk is throttled by a synchronous write once
// MAX_PENDING_BYTES are queued (what the unbuffered writer did on every chunk).
//
// A log holds no descriptor of its own: each write borrows one from the agent's bounded cache
// (log-fds.ts), so 10,000 containers do not hold 10,000 open files (the process's RLIMIT_NOFILE).
import {
  closeSync,
  constants,
  existsSync,
  fstat as fstatCb,
  fstatSync,
  mkdirSync,
  open as openCb,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  write,
  writeSync,
} from 'node:fs';
import { describeFdExhaustion } from '../sandbox/wasm/fd-budget.ts';
import { LOG_OPEN_FLAGS, logFds, type FdLease } from './log-fds.ts';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LogSink } from '../sandbox/driver.ts';
import { formatRecords } from './log-format.ts';

export const DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024;

/** How long a chunk may wait for its file write (a follower polls every 150 ms). */
export const FLUSH_MS = 100;
/** Queued bytes that start a write at once instead of waiting for the timer. */
const EAGER_FLUSH_BYTES = 64 * 1024;
/** Queued bytes past which write() blocks on the disk, as an unbuffered writer would. */
const MAX_PENDING_BYTES = 1024 * 1024;

/**
 * No O_APPEND: every write goes to an offset the log reserved for it, so rewriting a batch whose
 * asynchronous write may not have happened yet (close, exit) is idempotent, never a duplicate.
 */
const OPEN_FLAGS = LOG_OPEN_FLAGS;

/** Logs still being written, by path, so a follower knows when a stream has ended (and can flush it). */
const openLogs = new Map<string, RotatingLog>();
/** Logs with queued chunks, written by the next timer tick. */
const dirty = new Set<RotatingLog>();
let flushTimer: NodeJS.Timeout | undefined;
let exitHookInstalled = false;

export function isLogOpen(path: string): boolean {
  return openLogs.has(path);
}

/** Writes what the open log at `path` has queued (a reader calls it before reading the file). */
export function flushLogSync(path: string): void {
  openLogs.get(path)?.flushSync();
}

export function containerLogDir(podDir: string, container: string): string {
  return join(podDir, 'logs', container);
}

export function containerLogPath(podDir: string, container: string, restartCount: number): string {
  return join(containerLogDir(podDir, container), `${restartCount}.log`);
}

interface Batch {
  buf: Buffer;
  pos: number;
  /** The descriptor its asynchronous write borrowed (pinned in the cache until that write ends). */
  lease?: FdLease;
  /** Written synchronously (close, a reader's flush) while its asynchronous write was under way. */
  written?: boolean;
}

export class RotatingLog implements LogSink {
  readonly path: string;
  private readonly maxBytes: number;
  /** The offset the next batch is written at: bytes written or reserved by a batch in flight. */
  private size: number;
  private closed = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The asynchronous write under way (at most one per log, so batches land in order). */
  private inflight: Batch | undefined;
  /** The last write error, kept for tests and diagnostics (the guest is not stopped by a full disk). */
  lastError: Error | undefined;

  constructor(path: string, maxBytes = DEFAULT_MAX_LOG_BYTES, opened?: { fd: number; size: number }) {
    this.path = path;
    this.maxBytes = maxBytes;
    if (opened) {
      this.size = opened.size;
      logFds.adopt(path, opened.fd);
    } else {
      mkdirSync(join(path, '..'), { recursive: true });
      const fd = openSync(path, OPEN_FLAGS, 0o640);
      this.size = fstatSync(fd).size;
      logFds.adopt(path, fd);
    }
    openLogs.set(path, this);
    installExitHook();
  }

  /** The same log, its directory and file made without blocking the agent's thread (a pod's start). */
  static async open(path: string, maxBytes = DEFAULT_MAX_LOG_BYTES): Promise<RotatingLog> {
    await mkdir(join(path, '..'), { recursive: true });
    // A plain descriptor (not a FileHandle): it goes to the log descriptor cache.
    const fd = await promisify(openCb)(path, OPEN_FLAGS, 0o640).catch((err: Error) => {
      throw describeFdExhaustion(err, `cannot open the container's log ${path}`);
    });
    try {
      const { size } = await promisify(fstatCb)(fd);
      return new RotatingLog(path, maxBytes, { fd, size });
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  write(stream: 'stdout' | 'stderr', chunk: Uint8Array): void {
    if (this.closed || chunk.byteLength === 0) return;
    const records = formatRecords(stream, chunk);
    this.pending.push(records);
    this.pendingBytes += records.byteLength;
    if (this.pendingBytes >= MAX_PENDING_BYTES) this.flushSync();
    else if (this.pendingBytes >= EAGER_FLUSH_BYTES) this.flushAsync();
    else markDirty(this);
  }

  /** Ends the log: everything queued is in the file when it returns; followers then see the end. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flushSync();
    dirty.delete(this);
    openLogs.delete(this.path);
    // A write in flight keeps its descriptor pinned: the cache closes it when that write ends.
    logFds.forget(this.path);
  }

  /** Writes everything queued, the batch in flight included (again, at its own offset), synchronously. */
  flushSync(): void {
    try {
      const inflight = this.inflight;
      if (inflight && !inflight.written) {
        // Its own (pinned) descriptor if its write has one; if its open is still under way, the file is
        // still this.path's current one (a rotation happens only after this rewrite).
        if (inflight.lease) writeAllSync(inflight.lease.fd, inflight);
        else this.writeBorrowedSync(inflight);
        inflight.written = true;
      }
      for (let b = this.takeBatch(); b; b = this.takeBatch()) this.writeBorrowedSync(b);
    } catch (err) {
      this.lastError = err as Error;
    }
  }

  private writeBorrowedSync(b: Batch): void {
    let lease: FdLease;
    try {
      lease = logFds.acquireSync(this.path);
    } catch (err) {
      this.putBack(b);
      throw err;
    }
    try {
      writeAllSync(lease.fd, b);
    } finally {
      lease.release();
    }
  }

  /** A batch that could not be written because its file could not be opened goes back to the queue. */
  private putBack(b: Batch): void {
    if (b.written || this.size !== b.pos + b.buf.byteLength) return; // later batches hold offsets past it
    this.size = b.pos;
    this.pending.unshift(b.buf);
    this.pendingBytes += b.buf.byteLength;
  }

  /** Starts the next batch's write unless one is under way (its completion starts the next). */
  flushAsync(): void {
    if (this.inflight) return;
    const batch = this.takeBatch();
    if (!batch) return;
    this.inflight = batch;
    const done = (err: Error | null): void => {
      if (err) this.lastError = err;
      this.inflight = undefined;
      if (!this.closed && this.pendingBytes > 0) this.flushAsync();
    };
    logFds.acquire(this.path, (err, lease) => {
      if (err || !lease) {
        // Not written: queued again, tried at the next tick (not at once: the limit may last a while).
        if (this.inflight === batch) this.inflight = undefined;
        this.putBack(batch);
        if (!this.closed && this.pendingBytes > 0) markDirty(this);
        this.lastError = err ?? undefined;
        return;
      }
      if (batch.written) {
        lease.release();
        return done(null);
      }
      batch.lease = lease;
      writeAll(lease.fd, batch, 0, (werr) => {
        lease.release();
        done(werr);
      });
    });
  }

  /** The queued chunks as one buffer at the next offset, rotating first when they would not fit. */
  private takeBatch(): Batch | undefined {
    if (this.pendingBytes === 0) return undefined;
    const buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.size + buf.byteLength > this.maxBytes && this.size > 0) this.rotate();
    const batch: Batch = { buf, pos: this.size };
    this.size += buf.byteLength;
    return batch;
  }

  /** Keep one rotated file: the current one becomes `.1` and a new one starts. */
  private rotate(): void {
    // A write in flight on the old file keeps its descriptor (pinned) and lands in `.1`, where it belongs.
    logFds.forget(this.path);
    renameSync(this.path, `${this.path}.1`);
    // The new file exists at once (a follower reopens by path), and its descriptor is the cache's.
    logFds.adopt(this.path, openSync(this.path, OPEN_FLAGS | constants.O_TRUNC, 0o640));
    this.size = 0;
  }
}

function writeAllSync(fd: number, b: Batch): void {
  for (let done = 0; done < b.buf.byteLength;) {
    done += writeSync(fd, b.buf, done, b.buf.byteLength - done, b.pos + done);
  }
}

function writeAll(fd: number, b: Batch, done: number, cb: (err: Error | null) => void): void {
  write(fd, b.buf, done, b.buf.byteLength - done, b.pos + done, (err, n) => {
    if (err) return cb(err);
    if (done + n < b.buf.byteLength) return writeAll(fd, b, done + n, cb);
    cb(null);
  });
}

function markDirty(log: RotatingLog): void {
  dirty.add(log);
  if (flushTimer) return;
  flushTimer = setTimeout(() => {
    flushTimer = undefined;
    const logs = [...dirty];
    dirty.clear();
    for (const l of logs) l.flushAsync();
  }, FLUSH_MS);
  flushTimer.unref(); // queued lines do not keep a process alive: the exit hook writes them
}

/** On exit (stop, SIGTERM handled by process.exit, the event loop running dry) nothing queued is dropped. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const log of openLogs.values()) log.flushSync();
  });
}

/** Removes log files of runs older than the previous one (keep current + previous, like the kubelet). */
export function pruneOldLogs(podDir: string, container: string, currentRestart: number): void {
  const dir = containerLogDir(podDir, container);
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    const n = Number.parseInt(f, 10);
    if (Number.isInteger(n) && n < currentRestart - 1) rmSync(join(dir, f), { force: true });
  }
}

/** pruneOldLogs off the agent's thread (a pod's start). */
export async function pruneOldLogsAsync(
  podDir: string,
  container: string,
  currentRestart: number,
): Promise<void> {
  const dir = containerLogDir(podDir, container);
  const files = await readdir(dir).catch(() => [] as string[]);
  for (const f of files) {
    const n = Number.parseInt(f, 10);
    if (Number.isInteger(n) && n < currentRestart - 1) await rm(join(dir, f), { force: true });
  }
}
