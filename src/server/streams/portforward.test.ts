// Port-forward over SPDY: a small SPDY client written here against the framer (both transports), and the
// real kubectl against a minimal API server (discovery and one Running pod) that uses the same upgrade
// and session code as Strata's server.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePing } from './spdy.ts';
import { SpdyTestClient as TestClient } from './testing/spdy-client.ts';
import { PORT_FORWARD_PROTOCOL, servePortForward } from './portforward.ts';
import {
  acceptSpdyUpgrade,
  acceptWebSocket,
  headerList,
  isSpdyUpgrade,
  isWebSocketUpgrade,
  refuseUpgrade,
  spdyOverSocket,
  spdyOverWebSocket,
  SPDY_TUNNEL_PREFIX,
} from './upgrade.ts';

const TUNNEL = SPDY_TUNNEL_PREFIX + PORT_FORWARD_PROTOCOL;

let pod: ReturnType<typeof createTcpServer>;
let podPort = 0;
let closedPort = 0;
let api: Server;
let apiPort = 0;

function listen(s: {
  listen: (port: number, host: string, cb: () => void) => unknown;
  address: () => unknown;
}) {
  return new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
}

/** Serves the upgrade the way exec-proxy does for pods/portforward. */
const upgraded = new Set<Duplex>();
function serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
  upgraded.add(socket);
  const dial = (port: number): Promise<Duplex> =>
    new Promise((resolve, reject) => {
      const c = connect(port === 80 ? podPort : closedPort, '127.0.0.1');
      c.once('connect', () => resolve(c));
      c.once('error', (err) => reject(new Error(`dial tcp: ${err.message}`)));
    });
  if (isWebSocketUpgrade(req)) {
    if (!headerList(req, 'sec-websocket-protocol').includes(TUNNEL)) {
      return refuseUpgrade(socket, 400, { kind: 'Status', message: 'no protocol' });
    }
    void acceptWebSocket(req, socket, head, TUNNEL).then((ws) =>
      servePortForward(spdyOverWebSocket(ws), { pod: 'web, uid 1', dial }),
    );
  } else if (
    isSpdyUpgrade(req) &&
    headerList(req, 'x-stream-protocol-version').includes(PORT_FORWARD_PROTOCOL)
  ) {
    acceptSpdyUpgrade(socket, PORT_FORWARD_PROTOCOL);
    servePortForward(spdyOverSocket(socket, head), { pod: 'web, uid 1', dial, pairTimeoutMs: 300 });
  } else {
    refuseUpgrade(socket, 400, { kind: 'Status', message: 'unsupported upgrade' });
  }
}

beforeAll(async () => {
  // The "pod": answers every chunk with "echo:" + chunk; half-closes when the client does.
  pod = createTcpServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
    s.on('end', () => s.end());
  });
  podPort = await listen(pod);
  const closed = createTcpServer();
  closedPort = await listen(closed);
  await new Promise((r) => closed.close(r));

  api = createServer((req, res) => {
    const send = (o: unknown, code = 200): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(o));
    };
    const path = req.url!.split('?')[0];
    if (path === '/api')
      return send({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (path === '/apis') return send({ kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (path === '/api/v1') {
      return send({
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get'] },
          { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['get', 'create'] },
        ],
      }); // prettier-ignore
    }
    if (path === '/api/v1/namespaces/default/pods/web') {
      return send({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'default', uid: '1' },
        spec: { containers: [{ name: 'c', image: 'i' }] },
        status: { phase: 'Running' },
      });
    }
    send({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }, 404);
  });
  api.on('upgrade', serveUpgrade);
  apiPort = await listen(api);
});

afterAll(async () => {
  pod?.close();
  for (const s of upgraded) s.destroy();
  api?.closeAllConnections();
  await new Promise((r) => api?.close(r));
});

function spdyUpgrade(): Promise<{ socket: Socket; client: TestClient }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: apiPort,
      path: '/api/v1/namespaces/default/pods/web/portforward',
      method: 'POST',
      headers: {
        connection: 'Upgrade',
        upgrade: 'SPDY/3.1',
        'x-stream-protocol-version': PORT_FORWARD_PROTOCOL,
      },
    });
    req.on('upgrade', (res, socket: Socket, head) => {
      expect(res.headers['x-stream-protocol-version']).toBe(PORT_FORWARD_PROTOCOL);
      const client = new TestClient((b) => socket.write(b));
      if (head.length) client.receive(head);
      socket.on('data', (d) => client.receive(d));
      resolve({ socket, client });
    });
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('port-forward over SPDY (upgraded socket)', () => {
  it('forwards bytes both ways; the pod side ending finishes the data stream, then the error stream', async () => {
    const { socket, client } = await spdyUpgrade();
    const { error, data } = await client.pair(80);
    client.send(data, 'hello', true);
    await client.until('both streams finished', () => client.stream(data).fin && client.stream(error).fin);
    expect(client.stream(data)).toMatchObject({ data: 'echo:hello', replied: true });
    expect(client.stream(error)).toMatchObject({ data: '', replied: true });
    client.close();
    socket.destroy();
  });

  it('writes a refused connection on the error stream, naming port and pod', async () => {
    const { socket, client } = await spdyUpgrade();
    const { error } = await client.pair(81);
    await client.until('error stream finished', () => client.stream(error).fin);
    expect(client.stream(error).data).toMatch(
      /^error forwarding port 81 to pod web, uid 1: dial tcp: .*ECONNREFUSED/,
    );
    client.close();
    socket.destroy();
  });

  it('refuses streams without a valid port or type, echoes pings, times out a lone stream', async () => {
    const { socket, client } = await spdyUpgrade();
    const noPort = await client.open({ streamtype: 'data', requestid: '9' });
    const badType = await client.open({ streamtype: 'video', port: '80', requestid: '9' });
    socket.write(encodePing(7));
    const lone = await client.open({ streamtype: 'error', port: '80', requestid: '10' });
    await client.until('refusals, pong and timeout', () => {
      return (
        client.stream(noPort).reset &&
        client.stream(badType).reset &&
        client.frames.some((f) => f.type === 'ping' && f.id === 7) &&
        client.stream(lone).fin
      );
    });
    expect(client.stream(lone).data).toBe('(request=10) timed out waiting for streams');
    client.close();
    socket.destroy();
  });
});

/** A client's WebSocket binary frame (masked, as RFC 6455 requires of clients). */
function maskedFrame(payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const len = payload.length;
  const head =
    len < 126 ? Buffer.from([0x82, 0x80 | len]) : Buffer.from([0x82, 0x80 | 126, len >> 8, len & 255]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, body]);
}

/** Payloads of the server's (unmasked) binary frames in a byte stream; returns the unread rest. */
function readFrames(buf: Buffer, onPayload: (p: Buffer) => void): Buffer {
  for (;;) {
    if (buf.length < 2) return buf;
    let len = buf[1] & 0x7f;
    let off = 2;
    if (len === 126) {
      if (buf.length < 4) return buf;
      len = buf.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (buf.length < 10) return buf;
      len = Number(buf.readBigUInt64BE(2));
      off = 10;
    }
    if (buf.length < off + len) return buf;
    if ((buf[0] & 0x0f) === 2) onPayload(buf.subarray(off, off + len));
    buf = buf.subarray(off + len);
  }
}

describe('port-forward over SPDY tunnelled in a WebSocket', () => {
  it('negotiates SPDY/3.1+portforward.k8s.io (not an RFC 7230 token) and forwards', async () => {
    // Neither `ws` nor undici will offer this protocol name as a client, so the handshake is done by hand.
    const { res, socket, head } = await new Promise<{ res: IncomingMessage; socket: Socket; head: Buffer }>(
      (resolve, reject) => {
        const req = request({
          host: '127.0.0.1',
          port: apiPort,
          path: '/api/v1/namespaces/default/pods/web/portforward',
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': Buffer.alloc(16, 7).toString('base64'),
            'sec-websocket-protocol': TUNNEL,
          },
        });
        req.on('upgrade', (r, s: Socket, h) => resolve({ res: r, socket: s, head: h }));
        req.on('response', (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
        req.end();
      },
    );
    expect(res.headers['sec-websocket-protocol']).toBe(TUNNEL);
    // Every write is its own message, as client-go's tunnel does: boundaries must not matter.
    const client = new TestClient((b) => socket.write(maskedFrame(b)));
    let pending: Buffer = Buffer.alloc(0);
    const onBytes = (d: Buffer): void => {
      pending = readFrames(Buffer.concat([pending, d]), (p) => client.receive(p));
    };
    onBytes(head);
    socket.on('data', onBytes);
    const { error, data } = await client.pair(80);
    client.send(data, 'one');
    await client.until('first echo', () => client.stream(data).data === 'echo:one');
    client.send(data, 'two', true);
    await client.until('end', () => client.stream(data).fin && client.stream(error).fin);
    expect(client.stream(data).data).toBe('echo:oneecho:two');
    client.close();
    socket.destroy();
  });
});

function kubectlAvailable(): Promise<boolean> {
  return new Promise((r) => execFile('kubectl', ['version', '--client'], (err) => r(!err)));
}

describe.skipIf(!(await kubectlAvailable()))('the real kubectl port-forward', () => {
  let dir: string;
  let kubeconfig: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'strata-pf-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${apiPort}" } }]
users: [{ name: u, user: { token: test } }]
contexts: [{ name: c, context: { cluster: c, user: u, namespace: default } }]
current-context: c
`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function forward(
    env: Record<string, string>,
  ): Promise<{ port: number; proc: ChildProcess; out: () => string }> {
    const proc = spawn('kubectl', ['--kubeconfig', kubeconfig, 'port-forward', 'pod/web', ':80'], {
      env: { ...process.env, ...env },
    });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`kubectl did not start forwarding: ${out}`)), 15_000);
      proc.stdout!.on('data', () => {
        const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 80/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
    });
    return { port, proc, out: () => out };
  }

  function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const c = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => c.end(payload));
      const parts: Buffer[] = [];
      c.on('data', (d) => parts.push(d));
      c.on('end', () => resolve(Buffer.concat(parts)));
      c.on('error', reject);
    });
  }

  for (const [transport, env] of [
    ['WebSocket tunnel (the default)', {}],
    ['SPDY upgrade (KUBECTL_PORT_FORWARD_WEBSOCKETS=false)', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }],
  ] as const) {
    it(`carries real bytes over the ${transport}, several connections in a row`, async () => {
      const { port, proc, out } = await forward(env);
      try {
        const binary = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256));
        for (let i = 0; i < 3; i++) {
          const back = await roundTrip(port, binary);
          // The echo server answers per chunk, so strip its prefixes to compare the payload.
          expect(back.toString('latin1').replaceAll('echo:', '')).toBe(binary.toString('latin1'));
        }
      } finally {
        proc.kill('SIGINT');
      }
      expect(out()).toContain('Handling connection for');
    }, 60_000);
  }
});
