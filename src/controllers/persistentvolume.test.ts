import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor, SELECTED_NODE_ANNOTATION } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { PersistentVolumeController } from './persistentvolume.ts';
import { NODE, POD, type TestObjects, openTestObjects, podObject, until } from './testutil.ts';

const PVC = kindFor('v1', 'PersistentVolumeClaim')!;
const PV = kindFor('v1', 'PersistentVolume')!;
const SC = kindFor('storage.k8s.io/v1', 'StorageClass')!;

let t: TestObjects;
let objects: ObjectStore;
let controller: PersistentVolumeController;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  controller = new PersistentVolumeController({ objects });
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

function claim(name: string, spec: Record<string, unknown> = {}, annotations?: Record<string, string>): any {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'default', ...(annotations ? { annotations } : {}) },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
  };
}

const getClaim = (name: string) => objects.get(PVC, 'default', name);

async function boundClaim(name: string): Promise<any> {
  return until(async () => {
    const c = await getClaim(name);
    return c?.status?.phase === 'Bound' && c;
  }, `claim ${name} bound`);
}

describe('PersistentVolumeController', () => {
  it('creates the default local-path class, fills it in and waits for the first consumer', async () => {
    const sc = await objects.get(SC, undefined, 'local-path');
    expect(sc).toMatchObject({
      provisioner: 'strata.dev/local-path',
      volumeBindingMode: 'WaitForFirstConsumer',
    });
    await objects.create(claim('data'));
    const c = await until(async () => {
      const c = await getClaim('data');
      return c?.spec.storageClassName === 'local-path' && c.status?.phase === 'Pending' && c;
    }, 'default class and Pending');
    expect(c.metadata.finalizers).toContain('kubernetes.io/pvc-protection');
    expect((await objects.list(PV)).items).toHaveLength(0);
  });

  it('provisions on the selected node, binds both sides, and reclaims with Delete', async () => {
    await objects.create(claim('data', {}, { [SELECTED_NODE_ANNOTATION]: 'node-a' }));
    const c = await boundClaim('data');
    const pv = await objects.get(PV, undefined, c.spec.volumeName);
    expect(pv.metadata.name).toBe(`pvc-${c.metadata.uid}`);
    expect(pv.spec).toMatchObject({
      csi: { driver: 'strata.dev/local-path', volumeHandle: pv.metadata.name },
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'local-path',
      claimRef: { name: 'data', namespace: 'default', uid: c.metadata.uid },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-a'] }] },
          ],
        },
      },
    });
    expect(c.status).toMatchObject({ capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'] });
    await until(
      async () => (await objects.get(PV, undefined, pv.metadata.name))?.status?.phase === 'Bound',
      'PV Bound',
    );
    await objects.delete(PVC, 'default', 'data');
    await until(async () => !(await objects.get(PV, undefined, pv.metadata.name)), 'PV deleted');
    expect(await getClaim('data')).toBeUndefined();
  });

  it('keeps a Retain volume Released, and binds a matching static volume', async () => {
    await objects.create({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'static', labels: { tier: 'gold' } },
      spec: {
        capacity: { storage: '5Gi' },
        accessModes: ['ReadWriteOnce', 'ReadOnlyMany'],
        hostPath: { path: '/srv/static' },
        storageClassName: '',
      },
    });
    await until(
      async () => (await objects.get(PV, undefined, 'static'))?.status?.phase === 'Available',
      'Available',
    );
    await objects.create(
      claim('too-big', { storageClassName: '', resources: { requests: { storage: '10Gi' } } }),
    );
    await objects.create(
      claim('fits', { storageClassName: '', selector: { matchLabels: { tier: 'gold' } } }),
    );
    const c = await boundClaim('fits');
    expect(c.spec.volumeName).toBe('static');
    expect(c.status.capacity.storage).toBe('5Gi');
    expect((await getClaim('too-big')).status?.phase).toBe('Pending');
    await objects.delete(PVC, 'default', 'fits');
    await until(
      async () => (await objects.get(PV, undefined, 'static'))?.status?.phase === 'Released',
      'Released',
    );
  });

  it('does not let a claim go while a running pod uses it', async () => {
    await objects.create(claim('data', {}, { [SELECTED_NODE_ANNOTATION]: 'node-a' }));
    await boundClaim('data');
    const pod = podObject({ name: 'user', nodeName: 'node-a' });
    pod.spec.volumes = [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }];
    await objects.create(pod);
    await objects.delete(PVC, 'default', 'data');
    await new Promise((r) => setTimeout(r, 300));
    await controller.whenIdle();
    const held = await getClaim('data');
    expect(held.metadata.deletionTimestamp).toBeDefined();
    expect(held.metadata.finalizers).toContain('kubernetes.io/pvc-protection');
    await objects.delete(POD, 'default', 'user', { gracePeriodSeconds: 0 });
    await until(async () => !(await getClaim('data')), 'claim gone once the pod is');
  });

  it('provisions on the node of a pod placed by hand (spec.nodeName) using the claim', async () => {
    await objects.create(claim('data'));
    const pod = podObject({ name: 'pinned', nodeName: 'node-b' });
    pod.spec.volumes = [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }];
    await objects.create(pod);
    const c = await boundClaim('data');
    const pv = await objects.get(PV, undefined, c.spec.volumeName);
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values).toEqual(['node-b']);
  });

  it('grows the volume of a bound claim when the class allows it', async () => {
    await objects.create(claim('data', {}, { [SELECTED_NODE_ANNOTATION]: 'node-a' }));
    const c = await boundClaim('data');
    await objects.mutate(PVC, 'default', 'data', (x) => {
      x.spec.resources.requests.storage = '2Gi';
      return x;
    });
    await until(
      async () => (await objects.get(PV, undefined, c.spec.volumeName))?.spec.capacity.storage === '2Gi',
      'PV grown',
    );
    const resizing = await until(async () => {
      const x = await getClaim('data');
      return x.status?.conditions?.some((k: any) => k.type === 'FileSystemResizePending') && x;
    }, 'FileSystemResizePending');
    expect(resizing.status.capacity.storage).toBe('1Gi'); // until the node has grown the filesystem
  });

  it('provisions Immediate claims on the node with the most free local storage', async () => {
    await objects.create({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'now' },
      provisioner: 'strata.dev/local-path',
    });
    for (const [name, cap] of [
      ['small', '2Gi'],
      ['big', '50Gi'],
    ])
      await objects.create({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name, annotations: { 'storage.strata.dev/local-capacity': cap } },
      });
    expect((await objects.list(NODE)).items).toHaveLength(2);
    await objects.create(claim('data', { storageClassName: 'now' }));
    const c = await boundClaim('data');
    const pv = await objects.get(PV, undefined, c.spec.volumeName);
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values).toEqual(['big']);
  });

  it('makes the claim of an ephemeral volume, owned by the pod', async () => {
    const pod = podObject({ name: 'web' });
    pod.spec.volumes = [
      {
        name: 'scratch',
        ephemeral: {
          volumeClaimTemplate: {
            metadata: { labels: { kind: 'scratch' } },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
          },
        },
      },
    ];
    const created = await objects.create(pod);
    const c = await until(() => getClaim('web-scratch'), 'ephemeral claim');
    expect(c.metadata.labels).toEqual({ kind: 'scratch' });
    expect(c.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Pod', name: 'web', uid: created.metadata.uid, controller: true }),
    ]);
  });
});
