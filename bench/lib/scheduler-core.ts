// (a) of the scheduler benchmark: pure placement through the real scheduler core — podInfo digest,
// plugins, Placer, NodeInfoCache with its indexes — no store, no HTTP.
import { NodeInfoCache, podInfo } from '../../src/scheduler/node-info.ts';
import { type Strategy } from '../../src/scheduler/scores.ts';
import { Placer, isPlaced } from '../../src/scheduler/schedule.ts';

export interface CoreResult {
  placed: number;
  unschedulable: number;
  seconds: number;
  perSecond: number;
  /** Per-placement latencies (ms), sampled. */
  samples: number[];
  /** Most common unschedulable messages. */
  messages: Map<string, number>;
  cache: NodeInfoCache;
  placer: Placer;
}

/** Place `pods` one by one (highest priority first, FIFO among equals — the queue's order). */
export function runCore(
  nodes: readonly any[],
  pods: readonly any[],
  strategy: Strategy = 'spread',
  percentageOfNodesToScore?: number,
): CoreResult {
  const cache = new NodeInfoCache();
  for (const n of nodes) cache.setNode(n);
  const placer = new Placer({ strategy, percentageOfNodesToScore });
  const ordered = pods
    .map((p, i) => ({ p, i, prio: p.spec.priority ?? 0 }))
    .sort((a, b) => b.prio - a.prio || a.i - b.i)
    .map((x) => x.p);
  const samples: number[] = [];
  const messages = new Map<string, number>();
  let placed = 0;
  let unschedulable = 0;
  const t0 = performance.now();
  for (let i = 0; i < ordered.length; i++) {
    const sample = (i & 15) === 0;
    const s = sample ? performance.now() : 0;
    const info = podInfo(ordered[i]);
    const r = placer.place(info, cache.nodes(), cache);
    if (isPlaced(r)) {
      cache.assume(info, r.node);
      placed++;
    } else {
      unschedulable++;
      messages.set(r.message, (messages.get(r.message) ?? 0) + 1);
    }
    if (sample) samples.push(performance.now() - s);
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    placed,
    unschedulable,
    seconds,
    perSecond: ordered.length / seconds,
    samples,
    messages,
    cache,
    placer,
  };
}
