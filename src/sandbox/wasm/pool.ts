// Worker threads for sandboxes: a few warm idle ones so that short-lived guests start in well under a
// millisecond, a hard ceiling on how many exist, and a fresh thread after a guest was killed.

import { Worker } from 'node:worker_threads';
import { SandboxError } from '../driver.ts';
import { createControl } from './control.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

export interface PoolOptions {
  /** Idle workers kept warm. */
  idle: number;
  /** Most workers alive at once (busy + idle) = most wasm sandboxes running at once. */
  max: number;
  /** A worker is replaced after this many runs, bounding whatever per-run residue V8 or uvwasi keeps. */
  maxRunsPerWorker: number;
}

export interface WorkerListener {
  message(msg: FromWorker): void;
  /** The thread died (uncaught error, out of heap) or exited while the listener held it. */
  failure(err: Error): void;
}

const WORKER_URL = new URL('./worker.ts', import.meta.url);
let workerSeq = 0;

export class PooledWorker {
  readonly worker: Worker;
  /** Unique in this process: how the inspector (interrupt.ts) tells workers apart. */
  readonly name = `strata-wasm-${process.pid}-${++workerSeq}`;
  /** Control block reused by every run of this worker (reset before each). */
  readonly control = createControl();
  /** Module cache keys this worker holds (mirrors the worker's own LRU, see protocol.ts). */
  readonly modules = new Map<string, true>();
  runs = 0;
  dead = false;
  /** The worker has loaded its code and installed its message handler. */
  ready = false;
  listener: WorkerListener | undefined;

  constructor(onDeath: (pw: PooledWorker) => void) {
    this.worker = new Worker(WORKER_URL, {
      name: this.name,
      // The JS heap of a worker holds only our wrappers; guest memory lives outside it.
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
    });
    this.worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') this.ready = true;
      this.listener?.message(msg);
    });
    const die = (err: Error): void => {
      if (this.dead) return;
      this.dead = true;
      onDeath(this);
      this.listener?.failure(err);
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`wasm worker exited with code ${code}`)));
  }

  post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }
}

export class WorkerPool {
  private readonly opts: PoolOptions;
  private readonly idle: PooledWorker[] = [];
  private readonly live = new Set<PooledWorker>();
  private closed = false;

  constructor(opts: PoolOptions) {
    this.opts = opts;
  }

  /** Workers alive (busy and idle). */
  get size(): number {
    return this.live.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** A worker for one run: the most recently used idle one, else a new one. */
  acquire(): PooledWorker {
    if (this.closed) throw new SandboxError('CreateContainerError', 'the wasm driver is shut down');
    let pw = this.idle.pop();
    while (pw && pw.dead) pw = this.idle.pop();
    if (!pw) {
      if (this.live.size >= this.opts.max) {
        throw new SandboxError(
          'CreateContainerError',
          `all ${this.opts.max} wasm sandbox workers are in use (raise maxWorkers to run more at once)`,
        );
      }
      pw = this.spawn();
    }
    pw.worker.ref();
    pw.runs++;
    // Keep one warm worker ready for the next start, spawned off the start path (~30 ms of CPU).
    // Topping up to the full target here would make every release find the pool full and discard.
    if (this.idle.length === 0 && this.opts.idle > 0) setImmediate(() => this.refill(1));
    return pw;
  }

  /** Returns a worker whose run ended normally; it stays warm unless the pool is full or it is old. */
  release(pw: PooledWorker): void {
    pw.listener = undefined;
    if (
      pw.dead ||
      this.closed ||
      pw.runs >= this.opts.maxRunsPerWorker ||
      this.idle.length >= this.opts.idle
    ) {
      this.discard(pw);
      return;
    }
    // An idle worker must not keep the agent process alive.
    pw.worker.unref();
    this.idle.push(pw);
  }

  /** Ends a worker (e.g. after its guest was killed). */
  discard(pw: PooledWorker): Promise<void> {
    pw.listener = undefined;
    this.forget(pw);
    pw.dead = true;
    return pw.worker.terminate().then(
      () => undefined,
      () => undefined,
    );
  }

  /** Starts idle workers up to `target` (default: the warm target). */
  refill(target = this.opts.idle): void {
    while (
      !this.closed &&
      this.idle.length < Math.min(target, this.opts.idle) &&
      this.live.size < this.opts.max
    ) {
      const pw = this.spawn();
      pw.worker.unref();
      this.idle.push(pw);
    }
  }

  /** Resolves when a fresh worker has loaded its code: proves the worker file runs on this Node. */
  async probe(timeoutMs = 10_000): Promise<void> {
    const pw = new PooledWorker(() => undefined);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`a wasm worker did not start within ${timeoutMs} ms`)),
          timeoutMs,
        );
        pw.listener = {
          message: (m) => {
            if (m.type === 'ready') {
              clearTimeout(timer);
              resolve();
            }
          },
          failure: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        };
      });
    } finally {
      pw.listener = undefined;
      pw.dead = true;
      await pw.worker.terminate();
    }
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live].map((pw) => this.discard(pw)));
  }

  private spawn(): PooledWorker {
    const pw = new PooledWorker((dead) => this.forget(dead));
    this.live.add(pw);
    return pw;
  }

  private forget(pw: PooledWorker): void {
    this.live.delete(pw);
    const i = this.idle.indexOf(pw);
    if (i >= 0) this.idle.splice(i, 1);
  }
}
