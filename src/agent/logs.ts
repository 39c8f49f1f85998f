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
const OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT;

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
  fd: number;
  buf: Buffer;
  pos: number;
}

export class RotatingLog implements LogSink {
  readonly path: string;
  private readonly maxBytes: number;
  private fd: number;
  /** The offset the next batch is written at: bytes written or reserved by a batch in flight. */
  private size: number;
  private closed = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The asynchronous write under way (at most one per log, so batches land in order). */
  private inflight: Batch | undefined;
  /** Descriptors replaced by a rotation while a write on them was in flight: closed when it ends. */
  private retired: number[] = [];
  /** The last write error, kept for tests and diagnostics (the guest is not stopped by a full disk). */
  lastError: Error | undefined;

  constructor(path: string, maxBytes = DEFAULT_MAX_LOG_BYTES, opened?: { fd: number; size: number }) {
    this.path = path;
    this.maxBytes = maxBytes;
    if (opened) {
      this.fd = opened.fd;
      this.size = opened.size;
    } else {
      mkdirSync(join(path, '..'), { recursive: true });
      this.fd = openSync(path, OPEN_FLAGS, 0o640);
      this.size = fstatSync(this.fd).size;
    }
    openLogs.set(path, this);
    installExitHook();
  }

  /** The same log, its directory and file made without blocking the agent's thread (a pod's start). */
  static async open(path: string, maxBytes = DEFAULT_MAX_LOG_BYTES): Promise<RotatingLog> {
    await mkdir(join(path, '..'), { recursive: true });
    // A plain descriptor (not a FileHandle): the log's positional writes and its close are its own.
    const fd = await promisify(openCb)(path, OPEN_FLAGS, 0o640);
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
    if (!this.inflight) closeSync(this.fd);
    // else: the write's callback closes it (closing under a write in flight could hit a reused descriptor).
  }

  /** Writes everything queued, the batch in flight included (again, at its own offset), synchronously. */
  flushSync(): void {
    try {
      if (this.inflight) writeAllSync(this.inflight);
      for (let b = this.takeBatch(); b; b = this.takeBatch()) writeAllSync(b);
    } catch (err) {
      this.lastError = err as Error;
    }
  }

  /** Starts the next batch's write unless one is under way (its completion starts the next). */
  flushAsync(): void {
    if (this.inflight) return;
    const batch = this.takeBatch();
    if (!batch) return;
    this.inflight = batch;
    writeAll(batch, 0, (err) => {
      if (err) this.lastError = err;
      this.inflight = undefined;
      for (const fd of this.retired.splice(0)) closeSync(fd);
      if (this.closed) closeSync(this.fd);
      else if (this.pendingBytes > 0) this.flushAsync();
    });
  }

  /** The queued chunks as one buffer at the next offset, rotating first when they would not fit. */
  private takeBatch(): Batch | undefined {
    if (this.pendingBytes === 0) return undefined;
    const buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.size + buf.byteLength > this.maxBytes && this.size > 0) this.rotate();
    const batch = { fd: this.fd, buf, pos: this.size };
    this.size += buf.byteLength;
    return batch;
  }

  /** Keep one rotated file: the current one becomes `.1` and a new one starts. */
  private rotate(): void {
    if (this.inflight?.fd === this.fd) this.retired.push(this.fd);
    else closeSync(this.fd);
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, OPEN_FLAGS | constants.O_TRUNC, 0o640);
    this.size = 0;
  }
}

function writeAllSync(b: Batch): void {
  for (let done = 0; done < b.buf.byteLength;) {
    done += writeSync(b.fd, b.buf, done, b.buf.byteLength - done, b.pos + done);
  }
}

function writeAll(b: Batch, done: number, cb: (err: Error | null) => void): void {
  write(b.fd, b.buf, done, b.buf.byteLength - done, b.pos + done, (err, n) => {
    if (err) return cb(err);
    if (done + n < b.buf.byteLength) return writeAll(b, done + n, cb);
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
