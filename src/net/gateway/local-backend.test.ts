// LocalHandlerBackend: requests handed to an in-process handler as a call, its answers relayed as an
// HTTP backend's; an address with no local handler (and any byte stream) goes to the real socket. The
// handlers here are plain functions (a wasm handler behind the same call is tested in
// src/sandbox/wasm/http-handler.test.ts); the fallback is a real HTTP server on loopback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../../api/index.ts';
import { BackendError, HttpBackend, type BackendResponse } from './backend.ts';
import {
  LocalHandlerBackend,
  localHandlerBackends,
  type LocalHandlerEntry,
  type LocalHandlerRequest,
} from './local-backend.ts';

async function text(res: BackendResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

let server: http.Server;
let port: number;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'text/plain');
    res.end(`socket ${req.method} ${req.url}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('LocalHandlerBackend', () => {
  const handlers = new Map<string, LocalHandlerEntry>();
  const lookup = (ip: string, p: number) => handlers.get(`${ip}:${p}`);
  const backend = () =>
    new LocalHandlerBackend('127.0.0.1', port, lookup, () => new HttpBackend('127.0.0.1', port));

  it('hands the request to the handler and relays its answer as an HTTP response would arrive', async () => {
    let seen: LocalHandlerRequest | undefined;
    handlers.set(`127.0.0.1:${port}`, {
      maxBodyBytes: 1024,
      handle: async (req) => {
        seen = req;
        return {
          status: 201,
          headers: [
            ['Content-Type', 'text/plain'],
            ['Set-Cookie', 'a=1'],
            ['Set-Cookie', 'b=2'],
            ['X-Tag', 'one'],
            ['X-Tag', 'two'],
          ],
          body: new TextEncoder().encode(`got ${Buffer.from(req.body).toString()}`),
        };
      },
    });
    const b = backend();
    const res = await b.send({
      method: 'POST',
      path: '/echo?x=1',
      headers: { host: 'f.default.strata.local', 'X-Forwarded-For': ['10.0.0.1', '10.0.0.2'], 'x-n': 5 },
      body: Buffer.from('ping'),
    });
    expect(res.status).toBe(201);
    expect(res.headers).toMatchObject({
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
      'x-tag': 'one, two',
      'content-length': '8',
    });
    expect(await text(res)).toBe('got ping');
    expect(seen).toMatchObject({
      method: 'POST',
      url: '/echo?x=1',
      headers: { host: 'f.default.strata.local', 'x-forwarded-for': '10.0.0.1, 10.0.0.2', 'x-n': '5' },
      remoteAddress: '127.0.0.1',
      localAddress: '127.0.0.1',
      localPort: port,
    });
    // A streamed body is read whole first.
    const streamed = await b.send({
      method: 'PUT',
      path: '/',
      headers: {},
      body: Readable.from([Buffer.from('a'), Buffer.from('b')]),
    });
    expect(await text(streamed)).toBe('got ab');
    expect(b.connections()).toBe(0); // no socket was opened
  });

  it('answers 413 over the handler body limit and 502 when the handler cannot run', async () => {
    let calls = 0;
    handlers.set(`127.0.0.1:${port}`, {
      maxBodyBytes: 3,
      handle: async () => {
        calls++;
        throw new Error('no module');
      },
    });
    const b = backend();
    const big = await b.send({ method: 'POST', path: '/', headers: {}, body: Buffer.from('1234') });
    expect(big.status).toBe(413);
    expect(await text(big)).toMatch(/larger than 3 bytes/);
    const bigStream = await b.send({
      method: 'POST',
      path: '/',
      headers: {},
      body: Readable.from([Buffer.from('12'), Buffer.from('34')]),
    });
    expect(bigStream.status).toBe(413);
    expect(calls).toBe(0);
    const failed = await b.send({ method: 'GET', path: '/', headers: {} });
    expect(failed.status).toBe(502);
    expect(await text(failed)).toBe('the handler could not run: no module\n');
  });

  it('ends the attempt when its signal aborts (per-try timeout, client gone)', async () => {
    let release!: () => void;
    handlers.set(`127.0.0.1:${port}`, {
      maxBodyBytes: 1024,
      handle: () =>
        new Promise((r) => {
          release = () => r({ status: 200, headers: [], body: new Uint8Array() });
        }),
    });
    const b = backend();
    const ac = new AbortController();
    const sent = b.send({ method: 'GET', path: '/', headers: {}, signal: ac.signal });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    const err = await sent.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toMatchObject({ code: 'aborted', reached: true });
    release();
    // Aborted before it was sent: it never reached the handler.
    const early = await b
      .send({ method: 'GET', path: '/', headers: {}, signal: AbortSignal.abort() })
      .catch((e: unknown) => e);
    expect(early).toMatchObject({ code: 'aborted', reached: false });
  });

  it('goes through the socket when no handler is served there, and for byte streams', async () => {
    handlers.clear();
    const b = backend();
    const res = await b.send({ method: 'GET', path: '/plain', headers: {} });
    expect(res.status).toBe(200);
    expect(await text(res)).toBe('socket GET /plain\n');
    const stream = await b.connect();
    stream.write('GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const raw = await new Promise<string>((resolve) => {
      let out = '';
      stream.on('data', (d: Buffer) => (out += d));
      stream.on('end', () => resolve(out));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(raw).toContain('socket GET /raw');
    b.close();
  });

  it('is what the factory makes for local handler endpoints only', () => {
    const svc = { metadata: { name: 's', namespace: 'default' }, spec: {} } as Service;
    handlers.set('10.1.2.3:8080', {
      maxBodyBytes: 1,
      handle: async () => ({ status: 200, headers: [], body: new Uint8Array() }),
    });
    const factory = localHandlerBackends(lookup);
    expect(factory({ ip: '10.1.2.3', port: 8080 }, svc)).toBeInstanceOf(LocalHandlerBackend);
    expect(factory({ ip: '10.1.2.4', port: 8080 }, svc)).toBeUndefined();
  });
});
