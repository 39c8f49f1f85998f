import { describe, expect, it } from 'vitest';
import { invalid, valid } from './testing.ts';

describe('ControllerRevision', () => {
  const rev = (extra: Record<string, unknown>) => ({
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: { name: 'web-5d8f', namespace: 'default' },
    ...extra,
  });

  it('holds any JSON object at a revision number', () => {
    const data = { spec: { template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } };
    expect(valid(rev({ data, revision: 3 }))).toMatchObject({ data, revision: 3 });
  });

  it('requires a non-negative integer revision', () => {
    expect(invalid(rev({ data: {} }))[0]).toMatchObject({ field: 'revision', reason: 'FieldValueRequired' });
    expect(invalid(rev({ revision: -1 }))[0].field).toBe('revision');
    expect(invalid(rev({ revision: 1.5 }))[0].field).toBe('revision');
  });
});
