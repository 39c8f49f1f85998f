import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Ipam, contains, intToIp, ipToInt, parseSubnet } from './ipam.ts';

const dirs: string[] = [];
function file(): string {
  const d = mkdtempSync(join(tmpdir(), 'strata-ipam-'));
  dirs.push(d);
  return join(d, 'ipam.json');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('addresses', () => {
  it('converts and normalises', () => {
    expect(intToIp(ipToInt('10.88.1.2'))).toBe('10.88.1.2');
    expect(parseSubnet('10.88.7.9/16').cidr).toBe('10.88.0.0/16');
    expect(contains(parseSubnet('10.88.0.0/16'), '10.88.255.254')).toBe(true);
    expect(contains(parseSubnet('10.88.0.0/16'), '10.89.0.1')).toBe(false);
    expect(() => parseSubnet('10.88.0.0')).toThrow(/CIDR/);
    expect(() => parseSubnet('10.88.0.0/31')).toThrow(/prefix/);
    expect(() => ipToInt('10.300.0.1')).toThrow(/IPv4/);
  });
});

describe('Ipam', () => {
  it('hands out addresses after the gateway, one per owner, idempotently', () => {
    const ipam = new Ipam({ file: file(), subnet: '10.88.0.0/16' });
    expect(ipam.gateway).toBe('10.88.0.1');
    expect(ipam.allocate('a')).toBe('10.88.0.2');
    expect(ipam.allocate('b')).toBe('10.88.0.3');
    expect(ipam.allocate('a')).toBe('10.88.0.2');
  });

  it('survives a restart and does not reuse a freed address at once', () => {
    const f = file();
    const one = new Ipam({ file: f, subnet: '10.88.0.0/16' });
    one.allocate('a');
    one.allocate('b');
    one.release('a');
    const two = new Ipam({ file: f, subnet: '10.88.0.0/16' });
    expect(two.allocations()).toEqual({ b: '10.88.0.3' });
    expect(two.allocate('c')).toBe('10.88.0.4');
    expect(JSON.parse(readFileSync(f, 'utf8')).allocations.c).toBe('10.88.0.4');
  });

  it('wraps around, skips held addresses, and says when the range is full', () => {
    const ipam = new Ipam({ file: file(), subnet: '192.168.5.0/29' }); // .2-.6 usable
    const got = ['a', 'b', 'c', 'd', 'e'].map((o) => ipam.allocate(o));
    expect(got).toEqual(['192.168.5.2', '192.168.5.3', '192.168.5.4', '192.168.5.5', '192.168.5.6']);
    expect(() => ipam.allocate('f')).toThrow(/no free address/);
    ipam.release('c');
    expect(ipam.allocate('f')).toBe('192.168.5.4');
  });

  it('refuses a file written for another range', () => {
    const f = file();
    new Ipam({ file: f, subnet: '10.88.0.0/16' }).allocate('a');
    expect(() => new Ipam({ file: f, subnet: '10.99.0.0/16' })).toThrow(/is for 10.88.0.0\/16/);
  });
});
