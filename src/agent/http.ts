// The agent's own HTTP endpoint (the kubelet's port): container logs, streamed to the API server's log
// proxy. Callers must present a bearer token the control plane accepts (checked with a TokenReview,
// cached briefly), so the endpoint is no weaker than the API itself.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { notFound, statusFailure, unauthorized, badRequest, kindFor } from '../api/index.ts';
import type { Client } from '../client/client.ts';
import { SandboxError, type ExecResult } from '../sandbox/driver.ts';
import { containerLogPath, isLogOpen } from './logs.ts';

const podKind = kindFor('v1', 'Pod')!;
const REVIEW_TTL_MS = 60_000;
const FOLLOW_POLL_MS = 150;

export interface AgentHttpOptions {
  client: Client;
  /** Finds the pod directory and current restart count of a pod's container, if this node runs it. */
  locate: (
    namespace: string,
    name: string,
    container: string,
  ) => { podDir: string; restartCount: number } | undefined;
  /** Runs a command in a pod's running container. */
  exec: (namespace: string, name: string, container: string, cmd: string[]) => Promise<ExecResult>;
}

export function buildAgentHttp(opts: AgentHttpOptions): FastifyInstance {
  const app = Fastify({ logger: false, requestTimeout: 0, forceCloseConnections: true });
  const reviewed = new Map<string, { ok: boolean; at: number }>();

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

  app.post('/exec/:namespace/:pod/:container', async (req, reply) => {
    if (!(await tokenOk(req.headers.authorization))) return reply.code(401).send(unauthorized());
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
      const reason = err instanceof SandboxError ? err.reason : 'InternalError';
      const code =
        reason === 'NotFound' ? 404 : reason === 'NotRunning' || reason === 'NotSupported' ? 400 : 500;
      return reply
        .code(code)
        .send(statusFailure(code, reason === 'NotFound' ? 'NotFound' : 'BadRequest', (err as Error).message));
    }
  });

  app.get('/containerLogs/:namespace/:pod/:container', async (req, reply) => {
    if (!(await tokenOk(req.headers.authorization))) return reply.code(401).send(unauthorized());
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
