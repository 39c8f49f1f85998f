// The gateway on more than one core: the main thread's NodeGateway starts `workers - 1` worker threads
// (gateway-worker.ts), each running a NodeGateway of its own on the same ports with SO_REUSEPORT, so the
// kernel spreads new connections over every thread's listeners (the main thread's included). Why threads
// with their own listeners rather than one accept + handoff: a handed-off socket still costs the main
// thread an accept and a message per connection, and with keep-alive the work is in the requests, not
// the accepts.
//
// What each thread has, and what it shares:
// - Route table and settings: the main thread's informers are the only API watches; every change is
//   forwarded to each worker (the initial lists, then every add/update/delete), whose NodeGateway
//   rebuilds its routes, upstreams and listeners from them exactly as the main thread's does.
// - Status (`status.loadBalancer`) is written by the main thread only; Events of the workers (ejections,
//   breaker trips) go through the main thread's recorder (which aggregates and rate-limits them).
// - Counters: each worker sends its cumulative counters every COUNTER_PUSH_MS; the main thread's
//   Counters adds them up (`text()`, `get()`), so the agent's /metrics and the HPA's request rate see one
//   gateway (at most COUNTER_PUSH_MS behind).
// - Circuit breakers: each thread counts the requests it has in flight, and its limits are the
//   Service's divided by the number of threads, rounded up (`shareLimits`). The sum over threads is
//   the annotation when it is a multiple of the thread count, else at most threads × ceil(limit /
//   threads) (a limit of 1 on 2 threads lets 2 through). Envoy's limits hold across all its workers
//   (shared counters); here one busy thread can also refuse before the total is reached.
// - Retry budget: per thread, the minimum per second divided as above; the ratio applies to each
//   thread's own requests, so the total stays the same fraction.
// - Outlier ejection: per thread (as nginx's max_fails/fail_timeout without a shared zone): each thread
//   ejects a backend after the consecutive errors it saw itself. Envoy decides ejections on its main
//   thread from every worker's results; here a failing backend is ejected by each thread within
//   `consecutive` of its own requests.
// - The serving activator (Knative hosts: containerConcurrency, held requests, per-revision reports)
//   must stay in one place: with `serving` set the Ingress ports stay on the main thread alone, and
//   only LoadBalancer ports are served by every thread. In-process backends (`backendFactory`, wasm
//   handlers) cannot cross threads: with one, no worker is started.
import { Worker } from 'node:worker_threads';
import type { Informer } from '../../lib/informer.ts';
import { errorMessage, type Log } from '../../lib/log.ts';
import type { UpstreamConfig } from './config.ts';
import type { CounterSnapshot, Counters } from './counters.ts';

/** How often a worker sends its counters to the main thread. */
export const COUNTER_PUSH_MS = 1_000;

/** The environment variable the agent reads for the worker count (`strata agent`/`up`). */
export const WORKERS_ENV = 'STRATA_GATEWAY_WORKERS';

/** The gateway's threads: `STRATA_GATEWAY_WORKERS` when set (1–64), else the default. */
export function gatewayWorkerCount(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[WORKERS_ENV];
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (Number.isInteger(n) && n >= 1) return Math.min(n, 64);
  }
  return defaultWorkerCount();
}

/**
 * 1. On the 2-core host measured (bench/gateway.ts, docs/benchmarks.md) a second thread was no faster
 * under load — wrk, the backend and other work already fill both cores, and each thread's own pools and
 * JIT cost more CPU per request — and 1.55× faster on a quiet host (0.40× direct against 0.26×). One
 * thread keeps the breakers' limits exact (shareLimits) and leaves the cores to the node's pods; set
 * STRATA_GATEWAY_WORKERS on a node with cores to spare.
 */
export function defaultWorkerCount(): number {
  return 1;
}

/**
 * A Service's limits as one of `threads` threads enforces them (each thread counts its own connections):
 * the annotation divided between the threads, rounded up. Each thread keeps at least 1, so with more
 * threads than a limit the sum exceeds it (max-requests 1 on 2 threads lets 2 through at once): a thread
 * with 0 would refuse every request its connections bring. Exact limits across threads would need a
 * counter shared between them (Atomics on a SharedArrayBuffer); not done.
 */
export function shareLimits(config: UpstreamConfig, threads: number): UpstreamConfig {
  if (threads <= 1) return config;
  const part = (n: number) => (Number.isFinite(n) ? Math.max(1, Math.ceil(n / threads)) : n);
  return {
    ...config,
    breaker: {
      maxConnections: part(config.breaker.maxConnections),
      maxPendingRequests: part(config.breaker.maxPendingRequests),
      maxRequests: part(config.breaker.maxRequests),
    },
    retryBudget: { ...config.retryBudget, minPerSecond: config.retryBudget.minPerSecond / threads },
  };
}

export type SourceName = 'services' | 'endpointSlices' | 'ingresses' | 'ingressClasses' | 'secrets';

/** What a worker's NodeGateway is started with (structured-clonable). */
export interface WorkerInit {
  id: string;
  options: {
    nodeName: string;
    listenAddress?: string;
    httpPort?: number;
    httpsPort?: number;
    addresses: string[];
    defaultCertificate: { cert: string; key: string };
    coalesceMs?: number;
    /** Threads sharing the limits (main + workers). */
    limitShare: number;
  };
  lists: Record<SourceName, unknown[]>;
}

export type ToWorker =
  { t: 'event'; source: SourceName; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: unknown } | { t: 'stop' };

export type EventRef = {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; uid?: string };
};

export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; error: string }
  | { t: 'event'; obj: EventRef; type: 'Normal' | 'Warning'; reason: string; message: string }
  | { t: 'counters'; snapshot: CounterSnapshot }
  | { t: 'log'; level: keyof Log; fields: object; msg: string }
  | { t: 'stopped' };

export interface GatewayWorkersOptions {
  /** Worker threads to start (the main thread serves too). */
  count: number;
  options: WorkerInit['options'];
  /** The main thread's informers, synced: their lists and changes feed the workers. */
  informers: Record<SourceName, Informer<unknown>>;
  counters: Counters;
  event?: (obj: EventRef, type: 'Normal' | 'Warning', reason: string, message: string) => void;
  log: Log;
}

interface Running {
  id: string;
  worker: Worker;
  exited: Promise<void>;
}

/** The worker threads of one NodeGateway. */
export class GatewayWorkers {
  private readonly running: Running[] = [];
  private readonly unsubscribe: (() => void)[] = [];
  private stopping = false;

  private readonly o: GatewayWorkersOptions;
  private constructor(o: GatewayWorkersOptions) {
    this.o = o;
  }

  /** Starts the workers; resolves once each has bound its listeners (or failed, logged). */
  static async start(o: GatewayWorkersOptions): Promise<GatewayWorkers> {
    const pool = new GatewayWorkers(o);
    await pool.spawnAll();
    return pool;
  }

  get size(): number {
    return this.running.length;
  }

  private async spawnAll(): Promise<void> {
    const { informers } = this.o;
    // The lists and the subscription are taken together, synchronously: no change falls between them.
    const lists = {} as Record<SourceName, unknown[]>;
    for (const source of Object.keys(informers) as SourceName[]) {
      const inf = informers[source];
      lists[source] = inf.list();
      const send = (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: unknown) =>
        this.broadcast({ t: 'event', source, type, object });
      let replaying = true; // addHandler replays the cache through onAdd: the lists carry it already
      this.unsubscribe.push(
        inf.addHandler({
          onAdd: (obj) => {
            if (!replaying) send('ADDED', obj);
          },
          onUpdate: (_old, obj) => send('MODIFIED', obj),
          onDelete: (obj) => send('DELETED', obj),
        }),
      );
      replaying = false;
    }
    const started: Promise<void>[] = [];
    for (let i = 1; i <= this.o.count; i++) started.push(this.spawn(`${i}`, lists));
    await Promise.all(started);
  }

  private spawn(id: string, lists: Record<SourceName, unknown[]>): Promise<void> {
    const init: WorkerInit = { id, options: this.o.options, lists };
    const worker = new Worker(new URL('./gateway-worker.ts', import.meta.url), { workerData: init });
    const { log, counters } = this.o;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.running.push({ id, worker, exited });
    return new Promise<void>((resolve) => {
      worker.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'ready':
            resolve();
            break;
          case 'failed':
            log.warn({ worker: id, err: m.error }, 'gateway: worker thread did not start');
            resolve();
            break;
          case 'event':
            this.o.event?.(m.obj, m.type, m.reason, m.message);
            break;
          case 'counters':
            counters.absorb(id, m.snapshot);
            break;
          case 'log':
            log[m.level]({ ...m.fields, worker: id }, m.msg);
            break;
        }
      });
      worker.on('error', (err) => {
        log.error({ worker: id, err: errorMessage(err) }, 'gateway: worker thread failed');
        resolve();
      });
      worker.once('exit', (code) => {
        if (!this.stopping) log.warn({ worker: id, code }, 'gateway: worker thread exited');
        resolve();
      });
    });
  }

  private broadcast(m: ToWorker): void {
    for (const r of this.running) r.worker.postMessage(m);
  }

  /** Each worker closes its listeners and pools, sends its last counters, and exits. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const u of this.unsubscribe) u();
    this.broadcast({ t: 'stop' });
    await Promise.all(
      this.running.map(async (r) => {
        const timer = setTimeout(() => void r.worker.terminate(), 10_000);
        await r.exited;
        clearTimeout(timer);
      }),
    );
  }
}
