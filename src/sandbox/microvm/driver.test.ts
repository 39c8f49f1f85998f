// The microvm driver against real QEMU (TCG here): the busybox test image booted as a VM. Each boot
// costs seconds under TCG on a loaded host, so each test boots once and checks several things.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodSpec } from '../../api/kinds/pod.ts';
import { ImageStore, importImage } from '../../image/index.ts';
import { testImages } from '../../image/testing/fixtures.ts';
import { captureLog, tempDir } from '../wasm/test-support.ts';
import { MicrovmDriver } from './driver.ts';
import type { MicrovmSandboxSpec } from './options.ts';
import { cgroupDirs, detectCgroups } from '../container/cgroups.ts';
import { qmp } from './qemu.ts';
import { readState } from './state.ts';
import { kernelDir, microvmUnavailable } from './test-support.ts';
import { podEtcFiles } from '../../net/pod-etc-files.ts';

const why = microvmUnavailable();
if (why) console.log(`skipping the microvm driver tests: ${why}`);

describe.skipIf(why)('MicrovmDriver (TCG)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;
  let driver: MicrovmDriver;
  const runDir = `/run/strata-test-${process.pid}-microvm`;
  const cgroupParent = `strata-microvm-test-${process.pid}`;

  beforeAll(async () => {
    tmp = tempDir('strata-mvm-');
    store = new ImageStore(join(tmp.path, 'images'));
    await importImage(store, join(testImages(), 'busybox'), { name: 'busybox:1' });
    driver = new MicrovmDriver({
      etcFiles: podEtcFiles(),
      stateDir: join(tmp.path, 'state'),
      runDir,
      images: store,
      accel: 'tcg',
      kernelDir,
      cgroupParent,
    });
  }, 60_000);

  afterAll(async () => {
    await driver?.shutdown();
    // Every sandbox was destroyed: no cgroup of QEMU is left behind, parents included.
    const left = cgroupDirs(detectCgroups(), `/${cgroupParent}`).filter((d) => existsSync(d));
    expect(left).toEqual([]);
    tmp?.remove();
    rmSync(runDir, { recursive: true, force: true });
  });

  async function spec(
    id: string,
    command: string[],
    over: Partial<MicrovmSandboxSpec> = {},
    securityContext?: { runAsUser?: number; runAsGroup?: number },
  ): Promise<MicrovmSandboxSpec> {
    const artifact = await driver.prepareArtifact({
      sandboxId: id,
      container: { name: 'main', image: 'busybox:1', command, securityContext },
    });
    return {
      id,
      podUid: `uid-${id}`,
      podName: 'Web_Pod',
      namespace: 'default',
      containerName: 'main',
      image: artifact.image,
      args: artifact.args ?? [],
      env: { GREETING: "it's a VM" },
      mounts: [],
      limits: { memoryBytes: 192 * 1024 * 1024 },
      log: captureLog(),
      options: driver.tierOptions(
        { sandboxId: id, container: { name: 'main', image: 'busybox:1' } },
        artifact,
      ),
      ...over,
    };
  }

  it('fingerprints the tier with its accelerator and kernel', async () => {
    const fp = await driver.fingerprint();
    expect(fp.healthy, fp.reason).toBe(true);
    expect(fp.attributes['microvm.accel']).toBe('tcg');
    expect(fp.attributes['microvm.kernel']).toMatch(/^\d+\.\d+/);
  });

  it("prepares the image's disk once, with the user of the pod and container securityContexts", async () => {
    const container = {
      name: 'main',
      image: 'busybox:1',
      command: ['true'],
      securityContext: { runAsGroup: 7 },
    };
    // A pod spec as the API defaults it.
    const podSpec = PodSpec.parse({
      containers: [container],
      hostname: 'custom',
      securityContext: { runAsUser: 1234, runAsGroup: 5 },
    });
    const a = await driver.prepareArtifact({ sandboxId: 'prep-a', container, podSpec });
    const b = await driver.prepareArtifact({
      sandboxId: 'prep-b',
      container: { ...container, securityContext: undefined },
    });
    expect(a.image).toBe(b.image);
    expect(a.image).toMatch(/disks\/[0-9a-f]{64}\.ext4$/);
    expect(a.options?.user).toMatchObject({ uid: 1234, gid: 7 });
    expect(b.options?.user).toMatchObject({ uid: 0, gid: 0 });
    expect(driver.tierOptions({ sandboxId: 'prep-a', container, podSpec }, a).hostname).toBe('custom');
    await expect(
      driver.prepareArtifact({
        sandboxId: 'prep-c',
        container: { name: 'main', image: 'absent:1', imagePullPolicy: 'Never' },
      }),
    ).rejects.toMatchObject({ reason: 'ErrImageNeverPull' });
  });

  it('boots the image, runs the workload in the guest kernel, and reports its exit code and output', async () => {
    const s = await spec(
      'mvm-run',
      [
        'sh',
        '-c',
        'uname -r; hostname; pwd; echo "$GREETING"; grep -m1 "model name" /proc/cpuinfo; echo to-stderr >&2; echo x > /written; exit 3',
      ],
      { workingDir: '/tmp/work' },
    );
    const t0 = Date.now();
    const handle = await driver.start(s);
    expect(handle.driver).toBe('microvm');
    // QEMU runs in a cgroup of its own, limited to the guest's memory plus QEMU's share.
    const pid = readState(join(tmp.path, 'state/sandboxes', s.id))!.pid;
    const memoryLine = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => /:memory:|^0::/.test(l));
    expect(memoryLine).toMatch(new RegExp(`/${cgroupParent}/${s.id}$`));
    const result = await driver.wait(s.id);
    console.log(`microvm boot-to-exit: ${Date.now() - t0} ms`);
    expect(result.exitCode).toBe(3);
    expect(result.reason).toBe('Error');
    const log = s.log as ReturnType<typeof captureLog>;
    const [kernel, hostname, cwd, greeting, cpu] = log.stdout().trim().split('\n');
    // The guest kernel's release, not the host's.
    expect(kernel).toMatch(/-cloud-amd64$/);
    expect(kernel).not.toBe(release());
    expect(hostname).toBe('web-pod');
    expect(cwd).toBe('/tmp/work');
    expect(greeting).toBe("it's a VM");
    expect(cpu).toMatch(/QEMU/);
    expect(log.stderr()).toBe('to-stderr\n');
    // The pod wrote its own overlay, never the image's shared disk.
    const shared = s.image;
    const listing = execFileSync('debugfs', ['-R', 'ls /', shared], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(listing).not.toContain('written');
    await driver.destroy(s.id);
    expect(existsSync(join(tmp.path, 'state/sandboxes', s.id))).toBe(false);
  }, 90_000);

  it('a VM outlives its driver: another driver re-adopts it, then stops it with SIGTERM (Killed)', async () => {
    const s = await spec('mvm-stop', ['sh', '-c', 'echo started; exec sleep 1000']);
    await driver.start(s);
    const log = s.log as ReturnType<typeof captureLog>;
    const deadline = Date.now() + 60_000;
    while (!log.stdout().includes('started') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(log.stdout()).toContain('started');
    // The agent goes away (its driver shuts down); QEMU, daemonized, keeps the guest running.
    await driver.shutdown();
    const again = new MicrovmDriver({
      etcFiles: podEtcFiles(),
      stateDir: join(tmp.path, 'state'),
      runDir,
      images: store,
      accel: 'tcg',
      kernelDir,
      cgroupParent,
    });
    driver = again;
    const log2 = captureLog();
    expect(await again.recover({ id: s.id, driver: 'microvm', state: {} }, log2)).toBe(true);
    expect(await again.recover({ id: 'mvm-unknown', driver: 'microvm', state: {} }, log2)).toBe(false);
    await again.stop(s.id, 10);
    const result = await again.wait(s.id);
    expect(result.reason).toBe('Killed');
    expect(result.exitCode).toBe(143);
    expect(result.signal).toBe('SIGTERM');
    // Output delivered before the restart is not delivered again.
    expect(log2.stdout()).toBe('');
    await again.destroy(s.id);
  }, 90_000);

  it('contains a guest kernel panic: the VM ends and the pod is told why', async () => {
    const s = await spec('mvm-panic', ['sh', '-c', 'echo c > /proc/sysrq-trigger; sleep 1000']);
    await driver.start(s);
    const result = await driver.wait(s.id);
    expect(result.reason).toBe('Error');
    expect(result.exitCode).toBe(255);
    expect(result.message).toMatch(
      /without reporting an exit status.*Kernel panic - not syncing: sysrq triggered crash/,
    );
    await driver.destroy(s.id);
  }, 90_000);

  it('a memory hog meets the guest OOM killer within the VM memory: OOMKilled', async () => {
    const s = await spec('mvm-oom', ['sh', '-c', 'head -c 200000000 /dev/zero | sort > /dev/null'], {
      limits: { memoryBytes: 96 * 1024 * 1024 },
    });
    await driver.start(s);
    const result = await driver.wait(s.id);
    expect(result.reason).toBe('OOMKilled');
    expect(result.exitCode).toBe(137);
    expect(result.message).toMatch(/96 MiB of memory: Out of memory: Killed process \d+ \(sort\)/);
    await driver.destroy(s.id);
  }, 90_000);

  it('a guest that ignores SIGTERM is ended by QMP quit after the grace period', async () => {
    // Also runs as the pod's runAsUser/runAsGroup.
    const s = await spec(
      'mvm-stubborn',
      ['sh', '-c', 'trap "" TERM; echo "$(id -u):$(id -g)"; echo started; while :; do sleep 1; done'],
      {},
      { runAsUser: 1000, runAsGroup: 1001 },
    );
    await driver.start(s);
    const log = s.log as ReturnType<typeof captureLog>;
    const deadline = Date.now() + 60_000;
    while (!log.stdout().includes('started') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(log.stdout()).toBe('1000:1001\nstarted\n');
    // The QMP socket answers (stop() relies on it after the grace period).
    const state = readState(join(tmp.path, 'state/sandboxes', s.id))!;
    expect(await qmp(state.layout.qmpSocket, 'query-status')).toMatchObject({ status: 'running' });
    const t0 = Date.now();
    await driver.stop(s.id, 1);
    const result = await driver.wait(s.id);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(result).toMatchObject({ reason: 'Killed', exitCode: 137, message: 'the VM was stopped' });
    await driver.destroy(s.id);
  }, 90_000);
});
