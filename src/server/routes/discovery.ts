// API discovery, so clients learn which resources exist and what they can do with them:
//
//   /api, /apis              APIVersions / APIGroupList, or — when the Accept header asks for
//                            `as=APIGroupDiscoveryList;g=apidiscovery.k8s.io;v=v2` (kubectl 1.30+ asks first) —
//                            aggregated discovery: every group, version and resource in one response
//   /apis/{group}            APIGroup
//   /api/v1, /apis/{g}/{v}   APIResourceList: verbs, short names, categories, subresources (`pods/log`…)
//
// Resources come from the kind registry, their subresources from src/api/subresources.ts, plus the
// resources served without storage (TokenReview, SelfSubjectReview).
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allKinds, statusFailure } from '../../api/index.ts';
import {
  RESOURCE_VERBS,
  categoriesOf,
  subresourcesOf,
  type GroupVersionKind,
  type Verb,
} from '../../api/subresources.ts';
import { ApiError } from '../../store/objects.ts';
import {
  CUSTOM_METRICS_GROUP,
  CUSTOM_METRICS_RESOURCES,
  CUSTOM_METRICS_VERSIONS,
} from './custom-metrics-api.ts';
import { parseAccept } from '../table.ts';

/** One resource of a group-version, the source of both discovery formats. */
export interface DiscoveredResource {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: Verb[];
  shortNames: string[];
  categories: string[];
  /** Kinds with storage have one; kube derives it from group/version/kind. */
  storageVersionHash?: string;
  subresources: { name: string; responseKind: GroupVersionKind; verbs: Verb[] }[];
}

/**
 * kube-apiserver's storageVersionHash: base64 of the first 8 bytes of sha256("group/version/kind").
 * Clients (the storage version migrator) only compare it for changes.
 */
export function storageVersionHash(group: string, version: string, kind: string): string {
  return createHash('sha256')
    .update(`${group}/${version}/${kind}`)
    .digest()
    .subarray(0, 8)
    .toString('base64');
}

const review = (group: string, plural: string, kind: string, namespaced = false): DiscoveredResource => ({
  group,
  version: 'v1',
  plural,
  singular: plural.slice(0, -1),
  kind,
  namespaced,
  verbs: ['create'],
  shortNames: [],
  categories: [],
  subresources: [],
});

/** metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics (read-only, served by routes/metrics-api.ts). */
const metricsResource = (plural: 'nodes' | 'pods'): DiscoveredResource => ({
  group: 'metrics.k8s.io',
  version: 'v1beta1',
  plural,
  singular: '',
  kind: plural === 'nodes' ? 'NodeMetrics' : 'PodMetrics',
  namespaced: plural === 'pods',
  verbs: ['get', 'list'],
  shortNames: [],
  categories: [],
  subresources: [],
});

/** custom.metrics.k8s.io: `pods/requests_per_second`… (read-only, served by routes/custom-metrics-api.ts). */
const customMetricsResources = (): DiscoveredResource[] =>
  CUSTOM_METRICS_VERSIONS.flatMap((version) =>
    CUSTOM_METRICS_RESOURCES.map((plural) => ({
      group: CUSTOM_METRICS_GROUP,
      version,
      plural,
      singular: '',
      kind: 'MetricValueList',
      namespaced: true,
      verbs: ['get'] as Verb[],
      shortNames: [],
      categories: [],
      subresources: [],
    })),
  );

/**
 * Resources served by handlers of their own rather than the object store (src/server/routes/authentication.ts,
 * src/server/routes/authorization.ts, src/server/routes/metrics-api.ts, src/server/routes/custom-metrics-api.ts).
 */
const UNSTORED: readonly DiscoveredResource[] = [
  metricsResource('nodes'),
  metricsResource('pods'),
  ...customMetricsResources(),
  review('authorization.k8s.io', 'localsubjectaccessreviews', 'LocalSubjectAccessReview', true),
  review('authorization.k8s.io', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview'),
  review('authorization.k8s.io', 'selfsubjectrulesreviews', 'SelfSubjectRulesReview'),
  review('authorization.k8s.io', 'subjectaccessreviews', 'SubjectAccessReview'),
  {
    group: 'authentication.k8s.io',
    version: 'v1',
    plural: 'selfsubjectreviews',
    singular: 'selfsubjectreview',
    kind: 'SelfSubjectReview',
    namespaced: false,
    verbs: ['create'],
    shortNames: [],
    categories: [],
    subresources: [],
  },
  {
    group: 'authentication.k8s.io',
    version: 'v1',
    plural: 'tokenreviews',
    singular: 'tokenreview',
    kind: 'TokenReview',
    namespaced: false,
    verbs: ['create'],
    shortNames: [],
    categories: [],
    subresources: [],
  },
];

/** Every resource Strata serves, grouped and ordered as discovery lists them. */
export function discoveredResources(): DiscoveredResource[] {
  const stored = allKinds().map((k): DiscoveredResource => ({
    group: k.group,
    version: k.version,
    plural: k.plural,
    singular: k.singular,
    kind: k.kind,
    namespaced: k.namespaced,
    verbs: [...RESOURCE_VERBS],
    shortNames: k.shortNames,
    categories: categoriesOf(k),
    storageVersionHash: storageVersionHash(k.group, k.version, k.kind),
    subresources: subresourcesOf(k).map((s) => ({
      name: s.name,
      responseKind: s.responseKind,
      verbs: s.verbs,
    })),
  }));
  return [...stored, ...UNSTORED];
}

/** `[group, versions]` in order of first appearance (core first); kube lists the preferred version first. */
function groups(resources: readonly DiscoveredResource[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of resources) {
    const versions = out.get(r.group) ?? [];
    if (!versions.includes(r.version)) versions.push(r.version);
    out.set(r.group, versions);
  }
  return out;
}

const groupVersion = (group: string, version: string) => (group ? `${group}/${version}` : version);

// ---- the legacy (unaggregated) documents -------------------------------------------------------------

/** APIResourceList of one group-version, subresources as their own `<plural>/<sub>` entries. */
export function apiResourceList(resources: readonly DiscoveredResource[], group: string, version: string) {
  const list: object[] = [];
  for (const r of resources.filter((x) => x.group === group && x.version === version)) {
    list.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
      ...(r.storageVersionHash ? { storageVersionHash: r.storageVersionHash } : {}),
    });
    for (const s of r.subresources) {
      const { group: g, version: v, kind } = s.responseKind;
      list.push({
        name: `${r.plural}/${s.name}`,
        singularName: '',
        namespaced: r.namespaced,
        // kube names the group/version of a subresource only where it differs from the resource's.
        ...(g !== r.group || v !== r.version ? { group: g, version: v } : {}),
        kind,
        verbs: s.verbs,
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(group, version),
    resources: list,
  };
}

function apiGroup(name: string, versions: readonly string[]) {
  const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { name, versions: entries, preferredVersion: entries[0] };
}

export function apiGroupList(resources: readonly DiscoveredResource[]) {
  const named = [...groups(resources)].filter(([name]) => name !== '');
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: named.map(([name, versions]) => apiGroup(name, versions)),
  };
}

// ---- aggregated discovery (apidiscovery.k8s.io/v2, v2beta1) ---------------------------------------------

export type AggregatedVersion = 'v2' | 'v2beta1';

/** APIGroupDiscoveryList of the core group (`/api`) or of the named groups (`/apis`). */
export function aggregatedDiscovery(
  resources: readonly DiscoveredResource[],
  which: 'core' | 'named',
  version: AggregatedVersion = 'v2',
) {
  const items = [...groups(resources)]
    .filter(([name]) => (which === 'core' ? name === '' : name !== ''))
    .map(([name, versions]) => ({
      metadata: { ...(name ? { name } : {}), creationTimestamp: null },
      versions: versions.map((v) => ({
        version: v,
        resources: resources
          .filter((r) => r.group === name && r.version === v)
          .map((r) => ({
            resource: r.plural,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: r.singular,
            verbs: r.verbs,
            ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
            ...(r.categories.length ? { categories: r.categories } : {}),
            ...(r.subresources.length
              ? {
                  subresources: r.subresources.map((s) => ({
                    subresource: s.name,
                    responseKind: s.responseKind,
                    verbs: s.verbs,
                  })),
                }
              : {}),
          })),
        freshness: 'Current',
      })),
    }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}

/** The aggregated discovery version the client asks for first, if it asks for it before plain JSON. */
export function wantsAggregated(accept: string | undefined): AggregatedVersion | undefined {
  for (const r of parseAccept(accept ?? '')) {
    const { as, g, v } = r.params;
    if (r.type === 'application/json' && as === 'APIGroupDiscoveryList' && g === 'apidiscovery.k8s.io') {
      if (v === 'v2' || v === 'v2beta1') return v;
      continue;
    }
    if (['application/json', 'application/*', '*/*'].includes(r.type) && as === undefined) return undefined;
  }
  return undefined;
}

// ---- routes -------------------------------------------------------------------------------------------

/** The address clients reach this server at, for APIVersions.serverAddressByClientCIDRs. */
function serverAddress(req: FastifyRequest): string {
  const { localAddress, localPort } = req.socket;
  if (!localAddress) return req.host;
  const host = localAddress.startsWith('::ffff:') ? localAddress.slice(7) : localAddress;
  return host.includes(':') ? `[${host}]:${localPort}` : `${host}:${localPort}`;
}

/** Sends a JSON document with a strong ETag; If-None-Match answers 304 (discovery is polled). */
function sendCached(
  req: FastifyRequest,
  reply: FastifyReply,
  body: unknown,
  contentType: string,
): FastifyReply {
  const json = JSON.stringify(body);
  const etag = `"${createHash('sha256').update(contentType).update(json).digest('hex').slice(0, 32)}"`;
  reply.header('etag', etag).header('vary', 'Accept').header('content-type', contentType);
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.send(json);
}

const aggregatedContentType = (v: AggregatedVersion) =>
  `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;

export function registerDiscoveryRoutes(app: FastifyInstance): void {
  const resources = discoveredResources();
  const byGroup = groups(resources);

  app.get('/api', async (req, reply) => {
    const aggregated = wantsAggregated(req.headers.accept);
    if (aggregated)
      return sendCached(
        req,
        reply,
        aggregatedDiscovery(resources, 'core', aggregated),
        aggregatedContentType(aggregated),
      );
    return {
      kind: 'APIVersions',
      versions: byGroup.get('') ?? [],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: serverAddress(req) }],
    };
  });
  app.get('/api/:version', async (req) => {
    const { version } = req.params as { version: string };
    if (!(byGroup.get('') ?? []).includes(version))
      throw new ApiError(
        statusFailure(404, 'NotFound', `the server does not serve version "${version}" of the core API`),
      );
    return apiResourceList(resources, '', version);
  });
  app.get('/apis', async (req, reply) => {
    const aggregated = wantsAggregated(req.headers.accept);
    if (aggregated)
      return sendCached(
        req,
        reply,
        aggregatedDiscovery(resources, 'named', aggregated),
        aggregatedContentType(aggregated),
      );
    return apiGroupList(resources);
  });
  app.get('/apis/:group', async (req) => {
    const { group } = req.params as { group: string };
    const versions = byGroup.get(group);
    if (!group || !versions)
      throw new ApiError(
        statusFailure(404, 'NotFound', `the server does not serve the API group "${group}"`),
      );
    return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, versions) };
  });
  app.get('/apis/:group/:version', async (req) => {
    const { group, version } = req.params as { group: string; version: string };
    if (!(byGroup.get(group) ?? []).includes(version))
      throw new ApiError(
        statusFailure(
          404,
          'NotFound',
          `the server does not serve the API group-version "${group}/${version}"`,
        ),
      );
    return apiResourceList(resources, group, version);
  });
}
