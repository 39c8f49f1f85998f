// API discovery (/api, /apis) so clients can learn which kinds exist, and TokenReview so node agents can
// check the bearer tokens of requests the server forwards to them (log streaming).
import type { FastifyInstance } from 'fastify';
import { allKinds } from '../../api/index.ts';
import type { TokenAuthenticator } from '../auth.ts';

function resourceList(groupVersion: string) {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: allKinds()
      .filter((k) => k.apiVersion === groupVersion)
      .map((k) => ({
        name: k.plural,
        singularName: k.singular,
        namespaced: k.namespaced,
        kind: k.kind,
        shortNames: k.shortNames,
        verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
      })),
  };
}

export function registerDiscoveryRoutes(app: FastifyInstance): void {
  app.get('/api', async () => ({ kind: 'APIVersions', versions: ['v1'] }));
  app.get('/api/v1', async () => resourceList('v1'));
  app.get('/apis', async () => {
    const groups = new Map<string, string>();
    for (const k of allKinds()) if (k.group) groups.set(k.group, k.version);
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, version]) => ({
        name,
        versions: [{ groupVersion: `${name}/${version}`, version }],
        preferredVersion: { groupVersion: `${name}/${version}`, version },
      })),
    };
  });
  app.get('/apis/:group/:version', async (req) => {
    const { group, version } = req.params as { group: string; version: string };
    return resourceList(`${group}/${version}`);
  });
}

export function registerTokenReview(app: FastifyInstance, auth: TokenAuthenticator): void {
  app.post('/apis/authentication.k8s.io/v1/tokenreviews', async (req) => {
    const token = (req.body as any)?.spec?.token;
    const user = typeof token === 'string' ? auth.authenticateToken(token) : undefined;
    return {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      status: user ? { authenticated: true, user: { username: user.username } } : { authenticated: false },
    };
  });
}
