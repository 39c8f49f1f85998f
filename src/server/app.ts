// The control-plane HTTP API: authentication, content types, errors as Status objects, and routes.
import Fastify, { type FastifyInstance } from 'fastify';
import YAML from 'yaml';
import {
  GIT_VERSION,
  KUBERNETES_VERSION,
  STRATA_VERSION,
  badRequest,
  statusFailure,
  tooLarge,
  unauthorized,
  internalError,
} from '../api/index.ts';
import { ApiError, type ObjectStore } from '../store/objects.ts';
import { EtcdUnavailableError } from '../store/etcd-unavailable.ts';
import type { Authenticator, User } from './auth.ts';
import { AgentDialer } from './agent-endpoint.ts';
import { registerResourceRoutes } from './routes/resources.ts';
import { attachExecUpgrade } from './exec-proxy.ts';
import { registerDiscoveryRoutes } from './routes/discovery.ts';
import { registerAuthenticationRoutes } from './routes/authentication.ts';
import { registerOpenAPIRoutes } from './routes/openapi.ts';
import { registerTableOutput } from './table.ts';
import { decodeKubernetesProtobuf, PROTOBUF_CONTENT_TYPE, ProtobufBodyError } from './protobuf/index.ts';

export { STRATA_VERSION } from '../api/index.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Opens requests and upgrades to node agents (logs, exec, attach, port-forward). */
    agents: AgentDialer;
  }
  interface FastifyRequest {
    /** The authenticated caller (unset on the public paths /healthz, /readyz, /livez, /version). */
    user?: User;
  }
}

/**
 * Something on the request path after authentication (authorization, audit, metrics): it adds its own
 * Fastify hooks, which run in the order the extensions are listed, each seeing the authenticated `req.user`.
 */
export type ServerExtension = (app: FastifyInstance) => void;

export interface ServerTls {
  /** Serving certificate chain (leaf first, then the CA) and its key, PEM. */
  cert: string;
  key: string;
  /** CA(s) that sign client certificates. */
  clientCA: string;
}

export interface ServerOptions {
  objects: ObjectStore;
  auth: Authenticator;
  /** HTTPS (the default everywhere but loopback development, see `--insecure-http`). */
  tls?: ServerTls;
  /** How the server reaches node agents; default: plain HTTP with no client certificate. */
  agents?: AgentDialer;
  /** Largest accepted request body in bytes (Kubernetes: 3 MiB). */
  bodyLimit?: number;
  logger?: boolean | object;
  /** /readyz answers 200 only once this returns true (e.g. controllers synced). */
  ready?: () => boolean;
  /**
   * Named /readyz checks, as kube-apiserver's (`[-]etcd failed`): each resolves when healthy, rejects (with
   * the reason, logged, withheld from the public answer as Kubernetes does) when not.
   */
  readyChecks?: { name: string; check: () => Promise<void> }[];
  /** Request-path extensions, registered right after authentication, in this order. */
  extensions?: ServerExtension[];
}

/**
 * Bodies nested deeper than this are refused with a 400 before anything recursive (validation, patching,
 * cloning) sees them: a JSON body nested thousands of levels deep would otherwise overflow the stack.
 * Kubernetes objects are a few dozen levels deep at most.
 */
export const MAX_BODY_DEPTH = 100;

function checkDepth(value: unknown): unknown {
  // Iterative walk, so the check itself cannot overflow the stack.
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_BODY_DEPTH) {
      throw new ApiError(badRequest(`the request body is nested more than ${MAX_BODY_DEPTH} levels deep`));
    }
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return value;
}

// The service-account issuer's discovery document and keys are public too (routes/serviceaccount-token.ts).
const PUBLIC_PATHS = new Set([
  '/healthz',
  '/readyz',
  '/livez',
  '/version',
  '/.well-known/openid-configuration',
  '/openid/v1/jwks',
]);

export function buildServer(opts: ServerOptions): FastifyInstance {
  const logger: any = opts.logger ?? false;
  const app = Fastify({
    ...(opts.tls
      ? {
          https: {
            cert: opts.tls.cert,
            key: opts.tls.key,
            ca: opts.tls.clientCA,
            // Ask for a client certificate but let requests without one through to token authentication;
            // authenticateRequest refuses a certificate that does not verify.
            requestCert: true,
            rejectUnauthorized: false,
          },
        }
      : {}),
    // A pino instance goes in loggerInstance; a boolean or options object in logger.
    ...(typeof logger === 'object' && typeof logger.info === 'function'
      ? { loggerInstance: logger }
      : { logger }),
    bodyLimit: opts.bodyLimit ?? 3 * 1024 * 1024,
    // Watches and log streams are long-lived; Node's default request timeout would cut them.
    requestTimeout: 0,
    // On shutdown, end watches and keep-alive connections instead of waiting for them to go idle.
    forceCloseConnections: true,
  });

  // JSON, merge patch (JSON), and YAML bodies.
  app.removeContentTypeParser('application/json');
  const parseJson = (_req: unknown, body: string, done: (err: Error | null, v?: unknown) => void): void => {
    if (body.length === 0) return done(null, undefined);
    try {
      done(null, checkDepth(JSON.parse(body)));
    } catch (err) {
      if (err instanceof ApiError) return done(err);
      done(new ApiError(badRequest(`the request body is not valid JSON: ${(err as Error).message}`)));
    }
  };
  app.addContentTypeParser(
    [
      'application/json',
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
      'application/json-patch+json',
    ],
    { parseAs: 'string' },
    parseJson,
  );
  app.addContentTypeParser(
    ['application/yaml', 'application/x-yaml', 'application/apply-patch+yaml'],
    { parseAs: 'string' },
    (_req, body, done) => {
      try {
        done(null, checkDepth(YAML.parse(body as string)));
      } catch (err) {
        if (err instanceof ApiError) return done(err);
        done(new ApiError(badRequest(`the request body is not valid YAML: ${(err as Error).message}`)));
      }
    },
  );

  // A body without a Content-Type is read as JSON, as kube-apiserver does (`kubectl scale
  // --current-replicas` sends its PUT so); any other unknown type is a 415.
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    if (req.headers['content-type'] === undefined) return parseJson(req, body as string, done);
    const err = Object.assign(new Error('unsupported media type'), {
      code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
    });
    done(err);
  });

  // kubectl's typed clients (create, auth, create token, drain's deletes) send protobuf; it decodes to the
  // JSON object a JSON client would have sent.
  app.addContentTypeParser(PROTOBUF_CONTENT_TYPE, { parseAs: 'buffer' }, (_req, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length === 0) return done(null, undefined);
    try {
      done(null, decodeKubernetesProtobuf(bytes));
    } catch (err) {
      if (!(err instanceof ProtobufBodyError)) return done(err as Error);
      done(new ApiError(statusFailure(err.code, err.reason, err.message)));
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (PUBLIC_PATHS.has(path)) return;
    const result = await opts.auth.authenticateRequest(req.raw);
    if (!result.ok) {
      reply.code(401).header('www-authenticate', 'Bearer realm="strata"').send(unauthorized(result.message));
      return reply;
    }
    req.user = result.user;
  });
  for (const extend of opts.extensions ?? []) extend(app);

  app.setErrorHandler((err: any, req, reply) => {
    if (err instanceof ApiError) return reply.code(err.code).send(err.status);
    // etcd lost quorum, has no leader or did not answer in time: the request was not served (503, as an
    // unavailable backend), and the message says what the members see.
    if (err instanceof EtcdUnavailableError) {
      req.log.warn({ err: err.message }, 'etcd unavailable');
      return reply.code(503).send(statusFailure(503, 'ServiceUnavailable', err.message));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply
        .code(413)
        .send(tooLarge(`the request body is larger than the limit of ${app.initialConfig.bodyLimit} bytes`));
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply
        .code(415)
        .send(
          statusFailure(
            415,
            'UnsupportedMediaType',
            `unsupported content type ${req.headers['content-type']}; use application/json, application/yaml or application/vnd.kubernetes.protobuf`,
          ),
        );
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send(statusFailure(err.statusCode, 'BadRequest', err.message));
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send(internalError(err.message));
  });

  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send(
        statusFailure(
          404,
          'NotFound',
          `the server could not find the requested resource (${req.method} ${req.url.split('?')[0]})`,
        ),
      );
  });

  app.get('/healthz', async () => 'ok');
  app.get('/livez', async () => 'ok');
  app.get('/readyz', async (req, reply) => {
    // kube-apiserver's shape: "[+]name ok" / "[-]name failed: reason withheld" lines, listed when a check
    // fails or with ?verbose, then "readyz check failed" (503) or "readyz check passed".
    const lines: string[] = [];
    let failed = false;
    if (opts.ready) {
      const ok = opts.ready();
      failed ||= !ok;
      lines.push(ok ? '[+]startup ok' : '[-]startup failed: not ready');
    }
    for (const c of opts.readyChecks ?? []) {
      try {
        await c.check();
        lines.push(`[+]${c.name} ok`);
      } catch (err) {
        failed = true;
        req.log.warn({ check: c.name, err: (err as Error).message }, 'readyz check failed');
        lines.push(`[-]${c.name} failed: reason withheld`);
      }
    }
    const verbose = (req.query as Record<string, unknown>)?.verbose !== undefined;
    if (failed) return reply.code(503).send(`${lines.join('\n')}\nreadyz check failed\n`);
    return verbose ? `${lines.join('\n')}\nreadyz check passed\n` : 'ok';
  });
  app.get('/version', async () => ({
    major: KUBERNETES_VERSION.major,
    minor: KUBERNETES_VERSION.minor,
    // Kubernetes-shaped so kubectl prints no skew warning; Strata's own version rides in the build metadata.
    gitVersion: GIT_VERSION,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '',
    compiler: 'v8',
    strataVersion: STRATA_VERSION,
    goVersion: 'n/a',
    platform: `${process.platform}/${process.arch}`,
    nodeVersion: process.version,
  }));
  registerOpenAPIRoutes(app);
  registerTableOutput(app);

  app.decorate('agents', opts.agents ?? new AgentDialer());
  registerDiscoveryRoutes(app);
  registerAuthenticationRoutes(app, opts.auth);
  registerResourceRoutes(app, opts.objects);
  attachExecUpgrade(app, opts.objects, opts.auth);
  return app;
}
