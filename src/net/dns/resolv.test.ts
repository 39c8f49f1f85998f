import { describe, expect, it } from 'vitest';
import { podResolvConf } from './resolv.ts';

const host = 'nameserver 192.0.2.53\nnameserver 127.0.0.53\nsearch corp.example\noptions edns0\n';

describe('podResolvConf', () => {
  it('ClusterFirst: the cluster DNS, the namespace search path, ndots:5', () => {
    expect(podResolvConf({ namespace: 'shop', clusterDnsIP: '10.96.0.10', hostResolvConf: host })).toBe(
      [
        '# Managed by Strata (dnsPolicy ClusterFirst).',
        'nameserver 10.96.0.10',
        'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example',
        'options ndots:5',
        '',
      ].join('\n'),
    );
  });

  it('Default: the node resolvers (without loopback ones); None: only dnsConfig', () => {
    const def = podResolvConf({
      namespace: 'shop',
      dnsPolicy: 'Default',
      clusterDnsIP: '10.96.0.10',
      hostResolvConf: host,
    });
    expect(def).toContain('nameserver 192.0.2.53\n');
    expect(def).not.toContain('127.0.0.53');
    expect(def).not.toContain('10.96.0.10');
    const none = podResolvConf({
      namespace: 'shop',
      dnsPolicy: 'None',
      dnsConfig: {
        nameservers: ['192.0.2.1'],
        searches: ['a.example'],
        options: [{ name: 'ndots', value: '2' }],
      },
      hostResolvConf: host,
    });
    expect(none.split('\n').slice(1)).toEqual([
      'nameserver 192.0.2.1',
      'search a.example',
      'options ndots:2',
      '',
    ]);
  });

  it('merges dnsConfig into ClusterFirst: options replaced by name', () => {
    const out = podResolvConf({
      namespace: 'shop',
      clusterDnsIP: '10.96.0.10',
      hostResolvConf: host,
      dnsConfig: { searches: ['extra.example'], options: [{ name: 'ndots', value: '1' }, { name: 'edns0' }] },
    });
    expect(out).toContain(
      'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example extra.example\n',
    );
    expect(out).toContain('options ndots:1 edns0\n');
  });

  it('falls back to the node resolvers when there is no cluster DNS', () => {
    expect(podResolvConf({ namespace: 'shop', hostResolvConf: host })).toContain('nameserver 192.0.2.53');
  });
});
