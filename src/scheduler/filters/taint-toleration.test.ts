import { describe, expect, it } from 'vitest';
import { tolerates } from '../pod-info.ts';
import { node, pod, where } from '../test-helpers.ts';

const gpu = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };

describe('TaintToleration', () => {
  it('matches tolerations like Kubernetes', () => {
    expect(tolerates({ key: 'dedicated', operator: 'Equal', value: 'gpu' }, gpu)).toBe(true);
    expect(tolerates({ key: 'dedicated', value: 'gpu', effect: 'NoExecute' }, gpu)).toBe(false);
    expect(tolerates({ key: 'dedicated', value: 'cpu' }, gpu)).toBe(false);
    expect(tolerates({ key: 'dedicated', operator: 'Exists' }, gpu)).toBe(true);
    expect(tolerates({ operator: 'Exists' }, gpu)).toBe(true); // tolerates everything
    expect(tolerates({ operator: 'Exists', effect: 'PreferNoSchedule' }, gpu)).toBe(false);
  });

  it('NoSchedule and NoExecute taints filter; the message names the taint', () => {
    const nodes = [
      node({ name: 'gpu', taints: [gpu] }),
      node({ name: 'evicting', taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }),
    ];
    expect(where(pod({ name: 'p' }), nodes)).toBe(
      'unschedulable: 0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.',
    );
    const tolerating = pod(
      { name: 'p' },
      { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] },
    );
    expect(where(tolerating, nodes)).toBe('gpu');
  });

  it('PreferNoSchedule only lowers the score', () => {
    const nodes = [
      node({ name: 'soon-maintained', taints: [{ key: 'maintenance', effect: 'PreferNoSchedule' }] }),
      node({ name: 'busy', cpu: '4' }),
    ];
    // Even though the tainted node is emptier, the untainted one wins…
    const busy = { busy: [pod({ name: 'x', cpu: '2' })] };
    expect(where(pod({ name: 'p', cpu: '100m' }), nodes, busy)).toBe('busy');
    // …unless the pod tolerates the taint, or nothing else fits.
    expect(
      where(
        pod({ name: 'p', cpu: '100m' }, { tolerations: [{ key: 'maintenance', operator: 'Exists' }] }),
        nodes,
        busy,
      ),
    ).toBe('soon-maintained');
    expect(where(pod({ name: 'p', cpu: '3' }), nodes, busy)).toBe('soon-maintained');
  });

  it('a cordoned node takes only pods that tolerate node.kubernetes.io/unschedulable', () => {
    const nodes = [node({ name: 'cordoned', unschedulable: true })];
    expect(where(pod({ name: 'p' }), nodes)).toBe(
      'unschedulable: 0/1 nodes are available: 1 node(s) were unschedulable.',
    );
    const ds = pod(
      { name: 'ds' },
      {
        tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }],
      },
    );
    expect(where(ds, nodes)).toBe('cordoned');
  });
});
