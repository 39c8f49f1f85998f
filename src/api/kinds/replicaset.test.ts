import { describe, expect, it } from 'vitest';
import { kindFor, resolveKind } from '../registry.ts';
import { validateStatus } from '../validate.ts';
import { invalid, valid } from './testing.ts';

const rs = (spec: Record<string, unknown> = {}, labels: Record<string, string> = { app: 'web' }) => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'web.wasm' }] } },
    ...spec,
  },
});

describe('ReplicaSet', () => {
  it('is served as apps/v1 replicasets (short name rs) with a status subresource', () => {
    const kind = kindFor('apps/v1', 'ReplicaSet')!;
    expect(kind).toMatchObject({
      plural: 'replicasets',
      shortNames: ['rs'],
      namespaced: true,
      hasStatus: true,
    });
    expect(resolveKind('rs')).toBe(kind);
    expect(resolveKind('replicasets.apps')).toBe(kind);
  });

  it('defaults replicas, minReadySeconds and the pod template', () => {
    const r = valid(rs());
    expect(r.spec).toMatchObject({ replicas: 1, minReadySeconds: 0 });
    expect(r.spec.template.spec).toMatchObject({ restartPolicy: 'Always', runtimeClassName: 'wasm' });
    expect(valid(rs({ replicas: 0 })).spec.replicas).toBe(0);
  });

  it('refuses a selector that is empty or does not match the template, with the field named', () => {
    expect(invalid(rs({}, { app: 'other' }))[0]).toMatchObject({
      field: 'spec.template.metadata.labels',
      message: 'Invalid value: {"app":"other"}: `selector` does not match template `labels`',
    });
    expect(invalid(rs({ selector: {} }))[0]).toMatchObject({
      field: 'spec.selector',
      reason: 'FieldValueInvalid',
    });
    expect(invalid(rs({ replicas: -1 }))[0].field).toBe('spec.replicas');
    const noTemplate = rs();
    delete (noTemplate.spec as any).template;
    expect(invalid(noTemplate)[0]).toMatchObject({ field: 'spec.template', reason: 'FieldValueRequired' });
  });

  it('pods it makes must run forever: restartPolicy Always, no activeDeadlineSeconds', () => {
    const withSpec = (extra: Record<string, unknown>) =>
      rs({
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'web.wasm' }], ...extra },
        },
      });
    expect(invalid(withSpec({ restartPolicy: 'OnFailure' }))[0]).toMatchObject({
      field: 'spec.template.spec.restartPolicy',
      reason: 'FieldValueNotSupported',
    });
    expect(invalid(withSpec({ activeDeadlineSeconds: 30 }))[0]).toMatchObject({
      field: 'spec.template.spec.activeDeadlineSeconds',
      message: 'Invalid value: 30: activeDeadlineSeconds in ReplicaSet is not Supported',
    });
  });

  it('validates status counts and conditions', () => {
    const kind = kindFor('apps/v1', 'ReplicaSet')!;
    expect(
      validateStatus(kind, {
        replicas: 2,
        fullyLabeledReplicas: 2,
        readyReplicas: 1,
        availableReplicas: 1,
        observedGeneration: 3,
        conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'quota' }],
      }),
    ).toEqual([]);
    expect(validateStatus(kind, { replicas: -1 })[0].field).toBe('status.replicas');
    expect(validateStatus(kind, { replicas: 1, extra: 1 })[0].field).toBe('status.extra');
  });
});
