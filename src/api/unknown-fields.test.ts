import { describe, expect, it } from 'vitest';
import { kindFor } from './registry.ts';
import { stripUnknownFields, unknownFieldWarning } from './unknown-fields.ts';

describe('stripUnknownFields', () => {
  const pod = kindFor('v1', 'Pod')!;

  it('drops every unknown field, at any depth, and names each', () => {
    const input = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', bogus: 1 },
      spec: { containers: [{ name: 'c', image: '/a.wasm', nope: { deep: 1 } }], extra: true },
      top: 1,
    };
    const { object, removed } = stripUnknownFields(pod.schema, input);
    expect(removed.sort()).toEqual(['metadata.bogus', 'spec.containers[0].nope', 'spec.extra', 'top']);
    expect(object).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c', image: '/a.wasm' }] },
    });
    expect(input.top).toBe(1);
    expect(pod.schema.safeParse(object).success).toBe(true);
  });

  it('leaves other problems alone and prefixes a base path', () => {
    const { object, removed } = stripUnknownFields(pod.statusSchema!, { phase: 'Nope', foo: 1 }, ['status']);
    expect(removed).toEqual(['status.foo']);
    expect(object).toEqual({ phase: 'Nope' });
  });

  it('keys holding undefined are not fields', () => {
    expect(stripUnknownFields(pod.schema, { apiVersion: 'v1', status: undefined }).removed).toEqual([]);
  });

  it('words the warning as kube-apiserver does', () => {
    expect(unknownFieldWarning('spec.foo')).toBe('unknown field "spec.foo"');
  });
});
