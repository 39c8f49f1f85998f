import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { BOOTSTRAP_CLUSTER_ROLES } from '../auth/rbac/bootstrap-policy.ts';
import { reconcileBootstrapPolicy } from '../auth/rbac/reconcile.ts';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { ClusterRoleAggregationController, aggregatedRules } from './clusterrole-aggregation.ts';

const G = 'rbac.authorization.k8s.io';
const CR = kindFor(`${G}/v1`, 'ClusterRole')!;
let dir: string;
let store: Store;
let objects: ObjectStore;
let controller: ClusterRoleAggregationController;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-cr-aggregation-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  await reconcileBootstrapPolicy(objects);
  controller = new ClusterRoleAggregationController({ objects });
  await controller.start();
});

afterAll(async () => {
  await controller?.stop();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const rulesOf = async (name: string) => (await objects.get(CR, undefined, name))?.rules ?? [];
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 20));
  expect(await check()).toBe(true);
}

describe('ClusterRole aggregation', () => {
  it('fills view, edit and admin from the aggregate-to roles, along the chain view → edit → admin', async () => {
    const view = BOOTSTRAP_CLUSTER_ROLES.find((r) => r.metadata.name === 'system:aggregate-to-view')!;
    const edit = BOOTSTRAP_CLUSTER_ROLES.find((r) => r.metadata.name === 'system:aggregate-to-edit')!;
    await eventually(async () => (await rulesOf('admin')).length > 0);
    await controller.whenIdle();
    expect(await rulesOf('view')).toEqual(view.rules);
    expect(await rulesOf('edit')).toEqual(expect.arrayContaining([...edit.rules!, ...view.rules!]));
    const admin = await rulesOf('admin');
    expect(admin).toEqual(expect.arrayContaining([...edit.rules!, ...view.rules!]));
    expect(admin).toContainEqual(expect.objectContaining({ resources: ['roles', 'rolebindings'] }));
    expect(await rulesOf('view')).not.toContainEqual(
      expect.objectContaining({ resources: ['roles', 'rolebindings'] }),
    );
  });

  it('picks up a new labelled role and drops it when deleted', async () => {
    const rule = { apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get'] };
    await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'ClusterRole',
      metadata: { name: 'widgets-view', labels: { [`${G}/aggregate-to-view`]: 'true' } },
      rules: [rule],
    });
    await eventually(async () => (await rulesOf('admin')).some((r: any) => r.resources?.[0] === 'widgets'));
    expect(await rulesOf('view')).toContainEqual(rule);
    await objects.delete(CR, undefined, 'widgets-view');
    await eventually(async () => !(await rulesOf('admin')).some((r: any) => r.resources?.[0] === 'widgets'));
  });

  it('aggregates sorted by name without duplicates, never from itself', () => {
    const r = (name: string, verbs: string[], labels = { x: 'y' }) => ({
      apiVersion: `${G}/v1` as const,
      kind: 'ClusterRole' as const,
      metadata: { name, labels },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs }],
    });
    const agg = {
      ...r('agg', ['*']),
      aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'y' } }] },
    };
    expect(
      aggregatedRules(agg, [r('b', ['list']), r('a', ['get']), r('c', ['get']), agg]).map((x) => x.verbs),
    ).toEqual([['get'], ['list']]);
  });
});
