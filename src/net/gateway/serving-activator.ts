// The activator, in the node gateway: requests for a Knative route host are sent to a revision picked by
// the Route's traffic split. A revision with ready instances and room under its containerConcurrency is
// served at once; otherwise the request is held in the revision's bounded queue until an instance is
// ready (then forwarded, oldest first, never more than containerConcurrency per instance), the
// revision's timeoutSeconds expires (504 with the reason) or the queue is full (503). A revision whose
// instances fail to start (the serving controller marks its Service) answers held requests 503 with why.
//
// Every revision's traffic is measured here (requests in flight — held ones included — averaged over the
// report interval, and requests per second) and reported through a ServingStatsSink about once a second
// while there is traffic, and at once when a request is held at zero: that report is the scale-up request
// the autoscaler acts on (src/serving/autoscaler.ts).
//
// Knative runs the activator as a separate hop that steps out of the path when a revision has spare
// capacity of at least target-burst-capacity. Here the activator and the proxy are one process, so there
// is no hop to remove: a request that finds room goes straight to an instance; the counters tell requests
// that passed while spare capacity was below target-burst-capacity (`path="activator"`) from the others
// (`path="direct"`).
import type { EndpointSlice, Service } from '../../api/index.ts';
import { REVISION_SERVICE_ANNOTATIONS as RSA, type RevisionStats } from '../../api/index.ts';
import type { RouteConfig } from './config.ts';
import type { Counters } from './counters.ts';
import { answer, proxyRequest, type ClientRequest, type ClientResponse } from './proxy.ts';
import { pickTarget, ServingRouter } from './serving-routes.ts';
import type { Upstream } from './upstream.ts';

/** Where the activator's reports go (the node wiring patches the Revision's stats annotation). */
export interface ServingStatsSink {
  report(namespace: string, revision: string, stats: RevisionStats): void;
}

export interface RevisionUpstream {
  svc: Service;
  upstream?: Upstream;
  route: RouteConfig;
  /** Ready endpoints (not the terminating ones an upstream falls back to: those refuse new requests). */
  ready: number;
}

/** Ready endpoints of a Service, from its EndpointSlices. */
export function readyEndpoints(svc: Service, slices: readonly EndpointSlice[]): number {
  let n = 0;
  for (const slice of slices) {
    if (slice.metadata.namespace !== svc.metadata.namespace) continue;
    if (slice.metadata.labels?.['kubernetes.io/service-name'] !== svc.metadata.name) continue;
    for (const ep of slice.endpoints ?? []) if (ep.conditions?.ready !== false && ep.addresses[0]) n++;
  }
  return n;
}

export interface ActivatorOptions {
  sink: ServingStatsSink;
  counters: Counters;
  /** Report interval (ms). Default 1000. */
  reportIntervalMs?: number;
  /** Held requests per revision when its Service does not say. Default 1000. */
  defaultQueueDepth?: number;
  onInvalid?: (svc: Service, why: string) => void;
  now?: () => number;
}

interface Held {
  req: ClientRequest;
  res: ClientResponse;
  secure: boolean;
  timer: ReturnType<typeof setTimeout>;
  done: boolean;
}

interface Settings {
  containerConcurrency: number;
  targetBurstCapacity: number;
  timeoutMs: number;
  queueDepth: number;
  failure?: string;
}

class RevisionGate {
  readonly queue: Held[] = [];
  /** Requests sent to an instance and not finished. */
  active = 0;
  // For the reports: ∫ (active + held) dt and requests since the last report.
  integral = 0;
  lastChange: number;
  requests = 0;
  lastReportNonZero = false;
  settings: Settings = {
    containerConcurrency: 0,
    targetBurstCapacity: 200,
    timeoutMs: 300_000,
    queueDepth: 1000,
  };
  target?: RevisionUpstream;

  readonly namespace: string;
  readonly revision: string;

  constructor(namespace: string, revision: string, now: number) {
    this.namespace = namespace;
    this.revision = revision;
    this.lastChange = now;
  }

  get inFlight(): number {
    return this.active + this.queue.length;
  }

  account(now: number): void {
    this.integral += this.inFlight * (now - this.lastChange);
    this.lastChange = now;
  }

  ready(): number {
    return this.target?.upstream ? Math.min(this.target.ready, this.target.upstream.backends().length) : 0;
  }

  hasRoom(): boolean {
    const ready = this.ready();
    if (ready === 0) return false;
    const cc = this.settings.containerConcurrency;
    return cc === 0 || this.active < ready * cc;
  }
}

function num(v: string | undefined, dflt: number): number {
  const n = v === undefined ? NaN : Number(v);
  return Number.isFinite(n) ? n : dflt;
}

export class ServingActivator {
  private readonly o: ActivatorOptions;
  private router = new ServingRouter([]);
  private readonly gates = new Map<string, RevisionGate>();
  private readonly timer: ReturnType<typeof setInterval>;
  private lastReport: number;
  private stopped = false;

  constructor(o: ActivatorOptions) {
    this.o = o;
    this.lastReport = this.now();
    o.counters.describe(
      'strata_serving_activator_requests_total',
      'Requests for Knative routes, by path and outcome.',
    );
    o.counters.describe(
      'strata_serving_activator_held_total',
      'Requests the activator held for a revision without room.',
    );
    this.timer = setInterval(() => this.report(), o.reportIntervalMs ?? 1000);
    this.timer.unref?.();
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** Requests held now, over every revision (the leak check: 0 when idle). */
  heldNow(): number {
    let n = 0;
    for (const g of this.gates.values()) n += g.queue.length;
    return n;
  }

  /** Whether requests for the revision are held now (waiting for an instance). */
  holds(namespace: string, revision: string): boolean {
    return (this.gates.get(`${namespace}/${revision}`)?.queue.length ?? 0) > 0;
  }

  /** Requests sent to instances and not finished, over every revision. */
  activeNow(): number {
    let n = 0;
    for (const g of this.gates.values()) n += g.active;
    return n;
  }

  /** The revisions the route hosts use (the gateway keeps an upstream for each). */
  wanted(services: readonly Service[]): { namespace: string; revision: string }[] {
    this.router = new ServingRouter(services, this.o.onInvalid);
    return this.router.revisions();
  }

  /** After the gateway's sync: each revision's Service and upstream; held requests move if they can. */
  update(lookup: (namespace: string, revision: string) => RevisionUpstream | undefined): void {
    const now = this.now();
    const live = new Set<string>();
    for (const { namespace, revision } of this.router.revisions()) {
      const k = `${namespace}/${revision}`;
      live.add(k);
      const g = this.gate(namespace, revision, now);
      g.target = lookup(namespace, revision);
      const a = g.target?.svc.metadata.annotations ?? {};
      g.settings = {
        containerConcurrency: num(a[RSA.containerConcurrency], 0),
        targetBurstCapacity: num(a[RSA.targetBurstCapacity], 200),
        timeoutMs: num(a[RSA.timeoutSeconds], 300) * 1000,
        queueDepth: num(a[RSA.queueDepth], this.o.defaultQueueDepth ?? 1000),
        failure: a[RSA.failure],
      };
      this.drain(g);
    }
    // Revisions no route uses any more: their held requests cannot be served.
    for (const [k, g] of this.gates) {
      if (live.has(k)) continue;
      for (const h of g.queue.splice(0))
        this.release(h, 503, `revision ${k} is no longer routed`, 'unrouted');
      if (g.active === 0) this.gates.delete(k);
    }
  }

  /** Serves the request when its host is a Knative route; false leaves it to the Ingress router. */
  handle(req: ClientRequest, res: ClientResponse, secure: boolean): boolean {
    const host = req.headers.host ?? (req.headers[':authority'] as string | undefined);
    const route = this.router.match(host);
    if (!route) return false;
    const revision = pickTarget(route.targets);
    if (!revision) {
      req.resume();
      answer(res, 503, `route ${route.namespace}/${route.route} has no revision to send traffic to`);
      return true;
    }
    const now = this.now();
    const g = this.gate(route.namespace, revision, now);
    g.requests++;
    if (g.queue.length === 0 && g.hasRoom()) {
      this.forward(g, req, res, secure, now);
      return true;
    }
    if (g.settings.failure && g.ready() === 0) {
      req.resume();
      this.count('failed');
      answer(res, 503, g.settings.failure);
      return true;
    }
    if (g.queue.length >= g.settings.queueDepth) {
      req.resume();
      this.count('queue_full');
      answer(
        res,
        503,
        `activator queue of revision ${route.namespace}/${revision} is full (${g.settings.queueDepth} held)`,
      );
      return true;
    }
    this.hold(g, req, res, secure, now);
    return true;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const g of this.gates.values())
      for (const h of g.queue.splice(0)) this.release(h, 503, 'gateway stopping', 'stopped');
  }

  private gate(namespace: string, revision: string, now: number): RevisionGate {
    const k = `${namespace}/${revision}`;
    let g = this.gates.get(k);
    if (!g) {
      g = new RevisionGate(namespace, revision, now);
      this.gates.set(k, g);
    }
    return g;
  }

  private count(outcome: string, path?: string): void {
    this.o.counters.inc('strata_serving_activator_requests_total', { outcome, ...(path ? { path } : {}) });
  }

  private hold(g: RevisionGate, req: ClientRequest, res: ClientResponse, secure: boolean, now: number): void {
    g.account(now);
    const seconds = Math.round(g.settings.timeoutMs / 1000);
    const h: Held = {
      req,
      res,
      secure,
      done: false,
      timer: setTimeout(() => {
        this.remove(g, h);
        const why = g.ready() === 0 ? 'no instance became ready' : 'no instance had room';
        this.release(h, 504, `revision ${g.namespace}/${g.revision}: ${why} within ${seconds}s`, 'timeout');
      }, g.settings.timeoutMs),
    };
    g.queue.push(h);
    this.o.counters.inc('strata_serving_activator_held_total');
    // The client left: forget it (a held request never outlives its client).
    res.once('close', () => {
      if (h.done) return;
      this.remove(g, h);
      this.release(h, 499, 'client closed', 'client_closed');
    });
    // At zero, the autoscaler hears of it now rather than at the next report.
    if (g.ready() === 0 && g.queue.length === 1)
      this.o.sink.report(g.namespace, g.revision, this.stats(g, now, false));
  }

  private remove(g: RevisionGate, h: Held): void {
    const i = g.queue.indexOf(h);
    if (i >= 0) {
      g.account(this.now());
      g.queue.splice(i, 1);
    }
  }

  private release(h: Held, status: number, reason: string, outcome: string): void {
    if (h.done) return;
    h.done = true;
    clearTimeout(h.timer);
    this.count(outcome);
    if (status !== 499) {
      h.req.resume();
      answer(h.res, status, reason);
    }
  }

  /** Held requests go out, oldest first, while there is room; a failure answers them all. */
  private drain(g: RevisionGate): void {
    while (g.queue.length && g.hasRoom()) {
      const h = g.queue[0]!;
      this.remove(g, h);
      if (h.done) continue;
      h.done = true;
      clearTimeout(h.timer);
      this.forward(g, h.req, h.res, h.secure, this.now());
    }
    if (g.settings.failure && g.ready() === 0)
      for (const h of g.queue.splice(0)) this.release(h, 503, g.settings.failure, 'failed');
  }

  private forward(
    g: RevisionGate,
    req: ClientRequest,
    res: ClientResponse,
    secure: boolean,
    now: number,
  ): void {
    const t = g.target;
    if (!t?.upstream) {
      answer(res, 503, `revision ${g.namespace}/${g.revision} is not ready`);
      return;
    }
    const cc = g.settings.containerConcurrency;
    const spare = cc > 0 ? g.ready() * cc - g.active : Infinity;
    const tbc = g.settings.targetBurstCapacity;
    this.count('forwarded', tbc === -1 || spare < tbc ? 'activator' : 'direct');
    g.account(now);
    g.active++;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      g.account(this.now());
      g.active--;
      if (!this.stopped) this.drain(g);
    };
    res.once('close', finish);
    res.once('finish', finish);
    const upstream = t.upstream;
    void proxyRequest(req, res, () => ({ upstream, route: t.route }), secure);
  }

  private stats(g: RevisionGate, now: number, consume: boolean): RevisionStats {
    g.account(now);
    const intervalMs = Math.max(1, now - this.lastReport);
    const s: RevisionStats = {
      at: now,
      intervalMs,
      concurrency: g.integral / intervalMs,
      rps: (g.requests * 1000) / intervalMs,
      held: g.queue.length,
      inFlight: g.active,
    };
    if (consume) {
      g.integral = 0;
      g.requests = 0;
    }
    return s;
  }

  /** Once per interval: every revision with traffic (and once more after it stopped, to say so). */
  private report(): void {
    const now = this.now();
    for (const g of this.gates.values()) {
      const s = this.stats(g, now, true);
      const nonZero = s.concurrency > 0 || s.rps > 0 || s.held > 0 || s.inFlight > 0;
      if (nonZero || g.lastReportNonZero) this.o.sink.report(g.namespace, g.revision, s);
      g.lastReportNonZero = nonZero;
    }
    this.lastReport = now;
  }
}
