// Generic REST routes for every kind in the registry, in the Kubernetes URL layout.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  badRequest,
  fieldSelectorFields,
  kindFor,
  methodNotAllowed,
  notFound,
  parseFieldSelector,
  parseLabelSelector,
  statusFailure,
} from '../../api/index.ts';
import { ApiError, type ListOptions, type ObjectStore } from '../../store/objects.ts';
import { parseResourcePath, type ResourcePath } from '../paths.ts';
import { serveWatch } from '../watch.ts';
import { proxyPodLogs } from '../logs-proxy.ts';
import { proxyExec } from '../exec-proxy.ts';
import { handleEviction, handleScale, hasScale } from './subresources.ts';

type Query = Record<string, string | undefined>;

function listOptions(p: ResourcePath, q: Query): ListOptions {
  const opts: ListOptions = {};
  try {
    if (q.labelSelector) opts.labelSelector = parseLabelSelector(q.labelSelector);
  } catch (err) {
    throw new ApiError(badRequest(`labelSelector: ${(err as Error).message}`));
  }
  try {
    if (q.fieldSelector)
      opts.fieldSelector = parseFieldSelector(q.fieldSelector, fieldSelectorFields(p.kind));
  } catch (err) {
    throw new ApiError(badRequest(`fieldSelector: ${(err as Error).message}`));
  }
  return opts;
}

function isTrue(v: string | undefined): boolean {
  return v === 'true' || v === '1';
}

function requireBody(body: unknown): any {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(badRequest('the request body must be a JSON (or YAML) object'));
  }
  return body;
}

/** The object in the body must be the one the URL names. */
function checkBodyMatchesPath(p: ResourcePath, body: any): void {
  if (body.kind !== undefined && body.kind !== p.kind.kind) {
    throw new ApiError(badRequest(`kind ${body.kind} in the body does not match the URL (${p.kind.kind})`));
  }
  body.kind = p.kind.kind;
  body.apiVersion ??= p.kind.apiVersion;
  if (body.apiVersion !== p.kind.apiVersion) {
    throw new ApiError(
      badRequest(`apiVersion ${body.apiVersion} in the body does not match the URL (${p.kind.apiVersion})`),
    );
  }
  if (p.name !== undefined) {
    body.metadata ??= {};
    if (body.metadata.name !== undefined && body.metadata.name !== p.name) {
      throw new ApiError(
        badRequest(
          `the name of the object (${body.metadata.name}) does not match the name on the URL (${p.name})`,
        ),
      );
    }
    body.metadata.name = p.name;
  }
}

async function handle(
  objects: ObjectStore,
  req: FastifyRequest,
  reply: FastifyReply,
  p: ResourcePath,
): Promise<unknown> {
  const q = req.query as Query;
  const method = req.method;
  const { kind, namespace, name, subresource } = p;
  // Collections
  if (name === undefined) {
    if (method === 'GET') {
      const filter = listOptions(p, q);
      if (isTrue(q.watch)) {
        await serveWatch(objects, req, reply, {
          kind,
          namespace,
          resourceVersion: q.resourceVersion,
          filter,
          bookmarks: isTrue(q.allowWatchBookmarks),
          timeoutSeconds: q.timeoutSeconds ? Number(q.timeoutSeconds) : undefined,
        });
        return reply;
      }
      const list = await objects.list(kind, namespace, filter);
      return {
        apiVersion: kind.apiVersion,
        kind: `${kind.kind}List`,
        metadata: { resourceVersion: list.resourceVersion },
        items: list.items,
      };
    }
    if (method === 'POST') {
      if (kind.namespaced && namespace === undefined) {
        throw new ApiError(
          methodNotAllowed(`create ${kind.plural} under /namespaces/{namespace}/${kind.plural}`),
        );
      }
      const body = requireBody(req.body);
      checkBodyMatchesPath(p, body);
      const created = await objects.create(body, namespace);
      reply.code(201);
      return created;
    }
    throw new ApiError(methodNotAllowed(`${method} is not supported on a collection`));
  }
  if (kind.namespaced && namespace === undefined) {
    throw new ApiError(notFound(kind, name));
  }
  if (subresource === 'log' && kind.kind === 'Pod' && method === 'GET') {
    const pod = await objects.mustGet(kind, namespace, name);
    const nodeKind = kindFor('v1', 'Node')!;
    const node = pod.spec.nodeName ? await objects.get(nodeKind, undefined, pod.spec.nodeName) : undefined;
    await proxyPodLogs(req, reply, pod, node);
    return reply;
  }
  if (subresource === 'exec' && kind.kind === 'Pod' && method === 'POST') {
    const pod = await objects.mustGet(kind, namespace, name);
    const nodeKind = kindFor('v1', 'Node')!;
    const node = pod.spec.nodeName ? await objects.get(nodeKind, undefined, pod.spec.nodeName) : undefined;
    return proxyExec(req, pod, node);
  }
  if (subresource === 'binding' && kind.kind === 'Pod' && method === 'POST') {
    const body = requireBody(req.body);
    const target = body.target?.name;
    if (typeof target !== 'string' || !target) {
      throw new ApiError(badRequest('target.name: Required value: the node to bind to'));
    }
    await objects.bind(namespace!, name, target, body.metadata?.resourceVersion);
    reply.code(201);
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  }
  if (subresource === 'eviction' && kind.kind === 'Pod') {
    if (method !== 'POST')
      throw new ApiError(methodNotAllowed(`${method} is not supported on pods/eviction`));
    const r = await handleEviction(objects, kind, namespace!, name, req.body);
    reply.code(r.code);
    return r.status;
  }
  if (subresource === 'scale' && hasScale(kind)) {
    return handleScale(objects, method, kind, namespace, name, req.body);
  }
  if (subresource !== undefined && subresource !== 'status') {
    throw new ApiError(statusFailure(404, 'NotFound', `${kind.plural} has no subresource "${subresource}"`));
  }
  if (subresource === 'status' && !kind.hasStatus) {
    throw new ApiError(statusFailure(404, 'NotFound', `${kind.plural} has no status subresource`));
  }
  switch (method) {
    case 'GET':
      return objects.mustGet(kind, namespace, name);
    case 'PUT': {
      const body = requireBody(req.body);
      checkBodyMatchesPath(p, body);
      if (subresource === 'status') return objects.updateStatus(kind, namespace, name, body);
      return objects.update(body, namespace);
    }
    case 'PATCH': {
      const body = requireBody(req.body);
      return objects.patch(kind, namespace, name, body, subresource as 'status' | undefined);
    }
    case 'DELETE': {
      if (subresource) throw new ApiError(methodNotAllowed('DELETE is not supported on a subresource'));
      const opts = (req.body && typeof req.body === 'object' ? req.body : {}) as any;
      const grace = q.gracePeriodSeconds ?? opts.gracePeriodSeconds;
      const gracePeriodSeconds = grace === undefined ? undefined : Number(grace);
      if (
        gracePeriodSeconds !== undefined &&
        (!Number.isInteger(gracePeriodSeconds) || gracePeriodSeconds < 0)
      ) {
        throw new ApiError(badRequest(`gracePeriodSeconds: must be a non-negative integer`));
      }
      return objects.delete(kind, namespace, name, { gracePeriodSeconds, preconditions: opts.preconditions });
    }
    default:
      throw new ApiError(methodNotAllowed(`${method} is not supported`));
  }
}

export function registerResourceRoutes(app: FastifyInstance, objects: ObjectStore): void {
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
  const route =
    (group: (req: FastifyRequest) => string, version: (req: FastifyRequest) => string) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const rest = (req.params as any)['*'] as string;
      const parsed = parseResourcePath(group(req), version(req), rest);
      if (!parsed.ok) throw new ApiError(statusFailure(404, 'NotFound', parsed.message));
      return handle(objects, req, reply, parsed.path);
    };
  app.route({
    method: [...methods],
    url: '/api/v1/*',
    handler: route(
      () => '',
      () => 'v1',
    ),
  });
  app.route({
    method: [...methods],
    url: '/apis/:group/:version/*',
    handler: route(
      (req) => (req.params as any).group,
      (req) => (req.params as any).version,
    ),
  });
}
