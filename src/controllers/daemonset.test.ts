import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { CONTROLLER_REVISION_HASH_LABEL, DaemonSetController, nodeShouldRunDaemonPod } from './daemonset.ts';
import {
  DAEMONSET,
  NODE,
  POD,
  type TestObjects,
  createNode,
  eventsFor,
  openTestObjects,
  simulateAgent,
  until,
} from './testutil.ts';

let t: TestObjects;
let objects: ObjectStore;
let controller: DaemonSetController;
let stopAgent: (() => void) | undefined;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  controller = new DaemonSetController({ objects });
  await controller.start();
});

afterEach(async () => {
  stopAgent?.();
  stopAgent = undefined;
  await controller.stop();
  await t.close();
});

function daemonset(
  name: string,
  spec: Record<string, unknown> = {},
  podSpec: Record<string, unknown> = {},
): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'agent', image: 'registry.example/agent:1' }], ...podSpec },
      },
      ...spec,
    },
  };
}

async function podsOf(name: string): Promise<any[]> {
  const { items } = await objects.list(POD, 'default');
  return items.filter((p) =>
    p.metadata.ownerReferences?.some((r: any) => r.kind === 'DaemonSet' && r.name === name),
  );
}

const live = (p: any) => !p.metadata.deletionTimestamp;
const nodesOf = (pods: any[]) =>
  pods
    .filter(live)
    .map((p) => p.spec.nodeName)
    .sort();

async function taint(node: string, taints: any[]): Promise<void> {
  await objects.mutate(NODE, undefined, node, (n) => ({ ...n, spec: { ...n.spec, taints } }));
}

describe('nodeShouldRunDaemonPod', () => {
  const ds = daemonset('x', {}, { nodeSelector: { role: 'edge' }, runtimeClassName: 'wasm' });
  const node = (labels: Record<string, string>, taints: any[] = [], runtimes = ['wasm']) => ({
    metadata: { name: 'n', labels },
    spec: { taints },
    status: { runtimeHandlers: runtimes.map((name) => ({ name })) },
  });

  it('follows nodeSelector, runtime classes and taints', () => {
    expect(nodeShouldRunDaemonPod(node({ role: 'edge' }), ds)).toEqual({
      shouldRun: true,
      shouldContinueRunning: true,
    });
    expect(nodeShouldRunDaemonPod(node({ role: 'core' }), ds).shouldRun).toBe(false);
    expect(nodeShouldRunDaemonPod(node({ role: 'edge' }, [], ['container']), ds).shouldRun).toBe(false);
    // NoSchedule: no new pod, but a running one stays
    expect(
      nodeShouldRunDaemonPod(node({ role: 'edge' }, [{ key: 'gpu', effect: 'NoSchedule' }]), ds),
    ).toEqual({
      shouldRun: false,
      shouldContinueRunning: true,
    });
    expect(nodeShouldRunDaemonPod(node({ role: 'edge' }, [{ key: 'gpu', effect: 'NoExecute' }]), ds)).toEqual(
      {
        shouldRun: false,
        shouldContinueRunning: false,
      },
    );
    // node-condition taints are tolerated by every daemon pod
    const unreachable = [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }];
    expect(nodeShouldRunDaemonPod(node({ role: 'edge' }, unreachable), ds).shouldRun).toBe(true);
  });

  it('honours required node affinity', () => {
    const affine = daemonset(
      'y',
      {},
      {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] },
              ],
            },
          },
        },
      },
    );
    expect(nodeShouldRunDaemonPod(node({ zone: 'b' }), affine).shouldRun).toBe(true);
    expect(nodeShouldRunDaemonPod(node({ zone: 'c' }), affine).shouldRun).toBe(false);
  });
});

describe('DaemonSetController', () => {
  it('runs one pod per matching node, bound directly, and follows nodes coming and going', async () => {
    await createNode(objects, { name: 'a', labels: { role: 'edge' } });
    await createNode(objects, { name: 'b', labels: { role: 'edge' } });
    await createNode(objects, { name: 'c', labels: { role: 'core' } });
    await createNode(objects, { name: 'd', labels: { role: 'edge' }, unschedulable: true });
    const ds = await objects.create(daemonset('logs', {}, { nodeSelector: { role: 'edge' } }));
    let pods = await until(async () => {
      const p = await podsOf('logs');
      return p.length === 3 && p;
    }, 'three daemon pods');
    expect(nodesOf(pods)).toEqual(['a', 'b', 'd']); // a cordoned node still runs daemon pods
    for (const p of pods) {
      expect(p.metadata.labels[CONTROLLER_REVISION_HASH_LABEL]).toBeDefined();
      expect(p.metadata.ownerReferences[0]).toMatchObject({ kind: 'DaemonSet', uid: ds.metadata.uid });
      expect(p.spec.tolerations).toContainEqual({
        key: 'node.kubernetes.io/unreachable',
        operator: 'Exists',
        effect: 'NoExecute',
      });
    }
    const status = await until(async () => {
      const s = (await objects.get(DAEMONSET, 'default', 'logs')).status;
      return s?.currentNumberScheduled === 3 && s;
    }, 'status');
    expect(status).toMatchObject({
      desiredNumberScheduled: 3,
      numberMisscheduled: 0,
      updatedNumberScheduled: 3,
    });

    await createNode(objects, { name: 'e', labels: { role: 'edge' } });
    await objects.mutate(NODE, undefined, 'a', (n) => ({
      ...n,
      metadata: { ...n.metadata, labels: { role: 'core' } },
    }));
    await objects.delete(NODE, undefined, 'b');
    pods = await until(async () => {
      const p = (await podsOf('logs')).filter(live);
      return nodesOf(p).join() === 'd,e' && p;
    }, 'pods on d and e only');
    const events = await eventsFor(objects, 'DaemonSet', 'logs');
    expect(events.some((e) => e.reason === 'SuccessfulCreate')).toBe(true);
    expect(events.some((e) => e.reason === 'SuccessfulDelete')).toBe(true);
  });

  it('respects taints: no pod where a taint is not tolerated, eviction for NoExecute', async () => {
    await createNode(objects, { name: 'a' });
    await createNode(objects, { name: 'b' });
    await taint('b', [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]);
    await objects.create(daemonset('plain'));
    await objects.create(
      daemonset(
        'tolerant',
        {},
        { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] },
      ),
    );
    await until(async () => nodesOf(await podsOf('plain')).join() === 'a', 'plain only on a');
    await until(async () => nodesOf(await podsOf('tolerant')).join() === 'a,b', 'tolerant on a and b');
    // a NoExecute taint the pods do not tolerate evicts them
    await taint('a', [{ key: 'maintenance', effect: 'NoExecute' }]);
    await until(async () => nodesOf(await podsOf('plain')).length === 0, 'plain evicted from a');
    await until(async () => nodesOf(await podsOf('tolerant')).join() === 'b', 'tolerant evicted from a');
  });

  it('rolls out a new template with at most maxUnavailable nodes lacking an available pod', async () => {
    stopAgent = await simulateAgent(objects);
    for (const n of ['a', 'b', 'c', 'd']) await createNode(objects, { name: n });
    await objects.create(
      daemonset('roll', { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } }),
    );
    await until(
      async () => (await objects.get(DAEMONSET, 'default', 'roll')).status?.numberAvailable === 4,
      '4 available',
    );

    // follow, per node, whether a ready pod is serving
    const pods = new Map<string, any>();
    for (const p of await podsOf('roll')) pods.set(p.metadata.name, p);
    let worst = 0;
    const w = await objects.watch(POD, 'default', undefined, (ev) => {
      const p = ev.object;
      if (ev.type === 'DELETED') pods.delete(p.metadata.name);
      else pods.set(p.metadata.name, p);
      const serving = new Set(
        [...pods.values()]
          .filter(
            (x) =>
              live(x) &&
              (x.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
          )
          .map((x) => x.spec.nodeName),
      );
      worst = Math.max(worst, 4 - serving.size);
    });
    await objects.mutate(DAEMONSET, 'default', 'roll', (ds) => {
      ds.spec.template.spec.containers[0].image = 'registry.example/agent:2';
      return ds;
    });
    const status = await until(async () => {
      const s = (await objects.get(DAEMONSET, 'default', 'roll')).status;
      const p = (await podsOf('roll')).filter(live);
      const done = p.length === 4 && p.every((x) => x.spec.containers[0].image.endsWith(':2'));
      return (
        done && s?.observedGeneration === 2 && s.updatedNumberScheduled === 4 && s.numberAvailable === 4 && s
      );
    }, 'rolled out');
    w.cancel();
    expect(status.observedGeneration).toBe(2);
    const after = (await podsOf('roll')).filter(live);
    expect(after).toHaveLength(4);
    expect(after.every((p) => p.spec.containers[0].image === 'registry.example/agent:2')).toBe(true);
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('with maxSurge starts the new pod beside the old one and removes the old once it is available', async () => {
    stopAgent = await simulateAgent(objects);
    for (const n of ['a', 'b']) await createNode(objects, { name: n });
    await objects.create(
      daemonset('surge', {
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      }),
    );
    await until(
      async () => (await objects.get(DAEMONSET, 'default', 'surge')).status?.numberAvailable === 2,
      '2 available',
    );
    let maxLive = 0;
    const livePods = new Set<string>();
    for (const p of await podsOf('surge')) livePods.add(p.metadata.name);
    const w = await objects.watch(POD, 'default', undefined, (ev) => {
      if (ev.type === 'DELETED' || ev.object.metadata.deletionTimestamp)
        livePods.delete(ev.object.metadata.name);
      else livePods.add(ev.object.metadata.name);
      maxLive = Math.max(maxLive, livePods.size);
    });
    await objects.mutate(DAEMONSET, 'default', 'surge', (ds) => {
      ds.spec.template.spec.containers[0].image = 'registry.example/agent:2';
      return ds;
    });
    await until(async () => {
      const s = (await objects.get(DAEMONSET, 'default', 'surge')).status;
      const p = (await podsOf('surge')).filter(live);
      return (
        s?.updatedNumberScheduled === 2 &&
        p.length === 2 &&
        p.every((x) => x.spec.containers[0].image.endsWith(':2'))
      );
    }, 'surged rollout done');
    w.cancel();
    expect(maxLive).toBe(3);
  });
});
