// `/openapi/v3`: kube-apiserver's index of per-group-version OpenAPI 3.0 documents, and the documents.
//
//   GET /openapi/v3                     {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}, …}}
//   GET /openapi/v3/apis/apps/v1?hash=H the document; with the current hash it is immutable (clients cache it
//                                       by URL), with a stale one a 301 to the current URL
//
// Every response carries an ETag (the SHA-512 of the document, as kube-openapi computes it) and answers
// If-None-Match with 304. Documents are built on first request: they cost half a second of zod → JSON
// Schema work that a server which nobody asks for them should not pay at start.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { buildGroupVersionOpenAPI, openAPIIndexPaths, statusFailure } from '../../api/index.ts';
import { ApiError } from '../../store/objects.ts';
import { parseAccept } from '../table.ts';

interface Served {
  body: string;
  /** Upper-case hex SHA-512 of the body: the `hash` of its URL and its ETag. */
  hash: string;
}

function served(value: unknown): Served {
  const body = JSON.stringify(value);
  return { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
}

interface Documents {
  index: Served;
  byPath: Map<string, Served>;
}

function buildDocuments(): Documents {
  const byPath = new Map<string, Served>();
  for (const path of openAPIIndexPaths()) byPath.set(path, served(buildGroupVersionOpenAPI(path)));
  const paths = Object.fromEntries(
    [...byPath].map(([path, doc]) => [path, { serverRelativeURL: `/openapi/v3/${path}?hash=${doc.hash}` }]),
  );
  return { index: served({ paths }), byPath };
}

/** JSON is all Strata serves; a client that accepts only protobuf gets a 406 (as from kube-apiserver). */
function checkAcceptsJson(req: FastifyRequest): void {
  const accept = req.headers.accept;
  if (!accept || !accept.trim()) return;
  const ok = parseAccept(accept).some((r) => ['application/json', 'application/*', '*/*'].includes(r.type));
  if (!ok)
    throw new ApiError(
      statusFailure(
        406,
        'NotAcceptable',
        `only application/json is served here, not ${JSON.stringify(accept)}`,
      ),
    );
}

function send(req: FastifyRequest, reply: FastifyReply, doc: Served): FastifyReply {
  const etag = `"${doc.hash}"`;
  reply.header('etag', etag).header('vary', 'Accept').header('content-type', 'application/json');
  const inm = req.headers['if-none-match'];
  if (inm && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) return reply.code(304).send();
  return reply.send(doc.body);
}

export function registerOpenAPIRoutes(app: FastifyInstance): void {
  let docs: Documents | undefined;
  const documents = (): Documents => (docs ??= buildDocuments());

  app.get('/openapi/v3', async (req, reply) => {
    checkAcceptsJson(req);
    // The index changes whenever a document does: clients must revalidate it.
    reply.header('cache-control', 'no-cache, private');
    return send(req, reply, documents().index);
  });

  app.get('/openapi/v3/*', async (req, reply) => {
    checkAcceptsJson(req);
    const path = ((req.params as Record<string, string>)['*'] ?? '').replace(/\/+$/, '');
    const doc = documents().byPath.get(path);
    if (!doc)
      throw new ApiError(statusFailure(404, 'NotFound', `no OpenAPI document for group-version "${path}"`));
    const hash = (req.query as Record<string, string | undefined>).hash;
    if (hash !== undefined && hash !== doc.hash) {
      // A stale hash: the document changed (a new Strata version). Send the client to the current one.
      return reply.redirect(`/openapi/v3/${path}?hash=${doc.hash}`, 301);
    }
    if (hash !== undefined) {
      // The URL names this exact content: it never changes.
      reply
        .header('cache-control', 'public, immutable')
        .header('expires', new Date(Date.now() + 365 * 86400_000).toUTCString());
    } else reply.header('cache-control', 'no-cache, private');
    return send(req, reply, doc);
  });
}
