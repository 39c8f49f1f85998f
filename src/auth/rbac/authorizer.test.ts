// The RBAC authorizer over real informer caches of a real ObjectStore (sqlite in a temporary directory):
// bindings are found by user, group and service account, follow updates and deletions, and resolve
// Roles in their own namespace only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { ObjectStore } from '../../store/objects.ts';
import { SharedInformers } from '../../store/shared-informers.ts';
import { openSqliteStore } from '../../store/sqlite.ts';
import type { Store } from '../../store/store.ts';
import type { RequestAttributes } from '../authorizer.ts';
import type { UserInfo } from '../identities.ts';
import { RBACAuthorizer, superuserAuthorizer } from './authorizer.ts';
import { RbacCache, serviceAccountOf } from './cache.ts';

const G = 'rbac.authorization.k8s.io';
const kind = (k: string) => kindFor(`${G}/v1`, k)!;
let dir: string;
let store: Store;
let objects: ObjectStore;
let informers: SharedInformers;
let rbac: RBACAuthorizer;

const user = (username: string, groups: string[] = []): UserInfo => ({ username, groups, via: 'token' });
const pods = (u: UserInfo, verb: string, namespace?: string, name?: string): RequestAttributes => ({
  user: u,
  verb,
  resourceRequest: true,
  apiGroup: '',
  resource: 'pods',
  namespace,
  name,
  path: '',
});
const allowed = (a: RequestAttributes) => rbac.authorize(a).decision === 'allow';

async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(check()).toBe(true);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-rbac-authz-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  for (const ns of ['a', 'b'])
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  informers = new SharedInformers(objects);
  rbac = new RBACAuthorizer(
    new RbacCache({
      roles: informers.informerFor(kind('Role')),
      clusterRoles: informers.informerFor(kind('ClusterRole')),
      roleBindings: informers.informerFor(kind('RoleBinding')),
      clusterRoleBindings: informers.informerFor(kind('ClusterRoleBinding')),
    }),
  );
  informers.start();
  await informers.waitForSync();
  await objects.create({
    apiVersion: `${G}/v1`,
    kind: 'ClusterRole',
    metadata: { name: 'pod-reader' },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
  });
  for (const ns of ['a', 'b'])
    await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'Role',
      metadata: { name: 'pod-deleter', namespace: ns },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['delete'], resourceNames: ['old'] }],
    });
});

afterAll(async () => {
  informers?.stop();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('RBACAuthorizer', () => {
  it('has no opinion without bindings; system:masters is the superuser authorizer’s', () => {
    expect(rbac.authorize(pods(user('alice'), 'get', 'a')).decision).toBe('no-opinion');
    expect(superuserAuthorizer.authorize(pods(user('root', ['system:masters']), 'delete', 'a'))).toEqual({
      decision: 'allow',
    });
  });

  it('finds RoleBindings by user, group and service account, in their namespace only', async () => {
    await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'RoleBinding',
      metadata: { name: 'readers', namespace: 'a' },
      subjects: [
        { kind: 'User', name: 'alice' },
        { kind: 'Group', name: 'devs' },
        // No namespace: the binding's own.
        { kind: 'ServiceAccount', name: 'ci' },
      ],
      roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'pod-reader' },
    });
    await eventually(() => allowed(pods(user('alice'), 'list', 'a')));
    expect(allowed(pods(user('alice'), 'list', 'b'))).toBe(false);
    expect(allowed(pods(user('alice'), 'list'))).toBe(false); // all namespaces: cluster scope
    expect(allowed(pods(user('carol', ['devs']), 'get', 'a', 'x'))).toBe(true);
    expect(allowed(pods(user('system:serviceaccount:a:ci'), 'get', 'a'))).toBe(true);
    expect(allowed(pods(user('system:serviceaccount:b:ci'), 'get', 'a'))).toBe(false);
    expect(allowed(pods(user('alice'), 'delete', 'a', 'x'))).toBe(false);
  });

  it('resolves a Role in the binding’s namespace, with its resourceNames', async () => {
    await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'RoleBinding',
      metadata: { name: 'cleanup', namespace: 'b' },
      subjects: [{ kind: 'User', name: 'bob' }],
      roleRef: { apiGroup: G, kind: 'Role', name: 'pod-deleter' },
    });
    await eventually(() => allowed(pods(user('bob'), 'delete', 'b', 'old')));
    expect(allowed(pods(user('bob'), 'delete', 'b', 'new'))).toBe(false);
    expect(allowed(pods(user('bob'), 'delete', 'a', 'old'))).toBe(false);
  });

  it('follows updates and deletions of bindings and roles', async () => {
    const crb = await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'ClusterRoleBinding',
      metadata: { name: 'everywhere' },
      subjects: [{ kind: 'User', name: 'dave' }],
      roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'pod-reader' },
    });
    await eventually(() => allowed(pods(user('dave'), 'list', 'b')) && allowed(pods(user('dave'), 'list')));
    // The subject changes: dave loses it, erin gets it.
    await objects.update({ ...crb, subjects: [{ kind: 'User', apiGroup: G, name: 'erin' }] });
    await eventually(() => allowed(pods(user('erin'), 'list')) && !allowed(pods(user('dave'), 'list')));
    // The role loses its rules, then the binding goes.
    const role = await objects.get(kind('ClusterRole'), undefined, 'pod-reader');
    await objects.update({ ...role, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] });
    await eventually(() => !allowed(pods(user('erin'), 'list')) && allowed(pods(user('erin'), 'get', 'a')));
    await objects.delete(kind('ClusterRoleBinding'), undefined, 'everywhere');
    await eventually(() => !allowed(pods(user('erin'), 'get', 'a')));
  });

  it('lists the rules a user holds and names the bindings whose role is missing', async () => {
    await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'RoleBinding',
      metadata: { name: 'dangling', namespace: 'a' },
      subjects: [{ kind: 'User', name: 'alice' }],
      roleRef: { apiGroup: G, kind: 'Role', name: 'nope' },
    });
    await eventually(() => rbac.rulesFor(user('alice'), 'a').errors.length === 1);
    const r = rbac.rulesFor(user('alice'), 'a');
    expect(r.rules).toContainEqual(expect.objectContaining({ resources: ['pods'] }));
    expect(r.errors[0]).toContain('role.rbac.authorization.k8s.io "nope" not found');
  });

  it('reads service-account usernames', () => {
    expect(serviceAccountOf('system:serviceaccount:ns:name')).toEqual(['ns', 'name']);
    expect(serviceAccountOf('system:serviceaccount:ns')).toBeUndefined();
    expect(serviceAccountOf('alice')).toBeUndefined();
  });
});
