// End to end, an HPA on the Pods metric requests_per_second: a real single-node cluster runs a busybox
// httpd Deployment behind a `type: LoadBalancer` Service, so its requests go through the node gateway.
// A bounded load (loopback, at most 20 requests/s: a busy 2-core machine gives less) against a target of
// 1 per pod scales it up to its maxReplicas; status.currentMetrics and `kubectl get hpa` show the rate
// the gateways counted, and custom.metrics.k8s.io serves the same rate per pod and per Service (what
// prometheus-adapter serves); when the load stops the rate falls to 0 and the HPA scales back down after its
// short stabilization window.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/lib/free-port.ts';
import { Cluster, missingTools, waitFor } from './harness.ts';

const why = missingTools(['runc', 'conmon', 'nft', 'kubectl']);
if (why) console.warn(`skipping the requests_per_second HPA e2e test: ${why}`);

let c: Cluster;
let lbPort: number;

const manifest = (port: number) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      runtimeClassName: container
      terminationGracePeriodSeconds: 1
      containers:
        - name: httpd
          image: localhost/busybox:1.0
          command: [sh, -c, 'mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www']
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { tcpSocket: { port: http }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  type: LoadBalancer
  selector: { app: web }
  ports: [{ name: http, port: ${port}, targetPort: http }]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: web }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Pods
      pods:
        metric: { name: requests_per_second }
        target: { type: AverageValue, averageValue: "1" }
  # A short scale-down window, so the test sees the way down (kube's default is 300 s).
  behavior: { scaleDown: { stabilizationWindowSeconds: 10 } }
`;

/** One GET through the gateway's LoadBalancer port; resolves with the status (0 on a network error). */
function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
  });
}

/** A bounded load: one request every 50 ms (at most 8 in flight), until stopped. Counts the answers. */
function load(port: number): { stop(): Promise<void>; answered: Map<number, number> } {
  const answered = new Map<number, number>();
  const inflight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    if (inflight.size >= 8) return;
    const p = get(port).then((s) => void answered.set(s, (answered.get(s) ?? 0) + 1));
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }, 50);
  return {
    answered,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inflight]);
    },
  };
}

/** A status quantity (`20`, `6500m`) as a number. */
function quantity(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

async function replicas(): Promise<number> {
  const r = await c.kubectl(['get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}']);
  return Number(r.stdout);
}

async function explain(err: unknown): Promise<never> {
  const hpa = await c.kubectl(['get', 'hpa', 'web', '-o', 'yaml']);
  const ev = await c.kubectl(['get', 'events']);
  throw new Error(`${(err as Error).message}\n${hpa.stdout}\n${ev.stdout}`);
}

describe.skipIf(!!why)('HPA on requests_per_second end to end', () => {
  beforeAll(async () => {
    lbPort = await freePort('0.0.0.0');
    c = await new Cluster().up(['--http-port', String(await freePort('0.0.0.0')), '--https-port', '0']);
    await c.importTestImages('busybox');
    const applied = await c.kubectl(['apply', '-f', '-'], { input: manifest(lbPort) });
    expect(applied.code, applied.stderr).toBe(0);
    const ready = await c.kubectl(['rollout', 'status', 'deployment/web', '--timeout=180s'], {
      timeoutMs: 200_000,
    });
    expect(ready.code, ready.stderr).toBe(0);
    await waitFor('the LoadBalancer port answering', async () => (await get(lbPort)) === 200, 60_000);
  }, 400_000);

  afterAll(async () => {
    await c?.stop();
  });

  it('scales up under load through the gateway, shows the rate, and scales down when it stops', async () => {
    const l = load(lbPort);
    let perPod: any;
    let perService: any;
    try {
      await waitFor('the HPA to scale web to 3', async () => (await replicas()) === 3, 180_000).catch(
        explain,
      );
      // The same rate through custom.metrics.k8s.io, as prometheus-adapter would serve it (load still on).
      const raw = async (path: string) => {
        const r = await c.kubectl(['get', '--raw', path]);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout);
      };
      perPod = await raw(
        '/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/requests_per_second?labelSelector=app%3Dweb',
      );
      perService = await raw(
        '/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/services/web/requests_per_second',
      );
    } finally {
      await l.stop();
    }
    expect(perPod.kind).toBe('MetricValueList');
    expect(perPod.items.length).toBeGreaterThanOrEqual(1);
    for (const item of perPod.items) {
      expect(item.describedObject).toMatchObject({ kind: 'Pod', namespace: 'default' });
      expect(item.describedObject.name).toMatch(/^web-/);
      expect(item.metric).toEqual({ name: 'requests_per_second', selector: { matchLabels: { app: 'web' } } });
      expect(quantity(item.value)).toBeGreaterThanOrEqual(0);
    }
    // What the pods served, counted per backend by the gateway: the load reached them.
    expect(perPod.items.reduce((sum: number, i: any) => sum + quantity(i.value), 0)).toBeGreaterThan(0);
    expect(perService.items).toHaveLength(1);
    expect(perService.items[0]).toMatchObject({
      describedObject: { kind: 'Service', name: 'web' },
      metricName: 'requests_per_second',
    });
    // The Service's rate is what its pods' shares add up to (one window apart at most): the load's ~20/s or less.
    expect(quantity(perService.items[0].value)).toBeGreaterThan(0);
    expect(quantity(perService.items[0].value)).toBeLessThanOrEqual(25);
    const unknown = await c.kubectl([
      'get',
      '--raw',
      '/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/queue_depth',
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('the server could not find the metric queue_depth for pods');
    const discovery = JSON.parse(
      (await c.kubectl(['get', '--raw', '/apis/custom.metrics.k8s.io/v1beta2'])).stdout,
    );
    expect(discovery.resources.map((r: any) => r.name)).toEqual([
      'pods/requests_per_second',
      'services/requests_per_second',
    ]);
    expect(l.answered.get(200)).toBeGreaterThan(100);
    const hpa = JSON.parse((await c.kubectl(['get', 'hpa', 'web', '-o', 'json'])).stdout);
    const metric = hpa.status.currentMetrics[0];
    expect(metric.type).toBe('Pods');
    expect(metric.pods.metric.name).toBe('requests_per_second');
    // The average the gateways' rate gave when it scaled: above the target of 1.
    expect(quantity(metric.pods.current.averageValue)).toBeGreaterThan(1);
    expect(hpa.status.conditions.find((x: any) => x.type === 'ScalingActive')).toMatchObject({
      status: 'True',
      reason: 'ValidMetricFound',
    });
    const ev = await c.kubectl([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=web,reason=SuccessfulRescale',
    ]);
    expect(ev.stdout).toContain('pods metric requests_per_second above target');
    const got = await c.kubectl(['get', 'hpa', 'web']);
    // REPLICAS is status.currentReplicas: the pods the Deployment had when the HPA last looked.
    expect(got.stdout).toMatch(/web\s+Deployment\/web\s+\d+m?\/1\s+1\s+3\s+\d\s/);
    // No load: the gateways' rate falls to 0 within its window, then the stabilization window passes.
    await waitFor('the HPA to scale web back to 1', async () => (await replicas()) === 1, 180_000).catch(
      explain,
    );
    const down = JSON.parse((await c.kubectl(['get', 'hpa', 'web', '-o', 'json'])).stdout);
    expect(quantity(down.status.currentMetrics[0].pods.current.averageValue)).toBeLessThan(1);
  }, 420_000);
});
