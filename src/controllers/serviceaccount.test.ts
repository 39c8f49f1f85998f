import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { ServiceAccountController } from './serviceaccount.ts';
import { type TestObjects, openTestObjects, until } from './testutil.ts';

const SA = kindFor('v1', 'ServiceAccount')!;
let t: TestObjects;
let objects: ObjectStore;
let controller: ServiceAccountController;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  controller = new ServiceAccountController({ objects });
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

describe('ServiceAccount controller', () => {
  it('gives every namespace, old and new, a default ServiceAccount, and makes it again when deleted', async () => {
    await until(() => objects.get(SA, 'default', 'default'), 'default/default');
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    const made = await until(() => objects.get(SA, 'team-a', 'default'), 'team-a/default');
    await objects.delete(SA, 'team-a', 'default');
    const again = await until(async () => {
      const sa = await objects.get(SA, 'team-a', 'default');
      return sa && sa.metadata.uid !== made.metadata.uid ? sa : undefined;
    }, 'team-a/default again');
    expect(again.metadata.namespace).toBe('team-a');
    // Other accounts are the user's: a deleted one stays deleted.
    await objects.create({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'ci', namespace: 'team-a' },
    });
    await objects.delete(SA, 'team-a', 'ci');
    await controller.whenIdle();
    expect(await objects.get(SA, 'team-a', 'ci')).toBeUndefined();
  });
});
