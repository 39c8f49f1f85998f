import { describe, expect, it } from 'vitest';
import { columnsFor, rowCells } from '../columns.ts';
import { invalid, valid } from './testing.ts';

const svc = (spec: Record<string, unknown>, name = 'web') => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec },
});

describe('Service', () => {
  it('defaults like kube-apiserver: ClusterIP, TCP, targetPort = port, Cluster traffic policy', () => {
    const s = valid(svc({}));
    expect(s.spec).toMatchObject({
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    });
    expect(s.spec.externalTrafficPolicy).toBeUndefined();
    const np = valid(svc({ type: 'NodePort', ports: [{ port: 80, targetPort: 'http' }] }));
    expect(np.spec.externalTrafficPolicy).toBe('Cluster');
    expect(np.spec.ports[0].targetPort).toBe('http');
    const lb = valid(svc({ type: 'LoadBalancer' }));
    expect(lb.spec.allocateLoadBalancerNodePorts).toBe(true);
    const affinity = valid(svc({ sessionAffinity: 'ClientIP' }));
    expect(affinity.spec.sessionAffinityConfig.clientIP.timeoutSeconds).toBe(10800);
  });

  it('keeps clusterIP and clusterIPs in step', () => {
    expect(valid(svc({ clusterIP: '10.96.0.10' })).spec.clusterIPs).toEqual(['10.96.0.10']);
    expect(valid(svc({ clusterIPs: ['10.96.0.11'] })).spec.clusterIP).toBe('10.96.0.11');
    const headless = valid(svc({ clusterIP: 'None', ports: undefined }));
    expect(headless.spec.clusterIPs).toEqual(['None']);
    expect(invalid(svc({ clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.2'] }))[0]).toMatchObject({
      field: 'spec.clusterIPs',
      message: expect.stringContaining('first value must match `clusterIP`'),
    });
    expect(invalid(svc({ clusterIP: 'ten' }))[0]).toMatchObject({
      field: 'spec.clusterIP',
      message: expect.stringContaining('must be a valid IP address'),
    });
    expect(invalid(svc({ type: 'NodePort', clusterIP: 'None' }))[0]).toMatchObject({
      field: 'spec.clusterIP',
      message: `Invalid value: "None": may not be set to 'None' for NodePort services`,
    });
  });

  it('refuses two ports with one name', () => {
    const causes = invalid(
      svc({
        ports: [
          { name: 'http', port: 80 },
          { name: 'http', port: 81 },
        ],
      }),
    );
    expect(causes).toEqual([
      { field: 'spec.ports[1].name', reason: 'FieldValueDuplicate', message: 'Duplicate value: "http"' },
    ]);
  });

  it('requires names when there are several ports, and DNS-label names', () => {
    expect(invalid(svc({ ports: [{ port: 80 }, { name: 'b', port: 81 }] }))[0]).toMatchObject({
      field: 'spec.ports[0].name',
      reason: 'FieldValueRequired',
    });
    expect(invalid(svc({ ports: [{ name: 'Web_1', port: 80 }] }))[0].field).toBe('spec.ports[0].name');
  });

  it('refuses a port out of range, with kube-apiserver wording', () => {
    expect(invalid(svc({ ports: [{ port: 70000 }] }))).toEqual([
      {
        field: 'spec.ports[0].port',
        reason: 'FieldValueInvalid',
        message: 'Invalid value: 70000: must be between 1 and 65535, inclusive',
      },
    ]);
    expect(invalid(svc({ ports: [{ port: 80, targetPort: 0.5 }] }))[0].field).toBe(
      'spec.ports[0].targetPort',
    );
    expect(invalid(svc({ ports: [{ port: 80, targetPort: 'a--b' }] }))[0]).toMatchObject({
      field: 'spec.ports[0].targetPort',
      message: 'Invalid value: "a--b": must not contain consecutive hyphens',
    });
    expect(invalid(svc({ ports: [{ port: 80, targetPort: 99999 }] }))[0].field).toBe(
      'spec.ports[0].targetPort',
    );
  });

  it('refuses a selector that is not a map', () => {
    expect(invalid(svc({ selector: ['app=web'] }))).toEqual([
      {
        field: 'spec.selector',
        reason: 'FieldValueTypeInvalid',
        message: 'Invalid value: ["app=web"]: must be of type object',
      },
    ]);
    expect(invalid(svc({ selector: { 'bad key': 'x' } }))[0].field).toBe('spec.selector');
  });

  it('checks type-dependent fields', () => {
    expect(invalid(svc({ ports: [{ port: 80, nodePort: 30080 }] }))[0]).toMatchObject({
      field: 'spec.ports[0].nodePort',
      message: "Forbidden: may not be used when `type` is 'ClusterIP'",
    });
    expect(invalid(svc({ ports: [] }))[0]).toMatchObject({
      field: 'spec.ports',
      reason: 'FieldValueRequired',
    });
    expect(invalid(svc({ externalTrafficPolicy: 'Local' }))[0].field).toBe('spec.externalTrafficPolicy');
    expect(invalid(svc({ type: 'Balanced' }))[0]).toMatchObject({
      field: 'spec.type',
      reason: 'FieldValueNotSupported',
    });
    expect(invalid(svc({ sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } }))[0].field).toBe(
      'spec.sessionAffinityConfig',
    );
  });

  it('takes ExternalName Services without ports or cluster IPs', () => {
    const s = valid(
      svc({ type: 'ExternalName', externalName: 'db.example.com', selector: undefined, ports: undefined }),
    );
    expect(s.spec.clusterIP).toBeUndefined();
    expect(s.spec.internalTrafficPolicy).toBeUndefined();
    expect(invalid(svc({ type: 'ExternalName' }))[0]).toMatchObject({ field: 'spec.externalName' });
    expect(invalid(svc({ type: 'ExternalName', externalName: 'x', clusterIP: '10.96.0.3' }))[0].field).toBe(
      'spec.clusterIP',
    );
  });

  it('prints kubectl columns', () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    const stored = (spec: Record<string, unknown>, status?: unknown) => ({
      ...valid(svc(spec)),
      metadata: { name: 'web', namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
      ...(status ? { status } : {}),
    });
    const cols = columnsFor('Service');
    expect(cols.map((c) => c.name)).toEqual([
      'Name',
      'Type',
      'Cluster-IP',
      'External-IP',
      'Port(s)',
      'Age',
      'Selector',
    ]);
    expect(
      rowCells(
        cols,
        stored({ type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30080 }] }),
        now,
      ),
    ).toEqual(['web', 'NodePort', '10.96.0.10', '<none>', '80:30080/TCP', '10m', 'app=web']);
    expect(rowCells(cols, stored({ type: 'LoadBalancer', clusterIP: '10.96.0.11' }), now)[3]).toBe(
      '<pending>',
    );
    expect(
      rowCells(
        cols,
        stored(
          { type: 'LoadBalancer', clusterIP: '10.96.0.11' },
          { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } },
        ),
        now,
      )[3],
    ).toBe('192.0.2.1');
  });
});
