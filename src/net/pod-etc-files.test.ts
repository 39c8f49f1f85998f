import { describe, expect, it } from 'vitest';
import { podEtcFiles } from './pod-etc-files.ts';

describe('podEtcFiles', () => {
  it('a pod on the network with the node running cluster DNS: ClusterFirst, its address in /etc/hosts', () => {
    const files = podEtcFiles(() => '10.96.0.10')({
      namespace: 'shop',
      hostname: 'web-1',
      ip: '10.88.0.7',
      hostAliases: [{ ip: '10.1.2.3', hostnames: ['db'] }],
    });
    expect(files.hosts).toContain('10.88.0.7\tweb-1\n');
    expect(files.hosts).toContain('10.1.2.3\tdb\n');
    expect(files.resolvConf).toContain('nameserver 10.96.0.10\n');
    expect(files.resolvConf).toMatch(/^search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local/m);
    expect(files.resolvConf).toContain('options ndots:5');
  });

  it('off the pod network: no cluster DNS (unreachable), no nameserver, 127.0.1.1 for the hostname', () => {
    let asked = false;
    const files = podEtcFiles(() => ((asked = true), '10.96.0.10'))({ namespace: 'shop', hostname: 'job' });
    expect(asked).toBe(false);
    expect(files.hosts).toContain('127.0.1.1\tjob\n');
    expect(files.resolvConf).not.toMatch(/^nameserver/m);
  });

  it("dnsPolicy None takes only the pod's dnsConfig", () => {
    const files = podEtcFiles(() => '10.96.0.10')({
      namespace: 'shop',
      hostname: 'web',
      ip: '10.88.0.8',
      dns: { policy: 'None', config: { nameservers: ['1.1.1.1'], searches: ['corp.example'] } },
    });
    expect(files.resolvConf).toMatch(/^nameserver 1\.1\.1\.1$/m);
    expect(files.resolvConf).not.toContain('10.96.0.10');
    expect(files.resolvConf).toMatch(/^search corp\.example$/m);
  });
});
