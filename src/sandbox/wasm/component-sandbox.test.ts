// WASI 0.2 components on the wasm tier, against the example components scripts/build-components.ts
// builds with componentize-js (wasi:cli/command and wasi:http/proxy). Commands run through the
// WasmDriver; the HTTP handler is reached through the HttpHandlerHost the driver would be given (the
// node's listeners are the e2e test's business: test/e2e/wasi-components.test.ts).
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxError, type HttpHandler, type HttpHandlerHost } from '../driver.ts';
import { ComponentSandboxes, componentOptions, WASI_HTTP_INSTANCES_ANNOTATION } from './component-sandbox.ts';
import { ComponentCache, glueAsScript } from './component-transpile.ts';
import { ModuleSource } from './module-source.ts';
import { WasmDriver } from './driver.ts';
import { isComponentBinary } from './module-check.ts';
import { repoRoot, spec, tempDir, type CapturedLog } from './test-support.ts';

const cli = join(repoRoot, 'build/components/wasi-cli-hello.wasm');
const http = join(repoRoot, 'build/components/wasi-http-hello.wasm');
const built = existsSync(cli) && existsSync(http);
if (!built) console.warn('component tests skipped: run node scripts/build-components.ts (setup does) first');

let tmp: ReturnType<typeof tempDir>;
let driver: WasmDriver;
let served: HttpHandler | undefined;
const host: HttpHandlerHost = {
  serve: async (_pod, _ports, handle) => {
    served = handle;
    return { ip: '10.99.0.1', close: async () => void (served = undefined) };
  },
  publish: async () => {},
  release: async () => {},
  reconcile: async () => {},
};

beforeAll(() => {
  tmp = tempDir();
  driver = new WasmDriver({ cacheDir: join(tmp.path, 'cache'), httpHandlers: () => host });
});
afterAll(async () => {
  await driver?.shutdown();
  tmp?.remove();
});

describe('component images', () => {
  it('tells components from core modules by the layer in the preamble', () => {
    expect(isComponentBinary(Uint8Array.of(0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0))).toBe(true);
    expect(isComponentBinary(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0))).toBe(false);
  });

  it(`read ${WASI_HTTP_INSTANCES_ANNOTATION} off a wasi:http pod (tierOptions), and refuse a bad value`, () => {
    const container = { name: 'web', image: 'x.wasm', ports: [{ containerPort: 8080 }] };
    const options = (annotations: Record<string, string>) =>
      driver.tierOptions({ sandboxId: 'x', container, podAnnotations: annotations } as never);
    expect(
      options({ 'strata.dev/wasm-http': 'wasi-http', [WASI_HTTP_INSTANCES_ANNOTATION]: 'per-request' }),
    ).toEqual({ httpPorts: [8080], wasiHttpInstances: 'per-request' });
    expect(options({ 'strata.dev/wasm-http': 'wasi-http' })).toEqual({ httpPorts: [8080] });
    // Only wasi:http pods have instances to choose: WAGI ignores it.
    expect(options({ 'strata.dev/wasm-http': 'wagi', [WASI_HTTP_INSTANCES_ANNOTATION]: 'x' })).toEqual({
      httpPorts: [8080],
    });
    expect(() =>
      options({ 'strata.dev/wasm-http': 'wasi-http', [WASI_HTTP_INSTANCES_ANNOTATION]: 'shared' }),
    ).toThrow(/strata.dev\/wasi-http-instances: "shared" is not one of reset, per-request/);
  });

  it('refuses glue that imports modules (it must get everything from the host)', () => {
    expect(() => glueAsScript("import fs from 'node:fs';\nexport function instantiate() {}")).toThrow(
      /imports modules/,
    );
    expect(glueAsScript('export async function instantiate() {}\nexport const _util = {}')).toMatch(
      /^async function instantiate[\s\S]*\(\{ instantiate \}\);/,
    );
  });
});

describe.skipIf(!built)('wasi:cli/command components', () => {
  it('run with the pod args and env, write the log, and exit with their status', async () => {
    const s = spec(cli, { args: ['cli-hello', 'one two'], env: { GREETING: 'hi there' } });
    const handle = await driver.start(s);
    expect(handle.state).toMatchObject({ mode: 'wasi-command' });
    const result = await driver.wait(s.id);
    await driver.destroy(s.id);
    expect(result).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const log = s.log as CapturedLog;
    expect(log.stdout()).toContain(
      'hello from a wasi:cli component: args=["cli-hello","one two"] GREETING=hi there',
    );
    expect(log.stderr()).toContain('a line on stderr');

    const failing = spec(cli, { env: { EXIT_CODE: '3' } });
    await driver.start(failing);
    expect(await driver.wait(failing.id)).toMatchObject({ exitCode: 1, reason: 'Error' });
    await driver.destroy(failing.id);
  }, 600_000);

  it('are transpiled once per digest, also across drivers sharing the cache directory', async () => {
    const cache = new ComponentCache(join(tmp.path, 'cache'));
    const { readFile } = await import('node:fs/promises');
    const { sha256 } = await import('./module-source.ts');
    const bytes = new Uint8Array(await readFile(cli));
    const c = await cache.get(sha256(bytes), async () => bytes);
    expect(cache.transpiles).toBe(0); // the driver above stored it
    expect(c.world).toBe('command');
    expect(c.imports).not.toContain('wasi:sockets/tcp');
  });

  it('get their volume mounts checked as preview-1 guests do (component-fs.test.ts: the confinement)', async () => {
    const vol = join(tmp.path, 'vol');
    mkdirSync(vol);
    symlinkSync('/etc', join(vol, 'out'));
    const s = spec(cli, { mounts: [{ hostPath: vol, guestPath: '/data', readOnly: true }] });
    await expect(driver.start(s)).rejects.toThrow(/symlink|outside/);
    const fine = spec(cli, {
      mounts: [{ hostPath: join(repoRoot, 'examples'), guestPath: '/data', readOnly: true }],
    });
    await driver.start(fine);
    expect(await driver.wait(fine.id)).toMatchObject({ exitCode: 0 });
    await driver.destroy(fine.id);
  }, 600_000);

  it('a wasi:http component without ports is refused', async () => {
    // A wasi:http component started without ports is refused: it would serve nothing.
    const s = spec(http);
    await expect(driver.start(s)).rejects.toThrow(SandboxError);
    await expect(driver.start(s)).rejects.toThrow(/ports: the component is a wasi:http\/proxy handler/);
  });
});

describe.skipIf(!built)('wasi:http/proxy components', () => {
  it('answer requests from pooled instances, and finish requests in flight on stop', async () => {
    // A copy under another name: the digest, not the path, decides the cache entry.
    const image = join(tmp.path, 'hello.wasm');
    await copyFile(http, image);
    const s = spec(image, { options: { httpPorts: [8080] } });
    const handle = await driver.start(s);
    expect(handle).toMatchObject({ podIP: '10.99.0.1', state: { mode: 'wasi-http' } });
    const request = (method: string, body = '') =>
      served!({
        method,
        url: '/hello?x=1',
        headers: { host: 'hello.default:8080', 'content-type': 'text/plain' },
        body: new TextEncoder().encode(body),
        remoteAddress: '10.99.0.2',
        localAddress: '10.99.0.1',
        localPort: 8080,
      });
    const get = await request('GET');
    expect(get.status).toBe(200);
    expect(Object.fromEntries(get.headers)).toMatchObject({ 'x-served-by': 'wasi-http-hello' });
    expect(new TextDecoder().decode(get.body)).toBe('hello from a wasi:http component\n');
    const post = await request('POST', 'a body');
    expect(new TextDecoder().decode(post.body)).toBe('hello from a wasi:http component: a body\n');
    const many = await Promise.all(Array.from({ length: 20 }, () => request('GET')));
    expect(many.map((r) => r.status)).toEqual(Array(20).fill(200));

    await driver.stop(s.id, 5);
    expect(await driver.wait(s.id)).toMatchObject({ exitCode: 0, reason: 'Completed' });
    await driver.destroy(s.id);
  }, 600_000);
});

describe.skipIf(!built)('wasi:http instances: reset between requests, or one per request', () => {
  let sandboxes: ComponentSandboxes;
  let handler: HttpHandler | undefined;
  beforeAll(() => {
    const cacheDir = join(tmp.path, 'cache'); // shared with the driver above: transpiled once
    sandboxes = new ComponentSandboxes({
      cacheDir,
      source: new ModuleSource({ cacheDir }),
      threadsPerPod: 2,
      handlerHost: () => ({
        serve: async (_pod, _ports, handle) => {
          handler = handle;
          return { ip: '10.99.0.3', close: async () => void (handler = undefined) };
        },
        publish: async () => {},
        release: async () => {},
        reconcile: async () => {},
      }),
    });
  });
  afterAll(() => sandboxes?.shutdown());

  const request = (method: string, body = '') =>
    handler!({
      method,
      url: '/',
      headers: { host: 'hello:8080' },
      body: new TextEncoder().encode(body),
      remoteAddress: '10.99.0.2',
      localAddress: '10.99.0.3',
      localPort: 8080,
    });
  const text = (r: { body: Uint8Array }) => new TextDecoder().decode(r.body);

  async function start(over: Parameters<typeof spec>[1] = {}) {
    const s = spec(http, { ...over, options: { httpPorts: [8080], ...over.options } });
    const resolved = await sandboxes.match(s);
    return { s, handle: await sandboxes.start(s, resolved!, [8080]) };
  }

  it('by default serve concurrent requests on one instance per thread, each from its fresh state', async () => {
    const { s, handle } = await start();
    expect(handle.state).toMatchObject({ mode: 'wasi-http', instances: 'reset', threads: 2 });
    const bodies = Array.from({ length: 40 }, (_, i) => `request ${i} ${'x'.repeat(i * 100)}`);
    const answers = await Promise.all(bodies.map((b) => request('POST', b)));
    // Each answer carries its own request's body: nothing of another request leaks into it.
    expect(answers.map(text)).toEqual(bodies.map((b) => `hello from a wasi:http component: ${b}\n`));
    // One instance per thread, reset after each of its requests.
    expect(await sandboxes.counts(s.id)).toEqual({ instances: 2, requests: 40, threads: 2 });
    await sandboxes.destroy(s.id);
  }, 600_000);

  it('replace an instance after a request that fails in it; the next request is answered', async () => {
    // 24 MiB of memory: a 32 MiB body cannot be read into the guest, which runs out of memory. One
    // thread (a CPU limit of 1), so that the failed instance's replacement answers the next requests.
    const { s, handle } = await start({ limits: { memoryBytes: 24 << 20, cpu: 1 } });
    expect(handle.state).toMatchObject({ threads: 1 });
    expect(text(await request('GET'))).toBe('hello from a wasi:http component\n');
    const failed = await request('POST', 'y'.repeat(32 << 20));
    expect(failed.status).toBe(500);
    expect((s.log as CapturedLog).stderr()).toMatch(/wasi:http handler:/);
    const next = await Promise.all([request('POST', 'after'), request('GET')]);
    expect(next.map(text)).toEqual([
      'hello from a wasi:http component: after\n',
      'hello from a wasi:http component\n',
    ]);
    expect(await sandboxes.counts(s.id)).toEqual({ instances: 2, requests: 4, threads: 1 });
    await sandboxes.destroy(s.id);
  }, 600_000);

  it(`give each request a new instance when the pod asks (${WASI_HTTP_INSTANCES_ANNOTATION}: per-request)`, async () => {
    expect(componentOptions({ [WASI_HTTP_INSTANCES_ANNOTATION]: 'per-request' })).toEqual({
      wasiHttpInstances: 'per-request',
    });
    expect(() => componentOptions({ [WASI_HTTP_INSTANCES_ANNOTATION]: 'pooled' })).toThrow(
      /strata.dev\/wasi-http-instances: "pooled" is not one of reset, per-request/,
    );
    const { s, handle } = await start({ options: { wasiHttpInstances: 'per-request' } });
    expect(handle.state).toMatchObject({ instances: 'per-request' });
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => request('POST', `n${i}`)));
    expect(answers.map(text)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `hello from a wasi:http component: n${i}\n`),
    );
    const { instances, requests } = await sandboxes.counts(s.id);
    expect(requests).toBe(5);
    expect(instances).toBeGreaterThanOrEqual(5 + 1); // one per request, and the pool refilled behind them
    await sandboxes.destroy(s.id);
  }, 600_000);
});
