import { describe, expect, it } from 'vitest';
import type { PolicyRule } from '../../api/kinds/rbac.ts';
import { type RuleTarget, ruleAllows } from './rules.ts';

const res = (verb: string, resource: string, extra: Partial<RuleTarget> = {}): RuleTarget => ({
  verb,
  resourceRequest: true,
  apiGroup: '',
  resource,
  path: '',
  ...extra,
});
const url = (verb: string, path: string): RuleTarget => ({ verb, resourceRequest: false, path });

describe('RBAC rule matching', () => {
  const podsRead: PolicyRule = { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] };

  it('matches verbs, groups and resources exactly', () => {
    expect(ruleAllows(res('get', 'pods'), podsRead)).toBe(true);
    expect(ruleAllows(res('delete', 'pods'), podsRead)).toBe(false);
    expect(ruleAllows(res('get', 'pods', { apiGroup: 'apps' }), podsRead)).toBe(false);
    expect(ruleAllows(res('get', 'secrets'), podsRead)).toBe(false);
  });

  it('keeps subresources apart: pods does not cover pods/log or pods/exec', () => {
    expect(ruleAllows(res('get', 'pods', { subresource: 'log' }), podsRead)).toBe(false);
    const log: PolicyRule = { verbs: ['get'], apiGroups: [''], resources: ['pods/log'] };
    expect(ruleAllows(res('get', 'pods', { subresource: 'log' }), log)).toBe(true);
    expect(ruleAllows(res('get', 'pods'), log)).toBe(false);
    const anyScale: PolicyRule = { verbs: ['update'], apiGroups: ['apps'], resources: ['*/scale'] };
    expect(
      ruleAllows(res('update', 'deployments', { apiGroup: 'apps', subresource: 'scale' }), anyScale),
    ).toBe(true);
    expect(ruleAllows(res('update', 'deployments', { apiGroup: 'apps' }), anyScale)).toBe(false);
  });

  it('treats * as everything, subresources included', () => {
    const all: PolicyRule = { verbs: ['*'], apiGroups: ['*'], resources: ['*'] };
    expect(ruleAllows(res('create', 'pods', { subresource: 'exec' }), all)).toBe(true);
    expect(ruleAllows(res('escalate', 'clusterroles', { apiGroup: 'rbac.authorization.k8s.io' }), all)).toBe(
      true,
    );
    expect(ruleAllows(url('get', '/healthz'), all)).toBe(false);
  });

  it('limits by resourceNames, which never cover list or create', () => {
    const one: PolicyRule = {
      verbs: ['get', 'list', 'create'],
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: ['app'],
    };
    expect(ruleAllows(res('get', 'configmaps', { name: 'app' }), one)).toBe(true);
    expect(ruleAllows(res('get', 'configmaps', { name: 'other' }), one)).toBe(false);
    expect(ruleAllows(res('list', 'configmaps'), one)).toBe(false);
    expect(ruleAllows(res('create', 'configmaps'), one)).toBe(false);
  });

  it('matches non-resource URLs exactly or by a trailing *', () => {
    const rule: PolicyRule = { verbs: ['get'], nonResourceURLs: ['/healthz', '/apis/*'] };
    expect(ruleAllows(url('get', '/healthz'), rule)).toBe(true);
    expect(ruleAllows(url('get', '/healthz/ping'), rule)).toBe(false);
    expect(ruleAllows(url('get', '/apis/apps/v1'), rule)).toBe(true);
    expect(ruleAllows(url('get', '/apis'), rule)).toBe(false);
    expect(ruleAllows(url('post', '/healthz'), rule)).toBe(false);
    // A non-resource rule never covers a resource request.
    expect(ruleAllows(res('get', 'pods'), rule)).toBe(false);
  });
});
