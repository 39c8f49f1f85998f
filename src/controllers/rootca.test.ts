import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { RootCAPublisher, ROOT_CA_CONFIG_MAP } from './rootca.ts';
import { type TestObjects, openTestObjects, until } from './testutil.ts';

const CM = kindFor('v1', 'ConfigMap')!;
const CA = '-----BEGIN CERTIFICATE-----\nMIIB...test-ca\n-----END CERTIFICATE-----\n';
let t: TestObjects;
let objects: ObjectStore;
let controller: RootCAPublisher;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

describe('root CA publisher', () => {
  it('puts kube-root-ca.crt in every namespace, old and new, and keeps it current', async () => {
    controller = new RootCAPublisher({ objects, caCert: CA });
    await controller.start();
    const first = await until(
      () => objects.get(CM, 'default', ROOT_CA_CONFIG_MAP),
      'default/kube-root-ca.crt',
    );
    expect(first.data).toEqual({ 'ca.crt': CA });
    expect(first.metadata.annotations['kubernetes.io/description']).toMatch(/verify the kube-apiserver/);

    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    await until(() => objects.get(CM, 'team-a', ROOT_CA_CONFIG_MAP), 'team-a/kube-root-ca.crt');

    // Edited: the data comes back, a label someone added stays.
    const edited = structuredClone(first);
    edited.data = { 'ca.crt': 'tampered', extra: 'x' };
    edited.metadata.labels = { team: 'a' };
    await objects.update(edited, 'default');
    const restored = await until(async () => {
      const cm = await objects.get(CM, 'default', ROOT_CA_CONFIG_MAP);
      return cm?.data['ca.crt'] === CA ? cm : undefined;
    }, 'restored data');
    expect(restored.data).toEqual({ 'ca.crt': CA });
    expect(restored.metadata.labels).toEqual({ team: 'a' });

    // Deleted: made again.
    await objects.delete(CM, 'team-a', ROOT_CA_CONFIG_MAP);
    await until(() => objects.get(CM, 'team-a', ROOT_CA_CONFIG_MAP), 'team-a/kube-root-ca.crt again');
    await controller.stop();

    // A renewed CA reaches the ConfigMaps at the next start.
    controller = new RootCAPublisher({ objects, caCert: `${CA}renewed\n` });
    await controller.start();
    await until(async () => {
      const cm = await objects.get(CM, 'team-a', ROOT_CA_CONFIG_MAP);
      return cm?.data['ca.crt'] === `${CA}renewed\n`;
    }, 'renewed CA');
  });
});
