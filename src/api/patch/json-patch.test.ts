import { describe, expect, it } from 'vitest';
import { applyJsonPatch, parseJsonPatch } from './json-patch.ts';
import { PatchError } from './json.ts';

const doc = () => ({ metadata: { name: 'a', labels: { app: 'x' } }, spec: { list: [1, 2, 3] } });

function errorOf(fn: () => unknown): PatchError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PatchError) return err;
    throw err;
  }
  throw new Error('no error');
}

describe('applyJsonPatch (RFC 6902)', () => {
  it('applies add, remove, replace, move, copy and test in order', () => {
    const d = doc();
    const out = applyJsonPatch(d, [
      { op: 'test', path: '/metadata/name', value: 'a' },
      { op: 'add', path: '/metadata/labels/tier', value: 'web' },
      { op: 'remove', path: '/metadata/labels/app' },
      { op: 'replace', path: '/spec/list/0', value: 9 },
      { op: 'add', path: '/spec/list/-', value: 4 },
      { op: 'copy', from: '/metadata/name', path: '/spec/copied' },
      { op: 'move', from: '/spec/copied', path: '/spec/moved' },
    ]);
    expect(out).toEqual({
      metadata: { name: 'a', labels: { tier: 'web' } },
      spec: { list: [9, 2, 3, 4], moved: 'a' },
    });
    expect(d).toEqual(doc());
  });

  it('RFC 6902 A.8/A.9: a failing test is a 422 and nothing is applied', () => {
    const d = doc();
    const err = errorOf(() =>
      applyJsonPatch(d, [
        { op: 'replace', path: '/metadata/name', value: 'b' },
        { op: 'test', path: '/metadata/name', value: 'zzz' },
      ]),
    );
    expect(err.code).toBe(422);
    expect(err.message).toContain('operation 1 (test /metadata/name): Test operation failed');
    expect(err.toStatus()).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message: 'the server rejected our request due to an error in our request',
      details: { causes: [{ message: expect.stringContaining('Test operation failed') }] },
    });
    expect(d).toEqual(doc());
  });

  it('a path that does not exist is a 422 (RFC 6902 A.12-style)', () => {
    for (const op of [
      { op: 'remove', path: '/spec/nope' },
      { op: 'replace', path: '/spec/nope/deeper', value: 1 },
      { op: 'add', path: '/spec/nope/deeper', value: 1 },
      { op: 'move', from: '/spec/nope', path: '/spec/x' },
    ]) {
      const err = errorOf(() => applyJsonPatch(doc(), [op]));
      expect(err.code, JSON.stringify(op)).toBe(422);
      expect(err.message).toContain(`operation 0 (${op.op} ${op.path})`);
    }
  });

  it('malformed operations are a 400 naming the operation index', () => {
    const bad: [unknown, string][] = [
      [{ op: 'add', path: '/a', value: 1 }, 'must be a JSON array'],
      [[{ op: 'frobnicate', path: '/a' }], 'operation 0: "op" must be one of'],
      [
        [
          { op: 'test', path: '/a', value: 1 },
          { op: 'add', value: 1 },
        ],
        'operation 1 (add): Operation `path` property is not a string',
      ],
      [
        [{ op: 'add', path: 'a', value: 1 }],
        'operation 0 (add): Operation `path` property must start with "/"',
      ],
      [[{ op: 'replace', path: '/a' }], 'operation 0 (replace): Operation `value` property is not present'],
      [[{ op: 'copy', path: '/a' }], 'operation 0 (copy): Operation `from` property is not present'],
      [['add'], 'operation 0: must be an object'],
    ];
    for (const [patch, message] of bad) {
      const err = errorOf(() => applyJsonPatch(doc(), patch));
      expect(err.code, message).toBe(400);
      expect(err.message).toContain(message);
    }
  });

  it('refuses prototype pollution', () => {
    const err = errorOf(() => applyJsonPatch(doc(), [{ op: 'add', path: '/__proto__/polluted', value: 1 }]));
    expect(err.code).toBe(422);
    expect(({} as any).polluted).toBeUndefined();
  });

  it('parseJsonPatch returns the operations', () => {
    expect(parseJsonPatch([{ op: 'remove', path: '/a' }])).toEqual([{ op: 'remove', path: '/a' }]);
  });
});
