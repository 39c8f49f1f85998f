import { describe, expect, it } from 'vitest';
import { describeService } from './describe.ts';

const svc = {
  metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
  spec: {
    type: 'NodePort',
    selector: { app: 'web' },
    clusterIP: '10.96.0.11',
    clusterIPs: ['10.96.0.11'],
    ipFamilies: ['IPv4'],
    ipFamilyPolicy: 'SingleStack',
    ports: [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', nodePort: 30080 },
      { name: 'metrics', port: 9090, targetPort: 9090, protocol: 'TCP' },
    ],
    sessionAffinity: 'None',
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
  },
};

const slice = (ips: string[], ready = true) => ({
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready } })),
  ports: [
    { name: 'http', protocol: 'TCP', port: 8080 },
    { name: 'metrics', protocol: 'TCP', port: 9090 },
  ],
});

describe('describeService', () => {
  it('lists each port with its ready endpoints, as kubectl describe svc', () => {
    const out = describeService(svc, [slice(['10.88.0.2', '10.88.0.3']), slice(['10.88.0.9'], false)]);
    expect(out).toContain('Name:                     web');
    expect(out).toContain('Selector:                 app=web');
    expect(out).toContain('IP:                       10.96.0.11');
    expect(out).toContain('Port:                     http  80/TCP');
    expect(out).toContain('TargetPort:               http/TCP');
    expect(out).toContain('NodePort:                 http  30080/TCP');
    expect(out).toContain('Endpoints:                10.88.0.2:8080,10.88.0.3:8080');
    expect(out).toContain('Endpoints:                10.88.0.2:9090,10.88.0.3:9090');
    expect(out).toContain('External Traffic Policy:  Cluster');
  });

  it('says <none> without endpoints and shortens long lists', () => {
    expect(describeService(svc, [])).toContain('Endpoints:                <none>');
    const many = describeService(svc, [slice(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'])]);
    expect(many).toContain('Endpoints:                10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more...');
  });

  it('shows an ExternalName Service`s name and no endpoints line', () => {
    const ext = describeService(
      {
        metadata: { name: 'ext', namespace: 'shop' },
        spec: { type: 'ExternalName', externalName: 'example.com' },
      },
      [],
    );
    expect(ext).toContain('External Name:            example.com');
    expect(ext.some((l) => l.startsWith('Endpoints'))).toBe(false);
  });
});
