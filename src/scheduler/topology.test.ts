import { describe, expect, it } from 'vitest';
import { NodeInfoCache, podInfo } from './node-info.ts';
import { node, pod } from './test-helpers.ts';

/** Count by brute force what the incremental index should say. */
function bruteForce(cache: NodeInfoCache, app: string, key: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of cache.nodes())
    for (const p of n.pods.values())
      if (p.namespace === 'default' && p.labels.app === app) {
        const v = n.labels[key];
        if (v !== undefined) m.set(v, (m.get(v) ?? 0) + 1);
      }
  return m;
}

describe('TopologyIndex', () => {
  it('keeps per-domain counts equal to a full recount through adds, moves, label changes and removes', () => {
    const cache = new NodeInfoCache();
    for (let i = 0; i < 12; i++) cache.setNode(node({ name: `n${i}`, zone: `z${i % 3}` }));
    const term = podInfo(
      pod(
        { name: 'probe' },
        {
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'topology.kubernetes.io/zone',
              whenUnsatisfiable: 'DoNotSchedule',
              labelSelector: { matchLabels: { app: 'a' } },
            },
          ],
        },
      ),
    ).spreadConstraints![0];
    const counter = cache.topology.counter(term);
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let step = 0; step < 400; step++) {
      const name = `p${rand(40)}`;
      const op = rand(10);
      if (op < 6) {
        const app = rand(3) === 0 ? 'b' : 'a';
        cache.setPod(pod({ name, nodeName: `n${rand(12)}`, labels: { app } }));
      } else if (op < 8) cache.removePod(`default/${name}`);
      else if (op < 9)
        cache.setPod({
          ...pod({ name, nodeName: `n${rand(12)}`, labels: { app: 'a' } }),
          status: { phase: 'Succeeded' },
        });
      else {
        const i = rand(12);
        cache.setNode(node({ name: `n${i}`, zone: `z${rand(4)}` })); // a node moves zone
      }
      expect(counter.domains('topology.kubernetes.io/zone')).toEqual(
        bruteForce(cache, 'a', 'topology.kubernetes.io/zone'),
      );
      expect(counter.domains('kubernetes.io/hostname')).toEqual(
        bruteForce(cache, 'a', 'kubernetes.io/hostname'),
      );
    }
  });

  it('a counter created late is filled from the pods already placed', () => {
    const cache = new NodeInfoCache();
    cache.setNode(node({ name: 'n1', zone: 'z' }));
    for (let i = 0; i < 5; i++)
      cache.setPod(pod({ name: `p${i}`, nodeName: 'n1', labels: { app: i < 3 ? 'a' : 'b' } }));
    const info = podInfo(
      pod(
        { name: 'q' },
        {
          affinity: {
            podAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                {
                  labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b'] }] },
                  topologyKey: 'topology.kubernetes.io/zone',
                },
              ],
            },
          },
        },
      ),
    );
    expect(cache.topology.counter(info.requiredAffinity![0]).total).toBe(5);
  });
});
