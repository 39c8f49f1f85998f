// A retry budget (Finagle's RetryBudget, Linkerd's retry budget): retries may add at most `ratio` of the
// requests seen in the last `windowMs`, plus a floor of `minPerSecond` so a quiet service can still
// retry. A backend that dies under load therefore costs a bounded amount of extra traffic instead of a
// retry storm: once the budget is spent, a failure goes to the client.

export interface RetryBudgetOptions {
  /** Retries allowed per request (0.2 = 20 % extra load). Default 0.2. */
  ratio?: number;
  /** Retries always allowed per second of the window, whatever the traffic. Default 10. */
  minPerSecond?: number;
  /** How long a request or retry counts. Default 10 s. */
  windowMs?: number;
  now?: () => number;
}

const BUCKETS = 10;

/** Counts in a sliding window of BUCKETS time buckets. */
class WindowCounter {
  private readonly counts = new Array<number>(BUCKETS).fill(0);
  private readonly stamps = new Array<number>(BUCKETS).fill(-1);
  private readonly bucketMs: number;
  constructor(bucketMs: number) {
    this.bucketMs = bucketMs;
  }

  add(now: number, n = 1): void {
    const slot = Math.floor(now / this.bucketMs);
    const i = slot % BUCKETS;
    if (this.stamps[i] !== slot) {
      this.stamps[i] = slot;
      this.counts[i] = 0;
    }
    this.counts[i] += n;
  }

  sum(now: number): number {
    const slot = Math.floor(now / this.bucketMs);
    let total = 0;
    for (let i = 0; i < BUCKETS; i++) if (this.stamps[i] > slot - BUCKETS) total += this.counts[i];
    return total;
  }
}

export class RetryBudget {
  readonly ratio: number;
  readonly minPerSecond: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly requests: WindowCounter;
  private readonly retries: WindowCounter;
  /** Retries refused because the budget was spent (a counter for metrics). */
  exhausted = 0;

  constructor(o: RetryBudgetOptions = {}) {
    this.ratio = o.ratio ?? 0.2;
    this.minPerSecond = o.minPerSecond ?? 10;
    this.windowMs = o.windowMs ?? 10_000;
    this.now = o.now ?? Date.now;
    this.requests = new WindowCounter(this.windowMs / BUCKETS);
    this.retries = new WindowCounter(this.windowMs / BUCKETS);
  }

  /** A client request arrived (first attempts only). */
  deposit(): void {
    this.requests.add(this.now());
  }

  /** May one more retry go out? Takes it from the budget when so. */
  tryWithdraw(): boolean {
    const now = this.now();
    const allowed = (this.minPerSecond * this.windowMs) / 1000 + this.ratio * this.requests.sum(now);
    if (this.retries.sum(now) + 1 > allowed) {
      this.exhausted++;
      return false;
    }
    this.retries.add(now);
    return true;
  }
}
