import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor, statefulSetProgress } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { claimOwnerRefs } from './statefulset-claims.ts';
import { StatefulSetController, newStatefulSetPod, splitByOrdinal } from './statefulset.ts';
import { statefulSetUpdateAdmission } from './statefulset-update.ts';
import {
  CONTROLLER_REVISION,
  POD,
  type TestObjects,
  eventsFor,
  openTestObjects,
  setPodReady,
  until,
} from './testutil.ts';

const STS = kindFor('apps/v1', 'StatefulSet')!;
const PVC = kindFor('v1', 'PersistentVolumeClaim')!;

let t: TestObjects;
let objects: ObjectStore;
let controller: StatefulSetController;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  controller = new StatefulSetController({ objects });
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

function statefulset(name: string, spec: Record<string, unknown> = {}, image = 'registry.example/db:1'): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: 'default' },
    spec: {
      serviceName: 'svc',
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'db', image }] },
      },
      ...spec,
    },
  };
}

async function pods(): Promise<any[]> {
  const { items } = await objects.list(POD, 'default');
  return items.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
}
const names = (ps: any[]) => ps.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name);
const get = (name: string) => objects.get(POD, 'default', name);
const getSet = (name: string) => objects.get(STS, 'default', name);

/** Let the controller act on everything it was told, then look. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 50));
  await controller.whenIdle();
}

/** Finish a graceful deletion as an agent would once the containers stopped. */
async function finishDeletion(name: string): Promise<void> {
  const p = await get(name);
  if (p?.metadata.deletionTimestamp)
    await objects.delete(POD, 'default', name, {
      gracePeriodSeconds: 0,
      preconditions: { uid: p.metadata.uid },
    });
}

/** Bind the pod to a node and mark it Running and Ready, as the scheduler and an agent would. */
async function ready(name: string): Promise<void> {
  await markReady(await until(() => get(name), `pod ${name}`));
}

async function markReady(pod: any): Promise<void> {
  // Bound pods are deleted gracefully (an unbound one goes at once), as on a real node.
  if (!pod.spec.nodeName) await objects.bind('default', pod.metadata.name, 'node-1');
  await setPodReady(objects, pod);
}

describe('pure rules', () => {
  it('makes pod ORDINAL with its identity, the revision label and the claims as volumes', () => {
    const set = {
      ...statefulset('web', {
        volumeClaimTemplates: [{ metadata: { name: 'www' }, spec: {} }],
      }),
    };
    set.metadata.uid = 'u1';
    set.spec.template.spec.volumes = [
      { name: 'www', emptyDir: {} },
      { name: 'tmp', emptyDir: {} },
    ];
    const pod = newStatefulSetPod(set, 3, 'web-abc');
    expect(pod.metadata).toMatchObject({
      name: 'web-3',
      labels: {
        app: 'web',
        'statefulset.kubernetes.io/pod-name': 'web-3',
        'apps.kubernetes.io/pod-index': '3',
        'controller-revision-hash': 'web-abc',
      },
      ownerReferences: [{ kind: 'StatefulSet', name: 'web', uid: 'u1', controller: true }],
    });
    expect(pod.spec).toMatchObject({ hostname: 'web-3', subdomain: 'svc' });
    expect(pod.spec.volumes).toEqual([
      { name: 'tmp', emptyDir: {} },
      { name: 'www', persistentVolumeClaim: { claimName: 'www-web-3' } },
    ]);
  });

  it('splits pods into replicas by ordinal (from ordinals.start) and condemned ones, highest first', () => {
    const set = statefulset('db', { replicas: 2, ordinals: { start: 5 } });
    const p = (name: string) => ({ metadata: { name } });
    const { replicas, condemned } = splitByOrdinal(set, [
      p('db-7'),
      p('db-5'),
      p('db-9'),
      p('db-1'),
      p('other-6'),
      p('db-x'),
    ]);
    expect(replicas.map((x) => x?.metadata.name)).toEqual(['db-5', undefined]);
    expect(condemned.map((x) => x.metadata.name)).toEqual(['db-9', 'db-7', 'db-1']);
  });

  it('keeps claim owner references as the retention policy says', () => {
    const set = (whenDeleted: string, whenScaled: string) => ({
      metadata: { name: 'db', uid: 'set' },
      spec: { replicas: 2, persistentVolumeClaimRetentionPolicy: { whenDeleted, whenScaled } },
    });
    const pod = { metadata: { name: 'db-1', uid: 'pod' } };
    const owners = (s: any, ordinal: number, existing?: any[]) =>
      (
        claimOwnerRefs(
          existing,
          s,
          { ...pod, metadata: { ...pod.metadata, name: `db-${ordinal}` } },
          ordinal,
        ) ?? []
      ).map((r) => r.kind);
    expect(owners(set('Retain', 'Retain'), 1)).toEqual([]);
    expect(owners(set('Retain', 'Retain'), 1, [{ kind: 'StatefulSet', name: 'db', uid: 'set' }])).toEqual([]);
    expect(owners(set('Delete', 'Retain'), 1)).toEqual(['StatefulSet']);
    expect(owners(set('Delete', 'Retain'), 4)).toEqual(['StatefulSet']);
    expect(owners(set('Retain', 'Delete'), 1)).toEqual([]);
    expect(owners(set('Retain', 'Delete'), 4)).toEqual(['Pod']);
    expect(owners(set('Delete', 'Delete'), 1)).toEqual(['StatefulSet']);
    expect(owners(set('Delete', 'Delete'), 4)).toEqual(['Pod']);
    // A reference to an earlier pod of the same name is dropped once the ordinal is back in range.
    expect(owners(set('Retain', 'Delete'), 1, [{ kind: 'Pod', name: 'db-1', uid: 'old' }])).toEqual([]);
  });

  it("reads rollout status as kubectl's StatefulSetStatusViewer", () => {
    const s = (status: any, extra: any = {}) => ({
      metadata: { name: 'db', generation: 2 },
      spec: {
        replicas: 3,
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } },
        ...extra,
      },
      status: { observedGeneration: 2, ...status },
    });
    expect(statefulSetProgress(s({ observedGeneration: 1 })).message).toBe(
      'Waiting for statefulset spec update to be observed...',
    );
    expect(statefulSetProgress(s({ readyReplicas: 1 })).message).toBe('Waiting for 2 pods to be ready...');
    expect(statefulSetProgress(s({ readyReplicas: 3, updatedReplicas: 1 }))).toEqual({
      done: false,
      message: 'Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...',
    });
    expect(statefulSetProgress(s({ readyReplicas: 3, updatedReplicas: 2 }))).toEqual({
      done: true,
      message: 'partitioned roll out complete: 2 new pods have been updated...',
    });
    expect(statefulSetProgress(s({}, { updateStrategy: { type: 'OnDelete' } })).failed).toBe(true);
  });
});

describe('StatefulSetController', () => {
  it('OrderedReady: creates web-0, web-1, web-2 one at a time, each after the one before is Ready', async () => {
    await objects.create(statefulset('web', { replicas: 3 }));
    await until(() => get('web-0'), 'web-0');
    await settle();
    expect(names(await pods())).toEqual(['web-0']);
    await ready('web-0');
    await until(() => get('web-1'), 'web-1');
    await settle();
    expect(names(await pods())).toEqual(['web-0', 'web-1']);
    await ready('web-1');
    await ready('web-2');
    const set = await until(async () => {
      const s = await getSet('web');
      return s?.status?.readyReplicas === 3 && s;
    }, 'status');
    expect(set.status).toMatchObject({
      replicas: 3,
      currentReplicas: 3,
      updatedReplicas: 3,
      availableReplicas: 3,
    });
    expect(set.status.currentRevision).toBe(set.status.updateRevision);
    const p = await get('web-2');
    expect(p.spec).toMatchObject({ hostname: 'web-2', subdomain: 'svc' });
    expect(p.metadata.labels['controller-revision-hash']).toBe(set.status.updateRevision);
    const created = (await eventsFor(objects, 'StatefulSet', 'web')).map((e) => e.message);
    expect(created).toContain('create Pod web-0 in StatefulSet web successful');
    const revs = (await objects.list(CONTROLLER_REVISION, 'default')).items;
    expect(revs).toHaveLength(1);
    expect(revs[0]).toMatchObject({ revision: 1, metadata: { name: set.status.updateRevision } });
    expect(revs[0].data.spec.template.$patch).toBe('replace');
  });

  it('minReadySeconds: the next pod waits until the previous one has been Ready that long', async () => {
    await objects.create(statefulset('slow', { replicas: 2, minReadySeconds: 1 }));
    await ready('slow-0');
    await settle();
    expect(names(await pods())).toEqual(['slow-0']);
    await until(() => get('slow-1'), 'slow-1 after minReadySeconds', 5000);
  });

  it('Parallel: creates every pod at once and deletes without waiting', async () => {
    await objects.create(statefulset('par', { replicas: 3, podManagementPolicy: 'Parallel' }));
    await until(async () => names(await pods()).length === 3, 'three pods');
    expect(names(await pods())).toEqual(['par-0', 'par-1', 'par-2']);
    await objects.mutate(STS, 'default', 'par', (s) => ({ ...s, spec: { ...s.spec, replicas: 0 } }));
    await until(async () => (await pods()).every((p) => p.metadata.deletionTimestamp), 'all deleting');
  });

  it('scales down from the highest ordinal, one at a time, and back up with the same names', async () => {
    await objects.create(statefulset('db', { replicas: 3 }));
    for (const n of ['db-0', 'db-1', 'db-2']) await ready(n);
    await objects.mutate(STS, 'default', 'db', (s) => ({ ...s, spec: { ...s.spec, replicas: 1 } }));
    await until(async () => (await get('db-2'))?.metadata.deletionTimestamp, 'db-2 deleting');
    await settle();
    expect((await get('db-1')).metadata.deletionTimestamp).toBeUndefined(); // waits for db-2 to be gone
    await finishDeletion('db-2');
    await until(async () => (await get('db-1'))?.metadata.deletionTimestamp, 'db-1 deleting');
    await finishDeletion('db-1');
    await until(async () => names(await pods()).join() === 'db-0', 'one pod left');
    await objects.mutate(STS, 'default', 'db', (s) => ({ ...s, spec: { ...s.spec, replicas: 2 } }));
    await until(() => get('db-1'), 'db-1 again');
  });

  it('self-heals: a deleted or failed pod comes back with the same name', async () => {
    await objects.create(statefulset('heal', { replicas: 2 }));
    await ready('heal-0');
    await ready('heal-1');
    const before = await get('heal-1');
    await objects.delete(POD, 'default', 'heal-1', { gracePeriodSeconds: 0 });
    const again = await until(async () => {
      const p = await get('heal-1');
      return p && p.metadata.uid !== before.metadata.uid && p;
    }, 'heal-1 recreated');
    expect(again.spec.hostname).toBe('heal-1');
    await markReady(again);
    // A failed pod is deleted and replaced.
    const failed = await get('heal-0');
    await objects.mutate(
      POD,
      'default',
      'heal-0',
      (p) => ({ ...p, status: { ...p.status, phase: 'Failed' } }),
      'status',
    );
    // (A terminal pod is deleted at once, without a grace period, as Kubernetes does.)
    await until(async () => {
      const p = await get('heal-0');
      return p && p.metadata.uid !== failed.metadata.uid;
    }, 'heal-0 recreated');
  });

  it('RollingUpdate with partition: replaces pods from the highest ordinal down to the partition only', async () => {
    await objects.create(statefulset('ru', { replicas: 3 }));
    for (const n of ['ru-0', 'ru-1', 'ru-2']) await ready(n);
    const v1 = (
      await until(async () => (await getSet('ru'))?.status?.readyReplicas === 3 && getSet('ru'), 'ready')
    ).status.updateRevision;
    await objects.mutate(STS, 'default', 'ru', (s) => {
      s.spec.template.spec.containers[0].image = 'registry.example/db:2';
      s.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 1 } };
      return s;
    });
    await until(async () => (await get('ru-2'))?.metadata.deletionTimestamp, 'ru-2 deleting first');
    expect((await get('ru-1')).metadata.deletionTimestamp).toBeUndefined();
    await finishDeletion('ru-2');
    const ru2 = await until(async () => {
      const p = await get('ru-2');
      return p?.spec.containers[0].image === 'registry.example/db:2' && p;
    }, 'ru-2 at the new image');
    await settle();
    expect((await get('ru-1')).metadata.deletionTimestamp).toBeUndefined(); // waits for ru-2 to be ready
    await markReady(ru2);
    await until(async () => (await get('ru-1'))?.metadata.deletionTimestamp, 'ru-1 deleting');
    await finishDeletion('ru-1');
    await ready('ru-1');
    const set = await until(async () => {
      const s = await getSet('ru');
      return s?.status?.updatedReplicas === 2 && s?.status?.readyReplicas === 3 && s;
    }, 'two updated');
    await settle();
    const p0 = await get('ru-0');
    expect(p0.metadata.deletionTimestamp).toBeUndefined();
    expect(p0.spec.containers[0].image).toBe('registry.example/db:1');
    expect(p0.metadata.labels['controller-revision-hash']).toBe(v1);
    expect(set.status.currentRevision).toBe(v1);
    expect(set.status.updateRevision).not.toBe(v1);
    expect(statefulSetProgress(set).message).toBe(
      'partitioned roll out complete: 2 new pods have been updated...',
    );

    // A pod below the partition that is deleted comes back at the current revision.
    await objects.delete(POD, 'default', 'ru-0', { gracePeriodSeconds: 0 });
    const back = await until(async () => {
      const p = await get('ru-0');
      return p && p.metadata.uid !== p0.metadata.uid && p;
    }, 'ru-0 recreated');
    expect(back.spec.containers[0].image).toBe('registry.example/db:1');

    // Partition 0 finishes the rollout; the update revision becomes the current one.
    await markReady(back);
    await objects.mutate(STS, 'default', 'ru', (s) => {
      s.spec.updateStrategy.rollingUpdate.partition = 0;
      return s;
    });
    await until(async () => (await get('ru-0'))?.metadata.deletionTimestamp, 'ru-0 deleting');
    await finishDeletion('ru-0');
    await ready('ru-0');
    await until(async () => {
      const s = await getSet('ru');
      return s?.status?.currentRevision === s?.status?.updateRevision && s?.status?.currentReplicas === 3;
    }, 'rollout complete');
  });

  it('OnDelete: keeps old pods until the user deletes them, then makes them at the new revision', async () => {
    await objects.create(statefulset('od', { replicas: 2, updateStrategy: { type: 'OnDelete' } }));
    await ready('od-0');
    await ready('od-1');
    await objects.mutate(STS, 'default', 'od', (s) => {
      s.spec.template.spec.containers[0].image = 'registry.example/db:2';
      return s;
    });
    await until(async () => (await getSet('od'))?.status?.observedGeneration === 2, 'observed');
    await settle();
    expect(
      (await pods()).every((p) => !p.metadata.deletionTimestamp && p.spec.containers[0].image.endsWith(':1')),
    ).toBe(true);
    await objects.delete(POD, 'default', 'od-1', { gracePeriodSeconds: 0 });
    await until(
      async () => (await get('od-1'))?.spec.containers[0].image === 'registry.example/db:2',
      'od-1 updated',
    );
    expect((await get('od-0')).spec.containers[0].image).toBe('registry.example/db:1');
    const s = await until(async () => {
      const x = await getSet('od');
      return x?.status?.updatedReplicas === 1 && x;
    }, 'status');
    expect(s.status.currentReplicas).toBe(1);
  });

  it('makes each pod its claims before the pod, keeps them across pod deletion, and owns them by the retention policy', async () => {
    const claim = {
      metadata: { name: 'www', labels: { tier: 'data' } },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    };
    await objects.create(
      statefulset('vol', {
        replicas: 2,
        volumeClaimTemplates: [claim],
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Delete' },
      }),
    );
    const set = await getSet('vol');
    const pod0 = await until(() => get('vol-0'), 'vol-0');
    const pvc0 = await objects.get(PVC, 'default', 'www-vol-0');
    expect(pvc0).toBeDefined();
    expect(Number(pvc0.metadata.resourceVersion)).toBeLessThan(Number(pod0.metadata.resourceVersion));
    expect(pvc0.metadata.labels).toEqual({ tier: 'data', app: 'vol' });
    expect(pvc0.spec).toMatchObject({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
    });
    expect(pvc0.metadata.ownerReferences).toEqual([
      { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'vol', uid: set.metadata.uid },
    ]);
    expect(pod0.spec.volumes).toEqual([{ name: 'www', persistentVolumeClaim: { claimName: 'www-vol-0' } }]);
    await ready('vol-0');
    await ready('vol-1');
    // The pod comes back with the same claim (not a new one).
    await objects.delete(POD, 'default', 'vol-0', { gracePeriodSeconds: 0 });
    const again = await until(async () => {
      const p = await get('vol-0');
      return p && p.metadata.uid !== pod0.metadata.uid && p;
    }, 'vol-0 recreated');
    expect(again.spec.volumes[0].persistentVolumeClaim.claimName).toBe('www-vol-0');
    expect((await objects.get(PVC, 'default', 'www-vol-0')).metadata.uid).toBe(pvc0.metadata.uid);
    await markReady(again);
    // whenScaled=Delete: scaling down hands the claim of the removed pod to that pod.
    const pod1 = await get('vol-1');
    await objects.mutate(STS, 'default', 'vol', (s) => ({ ...s, spec: { ...s.spec, replicas: 1 } }));
    const pvc1 = await until(async () => {
      const c = await objects.get(PVC, 'default', 'www-vol-1');
      return c?.metadata.ownerReferences?.[0]?.kind === 'Pod' && c;
    }, 'claim owned by the pod');
    expect(pvc1.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Pod', name: 'vol-1', uid: pod1.metadata.uid },
    ]);
    expect((await objects.get(PVC, 'default', 'www-vol-0')).metadata.ownerReferences[0].kind).toBe(
      'StatefulSet',
    );
    // Retain/Retain (a policy change applies to existing claims): no owners left.
    await objects.mutate(STS, 'default', 'vol', (s) => ({
      ...s,
      spec: {
        ...s.spec,
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      },
    }));
    await until(
      async () => !(await objects.get(PVC, 'default', 'www-vol-0')).metadata.ownerReferences,
      'owners removed',
    );
  });

  it('refuses an update of the fields fixed at creation, naming spec, and changes nothing', async () => {
    objects.addUpdateHook(statefulSetUpdateAdmission);
    await objects.create(statefulset('fixed', { replicas: 0 }));
    const err = await objects
      .mutate(STS, 'default', 'fixed', (s) => ({ ...s, spec: { ...s.spec, serviceName: 'other' } }))
      .catch((e) => e);
    expect(err.code).toBe(422);
    expect(err.status.details.causes[0]).toMatchObject({ field: 'spec', reason: 'FieldValueForbidden' });
    expect((await getSet('fixed')).spec.serviceName).toBe('svc');
    await objects.mutate(STS, 'default', 'fixed', (s) => ({ ...s, spec: { ...s.spec, replicas: 2 } }));
    expect((await getSet('fixed')).spec.replicas).toBe(2);
  });

  it('adopts orphans named NAME-ORDINAL that its selector matches, and no other pod', async () => {
    const orphan = (name: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: { app: 'adopt' } },
      spec: { containers: [{ name: 'db', image: 'registry.example/db:1' }] },
    });
    const kept = await objects.create(orphan('adopt-1'));
    await objects.create(orphan('adopt-x'));
    // OnDelete: an adopted pod without the set's revision label is otherwise replaced by the rolling update.
    await objects.create(
      statefulset('adopt', {
        replicas: 2,
        podManagementPolicy: 'Parallel',
        updateStrategy: { type: 'OnDelete' },
      }),
    );
    const set = await getSet('adopt');
    const adopted = await until(async () => {
      const p = await get('adopt-1');
      return p?.metadata.ownerReferences?.[0]?.uid === set.metadata.uid && p;
    }, 'adopt-1 adopted');
    expect(adopted.metadata.uid).toBe(kept.metadata.uid);
    await until(() => get('adopt-0'), 'adopt-0 created');
    await settle();
    expect((await get('adopt-x')).metadata.ownerReferences).toBeUndefined();
  });

  it('rolls back to an earlier template by reusing its revision under the next number, and trims history', async () => {
    await objects.create(
      statefulset('rb', { replicas: 1, revisionHistoryLimit: 1, podManagementPolicy: 'Parallel' }),
    );
    await ready('rb-0');
    const image = async (tag: string) => {
      await objects.mutate(STS, 'default', 'rb', (s) => {
        s.spec.template.spec.containers[0].image = `registry.example/db:${tag}`;
        return s;
      });
      await until(async () => (await get('rb-0'))?.metadata.deletionTimestamp, `rb-0 deleting for ${tag}`);
      await finishDeletion('rb-0');
      await until(
        async () => (await get('rb-0'))?.spec.containers[0].image.endsWith(`:${tag}`),
        `rb-0 at ${tag}`,
      );
      await ready('rb-0');
      await until(async () => {
        const s = await getSet('rb');
        return s?.status?.currentRevision === s?.status?.updateRevision && s?.status?.readyReplicas === 1;
      }, `${tag} complete`);
      await settle();
    };
    const revisions = async () =>
      (await objects.list(CONTROLLER_REVISION, 'default')).items
        .map((r) => [r.revision, r.data.spec.template.spec.containers[0].image.split(':')[1]])
        .sort((a, b) => a[0] - b[0]);
    await image('2');
    await image('3');
    // Live: revision 3; history limit 1 keeps revision 2; revision 1 is gone.
    expect(await revisions()).toEqual([
      [2, '2'],
      [3, '3'],
    ]);
    await image('2');
    expect(await revisions()).toEqual([
      [3, '3'],
      [4, '2'],
    ]);
  });
});
