// requests_per_second from the gateways' counters: the gateway's own Counters exposition, served by real
// HTTP servers standing for two nodes' agents, sampled through a real store's Nodes and EndpointSlices;
// then an HPA with that Pods metric, on the controller, scales its Deployment.
import { type IncomingMessage, type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REQUESTS_PER_SECOND, kindFor } from '../api/index.ts';
import { Counters } from '../net/gateway/counters.ts';
import { HorizontalPodAutoscalerController } from './hpa.ts';
import { GatewayRequestRates, parseRequestTotals } from './hpa-gateway-rps.ts';
import {
  DEPLOYMENT,
  POD,
  type TestObjects,
  condition,
  createNode,
  openTestObjects,
  podObject,
  until,
} from './testutil.ts';

const HPA = kindFor('autoscaling/v2', 'HorizontalPodAutoscaler')!;

/** Count requests the way the gateway's Upstream does. */
function count(c: Counters, upstream: string, code: number, n: number): void {
  c.incKey(Counters.key('strata_gateway_requests_total', { upstream, code: String(code) }), n);
}

let t: TestObjects;
let servers: Server[];
/** Each node's gateway counters, served as its agent's /metrics. */
const gateways = new Map<string, Counters>();
let clock: number;

/** Reaches a node's "agent": the HTTP server serving that node's counters. */
const agents = {
  request(node: any, path: string): Promise<IncomingMessage> {
    const port = node.status.daemonEndpoints.kubeletEndpoint.Port;
    return new Promise((resolve, reject) =>
      request({ host: '127.0.0.1', port, path }, resolve).on('error', reject).end(),
    );
  },
};

async function node(name: string): Promise<void> {
  const counters = new Counters();
  gateways.set(name, counters);
  const s = createServer((req, res) => res.end(req.url === '/metrics' ? counters.text() : ''));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  await createNode(t.objects, { name });
  await t.objects.mutate(
    kindFor('v1', 'Node')!,
    undefined,
    name,
    (n: any) => {
      n.status.daemonEndpoints = { kubeletEndpoint: { Port: (s.address() as AddressInfo).port } };
      return n;
    },
    'status',
  );
}

async function slice(name: string, service: string, pods: Record<string, boolean>): Promise<void> {
  await t.objects.create({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Object.entries(pods).map(([pod, ready], i) => ({
      addresses: [`10.1.0.${i + 1}`],
      conditions: { ready },
      targetRef: { kind: 'Pod', namespace: 'default', name: pod },
    })),
  });
}

beforeEach(async () => {
  t = await openTestObjects();
  servers = [];
  gateways.clear();
  clock = Date.parse('2026-01-01T12:00:00Z');
  await node('node-a');
  await node('node-b');
});

afterEach(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  await t.close();
});

describe('parseRequestTotals', () => {
  it("sums the gateway's exposition per upstream over status codes, unescaping labels", () => {
    const c = new Counters();
    count(c, 'default/web:http', 200, 7);
    count(c, 'default/web:http', 503, 3);
    count(c, 'default/we"ird:80', 200, 1);
    c.inc('strata_gateway_retries_total', { upstream: 'default/web:http' }, 5);
    const totals = parseRequestTotals(c.text());
    expect(totals).toEqual(
      new Map([
        ['default/web:http', 10],
        ['default/we"ird:80', 1],
      ]),
    );
  });
});

describe('GatewayRequestRates', () => {
  it("gives each ready endpoint pod an equal share of its Service's rate, summed over nodes", async () => {
    await slice('web-1', 'web', { 'web-a': true, 'web-b': true, 'web-c': false });
    await slice('other-1', 'other', { 'web-a': true });
    count(gateways.get('node-a')!, 'default/web:http', 200, 1000);
    const rates = new GatewayRequestRates({ objects: t.objects, agents, now: () => clock });
    try {
      // One sample is no rate yet: no readings (the HPA says no metrics were returned).
      expect((await rates.podMetric('default', REQUESTS_PER_SECOND, ['web-a', 'web-b'])).size).toBe(0);
      clock += 10_000;
      count(gateways.get('node-a')!, 'default/web:http', 200, 100);
      count(gateways.get('node-b')!, 'default/web:http', 502, 50);
      count(gateways.get('node-b')!, 'default/other:80', 200, 20);
      const r = await rates.podMetric('default', REQUESTS_PER_SECOND, ['web-a', 'web-b', 'web-c']);
      // web: 150 requests in 10 s over 2 ready pods → 7.5 each; web-a also backs `other`: + 2.
      expect(r.get('web-a')).toMatchObject({ value: 9.5, windowMs: 10_000 });
      expect(r.get('web-b')?.value).toBe(7.5);
      expect(r.has('web-c')).toBe(false);
    } finally {
      rates.stop();
    }
  });

  it('gives each pod what the gateways counted for its address when they count per backend', async () => {
    await slice('web-1', 'web', { 'web-a': true, 'web-b': true, 'web-c': true });
    const backend = (node: string, address: string, n: number) =>
      gateways.get(node)!.incKey(
        Counters.key('strata_gateway_backend_requests_total', {
          upstream: 'default/web:http',
          backend: address,
        }),
        n,
      );
    count(gateways.get('node-a')!, 'default/web:http', 200, 10);
    backend('node-a', '10.1.0.1:8080', 10);
    const rates = new GatewayRequestRates({ objects: t.objects, agents, now: () => clock });
    try {
      await rates.podMetric('default', REQUESTS_PER_SECOND, ['web-a']);
      clock += 10_000;
      // 400 requests in 10 s, unevenly: web-a 300 (over two nodes), web-b 100, web-c none.
      count(gateways.get('node-a')!, 'default/web:http', 200, 250);
      count(gateways.get('node-b')!, 'default/web:http', 200, 150);
      backend('node-a', '10.1.0.1:8080', 200);
      backend('node-b', '10.1.0.1:8080', 100);
      backend('node-a', '10.1.0.2:8080', 50);
      backend('node-b', '10.1.0.2:8080', 50);
      const r = await rates.podMetric('default', REQUESTS_PER_SECOND, ['web-a', 'web-b', 'web-c']);
      expect(r.get('web-a')).toMatchObject({ value: 30, windowMs: 10_000 });
      expect(r.get('web-b')?.value).toBe(10);
      expect(r.get('web-c')?.value).toBe(0);
    } finally {
      rates.stop();
    }
  });

  it("counts a counter that went down (an agent's restart) from zero", async () => {
    await slice('web-1', 'web', { 'web-a': true });
    count(gateways.get('node-a')!, 'default/web:http', 200, 500);
    const rates = new GatewayRequestRates({ objects: t.objects, agents, now: () => clock });
    try {
      await rates.sample();
      clock += 5_000;
      gateways.set('node-a', new Counters());
      count(gateways.get('node-a')!, 'default/web:http', 200, 20);
      // The restarted agent's server still serves the old object: swap what it serves.
      servers[0].removeAllListeners('request');
      servers[0].on('request', (_req, res) => res.end(gateways.get('node-a')!.text()));
      const r = await rates.podMetric('default', REQUESTS_PER_SECOND, ['web-a']);
      expect(r.get('web-a')?.value).toBe(4);
    } finally {
      rates.stop();
    }
  });

  it('refuses a metric it does not serve, naming the one it does', async () => {
    const rates = new GatewayRequestRates({ objects: t.objects, agents });
    await expect(rates.podMetric('default', 'queue_depth', ['web-a'])).rejects.toThrow(
      /the pods metrics served here are requests_per_second/,
    );
  });
});

describe('an HPA on requests_per_second', () => {
  it('scales a Deployment from the gateways rate and reports the value in currentMetrics', async () => {
    await t.objects.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'app', image: 'busybox' }] },
        },
      },
    });
    const p = podObject({ name: 'web-a', nodeName: 'node-a' });
    p.metadata.labels = { app: 'web' };
    await t.objects.create(p);
    await t.objects.mutate(
      POD,
      'default',
      'web-a',
      (x: any) => {
        x.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
        return x;
      },
      'status',
    );
    await slice('web-1', 'web', { 'web-a': true });
    const rates = new GatewayRequestRates({ objects: t.objects, agents, now: () => clock });
    const controller = new HorizontalPodAutoscalerController({
      objects: t.objects,
      podMetrics: rates,
      syncPeriodMs: 3_600_000,
    });
    await controller.start();
    try {
      await t.objects.create({
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          minReplicas: 1,
          maxReplicas: 5,
          metrics: [
            {
              type: 'Pods',
              pods: {
                metric: { name: 'requests_per_second' },
                target: { type: 'AverageValue', averageValue: '10' },
              },
            },
          ],
        },
      });
      // The first reconcile (on add) has one sample, no rate yet: it says so and does not scale.
      const first = await until(async () => {
        const h = await t.objects.get(HPA, 'default', 'web');
        return condition(h, 'ScalingActive');
      });
      expect(first).toMatchObject({ status: 'False', reason: 'FailedGetPodsMetric' });
      clock += 10_000;
      count(gateways.get('node-a')!, 'default/web:http', 200, 300);
      await controller.syncNow('default', 'web');
      // 30 requests/s against a 10 per pod target: 1 → 3.
      expect((await t.objects.get(DEPLOYMENT, 'default', 'web')).spec.replicas).toBe(3);
      const h = await t.objects.get(HPA, 'default', 'web');
      expect(h.status.currentMetrics).toEqual([
        { type: 'Pods', pods: { metric: { name: 'requests_per_second' }, current: { averageValue: '30' } } },
      ]);
      expect(condition(h, 'ScalingActive')).toMatchObject({ status: 'True', reason: 'ValidMetricFound' });
    } finally {
      await controller.stop();
      rates.stop();
    }
  });
});
