import { describe, expect, it } from 'vitest';
import { evaluate, type Sample, type Value } from './eval.ts';
import { PromQLError, parsePromQL, selectedNames } from './parse.ts';
import { SampleStore } from './sample-store.ts';

// A counter `reqs` scraped every 10 s for 5 minutes: pod a grows by 1/s, pod b by 2/s with a reset at
// t=150 s (back to 0, then on by 2/s); a gauge `mem` per pod; `up` per node.
const T0 = 1_700_000_000_000;
function fixture(): SampleStore {
  const s = new SampleStore();
  for (let i = 0; i <= 30; i++) {
    const t = T0 + i * 10_000;
    const secs = i * 10;
    s.append('test', t, [
      { labels: { __name__: 'reqs', namespace: 'ns', pod: 'a', code: '200' }, v: secs },
      {
        labels: { __name__: 'reqs', namespace: 'ns', pod: 'b', code: '500' },
        v: secs < 150 ? 2 * secs : 2 * (secs - 150),
      },
      { labels: { __name__: 'mem', namespace: 'ns', pod: 'a' }, v: 100 + i },
      { labels: { __name__: 'mem', namespace: 'ns', pod: 'b' }, v: 300 },
      { labels: { __name__: 'limit', namespace: 'ns', pod: 'a' }, v: 200 },
      { labels: { __name__: 'limit', namespace: 'ns', pod: 'b' }, v: 250 },
      { labels: { __name__: 'owner', namespace: 'ns', team: 'blue' }, v: 1 },
    ]);
  }
  return s;
}
const END = T0 + 300_000;

function run(q: string, t = END, store = fixture()): Value {
  return evaluate(parsePromQL(q).expr, t, store);
}
/** The vector as `{labels} value` strings, sorted, for readable expectations. */
function vec(q: string, t = END, store = fixture()): string[] {
  const v = run(q, t, store);
  if (v.type !== 'vector') throw new Error(`not a vector: ${v.type}`);
  return v.samples.map((s: Sample) => `${JSON.stringify(s.labels)} ${+s.v.toFixed(6)}`).sort();
}

describe('PromQL parse', () => {
  it('refuses a syntax error with its position', () => {
    try {
      parsePromQL('rate(reqs[5m]');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PromQLError);
      expect((err as PromQLError).position).toBe(13);
    }
  });
  it('refuses constructs outside the subset and wrong argument types, at write time', () => {
    expect(() => parsePromQL('histogram_quantile(0.9, x)')).toThrow(/unsupported.*histogram_quantile/);
    expect(() => parsePromQL('rate(reqs[5m:1m])')).toThrow(/subqueries/);
    expect(() => parsePromQL('topk(3, reqs)')).toThrow(/aggregation topk/);
    expect(() => parsePromQL('rate(reqs)')).toThrow(/argument 1 must be a matrix, got vector/);
    expect(() => parsePromQL('1 > 2')).toThrow(/bool modifier/);
    expect(() => parsePromQL('reqs{code=~"("}')).toThrow(/bad regex/);
    expect(() => parsePromQL('{code=~".*"}')).toThrow(/non-empty matcher/);
    expect(parsePromQL('sum by (pod) (rate(reqs[5m])) > 1').type).toBe('vector');
  });
  it('names the metrics an expression reads (what the evaluator keeps), or none when it selects by labels', () => {
    expect(
      [
        ...selectedNames(
          parsePromQL('sum(rate(a[5m])) / on(x) group_left b > 1 or absent(c) unless -d').expr,
        )!,
      ].sort(),
    ).toEqual(['a', 'b', 'c', 'd']);
    expect(selectedNames(parsePromQL('count({job="x"})').expr)).toBeUndefined();
  });
});

describe('PromQL evaluation', () => {
  it('selects the latest point with matchers (=, !=, =~, !~)', () => {
    expect(vec('reqs{code="200"}')).toEqual([
      '{"__name__":"reqs","namespace":"ns","pod":"a","code":"200"} 300',
    ]);
    expect(vec('reqs{code!="200"}')).toEqual([
      '{"__name__":"reqs","namespace":"ns","pod":"b","code":"500"} 300',
    ]);
    expect(vec('reqs{code=~"5.."}')).toHaveLength(1);
    expect(vec('reqs{code!~"5..|2.."}')).toEqual([]);
    // offset: 100 s earlier pod a had counted 200.
    expect(vec('reqs{pod="a"} offset 100s')).toEqual([
      '{"__name__":"reqs","namespace":"ns","pod":"a","code":"200"} 200',
    ]);
  });

  it('rate/increase extrapolate like Prometheus, counting resets', () => {
    // [1m] ending at 300 s holds 250..300 s: 6 points, 50 s sampled; 10 s to the range start is within
    // 1.1 × the 10 s spacing so the increase extrapolates to the full 60 s: 50 × 60/50 = 60.
    expect(vec('increase(reqs{pod="a"}[1m])')).toEqual(['{"namespace":"ns","pod":"a","code":"200"} 60']);
    expect(vec('rate(reqs{pod="a"}[1m])')).toEqual(['{"namespace":"ns","pod":"a","code":"200"} 1']);
    // pod b over [5m]: points 10..300 s (30 of them; the one at 0 s is outside the left-open range).
    // Raw increase: 300 − 20, plus the 280 counted before the reset at 150 s = 560 over 290 s sampled;
    // extrapolated by (290 + 10 + 0)/290 and divided by 300 s: 560/290 = 1.931034.
    expect(vec('rate(reqs{pod="b"}[5m])')).toEqual(['{"namespace":"ns","pod":"b","code":"500"} 1.931034']);
    expect(vec('irate(reqs{pod="b"}[1m])')).toEqual(['{"namespace":"ns","pod":"b","code":"500"} 2']);
    // delta of a gauge: 130 − 125 over 50 s extrapolated to 60 s: 6.
    expect(vec('delta(mem{pod="a"}[1m])')).toEqual(['{"namespace":"ns","pod":"a"} 6']);
    expect(vec('resets(reqs[5m])')).toEqual([
      '{"namespace":"ns","pod":"a","code":"200"} 0',
      '{"namespace":"ns","pod":"b","code":"500"} 1',
    ]);
  });

  it('_over_time functions', () => {
    // mem of pod a at 250..300 s: 125..130.
    expect(vec('avg_over_time(mem{pod="a"}[1m])')).toEqual(['{"namespace":"ns","pod":"a"} 127.5']);
    expect(vec('max_over_time(mem{pod="a"}[1m])')).toEqual(['{"namespace":"ns","pod":"a"} 130']);
    expect(vec('min_over_time(mem{pod="a"}[1m])')).toEqual(['{"namespace":"ns","pod":"a"} 125']);
    expect(vec('sum_over_time(mem{pod="a"}[30s])')).toEqual(['{"namespace":"ns","pod":"a"} 387']);
    expect(vec('count_over_time(mem{pod="a"}[1m])')).toEqual(['{"namespace":"ns","pod":"a"} 6']);
  });

  it('aggregations by and without', () => {
    expect(vec('sum(mem)')).toEqual(['{} 430']);
    expect(vec('sum by (namespace) (mem)')).toEqual(['{"namespace":"ns"} 430']);
    expect(vec('max without (pod) (mem)')).toEqual(['{"namespace":"ns"} 300']);
    expect(vec('min(mem)')).toEqual(['{} 130']);
    expect(vec('avg(mem)')).toEqual(['{} 215']);
    expect(vec('count by (pod) (reqs)')).toEqual(['{"pod":"a"} 1', '{"pod":"b"} 1']);
  });

  it('binary operators: scalars, one-to-one and many-to-one matching, filters and bool', () => {
    expect(run('2 * 3 + 1')).toEqual({ type: 'scalar', v: 7 });
    expect(run('1 > bool 2')).toEqual({ type: 'scalar', v: 0 });
    expect(vec('mem / limit')).toEqual([
      '{"namespace":"ns","pod":"a"} 0.65',
      '{"namespace":"ns","pod":"b"} 1.2',
    ]);
    // A comparison filters and keeps the left side's value and name; bool gives 0/1 without the name.
    expect(vec('mem > limit')).toEqual(['{"__name__":"mem","namespace":"ns","pod":"b"} 300']);
    expect(vec('mem > bool limit')).toEqual([
      '{"namespace":"ns","pod":"a"} 0',
      '{"namespace":"ns","pod":"b"} 1',
    ]);
    expect(vec('mem > 200')).toEqual(['{"__name__":"mem","namespace":"ns","pod":"b"} 300']);
    expect(vec('200 < mem')).toEqual(['{"__name__":"mem","namespace":"ns","pod":"b"} 300']);
    expect(vec('mem - 100')).toEqual(['{"namespace":"ns","pod":"a"} 30', '{"namespace":"ns","pod":"b"} 200']);
    // on(): only the named labels remain; group_left copies `team` from the one side.
    expect(vec('sum by (namespace, pod) (mem) / on(namespace) group_left(team) owner')).toEqual([
      '{"namespace":"ns","pod":"a","team":"blue"} 130',
      '{"namespace":"ns","pod":"b","team":"blue"} 300',
    ]);
    expect(() => run('mem / on(namespace) owner')).toThrow(/group_left/);
    expect(vec('mem / ignoring(pod, team) group_left owner')).toHaveLength(2);
  });

  it('and, or, unless; absent; clamp; abs; time()', () => {
    expect(vec('mem and on(pod) reqs{code="500"}')).toEqual([
      '{"__name__":"mem","namespace":"ns","pod":"b"} 300',
    ]);
    expect(vec('mem unless on(pod) reqs{code="500"}')).toEqual([
      '{"__name__":"mem","namespace":"ns","pod":"a"} 130',
    ]);
    expect(vec('mem{pod="a"} or limit')).toEqual([
      '{"__name__":"limit","namespace":"ns","pod":"b"} 250',
      '{"__name__":"mem","namespace":"ns","pod":"a"} 130',
    ]);
    expect(vec('absent(nothing{job="x", a=~"y"})')).toEqual(['{"job":"x"} 1']);
    expect(vec('absent(mem)')).toEqual([]);
    expect(vec('clamp(mem, 150, 250)')).toEqual([
      '{"namespace":"ns","pod":"a"} 150',
      '{"namespace":"ns","pod":"b"} 250',
    ]);
    expect(vec('abs(mem - 200)')).toEqual([
      '{"namespace":"ns","pod":"a"} 70',
      '{"namespace":"ns","pod":"b"} 100',
    ]);
    expect(run('time()')).toEqual({ type: 'scalar', v: END / 1000 });
  });

  it('forgets a series 5 minutes after its last point, and at once after a staleness marker', () => {
    const s = fixture();
    expect(vec('mem', END + 299_000, s)).toHaveLength(2);
    expect(vec('mem', END + 301_000, s)).toHaveLength(0);
    // pod b vanishes from the next scrape: a staleness marker ends it there.
    s.append('test', END + 10_000, [{ labels: { __name__: 'mem', namespace: 'ns', pod: 'a' }, v: 1 }]);
    expect(vec('mem', END + 10_000, s)).toEqual(['{"__name__":"mem","namespace":"ns","pod":"a"} 1']);
    // …but its past points still count in a range.
    expect(vec('count_over_time(mem{pod="b"}[1m])', END + 10_000, s)).toEqual([
      '{"namespace":"ns","pod":"b"} 5',
    ]);
  });
});
