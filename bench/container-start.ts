// Container start: `/bin/true` in the busybox test rootfs through Strata's container driver (start() →
// running, and start() → wait() resolved), beside the same OCI bundle run by `runc run` (and by
// `runc create` + `runc start` for the "running" point), and `podman run --rm` of the same rootfs
// imported into a private podman store — all in this run, rounds interleaved so that machine noise
// hits every contender alike. Needs root, runc, conmon, catatonit; podman is optional.
//
//   npm run bench -- container-start [ROUNDS=30] [PODMAN_ROUNDS=ROUNDS]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { which } from '../src/lib/command.ts';
import { buildRuntimeSpec, nofileLimit } from '../src/sandbox/container/bundle.ts';
import { cgroupDirs, detectCgroups } from '../src/sandbox/container/cgroups.ts';
import { ContainerDriver } from '../src/sandbox/container/driver.ts';
import { readImageConfig } from '../src/sandbox/container/image-config.ts';
import { resolveUser } from '../src/sandbox/container/user.ts';
import type { SandboxSpec } from '../src/sandbox/driver.ts';
import { printTable, summarize } from './lib/stats.ts';
import { podEtcFiles } from '../src/net/pod-etc-files.ts';

const ROUNDS = Number(process.argv[2] ?? 30);
const PODMAN_ROUNDS = Number(process.argv[3] ?? ROUNDS);
const WARMUP = 3;
const root = fileURLToPath(new URL('..', import.meta.url));
const rootfs = join(root, 'build/rootfs/busybox/rootfs');
const work = mkdtempSync(join(tmpdir(), 'strata-bench-ctr-'));
const runcRoot = `/run/strata-bench-${process.pid}`;
const CG_DRIVER = 'strata-bench-driver';
const CG_RUNC = 'strata-bench-runc';
const CG_PODMAN = 'strata-bench-podman';

if (process.getuid?.() !== 0) throw new Error('container-start needs root');
for (const tool of ['runc', 'conmon', 'catatonit']) if (!which(tool)) throw new Error(`${tool} not found`);
execFileSync('bash', [join(root, 'scripts/build-test-rootfs.sh')], { stdio: 'inherit' });

/**
 * Runs a command to its exit; resolves with the wall time in ms (rejects on failure). 'exit', not
 * 'close': `runc create` leaves its init holding our stderr pipe until `runc start`.
 */
function timed(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      child.stderr!.destroy();
      if (code === 0) resolve(ms);
      else reject(new Error(`${cmd} ${args.join(' ')}: ${err}`));
    });
  });
}

// --- contenders ----------------------------------------------------------------------------------

const driver = new ContainerDriver({
  etcFiles: podEtcFiles(),
  stateDir: join(work, 'driver'),
  cgroupParent: CG_DRIVER,
  runDir: join(runcRoot, 'driver'),
});
let seq = 0;
async function driverRound(): Promise<{ running: number; exited: number }> {
  const id = `bench-${process.pid}-${seq++}`;
  const spec: SandboxSpec = {
    id,
    podUid: id,
    podName: 'bench',
    namespace: 'default',
    containerName: 'main',
    image: rootfs,
    args: ['/bin/true'],
    env: {},
    mounts: [],
    limits: {},
    log: { write() {} },
  };
  const t0 = performance.now();
  await driver.start(spec);
  const running = performance.now() - t0;
  const result = await driver.wait(id);
  const exited = performance.now() - t0;
  if (result.exitCode !== 0) throw new Error(`driver run failed: ${JSON.stringify(result)}`);
  await driver.destroy(id);
  return { running, exited };
}

// The bundle the driver writes for the same spec (same init, seccomp, mounts, limits), for runc alone.
const bundle = join(work, 'bundle');
mkdirSync(bundle, { recursive: true });
for (const f of ['hosts', 'hostname', 'resolv.conf']) writeFileSync(join(bundle, f), '');
const oci = buildRuntimeSpec({
  spec: {
    id: 'runc',
    podUid: 'runc',
    podName: 'bench',
    namespace: 'default',
    containerName: 'main',
    image: rootfs,
    args: ['/bin/true'],
    env: {},
    mounts: [],
    limits: {},
    log: { write() {} },
  },
  options: {},
  image: readImageConfig(rootfs),
  rootfs,
  user: resolveUser(rootfs, undefined),
  cgroupsPath: `/${CG_RUNC}/runc`,
  hostname: 'bench',
  etcFiles: {
    hosts: join(bundle, 'hosts'),
    hostname: join(bundle, 'hostname'),
    resolvConf: join(bundle, 'resolv.conf'),
  },
  initBinary: which('catatonit'),
  nofile: nofileLimit(),
});
writeFileSync(join(bundle, 'config.json'), JSON.stringify(oci));
const runc = which('runc')!;
const runcArgs = ['--root', join(runcRoot, 'raw')];
let runcSeq = 0;
const runcRun = () => timed(runc, [...runcArgs, 'run', '--bundle', bundle, `raw-${runcSeq++}`]);
async function runcCreateStart(): Promise<number> {
  const id = `cs-${runcSeq++}`;
  const t =
    (await timed(runc, [...runcArgs, 'create', '--bundle', bundle, id])) +
    (await timed(runc, [...runcArgs, 'start', id]));
  await timed(runc, [...runcArgs, 'delete', '--force', id]);
  return t;
}

// podman with a private store under the work dir; the rootfs imported from a tar, no downloads.
const podman = which('podman');
const podmanStore = join(work, 'podman');
const podmanGlobal = [
  '--root',
  join(podmanStore, 'root'),
  '--runroot',
  join(podmanStore, 'run'),
  '--cgroup-manager',
  'cgroupfs',
  '--events-backend',
  'file',
  '--runtime',
  'runc', // podman's default crun refuses this machine's hybrid cgroups
];
const podmanImage = 'localhost/strata-bench/busybox:latest';
if (podman) {
  execFileSync(
    'sh',
    ['-c', `tar -C '${rootfs}' -c . | '${podman}' ${podmanGlobal.join(' ')} import - ${podmanImage}`],
    { stdio: 'ignore' },
  );
}
const nofile = nofileLimit();
const podmanRun = () =>
  timed(podman!, [
    ...podmanGlobal,
    'run',
    '--rm',
    '--network',
    'none',
    '--cgroup-parent',
    `/${CG_PODMAN}`,
    // The defaults exceed what this process may grant (see PLATFORM-NOTES): pass them explicitly.
    '--ulimit',
    `nofile=${nofile}:${nofile}`,
    '--ulimit',
    'nproc=4096:4096',
    podmanImage,
    '/bin/true',
  ]);

// --- measurement ---------------------------------------------------------------------------------

const s = {
  driverRunning: [] as number[],
  driverExit: [] as number[],
  runcRun: [] as number[],
  runcCreateStart: [] as number[],
  podman: [] as number[],
};
try {
  for (let i = 0; i < WARMUP; i++) {
    await driverRound();
    await runcRun();
    await runcCreateStart();
    if (podman) await podmanRun();
  }
  for (let i = 0; i < ROUNDS; i++) {
    const d = await driverRound();
    s.driverRunning.push(d.running);
    s.driverExit.push(d.exited);
    s.runcRun.push(await runcRun());
    s.runcCreateStart.push(await runcCreateStart());
    if (podman && i < PODMAN_ROUNDS) s.podman.push(await podmanRun());
  }
} finally {
  await driver.shutdown();
  if (podman) {
    try {
      execFileSync(podman, [...podmanGlobal, 'rmi', '-a', '-f'], { stdio: 'ignore' });
      execFileSync(podman, [...podmanGlobal, 'system', 'reset', '-f'], { stdio: 'ignore' });
    } catch {
      // best effort: the store is removed below anyway
    }
  }
  rmSync(work, { recursive: true, force: true });
  rmSync(runcRoot, { recursive: true, force: true });
  // The runtimes leave parents (runc) and podman its conmon cgroup: remove what this run created.
  const layout = detectCgroups();
  for (const parent of [CG_DRIVER, CG_RUNC, `${CG_PODMAN}/conmon`, CG_PODMAN]) {
    for (const dir of cgroupDirs(layout, `/${parent}`)) {
      for (const sub of ['runc', '']) {
        const d = sub ? join(dir, sub) : dir;
        if (existsSync(d)) {
          try {
            rmdirSync(d);
          } catch {
            // busy or not ours to remove
          }
        }
      }
    }
  }
}

const dr = summarize(s.driverRunning);
const de = summarize(s.driverExit);
const rr = summarize(s.runcRun);
const rcs = summarize(s.runcCreateStart);
const pm = s.podman.length > 0 ? summarize(s.podman) : undefined;
printTable(`container start, /bin/true in the busybox rootfs (rounds interleaved, ${WARMUP} warm-up each)`, [
  { name: 'baseline: runc create + runc start (→ running)', s: rcs },
  {
    name: 'Strata driver start() → running (conmon + runc)',
    s: dr,
    extra: `${(dr.p50 / rcs.p50).toFixed(2)}× runc create+start`,
  },
  { name: 'baseline: runc run (start → exit)', s: rr },
  {
    name: 'Strata driver start() → exit seen by wait()',
    s: de,
    extra: `${(de.p50 / rr.p50).toFixed(2)}× runc run`,
  },
  ...(pm
    ? [
        {
          name: 'baseline: podman run --rm (start → exit)',
          s: pm,
          extra: `${(pm.p50 / de.p50).toFixed(1)}× Strata`,
        },
      ]
    : []),
]);
console.log(
  `\nStrata start→exit is ${(de.p50 / rr.p50).toFixed(2)}× raw runc (aim ≤ 1.5×)` +
    (pm ? `, podman is ${(pm.p50 / de.p50).toFixed(1)}× slower than Strata (p50)` : ', podman not installed'),
);
