// overlayPeers: which Nodes the VXLAN device tunnels to. The device itself is tested in vxlan.test.ts (two
// network-namespace hosts), the whole path in test/e2e/multihost-network.test.ts (agents in such hosts).
import { describe, expect, it } from 'vitest';
import type { Node } from '../../api/index.ts';
import { overlayPeers } from './node-overlay.ts';

const node = (name: string, podCIDR?: string, internalIP?: string): Node =>
  ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: podCIDR ? { podCIDR } : {},
    status: {
      addresses: [
        { type: 'Hostname', address: name },
        ...(internalIP ? [{ type: 'InternalIP' as const, address: internalIP }] : []),
      ],
    },
  }) as Node;

describe('overlayPeers', () => {
  it('tunnels to every other node with a pod range and an InternalIP off loopback', () => {
    const nodes = [
      node('self', '10.42.0.0/24', '10.0.0.1'),
      node('b', '10.42.1.0/24', '10.0.0.2'),
      node('no-range', undefined, '10.0.0.3'), // not allocated yet
      node('no-address', '10.42.3.0/24'), // its agent has not reported yet
      node('loopback', '10.42.4.0/24', '127.0.0.1'), // shares this machine's loopback
      node('c', '10.42.5.0/24', '10.0.0.6'),
    ];
    expect(overlayPeers(nodes, 'self')).toEqual([
      { nodeIP: '10.0.0.2', podCidr: '10.42.1.0/24' },
      { nodeIP: '10.0.0.6', podCidr: '10.42.5.0/24' },
    ]);
    expect(overlayPeers([], 'self')).toEqual([]);
  });
});
