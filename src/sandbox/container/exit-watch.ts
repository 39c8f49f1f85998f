// Learns that containers exited: conmon writes `<exit dir>/<id>` (the exit status as decimal text) when
// the container's init ends. One inotify watch on the shared exit directory covers every container; a
// slow sweep catches what the watch could miss (the file appearing before the watch, an overflowing
// event queue) and notices a supervisor that died without writing the file (killed with SIGKILL, OOM).

import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

export interface ExitStatus {
  exitCode: number;
  /** When conmon wrote the file: the container's end, even if we learn it after a restart. */
  at: Date;
}

interface Pending {
  onExit: (s: ExitStatus) => void;
  /** Whether the supervisor still runs; checked by the sweep. */
  supervised: () => boolean;
  onLost: () => void;
  /** Consecutive sweeps that found the supervisor gone and no exit file. */
  misses: number;
}

const SWEEP_MS = 500;

export class ExitWatcher {
  private readonly dir: string;
  private readonly pending = new Map<string, Pending>();
  private watcher: FSWatcher | undefined;
  private sweep: NodeJS.Timeout | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Reads the exit file of `id`, if conmon has written it completely. */
  read(id: string): ExitStatus | undefined {
    try {
      const path = join(this.dir, id);
      const text = readFileSync(path, 'utf8').trim();
      if (!/^-?\d+$/.test(text)) return undefined;
      return { exitCode: Number(text), at: statSync(path).mtime };
    } catch {
      return undefined;
    }
  }

  /** Calls onExit once the exit file appears, or onLost if the supervisor dies without one. */
  watch(id: string, onExit: (s: ExitStatus) => void, supervised: () => boolean, onLost: () => void): void {
    this.ensureWatching();
    this.pending.set(id, { onExit, supervised, onLost, misses: 0 });
    this.check(id); // it may already be there
  }

  unwatch(id: string): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.stop();
  }

  close(): void {
    this.pending.clear();
    this.stop();
  }

  private check(id: string): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    const status = this.read(id);
    if (!status) return false;
    this.pending.delete(id);
    p.onExit(status);
    if (this.pending.size === 0) this.stop();
    return true;
  }

  private ensureWatching(): void {
    if (!this.watcher) {
      // Persistent while someone waits for an exit: a pending wait() keeps the process alive.
      this.watcher = watch(this.dir, { persistent: true }, (_event, name) => {
        if (name) this.check(name.toString());
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined; // the sweep still works; the next watch() re-arms
      });
    }
    if (!this.sweep) {
      this.sweep = setInterval(() => this.sweepAll(), SWEEP_MS);
      this.sweep.unref();
    }
  }

  private sweepAll(): void {
    for (const [id, p] of [...this.pending]) {
      if (this.check(id)) continue;
      if (p.supervised()) {
        p.misses = 0;
        continue;
      }
      // conmon writes the file just before it exits: give a vanished supervisor one more sweep.
      if (++p.misses < 2) continue;
      this.pending.delete(id);
      p.onLost();
    }
    if (this.pending.size === 0) this.stop();
  }

  private stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = undefined;
  }
}
