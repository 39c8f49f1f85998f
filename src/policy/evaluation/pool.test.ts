import { afterAll, describe, expect, it } from 'vitest';
import { EvaluatorPool } from './pool.ts';
import type { EvaluationInput, PolicyProgramSpec } from './types.ts';

function spec(key: string, expression: string, extra: Partial<PolicyProgramSpec> = {}): PolicyProgramSpec {
  return {
    key,
    matchConditions: [],
    variables: [],
    validations: [{ expression }],
    auditAnnotations: [],
    ...extra,
  };
}

const items = Array.from({ length: 2000 }, (_, i) => i);
const input: EvaluationInput = {
  object: {
    metadata: { name: 'p', labels: { app: 'web' } },
    spec: { replicas: 3, items, s: 'x'.repeat(10_000) },
  },
  oldObject: null,
  request: { operation: 'CREATE' },
  namespaceObject: null,
};

describe('EvaluatorPool', () => {
  const pool = new EvaluatorPool({ size: 1, budgetMs: 300, heapMb: 64 });
  afterAll(() => pool.close());

  it('evaluates validations, messages, variables, matchConditions and audit annotations in a worker', async () => {
    const [ok, failed, skipped, annotated] = await pool.evaluate(input, [
      { spec: spec('a/1', 'object.spec.replicas <= params.max'), params: { max: 5 } },
      {
        spec: spec('b/1', 'false', {
          variables: [{ name: 'name', expression: 'object.metadata.name' }],
          validations: [
            {
              expression: 'variables.name != "p"',
              messageExpression: '"name " + variables.name + " is taken"',
              reason: 'Forbidden',
            },
          ],
        }),
        params: null,
      },
      {
        spec: spec('c/1', 'false', {
          matchConditions: [{ name: 'never', expression: 'object.metadata.labels.app == "db"' }],
        }),
        params: null,
      },
      {
        spec: spec('d/1', 'true', {
          auditAnnotations: [{ key: 'replicas', valueExpression: 'string(object.spec.replicas)' }],
        }),
        params: null,
      },
    ]);
    expect(ok).toEqual({ matched: true, failures: [], auditAnnotations: [], errors: [] });
    expect(failed.failures).toEqual([{ index: 0, message: 'name p is taken', reason: 'Forbidden' }]);
    expect(skipped.matched).toBe(false);
    expect(annotated.auditAnnotations).toEqual([{ key: 'replicas', value: '3' }]);
  });

  it('an evaluation error is reported, not thrown', async () => {
    const [out] = await pool.evaluate(input, [
      { spec: spec('e/1', 'object.spec.missing > 1'), params: null },
    ]);
    expect(out.errors[0]).toMatch(/no such key|not found/);
  });

  it('a policy that loops hits its budget; the worker is replaced and the next policy still runs', async () => {
    const loop =
      'object.spec.items.all(a, object.spec.items.all(b, object.spec.items.all(c, a + b + c >= 0)))';
    const before = pool.replaced;
    const [hostile, after] = await pool.evaluate(input, [
      { spec: spec('loop/1', loop), params: null },
      { spec: spec('after/1', 'object.spec.replicas == 3'), params: null },
    ]);
    expect(hostile.errors).toEqual(['evaluation exceeded its budget of 300ms']);
    expect(after).toEqual({ matched: true, failures: [], auditAnnotations: [], errors: [] });
    expect(pool.replaced).toBe(before + 1);
  });

  it('a policy that builds huge strings is stopped (heap or budget), and the pool keeps serving', async () => {
    const huge =
      'object.spec.items.map(a, object.spec.items.map(b, object.spec.s + object.spec.s)).size() > 0';
    const [out] = await pool.evaluate(input, [{ spec: spec('huge/1', huge), params: null }]);
    expect(out.errors[0]).toMatch(/budget|memory|exited/);
    const [again] = await pool.evaluate(input, [{ spec: spec('a/1', 'true'), params: null }]);
    expect(again.errors).toEqual([]);
  });
});
