// Outlier detection (Envoy's outlier_detection, cut to what a node gateway needs): a backend that answers
// `consecutive5xx` 5xx in a row, or fails `consecutiveGatewayFailures` connections/resets in a row, is
// ejected — it gets no requests for baseEjectionMs × (times ejected), at most maxEjectionMs. When the time
// is up it is half-open: one probe request at a time; a success returns it to rotation, a failure ejects
// it again for longer. The multiplier decays by one for each base interval it stays healthy. No more than
// maxEjectionPercent of a Service's backends are ejected at once (at least one may be), so a bad deploy
// cannot eject everything.

export interface OutlierOptions {
  consecutive5xx: number;
  consecutiveGatewayFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
}

export const DEFAULT_OUTLIER: OutlierOptions = {
  consecutive5xx: 5,
  consecutiveGatewayFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
};

export type Outcome = 'success' | '5xx' | 'gateway-failure';
export type OutlierState = 'healthy' | 'ejected' | 'probing';

export type OutlierTransition =
  | {
      type: 'ejected';
      reason: 'consecutive-5xx' | 'consecutive-gateway-failure';
      forMs: number;
      times: number;
    }
  | { type: 'returned' }
  | { type: 'probe-failed'; forMs: number; times: number };

/** The outlier state of one backend. */
export class OutlierTracker {
  state: OutlierState = 'healthy';
  times = 0;
  ejectedUntil = 0;
  private consecutive5xx = 0;
  private consecutiveGateway = 0;
  private probeInFlight = false;
  private healthySince = 0;

  private readonly o: OutlierOptions;
  constructor(o: OutlierOptions) {
    this.o = o;
  }

  /** May this backend get a request now? (Moves an expired ejection to half-open.) */
  available(now: number): boolean {
    if (this.state === 'ejected' && now >= this.ejectedUntil) this.state = 'probing';
    if (this.state === 'probing') return !this.probeInFlight;
    return this.state === 'healthy';
  }

  /** A request goes to this backend (after available()). Returns true when it is the half-open probe. */
  begin(): boolean {
    if (this.state !== 'probing') return false;
    this.probeInFlight = true;
    return true;
  }

  /**
   * The result of a request. `mayEject` says whether the Service's ejection limit leaves room. Returns a
   * transition when the state changed.
   */
  record(
    outcome: Outcome,
    now: number,
    probe: boolean,
    mayEject: () => boolean,
  ): OutlierTransition | undefined {
    if (probe) this.probeInFlight = false;
    if (outcome === 'success') {
      this.consecutive5xx = 0;
      this.consecutiveGateway = 0;
      if (this.state === 'probing' && probe) {
        this.state = 'healthy';
        this.healthySince = now;
        return { type: 'returned' };
      }
      if (this.state === 'healthy' && this.times > 0 && now - this.healthySince >= this.o.baseEjectionMs) {
        this.times--;
        this.healthySince = now;
      }
      return undefined;
    }
    if (outcome === '5xx') this.consecutive5xx++;
    else this.consecutiveGateway++;
    if (this.state === 'probing' && probe) {
      const forMs = this.eject(now);
      return { type: 'probe-failed', forMs, times: this.times };
    }
    if (this.state !== 'healthy') return undefined;
    const reason =
      this.consecutive5xx >= this.o.consecutive5xx
        ? 'consecutive-5xx'
        : this.consecutiveGateway >= this.o.consecutiveGatewayFailures
          ? 'consecutive-gateway-failure'
          : undefined;
    if (!reason || !mayEject()) return undefined;
    const forMs = this.eject(now);
    return { type: 'ejected', reason, forMs, times: this.times };
  }

  private eject(now: number): number {
    this.times++;
    const forMs = Math.min(this.o.maxEjectionMs, this.o.baseEjectionMs * this.times);
    this.state = 'ejected';
    this.ejectedUntil = now + forMs;
    this.consecutive5xx = 0;
    this.consecutiveGateway = 0;
    return forMs;
  }
}

/** May one more of `total` backends be ejected while `ejected` already are? */
export function ejectionAllowed(ejected: number, total: number, maxPercent: number): boolean {
  const cap = Math.max(1, Math.floor((total * maxPercent) / 100));
  return ejected + 1 <= cap;
}
