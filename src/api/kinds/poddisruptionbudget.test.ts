import { describe, expect, it } from 'vitest';
import { EvictionSchema, pdbDesiredHealthy } from './poddisruptionbudget.ts';
import { invalid, valid } from './testing.ts';

const pdb = (spec: Record<string, unknown>) => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name: 'web', namespace: 'default' },
  spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
});

describe('PodDisruptionBudget', () => {
  it('takes exactly one of minAvailable and maxUnavailable', () => {
    valid(pdb({ minAvailable: 2 }));
    valid(pdb({ maxUnavailable: '25%' }));
    expect(invalid(pdb({}))[0]).toMatchObject({ field: 'spec.minAvailable', reason: 'FieldValueRequired' });
    expect(invalid(pdb({ minAvailable: 1, maxUnavailable: 1 }))[0].field).toBe('spec.maxUnavailable');
    expect(invalid(pdb({ minAvailable: '150%' }))[0].field).toBe('spec.minAvailable');
    expect(invalid(pdb({ minAvailable: 'half' }))[0].field).toBe('spec.minAvailable');
  });

  it('computes desired healthy pods like the disruption controller', () => {
    expect(pdbDesiredHealthy({ minAvailable: 2 }, 5)).toBe(2);
    expect(pdbDesiredHealthy({ minAvailable: '50%' }, 5)).toBe(3);
    expect(pdbDesiredHealthy({ maxUnavailable: 1 }, 5)).toBe(4);
    expect(pdbDesiredHealthy({ maxUnavailable: '30%' }, 5)).toBe(3);
  });
});

describe('Eviction', () => {
  it('parses the body kubectl drain sends', () => {
    const body = {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'web-1', namespace: 'default' },
      deleteOptions: { gracePeriodSeconds: 5 },
    };
    expect(EvictionSchema.parse(body)).toEqual(body);
    expect(EvictionSchema.safeParse({ ...body, deleteOptions: { grace: 1 } }).success).toBe(false);
  });
});
