import { describe, expect, it } from 'vitest';
import { messageOf, node, pod, where } from '../test-helpers.ts';
import { schedule } from '../schedule.ts';

const required = (...terms: any[]) => ({
  affinity: {
    nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } },
  },
});
const expr = (key: string, operator: string, values?: string[]) => ({
  matchExpressions: [{ key, operator, ...(values ? { values } : {}) }],
});

describe('NodeAffinity filter (required)', () => {
  const nodes = [
    node({ name: 'a', labels: { disk: 'ssd', cores: '8' } }),
    node({ name: 'b', labels: { disk: 'hdd', cores: '32' } }),
    node({ name: 'c', labels: { cores: 'many' } }),
  ];

  it.each([
    [expr('disk', 'In', ['ssd']), 'a'],
    [expr('disk', 'NotIn', ['ssd']), 'b'], // NotIn also matches nodes without the label: b then c
    [expr('disk', 'DoesNotExist'), 'c'],
    [expr('cores', 'Gt', ['16']), 'b'],
    [expr('cores', 'Lt', ['16']), 'a'], // a non-integer label value never matches Gt/Lt
  ])('%j → %s', (term, expected) => {
    expect(where(pod({ name: 'p' }, required(term)), nodes)).toBe(expected);
  });

  it('ORs terms, ANDs expressions in a term, and matches fields by node name', () => {
    const both = {
      matchExpressions: [
        ...expr('disk', 'Exists').matchExpressions,
        ...expr('cores', 'Gt', ['10']).matchExpressions,
      ],
    };
    expect(where(pod({ name: 'p' }, required(both)), nodes)).toBe('b');
    expect(
      where(pod({ name: 'p' }, required(expr('disk', 'In', ['nvme']), expr('cores', 'In', ['many']))), nodes),
    ).toBe('c');
    const byName = { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['c'] }] };
    expect(where(pod({ name: 'p' }, required(byName)), nodes)).toBe('c');
  });

  it('explains like nodeSelector does', () => {
    const r = schedule(pod({ name: 'p' }, required(expr('disk', 'In', ['nvme']))), nodes);
    expect(messageOf(r)).toBe(
      "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
    );
  });
});

describe('NodeAffinity score (preferred)', () => {
  it('prefers the node matching the heaviest preferences', () => {
    const nodes = [
      node({ name: 'plain' }),
      node({ name: 'ssd', labels: { disk: 'ssd' } }),
      node({ name: 'big', labels: { size: 'large' } }),
    ];
    const prefer = (w1: number, w2: number) => ({
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: w1, preference: expr('disk', 'In', ['ssd']) },
            { weight: w2, preference: expr('size', 'In', ['large']) },
          ],
        },
      },
    });
    expect(where(pod({ name: 'p' }, prefer(80, 20)), nodes)).toBe('ssd');
    expect(where(pod({ name: 'p' }, prefer(10, 90)), nodes)).toBe('big');
  });
});
