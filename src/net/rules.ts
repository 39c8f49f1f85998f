// The iptables layout of pod networking. Node-level rules (installed once, shared by every pod):
//
//   nat    POSTROUTING -> <P>-POSTROUTING
//            -s <range> ! -d <range> -j MASQUERADE               outbound NAT for pods
//            -o <bridge> -s 127.0.0.0/8 --ctstate DNAT -j MASQUERADE
//                          a hostPort reached on 127.0.0.1: the pod cannot answer 127.0.0.1 itself
//            -o <bridge> -s <range> --ctstate DNAT -j MASQUERADE
//                          a pod reaching a hostPort (its own: hairpin, or another pod's): replies must
//                          come back through the host to be un-DNATed
//   nat    PREROUTING, OUTPUT -m addrtype --dst-type LOCAL -> <P>-HOSTPORT
//            per pod: -p tcp --dport <hostPort> [-d <hostIP>] --comment strata:<uid>
//                     -j DNAT --to-destination <podIP>:<containerPort>
//   filter FORWARD -> <P>-FORWARD: accept to and from the bridge (a host whose FORWARD policy is DROP,
//          e.g. with Docker installed, would otherwise drop pod traffic)
//   filter INPUT -> <P>-INPUT: drop new packets from the bridge to 127.0.0.0/8. route_localnet (needed
//          for DNAT from 127.0.0.1, set on the bridge only) would otherwise let a pod reach the node's
//          loopback-only services (CVE-2020-8558; kube-proxy installs the same guard).

import { podComment, type Iptables, type Table } from './iptables.ts';

export interface ChainNames {
  postrouting: string;
  hostport: string;
  forward: string;
  input: string;
}

export function chainNames(prefix: string): ChainNames {
  return {
    postrouting: `${prefix}-POSTROUTING`,
    hostport: `${prefix}-HOSTPORT`,
    forward: `${prefix}-FORWARD`,
    input: `${prefix}-INPUT`,
  };
}

interface Jump {
  table: Table;
  from: string;
  rule: string[];
}

function jumps(c: ChainNames): Jump[] {
  const local = ['-m', 'addrtype', '--dst-type', 'LOCAL'];
  return [
    { table: 'nat', from: 'POSTROUTING', rule: ['-j', c.postrouting] },
    { table: 'nat', from: 'PREROUTING', rule: [...local, '-j', c.hostport] },
    { table: 'nat', from: 'OUTPUT', rule: [...local, '-j', c.hostport] },
    { table: 'filter', from: 'FORWARD', rule: ['-j', c.forward] },
    { table: 'filter', from: 'INPUT', rule: ['-j', c.input] },
  ];
}

function nodeRules(
  c: ChainNames,
  bridge: string,
  subnet: string,
): Array<{ table: Table; chain: string; rule: string[] }> {
  const dnat = ['-m', 'conntrack', '--ctstate', 'DNAT'];
  return [
    { table: 'nat', chain: c.postrouting, rule: ['-s', subnet, '!', '-d', subnet, '-j', 'MASQUERADE'] },
    {
      table: 'nat',
      chain: c.postrouting,
      rule: ['-s', '127.0.0.0/8', '-o', bridge, ...dnat, '-j', 'MASQUERADE'],
    },
    { table: 'nat', chain: c.postrouting, rule: ['-s', subnet, '-o', bridge, ...dnat, '-j', 'MASQUERADE'] },
    { table: 'filter', chain: c.forward, rule: ['-i', bridge, '-j', 'ACCEPT'] },
    { table: 'filter', chain: c.forward, rule: ['-o', bridge, '-j', 'ACCEPT'] },
    {
      table: 'filter',
      chain: c.input,
      // Replies to a DNATed hostPort connection from 127.0.0.1 arrive here too, un-NATed to 127.0.0.1:
      // only new, unrelated traffic is dropped (kube-proxy's rule).
      rule: [
        '-i',
        bridge,
        '-d',
        '127.0.0.0/8',
        '-m',
        'conntrack',
        '!',
        '--ctstate',
        'RELATED,ESTABLISHED,DNAT',
        '-j',
        'DROP',
      ],
    },
  ];
}

const TABLE_OF: Record<keyof ChainNames, Table> = {
  postrouting: 'nat',
  hostport: 'nat',
  forward: 'filter',
  input: 'filter',
};

/** Installs (idempotently) the chains, their node-level rules and the jumps to them. */
export async function installNodeRules(
  ipt: Iptables,
  c: ChainNames,
  bridge: string,
  subnet: string,
): Promise<void> {
  for (const key of Object.keys(TABLE_OF) as Array<keyof ChainNames>) {
    await ipt.ensureChain(TABLE_OF[key], c[key]);
  }
  for (const r of nodeRules(c, bridge, subnet)) await ipt.ensureRule(r.table, r.chain, r.rule);
  // Jumps go first in the built-in chains, so that nobody's earlier ACCEPT/DROP hides them.
  for (const j of jumps(c)) await ipt.ensureRule(j.table, j.from, j.rule, true);
}

/** Removes the jumps and the chains (every pod's rules go with them). */
export async function removeNodeRules(ipt: Iptables, c: ChainNames): Promise<void> {
  for (const j of jumps(c)) await ipt.deleteRule(j.table, j.from, j.rule);
  for (const key of Object.keys(TABLE_OF) as Array<keyof ChainNames>) {
    await ipt.deleteChain(TABLE_OF[key], c[key]);
  }
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface PortMapping {
  containerPort: number;
  hostPort: number;
  /** Only this node address; default every address of the node, 127.0.0.1 included. */
  hostIP?: string;
  protocol?: Protocol;
}

/** The DNAT rule (in the HOSTPORT chain) that publishes one port of a pod. */
export function hostPortRule(podUid: string, podIP: string, p: PortMapping): string[] {
  const proto = (p.protocol ?? 'TCP').toLowerCase();
  const dest = p.hostIP && p.hostIP !== '0.0.0.0' ? ['-d', `${p.hostIP}/32`] : [];
  return [
    ...dest,
    '-p',
    proto,
    '-m',
    proto,
    '--dport',
    String(p.hostPort),
    '-m',
    'comment',
    '--comment',
    podComment(podUid),
    '-j',
    'DNAT',
    '--to-destination',
    `${podIP}:${p.containerPort}`,
  ];
}
