// actingAs over a real sqlite ObjectStore with real RBAC (the default roles, reconciled as the server does):
// each store call is asked as the API request it stands for, a denial is kube's 403 and changes nothing,
// and only calls that reached the store are reported.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { ApiError, ObjectStore } from '../../store/objects.ts';
import { openSqliteStore } from '../../store/sqlite.ts';
import { SharedInformers } from '../../store/shared-informers.ts';
import { startAuthorization } from '../../server/authorization.ts';
import { forbiddenMessage } from '../../server/authorization-attributes.ts';
import type { RequestAttributes } from '../authorizer.ts';
import { type ActingStoreOutcome, actingAs } from './acting-store.ts';
import { CONTROLLER_MANAGER, SCHEDULER } from './identities.ts';

const POD = kindFor('v1', 'Pod')!;
const SECRET = kindFor('v1', 'Secret')!;

let dir: string;
let objects: ObjectStore;
let informers: SharedInformers;
let close: () => Promise<void>;
let asked: RequestAttributes[];
let outcomes: ActingStoreOutcome[];
let scheduler: ObjectStore;
let controllers: ObjectStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-acting-store-'));
  const store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  informers = new SharedInformers(objects);
  informers.start();
  const authz = await startAuthorization({ objects, informers });
  const recording = {
    authorize: (a: RequestAttributes) => {
      asked.push(a);
      return authz.authorizer.authorize(a);
    },
  };
  const onOutcome = (o: ActingStoreOutcome) => outcomes.push(o);
  scheduler = actingAs(objects, { user: SCHEDULER, authorizer: recording, forbiddenMessage, onOutcome });
  controllers = actingAs(objects, {
    user: CONTROLLER_MANAGER,
    authorizer: recording,
    forbiddenMessage,
    onOutcome,
  });
  close = async () => {
    informers.stop();
    await store.close();
  };
});

afterAll(async () => {
  await close?.();
  rmSync(dir, { recursive: true, force: true });
});

const pod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
});

function reset() {
  asked = [];
  outcomes = [];
}

describe('actingAs', () => {
  it('asks each call as its API request: create, binding, status, delete', async () => {
    reset();
    await controllers.create(pod('p1'));
    await scheduler.bind('default', 'p1', 'node-a');
    await scheduler.mutate(
      POD,
      'default',
      'p1',
      (p) => ({ ...p, status: { ...p.status, phase: 'Pending' } }),
      'status',
    );
    await scheduler.delete(POD, 'default', 'p1', { gracePeriodSeconds: 0 });
    expect(
      asked.map((a) => [a.user.username, a.verb, a.resource, a.subresource, a.namespace, a.name]),
    ).toEqual([
      ['system:kube-controller-manager', 'create', 'pods', undefined, 'default', undefined],
      ['system:kube-scheduler', 'create', 'pods', 'binding', 'default', 'p1'],
      ['system:kube-scheduler', 'update', 'pods', 'status', 'default', 'p1'],
      ['system:kube-scheduler', 'delete', 'pods', undefined, 'default', 'p1'],
    ]);
    expect(asked[1]!.path).toBe('/api/v1/namespaces/default/pods/p1/binding');
    expect(outcomes.map((o) => o.code)).toEqual([201, 201, 200, 200]);
    expect(outcomes[0]!.createdName).toBe('p1');
  });

  it('refuses what the role lacks with kube 403 and writes nothing', async () => {
    reset();
    // The scheduler creates no pods; the controllers create no secrets.
    const err = await scheduler.create(pod('p2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(403);
    expect((err as ApiError).message).toBe(
      'pods is forbidden: User "system:kube-scheduler" cannot create resource "pods" in API group "" in the namespace "default"',
    );
    expect(await objects.get(POD, 'default', 'p2')).toBeUndefined();
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' } };
    await expect(controllers.create(secret)).rejects.toMatchObject({ code: 403 });
    expect(await objects.get(SECRET, 'default', 's')).toBeUndefined();
    expect(outcomes.map((o) => [o.code, o.forbidden])).toEqual([
      [403, true],
      [403, true],
    ]);
  });

  it('reports no request for a mutation that changes nothing', async () => {
    await objects.create(pod('p3'));
    reset();
    await controllers.mutate(POD, 'default', 'p3', () => undefined);
    expect(asked).toHaveLength(1);
    expect(outcomes).toEqual([]);
  });

  it('passes hooks and the raw store through to the store itself', () => {
    expect(controllers.store).toBe(objects.store);
    expect(controllers).toBeInstanceOf(ObjectStore);
  });
});
