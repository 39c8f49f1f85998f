// `POST .../pods/{name}/exec` ({ container?, command: [...] }): runs a command in a running container
// through the node agent (non-interactive: the answer carries exit code, stdout and stderr, base64).
//
// Interactive exec (`strata exec -i/-t`) is the same path with `Connection: Upgrade`, `Upgrade:
// strata-exec.v1` and the parameters in the query (container, command (repeated), stdin, tty, cols, rows).
// Fastify does not see upgrade requests: they arrive on the Node server's 'upgrade' event, so
// attachExecUpgrade authenticates them itself, opens an upgraded connection to the node agent's
// /exec-stream with the caller's token, answers 101 and then copies bytes both ways (the frames of
// src/client/exec-stream.ts pass through unchanged).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, kindFor, notFound, statusFailure, unauthorized, internalError } from '../api/index.ts';
import {
  acceptUpgrade,
  EXEC_PROTOCOL,
  openUpgrade,
  refuseUpgrade,
  UpgradeRefusedError,
} from '../client/exec-stream.ts';
import { ApiError, type ObjectStore } from '../store/objects.ts';
import type { Authenticator } from './auth.ts';
import type { AgentDialer } from './agent-endpoint.ts';

const EXEC_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/;

export async function proxyExec(req: FastifyRequest, pod: any, node: any): Promise<unknown> {
  const body = (req.body ?? {}) as { container?: string; command?: unknown };
  const { container } = execTarget(req.server.agents, pod, node, body.container, body.command);
  const path = `/exec/${encodeURIComponent(pod.metadata.namespace)}/${encodeURIComponent(pod.metadata.name)}/${encodeURIComponent(container)}`;
  let res: IncomingMessage;
  try {
    res = await req.server.agents.request(node, path, {
      method: 'POST',
      headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' },
      body: JSON.stringify({ command: body.command }),
    });
  } catch (err) {
    throw new ApiError(
      statusFailure(
        503,
        'ServiceUnavailable',
        `cannot reach the agent of node ${pod.spec.nodeName}: ${(err as Error).message}`,
      ),
    );
  }
  const parts: Buffer[] = [];
  for await (const d of res) parts.push(d as Buffer);
  let answer: any;
  try {
    answer = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    answer = undefined;
  }
  const code = res.statusCode ?? 500;
  if (code >= 400)
    throw new ApiError(answer ?? statusFailure(code, 'InternalError', `agent answered ${code}`));
  return answer;
}

/** Checks container and command, and finds the agent of the pod's node. */
function execTarget(
  agents: AgentDialer,
  pod: any,
  node: any,
  wanted: string | undefined,
  command: unknown,
): { base: string; tls: object; container: string } {
  const containers: string[] = pod.spec.containers.map((c: any) => c.name);
  const container = wanted ?? (containers.length === 1 ? containers[0] : undefined);
  if (!container || !containers.includes(container)) {
    throw new ApiError(
      badRequest(`container: choose one of [${containers.join(' ')}] for pod ${pod.metadata.name}`),
    );
  }
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string')) {
    throw new ApiError(badRequest('command: Required value: a non-empty list of strings'));
  }
  const target = agents.target(node);
  if (!pod.spec.nodeName || !target) {
    throw new ApiError(badRequest(`pod ${pod.metadata.name} is not running on a node`));
  }
  return { base: target.base, tls: target.tls, container };
}

/** Serves interactive exec on the server's 'upgrade' event (see the top of this file). */
export function attachExecUpgrade(app: FastifyInstance, objects: ObjectStore, auth: Authenticator): void {
  const open = new Set<Duplex>();
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
    serveUpgrade(req, socket, head, objects, auth, app.agents, open).catch((err) => {
      if (err instanceof ApiError) refuseUpgrade(socket, err.code, err.status);
      else refuseUpgrade(socket, 500, internalError((err as Error).message));
    });
  });
  // forceCloseConnections does not know upgraded sockets: end running sessions on shutdown.
  app.addHook('onClose', async () => {
    for (const s of open) s.destroy();
  });
}

async function serveUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  objects: ObjectStore,
  auth: Authenticator,
  agents: AgentDialer,
  open: Set<Duplex>,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://strata');
  const m = EXEC_PATH.exec(url.pathname);
  if (!m || req.method !== 'POST') {
    throw new ApiError(
      statusFailure(404, 'NotFound', `no upgrade is served at ${req.method} ${url.pathname}`),
    );
  }
  if (req.headers.upgrade?.toLowerCase() !== EXEC_PROTOCOL) {
    throw new ApiError(badRequest(`unsupported upgrade ${req.headers.upgrade}; use ${EXEC_PROTOCOL}`));
  }
  const who = auth.authenticateRequest(req);
  if (!who.ok) throw new ApiError(unauthorized(who.message));
  const podKind = kindFor('v1', 'Pod')!;
  const [namespace, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
  const pod = await objects.get(podKind, namespace, name);
  if (!pod) throw new ApiError(notFound(podKind, name));
  const node = pod.spec.nodeName
    ? await objects.get(kindFor('v1', 'Node')!, undefined, pod.spec.nodeName)
    : undefined;
  const q = url.searchParams;
  const { base, tls, container } = execTarget(
    agents,
    pod,
    node,
    q.get('container') ?? undefined,
    q.getAll('command'),
  );
  const params = new URLSearchParams();
  for (const c of q.getAll('command')) params.append('command', c);
  for (const k of ['stdin', 'tty', 'cols', 'rows']) {
    const v = q.get(k);
    if (v !== null) params.set(k, v);
  }
  const target = new URL(
    `${base}/exec-stream/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}?${params}`,
  );
  let upstream: { socket: Duplex; head: Buffer };
  try {
    upstream = await openUpgrade(target, { authorization: req.headers.authorization ?? '' }, 'POST', tls);
  } catch (err) {
    if (err instanceof UpgradeRefusedError) {
      let status: any;
      try {
        status = JSON.parse(err.body);
      } catch {
        status = statusFailure(err.statusCode, 'InternalError', err.message);
      }
      throw new ApiError(status);
    }
    throw new ApiError(
      statusFailure(
        503,
        'ServiceUnavailable',
        `cannot reach the agent of node ${pod.spec.nodeName}: ${(err as Error).message}`,
      ),
    );
  }
  const agent = upstream.socket;
  if (socket.destroyed) {
    agent.destroy();
    return;
  }
  open.add(agent);
  agent.on('close', () => {
    open.delete(agent);
    socket.end();
  });
  agent.on('error', () => agent.destroy());
  socket.on('close', () => agent.destroy());
  acceptUpgrade(socket);
  if (upstream.head.length) socket.write(upstream.head);
  if (head.length) agent.write(head);
  agent.pipe(socket);
  socket.pipe(agent);
}
