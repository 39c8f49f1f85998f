// End to end, the microvm tier: a pod with `runtimeClassName: microvm` boots the same OCI image a
// container pod runs as a QEMU microVM (TCG here), its logs come from the guest, and its exit code
// decides the pod's phase.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { microvmUnavailable } from '../../src/sandbox/microvm/test-support.ts';
import { Cluster, ROOT, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;

const why = microvmUnavailable();
if (why) console.warn(`skipping microvm e2e tests: ${why}`);

let c: Cluster;

describe.skipIf(!!why)('microvm tier end to end', () => {
  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/build-test-images.sh')], { stdio: 'ignore' });
    // TCG without the KVM canary: these hosts' /dev/kvm cannot boot the kernel (PLATFORM-NOTES).
    process.env.STRATA_MICROVM_ACCEL = 'tcg';
    c = await new Cluster().up(['--runtimes', 'microvm']);
    const imported = await c.cli([
      'image',
      'import',
      '--root',
      join(c.dir, 'data', 'agent', 'images'),
      join(ROOT, 'build/images/busybox'),
      '--name',
      'localhost/busybox:1.0',
    ]);
    expect(imported.code, imported.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  });

  it('runs pods as VMs: guest kernel and QEMU CPU in the logs, exit codes map to Succeeded/Failed', async () => {
    const file = join(c.dir, 'vms.yaml');
    const pod = (name: string, script: string): string => `apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  runtimeClassName: microvm
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, ${JSON.stringify(script)}]
`;
    writeFileSync(
      file,
      `${pod('vm-ok', "uname -r; cat /proc/cpuinfo | grep -m1 'model name'")}---\n${pod('vm-fail', 'echo failing; exit 3')}`,
    );
    const applied = await c.cli(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    const phase = (name: string) =>
      waitFor(
        `${name} finished`,
        async () => {
          const p = await c.client.get(pods, 'default', name);
          return ['Succeeded', 'Failed'].includes(p.status?.phase) ? p : undefined;
        },
        90_000,
      );
    const [ok, failed] = await Promise.all([phase('vm-ok'), phase('vm-fail')]);
    expect(ok.status.phase).toBe('Succeeded');
    expect(failed.status.phase).toBe('Failed');
    expect(failed.status.containerStatuses[0].state.terminated.exitCode).toBe(3);

    const logs = await c.cli(['logs', 'vm-ok']);
    expect(logs.code, logs.stderr).toBe(0);
    const [kernel, cpu] = logs.stdout.trim().split('\n');
    expect(kernel).toMatch(/-cloud-amd64$/);
    expect(kernel).not.toBe(release());
    expect(cpu).toMatch(/model name\s*: QEMU/);
    expect((await c.cli(['logs', 'vm-fail'])).stdout).toBe('failing\n');
  }, 150_000);
});
