// The pods' streaming subresources. Every one is served by the node agent that runs the pod; the server
// checks the request (who, which pod and container, which protocol), opens an upgraded connection to the
// agent (AgentDialer: the server's client certificate on HTTPS) and translates:
//
//   POST .../pods/{name}/exec ({container?, command}) without Upgrade: non-interactive, JSON answer with
//        exit code, stdout and stderr in base64 (routes/resources.ts calls proxyExec).
//   .../pods/{name}/exec and .../attach with Upgrade — the query carries command (repeated), container,
//        stdin, stdout, stderr, tty:
//          websocket        kubectl ≥ 1.30 (v5.channel.k8s.io; v4 and v1, binary or base64, for others)
//          SPDY/3.1         kubectl's fallback (remotecommand v4 streams)
//          strata-exec.v1   `strata exec -i/-t`: the agent's frames pass through unchanged
//        to the agent's /exec-stream or /attach-stream (strata-exec.v1 frames, src/client/exec-stream.ts).
//   .../pods/{name}/portforward with Upgrade: SPDY inside WebSocket messages (`SPDY/3.1+portforward.k8s.io`,
//        kubectl ≥ 1.31), a SPDY/3.1 upgrade, or the v4 channel protocol over WebSocket (client libraries,
//        ports from the `ports` query); each forwarded connection becomes one upgrade to the agent's
//        /portforward (strata-portforward.v1), which connects to the pod's IP.
//
// Fastify does not see upgrade requests: they arrive on the Node server's 'upgrade' event, so
// attachExecUpgrade authenticates them itself. A refusal is an HTTP error with a Status body — kubectl
// then retries over SPDY, gets the same Status and prints it.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, kindFor, notFound, statusFailure, unauthorized, internalError } from '../api/index.ts';
import { EXEC_PROTOCOL, PORT_FORWARD_UPGRADE } from '../api/exec-frames.ts';
import { ApiError, type ObjectStore } from '../store/objects.ts';
import type { Authenticator } from './auth.ts';
import { authorizeUpgrade } from './authorization.ts';
import { AgentRefusedError, type AgentDialer } from './agent-endpoint.ts';
import { CHANNEL_PROTOCOLS, chooseChannelProtocol } from './streams/channel.ts';
import { chooseContainer, queryBool, requireHost } from './streams/pod-target.ts';
import { PORT_FORWARD_PROTOCOL, servePortForward } from './streams/portforward.ts';
import { PORT_FORWARD_CHANNEL_PROTOCOLS, servePortForwardChannels } from './streams/portforward-channels.ts';
import {
  bridgeChannels,
  bridgeSpdy,
  SPDY_EXEC_PROTOCOLS,
  type StreamOptions,
} from './streams/remotecommand.ts';
import {
  acceptPlainUpgrade,
  acceptSpdyUpgrade,
  acceptWebSocket,
  headerList,
  isSpdyUpgrade,
  isWebSocketUpgrade,
  refuseUpgrade,
  spdyOverSocket,
  spdyOverWebSocket,
  SPDY_TUNNEL_PREFIX,
} from './streams/upgrade.ts';

const STREAM_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/;
const PORT_FORWARD_TUNNEL = SPDY_TUNNEL_PREFIX + PORT_FORWARD_PROTOCOL;

const podKind = kindFor('v1', 'Pod')!;
const nodeKind = kindFor('v1', 'Node')!;

export async function proxyExec(req: FastifyRequest, pod: any, node: any): Promise<unknown> {
  const body = (req.body ?? {}) as { container?: string; command?: unknown };
  const container = chooseContainer(pod, body.container);
  const command = body.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string')) {
    throw new ApiError(badRequest('command: Required value: a non-empty list of strings'));
  }
  requireHost(pod);
  const path = `/exec/${podPath(pod)}/${encodeURIComponent(container)}`;
  let res: IncomingMessage;
  try {
    res = await req.server.agents.request(node, path, {
      method: 'POST',
      headers: { ...forwardedAuth(req.raw), 'content-type': 'application/json' },
      body: JSON.stringify({ command }),
    });
  } catch (err) {
    throw unreachable(pod, err);
  }
  const parts: Buffer[] = [];
  for await (const d of res) parts.push(d as Buffer);
  const code = res.statusCode ?? 500;
  const answer = parseStatus(Buffer.concat(parts).toString('utf8'), code);
  // A 2xx answer that is not JSON comes back from parseStatus as a Failure too.
  if (code >= 400 || answer?.status === 'Failure') throw new ApiError(answer);
  return answer;
}

type Transport = 'websocket' | 'spdy' | 'strata';

interface UpgradeRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  url: URL;
  transport: Transport;
  pod: any;
  node: any;
  agents: AgentDialer;
  /** Sockets to destroy when the server closes. */
  open: Set<Duplex>;
}

/** Serves the streaming subresources on the server's 'upgrade' event (see the top of this file). */
export function attachExecUpgrade(app: FastifyInstance, objects: ObjectStore, auth: Authenticator): void {
  const open = new Set<Duplex>();
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    track(open, socket);
    socket.on('error', () => socket.destroy());
    serveUpgrade(req, socket, head, objects, auth, app.agents, open, app).catch((err) => {
      if (err instanceof ApiError) refuseUpgrade(socket, err.code, err.status);
      else refuseUpgrade(socket, 500, internalError((err as Error).message));
    });
  });
  // forceCloseConnections does not know upgraded sockets, and server.close() waits for them: end running
  // sessions before it (onClose would run after, too late).
  app.addHook('preClose', async () => {
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
  app: FastifyInstance,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://strata');
  const m = STREAM_PATH.exec(url.pathname);
  if (!m) {
    throw new ApiError(
      statusFailure(404, 'NotFound', `no upgrade is served at ${req.method} ${url.pathname}`),
    );
  }
  const transport = transportOf(req);
  if (!transport) {
    throw new ApiError(
      badRequest(
        `unsupported upgrade "${req.headers.upgrade ?? ''}": use websocket or SPDY/3.1 (kubectl), or ${EXEC_PROTOCOL}`,
      ),
    );
  }
  if (transport === 'websocket' && req.method !== 'GET') {
    throw new ApiError(badRequest(`a WebSocket upgrade is a GET request, not ${req.method}`));
  }
  if (transport !== 'websocket' && req.method !== 'GET' && req.method !== 'POST') {
    throw new ApiError(
      statusFailure(405, 'MethodNotAllowed', `${req.method} is not supported on pods/${m[3]}`),
    );
  }
  const who = await auth.authenticateRequest(req);
  if (!who.ok) throw new ApiError(unauthorized(who.message));
  await authorizeUpgrade(app, req, who.user); // a 403 when the user may not create pods/{exec,attach,portforward}
  const [namespace, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
  const pod = await objects.get(podKind, namespace, name);
  if (!pod) throw new ApiError(notFound(podKind, name));
  const node = pod.spec.nodeName ? await objects.get(nodeKind, undefined, pod.spec.nodeName) : undefined;
  const r: UpgradeRequest = { req, socket, head, url, transport, pod, node, agents, open };
  if (m[3] === 'portforward') return servePortForwardUpgrade(r);
  return serveRemoteCommand(r, m[3] as 'exec' | 'attach');
}

function transportOf(req: IncomingMessage): Transport | undefined {
  if (isWebSocketUpgrade(req)) return 'websocket';
  if (isSpdyUpgrade(req)) return 'spdy';
  if (req.headers.upgrade?.toLowerCase() === EXEC_PROTOCOL) return 'strata';
  return undefined;
}

/** exec and attach: check everything, start the command on the agent, then take the client's upgrade. */
async function serveRemoteCommand(r: UpgradeRequest, kind: 'exec' | 'attach'): Promise<void> {
  const q = r.url.searchParams;
  const container = chooseContainer(r.pod, q.get('container'));
  const command = q.getAll('command');
  if (kind === 'exec' && command.length === 0) {
    throw new ApiError(badRequest('you must specify at least one command for the container'));
  }
  // `strata exec` streams stdout and stderr always; kubectl says which streams it wants.
  const o: StreamOptions =
    r.transport === 'strata'
      ? { stdin: queryBool(q, 'stdin'), stdout: true, stderr: true, tty: queryBool(q, 'tty') }
      : {
          stdin: queryBool(q, 'stdin'),
          stdout: queryBool(q, 'stdout'),
          stderr: queryBool(q, 'stderr'),
          tty: queryBool(q, 'tty'),
        };
  if (!o.stdin && !o.stdout && !o.stderr) {
    throw new ApiError(badRequest('you must specify at least 1 of stdin, stdout, stderr'));
  }
  // A terminal merges stderr into stdout (the kubelet ignores stderr with tty).
  if (o.tty) o.stderr = false;
  requireHost(r.pod);

  // The client's protocol is settled before anything runs in the container.
  let wsProtocol: ReturnType<typeof chooseChannelProtocol>;
  if (r.transport === 'websocket') {
    const offered = headerList(r.req, 'sec-websocket-protocol');
    wsProtocol = chooseChannelProtocol(offered);
    if (!wsProtocol) throw new ApiError(unsupportedProtocols(offered, CHANNEL_PROTOCOLS));
  }
  let spdyProtocol: string | undefined;
  if (r.transport === 'spdy') {
    const offered = headerList(r.req, 'x-stream-protocol-version');
    spdyProtocol = SPDY_EXEC_PROTOCOLS.find((p) => offered.includes(p));
    if (!spdyProtocol) throw new ApiError(unsupportedProtocols(offered, SPDY_EXEC_PROTOCOLS));
  }

  const params = new URLSearchParams();
  for (const c of command) params.append('command', c);
  for (const k of ['stdin', 'stdout', 'stderr', 'tty'] as const) params.set(k, String(o[k]));
  for (const k of ['cols', 'rows']) {
    const v = q.get(k);
    if (v !== null) params.set(k, v);
  }
  const where = kind === 'exec' ? 'exec-stream' : 'attach-stream';
  const agentPath = `/${where}/${podPath(r.pod)}/${encodeURIComponent(container)}`;
  const openAgent = (size?: { cols: number; rows: number }) => {
    const p = new URLSearchParams(params);
    if (size) {
      p.set('cols', String(size.cols));
      p.set('rows', String(size.rows));
    }
    return openAgentUpgrade(r, `${agentPath}?${p}`, EXEC_PROTOCOL).then((agent) => {
      track(r.open, agent.socket);
      return agent;
    });
  };

  // A kubectl terminal session starts the command once kubectl sent its terminal's size (right after
  // the upgrade), so the command's terminal has that size from its first moment; agent refusals then
  // come as a Status on the error channel. Everything else starts the command first, so that a refusal
  // is an HTTP error (which kubectl's SPDY retry reproduces and prints).
  const deferred = kind === 'exec' && o.tty && r.transport !== 'strata';
  const opened = deferred ? undefined : await openAgent();
  if (opened && r.socket.destroyed) {
    opened.socket.destroy();
    return;
  }
  const connect = (size?: { cols: number; rows: number }) =>
    opened
      ? Promise.resolve(opened)
      : openAgent(size).catch((err) => {
          throw new Error(err instanceof ApiError ? err.status.message : (err as Error).message);
        });

  if (r.transport === 'strata') {
    const agent = opened!;
    r.socket.on('close', () => agent.socket.destroy());
    agent.socket.on('close', () => r.socket.end());
    agent.socket.on('error', () => agent.socket.destroy());
    acceptPlainUpgrade(r.socket, EXEC_PROTOCOL);
    if (agent.head.length) r.socket.write(agent.head);
    if (r.head.length) agent.socket.write(r.head);
    agent.socket.pipe(r.socket);
    r.socket.pipe(agent.socket);
    return;
  }
  const session = { ...o, command, waitForSize: deferred };
  if (r.transport === 'websocket') {
    let ws;
    try {
      ws = await acceptWebSocket(r.req, r.socket, r.head, wsProtocol!);
    } catch {
      opened?.socket.destroy();
      return;
    }
    bridgeChannels(ws, connect, { ...session, protocol: wsProtocol! });
    return;
  }
  acceptSpdyUpgrade(r.socket, spdyProtocol!);
  bridgeSpdy(spdyOverSocket(r.socket, r.head), connect, session);
}

/** port-forward: a SPDY session with the client; each forwarded connection dials the pod through the agent. */
async function servePortForwardUpgrade(r: UpgradeRequest): Promise<void> {
  if (r.transport === 'strata') {
    throw new ApiError(badRequest(`port-forward is served over WebSocket or SPDY/3.1, not ${EXEC_PROTOCOL}`));
  }
  const ports: number[] = [];
  for (const p of r.url.searchParams.getAll('ports').flatMap((v) => v.split(','))) {
    const n = Number(p.trim());
    if (!/^\d+$/.test(p.trim()) || n < 1 || n > 65535) {
      throw new ApiError(
        badRequest(`ports: Invalid value: "${p}": must be a port number between 1 and 65535`),
      );
    }
    ports.push(n);
  }
  requireHost(r.pod);
  if (!r.agents.target(r.node)) throw unreachable(r.pod, new Error('the node advertises no agent endpoint'));
  const pod = `${r.pod.metadata.name}_${r.pod.metadata.namespace}, uid ${r.pod.metadata.uid}`;
  const dial = async (port: number): Promise<Duplex> => {
    try {
      const { socket, head } = await openAgentUpgrade(
        r,
        `/portforward/${podPath(r.pod)}?port=${port}`,
        PORT_FORWARD_UPGRADE,
      );
      track(r.open, socket);
      if (head.length) socket.unshift(head);
      return socket;
    } catch (err) {
      // What the agent said (nothing listens, no pod IP) is the message kubectl shows.
      throw new Error(err instanceof ApiError ? err.status.message : (err as Error).message);
    }
  };
  if (r.transport === 'websocket') {
    const offered = headerList(r.req, 'sec-websocket-protocol');
    if (offered.includes(PORT_FORWARD_TUNNEL)) {
      const ws = await acceptWebSocket(r.req, r.socket, r.head, PORT_FORWARD_TUNNEL);
      servePortForward(spdyOverWebSocket(ws), { pod, dial });
      return;
    }
    // The older channel form (client libraries): one data/error channel pair per port in the query.
    const protocol = offered.length ? PORT_FORWARD_CHANNEL_PROTOCOLS.find((p) => offered.includes(p)) : '';
    if (protocol === undefined) {
      throw new ApiError(
        unsupportedProtocols(offered, [PORT_FORWARD_TUNNEL, ...PORT_FORWARD_CHANNEL_PROTOCOLS]),
      );
    }
    if (ports.length === 0) throw new ApiError(badRequest('query parameter "ports" is required'));
    const ws = await acceptWebSocket(r.req, r.socket, r.head, protocol);
    servePortForwardChannels(ws, { protocol, ports, dial, pod });
    return;
  }
  const offered = headerList(r.req, 'x-stream-protocol-version');
  // No version at all is an old client; httpstream's handshake lets it through.
  if (offered.length && !offered.includes(PORT_FORWARD_PROTOCOL)) {
    throw new ApiError(unsupportedProtocols(offered, [PORT_FORWARD_PROTOCOL]));
  }
  acceptSpdyUpgrade(r.socket, offered.length ? PORT_FORWARD_PROTOCOL : '');
  servePortForward(spdyOverSocket(r.socket, r.head), { pod, dial });
}

/** Opens an upgrade to the pod's agent; its refusal (a Status) becomes ours. */
async function openAgentUpgrade(
  r: UpgradeRequest,
  path: string,
  protocol: string,
): Promise<{ socket: Duplex; head: Buffer }> {
  try {
    const { socket, head } = await r.agents.upgrade(
      r.node,
      path,
      { upgrade: protocol, ...forwardedAuth(r.req) },
      'POST',
    );
    return { socket, head };
  } catch (err) {
    if (err instanceof AgentRefusedError) throw new ApiError(parseStatus(err.body, err.statusCode));
    throw unreachable(r.pod, err);
  }
}

/**
 * The caller's bearer token goes along: agents of plain-HTTP development clusters check it with a
 * TokenReview (on HTTPS the server's client certificate is what the agent trusts).
 */
function forwardedAuth(req: IncomingMessage): Record<string, string> {
  return req.headers.authorization ? { authorization: req.headers.authorization } : {};
}

function podPath(pod: any): string {
  return `${encodeURIComponent(pod.metadata.namespace)}/${encodeURIComponent(pod.metadata.name)}`;
}

function track(open: Set<Duplex>, s: Duplex): void {
  open.add(s);
  s.once('close', () => open.delete(s));
}

function unreachable(pod: any, err: unknown): ApiError {
  return new ApiError(
    statusFailure(
      503,
      'ServiceUnavailable',
      `cannot reach the agent of node ${pod.spec.nodeName}: ${(err as Error).message}`,
    ),
  );
}

/** The agent's answer as a Status (it sends one), or one made from its text. */
function parseStatus(body: string, code: number): any {
  try {
    const s = JSON.parse(body);
    if (code >= 400 && (typeof s !== 'object' || s === null || typeof s.message !== 'string'))
      throw new Error();
    if (code >= 400 && typeof s.code !== 'number') s.code = code;
    return s;
  } catch {
    return statusFailure(code >= 400 ? code : 502, 'InternalError', body || `the agent answered ${code}`);
  }
}

/** httpstream/wsstream's refusal when no offered protocol is served. */
function unsupportedProtocols(offered: string[], supported: readonly string[]): any {
  return badRequest(
    `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${supported.join(' ')}]`,
  );
}
