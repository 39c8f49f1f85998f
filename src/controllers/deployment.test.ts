import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import {
  DeploymentController,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  deploymentRevisions,
  resolveFenceposts,
  rollbackTemplate,
  templateHash,
} from './deployment.ts';
import { rollbackPatch, rollbackReplicaSet } from '../api/deployment-history.ts';
import { newRSNewReplicas, scaleDownOldReplicaSets } from '../api/deployment-rollout.ts';
import { ReplicaSetController } from './replicaset.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import {
  DEPLOYMENT,
  POD,
  type TestObjects,
  condition,
  eventsFor,
  openTestObjects,
  setPodReady,
  simulateAgent,
  until,
} from './testutil.ts';

const REPLICASET = kindFor('apps/v1', 'ReplicaSet')!;

let t: TestObjects;
let objects: ObjectStore;
let informers: SharedInformers;
let controller: DeploymentController;
let replicaSets: ReplicaSetController;
let stopAgent: (() => void) | undefined;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  informers = new SharedInformers(objects);
  controller = new DeploymentController({ objects, informers });
  replicaSets = new ReplicaSetController({ objects, informers });
  const started = Promise.all([controller.start(), replicaSets.start()]);
  informers.start();
  await started;
});

afterEach(async () => {
  stopAgent?.();
  stopAgent = undefined;
  await Promise.all([controller.stop(), replicaSets.stop()]);
  informers.stop();
  await t.close();
});

const controlledBy = (obj: any, owner: any) =>
  obj.metadata.ownerReferences?.some((r: any) => r.controller && r.uid === owner.metadata.uid);

/** The Deployment's ReplicaSets, oldest first. */
async function replicaSetsOf(name: string): Promise<any[]> {
  const d = await objects.get(DEPLOYMENT, 'default', name);
  const { items } = await objects.list(REPLICASET, 'default');
  return items
    .filter((rs) => controlledBy(rs, d))
    .sort((a, b) => (a.metadata.creationTimestamp < b.metadata.creationTimestamp ? -1 : 1));
}

/** Both controllers have nothing queued (the Deployment's work goes through the ReplicaSets'). */
async function idle(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.all([controller.whenIdle(), replicaSets.whenIdle()]);
}

function deployment(name: string, replicas: number, image = 'registry.example/web:1'): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image }] },
      },
    },
  };
}

/** Pods of the Deployment's ReplicaSets. */
async function podsOf(name: string): Promise<any[]> {
  const rss = await replicaSetsOf(name);
  const { items } = await objects.list(POD, 'default');
  return items.filter((p) => rss.some((rs) => controlledBy(p, rs)));
}

/** Wait until the deployment has exactly `n` pods, all of the current template, and return them. */
async function settled(name: string, n: number): Promise<any[]> {
  return until(async () => {
    const d = await objects.get(DEPLOYMENT, 'default', name);
    const hash = templateHash(d.spec.template);
    const pods = await podsOf(name);
    const ok = pods.length === n && pods.every((p) => p.metadata.labels[POD_TEMPLATE_HASH_LABEL] === hash);
    return ok && pods;
  }, `${n} pods of ${name}`);
}

describe('templateHash', () => {
  it('is short, stable and independent of key order', () => {
    const a = templateHash({
      metadata: { labels: { app: 'x' } },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    });
    const b = templateHash({
      spec: { containers: [{ image: 'i', name: 'c' }] },
      metadata: { labels: { app: 'x' } },
    });
    expect(a).toBe(b);
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(templateHash({ spec: { containers: [{ name: 'c', image: 'j' }] } })).not.toBe(a);
  });
});

describe('DeploymentController', () => {
  it('makes one ReplicaSet per template, named and labelled with the pod-template-hash, owning the pods', async () => {
    const d = await objects.create(deployment('web', 3));
    const pods = await settled('web', 3);
    const hash = templateHash(d.spec.template);
    const [rs] = await replicaSetsOf('web');
    expect(rs.metadata).toMatchObject({
      name: `web-${hash}`,
      labels: { app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash },
      annotations: {
        [REVISION_ANNOTATION]: '1',
        'deployment.kubernetes.io/desired-replicas': '3',
        'deployment.kubernetes.io/max-replicas': '4', // 25% surge of 3, rounded up
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: 'web',
          uid: d.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    });
    expect(rs.spec.selector).toEqual({ matchLabels: { app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash } });
    expect(rs.spec.template.metadata.labels).toEqual({ app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash });
    expect(rs.spec.replicas).toBe(3);
    for (const p of pods) {
      expect(p.metadata.name).toMatch(new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
      expect(p.metadata.labels).toEqual({ app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash });
      expect(p.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: rs.metadata.name,
          uid: rs.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(p.spec.containers[0].image).toBe('registry.example/web:1');
    }
    const status = await until(async () => {
      const s = (await objects.get(DEPLOYMENT, 'default', 'web')).status;
      return s?.replicas === 3 && s;
    }, 'status');
    expect(status).toMatchObject({
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 0,
      availableReplicas: 0,
      unavailableReplicas: 3,
    });
    expect(condition({ status }, 'Available')).toMatchObject({
      status: 'False',
      reason: 'MinimumReplicasUnavailable',
    });
    expect(condition({ status }, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'ReplicaSetUpdated',
      message: `ReplicaSet "web-${hash}" is progressing.`,
    });
    const after = await objects.get(DEPLOYMENT, 'default', 'web');
    expect(after.metadata.annotations[REVISION_ANNOTATION]).toBe('1');
  });

  it('replaces a deleted pod and a failed pod', async () => {
    await objects.create(deployment('web', 2));
    const [first, second] = await settled('web', 2);
    await objects.delete(POD, 'default', first.metadata.name);
    await until(async () => {
      const pods = await podsOf('web');
      return pods.length === 2 && !pods.some((p) => p.metadata.name === first.metadata.name);
    }, 'replacement of the deleted pod');
    await objects.updateStatus(POD, 'default', second.metadata.name, { status: { phase: 'Failed' } });
    const pods = await until(async () => {
      const all = await podsOf('web');
      return all.filter((p) => p.status?.phase !== 'Failed').length === 2 && all;
    }, 'replacement of the failed pod');
    expect(pods).toHaveLength(3); // the failed pod is kept for inspection
  });

  it('replaces pods on a template change and scales up and down', async () => {
    stopAgent = await simulateAgent(objects);
    await objects.create(deployment('web', 3));
    const before = await settled('web', 3);
    await objects.mutate(DEPLOYMENT, 'default', 'web', (d) => {
      d.spec.template.spec.containers[0].image = 'registry.example/web:2';
      return d;
    });
    const after = await settled('web', 3);
    expect(after.every((p) => p.spec.containers[0].image === 'registry.example/web:2')).toBe(true);
    expect(after.some((p) => before.some((b) => b.metadata.name === p.metadata.name))).toBe(false);

    await objects.mutate(DEPLOYMENT, 'default', 'web', (d) => ({ ...d, spec: { ...d.spec, replicas: 5 } }));
    await settled('web', 5);
    await objects.mutate(DEPLOYMENT, 'default', 'web', (d) => ({ ...d, spec: { ...d.spec, replicas: 1 } }));
    await settled('web', 1);
    await objects.mutate(DEPLOYMENT, 'default', 'web', (d) => ({ ...d, spec: { ...d.spec, replicas: 0 } }));
    await settled('web', 0);
    const status = await until(async () => {
      const d = await objects.get(DEPLOYMENT, 'default', 'web');
      return (
        d.status?.observedGeneration === d.metadata.generation &&
        d.status.replicas === 0 &&
        condition(d, 'Progressing')?.reason === 'NewReplicaSetAvailable' &&
        d.status
      );
    }, 'status after scale to zero');
    expect(condition({ status }, 'Available')).toMatchObject({ status: 'True' });
    expect(condition({ status }, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'NewReplicaSetAvailable',
    });
    // one ReplicaSet per template: the first one is kept, scaled to zero
    const rss = await replicaSetsOf('web');
    const byRevision = rss.map((rs) => [rs.metadata.annotations[REVISION_ANNOTATION], rs.spec.replicas]);
    expect(byRevision.sort()).toEqual([
      ['1', 0],
      ['2', 0],
    ]);
  });

  it('reports ready and available replicas from pod conditions', async () => {
    await objects.create(deployment('web', 2));
    const pods = await settled('web', 2);
    for (const p of pods) {
      await objects.updateStatus(POD, 'default', p.metadata.name, {
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      });
    }
    const status = await until(async () => {
      const s = (await objects.get(DEPLOYMENT, 'default', 'web')).status;
      return s?.availableReplicas === 2 && s;
    }, 'available');
    expect(status).toMatchObject({
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      unavailableReplicas: 0,
    });
    expect(condition({ status }, 'Available')).toMatchObject({
      status: 'True',
      reason: 'MinimumReplicasAvailable',
    });
    const [rs] = await replicaSetsOf('web');
    expect(condition({ status }, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'NewReplicaSetAvailable',
      message: `ReplicaSet "${rs.metadata.name}" has successfully progressed.`,
    });
  });

  it('never creates more pods than replicas while the cache catches up', async () => {
    let created = 0;
    const w = await objects.watch(POD, 'default', undefined, (ev) => {
      if (ev.type === 'ADDED') created++;
    });
    await objects.create(deployment('burst', 20));
    await settled('burst', 20);
    // Pod and ReplicaSet events keep re-queueing both controllers meanwhile; neither may act twice.
    await idle();
    w.cancel();
    expect(created).toBe(20);
  });

  it('Recreate deletes old pods before creating new ones', async () => {
    const d = deployment('rc', 2);
    d.spec.strategy = { type: 'Recreate' };
    await objects.create(d);
    const before = await settled('rc', 2);
    const seen = new Set<string>();
    let overlap = false;
    const w = await objects.watch(POD, 'default', undefined, (ev) => {
      const name = ev.object.metadata.name;
      if (ev.type === 'DELETED') seen.delete(name);
      else seen.add(name);
      const old = [...seen].filter((n) => before.some((b) => b.metadata.name === n));
      if (old.length > 0 && seen.size > old.length) overlap = true;
    });
    for (const b of before) seen.add(b.metadata.name);
    await objects.mutate(DEPLOYMENT, 'default', 'rc', (x) => {
      x.spec.template.spec.containers[0].image = 'registry.example/web:2';
      return x;
    });
    await settled('rc', 2);
    w.cancel();
    expect(overlap).toBe(false);
  });
});

const setImage = (name: string, image: string) =>
  objects.mutate(DEPLOYMENT, 'default', name, (d) => {
    d.spec.template.spec.containers[0].image = image;
    return d;
  });

const isLive = (p: any) =>
  !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded';
const isReadyPod = (p: any) =>
  (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');

/** Follow the deployment's pods on the watch: the most live and the fewest ready ones at any moment. */
async function observeBounds(name: string) {
  const pods = new Map<string, any>();
  const seen = { maxLive: 0, minReady: Infinity, armed: false };
  const w = await objects.watch(POD, 'default', undefined, (ev) => {
    const p = ev.object;
    if (!p.metadata.ownerReferences?.some((r: any) => r.name === name)) return;
    if (ev.type === 'DELETED') pods.delete(p.metadata.name);
    else pods.set(p.metadata.name, p);
    const live = [...pods.values()].filter(isLive);
    seen.maxLive = Math.max(seen.maxLive, live.length);
    if (seen.armed) seen.minReady = Math.min(seen.minReady, live.filter(isReadyPod).length);
  });
  for (const p of await podsOf(name)) pods.set(p.metadata.name, p);
  seen.armed = true;
  return { seen, cancel: () => w.cancel() };
}

async function statusOf(name: string): Promise<any> {
  return (await objects.get(DEPLOYMENT, 'default', name))?.status;
}

describe('rolling updates', () => {
  it('resolves maxSurge up and maxUnavailable down, like Kubernetes', () => {
    const ru = (maxSurge: any, maxUnavailable: any) => ({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge, maxUnavailable },
    });
    expect(resolveFenceposts(ru('25%', '25%'), 10)).toEqual({ maxSurge: 3, maxUnavailable: 2 });
    expect(resolveFenceposts(ru('10%', '10%'), 3)).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(resolveFenceposts(ru(0, '10%'), 3)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(resolveFenceposts(ru(2, 1), 5)).toEqual({ maxSurge: 2, maxUnavailable: 1 });
  });

  it('plans one bounded step at a time, over ReplicaSet sizes', () => {
    const d = (maxSurge: number, maxUnavailable: number, replicas = 4) => ({
      metadata: { name: 'web' },
      spec: { replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } } },
    });
    const rs = (name: string, replicas: number, available: number, created = '2024-01-01T00:00:00Z') => ({
      metadata: { name, uid: name, creationTimestamp: created },
      spec: { replicas },
      status: { availableReplicas: available },
    });
    const available = (x: any) => Math.min(x.spec.replicas, x.status.availableReplicas);
    const sizes = (m: Map<any, number>) => Object.fromEntries([...m].map(([x, n]) => [x.metadata.name, n]));
    const old = rs('old', 4, 4);
    // surge first: 4 + 1 pods at most
    const fresh = rs('new', 0, 0, '2024-01-02T00:00:00Z');
    expect(newRSNewReplicas(d(1, 1), [old, fresh], fresh)).toBe(1);
    // then, with the new pod not available: one old pod may go (5 pods - 3 min available - 1 unready new)
    const surged = rs('new', 1, 0, '2024-01-02T00:00:00Z');
    expect(newRSNewReplicas(d(1, 1), [old, surged], surged)).toBe(1);
    expect(sizes(scaleDownOldReplicaSets(d(1, 1), [old, surged], [old], surged, available))).toEqual({
      old: 3,
    });
    // no unavailability allowed and the new pod not available: nothing to do (the rollout waits)
    expect(scaleDownOldReplicaSets(d(1, 0), [old, surged], [old], surged, available).size).toBe(0);
    // a shrinking ReplicaSet whose pods are still there counts them against the surge
    expect(newRSNewReplicas(d(1, 1), [rs('old', 3, 3), surged], surged, (x) => (x === surged ? 1 : 4))).toBe(
      1,
    );
    // unavailable old replicas are removed before available ones, from the oldest ReplicaSet first
    const older = rs('older', 1, 0, '2023-12-01T00:00:00Z');
    const mixed = rs('old', 2, 2);
    const none = rs('new', 0, 0, '2024-01-02T00:00:00Z');
    expect(
      sizes(scaleDownOldReplicaSets(d(0, 1, 3), [older, mixed, none], [older, mixed], none, available)),
    ).toEqual({ older: 0 });
  });

  for (const [maxSurge, maxUnavailable] of [
    [1, 0],
    [0, 1],
    ['50%', '25%'],
  ] as const) {
    it(`never exceeds replicas + maxSurge nor drops below replicas - maxUnavailable ready (${maxSurge}/${maxUnavailable})`, async () => {
      stopAgent = await simulateAgent(objects);
      const d = deployment('roll', 4);
      d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } };
      await objects.create(d);
      await settled('roll', 4);
      await until(async () => (await statusOf('roll'))?.availableReplicas === 4, '4 available');
      const { maxSurge: surge, maxUnavailable: unavailable } = resolveFenceposts(d.spec.strategy, 4);
      const bounds = await observeBounds('roll');
      await setImage('roll', 'registry.example/web:2');
      const pods = await settled('roll', 4);
      await until(async () => {
        const s = await statusOf('roll');
        return (
          s?.updatedReplicas === 4 &&
          s.availableReplicas === 4 &&
          condition({ status: s }, 'Progressing')?.reason === 'NewReplicaSetAvailable'
        );
      }, 'rollout complete');
      bounds.cancel();
      expect(pods.every((p) => p.spec.containers[0].image === 'registry.example/web:2')).toBe(true);
      expect(bounds.seen.maxLive).toBeLessThanOrEqual(4 + surge);
      expect(bounds.seen.minReady).toBeGreaterThanOrEqual(4 - unavailable);
    });
  }

  it('halts a rollout whose new pods never become ready, reports ProgressDeadlineExceeded, and rolls back', async () => {
    stopAgent = await simulateAgent(
      objects,
      (p) => p.spec.containers[0].image !== 'registry.example/web:bad',
    );
    const d = deployment('bad', 3);
    d.spec.progressDeadlineSeconds = 1;
    d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    await objects.create(d);
    const good = await settled('bad', 3);
    await until(async () => (await statusOf('bad'))?.availableReplicas === 3, '3 available');
    await setImage('bad', 'registry.example/web:bad');

    const stalled = await until(async () => {
      const s = await statusOf('bad');
      return condition({ status: s }, 'Progressing')?.reason === 'ProgressDeadlineExceeded' && s;
    }, 'ProgressDeadlineExceeded');
    const badHash = templateHash((await objects.get(DEPLOYMENT, 'default', 'bad')).spec.template);
    expect(condition({ status: stalled }, 'Progressing')).toMatchObject({
      status: 'False',
      message: `ReplicaSet "bad-${badHash}" has timed out progressing.`,
    });
    expect(condition({ status: stalled }, 'Available')?.status).toBe('True');
    await idle();
    const pods = await podsOf('bad');
    // the old pods keep serving; exactly one surge pod of the bad template exists
    expect(
      pods
        .filter((p) => p.spec.containers[0].image === 'registry.example/web:1')
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(good.map((p) => p.metadata.name).sort());
    expect(pods.filter((p) => p.spec.containers[0].image === 'registry.example/web:bad')).toHaveLength(1);
    expect(stalled).toMatchObject({ replicas: 4, updatedReplicas: 1, availableReplicas: 3 });
    // Events are recorded after the status write: wait for one (an empty list is not an answer).
    const warnings = await until(async () => {
      const found = (await eventsFor(objects, 'Deployment', 'bad')).filter(
        (e) => e.reason === 'ProgressDeadlineExceeded',
      );
      return found.length > 0 && found;
    }, 'ProgressDeadlineExceeded event');
    expect(warnings[0].type).toBe('Warning');

    // rollout undo: write the previous revision's template back
    const current = await objects.get(DEPLOYMENT, 'default', 'bad');
    expect(current.metadata.annotations[REVISION_ANNOTATION]).toBe('2');
    const template = await rollbackTemplate(objects, current);
    expect(template.spec.containers[0].image).toBe('registry.example/web:1');
    await objects.mutate(DEPLOYMENT, 'default', 'bad', (x) => ({ ...x, spec: { ...x.spec, template } }));
    const restored = await settled('bad', 3);
    expect(restored.map((p) => p.metadata.name).sort()).toEqual(good.map((p) => p.metadata.name).sort());
    const after = await until(async () => {
      const x = await objects.get(DEPLOYMENT, 'default', 'bad');
      return condition(x, 'Progressing')?.reason === 'NewReplicaSetAvailable' && x;
    }, 'rolled back and complete');
    expect(after.metadata.annotations[REVISION_ANNOTATION]).toBe('3');
    const revisions = await deploymentRevisions(objects, after);
    expect(revisions.map((r) => r.revision)).toEqual([2, 3]);
    expect(revisions[1].template.spec.containers[0].image).toBe('registry.example/web:1');
    // the first ReplicaSet came back: it is revision 3 now and remembers it was 1
    const back = revisions[1].replicaSet;
    expect(back.metadata.annotations['deployment.kubernetes.io/revision-history']).toBe('1');
    expect(back.spec.replicas).toBe(3);
    expect(revisions[0].replicaSet.spec.replicas).toBe(0);
  });

  it("rolls back the way kubectl 1.32 does: a JSON patch of the template and the ReplicaSet's annotations", async () => {
    stopAgent = await simulateAgent(objects);
    const d = deployment('undo', 2);
    d.metadata.annotations = { 'kubernetes.io/change-cause': 'v1', team: 'a' };
    await objects.create(d);
    await settled('undo', 2);
    await objects.mutate(DEPLOYMENT, 'default', 'undo', (x) => {
      x.metadata.annotations['kubernetes.io/change-cause'] = 'v2';
      x.spec.template.spec.containers[0].image = 'registry.example/web:2';
      return x;
    });
    await settled('undo', 2);
    const current = await until(async () => {
      const x = await objects.get(DEPLOYMENT, 'default', 'undo');
      return x.metadata.annotations[REVISION_ANNOTATION] === '2' && x;
    }, 'revision 2');
    const target = await rollbackReplicaSet(objects, current, 1);
    const patch = rollbackPatch(current, target);
    expect(patch[0]).toEqual({
      op: 'replace',
      path: '/spec/template',
      value: { ...target.spec.template, metadata: { labels: { app: 'undo' } } },
    });
    expect(patch[1].value).toEqual({
      [REVISION_ANNOTATION]: '2',
      'kubernetes.io/change-cause': 'v1',
      team: 'a',
    });
    await objects.patch(DEPLOYMENT, 'default', 'undo', patch, undefined, { type: 'json' });
    const pods = await settled('undo', 2);
    expect(pods.every((p) => p.spec.containers[0].image === 'registry.example/web:1')).toBe(true);
    const history = await until(async () => {
      const x = await objects.get(DEPLOYMENT, 'default', 'undo');
      const r = await deploymentRevisions(objects, x);
      return x.metadata.annotations[REVISION_ANNOTATION] === '3' && r.length === 2 && r;
    }, 'revision 3');
    expect(history.map((r) => [r.revision, r.changeCause])).toEqual([
      [2, 'v2'],
      [3, 'v1'],
    ]);
    await expect(rollbackReplicaSet(objects, current, 7)).rejects.toThrow(
      'unable to find specified revision 7 in history',
    );
  });

  it('keeps revisionHistoryLimit old ReplicaSets', async () => {
    stopAgent = await simulateAgent(objects);
    const d = deployment('hist', 1);
    d.spec.revisionHistoryLimit = 2;
    d.metadata.annotations = { 'kubernetes.io/change-cause': 'first' };
    await objects.create(d);
    await settled('hist', 1);
    for (const v of [2, 3, 4, 5]) {
      await setImage('hist', `registry.example/web:${v}`);
      await settled('hist', 1);
    }
    const dep = await until(async () => {
      const x = await objects.get(DEPLOYMENT, 'default', 'hist');
      return x.metadata.annotations?.[REVISION_ANNOTATION] === '5' && x;
    }, 'revision 5');
    const revisions = await until(async () => {
      const r = await deploymentRevisions(objects, dep);
      return r.length === 3 && r;
    }, 'pruned to 3 revisions');
    expect(revisions.map((r) => r.revision)).toEqual([3, 4, 5]);
    expect(revisions.map((r) => r.template.spec.containers[0].image)).toEqual([
      'registry.example/web:3',
      'registry.example/web:4',
      'registry.example/web:5',
    ]);
    expect(revisions[0].name).toBe(`hist-${revisions[0].hash}`);
    expect(revisions[0].changeCause).toBe('first');
    const rs = await objects.get(REPLICASET, 'default', revisions[2].name);
    expect(rs.metadata.ownerReferences[0]).toMatchObject({
      kind: 'Deployment',
      name: 'hist',
      controller: true,
    });

    expect((await rollbackTemplate(objects, dep, 3)).spec.containers[0].image).toBe('registry.example/web:3');
    expect((await rollbackTemplate(objects, dep)).spec.containers[0].image).toBe('registry.example/web:4');
    await expect(rollbackTemplate(objects, dep, 1)).rejects.toThrow(
      'unable to find specified revision 1 in history',
    );
  });

  it('paused halts a rollout; resuming continues it', async () => {
    stopAgent = await simulateAgent(objects);
    await objects.create(deployment('p', 2));
    const before = await settled('p', 2);
    await objects.mutate(DEPLOYMENT, 'default', 'p', (d) => {
      d.spec.paused = true;
      d.spec.template.spec.containers[0].image = 'registry.example/web:2';
      return d;
    });
    const paused = await until(async () => {
      const s = await statusOf('p');
      return condition({ status: s }, 'Progressing')?.reason === 'DeploymentPaused' && s;
    }, 'paused');
    expect(condition({ status: paused }, 'Progressing')?.status).toBe('Unknown');
    await idle();
    expect((await podsOf('p')).map((p) => p.metadata.name).sort()).toEqual(
      before.map((p) => p.metadata.name).sort(),
    );
    expect(await replicaSetsOf('p')).toHaveLength(1);
    // scaling still works while paused, on the ReplicaSet that runs
    await objects.mutate(DEPLOYMENT, 'default', 'p', (d) => ({ ...d, spec: { ...d.spec, replicas: 3 } }));
    await until(async () => (await podsOf('p')).filter(isLive).length === 3, '3 pods while paused');
    expect((await podsOf('p')).every((p) => p.spec.containers[0].image === 'registry.example/web:1')).toBe(
      true,
    );

    await objects.mutate(DEPLOYMENT, 'default', 'p', (d) => ({ ...d, spec: { ...d.spec, paused: false } }));
    const resumed = await until(async () => {
      const s = await statusOf('p');
      const c = condition({ status: s }, 'Progressing');
      return c && c.reason !== 'DeploymentPaused' && c;
    }, 'resumed');
    expect([
      'DeploymentResumed',
      'NewReplicaSetCreated',
      'ReplicaSetUpdated',
      'NewReplicaSetAvailable',
    ]).toContain(resumed.reason);
    const after = await settled('p', 3);
    expect(after.every((p) => p.spec.containers[0].image === 'registry.example/web:2')).toBe(true);
  });

  it('a restartedAt template annotation (rollout restart) replaces every pod', async () => {
    stopAgent = await simulateAgent(objects);
    await objects.create(deployment('rs', 2));
    const before = await settled('rs', 2);
    await objects.mutate(DEPLOYMENT, 'default', 'rs', (d) => {
      d.spec.template.metadata.annotations = {
        'kubectl.kubernetes.io/restartedAt': new Date().toISOString(),
      };
      return d;
    });
    const after = await settled('rs', 2);
    expect(after.some((p) => before.some((b) => b.metadata.name === p.metadata.name))).toBe(false);
    expect(after[0].metadata.annotations['kubectl.kubernetes.io/restartedAt']).toBeDefined();
  });

  it('counts a pod as available only after minReadySeconds of readiness', async () => {
    const d = deployment('mr', 2);
    d.spec.minReadySeconds = 1;
    await objects.create(d);
    const pods = await settled('mr', 2);
    for (const p of pods) await setPodReady(objects, p);
    const first = await until(async () => {
      const s = await statusOf('mr');
      return s?.readyReplicas === 2 && s;
    }, 'ready');
    expect(first.availableReplicas).toBe(0);
    // no pod changes from here on: the controller re-checks by itself once minReadySeconds have passed
    await until(
      async () => (await statusOf('mr'))?.availableReplicas === 2,
      'available after minReadySeconds',
    );
  });

  it('spreads a resize mid-rollout over the ReplicaSets in proportion (the Kubernetes docs example)', async () => {
    stopAgent = await simulateAgent(
      objects,
      (p) => p.spec.containers[0].image !== 'registry.example/web:bad',
    );
    const d = deployment('prop', 10);
    d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } };
    await objects.create(d);
    await settled('prop', 10);
    await until(async () => (await statusOf('prop'))?.availableReplicas === 10, '10 available');
    await setImage('prop', 'registry.example/web:bad');
    // stuck: 8 old (10 − maxUnavailable) and 5 new that never become ready (13 = 10 + maxSurge)
    const sizes = async () =>
      (await replicaSetsOf('prop')).map((rs) => rs.spec.replicas).sort((a, b) => a - b);
    await until(async () => (await sizes()).join() === '5,8', 'stuck at 8 old and 5 new');
    await idle();
    expect(await sizes()).toEqual([5, 8]);
    await objects.mutate(DEPLOYMENT, 'default', 'prop', (x) => ({ ...x, spec: { ...x.spec, replicas: 15 } }));
    // 18 = 15 + maxSurge: the old ReplicaSet gets 3 more, the new one 2
    await until(async () => (await sizes()).join() === '7,11', 'old 11, new 7');
    await idle();
    expect(await sizes()).toEqual([7, 11]);
  });

  it('adopts an orphan ReplicaSet its selector matches and rolls with it', async () => {
    const template = {
      metadata: { labels: { app: 'adopt', [POD_TEMPLATE_HASH_LABEL]: 'orphan1' } },
      spec: { containers: [{ name: 'web', image: 'registry.example/web:1' }] },
    };
    const orphan = await objects.create({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'adopt-orphan1', namespace: 'default', labels: template.metadata.labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: template.metadata.labels },
        template,
      },
    });
    const d = await objects.create(deployment('adopt', 2));
    const adopted = await until(async () => {
      const rs = await objects.get(REPLICASET, 'default', 'adopt-orphan1');
      return controlledBy(rs, d) && rs;
    }, 'adoption');
    expect(adopted.metadata.uid).toBe(orphan.metadata.uid);
    // its template is the Deployment's: it is the new ReplicaSet, no other is made
    const pods = await until(async () => {
      const all = (await podsOf('adopt')).filter(isLive);
      return all.length === 2 && all;
    }, '2 pods');
    expect(pods.every((p) => p.metadata.name.startsWith('adopt-orphan1-'))).toBe(true);
    await idle();
    expect((await replicaSetsOf('adopt')).map((rs) => rs.metadata.name)).toEqual(['adopt-orphan1']);
  });

  it("carries a ReplicaSet's ReplicaFailure over to the Deployment while pods cannot be created", async () => {
    let refuse = true;
    objects.addCreateHook((_obj, kind) => {
      if (refuse && kind.kind === 'Pod') throw new Error('pods "x" is forbidden: exceeded quota');
    });
    await objects.create(deployment('quota', 2));
    const failing = await until(async () => {
      const x = await objects.get(DEPLOYMENT, 'default', 'quota');
      return condition(x, 'ReplicaFailure') && x;
    }, 'ReplicaFailure on the deployment');
    expect(condition(failing, 'ReplicaFailure')).toMatchObject({
      status: 'True',
      reason: 'FailedCreate',
      message: 'pods "x" is forbidden: exceeded quota',
    });
    refuse = false;
    await until(async () => {
      const x = await objects.get(DEPLOYMENT, 'default', 'quota');
      return x.status?.replicas === 2 && !condition(x, 'ReplicaFailure');
    }, 'ReplicaFailure gone');
  });

  it('records scaling events', async () => {
    await objects.create(deployment('ev', 2));
    await settled('ev', 2);
    const events = await until(async () => {
      const e = await eventsFor(objects, 'Deployment', 'ev');
      return e.length > 0 && e;
    }, 'events');
    const [rs] = await replicaSetsOf('ev');
    expect(events[0]).toMatchObject({
      type: 'Normal',
      reason: 'ScalingReplicaSet',
      source: { component: 'deployment-controller' },
      metadata: { namespace: 'default' },
      message: `Scaled up replica set ${rs.metadata.name} from 0 to 2`,
    });
    await objects.mutate(DEPLOYMENT, 'default', 'ev', (d) => ({ ...d, spec: { ...d.spec, replicas: 1 } }));
    await until(
      async () =>
        (await eventsFor(objects, 'Deployment', 'ev')).some(
          (e) => e.message === `Scaled down replica set ${rs.metadata.name} from 2 to 1`,
        ),
      'scale-down event',
    );
  });
});
