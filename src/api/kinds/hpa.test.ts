import { describe, expect, it } from 'vitest';
import { hpaTargets } from './hpa.ts';
import { invalid, valid } from './testing.ts';

const hpa = (spec: Record<string, unknown>) => ({
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    maxReplicas: 5,
    ...spec,
  },
});
const cpu = (target: Record<string, unknown>) => ({ type: 'Resource', resource: { name: 'cpu', target } });

describe('HorizontalPodAutoscaler', () => {
  it('defaults minReplicas, the 80 % CPU metric, and behavior rules only when a behavior is given', () => {
    const h = valid(hpa({}));
    expect(h.spec.minReplicas).toBe(1);
    expect(h.spec.metrics).toEqual([cpu({ type: 'Utilization', averageUtilization: 80 })]);
    expect(h.spec.behavior).toBeUndefined();
    const b = valid(hpa({ behavior: { scaleDown: { stabilizationWindowSeconds: 5 } } }));
    expect(b.spec.behavior).toEqual({
      scaleUp: {
        stabilizationWindowSeconds: 0,
        selectPolicy: 'Max',
        policies: [
          { type: 'Pods', value: 4, periodSeconds: 15 },
          { type: 'Percent', value: 100, periodSeconds: 15 },
        ],
      },
      scaleDown: {
        stabilizationWindowSeconds: 5,
        selectPolicy: 'Max',
        policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
      },
    });
  });

  it('names the field of each mistake', () => {
    expect(invalid(hpa({ maxReplicas: 0 }))[0]).toMatchObject({ field: 'spec.maxReplicas' });
    expect(invalid(hpa({ minReplicas: 6 }))[0]).toMatchObject({ field: 'spec.maxReplicas' });
    expect(invalid(hpa({ minReplicas: 0 }))[0]).toMatchObject({ field: 'spec.minReplicas' });
    expect(invalid(hpa({ metrics: [cpu({ type: 'Utilization' })] }))[0]).toMatchObject({
      field: 'spec.metrics[0].resource.target.averageUtilization',
      reason: 'FieldValueRequired',
    });
    expect(invalid(hpa({ metrics: [{ type: 'Resource' }] }))[0].field).toBe('spec.metrics[0].resource');
    expect(
      invalid(
        hpa({
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'gpu', target: { type: 'AverageValue', averageValue: 1 } },
            },
          ],
        }),
      )[0].field,
    ).toBe('spec.metrics[0].resource.name');
    expect(
      invalid(
        hpa({
          metrics: [
            {
              type: 'Pods',
              pods: { metric: { name: 'rps' }, target: { type: 'Utilization', averageUtilization: 5 } },
            },
          ],
        }),
      )[0].field,
    ).toBe('spec.metrics[0].pods.target.type');
    expect(
      invalid(
        hpa({ behavior: { scaleUp: { policies: [{ type: 'Pods', value: 0, periodSeconds: 15 }] } } }),
      )[0].field,
    ).toBe('spec.behavior.scaleUp.policies[0].value');
    expect(invalid(hpa({ behavior: { scaleDown: { stabilizationWindowSeconds: 4000 } } }))[0].field).toBe(
      'spec.behavior.scaleDown.stabilizationWindowSeconds',
    );
    expect(invalid(hpa({ scaleTargetRef: { kind: 'Deployment' } }))[0].field).toBe(
      'spec.scaleTargetRef.name',
    );
  });

  it('prints TARGETS as kubectl does', () => {
    const h = valid(
      hpa({
        metrics: [
          cpu({ type: 'Utilization', averageUtilization: 50 }),
          {
            type: 'Resource',
            resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } },
          },
          {
            type: 'Pods',
            pods: {
              metric: { name: 'requests_per_second' },
              target: { type: 'AverageValue', averageValue: '10' },
            },
          },
        ],
      }),
    );
    expect(hpaTargets(h)).toBe('cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more...');
    h.status = {
      currentMetrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', current: { averageUtilization: 45, averageValue: '45m' } },
        },
      ],
    };
    h.spec.metrics = h.spec.metrics.slice(0, 1);
    expect(hpaTargets(h)).toBe('cpu: 45%/50%');
  });
});
