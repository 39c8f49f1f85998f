// The agent's own HTTP endpoint (the kubelet's port): container logs, streamed to the API server's log
// proxy. Callers must present a bearer token the control plane accepts (checked with a TokenReview,
// cached briefly), so the endpoint is no weaker than the API itself.
//
// Upgrades (the server's streaming proxies come here):
//   POST /exec-stream/:ns/:pod/:container    strata-exec.v1 (query: command (repeated), stdin, tty, cols,
//                                            rows), framed as src/client/exec-stream.ts describes; resize
//                                            frames resize the command's terminal
//   POST /attach-stream/:ns/:pod/:container  strata-exec.v1: the container's output from now on, read from
//                                            its log; with stdin=true, the container's own stdio through
//                                            its tier (AttachDriver: stdin, output, resizes), for pods whose
//                                            container says `stdin: true`
//   POST /portforward/:ns/:pod?port=N        strata-portforward.v1: one TCP connection to the pod's IP
// Logs: GET /containerLogs/:ns/:pod/:container with the pods/log parameters (log-reader.ts).
// Metrics (src/metrics, kubelet paths): GET /metrics, /metrics/cadvisor, /metrics/resource, /stats/summary.
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { notFound, statusFailure, unauthorized, badRequest, kindFor, internalError } from '../api/index.ts';
import type { Client } from '../client/client.ts';
import {
  acceptUpgrade,
  encodeFrame,
  EXEC_PROTOCOL,
  FRAME,
  FrameDecoder,
  PORT_FORWARD_UPGRADE,
  refuseUpgrade,
} from '../client/exec-stream.ts';
import { SandboxError, type AttachedStdio, type AttachOptions, type ExecResult } from '../sandbox/driver.ts';
import type { InteractiveExec } from '../sandbox/container/exec.ts';
import { LogRenderer, readRecords } from './log-reader.ts';
import { containerLogPath, isLogOpen } from './logs.ts';

const podKind = kindFor('v1', 'Pod')!;
const REVIEW_TTL_MS = 60_000;
/** How long connecting to a pod's port may take before port-forward reports it. */
const DIAL_TIMEOUT_MS = 10_000;

export interface AgentHttpOptions {
  client: Client;
  /** HTTPS: the agent's serving certificate, and the cluster CA that signs the control plane's client certificate. */
  tls?: { cert: string; key: string; clientCA?: string; controlPlaneCN?: string };
  /** Finds the pod directory and current restart count of a pod's container, if this node runs it. */
  locate: (
    namespace: string,
    name: string,
    container: string,
  ) => { podDir: string; restartCount: number } | undefined;
  /** Runs a command in a pod's running container. */
  exec: (namespace: string, name: string, container: string, cmd: string[]) => Promise<ExecResult>;
  /** Starts a command with streamed stdio in a pod's running container (tiers that can). */
  execStream?: (
    namespace: string,
    name: string,
    container: string,
    cmd: string[],
    opts: { tty: boolean; cols?: number; rows?: number },
  ) => Promise<InteractiveExec>;
  /** The node's metrics: Prometheus text per kubelet path, and the stats summary (src/metrics). */
  metrics?: {
    metrics(): Promise<string>;
    cadvisor(): Promise<string>;
    resource(): Promise<string>;
    summary(): Promise<unknown>;
  };
  /** Attaches to a pod container's own stdio (tiers that can: AttachDriver). */
  attach?: (
    namespace: string,
    name: string,
    container: string,
    opts: AttachOptions,
  ) => Promise<AttachedStdio>;
}

const EXEC_STREAM_PATH = /^\/exec-stream\/([^/]+)\/([^/]+)\/([^/]+)$/;
const ATTACH_STREAM_PATH = /^\/attach-stream\/([^/]+)\/([^/]+)\/([^/]+)$/;
const PORT_FORWARD_PATH = /^\/portforward\/([^/]+)\/([^/]+)$/;
/** After the client went away: SIGHUP to the command, SIGKILL to the runtime's exec after this. */
const HANGUP_GRACE_MS = 5_000;

function sandboxErrorStatus(err: unknown): { code: number; status: unknown } {
  const reason = err instanceof SandboxError ? err.reason : 'InternalError';
  const code = reason === 'NotFound' ? 404 : reason === 'NotRunning' || reason === 'NotSupported' ? 400 : 500;
  return {
    code,
    status: statusFailure(code, reason === 'NotFound' ? 'NotFound' : 'BadRequest', (err as Error).message),
  };
}

export function buildAgentHttp(opts: AgentHttpOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    requestTimeout: 0,
    forceCloseConnections: true,
    ...(opts.tls
      ? {
          https: {
            cert: opts.tls.cert,
            key: opts.tls.key,
            // The control plane presents a client certificate from the cluster CA; anyone else a token.
            ...(opts.tls.clientCA
              ? { ca: opts.tls.clientCA, requestCert: true, rejectUnauthorized: false }
              : {}),
          },
        }
      : {}),
  });
  const reviewed = new Map<string, { ok: boolean; at: number }>();

  /** The caller is the control plane (its client certificate) or holds a token the API accepts. */
  async function callerOk(req: IncomingMessage): Promise<boolean> {
    const socket = req.socket as TLSSocket;
    if (socket.encrypted && socket.authorized) {
      const cn = socket.getPeerCertificate()?.subject?.CN;
      if (cn !== undefined && cn === opts.tls?.controlPlaneCN) return true;
    }
    return tokenOk(req.headers.authorization);
  }

  async function tokenOk(header: string | undefined): Promise<boolean> {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    if (!token) return false;
    const hit = reviewed.get(token);
    if (hit && Date.now() - hit.at < REVIEW_TTL_MS) return hit.ok;
    const review = await opts.client.json('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    const ok = review?.status?.authenticated === true;
    reviewed.set(token, { ok, at: Date.now() });
    return ok;
  }

  app.get('/healthz', async () => 'ok');

  // Same authentication as logs and exec: the control plane's certificate or a token the API accepts.
  const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
  const metricsRoutes: Array<[string, (m: NonNullable<AgentHttpOptions['metrics']>) => Promise<unknown>]> = [
    ['/metrics', (m) => m.metrics()],
    ['/metrics/cadvisor', (m) => m.cadvisor()],
    ['/metrics/resource', (m) => m.resource()],
    ['/stats/summary', (m) => m.summary()],
  ];
  for (const [path, render] of metricsRoutes) {
    app.get(path, async (req, reply) => {
      if (!(await callerOk(req.raw))) return reply.code(401).send(unauthorized());
      if (!opts.metrics) return reply.code(404).send(statusFailure(404, 'NotFound', `no metrics at ${path}`));
      const body = await render(opts.metrics);
      return typeof body === 'string' ? reply.type(PROMETHEUS_TEXT).send(body) : body;
    });
  }

  const streams = new Set<Duplex>();
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    streams.add(socket);
    socket.on('close', () => streams.delete(socket));
    socket.on('error', () => socket.destroy());
    routeUpgrade(req, socket, head).catch((err) => {
      if (!socket.destroyed) refuseUpgrade(socket, 500, internalError((err as Error).message));
    });
  });
  // server.close() waits for upgraded sockets: end them before it (onClose would run after).
  app.addHook('preClose', async () => {
    for (const s of streams) s.destroy();
  });

  async function routeUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const routes: Array<[RegExp, typeof serveExecStream]> = [
      [EXEC_STREAM_PATH, serveExecStream],
      [ATTACH_STREAM_PATH, serveAttachStream],
      [PORT_FORWARD_PATH, servePodPortForward],
    ];
    for (const [path, serve] of routes) {
      const m = path.exec(url.pathname);
      if (m && req.method === 'POST')
        return serve(req, socket, head, url, m.slice(1).map(decodeURIComponent));
    }
    refuseUpgrade(socket, 404, statusFailure(404, 'NotFound', `no upgrade at ${req.method} ${url.pathname}`));
  }

  async function serveExecStream(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: URL,
    [namespace, pod, container]: string[],
  ): Promise<void> {
    if (req.headers.upgrade?.toLowerCase() !== EXEC_PROTOCOL) {
      return refuseUpgrade(socket, 400, badRequest(`unsupported upgrade; use ${EXEC_PROTOCOL}`));
    }
    if (!(await callerOk(req))) return refuseUpgrade(socket, 401, unauthorized());
    const q = url.searchParams;
    const command = q.getAll('command');
    if (command.length === 0) {
      return refuseUpgrade(socket, 400, badRequest('command: Required value: a non-empty list of strings'));
    }
    if (!opts.execStream) {
      return refuseUpgrade(socket, 400, badRequest('interactive exec is not supported by this node'));
    }
    const size = (k: string): number | undefined => {
      const n = Number(q.get(k));
      return Number.isInteger(n) && n > 0 && n < 10_000 ? n : undefined;
    };
    let proc: InteractiveExec;
    try {
      proc = await opts.execStream(namespace, pod, container, command, {
        tty: q.get('tty') === 'true',
        cols: size('cols'),
        rows: size('rows'),
      });
    } catch (err) {
      const { code, status } = sandboxErrorStatus(err);
      return refuseUpgrade(socket, code, status);
    }
    let finished = false;
    socket.on('close', () => {
      if (finished) return;
      proc.kill('SIGHUP');
      setTimeout(() => proc.kill('SIGKILL'), HANGUP_GRACE_MS).unref();
    });
    if (socket.destroyed) return;
    acceptUpgrade(socket);

    const stdin = proc.stdin;
    stdin?.on('error', () => {}); // EPIPE once the command is gone
    if (q.get('stdin') !== 'true') stdin?.end();
    const decoder = new FrameDecoder();
    const onData = (chunk: Buffer): void => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (f.type === FRAME.resize) {
          const size = terminalSize(f.payload);
          if (size) void proc.resize(size.cols, size.rows);
          continue;
        }
        if (f.type !== FRAME.stdin || !stdin || stdin.writableEnded) continue;
        if (f.payload.length === 0) stdin.end();
        else stdin.write(f.payload);
      }
    };
    if (head.length) onData(head);
    socket.on('data', onData);

    const forward = (stream: NodeJS.ReadableStream | null, type: number): void => {
      stream?.on('data', (d: Buffer) => {
        if (socket.destroyed) return;
        if (!socket.write(encodeFrame(type, d))) {
          stream.pause();
          socket.once('drain', () => stream.resume());
        }
      });
    };
    forward(proc.stdout, FRAME.stdout);
    forward(proc.stderr, FRAME.stderr);
    // exited resolves on the child's 'close': its output has all been read by then.
    proc.exited.then(
      (exitCode) => {
        finished = true;
        socket.end(encodeFrame(FRAME.exit, JSON.stringify({ exitCode })));
      },
      (err: Error) => {
        finished = true;
        socket.end(encodeFrame(FRAME.error, err.message));
      },
    );
  }

  /** The container's output from now until its run ends, as stdout/stderr frames, then exit 0. */
  async function serveAttachStream(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: URL,
    [namespace, pod, container]: string[],
  ): Promise<void> {
    if (req.headers.upgrade?.toLowerCase() !== EXEC_PROTOCOL) {
      return refuseUpgrade(socket, 400, badRequest(`unsupported upgrade; use ${EXEC_PROTOCOL}`));
    }
    if (!(await callerOk(req))) return refuseUpgrade(socket, 401, unauthorized());
    if (url.searchParams.get('stdin') === 'true') {
      return serveStdinAttach(socket, head, url, [namespace, pod, container]);
    }
    const where = opts.locate(namespace, pod, container);
    if (!where) return refuseUpgrade(socket, 404, notFound(podKind, pod));
    const path = containerLogPath(where.podDir, container, where.restartCount);
    if (!isLogOpen(path)) {
      return refuseUpgrade(
        socket,
        400,
        badRequest(`cannot attach to container "${container}" in pod "${pod}": it is not running`),
      );
    }
    if (socket.destroyed) return;
    acceptUpgrade(socket);
    socket.resume(); // nothing comes from the client; keep its bytes from piling up
    const records = readRecords(path, {
      fromEnd: true,
      follow: true,
      isOpen: () => isLogOpen(path),
      stopped: () => socket.destroyed,
    });
    for await (const r of records) {
      const data = r.partial ? r.content : Buffer.concat([r.content, Buffer.from('\n')]);
      if (!socket.write(encodeFrame(r.stream === 'stderr' ? FRAME.stderr : FRAME.stdout, data))) {
        await new Promise((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
      }
    }
    if (!socket.destroyed) socket.end(encodeFrame(FRAME.exit, JSON.stringify({ exitCode: 0 })));
  }

  /**
   * `attach -i`: the client's stdin frames go to the container's stdin (an empty one ends the input),
   * resize frames resize its terminal, its output comes back as frames; exit 0 once its output ends
   * (it exited). The client going away detaches: the container keeps running.
   */
  async function serveStdinAttach(
    socket: Duplex,
    head: Buffer,
    url: URL,
    [namespace, pod, container]: string[],
  ): Promise<void> {
    if (!opts.attach) {
      return refuseUpgrade(
        socket,
        400,
        badRequest(
          `cannot attach to the stdin of container "${container}" in pod "${pod}": this node runs containers without an open stdin`,
        ),
      );
    }
    const q = url.searchParams;
    const size = (k: string): number | undefined => {
      const n = Number(q.get(k));
      return Number.isInteger(n) && n > 0 && n < 10_000 ? n : undefined;
    };
    let session: AttachedStdio;
    try {
      session = await opts.attach(namespace, pod, container, {
        stdin: true,
        cols: size('cols'),
        rows: size('rows'),
      });
    } catch (err) {
      const { code, status } = sandboxErrorStatus(err);
      const message = `cannot attach to the stdin of container "${container}" in pod "${pod}": ${(err as Error).message}`;
      return refuseUpgrade(socket, code, { ...(status as object), message });
    }
    socket.on('close', () => session.close());
    if (socket.destroyed) return;
    acceptUpgrade(socket);

    const stdin = session.stdin;
    stdin?.on('error', () => {}); // EPIPE once the container is gone
    const decoder = new FrameDecoder();
    const onData = (chunk: Buffer): void => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (f.type === FRAME.resize) {
          const size = terminalSize(f.payload);
          if (size) void session.resize(size.cols, size.rows);
          continue;
        }
        if (f.type !== FRAME.stdin || !stdin || stdin.writableEnded) continue;
        if (f.payload.length === 0) stdin.end();
        else stdin.write(f.payload);
      }
    };
    if (head.length) onData(head);
    socket.on('data', onData);
    const forward = (stream: NodeJS.ReadableStream | null, type: number): void => {
      stream?.on('data', (d: Buffer) => {
        if (socket.destroyed) return;
        if (!socket.write(encodeFrame(type, d))) {
          stream.pause();
          socket.once('drain', () => stream.resume());
        }
      });
    };
    forward(session.stdout, FRAME.stdout);
    forward(session.stderr, FRAME.stderr);
    // Both outputs end once the relay is gone (after the container's last output was forwarded).
    const ended = (s: NodeJS.ReadableStream | null) =>
      s ? finished(s).catch(() => undefined) : Promise.resolve(undefined);
    await Promise.all([session.closed, ended(session.stdout), ended(session.stderr)]);
    if (!socket.destroyed) socket.end(encodeFrame(FRAME.exit, JSON.stringify({ exitCode: 0 })));
  }

  /** One forwarded connection: dial the pod's IP and port, then pass the bytes both ways. */
  async function servePodPortForward(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: URL,
    [namespace, name]: string[],
  ): Promise<void> {
    if (req.headers.upgrade?.toLowerCase() !== PORT_FORWARD_UPGRADE) {
      return refuseUpgrade(socket, 400, badRequest(`unsupported upgrade; use ${PORT_FORWARD_UPGRADE}`));
    }
    if (!(await callerOk(req))) return refuseUpgrade(socket, 401, unauthorized());
    const port = Number(url.searchParams.get('port'));
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return refuseUpgrade(socket, 400, badRequest(`port: Invalid value: "${url.searchParams.get('port')}"`));
    }
    let pod: any;
    try {
      pod = await opts.client.get(podKind, namespace, name);
    } catch {
      return refuseUpgrade(socket, 404, notFound(podKind, name));
    }
    const here = (pod.spec?.containers ?? []).some((c: any) => opts.locate(namespace, name, c.name));
    if (!here) return refuseUpgrade(socket, 404, notFound(podKind, name));
    const ip: string | undefined = pod.status?.podIP;
    if (!ip) {
      return refuseUpgrade(
        socket,
        400,
        badRequest(
          `pod "${name}" has no IP address to forward to: its sandbox ` +
            `(runtimeClassName ${pod.spec?.runtimeClassName ?? 'unknown'}) is not on the pod network`,
        ),
      );
    }
    let conn: Socket;
    try {
      conn = await dial(ip, port);
    } catch (err) {
      return refuseUpgrade(socket, 502, statusFailure(502, 'BadGateway', (err as Error).message));
    }
    if (socket.destroyed) {
      conn.destroy();
      return;
    }
    acceptUpgrade(socket, PORT_FORWARD_UPGRADE);
    if (head.length) conn.write(head);
    conn.on('error', () => socket.destroy());
    conn.on('close', () => socket.end());
    socket.on('close', () => conn.destroy());
    socket.pipe(conn);
    conn.pipe(socket);
  }

  app.post('/exec/:namespace/:pod/:container', async (req, reply) => {
    if (!(await callerOk(req.raw))) return reply.code(401).send(unauthorized());
    const { namespace, pod, container } = req.params as Record<string, string>;
    const command = (req.body as any)?.command;
    if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string')) {
      return reply.code(400).send(badRequest('command: Required value: a non-empty list of strings'));
    }
    try {
      const r = await opts.exec(namespace, pod, container, command);
      return {
        exitCode: r.exitCode,
        stdout: Buffer.from(r.stdout).toString('base64'),
        stderr: Buffer.from(r.stderr).toString('base64'),
      };
    } catch (err) {
      const { code, status } = sandboxErrorStatus(err);
      return reply.code(code).send(status);
    }
  });

  app.get('/containerLogs/:namespace/:pod/:container', async (req, reply) => {
    if (!(await callerOk(req.raw))) return reply.code(401).send(unauthorized());
    const { namespace, pod, container } = req.params as Record<string, string>;
    const q = req.query as Record<string, string | undefined>;
    const where = opts.locate(namespace, pod, container);
    if (!where) return reply.code(404).send(notFound(podKind, pod));
    const previous = q.previous === 'true';
    const n = previous ? where.restartCount - 1 : where.restartCount;
    const path = n < 0 ? undefined : containerLogPath(where.podDir, container, n);
    if (!path || !existsSync(path)) {
      return reply
        .code(400)
        .send(
          badRequest(
            previous
              ? `previous terminated container "${container}" in pod "${pod}" not found`
              : `container "${container}" in pod "${pod}" is waiting to start`,
          ),
        );
    }
    const int = (v: string | undefined): number | undefined =>
      v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
    let sinceMs: number | undefined;
    if (q.sinceTime !== undefined) sinceMs = Date.parse(q.sinceTime);
    else if (int(q.sinceSeconds) !== undefined) sinceMs = Date.now() - int(q.sinceSeconds)! * 1000;
    if (sinceMs !== undefined && Number.isNaN(sinceMs)) {
      return reply
        .code(400)
        .send(badRequest(`sinceTime: Invalid value: "${q.sinceTime}": not an RFC 3339 time`));
    }
    const renderer = new LogRenderer({
      timestamps: q.timestamps === 'true',
      sinceMs,
      limitBytes: int(q.limitBytes),
    });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'transfer-encoding': 'chunked' });
    // Headers now: a follower may wait long for the first line.
    res.flushHeaders();
    let closed = false;
    req.raw.on('close', () => (closed = true));
    const records = readRecords(path, {
      tailLines: int(q.tailLines),
      // The previous run has ended: nothing to follow.
      follow: q.follow === 'true' && !previous,
      isOpen: () => isLogOpen(path),
      stopped: () => closed || renderer.full,
    });
    for await (const r of records) {
      const out = renderer.render(r);
      if (out.length && !res.write(out)) {
        await new Promise((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
      }
      if (renderer.full) break;
    }
    res.end();
  });
  return app;
}

/** A resize frame's {cols, rows}, if it is a sane terminal size. */
function terminalSize(payload: Buffer): { cols: number; rows: number } | undefined {
  try {
    const { cols, rows } = JSON.parse(payload.toString('utf8'));
    const ok = (n: unknown): n is number =>
      Number.isInteger(n) && (n as number) > 0 && (n as number) < 10_000;
    return ok(cols) && ok(rows) ? { cols, rows } : undefined;
  } catch {
    return undefined;
  }
}

/** A TCP connection to the pod, or an error worded like Go's dialer (kubectl shows it as is). */
function dial(ip: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const conn = connect({ host: ip, port, allowHalfOpen: true });
    const fail = (why: string): void => {
      conn.destroy();
      reject(new Error(`dial tcp ${ip.includes(':') ? `[${ip}]` : ip}:${port}: ${why}`));
    };
    conn.setTimeout(DIAL_TIMEOUT_MS, () => fail('i/o timeout'));
    conn.once('connect', () => {
      conn.setTimeout(0);
      resolve(conn);
    });
    conn.once('error', (err: NodeJS.ErrnoException) =>
      fail(err.code === 'ECONNREFUSED' ? 'connect: connection refused' : err.message),
    );
  });
}
