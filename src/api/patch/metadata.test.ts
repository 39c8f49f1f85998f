import { describe, expect, it } from 'vitest';
import { allKinds } from '../registry.ts';
import { listPatchInfo, mapPatchInfo, patchInfoPaths, rootTypeOf } from './metadata.ts';

const POD_SPEC_PREFIXES: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};
const API: Record<string, string> = {
  Pod: 'v1',
  Deployment: 'apps/v1',
  DaemonSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
};

describe('listPatchInfo', () => {
  it('knows the root type of every served kind', () => {
    for (const k of allKinds()) expect(rootTypeOf(k.apiVersion, k.kind), k.kind).toBeDefined();
  });

  it('gives every served kind the ObjectMeta rules', () => {
    for (const k of allKinds()) {
      expect(listPatchInfo(k.apiVersion, k.kind, ['metadata', 'ownerReferences'])).toEqual({
        patchStrategy: 'merge',
        patchMergeKey: 'uid',
        listType: 'map',
        listMapKeys: ['uid'],
      });
      expect(listPatchInfo(k.apiVersion, k.kind, ['metadata', 'finalizers'])).toEqual({
        patchStrategy: 'merge',
        listType: 'set',
      });
    }
  });

  for (const [kind, prefix] of Object.entries(POD_SPEC_PREFIXES)) {
    it(`applies PodSpec rules inside ${kind}`, () => {
      const at = (...p: string[]) => listPatchInfo(API[kind], kind, [...prefix, ...p]);
      for (const c of ['containers', 'initContainers', 'ephemeralContainers'])
        expect(at(c)).toEqual({
          patchStrategy: 'merge',
          patchMergeKey: 'name',
          listType: 'map',
          listMapKeys: ['name'],
        });
      expect(at('containers', 'ports')).toEqual({
        patchStrategy: 'merge',
        patchMergeKey: 'containerPort',
        listType: 'map',
        listMapKeys: ['containerPort', 'protocol'],
      });
      expect(at('initContainers', 'env')?.patchMergeKey).toBe('name');
      expect(at('containers', 'volumeMounts')?.patchMergeKey).toBe('mountPath');
      expect(at('volumes')).toEqual({
        patchStrategy: 'merge,retainKeys',
        patchMergeKey: 'name',
        listType: 'map',
        listMapKeys: ['name'],
      });
      expect(at('imagePullSecrets')?.patchMergeKey).toBe('name');
      expect(at('tolerations')).toEqual({ listType: 'atomic' });
      expect(at('hostAliases')?.patchMergeKey).toBe('ip');
      expect(at('topologySpreadConstraints')?.listMapKeys).toEqual(['topologyKey', 'whenUnsatisfiable']);
      expect(at('containers', 'command')).toEqual({ listType: 'atomic' });
      expect(
        at('affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms'),
      ).toEqual({
        listType: 'atomic',
      });
    });
  }

  it('template metadata carries ObjectMeta rules too', () => {
    expect(
      listPatchInfo('apps/v1', 'Deployment', ['spec', 'template', 'metadata', 'finalizers'])?.listType,
    ).toBe('set');
  });

  it('conditions merge by type (Job: atomic for apply)', () => {
    expect(listPatchInfo('v1', 'Pod', ['status', 'conditions'])?.listMapKeys).toEqual(['type']);
    expect(listPatchInfo('apps/v1', 'Deployment', ['status', 'conditions'])?.patchMergeKey).toBe('type');
    expect(listPatchInfo('batch/v1', 'Job', ['status', 'conditions'])).toEqual({
      patchStrategy: 'merge',
      patchMergeKey: 'type',
      listType: 'atomic',
    });
    expect(listPatchInfo('v1', 'Node', ['status', 'addresses'])?.patchMergeKey).toBe('type');
    expect(listPatchInfo('v1', 'Node', ['spec', 'taints'])).toEqual({ listType: 'atomic' });
  });

  it('returns undefined for unknown paths and kinds, and plain fields', () => {
    expect(listPatchInfo('v1', 'Pod', ['spec', 'nope'])).toBeUndefined();
    expect(listPatchInfo('v1', 'Pod', ['spec', 'containers', 'image'])).toBeUndefined();
    expect(listPatchInfo('v9', 'Widget', ['spec'])).toBeUndefined();
  });

  it('returns copies the caller may not corrupt', () => {
    listPatchInfo('v1', 'Pod', ['spec', 'containers'])!.listMapKeys!.push('x');
    expect(listPatchInfo('v1', 'Pod', ['spec', 'containers'])?.listMapKeys).toEqual(['name']);
  });
});

describe('mapPatchInfo', () => {
  it('knows Deployment strategy is retainKeys and nodeSelector atomic', () => {
    expect(mapPatchInfo('apps/v1', 'Deployment', ['spec', 'strategy'])).toEqual({
      patchStrategy: 'retainKeys',
    });
    expect(mapPatchInfo('v1', 'Pod', ['spec', 'nodeSelector'])).toEqual({ mapType: 'atomic' });
    expect(mapPatchInfo('v1', 'Pod', ['spec'])).toBeUndefined();
    // +structType=atomic types, wherever they are used.
    expect(mapPatchInfo('apps/v1', 'Deployment', ['spec', 'selector'])).toEqual({ structType: 'atomic' });
    expect(mapPatchInfo('v1', 'Pod', ['metadata', 'ownerReferences'])).toEqual({ structType: 'atomic' });
    expect(
      mapPatchInfo('v1', 'Pod', [
        'spec',
        'affinity',
        'nodeAffinity',
        'requiredDuringSchedulingIgnoredDuringExecution',
      ]),
    ).toEqual({ structType: 'atomic' });
  });
});

describe('patchInfoPaths', () => {
  it('lists the Pod rules', () => {
    const paths = patchInfoPaths('v1', 'Pod').map((p) => p.path.join('.'));
    expect(paths).toContain('spec.containers.ports');
    expect(paths).toContain('status.conditions');
    expect(paths).toContain('metadata.ownerReferences');
  });
});
