import { describe, expect, it } from 'vitest';
import {
  compareObjects,
  fieldSetOf,
  FieldPathError,
  FieldSet,
  pathString,
  removeAt,
  valueAt,
} from './fieldpath.ts';
import { patchSchema } from './metadata.ts';

const podSchema = patchSchema('v1', 'Pod');
const pod = () => ({
  metadata: {
    labels: { app: 'a' },
    finalizers: ['x', 'y'],
    ownerReferences: [{ uid: 'u1', name: 'o', kind: 'K', apiVersion: 'v1' }],
  },
  spec: {
    containers: [{ name: 'c', image: 'i', args: ['a', 'b'], ports: [{ containerPort: 80 }], resources: {} }],
    nodeSelector: { disk: 'ssd' },
    tolerations: [{ operator: 'Exists' }],
  },
});

describe('fieldSetOf (structured-merge-diff ToFieldSet)', () => {
  it('serialises to FieldsV1 like kube-apiserver', () => {
    expect(fieldSetOf(pod(), podSchema).toFieldsV1()).toEqual({
      'f:metadata': {
        'f:finalizers': { 'v:"x"': {}, 'v:"y"': {} },
        'f:labels': { 'f:app': {} },
        // ownerReferences items are atomic structs: owned whole.
        'f:ownerReferences': { 'k:{"uid":"u1"}': {} },
      },
      'f:spec': {
        'f:containers': {
          'k:{"name":"c"}': {
            '.': {},
            'f:args': {},
            'f:image': {},
            'f:name': {},
            // protocol defaults to TCP in the key, as in Kubernetes.
            'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
            'f:resources': {},
          },
        },
        'f:nodeSelector': {},
        'f:tolerations': {},
      },
    });
  });

  it('round-trips FieldsV1', () => {
    const set = fieldSetOf(pod(), podSchema);
    const back = FieldSet.fromFieldsV1(set.toFieldsV1());
    expect(
      back
        .paths()
        .map((p) => JSON.stringify(p))
        .sort(),
    ).toEqual(
      set
        .paths()
        .map((p) => JSON.stringify(p))
        .sort(),
    );
  });

  it('refuses what is not FieldsV1', () => {
    expect(() => FieldSet.fromFieldsV1({ 'x:foo': {} })).toThrow(FieldPathError);
    expect(() => FieldSet.fromFieldsV1({ 'f:a': 1 })).toThrow(FieldPathError);
  });

  it('a keyed item without its key is an error naming the list', () => {
    expect(() => fieldSetOf({ spec: { containers: [{ image: 'x' }] } }, podSchema)).toThrow(
      '.spec.containers: associative list item omits key field "name"',
    );
  });
});

describe('paths', () => {
  it('pathString prints paths as kube-apiserver does in conflicts', () => {
    expect(pathString(['f:spec', 'f:containers', 'k:{"name":"c"}', 'f:image'])).toBe(
      '.spec.containers[name="c"].image',
    );
    expect(pathString(['f:spec', 'f:ports', 'k:{"containerPort":80,"protocol":"TCP"}'])).toBe(
      '.spec.ports[containerPort=80,protocol="TCP"]',
    );
    expect(pathString(['f:metadata', 'f:finalizers', 'v:"x"'])).toBe('.metadata.finalizers[="x"]');
  });

  it('valueAt and removeAt follow keys and values', () => {
    const p = pod();
    expect(valueAt(p, ['f:spec', 'f:containers', 'k:{"name":"c"}', 'f:image'])).toBe('i');
    expect(
      valueAt(p, [
        'f:spec',
        'f:containers',
        'k:{"name":"c"}',
        'f:ports',
        'k:{"containerPort":80,"protocol":"TCP"}',
      ]),
    ).toEqual({
      containerPort: 80,
    });
    removeAt(p, ['f:metadata', 'f:finalizers', 'v:"x"']);
    removeAt(p, ['f:spec', 'f:containers', 'k:{"name":"c"}', 'f:args']);
    expect(p.metadata.finalizers).toEqual(['y']);
    expect(p.spec.containers[0]).not.toHaveProperty('args');
    removeAt(p, ['f:spec', 'f:containers', 'k:{"name":"c"}']);
    expect(p.spec.containers).toEqual([]);
  });
});

describe('compareObjects', () => {
  it('reports added, removed and modified leaves', () => {
    const before = pod();
    const after: any = pod();
    after.spec.containers[0].image = 'j';
    after.spec.containers[0].args = ['a'];
    delete after.spec.nodeSelector;
    after.metadata.labels.tier = 'web';
    const c = compareObjects(before, after, podSchema);
    expect(c.added.paths()).toEqual([['f:metadata', 'f:labels', 'f:tier']]);
    expect(c.removed.paths()).toEqual([['f:spec', 'f:nodeSelector']]);
    expect(c.modified.paths().map(pathString).sort()).toEqual([
      '.spec.containers[name="c"].args',
      '.spec.containers[name="c"].image',
    ]);
  });
});
