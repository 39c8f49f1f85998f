// Reconciling the default roles: a role of an earlier Strata loses exactly the rules this one retired,
// keeps what an administrator added, and gains today's rules; an opted-out role is left alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { ObjectStore } from '../../store/objects.ts';
import { openSqliteStore } from '../../store/sqlite.ts';
import {
  AUTOUPDATE_ANNOTATION,
  BOOTSTRAP_CLUSTER_ROLES,
  RETIRED_BOOTSTRAP_RULES,
} from './bootstrap-policy.ts';
import { reconcileBootstrapPolicy } from './reconcile.ts';

const CLUSTER_ROLE = kindFor('rbac.authorization.k8s.io/v1', 'ClusterRole')!;
const dir = mkdtempSync(join(tmpdir(), 'strata-rbac-reconcile-'));
const store = openSqliteStore(join(dir, 'state.db'));
const objects = new ObjectStore(store);
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const NAME = 'system:kube-controller-manager';
const added = { verbs: ['get'], apiGroups: ['example.com'], resources: ['widgets'] };

describe('reconcileBootstrapPolicy', () => {
  it('takes back the retired broad rules of the controllers, keeping an administrator’s addition', async () => {
    const retired = RETIRED_BOOTSTRAP_RULES[NAME]!;
    expect(retired.length).toBeGreaterThan(0);
    await objects.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: NAME, annotations: { [AUTOUPDATE_ANNOTATION]: 'true' } },
      rules: [...retired, added],
    });
    await reconcileBootstrapPolicy(objects);
    const role = await objects.get(CLUSTER_ROLE, undefined, NAME);
    const wanted = BOOTSTRAP_CLUSTER_ROLES.find((r) => r.metadata.name === NAME)!.rules!;
    expect(role.rules).toEqual([added, ...wanted]);
    for (const r of role.rules) expect(r.verbs).not.toContain('*');
  });

  it('leaves a role opted out of auto-update as it is', async () => {
    const role = await objects.get(CLUSTER_ROLE, undefined, NAME);
    const broad = RETIRED_BOOTSTRAP_RULES[NAME]![0]!;
    await objects.update({
      ...role,
      metadata: { ...role.metadata, annotations: { [AUTOUPDATE_ANNOTATION]: 'false' } },
      rules: [broad],
    });
    await reconcileBootstrapPolicy(objects);
    expect((await objects.get(CLUSTER_ROLE, undefined, NAME)).rules).toEqual([broad]);
  });
});
