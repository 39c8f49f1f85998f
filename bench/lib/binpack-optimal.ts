// (d) of the scheduler benchmark: packing quality on small instances. Strata places the pods one at a
// time in arrival order (as the scheduler does); the optimum — the fewest nodes that can hold every pod
// given cpu and memory — comes from a mixed-integer program solved by HiGHS (the `highs` package, the
// solver compiled to WebAssembly) in the same run.
import highsLoader from 'highs';
import { NodeInfoCache, podInfo } from '../../src/scheduler/node-info.ts';
import type { ScorePlugin } from '../../src/scheduler/framework.ts';
import type { Strategy } from '../../src/scheduler/scores.ts';
import { Placer, isPlaced } from '../../src/scheduler/schedule.ts';
import { rng, weighted } from './scheduler-workload.ts';

export interface PackingInstance {
  nodes: { name: string; milliCpu: number; memoryMi: number }[];
  pods: { name: string; milliCpu: number; memoryMi: number }[];
}

/** `nodeCount` nodes in two sizes and `podCount` pods of varied shapes, filling about 60% of the cluster. */
export function packingInstance(seed: number, nodeCount = 20, podCount = 60): PackingInstance {
  const r = rng(seed);
  const nodes = Array.from({ length: nodeCount }, (_, i) =>
    i % 2 === 0
      ? { name: `n${i}`, milliCpu: 8000, memoryMi: 32768 }
      : { name: `n${i}`, milliCpu: 16000, memoryMi: 65536 },
  );
  const cpuCap = nodes.reduce((s, n) => s + n.milliCpu, 0);
  const pods: PackingInstance['pods'] = [];
  const shapes: readonly (readonly [readonly [number, number], number])[] = [
    [[250, 512], 25], // small
    [[500, 1024], 25],
    [[1000, 4096], 20], // memory-heavy
    [[2000, 2048], 15], // cpu-heavy
    [[3000, 12288], 10],
    [[6000, 8192], 5], // large
  ];
  // Scale so the pods fill ~60% of the cpu; every pod still fits on the smaller node.
  const raw = Array.from({ length: podCount }, () => weighted(r, shapes));
  const total = raw.reduce((s, [c]) => s + c, 0);
  const scale = (0.6 * cpuCap) / total;
  raw.forEach(([c, m], i) =>
    pods.push({
      name: `p${i}`,
      milliCpu: Math.min(8000, Math.round((c * scale) / 50) * 50),
      memoryMi: Math.min(32768, Math.round((m * scale) / 64) * 64),
    }),
  );
  return { nodes, pods };
}

/** Nodes used when Strata places the pods in order with `strategy` (examining every node). */
export function strataNodesUsed(
  inst: PackingInstance,
  strategy: Strategy,
  scores?: readonly ScorePlugin[],
): number | undefined {
  const cache = new NodeInfoCache();
  for (const n of inst.nodes)
    cache.setNode({
      metadata: { name: n.name, labels: {} },
      spec: {},
      status: {
        allocatable: { cpu: `${n.milliCpu}m`, memory: `${n.memoryMi}Mi`, pods: '110' },
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    });
  const placer = new Placer({ strategy, scores, percentageOfNodesToScore: 100 });
  for (const p of inst.pods) {
    const info = podInfo({
      metadata: { name: p.name, namespace: 'default' },
      spec: {
        containers: [
          { name: 'c', resources: { requests: { cpu: `${p.milliCpu}m`, memory: `${p.memoryMi}Mi` } } },
        ],
      },
    });
    const r = placer.place(info, cache.nodes(), cache);
    if (!isPlaced(r)) return undefined;
    cache.assume(info, r.node);
  }
  return cache.nodes().filter((n) => n.requested.pods > 0).length;
}

/** The bin-packing MIP in CPLEX LP format: minimise nodes used; each pod on one node; capacities. */
export function packingLp(inst: PackingInstance): string {
  const P = inst.pods.length;
  const N = inst.nodes.length;
  const lines: string[] = [
    'Minimize',
    ` obj: ${inst.nodes.map((_, j) => `y${j}`).join(' + ')}`,
    'Subject To',
  ];
  for (let i = 0; i < P; i++) lines.push(` a${i}: ${inst.nodes.map((_, j) => `x${i}_${j}`).join(' + ')} = 1`);
  for (let j = 0; j < N; j++) {
    const n = inst.nodes[j];
    lines.push(
      ` c${j}: ${inst.pods.map((p, i) => `${p.milliCpu} x${i}_${j}`).join(' + ')} - ${n.milliCpu} y${j} <= 0`,
    );
    lines.push(
      ` m${j}: ${inst.pods.map((p, i) => `${p.memoryMi} x${i}_${j}`).join(' + ')} - ${n.memoryMi} y${j} <= 0`,
    );
  }
  // Symmetry breaking among identical nodes: use them in order.
  for (let j = 0; j + 2 < N; j++)
    if (
      inst.nodes[j].milliCpu === inst.nodes[j + 2].milliCpu &&
      inst.nodes[j].memoryMi === inst.nodes[j + 2].memoryMi
    )
      lines.push(` s${j}: y${j} - y${j + 2} >= 0`);
  lines.push('Binary');
  for (let i = 0; i < P; i++) for (let j = 0; j < N; j++) lines.push(` x${i}_${j}`);
  for (let j = 0; j < N; j++) lines.push(` y${j}`);
  lines.push('End');
  return lines.join('\n');
}

export interface OptimalResult {
  nodes: number;
  /** 'Optimal', or HiGHS' status when it stopped early (then `nodes` is the best found). */
  status: string;
  seconds: number;
}

interface Solver {
  solve(lp: string, options?: Record<string, unknown>): { Status: string; ObjectiveValue: number };
}
// The package's ESM entry default-exports the loader; its typings resolve as the CommonJS namespace here.
const loadHighs = highsLoader as unknown as () => Promise<Solver>;
let solver: Solver | undefined;

export async function optimalNodes(inst: PackingInstance, timeLimitSeconds = 20): Promise<OptimalResult> {
  solver ??= await loadHighs();
  const t = performance.now();
  const sol = solver.solve(packingLp(inst), { time_limit: timeLimitSeconds, output_flag: false });
  return {
    nodes: Math.round(sol.ObjectiveValue),
    status: sol.Status,
    seconds: (performance.now() - t) / 1000,
  };
}
