import { describe, expect, it } from 'vitest';
import { columnsFor, rowCells } from '../columns.ts';
import { resolveKind } from '../registry.ts';
import {
  persistentVolumeClaimUpdateCauses,
  podVolumeClaimName,
  type PersistentVolumeClaim,
} from './persistentvolumeclaim.ts';
import { invalid, podWith, valid } from './testing.ts';

const pvc = (spec: Record<string, unknown>, name = 'data'): any => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace: 'default' },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
});

describe('PersistentVolumeClaim', () => {
  it('is namespaced, answers to pvc, and defaults volumeMode', () => {
    expect(resolveKind('pvc')).toMatchObject({
      kind: 'PersistentVolumeClaim',
      namespaced: true,
      hasStatus: true,
    });
    const c = valid(pvc({}));
    expect(c.spec.volumeMode).toBe('Filesystem');
    expect(c.spec.storageClassName).toBeUndefined();
  });

  it('requires access modes and a storage request, with kube-apiserver wording', () => {
    expect(invalid(pvc({ accessModes: [] }))).toEqual([
      {
        field: 'spec.accessModes',
        reason: 'FieldValueRequired',
        message: 'Required value: at least 1 access mode is required',
      },
    ]);
    expect(invalid(pvc({ resources: {} }))).toEqual([
      { field: 'spec.resources.requests.storage', reason: 'FieldValueRequired', message: 'Required value' },
    ]);
    expect(invalid(pvc({ resources: { requests: { storage: '0' } } }))[0].message).toContain(
      'must be greater than zero',
    );
    expect(invalid(pvc({ resources: { requests: { storage: 'lots' } } }))[0].field).toBe(
      'spec.resources.requests.storage',
    );
  });

  it('knows the four access modes and keeps ReadWriteOncePod alone', () => {
    for (const m of ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'])
      expect(valid(pvc({ accessModes: [m] })).spec.accessModes).toEqual([m]);
    expect(invalid(pvc({ accessModes: ['ReadWriteSometimes'] }))[0]).toMatchObject({
      field: 'spec.accessModes[0]',
      reason: 'FieldValueNotSupported',
    });
    expect(invalid(pvc({ accessModes: ['ReadWriteOncePod', 'ReadWriteOnce'] }))[0]).toMatchObject({
      field: 'spec.accessModes',
      message: 'Forbidden: may not use ReadWriteOncePod with other access modes',
    });
  });

  it('refuses block volumes (Strata mounts filesystems) and unknown fields', () => {
    expect(invalid(pvc({ volumeMode: 'Block' }))[0].field).toBe('spec.volumeMode');
    expect(invalid(pvc({ storageClass: 'x' }))[0].field).toBe('spec.storageClass');
  });

  it('prints kubectl columns', () => {
    const c = valid(pvc({ storageClassName: 'local-path', volumeName: 'pvc-1' }));
    c.status = { phase: 'Bound', capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOncePod'] };
    const cols = columnsFor('PersistentVolumeClaim');
    expect(cols.map((x) => x.name).slice(0, 6)).toEqual([
      'Name',
      'Status',
      'Volume',
      'Capacity',
      'Access Modes',
      'StorageClass',
    ]);
    expect(rowCells(cols, c).slice(0, 6)).toEqual(['data', 'Bound', 'pvc-1', '1Gi', 'RWOP', 'local-path']);
  });
});

describe('persistentVolumeClaimUpdateCauses', () => {
  const base = (): PersistentVolumeClaim => valid(pvc({ storageClassName: 'local-path' }));
  const bound = (): PersistentVolumeClaim => ({ ...base(), status: { phase: 'Bound' } });
  const withSize = (c: PersistentVolumeClaim, storage: string): PersistentVolumeClaim => {
    const n = structuredClone(c);
    n.spec.resources!.requests!.storage = storage;
    return n;
  };

  it('keeps the spec immutable, except volumeName set once', () => {
    const next = structuredClone(base());
    next.spec.accessModes = ['ReadWriteMany'];
    expect(persistentVolumeClaimUpdateCauses(next, base(), true)).toEqual([
      {
        field: 'spec',
        reason: 'FieldValueForbidden',
        message:
          'Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
      },
    ]);
    const named = structuredClone(base());
    named.spec.volumeName = 'pvc-1';
    expect(persistentVolumeClaimUpdateCauses(named, base(), true)).toEqual([]);
    const renamed = structuredClone(named);
    renamed.spec.volumeName = 'pvc-2';
    expect(persistentVolumeClaimUpdateCauses(renamed, named, true)[0].field).toBe('spec');
  });

  it('lets a bound claim grow when its class allows expansion, never shrink', () => {
    expect(persistentVolumeClaimUpdateCauses(withSize(bound(), '2Gi'), bound(), true)).toEqual([]);
    expect(persistentVolumeClaimUpdateCauses(withSize(bound(), '2Gi'), bound(), false)[0]).toMatchObject({
      field: 'spec.resources.requests.storage',
      message: expect.stringContaining('storageclass that provisions the pvc must support resize'),
    });
    expect(persistentVolumeClaimUpdateCauses(withSize(bound(), '512Mi'), bound(), true)[0].message).toBe(
      'Forbidden: field can not be less than previous value',
    );
    // An unbound claim's size is part of its immutable spec.
    expect(persistentVolumeClaimUpdateCauses(withSize(base(), '2Gi'), base(), true)[0].field).toBe('spec');
  });
});

describe('pod volumes', () => {
  it('accepts persistentVolumeClaim and ephemeral volumes, one type per volume', () => {
    const p = valid(
      podWith({
        volumes: [
          { name: 'data', persistentVolumeClaim: { claimName: 'data', readOnly: true } },
          {
            name: 'scratch',
            ephemeral: {
              volumeClaimTemplate: {
                spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
              },
            },
          },
        ],
      }),
    );
    expect(podVolumeClaimName('p', p.spec.volumes[0])).toBe('data');
    expect(podVolumeClaimName('p', p.spec.volumes[1])).toBe('p-scratch');
    expect(
      invalid(
        podWith({ volumes: [{ name: 'x', persistentVolumeClaim: { claimName: 'a' }, emptyDir: {} }] }),
      )[0],
    ).toMatchObject({ reason: 'FieldValueForbidden' });
    expect(
      invalid(
        podWith({
          volumes: [
            { name: 'x', ephemeral: { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'] } } } },
          ],
        }),
      )[0].field,
    ).toBe('spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources.requests.storage');
  });
});
