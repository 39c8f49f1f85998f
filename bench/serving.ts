// Functions (Knative Services) on a real single-node cluster (`strata up`, as root), each beside a baseline
// measured in the same run:
//   1. wasm function (the WAGI greeter): requests one at a time with a pause between them, so no instance
//      is alive before each (every request is a cold instantiate from the cached compiled module), vs the
//      floor: raw node:wasi instantiate + start of the same module on this thread (bench/lib).
//   2. container function (busybox httpd): cold = a request at 0 pods (held by the activator while the
//      autoscaler scales 0 → 1 and the pod starts) to the first response; warm = requests with the pod up.
//   3. warm wasm throughput at concurrency 64 through the gateway vs a plain Node HTTP server doing the
//      same work (node:wasi instantiate + start of the module per request) in this process.
// Windows are shortened through config-autoscaler (stable window 6 s, grace 1 s) so cold rounds are quick.
//
//   node bench/serving.ts [WASM_N=100] [CONTAINER_ROUNDS=3] [LOAD_N=3000]
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Cluster, ROOT, wasm } from '../test/e2e/harness.ts';
import { printTable, summarize } from './lib/stats.ts';
import { rawWasiStart } from './lib/wasm-start-raw.ts';

const WASM_N = Number(process.argv[2] ?? 100);
const CONTAINER_ROUNDS = Number(process.argv[3] ?? 3);
const LOAD_N = Number(process.argv[4] ?? 3000);
if (process.getuid?.() !== 0) throw new Error('bench serving needs root (container tier)');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function get(port: number, host: string, path = '/'): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host }, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      })
      .on('error', reject);
  });
}

async function load(port: number, host: string, path: string, n: number, c: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) {
        next++;
        const r = await get(port, host, path);
        if (r.status !== 200) throw new Error(`status ${r.status}`);
      }
    }),
  );
  return (n * 1000) / (performance.now() - t0);
}

async function until(what: string, f: () => Promise<boolean>, ms = 180_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

execFileSync('bash', [join(ROOT, 'scripts/build-test-images.sh')], { stdio: 'ignore' });
const probe = http.createServer().listen(0);
await new Promise((r) => probe.once('listening', r));
const port = (probe.address() as AddressInfo).port;
probe.close();
const c = await new Cluster().up(['--http-port', String(port), '--https-port', '0']);
try {
  await c.cli(['image', 'import', join(ROOT, 'build/images/busybox'), '--name', 'localhost/busybox:1.0']);
  const greeter = wasm('greeter');
  const applied = await c.kubectl(['apply', '-f', '-'], {
    input: `apiVersion: v1
kind: Namespace
metadata: { name: knative-serving }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: config-autoscaler, namespace: knative-serving }
data: { stable-window: 6s, scale-to-zero-grace-period: 1s }
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: { name: greeter }
spec:
  template:
    spec:
      runtimeClassName: wasm
      containers: [{ image: ${greeter} }]
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: { name: web }
spec:
  template:
    spec:
      runtimeClassName: container
      containers:
        - image: localhost/busybox:1.0
          command: [sh, -c, 'mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p $PORT -h /www']
`,
  });
  if (applied.code !== 0) throw new Error(applied.stderr);
  const json = async (args: string[]) => JSON.parse((await c.kubectl([...args, '-o', 'json'])).stdout);
  const isReady = async (name: string) =>
    (await json(['get', 'ksvc', name])).status?.conditions?.some(
      (x: any) => x.type === 'Ready' && x.status === 'True',
    );
  await until('greeter ready', () => isReady('greeter'));
  await until('web ready', () => isReady('web'));
  const wasmHost = 'greeter.default.strata.local';
  const webHost = 'web.default.strata.local';
  await until('greeter routed', async () => (await get(port, wasmHost)).status === 200);

  // 1. wasm: each request alone (0 instances before it), vs raw node:wasi.
  const wasmCold: number[] = [];
  for (let i = 0; i < WASM_N; i++) {
    wasmCold.push((await get(port, wasmHost, '/?name=bench')).ms);
    await sleep(20);
  }
  const raw = await rawWasiStart(greeter, WASM_N);
  // Warm: back to back on a kept-alive connection (other instances still finishing).
  const wasmWarm: number[] = [];
  for (let i = 0; i < WASM_N; i++) wasmWarm.push((await get(port, wasmHost, '/?name=bench')).ms);

  // 2. container: cold from 0 pods, then warm.
  const containerCold: number[] = [];
  const replicas = async () => (await json(['get', 'deployment', 'web-00001-deployment'])).spec.replicas;
  const pods = async () =>
    (await json(['get', 'pods', '-l', 'serving.knative.dev/revision=web-00001'])).items.length;
  for (let r = 0; r < CONTAINER_ROUNDS; r++) {
    await until('web at zero', async () => (await replicas()) === 0 && (await pods()) === 0);
    const res = await get(port, webHost);
    if (res.status !== 200) throw new Error(`cold request: ${res.status}`);
    containerCold.push(res.ms);
  }
  const containerWarm: number[] = [];
  for (let i = 0; i < 100; i++) containerWarm.push((await get(port, webHost)).ms);

  // 3. throughput at c64: the gateway + WAGI vs a plain Node server instantiating the module per request.
  const gwRps = await load(port, wasmHost, '/?name=bench', LOAD_N, 64);
  const { WASI } = await import('node:wasi');
  const { readFileSync, openSync } = await import('node:fs');
  const Wasm = (globalThis as any).WebAssembly;
  const module = await Wasm.compile(readFileSync(greeter));
  const devNull = openSync('/dev/null', 'w');
  const plain = http.createServer((req, res) => {
    const w = new WASI({
      version: 'preview1',
      args: ['greeter', 'name=bench'],
      env: { REQUEST_METHOD: 'GET', PATH_INFO: '/', QUERY_STRING: 'name=bench' },
      stdout: devNull,
    });
    const inst = new Wasm.Instance(module, w.getImportObject());
    w.start(inst as never);
    res.end('hello, bench\n');
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  const plainRps = await load((plain.address() as AddressInfo).port, 'x', '/', LOAD_N, 64);
  plain.close();

  const wc = summarize(wasmCold);
  const rw = summarize(raw);
  printTable('functions: one request at a time (ms)', [
    {
      name: 'wasm function, 0 instances before each request',
      s: wc,
      extra: `${(wc.p50 / rw.p50).toFixed(1)}× raw`,
    },
    { name: 'baseline: raw node:wasi instantiate + start', s: rw },
    { name: 'wasm function, back to back', s: summarize(wasmWarm) },
    { name: 'container function, cold (0 pods → answer)', s: summarize(containerCold) },
    { name: 'container function, warm', s: summarize(containerWarm) },
  ]);
  console.log(
    `warm wasm at c64: gateway + WAGI ${gwRps.toFixed(0)} req/s; plain Node server (node:wasi per request) ${plainRps.toFixed(0)} req/s (${(gwRps / plainRps).toFixed(2)}×)`,
  );
} finally {
  agent.destroy();
  await c.stop();
}
