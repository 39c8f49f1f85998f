// Instant evaluation of a parsed PromQL expression (parse.ts) at one time over a SeriesSource, with
// Prometheus' semantics for the subset: 5-minute lookback and staleness for instant selectors,
// left-open ranges, extrapolated rate/increase/delta, counter resets, metric names dropped by functions
// and arithmetic, one-to-one and many-to-one vector matching, comparison filters and `bool`, set
// operators. Results are what Prometheus' /api/v1/query would return for the same data.
import { type Expr, type Matcher, isComparison, isSetOp } from './parse.ts';

export type Labels = Record<string, string>;
export interface Point {
  /** Epoch milliseconds. */
  t: number;
  v: number;
  /** A staleness marker: the series ended here (it vanished from its source). */
  stale?: boolean;
}
export interface Series {
  labels: Labels;
  points: Point[];
}
export interface Sample {
  labels: Labels;
  v: number;
}
export type Value =
  | { type: 'scalar'; v: number }
  | { type: 'string'; v: string }
  | { type: 'vector'; samples: Sample[] }
  | { type: 'matrix'; series: Series[] };

/** Where selectors read: every series of `name` matching the matchers, with its points in [start, end]. */
export interface SeriesSource {
  select(name: string | undefined, matchers: Matcher[], start: number, end: number): Series[];
}

/** How far back an instant selector looks for a series' latest point (Prometheus' default). */
export const LOOKBACK_MS = 5 * 60_000;

export class EvalError extends Error {}

export function matches(m: Matcher, value: string | undefined): boolean {
  const v = value ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return m.re!.test(v);
    case '!~':
      return !m.re!.test(v);
  }
}

/** The identity of a label set (order-free). */
export function signature(labels: Labels, only?: string[], without?: string[]): string {
  const keys = (only ?? Object.keys(labels)).filter((k) => !without?.includes(k)).sort();
  return keys.map((k) => `${k}\xff${labels[k] ?? ''}`).join('\xfe');
}

const dropName = (l: Labels): Labels => {
  const { __name__: _, ...rest } = l;
  return rest;
};

export function evaluate(expr: Expr, t: number, source: SeriesSource): Value {
  return new Evaluator(t, source).eval(expr);
}

class Evaluator {
  private readonly t: number;
  private readonly source: SeriesSource;
  constructor(t: number, source: SeriesSource) {
    this.t = t;
    this.source = source;
  }

  eval(e: Expr): Value {
    switch (e.type) {
      case 'number':
        return { type: 'scalar', v: e.value };
      case 'string':
        return { type: 'string', v: e.value };
      case 'selector':
        return { type: 'vector', samples: this.instant(e) };
      case 'range':
        return { type: 'matrix', series: this.range(e) };
      case 'unary': {
        const v = this.eval(e.expr);
        if (e.op === '+') return v;
        if (v.type === 'scalar') return { type: 'scalar', v: -v.v };
        return { type: 'vector', samples: this.vec(v).map((s) => ({ labels: dropName(s.labels), v: -s.v })) };
      }
      case 'call':
        return this.call(e);
      case 'aggregate':
        return { type: 'vector', samples: this.aggregate(e) };
      case 'binary':
        return this.binary(e);
    }
  }

  private vec(v: Value): Sample[] {
    if (v.type !== 'vector') throw new EvalError(`expected an instant vector, got ${v.type}`);
    return v.samples;
  }

  private scalar(v: Value): number {
    if (v.type !== 'scalar') throw new EvalError(`expected a scalar, got ${v.type}`);
    return v.v;
  }

  private instant(e: Extract<Expr, { type: 'selector' }>): Sample[] {
    const at = this.t - e.offsetMs;
    const out: Sample[] = [];
    for (const s of this.source.select(e.name, e.matchers, at - LOOKBACK_MS + 1, at)) {
      const last = s.points.filter((p) => p.t > at - LOOKBACK_MS && p.t <= at).at(-1);
      if (last && !last.stale) out.push({ labels: s.labels, v: last.v });
    }
    return out;
  }

  private range(e: Extract<Expr, { type: 'range' }>): Series[] {
    const end = this.t - e.selector.offsetMs;
    const start = end - e.rangeMs;
    const out: Series[] = [];
    for (const s of this.source.select(e.selector.name, e.selector.matchers, start + 1, end)) {
      const points = s.points.filter((p) => p.t > start && p.t <= end && !p.stale);
      if (points.length) out.push({ labels: s.labels, points });
    }
    return out;
  }

  private call(e: Extract<Expr, { type: 'call' }>): Value {
    const args = e.args.map((a) => this.eval(a));
    const perSeries = (
      f: (points: Point[], range: Extract<Expr, { type: 'range' }>) => number | undefined,
      keepName = false,
    ): Value => {
      const m = args[0];
      if (m.type !== 'matrix') throw new EvalError(`${e.fn}() expects a range vector`);
      const r = e.args[0] as Extract<Expr, { type: 'range' }>;
      const samples: Sample[] = [];
      for (const s of m.series) {
        const v = f(s.points, r);
        if (v !== undefined) samples.push({ labels: keepName ? s.labels : dropName(s.labels), v });
      }
      return { type: 'vector', samples };
    };
    const perSample = (f: (v: number) => number): Value => ({
      type: 'vector',
      samples: this.vec(args[0]).map((s) => ({ labels: dropName(s.labels), v: f(s.v) })),
    });
    const ends = (r: Extract<Expr, { type: 'range' }>) => {
      const end = this.t - r.selector.offsetMs;
      return { start: end - r.rangeMs, end, seconds: r.rangeMs / 1000 };
    };
    switch (e.fn) {
      case 'rate':
      case 'increase':
      case 'delta':
        return perSeries((p, r) => {
          const { start, end, seconds } = ends(r);
          return extrapolatedRate(p, e.fn !== 'delta', e.fn === 'rate', start, end, seconds);
        });
      case 'irate':
      case 'idelta':
        return perSeries((p) => {
          if (p.length < 2) return undefined;
          const [a, b] = p.slice(-2);
          const d = e.fn === 'irate' && b.v < a.v ? b.v : b.v - a.v;
          return e.fn === 'irate' ? d / ((b.t - a.t) / 1000) : d;
        });
      case 'changes':
      case 'resets':
        return perSeries((p) => {
          let n = 0;
          for (let i = 1; i < p.length; i++)
            if (e.fn === 'changes' ? p[i].v !== p[i - 1].v : p[i].v < p[i - 1].v) n++;
          return n;
        });
      case 'avg_over_time':
        return perSeries((p) => p.reduce((a, x) => a + x.v, 0) / p.length);
      case 'sum_over_time':
        return perSeries((p) => p.reduce((a, x) => a + x.v, 0));
      case 'max_over_time':
        return perSeries((p) => Math.max(...p.map((x) => x.v)));
      case 'min_over_time':
        return perSeries((p) => Math.min(...p.map((x) => x.v)));
      case 'count_over_time':
        return perSeries((p) => p.length);
      case 'last_over_time':
        return perSeries((p) => p.at(-1)!.v, true);
      case 'present_over_time':
        return perSeries(() => 1);
      case 'absent_over_time': {
        const m = args[0];
        if (m.type === 'matrix' && m.series.length) return { type: 'vector', samples: [] };
        return { type: 'vector', samples: [{ labels: absentLabels(e.args[0]), v: 1 }] };
      }
      case 'absent':
        if (this.vec(args[0]).length) return { type: 'vector', samples: [] };
        return { type: 'vector', samples: [{ labels: absentLabels(e.args[0]), v: 1 }] };
      case 'abs':
        return perSample(Math.abs);
      case 'ceil':
        return perSample(Math.ceil);
      case 'floor':
        return perSample(Math.floor);
      case 'round':
        // Prometheus rounds half up (math.Floor(v + 0.5)).
        return perSample((v) => Math.floor(v + 0.5));
      case 'sqrt':
        return perSample(Math.sqrt);
      case 'exp':
        return perSample(Math.exp);
      case 'ln':
        return perSample(Math.log);
      case 'clamp': {
        const lo = this.scalar(args[1]);
        const hi = this.scalar(args[2]);
        if (lo > hi) return { type: 'vector', samples: [] };
        return perSample((v) => Math.max(lo, Math.min(hi, v)));
      }
      case 'clamp_min': {
        const lo = this.scalar(args[1]);
        return perSample((v) => Math.max(lo, v));
      }
      case 'clamp_max': {
        const hi = this.scalar(args[1]);
        return perSample((v) => Math.min(hi, v));
      }
      case 'timestamp':
        // Points keep no per-sample time here beyond the evaluation's: the evaluation time.
        return perSample(() => this.t / 1000);
      case 'scalar': {
        const v = this.vec(args[0]);
        return { type: 'scalar', v: v.length === 1 ? v[0].v : NaN };
      }
      case 'vector':
        return { type: 'vector', samples: [{ labels: {}, v: this.scalar(args[0]) }] };
      case 'time':
        return { type: 'scalar', v: this.t / 1000 };
      default:
        throw new EvalError(`function ${e.fn}() is not implemented`);
    }
  }

  private aggregate(e: Extract<Expr, { type: 'aggregate' }>): Sample[] {
    const input = this.vec(this.eval(e.expr));
    const groups = new Map<string, { labels: Labels; values: number[] }>();
    for (const s of input) {
      let labels: Labels;
      if (!e.grouping) labels = {};
      else if (e.grouping.without) {
        labels = dropName(s.labels);
        for (const k of e.grouping.labels) delete labels[k];
      } else {
        labels = {};
        for (const k of e.grouping.labels)
          if (s.labels[k] !== undefined && s.labels[k] !== '') labels[k] = s.labels[k];
      }
      const key = signature(labels);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { labels, values: [] }));
      g.values.push(s.v);
    }
    const out: Sample[] = [];
    for (const g of groups.values()) {
      const vs = g.values;
      let v: number;
      switch (e.op) {
        case 'sum':
          v = vs.reduce((a, b) => a + b, 0);
          break;
        case 'avg':
          v = vs.reduce((a, b) => a + b, 0) / vs.length;
          break;
        case 'min':
          v = vs.reduce((a, b) => (Number.isNaN(a) || b < a ? b : a), NaN);
          break;
        case 'max':
          v = vs.reduce((a, b) => (Number.isNaN(a) || b > a ? b : a), NaN);
          break;
        case 'count':
          v = vs.length;
          break;
        case 'group':
          v = 1;
          break;
        default:
          throw new EvalError(`aggregation ${e.op} is not implemented`);
      }
      out.push({ labels: g.labels, v });
    }
    return out;
  }

  private binary(e: Extract<Expr, { type: 'binary' }>): Value {
    const l = this.eval(e.left);
    const r = this.eval(e.right);
    if (l.type === 'scalar' && r.type === 'scalar') {
      const v = arith(e.op, l.v, r.v);
      return { type: 'scalar', v: isComparison(e.op) ? (v ? 1 : 0) : v };
    }
    if (l.type === 'vector' && r.type === 'vector')
      return { type: 'vector', samples: this.vectorVector(e, l.samples, r.samples) };
    // Vector and scalar, either side.
    const vecLeft = l.type === 'vector';
    const samples = this.vec(vecLeft ? l : r);
    const k = this.scalar(vecLeft ? r : l);
    const out: Sample[] = [];
    for (const s of samples) {
      const [a, b] = vecLeft ? [s.v, k] : [k, s.v];
      const v = arith(e.op, a, b);
      if (isComparison(e.op)) {
        if (e.bool) out.push({ labels: dropName(s.labels), v: v ? 1 : 0 });
        else if (v) out.push({ labels: s.labels, v: s.v });
      } else out.push({ labels: dropName(s.labels), v });
    }
    return { type: 'vector', samples: out };
  }

  private vectorVector(e: Extract<Expr, { type: 'binary' }>, left: Sample[], right: Sample[]): Sample[] {
    const m = e.matching;
    const sig = (l: Labels) =>
      m?.on ? signature(l, m.labels) : signature(l, undefined, ['__name__', ...(m?.labels ?? [])]);
    if (isSetOp(e.op)) {
      const rightSigs = new Set(right.map((s) => sig(s.labels)));
      if (e.op === 'and') return left.filter((s) => rightSigs.has(sig(s.labels)));
      if (e.op === 'unless') return left.filter((s) => !rightSigs.has(sig(s.labels)));
      const leftSigs = new Set(left.map((s) => sig(s.labels)));
      return [...left, ...right.filter((s) => !leftSigs.has(sig(s.labels)))];
    }
    // group_right is group_left with the sides swapped (the "one" side is the left).
    const swap = m?.group === 'right';
    const [many, one] = swap ? [right, left] : [left, right];
    const ones = new Map<string, Sample>();
    for (const s of one) {
      const k = sig(s.labels);
      if (ones.has(k))
        throw new EvalError(
          `found duplicate series for the match group ${JSON.stringify(dropName(s.labels))} on the ${swap ? 'left' : 'right'} hand-side of the operation: many-to-many matching not allowed`,
        );
      ones.set(k, s);
    }
    const seen = new Set<string>();
    const out: Sample[] = [];
    for (const s of many) {
      const k = sig(s.labels);
      const o = ones.get(k);
      if (!o) continue;
      if (!m?.group) {
        if (seen.has(k))
          throw new EvalError(
            'multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)',
          );
        seen.add(k);
      }
      const [a, b] = swap ? [o.v, s.v] : [s.v, o.v];
      const v = arith(e.op, a, b);
      const comparison = isComparison(e.op);
      if (comparison && !e.bool && !v) continue;
      let labels: Labels = comparison && !e.bool ? { ...s.labels } : dropName(s.labels);
      if (!m?.group) {
        if (m?.on) {
          const kept: Labels = {};
          for (const name of m.labels) if (labels[name] !== undefined) kept[name] = labels[name];
          labels = kept;
        } else if (m) for (const name of m.labels) delete labels[name];
      } else {
        for (const name of m.include) {
          if (o.labels[name] !== undefined && o.labels[name] !== '') labels[name] = o.labels[name];
          else delete labels[name];
        }
      }
      out.push({ labels, v: comparison && !e.bool ? a : comparison ? (v ? 1 : 0) : v });
    }
    return out;
  }
}

function arith(op: string, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '%':
      return a % b;
    case '^':
      return a ** b;
    case '==':
      return a === b ? 1 : 0;
    case '!=':
      return a !== b ? 1 : 0;
    case '>':
      return a > b ? 1 : 0;
    case '<':
      return a < b ? 1 : 0;
    case '>=':
      return a >= b ? 1 : 0;
    case '<=':
      return a <= b ? 1 : 0;
    default:
      throw new EvalError(`operator ${op} is not implemented`);
  }
}

/** absent()'s labels: the equality matchers of a plain selector argument, as Prometheus gives them. */
function absentLabels(arg: Expr): Labels {
  const sel = arg.type === 'selector' ? arg : arg.type === 'range' ? arg.selector : undefined;
  const out: Labels = {};
  if (!sel) return out;
  const counts = new Map<string, number>();
  for (const m of sel.matchers) counts.set(m.name, (counts.get(m.name) ?? 0) + 1);
  for (const m of sel.matchers) if (m.op === '=' && counts.get(m.name) === 1) out[m.name] = m.value;
  return out;
}

/**
 * Prometheus' extrapolatedRate (promql/functions.go): the increase between the first and last points of
 * the range (counter resets added back), extrapolated to the range's edges unless a series starts or
 * ends well inside it, and never below zero for counters.
 */
export function extrapolatedRate(
  points: Point[],
  isCounter: boolean,
  isRate: boolean,
  rangeStart: number,
  rangeEnd: number,
  rangeSeconds: number,
): number | undefined {
  if (points.length < 2) return undefined;
  const first = points[0];
  const last = points[points.length - 1];
  let result = last.v - first.v;
  if (isCounter)
    for (let i = 1; i < points.length; i++) if (points[i].v < points[i - 1].v) result += points[i - 1].v;
  let toStart = (first.t - rangeStart) / 1000;
  let toEnd = (rangeEnd - last.t) / 1000;
  const sampled = (last.t - first.t) / 1000;
  const avg = sampled / (points.length - 1);
  const threshold = avg * 1.1;
  if (toStart >= threshold) toStart = avg / 2;
  if (isCounter && result > 0 && first.v >= 0) {
    const toZero = sampled * (first.v / result);
    if (toZero < toStart) toStart = toZero;
  }
  if (toEnd >= threshold) toEnd = avg / 2;
  let factor = (sampled + toStart + toEnd) / sampled;
  if (isRate) factor /= rangeSeconds;
  return result * factor;
}
