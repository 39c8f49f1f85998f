import { describe, expect, it } from 'vitest';
import { ServiceCidr } from './ranges.ts';

describe('the addresses the control plane keeps for its own Services', () => {
  it('never hands out .1 (kubernetes) or .10 (kube-dns) dynamically', () => {
    const small = new ServiceCidr('10.96.0.0/27');
    expect(small.kubernetesServiceIP).toBe('10.96.0.1');
    expect(small.kubeDnsServiceIP).toBe('10.96.0.10');
    const all = [...small.dynamic()];
    expect(all).not.toContain('10.96.0.1');
    expect(all).not.toContain('10.96.0.10');
    expect(all).toHaveLength(32 - 4);
    for (let i = 0; i < 2000; i++) expect(['10.96.0.1', '10.96.0.10']).not.toContain(small.randomDynamic());
  });

  it('has no kube-dns address in a range too small to spare it', () => {
    const tiny = new ServiceCidr('10.96.0.0/28');
    expect(tiny.kubeDnsServiceIP).toBeUndefined();
    expect([...tiny.dynamic()]).toHaveLength(16 - 3);
  });
});
