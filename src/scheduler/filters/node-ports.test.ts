import { describe, expect, it } from 'vitest';
import { hostPortsConflict, podHostPorts } from '../pod-info.ts';
import { node, pod, where } from '../test-helpers.ts';

/** A pod whose one container publishes these ports. */
const publishing = (name: string, ports: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
  pod({ name }, { containers: [{ name: 'c', image: 'i', ports }], ...extra });

describe('NodePorts', () => {
  it('reads host ports from the containers and sidecars, defaulting protocol and address', () => {
    const p = pod(
      { name: 'p' },
      {
        containers: [
          { name: 'a', image: 'i', ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 9 }] },
        ],
        initContainers: [
          { name: 'once', image: 'i', ports: [{ containerPort: 1, hostPort: 1000 }] },
          {
            name: 'side',
            image: 'i',
            restartPolicy: 'Always',
            ports: [{ containerPort: 53, hostPort: 53, protocol: 'UDP', hostIP: '127.0.0.1' }],
          },
        ],
      },
    );
    expect(podHostPorts(p)).toEqual([
      { ip: '', protocol: 'TCP', port: 8080 },
      { ip: '127.0.0.1', protocol: 'UDP', port: 53 },
    ]);
    expect(podHostPorts(pod({ name: 'q' }))).toBeUndefined();
  });

  it('collides on port and protocol when either takes every address or both take the same one', () => {
    const any = { ip: '', protocol: 'TCP', port: 80 };
    expect(hostPortsConflict(any, { ip: '10.0.0.1', protocol: 'TCP', port: 80 })).toBe(true);
    expect(hostPortsConflict({ ...any, ip: '10.0.0.1' }, { ...any, ip: '10.0.0.2' })).toBe(false);
    expect(hostPortsConflict(any, { ...any, protocol: 'UDP' })).toBe(false);
    expect(hostPortsConflict(any, { ...any, port: 81 })).toBe(false);
  });

  it('keeps a second replica publishing the same port off a node that has one, with the kube message', () => {
    const nodes = [node({ name: 'a' }), node({ name: 'b' })];
    const first = publishing('web-1', [{ containerPort: 80, hostPort: 18080 }]);
    const second = publishing('web-2', [{ containerPort: 80, hostPort: 18080 }]);
    expect(where(second, nodes, { a: [first] })).toBe('b');
    expect(
      where(second, nodes, {
        a: [first],
        b: [publishing('other', [{ containerPort: 80, hostPort: 18080 }])],
      }),
    ).toBe(
      "unschedulable: 0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.",
    );
    // Another port, another protocol, or a pod without host ports shares the node.
    expect(
      where(publishing('udp', [{ containerPort: 80, hostPort: 18080, protocol: 'UDP' }]), [nodes[0]], {
        a: [first],
      }),
    ).toBe('a');
    expect(
      where(publishing('next', [{ containerPort: 80, hostPort: 18081 }]), [nodes[0]], { a: [first] }),
    ).toBe('a');
    expect(where(pod({ name: 'plain' }), [nodes[0]], { a: [first] })).toBe('a');
  });
});
