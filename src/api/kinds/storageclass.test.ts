import { describe, expect, it } from 'vitest';
import { columnsFor, rowCells } from '../columns.ts';
import { resolveKind } from '../registry.ts';
import {
  builtinLocalPathStorageClass,
  defaultStorageClass,
  storageClassUpdateCauses,
  type StorageClass,
} from './storageclass.ts';
import { invalid, valid } from './testing.ts';

const sc = (extra: Record<string, unknown> = {}, name = 'fast'): any => ({
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name },
  provisioner: 'example.com/fast',
  ...extra,
});

describe('StorageClass', () => {
  it('is cluster-scoped, answers to sc, defaults like Kubernetes', () => {
    expect(resolveKind('sc')).toMatchObject({
      kind: 'StorageClass',
      group: 'storage.k8s.io',
      namespaced: false,
    });
    expect(valid(sc())).toMatchObject({ reclaimPolicy: 'Delete', volumeBindingMode: 'Immediate' });
    expect(invalid(sc({ provisioner: undefined }))[0].field).toBe('provisioner');
    expect(invalid(sc({ volumeBindingMode: 'Later' }))[0].field).toBe('volumeBindingMode');
  });

  it('the built-in local-path class validates and is the default', () => {
    const local = valid(builtinLocalPathStorageClass());
    expect(local).toMatchObject({
      provisioner: 'strata.dev/local-path',
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Delete',
      allowVolumeExpansion: true,
    });
    expect(defaultStorageClass([valid(sc()), local])?.metadata.name).toBe('local-path');
    expect(defaultStorageClass([valid(sc())])).toBeUndefined();
    expect(rowCells(columnsFor('StorageClass'), local).slice(0, 5)).toEqual([
      'local-path (default)',
      'strata.dev/local-path',
      'Delete',
      'WaitForFirstConsumer',
      'true',
    ]);
  });

  it('picks the newest when several are marked default', () => {
    const mark = (name: string) => valid(sc({}, name)) as StorageClass;
    const a = mark('a');
    const b = mark('b');
    a.metadata.annotations = { 'storageclass.kubernetes.io/is-default-class': 'true' };
    b.metadata.annotations = { 'storageclass.kubernetes.io/is-default-class': 'true' };
    a.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
    b.metadata.creationTimestamp = '2026-02-01T00:00:00Z';
    expect(defaultStorageClass([a, b])?.metadata.name).toBe('b');
  });

  it('refuses changes to provisioner, parameters, reclaimPolicy and binding mode', () => {
    const a: StorageClass = valid(sc());
    const b = { ...structuredClone(a), provisioner: 'x.io/y', reclaimPolicy: 'Retain' as const };
    expect(storageClassUpdateCauses(b, a).map((c) => c.field)).toEqual(['provisioner', 'reclaimPolicy']);
    expect(storageClassUpdateCauses({ ...structuredClone(a), allowVolumeExpansion: true }, a)).toEqual([]);
  });
});
