// Load balancing: which ready backend of a Service port gets the next request. Chosen per Service by the
// annotation `strata.dev/load-balancer`:
//   round-robin    each backend in turn
//   least-request  power of two choices: two backends at random, the one with fewer requests in flight
//                  (Mitzenmacher; Envoy's LEAST_REQUEST) — near-best balance at O(1), no herding
//   peak-ewma      power of two choices on cost = latency EWMA × (in flight + 1), where the EWMA jumps to
//                  any slower sample at once and decays slowly (Finagle/Linkerd): slow backends shed load
// Pure: the picker sees candidates (already filtered for readiness, ejection and breaker capacity) and
// their load; the random source is injectable for tests.

export const LOAD_BALANCERS = ['round-robin', 'least-request', 'peak-ewma'] as const;
export type LoadBalancerPolicy = (typeof LOAD_BALANCERS)[number];

/** What a picker needs to know of a backend. */
export interface LoadInfo {
  readonly id: string;
  /** Requests in flight now. */
  readonly active: number;
  /** Latency EWMA in ms (peak-sensitive); undefined before the first sample. */
  latencyEwma(now: number): number | undefined;
}

export interface Balancer {
  pick<T extends LoadInfo>(candidates: readonly T[], now?: number): T | undefined;
}

export class RoundRobin implements Balancer {
  private next = 0;
  pick<T extends LoadInfo>(candidates: readonly T[]): T | undefined {
    if (candidates.length === 0) return undefined;
    const chosen = candidates[this.next % candidates.length];
    this.next = (this.next + 1) % 1_000_000_007;
    return chosen;
  }
}

/** Two distinct candidates drawn at random (or the only one). */
function twoChoices<T>(candidates: readonly T[], random: () => number): [T, T] | [T] {
  const n = candidates.length;
  const i = Math.floor(random() * n);
  if (n === 1) return [candidates[i]];
  let j = Math.floor(random() * (n - 1));
  if (j >= i) j++;
  return [candidates[i], candidates[j]];
}

export class LeastRequest implements Balancer {
  private readonly random: () => number;
  constructor(random: () => number = Math.random) {
    this.random = random;
  }
  pick<T extends LoadInfo>(candidates: readonly T[]): T | undefined {
    if (candidates.length === 0) return undefined;
    const [a, b] = twoChoices(candidates, this.random);
    if (!b) return a;
    return b.active < a.active ? b : a;
  }
}

/** Cost for a backend never measured: as if it answered in this many ms (Linkerd's default RTT idea). */
export const DEFAULT_RTT_MS = 5;

export class PeakEwma implements Balancer {
  private readonly random: () => number;
  constructor(random: () => number = Math.random) {
    this.random = random;
  }
  pick<T extends LoadInfo>(candidates: readonly T[], now = performance.now()): T | undefined {
    if (candidates.length === 0) return undefined;
    const [a, b] = twoChoices(candidates, this.random);
    if (!b) return a;
    const cost = (x: T) => (x.latencyEwma(now) ?? DEFAULT_RTT_MS) * (x.active + 1);
    return cost(b) < cost(a) ? b : a;
  }
}

export function newBalancer(policy: LoadBalancerPolicy, random?: () => number): Balancer {
  switch (policy) {
    case 'round-robin':
      return new RoundRobin();
    case 'least-request':
      return new LeastRequest(random);
    case 'peak-ewma':
      return new PeakEwma(random);
  }
}

/**
 * A peak-sensitive moving average of latency: a sample above the average replaces it (react to a slow
 * backend at once), a lower one is blended in with weight 1 - e^(-Δt/τ) (recover gradually).
 */
export class PeakEwmaEstimator {
  private value: number | undefined;
  private at = 0;
  private readonly decayMs: number;
  constructor(decayMs = 10_000) {
    this.decayMs = decayMs;
  }

  observe(ms: number, now = performance.now()): void {
    if (this.value === undefined || ms > this.value) {
      this.value = ms;
    } else {
      const w = Math.exp(-Math.max(0, now - this.at) / this.decayMs);
      this.value = this.value * w + ms * (1 - w);
    }
    this.at = now;
  }

  get(): number | undefined {
    return this.value;
  }
}
