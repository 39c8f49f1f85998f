import { describe, expect, it } from 'vitest';
import { node, pod, where } from '../test-helpers.ts';

const zones = [
  node({ name: 'a1', zone: 'a' }),
  node({ name: 'a2', zone: 'a' }),
  node({ name: 'b1', zone: 'b' }),
  node({ name: 'b2', zone: 'b' }),
];
const term = (app: string, topologyKey: string, namespaces?: string[]) => ({
  labelSelector: { matchLabels: { app } },
  topologyKey,
  ...(namespaces ? { namespaces } : {}),
});
const affinity = (kind: 'podAffinity' | 'podAntiAffinity', ...terms: any[]) => ({
  affinity: { [kind]: { requiredDuringSchedulingIgnoredDuringExecution: terms } },
});

describe('InterPodAffinity filter (required)', () => {
  const db = { b2: [pod({ name: 'db', labels: { app: 'db' } })] };

  it('affinity: only nodes in the same domain as a matching pod', () => {
    expect(
      where(
        pod({ name: 'web' }, affinity('podAffinity', term('db', 'topology.kubernetes.io/zone'))),
        zones,
        db,
      ),
    ).toMatch(/^b[12]$/);
    expect(
      where(pod({ name: 'web' }, affinity('podAffinity', term('db', 'kubernetes.io/hostname'))), zones, db),
    ).toBe('b2');
    expect(
      where(
        pod({ name: 'web' }, affinity('podAffinity', term('cache', 'topology.kubernetes.io/zone'))),
        zones,
        db,
      ),
    ).toBe("unschedulable: 0/4 nodes are available: 4 node(s) didn't match pod affinity rules.");
  });

  it("affinity looks in the named namespaces (default: the pod's own)", () => {
    const other = { b2: [pod({ name: 'db', namespace: 'data', labels: { app: 'db' } })] };
    const t = term('db', 'kubernetes.io/hostname');
    expect(where(pod({ name: 'web' }, affinity('podAffinity', t)), zones, other)).toMatch(/^unschedulable/);
    expect(
      where(pod({ name: 'web' }, affinity('podAffinity', { ...t, namespaces: ['data'] })), zones, other),
    ).toBe('b2');
  });

  it('the first pod of a self-affine group may go anywhere', () => {
    const first = pod(
      { name: 'w0', labels: { app: 'w' } },
      affinity('podAffinity', term('w', 'topology.kubernetes.io/zone')),
    );
    expect(where(first, zones)).toMatch(/^[ab][12]$/);
  });

  it('anti-affinity: not in a domain holding a matching pod', () => {
    const spread = pod(
      { name: 'w1', labels: { app: 'w' } },
      affinity('podAntiAffinity', term('w', 'topology.kubernetes.io/zone')),
    );
    expect(where(spread, zones, { a1: [pod({ name: 'w0', labels: { app: 'w' } })] })).toMatch(/^b[12]$/);
    expect(
      where(spread, zones, {
        a1: [pod({ name: 'w0', labels: { app: 'w' } })],
        b1: [pod({ name: 'w2', labels: { app: 'w' } })],
      }),
    ).toBe("unschedulable: 0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules.");
  });

  it("respects existing pods' anti-affinity (symmetry)", () => {
    const loner = pod(
      { name: 'loner', labels: { app: 'loner' } },
      affinity('podAntiAffinity', term('noisy', 'kubernetes.io/hostname')),
    );
    const noisy = pod({ name: 'n', labels: { app: 'noisy' } });
    const nodes = [node({ name: 'x' }), node({ name: 'y' })];
    expect(where(noisy, nodes, { x: [loner] })).toBe('y');
    expect(
      where(noisy, nodes, { x: [loner], y: [{ ...loner, metadata: { ...loner.metadata, name: 'loner2' } }] }),
    ).toBe(
      "unschedulable: 0/2 nodes are available: 2 node(s) didn't satisfy existing pods anti-affinity rules.",
    );
  });
});

describe('InterPodAffinity score (preferred)', () => {
  it('pulls towards and pushes away by weight', () => {
    const cache = { a1: [pod({ name: 'c', labels: { app: 'cache' } })] };
    const prefer = (kind: string, weight: number) => ({
      affinity: {
        [kind]: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight, podAffinityTerm: term('cache', 'topology.kubernetes.io/zone') },
          ],
        },
      },
    });
    expect(where(pod({ name: 'p' }, prefer('podAffinity', 100)), zones, cache)).toMatch(/^a[12]$/);
    expect(where(pod({ name: 'p' }, prefer('podAntiAffinity', 100)), zones, cache)).toMatch(/^b[12]$/);
  });
});
