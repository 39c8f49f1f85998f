// Copies what QEMU writes to a sandbox's stdout/stderr files (virtio-serial ports backed by files) into
// the agent's log sink. QEMU writes the files without the agent, so output survives an agent restart;
// the offset already copied is kept in a small file so a re-adopted sandbox's output is neither lost
// nor repeated.
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import type { LogSink } from '../driver.ts';

const CHUNK = 64 * 1024;

export class FileTail {
  private offset: number;
  private timer: NodeJS.Timeout | undefined;

  private readonly path: string;
  private readonly stream: 'stdout' | 'stderr';
  private readonly sink: LogSink;
  private readonly offsetFile: string;

  constructor(path: string, stream: 'stdout' | 'stderr', sink: LogSink, offsetFile: string) {
    this.path = path;
    this.stream = stream;
    this.sink = sink;
    this.offsetFile = offsetFile;
    this.offset = existsSync(offsetFile) ? Number(readFileSync(offsetFile, 'utf8')) || 0 : 0;
  }

  start(intervalMs = 100): void {
    this.timer ??= setInterval(() => this.drain(), intervalMs);
    this.timer.unref();
  }

  /** Copies everything written so far. */
  drain(): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.alloc(CHUNK);
      let moved = false;
      for (;;) {
        const n = readSync(fd, buf, 0, CHUNK, this.offset);
        if (n <= 0) break;
        this.sink.write(this.stream, Uint8Array.prototype.slice.call(buf, 0, n));
        this.offset += n;
        moved = true;
      }
      if (moved) writeFileSync(this.offsetFile, String(this.offset));
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.drain();
  }
}
