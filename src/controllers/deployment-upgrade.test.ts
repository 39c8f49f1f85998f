// The upgrade from a data dir of the Strata before ReplicaSets: Deployments owning their pods, history in
// ControllerRevisions. The store is prepared exactly as that version left it, then the control plane's
// controllers start on it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { objectKey } from '../store/objects.ts';
import { deploymentReplicaSets, deploymentRevisions, splitReplicaSets } from '../api/deployment-history.ts';
import { upgradeDeploymentsToReplicaSets } from './deployment-upgrade.ts';
import { POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, templateHash } from '../api/deployment-rollout.ts';
import { type RunningControllers, startControllers } from './manager.ts';
import {
  CONTROLLER_REVISION,
  DAEMONSET,
  DEPLOYMENT,
  POD,
  type TestObjects,
  condition,
  openTestObjects,
  setPodReady,
  simulateAgent,
  until,
} from './testutil.ts';

const REPLICASET = kindFor('apps/v1', 'ReplicaSet')!;

let t: TestObjects;
let objects: ObjectStore;
let running: RunningControllers | undefined;
let stopAgent: (() => void) | undefined;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
});

afterEach(async () => {
  stopAgent?.();
  await running?.stop();
  running = undefined;
  await t.close();
});

const ownerRef = (o: any) => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  name: o.metadata.name,
  uid: o.metadata.uid,
  controller: true,
  blockOwnerDeletion: true,
});

const withImage = (template: any, image: string) => {
  const t2 = structuredClone(template);
  t2.spec.containers[0].image = image;
  return t2;
};

/** A Deployment as the earlier Strata left it: revision `current` running, older revisions kept. */
async function oldStyleDeployment(
  name: string,
  images: string[],
  opts: { replicas?: number; changeCauses?: string[]; oldPods?: number } = {},
): Promise<{ d: any; pods: any[]; hashes: string[] }> {
  const replicas = opts.replicas ?? 3;
  let d = await objects.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image: images.at(-1)! }] },
      },
    },
  });
  const templates = images.map((image) => withImage(d.spec.template, image));
  const hashes = templates.map((tpl) => templateHash(tpl));
  for (const [i, template] of templates.entries()) {
    const cause = opts.changeCauses?.[i];
    await objects.create({
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name: `${name}-${hashes[i]}`,
        namespace: 'default',
        labels: { app: name, [POD_TEMPLATE_HASH_LABEL]: hashes[i] },
        ...(cause ? { annotations: { 'kubernetes.io/change-cause': cause } } : {}),
        ownerReferences: [ownerRef(d)],
      },
      data: { spec: { template } },
      revision: i + 1,
    });
  }
  d = await objects.mutate(DEPLOYMENT, 'default', name, (x) => {
    x.metadata.annotations = { [REVISION_ANNOTATION]: String(images.length) };
    return x;
  });
  d = await objects.mutate(
    DEPLOYMENT,
    'default',
    name,
    (x) => {
      x.status = {
        observedGeneration: x.metadata.generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
        unavailableReplicas: 0,
        conditions: [
          { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
          { type: 'Progressing', status: 'True', reason: 'NewRevisionAvailable' },
        ],
      };
      return x;
    },
    'status',
  );
  const pods: any[] = [];
  const podOf = async (i: number, n: number) => {
    const pod = await objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${name}-${hashes[i]}-${n}`,
        namespace: 'default',
        labels: { app: name, [POD_TEMPLATE_HASH_LABEL]: hashes[i] },
        ownerReferences: [ownerRef(d)],
      },
      spec: templates[i].spec,
    });
    await objects.bind('default', pod.metadata.name, 'n1');
    pods.push(await setPodReady(objects, await objects.get(POD, 'default', pod.metadata.name)));
  };
  for (let n = 0; n < replicas; n++) await podOf(images.length - 1, n);
  for (let n = 0; n < (opts.oldPods ?? 0); n++) await podOf(images.length - 2, n);
  return { d, pods, hashes };
}

describe('upgrade to ReplicaSets', () => {
  it('moves running pods under ReplicaSets without recreating any, keeps revisions, drops the ControllerRevisions', async () => {
    const { d, pods, hashes } = await oldStyleDeployment('legacy', ['web:1', 'web:2'], {
      changeCauses: ['first', 'second'],
    });
    // a DaemonSet's history stays as it is
    const ds = await objects.create({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: { containers: [{ name: 'a', image: 'a:1' }] },
        },
      },
    });
    await objects.create({
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: { name: 'agent-abc', namespace: 'default', ownerReferences: [ownerRef(ds)] },
      data: { spec: { template: ds.spec.template } },
      revision: 1,
    });

    const seen: string[] = [];
    const w = await objects.watch(POD, 'default', undefined, (ev) => {
      if (ev.type !== 'MODIFIED') seen.push(`${ev.type} ${ev.object.metadata.name}`);
    });
    running = startControllers({ objects });
    await running.ready;

    const rss = await until(async () => {
      const { items } = await objects.list(REPLICASET, 'default');
      return items.length === 2 && items;
    }, 'two replica sets');
    const byName = new Map(rss.map((rs) => [rs.metadata.name, rs]));
    const current = byName.get(`legacy-${hashes[1]}`)!;
    const previous = byName.get(`legacy-${hashes[0]}`)!;
    expect(current.metadata.annotations).toMatchObject({
      [REVISION_ANNOTATION]: '2',
      'kubernetes.io/change-cause': 'second',
    });
    expect(previous.metadata.annotations).toMatchObject({
      [REVISION_ANNOTATION]: '1',
      'kubernetes.io/change-cause': 'first',
    });
    expect(current.metadata.ownerReferences).toEqual([ownerRef(d)]);
    expect([current.spec.replicas, previous.spec.replicas]).toEqual([3, 0]);
    expect(current.spec.selector.matchLabels).toEqual({
      app: 'legacy',
      [POD_TEMPLATE_HASH_LABEL]: hashes[1],
    });

    const moved = await until(async () => {
      const { items } = await objects.list(POD, 'default');
      return items.every((p) => p.metadata.ownerReferences?.[0]?.kind === 'ReplicaSet') && items;
    }, 'pods handed over');
    expect(moved.map((p) => p.metadata.uid).sort()).toEqual(pods.map((p) => p.metadata.uid).sort());
    for (const p of moved) {
      expect(p.metadata.ownerReferences).toEqual([ownerRef(current)]);
      expect(p.metadata.labels[POD_TEMPLATE_HASH_LABEL]).toBe(hashes[1]);
      expect(p.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');
    }

    const after = await until(async () => {
      const x = await objects.get(DEPLOYMENT, 'default', 'legacy');
      return condition(x, 'Progressing')?.reason === 'NewReplicaSetAvailable' && x;
    }, 'deployment complete under the new controller');
    expect(after.metadata.annotations[REVISION_ANNOTATION]).toBe('2');
    expect(after.status).toMatchObject({ replicas: 3, updatedReplicas: 3, availableReplicas: 3 });
    expect(condition(after, 'Available')?.status).toBe('True');
    const history = await deploymentRevisions(objects, after);
    expect(history.map((r) => [r.revision, r.changeCause, r.template.spec.containers[0].image])).toEqual([
      [1, 'first', 'web:1'],
      [2, 'second', 'web:2'],
    ]);
    const revisions = (await objects.list(CONTROLLER_REVISION, 'default')).items;
    expect(revisions.map((r) => r.metadata.name)).toEqual(['agent-abc']);
    expect(await objects.get(DAEMONSET, 'default', 'agent')).toBeDefined();

    // Settled: not one pod was created or deleted on the way.
    await new Promise((r) => setTimeout(r, 300));
    w.cancel();
    expect(seen).toEqual([]);

    // History goes on from there: the next template is revision 3.
    stopAgent = await simulateAgent(objects);
    await objects.mutate(DEPLOYMENT, 'default', 'legacy', (x) => {
      x.spec.template.spec.containers[0].image = 'web:3';
      return x;
    });
    const third = await until(async () => {
      const x = await objects.get(DEPLOYMENT, 'default', 'legacy');
      return x.metadata.annotations[REVISION_ANNOTATION] === '3' && x;
    }, 'revision 3');
    expect((await deploymentRevisions(objects, third)).map((r) => r.revision)).toEqual([1, 2, 3]);
  });

  it("hands over pods written before today's pod defaults, untouched, and the templates line up for kubectl", async () => {
    const { pods, hashes } = await oldStyleDeployment('aged', ['web:1', 'web:2']);
    // As an older Strata stored them: without a default added since (terminationGracePeriodSeconds).
    const age = async (kind: any, name: string, spec: (o: any) => any) => {
      const key = objectKey(kind, 'default', name);
      const kv = await objects.store.get<any>(key);
      delete spec(kv!.value).terminationGracePeriodSeconds;
      await objects.store.update(key, kv!.value, kv!.modRevision);
    };
    await age(DEPLOYMENT, 'aged', (o) => o.spec.template.spec);
    for (const h of hashes) await age(CONTROLLER_REVISION, `aged-${h}`, (o) => o.data.spec.template.spec);
    for (const p of pods) await age(POD, p.metadata.name, (o) => o.spec);

    await upgradeDeploymentsToReplicaSets(objects);
    const moved = (await objects.list(POD, 'default')).items;
    expect(moved.map((p) => p.metadata.ownerReferences[0].name)).toEqual([
      `aged-${hashes[1]}`,
      `aged-${hashes[1]}`,
      `aged-${hashes[1]}`,
    ]);
    expect(moved.every((p) => p.spec.terminationGracePeriodSeconds === undefined)).toBe(true);
    const d = await objects.get(DEPLOYMENT, 'default', 'aged');
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(30);
    // kubectl's plain comparison finds the running ReplicaSet as the new one
    const { newRS } = splitReplicaSets(d, await deploymentReplicaSets(objects, d));
    expect(newRS?.metadata.name).toBe(`aged-${hashes[1]}`);

    running = startControllers({ objects });
    await running.ready;
    await until(async () => {
      const x = await objects.get(DEPLOYMENT, 'default', 'aged');
      return condition(x, 'Progressing')?.reason === 'NewReplicaSetAvailable';
    }, 'complete');
    expect((await objects.list(POD, 'default')).items.map((p) => p.metadata.uid).sort()).toEqual(
      pods.map((p) => p.metadata.uid).sort(),
    );
    expect((await objects.list(REPLICASET, 'default')).items).toHaveLength(2);
  });

  it('keeps a rollout that was under way going, from where it stood', async () => {
    // revision 2 was rolling out: 3 new pods and 1 old one left
    const { pods, hashes } = await oldStyleDeployment('mid', ['web:1', 'web:2'], { oldPods: 1 });
    const report = await upgradeDeploymentsToReplicaSets(objects);
    expect(report).toEqual({ deployments: 1, replicaSets: 2, pods: 4, controllerRevisions: 2 });
    const old = await objects.get(REPLICASET, 'default', `mid-${hashes[0]}`);
    expect(old.spec.replicas).toBe(1);
    expect(old.status).toMatchObject({ replicas: 1, readyReplicas: 1, availableReplicas: 1 });
    // a second run finds nothing left to do
    expect(await upgradeDeploymentsToReplicaSets(objects)).toEqual({
      deployments: 0,
      replicaSets: 0,
      pods: 0,
      controllerRevisions: 0,
    });

    stopAgent = await simulateAgent(objects);
    running = startControllers({ objects });
    await running.ready;
    // the new controller finishes the rollout: the old pod goes, the current ones stay
    const left = await until(async () => {
      const { items } = await objects.list(POD, 'default');
      return items.length === 3 && items;
    }, 'old pod gone');
    const current = pods.filter((p) => p.metadata.labels[POD_TEMPLATE_HASH_LABEL] === hashes[1]);
    expect(left.map((p) => p.metadata.uid).sort()).toEqual(current.map((p) => p.metadata.uid).sort());
  });
});
