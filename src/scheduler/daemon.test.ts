import { describe, expect, it } from 'vitest';
import { daemonPodAffinity, daemonPodMismatch, DAEMON_POD_TOLERATIONS } from './daemon.ts';
import { NodeInfoCache, podInfo } from './node-info.ts';
import { Placer } from './schedule.ts';
import { node, pod, where } from './test-helpers.ts';

const template = (spec: Record<string, unknown> = {}) => ({
  metadata: { labels: { app: 'agent' } },
  spec: { containers: [{ name: 'a', image: 'agent.wasm' }], ...spec },
});

describe('daemon pod placement', () => {
  it('follows nodeSelector, node affinity and taints, tolerating node problems and cordons', () => {
    const gpu = node({
      name: 'gpu',
      labels: { accel: 'gpu' },
      taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }],
    });
    const cordoned = node({
      name: 'c',
      unschedulable: true,
      taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }],
    });
    expect(daemonPodMismatch(template(), node({ name: 'plain' }))).toBeUndefined();
    expect(daemonPodMismatch(template(), cordoned)).toBeUndefined();
    expect(daemonPodMismatch(template(), gpu)).toBe('node(s) had untolerated taint {dedicated: gpu}');
    expect(daemonPodMismatch(template({ nodeSelector: { accel: 'gpu' } }), node({ name: 'plain' }))).toBe(
      "node(s) didn't match Pod's node affinity/selector",
    );
    expect(
      daemonPodMismatch(template({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] }), gpu),
    ).toBeUndefined();
  });

  it('pins the pod to its node through matchFields, keeping the template rules', () => {
    const nodes = [
      node({ name: 'n1', labels: { disk: 'ssd' } }),
      node({ name: 'n2', labels: { disk: 'ssd' } }),
    ];
    const own = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }],
        },
      },
    };
    const p = pod(
      { name: 'ds-1' },
      { affinity: daemonPodAffinity(own, 'n2'), tolerations: [...DAEMON_POD_TOLERATIONS] },
    );
    expect(where(p, nodes)).toBe('n2');
    expect(where(pod({ name: 'ds-2' }, { affinity: daemonPodAffinity(undefined, 'n1') }), nodes)).toBe('n1');
    expect(where(pod({ name: 'ds-3' }, { affinity: daemonPodAffinity(own, 'n3') }), nodes)).toMatch(
      /didn't match Pod's node affinity/,
    );
  });

  it('a pinned pod examines only its node (the name index)', () => {
    const cache = new NodeInfoCache();
    for (let i = 0; i < 200; i++) cache.setNode(node({ name: `n${i}` }));
    const placer = new Placer();
    const r = placer.place(
      podInfo(pod({ name: 'ds' }, { affinity: daemonPodAffinity(undefined, 'n150') })),
      cache.nodes(),
      cache,
    );
    expect(r).toEqual({ node: 'n150' });
    expect(placer.stats.examined).toBe(1);
  });
});
