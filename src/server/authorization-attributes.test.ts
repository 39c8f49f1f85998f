import { describe, expect, it } from 'vitest';
import { forbiddenMessage, requestAttributes } from './authorization-attributes.ts';

const u = { username: 'alice', groups: [], via: 'token' as const };
const attrs = (method: string, url: string) => {
  const { user: _user, ...rest } = requestAttributes(method, url, u);
  return rest;
};

describe('request attributes', () => {
  it('derives the verb from method, name and watch', () => {
    expect(attrs('GET', '/api/v1/namespaces/d/pods').verb).toBe('list');
    expect(attrs('GET', '/api/v1/namespaces/d/pods?watch=true').verb).toBe('watch');
    expect(attrs('GET', '/api/v1/namespaces/d/pods?watch=1&fieldSelector=x').verb).toBe('watch');
    expect(attrs('GET', '/api/v1/watch/namespaces/d/pods').verb).toBe('watch');
    expect(attrs('GET', '/api/v1/namespaces/d/pods/p').verb).toBe('get');
    expect(attrs('POST', '/api/v1/namespaces/d/pods').verb).toBe('create');
    expect(attrs('PUT', '/api/v1/namespaces/d/pods/p').verb).toBe('update');
    expect(attrs('PATCH', '/api/v1/namespaces/d/pods/p').verb).toBe('patch');
    expect(attrs('DELETE', '/api/v1/namespaces/d/pods/p').verb).toBe('delete');
    expect(attrs('DELETE', '/api/v1/namespaces/d/pods').verb).toBe('deletecollection');
  });

  it('reads groups, namespaces, names and subresources', () => {
    expect(attrs('PUT', '/apis/apps/v1/namespaces/d/deployments/web/scale')).toEqual({
      verb: 'update',
      resourceRequest: true,
      apiGroup: 'apps',
      apiVersion: 'v1',
      resource: 'deployments',
      subresource: 'scale',
      namespace: 'd',
      name: 'web',
      path: '/apis/apps/v1/namespaces/d/deployments/web/scale',
    });
    expect(attrs('GET', '/api/v1/nodes/n1')).toMatchObject({
      resource: 'nodes',
      name: 'n1',
      namespace: undefined,
    });
    // A Namespace is filed under itself; its status is its subresource, not a resource in it.
    expect(attrs('GET', '/api/v1/namespaces/d')).toMatchObject({
      resource: 'namespaces',
      name: 'd',
      namespace: 'd',
    });
    expect(attrs('PUT', '/api/v1/namespaces/d/status')).toMatchObject({
      resource: 'namespaces',
      subresource: 'status',
    });
    expect(attrs('GET', '/api/v1/namespaces/d/pods/p/log')).toMatchObject({
      verb: 'get',
      subresource: 'log',
    });
    // kubectl get pod p -w watches a list narrowed to one name: rules with resourceNames apply.
    expect(
      attrs('GET', '/api/v1/namespaces/d/pods?fieldSelector=metadata.name%3Dp&watch=true'),
    ).toMatchObject({
      verb: 'watch',
      name: 'p',
    });
    expect(
      attrs('GET', '/api/v1/namespaces/d/pods?fieldSelector=metadata.name%3Dp,status.phase%3DRunning').name,
    ).toBeUndefined();
  });

  it('asks create for exec, attach and port-forward whatever the method (WebSocket upgrades are GETs)', () => {
    for (const sub of ['exec', 'attach', 'portforward'])
      expect(attrs('GET', `/api/v1/namespaces/d/pods/p/${sub}?command=sh`).verb).toBe('create');
  });

  it('treats discovery, OpenAPI and other paths as non-resource requests', () => {
    for (const path of ['/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/openapi/v3', '/metrics'])
      expect(attrs('GET', path)).toEqual({ verb: 'get', resourceRequest: false, path });
  });

  it('writes kube’s forbidden messages', () => {
    expect(forbiddenMessage(requestAttributes('GET', '/api/v1/namespaces/d/pods', u))).toBe(
      'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "d"',
    );
    expect(forbiddenMessage(requestAttributes('GET', '/apis/apps/v1/deployments', u))).toBe(
      'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" at the cluster scope',
    );
    expect(forbiddenMessage(requestAttributes('GET', '/metrics', u))).toBe(
      'forbidden: User "alice" cannot get path "/metrics"',
    );
    expect(forbiddenMessage(requestAttributes('GET', '/api/v1/namespaces/d/pods/p/log', u), 'no')).toBe(
      'pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "d": no',
    );
  });
});
