// The streaming subresources through the real API server and a real agent endpoint, with real clients:
// `ws` for exec/attach over the channel protocols, a SPDY client for kubectl's fallback, raw sockets for
// port-forward, fetch for pods/log. The "containers" are host processes: the agent's execStream runs
// commands with execInteractive (a shell under `script` for a terminal), and the pod's port is a local
// TCP listener. What runs in a real container is covered by test/e2e/kubectl-streams.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { kindFor } from '../api/index.ts';
import { buildAgentHttp } from '../agent/http.ts';
import { containerLogPath, RotatingLog } from '../agent/logs.ts';
import { Client } from '../client/client.ts';
import { ensureDefaultNamespaces } from '../controllers/manager.ts';
import { which } from '../lib/command.ts';
import { execInteractive } from '../sandbox/container/exec.ts';
import { SandboxError } from '../sandbox/driver.ts';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { buildServer } from './app.ts';
import { Authenticator } from './auth.ts';
import { FLAG_FIN } from './streams/spdy.ts';
import { SpdyTestClient } from './streams/testing/spdy-client.ts';

const pods = kindFor('v1', 'Pod')!;
const nodes = kindFor('v1', 'Node')!;
const TOKEN = 'exec-proxy-test-token-0123456789';
const canRun = !!which('script') && !!which('stty');

let dir: string;
let store: Store;
let server: FastifyInstance;
let agent: FastifyInstance;
let base = '';
let echo: ReturnType<typeof createTcpServer>;
let log: RotatingLog;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-exec-proxy-'));
  store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await ensureDefaultNamespaces(objects);
  const auth = new Authenticator();
  auth.add(TOKEN, 'admin');
  server = buildServer({ objects, auth });
  await server.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;

  echo = createTcpServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(`echo:${d}`));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));

  log = new RotatingLog(containerLogPath(dir, 'main', 0));
  log.write('stdout', Buffer.from('line 1\nline 2\n'));
  agent = buildAgentHttp({
    client: new Client({ server: base, token: TOKEN }),
    locate: (_ns, name, c) =>
      c === 'main' && name !== 'ghost' ? { podDir: dir, restartCount: 0 } : undefined,
    exec: () => Promise.reject(new Error('not used')),
    execStream: async (_ns, name, _c, cmd, o) => {
      if (name === 'wasm') {
        throw new SandboxError('NotSupported', 'interactive exec (-i/-t) is not supported by the wasm tier');
      }
      return execInteractive(cmd, { ...o, stdio: 'pipe' });
    },
  });
  await agent.listen({ host: '127.0.0.1', port: 0 });

  await objects.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
  await objects.updateStatus(nodes, undefined, 'n1', {
    status: {
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      daemonEndpoints: { kubeletEndpoint: { Port: (agent.server.address() as AddressInfo).port } },
    },
  });
  const running = (podIP?: string) => ({
    status: {
      phase: 'Running',
      ...(podIP ? { podIP } : {}),
      containerStatuses: [
        { name: 'main', image: 'x', ready: true, restartCount: 0, state: { running: {} }, lastState: {} },
      ],
    },
  });
  for (const [name, extra] of [
    ['web', {}],
    ['wasm', { runtimeClassName: 'wasm' }],
    [
      'two',
      {
        containers: [
          { name: 'main', image: 'x' },
          { name: 'side', image: 'x' },
        ],
      },
    ],
  ] as const) {
    await objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'default',
        ...(name === 'two' ? { annotations: { 'kubectl.kubernetes.io/default-container': 'main' } } : {}),
      },
      spec: { nodeName: 'n1', containers: [{ name: 'main', image: 'x' }], ...extra },
    });
    await objects.updateStatus(pods, 'default', name, running(name === 'web' ? '127.0.0.1' : undefined));
  }
  await objects.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'pending', namespace: 'default' },
    spec: { containers: [{ name: 'main', image: 'x' }] },
  });
});

afterAll(async () => {
  log?.close();
  await server?.close();
  await agent?.close();
  echo?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const wsBase = (): string => base.replace('http:', 'ws:');

interface Session {
  protocol: string;
  /** Data per channel, in arrival order. */
  channels: Map<number, Buffer[]>;
  closeCode: number;
  ws: WebSocket;
  closed: Promise<void>;
}

function text(s: Session, channel: number): string {
  return Buffer.concat(s.channels.get(channel) ?? []).toString();
}

async function openWs(path: string, protocols: string[] = ['v5.channel.k8s.io']): Promise<Session> {
  const ws = new WebSocket(`${wsBase()}${path}`, protocols, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const s: Session = { protocol: '', channels: new Map(), closeCode: 0, ws, closed: Promise.resolve() };
  s.closed = new Promise((resolve) =>
    ws.on('close', (code) => {
      s.closeCode = code;
      resolve();
    }),
  );
  ws.on('message', (data: Buffer, isBinary) => {
    const [ch, payload] = isBinary
      ? [data[0], data.subarray(1)]
      : [data[0] - 0x30, Buffer.from(data.subarray(1).toString(), 'base64')];
    s.channels.set(ch, [...(s.channels.get(ch) ?? []), payload]);
  });
  await new Promise<void>((resolve, reject) => {
    ws.on('open', () => resolve());
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => reject(Object.assign(new Error(body), { statusCode: res.statusCode, body })));
    });
    ws.on('error', reject);
  });
  s.protocol = ws.protocol;
  return s;
}

async function refusal(path: string, protocols?: string[]): Promise<{ statusCode: number; status: any }> {
  try {
    const s = await openWs(path, protocols);
    s.ws.close();
  } catch (err: any) {
    return { statusCode: err.statusCode, status: JSON.parse(err.body) };
  }
  throw new Error('the upgrade was accepted');
}

const execPath = (pod: string, cmd: string[], q: string) =>
  `/api/v1/namespaces/default/pods/${pod}/exec?${cmd.map((c) => `command=${encodeURIComponent(c)}`).join('&')}&${q}`;

describe.skipIf(!canRun)('exec over WebSocket', () => {
  it('v5: stdin to the command, stdout and stderr apart, stdin EOF by close signal, exit code as a Status', async () => {
    const s = await openWs(
      execPath(
        'web',
        ['sh', '-c', 'read x; echo "got $x"; echo oops >&2; cat; exit 3'],
        'stdin=true&stdout=true&stderr=true',
      ),
    );
    expect(s.protocol).toBe('v5.channel.k8s.io');
    s.ws.send(Buffer.from([0, ...Buffer.from('hello\nrest\n')]));
    s.ws.send(Buffer.from([255, 0]));
    await s.closed;
    expect(s.closeCode).toBe(1000);
    // The "connection established" empty message comes first on stdout.
    expect(s.channels.get(1)![0].length).toBe(0);
    expect(text(s, 1)).toBe('got hello\nrest\n');
    expect(text(s, 2)).toBe('oops\n');
    const status = JSON.parse(text(s, 3));
    expect(status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode' });
    expect(status.details.causes).toEqual([{ reason: 'ExitCode', message: '3' }]);
  });

  it('exit 0 is Success; no stdin means the command reads EOF', async () => {
    const s = await openWs(execPath('web', ['sh', '-c', 'cat; echo done'], 'stdout=true&stderr=true'));
    await s.closed;
    expect(text(s, 1)).toBe('done\n');
    expect(JSON.parse(text(s, 3)).status).toBe('Success');
  });

  it('tty: the command starts in a terminal of the size kubectl sent first, later sizes resize it', async () => {
    const s = await openWs(
      execPath('web', ['sh', '-c', 'stty size; read x; stty size'], 'stdin=true&stdout=true&tty=true'),
    );
    s.ws.send(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":100,"Height":40}\n')]));
    const deadline = Date.now() + 5000;
    while (!/\d+ \d+/.test(text(s, 1)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    s.ws.send(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":120,"Height":50}\n')]));
    await new Promise((r) => setTimeout(r, 200));
    s.ws.send(Buffer.from([0, ...Buffer.from('go\r')]));
    await s.closed;
    expect(text(s, 1)).toMatch(/^40 100\r?\n[\s\S]*50 120/);
  });

  it('tty without a size from the client starts at 80x24 after a moment', async () => {
    const s = await openWs(execPath('web', ['stty', 'size'], 'stdout=true&tty=true'));
    await s.closed;
    expect(text(s, 1).trim()).toBe('24 80');
  });

  it('tty: a tier without exec is named on the error channel', async () => {
    const s = await openWs(execPath('wasm', ['sh'], 'stdin=true&stdout=true&tty=true'));
    s.ws.send(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":100,"Height":40}\n')]));
    await s.closed;
    expect(s.closeCode).toBe(1000);
    expect(JSON.parse(text(s, 3))).toMatchObject({
      status: 'Failure',
      message: 'interactive exec (-i/-t) is not supported by the wasm tier',
    });
  });

  it('v4 binary and base64 framings work too', async () => {
    const v4 = await openWs(execPath('web', ['sh', '-c', 'echo four; exit 2'], 'stdout=true'), [
      'v4.channel.k8s.io',
    ]);
    await v4.closed;
    expect(text(v4, 1)).toBe('four\n');
    expect(JSON.parse(text(v4, 3)).details.causes[0].message).toBe('2');
    const b64 = await openWs(execPath('web', ['echo', 'sixty-four'], 'stdout=true'), [
      'base64.channel.k8s.io',
    ]);
    await b64.closed;
    expect(text(b64, 1)).toBe('sixty-four\n');
  });

  it('the default-container annotation picks the container of a pod with several', async () => {
    const s = await openWs(execPath('two', ['echo', 'hi'], 'stdout=true'));
    await s.closed;
    expect(text(s, 1)).toBe('hi\n');
  });
});

describe('exec refusals are HTTP errors with a Status (kubectl retries over SPDY and prints it)', () => {
  it('names what is wrong', async () => {
    expect(await refusal(execPath('web', ['true'], 'stdout=true&container=nope'))).toMatchObject({
      statusCode: 400,
      status: { message: 'container nope is not valid for pod web' },
    });
    expect(await refusal('/api/v1/namespaces/default/pods/web/exec?stdout=true')).toMatchObject({
      statusCode: 400,
      status: { message: 'you must specify at least one command for the container' },
    });
    expect(await refusal(execPath('web', ['true'], 'tty=false'))).toMatchObject({
      status: { message: 'you must specify at least 1 of stdin, stdout, stderr' },
    });
    expect(await refusal(execPath('pending', ['true'], 'stdout=true'))).toMatchObject({
      status: { message: 'pod pending does not have a host assigned' },
    });
    expect(await refusal(execPath('gone', ['true'], 'stdout=true'))).toMatchObject({ statusCode: 404 });
    expect(await refusal(execPath('web', ['true'], 'stdout=true'), ['v9.channel.k8s.io'])).toMatchObject({
      statusCode: 400,
      status: { message: expect.stringContaining('requested protocol(s) are not supported') },
    });
  });

  it('a tier without exec is named', async () => {
    expect(await refusal(execPath('wasm', ['sh'], 'stdout=true'))).toMatchObject({
      statusCode: 400,
      status: { message: 'interactive exec (-i/-t) is not supported by the wasm tier' },
    });
  });

  it('needs credentials', async () => {
    const ws = new WebSocket(`${wsBase()}${execPath('web', ['true'], 'stdout=true')}`, ['v5.channel.k8s.io']);
    const code = await new Promise((resolve) =>
      ws.on('unexpected-response', (_q, res) => resolve(res.statusCode)),
    );
    expect(code).toBe(401);
  });
});

function spdyUpgrade(
  path: string,
  protocol: string,
): Promise<{ socket: Socket; client: SpdyTestClient; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, {
      method: 'POST',
      headers: {
        connection: 'Upgrade',
        upgrade: 'SPDY/3.1',
        'x-stream-protocol-version': protocol,
        authorization: `Bearer ${TOKEN}`,
      },
    });
    req.on('upgrade', (res, socket: Socket, head) => {
      const client = new SpdyTestClient((b) => socket.write(b));
      if (head.length) client.receive(head);
      socket.on('data', (d) => client.receive(d));
      resolve({ socket, client, res });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => reject(new Error(`${res.statusCode} ${body}`)));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!canRun)('exec over SPDY (kubectl fallback)', () => {
  it('streams per streamtype, the exit code on the error stream, FIN on every stream', async () => {
    const { socket, client, res } = await spdyUpgrade(
      execPath(
        'web',
        ['sh', '-c', 'read x; echo "out $x"; echo err >&2; exit 7'],
        'stdin=true&stdout=true&stderr=true',
      ),
      'v4.channel.k8s.io,v3.channel.k8s.io',
    );
    expect(res.headers['x-stream-protocol-version']).toBe('v4.channel.k8s.io');
    const error = await client.open({ streamtype: 'error' });
    const stdin = await client.open({ streamtype: 'stdin' });
    const stdout = await client.open({ streamtype: 'stdout' });
    const stderr = await client.open({ streamtype: 'stderr' });
    client.send(stdin, 'spdy\n', true);
    await client.until('error stream finished', () => client.stream(error).fin);
    expect(client.stream(stdout)).toMatchObject({ data: 'out spdy\n', fin: true });
    expect(client.stream(stderr)).toMatchObject({ data: 'err\n', fin: true });
    expect(JSON.parse(client.stream(error).data).details.causes).toEqual([
      { reason: 'ExitCode', message: '7' },
    ]);
    await client.until('GOAWAY', () => client.frames.some((f) => f.type === 'goAway'));
    expect(client.frames.some((f) => f.type === 'data' && f.streamId === stdout && f.flags & FLAG_FIN)).toBe(
      true,
    );
    client.close();
    socket.destroy();
  });
});

describe('attach', () => {
  it('follows the container output; stdin is refused with the reason', async () => {
    const path = '/api/v1/namespaces/default/pods/web/attach?stdout=true&stderr=true';
    const s = await openWs(path);
    await new Promise((r) => setTimeout(r, 300));
    log.write('stdout', Buffer.from('attached line\n'));
    log.write('stderr', Buffer.from('attached error\n'));
    const deadline = Date.now() + 5000;
    while (!text(s, 2).includes('attached error') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(text(s, 1)).toBe('attached line\n');
    expect(text(s, 2)).toBe('attached error\n');
    s.ws.close();
    const stdin = await refusal('/api/v1/namespaces/default/pods/web/attach?stdin=true&stdout=true');
    expect(stdin.status.message).toContain('without an open stdin');
  });
});

describe('port-forward', () => {
  it('SPDY inside a WebSocket through the agent to the pod IP', async () => {
    const port = (echo.address() as AddressInfo).port;
    // `ws` refuses to offer this protocol name (not an RFC token), so the handshake is made by hand.
    const { socket, res } = await new Promise<{ socket: Socket; res: IncomingMessage }>((resolve, reject) => {
      const req = request(`${base}/api/v1/namespaces/default/pods/web/portforward?ports=${port}`, {
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': Buffer.alloc(16, 1).toString('base64'),
          'sec-websocket-protocol': 'SPDY/3.1+portforward.k8s.io',
          authorization: `Bearer ${TOKEN}`,
        },
      });
      req.on('upgrade', (r, s: Socket) => resolve({ socket: s, res: r }));
      req.on('response', (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
      req.end();
    });
    expect(res.headers['sec-websocket-protocol']).toBe('SPDY/3.1+portforward.k8s.io');
    socket.destroy();
  });

  it('v4 channel protocol (client libraries): port prefixes, then bytes on the data channel', async () => {
    const port = (echo.address() as AddressInfo).port;
    const s = await openWs(`/api/v1/namespaces/default/pods/web/portforward?ports=${port}`, [
      'v4.channel.k8s.io',
    ]);
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    const deadline = Date.now() + 5000;
    while ((s.channels.get(1)?.length ?? 0) < 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(s.channels.get(0)![0]).toEqual(prefix);
    expect(s.channels.get(1)![0]).toEqual(prefix);
    s.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('over channels')]));
    while (!text(s, 0).includes('echo:over channels') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // The 2-byte port prefix is binary: cut it off as bytes (as text, a port whose bytes form one UTF-8
    // character would take one character, not two).
    expect(Buffer.concat(s.channels.get(0)!).subarray(2).toString()).toBe('echo:over channels');
    s.ws.close();
    await s.closed;
    expect(
      await refusal('/api/v1/namespaces/default/pods/web/portforward', ['v4.channel.k8s.io']),
    ).toMatchObject({ statusCode: 400, status: { message: 'query parameter "ports" is required' } });
  });

  it('@kubernetes/client-node’s PortForward (the channel form) reaches the pod', async () => {
    const port = (echo.address() as AddressInfo).port;
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: base, skipTLSVerify: true }],
      users: [{ name: 'u', token: TOKEN }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const input = new PassThrough();
    const output = new PassThrough();
    let got = '';
    output.on('data', (d) => (got += d));
    const ws: any = await new k8s.PortForward(kc).portForward('default', 'web', [port], output, null, input);
    input.write('from client-node');
    const deadline = Date.now() + 5000;
    while (!got.includes('echo:from client-node') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(got).toBe('echo:from client-node');
    ws.close();
  });

  it('SPDY upgrade: bytes to the pod and back; a refused port is reported on the error stream', async () => {
    const port = (echo.address() as AddressInfo).port;
    const { socket, client } = await spdyUpgrade(
      `/api/v1/namespaces/default/pods/web/portforward?ports=${port}`,
      'portforward.k8s.io',
    );
    const ok = await client.pair(port);
    client.send(ok.data, 'ping', true);
    await client.until('data finished', () => client.stream(ok.data).fin && client.stream(ok.error).fin);
    expect(client.stream(ok.data).data).toBe('echo:ping');
    expect(client.stream(ok.error).data).toBe('');

    const closed = createTcpServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const bad = await client.pair(dead);
    await client.until('error reported', () => client.stream(bad.error).fin);
    expect(client.stream(bad.error).data).toMatch(
      new RegExp(
        `^error forwarding port ${dead} to pod web_default, uid [0-9a-f-]+: dial tcp 127\\.0\\.0\\.1:${dead}: connect: connection refused$`,
      ),
    );
    client.close();
    socket.destroy();
  });
});

describe('pods/log', () => {
  const get = async (q: string) => {
    const res = await fetch(`${base}/api/v1/namespaces/default/pods/${q}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return { code: res.status, body: await res.text() };
  };

  it('passes tailLines, timestamps and limitBytes to the agent', async () => {
    expect((await get('web/log?tailLines=1')).body).toMatch(/^line 2\n|attached/);
    expect((await get('web/log?limitBytes=4')).body).toBe('line');
    expect((await get('web/log?timestamps=true&limitBytes=40')).body).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z line 1\n/,
    );
  });

  it('refuses bad options and containers with kube-apiserver’s words', async () => {
    const invalid = await get('web/log?tailLines=-1');
    expect(invalid.code).toBe(422);
    expect(JSON.parse(invalid.body).message).toBe(
      'PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0',
    );
    expect(
      JSON.parse((await get('web/log?sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z')).body).message,
    ).toContain('at most one of `sinceTime` or `sinceSeconds` may be specified');
    expect(JSON.parse((await get('web/log?container=nope')).body).message).toBe(
      'container nope is not valid for pod web',
    );
    expect(JSON.parse((await get('web/log?previous=true')).body).message).toBe(
      'previous terminated container "main" in pod "web" not found',
    );
    expect(JSON.parse((await get('pending/log')).body).message).toBe(
      'pod pending does not have a host assigned',
    );
  });
});
