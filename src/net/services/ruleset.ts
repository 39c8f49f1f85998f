// The nftables layout of the Service data plane, in the manner of kube-proxy's nftables mode: one table
// (`ip strata`) that Strata alone writes, a few fixed chains, and maps keyed by address, protocol and
// port, so a packet costs a map lookup or two however many Services there are, and a change to one
// Service touches only that Service's map elements.
//
//   nat-prerouting / nat-output (dstnat) -> services:
//       ip daddr . meta l4proto . th dport vmap @service-ips          ClusterIP:port -> dispatch-<N>
//       fib daddr type local meta l4proto . th dport vmap @service-nodeports
//                                   any local address, 127.0.0.1 included -> nodeport-dispatch-<N>
//   dispatch-<N> (one chain per backend count N, shared by every Service with N backends):
//       [mark if the source is outside the pod CIDR]
//       dnat to ip daddr . tcp dport . numgen random mod N map @service-backends-tcp (and udp, sctp)
//   nodeport-dispatch-<N>: mark for masquerade, then the same through @nodeport-backends-<proto>
//   nat-postrouting (srcnat) -> masquerading: a DNATed connection from an endpoint to itself (hairpin,
//       set endpoint-self of `ip . ip` pairs) is marked; masquerade packets marked 0x4000
//   filter hooks (priority -110, new connections): a Service port without endpoints is rejected
//       (maps no-endpoint-services / no-endpoint-nodeports -> reject), and after DNAT a cluster IP on a
//       port no Service has (set cluster-ips) is rejected instead of leaving for the default route.
//
// A Service port is one element in service-ips (and service-nodeports) and one element per backend in
// service-backends-<proto> (`<vip> . 80 . <slot>` : `<ip> . <port>`): the table's chain count does not grow
// with Services. That matters beyond the kernel: `nft` (1.0.6) dumps every chain of every table before
// any command that adds a rule or an element, so a table of a chain per Service and per endpoint (20,000
// chains at 5,000 Services) made every change cost ~0.3-1 s whatever its size.
//
// Two kinds of Service port still get chains of their own, kube-proxy's shape (service-…, endpoint-…,
// external-…): ClientIP affinity (an affinity set per endpoint, checked before the random choice) and
// externalTrafficPolicy Local on a node port (only this node's endpoints, the client address kept).
//   service-<h>-<ns>/<svc>/<proto>/<port>:  [mark if the source is outside the pod CIDR]
//       [ClientIP affinity: ip saddr @affinity-<h> goto endpoint-…]  numgen random mod N vmap {…}
//   endpoint-<h>-…__<ip>/<port>: mark if the source is the endpoint itself (hairpin), [update affinity],
//       dnat to <ip>:<port>
//   external-<h>-…: node-port traffic: marked for masquerade (Cluster policy) then the service chain;
//       with externalTrafficPolicy Local, local endpoints only and the client address kept
//
// NodePorts also answer on 127.0.0.1 (kube-proxy refuses that): DNAT from 127.0.0.1 needs route_localnet
// on the pod bridge, which the pod network sets together with its guard against pods reaching the
// node's loopback services (see src/net/README.md); those connections are masqueraded here.
import type { Backend, ServicePortPlan } from './plan.ts';

export const TABLE = 'strata';
export const FAMILY = 'ip';
export const MASQ_MARK = '0x4000';

/** Chains every sync keeps (base chains and helpers): never deleted as stale. */
export const FIXED_CHAINS = [
  'nat-prerouting',
  'nat-output',
  'nat-postrouting',
  'filter-input',
  'filter-forward',
  'filter-output',
  'filter-output-post-dnat',
  'services',
  'masquerading',
  'mark-for-masquerade',
  'service-endpoints-check',
  'nodeport-endpoints-check',
  'cluster-ips-check',
  'reject-chain',
] as const;

export const MAPS = {
  serviceIps: 'service-ips',
  nodePorts: 'service-nodeports',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
} as const;

const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

/**
 * The backends of map-dispatched Service ports, one map per protocol: `<cluster IP> . <port> . <slot>`
 * (or `<node port> . <slot>`) → `<ip> . <port>`. Per protocol because nft 1.0.6 cannot use a `typeof`
 * map keyed by `meta l4proto . th dport` that it read back from the kernel ("conflicting protocols").
 */
export const backendMaps = {
  service: (protocol: string) => `service-backends-${protocol}`,
  nodePort: (protocol: string) => `nodeport-backends-${protocol}`,
};

/** How each map is declared (`typeof` where a key holds a numgen slot, which has no named type). */
export const MAP_DECLARATIONS: Record<string, string> = {
  [MAPS.serviceIps]: 'type ipv4_addr . inet_proto . inet_service : verdict',
  [MAPS.nodePorts]: 'type inet_proto . inet_service : verdict',
  [MAPS.noEndpointServices]: 'type ipv4_addr . inet_proto . inet_service : verdict',
  [MAPS.noEndpointNodePorts]: 'type inet_proto . inet_service : verdict',
  ...Object.fromEntries(
    PROTOCOLS.flatMap((p) => [
      [backendMaps.service(p), `typeof ip daddr . ${p} dport . numgen random mod 1 : ip daddr . ${p} dport`],
      [backendMaps.nodePort(p), `typeof ${p} dport . numgen random mod 1 : ip daddr . ${p} dport`],
    ]),
  ),
};

export const CLUSTER_IPS_SET = 'cluster-ips';
/** `ip . ip` for every endpoint of a map-dispatched Service: a connection DNATed to its own source. */
export const ENDPOINT_SELF_SET = 'endpoint-self';
export const SET_DECLARATIONS: Record<string, string> = {
  [CLUSTER_IPS_SET]: 'type ipv4_addr',
  [ENDPOINT_SELF_SET]: 'type ipv4_addr . ipv4_addr',
};

export interface RulesetOptions {
  /** Pod addresses (e.g. 10.88.0.0/16): cluster-IP traffic from elsewhere is masqueraded. */
  clusterCidr?: string;
  /** The service CIDR: after DNAT, anything still addressed into it is dropped. */
  serviceCidr?: string;
}

/** Everything Strata wants in its table, as comparable data. */
export interface DesiredState {
  /** Chain name → its rules (nft syntax, without `add rule …`). Fixed and shared chains included. */
  chains: Map<string, string[]>;
  /** Map name → element key → verdict or data. */
  maps: Map<string, Map<string, string>>;
  /** Set name (cluster-ips, endpoint-self) → elements. */
  sets: Map<string, Set<string>>;
  /** Affinity set name → timeout seconds. */
  affinitySets: Map<string, number>;
}

/**
 * A short tag in front of each chain name, as kube-proxy has: FNV-1a (32 bits). Names also carry the
 * whole id, so the tag only helps the eye; a cryptographic hash per chain cost more than the rest of a
 * 5,000-Service render.
 */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

export const chainNames = {
  service: (id: string) => `service-${hash(id)}-${id}`,
  external: (id: string) => `external-${hash(id)}-${id}`,
  endpoint: (id: string, b: Backend) =>
    `endpoint-${hash(`${id}__${b.ip}/${b.port}`)}-${id}__${b.ip}/${b.port}`,
  affinity: (id: string, b: Backend, seconds: number) =>
    `affinity-${hash(`${id}__${b.ip}/${b.port}/${seconds}`)}-${id}__${b.ip}/${b.port}`,
};

/** The fixed chains: base chains hooked into netfilter and the helpers they jump to. */
export function fixedChains(opts: RulesetOptions): Map<string, string[]> {
  const newConn = 'ct state new';
  return new Map<string, string[]>([
    ['nat-prerouting', ['type nat hook prerouting priority dstnat; policy accept;', 'jump services']],
    ['nat-output', ['type nat hook output priority -100; policy accept;', 'jump services']],
    ['nat-postrouting', ['type nat hook postrouting priority srcnat; policy accept;', 'jump masquerading']],
    [
      'filter-input',
      [
        'type filter hook input priority -110; policy accept;',
        `${newConn} jump nodeport-endpoints-check`,
        `${newConn} jump service-endpoints-check`,
      ],
    ],
    [
      'filter-forward',
      [
        'type filter hook forward priority -110; policy accept;',
        `${newConn} jump service-endpoints-check`,
        `${newConn} jump cluster-ips-check`,
      ],
    ],
    [
      'filter-output',
      [
        'type filter hook output priority -110; policy accept;',
        `${newConn} jump service-endpoints-check`,
        `${newConn} jump nodeport-endpoints-check`,
      ],
    ],
    // After the nat output hook (-100): what is still addressed to a cluster IP found no Service port.
    [
      'filter-output-post-dnat',
      ['type filter hook output priority -90; policy accept;', `${newConn} jump cluster-ips-check`],
    ],
    [
      'services',
      [
        `ip daddr . meta l4proto . th dport vmap @${MAPS.serviceIps}`,
        `fib daddr type local meta l4proto . th dport vmap @${MAPS.nodePorts}`,
      ],
    ],
    ['mark-for-masquerade', [`meta mark set meta mark | ${MASQ_MARK}`]],
    [
      'masquerading',
      [
        `ct status dnat ip saddr . ip daddr @${ENDPOINT_SELF_SET} jump mark-for-masquerade`,
        `meta mark & ${MASQ_MARK} == 0 return`,
        `meta mark set meta mark ^ ${MASQ_MARK}`,
        'masquerade fully-random',
      ],
    ],
    ['service-endpoints-check', [`ip daddr . meta l4proto . th dport vmap @${MAPS.noEndpointServices}`]],
    [
      'nodeport-endpoints-check',
      [`fib daddr type local meta l4proto . th dport vmap @${MAPS.noEndpointNodePorts}`],
    ],
    [
      'cluster-ips-check',
      [
        `ip daddr @${CLUSTER_IPS_SET} reject`,
        ...(opts.serviceCidr ? [`ip daddr ${opts.serviceCidr} drop`] : []),
      ],
    ],
    ['reject-chain', ['reject']],
  ]);
}

/** The chains shared by every map-dispatched Service with `n` backends (named by n alone). */
export const sharedChainNames = {
  dispatch: (n: number) => `dispatch-${n}`,
  nodePortDispatch: (n: number) => `nodeport-dispatch-${n}`,
};

/** The rules of a shared chain, from its name. */
export function sharedChainRules(name: string, opts: RulesetOptions): string[] {
  const m = /^(nodeport-)?dispatch-(\d+)$/.exec(name);
  if (!m) throw new Error(`not a shared chain: ${name}`);
  const n = Number(m[2]);
  if (m[1])
    return [
      'jump mark-for-masquerade',
      ...PROTOCOLS.map(
        (p) => `dnat ip addr . port to ${p} dport . numgen random mod ${n} map @${backendMaps.nodePort(p)}`,
      ),
    ];
  return [
    ...(opts.clusterCidr ? [`ip saddr != ${opts.clusterCidr} jump mark-for-masquerade`] : []),
    ...PROTOCOLS.map(
      (p) =>
        `dnat ip addr . port to ip daddr . ${p} dport . numgen random mod ${n} map @${backendMaps.service(p)}`,
    ),
  ];
}

/** The numgen dispatch over endpoint chains (with affinity lookups first). */
function dispatch(id: string, backends: Backend[], affinitySeconds: number | undefined): string[] {
  const rules: string[] = [];
  if (affinitySeconds !== undefined)
    for (const b of backends)
      rules.push(
        `ip saddr @${chainNames.affinity(id, b, affinitySeconds)} goto ${chainNames.endpoint(id, b)}`,
      );
  const arms = backends.map((b, i) => `${i} : goto ${chainNames.endpoint(id, b)}`).join(', ');
  rules.push(`numgen random mod ${backends.length} vmap { ${arms} }`);
  return rules;
}

/** What one Service port contributes to the table. */
export interface RenderedPlan {
  /** Chains of its own (chained Service ports only). */
  chains: [string, string[]][];
  /** Map elements of its own. */
  elements: [map: string, key: string, value: string][];
  /** Elements of shared sets (cluster-ips, endpoint-self); several ports may hold the same one. */
  setElements: [set: string, key: string][];
  /** Shared chains it jumps to (dispatch-N); they exist while some port uses them. */
  sharedChains: string[];
  affinitySets: [string, number][];
}

/**
 * Whether a Service port needs chains of its own: ClientIP affinity remembers a client per endpoint, and
 * externalTrafficPolicy Local answers node-port traffic with other backends than cluster-IP traffic.
 * Every other port is map elements only.
 */
function chained(p: ServicePortPlan): boolean {
  return p.affinitySeconds !== undefined || p.localBackends !== undefined;
}

/** A Service port as map elements, dispatched by the shared chain for its backend count. */
function renderMapped(p: ServicePortPlan): RenderedPlan {
  const out: RenderedPlan = {
    chains: [],
    elements: [],
    setElements: [[CLUSTER_IPS_SET, p.clusterIP]],
    sharedChains: [],
    affinitySets: [],
  };
  const svcKey = `${p.clusterIP} . ${p.protocol} . ${p.port}`;
  const backends = p.clusterBackends;
  const n = backends.length;
  if (n === 0) out.elements.push([MAPS.noEndpointServices, svcKey, 'goto reject-chain']);
  else {
    const chain = sharedChainNames.dispatch(n);
    out.sharedChains.push(chain);
    out.elements.push([MAPS.serviceIps, svcKey, `goto ${chain}`]);
    const map = backendMaps.service(p.protocol);
    backends.forEach((b, i) =>
      out.elements.push([map, `${p.clusterIP} . ${p.port} . ${i}`, `${b.ip} . ${b.port}`]),
    );
    for (const ip of new Set(backends.map((b) => b.ip)))
      out.setElements.push([ENDPOINT_SELF_SET, `${ip} . ${ip}`]);
  }
  if (p.nodePort === undefined) return out;
  const npKey = `${p.protocol} . ${p.nodePort}`;
  if (n === 0) out.elements.push([MAPS.noEndpointNodePorts, npKey, 'goto reject-chain']);
  else {
    const chain = sharedChainNames.nodePortDispatch(n);
    out.sharedChains.push(chain);
    out.elements.push([MAPS.nodePorts, npKey, `goto ${chain}`]);
    const map = backendMaps.nodePort(p.protocol);
    backends.forEach((b, i) => out.elements.push([map, `${p.nodePort} . ${i}`, `${b.ip} . ${b.port}`]));
  }
  return out;
}

/** A Service port with chains of its own (kube-proxy's shape): affinity, or a Local node port. */
function renderChained(p: ServicePortPlan, opts: RulesetOptions): RenderedPlan {
  const out: RenderedPlan = {
    chains: [],
    elements: [],
    setElements: [[CLUSTER_IPS_SET, p.clusterIP]],
    sharedChains: [],
    affinitySets: [],
  };
  const svcKey = `${p.clusterIP} . ${p.protocol} . ${p.port}`;
  const npKey = p.nodePort !== undefined ? `${p.protocol} . ${p.nodePort}` : undefined;
  const backends = p.clusterBackends;
  // Every backend of either policy gets its endpoint chain.
  const all = new Map<string, Backend>();
  for (const b of [...backends, ...(p.localBackends ?? [])]) all.set(`${b.ip}:${b.port}`, b);
  for (const b of all.values()) {
    const rules = [`ip saddr ${b.ip} jump mark-for-masquerade`];
    if (p.affinitySeconds !== undefined) {
      const set = chainNames.affinity(p.id, b, p.affinitySeconds);
      out.affinitySets.push([set, p.affinitySeconds]);
      rules.push(`update @${set} { ip saddr }`);
    }
    rules.push(`meta l4proto ${p.protocol} dnat to ${b.ip}:${b.port}`);
    out.chains.push([chainNames.endpoint(p.id, b), rules]);
  }
  if (backends.length === 0) {
    out.elements.push([MAPS.noEndpointServices, svcKey, 'goto reject-chain']);
  } else {
    const service = chainNames.service(p.id);
    const masq = opts.clusterCidr
      ? [
          `ip daddr ${p.clusterIP} ${p.protocol} dport ${p.port} ip saddr != ${opts.clusterCidr} jump mark-for-masquerade`,
        ]
      : [];
    out.chains.push([service, [...masq, ...dispatch(p.id, backends, p.affinitySeconds)]]);
    out.elements.push([MAPS.serviceIps, svcKey, `goto ${service}`]);
  }
  if (npKey === undefined) return out;
  const external = chainNames.external(p.id);
  if (p.localBackends === undefined) {
    if (backends.length === 0) {
      out.elements.push([MAPS.noEndpointNodePorts, npKey, 'goto reject-chain']);
      return out;
    }
    out.chains.push([external, ['jump mark-for-masquerade', `goto ${chainNames.service(p.id)}`]]);
  } else {
    // externalTrafficPolicy Local: the client address is kept, so only local endpoints can answer;
    // the node itself (a local source) may still use any endpoint, masqueraded.
    if (backends.length === 0 && p.localBackends.length === 0) {
      out.elements.push([MAPS.noEndpointNodePorts, npKey, 'goto reject-chain']);
      return out;
    }
    const rules =
      backends.length > 0
        ? [
            'fib saddr type local jump mark-for-masquerade',
            `fib saddr type local goto ${chainNames.service(p.id)}`,
          ]
        : [];
    rules.push(...(p.localBackends.length ? dispatch(p.id, p.localBackends, p.affinitySeconds) : ['drop']));
    out.chains.push([external, rules]);
  }
  out.elements.push([MAPS.nodePorts, npKey, `goto ${external}`]);
  return out;
}

export function renderPlan(p: ServicePortPlan, opts: RulesetOptions): RenderedPlan {
  return chained(p) ? renderChained(p, opts) : renderMapped(p);
}

/**
 * Rendered plans by their content, kept between syncs so that a sync renders only the Service ports
 * that changed, and hands back the very same object for the others (the data plane's partial sync
 * skips a port whose rendered object it applied last time: a change costs work for that port only).
 */
export class RenderCache {
  private entries = new Map<string, RenderedPlan>();
  private next = new Map<string, RenderedPlan>();
  /** Plans the caller hands again unchanged (ServicePlanner reuses them): no key to compute. */
  private byPlan = new WeakMap<ServicePortPlan, { key: string; r: RenderedPlan }>();

  get(p: ServicePortPlan, opts: RulesetOptions): RenderedPlan {
    const known = this.byPlan.get(p);
    if (known && (this.entries.get(known.key) === known.r || this.next.get(known.key) === known.r)) {
      this.next.set(known.key, known.r);
      return known.r;
    }
    const key = JSON.stringify(p);
    let r = this.entries.get(key) ?? this.next.get(key);
    if (!r) r = renderPlan(p, opts);
    this.next.set(key, r);
    this.byPlan.set(p, { key, r });
    return r;
  }

  /** Keep only what the last round of get() calls used. */
  rotate(): void {
    this.entries = this.next;
    this.next = new Map();
  }
}

/** The whole table from rendered plans (for full syncs and tests). */
export function aggregate(rendered: Iterable<RenderedPlan>, opts: RulesetOptions = {}): DesiredState {
  const chains = fixedChains(opts);
  const maps = new Map<string, Map<string, string>>(Object.keys(MAP_DECLARATIONS).map((m) => [m, new Map()]));
  const sets = new Map<string, Set<string>>(Object.keys(SET_DECLARATIONS).map((s) => [s, new Set()]));
  const affinitySets = new Map<string, number>();
  for (const r of rendered) {
    for (const name of r.sharedChains) if (!chains.has(name)) chains.set(name, sharedChainRules(name, opts));
    for (const [name, rules] of r.chains) chains.set(name, rules);
    for (const [map, key, value] of r.elements) maps.get(map)!.set(key, value);
    for (const [set, key] of r.setElements) sets.get(set)!.add(key);
    for (const [set, seconds] of r.affinitySets) affinitySets.set(set, seconds);
  }
  return { chains, maps, sets, affinitySets };
}

export function desiredState(plans: readonly ServicePortPlan[], opts: RulesetOptions = {}): DesiredState {
  return aggregate(
    plans.map((p) => renderPlan(p, opts)),
    opts,
  );
}
