// MicroVM start, in one run, rounds interleaved so that machine noise hits every contender alike:
//
//   strata microvm   the microvm driver: prepareArtifact() (image disk cached) + start() until the
//                    workload's first line reaches the log (the entrypoint runs) — what the agent does
//                    for a pod, minus the API round trips;
//   raw qemu         the same kernel, initramfs (with the same per-sandbox config), disk overlay and
//                    devices, QEMU started directly (no daemonize, cgroup, jail, tap) until the same
//                    line appears on the same port;
//   container tier   the container driver on the same image until the same line is logged.
//
// Then, once: per-VM memory beyond guest memory (QEMU's RSS by mapping, TCG translation cache counted)
// of an idle VM, and snapshot restore (`-incoming 'exec:cat F'`) of a booted, idle VM vs cold boot.
// Needs root, QEMU, the guest kernel (scripts/setup.sh), runc and conmon.
//
//   npm run bench -- microvm-start [ROUNDS=8]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageStore, importImage } from '../src/image/index.ts';
import { ContainerDriver } from '../src/sandbox/container/driver.ts';
import type { SandboxSpec } from '../src/sandbox/driver.ts';
import { MicrovmDriver } from '../src/sandbox/microvm/driver.ts';
import { qemuArgs, type VmLayout } from '../src/sandbox/microvm/qemu.ts';
import { readState } from '../src/sandbox/microvm/state.ts';
import { fmt, printTable, summarize } from './lib/stats.ts';
import { podEtcFiles } from '../src/net/pod-etc-files.ts';

const ROUNDS = Number(process.argv[2] ?? 8);
const MARKER = 'strata-bench-entrypoint';
const MEMORY_MIB = 128;
const TB_MIB = 64;
const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'strata-bench-mvm-'));
const runDir = `/run/strata-bench-${process.pid}`;

if (process.getuid?.() !== 0) throw new Error('microvm-start needs root');
execFileSync('bash', [join(root, 'scripts/build-test-images.sh')], { stdio: 'inherit' });
const store = new ImageStore(join(work, 'images'));
await importImage(store, join(root, 'build/images/busybox'), { name: 'busybox:1' });

const vm = new MicrovmDriver({
  etcFiles: podEtcFiles(),
  stateDir: join(work, 'microvm'),
  runDir: join(runDir, 'microvm'),
  images: store,
  accel: 'tcg',
  tbSizeMiB: TB_MIB,
});
const ctr = new ContainerDriver({
  etcFiles: podEtcFiles(),
  stateDir: join(work, 'containers'),
  images: store,
  cgroupParent: 'strata-bench-mvm-ctr',
  runDir: join(runDir, 'containers'),
});
const fp = await vm.fingerprint();
if (!fp.healthy) throw new Error(`microvm tier unusable: ${fp.reason}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(f: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(5);
  }
}

const command = ['sh', '-c', `echo ${MARKER}; exec sleep 600`];
let seq = 0;

function spec(
  id: string,
  image: string,
  args: string[],
  log: { seen: boolean },
  options?: object,
): SandboxSpec {
  return {
    id,
    podUid: id,
    podName: 'bench',
    namespace: 'default',
    containerName: 'main',
    image,
    args,
    env: {},
    mounts: [],
    limits: { memoryBytes: MEMORY_MIB * 1024 * 1024 },
    log: { write: (_s, chunk) => void (Buffer.from(chunk).toString().includes(MARKER) && (log.seen = true)) },
    ...(options ? { options } : {}),
  };
}

/** The driver, as the agent uses it. Leaves the VM for the caller to use, then destroy. */
async function strataRound(keep = false): Promise<{ ms: number; id: string }> {
  const id = `mvm-bench-${process.pid}-${seq++}`;
  const t0 = performance.now();
  const container = { name: 'main', image: 'busybox:1', command };
  const artifact = await vm.prepareArtifact({ sandboxId: id, container });
  const log = { seen: false };
  await vm.start(
    spec(
      id,
      artifact.image,
      artifact.args ?? [],
      log,
      vm.tierOptions({ sandboxId: id, container }, artifact),
    ),
  );
  await until(() => log.seen);
  const ms = performance.now() - t0;
  if (!keep) await vm.destroy(id);
  return { ms, id };
}

async function containerRound(): Promise<number> {
  const id = `ctr-bench-${process.pid}-${seq++}`;
  const t0 = performance.now();
  const container = { name: 'main', image: 'busybox:1', command };
  const artifact = await ctr.prepareArtifact({ sandboxId: id, container });
  const log = { seen: false };
  await ctr.start(
    spec(
      id,
      artifact.image,
      artifact.args ?? [],
      log,
      ctr.tierOptions({ sandboxId: id, container }, artifact),
    ),
  );
  await until(() => log.seen);
  const ms = performance.now() - t0;
  await ctr.destroy(id);
  await artifact.release?.();
  return ms;
}

// The raw baseline reuses one booted sandbox's files: its initrd (base + config) and a fresh overlay.
const template = await strataRound(true);
const tState = readState(join(work, 'microvm/sandboxes', template.id))!;
const rawDir = join(work, 'raw');
execFileSync('mkdir', ['-p', rawDir]);
copyFileSync(tState.layout.initrd, join(rawDir, 'initrd.cpio'));
const backing = execFileSync('qemu-img', ['info', '-U', '--output=json', tState.layout.disk], {
  encoding: 'utf8',
});
const baseDisk = (JSON.parse(backing) as { 'backing-filename': string })['backing-filename'];
await vm.destroy(template.id);

function rawLayout(n: number): VmLayout {
  const d = join(rawDir, String(n));
  execFileSync('mkdir', ['-p', d]);
  execFileSync('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-b',
    baseDisk,
    '-F',
    'raw',
    join(d, 'overlay.qcow2'),
  ]);
  return {
    vmlinux: tState.layout.vmlinux,
    initrd: join(rawDir, 'initrd.cpio'),
    disk: join(d, 'overlay.qcow2'),
    stdout: join(d, 'stdout'),
    stderr: join(d, 'stderr'),
    exit: join(d, 'exit'),
    console: join(d, 'console'),
    signalSocket: join(d, 'signal.sock'),
    qmpSocket: join(d, 'qmp.sock'),
    pidfile: join(d, 'qemu.pid'),
    execSocket: join(d, 'exec.sock'),
  };
}

const tscKhz = Math.round(
  Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))![1]) * 1000,
);
function rawArgs(l: VmLayout, extra: string[] = []): string[] {
  return qemuArgs(l, { accel: 'tcg', memoryMiB: MEMORY_MIB, vcpus: 1, tbSizeMiB: TB_MIB, tscKhz })
    .filter((a, i, all) => a !== '-daemonize' && a !== '-pidfile' && all[i - 1] !== '-pidfile')
    .concat(extra);
}

async function rawRound(): Promise<number> {
  const l = rawLayout(seq++);
  const t0 = performance.now();
  const q = spawn('qemu-system-x86_64', rawArgs(l), { stdio: 'ignore' });
  await until(() => existsSync(l.stdout) && readFileSync(l.stdout, 'utf8').includes(MARKER));
  const ms = performance.now() - t0;
  q.kill('SIGKILL');
  await new Promise((r) => q.once('exit', r));
  return ms;
}

const samples = { strata: [] as number[], raw: [] as number[], ctr: [] as number[] };
for (let i = 0; i < ROUNDS; i++) {
  samples.strata.push((await strataRound()).ms);
  samples.raw.push(await rawRound());
  samples.ctr.push(await containerRound());
  process.stderr.write('.');
}
process.stderr.write('\n');
const s = summarize(samples.strata);
const r = summarize(samples.raw);
const c = summarize(samples.ctr);
printTable(
  `start → entrypoint running (busybox, TCG, ${MEMORY_MIB} MiB guest, ${ROUNDS} interleaved rounds)`,
  [
    { name: 'strata microvm (driver)', s, extra: `${(s.p50 / r.p50).toFixed(2)}× raw qemu (p50)` },
    { name: 'raw qemu, same kernel+initramfs+disk', s: r },
    { name: 'strata container (driver)', s: c, extra: `microvm is ${(s.p50 / c.p50).toFixed(1)}× (p50)` },
  ],
);

// --- memory of an idle VM ------------------------------------------------------------------------

/** Rss by mapping size class: the guest RAM mapping, the translation cache, everything else. */
function memoryBreakdown(pid: number): { total: number; guest: number; tb: number; rest: number } {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n');
  let size = 0;
  const out = { total: 0, guest: 0, tb: 0, rest: 0 };
  for (const line of smaps) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (head) {
      size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024 / 1024;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const mib = Number(rss[1]) / 1024;
    out.total += mib;
    // QEMU maps guest RAM as one block of the guest's size; TCG's code buffer as one of about tb-size.
    if (Math.abs(size - MEMORY_MIB) < 1) out.guest += mib;
    else if (Math.abs(size - TB_MIB) < 2) out.tb += mib;
    else out.rest += mib;
  }
  return out;
}

const idle = await strataRound(true);
await sleep(3000);
const pid = readState(join(work, 'microvm/sandboxes', idle.id))!.pid;
const mem = memoryBreakdown(pid);
console.log(`\n### idle VM memory (QEMU RSS by mapping, ${MEMORY_MIB} MiB guest, tb-size ${TB_MIB} MiB)\n`);
console.log(
  '| total RSS | guest RAM touched | TCG translation cache | QEMU itself | overhead beyond guest RAM |',
);
console.log('|---:|---:|---:|---:|---:|');
console.log(
  `| ${mem.total.toFixed(1)} MiB | ${mem.guest.toFixed(1)} MiB | ${mem.tb.toFixed(1)} MiB | ${mem.rest.toFixed(1)} MiB | ${(mem.tb + mem.rest).toFixed(1)} MiB |`,
);
await vm.destroy(idle.id);

// --- snapshot restore vs cold boot -----------------------------------------------------------------

function qmpRun(socket: string, cmd: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let buf = '';
    let step = 0;
    c.on('error', reject);
    c.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if ('event' in msg) continue;
        if (step === 0) {
          step = 1;
          c.write('{"execute":"qmp_capabilities"}\n');
        } else if (step === 1) {
          step = 2;
          c.write(`${JSON.stringify(cmd)}\n`);
        } else {
          c.destroy();
          if ('error' in msg) reject(new Error(JSON.stringify(msg.error)));
          else resolve(msg.return);
        }
      }
    });
  });
}

async function waitQmp(socket: string, want: (status: string) => boolean): Promise<void> {
  for (;;) {
    try {
      const st = (await qmpRun(socket, { execute: 'query-status' })) as { status: string };
      if (want(st.status)) return;
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
}

const snapDir = rawLayout(seq++);
const snapFile = join(rawDir, 'snapshot.bin');
const booted: ChildProcess = spawn('qemu-system-x86_64', rawArgs(snapDir), { stdio: 'ignore' });
await until(() => existsSync(snapDir.stdout) && readFileSync(snapDir.stdout, 'utf8').includes(MARKER));
await sleep(1000);
const tSave = performance.now();
await qmpRun(snapDir.qmpSocket, { execute: 'migrate', arguments: { uri: `exec:cat > ${snapFile}` } });
await waitQmp(snapDir.qmpSocket, (st) => st === 'postmigrate');
const saveMs = performance.now() - tSave;
booted.kill('SIGKILL');
await new Promise((r) => booted.once('exit', r));
const restores: number[] = [];
for (let i = 0; i < Math.max(3, Math.min(ROUNDS, 5)); i++) {
  // Identical devices (same files), as migration requires; a restored guest keeps the saved IP,
  // hostname and random state, which Strata would have to set again.
  const t0 = performance.now();
  const q = spawn('qemu-system-x86_64', rawArgs(snapDir, ['-incoming', `exec:cat ${snapFile}`]), {
    stdio: 'ignore',
  });
  await waitQmp(snapDir.qmpSocket, (st) => st === 'running');
  restores.push(performance.now() - t0);
  q.kill('SIGKILL');
  await new Promise((r) => q.once('exit', r));
}
const rs = summarize(restores);
printTable(
  `snapshot restore (${(statSync(snapFile).size / 1024 / 1024).toFixed(0)} MiB state file, saved in ${fmt(saveMs)}) vs cold boot`,
  [
    {
      name: 'restore → running (-incoming exec:cat)',
      s: rs,
      extra: `${(r.p50 / rs.p50).toFixed(1)}× faster than raw cold boot (p50)`,
    },
    { name: 'raw cold boot → entrypoint (above)', s: r },
  ],
);

await vm.shutdown();
await ctr.shutdown();
rmSync(work, { recursive: true, force: true });
rmSync(runDir, { recursive: true, force: true });
