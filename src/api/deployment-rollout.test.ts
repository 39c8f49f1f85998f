import { describe, expect, it } from 'vitest';
import {
  REVISION_HISTORY_ANNOTATION,
  calculateStatus,
  deploymentProgressing,
  deploymentTimedOut,
  equalIgnoreHash,
  findActiveOrLatest,
  findNewReplicaSet,
  isSaturated,
  maxUnavailableOf,
  newRSNewReplicas,
  proportionalSizes,
  replicaSetName,
  setDeploymentCondition,
  setNewReplicaSetAnnotations,
  templateHash,
} from './deployment-rollout.ts';

const template = (image: string, hash?: string) => ({
  metadata: { labels: { app: 'web', ...(hash ? { 'pod-template-hash': hash } : {}) } },
  spec: { containers: [{ name: 'web', image }] },
});

const deployment = (replicas: number, extra: Record<string, unknown> = {}) => ({
  metadata: { name: 'web', generation: 1, annotations: {} as Record<string, string> },
  spec: {
    replicas,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } },
    template: template('web:2'),
    progressDeadlineSeconds: 600,
    ...extra,
  },
  status: {} as any,
});

let seq = 0;
const rs = (
  name: string,
  replicas: number,
  opts: { image?: string; available?: number; annotations?: Record<string, string>; created?: string } = {},
) => ({
  metadata: {
    name,
    uid: name,
    creationTimestamp: opts.created ?? `2024-01-01T00:00:${String(seq++ % 60).padStart(2, '0')}Z`,
    annotations: { ...opts.annotations },
  },
  spec: { replicas, template: template(opts.image ?? 'web:1', 'h') },
  status: {
    replicas,
    availableReplicas: opts.available ?? replicas,
    readyReplicas: opts.available ?? replicas,
  },
});

describe('templates', () => {
  it('hashes stably, and a collisionCount gives another hash', () => {
    const a = templateHash(template('web:1'));
    expect(a).toBe(templateHash(JSON.parse(JSON.stringify(template('web:1')))));
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect(templateHash(template('web:1'), 1)).not.toBe(a);
    expect(templateHash(template('web:1'), 1)).not.toBe(templateHash(template('web:1'), 2));
    expect(replicaSetName('web', a)).toBe(`web-${a}`);
    expect(replicaSetName('x'.repeat(260), a)).toHaveLength(253);
  });

  it('compares templates ignoring the hash label, and finds the oldest matching ReplicaSet', () => {
    expect(equalIgnoreHash(template('web:1', 'abc'), template('web:1'))).toBe(true);
    expect(equalIgnoreHash(template('web:1', 'abc'), template('web:2', 'abc'))).toBe(false);
    // what kubectl rollout undo writes back: Go's zero values spelled out
    const fromKubectl = template('web:1');
    Object.assign(fromKubectl.metadata, { creationTimestamp: null });
    Object.assign(fromKubectl.spec.containers[0], { resources: {} });
    expect(equalIgnoreHash(fromKubectl, template('web:1', 'abc'))).toBe(true);
    const d = deployment(3);
    const old = rs('old', 0, { image: 'web:1' });
    const first = rs('new-a', 1, { image: 'web:2', created: '2024-01-01T00:00:01Z' });
    const second = rs('new-b', 1, { image: 'web:2', created: '2024-01-01T00:00:02Z' });
    expect(findNewReplicaSet(d, [second, old, first])).toBe(first);
    expect(findNewReplicaSet(d, [old])).toBeUndefined();
  });
});

describe('revisions', () => {
  it('numbers a new ReplicaSet, and a ReplicaSet that comes back keeps its old numbers in revision-history', () => {
    const d = deployment(3);
    d.metadata.annotations = {
      'kubernetes.io/change-cause': 'kubectl set image',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
      'deployment.kubernetes.io/revision': '9',
    };
    const fresh: any = { metadata: {} };
    expect(setNewReplicaSetAnnotations(d, fresh, 1, false)).toBe(true);
    expect(fresh.metadata.annotations).toEqual({
      'kubernetes.io/change-cause': 'kubectl set image',
      'deployment.kubernetes.io/revision': '1',
      'deployment.kubernetes.io/desired-replicas': '3',
      'deployment.kubernetes.io/max-replicas': '6',
    });
    expect(setNewReplicaSetAnnotations(d, fresh, 1, true)).toBe(false);
    // rolled back to: revision 1 becomes 4, then 6
    expect(setNewReplicaSetAnnotations(d, fresh, 4, true)).toBe(true);
    expect(setNewReplicaSetAnnotations(d, fresh, 6, true)).toBe(true);
    expect(fresh.metadata.annotations['deployment.kubernetes.io/revision']).toBe('6');
    expect(fresh.metadata.annotations[REVISION_HISTORY_ANNOTATION]).toBe('1,4');
    // a lower number never replaces a higher one
    expect(setNewReplicaSetAnnotations(d, fresh, 2, true)).toBe(false);
  });
});

describe('scaling', () => {
  it('lets the new ReplicaSet grow up to replicas + maxSurge in all, never above replicas', () => {
    const d = deployment(10);
    const old = rs('old', 10);
    const fresh = rs('new', 0, { image: 'web:2' });
    expect(newRSNewReplicas(d, [old, fresh], fresh)).toBe(3);
    expect(newRSNewReplicas(d, [rs('old', 2), fresh], fresh)).toBe(10);
    expect(
      newRSNewReplicas({ ...d, spec: { ...d.spec, strategy: { type: 'Recreate' } } }, [old, fresh], fresh),
    ).toBe(10);
  });

  it('finds the only active ReplicaSet, or the newest when none is', () => {
    const a = rs('a', 0, { created: '2024-01-01T00:00:01Z' });
    const b = rs('b', 0, { created: '2024-01-01T00:00:02Z' });
    const c = rs('c', 2, { created: '2024-01-01T00:00:03Z' });
    expect(findActiveOrLatest(undefined, [a, b])).toBe(b);
    expect(findActiveOrLatest(c, [a, b])).toBe(c);
    expect(findActiveOrLatest(rs('n', 0), [a, c])).toBe(c);
    expect(findActiveOrLatest(rs('n', 1), [a, c])).toBeUndefined();
  });

  it('spreads a resize over the ReplicaSets of a rollout in proportion (the Kubernetes docs example)', () => {
    // 10 replicas, maxSurge 3: stuck at 8 old + 5 new; scaled to 15, old gets 3 and new 2
    const d = deployment(15);
    d.status = { replicas: 13 };
    const old = rs('old', 8, { annotations: { 'deployment.kubernetes.io/max-replicas': '13' } });
    const fresh = rs('new', 5, {
      image: 'web:2',
      annotations: { 'deployment.kubernetes.io/max-replicas': '13' },
    });
    const { sizes, direction } = proportionalSizes(d, [old, fresh]);
    expect(direction).toBe('up');
    expect(Object.fromEntries(sizes)).toEqual({ old: 11, new: 7 });
    // and back down to 5: max 8 in all
    const down = proportionalSizes(deployment(5), [
      rs('old', 11, { annotations: { 'deployment.kubernetes.io/max-replicas': '18' } }),
      rs('new', 7, { image: 'web:2', annotations: { 'deployment.kubernetes.io/max-replicas': '18' } }),
    ]);
    expect(down.direction).toBe('down');
    expect([...down.sizes.values()].reduce((a, b) => a + b, 0)).toBe(8);
    expect(Object.fromEntries(down.sizes)).toEqual({ old: 5, new: 3 });
  });

  it('knows when the new ReplicaSet is saturated', () => {
    const d = deployment(3);
    const annotated = { 'deployment.kubernetes.io/desired-replicas': '3' };
    expect(isSaturated(d, rs('n', 3, { annotations: annotated }))).toBe(true);
    expect(isSaturated(d, rs('n', 3, { annotations: annotated, available: 2 }))).toBe(false);
    expect(isSaturated(d, rs('n', 3))).toBe(false);
  });
});

describe('status', () => {
  it('sums the ReplicaSets and sets Available against replicas − maxUnavailable', () => {
    const d = deployment(4);
    const s = calculateStatus(
      d,
      [rs('old', 1, { available: 1 }), rs('new', 3, { available: 1 })],
      undefined,
      'now',
    );
    expect(s).toMatchObject({ replicas: 4, readyReplicas: 2, availableReplicas: 2, unavailableReplicas: 2 });
    expect(maxUnavailableOf(d)).toBe(2);
    expect(s.conditions).toEqual([
      {
        type: 'Available',
        status: 'True',
        reason: 'MinimumReplicasAvailable',
        message: 'Deployment has minimum availability.',
        lastUpdateTime: 'now',
        lastTransitionTime: 'now',
      },
    ]);
  });

  it('keeps a condition whose status and reason did not change; keeps the transition time while the status holds', () => {
    const s: any = {
      conditions: [{ type: 'Progressing', status: 'True', reason: 'A', lastTransitionTime: 't0' }],
    };
    setDeploymentCondition(s, {
      type: 'Progressing',
      status: 'True',
      reason: 'A',
      message: 'new',
      lastTransitionTime: 't1',
    });
    expect(s.conditions[0].message).toBeUndefined();
    setDeploymentCondition(s, { type: 'Progressing', status: 'True', reason: 'B', lastTransitionTime: 't2' });
    expect(s.conditions[0]).toMatchObject({ reason: 'B', lastTransitionTime: 't0' });
    setDeploymentCondition(s, {
      type: 'Progressing',
      status: 'False',
      reason: 'C',
      lastTransitionTime: 't3',
    });
    expect(s.conditions[0]).toMatchObject({ reason: 'C', lastTransitionTime: 't3' });
  });

  it('sees progress in more updated, ready or available replicas or fewer old ones; times out after the deadline', () => {
    const d: any = deployment(3, { progressDeadlineSeconds: 10 });
    d.status = { replicas: 4, updatedReplicas: 1, readyReplicas: 3, availableReplicas: 3 };
    const base = {
      replicas: 4,
      updatedReplicas: 1,
      readyReplicas: 3,
      availableReplicas: 3,
      unavailableReplicas: 0,
    };
    expect(deploymentProgressing(d, base)).toBe(false);
    expect(deploymentProgressing(d, { ...base, updatedReplicas: 2 })).toBe(true);
    expect(deploymentProgressing(d, { ...base, replicas: 3 })).toBe(true);
    const at = (reason: string, lastUpdateTime: string) => ({
      ...base,
      conditions: [{ type: 'Progressing', status: 'True' as const, reason, lastUpdateTime }],
    });
    const t0 = Date.parse('2024-01-01T00:00:00Z');
    expect(deploymentTimedOut(d, at('ReplicaSetUpdated', '2024-01-01T00:00:00Z'), t0 + 9_000)).toBe(false);
    expect(deploymentTimedOut(d, at('ReplicaSetUpdated', '2024-01-01T00:00:00Z'), t0 + 11_000)).toBe(true);
    expect(deploymentTimedOut(d, at('NewReplicaSetAvailable', '2024-01-01T00:00:00Z'), t0 + 99_000)).toBe(
      false,
    );
  });
});
