// Pod start with storage: a bare busybox pod beside the same pod with an init container and a
// PersistentVolumeClaim of the built-in local-path class (WaitForFirstConsumer: provisioned on the pod's
// node when it is scheduled — an ext4 image made and loop-mounted), on a real `strata up` started for
// this run with a pod network of its own. Time = pod created → its app container running (the API's
// containerStatuses[].state.running), rounds interleaved so machine noise hits both alike.
//
//   npm run bench -- pod-start-storage [ROUNDS=10]
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kindFor } from '../src/api/index.ts';
import { Client } from '../src/client/client.ts';
import { readKubeconfig } from '../src/client/kubeconfig.ts';
import { printTable, summarize } from './lib/stats.ts';

const ROUNDS = Number(process.argv[2] ?? 10);
const root = fileURLToPath(new URL('..', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'strata-bench-storage-'));
const kubeconfig = join(home, 'kubeconfig');
const strata = join(root, 'bin/strata');
const pods = kindFor('v1', 'Pod')!;
const claims = kindFor('v1', 'PersistentVolumeClaim')!;

if (process.getuid?.() !== 0) throw new Error('pod-start-storage needs root (container tier, loop mounts)');
execFileSync('bash', [join(root, 'scripts/build-test-images.sh')], { stdio: 'inherit' });

function cli(args: string[]): string {
  return execFileSync(strata, ['--kubeconfig', kubeconfig, ...args], {
    env: { ...process.env, STRATA_HOME: home },
    encoding: 'utf8',
  });
}

const up: ChildProcess = spawn(
  strata,
  [
    '--kubeconfig',
    kubeconfig,
    'up',
    '--data-dir',
    join(home, 'data'),
    '--port',
    '0',
    '--runtimes',
    'container',
    '--pod-bridge',
    'stbench0',
    '--pod-cidr',
    '10.190.0.0/16',
    '--service-cidr',
    '10.191.0.0/16',
  ],
  { env: { ...process.env, STRATA_HOME: home }, stdio: 'ignore' },
);

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

try {
  await until('kubeconfig', async () => existsSync(kubeconfig) || undefined);
  const conn = readKubeconfig(kubeconfig);
  const client = new Client({ server: conn.server, tls: conn.tls, token: conn.token });
  await until('node Ready', async () => {
    const nodes = (await client.list(kindFor('v1', 'Node')!, undefined)).items;
    return nodes.some((n: any) =>
      n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
    )
      ? true
      : undefined;
  });
  cli(['image', 'import', join(root, 'build/images/busybox'), '--name', 'localhost/busybox:1.0']);

  const app = { name: 'app', image: 'localhost/busybox:1.0', command: ['sleep', '3600'] };
  const bare = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { runtimeClassName: 'container', terminationGracePeriodSeconds: 0, containers: [app] },
  });
  const withStorage = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      runtimeClassName: 'container',
      terminationGracePeriodSeconds: 0,
      initContainers: [
        {
          name: 'init',
          image: 'localhost/busybox:1.0',
          command: ['sh', '-c', 'echo ready > /data/marker'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      containers: [{ ...app, volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: name } }],
    },
  });

  /** Created → the app container running; then the pod (and its claim) deleted and gone. */
  async function round(name: string, storage: boolean): Promise<number> {
    if (storage)
      await client.create(claims, {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } },
      });
    const t0 = performance.now();
    await client.create(pods, storage ? withStorage(name) : bare(name), 'default');
    await until(`${name} running`, async () => {
      const p = await client.get(pods, 'default', name);
      return p.status?.containerStatuses?.[0]?.state?.running ? true : undefined;
    });
    const ms = performance.now() - t0;
    await client.delete(pods, 'default', name, { gracePeriodSeconds: 0 });
    await until(`${name} gone`, async () => ((await client.find(pods, 'default', name)) ? undefined : true));
    if (storage) {
      await client.delete(claims, 'default', name);
      await until(`claim ${name} gone`, async () =>
        (await client.find(claims, 'default', name)) ? undefined : true,
      );
    }
    return ms;
  }

  await round('warm-bare', false);
  await round('warm-pvc', true);
  const bareMs: number[] = [];
  const pvcMs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    bareMs.push(await round(`bare-${i}`, false));
    pvcMs.push(await round(`pvc-${i}`, true));
  }
  const b = summarize(bareMs);
  const s = summarize(pvcMs);
  printTable(`Pod start, container tier (created → app container running), ${ROUNDS} rounds`, [
    { name: 'bare pod (baseline)', s: b },
    {
      name: 'init container + local-path PVC (64 MiB ext4, provisioned per round)',
      s,
      extra: `${(s.p50 / b.p50).toFixed(2)}× the bare pod's median`,
    },
  ]);
} finally {
  up.kill('SIGTERM');
  await new Promise((r) => up.once('exit', r));
  try {
    rmSync(home, { recursive: true, force: true });
  } catch (err) {
    console.error(`could not remove ${home}: ${(err as Error).message}`);
  }
}
