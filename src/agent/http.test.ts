// The agent's endpoint on a real listener: logs with the pods/log parameters, attach, port-forward and
// exec resizes. The control plane it asks (TokenReview, pods) is a small stand-in HTTP server; the
// command behind exec is a real process under `script` (execInteractive), the pod a real TCP listener.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.ts';
import {
  encodeFrame,
  EXEC_PROTOCOL,
  FRAME,
  FrameDecoder,
  PORT_FORWARD_UPGRADE,
} from '../client/exec-stream.ts';
import { which } from '../lib/command.ts';
import { execInteractive } from '../sandbox/container/exec.ts';
import { buildAgentHttp } from './http.ts';
import { containerLogPath, RotatingLog } from './logs.ts';

const TOKEN = 'agent-test-token-0123456789';
let dir: string;
let api: Server;
let agent: FastifyInstance;
let base = '';
let echo: ReturnType<typeof createTcpServer>;
let echoPort = 0;
const pods: Record<string, any> = {};
/** The running container "c" of pod "p" (restart 1): its log is open. */
let current: RotatingLog;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-agent-http-'));
  api = createServer((req, res) => {
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url === '/apis/authentication.k8s.io/v1/tokenreviews') {
        const token = JSON.parse(body).spec.token;
        return send(201, { status: { authenticated: token === TOKEN } });
      }
      const m = /^\/api\/v1\/namespaces\/default\/pods\/([^/]+)$/.exec(req.url ?? '');
      if (m && pods[m[1]]) return send(200, pods[m[1]]);
      send(404, { kind: 'Status', code: 404, message: 'not found' });
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  echo = createTcpServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(d.toString().toUpperCase()));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as AddressInfo).port;
  pods.p = { spec: { containers: [{ name: 'c' }] }, status: { podIP: '127.0.0.1' } };
  pods.w = { spec: { runtimeClassName: 'wasm', containers: [{ name: 'c' }] }, status: {} };

  // Run 0 of p/c ended; run 1 is running.
  const previous = new RotatingLog(containerLogPath(dir, 'c', 0));
  previous.write('stdout', Buffer.from('from the run before\n'));
  previous.close();
  current = new RotatingLog(containerLogPath(dir, 'c', 1));
  current.write('stdout', Buffer.from('one\ntwo\n'));
  current.write('stderr', Buffer.from('three\n'));

  agent = buildAgentHttp({
    client: new Client({ server: `http://127.0.0.1:${(api.address() as AddressInfo).port}` }),
    locate: (ns, name, c) =>
      ns === 'default' && (name === 'p' || name === 'w') && c === 'c'
        ? { podDir: dir, restartCount: name === 'p' ? 1 : 0 }
        : undefined,
    exec: () => Promise.reject(new Error('not used')),
    execStream: async (_ns, _name, _c, cmd, o) => execInteractive(cmd, { ...o, stdio: 'pipe' }),
  });
  await agent.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(agent.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  current?.close();
  await agent?.close();
  api?.close();
  echo?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function logs(query: string, token = TOKEN): Promise<{ code: number; body: string }> {
  const res = await fetch(`${base}/containerLogs/default/p/c?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { code: res.status, body: await res.text() };
}

function upgrade(
  path: string,
  protocol: string,
): Promise<{ socket: Socket; head: Buffer } | { code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, {
      method: 'POST',
      headers: { connection: 'Upgrade', upgrade: protocol, authorization: `Bearer ${TOKEN}` },
    });
    req.on('upgrade', (_res, socket: Socket, head) => resolve({ socket, head }));
    req.on('response', (res: IncomingMessage) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('containerLogs', () => {
  it('needs a token the control plane accepts', async () => {
    expect((await logs('', 'wrong-token-0123456789')).code).toBe(401);
  });

  it('serves the lines as written; --timestamps puts each line’s time first', async () => {
    expect(await logs('')).toEqual({ code: 200, body: 'one\ntwo\nthree\n' });
    const ts = (await logs('timestamps=true')).body.split('\n');
    expect(ts[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z one$/);
  });

  it('tailLines, limitBytes, sinceTime and sinceSeconds', async () => {
    expect((await logs('tailLines=2')).body).toBe('two\nthree\n');
    expect((await logs('limitBytes=6')).body).toBe('one\ntw');
    expect(
      (await logs(`sinceTime=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body,
    ).toBe('');
    expect((await logs('sinceSeconds=3600')).body).toBe('one\ntwo\nthree\n');
    expect((await logs('sinceTime=yesterday')).code).toBe(400);
  });

  it('previous shows the run before; follow streams new lines until the client leaves', async () => {
    expect((await logs('previous=true')).body).toBe('from the run before\n');
    const abort = new AbortController();
    const res = await fetch(`${base}/containerLogs/default/p/c?follow=true&tailLines=0`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    current.write('stdout', Buffer.from('followed\n'));
    const { value } = await reader.read();
    expect(Buffer.from(value!).toString()).toBe('followed\n');
    abort.abort();
  });
});

describe('attach-stream', () => {
  it('refuses stdin on a node whose tiers cannot attach, explaining why', async () => {
    const r = await upgrade('/attach-stream/default/p/c?stdin=true&stdout=true', EXEC_PROTOCOL);
    expect(r).toMatchObject({ code: 400 });
    expect((r as { body: string }).body).toContain('without an open stdin');
  });

  it('streams what the container writes from now on, stdout and stderr apart, until its run ends', async () => {
    const r = await upgrade('/attach-stream/default/p/c?stdout=true&stderr=true', EXEC_PROTOCOL);
    if (!('socket' in r)) throw new Error(`refused: ${r.body}`);
    const frames: Array<{ type: number; payload: string }> = [];
    const decoder = new FrameDecoder();
    const done = new Promise<void>((resolve) => r.socket.on('close', () => resolve()));
    r.socket.on('data', (d: Buffer) => {
      for (const f of decoder.push(d)) frames.push({ type: f.type, payload: f.payload.toString() });
    });
    await new Promise((res) => setTimeout(res, 300));
    current.write('stdout', Buffer.from('live\n'));
    current.write('stderr', Buffer.from('warn\n'));
    await new Promise((res) => setTimeout(res, 300));
    current.close();
    await done;
    expect(frames).toEqual([
      { type: FRAME.stdout, payload: 'live\n' },
      { type: FRAME.stderr, payload: 'warn\n' },
      { type: FRAME.exit, payload: '{"exitCode":0}' },
    ]);
    // A run that has ended cannot be attached to.
    expect(await upgrade('/attach-stream/default/p/c?stdout=true', EXEC_PROTOCOL)).toMatchObject({
      code: 400,
    });
  });
});

describe('portforward', () => {
  it('connects to the pod IP and port and passes bytes both ways, half-close included', async () => {
    const r = await upgrade(`/portforward/default/p?port=${echoPort}`, PORT_FORWARD_UPGRADE);
    if (!('socket' in r)) throw new Error(`refused: ${r.body}`);
    let got = r.head.toString();
    r.socket.on('data', (d) => (got += d));
    r.socket.end('hello pod');
    await new Promise((res) => r.socket.on('close', res));
    expect(got).toBe('HELLO POD');
  });

  it('says why it cannot: nothing listening, no pod IP, not this node’s pod', async () => {
    const closed = createTcpServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((res) => closed.close(res));
    const refused = await upgrade(`/portforward/default/p?port=${port}`, PORT_FORWARD_UPGRADE);
    expect(refused).toMatchObject({ code: 502 });
    expect(JSON.parse((refused as { body: string }).body).message).toBe(
      `dial tcp 127.0.0.1:${port}: connect: connection refused`,
    );
    const wasm = await upgrade('/portforward/default/w?port=80', PORT_FORWARD_UPGRADE);
    expect(JSON.parse((wasm as { body: string }).body).message).toMatch(
      /no IP address.*runtimeClassName wasm/,
    );
    expect(await upgrade('/portforward/default/elsewhere?port=80', PORT_FORWARD_UPGRADE)).toMatchObject({
      code: 404,
    });
    expect(await upgrade('/portforward/default/p?port=0', PORT_FORWARD_UPGRADE)).toMatchObject({ code: 400 });
  });
});

describe.skipIf(!which('script') || !which('stty'))('exec-stream', () => {
  it('resize frames change the size of the command’s terminal', async () => {
    const q = new URLSearchParams([
      ['command', 'sh'],
      ['command', '-c'],
      ['command', 'stty size; read x; stty size'],
      ['stdin', 'true'],
      ['tty', 'true'],
      ['cols', '80'],
      ['rows', '24'],
    ]);
    const r = await upgrade(`/exec-stream/default/p/c?${q}`, EXEC_PROTOCOL);
    if (!('socket' in r)) throw new Error(`refused: ${r.body}`);
    let out = '';
    let exit = '';
    const decoder = new FrameDecoder();
    r.socket.on('data', (d: Buffer) => {
      for (const f of decoder.push(d)) {
        if (f.type === FRAME.stdout) out += f.payload;
        if (f.type === FRAME.exit) exit = f.payload.toString();
      }
    });
    const deadline = Date.now() + 5000;
    while (!out.includes('24 80') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    r.socket.write(encodeFrame(FRAME.resize, JSON.stringify({ cols: 120, rows: 50 })));
    await new Promise((res) => setTimeout(res, 200));
    r.socket.write(encodeFrame(FRAME.stdin, 'go\r'));
    await new Promise((res) => r.socket.on('close', res));
    expect(out).toMatch(/24 80[\s\S]*50 120/);
    expect(exit).toBe('{"exitCode":0}');
  });
});
