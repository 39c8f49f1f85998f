import { describe, expect, it } from 'vitest';
import { allocateNodeCidr, formatCidr, parseCidr } from './node-ipam-range.ts';

describe('allocateNodeCidr', () => {
  it('hands each node the lowest free /24 of the cluster range', () => {
    expect(allocateNodeCidr('10.244.0.0/16', [])).toBe('10.244.0.0/24');
    expect(allocateNodeCidr('10.244.0.0/16', ['10.244.0.0/24', '10.244.2.0/24'])).toBe('10.244.1.0/24');
    // A range outside the cluster's does not count.
    expect(allocateNodeCidr('10.244.0.0/16', ['10.88.0.0/24'])).toBe('10.244.0.0/24');
  });

  it('counts every block a hand-set range overlaps, wider or narrower than a block', () => {
    expect(allocateNodeCidr('10.244.0.0/16', ['10.244.0.0/23'])).toBe('10.244.2.0/24');
    expect(allocateNodeCidr('10.244.0.0/16', ['10.244.0.128/25'])).toBe('10.244.1.0/24');
    // A taken range wider than the cluster's: all of it is taken.
    expect(allocateNodeCidr('10.244.0.0/23', ['10.0.0.0/8'])).toBeUndefined();
  });

  it('says when the range is full, and refuses a mask wider than the range', () => {
    expect(allocateNodeCidr('10.244.0.0/23', ['10.244.0.0/24', '10.244.1.0/24'])).toBeUndefined();
    expect(allocateNodeCidr('10.244.0.0/22', [], 26)).toBe('10.244.0.0/26');
    expect(() => allocateNodeCidr('10.244.0.0/24', [], 16)).toThrow(/mask \/16/);
    expect(() => allocateNodeCidr('10.244.0.0', [])).toThrow(/CIDR/);
  });

  it('normalises a CIDR', () => {
    expect(formatCidr(parseCidr('10.42.7.9/16'))).toBe('10.42.0.0/16');
    expect(() => parseCidr('10.300.0.0/16')).toThrow(/IPv4/);
  });
});
