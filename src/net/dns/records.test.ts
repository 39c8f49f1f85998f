import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../../api/index.ts';
import { ClusterDnsRecords, reverseName } from './records.ts';

function svc(name: string, spec: Record<string, unknown>, ns = 'shop'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { type: 'ClusterIP', sessionAffinity: 'None', ...spec },
  } as Service;
}

function slice(name: string, endpoints: { ip: string; hostname?: string; ready?: boolean }[]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-x`, namespace: 'shop', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      ...(e.hostname ? { hostname: e.hostname } : {}),
      conditions: { ready: e.ready ?? true },
    })),
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  } as EndpointSlice;
}

const http = [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }];
const dns = new ClusterDnsRecords(
  [
    svc('web', { clusterIP: '10.96.0.10', ports: http }),
    svc('db', { clusterIP: 'None', ports: http }),
    svc('ext', { type: 'ExternalName', externalName: 'db.example.com.' }),
  ],
  [
    slice('web', [{ ip: '10.88.0.2' }]),
    slice('db', [
      { ip: '10.88.0.5', hostname: 'db-0' },
      { ip: '10.88.0.6' },
      { ip: '10.88.0.7', ready: false },
    ]),
  ],
);

describe('ClusterDnsRecords', () => {
  it('answers a Service name with its cluster IP, case-insensitively and with a trailing dot', () => {
    expect(dns.lookup('web.shop.svc.cluster.local', 'A')).toEqual({
      rcode: 'NOERROR',
      answers: [{ name: 'web.shop.svc.cluster.local', type: 'A', ttl: 5, data: '10.96.0.10' }],
    });
    expect(dns.lookup('WEB.shop.svc.cluster.local.', 'A')).toMatchObject({
      answers: [{ data: '10.96.0.10' }],
    });
  });

  it('answers a headless Service with its ready endpoints, and each endpoint by hostname or dashed address', () => {
    const a = dns.lookup('db.shop.svc.cluster.local', 'A');
    expect(a).toMatchObject({ rcode: 'NOERROR' });
    expect((a as any).answers.map((r: any) => r.data)).toEqual(['10.88.0.5', '10.88.0.6']);
    expect(dns.lookup('db-0.db.shop.svc.cluster.local', 'A')).toMatchObject({
      answers: [{ data: '10.88.0.5' }],
    });
    expect(dns.lookup('10-88-0-6.db.shop.svc.cluster.local', 'A')).toMatchObject({
      answers: [{ data: '10.88.0.6' }],
    });
    expect(dns.lookup('db-9.db.shop.svc.cluster.local', 'A')).toEqual({ rcode: 'NXDOMAIN' });
  });

  it('answers SRV for named ports: the Service, or each endpoint of a headless one', () => {
    expect(dns.lookup('_http._tcp.web.shop.svc.cluster.local', 'SRV')).toMatchObject({
      answers: [{ type: 'SRV', data: { port: 80, target: 'web.shop.svc.cluster.local' } }],
    });
    const srv = dns.lookup('_http._tcp.db.shop.svc.cluster.local', 'SRV') as any;
    expect(srv.answers.map((r: any) => `${r.data.target}:${r.data.port}`)).toEqual([
      'db-0.db.shop.svc.cluster.local:8080',
      '10-88-0-6.db.shop.svc.cluster.local:8080',
    ]);
    expect(dns.lookup('_grpc._tcp.web.shop.svc.cluster.local', 'SRV')).toEqual({ rcode: 'NXDOMAIN' });
  });

  it('answers ExternalName with a CNAME', () => {
    expect(dns.lookup('ext.shop.svc.cluster.local', 'A')).toMatchObject({
      answers: [{ type: 'CNAME', data: 'db.example.com' }],
    });
  });

  it('completes every short form as a pod resolver walks its search path (ndots:5)', () => {
    // What a libc resolver does for a name with fewer than 5 dots in a pod of namespace shop: the search
    // domains in order, the first answer wins; each wrong expansion must be NXDOMAIN for it to go on.
    const search = ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];
    const resolve = (name: string) => {
      for (const domain of search) {
        const r = dns.lookup(`${name}.${domain}`, 'A');
        if ('rcode' in r && r.rcode === 'NOERROR' && r.answers.length) return r.answers[0].data;
        expect(r, `${name}.${domain}`).toEqual({ rcode: 'NXDOMAIN' });
      }
      return undefined;
    };
    for (const name of ['web', 'web.shop', 'web.shop.svc']) expect(resolve(name), name).toBe('10.96.0.10');
    expect(resolve('web.other')).toBeUndefined();
  });

  it('tells NXDOMAIN from NODATA and forwards what is not in the zone', () => {
    expect(dns.lookup('nope.shop.svc.cluster.local', 'A')).toEqual({ rcode: 'NXDOMAIN' });
    expect(dns.lookup('web.other.svc.cluster.local', 'A')).toEqual({ rcode: 'NXDOMAIN' });
    expect(dns.lookup('web.shop.svc.cluster.local', 'AAAA')).toEqual({ rcode: 'NOERROR', answers: [] });
    expect(dns.lookup('shop.svc.cluster.local', 'A')).toEqual({ rcode: 'NOERROR', answers: [] });
    expect(dns.lookup('example.com', 'A')).toEqual({ forward: true });
    // `web.shop` tried under the search path's last step ends up here: not a cluster name.
    expect(dns.lookup('web.shop.cluster.local', 'A')).toEqual({ rcode: 'NXDOMAIN' });
  });

  it('answers pod names and reverse lookups of cluster IPs and headless endpoints', () => {
    expect(dns.lookup('10-88-0-9.shop.pod.cluster.local', 'A')).toMatchObject({
      answers: [{ data: '10.88.0.9' }],
    });
    expect(dns.lookup(reverseName('10.96.0.10'), 'PTR')).toMatchObject({
      answers: [{ type: 'PTR', data: 'web.shop.svc.cluster.local' }],
    });
    expect(dns.lookup(reverseName('10.88.0.5'), 'PTR')).toMatchObject({
      answers: [{ data: 'db-0.db.shop.svc.cluster.local' }],
    });
    expect(dns.lookup(reverseName('192.0.2.1'), 'PTR')).toEqual({ forward: true });
  });

  it('serves another cluster domain', () => {
    const other = new ClusterDnsRecords(
      [svc('web', { clusterIP: '10.96.0.10', ports: http })],
      [],
      'corp.internal',
    );
    expect(other.lookup('web.shop.svc.corp.internal', 'A')).toMatchObject({
      answers: [{ data: '10.96.0.10' }],
    });
    expect(other.lookup('web.shop.svc.cluster.local', 'A')).toEqual({ forward: true });
  });
});
