// What a Service's (and an Ingress's) annotations ask of the gateway. Every key is documented in
// README.md; a value that does not parse is ignored with a warning (the default applies), since a
// typo in an annotation must not take a Service off the air.
import { DEFAULT_BREAKER_LIMITS, type BreakerLimits } from './circuit-breaker.ts';
import { LOAD_BALANCERS, type LoadBalancerPolicy } from './balancer.ts';
import { DEFAULT_OUTLIER, type OutlierOptions } from './outlier.ts';

export const ANNOTATION_PREFIX = 'strata.dev/';

export const A = {
  loadBalancer: 'strata.dev/load-balancer',
  maxConnections: 'strata.dev/max-connections',
  maxPendingRequests: 'strata.dev/max-pending-requests',
  maxRequests: 'strata.dev/max-requests',
  consecutive5xx: 'strata.dev/outlier-consecutive-5xx',
  consecutiveGatewayFailures: 'strata.dev/outlier-consecutive-gateway-failures',
  baseEjectionTime: 'strata.dev/outlier-base-ejection-time',
  maxEjectionTime: 'strata.dev/outlier-max-ejection-time',
  maxEjectionPercent: 'strata.dev/outlier-max-ejection-percent',
  retryBudgetPercent: 'strata.dev/retry-budget-percent',
  retryBudgetMinPerSecond: 'strata.dev/retry-budget-min-per-second',
  retries: 'strata.dev/retries',
  timeout: 'strata.dev/timeout',
  perTryTimeout: 'strata.dev/per-try-timeout',
} as const;

/** How a Service's backends are used (annotations on the Service). */
export interface UpstreamConfig {
  loadBalancer: LoadBalancerPolicy;
  breaker: BreakerLimits;
  outlier: OutlierOptions;
  retryBudget: { ratio: number; minPerSecond: number };
}

/** How one route's requests are sent (annotations on the Ingress, or the LoadBalancer Service). */
export interface RouteConfig {
  /** Attempts after the first, within the retry budget. */
  retries: number;
  /** The whole request, retries included (to response headers). */
  timeoutMs: number;
  /** One attempt. */
  perTryTimeoutMs: number;
}

export const DEFAULT_ROUTE: RouteConfig = { retries: 2, timeoutMs: 60_000, perTryTimeoutMs: 30_000 };

type Annotations = Record<string, string> | undefined;
type Warn = (key: string, value: string, why: string) => void;

/** `1.5s`, `250ms`, `2m`, or plain seconds. */
export function parseDuration(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

function int(a: Annotations, key: string, dflt: number, warn: Warn, min = 0): number {
  const v = a?.[key];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    warn(key, v, `must be an integer ≥ ${min}`);
    return dflt;
  }
  return n;
}

function duration(a: Annotations, key: string, dflt: number, warn: Warn): number {
  const v = a?.[key];
  if (v === undefined) return dflt;
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) {
    warn(key, v, 'must be a duration such as 500ms, 3s or 1m');
    return dflt;
  }
  return ms;
}

export function upstreamConfig(a: Annotations, warn: Warn = () => {}): UpstreamConfig {
  let loadBalancer: LoadBalancerPolicy = 'least-request';
  const lb = a?.[A.loadBalancer];
  if (lb !== undefined) {
    if ((LOAD_BALANCERS as readonly string[]).includes(lb)) loadBalancer = lb as LoadBalancerPolicy;
    else warn(A.loadBalancer, lb, `must be one of ${LOAD_BALANCERS.join(', ')}`);
  }
  const d = DEFAULT_BREAKER_LIMITS;
  const o = DEFAULT_OUTLIER;
  return {
    loadBalancer,
    breaker: {
      maxConnections: int(a, A.maxConnections, d.maxConnections, warn, 1),
      maxPendingRequests: int(a, A.maxPendingRequests, d.maxPendingRequests, warn),
      maxRequests: int(a, A.maxRequests, d.maxRequests, warn, 1),
    },
    outlier: {
      consecutive5xx: int(a, A.consecutive5xx, o.consecutive5xx, warn, 1),
      consecutiveGatewayFailures: int(a, A.consecutiveGatewayFailures, o.consecutiveGatewayFailures, warn, 1),
      baseEjectionMs: duration(a, A.baseEjectionTime, o.baseEjectionMs, warn),
      maxEjectionMs: duration(a, A.maxEjectionTime, o.maxEjectionMs, warn),
      maxEjectionPercent: Math.min(100, int(a, A.maxEjectionPercent, o.maxEjectionPercent, warn)),
    },
    retryBudget: {
      ratio: int(a, A.retryBudgetPercent, 20, warn) / 100,
      minPerSecond: int(a, A.retryBudgetMinPerSecond, 10, warn),
    },
  };
}

export function routeConfig(a: Annotations, warn: Warn = () => {}): RouteConfig {
  return {
    retries: int(a, A.retries, DEFAULT_ROUTE.retries, warn),
    timeoutMs: duration(a, A.timeout, DEFAULT_ROUTE.timeoutMs, warn),
    perTryTimeoutMs: duration(a, A.perTryTimeout, DEFAULT_ROUTE.perTryTimeoutMs, warn),
  };
}

export function sameUpstreamConfig(x: UpstreamConfig, y: UpstreamConfig): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}
