import { describe, expect, it } from 'vitest';
import { invalid, valid } from './testing.ts';

const ds = (spec: Record<string, unknown> = {}, labels: Record<string, string> = { app: 'agent' }) => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'logs', namespace: 'default' },
  spec: {
    selector: { matchLabels: { app: 'agent' } },
    template: { metadata: { labels }, spec: { containers: [{ name: 'a', image: 'agent.wasm' }] } },
    ...spec,
  },
});

describe('DaemonSet', () => {
  it('defaults the update strategy and pod template', () => {
    const d = valid(ds());
    expect(d.spec.updateStrategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
    });
    expect(d.spec).toMatchObject({ minReadySeconds: 0, revisionHistoryLimit: 10 });
    expect(d.spec.template.spec).toMatchObject({ restartPolicy: 'Always', runtimeClassName: 'wasm' });
  });

  it('OnDelete takes no rollingUpdate', () => {
    expect(valid(ds({ updateStrategy: { type: 'OnDelete' } })).spec.updateStrategy).toEqual({
      type: 'OnDelete',
    });
    expect(
      invalid(ds({ updateStrategy: { type: 'OnDelete', rollingUpdate: { maxUnavailable: 2 } } }))[0].field,
    ).toBe('spec.updateStrategy.rollingUpdate');
  });

  it('selector must match the template labels; status counts are validated', () => {
    expect(invalid(ds({}, { app: 'other' }))[0].field).toBe('spec.template.metadata.labels');
    expect(invalid(ds({ selector: {} }))[0].field).toBe('spec.selector');
    expect(
      invalid({ ...ds(), status: undefined, spec: { ...ds().spec, updateStrategy: { type: 'Sideways' } } })[0]
        .field,
    ).toBe('spec.updateStrategy.type');
  });
});
