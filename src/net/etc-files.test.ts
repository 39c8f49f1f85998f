import { describe, expect, it } from 'vitest';
import { hostsFile, parseResolvConf, resolvConf } from './etc-files.ts';

describe('hosts', () => {
  it('maps the hostname to the pod address, with aliases and hostAliases', () => {
    const text = hostsFile({
      hostname: 'web-1',
      ip: '10.88.0.7',
      aliases: ['web-1.sub'],
      hostAliases: [{ ip: '10.1.2.3', hostnames: ['db', 'db.local'] }],
    });
    expect(text).toContain('127.0.0.1\tlocalhost\n');
    expect(text).toContain('10.88.0.7\tweb-1 web-1.sub\n');
    expect(text).toContain('10.1.2.3\tdb db.local\n');
  });

  it('uses 127.0.1.1 without networking', () => {
    expect(hostsFile({ hostname: 'x' })).toContain('127.0.1.1\tx\n');
  });
});

describe('resolv.conf', () => {
  it('keeps real nameservers, search and options, drops loopback ones', () => {
    const host = 'nameserver 127.0.0.53\nnameserver 10.0.0.2 # corp\nsearch corp.example\noptions edns0\n';
    const text = resolvConf({
      hostResolvConf: host,
      searches: ['default.svc.cluster.local'],
      options: ['ndots:5'],
    });
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['10.0.0.2'],
      searches: ['default.svc.cluster.local', 'corp.example'],
      options: ['edns0', 'ndots:5'],
    });
  });

  it('falls back when only loopback nameservers exist', () => {
    const text = resolvConf({ hostResolvConf: 'nameserver 127.0.0.53\n', fallbackNameservers: ['10.9.9.9'] });
    expect(parseResolvConf(text).nameservers).toEqual(['10.9.9.9']);
    expect(parseResolvConf(resolvConf({ hostResolvConf: 'nameserver 127.0.0.1\n' })).nameservers).toEqual([]);
  });

  it('caps the lists at what glibc reads', () => {
    const host = ['1', '2', '3', '4'].map((n) => `nameserver 10.0.0.${n}`).join('\n');
    expect(parseResolvConf(resolvConf({ hostResolvConf: host })).nameservers).toHaveLength(3);
  });
});
