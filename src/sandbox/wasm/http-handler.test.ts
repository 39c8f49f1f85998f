// Wasm HTTP handlers (WAGI) end to end inside one process: the real wasm driver, the node's real handler
// listeners, and a real pod network (a test bridge and range of its own, torn down after). A request from
// a pod's network namespace reaches the handler's pod IP over the bridge, as Service traffic does.
// Needs root for the bridge; skipped otherwise. Traffic stays on the test bridge and loopback.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpBackend } from '../../net/gateway/backend.ts';
import { LocalHandlerBackend } from '../../net/gateway/local-backend.ts';
import { PodNetwork } from '../../net/pod-network.ts';
import { networkingUnavailable } from '../../net/test-support.ts';
import type { SandboxSpec } from '../driver.ts';
import { HandlerListeners, localHandlers } from '../http-handlers.ts';
import { WasmDriver, WASM_HTTP_ANNOTATION, type WasmOptions } from './driver.ts';

const ROOT = join(import.meta.dirname, '../../..');
const unavailable = networkingUnavailable();
if (unavailable) console.warn(`skipping wasm HTTP handler tests: ${unavailable}`);

const tag = String(process.pid % 100000);
const netOpts = {
  bridge: `stwh${tag}`,
  subnet: '10.89.30.0/24',
  chainPrefix: `STWH${tag}`,
  netnsPrefix: `stwh${tag}-`,
  vethPrefix: 'stwh',
};

let dir: string;
let network: PodNetwork;
let driver: WasmDriver;
let seq = 0;

function spec(module: string, over: Partial<SandboxSpec<WasmOptions>> = {}): SandboxSpec<WasmOptions> {
  const n = ++seq;
  return {
    id: `h${n}`,
    podUid: `pod-h${n}`,
    podName: `greeter-${n}`,
    namespace: 'default',
    containerName: 'web',
    image: join(ROOT, 'build/wasm', module),
    args: [module],
    env: { POD_NAME: `greeter-${n}` },
    mounts: [],
    limits: { memoryBytes: 32 * 1024 * 1024 },
    log: { write: () => undefined },
    options: { httpPorts: [8080] },
    ...over,
  };
}

function inNetnsAsync(netns: string, cmd: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, ...cmd], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => child.kill(), 10_000);
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

async function get(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(url, init);
  return { status: r.status, text: await r.text(), headers: r.headers };
}

describe.skipIf(unavailable)('wasm HTTP handlers (root)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-wasm-http-'));
    network = new PodNetwork({ stateDir: join(dir, 'net'), ...netOpts });
    driver = new WasmDriver({
      cacheDir: join(dir, 'cache'),
      httpHandlers: () => new HandlerListeners(network),
      handlerRequestTimeoutSeconds: 1,
    });
  });
  afterAll(async () => {
    await driver?.shutdown();
    await network?.uninstall();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the handler interface off the pod annotation, ports off the container', () => {
    const container = {
      name: 'web',
      image: 'm.wasm',
      ports: [{ containerPort: 8080 }, { containerPort: 53, protocol: 'UDP' }],
    };
    expect(driver.tierOptions({ sandboxId: 'x', container } as never)).toEqual({});
    expect(
      driver.tierOptions({
        sandboxId: 'x',
        container,
        podAnnotations: { [WASM_HTTP_ANNOTATION]: 'wagi' },
      } as never),
    ).toEqual({ httpPorts: [8080] });
    expect(() =>
      driver.tierOptions({
        sandboxId: 'x',
        container,
        podAnnotations: { [WASM_HTTP_ANNOTATION]: 'cgi-bin' },
      } as never),
    ).toThrow(/"cgi-bin" is not a handler interface/);
  });

  it('starts a worker thread with the handler, so its first request does not wait for one', async () => {
    const fresh = new WasmDriver({
      cacheDir: join(dir, 'cache-fresh'),
      httpHandlers: () => new HandlerListeners(network),
    });
    try {
      expect(fresh.threads).toBe(0);
      const s = spec('greeter.wasm');
      const handle = await fresh.start(s);
      expect(fresh.threads).toBeGreaterThanOrEqual(1);
      expect(fresh.liveSandboxes).toBe(0); // a worker, not an instance
      expect((await get(`http://${handle.podIP}:8080/?name=first`)).text).toBe('hello, first\n');
      await fresh.destroy(s.id);
      await fresh.releasePod(s.podUid);
    } finally {
      await fresh.shutdown();
    }
  });

  it('serves each request with a fresh instance on the pod IP', async () => {
    const s = spec('greeter.wasm');
    const handle = await driver.start(s);
    expect(handle.podIP).toMatch(/^10\.89\.30\.\d+$/);
    const base = `http://${handle.podIP}:8080`;
    expect(await get(`${base}/`)).toMatchObject({ status: 200, text: `hello from wasm, ${s.podName}\n` });
    expect((await get(`${base}/?name=Ada`)).text).toBe('hello, Ada\n');
    const echo = await get(`${base}/echo`, {
      method: 'POST',
      body: 'ping pong',
      headers: { 'content-type': 'text/x-test' },
    });
    expect(echo).toMatchObject({ status: 200, text: 'ping pong' });
    expect(echo.headers.get('x-echo-length')).toBe('9');
    expect(echo.headers.get('content-type')).toBe('text/x-test');
    expect(await get(`${base}/missing`)).toMatchObject({ status: 404, text: 'no route for /missing\n' });
    // Concurrent requests each get an instance of their own.
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => get(`${base}/?name=n${i}`)));
    expect(many.map((r) => r.text)).toEqual(many.map((_, i) => `hello, n${i}\n`));
    expect((await driver.stats(s.id)).cpuNanos).toBeGreaterThan(0);
    expect(driver.liveSandboxes).toBe(0); // no instance between requests

    await driver.stop(s.id, 5);
    expect(await driver.wait(s.id)).toMatchObject({ exitCode: 0, reason: 'Completed' });
    await expect(fetch(`${base}/`)).rejects.toThrow();
    await driver.releasePod(s.podUid);
    expect(execFileSync('ip', ['-o', 'addr', 'show', 'dev', netOpts.bridge]).toString()).not.toContain(
      `${handle.podIP}/32`,
    );
    await driver.destroy(s.id);
  });

  it('answers every request from a fresh instance, also when a spare instance was made ready for it', async () => {
    const s = spec('fixtures/request-memory.wasm');
    const handle = await driver.start(s);
    const base = `http://${handle.podIP}:8080`;
    expect(driver.spareInstances).toBe(0);
    const first = await get(`${base}/?name=first`);
    expect(first).toMatchObject({ status: 200, text: 'requests 1, previous name (none), name first\n' });
    // After its first request the handler's thread keeps an instance ready for the next one.
    expect(driver.spareInstances).toBe(1);
    for (const name of ['second', 'third', 'fourth']) {
      await new Promise((r) => setTimeout(r, 20)); // let the spare be built between requests
      // A spare is an instance no request has touched: nothing of the earlier requests shows.
      expect((await get(`${base}/?name=${name}`)).text).toBe(
        `requests 1, previous name (none), name ${name}\n`,
      );
    }
    const many = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`${base}/?name=c${i}`)));
    expect(many.map((r) => r.text)).toEqual(
      many.map((_, i) => `requests 1, previous name (none), name c${i}\n`),
    );
    // The handler gone, its spares go too.
    await driver.stop(s.id, 5);
    await driver.destroy(s.id);
    await driver.releasePod(s.podUid);
    expect(driver.spareInstances).toBe(0);
  });

  it('is reached from another pod over the bridge', async () => {
    const s = spec('greeter.wasm');
    const handle = await driver.start(s);
    const client = await network.setup('client-pod');
    const netns = client.netnsPath.split('/').pop()!;
    // Asynchronously: the handler answers from this very process.
    const out = await inNetnsAsync(netns, ['curl', '-sS', '-i', `http://${handle.podIP}:8080/?name=pod`]);
    expect(out).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(out).toContain('hello, pod');
    await network.teardown('client-pod');
    await driver.destroy(s.id);
    await driver.releasePod(s.podUid);
  });

  it('answers 500 for output that is not a WAGI response, and 504 past the request timeout', async () => {
    const hello = spec('hello.wasm');
    const h1 = await driver.start(hello);
    const bad = await get(`http://${h1.podIP}:8080/`);
    expect(bad.status).toBe(500);
    expect(bad.text).toMatch(/not a WAGI response/);
    await driver.destroy(hello.id);
    await driver.releasePod(hello.podUid);

    const ticker = spec('ticker.wasm'); // prints a line a second, forever
    const h2 = await driver.start(ticker);
    const slow = await get(`http://${h2.podIP}:8080/`);
    expect(slow.status).toBe(504);
    expect(driver.liveSandboxes).toBe(0);
    await driver.destroy(ticker.id);
    await driver.releasePod(ticker.podUid);
  });

  it('answers the node gateway in-process as it answers over the socket, while it listens', async () => {
    const s = spec('greeter.wasm');
    const handle = await driver.start(s);
    const ip = handle.podIP!;
    const lookup = (a: string, p: number) => localHandlers.get(a, p);
    expect(lookup(ip, 8080)).toBeDefined();
    const b = new LocalHandlerBackend(ip, 8080, lookup, () => new HttpBackend(ip, 8080));
    const res = await b.send({ method: 'GET', path: '/?name=local', headers: { host: 'f.example' } });
    let body = '';
    for await (const c of res.body) body += c;
    expect(res.status).toBe(200);
    expect(body).toBe((await get(`http://${ip}:8080/?name=local`)).text);
    expect(b.connections()).toBe(0); // no socket
    await driver.stop(s.id, 5);
    // Gone with its listener: a request now goes to the socket, which refuses it as a client's would be.
    expect(lookup(ip, 8080)).toBeUndefined();
    await expect(b.send({ method: 'GET', path: '/', headers: {} })).rejects.toMatchObject({ reached: false });
    b.close();
    await driver.destroy(s.id);
    await driver.releasePod(s.podUid);
  });

  it('keeps serving the module it started with when the file changes (as a container keeps its image)', async () => {
    const file = join(dir, 'replaced.wasm');
    copyFileSync(join(ROOT, 'build/wasm/greeter.wasm'), file);
    const s = spec('greeter.wasm', { image: file });
    const handle = await driver.start(s);
    copyFileSync(join(ROOT, 'build/wasm/hello.wasm'), file);
    expect(await get(`http://${handle.podIP}:8080/?name=same`)).toMatchObject({
      status: 200,
      text: 'hello, same\n',
    });
    await driver.destroy(s.id);
    await driver.releasePod(s.podUid);
  });

  it('refuses a module that cannot load at start, not at the first request', async () => {
    await expect(driver.start(spec('no-such-module.wasm'))).rejects.toMatchObject({ reason: 'ErrImagePull' });
  });
});
