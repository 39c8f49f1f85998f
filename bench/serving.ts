// Functions (Knative Services) on a real single-node cluster (`strata up`, as root), each beside a baseline
// measured in the same run:
//   1. wasm function (the WAGI greeter): requests one at a time with a pause between them, so no instance
//      is alive before each (every request is a cold instantiate from the cached compiled module), then
//      back to back ("warm"), vs the floor: raw node:wasi instantiate + start of the same module on this
//      thread (bench/lib).
//   2. container function (busybox httpd): cold = a request at 0 pods (held by the activator while the
//      autoscaler scales 0 → 1 and the pod starts) to the response, with where the time went (watched
//      from the API: held report, replicas, pod created, scheduled, IP, running, Ready, endpoint ready);
//      warm = requests with the pod up; vs `runc run -d` of the same busybox rootfs serving httpd on the
//      host network until its first response byte (no API, no pod network).
//   3. warm wasm throughput at concurrency 64 through the gateway vs a plain Node HTTP server doing the
//      same work (node:wasi instantiate + start of the module per request) in this process.
//   4. scale-up reaction: a container function at 1 pod (min-scale) gets a step of 8 concurrent
//      one-second requests (target 1, max-scale 4): time to the autoscaler's decision (replicas > 1) and to
//      the added pods being ready.
// Windows are shortened through config-autoscaler (stable window 6 s, grace 1 s) so cold rounds are quick.
//
//   node bench/serving.ts [WASM_N=100] [CONTAINER_ROUNDS=5] [LOAD_N=3000]
//   SERVING_BENCH_WASM_ONLY=1: only the wasm rows (1 and 3), for a quick look at the wasm request path.
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { START_TIMING_MESSAGE } from '../src/agent/start-timing.ts';
import { kindFor, type KindInfo } from '../src/api/index.ts';
import { which } from '../src/lib/command.ts';
import { freePort } from '../src/lib/free-port.ts';
import { buildRuntimeSpec, nofileLimit } from '../src/sandbox/container/bundle.ts';
import { cgroupDirs, detectCgroups } from '../src/sandbox/container/cgroups.ts';
import { readImageConfig } from '../src/sandbox/container/image-config.ts';
import { resolveUser } from '../src/sandbox/container/user.ts';
import { Cluster, ROOT, wasm } from '../test/e2e/harness.ts';
import { fmt, printTable, summarize } from './lib/stats.ts';
import { rawWasiStart } from './lib/wasm-start-raw.ts';

const WASM_N = Number(process.argv[2] ?? 100);
const CONTAINER_ROUNDS = Number(process.argv[3] ?? 5);
const LOAD_N = Number(process.argv[4] ?? 3000);
const RUNC_ROUNDS = 10;
const WASM_ONLY = Boolean(process.env.SERVING_BENCH_WASM_ONLY);
if (process.getuid?.() !== 0) throw new Error('bench serving needs root (container tier)');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function get(
  port: number,
  host: string,
  path = '/',
  a: http.Agent = agent,
): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host }, agent: a }, (res) => {
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

const K = {
  pod: kindFor('v1', 'Pod')!,
  deployment: kindFor('apps/v1', 'Deployment')!,
  slice: kindFor('discovery.k8s.io/v1', 'EndpointSlice')!,
  revision: kindFor('serving.knative.dev/v1', 'Revision')!,
};

// The container cold path's milestones, in the order a cold request passes them.
const STEPS = [
  'held reported',
  'replicas 0 → 1',
  'pod created',
  'pod scheduled',
  'pod IP',
  'container running',
  'pod Ready',
  'endpoint ready',
  'response',
] as const;
type Step = (typeof STEPS)[number];

/** Watches the API and stamps each milestone the first time it is seen after `arm()`. */
class ColdPathWatch {
  private t0 = 0;
  private stamps = new Map<Step, number>();
  private readonly cancels: Array<{ cancel(): void }> = [];

  arm(): void {
    this.t0 = performance.now();
    this.stamps = new Map();
  }

  mark(step: Step): void {
    if (this.t0 && !this.stamps.has(step)) this.stamps.set(step, performance.now() - this.t0);
  }

  result(): Map<Step, number> {
    return this.stamps;
  }

  async start(c: Cluster, revision: string): Promise<void> {
    const w = (kind: KindInfo, q: { labelSelector?: string; fieldSelector?: string }, f: (o: any) => void) =>
      c.client.watch(kind, 'default', q, (ev) => {
        if (ev.type !== 'ERROR' && this.t0) f(ev.object);
      });
    this.cancels.push(
      await w(K.revision, { fieldSelector: `metadata.name=${revision}` }, (r) => {
        for (const [k, v] of Object.entries<string>(r.metadata.annotations ?? {}))
          if (k.startsWith('stats.serving.strata.dev/') && JSON.parse(v).held > 0) this.mark('held reported');
      }),
      await w(K.deployment, { fieldSelector: `metadata.name=${revision}-deployment` }, (d) => {
        if ((d.spec.replicas ?? 0) > 0) this.mark('replicas 0 → 1');
      }),
      await w(K.pod, { labelSelector: `serving.knative.dev/revision=${revision}` }, (p) => {
        if (p.metadata.deletionTimestamp) return;
        this.mark('pod created');
        if (p.spec.nodeName) this.mark('pod scheduled');
        if (p.status?.podIP) this.mark('pod IP');
        if (p.status?.containerStatuses?.some((s: any) => s.state?.running)) this.mark('container running');
        if (p.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True'))
          this.mark('pod Ready');
      }),
      await w(K.slice, { labelSelector: `kubernetes.io/service-name=${revision}` }, (s) => {
        if ((s.endpoints ?? []).some((e: any) => e.conditions?.ready)) this.mark('endpoint ready');
      }),
    );
  }

  stop(): void {
    for (const c of this.cancels) c.cancel();
  }
}

/**
 * The agent's own account of each container start of pods whose name starts with `podPrefix` (its
 * "container start timing" log lines, src/agent/start-timing.ts): step → milliseconds, per start.
 */
function agentStartTimings(logFile: string, podPrefix: string): Array<Record<string, number>> {
  const out: Array<Record<string, number>> = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes(START_TIMING_MESSAGE)) continue;
    const rec = JSON.parse(line);
    if (!String(rec.pod).startsWith(podPrefix)) continue;
    const parts: Record<string, number> = {};
    for (const [group, p] of Object.entries<Record<string, number>>(rec.parts ?? {}))
      for (const [k, v] of Object.entries(p)) parts[`${group}: ${k}`] = v;
    out.push({ ...rec.steps, ...parts, total: rec.totalMs });
  }
  return out;
}

/**
 * The floor, one sample per call: node:wasi on this thread, the module compiled once, a fresh WASI +
 * instance + start each time (as rawWasiStart, bench/lib, which only runs back to back).
 */
async function rawWasiInstance(wasmPath: string): Promise<() => number> {
  const { WASI } = await import('node:wasi');
  const Wasm = (globalThis as any).WebAssembly;
  const module = new Wasm.Module(readFileSync(wasmPath));
  const devNull = openSync('/dev/null', 'r+');
  return () => {
    const t0 = performance.now();
    const wasi = new WASI({
      version: 'preview1',
      args: ['greeter.wasm'],
      env: {},
      returnOnExit: true,
      stdin: devNull,
      stdout: devNull,
      stderr: devNull,
    });
    wasi.start(new Wasm.Instance(module, wasi.getImportObject()));
    return performance.now() - t0;
  };
}

// --- baseline: runc run -d of the same busybox rootfs serving httpd, until its first response byte -----

async function runcHttpd(rounds: number): Promise<number[]> {
  execFileSync('bash', [join(ROOT, 'scripts/build-test-rootfs.sh')], { stdio: 'ignore' });
  const rootfs = join(ROOT, 'build/rootfs/busybox/rootfs');
  const work = mkdtempSync(join(tmpdir(), 'strata-bench-serving-'));
  const runcRoot = join('/run', `strata-bench-serving-${process.pid}`);
  const runc = which('runc');
  if (!runc) throw new Error('runc not found');
  const samples: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const port = await freePort('127.0.0.1');
      const bundle = join(work, `b${i}`);
      mkdirSync(bundle, { recursive: true });
      for (const f of ['hosts', 'hostname', 'resolv.conf']) writeFileSync(join(bundle, f), '');
      const args = [
        '/bin/sh',
        '-c',
        `mkdir -p /dev/shm/www && echo hi > /dev/shm/www/index.html && exec httpd -f -p 127.0.0.1:${port} -h /dev/shm/www`,
      ];
      const spec = {
        id: `runc-${i}`,
        podUid: `runc-${i}`,
        podName: 'bench',
        namespace: 'default',
        containerName: 'main',
        image: rootfs,
        args,
        env: {},
        mounts: [],
        limits: {},
        log: { write() {} },
      };
      const oci = buildRuntimeSpec({
        spec,
        options: {},
        image: readImageConfig(rootfs),
        rootfs,
        user: resolveUser(rootfs, undefined),
        cgroupsPath: `/strata-bench-serving/runc-${i}`,
        hostname: 'bench',
        etcFiles: {
          hosts: join(bundle, 'hosts'),
          hostname: join(bundle, 'hostname'),
          resolvConf: join(bundle, 'resolv.conf'),
        },
        initBinary: which('catatonit'),
        nofile: nofileLimit(),
      }) as any;
      // The host's network (no pod network to set up): what runc alone costs to first byte.
      oci.linux.namespaces = oci.linux.namespaces.filter((n: any) => n.type !== 'network');
      for (const k of Object.keys(oci.linux.sysctl ?? {}))
        if (k.startsWith('net.')) delete oci.linux.sysctl[k];
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(oci));
      const t0 = performance.now();
      const child = spawn(runc, ['--root', runcRoot, 'run', '--detach', '--bundle', bundle, `srv-${i}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      let failed = false;
      child.stderr!.on('data', (d) => (stderr += d));
      const exited = new Promise((r) => child.once('exit', r).once('error', r));
      child.once('exit', (code) => (failed = code !== 0));
      const direct = new http.Agent({ keepAlive: false });
      for (;;) {
        const ok = await get(port, 'x', '/index.html', direct).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) break;
        if (failed || performance.now() - t0 > 30_000)
          throw new Error(`runc httpd never answered: ${stderr}`);
        await sleep(2);
      }
      samples.push(performance.now() - t0);
      await exited;
      execFileSync(runc, ['--root', runcRoot, 'delete', '--force', `srv-${i}`], { stdio: 'ignore' });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(runcRoot, { recursive: true, force: true });
    // runc leaves the parent cgroup (and, killed, a child): remove what this run created.
    for (const dir of cgroupDirs(detectCgroups(), '/strata-bench-serving'))
      for (const d of [...Array.from({ length: rounds }, (_, i) => join(dir, `runc-${i}`)), dir])
        if (existsSync(d))
          try {
            rmdirSync(d);
          } catch {
            // busy or not ours
          }
  }
  return samples;
}

if (process.env.SERVING_BENCH_BASELINE_ONLY) {
  console.log(summarize(await runcHttpd(RUNC_ROUNDS)));
  process.exit(0);
}

execFileSync('bash', [join(ROOT, 'scripts/build-test-images.sh')], { stdio: 'ignore' });
const port = await freePort('0.0.0.0');
const c = await new Cluster().up(['--http-port', String(port), '--https-port', '0']);
const watch = new ColdPathWatch();
try {
  if (!WASM_ONLY) {
    const imported = await c.cli([
      'image',
      'import',
      join(ROOT, 'build/images/busybox'),
      '--name',
      'localhost/busybox:1.0',
    ]);
    if (imported.code !== 0) throw new Error(`image import: ${imported.stderr}`);
  }
  const greeter = wasm('greeter');
  const CGI = `#!/bin/sh\nsleep 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho ok\n`;
  const wasmManifest = `apiVersion: v1
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
`;
  const containerManifest = `apiVersion: serving.knative.dev/v1
kind: Service
metadata: { name: web }
spec:
  template:
    spec:
      runtimeClassName: container
      containers:
        - image: localhost/busybox:1.0
          command: [sh, -c, 'mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p $PORT -h /www']
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: { name: steps }
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
        autoscaling.knative.dev/max-scale: "4"
        autoscaling.knative.dev/target: "1"
    spec:
      runtimeClassName: container
      containers:
        - image: localhost/busybox:1.0
          env: [{ name: APP, value: ${JSON.stringify(CGI)} }]
          command: [sh, -c, 'mkdir -p /www/cgi-bin && printf "%s" "$APP" > /www/cgi-bin/app && chmod +x /www/cgi-bin/app && exec httpd -f -p $PORT -h /www']
`;
  const applied = await c.kubectl(['apply', '--validate=false', '-f', '-'], {
    input: WASM_ONLY ? wasmManifest : `${wasmManifest}---\n${containerManifest}`,
  });
  if (applied.code !== 0) throw new Error(applied.stderr);
  const json = async (args: string[]) => JSON.parse((await c.kubectl([...args, '-o', 'json'])).stdout);
  const readyWhy = async (name: string): Promise<boolean> => {
    const s = await json(['get', 'ksvc', name]);
    return s.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True');
  };
  for (const name of WASM_ONLY ? ['greeter'] : ['greeter', 'web', 'steps']) {
    await until(`${name} ready`, () => readyWhy(name)).catch(async (err) => {
      const rev = await json(['get', 'revisions']).catch(() => ({}));
      const pods = await c.kubectl(['get', 'pods', '-o', 'wide']);
      throw new Error(
        `${(err as Error).message}\n${JSON.stringify(rev.items?.map((r: any) => r.status))}\n${pods.stdout}`,
      );
    });
  }
  const wasmHost = 'greeter.default.strata.local';
  const webHost = 'web.default.strata.local';
  // The function's first request ever reaching its host pod (404s before the gateway knows the route are
  // instant and not counted): what a first request after scale-to-zero costs on a fresh node.
  let firstWasm = NaN;
  await until('greeter routed', async () => {
    const r = await get(port, wasmHost);
    if (r.status === 200) firstWasm = r.ms;
    return r.status === 200;
  });
  console.log(`wasm function: first request answered in ${fmt(firstWasm)}`);

  // 1. wasm: each request alone (0 instances before it), vs raw node:wasi — back to back (the floor), and
  // after the same 20 ms pause as each request (what idling costs on this machine: caches and the
  // scheduler, not Strata), interleaved with the requests so both see the same load.
  const rawOnce = await rawWasiInstance(greeter);
  const wasmCold: number[] = [];
  const rawPaused: number[] = [];
  // What any request through the agent's gateway costs after the same pause, with no backend at all: a
  // host it has no route for, answered 404 at once (this machine's HTTP round trip plus the gateway).
  const noRoute: number[] = [];
  for (let i = 0; i < WASM_N; i++) {
    await sleep(20);
    wasmCold.push((await get(port, wasmHost, '/?name=bench')).ms);
    await sleep(20);
    rawPaused.push(rawOnce());
    await sleep(20);
    const miss = await get(port, 'no-such-function.default.strata.local');
    if (miss.status !== 404) throw new Error(`unknown host answered ${miss.status}, not 404`);
    noRoute.push(miss.ms);
  }
  const raw = await rawWasiStart(greeter, WASM_N);
  // Warm: back to back on a kept-alive connection.
  const wasmWarm: number[] = [];
  for (let i = 0; i < WASM_N; i++) wasmWarm.push((await get(port, wasmHost, '/?name=bench')).ms);
  const wc = summarize(wasmCold);
  const ww = summarize(wasmWarm);
  const rw = summarize(raw);
  const rp = summarize(rawPaused);
  const nr = summarize(noRoute);
  printTable('wasm function: one request at a time (ms)', [
    {
      name: 'wasm function, 0 instances before each request',
      s: wc,
      extra: `${(wc.p50 / rw.p50).toFixed(1)}× raw, ${(wc.p50 / ww.p50).toFixed(2)}× warm`,
    },
    { name: 'baseline: raw node:wasi instantiate + start', s: rw },
    {
      name: 'baseline: raw node:wasi, 20 ms pause before each (as the cold requests)',
      s: rp,
      extra: `cold request ${(wc.p50 / rp.p50).toFixed(1)}× this`,
    },
    {
      name: 'baseline: gateway 404 for an unknown host, 20 ms pause before each (HTTP + gateway, no backend)',
      s: nr,
      extra: `cold request − this = ${fmt(wc.p50 - nr.p50)}`,
    },
    { name: 'wasm function, back to back (warm)', s: ww, extra: `${(ww.p50 / rw.p50).toFixed(1)}× raw` },
  ]);

  if (!WASM_ONLY) {
    // 2. container: cold from 0 pods (with the steps), then warm.
    const containerCold: number[] = [];
    const steps = new Map<Step, number[]>();
    const replicas = async () => (await json(['get', 'deployment', 'web-00001-deployment'])).spec.replicas;
    const pods = async () =>
      (await json(['get', 'pods', '-l', 'serving.knative.dev/revision=web-00001'])).items.length;
    await watch.start(c, 'web-00001');
    for (let r = 0; r < CONTAINER_ROUNDS; r++) {
      await until('web at zero', async () => (await replicas()) === 0 && (await pods()) === 0);
      await sleep(500); // the scale-down's last events settle before the clock starts
      watch.arm();
      const res = await get(port, webHost, '/', new http.Agent({ keepAlive: false }));
      watch.mark('response');
      if (res.status !== 200) throw new Error(`cold request: ${res.status}`);
      containerCold.push(res.ms);
      for (const [k, v] of watch.result()) steps.set(k, [...(steps.get(k) ?? []), v]);
      console.log(
        `cold round ${r + 1}: ${res.ms.toFixed(0)} ms — ${STEPS.map((s) => `${s} ${watch.result().get(s)?.toFixed(0) ?? '?'}`).join(', ')}`,
      );
    }
    watch.stop();
    const timings = agentStartTimings(join(c.dataDir, 'strata.log'), 'web-00001-');
    console.log(
      `\n### the agent's container start, step by step (${timings.length} starts, from its "${START_TIMING_MESSAGE}" log lines)\n`,
    );
    console.log('| step | p50 | max |');
    console.log('|---|---:|---:|');
    for (const step of [...new Set(timings.flatMap((t) => Object.keys(t)))]) {
      const v = timings.map((t) => t[step]).filter((x) => x !== undefined);
      console.log(`| ${step} | ${fmt(summarize(v).p50)} | ${fmt(summarize(v).max)} |`);
    }
    const containerWarm: number[] = [];
    for (let i = 0; i < 100; i++) containerWarm.push((await get(port, webHost)).ms);
    const runc = await runcHttpd(RUNC_ROUNDS);
    const cc = summarize(containerCold);
    const rc = summarize(runc);
    printTable('container function (ms)', [
      {
        name: 'container function, cold (0 pods → response)',
        s: cc,
        extra: `${(cc.p50 / rc.p50).toFixed(1)}× runc run`,
      },
      { name: 'baseline: runc run -d, httpd, host network → first response', s: rc },
      { name: 'container function, warm', s: summarize(containerWarm) },
    ]);
    console.log('\n### container cold path: when each step was seen (ms after the request, over rounds)\n');
    console.log('| step | p50 | max |');
    console.log('|---|---:|---:|');
    for (const s of STEPS) {
      const v = steps.get(s);
      if (v) console.log(`| ${s} | ${fmt(summarize(v).p50)} | ${fmt(summarize(v).max)} |`);
    }
  }
  // 3. throughput at c64: the gateway + WAGI vs a plain Node server instantiating the module per request.
  const gwRps = await load(port, wasmHost, '/?name=bench', LOAD_N, 64);
  const { WASI } = await import('node:wasi');
  const Wasm = (globalThis as any).WebAssembly;
  const module = await Wasm.compile(readFileSync(greeter));
  const devNull = openSync('/dev/null', 'w');
  const plain = http.createServer((_req, res) => {
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
  console.log(
    `\nwarm wasm at c64: gateway + WAGI ${gwRps.toFixed(0)} req/s; plain Node server (node:wasi per request) ${plainRps.toFixed(0)} req/s (${(gwRps / plainRps).toFixed(2)}×)`,
  );
  if (!WASM_ONLY) {
    // 4. scale-up reaction to a step load: 8 clients of 1-second requests on a revision at 1 pod, target 1.
    const stepsDeploy = async () => json(['get', 'deployment', 'steps-00001-deployment']);
    await until('steps at 1 ready pod', async () => (await stepsDeploy()).status?.readyReplicas === 1);
    const s0 = performance.now();
    let decided = NaN;
    let twoReady = NaN;
    let allReady = NaN;
    const stepEnd = Date.now() + 15_000;
    const clients = Array.from({ length: 8 }, async () => {
      while (Date.now() < stepEnd) {
        const r = await get(port, 'steps.default.strata.local', '/cgi-bin/app');
        if (r.status !== 200) throw new Error(`step load: ${r.status}`);
      }
    });
    const observer = (async () => {
      while (Date.now() < stepEnd) {
        const d = await stepsDeploy();
        const t = performance.now() - s0;
        if (Number.isNaN(decided) && d.spec.replicas > 1) decided = t;
        if (Number.isNaN(twoReady) && (d.status?.readyReplicas ?? 0) >= 2) twoReady = t;
        if (Number.isNaN(allReady) && d.spec.replicas > 1 && d.status?.readyReplicas === d.spec.replicas)
          allReady = t;
        await sleep(50);
      }
    })();
    await Promise.all([...clients, observer]);

    console.log(
      `scale-up under a step load (1 → 8 concurrent 1 s requests, target 1, max 4): decision (replicas > 1) after ${fmt(decided)}, 2 pods ready after ${fmt(twoReady)}, all ready after ${fmt(allReady)}`,
    );
  }
} catch (err) {
  // What the node was doing when the run failed (its log goes with the cluster's directory).
  console.error(c.output().split('\n').slice(-80).join('\n'));
  throw err;
} finally {
  watch.stop();
  agent.destroy();
  await c.stop();
}
