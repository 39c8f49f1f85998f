// Server-side printing and metadata-only responses, negotiated by the Accept header as kube-apiserver does:
//
//   application/json;as=Table;g=meta.k8s.io;v=v1              → a meta.k8s.io/v1 Table (kubectl get; also v1beta1)
//   application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1 → metadata only (client-go metadata informers)
//   application/json, */*, no Accept                          → the objects themselves
//
// The Table's columns are src/api/columns.ts, the ones `strata get` prints. Rows carry the object as
// `?includeObject=` says: Metadata (default, a PartialObjectMetadata), Object, or None. Watch events are
// converted one by one (each event's object is a Table of one row; the first carries the column
// definitions, later ones leave them out, as kube-apiserver does).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, kindFor, statusFailure, type KindInfo } from '../api/index.ts';
import { columnDefinition, columnsFor, rowCells, type Cell, type ColumnDefinition } from '../api/columns.ts';
import { ApiError } from '../store/objects.ts';

const META_GROUP = 'meta.k8s.io';
const META_VERSIONS = ['v1', 'v1beta1'] as const;
type MetaVersion = (typeof META_VERSIONS)[number];

export type IncludeObject = 'None' | 'Metadata' | 'Object';
const INCLUDE_OBJECT: readonly IncludeObject[] = ['None', 'Metadata', 'Object'];

/** What the client asked the response to be. */
export type Rendering =
  | { as: 'Object' }
  | { as: 'Table'; version: MetaVersion; includeObject: IncludeObject }
  | { as: 'PartialObjectMetadata'; version: MetaVersion };

interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
}

/** `type/subtype;k=v;…, …` → media ranges, best first (by q, then by order). */
export function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [type, ...rawParams] = part.split(';').map((s) => s.trim());
    if (!type) continue;
    const params: Record<string, string> = {};
    for (const p of rawParams) {
      const eq = p.indexOf('=');
      if (eq > 0)
        params[p.slice(0, eq).trim().toLowerCase()] = p
          .slice(eq + 1)
          .trim()
          .replace(/^"(.*)"$/, '$1');
    }
    const q = params.q === undefined ? 1 : Number(params.q);
    delete params.q;
    ranges.push({ type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0 });
  }
  // Array.prototype.sort is stable: equal q keeps the client's order.
  return ranges.filter((r) => r.q > 0).sort((a, b) => b.q - a.q);
}

const JSON_TYPES = new Set(['application/json', 'application/*', '*/*']);

/** The rendering one media range asks for, or undefined when the server cannot produce it. */
function renderingOf(range: MediaRange, includeObject: IncludeObject): Rendering | undefined {
  if (!JSON_TYPES.has(range.type)) return undefined;
  const { as, g, v } = range.params;
  if (as === undefined) return { as: 'Object' };
  if (g !== META_GROUP || !META_VERSIONS.includes(v as MetaVersion)) return undefined;
  const version = v as MetaVersion;
  if (as === 'Table') return { as: 'Table', version, includeObject };
  if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList')
    return { as: 'PartialObjectMetadata', version };
  return undefined;
}

/**
 * The response rendering for an Accept header and query. Throws a 400 for a bad `includeObject` and a
 * 406 when the client accepts nothing the server can produce (as kube-apiserver does).
 */
export function negotiate(accept: string | undefined, query: Record<string, unknown>): Rendering {
  const rawInclude = query.includeObject;
  if (rawInclude !== undefined && !INCLUDE_OBJECT.includes(rawInclude as IncludeObject)) {
    throw new ApiError(
      badRequest(
        `includeObject: Unsupported value: ${JSON.stringify(rawInclude)}: supported values: "None", "Metadata", "Object"`,
      ),
    );
  }
  const includeObject = (rawInclude as IncludeObject | undefined) ?? 'Metadata';
  if (!accept || !accept.trim()) return { as: 'Object' };
  for (const range of parseAccept(accept)) {
    const r = renderingOf(range, includeObject);
    if (r) return r;
  }
  throw new ApiError(
    statusFailure(
      406,
      'NotAcceptable',
      `only the following media types are accepted: application/json, application/json;as=Table;g=meta.k8s.io;v=v1, application/json;as=Table;g=meta.k8s.io;v=v1beta1, application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`,
    ),
  );
}

// ---- the documents ----------------------------------------------------------------------------------

interface ObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown>;
}
interface ListLike extends ObjectLike {
  items: ObjectLike[];
}

export interface TableRow {
  cells: Cell[];
  object?: unknown;
}

/** meta.k8s.io/v1 Table. */
export interface Table {
  apiVersion: string;
  kind: 'Table';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  /** null in watch events after the first, as kube-apiserver sends them. */
  columnDefinitions: ColumnDefinition[] | null;
  rows: TableRow[];
}

export interface PartialObjectMetadata {
  apiVersion: string;
  kind: 'PartialObjectMetadata';
  metadata: Record<string, unknown>;
}

export function partialObjectMetadata(obj: ObjectLike, version: MetaVersion = 'v1'): PartialObjectMetadata {
  return {
    apiVersion: `${META_GROUP}/${version}`,
    kind: 'PartialObjectMetadata',
    metadata: obj.metadata ?? {},
  };
}

/** What a response body is, if it is a kind Strata serves or a list of one. */
export function classify(body: unknown): { kind: KindInfo; list: boolean } | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const { apiVersion, kind } = body as ObjectLike;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return undefined;
  const single = kindFor(apiVersion, kind);
  if (single) return { kind: single, list: false };
  if (kind.endsWith('List') && Array.isArray((body as ListLike).items)) {
    const k = kindFor(apiVersion, kind.slice(0, -'List'.length));
    if (k) return { kind: k, list: true };
  }
  return undefined;
}

function listMeta(body: ObjectLike): Table['metadata'] {
  const m = (body.metadata ?? {}) as Table['metadata'];
  const out: Table['metadata'] = {};
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.continue) out.continue = m.continue;
  if (m.remainingItemCount !== undefined) out.remainingItemCount = m.remainingItemCount;
  return out;
}

export interface TableOptions {
  version?: MetaVersion;
  includeObject?: IncludeObject;
  /** Leave the column definitions out (watch events after the first). */
  noHeaders?: boolean;
  now?: number;
}

/** The Table of one object or of a list of one kind. */
export function toTable(
  kind: KindInfo,
  body: ObjectLike | ListLike,
  list: boolean,
  opts: TableOptions = {},
): Table {
  const version = opts.version ?? 'v1';
  const include = opts.includeObject ?? 'Metadata';
  const now = opts.now ?? Date.now();
  const cols = columnsFor(kind.kind, kind.group);
  const items = list ? (body as ListLike).items : [body];
  const rowObject = (o: ObjectLike): unknown =>
    include === 'Object'
      ? { apiVersion: kind.apiVersion, kind: kind.kind, ...o }
      : include === 'Metadata'
        ? partialObjectMetadata(o, version)
        : undefined;
  return {
    apiVersion: `${META_GROUP}/${version}`,
    kind: 'Table',
    metadata: list
      ? listMeta(body)
      : { resourceVersion: (body.metadata?.resourceVersion as string | undefined) ?? undefined },
    columnDefinitions: opts.noHeaders ? null : cols.map(columnDefinition),
    rows: items.map((o) => {
      const row: TableRow = { cells: rowCells(cols, o, now) };
      const object = rowObject(o);
      if (object !== undefined) row.object = object;
      return row;
    }),
  };
}

/** A response body as the rendering asks; bodies that are not objects of a served kind pass unchanged. */
export function render(
  rendering: Rendering,
  body: unknown,
  opts: Pick<TableOptions, 'noHeaders' | 'now'> = {},
): unknown {
  if (rendering.as === 'Object') return body;
  const what = classify(body);
  if (!what) return body;
  if (rendering.as === 'Table')
    return toTable(what.kind, body as ObjectLike, what.list, { ...rendering, ...opts });
  if (!what.list) return partialObjectMetadata(body as ObjectLike, rendering.version);
  const list = body as ListLike;
  return {
    apiVersion: `${META_GROUP}/${rendering.version}`,
    kind: 'PartialObjectMetadataList',
    metadata: listMeta(list),
    items: list.items.map((o) => partialObjectMetadata(o, rendering.version)),
  };
}

// ---- the Fastify side ---------------------------------------------------------------------------------

/** The negotiated rendering of each resource request (set before the handler runs). */
const renderings = new WeakMap<FastifyRequest, Rendering>();

/** The routes that serve objects (src/server/routes/resources.ts); discovery and the rest negotiate their own. */
const RESOURCE_ROUTES = new Set(['/api/v1/*', '/apis/:group/:version/*']);

/**
 * Negotiates every resource request before its handler runs (so an unacceptable Accept is a 406 that
 * does nothing) and converts the response body in preSerialization. Register before the resource routes.
 */
export function registerTableOutput(app: FastifyInstance): void {
  app.addHook('preHandler', async (req) => {
    if (!RESOURCE_ROUTES.has(req.routeOptions.url ?? '')) return;
    renderings.set(req, negotiate(req.headers.accept, (req.query ?? {}) as Record<string, unknown>));
  });
  app.addHook('preSerialization', async (req, _reply, payload) => {
    const rendering = renderings.get(req);
    return rendering ? render(rendering, payload) : payload;
  });
}

/**
 * The object of each watch event as the request's rendering asks (identity for plain JSON). Status
 * objects of ERROR events pass unchanged. For src/server/watch.ts, which writes events itself.
 */
export function watchObjectEncoder(req: FastifyRequest): (type: string, object: unknown) => unknown {
  const rendering = renderings.get(req);
  if (!rendering || rendering.as === 'Object') return (_type, object) => object;
  let headersSent = false;
  return (type, object) => {
    if (type === 'ERROR') return object;
    if (rendering.as === 'Table' && type === 'BOOKMARK') {
      // A bookmark only moves the resourceVersion on: an empty table carrying it.
      const rv = (object as ObjectLike)?.metadata?.resourceVersion as string | undefined;
      return {
        apiVersion: `${META_GROUP}/${rendering.version}`,
        kind: 'Table',
        metadata: { resourceVersion: rv },
        columnDefinitions: null,
        rows: [],
      } satisfies Table;
    }
    const out = render(rendering, object, { noHeaders: headersSent });
    if (out !== object) headersSent = true;
    return out;
  };
}
