import { describe, expect, it } from 'vitest';
import { invalid, podWith, valid } from './testing.ts';

const fields = (spec: Record<string, unknown>, image?: string) =>
  invalid(podWith(spec, image)).map((c) => c.field);

describe('Pod placement fields', () => {
  it('accepts the full affinity, toleration, spread and priority subset', () => {
    const p = valid(
      podWith({
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    { key: 'topology.kubernetes.io/zone', operator: 'In', values: ['a', 'b'] },
                    { key: 'gpu', operator: 'DoesNotExist' },
                    { key: 'cores', operator: 'Gt', values: ['4'] },
                  ],
                },
                { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] },
              ],
            },
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 50,
                preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] },
              },
            ],
          },
          podAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'topology.kubernetes.io/zone' },
            ],
          },
          podAntiAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 100,
                podAffinityTerm: {
                  labelSelector: { matchLabels: { app: 'web' } },
                  topologyKey: 'kubernetes.io/hostname',
                  namespaces: ['default', 'prod'],
                },
              },
            ],
          },
        },
        tolerations: [
          { key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' },
          { operator: 'Exists' },
          {
            key: 'node.kubernetes.io/unreachable',
            operator: 'Exists',
            effect: 'NoExecute',
            tolerationSeconds: 30,
          },
        ],
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: 'topology.kubernetes.io/zone',
            whenUnsatisfiable: 'DoNotSchedule',
            labelSelector: { matchLabels: { app: 'web' } },
            minDomains: 3,
          },
        ],
        priorityClassName: 'high',
        preemptionPolicy: 'Never',
      }),
    );
    expect(p.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight).toBe(50);
  });

  it('names the field of each bad placement rule', () => {
    const na = (expr: unknown) => ({
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [expr] }],
          },
        },
      },
    });
    const base =
      'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]';
    expect(fields(na({ key: 'a', operator: 'Gt', values: ['x'] }))).toEqual([`${base}.values[0]`]);
    expect(fields(na({ key: 'a', operator: 'Lt' }))).toEqual([`${base}.values`]);
    expect(fields(na({ key: 'a', operator: 'In' }))).toEqual([`${base}.values`]);
    expect(fields(na({ key: 'a', operator: 'Exists', values: ['x'] }))).toEqual([`${base}.values`]);
    expect(fields(na({ key: 'a', operator: 'Near' }))).toEqual([`${base}.operator`]);
    expect(
      fields({
        affinity: {
          podAntiAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 101, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } },
            ],
          },
        },
      }),
    ).toEqual(['spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight']);
    expect(
      fields({
        topologySpreadConstraints: [{ maxSkew: 0, topologyKey: 'zone', whenUnsatisfiable: 'Maybe' }],
      }),
    ).toEqual([
      'spec.topologySpreadConstraints[0].maxSkew',
      'spec.topologySpreadConstraints[0].whenUnsatisfiable',
    ]);
    expect(
      fields({
        topologySpreadConstraints: [
          { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', minDomains: 2 },
        ],
      }),
    ).toEqual(['spec.topologySpreadConstraints[0].minDomains']);
    expect(fields({ tolerations: [{ key: 'k', effect: 'Sometimes' }] })).toEqual([
      'spec.tolerations[0].effect',
    ]);
    expect(fields({ preemptionPolicy: 'Always' })).toEqual(['spec.preemptionPolicy']);
    expect(fields({ priority: 1.5 })).toEqual(['spec.priority']);
  });

  it('rejects exec probes for wasm pods, naming the field', () => {
    const probe = { exec: { command: ['true'] } };
    const causes = invalid(
      podWith({ containers: [{ name: 'app', image: 'app.wasm', livenessProbe: probe }] }),
    );
    expect(causes).toEqual([
      {
        field: 'spec.containers[0].livenessProbe.exec',
        reason: 'FieldValueForbidden',
        message:
          'Forbidden: exec probes are not supported by the wasm runtime class; use httpGet or tcpSocket',
      },
    ]);
    // Explicit wasm class, readiness probe of a second container.
    expect(
      fields({
        runtimeClassName: 'wasm',
        containers: [
          { name: 'a', image: 'x' },
          { name: 'b', image: 'y', readinessProbe: probe },
        ],
      }),
    ).toEqual(['spec.containers[1].readinessProbe.exec']);
    // Containers may exec; wasm may use httpGet.
    valid(podWith({ containers: [{ name: 'app', image: 'nginx', livenessProbe: probe }] }));
    valid(
      podWith({ containers: [{ name: 'app', image: 'a.wasm', livenessProbe: { httpGet: { port: 8080 } } }] }),
    );
  });

  it('accepts status.nominatedNodeName', async () => {
    const { validateStatus } = await import('../validate.ts');
    expect(validateStatus('pods', { phase: 'Pending', nominatedNodeName: 'n1' })).toEqual([]);
  });
});
