// Forwards a container's output from conmon's k8s-file log to the SandboxSpec's log sink.
//
// conmon writes one line per chunk in the CRI log format: `<RFC3339Nano time> <stdout|stderr> <P|F> <bytes>\n`
// (P: partial, the line continues in the next record; F: full, a newline ended it). The tail reads the
// file from a byte offset, forwards whole records, and persists {inode, offset} beside it after each
// batch, so that after an agent restart forwarding resumes where it stopped: at-least-once (a crash
// between forwarding and persisting repeats that batch), nothing skipped. When conmon rotates the file
// (a fresh file renamed over it past --log-size-max), the old one is read to its end first.

import {
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  watch,
  writeFileSync,
  type FSWatcher,
} from 'node:fs';
import type { LogSink } from '../driver.ts';

export interface CriRecord {
  time: string;
  stream: 'stdout' | 'stderr';
  /** The line continues in the next record (no newline yet). */
  partial: boolean;
  content: Buffer;
}

/** One record (without its trailing newline); undefined when malformed. Byte-exact for the content. */
export function parseCriRecord(line: Buffer): CriRecord | undefined {
  const s1 = line.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const stream = line.toString('latin1', s1 + 1, s2);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const s3 = line.indexOf(0x20, s2 + 1);
  // "F" with an empty line may come without the separating space.
  const tag = line.toString('latin1', s2 + 1, s3 < 0 ? line.length : s3);
  if (!tag.split(':').every((t) => t === 'P' || t === 'F')) return undefined;
  return {
    time: line.toString('latin1', 0, s1),
    stream,
    partial: tag.split(':')[0] === 'P',
    content: s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1),
  };
}

interface Position {
  ino: number;
  offset: number;
}

const READ_CHUNK = 256 * 1024;
/** A fallback poll, for file systems where fs.watch is silent. */
const POLL_MS = 1000;

export class CriLogTail {
  private readonly path: string;
  private readonly posFile: string;
  private readonly sink: LogSink;
  private fd: number | undefined;
  private pos: Position = { ino: 0, offset: 0 };
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private scheduled = false;
  private closed = false;

  constructor(opts: { path: string; posFile: string; sink: LogSink }) {
    this.path = opts.path;
    this.posFile = opts.posFile;
    this.sink = opts.sink;
    try {
      this.pos = JSON.parse(readFileSync(this.posFile, 'utf8')) as Position;
    } catch {
      // No position yet: from the beginning.
    }
  }

  /** Forwards what is there, then follows the file until close(). */
  start(): void {
    this.drain();
    this.watchFile();
    this.poll = setInterval(() => this.drain(), POLL_MS);
    this.poll.unref();
  }

  /** Reads everything written so far and forwards it. Synchronous: safe to call right before an exit. */
  drain(): void {
    if (this.closed) return;
    for (;;) {
      if (this.fd === undefined && !this.open()) return;
      this.readToEnd();
      // Rotated? The path now names a fresh file: continue there, from its start.
      let ino: number;
      try {
        ino = statSync(this.path).ino;
      } catch {
        return;
      }
      if (ino === this.pos.ino) return;
      closeSync(this.fd!);
      this.fd = undefined;
      this.pos = { ino, offset: 0 };
      this.watchFile();
    }
  }

  /** Final drain, then stop following. */
  close(): void {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): boolean {
    try {
      this.fd = openSync(this.path, 'r');
    } catch {
      return false;
    }
    const ino = fstatSync(this.fd).ino;
    if (ino !== this.pos.ino) this.pos = { ino, offset: 0 };
    return true;
  }

  private readToEnd(): void {
    const fd = this.fd!;
    const size = fstatSync(fd).size;
    if (size < this.pos.offset) this.pos.offset = 0; // truncated in place: start over
    let moved = false;
    while (this.pos.offset < size) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - this.pos.offset));
      const n = readSync(fd, buf, 0, buf.length, this.pos.offset);
      if (n === 0) break;
      const data = buf.subarray(0, n);
      const lastNl = data.lastIndexOf(0x0a);
      if (lastNl < 0) {
        // A record longer than a chunk is not something conmon writes (it splits at 8 KiB); a record
        // still being written ends here and is read next time.
        if (n === buf.length && n === READ_CHUNK) this.pos.offset += n;
        break;
      }
      this.forward(data.subarray(0, lastNl));
      this.pos.offset += lastNl + 1;
      moved = true;
    }
    if (moved) this.persist();
  }

  /** Forwards records, merging consecutive ones of the same stream into one write. */
  private forward(block: Buffer): void {
    let stream: 'stdout' | 'stderr' | undefined;
    let parts: Buffer[] = [];
    const flush = () => {
      if (stream && parts.length > 0) this.sink.write(stream, Buffer.concat(parts));
      parts = [];
    };
    let start = 0;
    while (start <= block.length) {
      let end = block.indexOf(0x0a, start);
      if (end < 0) end = block.length;
      const rec = parseCriRecord(block.subarray(start, end));
      start = end + 1;
      if (!rec) continue;
      if (rec.stream !== stream) {
        flush();
        stream = rec.stream;
      }
      parts.push(rec.content);
      if (!rec.partial) parts.push(NEWLINE);
    }
    flush();
  }

  private persist(): void {
    const tmp = `${this.posFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.pos));
    renameSync(tmp, this.posFile);
  }

  private watchFile(): void {
    this.watcher?.close();
    this.watcher = undefined;
    try {
      this.watcher = watch(this.path, { persistent: false }, () => {
        if (this.scheduled) return;
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.drain();
        });
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // The file does not exist yet: the poll picks it up.
    }
  }
}

const NEWLINE = Buffer.from('\n');
