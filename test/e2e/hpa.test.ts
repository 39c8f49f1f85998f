// End to end, HorizontalPodAutoscaler: a real single-node cluster runs a busybox Deployment requesting
// 100m CPU; `strata autoscale` and `kubectl autoscale` (autoscaling/v1 in kubectl 1.32) create HPAs; a busy loop switched on in one pod
// drives utilization far above the 50 % target and the HPA scales the Deployment up (the readings come
// from the agent's stats through the server's metrics poller, as `kubectl top` sees them); when the
// loop stops, the HPA scales back down after its short scaleDown.stabilizationWindowSeconds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, missingTools, waitFor } from './harness.ts';

const why = missingTools(['runc', 'conmon', 'kubectl'], 'the container tier needs root');
if (why) console.warn(`skipping HPA e2e tests: ${why}`);

let c: Cluster;

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: burn }
spec:
  replicas: 1
  selector: { matchLabels: { app: burn } }
  template:
    metadata: { labels: { app: burn } }
    spec:
      runtimeClassName: container
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: localhost/busybox:1.0
        # Idle until /tmp/burn exists, then a busy loop for as long as it does (about one core).
        command: [sh, -c, 'trap "exit 0" TERM; while :; do while [ -f /tmp/burn ]; do :; done; sleep 1; done']
        resources: { requests: { cpu: 100m } }
`;

async function replicas(): Promise<number> {
  const r = await c.kubectl(['get', 'deployment', 'burn', '-o', 'jsonpath={.spec.replicas}']);
  return Number(r.stdout);
}

describe.skipIf(!!why)('HorizontalPodAutoscaler end to end', () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages('busybox');
    const applied = await c.kubectl(['apply', '-f', '-'], { input: deployment });
    expect(applied.code, applied.stderr).toBe(0);
    const ready = await c.kubectl(['rollout', 'status', 'deployment/burn', '--timeout=180s'], {
      timeoutMs: 200_000,
    });
    expect(ready.code, ready.stderr).toBe(0);
  }, 400_000);

  afterAll(async () => {
    await c?.stop();
  });

  it("strata autoscale creates an HPA; kubectl get hpa prints kube's columns", async () => {
    const r = await c.cli([
      'autoscale',
      'deployment/burn',
      '--name',
      'burn-probe',
      '--min',
      '1',
      '--max',
      '2',
      '--cpu-percent',
      '90',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('horizontalpodautoscaler.autoscaling/burn-probe autoscaled');
    const got = await c.kubectl(['get', 'hpa', 'burn-probe']);
    expect(got.stdout).toMatch(/^NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\s+AGE/);
    expect(got.stdout).toMatch(/burn-probe\s+Deployment\/burn\s+cpu: \S+\/90%\s+1\s+2\s/);
    expect((await c.kubectl(['delete', 'hpa', 'burn-probe'])).code).toBe(0);
    // kubectl 1.32's autoscale writes autoscaling/v1 (targetCPUUtilizationPercentage).
    const k = await c.kubectl([
      'autoscale',
      'deployment',
      'burn',
      '--name',
      'burn-kubectl',
      '--min=1',
      '--max=2',
      '--cpu-percent=90',
    ]);
    expect(k.code, k.stderr).toBe(0);
    expect(k.stdout).toContain('horizontalpodautoscaler.autoscaling/burn-kubectl autoscaled');
    const listed = await c.kubectl(['get', 'hpa', 'burn-kubectl']);
    expect(listed.stdout).toMatch(/burn-kubectl\s+Deployment\/burn\s+cpu: \S+\/90%\s+1\s+2\s/);
    // One HPA per target: the next test's own HPA follows.
    expect((await c.kubectl(['delete', 'hpa', 'burn-kubectl'])).code).toBe(0);
  });

  it('scales a CPU-bound Deployment up under load and back down after the stabilization window', async () => {
    const made = await c.cli([
      'autoscale',
      'deployment/burn',
      '--min',
      '1',
      '--max',
      '3',
      '--cpu-percent',
      '50',
    ]);
    expect(made.code, made.stderr).toBe(0);
    // A short scale-down window, so the test sees the way down (kube's default is 300 s).
    const patched = await c.kubectl([
      'patch',
      'hpa',
      'burn',
      '--type=merge',
      '-p',
      '{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":15}}}}',
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    // Load: the first pod's loop turns busy (about 1000m against its 100m request).
    const first = (
      await c.kubectl(['get', 'pods', '-l', 'app=burn', '-o', 'jsonpath={.items[0].metadata.name}'])
    ).stdout;
    const started = await c.kubectl(['exec', first, '--', 'touch', '/tmp/burn']);
    expect(started.code, started.stderr).toBe(0);
    await waitFor('the HPA to scale burn up', async () => (await replicas()) > 1, 180_000).catch(
      async (err) => {
        // What the HPA saw, for the failure message.
        const hpa = await c.kubectl(['get', 'hpa', 'burn', '-o', 'yaml']);
        const top = await c.kubectl(['top', 'pods']);
        const ev = await c.kubectl(['get', 'events']);
        throw new Error(`${(err as Error).message}\n${hpa.stdout}\n${top.stdout}${top.stderr}\n${ev.stdout}`);
      },
    );
    const up = await c.kubectl(['get', 'hpa', 'burn', '-o', 'json']);
    const hpa = JSON.parse(up.stdout);
    expect(hpa.status.currentMetrics[0].resource.current.averageUtilization).toBeGreaterThan(50);
    expect(hpa.status.conditions.find((x: any) => x.type === 'ScalingActive').status).toBe('True');
    expect(hpa.status.lastScaleTime).toBeTruthy();
    const ev = await c.kubectl([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=burn,reason=SuccessfulRescale',
    ]);
    expect(ev.stdout).toMatch(
      /New size: \d; reason: cpu resource utilization \(percentage of request\) above target/,
    );
    // Load off: back to one replica once the 15 s window has passed.
    const stopped = await c.kubectl(['exec', first, '--', 'rm', '/tmp/burn']);
    expect(stopped.code, stopped.stderr).toBe(0);
    await waitFor('the HPA to scale burn back down to 1', async () => (await replicas()) === 1, 240_000);
    const ev2 = await c.kubectl([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=burn,reason=SuccessfulRescale',
    ]);
    expect(ev2.stdout).toContain('All metrics below target');
  }, 600_000);
});
