// The nftables layout of NetworkPolicy enforcement: its own table (`ip strata_policy` on a default node),
// two base chains on the forward hook, and per policy one chain per direction plus sets of addresses, so
// that a pod starting or stopping changes set elements only, and a policy change rewrites that policy's
// chains only.
//
//   egress-forward  (filter forward, priority 0)   ingress-forward (filter forward, priority 1)
//       ct state established,related accept              ct state established,related accept
//       ip saddr @policy-<h>-targets jump policy-<h>-…-egress     (ip daddr … for ingress)
//       ...one jump per policy with that direction
//       ip saddr @egress-isolated reject                 ip daddr @ingress-isolated reject
//   policy-<h>-<ns>/<name>-ingress: one `accept` rule per (peer, port) pair of each rule:
//       ip saddr @policy-<h>-in<i>-p<j> | ip saddr <cidr> [ip saddr != { except }]
//       meta l4proto tcp [th dport 80[-90]] | ip daddr . meta l4proto . th dport @policy-<h>-in<i>-n<k>
//
// Why the forward hook only: every pod-to-pod packet (bridged, through br_netfilter, which the Service
// data plane turns on) and every pod-to-outside packet crosses it, after the Service DNAT (so it sees pod
// addresses, not cluster IPs) and before masquerading (so it sees the client pod's address). Traffic
// from the node (probes, the gateway, hostPort and NodePort connections made on the node) leaves through
// output and traffic to the node arrives through input: neither is filtered, which is Kubernetes' rule
// that a pod's own node may always reach it (and lets an egress-isolated pod still use cluster DNS,
// served by the node).
//
// Why a table of its own, not chains in the Service table: the Service data plane's full sync deletes
// and rewrites its whole table and knows nothing of policies; two tables resync, recover from a crash and
// tear down independently, and netfilter runs both on the hook — an accept in one does not bypass the
// other, a reject in either is final — so they need no coordination.
import type { DirectionPlan, PeerPlan, PolicyPlan, PortPlan } from './plan.ts';

export const TABLE = 'strata_policy';
export const FAMILY = 'ip';

export const ADDR_SET = 'ipv4_addr';
export const NAMED_PORT_SET = 'ipv4_addr . inet_proto . inet_service';

export const ISOLATED = { ingress: 'ingress-isolated', egress: 'egress-isolated' } as const;

/** What is refused: an ICMP admin-prohibited error, so clients fail at once instead of timing out. */
export const REJECT = 'reject with icmp type admin-prohibited';

export interface SetSpec {
  type: string;
  elements: Set<string>;
}

/** Everything the table should hold, as comparable data. */
export interface DesiredState {
  /** Chain name → rules (nft syntax without `add rule …`; a base chain's first entry is its declaration). */
  chains: Map<string, string[]>;
  sets: Map<string, SetSpec>;
}

/** FNV-1a (32 bits): a short tag that keeps set names short and chain names readable. */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

type Direction = 'ingress' | 'egress';

export const names = {
  chain: (id: string, d: Direction) => `policy-${hash(id)}-${id}-${d}`,
  targets: (id: string) => `policy-${hash(id)}-targets`,
  peers: (id: string, d: Direction, rule: number, peer: number) =>
    `policy-${hash(id)}-${d === 'ingress' ? 'in' : 'eg'}${rule}-p${peer}`,
  namedPort: (id: string, d: Direction, rule: number, port: number) =>
    `policy-${hash(id)}-${d === 'ingress' ? 'in' : 'eg'}${rule}-n${port}`,
};

function peerMatch(p: PeerPlan, d: Direction, set: string): string {
  // Ingress: who sent it (the source); egress: where it goes (the destination).
  const field = d === 'ingress' ? 'ip saddr' : 'ip daddr';
  if (p.kind === 'pods') return `${field} @${set}`;
  return p.except.length ? `${field} ${p.cidr} ${field} != { ${p.except.join(', ')} }` : `${field} ${p.cidr}`;
}

function portMatch(p: PortPlan, set: string): string {
  // The named port is that of the receiving pod, which is the destination in both directions.
  if (p.kind === 'named') return `ip daddr . meta l4proto . th dport @${set}`;
  if (p.port === undefined) return `meta l4proto ${p.protocol}`;
  const range = p.endPort !== undefined && p.endPort !== p.port ? `${p.port}-${p.endPort}` : `${p.port}`;
  return `meta l4proto ${p.protocol} th dport ${range}`;
}

/** One policy direction: its chain (one accept per peer × port of each rule) and the sets it uses. */
function renderDirection(id: string, d: Direction, plan: DirectionPlan, out: DesiredState): void {
  const rules: string[] = [];
  plan.rules.forEach((rule, i) => {
    const peers = rule.peers.map((p, j) => {
      const set = names.peers(id, d, i, j);
      if (p.kind === 'pods') out.sets.set(set, { type: ADDR_SET, elements: new Set(p.ips) });
      return peerMatch(p, d, set);
    });
    const ports = rule.ports.map((p, k) => {
      const set = names.namedPort(id, d, i, k);
      if (p.kind === 'named') out.sets.set(set, { type: NAMED_PORT_SET, elements: new Set(p.elements) });
      return portMatch(p, set);
    });
    for (const peer of peers.length ? peers : [''])
      for (const port of ports.length ? ports : [''])
        rules.push([peer, port, 'accept'].filter(Boolean).join(' '));
  });
  out.chains.set(names.chain(id, d), rules);
}

export function desiredState(plans: readonly PolicyPlan[]): DesiredState {
  const out: DesiredState = { chains: new Map(), sets: new Map() };
  const isolated = { ingress: new Set<string>(), egress: new Set<string>() };
  const jumps = { ingress: [] as string[], egress: [] as string[] };
  for (const plan of plans) {
    const targets = names.targets(plan.id);
    out.sets.set(targets, { type: ADDR_SET, elements: new Set(plan.targets) });
    for (const d of ['ingress', 'egress'] as const) {
      const dir = plan[d];
      if (!dir) continue;
      renderDirection(plan.id, d, dir, out);
      for (const ip of plan.targets) isolated[d].add(ip);
      const field = d === 'ingress' ? 'ip daddr' : 'ip saddr';
      jumps[d].push(`${field} @${targets} jump ${names.chain(plan.id, d)}`);
    }
  }
  out.sets.set(ISOLATED.ingress, { type: ADDR_SET, elements: isolated.ingress });
  out.sets.set(ISOLATED.egress, { type: ADDR_SET, elements: isolated.egress });
  const base = (priority: number, d: Direction): string[] => [
    `type filter hook forward priority ${priority}; policy accept;`,
    'ct state established,related accept',
    ...jumps[d],
    `${d === 'ingress' ? 'ip daddr' : 'ip saddr'} @${ISOLATED[d]} ${REJECT}`,
  ];
  out.chains.set('egress-forward', base(0, 'egress'));
  out.chains.set('ingress-forward', base(1, 'ingress'));
  return out;
}
