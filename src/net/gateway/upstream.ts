// One Service port as the gateway sees it: its ready backends, how they are picked, and what protects
// them — retries within a budget, per-backend circuit breakers, outlier ejection. `dispatch` sends one
// client request and resolves with a response to relay or a gateway failure to answer with.
//
// Readiness: `setBackends` is called with the ready endpoints whenever the EndpointSlices change. A
// backend that leaves gets no new requests; its requests in flight finish, then its pool is closed.
import type { Duplex } from 'node:stream';
import { newBalancer, PeakEwmaEstimator, type Balancer, type LoadInfo } from './balancer.ts';
import { BackendError, type Backend, type BackendRequest, type BackendResponse } from './backend.ts';
import { breakerRefusal, type BreakerLimit } from './circuit-breaker.ts';
import type { RouteConfig, UpstreamConfig } from './config.ts';
import { Counters } from './counters.ts';
import { ejectionAllowed, OutlierTracker, type Outcome, type OutlierTransition } from './outlier.ts';
import { RetryBudget } from './retry-budget.ts';

/** Responses per backend of an upstream (`{upstream, backend="IP:PORT"}`). */
export const BACKEND_REQUESTS = 'strata_gateway_backend_requests_total';

/** Reported for Events (on the Service) and logs. */
export interface UpstreamEvent {
  type: 'Normal' | 'Warning';
  reason: 'OutlierEjected' | 'OutlierReturned' | 'CircuitBreakerTripped';
  message: string;
  backend?: string;
}

export interface UpstreamOptions {
  counters?: Counters;
  onEvent?: (e: UpstreamEvent) => void;
  now?: () => number;
  random?: () => number;
}

/** A backend the endpoints list: its identity and how to make it (called once per appearance). */
export interface BackendSpec {
  id: string;
  create(): Backend;
}

export type DispatchResult =
  | { ok: true; response: BackendResponse; backend: string; attempts: number }
  | { ok: false; status: number; reason: string; attempts: number };

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export class BackendState implements LoadInfo {
  active = 0;
  inRotation = true;
  /** Its strata_gateway_backend_requests_total series key (made on its first answer). */
  requestsKey?: string;
  readonly outlier: OutlierTracker;
  private readonly latency = new PeakEwmaEstimator();
  readonly backend: Backend;
  constructor(backend: Backend, outlier: OutlierTracker) {
    this.backend = backend;
    this.outlier = outlier;
  }
  get id(): string {
    return this.backend.id;
  }
  latencyEwma(): number | undefined {
    return this.latency.get();
  }
  observe(ms: number, now: number): void {
    this.latency.observe(ms, now);
  }
}

export class Upstream {
  private config: UpstreamConfig;
  private balancer: Balancer;
  private budget: RetryBudget;
  private readonly states = new Map<string, BackendState>();
  private readonly counters?: Counters;
  private readonly onEvent: (e: UpstreamEvent) => void;
  private readonly now: () => number;
  private readonly random?: () => number;
  /** Backends in rotation, kept as an array (the request path reads it; setBackends writes it). */
  private rotation: BackendState[] = [];
  /** strata_gateway_requests_total series keys by status code (no label formatting per request). */
  private readonly requestKeys = new Map<number, string>();
  /** Time from the client's request to the backend's response headers, retries included. */
  private readonly latency?: { observe(seconds: number): void };

  readonly name: string;

  constructor(name: string, config: UpstreamConfig, o: UpstreamOptions = {}) {
    this.name = name;
    this.config = config;
    this.counters = o.counters;
    this.latency = o.counters?.histogram('strata_gateway_upstream_response_seconds', { upstream: name });
    this.onEvent = o.onEvent ?? (() => {});
    this.now = o.now ?? Date.now;
    this.random = o.random;
    this.balancer = newBalancer(config.loadBalancer, o.random);
    this.budget = new RetryBudget({ ...config.retryBudget, now: this.now });
  }

  /** New annotations: a new picker and budget; backends keep their state. */
  setConfig(config: UpstreamConfig): void {
    if (JSON.stringify(config) === JSON.stringify(this.config)) return;
    const balancerChanged = config.loadBalancer !== this.config.loadBalancer;
    this.config = config;
    if (balancerChanged) this.balancer = newBalancer(config.loadBalancer, this.random);
    this.budget = new RetryBudget({ ...config.retryBudget, now: this.now });
  }

  /** The ready backends now. Others drain: no new requests, closed once idle. */
  setBackends(specs: readonly BackendSpec[]): void {
    const wanted = new Set(specs.map((s) => s.id));
    for (const spec of specs) {
      const s = this.states.get(spec.id);
      if (s) s.inRotation = true;
      else this.states.set(spec.id, new BackendState(spec.create(), new OutlierTracker(this.config.outlier)));
    }
    for (const s of this.states.values()) {
      if (wanted.has(s.id)) continue;
      s.inRotation = false;
      this.closeIfDrained(s);
    }
    this.rotation = [...this.states.values()].filter((s) => s.inRotation);
  }

  /** Backends in rotation (ready), by id. */
  backends(): BackendState[] {
    return this.rotation;
  }

  /** Stop: every backend leaves rotation (in-flight requests finish). */
  close(): void {
    this.setBackends([]);
  }

  get retryBudget(): RetryBudget {
    return this.budget;
  }

  private closeIfDrained(s: BackendState): void {
    if (s.inRotation || s.active > 0) return;
    s.backend.close();
    this.states.delete(s.id);
    if (s.requestsKey) this.counters?.removeKey(s.requestsKey);
  }

  /** Pick a backend for an attempt, preferring ones not tried yet. */
  private choose(tried: Set<string>, now: number): BackendState | BreakerLimit | undefined {
    const inRotation = this.rotation;
    if (inRotation.length === 0) return undefined;
    const fresh = tried.size === 0 ? inRotation : inRotation.filter((s) => !tried.has(s.id));
    const pool = fresh.length ? fresh : inRotation;
    // The usual case, every backend available, allocates nothing.
    let candidates = pool.every((s) => s.outlier.available(now))
      ? pool
      : pool.filter((s) => s.outlier.available(now));
    // Every remaining backend ejected: fail open rather than refuse (Envoy's panic mode).
    if (candidates.length === 0) candidates = pool.filter((s) => s.outlier.state === 'ejected');
    if (candidates.length === 0) return undefined;
    const first = this.balancer.pick(candidates, now);
    if (!first) return undefined;
    const refusal = breakerRefusal(first.active, this.config.breaker);
    if (!refusal) return first;
    this.trip(first, refusal);
    const roomy = candidates.filter((s) => !breakerRefusal(s.active, this.config.breaker));
    return this.balancer.pick(roomy, now) ?? refusal;
  }

  private trip(s: BackendState, limit: BreakerLimit): void {
    const value =
      limit === 'max-requests' ? this.config.breaker.maxRequests : this.config.breaker.maxPendingRequests;
    this.counters?.inc('strata_gateway_circuit_breaker_trips_total', {
      upstream: this.name,
      backend: s.id,
      limit,
    });
    this.onEvent({
      type: 'Warning',
      reason: 'CircuitBreakerTripped',
      backend: s.id,
      message: `backend ${s.id} of ${this.name} is at its ${limit} limit (${value}): request not sent to it`,
    });
  }

  private ejectedCount(): number {
    return this.backends().filter((s) => s.outlier.state !== 'healthy').length;
  }

  private record(s: BackendState, outcome: Outcome, probe: boolean): void {
    const now = this.now();
    const t = s.outlier.record(outcome, now, probe, () =>
      ejectionAllowed(this.ejectedCount(), this.backends().length, this.config.outlier.maxEjectionPercent),
    );
    if (t) this.report(s, t);
  }

  private report(s: BackendState, t: OutlierTransition): void {
    if (t.type === 'returned') {
      this.counters?.inc('strata_gateway_outlier_returns_total', { upstream: this.name, backend: s.id });
      this.onEvent({
        type: 'Normal',
        reason: 'OutlierReturned',
        backend: s.id,
        message: `backend ${s.id} of ${this.name} answered its probe: back in rotation`,
      });
      return;
    }
    const why =
      t.type === 'probe-failed'
        ? 'failed its half-open probe'
        : t.reason === 'consecutive-5xx'
          ? `answered ${this.config.outlier.consecutive5xx} consecutive 5xx`
          : `failed ${this.config.outlier.consecutiveGatewayFailures} consecutive connections`;
    this.counters?.inc('strata_gateway_outlier_ejections_total', {
      upstream: this.name,
      backend: s.id,
      reason: t.type === 'probe-failed' ? 'probe-failed' : t.reason,
    });
    this.onEvent({
      type: 'Warning',
      reason: 'OutlierEjected',
      backend: s.id,
      message: `backend ${s.id} of ${this.name} ${why}: ejected for ${t.forMs / 1000}s (ejection ${t.times})`,
    });
  }

  /**
   * Send one client request. `clientSignal` aborts when the client goes away. The request body, when
   * buffered, is replayed on retries; a streamed body is sent once (retried only before any attempt used it).
   */
  async dispatch(
    req: BackendRequest,
    route: RouteConfig,
    clientSignal?: AbortSignal,
  ): Promise<DispatchResult> {
    this.budget.deposit();
    const started = performance.now();
    const start = this.now();
    const deadline = start + route.timeoutMs;
    const replayable = req.body === undefined || Buffer.isBuffer(req.body);
    const idempotent = IDEMPOTENT.has(req.method.toUpperCase());
    const tried = new Set<string>();
    let attempts = 0;
    for (;;) {
      const now = this.now();
      const s = this.choose(tried, now);
      if (s === undefined) return this.failed(503, 'no ready backend', attempts);
      if (typeof s === 'string') return this.failed(503, `every backend is at its ${s} limit`, attempts);
      attempts++;
      tried.add(s.id);
      const probe = s.outlier.begin();
      s.active++;
      // One controller per attempt, aborted by the per-try timer or the client leaving (cheaper than
      // AbortSignal.timeout + AbortSignal.any on every request).
      const attempt = new AbortController();
      let timedOut = false;
      const timer = setTimeout(
        () => {
          timedOut = true;
          attempt.abort();
        },
        Math.max(1, Math.min(route.perTryTimeoutMs, deadline - now)),
      );
      const onClientAbort = () => attempt.abort();
      clientSignal?.addEventListener('abort', onClientAbort, { once: true });
      const signal = attempt.signal;
      const t0 = performance.now();
      let again: boolean;
      let failure: { status: number; reason: string };
      try {
        let response: BackendResponse;
        try {
          req.signal = signal; // this attempt's (the request object is the proxy's own, made per request)
          response = await s.backend.send(req);
        } finally {
          clearTimeout(timer);
          clientSignal?.removeEventListener('abort', onClientAbort);
        }
        s.observe(performance.now() - t0, performance.now());
        this.countBackendRequest(s); // every answer, also one that is retried elsewhere
        const is5xx = response.status >= 500;
        this.record(s, is5xx ? '5xx' : 'success', probe);
        if (is5xx && idempotent && replayable && this.mayRetry(attempts, route, deadline)) {
          response.body.resume();
          this.release(s);
          continue;
        }
        // 'error' is followed by 'close' (autoDestroy); 'end' comes first when the body is read through.
        const release = once(() => this.release(s));
        response.body.once('end', release);
        response.body.once('close', release);
        this.countRequest(response.status);
        this.latency?.observe((performance.now() - started) / 1000);
        return { ok: true, response, backend: s.id, attempts };
      } catch (err) {
        this.release(s);
        if (clientSignal?.aborted) {
          s.outlier.record('success', this.now(), probe, () => false); // not the backend's fault
          return this.failed(499, 'client closed the request', attempts);
        }
        const e = err instanceof BackendError ? err : new BackendError(String(err), 'EUNKNOWN', true);
        s.observe(performance.now() - t0, performance.now());
        this.record(s, 'gateway-failure', probe);
        failure = timedOut
          ? { status: 504, reason: `backend ${s.id} did not answer in time` }
          : { status: 502, reason: `backend ${s.id}: ${e.code} ${e.message}` };
        again = (!e.reached || idempotent) && replayable && this.mayRetry(attempts, route, deadline);
      }
      if (!again) return this.failed(failure.status, failure.reason, attempts);
    }
  }

  /**
   * A raw connection to a backend (WebSocket upgrades, L4 LoadBalancer ports): connection failures are
   * retried on other backends (nothing reached them), within the budget. `release` must be called when
   * the connection ends: the backend counts it as a request in flight until then.
   */
  async connect(
    route: RouteConfig,
  ): Promise<
    | { ok: true; stream: Duplex; backend: string; release: () => void }
    | { ok: false; status: number; reason: string }
  > {
    this.budget.deposit();
    const deadline = this.now() + route.timeoutMs;
    const tried = new Set<string>();
    let attempts = 0;
    for (;;) {
      const s = this.choose(tried, this.now());
      if (s === undefined) return this.failed(503, 'no ready backend', attempts);
      if (typeof s === 'string') return this.failed(503, `every backend is at its ${s} limit`, attempts);
      if (!s.backend.connect)
        return this.failed(501, `backend ${s.id} cannot take raw connections`, attempts);
      attempts++;
      tried.add(s.id);
      const probe = s.outlier.begin();
      s.active++;
      try {
        const stream = await s.backend.connect();
        this.record(s, 'success', probe);
        return { ok: true, stream, backend: s.id, release: once(() => this.release(s)) };
      } catch (err) {
        this.release(s);
        this.record(s, 'gateway-failure', probe);
        if (!this.mayRetry(attempts, route, deadline))
          return this.failed(502, `backend ${s.id}: ${(err as Error).message}`, attempts);
      }
    }
  }

  private mayRetry(attempts: number, route: RouteConfig, deadline: number): boolean {
    if (attempts > route.retries || this.now() >= deadline) return false;
    if (!this.budget.tryWithdraw()) {
      this.counters?.inc('strata_gateway_retry_budget_exhausted_total', { upstream: this.name });
      return false;
    }
    this.counters?.inc('strata_gateway_retries_total', { upstream: this.name });
    return true;
  }

  private release(s: BackendState): void {
    s.active--;
    this.closeIfDrained(s);
  }

  /**
   * Answers per backend (as Envoy's per-host upstream_rq_total): what a pod served, which the HPA's
   * requests_per_second reads per pod. The series goes when the backend leaves the upstream.
   */
  private countBackendRequest(s: BackendState): void {
    if (!this.counters) return;
    s.requestsKey ??= Counters.key(BACKEND_REQUESTS, { upstream: this.name, backend: s.id });
    this.counters.incKey(s.requestsKey);
  }

  private countRequest(status: number): void {
    if (!this.counters) return;
    let key = this.requestKeys.get(status);
    if (key === undefined) {
      key = Counters.key('strata_gateway_requests_total', { upstream: this.name, code: String(status) });
      this.requestKeys.set(status, key);
    }
    this.counters.incKey(key);
  }

  private failed(
    status: number,
    reason: string,
    attempts: number,
  ): { ok: false; status: number; reason: string; attempts: number } {
    this.countRequest(status);
    return { ok: false, status, reason, attempts };
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
