import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { FOREGROUND_FINALIZER, GarbageCollector, ORPHAN_FINALIZER } from './gc.ts';
import { NamespaceController } from './namespace.ts';
import {
  CONFIGMAP,
  DEPLOYMENT,
  NAMESPACE,
  POD,
  type TestObjects,
  openTestObjects,
  podObject,
  until,
} from './testutil.ts';

let t: TestObjects;
let objects: ObjectStore;
const stops: (() => Promise<void>)[] = [];

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await t.close();
});

async function startGc(): Promise<GarbageCollector> {
  const gc = new GarbageCollector({ objects });
  stops.push(() => gc.stop());
  await gc.start();
  return gc;
}

function owned(obj: any, owner: { apiVersion: string; kind: string; name: string; uid: string }): any {
  return { ...obj, metadata: { ...obj.metadata, ownerReferences: [{ ...owner, controller: true }] } };
}

const configMap = (name: string, namespace = 'default') => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: { k: 'v' },
});

const deployment = (name: string, namespace = 'default') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'c', image: 'registry.example/c:1' }] },
    },
  },
});

describe('GarbageCollector', () => {
  it('deletes dependents when their owner is deleted, and keeps objects whose owner exists', async () => {
    const gc = await startGc();
    const d = await objects.create(deployment('web'));
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid };
    await objects.create(owned(podObject({ name: 'web-1' }), ref));
    await objects.create(owned(configMap('web-config'), ref));
    await objects.create(configMap('unowned'));
    await gc.whenIdle();
    expect(await objects.get(POD, 'default', 'web-1')).toBeDefined();

    await objects.delete(DEPLOYMENT, 'default', 'web');
    await until(async () => !(await objects.get(POD, 'default', 'web-1')), 'pod collected');
    await until(async () => !(await objects.get(CONFIGMAP, 'default', 'web-config')), 'configmap collected');
    expect(await objects.get(CONFIGMAP, 'default', 'unowned')).toBeDefined();
  });

  it('collects orphans that existed before it started, but not children of a same-named new owner', async () => {
    await objects.create(
      owned(configMap('orphan'), {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'gone',
        uid: 'no-such-uid',
      }),
    );
    const d = await objects.create(deployment('again'));
    await objects.create(
      owned(configMap('stale-child'), {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'again',
        uid: 'uid-of-an-older-again',
      }),
    );
    await objects.create(
      owned(configMap('live-child'), {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'again',
        uid: d.metadata.uid,
      }),
    );
    const gc = await startGc();
    await until(async () => !(await objects.get(CONFIGMAP, 'default', 'orphan')), 'orphan collected');
    await until(
      async () => !(await objects.get(CONFIGMAP, 'default', 'stale-child')),
      'stale child collected',
    );
    await gc.whenIdle();
    expect(await objects.get(CONFIGMAP, 'default', 'live-child')).toBeDefined();
  });

  it('cascades through several levels', async () => {
    await startGc();
    const top = await objects.create(configMap('top'));
    const mid = await objects.create(
      owned(configMap('mid'), { apiVersion: 'v1', kind: 'ConfigMap', name: 'top', uid: top.metadata.uid }),
    );
    await objects.create(
      owned(configMap('leaf'), { apiVersion: 'v1', kind: 'ConfigMap', name: 'mid', uid: mid.metadata.uid }),
    );
    await objects.delete(CONFIGMAP, 'default', 'top');
    await until(async () => !(await objects.get(CONFIGMAP, 'default', 'leaf')), 'leaf collected');
    expect(await objects.get(CONFIGMAP, 'default', 'mid')).toBeUndefined();
  });

  // The API server turns propagationPolicy Orphan/Foreground into these finalizers on the owner.
  const withFinalizer = (obj: any, finalizer: string) => ({
    ...obj,
    metadata: { ...obj.metadata, finalizers: [finalizer] },
  });

  it('orphan: the owner goes, its dependents stay without the reference to it', async () => {
    await startGc();
    const owner = await objects.create(withFinalizer(configMap('owner'), ORPHAN_FINALIZER));
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid };
    const other = await objects.create(configMap('other-owner'));
    const otherRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'other-owner', uid: other.metadata.uid };
    await objects.create(owned(configMap('kept'), ref));
    await objects.create({
      ...configMap('two-owners'),
      metadata: { name: 'two-owners', namespace: 'default', ownerReferences: [ref, otherRef] },
    });
    await objects.delete(CONFIGMAP, 'default', 'owner');
    await until(async () => !(await objects.get(CONFIGMAP, 'default', 'owner')), 'owner deleted');
    const kept = await objects.get(CONFIGMAP, 'default', 'kept');
    expect(kept).toBeDefined();
    expect(kept.metadata.ownerReferences).toBeUndefined();
    const two = await objects.get(CONFIGMAP, 'default', 'two-owners');
    expect(two.metadata.ownerReferences.map((r: any) => r.name)).toEqual(['other-owner']);
  });

  it('foreground: the dependents go first, the owner last', async () => {
    const gc = await startGc();
    const owner = await objects.create(withFinalizer(configMap('fg-owner'), FOREGROUND_FINALIZER));
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'fg-owner', uid: owner.metadata.uid };
    // A dependent that holds on (its own finalizer) keeps the owner waiting.
    await objects.create(owned(withFinalizer(configMap('slow'), 'example.com/hold'), ref));
    await objects.create(owned(configMap('fast'), ref));
    await objects.delete(CONFIGMAP, 'default', 'fg-owner');
    await until(async () => !(await objects.get(CONFIGMAP, 'default', 'fast')), 'fast dependent deleted');
    await gc.whenIdle();
    const waiting = await objects.get(CONFIGMAP, 'default', 'fg-owner');
    expect(waiting?.metadata.deletionTimestamp).toBeTruthy();
    expect((await objects.get(CONFIGMAP, 'default', 'slow'))?.metadata.deletionTimestamp).toBeTruthy();
    // The slow dependent finishes: the owner follows.
    await objects.mutate(CONFIGMAP, 'default', 'slow', (o) => ({
      ...o,
      metadata: { ...o.metadata, finalizers: [] },
    }));
    await until(async () => !(await objects.get(CONFIGMAP, 'default', 'fg-owner')), 'owner deleted last');
  });
});

describe('NamespaceController', () => {
  it('deleting a namespace deletes everything in it, then the namespace', async () => {
    const nc = new NamespaceController({ objects, recheckMs: 10 });
    stops.push(() => nc.stop());
    await nc.start();
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
    const ns = await until(async () => {
      const n = await objects.get(NAMESPACE, undefined, 'team');
      return n?.metadata.finalizers?.includes('kubernetes') && n.status?.phase === 'Active' && n;
    }, 'namespace finalizer and phase');
    expect(ns.metadata.finalizers).toEqual(['kubernetes']);
    await objects.create(configMap('cfg', 'team'));
    await objects.create(deployment('app', 'team'));
    await objects.create(podObject({ name: 'p', namespace: 'team' }));
    await objects.create(configMap('keep', 'default'));

    await objects.delete(NAMESPACE, undefined, 'team');
    // Terminating until its contents are gone; nothing new may be created in it meanwhile.
    await until(async () => !(await objects.get(NAMESPACE, undefined, 'team')), 'namespace gone');
    for (const kind of [CONFIGMAP, DEPLOYMENT, POD])
      expect((await objects.list(kind, 'team')).items).toEqual([]);
    expect(await objects.get(CONFIGMAP, 'default', 'keep')).toBeDefined();
  });

  it('cleans up a namespace that was deleted before it got the finalizer', async () => {
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'quick' } });
    await objects.create(configMap('cfg', 'quick'));
    await objects.delete(NAMESPACE, undefined, 'quick'); // no finalizer: gone at once, contents left behind
    expect((await objects.list(CONFIGMAP, 'quick')).items).toHaveLength(1);
    const nc = new NamespaceController({ objects });
    stops.push(() => nc.stop());
    await nc.start();
    await until(async () => (await objects.list(CONFIGMAP, 'quick')).items.length === 0, 'contents deleted');
  });
});
