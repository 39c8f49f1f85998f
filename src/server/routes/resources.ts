// Generic REST routes for every kind in the registry, in the Kubernetes URL layout.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  approvalStatus,
  badRequest,
  fieldSelectorFields,
  invalid,
  kindFor,
  methodNotAllowed,
  notFound,
  parseFieldSelector,
  parseLabelSelector,
  statusFailure,
} from '../../api/index.ts';
import {
  ApiError,
  PATCH_CONTENT_TYPES,
  type ListOptions,
  type ObjectStore,
  type PatchType,
  type PropagationPolicy,
  type WriteOptions,
} from '../../store/objects.ts';
import { FIELD_VALIDATIONS, type FieldValidation } from '../../api/unknown-fields.ts';
import { applyJsonPatch } from '../../api/patch/json-patch.ts';
import { isObject, PatchError } from '../../api/patch/json.ts';
import { patchSchema } from '../../api/patch/metadata.ts';
import { strategicMergePatch } from '../../api/patch/strategic.ts';
import jsonMergePatch from 'json-merge-patch';
import { parseResourcePath, type ResourcePath } from '../paths.ts';
import { serveWatch } from '../watch.ts';
import { proxyPodLogs } from '../logs-proxy.ts';
import { proxyExec } from '../exec-proxy.ts';
import { handleEviction, handleScale, hasScale } from './subresources.ts';
import { addAuditAnnotation } from '../audit/index.ts';

type Query = Record<string, string | undefined>;

/** Every value of a query parameter (repeated parameters arrive as arrays). */
function values(q: Query, name: string): string[] {
  const v = (q as Record<string, string | string[] | undefined>)[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A parameter that must appear at most once. */
function single(q: Query, name: string): string | undefined {
  const all = values(q, name);
  if (all.length > 1) throw new ApiError(badRequest(`${name}: may be given only once`));
  return all[0];
}

/** `dryRun=All` (kube's only dry-run mode); any other value is a 400. */
function dryRunOf(q: Query, fromBody: unknown = undefined): boolean {
  const all = [...values(q, 'dryRun'), ...(Array.isArray(fromBody) ? fromBody : [])];
  for (const v of all)
    if (v !== 'All')
      throw new ApiError(
        badRequest(`dryRun: Unsupported value: ${JSON.stringify(v)}: supported values: "All"`),
      );
  return all.length > 0;
}

function fieldValidationOf(q: Query): FieldValidation | undefined {
  const v = single(q, 'fieldValidation');
  if (v === undefined || v === '') return undefined;
  if (!(FIELD_VALIDATIONS as readonly string[]).includes(v))
    throw new ApiError(
      badRequest(
        `fieldValidation: Unsupported value: ${JSON.stringify(v)}: supported values: "Ignore", "Strict", "Warn"`,
      ),
    );
  return v as FieldValidation;
}

const MAX_FIELD_MANAGER_LENGTH = 128;

/**
 * The manager a write is recorded under: the `fieldManager` parameter, else (like kube-apiserver) the
 * user agent up to its first '/' — `kubectl/v1.32.0 (linux/amd64)` → `kubectl`.
 */
function fieldManagerOf(req: FastifyRequest, q: Query): string | undefined {
  const given = single(q, 'fieldManager');
  if (given !== undefined) {
    if (given.length > MAX_FIELD_MANAGER_LENGTH)
      throw new ApiError(
        badRequest(`fieldManager: Too long: must have at most ${MAX_FIELD_MANAGER_LENGTH} bytes`),
      );
    if (!/^[\x20-\x7e]*$/.test(given))
      throw new ApiError(badRequest('fieldManager: Invalid value: must consist of printable characters'));
    if (given !== '') return given;
  }
  const agent = req.headers['user-agent'];
  const prefix = typeof agent === 'string' ? agent.split('/')[0].slice(0, MAX_FIELD_MANAGER_LENGTH) : '';
  return prefix || undefined;
}

/** The options of a create/update/patch request, and where its warnings go. */
function writeOptions(req: FastifyRequest, q: Query, warnings: string[]): WriteOptions {
  return {
    dryRun: dryRunOf(q),
    fieldValidation: fieldValidationOf(q),
    fieldManager: fieldManagerOf(req, q),
    warn: (m) => warnings.push(m),
    user: req.user,
    annotate: (k, v) => addAuditAnnotation(req, k, v),
  };
}

/** kube-apiserver's `Warning: 299 - "..."` headers, one per warning. */
function sendWarnings(reply: FastifyReply, warnings: readonly string[]): void {
  if (warnings.length)
    reply.header(
      'warning',
      warnings.map((w) => `299 - ${JSON.stringify(w)}`),
    );
}

function patchTypeOf(req: FastifyRequest): PatchType {
  const raw = req.headers['content-type'] ?? '';
  const mediaType = raw.split(';')[0].trim().toLowerCase();
  const type = PATCH_CONTENT_TYPES[mediaType];
  if (!type)
    throw new ApiError(
      statusFailure(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format (${mediaType || 'no content type'}) - accepted media types include: ${Object.keys(PATCH_CONTENT_TYPES).join(', ')}`,
      ),
    );
  return type;
}

function forceOf(q: Query, type: PatchType): boolean {
  const v = single(q, 'force');
  if (v === undefined) return false;
  if (type !== 'apply')
    throw new ApiError(badRequest('force: Forbidden: may not be specified for non-apply patch'));
  if (v !== 'true' && v !== 'false')
    throw new ApiError(badRequest(`force: Invalid value: ${JSON.stringify(v)}: must be true or false`));
  return v === 'true';
}

/** An apply configuration names its kind; the rest of checkBodyMatchesPath applies as to a PUT body. */
function checkApplyConfiguration(p: ResourcePath, body: any): void {
  if (!isObject(body)) throw new ApiError(badRequest('an apply configuration must be a YAML or JSON object'));
  if (typeof body.apiVersion !== 'string' || !body.apiVersion)
    throw new ApiError(badRequest('apiVersion: Required value: an apply configuration must set apiVersion'));
  if (typeof body.kind !== 'string' || !body.kind)
    throw new ApiError(badRequest('kind: Required value: an apply configuration must set kind'));
  checkBodyMatchesPath(p, body);
}

/** PATCH of `{kind}/{name}/scale`: the patch applies to the Scale object, which is then PUT. */
async function patchScale(
  objects: ObjectStore,
  p: ResourcePath,
  body: unknown,
  type: PatchType,
  opts: WriteOptions,
): Promise<unknown> {
  if (type === 'apply')
    throw new ApiError(badRequest('server-side apply is not supported on the scale subresource'));
  for (let attempt = 0; ; attempt++) {
    const scale = await handleScale(objects, 'GET', p.kind, p.namespace, p.name!, undefined);
    let patched: any;
    try {
      if (type === 'json') patched = applyJsonPatch(scale, body);
      else if (!isObject(body)) throw new PatchError('a merge patch must be a JSON object');
      else if (type === 'strategic')
        patched = strategicMergePatch(scale, body, patchSchema('autoscaling/v1', 'Scale'));
      else patched = jsonMergePatch.apply(structuredClone(scale), structuredClone(body));
    } catch (err) {
      if (err instanceof PatchError) throw new ApiError(err.toStatus());
      throw err;
    }
    const pinned = patched?.metadata?.resourceVersion !== scale.metadata.resourceVersion;
    try {
      return await handleScale(objects, 'PUT', p.kind, p.namespace, p.name!, patched, opts);
    } catch (err) {
      if (err instanceof ApiError && err.code === 409 && !pinned && attempt < 20) continue;
      throw err;
    }
  }
}

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
      checkResourceVersionMatch(q, list.resourceVersion);
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
      const warnings: string[] = [];
      const created = await objects.create(body, namespace, writeOptions(req, q, warnings));
      sendWarnings(reply, warnings);
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
    await objects.bind(namespace!, name, target, body.metadata?.resourceVersion, { dryRun: dryRunOf(q) });
    reply.code(201);
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  }
  if (subresource === 'eviction' && kind.kind === 'Pod') {
    if (method !== 'POST')
      throw new ApiError(methodNotAllowed(`${method} is not supported on pods/eviction`));
    let evictionBody = req.body as any;
    if (dryRunOf(q) && isObject(evictionBody)) {
      const deleteOptions = isObject(evictionBody.deleteOptions) ? evictionBody.deleteOptions : {};
      evictionBody = { ...evictionBody, deleteOptions: { ...deleteOptions, dryRun: ['All'] } };
    }
    const r = await handleEviction(objects, kind, namespace!, name, evictionBody);
    reply.code(r.code);
    return r.status;
  }
  if (subresource === 'scale' && hasScale(kind)) {
    if (method === 'PATCH') {
      const type = patchTypeOf(req);
      forceOf(q, type);
      const warnings: string[] = [];
      const scaled = await patchScale(objects, p, req.body, type, writeOptions(req, q, warnings));
      sendWarnings(reply, warnings);
      return scaled;
    }
    const opts = method === 'PUT' ? writeOptions(req, q, []) : {};
    return handleScale(objects, method, kind, namespace, name, req.body, opts);
  }
  if (subresource === 'ephemeralcontainers' && kind.kind === 'Pod') {
    return ephemeralContainers(objects, req, reply, p);
  }
  if (subresource === 'approval' && kind.kind === 'CertificateSigningRequest') {
    return csrApproval(objects, req, p);
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
      const warnings: string[] = [];
      const opts = writeOptions(req, q, warnings);
      const updated =
        subresource === 'status'
          ? await objects.updateStatus(kind, namespace, name, body, opts)
          : await objects.update(body, namespace, opts);
      sendWarnings(reply, warnings);
      return updated;
    }
    case 'PATCH': {
      const type = patchTypeOf(req);
      const force = forceOf(q, type);
      if (req.body === undefined || req.body === null)
        throw new ApiError(badRequest('the request body must contain a patch'));
      if (type === 'apply') checkApplyConfiguration(p, req.body);
      const warnings: string[] = [];
      const opts = { ...writeOptions(req, q, warnings), type, force, onCreate: () => reply.code(201) };
      if (type === 'apply' && single(q, 'fieldManager') === undefined)
        throw new ApiError(badRequest('fieldManager: Required value: is required for apply patch'));
      const patched = await objects.patch(
        kind,
        namespace,
        name,
        req.body,
        subresource as 'status' | undefined,
        opts,
      );
      sendWarnings(reply, warnings);
      return patched;
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
      return objects.delete(kind, namespace, name, {
        gracePeriodSeconds,
        preconditions: opts.preconditions,
        propagationPolicy: propagationOf(
          q.propagationPolicy ?? opts.propagationPolicy,
          opts.orphanDependents,
        ),
        dryRun: dryRunOf(q, opts.dryRun),
      });
    }
    default:
      throw new ApiError(methodNotAllowed(`${method} is not supported`));
  }
}

/**
 * `resourceVersionMatch` on a list: NotOlderThan is always met (lists are served from the latest state);
 * Exact is met only at the current revision — older states are not kept for lists — and a list that cannot be
 * served as asked is a 410 Expired, as kube-apiserver answers for a compacted revision.
 */
function checkResourceVersionMatch(q: Query, current: string): void {
  const match = q.resourceVersionMatch;
  if (match === undefined) return;
  if (match !== 'NotOlderThan' && match !== 'Exact') {
    throw new ApiError(
      statusFailure(
        422,
        'Invalid',
        `resourceVersionMatch: Unsupported value: ${JSON.stringify(match)}: supported values: "Exact", "NotOlderThan"`,
      ),
    );
  }
  if (!q.resourceVersion) {
    throw new ApiError(
      statusFailure(
        422,
        'Invalid',
        'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
      ),
    );
  }
  if (match === 'Exact' && q.resourceVersion !== current) {
    throw new ApiError(
      statusFailure(
        410,
        'Expired',
        `resourceVersion ${q.resourceVersion}: only the current list (${current}) is kept for Exact reads`,
      ),
    );
  }
}

/** deleteOptions.propagationPolicy (or the deprecated orphanDependents), checked. */
function propagationOf(policy: unknown, orphanDependents: unknown): PropagationPolicy | undefined {
  if (policy === undefined || policy === null) return orphanDependents === true ? 'Orphan' : undefined;
  if (policy === 'Orphan' || policy === 'Background' || policy === 'Foreground') return policy;
  throw new ApiError(
    statusFailure(
      422,
      'Invalid',
      `propagationPolicy: Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan"`,
    ),
  );
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

/**
 * pods/NAME/ephemeralcontainers: GET the pod, PUT a pod whose spec.ephemeralContainers adds containers, or
 * PATCH it (what `kubectl debug` sends: a strategic merge patch of spec.ephemeralContainers).
 */
async function ephemeralContainers(
  objects: ObjectStore,
  req: FastifyRequest,
  reply: FastifyReply,
  p: ResourcePath,
): Promise<unknown> {
  const q = req.query as Query;
  const { kind, namespace, name } = p;
  const warnings: string[] = [];
  let result: unknown;
  switch (req.method) {
    case 'GET':
      return objects.mustGet(kind, namespace, name!);
    case 'PUT': {
      const body = requireBody(req.body);
      checkBodyMatchesPath(p, body);
      result = await objects.updateEphemeralContainers(
        namespace!,
        name!,
        body,
        writeOptions(req, q, warnings),
      );
      break;
    }
    case 'PATCH': {
      const type = patchTypeOf(req);
      if (req.body === undefined || req.body === null)
        throw new ApiError(badRequest('the request body must contain a patch'));
      const opts = { ...writeOptions(req, q, warnings), type, force: forceOf(q, type) };
      result = await objects.patch(kind, namespace, name!, req.body, 'ephemeralcontainers', opts);
      break;
    }
    default:
      throw new ApiError(methodNotAllowed(`${req.method} is not supported on pods/ephemeralcontainers`));
  }
  sendWarnings(reply, warnings);
  return result;
}

/**
 * certificatesigningrequests/NAME/approval (`kubectl certificate approve|deny`): GET the request, or PUT it
 * with the conditions wanted — only status.conditions is taken, and an Approved or Denied condition, once
 * set, stays (kube's approval strategy).
 */
async function csrApproval(objects: ObjectStore, req: FastifyRequest, p: ResourcePath): Promise<unknown> {
  const { kind, name } = p;
  const current = await objects.mustGet(kind, undefined, name!);
  if (req.method === 'GET') return current;
  if (req.method !== 'PUT')
    throw new ApiError(
      methodNotAllowed(`${req.method} is not supported on certificatesigningrequests/approval`),
    );
  const body = requireBody(req.body);
  checkBodyMatchesPath(p, body);
  const result = approvalStatus(current, body);
  if ('causes' in result) throw new ApiError(invalid(kind, name!, result.causes));
  const q = req.query as Query;
  return objects.updateStatus(
    kind,
    undefined,
    name!,
    { metadata: { resourceVersion: body.metadata?.resourceVersion }, status: result.status },
    writeOptions(req, q, []),
  );
}
