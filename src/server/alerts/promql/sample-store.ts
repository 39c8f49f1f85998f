// A small in-memory time-series store the rule evaluator scrapes into: each `append(t, samples)` is one
// scrape of a source, and a series that was in the source's previous scrape but not in this one gets a
// staleness marker at t (as Prometheus writes one), so an alert on a deleted pod resolves at the next
// evaluation instead of lingering for the 5-minute lookback. Points older than the retention go.
import type { Matcher } from './parse.ts';
import { type Labels, type Point, type Series, type SeriesSource, matches, signature } from './eval.ts';

interface Stored {
  labels: Labels;
  points: Point[];
}

export class SampleStore implements SeriesSource {
  readonly retentionMs: number;
  private readonly byName = new Map<string, Map<string, Stored>>();
  /** The series each source's last scrape had (for staleness markers). */
  private readonly lastScrape = new Map<string, Set<string>>();

  constructor(retentionMs = 3600_000) {
    this.retentionMs = retentionMs;
  }

  /** One scrape of `source` at t: samples carry `__name__` among their labels. */
  append(source: string, t: number, samples: Array<{ labels: Labels; v: number }>): void {
    const now = new Set<string>();
    for (const s of samples) {
      const name = s.labels.__name__;
      if (!name) continue;
      const key = signature(s.labels);
      now.add(key);
      let series = this.byName.get(name);
      if (!series) this.byName.set(name, (series = new Map()));
      let st = series.get(key);
      if (!st) series.set(key, (st = { labels: s.labels, points: [] }));
      push(st.points, { t, v: s.v });
    }
    for (const key of this.lastScrape.get(source) ?? []) {
      if (now.has(key)) continue;
      const name = key
        .split('\xfe')
        .find((p) => p.startsWith('__name__\xff'))
        ?.slice('__name__\xff'.length);
      const st = name ? this.byName.get(name)?.get(key) : undefined;
      if (st) push(st.points, { t, v: NaN, stale: true });
    }
    this.lastScrape.set(source, now);
    this.prune(t);
  }

  private prune(now: number): void {
    const cutoff = now - this.retentionMs;
    for (const [name, series] of this.byName) {
      for (const [key, st] of series) {
        let drop = 0;
        while (drop < st.points.length && st.points[drop].t < cutoff) drop++;
        if (drop) st.points.splice(0, drop);
        if (!st.points.length) series.delete(key);
      }
      if (!series.size) this.byName.delete(name);
    }
  }

  select(name: string | undefined, matchers: Matcher[], start: number, end: number): Series[] {
    const names = name !== undefined ? [name] : [...this.byName.keys()];
    const out: Series[] = [];
    for (const n of names) {
      for (const st of this.byName.get(n)?.values() ?? []) {
        if (!matchers.every((m) => matches(m, st.labels[m.name]))) continue;
        // Points are in time order: two binary searches, not a scan of the whole retention.
        const points = st.points.slice(lowerBound(st.points, start), lowerBound(st.points, end + 1));
        if (points.length) out.push({ labels: st.labels, points });
      }
    }
    return out;
  }

  /** Metric names held (for diagnostics and the status endpoint). */
  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

/** The index of the first point at or after t. */
function lowerBound(points: Point[], t: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].t < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function push(points: Point[], p: Point): void {
  const last = points.at(-1);
  if (last && p.t < last.t) return;
  if (last && p.t === last.t) points[points.length - 1] = p;
  else points.push(p);
}

/** Several sources read as one (the scraped samples and the metric history's figures). */
export function unionSource(...sources: SeriesSource[]): SeriesSource {
  return {
    select: (name, matchers, start, end) => sources.flatMap((s) => s.select(name, matchers, start, end)),
  };
}
