// The audit log file: JSON lines, appended in batches and rotated by size like kube-apiserver's
// (lumberjack): when the next batch would pass --audit-log-maxsize MB the file is renamed
// `<name>-<UTC timestamp>.<ext>` beside it and a new one started; backups beyond --audit-log-maxbackup,
// or older than --audit-log-maxage days, are removed. Lines are buffered for the rest of the event
// loop turn and written with one write() per batch (the audit log must not cost a syscall per request);
// close() writes what is left synchronously, so a clean shutdown loses nothing. `-` writes to stdout.
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

export interface AuditLogOptions {
  /** The file, or `-` for stdout. */
  path: string;
  /** Rotate when the file would grow past this many megabytes (0: never). */
  maxSizeMB?: number;
  /** Rotated files kept (0: all). */
  maxBackups?: number;
  /** Rotated files older than this many days are removed (0: kept whatever their age). */
  maxAgeDays?: number;
}

/** lumberjack's backup time format: 2006-01-02T15-04-05.000 (UTC). */
function backupStamp(d: Date): string {
  return d.toISOString().replace(/Z$/, '').replace(/:/g, '-');
}

export class AuditLogWriter {
  readonly path: string;
  readonly #maxBytes: number;
  readonly #maxBackups: number;
  readonly #maxAgeMs: number;
  #fd: number;
  #size = 0;
  #pending: string[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #closed = false;

  constructor(o: AuditLogOptions) {
    this.path = o.path;
    this.#maxBytes = Math.max(0, o.maxSizeMB ?? 0) * 1024 * 1024;
    this.#maxBackups = Math.max(0, o.maxBackups ?? 0);
    this.#maxAgeMs = Math.max(0, o.maxAgeDays ?? 0) * 86_400_000;
    if (o.path === '-') {
      this.#fd = 1;
    } else {
      mkdirSync(dirname(o.path), { recursive: true, mode: 0o700 });
      // The log names users and resources: readable by its owner only.
      this.#fd = openSync(o.path, 'a', 0o600);
      this.#size = statSync(o.path).size;
    }
  }

  /** Queues one event; written at the end of this event loop turn. */
  write(event: object): void {
    if (this.#closed) return;
    const line = `${JSON.stringify(event)}\n`;
    this.#pending.push(line);
    this.#pendingBytes += Buffer.byteLength(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes every queued line now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0 || this.#fd < 0) return;
    const data = this.#pending.join('');
    const bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.path !== '-' && this.#maxBytes > 0 && this.#size > 0 && this.#size + bytes > this.#maxBytes)
      this.#rotate();
    writeSync(this.#fd, data);
    this.#size += bytes;
  }

  /** Writes what is queued and closes the file. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#fd > 2) closeSync(this.#fd);
    this.#fd = -1;
  }

  #rotate(): void {
    closeSync(this.#fd);
    const ext = extname(this.path);
    const stem = basename(this.path, ext);
    const backup = join(dirname(this.path), `${stem}-${backupStamp(new Date())}${ext}`);
    renameSync(this.path, backup);
    this.#fd = openSync(this.path, 'a', 0o600);
    this.#size = 0;
    this.#prune();
  }

  /** Backups of this log, newest first. */
  backups(): string[] {
    const ext = extname(this.path);
    const stem = basename(this.path, ext);
    const dir = dirname(this.path);
    const re = new RegExp(
      `^${escape(stem)}-\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2}-\\d{2}\\.\\d{3}${escape(ext)}$`,
    );
    return readdirSync(dir)
      .filter((f) => re.test(f))
      .sort()
      .reverse()
      .map((f) => join(dir, f));
  }

  #prune(): void {
    const now = Date.now();
    this.backups().forEach((f, i) => {
      const tooMany = this.#maxBackups > 0 && i >= this.#maxBackups;
      const tooOld = this.#maxAgeMs > 0 && now - statSync(f).mtimeMs > this.#maxAgeMs;
      if (tooMany || tooOld) unlinkSync(f);
    });
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
