// The HPA controller on a real store: it reads the target's scale and the pods' readings, writes the
// target's replicas, status and events. Readings come from a fixed stats summary (the agents' part is
// covered by the e2e test, test/e2e/hpa.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { HorizontalPodAutoscalerController, type PodUsageSummary } from './hpa.ts';
import {
  DEPLOYMENT,
  EVENT,
  POD,
  type TestObjects,
  condition,
  openTestObjects,
  podObject,
  until,
} from './testutil.ts';

const HPA = kindFor('autoscaling/v2', 'HorizontalPodAutoscaler')!;
let t: TestObjects;
let objects: ObjectStore;
let controller: HorizontalPodAutoscalerController;
/** millicores per pod name, as the agents would report them. */
let usage: Record<string, number>;

const resources = {
  intervalMs: 10_000,
  async fresh() {
    const time = new Date().toISOString();
    const pods: PodUsageSummary[] = Object.entries(usage).map(([name, milli]) => ({
      podRef: { name, namespace: 'default', uid: name },
      containers: [
        {
          name: 'app',
          cpu: { time, usageNanoCores: milli * 1e6 },
          memory: { time, workingSetBytes: 1 << 20 },
        },
      ],
    }));
    return [{ summary: { pods } }];
  },
};

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  usage = {};
  // An hour ahead: the pods are past kube's 5-minute CPU initialization period.
  controller = new HorizontalPodAutoscalerController({
    objects,
    resources,
    syncPeriodMs: 3_600_000,
    now: () => Date.now() + 3_600_000,
  });
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

async function deployment(replicas: number) {
  await objects.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'app', image: 'busybox' }] },
      },
    },
  });
}

async function runningPod(name: string, milli: number) {
  const p = podObject({ name, cpu: '100m', nodeName: 'n1' });
  p.metadata.labels = { app: 'web' };
  const created = await objects.create(p);
  const now = new Date().toISOString();
  await objects.mutate(
    POD,
    'default',
    name,
    (x) => {
      x.status = {
        phase: 'Running',
        startTime: now,
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      };
      return x;
    },
    'status',
  );
  usage[name] = milli;
  return created;
}

function hpa(spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 10,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } },
        },
      ],
      ...spec,
    },
  };
}

describe('HorizontalPodAutoscalerController', () => {
  it('scales a Deployment up from its pods CPU, reports status, conditions and SuccessfulRescale', async () => {
    await deployment(2);
    await runningPod('web-a', 100);
    await runningPod('web-b', 100);
    await objects.create(hpa());
    await controller.syncNow('default', 'web');
    // 100 % of requests against a 50 % target: 2 → 4 (the default scale-up allows max(2×2, 4)).
    expect((await objects.get(DEPLOYMENT, 'default', 'web')).spec.replicas).toBe(4);
    const h = await objects.get(HPA, 'default', 'web');
    expect(h.status).toMatchObject({
      desiredReplicas: 4,
      currentMetrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', current: { averageUtilization: 100, averageValue: '100m' } },
        },
      ],
    });
    expect(h.status.lastScaleTime).toBeTruthy();
    expect(condition(h, 'AbleToScale')).toMatchObject({ status: 'True', reason: 'SucceededRescale' });
    expect(condition(h, 'ScalingActive')).toMatchObject({ status: 'True', reason: 'ValidMetricFound' });
    expect(condition(h, 'ScalingLimited')).toMatchObject({ status: 'False', reason: 'DesiredWithinRange' });
    const events = await until(async () => {
      const { items } = await objects.list(EVENT, 'default');
      const e = (items as any[]).filter((x) => x.reason === 'SuccessfulRescale');
      return e.length ? e : undefined;
    });
    expect(events[0].message).toBe(
      'New size: 4; reason: cpu resource utilization (percentage of request) above target',
    );
  });

  it('scales down only after the scale-down stabilization window, and respects minReplicas', async () => {
    await deployment(3);
    for (const n of ['web-a', 'web-b', 'web-c']) await runningPod(n, 5);
    await objects.create(hpa({ minReplicas: 2, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } }));
    await controller.syncNow('default', 'web');
    expect((await objects.get(DEPLOYMENT, 'default', 'web')).spec.replicas).toBe(2);
    const h = await objects.get(HPA, 'default', 'web');
    expect(condition(h, 'ScalingLimited')).toMatchObject({ status: 'True', reason: 'TooFewReplicas' });
  });

  it('does not scale while metrics are missing, and says why in ScalingActive', async () => {
    await deployment(2);
    await objects.create(hpa());
    await controller.syncNow('default', 'web');
    expect((await objects.get(DEPLOYMENT, 'default', 'web')).spec.replicas).toBe(2);
    const h = await objects.get(HPA, 'default', 'web');
    expect(condition(h, 'ScalingActive')).toMatchObject({
      status: 'False',
      reason: 'FailedGetResourceMetric',
    });
  });

  it('reconciles an autoscaling/v1 object (kubectl 1.32 autoscale) as kube converts it, writing a v1 status', async () => {
    await deployment(2);
    await runningPod('web-a', 100);
    await runningPod('web-b', 100);
    await objects.create({
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        maxReplicas: 3,
        targetCPUUtilizationPercentage: 50,
      },
    });
    await controller.syncNow('default', 'web');
    expect((await objects.get(DEPLOYMENT, 'default', 'web')).spec.replicas).toBe(3);
    const h = await objects.get(HPA, 'default', 'web');
    expect(h.apiVersion).toBe('autoscaling/v1');
    expect(h.status).toMatchObject({ currentCPUUtilizationPercentage: 100, desiredReplicas: 3 });
  });

  it('reports a target that does not exist in AbleToScale', async () => {
    await objects.create(hpa());
    await controller.syncNow('default', 'web');
    const h = await objects.get(HPA, 'default', 'web');
    expect(condition(h, 'AbleToScale')).toMatchObject({ status: 'False', reason: 'FailedGetScale' });
  });
});
