import { describe, expect, it } from 'vitest';
import { mergeApplyConfiguration } from './apply.ts';
import { patchSchema } from './metadata.ts';

const schema = patchSchema('v1', 'Pod');
const names = (o: any) => o.spec.containers.map((c: any) => c.name);

describe('mergeApplyConfiguration (structured-merge-diff Merge)', () => {
  it('merges maps field by field and keyed lists item by item', () => {
    const live = {
      metadata: { labels: { a: '1' } },
      spec: { containers: [{ name: 'c', image: 'old', resources: { limits: { cpu: '1' } } }] },
    };
    const out: any = mergeApplyConfiguration(
      live,
      { metadata: { labels: { b: '2' } }, spec: { containers: [{ name: 'c', image: 'new' }] } },
      schema,
    );
    expect(out).toEqual({
      metadata: { labels: { a: '1', b: '2' } },
      spec: { containers: [{ name: 'c', image: 'new', resources: { limits: { cpu: '1' } } }] },
    });
    expect(live.spec.containers[0].image).toBe('old');
  });

  it('replaces atomic lists and unions sets', () => {
    const out: any = mergeApplyConfiguration(
      {
        metadata: { finalizers: ['a', 'b'] },
        spec: { tolerations: [{ key: 'x' }], containers: [{ name: 'c', args: ['1', '2'] }] },
      },
      {
        metadata: { finalizers: ['c', 'a'] },
        spec: { tolerations: [{ key: 'y' }], containers: [{ name: 'c', args: ['3'] }] },
      },
      schema,
    );
    expect(out.spec.tolerations).toEqual([{ key: 'y' }]);
    expect(out.spec.containers[0].args).toEqual(['3']);
    expect(out.metadata.finalizers).toEqual(['c', 'a', 'b']);
  });

  it('orders lists as structured-merge-diff does', () => {
    const live = { spec: { containers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] } };
    // The configuration's order wins for shared items; live-only items keep their place.
    expect(
      names(mergeApplyConfiguration(live, { spec: { containers: [{ name: 'c' }, { name: 'a' }] } }, schema)),
    ).toEqual(['b', 'c', 'a']);
    expect(names(mergeApplyConfiguration(live, { spec: { containers: [{ name: 'd' }] } }, schema))).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    expect(
      names(
        mergeApplyConfiguration(
          live,
          { spec: { containers: [{ name: 'a' }, { name: 'z' }, { name: 'c' }] } },
          schema,
        ),
      ),
    ).toEqual(['a', 'b', 'z', 'c']);
  });

  it('items of atomic-struct lists are replaced whole', () => {
    const out: any = mergeApplyConfiguration(
      { metadata: { ownerReferences: [{ uid: 'u', name: 'x', controller: true }] } },
      { metadata: { ownerReferences: [{ uid: 'u', name: 'y' }] } },
      schema,
    );
    expect(out.metadata.ownerReferences).toEqual([{ uid: 'u', name: 'y' }]);
  });
});
