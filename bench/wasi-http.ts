// wasi:http on the wasm tier: the example hello component (examples/wasi-http-hello, componentize-js)
// served through the node's handler listeners (HandlerListeners on loopback, as a pod's address would
// be) beside a plain Node `http` server returning the same bytes, both measured in this run:
// - requests/s and latency at concurrency 64 (keep-alive), Strata with its pool of pre-made instances;
// - one request at a time: answered by a pre-made instance (pool) vs by a fresh instance made for it
//   (pool size 0), which is what an instance-per-request host without a pool pays.
//
//   npm run bench -- wasi-http [requests at c64, default 1000] [sequential requests, default 30]
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureLog, spec } from '../src/sandbox/wasm/test-support.ts';
import { HandlerListeners } from '../src/sandbox/http-handlers.ts';
import { ComponentSandboxes } from '../src/sandbox/wasm/component-sandbox.ts';
import { ModuleSource } from '../src/sandbox/wasm/module-source.ts';
import { runLoad } from './lib/http-load.ts';
import { fmt, printTable, summarize } from './lib/stats.ts';

const N = Number(process.argv[2] ?? 1000);
const SEQ = Number(process.argv[3] ?? 30);
const C = 64;
const root = fileURLToPath(new URL('..', import.meta.url));
const component = join(root, 'build/components/wasi-http-hello.wasm');
const BODY = 'hello from a wasi:http component\n';

const cacheDir = mkdtempSync(join(tmpdir(), 'strata-bench-wasi-http-'));
const source = new ModuleSource({ cacheDir });
const loopback = {
  claimHostAddress: async () => '127.0.0.1',
  teardown: async () => {},
  publish: async () => {},
  reconcileHostAddresses: async () => [],
};
const listeners = new HandlerListeners(loopback);

async function freePort(): Promise<number> {
  const s = http.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** The component served on a loopback port by a ComponentSandboxes with `poolSize` instances ready. */
async function serveComponent(poolSize: number, id: string) {
  const sandboxes = new ComponentSandboxes({ cacheDir, source, handlerHost: () => listeners, poolSize });
  const port = await freePort();
  const s = spec(component, {
    id,
    podUid: id,
    args: [],
    log: captureLog(),
    limits: { memoryBytes: 256 << 20 },
  });
  const resolved = await sandboxes.match(s);
  if (!resolved) throw new Error(`${component} is not a component`);
  const t0 = performance.now();
  await sandboxes.start(s, resolved, [port]);
  return { sandboxes, id, url: `http://127.0.0.1:${port}/`, startMs: performance.now() - t0 };
}

async function sequential(url: string, n: number, pauseMs: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    // The pause lets a pool refill between requests (what an idle-then-busy handler sees).
    await new Promise((r) => setTimeout(r, pauseMs));
    const t = performance.now();
    const res = await fetch(url);
    const text = await res.text();
    if (text !== BODY) throw new Error(`unexpected answer ${res.status}: ${text}`);
    lat.push(performance.now() - t);
  }
  return lat;
}

console.log(`wasi:http bench: ${component}`);
// Transpile (first start of this digest) and core-module compile, reported but not in the tables.
const pooled = await serveComponent(8, 'pooled');
console.log(`first start (transpile + compile + ${8} instances): ${fmt(pooled.startMs)}`);

const plain = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-served-by': 'wasi-http-hello' });
  res.end(BODY);
});
plain.listen(0, '127.0.0.1');
await new Promise((r) => plain.once('listening', r));
const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`;

const load = (url: string) =>
  runLoad({ url, method: 'GET', headers: {}, n: N, concurrency: C, connections: 'keepAlive' });
// Warm both (connections, JIT) with a short run first.
await runLoad({
  url: pooled.url,
  method: 'GET',
  headers: {},
  n: 64,
  concurrency: C,
  connections: 'keepAlive',
});
await runLoad({ url: plainUrl, method: 'GET', headers: {}, n: 64, concurrency: C, connections: 'keepAlive' });
const strataLoad = await load(pooled.url);
const plainLoad = await load(plainUrl);
printTable(`GET at concurrency ${C}, keep-alive, ${N} requests`, [
  {
    name: 'Strata wasi:http component (pool 8)',
    s: summarize(strataLoad.lat),
    extra: `${strataLoad.perSec.toFixed(0)} req/s`,
  },
  {
    name: 'plain Node http server',
    s: summarize(plainLoad.lat),
    extra: `${plainLoad.perSec.toFixed(0)} req/s`,
  },
]);
console.log(`\nratio (Strata / Node) requests/s: ${(strataLoad.perSec / plainLoad.perSec).toFixed(3)}x`);

const fresh = await serveComponent(0, 'fresh');
const pooledSeq = await sequential(pooled.url, SEQ, 300);
const freshSeq = await sequential(fresh.url, SEQ, 300);
printTable(`one request at a time (${SEQ}), 300 ms apart`, [
  { name: 'pre-made instance (pool)', s: summarize(pooledSeq) },
  { name: 'fresh instance per request', s: summarize(freshSeq) },
]);
console.log(
  `\nratio (fresh / pooled) p50: ${(summarize(freshSeq).p50 / summarize(pooledSeq).p50).toFixed(1)}x`,
);

await pooled.sandboxes.shutdown();
await fresh.sandboxes.shutdown();
await new Promise((r) => plain.close(r));
rmSync(cacheDir, { recursive: true, force: true });
