import { describe, expect, it } from 'vitest';
import { columnsFor, rowCells } from '../columns.ts';
import { resolveKind } from '../registry.ts';
import {
  nodeAffinityFor,
  persistentVolumeUpdateCauses,
  volumeNodeName,
  type PersistentVolume,
} from './persistentvolume.ts';
import { invalid, valid } from './testing.ts';

const pv = (spec: Record<string, unknown>, name = 'pv1'): any => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name },
  spec: {
    capacity: { storage: '1Gi' },
    accessModes: ['ReadWriteOnce'],
    csi: { driver: 'strata.dev/local-path', volumeHandle: 'pvc-1' },
    nodeAffinity: nodeAffinityFor('node-a'),
    ...spec,
  },
});

describe('PersistentVolume', () => {
  it('is cluster-scoped, answers to pv, defaults Retain and Filesystem', () => {
    expect(resolveKind('pv')).toMatchObject({ kind: 'PersistentVolume', namespaced: false });
    const v = valid({ ...pv({}), metadata: { name: 'pv1', namespace: 'default' } });
    expect(v.metadata.namespace).toBeUndefined();
    expect(v.spec).toMatchObject({ persistentVolumeReclaimPolicy: 'Retain', volumeMode: 'Filesystem' });
    expect(volumeNodeName(v)).toBe('node-a');
  });

  it('requires capacity, access modes and exactly one volume type', () => {
    expect(invalid(pv({ capacity: undefined }))[0]).toMatchObject({
      field: 'spec.capacity',
      reason: 'FieldValueRequired',
    });
    expect(invalid(pv({ accessModes: [] }))[0].field).toBe('spec.accessModes');
    expect(invalid(pv({ csi: undefined }))[0]).toMatchObject({ field: 'spec', reason: 'FieldValueRequired' });
    expect(invalid(pv({ local: { path: '/srv/a' } }))[0]).toMatchObject({
      field: 'spec.local',
      message: 'Forbidden: may not specify more than 1 volume type',
    });
    expect(
      invalid(pv({ csi: undefined, local: { path: '/srv/a' }, nodeAffinity: undefined }))[0],
    ).toMatchObject({
      field: 'spec.nodeAffinity',
      message: 'Required value: Local volume requires node affinity',
    });
    expect(invalid(pv({ persistentVolumeReclaimPolicy: 'Recycle' }))[0].field).toBe(
      'spec.persistentVolumeReclaimPolicy',
    );
  });

  it('keeps its source fixed on update', () => {
    const a: PersistentVolume = valid(pv({}));
    const b = structuredClone(a);
    b.spec.csi!.volumeHandle = 'other';
    expect(persistentVolumeUpdateCauses(b, a)[0].field).toBe('spec.persistentvolumesource');
    const c = structuredClone(a);
    c.spec.capacity = { storage: '2Gi' };
    c.spec.persistentVolumeReclaimPolicy = 'Delete';
    expect(persistentVolumeUpdateCauses(c, a)).toEqual([]);
  });

  it('prints kubectl columns', () => {
    const v = valid(pv({ claimRef: { namespace: 'default', name: 'data' }, storageClassName: 'local-path' }));
    v.status = { phase: 'Bound' };
    expect(rowCells(columnsFor('PersistentVolume'), v).slice(0, 7)).toEqual([
      'pv1',
      '1Gi',
      'RWO',
      'Retain',
      'Bound',
      'default/data',
      'local-path',
    ]);
  });
});
