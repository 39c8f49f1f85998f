// Per-container log files with size-based rotation, like the kubelet's containerLogMaxSize/MaxFiles.
//
// Layout: <podDir>/logs/<container>/<restartCount>.log (+ .log.1 after rotation). The current run's
// file is `restartCount`, the previous run's is `restartCount - 1` (what `strata logs --previous` shows).
// Lines are stored as CRI log records (log-format.ts): the time and the stream of each line, in arrival order.
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { LogSink } from '../sandbox/driver.ts';
import { formatRecords } from './log-format.ts';

export const DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024;

/** Paths of log files that are still being written, so a follower knows when a stream has ended. */
const openLogs = new Set<string>();

export function isLogOpen(path: string): boolean {
  return openLogs.has(path);
}

export function containerLogDir(podDir: string, container: string): string {
  return join(podDir, 'logs', container);
}

export function containerLogPath(podDir: string, container: string, restartCount: number): string {
  return join(containerLogDir(podDir, container), `${restartCount}.log`);
}

export class RotatingLog implements LogSink {
  readonly path: string;
  private readonly maxBytes: number;
  private fd: number;
  private size: number;
  private closed = false;

  constructor(path: string, maxBytes = DEFAULT_MAX_LOG_BYTES) {
    this.path = path;
    this.maxBytes = maxBytes;
    mkdirSync(join(path, '..'), { recursive: true });
    this.fd = openSync(path, 'a', 0o640);
    this.size = fstatSync(this.fd).size;
    openLogs.add(path);
  }

  write(stream: 'stdout' | 'stderr', chunk: Uint8Array): void {
    if (this.closed || chunk.byteLength === 0) return;
    const records = formatRecords(stream, chunk);
    if (this.size + records.byteLength > this.maxBytes && this.size > 0) this.rotate();
    writeSync(this.fd, records);
    this.size += records.byteLength;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    openLogs.delete(this.path);
  }

  /** Keep one rotated file: the current one becomes `.1` and a new one starts. */
  private rotate(): void {
    closeSync(this.fd);
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, 'a', 0o640);
    this.size = 0;
  }
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
