// The microvm driver as a pod sees it, against real QEMU (TCG), a real pod network (a bridge of its own)
// and real volumes: the VM holds the pod's IP from the IPAM and answers there and on its hostPort, gets
// the pod's resolv.conf, exec works with and without a terminal, and volumes arrive as disks. One boot
// serves several checks: each costs seconds under TCG.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore, importImage } from '../../image/index.ts';
import { testImages } from '../../image/testing/fixtures.ts';
import { PodNetwork } from '../../net/pod-network.ts';
import { networkingUnavailable } from '../../net/test-support.ts';
import { captureLog, tempDir } from '../wasm/test-support.ts';
import { MicrovmDriver } from './driver.ts';
import type { MicrovmSandboxSpec } from './options.ts';
import { VMM_USER, userId } from './jail.ts';
import { TAP } from './network.ts';
import { readState } from './state.ts';
import { kernelDir, microvmUnavailable } from './test-support.ts';
import { podEtcFiles } from '../../net/pod-etc-files.ts';

const why = microvmUnavailable() ?? networkingUnavailable();
if (why) console.log(`skipping the microvm pod tests: ${why}`);

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

describe.skipIf(why)('MicrovmDriver on the pod network, with exec and volumes (TCG)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;
  let network: PodNetwork;
  let driver: MicrovmDriver;
  const bridge = `stmv${process.pid % 100000}`;
  const runDir = `/run/strata-test-${process.pid}-mvmpod`;

  beforeAll(async () => {
    tmp = tempDir('strata-mvmpod-');
    store = new ImageStore(join(tmp.path, 'images'));
    await importImage(store, join(testImages(), 'busybox'), { name: 'busybox:1' });
    network = new PodNetwork({
      stateDir: join(tmp.path, 'net'),
      bridge,
      subnet: `10.${200 + (process.pid % 50)}.${process.pid % 250}.0/24`,
      chainPrefix: `MV${process.pid % 100000}`,
      netnsPrefix: `${bridge}-`,
      vethPrefix: 'vmt',
    });
    driver = new MicrovmDriver({
      stateDir: join(tmp.path, 'state'),
      runDir,
      images: store,
      accel: 'tcg',
      kernelDir,
      cgroupParent: false,
      network,
      etcFiles: podEtcFiles(() => '10.96.0.10'),
    });
  }, 120_000);

  afterAll(async () => {
    await driver?.shutdown();
    await network?.uninstall();
    tmp?.remove();
    execFileSync('rm', ['-rf', runDir]);
  });

  async function spec(id: string, podUid: string, command: string[], over: Partial<MicrovmSandboxSpec> = {}) {
    const container = { name: 'main', image: 'busybox:1', command };
    const artifact = await driver.prepareArtifact({ sandboxId: id, container });
    return {
      id,
      podUid,
      podName: 'web',
      namespace: 'shop',
      containerName: 'main',
      image: artifact.image,
      args: artifact.args ?? [],
      env: { GREETING: 'hi' },
      mounts: [],
      limits: { memoryBytes: 128 * 1024 * 1024 },
      log: captureLog(),
      options: driver.tierOptions({ sandboxId: id, container }, artifact),
      ...over,
    } satisfies MicrovmSandboxSpec;
  }

  it('a VM pod holds its IP, answers on it and on its hostPort, resolves through the cluster DNS, and execs', async () => {
    const vols = join(tmp.path, 'volumes');
    mkdirSync(join(vols, 'config'), { recursive: true });
    writeFileSync(join(vols, 'config', 'app.conf'), 'colour=blue\n');
    mkdirSync(join(vols, 'secret'), { recursive: true });
    writeFileSync(join(vols, 'secret', 'token'), 's3cret');
    mkdirSync(join(vols, 'scratch'), { recursive: true });
    writeFileSync(join(vols, 'scratch', 'seed'), 'seeded\n');
    // A local persistent volume: an ext4 image file, attached as a disk (VolumeMount.blockImage).
    mkdirSync(join(vols, 'pv-content'));
    writeFileSync(join(vols, 'pv-content', 'kept'), 'from before\n');
    const pvImage = join(vols, 'pv.ext4');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', join(vols, 'pv-content'), pvImage, '16M']);
    const pvMount = {
      hostPath: join(vols, 'pv-mountpoint'),
      guestPath: '/data',
      readOnly: false,
      blockImage: pvImage,
    };
    const s = await spec(
      'mvm-web',
      'pod-web',
      [
        'sh',
        '-c',
        'mkdir -p /www && echo "hello from $(uname -r)" > /www/index.html && exec httpd -f -p 8080 -h /www',
      ],
      {
        mounts: [
          { hostPath: join(vols, 'config'), guestPath: '/etc/app', readOnly: true },
          { hostPath: join(vols, 'secret', 'token'), guestPath: '/run/token', readOnly: true },
          { hostPath: join(vols, 'scratch'), guestPath: '/scratch', readOnly: false },
          pvMount,
        ],
      },
    );
    const handle = await driver.start(s);
    const ip = handle.podIP!;
    expect(ip).toBe(network.get('pod-web')!.ip);
    await driver.publishHostPorts('pod-web', [
      { containerPort: 8080, hostPort: 18000 + (process.pid % 1000) },
    ]);
    // The guest serves on the pod's IP (through the bridge) and on the hostPort (DNAT on 127.0.0.1).
    const body = await until('httpd on the pod IP', () =>
      execFileSync('curl', ['-sf', '--max-time', '3', `http://${ip}:8080/`], { encoding: 'utf8' }),
    );
    expect(body).toMatch(/^hello from .*-cloud-amd64$/m);
    const viaHostPort = execFileSync(
      'curl',
      ['-sf', '--max-time', '5', `http://127.0.0.1:${18000 + (process.pid % 1000)}/`],
      { encoding: 'utf8' },
    );
    expect(viaHostPort).toBe(body);

    // exec: in the workload's root, with its env; stdout, stderr and the exit code kept apart.
    const r = await driver.exec(s.id, [
      'sh',
      '-c',
      'echo "$GREETING $(pwd)"; cat /etc/resolv.conf; ip -o -4 addr show eth0; echo oops >&2; exit 7',
    ]);
    expect(r.exitCode).toBe(7);
    const out = Buffer.from(r.stdout).toString();
    expect(out).toMatch(/^hi \/\n/);
    expect(out).toContain('nameserver 10.96.0.10');
    expect(out).toContain('search shop.svc.cluster.local svc.cluster.local cluster.local');
    expect(out).toContain(`inet ${ip}/24`);
    expect(Buffer.from(r.stderr).toString()).toBe('oops\n');
    expect((await driver.exec(s.id, ['no-such-command'])).exitCode).toBe(127);

    // Volumes: read-only data (a directory and a single file) and a writable scratch disk.
    const v = await driver.exec(s.id, [
      'sh',
      '-c',
      'cat /etc/app/app.conf /run/token; echo; cat /scratch/seed; echo new > /scratch/new && cat /scratch/new; ' +
        'touch /etc/app/x 2>/dev/null || echo read-only; cat /data/kept; echo written-in-the-vm > /data/new; sync',
    ]);
    expect(Buffer.from(v.stdout).toString()).toBe(
      'colour=blue\ns3cret\nseeded\nnew\nread-only\nfrom before\n',
    );

    // Interactive, with a terminal: what is typed reaches the shell, and its exit code comes back.
    const it = await driver.execInteractive(s.id, ['sh'], { tty: true, stdio: 'pipe', cols: 100, rows: 30 });
    let screen = '';
    it.stdout!.on('data', (d: Buffer) => (screen += d.toString()));
    it.stdin!.write('stty size; tty; exit 5\n');
    expect(await it.exited).toBe(5);
    expect(screen).toContain('30 100');
    expect(screen).toMatch(/\/dev\/pts\/\d+/);

    // Interactive without a terminal: stdin streamed to the command, EOF ends it.
    const cat = await driver.execInteractive(s.id, ['sh', '-c', 'wc -c'], { tty: false, stdio: 'pipe' });
    let counted = '';
    cat.stdout!.on('data', (d: Buffer) => (counted += d.toString()));
    cat.stdin!.end(Buffer.alloc(100_000, 'x'));
    expect(await cat.exited).toBe(0);
    expect(counted.trim()).toBe('100000');

    // QEMU lives in the pod's namespace, with the tap there (no host interface of its own), as the
    // unprivileged VMM user, chrooted into an empty directory, in a mount namespace of its own.
    const netns = `${bridge}-pod-web`;
    expect(execFileSync('ip', ['-n', netns, '-o', 'link', 'show', TAP], { encoding: 'utf8' })).toContain(TAP);
    const pid = readState(join(tmp.path, 'state/sandboxes', s.id))!.pid;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = userId(VMM_USER)!;
    expect(uid).toBeGreaterThan(0);
    expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    expect(readlinkSync(`/proc/${pid}/root`)).toBe(`${runDir}/jail`);
    expect(readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    expect(readlinkSync(`/proc/${pid}/ns/net`)).toBe(
      execFileSync('ip', ['netns', 'exec', netns, 'readlink', '/proc/self/ns/net'], {
        encoding: 'utf8',
      }).trim(),
    );

    await driver.stop(s.id, 5);
    await driver.wait(s.id);
    await driver.destroy(s.id);
    // What the pod wrote to its persistent volume is in the image file.
    expect(
      execFileSync('debugfs', ['-R', 'cat /new', pvImage], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ).toBe('written-in-the-vm\n');
    // The tap is gone with the sandbox; the pod's network and scratch disk stay until the pod goes.
    expect(() => execFileSync('ip', ['-n', netns, 'link', 'show', TAP], { stdio: 'pipe' })).toThrow();
    expect(readdirSync(join(tmp.path, 'state/pod-volumes/pod-web'))).toHaveLength(1);
    await driver.releasePod('pod-web');
    expect(existsSync(join(tmp.path, 'state/pod-volumes/pod-web'))).toBe(false);
    expect(network.get('pod-web')).toBeUndefined();
  }, 180_000);
});
