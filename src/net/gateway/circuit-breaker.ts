// Circuit breaking per backend, as Envoy's thresholds: a backend takes at most `maxRequests` requests in
// flight and `maxConnections` connections; a request that would need a connection beyond that waits in
// the backend's pool, and at most `maxPendingRequests` may wait. A request over a limit is not sent
// there (the gateway tries another backend, and answers 503 when every backend is full): an overloaded
// backend is protected instead of queued into collapse. Over-limit refusals are "trips", counted and
// reported as Events.

export interface BreakerLimits {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
}

export const DEFAULT_BREAKER_LIMITS: BreakerLimits = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
};

export type BreakerLimit = 'max-requests' | 'max-pending-requests';

/**
 * Would one more request fit, given `active` requests in flight? HTTP/1.1 holds one connection per
 * request, so past `maxConnections` requests wait for a connection (pending).
 */
export function breakerRefusal(active: number, limits: BreakerLimits): BreakerLimit | undefined {
  if (active >= limits.maxRequests) return 'max-requests';
  const pendingAfter = active + 1 - limits.maxConnections;
  if (pendingAfter > limits.maxPendingRequests) return 'max-pending-requests';
  return undefined;
}
