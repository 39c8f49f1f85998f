// ClusterIP data path and rule programming, each beside its baseline in this run.
//
// 1. Data path: Debian's `wrk` (its own process, on the node) against a Node HTTP server in a pod made by
//    the real PodNetwork (own bridge and range), straight to the pod IP (the baseline) and through a
//    cluster IP programmed by the real ServiceDataPlane (own nftables table) — keep-alive connections
//    (the per-packet cost of the table) and one connection per request (`Connection: close`: every
//    request is a new conntrack entry and a DNAT decision). Rounds alternate to spread machine noise.
// 2. Rule programming: a table of N Services × 3 endpoints (N = 1,000 and 5,000), the first (full) sync
//    and then single changes (one Service's endpoints replaced): the time until the kernel has the
//    change, by a partial sync (the data plane's way) and, interleaved, by a full rewrite of the table
//    (the baseline: kube-proxy's iptables mode rewrites everything each sync). The goal is a per-change
//    cost that stays flat as N grows.
//
//   npm run bench -- clusterip [SECONDS=4] [ROUNDS=3] [data|rules]   (root, nft, wrk: apt-get install wrk)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndpointSlice, Service } from '../src/api/index.ts';
import { run, which } from '../src/lib/command.ts';
import { PodNetwork } from '../src/net/pod-network.ts';
import { ServiceDataPlane } from '../src/net/services/data-plane.ts';
import { fmt, summarize } from './lib/stats.ts';

const SECONDS = Number(process.argv[2] ?? 4);
const ROUNDS = Number(process.argv[3] ?? 3);
/** `data` or `rules` to run one part only. */
const PART = process.argv[4];
if (process.getuid?.() !== 0) throw new Error('clusterip needs root');
for (const tool of ['nft', 'wrk', 'ip'])
  if (!which(tool))
    throw new Error(`${tool} not found (apt-get install ${tool === 'nft' ? 'nftables' : tool})`);

const tag = String(process.pid % 1000);
const net3 = 40 + (process.pid % 200);
const opts = {
  bridge: `stbn${tag}`,
  subnet: `10.92.${net3}.0/24`,
  chainPrefix: `STBN${tag}`,
  netnsPrefix: `stbn${tag}-`,
  vethPrefix: 'stbn',
};
const serviceCidr = `10.98.${net3}.0/24`;
const vip = `10.98.${net3}.10`;
const dir = mkdtempSync(join(tmpdir(), 'strata-bench-clusterip-'));
const net = new PodNetwork({ stateDir: join(dir, 'state'), ...opts });
const plane = new ServiceDataPlane({
  table: `stbn${tag}`,
  clusterCidr: opts.subnet,
  serviceCidr,
  nodeName: 'n1',
});
const rulesPlane = new ServiceDataPlane({ table: `stbnrules${tag}`, nodeName: 'n1' });
let server: ChildProcess | undefined;

function service(name: string, ip: string, port = 80, targetPort = 8080): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {
      type: 'ClusterIP',
      clusterIP: ip,
      sessionAffinity: 'None',
      ports: [{ name: 'http', protocol: 'TCP', port, targetPort }],
    },
  } as Service;
}

function slice(svc: string, ips: string[], port = 8080): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({
      addresses: [ip],
      conditions: { ready: true, serving: true, terminating: false },
    })),
    ports: [{ name: 'http', protocol: 'TCP', port }],
  };
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
}

/** wrk's requests/s and latency percentiles (ms) from its --latency report. */
function wrk(url: string, close: boolean): WrkResult {
  const args = ['-t', '2', '-c', '16', '-d', `${SECONDS}s`, '--latency'];
  if (close) args.push('-H', 'Connection: close');
  const out = execFileSync('wrk', [...args, url], { encoding: 'utf8' });
  const ms = (label: string) => {
    const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    if (!m) throw new Error(`wrk printed no ${label}% latency:\n${out}`);
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rps) throw new Error(`wrk printed no Requests/sec:\n${out}`);
  const errors = /Socket errors: (.*)/.exec(out);
  if (errors) console.warn(`  (${url}${close ? ', close' : ''}: socket errors ${errors[1]})`);
  return { rps: Number(rps[1]), p50: ms('50'), p99: ms('99') };
}

async function dataPath(): Promise<void> {
  const { ip } = await net.setup('srv');
  // A keep-alive HTTP server in the pod's network namespace (Node: wrk would saturate busybox httpd's fork per request first).
  server = spawn(
    'ip',
    [
      'netns',
      'exec',
      `${opts.netnsPrefix}srv`,
      process.execPath,
      '-e',
      "require('http').createServer((q, r) => r.end('ok')).listen(8080)",
    ],
    { stdio: 'ignore' },
  );
  await run('ip', ['route', 'add', serviceCidr, 'dev', opts.bridge]);
  await plane.reconcile([service('web', vip)], [slice('web', [ip])]);
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://${vip}/`, { signal: AbortSignal.timeout(1000) });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  console.log(
    `\n### ClusterIP data path (wrk -t2 -c16, ${SECONDS} s × ${ROUNDS} rounds each, Node HTTP server in a pod)\n`,
  );
  console.log('| connections | target | requests/s (median) | p50 latency | p99 latency | vs pod IP |');
  console.log('|---|---|---:|---:|---:|---|');
  for (const close of [false, true]) {
    const direct: WrkResult[] = [];
    const viaVip: WrkResult[] = [];
    wrk(`http://${ip}:8080/`, close); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      direct.push(wrk(`http://${ip}:8080/`, close));
      viaVip.push(wrk(`http://${vip}/`, close));
    }
    const med = (xs: WrkResult[], k: keyof WrkResult) => summarize(xs.map((x) => x[k])).p50;
    const mode = close ? 'new per request' : 'keep-alive';
    const d = { rps: med(direct, 'rps'), p50: med(direct, 'p50'), p99: med(direct, 'p99') };
    const v = { rps: med(viaVip, 'rps'), p50: med(viaVip, 'p50'), p99: med(viaVip, 'p99') };
    console.log(`| ${mode} | pod IP (baseline) | ${d.rps.toFixed(0)} | ${fmt(d.p50)} | ${fmt(d.p99)} | |`);
    console.log(
      `| ${mode} | cluster IP | ${v.rps.toFixed(0)} | ${fmt(v.p50)} | ${fmt(v.p99)} | ` +
        `${(v.rps / d.rps).toFixed(3)}× throughput, ${v.p50 - d.p50 >= 0 ? '+' : ''}${(v.p50 - d.p50).toFixed(3)} ms p50 |`,
    );
  }
}

/** N Services × 3 endpoints in ranges of their own (never routed: rules only). */
function fleet(n: number): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < n; i++) {
    services.push(service(`s${i}`, `10.${112 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`));
    slices.push(endpointsOf(i, 0));
  }
  return { services, slices };
}

function endpointsOf(i: number, generation: number): EndpointSlice {
  return slice(
    `s${i}`,
    [0, 1, 2].map((k) => `10.${64 + k}.${(i >> 8) & 255}.${(i + generation) & 255}`),
  );
}

/**
 * What any `nft -f -` costs on this host now, whatever the change: one element added to a set in a
 * table of its own (nft's start, its cache dump of every chain of every table, the kernel's commit).
 */
async function nftFloor(): Promise<number> {
  const t = `stbnfloor${tag}`;
  await run('nft', ['-f', '-'], { input: `add table ip ${t}\nadd set ip ${t} s { type ipv4_addr; }\n` });
  const t0 = performance.now();
  await run('nft', ['-f', '-'], { input: `add element ip ${t} s { 10.0.0.1 }\n` });
  const ms = performance.now() - t0;
  await run('nft', ['delete', 'table', 'ip', t]);
  return ms;
}

async function ruleProgramming(): Promise<void> {
  console.log(
    "\n### Rule programming (N Services × 3 endpoints; one change = one Service's endpoints replaced)\n",
  );
  console.log(
    '| Services | first sync (full) | one change, partial: p50 | max | elements changed | chains written | one change, full rewrite (baseline): p50 | partial vs full | nft floor: p50 |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const n of [1000, 5000]) {
    await rulesPlane.teardown();
    rulesPlane.invalidate();
    const f = fleet(n);
    const full = await rulesPlane.reconcile(f.services, f.slices);
    let k = 0;
    // As the informers hand it over: one slice object replaced, every other object the same.
    const change = () => {
      const i = Math.floor(Math.random() * n);
      f.slices[i] = endpointsOf(i, ++k);
    };
    const partial: number[] = [];
    const rewrite: number[] = [];
    const floor: number[] = [];
    let elements = 0;
    let chains = 0;
    // Interleaved: a partial sync (what the data plane does), then a full rewrite of the whole table for
    // the next change (what kube-proxy's iptables mode does on every sync), and again.
    for (let round = 0; round < 5; round++) {
      change();
      const r = await rulesPlane.reconcile(f.services, f.slices);
      if (r.full) throw new Error('expected a partial sync');
      partial.push(r.ms);
      elements = r.elementsChanged;
      chains = r.chainsWritten;
      change();
      rulesPlane.invalidate();
      const w = await rulesPlane.reconcile(f.services, f.slices);
      if (!w.full) throw new Error('expected a full sync');
      rewrite.push(w.ms);
      floor.push(await nftFloor());
    }
    const s = summarize(partial);
    const b = summarize(rewrite);
    console.log(
      `| ${n.toLocaleString('en')} | ${fmt(full.ms)} | ${fmt(s.p50)} | ${fmt(s.max)} | ${elements} | ${chains} | ${fmt(b.p50)} | ${(s.p50 / b.p50).toFixed(3)}× | ${fmt(summarize(floor).p50)} |`,
    );
  }
}

try {
  if (PART !== 'rules') await dataPath();
  if (PART !== 'data') await ruleProgramming();
} finally {
  server?.kill('SIGKILL');
  await plane.teardown().catch(() => {});
  await rulesPlane.teardown().catch(() => {});
  await net.uninstall().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
