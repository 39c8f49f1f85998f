import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { DeploymentController, POD_TEMPLATE_HASH_LABEL, templateHash } from './deployment.ts';
import { DEPLOYMENT, POD, type TestObjects, condition, openTestObjects, until } from './testutil.ts';

let t: TestObjects;
let objects: ObjectStore;
let controller: DeploymentController;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  controller = new DeploymentController({ objects });
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

function deployment(name: string, replicas: number, image = 'registry.example/web:1'): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image }] },
      },
    },
  };
}

async function podsOf(name: string): Promise<any[]> {
  const { items } = await objects.list(POD, 'default');
  return items.filter((p) =>
    p.metadata.ownerReferences?.some((r: any) => r.kind === 'Deployment' && r.name === name),
  );
}

/** Wait until the deployment has exactly `n` pods, all of the current template, and return them. */
async function settled(name: string, n: number): Promise<any[]> {
  return until(async () => {
    const d = await objects.get(DEPLOYMENT, 'default', name);
    const hash = templateHash(d.spec.template);
    const pods = await podsOf(name);
    const ok = pods.length === n && pods.every((p) => p.metadata.labels[POD_TEMPLATE_HASH_LABEL] === hash);
    return ok && pods;
  }, `${n} pods of ${name}`);
}

describe('templateHash', () => {
  it('is short, stable and independent of key order', () => {
    const a = templateHash({
      metadata: { labels: { app: 'x' } },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    });
    const b = templateHash({
      spec: { containers: [{ image: 'i', name: 'c' }] },
      metadata: { labels: { app: 'x' } },
    });
    expect(a).toBe(b);
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(templateHash({ spec: { containers: [{ name: 'c', image: 'j' }] } })).not.toBe(a);
  });
});

describe('DeploymentController', () => {
  it('creates replicas with template labels, pod-template-hash, owner and generated names', async () => {
    const d = await objects.create(deployment('web', 3));
    const pods = await settled('web', 3);
    const hash = templateHash(d.spec.template);
    for (const p of pods) {
      expect(p.metadata.name).toMatch(new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
      expect(p.metadata.labels).toEqual({ app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash });
      expect(p.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: 'web',
          uid: d.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(p.spec.containers[0].image).toBe('registry.example/web:1');
    }
    const status = await until(async () => {
      const s = (await objects.get(DEPLOYMENT, 'default', 'web')).status;
      return s?.replicas === 3 && s;
    }, 'status');
    expect(status).toMatchObject({
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 0,
      availableReplicas: 0,
    });
    expect(condition({ status }, 'Available')).toMatchObject({
      status: 'False',
      reason: 'MinimumReplicasUnavailable',
    });
    expect(condition({ status }, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'ReplicaSetUpdated',
    });
  });

  it('replaces a deleted pod and a failed pod', async () => {
    await objects.create(deployment('web', 2));
    const [first, second] = await settled('web', 2);
    await objects.delete(POD, 'default', first.metadata.name);
    await until(async () => {
      const pods = await podsOf('web');
      return pods.length === 2 && !pods.some((p) => p.metadata.name === first.metadata.name);
    }, 'replacement of the deleted pod');
    await objects.updateStatus(POD, 'default', second.metadata.name, { status: { phase: 'Failed' } });
    const pods = await until(async () => {
      const all = await podsOf('web');
      return all.filter((p) => p.status?.phase !== 'Failed').length === 2 && all;
    }, 'replacement of the failed pod');
    expect(pods).toHaveLength(3); // the failed pod is kept for inspection
  });

  it('replaces pods on a template change and scales up and down', async () => {
    await objects.create(deployment('web', 3));
    const before = await settled('web', 3);
    await objects.mutate(DEPLOYMENT, 'default', 'web', (d) => {
      d.spec.template.spec.containers[0].image = 'registry.example/web:2';
      return d;
    });
    const after = await settled('web', 3);
    expect(after.every((p) => p.spec.containers[0].image === 'registry.example/web:2')).toBe(true);
    expect(after.some((p) => before.some((b) => b.metadata.name === p.metadata.name))).toBe(false);

    await objects.mutate(DEPLOYMENT, 'default', 'web', (d) => ({ ...d, spec: { ...d.spec, replicas: 5 } }));
    await settled('web', 5);
    await objects.mutate(DEPLOYMENT, 'default', 'web', (d) => ({ ...d, spec: { ...d.spec, replicas: 1 } }));
    await settled('web', 1);
    await objects.mutate(DEPLOYMENT, 'default', 'web', (d) => ({ ...d, spec: { ...d.spec, replicas: 0 } }));
    await settled('web', 0);
    const status = await until(async () => {
      const d = await objects.get(DEPLOYMENT, 'default', 'web');
      return d.status?.observedGeneration === d.metadata.generation && d.status.replicas === 0 && d.status;
    }, 'status after scale to zero');
    expect(condition({ status }, 'Available')).toMatchObject({ status: 'True' });
    expect(condition({ status }, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'NewReplicaSetAvailable',
    });
  });

  it('reports ready and available replicas from pod conditions', async () => {
    await objects.create(deployment('web', 2));
    const pods = await settled('web', 2);
    for (const p of pods) {
      await objects.updateStatus(POD, 'default', p.metadata.name, {
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      });
    }
    const status = await until(async () => {
      const s = (await objects.get(DEPLOYMENT, 'default', 'web')).status;
      return s?.availableReplicas === 2 && s;
    }, 'available');
    expect(status).toMatchObject({
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      unavailableReplicas: 0,
    });
    expect(condition({ status }, 'Available')).toMatchObject({
      status: 'True',
      reason: 'MinimumReplicasAvailable',
    });
    expect(condition({ status }, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'NewReplicaSetAvailable',
      message: 'Deployment "web" has successfully progressed.',
    });
  });

  it('never creates more pods than replicas while the cache catches up', async () => {
    let created = 0;
    const w = await objects.watch(POD, 'default', undefined, (ev) => {
      if (ev.type === 'ADDED') created++;
    });
    await objects.create(deployment('burst', 20));
    await settled('burst', 20);
    // Pod events keep re-queueing the deployment meanwhile; each reconcile must see its own creations.
    await controller.whenIdle();
    w.cancel();
    expect(created).toBe(20);
  });

  it('Recreate deletes old pods before creating new ones', async () => {
    const d = deployment('rc', 2);
    d.spec.strategy = { type: 'Recreate' };
    await objects.create(d);
    const before = await settled('rc', 2);
    const seen = new Set<string>();
    let overlap = false;
    const w = await objects.watch(POD, 'default', undefined, (ev) => {
      const name = ev.object.metadata.name;
      if (ev.type === 'DELETED') seen.delete(name);
      else seen.add(name);
      const old = [...seen].filter((n) => before.some((b) => b.metadata.name === n));
      if (old.length > 0 && seen.size > old.length) overlap = true;
    });
    for (const b of before) seen.add(b.metadata.name);
    await objects.mutate(DEPLOYMENT, 'default', 'rc', (x) => {
      x.spec.template.spec.containers[0].image = 'registry.example/web:2';
      return x;
    });
    await settled('rc', 2);
    w.cancel();
    expect(overlap).toBe(false);
  });
});
