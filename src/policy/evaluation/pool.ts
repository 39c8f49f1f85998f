// Policy evaluation off the main thread, with a deadline. CEL evaluation is synchronous and unbounded in
// @bufbuild/cel (a nested map over 10^5 elements held a thread for 0.5 s), and the object under review
// comes from the caller, so a hostile policy or object could stall the API server. Each request's
// policies run in one worker; every policy must finish within `budgetMs` of the previous one. A worker
// that overruns (or runs out of its heap) is terminated and replaced: the policy it was on gets an error
// (its failurePolicy decides), the policies after it run on the fresh worker.
//
// Why a worker pool and not a static cost bound: Kubernetes bounds cost from the schemas' maxItems and
// maxLength, which Strata's kinds do not carry, so a static bound would refuse ordinary policies or bound
// nothing. Measured (bench/admission-policy.ts): the round trip costs tens of microseconds per
// request, beside a pod create of about a millisecond.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EvaluationInput, EvaluationItem, PolicyOutcome } from './types.ts';
import type { JobMessage, WorkerReply } from './worker.ts';

const WORKER_URL = new URL('./worker.ts', import.meta.url);

export interface EvaluatorPoolOptions {
  /** Workers (default: 2, or 1 on a single core). */
  size?: number;
  /** How long one policy may run, in milliseconds (default 1000). */
  budgetMs?: number;
  /** Heap ceiling of a worker, MiB (default 256): a policy building huge strings hits it. */
  heapMb?: number;
}

interface Job {
  id: number;
  input: EvaluationInput;
  items: EvaluationItem[];
  /** Outcomes by index into the original items. */
  outcomes: PolicyOutcome[];
  /** Index (into the original items) of items[0]: jobs resubmitted after an overrun start later. */
  offset: number;
  resolve(outcomes: PolicyOutcome[]): void;
}

class Slot {
  worker!: Worker;
  job: Job | undefined;
  ready = false;
  timer: NodeJS.Timeout | undefined;
  done = 0;
}

export class EvaluatorPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly budgetMs: number;
  private readonly heapMb: number;
  private readonly size: number;
  private nextId = 1;
  private closed = false;
  /** Workers replaced after an overrun (for tests and metrics). */
  replaced = 0;

  constructor(opts: EvaluatorPoolOptions = {}) {
    this.budgetMs = opts.budgetMs ?? 1000;
    this.heapMb = opts.heapMb ?? 256;
    this.size = opts.size ?? Math.min(2, availableParallelism());
  }

  /** Workers start with the first evaluation (or warm()): a cluster without bound policies runs none. */
  warm(): void {
    if (this.closed) return;
    while (this.slots.length < this.size) {
      const slot = new Slot();
      this.spawn(slot);
      this.slots.push(slot);
    }
  }

  /** Evaluates every item against the input; one outcome per item, in order. Never rejects. */
  evaluate(input: EvaluationInput, items: EvaluationItem[]): Promise<PolicyOutcome[]> {
    if (items.length === 0) return Promise.resolve([]);
    if (this.closed) return Promise.resolve(items.map(() => errorOutcome('the policy evaluator is stopped')));
    this.warm();
    return new Promise((resolve) => {
      this.queue.push({ id: this.nextId++, input, items, outcomes: [], offset: 0, resolve });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0))
      job.resolve(job.items.map(() => errorOutcome('the policy evaluator is stopped')));
    await Promise.all(
      this.slots.map(async (s) => {
        clearTimeout(s.timer);
        s.job?.resolve(fill(s.job, 'the policy evaluator is stopped'));
        s.job = undefined;
        await s.worker.terminate();
      }),
    );
  }

  private spawn(slot: Slot): void {
    const worker = new Worker(WORKER_URL, {
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 32 },
    });
    worker.unref();
    slot.ready = false;
    worker.on('message', (m: WorkerReply) => {
      if ('ready' in m) {
        slot.ready = true;
        this.dispatch();
      } else this.onReply(slot, m);
    });
    // A worker that dies (out of memory, a crash) fails its current policy like an overrun does.
    worker.on('error', (err) => {
      if (slot.worker === worker) this.abandon(slot, `evaluation failed: ${err.message}`);
    });
    worker.on('exit', () => {
      if (slot.worker === worker && !this.closed) this.abandon(slot, 'the evaluation worker exited');
    });
    slot.worker = worker;
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (!slot.ready || slot.job || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.done = 0;
      slot.worker.postMessage({ id: job.id, input: job.input, items: job.items } satisfies JobMessage);
      this.arm(slot);
    }
  }

  private arm(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.timer = setTimeout(
      () => this.abandon(slot, `evaluation exceeded its budget of ${this.budgetMs}ms`),
      this.budgetMs,
    );
  }

  private onReply(slot: Slot, m: Exclude<WorkerReply, { ready: true }>): void {
    const job = slot.job;
    if (!job || m.id !== job.id) return;
    if ('outcome' in m) {
      job.outcomes[job.offset + m.index] = m.outcome;
      slot.done = m.index + 1;
      this.arm(slot);
      return;
    }
    clearTimeout(slot.timer);
    slot.job = undefined;
    job.resolve('failed' in m ? fill(job, m.failed) : job.outcomes);
    this.dispatch();
  }

  /** The current policy of this slot's job failed (overrun, crash): replace the worker, go on without it. */
  private abandon(slot: Slot, reason: string): void {
    clearTimeout(slot.timer);
    const job = slot.job;
    slot.job = undefined;
    const old = slot.worker;
    if (!this.closed) {
      this.replaced++;
      this.spawn(slot);
    }
    void old.terminate();
    if (job) {
      const culprit = slot.done;
      job.outcomes[job.offset + culprit] = errorOutcome(reason);
      const rest = job.items.slice(culprit + 1);
      if (rest.length === 0 || this.closed) job.resolve(fill(job, reason));
      else this.queue.unshift({ ...job, items: rest, offset: job.offset + culprit + 1 });
    }
    this.dispatch();
  }
}

function errorOutcome(message: string): PolicyOutcome {
  return { matched: true, failures: [], auditAnnotations: [], errors: [message] };
}

/** The outcomes of a job, an error for every policy that has none. */
function fill(job: Job, reason: string): PolicyOutcome[] {
  const total = job.offset + job.items.length;
  return Array.from({ length: total }, (_, i) => job.outcomes[i] ?? errorOutcome(reason));
}
