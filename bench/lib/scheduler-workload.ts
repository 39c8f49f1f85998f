// A synthetic but realistic cluster for the scheduler benchmark (in the spirit of kubemark's hollow
// nodes and scheduler_perf's workloads): nodes across zones and racks in four sizes, some tainted, not
// all offering every runtime class; pods grouped into apps (Deployments) of varied replica counts, with
// a realistic mix of requests, runtime classes, nodeSelectors, node affinity, topology spread, pod
// (anti-)affinity, tolerations and priorities. Deterministic for a given seed.

/** mulberry32: small, fast, seedable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pick by weight: `[[value, weight], ...]`. */
export function weighted<T>(r: () => number, table: readonly (readonly [T, number])[]): T {
  const total = table.reduce((s, [, w]) => s + w, 0);
  let x = r() * total;
  for (const [v, w] of table) {
    x -= w;
    if (x < 0) return v;
  }
  return table[table.length - 1][0];
}

export const ZONES = ['zone-a', 'zone-b', 'zone-c', 'zone-d', 'zone-e'];
const RACKS_PER_ZONE = 20;

const SIZES = [
  // [instance type, cpu, memory, pods, share]
  ['s-8', '8', '32Gi', '110', 30],
  ['m-16', '16', '64Gi', '110', 40],
  ['l-32', '32', '128Gi', '250', 20],
  ['xl-64', '64', '256Gi', '250', 10],
] as const;

export const PRIORITY_CLASSES = [
  { name: 'batch-low', value: -10 },
  { name: 'standard', value: 0 },
  { name: 'prod-high', value: 1000 },
  { name: 'critical', value: 100000 },
];

export interface Workload {
  nodes: any[];
  pods: any[];
  namespaces: string[];
  priorityClasses: any[];
  /** How many pods carry each kind of placement rule. */
  mix: Record<string, number>;
}

export function hollowNode(name: string, r: () => number, i: number): any {
  const zone = ZONES[i % ZONES.length];
  const rack = `${zone}-r${Math.floor(r() * RACKS_PER_ZONE)}`;
  const [type, cpu, memory, pods] = weighted(
    r,
    SIZES.map((s) => [s, s[4]] as const),
  );
  const runtimes = weighted(r, [
    [['container', 'wasm'], 60],
    [['container', 'wasm', 'microvm'], 25],
    [['wasm'], 15],
  ] as const);
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': name,
    'topology.kubernetes.io/zone': zone,
    'topology.strata.dev/rack': rack,
    'node.kubernetes.io/instance-type': type,
  };
  if (r() < 0.5) labels.disk = 'ssd';
  const taints: any[] = [];
  const t = r();
  if (t < 0.05) {
    labels.accelerator = 'gpu';
    taints.push({ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' });
  } else if (t < 0.08) taints.push({ key: 'maintenance', value: 'soon', effect: 'PreferNoSchedule' });
  const resources = { cpu, memory, pods };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    spec: taints.length ? { taints } : {},
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [{ type: 'Ready', status: 'True', reason: 'HollowNode' }],
      runtimeHandlers: runtimes.map((n) => ({ name: n })),
    },
  };
}

const REQUESTS: readonly (readonly [readonly [string, string], number])[] = [
  [['100m', '128Mi'], 40],
  [['250m', '256Mi'], 28],
  [['500m', '512Mi'], 17],
  [['1', '2Gi'], 10],
  [['2', '4Gi'], 4],
  [['4', '8Gi'], 1],
] as const;

const REPLICAS: readonly (readonly [number, number])[] = [
  [1, 10],
  [2, 10],
  [3, 20],
  [5, 20],
  [10, 20],
  [30, 10],
  [100, 7],
  [300, 3],
] as const;

type Feature =
  | 'plain'
  | 'zoneSelector'
  | 'nodeAffinity'
  | 'zoneSpread'
  | 'hostSpreadSoft'
  | 'antiAffinity'
  | 'podAffinity'
  | 'gpu';

const FEATURES: readonly (readonly [Feature, number])[] = [
  ['plain', 40],
  ['zoneSelector', 12],
  ['nodeAffinity', 10],
  ['zoneSpread', 15],
  ['hostSpreadSoft', 10],
  ['antiAffinity', 5],
  ['podAffinity', 5],
  ['gpu', 3],
];

function appSpec(
  app: string,
  feature: Feature,
  r: () => number,
  previous?: { app: string; namespace: string },
): any {
  const runtimeClassName = weighted(r, [
    ['container', 70],
    ['wasm', 20],
    ['microvm', 10],
  ] as const);
  const [cpu, memory] = weighted(r, REQUESTS);
  const pc = weighted(r, [
    [PRIORITY_CLASSES[0], 10],
    [PRIORITY_CLASSES[1], 70],
    [PRIORITY_CLASSES[2], 15],
    [PRIORITY_CLASSES[3], 5],
  ] as const);
  const spec: any = {
    runtimeClassName,
    priorityClassName: pc.name,
    priority: pc.value,
    containers: [
      {
        name: 'app',
        image: runtimeClassName === 'wasm' ? `apps/${app}.wasm` : `registry.local/${app}:1`,
        resources: { requests: { cpu, memory } },
      },
    ],
  };
  const sel = { matchLabels: { app } };
  switch (feature) {
    case 'zoneSelector':
      spec.nodeSelector = { 'topology.kubernetes.io/zone': ZONES[Math.floor(r() * ZONES.length)] };
      break;
    case 'nodeAffinity':
      spec.affinity = {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }],
          },
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 50,
              preference: {
                matchExpressions: [
                  { key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['l-32', 'xl-64'] },
                ],
              },
            },
          ],
        },
      };
      break;
    case 'zoneSpread':
      spec.topologySpreadConstraints = [
        {
          maxSkew: 1,
          topologyKey: 'topology.kubernetes.io/zone',
          whenUnsatisfiable: 'DoNotSchedule',
          labelSelector: sel,
        },
      ];
      break;
    case 'hostSpreadSoft':
      spec.topologySpreadConstraints = [
        {
          maxSkew: 1,
          topologyKey: 'kubernetes.io/hostname',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: sel,
        },
      ];
      break;
    case 'antiAffinity':
      spec.affinity = {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: sel, topologyKey: 'kubernetes.io/hostname' },
          ],
        },
      };
      break;
    case 'podAffinity':
      if (previous)
        spec.affinity = {
          podAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 80,
                podAffinityTerm: {
                  labelSelector: { matchLabels: { app: previous.app } },
                  namespaces: [previous.namespace],
                  topologyKey: 'topology.kubernetes.io/zone',
                },
              },
            ],
          },
        };
      break;
    case 'gpu':
      spec.nodeSelector = { accelerator: 'gpu' };
      spec.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }];
      spec.runtimeClassName = 'container';
      break;
  }
  return spec;
}

/** `nodeCount` hollow nodes and `podCount` pods in apps, interleaved as many controllers would create them. */
export function buildWorkload(nodeCount: number, podCount: number, seed = 42): Workload {
  const r = rng(seed);
  const nodes = Array.from({ length: nodeCount }, (_, i) =>
    hollowNode(`node-${String(i).padStart(5, '0')}`, r, i),
  );
  const namespaces = Array.from({ length: 10 }, (_, i) => `team-${i}`);
  const apps: { pods: any[] }[] = [];
  const mix: Record<string, number> = {};
  let total = 0;
  let previous: { app: string; namespace: string } | undefined;
  for (let a = 0; total < podCount; a++) {
    const app = `app-${a}`;
    const namespace = namespaces[a % namespaces.length];
    const feature = weighted(r, FEATURES);
    let replicas: number = weighted(r, REPLICAS);
    // Hard per-host anti-affinity apps stay well below the node count.
    if (feature === 'antiAffinity') replicas = Math.min(replicas, Math.max(1, Math.floor(nodeCount / 10)));
    if (feature === 'gpu') replicas = Math.min(replicas, 5);
    replicas = Math.min(replicas, podCount - total);
    const spec = appSpec(app, feature, r, previous);
    const pods = Array.from({ length: replicas }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${app}-${i}`, namespace, labels: { app, tier: feature } },
      spec: structuredClone(spec),
    }));
    apps.push({ pods });
    mix[feature] = (mix[feature] ?? 0) + replicas;
    total += replicas;
    previous = { app, namespace };
  }
  // Interleave apps: controllers create replicas concurrently, not one app at a time.
  const pods: any[] = [];
  const cursors = apps.map(() => 0);
  let live = apps.map((_, i) => i);
  while (live.length) {
    const next: number[] = [];
    for (const i of live) {
      const burst = 1 + Math.floor(r() * 8);
      for (let k = 0; k < burst && cursors[i] < apps[i].pods.length; k++)
        pods.push(apps[i].pods[cursors[i]++]);
      if (cursors[i] < apps[i].pods.length) next.push(i);
    }
    live = next;
  }
  const priorityClasses = PRIORITY_CLASSES.map((p) => ({
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name: p.name },
    value: p.value,
    globalDefault: p.name === 'standard',
  }));
  return { nodes, pods, namespaces, priorityClasses, mix };
}
