// The gateway's counters, in Prometheus' text exposition format (`strata_gateway_*`), so the node's
// metrics endpoint can serve them as they are. Every ejection and breaker trip is counted here (and
// reported as an Event on its Service). A gateway with worker threads (workers.ts) keeps one Counters per
// thread; each worker's `snapshot()` is absorbed by the main thread's, whose text() and get() report
// the sums, so scrapers and the HPA's request rate see one gateway.

/** Upper bounds (seconds) of the latency histograms: Prometheus' client defaults, which dashboards expect. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One histogram series: cumulative counts are computed when rendering, so observing is one increment. */
class HistogramSeries {
  readonly counts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  sum = 0;
  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
  }
}

/** A thread's counters as plain data (structured-clonable), for the main thread to add up. */
export interface CounterSnapshot {
  values: [string, number][];
  histograms: [string, [string, number[], number][]][];
}

export class Counters {
  private readonly values = new Map<string, number>();
  /** The latest snapshot of each worker thread, by worker id. */
  private readonly remote = new Map<string, CounterSnapshot>();
  private readonly help = new Map<string, string>();
  /** Histograms by name, then by label text (`{a="b"}`). */
  private readonly histograms = new Map<string, Map<string, HistogramSeries>>();

  describe(name: string, help: string): void {
    this.help.set(name, help);
  }

  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    this.incKey(Counters.key(name, labels), by);
  }

  /** A counter's series key: callers on the request path compute it once and use incKey. */
  static key(name: string, labels: Record<string, string> = {}): string {
    return `${name}${labelText(labels)}`;
  }

  incKey(key: string, by = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  /** Drops a series whose object is gone (a backend that left its upstream), so series do not pile up. */
  removeKey(key: string): void {
    this.values.delete(key);
  }

  /** The sum over every label set of `name` matching `labels`. */
  get(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const [key, v] of this.merged().values) {
      if (key !== name && !key.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, val]) => key.includes(`${k}="${escape(val)}"`))) total += v;
    }
    return total;
  }

  /** A histogram series to observe into; callers on the request path keep it (no label formatting per request). */
  histogram(name: string, labels: Record<string, string> = {}): { observe(seconds: number): void } {
    let byLabels = this.histograms.get(name);
    if (!byLabels) this.histograms.set(name, (byLabels = new Map()));
    const key = labelText(labels);
    let series = byLabels.get(key);
    if (!series) byLabels.set(key, (series = new HistogramSeries()));
    return series;
  }

  /** This thread's own series, to hand to the main thread. */
  snapshot(): CounterSnapshot {
    return {
      values: [...this.values],
      histograms: [...this.histograms].map(([name, byLabels]) => [
        name,
        [...byLabels].map(([labels, h]) => [labels, [...h.counts], h.sum] as [string, number[], number]),
      ]),
    };
  }

  /** A worker's latest snapshot (replacing its previous one: snapshots are cumulative). */
  absorb(worker: string, snapshot: CounterSnapshot): void {
    this.remote.set(worker, snapshot);
  }

  /** Own series plus every absorbed snapshot, added up (own series only, unchanged, without workers). */
  private merged(): { values: Map<string, number>; histograms: Map<string, Map<string, HistogramSeries>> } {
    if (this.remote.size === 0) return { values: this.values, histograms: this.histograms };
    const values = new Map(this.values);
    const histograms = new Map<string, Map<string, HistogramSeries>>();
    const add = (name: string, labels: string, counts: readonly number[], sum: number) => {
      let byLabels = histograms.get(name);
      if (!byLabels) histograms.set(name, (byLabels = new Map()));
      let h = byLabels.get(labels);
      if (!h) byLabels.set(labels, (h = new HistogramSeries()));
      counts.forEach((c, i) => (h.counts[i] += c));
      h.sum += sum;
    };
    for (const [name, byLabels] of this.histograms)
      for (const [labels, h] of byLabels) add(name, labels, h.counts, h.sum);
    for (const snap of this.remote.values()) {
      for (const [k, v] of snap.values) values.set(k, (values.get(k) ?? 0) + v);
      for (const [name, series] of snap.histograms)
        for (const [labels, counts, sum] of series) add(name, labels, counts, sum);
    }
    return { values, histograms };
  }

  text(): string {
    const { values, histograms } = this.merged();
    const names = new Set([...values.keys()].map((k) => k.replace(/\{.*$/, '')));
    const out: string[] = [];
    for (const [name, byLabels] of [...histograms].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const help = this.help.get(name);
      if (help) out.push(`# HELP ${name} ${help}`);
      out.push(`# TYPE ${name} histogram`);
      for (const [labels, h] of byLabels) {
        const inner = labels.slice(1, -1);
        const withLe = (le: string) => `{${inner ? `${inner},` : ''}le="${le}"}`;
        let cumulative = 0;
        LATENCY_BUCKETS.forEach((le, i) => {
          cumulative += h.counts[i];
          out.push(`${name}_bucket${withLe(String(le))} ${cumulative}`);
        });
        cumulative += h.counts[LATENCY_BUCKETS.length];
        out.push(`${name}_bucket${withLe('+Inf')} ${cumulative}`);
        out.push(`${name}_sum${labels} ${h.sum}`);
        out.push(`${name}_count${labels} ${cumulative}`);
      }
    }
    for (const name of [...names].sort()) {
      const help = this.help.get(name);
      if (help) out.push(`# HELP ${name} ${help}`);
      out.push(`# TYPE ${name} counter`);
      for (const [key, v] of values) if (key.replace(/\{.*$/, '') === name) out.push(`${key} ${v}`);
    }
    return out.join('\n') + '\n';
  }
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Record<string, string>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}` : '';
}
