import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { ApiError, type ObjectStore } from '../store/objects.ts';
import { ReplicaSetController, calculateReplicaSetStatus } from './replicaset.ts';
import {
  POD,
  type TestObjects,
  condition,
  eventsFor,
  openTestObjects,
  podObject,
  setPodReady,
  simulateAgent,
  until,
} from './testutil.ts';

const REPLICASET = kindFor('apps/v1', 'ReplicaSet')!;

let t: TestObjects;
let objects: ObjectStore;
let controller: ReplicaSetController;
let stopAgent: (() => void) | undefined;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  controller = new ReplicaSetController({ objects });
  await controller.start();
});

afterEach(async () => {
  stopAgent?.();
  stopAgent = undefined;
  await controller.stop();
  await t.close();
});

function replicaSet(name: string, replicas: number, extra: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, tier: 'web' }, annotations: { note: 'from-template' } },
        spec: { containers: [{ name: 'web', image: 'registry.example/web:1' }] },
      },
      ...extra,
    },
  };
}

const controlledBy = (p: any, rs: any) =>
  p.metadata.ownerReferences?.some((r: any) => r.controller && r.uid === rs.metadata.uid);

async function podsOf(rs: any): Promise<any[]> {
  const { items } = await objects.list(POD, 'default');
  return items.filter((p) => controlledBy(p, rs));
}

const live = (p: any) =>
  !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded';

/** Wait until the ReplicaSet controls exactly `n` live pods and return them. */
async function settled(rs: any, n: number): Promise<any[]> {
  return until(async () => {
    const pods = (await podsOf(rs)).filter(live);
    return pods.length === n && pods;
  }, `${n} pods of ${rs.metadata.name}`);
}

async function statusOf(name: string, check: (s: any) => boolean): Promise<any> {
  return until(async () => {
    const s = (await objects.get(REPLICASET, 'default', name))?.status;
    return s && check(s) && s;
  }, `status of ${name}`);
}

describe('ReplicaSetController', () => {
  it('creates pods from its template, owned by it and named after it', async () => {
    const rs = await objects.create(replicaSet('web', 3));
    const pods = await settled(rs, 3);
    for (const p of pods) {
      expect(p.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
      expect(p.metadata.labels).toEqual({ app: 'web', tier: 'web' });
      expect(p.metadata.annotations).toEqual({ note: 'from-template' });
      expect(p.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web',
          uid: rs.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(p.spec.containers[0].image).toBe('registry.example/web:1');
    }
    const status = await statusOf('web', (s) => s.replicas === 3);
    expect(status).toEqual({
      replicas: 3,
      fullyLabeledReplicas: 3,
      readyReplicas: 0,
      availableReplicas: 0,
      observedGeneration: 1,
    });
    const events = await until(async () => {
      const e = await eventsFor(objects, 'ReplicaSet', 'web');
      return e.length === 3 && e;
    }, 'events');
    expect(events.map((e) => e.reason)).toEqual(['SuccessfulCreate', 'SuccessfulCreate', 'SuccessfulCreate']);
    expect(events[0].message).toMatch(/^Created pod: web-[a-z0-9]{5}$/);
    expect(events[0].source.component).toBe('replicaset-controller');
  });

  it('never creates more pods than replicas while its cache catches up', async () => {
    let created = 0;
    const w = await objects.watch(POD, 'default', undefined, (ev) => {
      if (ev.type === 'ADDED') created++;
    });
    const rs = await objects.create(replicaSet('burst', 25));
    await settled(rs, 25);
    await controller.whenIdle();
    w.cancel();
    expect(created).toBe(25);
  });

  it('replaces deleted and failed pods, and scales down unscheduled and not-ready pods first', async () => {
    const rs = await objects.create(replicaSet('web', 3));
    const [a, b, c] = await settled(rs, 3);
    await objects.delete(POD, 'default', a.metadata.name);
    await until(async () => {
      const pods = (await podsOf(rs)).filter(live);
      return pods.length === 3 && !pods.some((p) => p.metadata.name === a.metadata.name);
    }, 'replacement of the deleted pod');
    await objects.updateStatus(POD, 'default', b.metadata.name, { status: { phase: 'Failed' } });
    await until(async () => (await podsOf(rs)).filter(live).length === 3, 'replacement of the failed pod');
    expect((await podsOf(rs)).some((p) => p.metadata.name === b.metadata.name)).toBe(true); // kept

    // c is bound and ready: it survives a scale down to 1, the others go first
    await objects.bind('default', c.metadata.name, 'n1');
    await setPodReady(objects, await objects.get(POD, 'default', c.metadata.name));
    await objects.mutate(REPLICASET, 'default', 'web', (x) => ({ ...x, spec: { ...x.spec, replicas: 1 } }));
    const [left] = await settled(rs, 1);
    expect(left.metadata.name).toBe(c.metadata.name);
    const deleted = await until(async () => {
      const e = (await eventsFor(objects, 'ReplicaSet', 'web')).filter(
        (x) => x.reason === 'SuccessfulDelete',
      );
      return e.length === 2 && e;
    }, 'SuccessfulDelete events');
    expect(deleted[0].message).toMatch(/^Deleted pod: web-/);
    await statusOf('web', (s) => s.replicas === 1 && s.readyReplicas === 1 && s.observedGeneration === 2);
  });

  it('adopts orphans its selector matches, releases pods that stop matching, leaves others alone', async () => {
    const orphan = podObject({ name: 'orphan' });
    orphan.metadata.labels = { app: 'web' };
    await objects.create(orphan);
    const foreign = podObject({ name: 'foreign' });
    foreign.metadata.labels = { app: 'web' };
    foreign.metadata.ownerReferences = [
      { apiVersion: 'batch/v1', kind: 'Job', name: 'other', uid: 'someone-else', controller: true },
    ];
    await objects.create(foreign);

    const rs = await objects.create(replicaSet('web', 2));
    const pods = await settled(rs, 2);
    expect(pods.map((p) => p.metadata.name)).toContain('orphan');
    const adopted = await objects.get(POD, 'default', 'orphan');
    expect(adopted.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'ReplicaSet', uid: rs.metadata.uid, controller: true }),
    ]);
    expect((await objects.get(POD, 'default', 'foreign')).metadata.ownerReferences[0].uid).toBe(
      'someone-else',
    );
    await statusOf('web', (s) => s.replicas === 2 && s.fullyLabeledReplicas === 1); // orphan lacks tier=web

    // relabelled out of the selector: released (not deleted) and replaced
    await objects.mutate(POD, 'default', 'orphan', (p) => {
      p.metadata.labels = { app: 'elsewhere' };
      return p;
    });
    await until(async () => {
      const p = await objects.get(POD, 'default', 'orphan');
      return !p.metadata.ownerReferences;
    }, 'orphan released');
    const after = await settled(rs, 2);
    expect(after.map((p) => p.metadata.name)).not.toContain('orphan');
  });

  it('waits while its Deployment is still handing pods over to it (an upgraded data dir)', async () => {
    const deploymentRef = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'legacy',
      uid: 'deployment-uid',
      controller: true,
    };
    const pod = podObject({ name: 'legacy-abc-1' });
    pod.metadata.labels = { app: 'legacy' };
    pod.metadata.ownerReferences = [deploymentRef];
    await objects.create(pod);
    const spec = replicaSet('legacy', 1);
    spec.metadata.ownerReferences = [deploymentRef];
    const rs = await objects.create(spec);
    await until(async () => (await objects.get(REPLICASET, 'default', 'legacy'))?.status, 'a sync');
    await controller.whenIdle();
    expect((await objects.list(POD, 'default')).items).toHaveLength(1);
    // handed over: the ReplicaSet has its one pod, and makes none
    await objects.mutate(POD, 'default', 'legacy-abc-1', (p) => {
      p.metadata.ownerReferences = [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'legacy', uid: rs.metadata.uid, controller: true },
      ];
      return p;
    });
    await statusOf('legacy', (s) => s.replicas === 1);
    await controller.whenIdle();
    expect((await objects.list(POD, 'default')).items).toHaveLength(1);
  });

  it('counts pods available only after minReadySeconds, and checks again by itself', async () => {
    const rs = await objects.create(replicaSet('slow', 2, { minReadySeconds: 1 }));
    for (const p of await settled(rs, 2)) await setPodReady(objects, p);
    const ready = await statusOf('slow', (s) => s.readyReplicas === 2);
    expect(ready.availableReplicas).toBe(0);
    await statusOf('slow', (s) => s.availableReplicas === 2);
  });

  it('reports ReplicaFailure while pods cannot be created, and clears it once they can', async () => {
    let refuse = true;
    objects.addCreateHook((obj, kind) => {
      if (refuse && kind.kind === 'Pod')
        throw new ApiError({
          apiVersion: 'v1',
          kind: 'Status',
          status: 'Failure',
          code: 403,
          reason: 'Forbidden',
          message: 'pods "x" is forbidden: exceeded quota',
        });
    });
    stopAgent = await simulateAgent(objects);
    await objects.create(replicaSet('quota', 2));
    const failing = await statusOf('quota', (s) => !!condition({ status: s }, 'ReplicaFailure'));
    expect(condition({ status: failing }, 'ReplicaFailure')).toMatchObject({
      status: 'True',
      reason: 'FailedCreate',
      message: 'pods "x" is forbidden: exceeded quota',
    });
    const warning = await until(async () =>
      (await eventsFor(objects, 'ReplicaSet', 'quota')).find((e) => e.reason === 'FailedCreate'),
    );
    expect(warning).toMatchObject({
      type: 'Warning',
      message: 'Error creating: pods "x" is forbidden: exceeded quota',
    });
    refuse = false;
    const ok = await statusOf('quota', (s) => s.replicas === 2);
    expect(condition({ status: ok }, 'ReplicaFailure')).toBeUndefined();
  });
});

describe('calculateReplicaSetStatus', () => {
  it("counts Kubernetes' way: fully labelled, ready, available after minReadySeconds", () => {
    const now = Date.parse('2024-01-01T00:00:10Z');
    const pod = (labels: Record<string, string>, readySince?: string) => ({
      metadata: { labels },
      status: readySince
        ? { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: readySince }] }
        : {},
    });
    const rs = {
      spec: { replicas: 3, minReadySeconds: 5, template: { metadata: { labels: { app: 'a', v: '1' } } } },
    };
    const pods = [
      pod({ app: 'a', v: '1' }, '2024-01-01T00:00:00Z'),
      pod({ app: 'a', v: '1' }, '2024-01-01T00:00:08Z'),
      pod({ app: 'a' }),
    ];
    expect(calculateReplicaSetStatus(rs, pods, undefined, now)).toEqual({
      replicas: 3,
      fullyLabeledReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 1,
    });
    const failed = calculateReplicaSetStatus(rs, pods.slice(0, 1), new Error('nope'), now);
    expect(failed.conditions).toEqual([
      expect.objectContaining({
        type: 'ReplicaFailure',
        status: 'True',
        reason: 'FailedCreate',
        message: 'nope',
      }),
    ]);
    const more = calculateReplicaSetStatus(
      { ...rs, spec: { ...rs.spec, replicas: 0 } },
      pods,
      new Error('x'),
      now,
    );
    expect(more.conditions?.[0].reason).toBe('FailedDelete');
    expect(
      calculateReplicaSetStatus({ ...rs, status: failed }, pods, undefined, now).conditions,
    ).toBeUndefined();
  });
});
