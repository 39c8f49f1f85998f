// Worker threads for guests. Two kinds:
//  - shared workers run many guests each (up to `guestsPerWorker`), switching between them as they
//    wait (worker.ts). New guests go to the least loaded one; there are at least as many as the
//    machine has cores before any is given a second guest, so computing guests spread over the cores.
//  - dedicated workers run one guest at a time, for modules without preemption points (preempt.ts),
//    and for everything when `guestsPerWorker` is 1 (the earlier thread-per-guest design). A few warm
//    idle ones are kept so that short-lived guests start in well under a millisecond.
// A hard ceiling on threads, and a fresh thread after a dedicated guest was killed.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SandboxError } from '../driver.ts';
import { createControl, resetSlot, slotViews } from './control.ts';
import { LogRingReader } from './log-ring.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

export interface PoolOptions {
  /** Idle workers kept warm (dedicated), and empty shared workers kept. */
  idle: number;
  /** Most worker threads alive at once (busy + idle). */
  max: number;
  /** Guests one shared worker runs at once. */
  guestsPerWorker: number;
  /** A worker takes no new guest after this many, bounding whatever per-run residue V8 or uvwasi keeps. */
  maxRunsPerWorker: number;
}

export interface GuestListener {
  message(msg: FromWorker): void;
  /** The thread died (uncaught error, out of heap) or exited while the guest ran on it. */
  failure(err: Error): void;
}

const WORKER_URL = new URL('./worker.ts', import.meta.url);
let workerSeq = 0;

/** JS heap of a worker: our wrappers and node:wasi's objects per guest (guest memory lives outside). */
function heapLimitMb(guests: number): number {
  return 64 + Math.ceil(guests / 10);
}

export class PooledWorker {
  readonly worker: Worker;
  /** Unique in this process: how the inspector (interrupt.ts) tells workers apart. */
  readonly name = `strata-wasm-${process.pid}-${++workerSeq}`;
  readonly shared: boolean;
  readonly capacity: number;
  /** Control block: the log ring of all its guests and one slot per guest (control.ts). */
  readonly control: SharedArrayBuffer;
  readonly reader: LogRingReader;
  /** Module cache keys this worker holds (mirrors the worker's own LRU, see protocol.ts). */
  readonly modules = new Map<string, true>();
  /** Module keys it keeps a spare instance of (mirrors the worker's, see RunRequest.keepSpare). */
  readonly spares = new Set<string>();
  /** Its guests, by guest id. */
  readonly guests = new Map<number, GuestListener>();
  runs = 0;
  dead = false;
  /** The worker has loaded its code and installed its message handler. */
  ready = false;
  /** Called once the worker has loaded its code. */
  onReady: (() => void) | undefined;
  /** Set by the driver: the worker asks for its log ring to be drained. */
  onDrain: (() => void) | undefined;
  private readonly freeSlots: number[];

  constructor(shared: boolean, capacity: number, onDeath: (pw: PooledWorker) => void) {
    this.shared = shared;
    this.capacity = capacity;
    this.control = createControl(capacity);
    this.reader = new LogRingReader(this.control);
    this.freeSlots = Array.from({ length: capacity }, (_, i) => capacity - 1 - i);
    this.worker = new Worker(WORKER_URL, {
      name: this.name,
      workerData: { control: this.control },
      resourceLimits: { maxOldGenerationSizeMb: heapLimitMb(capacity), maxYoungGenerationSizeMb: 16 },
    });
    this.worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') {
        this.ready = true;
        this.onReady?.();
      } else if (msg.type === 'drain') this.onDrain?.();
      else this.guests.get(msg.guest)?.message(msg);
    });
    const die = (err: Error): void => {
      if (this.dead) return;
      this.dead = true;
      onDeath(this);
      for (const l of [...this.guests.values()]) l.failure(err);
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`wasm worker exited with code ${code}`)));
  }

  get full(): boolean {
    return this.freeSlots.length === 0;
  }

  /** Takes a free slot (cleared) for a new guest. */
  takeSlot(): number {
    const slot = this.freeSlots.pop();
    if (slot === undefined) throw new Error('no free guest slot');
    resetSlot(slotViews(this.control, slot));
    return slot;
  }

  freeSlot(slot: number): void {
    this.freeSlots.push(slot);
  }

  post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }
}

export interface Placement {
  pw: PooledWorker;
  slot: number;
}

export class WorkerPool {
  private readonly opts: PoolOptions;
  private readonly idle: PooledWorker[] = [];
  private readonly live = new Set<PooledWorker>();
  private readonly cores = availableParallelism();
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

  /** Every live worker (to drain their log rings). */
  workers(): Iterable<PooledWorker> {
    return this.live;
  }

  /**
   * A place for one guest: on a shared worker when it can share one, else on a worker of its own.
   * `spareOf`: between equally loaded workers, take one that keeps a spare instance of this module.
   */
  acquire(shareable: boolean, spareOf?: string): Placement {
    if (this.closed) throw new SandboxError('CreateContainerError', 'the wasm driver is shut down');
    const pw =
      shareable && this.opts.guestsPerWorker > 1 ? this.sharedWorker(spareOf) : this.dedicatedWorker(spareOf);
    pw.worker.ref();
    pw.runs++;
    return { pw, slot: pw.takeSlot() };
  }

  /** A guest has ended. `clean`: it ended by itself, so its (dedicated) worker can be reused. */
  release(p: Placement, guest: number, clean: boolean): void {
    const { pw } = p;
    pw.guests.delete(guest);
    pw.freeSlot(p.slot);
    if (pw.dead) return;
    if (!pw.shared) {
      if (
        !clean ||
        this.closed ||
        pw.runs >= this.opts.maxRunsPerWorker ||
        this.idle.length >= this.opts.idle
      ) {
        void this.discard(pw);
        return;
      }
      // An idle worker must not keep the agent process alive.
      pw.worker.unref();
      this.idle.push(pw);
      return;
    }
    if (pw.guests.size > 0) return;
    const emptyShared = [...this.live].filter((w) => w.shared && w.guests.size === 0).length;
    if (this.closed || pw.runs >= this.opts.maxRunsPerWorker || emptyShared > Math.max(1, this.opts.idle)) {
      void this.discard(pw);
      return;
    }
    pw.worker.unref();
  }

  /** Ends a worker (e.g. after a guest was killed by interrupting it), with any guests it still has. */
  discard(pw: PooledWorker): Promise<void> {
    this.forget(pw);
    const orphans = [...pw.guests.values()];
    pw.guests.clear();
    pw.dead = true;
    for (const l of orphans) l.failure(new Error('its worker thread was terminated'));
    return pw.worker.terminate().then(
      () => undefined,
      () => undefined,
    );
  }

  /** Resolves when a fresh worker has loaded its code: proves the worker file runs on this Node. */
  async probe(timeoutMs = 10_000): Promise<void> {
    const pw = new PooledWorker(false, 1, () => undefined);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`a wasm worker did not start within ${timeoutMs} ms`)),
          timeoutMs,
        );
        pw.onReady = () => {
          clearTimeout(timer);
          resolve();
        };
        pw.guests.set(-1, {
          message: () => undefined,
          failure: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        });
      });
    } finally {
      pw.guests.clear();
      pw.dead = true;
      await pw.worker.terminate();
    }
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live].map((pw) => this.discard(pw)));
  }

  /** Workers holding a spare instance of `key` that the driver should tell to drop it. */
  spareHolders(key: string): PooledWorker[] {
    return [...this.live].filter((pw) => !pw.dead && pw.spares.has(key));
  }

  private sharedWorker(spareOf?: string): PooledWorker {
    let best: PooledWorker | undefined;
    let open = 0;
    const better = (pw: PooledWorker, than: PooledWorker): boolean =>
      pw.guests.size < than.guests.size ||
      (pw.guests.size === than.guests.size &&
        spareOf !== undefined &&
        pw.spares.has(spareOf) &&
        !than.spares.has(spareOf));
    for (const pw of this.live) {
      if (!pw.shared || pw.dead || pw.full || pw.runs >= this.opts.maxRunsPerWorker) continue;
      open++;
      if (!best || better(pw, best)) best = pw;
    }
    // Spread over the cores first: a computing guest then does not share its core.
    if ((!best || (open < this.cores && best.guests.size > 0)) && this.live.size < this.opts.max) {
      return this.spawn(true);
    }
    if (best) return best;
    throw this.exhausted();
  }

  private dedicatedWorker(spareOf?: string): PooledWorker {
    const withSpare = spareOf === undefined ? -1 : this.idle.findLastIndex((w) => w.spares.has(spareOf));
    let pw = withSpare >= 0 ? this.idle.splice(withSpare, 1)[0] : this.idle.pop();
    while (pw && pw.dead) pw = this.idle.pop();
    if (!pw) {
      if (this.live.size >= this.opts.max) throw this.exhausted();
      pw = this.spawn(false);
    }
    // Keep one warm worker ready for the next start, spawned off the start path (~30 ms of CPU).
    // Topping up to the full target here would make every release find the pool full and discard.
    if (this.idle.length === 0 && this.opts.idle > 0) setImmediate(() => this.refill(1));
    return pw;
  }

  /** Starts idle dedicated workers up to `target` (default: the warm target). */
  refill(target = this.opts.idle): void {
    while (
      !this.closed &&
      this.idle.length < Math.min(target, this.opts.idle) &&
      this.live.size < this.opts.max
    ) {
      const pw = this.spawn(false);
      pw.worker.unref();
      this.idle.push(pw);
    }
  }

  private exhausted(): SandboxError {
    return new SandboxError(
      'CreateContainerError',
      `all ${this.opts.max} wasm sandbox workers are in use (raise maxWorkers to run more at once)`,
    );
  }

  private spawn(shared: boolean): PooledWorker {
    const pw = new PooledWorker(shared, shared ? this.opts.guestsPerWorker : 1, (dead) => this.forget(dead));
    this.live.add(pw);
    return pw;
  }

  private forget(pw: PooledWorker): void {
    this.live.delete(pw);
    const i = this.idle.indexOf(pw);
    if (i >= 0) this.idle.splice(i, 1);
  }
}
