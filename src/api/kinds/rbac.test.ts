import { describe, expect, it } from 'vitest';
import { bindingUpdateCauses } from './rbac.ts';
import { invalid, valid } from './testing.ts';

const G = 'rbac.authorization.k8s.io';
const role = (rules: unknown[], kind = 'Role') => ({
  apiVersion: `${G}/v1`,
  kind,
  metadata: { name: 'r', ...(kind === 'Role' ? { namespace: 'default' } : {}) },
  rules,
});
const binding = (subjects: unknown[], roleRef: unknown, kind = 'RoleBinding') => ({
  apiVersion: `${G}/v1`,
  kind,
  metadata: { name: 'b', ...(kind === 'RoleBinding' ? { namespace: 'default' } : {}) },
  subjects,
  roleRef,
});
const fields = (causes: { field: string }[]) => causes.map((c) => c.field);

describe('rbac kinds', () => {
  it('accepts a role and names with colons (system:controller:…)', () => {
    valid(role([{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] }]));
    const cr = valid({
      ...role([{ nonResourceURLs: ['/healthz', '/api/*'], verbs: ['get'] }], 'ClusterRole'),
      metadata: { name: 'system:public-info-viewer' },
    });
    expect(cr.metadata.name).toBe('system:public-info-viewer');
  });

  it('refuses names that are not path segments', () => {
    const causes = invalid({ ...role([], 'ClusterRole'), metadata: { name: 'a/b' } });
    expect(causes[0]).toMatchObject({
      field: 'metadata.name',
      message: expect.stringContaining("may not contain '/'"),
    });
  });

  it('validates rules as kube-apiserver does', () => {
    expect(fields(invalid(role([{ apiGroups: [''], resources: ['pods'], verbs: [] }])))).toEqual([
      'rules[0].verbs',
    ]);
    expect(fields(invalid(role([{ resources: ['pods'], verbs: ['get'] }])))).toEqual(['rules[0].apiGroups']);
    expect(fields(invalid(role([{ apiGroups: [''], verbs: ['get'] }])))).toEqual(['rules[0].resources']);
    const mixed = invalid(
      role(
        [{ apiGroups: [''], resources: ['pods'], nonResourceURLs: ['/x'], verbs: ['get'] }],
        'ClusterRole',
      ),
    );
    expect(mixed[0].message).toContain('rules cannot apply to both regular resources and non-resource URLs');
    const ns = invalid(role([{ nonResourceURLs: ['/healthz'], verbs: ['get'] }]));
    expect(ns[0]).toMatchObject({
      field: 'rules[0].nonResourceURLs',
      message: expect.stringContaining('namespaced rules cannot apply to non-resource URLs'),
    });
  });

  it('defaults subject apiGroups and checks subject kinds', () => {
    const b = valid(
      binding(
        [
          { kind: 'User', name: 'alice' },
          { kind: 'ServiceAccount', name: 'default' },
        ],
        { apiGroup: G, kind: 'ClusterRole', name: 'view' },
      ),
    );
    expect(b.subjects[0].apiGroup).toBe(G);
    expect(b.subjects[1].apiGroup).toBe('');
    const bad = invalid(binding([{ kind: 'Robot', name: 'x' }], { apiGroup: G, kind: 'Role', name: 'r' }));
    expect(bad[0]).toMatchObject({ field: 'subjects[0].kind', reason: 'FieldValueNotSupported' });
    // A ClusterRoleBinding's service account must say its namespace.
    const crb = invalid(
      binding(
        [{ kind: 'ServiceAccount', name: 'default' }],
        { apiGroup: G, kind: 'ClusterRole', name: 'view' },
        'ClusterRoleBinding',
      ),
    );
    expect(fields(crb)).toEqual(['subjects[0].namespace']);
  });

  it('checks the roleRef', () => {
    const crb = invalid(binding([], { apiGroup: G, kind: 'Role', name: 'r' }, 'ClusterRoleBinding'));
    expect(crb[0]).toMatchObject({ field: 'roleRef.kind', reason: 'FieldValueNotSupported' });
    const group = invalid(binding([], { apiGroup: 'x', kind: 'Role', name: 'r' }));
    expect(fields(group)).toEqual(['roleRef.apiGroup']);
    expect(fields(invalid(binding([], { apiGroup: G, kind: 'Role', name: '' })))).toEqual(['roleRef.name']);
  });

  it('keeps roleRef immutable', () => {
    const a = { roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'view' } };
    expect(bindingUpdateCauses(a, a)).toEqual([]);
    const causes = bindingUpdateCauses({ roleRef: { ...a.roleRef, name: 'cluster-admin' } }, a);
    expect(causes[0]).toMatchObject({
      field: 'roleRef',
      message: expect.stringContaining('cannot change roleRef'),
    });
  });
});
