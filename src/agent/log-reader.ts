// Reading a container's log file (CRI records, log-format.ts) the way the kubelet serves `pods/log`:
// tailLines picks the last N lines, sinceTime drops older records, timestamps prefixes every line with
// its time, limitBytes cuts the output, follow keeps reading until the container's run ends (its log is
// closed) or the reader goes away. `attach` follows the same file from its current end.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { parseRecord, type LogRecord } from './log-format.ts';
import { flushLogSync } from './logs.ts';

export interface FollowOptions {
  /** Start at the file's current end (attach) instead of its beginning. */
  fromEnd?: boolean;
  /** Start at the last N lines (N = 0: nothing of what is already there). */
  tailLines?: number;
  follow: boolean;
  /** Whether the writer still writes (the run has not ended). */
  isOpen: () => boolean;
  /** The consumer went away: stop. */
  stopped: () => boolean;
  pollMs?: number;
}

const DEFAULT_POLL_MS = 150;
const READ_CHUNK = 1024 * 1024;
const NEWLINE = 0x0a;

/** The file's records in order, following it while asked to. Complete lines only. */
export async function* readRecords(path: string, o: FollowOptions): AsyncGenerator<LogRecord> {
  let pos = 0;
  let first = true;
  for (;;) {
    flushLogSync(path); // the writer buffers: what the container wrote is in the file before we look
    const size = sizeOf(path);
    if (size < pos) pos = 0; // rotated: a new file starts
    if (size > pos) {
      const bytes = readRange(path, pos, size);
      const end = bytes.lastIndexOf(NEWLINE) + 1; // a line being written waits for its newline
      let records = splitLines(bytes.subarray(0, end)).map(parseRecord);
      if (first && o.fromEnd) records = [];
      else if (first && o.tailLines !== undefined) records = lastLines(records, o.tailLines);
      pos += end;
      for (const r of records) {
        if (o.stopped()) return;
        yield r;
      }
    }
    first = false;
    if (!o.follow || o.stopped()) return;
    if (!o.isOpen()) {
      // The run ended: one last look for what was written before it closed.
      if (sizeOf(path) === pos) return;
      continue;
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? DEFAULT_POLL_MS));
  }
}

/** The records of the last `n` lines; a line is P records up to and including an F record. */
export function lastLines(records: LogRecord[], n: number): LogRecord[] {
  if (n <= 0) return [];
  const starts: number[] = [];
  for (let i = 0; i < records.length; i++) if (i === 0 || !records[i - 1].partial) starts.push(i);
  return n >= starts.length ? records : records.slice(starts[starts.length - n]);
}

export interface RenderOptions {
  /** Records older than this (ms since the epoch) are left out. */
  sinceMs?: number;
  timestamps: boolean;
  limitBytes?: number;
}

/**
 * Turns records into the text `kubectl logs` prints: the line's time first with timestamps (once per
 * line, at its first record), newlines restored after full records, output cut at limitBytes.
 */
export class LogRenderer {
  private readonly o: RenderOptions;
  private atLineStart = true;
  private left: number;

  constructor(o: RenderOptions) {
    this.o = o;
    this.left = o.limitBytes ?? Infinity;
  }

  /** Bytes to write for this record (possibly none). */
  render(r: LogRecord): Buffer {
    if (this.left <= 0) return Buffer.alloc(0);
    if (this.o.sinceMs !== undefined && r.ms < this.o.sinceMs) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    if (this.o.timestamps && this.atLineStart && r.time) parts.push(Buffer.from(`${r.time} `));
    parts.push(r.content);
    if (!r.partial) parts.push(Buffer.from('\n'));
    this.atLineStart = !r.partial;
    let out = Buffer.concat(parts);
    if (out.length > this.left) out = out.subarray(0, this.left);
    this.left -= out.length;
    return out;
  }

  /** limitBytes is reached: nothing more will be written. */
  get full(): boolean {
    return this.left <= 0;
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function readRange(path: string, from: number, to: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const parts: Buffer[] = [];
    for (let at = from; at < to;) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, to - at));
      const n = readSync(fd, buf, 0, buf.length, at);
      if (n === 0) break;
      parts.push(buf.subarray(0, n));
      at += n;
    }
    return Buffer.concat(parts);
  } finally {
    closeSync(fd);
  }
}

function splitLines(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < b.length;) {
    const nl = b.indexOf(NEWLINE, start);
    if (nl < 0) break;
    out.push(b.subarray(start, nl));
    start = nl + 1;
  }
  return out;
}
