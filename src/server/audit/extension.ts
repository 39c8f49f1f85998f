// The audit log on the request path (a ServerExtension; list it before authorization so it sees the
// authenticated user before impersonation replaces it). Each request becomes `audit.k8s.io/v1` Event
// lines: ResponseComplete for every request — 401s included, whose reply the authentication hook sends
// before any extension hook runs (Fastify's onResponse still runs for them) — and ResponseStarted first
// for long-running ones (watches, followed logs, exec/attach/port-forward), when their headers go out.
// exec/attach/port-forward upgrades never reach Fastify's hooks: the server's 'upgrade' event is watched
// here, and the status line the upgrade handler writes (101, or its refusal) gives the code.
//
// Annotations: `authorization.k8s.io/decision` and `/reason` come from `req.auditAnnotations` when the
// authorization step recorded them; otherwise they are derived from the answer (a 403 whose message is
// kube's authorization denial is `forbid`, any other authenticated answer `allow`). Admission steps add
// theirs through the same record (WriteOptions.annotate → addAuditAnnotation).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { UserInfo } from '../../auth/identities.ts';
import type { ServerExtension } from '../app.ts';
import type { Authenticator } from '../auth.ts';
import { requestAttributes } from '../authorization-attributes.ts';
import {
  type AuditAttributes,
  type AuditPolicy,
  type Level,
  type PolicyDecision,
  type Stage,
} from './policy.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Audit annotations of this request (key → value), written into its audit event: the authorization
     * step's `authorization.k8s.io/decision` and `/reason`, admission's own keys.
     */
    auditAnnotations?: Record<string, string>;
  }
}

/** Records an annotation for the request's audit event (admission steps, authorization). */
export function addAuditAnnotation(req: FastifyRequest, key: string, value: string): void {
  (req.auditAnnotations ??= {})[key] = value;
}

/** Where events go (AuditLogWriter). */
export interface AuditSink {
  write(event: object): void;
}

export interface AuditOptions {
  policy: AuditPolicy;
  sink: AuditSink;
  /** Authenticates exec/attach/port-forward upgrades (which Fastify's hooks do not see). */
  auth?: Authenticator;
  /** Largest response body parsed into responseObject at RequestResponse (bigger ones are left out). */
  maxResponseObjectBytes?: number;
}

interface AuditUser {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

interface ObjectRef {
  resource?: string;
  namespace?: string;
  name?: string;
  apiGroup?: string;
  apiVersion?: string;
  subresource?: string;
}

/** What the hooks gather about one request. */
interface Pending {
  id: string;
  received: Date;
  attrs: AuditAttributes & { apiVersion?: string };
  user?: UserInfo;
  decision: PolicyDecision;
  longRunning: boolean;
  started: boolean;
  done: boolean;
  /** The Status of an error answer (reason, message) or, at RequestResponse, the answer itself. */
  response?: unknown;
}

const pendingOf = new WeakMap<FastifyRequest, Pending>();

function auditUser(u: UserInfo): AuditUser {
  return {
    username: u.username,
    ...(u.uid ? { uid: u.uid } : {}),
    groups: u.groups,
    ...(u.extra && Object.keys(u.extra).length ? { extra: u.extra } : {}),
  };
}

/** X-Forwarded-For entries, X-Real-Ip, then the peer: kube's order. */
function sourceIPs(req: IncomingMessage): string[] {
  const ips: string[] = [];
  const xff = req.headers['x-forwarded-for'];
  if (typeof xff === 'string') for (const ip of xff.split(',')) if (ip.trim()) ips.push(ip.trim());
  const real = req.headers['x-real-ip'];
  if (typeof real === 'string' && real.trim()) ips.push(real.trim());
  const peer = req.socket.remoteAddress?.replace(/^::ffff:/, '');
  if (peer && !ips.includes(peer)) ips.push(peer);
  return ips;
}

function attributesOf(req: IncomingMessage, user: UserInfo | undefined): Pending['attrs'] {
  const a = requestAttributes(
    req.method ?? 'GET',
    req.url ?? '/',
    user ?? { username: '', groups: [], via: 'token' },
  );
  return {
    user: user && { username: user.username, groups: user.groups },
    verb: a.verb,
    resourceRequest: a.resourceRequest,
    apiGroup: a.apiGroup,
    apiVersion: a.apiVersion,
    resource: a.resource,
    subresource: a.subresource,
    namespace: a.namespace,
    name: a.name,
    path: a.path,
  };
}

function isLongRunning(a: Pending['attrs'], url: string): boolean {
  if (a.verb === 'watch') return true;
  if (a.resource === 'pods' && ['exec', 'attach', 'portforward', 'proxy'].includes(a.subresource ?? ''))
    return true;
  return a.resource === 'pods' && a.subresource === 'log' && /[?&]follow=(true|1)(&|$)/.test(url);
}

function objectRef(a: Pending['attrs']): ObjectRef | undefined {
  if (!a.resourceRequest) return undefined;
  const ref: ObjectRef = {};
  if (a.resource) ref.resource = a.resource;
  if (a.namespace) ref.namespace = a.namespace;
  if (a.name) ref.name = a.name;
  ref.apiGroup = a.apiGroup ?? '';
  if (a.apiVersion) ref.apiVersion = a.apiVersion;
  if (a.subresource) ref.subresource = a.subresource;
  return ref;
}

function atLeast(level: Level, min: Level): boolean {
  const order: Level[] = ['None', 'Metadata', 'Request', 'RequestResponse'];
  return order.indexOf(level) >= order.indexOf(min);
}

/** The reason and message of a Status answer (kube's responseStatus), without details. */
function statusOf(code: number, body: unknown): Record<string, unknown> {
  const s: Record<string, unknown> = { metadata: {}, code };
  if (body && typeof body === 'object' && (body as any).kind === 'Status') {
    const b = body as { status?: string; message?: string; reason?: string };
    if (b.status) s.status = b.status;
    if (b.message) s.message = b.message;
    if (b.reason) s.reason = b.reason;
  }
  return s;
}

function parseJson(payload: unknown): unknown {
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return undefined;
  try {
    return JSON.parse(String(payload));
  } catch {
    return undefined;
  }
}

function dropManagedFields(obj: unknown): unknown {
  if (!obj || typeof obj !== 'object' || !(obj as any).metadata?.managedFields) return obj;
  const { managedFields: _drop, ...metadata } = (obj as any).metadata;
  return { ...(obj as any), metadata };
}

export function auditExtension(opts: AuditOptions): ServerExtension {
  const { policy, sink } = opts;
  const maxBody = opts.maxResponseObjectBytes ?? 1024 * 1024;

  const emit = (
    p: Pending,
    stage: Stage,
    raw: IncomingMessage,
    code: number,
    current: UserInfo | undefined,
    annotations: Record<string, string> | undefined,
    body: unknown,
    response: unknown,
  ): void => {
    if (p.decision.level === 'None' || p.decision.omitStages.includes(stage)) return;
    const a = p.attrs;
    const event: Record<string, unknown> = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: p.decision.level,
      auditID: p.id,
      stage,
      requestURI: raw.url ?? '/',
      verb: a.verb,
      user: p.user ? auditUser(p.user) : {},
    };
    // Impersonation: the authenticated user stays `user`; who the request acted as is impersonatedUser.
    if (p.user && current && current !== p.user) event.impersonatedUser = auditUser(current);
    else if (p.user && stage === 'ResponseComplete') {
      // Impersonation allowed but the request then refused: the user was never swapped on the request.
      const as = raw.headers['impersonate-user'];
      const msg = (response as { message?: unknown } | undefined)?.message;
      if (typeof as === 'string' && !(typeof msg === 'string' && msg.includes('cannot impersonate')))
        event.impersonatedUser = { username: as, groups: headerValues(raw.headers['impersonate-group']) };
    }
    event.sourceIPs = sourceIPs(raw);
    const agent = raw.headers['user-agent'];
    if (agent) event.userAgent = agent;
    const ref = objectRef(a);
    // A create names its object in the body, not the URL: kube's objectRef carries the name all the same.
    const bodyName = (body as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
    if (ref && !ref.name && a.verb === 'create' && typeof bodyName === 'string') ref.name = bodyName;
    if (ref) event.objectRef = ref;
    event.responseStatus = statusOf(code, response);
    if (atLeast(p.decision.level, 'Request') && body !== undefined && stage === 'ResponseComplete')
      event.requestObject = p.decision.omitManagedFields ? dropManagedFields(body) : body;
    if (
      p.decision.level === 'RequestResponse' &&
      stage === 'ResponseComplete' &&
      response !== undefined &&
      (response as any)?.kind !== 'Status'
    )
      event.responseObject = p.decision.omitManagedFields ? dropManagedFields(response) : response;
    if (
      stage === 'ResponseComplete' &&
      response !== undefined &&
      (response as any)?.kind === 'Status' &&
      p.decision.level === 'RequestResponse'
    )
      event.responseObject = response;
    event.requestReceivedTimestamp = p.received.toISOString();
    event.stageTimestamp = new Date().toISOString();
    const ann = { ...decisionAnnotations(p, code, response), ...annotations };
    if (Object.keys(ann).length) event.annotations = ann;
    sink.write(event);
  };

  return (app: FastifyInstance) => {
    app.addHook('onRequest', async (req, reply) => {
      const p = start(req.raw, req.user, reply.elapsedTime);
      pendingOf.set(req, p);
      // On the raw response: hijacked replies (watch, logs) never send Fastify's own headers.
      reply.raw.setHeader('audit-id', p.id);
      if (p.longRunning) {
        // ResponseStarted when the headers go out (watch and log streams write them themselves).
        const res = reply.raw;
        const writeHead = res.writeHead;
        res.writeHead = function (this: typeof res, ...args: any[]) {
          if (!p.started) {
            p.started = true;
            emit(
              p,
              'ResponseStarted',
              req.raw,
              args[0] as number,
              req.user,
              req.auditAnnotations,
              undefined,
              undefined,
            );
          }
          return (writeHead as any).apply(this, args);
        } as typeof res.writeHead;
      }
      // Hijacked replies (watch, logs) skip onResponse: the socket's end completes them.
      res(reply).once('close', () => complete(req, reply));
    });

    app.addHook('onSend', async (req, reply, payload) => {
      const p = pendingOf.get(req) ?? ensure(req, reply);
      const code = reply.statusCode;
      if (code >= 400 || p.decision.level === 'RequestResponse') {
        const size =
          typeof payload === 'string' ? payload.length : Buffer.isBuffer(payload) ? payload.length : Infinity;
        const type = String(reply.getHeader('content-type') ?? '');
        if (size <= maxBody && type.includes('json')) p.response = parseJson(payload);
      }
      return payload;
    });

    // Every answer Fastify sends, including the 401 the authentication hook sends before this
    // extension's onRequest runs.
    app.addHook('onResponse', async (req, reply) => {
      ensure(req, reply);
      complete(req, reply);
    });

    if (opts.auth) watchUpgrades(app, opts.auth);
  };

  function res(reply: FastifyReply) {
    return reply.raw;
  }

  function start(raw: IncomingMessage, user: UserInfo | undefined, elapsedMs: number): Pending {
    const attrs = attributesOf(raw, user);
    const header = raw.headers['audit-id'];
    return {
      id: typeof header === 'string' && header.length > 0 && header.length <= 128 ? header : randomUUID(),
      received: new Date(Date.now() - (Number.isFinite(elapsedMs) ? elapsedMs : 0)),
      attrs,
      user,
      decision: policy.decide(attrs),
      longRunning: isLongRunning(attrs, raw.url ?? ''),
      started: false,
      done: false,
    };
  }

  /** A request whose onRequest hooks were cut short (401 from authentication) still gets its record. */
  function ensure(req: FastifyRequest, reply: FastifyReply): Pending {
    let p = pendingOf.get(req);
    if (!p) {
      p = start(req.raw, req.user, reply.elapsedTime);
      pendingOf.set(req, p);
    }
    return p;
  }

  function complete(req: FastifyRequest, reply: FastifyReply): void {
    const p = pendingOf.get(req);
    if (!p || p.done) return;
    p.done = true;
    const body = req.body === undefined || req.body === null ? undefined : req.body;
    emit(
      p,
      'ResponseComplete',
      req.raw,
      reply.raw.statusCode,
      req.user,
      req.auditAnnotations,
      body,
      p.response,
    );
  }

  /** exec/attach/port-forward upgrades: audited from the server's 'upgrade' event and the status line. */
  function watchUpgrades(app: FastifyInstance, auth: Authenticator): void {
    app.server.on('upgrade', (raw: IncomingMessage, socket: Duplex) => {
      const p = start(raw, undefined, 0);
      p.longRunning = true;
      let current: UserInfo | undefined;
      // Authentication may be asynchronous (bootstrap tokens); the upgrade handler, listening after this
      // one, authenticates the same request too, so the user is known before its first byte is written.
      const ready = Promise.resolve(auth.authenticateRequest(raw)).then(
        (who) => {
          if (!who.ok) return;
          p.user = who.user;
          p.attrs = attributesOf(raw, who.user);
          p.decision = policy.decide(p.attrs);
          // The impersonated user, as the upgrade handler applies it (once authorized: only on a 101).
          const as = raw.headers['impersonate-user'];
          current =
            typeof as === 'string'
              ? { username: as, groups: headerValues(raw.headers['impersonate-group']), via: who.user.via }
              : who.user;
        },
        () => undefined,
      );
      let code = 0;
      let head = '';
      /** The handler writes the status line itself (101, or a refusal with a Status body): read it on the way out. */
      const observe = (chunk: unknown): void => {
        if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('latin1');
        if (code === 0) {
          head += text;
          const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
          if (!m) return;
          code = Number(m[1]);
          const bodyStart = head.indexOf('\r\n\r\n');
          if (code !== 101 && bodyStart >= 0) p.response = parseJson(head.slice(bodyStart + 4));
          if (code === 101) {
            p.started = true;
            void ready.then(() =>
              emit(p, 'ResponseStarted', raw, 101, current, undefined, undefined, undefined),
            );
          }
        } else if (code !== 101 && p.response === undefined) {
          p.response = parseJson(text);
        }
      };
      const write = socket.write;
      socket.write = function (this: Duplex, chunk: any, ...rest: any[]) {
        observe(chunk);
        return (write as any).apply(this, [chunk, ...rest]);
      } as typeof socket.write;
      const end = socket.end;
      socket.end = function (this: Duplex, chunk?: any, ...rest: any[]) {
        observe(chunk);
        return (end as any).apply(this, [chunk, ...rest]);
      } as typeof socket.end;
      socket.once('close', () => {
        if (p.done) return;
        p.done = true;
        void ready.then(() =>
          emit(
            p,
            'ResponseComplete',
            raw,
            code || 500,
            code === 101 ? current : p.user,
            undefined,
            undefined,
            p.response,
          ),
        );
      });
    });
  }
}

function headerValues(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** kube's authorization annotations, derived from the answer when the authorization step left none. */
function decisionAnnotations(p: Pending, code: number, response: unknown): Record<string, string> {
  if (!p.user || code === 401) return {};
  const message = (response as { message?: unknown } | undefined)?.message;
  if (code === 403 && typeof message === 'string' && /forbidden: User "/.test(message)) {
    const reason = /: User "[^"]*" cannot [^:]*: (.*)$/.exec(message)?.[1] ?? '';
    return { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': reason };
  }
  return { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' };
}
