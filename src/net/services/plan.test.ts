import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../../api/index.ts';
import { ServicePlanner, planServices } from './plan.ts';
import {
  CLUSTER_IPS_SET,
  ENDPOINT_SELF_SET,
  MAPS,
  backendMaps,
  chainNames,
  desiredState,
} from './ruleset.ts';

function svc(name: string, spec: Record<string, unknown>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type: 'ClusterIP', sessionAffinity: 'None', clusterIP: '10.96.0.10', ...spec },
  } as Service;
}

function slice(
  svcName: string,
  endpoints: { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean }[],
  ports: { name?: string; port: number; protocol?: 'TCP' | 'UDP' }[] = [{ name: 'http', port: 8080 }],
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${svcName}-x`,
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': svcName },
    },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
      nodeName: e.node ?? 'n1',
    })),
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
  } as EndpointSlice;
}

const http = [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }];

describe('planServices', () => {
  it('maps each Service port to its ready backends, by port name', () => {
    const plans = planServices(
      [svc('web', { ports: http })],
      [
        slice('web', [{ ip: '10.88.0.2' }, { ip: '10.88.0.3', ready: false }]),
        slice('web', [{ ip: '10.88.0.4' }], [{ name: 'metrics', port: 9090 }]),
        slice('other', [{ ip: '10.88.0.9' }]),
      ],
      { nodeName: 'n1' },
    );
    expect(plans).toEqual([
      {
        id: 'default/web/tcp/http',
        clusterIP: '10.96.0.10',
        port: 80,
        protocol: 'tcp',
        clusterBackends: [{ ip: '10.88.0.2', port: 8080, local: true }],
      },
    ]);
  });

  it('falls back to serving terminating endpoints when none is ready', () => {
    const [plan] = planServices(
      [svc('web', { ports: http })],
      [
        slice('web', [
          { ip: '10.88.0.2', ready: false, serving: true, terminating: true },
          { ip: '10.88.0.3', ready: false, serving: false, terminating: true },
        ]),
      ],
    );
    expect(plan.clusterBackends.map((b) => b.ip)).toEqual(['10.88.0.2']);
  });

  it('applies the Local traffic policies and affinity, and skips headless and ExternalName Services', () => {
    const plans = planServices(
      [
        svc('web', {
          type: 'NodePort',
          ports: [{ ...http[0], nodePort: 30080 }],
          externalTrafficPolicy: 'Local',
          internalTrafficPolicy: 'Local',
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
        }),
        svc('headless', { clusterIP: 'None', ports: http }),
        svc('ext', { type: 'ExternalName', clusterIP: undefined, externalName: 'db.example.com' }),
      ],
      [
        slice('web', [
          { ip: '10.88.0.2', node: 'n1' },
          { ip: '10.88.0.3', node: 'n2' },
        ]),
      ],
      { nodeName: 'n1' },
    );
    expect(plans).toHaveLength(1);
    expect(plans[0]).toMatchObject({
      nodePort: 30080,
      affinitySeconds: 60,
      clusterBackends: [{ ip: '10.88.0.2', local: true }],
      localBackends: [{ ip: '10.88.0.2', local: true }],
    });
  });
});

describe('desiredState', () => {
  it('routes through maps: an element per Service port and per backend, a shared chain per backend count', () => {
    const plans = planServices(
      [svc('web', { type: 'NodePort', ports: [{ ...http[0], nodePort: 30080 }] })],
      [slice('web', [{ ip: '10.88.0.2' }, { ip: '10.88.0.3' }])],
    );
    const s = desiredState(plans, { clusterCidr: '10.88.0.0/16' });
    expect(s.maps.get(MAPS.serviceIps)).toEqual(new Map([['10.96.0.10 . tcp . 80', 'goto dispatch-2']]));
    expect(s.maps.get(MAPS.nodePorts)).toEqual(new Map([['tcp . 30080', 'goto nodeport-dispatch-2']]));
    expect(s.maps.get(backendMaps.service('tcp'))).toEqual(
      new Map([
        ['10.96.0.10 . 80 . 0', '10.88.0.2 . 8080'],
        ['10.96.0.10 . 80 . 1', '10.88.0.3 . 8080'],
      ]),
    );
    expect(s.maps.get(backendMaps.nodePort('tcp'))).toEqual(
      new Map([
        ['30080 . 0', '10.88.0.2 . 8080'],
        ['30080 . 1', '10.88.0.3 . 8080'],
      ]),
    );
    expect(s.chains.get('dispatch-2')).toEqual([
      'ip saddr != 10.88.0.0/16 jump mark-for-masquerade',
      'dnat ip addr . port to ip daddr . tcp dport . numgen random mod 2 map @service-backends-tcp',
      'dnat ip addr . port to ip daddr . udp dport . numgen random mod 2 map @service-backends-udp',
      'dnat ip addr . port to ip daddr . sctp dport . numgen random mod 2 map @service-backends-sctp',
    ]);
    expect(s.chains.get('nodeport-dispatch-2')?.[0]).toBe('jump mark-for-masquerade');
    // No chain of its own: the fixed chains and the two shared ones.
    expect([...s.chains.keys()].filter((c) => c.includes('web'))).toEqual([]);
    expect(s.sets.get(CLUSTER_IPS_SET)).toEqual(new Set(['10.96.0.10']));
    expect(s.sets.get(ENDPOINT_SELF_SET)).toEqual(
      new Set(['10.88.0.2 . 10.88.0.2', '10.88.0.3 . 10.88.0.3']),
    );
  });

  it('gives ClientIP affinity and Local node ports chains of their own (a chain per backend)', () => {
    const plans = planServices(
      [
        svc('web', {
          type: 'NodePort',
          sessionAffinity: 'ClientIP',
          ports: [{ ...http[0], nodePort: 30080 }],
        }),
      ],
      [slice('web', [{ ip: '10.88.0.2' }, { ip: '10.88.0.3' }])],
    );
    const s = desiredState(plans, { clusterCidr: '10.88.0.0/16' });
    const id = 'default/web/tcp/http';
    const a = { ip: '10.88.0.2', port: 8080, local: false };
    const b = { ip: '10.88.0.3', port: 8080, local: false };
    expect(s.maps.get(MAPS.serviceIps)).toEqual(
      new Map([['10.96.0.10 . tcp . 80', `goto ${chainNames.service(id)}`]]),
    );
    expect(s.maps.get(MAPS.nodePorts)).toEqual(new Map([['tcp . 30080', `goto ${chainNames.external(id)}`]]));
    expect(s.chains.get(chainNames.service(id))).toEqual([
      `ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.88.0.0/16 jump mark-for-masquerade`,
      `ip saddr @${chainNames.affinity(id, a, 10800)} goto ${chainNames.endpoint(id, a)}`,
      `ip saddr @${chainNames.affinity(id, b, 10800)} goto ${chainNames.endpoint(id, b)}`,
      `numgen random mod 2 vmap { 0 : goto ${chainNames.endpoint(id, a)}, 1 : goto ${chainNames.endpoint(id, b)} }`,
    ]);
    expect(s.chains.get(chainNames.endpoint(id, a))).toEqual([
      'ip saddr 10.88.0.2 jump mark-for-masquerade',
      `update @${chainNames.affinity(id, a, 10800)} { ip saddr }`,
      'meta l4proto tcp dnat to 10.88.0.2:8080',
    ]);
    expect(s.maps.get(backendMaps.service('tcp'))?.size).toBe(0);
    expect(s.sets.get(CLUSTER_IPS_SET)).toEqual(new Set(['10.96.0.10']));
  });

  it('sends Service ports without endpoints to the reject chain', () => {
    const plans = planServices(
      [svc('web', { type: 'NodePort', ports: [{ ...http[0], nodePort: 30080 }] })],
      [],
    );
    const s = desiredState(plans);
    expect(s.maps.get(MAPS.noEndpointServices)).toEqual(
      new Map([['10.96.0.10 . tcp . 80', 'goto reject-chain']]),
    );
    expect(s.maps.get(MAPS.noEndpointNodePorts)).toEqual(new Map([['tcp . 30080', 'goto reject-chain']]));
    expect(s.maps.get(MAPS.serviceIps)?.size).toBe(0);
  });

  it('costs the same per Service however many there are (no chain per Service)', () => {
    const table = (n: number, changedIndex?: number) => {
      const many = Array.from({ length: n }, (_, i) =>
        svc(`s${i}`, { clusterIP: `10.96.${i >> 8}.${i & 255}`, ports: http }),
      );
      const slices = many.map((s, i) =>
        slice(s.metadata.name!, [{ ip: `10.88.${i >> 8}.${i & 255}` }, { ip: `10.89.${i >> 8}.${i & 255}` }]),
      );
      if (changedIndex !== undefined)
        slices[changedIndex] = slice(`s${changedIndex}`, [{ ip: '10.90.0.1' }, { ip: '10.90.0.2' }]);
      return desiredState(planServices(many, slices));
    };
    const diff = (a: ReturnType<typeof table>, b: ReturnType<typeof table>) => {
      let n = 0;
      for (const [map, els] of b.maps) for (const [k, v] of els) if (a.maps.get(map)!.get(k) !== v) n++;
      return n;
    };
    // The chain count is fixed, and one Service's new endpoints are its two backend elements.
    expect(table(200).chains.size).toBe(table(2000).chains.size);
    expect(diff(table(200), table(200, 7))).toBe(2);
    expect(diff(table(2000), table(2000, 7))).toBe(2);
  });

  it('ServicePlanner re-plans only Services whose objects changed, and agrees with planServices', () => {
    const many = Array.from({ length: 50 }, (_, i) =>
      svc(`s${i}`, { clusterIP: `10.96.1.${i}`, ports: http }),
    );
    const slices = many.map((s, i) => slice(s.metadata.name!, [{ ip: `10.88.1.${i}` }]));
    const planner = new ServicePlanner({ nodeName: 'n1' });
    const first = planner.plan(many, slices);
    expect(first).toEqual(planServices(many, slices, { nodeName: 'n1' }));
    const changed = [...slices];
    changed[7] = slice('s7', [{ ip: '10.88.2.7' }]);
    const second = planner.plan(many, changed);
    expect(second).toEqual(planServices(many, changed, { nodeName: 'n1' }));
    const byId = (plans: typeof first, id: string) => plans.find((p) => p.id === id)!;
    // The same objects for untouched Services (the renderer then skips them); a new plan for s7.
    expect(byId(second, 'default/s8/tcp/http')).toBe(byId(first, 'default/s8/tcp/http'));
    expect(byId(second, 'default/s7/tcp/http')).not.toBe(byId(first, 'default/s7/tcp/http'));
    expect(byId(second, 'default/s7/tcp/http').clusterBackends[0].ip).toBe('10.88.2.7');
    // A Service that goes away takes its plans with it.
    expect(planner.plan(many.slice(1), changed).some((p) => p.id.startsWith('default/s0/'))).toBe(false);
  });
});
