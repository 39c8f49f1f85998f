// End to end, metrics: a real single-node cluster runs a wasm pod and container pods; the agent's
// cAdvisor endpoint carries their CPU and memory with cAdvisor's labels, metrics.k8s.io answers
// `kubectl top` and `strata top`, the server's /metrics counts API requests, and a CPU-limited busy
// container is flagged CPU-throttled by `strata top pods --bottlenecks` and `strata describe pod`.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, wasm, waitFor, missingTools, agentGet as agentGetOf } from './harness.ts';

function missingContainers(): string | undefined {
  return missingTools(['runc', 'conmon', 'kubectl'], 'the container tier needs root');
}
const why = missingContainers();
if (why) console.warn(`skipping metrics e2e tests: ${why}`);

let c: Cluster;

const agentGet = (path: string, token?: string) => agentGetOf(c, path, token);

/** Series of a Prometheus exposition whose labels include all of `labels`: [labels text, value]. */
function series(text: string, name: string, labels: Record<string, string>): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      out.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

describe.skipIf(!!why)('metrics end to end', () => {
  let token: string;
  beforeAll(async () => {
    c = await new Cluster().up();
    token = readFileSync(c.tokenFile, 'utf8').trim();
    await c.importTestImages('busybox');
    const manifest = `apiVersion: v1
kind: Pod
metadata: { name: tick, labels: { app: tick } }
spec:
  runtimeClassName: wasm
  containers:
  - name: main
    image: ${wasm('ticker')}
    resources: { requests: { memory: 16Mi }, limits: { memory: 32Mi } }
---
apiVersion: v1
kind: Pod
metadata: { name: busy, labels: { app: busy } }
spec:
  runtimeClassName: container
  containers:
  - name: spin
    image: localhost/busybox:1.0
    command: [sh, -c, 'while :; do :; done']
    resources: { requests: { cpu: 50m, memory: 8Mi }, limits: { cpu: 100m, memory: 64Mi } }
  - name: idle
    image: localhost/busybox:1.0
    command: [sleep, '3600']
`;
    const applied = await c.kubectl(['apply', '-f', '-'], { input: manifest });
    expect(applied.code, applied.stderr).toBe(0);
    for (const pod of ['tick', 'busy']) {
      const w = await c.kubectl(['wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=120s'], {
        timeoutMs: 130_000,
      });
      expect(w.code, w.stderr).toBe(0);
    }
  }, 300_000);

  afterAll(async () => {
    await c?.stop();
  });

  it('the agent serves cAdvisor series for each tier with their labels, behind authentication', async () => {
    expect((await agentGet('/metrics/cadvisor')).status).toBe(401);
    const text = await waitFor(
      'cpu series of both pods',
      async () => {
        const r = await agentGet('/metrics/cadvisor', token);
        const busy = series(r.body, 'container_cpu_usage_seconds_total', { pod: 'busy', container: 'spin' });
        const tick = series(r.body, 'container_cpu_usage_seconds_total', { pod: 'tick', container: 'main' });
        return busy[0] > 0 && tick[0] > 0 && r.body;
      },
      60_000,
    );
    const labels = { namespace: 'default', pod: 'tick', container: 'main', runtime_class: 'wasm' };
    expect(series(text, 'container_memory_working_set_bytes', labels)[0]).toBeGreaterThan(0);
    expect(series(text, 'container_spec_memory_limit_bytes', labels)[0]).toBe(32 * 1024 * 1024);
    const spin = { namespace: 'default', pod: 'busy', container: 'spin', runtime_class: 'container' };
    expect(series(text, 'container_memory_working_set_bytes', spin)[0]).toBeGreaterThan(0);
    expect(series(text, 'container_cpu_cfs_periods_total', spin)[0]).toBeGreaterThan(0);
    expect(series(text, 'container_start_time_seconds', spin)[0]).toBeGreaterThan(1.7e9);
    // The pod's own series: container="" sums its containers.
    expect(
      series(text, 'container_cpu_usage_seconds_total', { pod: 'busy', container: '' })[0],
    ).toBeGreaterThan(0);
    expect(series(text, 'container_network_receive_bytes_total', { pod: 'busy', container: '' }).length).toBe(
      1,
    );
    const resource = await agentGet('/metrics/resource', token);
    expect(series(resource.body, 'pod_cpu_usage_seconds_total', { pod: 'busy' })[0]).toBeGreaterThan(0);
    const node = await agentGet('/metrics', token);
    expect(node.body).toMatch(/^node_cpu_seconds_total\{cpu="0",mode="idle"\} \d/m);
    expect(node.body).toMatch(/^node_memory_MemTotal_bytes \d/m);
    expect(node.body).toMatch(/^strata_agent_sandboxes\{runtime_class="container"\} 2$/m);
  }, 120_000);

  it('kubectl top and strata top read metrics.k8s.io', async () => {
    const pods = await waitFor(
      'kubectl top pods',
      async () => {
        const r = await c.kubectl(['top', 'pods', '--containers']);
        return r.code === 0 && r.stdout.includes('busy') && r.stdout.includes('tick') && r.stdout;
      },
      90_000,
    );
    expect(pods).toMatch(/^POD\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/m);
    // The busy container runs at its 100m limit (kubectl rounds to whole millicores).
    const spin = /^busy\s+spin\s+(\d+)m/m.exec(pods);
    expect(Number(spin?.[1])).toBeGreaterThan(50);
    const nodes = await c.kubectl(['top', 'nodes']);
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(nodes.stdout).toMatch(/^node-a\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%/m);
    const strata = await c.cli(['top', 'pods', '-l', 'app=tick']);
    expect(strata.code, strata.stderr).toBe(0);
    expect(strata.stdout).toMatch(/^tick\s+\d+m\s+\d+Mi/m);
    expect(strata.stdout).not.toContain('busy');
  }, 120_000);

  it('the server counts API requests by verb, resource and code on /metrics', async () => {
    await c.kubectl(['get', 'pods']);
    const res = await c.kubectl(['get', '--raw', '/metrics']);
    expect(res.code, res.stderr).toBe(0);
    expect(
      series(res.stdout, 'apiserver_request_total', { verb: 'list', resource: 'pods', code: '200' })[0],
    ).toBeGreaterThan(0);
    expect(res.stdout).toMatch(/^apiserver_request_duration_seconds_bucket\{.*resource="pods"/m);
    expect(series(res.stdout, 'kube_pod_status_phase', { pod: 'busy', phase: 'Running' })[0]).toBe(1);
    expect(
      series(res.stdout, 'scheduler_schedule_attempts_total', { result: 'scheduled' })[0],
    ).toBeGreaterThanOrEqual(2);
    expect(res.stdout).toMatch(/^workqueue_adds_total\{name="[^"]+"\} \d/m);
  });

  it('a CPU-limited busy container is flagged CPU-throttled, with its evidence', async () => {
    const out = await waitFor(
      'throttling verdict',
      async () => {
        const r = await c.cli(['top', 'pods', '--bottlenecks']);
        return r.code === 0 && /^busy .*CPU-throttled/m.test(r.stdout) && r.stdout;
      },
      90_000,
    );
    expect(out).toMatch(/^busy\s+container\s+/m);
    expect(out).toMatch(/CPU-throttled \d+ % of periods in the last 5 min: raise limits.cpu or scale out/);
    expect(out).toMatch(/^tick\s+wasm\s+/m);
    const described = await c.cli(['describe', 'pod', 'busy']);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toMatch(/Verdict:\s+CPU-throttled/);
    expect(described.stdout).toMatch(/CPU:\s+\d+m .*throttled \d+% of periods/);
  }, 120_000);
});
