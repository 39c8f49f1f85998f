import { describe, expect, it } from 'vitest';
import { invalid, valid } from './testing.ts';

const job = (spec: Record<string, unknown>) => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'j', namespace: 'default' },
  spec: { template: { spec: { containers: [{ name: 'r', image: 'task.wasm' }] } }, ...spec },
});

describe('Job completionMode', () => {
  it('defaults to NonIndexed with one completion', () => {
    expect(valid(job({})).spec).toMatchObject({ completionMode: 'NonIndexed', completions: 1 });
  });

  it('Indexed requires completions', () => {
    expect(valid(job({ completionMode: 'Indexed', completions: 4 })).spec.completions).toBe(4);
    expect(invalid(job({ completionMode: 'Indexed' }))[0]).toMatchObject({
      field: 'spec.completions',
      reason: 'FieldValueRequired',
    });
    expect(invalid(job({ completionMode: 'Sparse' }))[0].field).toBe('spec.completionMode');
  });
});
