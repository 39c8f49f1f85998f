// The container driver against real runc (and crun where installed), conmon, catatonit and cgroups, with
// the busybox rootfs from scripts/build-test-rootfs.sh. Needs root; skipped (with the reason) otherwise.
// Every test destroys what it starts; afterAll checks that the cgroup parent and the state are gone.

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxError, type Driver, type ExitResult } from '../driver.ts';
import { ContainerDriver } from './driver.ts';
import type { ContainerSandboxSpec } from './options.ts';
import type { RuntimeName } from './runtime.ts';
import {
  buildTestRootfs,
  captureLog,
  containerSpec,
  containersUnavailable,
  eventually,
  leftovers,
  parentCgroups,
  sleep,
  tempDir,
  type CapturedLog,
} from './test-support.ts';
import { podEtcFiles } from '../../net/pod-etc-files.ts';

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

for (const runtime of ['runc', 'crun'] as RuntimeName[]) {
  const unavailable = containersUnavailable(runtime);
  if (unavailable) console.warn(`skipping ${runtime} container tests: ${unavailable}`);

  describe.skipIf(unavailable)(`ContainerDriver with ${runtime}`, () => {
    const cgroupParent = `strata-test-${runtime}-${process.pid}`;
    const runDir = `/run/strata-test-${process.pid}-${runtime}`;
    const runtimeRoot = `${runDir}/${runtime}`;
    let tmp: ReturnType<typeof tempDir>;
    let driver: ContainerDriver;
    const started: string[] = [];

    beforeAll(() => {
      buildTestRootfs();
      tmp = tempDir('strata-ct-');
      driver = new ContainerDriver({
        etcFiles: podEtcFiles(),
        stateDir: join(tmp.path, 'state'),
        runtime,
        cgroupParent,
        runDir,
      });
    });
    afterAll(async () => {
      if (!driver) return;
      let remaining: string[] = [];
      try {
        // Whatever a failed test left running: everything started, and whatever is still on disk.
        const onDisk = readdirSync(join(tmp.path, 'state', 'containers'));
        for (const id of new Set([...started, ...onDisk])) await driver.destroy(id).catch(() => {});
        remaining = readdirSync(join(tmp.path, 'state', 'containers'));
      } finally {
        await driver.shutdown();
        tmp.remove();
      }
      expect(remaining).toEqual([]);
      // Pid and exit files go with their containers; the runtime's state too.
      expect(readdirSync(join(runDir, 'pids'))).toEqual([]);
      expect(readdirSync(join(runDir, 'exits'))).toEqual([]);
      expect(readdirSync(runtimeRoot)).toEqual([]);
      rmSync(runDir, { recursive: true, force: true });
      expect(parentCgroups(cgroupParent)).toEqual([]);
    });

    async function start(over: Partial<ContainerSandboxSpec> = {}, d: ContainerDriver = driver) {
      const s = containerSpec(over);
      started.push(s.id);
      const handle = await d.start(s);
      return { s, handle, log: s.log as CapturedLog };
    }

    /** Runs to completion and destroys; returns the result and the output. */
    async function run(over: Partial<ContainerSandboxSpec> = {}) {
      const { s, log } = await start(over);
      const result = await driver.wait(s.id);
      await driver.destroy(s.id);
      expect(leftovers(s, cgroupParent, runtime, runtimeRoot)).toEqual([]);
      return { result, log };
    }

    it('fingerprints as a healthy container tier with versions and the cgroup mode', async () => {
      const fp = await driver.fingerprint();
      expect(fp).toMatchObject({ runtimeClass: 'container', healthy: true });
      expect(fp.attributes['container.runtime']).toBe(runtime);
      expect(fp.attributes['container.runtimeVersion']).toMatch(/^\d+\.\d+/);
      expect(fp.attributes['container.conmonVersion']).toMatch(/^\d+\.\d+/);
      expect(['v1', 'hybrid', 'v2']).toContain(fp.attributes['container.cgroupMode']);
      expect(driver.capabilities).toEqual({
        exec: true,
        survivesAgentRestart: true,
        gracefulStop: true,
        stats: true,
        memoryLimit: true,
        interactiveExec: true,
        podNetwork: false, // no PodNetwork given: loopback only
        artifacts: true,
        tierOptions: true,
        attach: true,
      });
    });

    it('runs args with env and cwd, separates stdout from stderr, reports exit codes', async () => {
      const { result, log } = await run({
        args: [
          'sh',
          '-c',
          'echo "$GREETING from $(pwd) as $(id -u):$(id -g) on $(hostname)"; echo oops >&2; exit 3',
        ],
        env: { GREETING: 'hi there' },
        workingDir: '/tmp',
        podName: 'web',
      });
      expect(result).toMatchObject({ exitCode: 3, reason: 'Error' });
      expect(result.finishedAt.getTime()).toBeGreaterThanOrEqual(result.startedAt.getTime());
      expect(log.stdout()).toBe('hi there from /tmp as 0:0 on web\n');
      expect(log.stderr()).toBe('oops\n');
      const ok = await run({ args: ['true'] });
      expect(ok.result).toMatchObject({ exitCode: 0, reason: 'Completed' });
    });

    it('uses the image entrypoint/cmd and env when the pod gives no args', async () => {
      const { result, log } = await run({
        args: [],
        env: { B: 'pod' },
        options: {
          imageConfig: {
            entrypoint: ['sh', '-c'],
            cmd: ['echo "$A $B $PATH"'],
            env: { A: 'image', B: 'image' },
          },
        },
      });
      expect(result.exitCode).toBe(0);
      expect(log.stdout()).toBe('image pod /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
    });

    it('isolates: only its own processes, no mounts, no user namespaces, seccomp and no new privileges', async () => {
      const script = [
        'ps -o pid,comm',
        'echo procs=$(ls /proc | grep -c "^[0-9]")',
        'mount -t tmpfs none /mnt 2>&1; echo mount=$?',
        'unshare -U true 2>&1; echo unshare=$?',
        'grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status',
        'echo 1 > /proc/sys/vm/drop_caches 2>&1; echo procsys=$?',
        'echo keys=$(stat -c %t,%T /proc/keys)', // masked: /dev/null (1,3) bound over it
      ].join('; ');
      const { result, log } = await run({ args: ['sh', '-c', script] });
      const out = log.stdout();
      expect(result.exitCode).toBe(0);
      // PID 1 is the init, then the shell and its children: nothing of the host.
      const pids = out
        .split('\n')
        .filter((l) => /^\s*\d+ /.test(l))
        .map((l) => Number(l.trim().split(/\s+/)[0]));
      expect(pids[0]).toBe(1);
      expect(pids.every((p) => p < 100)).toBe(true);
      expect(out).toMatch(/^\s*1 \.strata-init$/m);
      expect(Number(/procs=(\d+)/.exec(out)![1])).toBeLessThan(10);
      expect(out).toMatch(/permission denied|Operation not permitted/i);
      expect(out).toMatch(/mount=[1-9]/);
      expect(out).toMatch(/unshare: unshare\(0x10000000\): Operation not permitted/);
      expect(out).toMatch(/unshare=[1-9]/);
      expect(out).toMatch(/Seccomp:\s+2/);
      expect(out).toMatch(/NoNewPrivs:\s+1/);
      // The 12 default capabilities: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
      // NET_BIND_SERVICE SYS_CHROOT AUDIT_WRITE SETFCAP.
      expect(out).toMatch(/CapEff:\s+00000000a00405fb/);
      expect(out).toMatch(/procsys=[1-9]/);
      expect(out).toContain('keys=1,3');
    });

    it('kills a memory hog at its limit and reports OOMKilled', async () => {
      const { result } = await run({
        args: ['memhog', '256'],
        limits: { memoryBytes: 32 * 1024 * 1024 },
      });
      expect(result).toMatchObject({ exitCode: 137, reason: 'OOMKilled', signal: 'SIGKILL' });
      expect(result.message).toMatch(/32 MiB/);
      // conmon notes the kill in a file named `oom` in its working directory: the container's, not ours.
      expect(existsSync(join(process.cwd(), 'oom')), 'an oom file where the agent runs').toBe(false);
    });

    it('stops a fork bomb at the pids limit, and the host is unaffected', async () => {
      const { s, log } = await start({
        args: ['forkbomb'],
        limits: { cpu: 0.5 },
        options: { pidsLimit: 48 },
      });
      await eventually(() => log.stdout().includes('bombing'), 10_000);
      // The bomb keeps every freed slot filled: sample the count while it rages.
      let most = 0;
      for (let i = 0; i < 20; i++) {
        most = Math.max(most, (await driver.stats(s.id)).pids);
        await sleep(50);
      }
      const stats = await driver.stats(s.id);
      expect(stats.pidsLimit).toBe(48);
      expect(most).toBeLessThanOrEqual(48);
      expect(most).toBeGreaterThanOrEqual(40);
      expect(stats.pidsLimitHits).toBeGreaterThan(0);
      expect(log.stderr()).toMatch(/can't fork: Resource temporarily unavailable/);
      expect(execFileSync('/bin/sh', ['-c', 'echo host-ok']).toString()).toBe('host-ok\n');
      await driver.stop(s.id, 0);
      await driver.wait(s.id);
      await driver.destroy(s.id);
      expect(leftovers(s, cgroupParent, runtime, runtimeRoot)).toEqual([]);
    });

    it('stop delivers SIGTERM through the init; a workload that ignores it is killed after the grace', async () => {
      const graceful = await start({ args: ['graceful'] });
      await eventually(() => graceful.log.stdout().includes('ready'));
      await driver.stop(graceful.s.id, 10);
      expect(await driver.wait(graceful.s.id)).toMatchObject({ exitCode: 0, reason: 'Completed' });
      expect(graceful.log.stdout()).toContain('got TERM');
      await driver.destroy(graceful.s.id);

      const stubborn = await start({
        args: ['sh', '-c', 'trap "" TERM; echo ready; while true; do sleep 1; done'],
      });
      await eventually(() => stubborn.log.stdout().includes('ready'));
      const t0 = Date.now();
      await driver.stop(stubborn.s.id, 0.5);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
      expect(await driver.wait(stubborn.s.id)).toMatchObject({
        exitCode: 137,
        reason: 'Killed',
        signal: 'SIGKILL',
      });
      await driver.destroy(stubborn.s.id);
    });

    it('without an init, a shell as PID 1 ignores SIGTERM and is killed after the grace', async () => {
      const { s } = await start({ args: ['sh', '-c', 'sleep 1000'], options: { init: false } });
      const t0 = Date.now();
      await driver.stop(s.id, 0.3);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(await driver.wait(s.id)).toMatchObject({ exitCode: 137, reason: 'Killed' });
      await driver.destroy(s.id);
    });

    it('execs commands in the running container, and reads its stats from cgroups', async () => {
      const { s } = await start({
        args: ['sh', '-c', 'echo ready; exec sleep 1000'],
        env: { INSIDE: 'yes' },
        limits: { memoryBytes: 64 * 1024 * 1024 },
      });
      const r = await driver.exec(s.id, ['sh', '-c', 'echo "out $INSIDE $(id -u)"; echo err >&2; exit 4']);
      expect(r.exitCode).toBe(4);
      expect(text(r.stdout)).toBe('out yes 0\n');
      expect(text(r.stderr)).toBe('err\n');
      const ps = await driver.exec(s.id, ['ps', '-o', 'comm']);
      expect(text(ps.stdout)).toContain('sleep');
      const stats = await driver.stats(s.id);
      expect(stats.cpuNanos).toBeGreaterThan(0);
      expect(stats.memoryBytes).toBeGreaterThan(0);
      expect(stats.memoryLimitBytes).toBe(64 * 1024 * 1024);
      expect(stats.pids).toBeGreaterThanOrEqual(2);
      expect(stats.timestamp).toBeInstanceOf(Date);

      const it2 = await driver.execInteractive(s.id, ['sh'], { tty: false, stdio: 'pipe' });
      let out = '';
      it2.stdout!.on('data', (d) => (out += d));
      it2.stdin!.end('echo interactive $INSIDE\nexit 5\n');
      expect(await it2.exited).toBe(5);
      expect(out).toBe('interactive yes\n');

      // With a terminal, over pipes (a remote `strata exec -it`): a pty in the container, sized.
      const tty = await driver.execInteractive(s.id, ['sh'], {
        tty: true,
        stdio: 'pipe',
        cols: 100,
        rows: 30,
      });
      let screen = '';
      tty.stdout!.on('data', (d) => (screen += d));
      tty.stdin!.write('tty; stty size; exit 6\n');
      expect(await tty.exited).toBe(6);
      // Carriage returns and the line editor's escape sequences vary with when the input arrives against
      // the shell's line editing (a loaded host once failed a match on exact \r\n line ends): the lines
      // themselves are what counts.
      const lines = screen.replace(/\x1b\[[0-9;?]*[A-Za-z]|\r/g, '');
      expect(lines).toMatch(/\/dev\/pts\/\d+\n30 100\n/);

      await driver.stop(s.id, 1);
      await expect(driver.exec(s.id, ['true'])).rejects.toMatchObject({ reason: 'NotRunning' });
      await driver.destroy(s.id);
      await expect(driver.exec(s.id, ['true'])).rejects.toMatchObject({ reason: 'NotFound' });
    });

    it('honours securityContext: read-only rootfs, runAsUser, runAsNonRoot; volumes ro and rw', async () => {
      const vol = join(tmp.path, 'vol');
      const ro = join(tmp.path, 'ro');
      mkdirSync(vol, { recursive: true, mode: 0o777 });
      chmodSync(vol, 0o777); // the container runs as nobody
      mkdirSync(ro, { recursive: true });
      writeFileSync(join(ro, 'data'), 'read me\n');
      const { result, log } = await run({
        args: [
          'sh',
          '-c',
          'touch /x 2>&1; echo rootfs=$?; id; echo hi > /vol/written; cat /ro/data; echo no > /ro/data 2>&1; echo ro=$?',
        ],
        mounts: [
          { hostPath: vol, guestPath: '/vol', readOnly: false },
          { hostPath: ro, guestPath: '/ro', readOnly: true },
        ],
        options: {
          securityContext: { readOnlyRootFilesystem: true, runAsUser: 65534, runAsNonRoot: true },
        },
      });
      const out = log.stdout();
      expect(result.exitCode).toBe(0);
      expect(out).toMatch(/Read-only file system/);
      expect(out).toMatch(/rootfs=1/);
      expect(out).toMatch(/uid=65534\(nobody\) gid=65534\(nogroup\)/);
      expect(out).toContain('read me');
      expect(out).toMatch(/ro=[1-9]/);
      expect(readFileSync(join(vol, 'written'), 'utf8')).toBe('hi\n');

      await expect(
        driver.start(containerSpec({ options: { securityContext: { runAsNonRoot: true } } })),
      ).rejects.toMatchObject({
        reason: 'CreateContainerConfigError',
        message: expect.stringMatching(/runAsNonRoot/),
      });
      const named = await run({
        args: ['id', '-un'],
        options: { imageConfig: { entrypoint: [], cmd: [], env: {}, user: 'nobody' } },
      });
      expect(named.log.stdout()).toBe('nobody\n');
    });

    it('refuses bad input with a clear reason and leaves nothing behind', async () => {
      const bad = async (over: Partial<ContainerSandboxSpec>): Promise<SandboxError> => {
        const s = containerSpec(over);
        started.push(s.id);
        const err = await driver.start(s).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(SandboxError);
        expect(leftovers(s, cgroupParent, runtime, runtimeRoot)).toEqual([]);
        expect(existsSync(join(tmp.path, 'state', 'containers', s.id))).toBe(false);
        return err as SandboxError;
      };
      expect(await bad({ image: join(tmp.path, 'nope') })).toMatchObject({ reason: 'ErrImagePull' });
      for (const init of [true, false]) {
        expect(await bad({ args: ['/no/such/binary'], options: { init } })).toMatchObject({
          reason: 'CreateContainerError',
          message: expect.stringMatching(/no such file or directory/i),
        });
      }
      expect(await bad({ args: ['nosuchcommand'] })).toMatchObject({
        reason: 'CreateContainerError',
        message: expect.stringMatching(/executable file not found in \$PATH/),
      });
      expect(await bad({ imageDigest: `sha256:${'0'.repeat(64)}` })).toMatchObject({
        reason: 'InvalidImageDigest',
      });
      expect(
        await bad({ args: [], options: { imageConfig: { entrypoint: [], cmd: [], env: {} } } }),
      ).toMatchObject({
        reason: 'CreateContainerConfigError',
        message: expect.stringMatching(/no command/),
      });
      expect(await bad({ limits: { memoryBytes: 1000 } })).toMatchObject({
        reason: 'CreateContainerConfigError',
      });
      expect(
        await bad({ mounts: [{ hostPath: '/tmp', guestPath: '/proc', readOnly: false }] }),
      ).toMatchObject({
        reason: 'CreateContainerConfigError',
      });
      expect(await bad({ id: 'bad/id' })).toMatchObject({ reason: 'CreateContainerError' });
      expect(await bad({ stdin: new Uint8Array([1]) })).toMatchObject({
        reason: 'CreateContainerConfigError',
      });
    });

    it('ends a container at its deadline', async () => {
      const { result } = await run({ args: ['sleep', '1000'], limits: { deadlineSeconds: 0.3 } });
      expect(result).toMatchObject({
        reason: 'DeadlineExceeded',
        signal: expect.stringMatching(/SIGTERM|SIGKILL/),
      });
    });

    it('survives the agent: a new driver recovers it, resumes its log without loss, stops and waits it', async () => {
      const stateDir = join(tmp.path, 'state');
      const first = new ContainerDriver({ etcFiles: podEtcFiles(), stateDir, runtime, cgroupParent, runDir });
      const { s, handle, log } = await start(
        { args: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.05; done'] },
        first,
      );
      await eventually(() => log.stdout().includes('line 3'));
      await first.shutdown(); // the agent goes away; conmon keeps the container and its log
      const seenBefore = log.stdout();
      await sleep(300);
      expect(log.stdout()).toBe(seenBefore); // nothing forwarded while no agent runs

      const second = new ContainerDriver({
        etcFiles: podEtcFiles(),
        stateDir,
        runtime,
        cgroupParent,
        runDir,
      });
      const log2 = captureLog();
      expect(await second.recover(JSON.parse(JSON.stringify(handle)), log2)).toBe(true);
      await eventually(() => /line \d+\n/.test(log2.stdout()));
      await second.stop(s.id, 5);
      const result = await second.wait(s.id);
      expect(result).toMatchObject({ exitCode: 143, reason: 'Killed', signal: 'SIGTERM' });
      // Exactly the lines 1..N, across the two sinks, each once.
      const lines = (seenBefore + log2.stdout()).trim().split('\n');
      expect(lines.length).toBeGreaterThan(6);
      expect(lines).toEqual(lines.map((_, i) => `line ${i + 1}`));
      await second.destroy(s.id);
      await second.shutdown();
      expect(leftovers(s, cgroupParent, runtime, runtimeRoot)).toEqual([]);
    });

    it('recovers a container that exited while no agent ran, and gives up one whose conmon died', async () => {
      const stateDir = join(tmp.path, 'state');
      const first = new ContainerDriver({ etcFiles: podEtcFiles(), stateDir, runtime, cgroupParent, runDir });
      const a = await start({ args: ['sh', '-c', 'echo bye; sleep 0.3; exit 7'] }, first);
      const b = await start({ args: ['sleep', '1000'] }, first);
      await first.shutdown();
      await sleep(800);
      process.kill(b.handle.state.conmonPid as number, 'SIGKILL');
      await sleep(100);

      const second = new ContainerDriver({
        etcFiles: podEtcFiles(),
        stateDir,
        runtime,
        cgroupParent,
        runDir,
      });
      const log = captureLog();
      expect(await second.recover(a.handle, log)).toBe(true);
      const result: ExitResult = await second.wait(a.s.id);
      expect(result).toMatchObject({ exitCode: 7, reason: 'Error' });
      expect(a.log.stdout() + log.stdout()).toBe('bye\n');
      await second.destroy(a.s.id);
      expect(await second.recover(b.handle, captureLog())).toBe(false);
      expect(leftovers(b.s, cgroupParent, runtime, runtimeRoot)).toEqual([]);
      expect(await second.recover({ id: 'nope', driver: 'container', state: {} }, captureLog())).toBe(false);
      await second.shutdown();
    });

    it('destroy is idempotent and removes the cgroup parent with the last container', async () => {
      const { s } = await start({ args: ['sleep', '1000'] });
      expect(parentCgroups(cgroupParent).length).toBeGreaterThan(0);
      await driver.destroy(s.id); // running: stopped first
      await driver.destroy(s.id);
      expect(leftovers(s, cgroupParent, runtime, runtimeRoot)).toEqual([]);
      expect(parentCgroups(cgroupParent)).toEqual([]);
      await expect(driver.wait(s.id)).rejects.toMatchObject({ reason: 'NotFound' });
      expect((driver as Driver).exec).toBeTypeOf('function');
    });
  });
}
