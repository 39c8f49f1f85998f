import { describe, expect, it } from 'vitest';
import type { RequestAttributes } from './authorizer.ts';
import { NodeGraph, podReferences } from './node-authorizer-graph.ts';
import { NodeAuthorizer } from './node-authorizer.ts';

const nodeUser = (n: string) => ({
  username: `system:node:${n}`,
  groups: ['system:nodes', 'system:authenticated'],
  via: 'x509' as const,
});

const pod = (name: string, node: string | undefined, spec: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: 'default' },
  spec: { nodeName: node, containers: [{ name: 'c' }], ...spec },
});

function setup() {
  const graph = new NodeGraph();
  graph.setPod(
    pod('web', 'n1', {
      serviceAccountName: 'web-sa',
      volumes: [
        { name: 'cfg', configMap: { name: 'web-config' } },
        { name: 'data', persistentVolumeClaim: { claimName: 'web-data' } },
        { name: 'api', projected: { sources: [{ configMap: { name: 'kube-root-ca.crt' } }] } },
      ],
      containers: [
        { name: 'c', env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'web-token', key: 't' } } }] },
      ],
    }),
  );
  graph.setPod(pod('db', 'n2', { volumes: [{ name: 's', secret: { secretName: 'db-pass' } }] }));
  const authz = new NodeAuthorizer({
    graph,
    ingressTlsSecret: (ns, name) => ns === 'default' && name === 'site-tls',
    // A local volume on n1 whose claim no pod uses now (its node grows it and reports the size).
    claimVolumeNodeNow: async (ns, name) => (ns === 'default' && name === 'idle-data' ? 'n1' : undefined),
  });
  const ask = (n: string, a: Partial<RequestAttributes>) =>
    authz.authorize({ user: nodeUser(n), verb: 'get', resourceRequest: true, path: '/', ...a });
  return { graph, authz, ask };
}

describe('Node authorizer', () => {
  it('lists what a pod refers to', () => {
    expect(
      podReferences(
        pod('p', 'n1', {
          imagePullSecrets: [{ name: 'pull' }],
          containers: [
            { name: 'c', envFrom: [{ configMapRef: { name: 'env-cm' } }, { secretRef: { name: 'env-s' } }] },
          ],
        }),
      ).sort(),
    ).toEqual([
      'configmaps/default/env-cm',
      'secrets/default/env-s',
      'secrets/default/pull',
      'serviceaccounts/default/default',
    ]);
  });

  it('lets a node get only what its own pods use', async () => {
    const { ask } = setup();
    const get = (n: string, resource: string, name: string) =>
      ask(n, { resource, namespace: 'default', name });
    expect((await get('n1', 'secrets', 'web-token')).decision).toBe('allow');
    expect((await get('n1', 'configmaps', 'web-config')).decision).toBe('allow');
    expect((await get('n1', 'configmaps', 'kube-root-ca.crt')).decision).toBe('allow');
    expect((await get('n1', 'persistentvolumeclaims', 'web-data')).decision).toBe('allow');
    expect((await get('n1', 'serviceaccounts', 'web-sa')).decision).toBe('allow');
    expect((await get('n1', 'secrets', 'db-pass')).decision).toBe('no-opinion');
    expect((await get('n2', 'secrets', 'web-token')).decision).toBe('no-opinion');
    expect((await get('n1', 'secrets', 'site-tls')).decision).toBe('allow');
    expect((await ask('n1', { verb: 'list', resource: 'secrets', namespace: 'default' })).decision).toBe(
      'no-opinion',
    );
  });

  it('lets a node write only its own Node, Lease and pods', async () => {
    const { ask, graph } = setup();
    const w = (n: string, a: Partial<RequestAttributes>) => ask(n, a).then((r) => r.decision);
    expect(await w('n1', { verb: 'patch', resource: 'nodes', name: 'n1', subresource: 'status' })).toBe(
      'allow',
    );
    expect(await w('n1', { verb: 'patch', resource: 'nodes', name: 'n2', subresource: 'status' })).toBe(
      'no-opinion',
    );
    const lease = { apiGroup: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease' };
    expect(await w('n1', { ...lease, verb: 'update', name: 'n1' })).toBe('allow');
    expect(await w('n1', { ...lease, verb: 'update', name: 'n2' })).toBe('no-opinion');
    const status = { resource: 'pods', subresource: 'status', namespace: 'default', verb: 'patch' };
    expect(await w('n1', { ...status, name: 'web' })).toBe('allow');
    expect(await w('n1', { ...status, name: 'db' })).toBe('no-opinion');
    expect(await w('n1', { resource: 'pods', namespace: 'default', name: 'db', verb: 'delete' })).toBe(
      'no-opinion',
    );
    expect(await w('n1', { resource: 'pods', namespace: 'default', verb: 'create' })).toBe('no-opinion');
    expect(
      await w('n1', { resource: 'secrets', namespace: 'default', name: 'web-token', verb: 'update' }),
    ).toBe('no-opinion');
    // A pod moved off the node (deleted and recreated elsewhere) stops counting.
    graph.deletePod(pod('web', 'n1'));
    expect(await w('n1', { ...status, name: 'web' })).toBe('no-opinion');
    expect(await w('n1', { resource: 'secrets', namespace: 'default', name: 'web-token' })).toBe(
      'no-opinion',
    );
  });

  it('has no opinion about anyone but nodes', async () => {
    const { authz } = setup();
    const r = await authz.authorize({
      user: { username: 'system:node:n1', groups: ['system:authenticated'], via: 'token' },
      verb: 'get',
      resourceRequest: true,
      resource: 'secrets',
      namespace: 'default',
      name: 'web-token',
      path: '/',
    });
    expect(r.decision).toBe('no-opinion');
  });

  it('lets a node write the status of a claim whose local volume it holds, even with no pod using it', async () => {
    const { ask } = setup();
    const status = (n: string, name: string) =>
      ask(n, {
        verb: 'patch',
        resource: 'persistentvolumeclaims',
        subresource: 'status',
        namespace: 'default',
        name,
      });
    expect((await status('n1', 'idle-data')).decision).toBe('allow');
    expect((await status('n2', 'idle-data')).decision).toBe('no-opinion');
    expect((await status('n1', 'web-data')).decision).toBe('allow');
    expect((await status('n2', 'web-data')).decision).toBe('no-opinion');
  });
});
