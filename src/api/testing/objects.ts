// Node and Pod objects as tests need them (an agent's status, a pod with requests): plain builders with no
// store, shared by the controller and scheduler tests. Not used outside tests.

export interface NodeSpecForTest {
  name: string;
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  runtimes?: string[];
  ready?: boolean;
  unschedulable?: boolean;
}

/** A Node object with status as an agent would report it. */
export function nodeObject(n: NodeSpecForTest): any {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name, labels: n.labels ?? {} },
    spec: n.unschedulable ? { unschedulable: true } : {},
    status: nodeStatus(n),
  };
}

export function nodeStatus(n: NodeSpecForTest): any {
  const resources = { cpu: n.cpu ?? '4', memory: n.memory ?? '8Gi', pods: n.pods ?? '110' };
  return {
    capacity: resources,
    allocatable: resources,
    conditions: [{ type: 'Ready', status: n.ready === false ? 'False' : 'True', reason: 'AgentReady' }],
    runtimeHandlers: (n.runtimes ?? ['wasm', 'container']).map((name) => ({ name })),
  };
}

export interface PodSpecForTest {
  name: string;
  namespace?: string;
  cpu?: string;
  memory?: string;
  runtimeClassName?: string;
  nodeSelector?: Record<string, string>;
  nodeName?: string;
  phase?: string;
}

export function podObject(p: PodSpecForTest): any {
  const requests: Record<string, string> = {};
  if (p.cpu) requests.cpu = p.cpu;
  if (p.memory) requests.memory = p.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace ?? 'default' },
    spec: {
      ...(p.runtimeClassName ? { runtimeClassName: p.runtimeClassName } : {}),
      ...(p.nodeSelector ? { nodeSelector: p.nodeSelector } : {}),
      ...(p.nodeName ? { nodeName: p.nodeName } : {}),
      containers: [
        {
          name: 'app',
          image: 'registry.example/app:1',
          ...(p.cpu || p.memory ? { resources: { requests } } : {}),
        },
      ],
    },
    ...(p.phase ? { status: { phase: p.phase } } : {}),
  };
}
