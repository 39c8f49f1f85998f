// Cases from k8s.io/apimachinery pkg/util/strategicpatch/patch_test.go (the MergeItem test type), then
// the Kubernetes kinds kubectl patches.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { PatchError } from './json.ts';
import { patchSchema, type ListPatchInfo, type PatchSchema } from './metadata.ts';
import { strategicMergePatch } from './strategic.ts';

/** apimachinery's MergeItem: mergingList by name, mergingIntList merged, the rest replaced. */
const mergeItem: PatchSchema = {
  list(path): ListPatchInfo | undefined {
    const last = path[path.length - 1];
    if (last === 'mergingList') return { patchStrategy: 'merge', patchMergeKey: 'name' };
    if (last === 'retainKeysMergingList') return { patchStrategy: 'merge,retainKeys', patchMergeKey: 'name' };
    if (last === 'mergingIntList') return { patchStrategy: 'merge' };
    return undefined;
  },
  map: () => undefined,
};

const cases: { name: string; original: string; patch: string; result?: string; error?: string }[] = [
  {
    name: 'unique scalars when merging lists',
    original: 'mergingIntList: [1, 2]',
    patch: 'mergingIntList: [2, 3]',
    result: 'mergingIntList: [1, 2, 3]',
  },
  {
    name: 'delete map from nested map',
    original: 'simpleMap: {key1: 1, key2: 1}',
    patch: 'simpleMap: {$patch: delete}',
    result: 'simpleMap: {}',
  },
  {
    name: 'delete all items from merging list',
    original: 'mergingList: [{name: 1}, {name: 2}]',
    patch: 'mergingList: [{$patch: replace}]',
    result: 'mergingList: []',
  },
  {
    name: 'merge empty merging lists',
    original: 'mergingList: []',
    patch: 'mergingList: []',
    result: 'mergingList: []',
  },
  {
    name: 'delete all keys from map',
    original: '{name: 1, value: 1}',
    patch: '{$patch: replace}',
    result: '{}',
  },
  {
    name: 'add key and delete all keys from map',
    original: '{name: 1, value: 1}',
    patch: '{other: a, $patch: replace}',
    result: '{other: a}',
  },
  {
    name: 'de-duplicate entries in a merging list',
    original: 'mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]',
    patch: 'mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]',
    result: 'mergingList: [{name: 2, value: a}]',
  },
  {
    name: 'retainKeys map can delete a field',
    original: 'retainKeysMap: {name: foo, value: a}',
    patch: 'retainKeysMap: {value: null}',
    result: 'retainKeysMap: {name: foo}',
  },
  {
    name: 'retainKeys list can change a field',
    original: 'retainKeysMergingList: [{name: bar}, {name: foo, value: a}]',
    patch: 'retainKeysMergingList: [{name: foo, value: b}]',
    result: 'retainKeysMergingList: [{name: bar}, {name: foo, value: b}]',
  },
  {
    name: 'preserve the order from the patch in a merging list',
    original: 'mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]',
    patch: 'mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, other: x}]',
    result: 'mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, value: b, other: x}]',
  },
  {
    name: 'preserve the order from the patch in a merging list 2',
    original: 'mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]',
    patch: 'mergingList: [{name: 3, value: c}, {name: 1, value: a}]',
    result: 'mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]',
  },
  {
    name: 'preserve the order in a merging int list',
    original: 'mergingIntList: [1, 2, 3]',
    patch: 'mergingIntList: [3, 1]',
    result: 'mergingIntList: [2, 3, 1]',
  },
  {
    name: '$setElementOrder contains an item not in the list',
    original: 'mergingList: [{name: 1}, {name: 3}]',
    patch:
      '{$setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}], mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}',
    result: 'mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]',
  },
  {
    name: '$setElementOrder on an int list',
    original: 'mergingIntList: [1, 3]',
    patch: '{$setElementOrder/mergingIntList: [3, 2, 1]}',
    result: 'mergingIntList: [3, 1]',
  },
  {
    name: '$setElementOrder must agree with the patch order',
    original: 'mergingList: [{name: 1}, {name: 3}, {name: 2}]',
    patch:
      '{$setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}',
    error: "doesn't match",
  },
  {
    name: 'missing merge key',
    original: 'mergingList: [{name: 1, value: a}]',
    patch: 'mergingList: [{value: b}]',
    error: 'does not contain declared merge key: name',
  },
  {
    name: 'add field and delete field from map',
    original: '{name: 1, other: a}',
    patch: '{name: null, value: 1}',
    result: '{value: 1, other: a}',
  },
  {
    name: 'delete field from nested map',
    original: 'simpleMap: {key1: 1, key2: 1, other: a}',
    patch: 'simpleMap: {key2: null}',
    result: 'simpleMap: {key1: 1, other: a}',
  },
  {
    name: 'replace list of scalars',
    original: 'nonMergingIntList: [1, 4]',
    patch: 'nonMergingIntList: [2, 3]',
    result: 'nonMergingIntList: [2, 3]',
  },
  {
    name: 'delete all maps from merging list',
    original: 'mergingList: [{name: 1, other: a}, {name: 2, other: b}]',
    patch: 'mergingList: [{name: 1, $patch: delete}, {name: 2, $patch: delete}]',
    result: 'mergingList: []',
  },
  {
    name: 'null values never land in the object',
    original: '{name: a, other: a}',
    patch: '{name: 1, value: 1, other: null}',
    result: '{name: 1, value: 1}',
  },
  {
    name: 'delete items in lists of scalars',
    original: 'mergingIntList: [1, 2, 3, 4]',
    patch: '{$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}',
    result: 'mergingIntList: [1, 2, 4]',
  },
  {
    name: 'add and delete items in lists of scalars',
    original: 'mergingIntList: [1, 2, 3, 4]',
    patch:
      '{$setElementOrder/mergingIntList: [1, 2, 4], $deleteFromPrimitiveList/mergingIntList: [3], mergingIntList: [4]}',
    result: 'mergingIntList: [1, 2, 4]',
  },
  {
    name: 'merge lists of maps with $setElementOrder',
    original: 'mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]',
    patch:
      '{$setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]}',
    result:
      'mergingList: [{name: 4, value: 4}, {name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]',
  },
  {
    name: '$retainKeys keeps only the named keys',
    original: 'retainKeysMap: {name: foo, value: a, other: b}',
    patch: 'retainKeysMap: {$retainKeys: [name, value], value: c}',
    result: 'retainKeysMap: {name: foo, value: c}',
  },
  {
    name: '$patch: merge is a plain merge',
    original: 'simpleMap: {a: 1}',
    patch: 'simpleMap: {$patch: merge, b: 2}',
    result: 'simpleMap: {a: 1, b: 2}',
  },
  {
    name: 'unknown $patch in a map',
    original: 'simpleMap: {a: 1}',
    patch: 'simpleMap: {$patch: frobnicate}',
    error: 'unknown patch type: "frobnicate" in map at simpleMap',
  },
  {
    name: 'unknown $patch in a list',
    original: 'mergingList: [{name: 1}]',
    patch: 'mergingList: [{name: 1, $patch: frobnicate}]',
    error: 'unknown patch type: "frobnicate" in list at mergingList',
  },
  {
    name: 'unknown directive key',
    original: '{name: 1}',
    patch: '{$foo: 1}',
    error: 'unknown patch directive "$foo" at the object root',
  },
  {
    name: 'bad $retainKeys',
    original: 'retainKeysMap: {name: foo}',
    patch: 'retainKeysMap: {$retainKeys: 3}',
    error: '$retainKeys must be a list of strings',
  },
];

describe('strategicMergePatch (apimachinery cases)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const original = YAML.parse(c.original);
      const before = structuredClone(original);
      const run = () => strategicMergePatch(original, YAML.parse(c.patch), mergeItem);
      if (c.error) {
        expect(run).toThrow(PatchError);
        expect(run).toThrow(c.error);
      } else {
        expect(run()).toEqual(YAML.parse(c.result!));
      }
      expect(original).toEqual(before);
    });
  }

  it('refuses a patch that is not an object', () => {
    expect(() => strategicMergePatch({}, [1], mergeItem)).toThrow('must be a JSON object');
  });
});

describe('strategicMergePatch on Kubernetes kinds', () => {
  const deploySchema = patchSchema('apps/v1', 'Deployment');
  const deployment = () => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' }, finalizers: ['a'] },
    spec: {
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
      template: {
        spec: {
          containers: [
            {
              name: 'app',
              image: 'app:1',
              ports: [{ containerPort: 80, protocol: 'TCP' }],
              args: ['a', 'b'],
            },
            { name: 'side', image: 'side:1' },
          ],
          tolerations: [{ key: 'x', operator: 'Exists' }],
        },
      },
    },
  });

  it('kubectl set image: merges one container by name', () => {
    const out: any = strategicMergePatch(
      deployment(),
      { spec: { template: { spec: { containers: [{ name: 'side', image: 'side:2' }] } } } },
      deploySchema,
    );
    expect(out.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual([
      'app=app:1',
      'side=side:2',
    ]);
    expect(out.spec.template.spec.containers[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
  });

  it('kubectl label: adds and removes labels, unions finalizers', () => {
    const out: any = strategicMergePatch(
      deployment(),
      { metadata: { labels: { app: null, tier: 'front' }, finalizers: ['b'] } },
      deploySchema,
    );
    expect(out.metadata.labels).toEqual({ tier: 'front' });
    expect(out.metadata.finalizers).toEqual(['b', 'a']);
  });

  it('replaces atomic lists (args, tolerations)', () => {
    const out: any = strategicMergePatch(
      deployment(),
      {
        spec: {
          template: { spec: { tolerations: [], containers: [{ name: 'app', args: ['c'] }] } },
        },
      },
      deploySchema,
    );
    expect(out.spec.template.spec.tolerations).toEqual([]);
    expect(out.spec.template.spec.containers[0].args).toEqual(['c']);
  });

  it('kubectl apply: switching strategy to Recreate with $retainKeys drops rollingUpdate', () => {
    const out: any = strategicMergePatch(
      deployment(),
      { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } },
      deploySchema,
    );
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('merges container ports by containerPort and deletes a container', () => {
    const out: any = strategicMergePatch(
      deployment(),
      {
        spec: {
          template: {
            spec: {
              containers: [
                { name: 'app', ports: [{ containerPort: 443, protocol: 'TCP' }] },
                { name: 'side', $patch: 'delete' },
              ],
            },
          },
        },
      },
      deploySchema,
    );
    expect(out.spec.template.spec.containers).toHaveLength(1);
    // Without $setElementOrder, apimachinery puts patch items the live list does not know first.
    expect(out.spec.template.spec.containers[0].ports.map((p: any) => p.containerPort)).toEqual([443, 80]);
  });
});
