// NetworkPolicies + Pods + Namespaces → what each policy allows, in addresses: the pods it isolates, and
// per rule the peer addresses (pods by selector resolved to their IPs, ipBlocks as CIDRs with their
// excepts) and ports (numbers, ranges, and named ports resolved per pod to address . protocol . port).
// Pure: ruleset.ts turns this into nftables, data-plane.ts into kernel state.
//
// Semantics (Kubernetes' NetworkPolicy API):
// - A pod selected by a policy whose policyTypes hold a direction is isolated in that direction; the
//   union of the rules of every policy selecting it is what gets through. No policy: nothing isolated.
// - A rule with no peers allows every source/destination; with no ports, every port.
// - A peer with a podSelector alone picks pods of the policy's namespace; a namespaceSelector alone every
//   pod of the namespaces it matches; both, the pods matching the podSelector in those namespaces.
// - A named port is resolved on the pod that receives the traffic: the policy's own pods for ingress,
//   the destination pods for egress.
import {
  type LabelMatcher,
  type Namespace,
  type NetworkPolicy,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type Pod,
  labelSelectorMatcher,
  parseCidr,
  policyAffects,
} from '../../api/index.ts';

export type Protocol = 'tcp' | 'udp' | 'sctp';

/** A pod as the policy plane sees it: an address, labels, namespace, named ports. */
export interface PolicyPod {
  namespace: string;
  name: string;
  ip: string;
  labels: Record<string, string>;
  /** `name/protocol` → port number, from the pod's container ports. */
  namedPorts: Map<string, number>;
}

export type PeerPlan =
  /** Pods by selector, as addresses (may be empty: a selector matching nothing allows nothing). */
  | { kind: 'pods'; ips: string[] }
  /** Addresses in `cidr` but not in any of `except` (IPv4 only: this cluster is IPv4). */
  | { kind: 'cidr'; cidr: string; except: string[] };

export type PortPlan =
  /** No port: every port of the protocol. */
  | { kind: 'number'; protocol: Protocol; port?: number; endPort?: number }
  /** A named port, resolved per receiving pod: `ip . protocol . port` keys. */
  | { kind: 'named'; protocol: Protocol; name: string; elements: string[] };

export interface RulePlan {
  /** Empty: every peer. */
  peers: PeerPlan[];
  /** Empty: every port. */
  ports: PortPlan[];
}

export interface DirectionPlan {
  /** Empty: nothing allowed (default deny for the selected pods). */
  rules: RulePlan[];
}

export interface PolicyPlan {
  /** `namespace/name`. */
  id: string;
  /** Addresses of the pods the policy selects. */
  targets: string[];
  ingress?: DirectionPlan;
  egress?: DirectionPlan;
}

const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

/** The pods that have an IPv4 address on the pod network (host-network and finished pods have none). */
export function policyPods(pods: readonly Pod[]): PolicyPod[] {
  const out: PolicyPod[] = [];
  for (const p of pods) {
    const ip = p.status?.podIP;
    if (!ip || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) continue;
    if ((p.spec as { hostNetwork?: boolean }).hostNetwork) continue;
    if (TERMINAL_PHASES.has(p.status?.phase ?? '')) continue;
    const namedPorts = new Map<string, number>();
    for (const c of p.spec.containers ?? [])
      for (const cp of c.ports ?? [])
        if (cp.name) namedPorts.set(`${cp.name}/${(cp.protocol ?? 'TCP').toLowerCase()}`, cp.containerPort);
    out.push({
      namespace: p.metadata.namespace ?? 'default',
      name: p.metadata.name ?? '',
      ip,
      labels: p.metadata.labels ?? {},
      namedPorts,
    });
  }
  return out;
}

function protocolOf(p: NetworkPolicyPort): Protocol {
  return (p.protocol ?? 'TCP').toLowerCase() as Protocol;
}

const uniqueSorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

export class PolicyPlanner {
  private readonly pods: PolicyPod[];
  private readonly nsLabels: Map<string, Record<string, string>>;

  constructor(pods: readonly PolicyPod[], namespaces: readonly Namespace[]) {
    this.pods = [...pods];
    this.nsLabels = new Map(
      namespaces.map((n) => [
        n.metadata.name ?? '',
        // The name label is set by the server; tolerate namespaces stored before it was.
        { 'kubernetes.io/metadata.name': n.metadata.name ?? '', ...n.metadata.labels },
      ]),
    );
  }

  private podsIn(namespaceMatch: (ns: string) => boolean, podMatch: LabelMatcher): PolicyPod[] {
    return this.pods.filter((p) => namespaceMatch(p.namespace) && podMatch(p.labels));
  }

  private namespaceMatcher(np: NetworkPolicy, peer: NetworkPolicyPeer): (ns: string) => boolean {
    if (!peer.namespaceSelector) return (ns) => ns === np.metadata.namespace;
    const m = labelSelectorMatcher(peer.namespaceSelector);
    return (ns) => {
      const labels = this.nsLabels.get(ns);
      return labels !== undefined && m(labels);
    };
  }

  private peer(np: NetworkPolicy, peer: NetworkPolicyPeer): PeerPlan | undefined {
    if (peer.ipBlock) {
      const c = parseCidr(peer.ipBlock.cidr);
      if (!c || c.family !== 4) return undefined; // an IPv6 block matches nothing here
      const except = (peer.ipBlock.except ?? []).filter((e) => parseCidr(e)?.family === 4);
      return { kind: 'cidr', cidr: peer.ipBlock.cidr, except };
    }
    const pods = this.podsIn(this.namespaceMatcher(np, peer), labelSelectorMatcher(peer.podSelector ?? {}));
    return { kind: 'pods', ips: uniqueSorted(pods.map((p) => p.ip)) };
  }

  private port(p: NetworkPolicyPort, receivers: readonly PolicyPod[]): PortPlan {
    const protocol = protocolOf(p);
    if (typeof p.port === 'string') {
      const key = `${p.port}/${protocol}`;
      const elements = receivers.flatMap((pod) => {
        const n = pod.namedPorts.get(key);
        return n === undefined ? [] : [`${pod.ip} . ${protocol} . ${n}`];
      });
      return { kind: 'named', protocol, name: p.port, elements: uniqueSorted(elements) };
    }
    return { kind: 'number', protocol, port: p.port, endPort: p.endPort };
  }

  private rule(
    np: NetworkPolicy,
    peers: readonly NetworkPolicyPeer[] | undefined,
    ports: readonly NetworkPolicyPort[] | undefined,
    receivers: readonly PolicyPod[],
  ): RulePlan {
    return {
      // A peer that can match nothing here (an IPv6 block) still counts as a peer: the rule then allows
      // only what its other peers allow, never "every source".
      peers: (peers ?? []).map((peer) => this.peer(np, peer) ?? { kind: 'pods', ips: [] }),
      ports: (ports ?? []).map((p) => this.port(p, receivers)),
    };
  }

  plan(np: NetworkPolicy): PolicyPlan {
    const ns = np.metadata.namespace ?? 'default';
    const targets = this.podsIn((n) => n === ns, labelSelectorMatcher(np.spec.podSelector ?? {}));
    const plan: PolicyPlan = {
      id: `${ns}/${np.metadata.name}`,
      targets: uniqueSorted(targets.map((p) => p.ip)),
    };
    if (policyAffects(np, 'Ingress'))
      plan.ingress = {
        rules: (np.spec.ingress ?? []).map((r) => this.rule(np, r.from, r.ports, targets)),
      };
    if (policyAffects(np, 'Egress'))
      plan.egress = {
        // Named ports of egress rules are resolved on every pod; the rule's peers then pick among them.
        rules: (np.spec.egress ?? []).map((r) => this.rule(np, r.to, r.ports, this.pods)),
      };
    return plan;
  }
}

/** Every policy's plan, in a stable order (by id). */
export function planPolicies(
  policies: readonly NetworkPolicy[],
  pods: readonly Pod[],
  namespaces: readonly Namespace[],
): PolicyPlan[] {
  const planner = new PolicyPlanner(policyPods(pods), namespaces);
  return policies.map((np) => planner.plan(np)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
