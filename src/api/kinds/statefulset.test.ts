import { describe, expect, it } from 'vitest';
import { columnsFor, rowCells } from '../columns.ts';
import { kindFor, resolveKind } from '../registry.ts';
import { hasScaleSubresource } from '../subresources.ts';
import { statefulSetUpdateCauses } from './statefulset.ts';
import { invalid, valid } from './testing.ts';

const sts = (spec: Record<string, unknown> = {}, labels: Record<string, string> = { app: 'db' }) => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'db', namespace: 'default' },
  spec: {
    serviceName: 'db',
    selector: { matchLabels: { app: 'db' } },
    template: {
      metadata: { labels },
      spec: { containers: [{ name: 'db', image: 'busybox:1.36', command: ['sleep', '1d'] }] },
    },
    ...spec,
  },
});

const claim = (name: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...extra },
});

describe('StatefulSet', () => {
  it('is served as apps/v1 statefulsets (short name sts) with status and scale subresources', () => {
    const kind = kindFor('apps/v1', 'StatefulSet')!;
    expect(kind).toMatchObject({
      plural: 'statefulsets',
      shortNames: ['sts'],
      namespaced: true,
      hasStatus: true,
    });
    expect(resolveKind('sts')).toBe(kind);
    expect(resolveKind('statefulsets.apps')).toBe(kind);
    expect(hasScaleSubresource(kind)).toBe(true);
  });

  it('defaults as Kubernetes does: OrderedReady, RollingUpdate with partition 0, Retain/Retain, history 10', () => {
    const s = valid(sts({ volumeClaimTemplates: [claim('data')] }));
    expect(s.spec).toMatchObject({
      replicas: 1,
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      revisionHistoryLimit: 10,
      minReadySeconds: 0,
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
    });
    expect(s.spec.updateStrategy.rollingUpdate.maxUnavailable).toBeUndefined();
    expect(s.spec.template.spec.restartPolicy).toBe('Always');
    expect(s.spec.volumeClaimTemplates[0].spec.volumeMode).toBe('Filesystem');
    expect(valid(sts({ updateStrategy: { type: 'OnDelete' } })).spec.updateStrategy).toEqual({
      type: 'OnDelete',
    });
    expect(valid(sts({ ordinals: {} })).spec.ordinals).toEqual({ start: 0 });
  });

  it('refuses bad input with the field named', () => {
    expect(invalid(sts({}, { app: 'other' }))[0]).toMatchObject({
      field: 'spec.template.metadata.labels',
      message: 'Invalid value: {"app":"other"}: `selector` does not match template `labels`',
    });
    expect(invalid(sts({ selector: {} }))[0]).toMatchObject({
      field: 'spec.selector',
      message: 'Invalid value: {}: empty selector is invalid for statefulset',
    });
    expect(invalid(sts({ podManagementPolicy: 'Burst' }))[0].field).toBe('spec.podManagementPolicy');
    expect(
      invalid(sts({ updateStrategy: { type: 'OnDelete', rollingUpdate: { partition: 1 } } }))[0],
    ).toMatchObject({
      field: 'spec.updateStrategy.rollingUpdate',
      reason: 'FieldValueInvalid',
    });
    expect(invalid(sts({ updateStrategy: { rollingUpdate: { partition: -1 } } }))[0].field).toBe(
      'spec.updateStrategy.rollingUpdate.partition',
    );
    expect(invalid(sts({ updateStrategy: { rollingUpdate: { maxUnavailable: 0 } } }))[0].field).toBe(
      'spec.updateStrategy.rollingUpdate.maxUnavailable',
    );
    expect(invalid(sts({ persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Keep' } }))[0].field).toBe(
      'spec.persistentVolumeClaimRetentionPolicy.whenDeleted',
    );
    expect(invalid(sts({ ordinals: { start: -2 } }))[0].field).toBe('spec.ordinals.start');
    expect(invalid(sts({ serviceName: 'Not_A_Label' }))[0].field).toBe('spec.serviceName');
    const rp = sts();
    (rp.spec.template.spec as any).restartPolicy = 'Never';
    expect(invalid(rp)[0]).toMatchObject({
      field: 'spec.template.spec.restartPolicy',
      reason: 'FieldValueNotSupported',
    });
  });

  it('checks its volumeClaimTemplates: a DNS-label name, unique, access modes and a size', () => {
    expect(invalid(sts({ volumeClaimTemplates: [claim('data'), claim('data')] }))[0]).toMatchObject({
      field: 'spec.volumeClaimTemplates[1].metadata.name',
      reason: 'FieldValueDuplicate',
    });
    expect(invalid(sts({ volumeClaimTemplates: [claim('Data.x')] }))[0].field).toBe(
      'spec.volumeClaimTemplates[0].metadata.name',
    );
    expect(
      invalid(sts({ volumeClaimTemplates: [{ metadata: {}, spec: claim('x').spec }] }))[0],
    ).toMatchObject({
      field: 'spec.volumeClaimTemplates[0].metadata.name',
      reason: 'FieldValueRequired',
    });
    expect(
      invalid(sts({ volumeClaimTemplates: [claim('data', { resources: {} })] })).map((c) => c.field),
    ).toContain('spec.volumeClaimTemplates[0].spec.resources.requests.storage');
    expect(
      invalid(sts({ volumeClaimTemplates: [claim('data', { accessModes: [] })] })).map((c) => c.field),
    ).toContain('spec.volumeClaimTemplates[0].spec.accessModes');
  });

  it('lets containers mount a volumeClaimTemplate by name, but not an unknown volume', () => {
    const withMount = (name: string) => {
      const s = sts({ volumeClaimTemplates: [claim('data')] });
      (s.spec.template.spec.containers[0] as any).volumeMounts = [{ name, mountPath: '/data' }];
      return s;
    };
    expect(valid(withMount('data')).spec.template.spec.volumes).toBeUndefined();
    expect(invalid(withMount('other'))[0]).toMatchObject({
      field: 'spec.template.spec.containers[0].volumeMounts[0].name',
      reason: 'FieldValueNotFound',
    });
  });

  it('may change replicas, template, strategy and retention later, but not selector, serviceName or claims', () => {
    const before = valid(sts({ volumeClaimTemplates: [claim('data')] }));
    const change = (spec: Record<string, unknown>) =>
      statefulSetUpdateCauses(before, valid({ ...before, spec: { ...before.spec, ...spec } }));
    expect(change({ replicas: 5, minReadySeconds: 3, ordinals: { start: 2 } })).toEqual([]);
    expect(change({ updateStrategy: { type: 'OnDelete' }, revisionHistoryLimit: 2 })).toEqual([]);
    expect(change({ persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete' } })).toEqual([]);
    expect(change({ serviceName: 'other' })[0]).toMatchObject({
      field: 'spec',
      reason: 'FieldValueForbidden',
    });
    expect(change({ podManagementPolicy: 'Parallel' })).toHaveLength(1);
    expect(change({ volumeClaimTemplates: [claim('logs')] })).toHaveLength(1);
  });

  it("prints kubectl's columns: READY AGE, and CONTAINERS IMAGES with -o wide", () => {
    const s = valid(sts({ replicas: 3 }));
    s.status = { replicas: 3, readyReplicas: 2 };
    s.metadata.creationTimestamp = new Date(Date.now() - 30_000).toISOString();
    const cols = columnsFor('StatefulSet');
    expect(cols.map((c) => [c.name, c.priority])).toEqual([
      ['Name', 0],
      ['Ready', 0],
      ['Age', 0],
      ['Containers', 1],
      ['Images', 1],
    ]);
    const cells = rowCells(cols, s, Date.parse(s.metadata.creationTimestamp) + 30_000);
    expect(cells).toEqual(['db', '2/3', '30s', 'db', 'busybox:1.36']);
  });
});
