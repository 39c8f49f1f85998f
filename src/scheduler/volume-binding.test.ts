// The VolumeBinding plugin inside the real scheduler, with the real PV controller, over a real store.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { PersistentVolumeController } from '../controllers/persistentvolume.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import {
  NODE,
  POD,
  type TestObjects,
  condition,
  createNode,
  openTestObjects,
  podObject,
  until,
} from '../controllers/testutil.ts';
import type { ObjectStore } from '../store/objects.ts';
import { Scheduler } from './scheduler.ts';
import { REASON_NOT_ENOUGH_STORAGE, REASON_READ_WRITE_ONCE_POD } from './volume-binding.ts';

const PVC = kindFor('v1', 'PersistentVolumeClaim')!;
const PV = kindFor('v1', 'PersistentVolume')!;

let t: TestObjects;
let objects: ObjectStore;
let informers: SharedInformers;
let scheduler: Scheduler;
let controller: PersistentVolumeController;

async function node(name: string, capacity: string): Promise<void> {
  await createNode(objects, { name, labels: { 'kubernetes.io/hostname': name } });
  await objects.mutate(NODE, undefined, name, (n) => {
    n.metadata.annotations = { 'storage.strata.dev/local-capacity': capacity };
    return n;
  });
}

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  informers = new SharedInformers(objects);
  controller = new PersistentVolumeController({ objects, informers });
  scheduler = new Scheduler({
    objects,
    informers,
    initialBackoffMs: 5,
    maxBackoffMs: 20,
    retryIntervalMs: 200,
  });
  informers.start();
  await controller.start();
  await scheduler.start();
});

afterEach(async () => {
  await scheduler.stop();
  await controller.stop();
  informers.stop();
  await t.close();
});

function claim(name: string, storage: string, accessModes = ['ReadWriteOnce']): any {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'default' },
    spec: { accessModes, resources: { requests: { storage } }, storageClassName: 'local-path' },
  };
}

function podWithClaim(name: string, claimName: string): any {
  const p = podObject({ name });
  p.spec.volumes = [{ name: 'data', persistentVolumeClaim: { claimName } }];
  return p;
}

const getPod = (name: string) => objects.get(POD, 'default', name);

async function unschedulableMessage(name: string): Promise<string> {
  return until(async () => {
    const c = condition(await getPod(name), 'PodScheduled');
    return c?.status === 'False' && c.message;
  }, `${name} unschedulable`);
}

describe('VolumeBinding', () => {
  it('puts a WaitForFirstConsumer claim on the node that has room, provisions there, and keeps later pods with it', async () => {
    await node('small', '1Gi');
    await node('big', '20Gi');
    await objects.create(claim('data', '5Gi'));
    await objects.create(podWithClaim('first', 'data'));
    const nodeName = await until(async () => (await getPod('first'))?.spec.nodeName, 'first bound');
    expect(nodeName).toBe('big');
    const bound = await until(async () => {
      const c = await objects.get(PVC, 'default', 'data');
      return c?.status?.phase === 'Bound' && c;
    }, 'claim bound');
    expect(bound.metadata.annotations['volume.kubernetes.io/selected-node']).toBe('big');
    const pv = await objects.get(PV, undefined, bound.spec.volumeName);
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values).toEqual(['big']);
    // A second pod of the same claim goes where the volume is, even though both nodes could run it.
    await objects.create(podWithClaim('second', 'data'));
    expect(await until(async () => (await getPod('second'))?.spec.nodeName, 'second bound')).toBe('big');
  });

  it('keeps a pod whose claim is larger than any node can hold Pending, with the reason', async () => {
    await node('n1', '10Gi');
    await objects.create(claim('huge', '100Ti'));
    await objects.create(podWithClaim('p', 'huge'));
    const message = await unschedulableMessage('p');
    expect(message).toBe(`0/1 nodes are available: 1 ${REASON_NOT_ENOUGH_STORAGE}.`);
    expect((await getPod('p')).spec.nodeName).toBeUndefined();
    expect((await objects.get(PVC, 'default', 'huge')).status?.phase).toBe('Pending');
  });

  it('counts the volumes already on a node against its capacity', async () => {
    await node('n1', '3Gi');
    await objects.create(claim('a', '2Gi'));
    await objects.create(claim('b', '2Gi'));
    await objects.create(podWithClaim('pa', 'a'));
    await until(async () => (await getPod('pa'))?.spec.nodeName, 'pa bound');
    await objects.create(podWithClaim('pb', 'b'));
    expect(await unschedulableMessage('pb')).toContain(REASON_NOT_ENOUGH_STORAGE);
  });

  it('keeps a second pod of a ReadWriteOncePod claim Pending, and says why', async () => {
    await node('n1', '10Gi');
    await objects.create(claim('solo', '1Gi', ['ReadWriteOncePod']));
    await objects.create(podWithClaim('one', 'solo'));
    await until(async () => (await getPod('one'))?.spec.nodeName, 'one bound');
    await objects.create(podWithClaim('two', 'solo'));
    expect(await unschedulableMessage('two')).toContain(REASON_READ_WRITE_ONCE_POD);
    // Once the first pod is gone, the second one runs.
    await objects.delete(POD, 'default', 'one', { gracePeriodSeconds: 0 });
    expect(await until(async () => (await getPod('two'))?.spec.nodeName, 'two bound')).toBe('n1');
  });

  it('waits for a missing claim, naming it', async () => {
    await node('n1', '10Gi');
    await objects.create(podWithClaim('p', 'nope'));
    expect(await unschedulableMessage('p')).toContain('persistentvolumeclaim "nope" not found');
    await objects.create(claim('nope', '1Gi'));
    expect(await until(async () => (await getPod('p'))?.spec.nodeName, 'bound once the claim exists')).toBe(
      'n1',
    );
  });
});
