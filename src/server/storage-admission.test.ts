import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { builtinLocalPathStorageClass, kindFor } from '../api/index.ts';
import { type TestObjects, openTestObjects } from '../controllers/testutil.ts';
import { installStorageAdmission } from './storage-admission.ts';

const PVC = kindFor('v1', 'PersistentVolumeClaim')!;
const SC = kindFor('storage.k8s.io/v1', 'StorageClass')!;

let t: TestObjects;
beforeEach(async () => {
  t = await openTestObjects();
  installStorageAdmission(t.objects);
});
afterEach(() => t.close());

const claim = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace: 'default' },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...extra },
});

describe('storage admission', () => {
  it('gives a new claim the default class, and only when it names none', async () => {
    expect((await t.objects.create(claim('before'))).spec.storageClassName).toBeUndefined();
    await t.objects.create(builtinLocalPathStorageClass());
    expect((await t.objects.create(claim('after'))).spec.storageClassName).toBe('local-path');
    expect((await t.objects.create(claim('none', { storageClassName: '' }))).spec.storageClassName).toBe('');
  });

  it('refuses spec changes and growth the class does not allow, with the field named; changes nothing', async () => {
    await t.objects.create(builtinLocalPathStorageClass());
    await t.objects.create({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'fixed' },
      provisioner: 'strata.dev/local-path',
    });
    const c = await t.objects.create(claim('fixed', { storageClassName: 'fixed' }));
    await t.objects.updateStatus(PVC, 'default', 'fixed', { status: { phase: 'Bound' } });
    const grow = (name: string, storage: string) =>
      t.objects.mutate(PVC, 'default', name, (x) => {
        x.spec.resources.requests.storage = storage;
        return x;
      });
    await expect(grow('fixed', '2Gi')).rejects.toMatchObject({
      code: 422,
      status: {
        details: { causes: [expect.objectContaining({ field: 'spec.resources.requests.storage' })] },
      },
    });
    expect((await t.objects.get(PVC, 'default', 'fixed')).spec.resources.requests.storage).toBe('1Gi');
    await t.objects.create(claim('growing'));
    await t.objects.updateStatus(PVC, 'default', 'growing', { status: { phase: 'Bound' } });
    expect((await grow('growing', '3Gi')).spec.resources.requests.storage).toBe('3Gi');
    await expect(
      t.objects.mutate(PVC, 'default', 'growing', (x) => ({
        ...x,
        spec: { ...x.spec, accessModes: ['ReadWriteMany'] },
      })),
    ).rejects.toMatchObject({ code: 422 });
    expect(c.metadata.uid).toBeDefined();
    await expect(
      t.objects.mutate(SC, undefined, 'fixed', (x) => ({ ...x, provisioner: 'other.io/x' })),
    ).rejects.toMatchObject({ code: 422 });
  });
});
