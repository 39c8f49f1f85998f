// A bounded in-process history of per-pod and per-node figures (default: 6 h at 10 s), for `top
// --bottlenecks`, `describe pod`, the dashboard's charts and the alert rules. Each entity (pod/NS/NAME,
// node/NAME) keeps one ring of timestamps and one ring per figure; rings grow as points arrive, up to
// their capacity, so a young or small cluster pays for what it has seen. Float32 values: figures are
// rates, ratios and byte counts where 7 significant digits are plenty. A full pod with the 10 pod
// figures costs about 100 KB; a real Prometheus scraping /metrics is how users keep more.

export interface HistoryOptions {
  /** Resolution: points closer than this to the previous one replace it. Default 10 s. */
  stepMs?: number;
  /** How far back the history reaches. Default 6 h. */
  retentionMs?: number;
}

export interface Point {
  /** Epoch milliseconds. */
  t: number;
  v: number;
}

class Ring {
  times: Float64Array;
  values: Map<string, Float32Array> = new Map();
  /** Index of the oldest point, and how many there are. */
  start = 0;
  size = 0;
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.times = new Float64Array(Math.min(capacity, 16));
  }

  private grow(): void {
    const n = Math.min(this.capacity, this.times.length * 2);
    const copy = <T extends Float64Array | Float32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      for (let i = 0; i < this.size; i++) b[i] = a[(this.start + i) % a.length];
      return b;
    };
    this.times = copy(this.times, (k) => new Float64Array(k));
    for (const [k, v] of this.values)
      this.values.set(
        k,
        copy(v, (m) => new Float32Array(m)),
      );
    this.start = 0;
  }

  push(t: number, figures: Record<string, number>, stepMs: number): void {
    const last = this.size ? this.times[(this.start + this.size - 1) % this.times.length] : -Infinity;
    let at: number;
    if (t < last) return; // out of order: ignore
    if (t - last < stepMs * 0.5) {
      at = (this.start + this.size - 1) % this.times.length; // same step: the newer point wins
    } else {
      if (this.size === this.times.length && this.size < this.capacity) this.grow();
      if (this.size < this.times.length) {
        at = (this.start + this.size) % this.times.length;
        this.size++;
      } else {
        at = this.start;
        this.start = (this.start + 1) % this.times.length;
      }
    }
    this.times[at] = t;
    for (const [k, v] of Object.entries(figures)) {
      let col = this.values.get(k);
      if (!col) {
        col = new Float32Array(this.times.length).fill(NaN);
        this.values.set(k, col);
      }
      col[at] = v;
    }
    // A figure missing from this point is unknown there, not its old value.
    for (const [k, col] of this.values) if (!(k in figures)) col[at] = NaN;
  }

  points(figure: string, since: number, until: number): Point[] {
    const col = this.values.get(figure);
    if (!col) return [];
    const out: Point[] = [];
    for (let i = 0; i < this.size; i++) {
      const j = (this.start + i) % this.times.length;
      const t = this.times[j];
      if (t < since || t > until || Number.isNaN(col[j])) continue;
      out.push({ t, v: col[j] });
    }
    return out;
  }

  latest(): number | undefined {
    return this.size ? this.times[(this.start + this.size - 1) % this.times.length] : undefined;
  }
}

export interface HistoryQuery {
  /** Entities whose name starts with this, e.g. "pod/default/" or "node/". */
  prefix?: string;
  /** Exactly this entity. */
  entity?: string;
  figure: string;
  /** Epoch ms; default: everything kept. */
  since?: number;
  until?: number;
}

export class MetricsHistory {
  readonly stepMs: number;
  readonly retentionMs: number;
  private readonly rings = new Map<string, Ring>();

  constructor(opts: HistoryOptions = {}) {
    this.stepMs = opts.stepMs ?? 10_000;
    this.retentionMs = opts.retentionMs ?? 6 * 3600_000;
  }

  get capacity(): number {
    return Math.max(1, Math.ceil(this.retentionMs / this.stepMs));
  }

  record(entity: string, t: number, figures: Record<string, number>): void {
    let ring = this.rings.get(entity);
    if (!ring) {
      ring = new Ring(this.capacity);
      this.rings.set(entity, ring);
    }
    ring.push(t, figures, this.stepMs);
  }

  /** Drops entities with no point newer than the retention (pods long gone). */
  prune(now = Date.now()): void {
    for (const [k, r] of this.rings) if ((r.latest() ?? 0) < now - this.retentionMs) this.rings.delete(k);
  }

  forget(entity: string): void {
    this.rings.delete(entity);
  }

  entities(prefix = ''): string[] {
    return [...this.rings.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  figures(entity: string): string[] {
    return [...(this.rings.get(entity)?.values.keys() ?? [])];
  }

  /** The series of one figure for the matching entities (the dashboard's and the alert rules' read). */
  query(q: HistoryQuery): Array<{ entity: string; points: Point[] }> {
    const since = q.since ?? -Infinity;
    const until = q.until ?? Infinity;
    const names = q.entity !== undefined ? [q.entity] : this.entities(q.prefix ?? '');
    const out: Array<{ entity: string; points: Point[] }> = [];
    for (const entity of names) {
      const ring = this.rings.get(entity);
      if (!ring) continue;
      const points = ring.points(q.figure, since, until);
      if (points.length) out.push({ entity, points });
    }
    return out;
  }
}

/** The history's name for a pod and a node. */
export const podEntity = (namespace: string, name: string): string => `pod/${namespace}/${name}`;
export const nodeEntity = (name: string): string => `node/${name}`;
