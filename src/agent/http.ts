// The agent's own HTTP endpoint (the kubelet's port): container logs, streamed to the API server's log
// proxy. Callers must present a bearer token the control plane accepts (checked with a TokenReview,
// cached briefly), so the endpoint is no weaker than the API itself.
//
// Interactive exec is an HTTP/1.1 Upgrade to strata-exec.v1 on `POST /exec-stream/:ns/:pod/:container`
// (query: command (repeated), stdin, tty, cols, rows), framed as src/client/exec-stream.ts describes.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
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
  refuseUpgrade,
} from '../client/exec-stream.ts';
import { SandboxError, type ExecResult } from '../sandbox/driver.ts';
import type { InteractiveExec } from '../sandbox/container/exec.ts';
import { containerLogPath, isLogOpen } from './logs.ts';

const podKind = kindFor('v1', 'Pod')!;
const REVIEW_TTL_MS = 60_000;
const FOLLOW_POLL_MS = 150;

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
}

const EXEC_STREAM_PATH = /^\/exec-stream\/([^/]+)\/([^/]+)\/([^/]+)$/;
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

  const streams = new Set<Duplex>();
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    streams.add(socket);
    socket.on('close', () => streams.delete(socket));
    socket.on('error', () => socket.destroy());
    serveExecStream(req, socket, head).catch((err) => {
      if (!socket.destroyed) refuseUpgrade(socket, 500, internalError((err as Error).message));
    });
  });
  app.addHook('onClose', async () => {
    for (const s of streams) s.destroy();
  });

  async function serveExecStream(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const m = EXEC_STREAM_PATH.exec(url.pathname);
    if (!m || req.method !== 'POST') {
      return refuseUpgrade(socket, 404, statusFailure(404, 'NotFound', `no upgrade at ${url.pathname}`));
    }
    if (req.headers.upgrade?.toLowerCase() !== EXEC_PROTOCOL) {
      return refuseUpgrade(socket, 400, badRequest(`unsupported upgrade; use ${EXEC_PROTOCOL}`));
    }
    if (!(await callerOk(req))) return refuseUpgrade(socket, 401, unauthorized());
    const [namespace, pod, container] = m.slice(1).map(decodeURIComponent);
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
        // Resize frames are accepted but not applied: the terminal's size is set once (see exec.ts).
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
    if (n < 0) {
      return reply
        .code(400)
        .send(badRequest(`previous terminated container "${container}" in pod "${pod}" not found`));
    }
    const path = containerLogPath(where.podDir, container, n);
    if (!existsSync(path)) {
      if (previous)
        return reply
          .code(400)
          .send(badRequest(`previous terminated container "${container}" in pod "${pod}" not found`));
      return reply
        .code(400)
        .send(
          statusFailure(400, 'BadRequest', `container "${container}" in pod "${pod}" is waiting to start`),
        );
    }
    const tail = q.tailLines !== undefined ? Number(q.tailLines) : undefined;
    let start = 0;
    if (tail !== undefined && Number.isInteger(tail) && tail >= 0) start = tailOffset(path, tail);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'transfer-encoding': 'chunked' });
    const follow = q.follow === 'true' && !previous;
    let pos = start;
    let closed = false;
    req.raw.on('close', () => (closed = true));
    const pump = async (): Promise<void> => {
      const size = existsSync(path) ? statSync(path).size : 0;
      if (size < pos) pos = 0; // rotated
      if (size > pos) {
        await new Promise<void>((resolve) => {
          const s = createReadStream(path, { start: pos, end: size - 1 });
          s.on('data', (chunk) => res.write(chunk));
          s.on('end', resolve);
          s.on('error', () => resolve());
        });
        pos = size;
      }
    };
    await pump();
    while (follow && !closed && isLogOpen(path)) {
      await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
      await pump();
    }
    if (follow) await pump();
    res.end();
  });
  return app;
}

/** Byte offset where the last `lines` lines of the file begin. */
function tailOffset(path: string, lines: number): number {
  const buf = readFileSync(path);
  let count = 0;
  let i = buf.length;
  if (i > 0 && buf[i - 1] === 0x0a) i--;
  while (i > 0) {
    if (buf[i - 1] === 0x0a && ++count === lines) return i;
    i--;
  }
  return lines === 0 ? buf.length : 0;
}
