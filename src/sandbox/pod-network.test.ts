import { describe, expect, it } from 'vitest';
import { podHostname } from './pod-network.ts';

describe('podHostname', () => {
  it('makes pod names valid hostnames', () => {
    expect(podHostname('My_Pod.v2')).toBe('my-pod-v2');
    expect(podHostname('a'.repeat(80))).toHaveLength(63);
    expect(podHostname('--')).toBe('pod');
  });
});
