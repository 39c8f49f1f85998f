// The rule plan and its nftables rendering, from objects as the API stores them (validated and defaulted).
import { describe, expect, it } from 'vitest';
import { type Namespace, type NetworkPolicy, type Pod, validateObject } from '../../api/index.ts';
import { planPolicies } from './plan.ts';
import { ISOLATED, REJECT, desiredState, names } from './ruleset.ts';

function stored<T>(obj: unknown): T {
  const r = validateObject(obj);
  if (!r.ok) throw new Error(JSON.stringify(r.causes));
  return r.object as T;
}

function pod(
  name: string,
  ip: string | undefined,
  labels: Record<string, string>,
  namespace = 'default',
  extra: { ports?: { name: string; containerPort: number; protocol?: string }[]; phase?: string } = {},
): Pod {
  const p = stored<Pod>({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: 'c', image: 'busybox', ports: extra.ports }] },
  });
  p.status = { phase: extra.phase ?? 'Running', podIP: ip } as Pod['status'];
  return p;
}

const ns = (name: string, labels: Record<string, string> = {}): Namespace =>
  stored<Namespace>({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

const policy = (name: string, spec: Record<string, unknown>, namespace = 'default'): NetworkPolicy =>
  stored<NetworkPolicy>({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec,
  });

const pods = [
  pod('db', '10.88.0.2', { app: 'db' }, 'default', { ports: [{ name: 'pg', containerPort: 5432 }] }),
  pod('web', '10.88.0.3', { app: 'web' }),
  pod('other', '10.88.0.4', { app: 'other' }),
  pod('ops-tool', '10.88.0.5', { app: 'web' }, 'ops', {
    ports: [{ name: 'dns', containerPort: 5353, protocol: 'UDP' }],
  }),
  pod('done', '10.88.0.6', { app: 'db' }, 'default', { phase: 'Succeeded' }),
  pod('pending', undefined, { app: 'db' }),
];
const namespaces = [ns('default'), ns('ops', { team: 'ops' })];

describe('the policy plan', () => {
  it('selects the policy namespace pods with an address; an empty ingress list denies all', () => {
    const [plan] = planPolicies(
      [policy('deny', { podSelector: { matchLabels: { app: 'db' } } })],
      pods,
      namespaces,
    );
    expect(plan).toEqual({ id: 'default/deny', targets: ['10.88.0.2'], ingress: { rules: [] } });
    const [all] = planPolicies([policy('deny-all', {})], pods, namespaces);
    expect(all.targets).toEqual(['10.88.0.2', '10.88.0.3', '10.88.0.4']);
    expect(all.egress).toBeUndefined();
  });

  it('resolves podSelector, namespaceSelector, both, and ipBlock peers', () => {
    const [plan] = planPolicies(
      [
        policy('p', {
          podSelector: { matchLabels: { app: 'db' } },
          ingress: [
            {
              from: [
                { podSelector: { matchLabels: { app: 'web' } } },
                { namespaceSelector: { matchLabels: { team: 'ops' } } },
                { namespaceSelector: {}, podSelector: { matchLabels: { app: 'web' } } },
                { ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] } },
                { ipBlock: { cidr: 'fd00::/64' } },
              ],
            },
          ],
        }),
      ],
      pods,
      namespaces,
    );
    expect(plan.ingress!.rules[0].peers).toEqual([
      { kind: 'pods', ips: ['10.88.0.3'] }, // same namespace only
      { kind: 'pods', ips: ['10.88.0.5'] },
      { kind: 'pods', ips: ['10.88.0.3', '10.88.0.5'] },
      { kind: 'cidr', cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] },
      { kind: 'pods', ips: [] }, // IPv6: matches nothing here, and is no "allow all"
    ]);
  });

  it('matches namespaces by their name label', () => {
    const [plan] = planPolicies(
      [
        policy('p', {
          ingress: [
            { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ops' } } }] },
          ],
        }),
      ],
      pods,
      namespaces,
    );
    expect(plan.ingress!.rules[0].peers).toEqual([{ kind: 'pods', ips: ['10.88.0.5'] }]);
  });

  it('resolves named ports on the receiving pods; numbers, ranges and protocol-only ports as given', () => {
    const [plan] = planPolicies(
      [
        policy('p', {
          policyTypes: ['Ingress', 'Egress'],
          ingress: [{ ports: [{ port: 'pg' }, { port: 8000, endPort: 8100 }, { protocol: 'UDP' }] }],
          egress: [{ ports: [{ port: 'dns', protocol: 'UDP' }] }],
        }),
      ],
      pods,
      namespaces,
    );
    expect(plan.ingress!.rules[0].ports).toEqual([
      { kind: 'named', protocol: 'tcp', name: 'pg', elements: ['10.88.0.2 . tcp . 5432'] },
      { kind: 'number', protocol: 'tcp', port: 8000, endPort: 8100 },
      { kind: 'number', protocol: 'udp' },
    ]);
    // Egress: the destination's port, on any pod (here the one in ops).
    expect(plan.egress!.rules[0].ports).toEqual([
      { kind: 'named', protocol: 'udp', name: 'dns', elements: ['10.88.0.5 . udp . 5353'] },
    ]);
  });
});

describe('the rendered rules', () => {
  it('isolate selected pods: established first, one jump per policy, reject the rest', () => {
    const plans = planPolicies(
      [
        policy('db', {
          podSelector: { matchLabels: { app: 'db' } },
          ingress: [
            {
              from: [
                { podSelector: { matchLabels: { app: 'web' } } },
                { ipBlock: { cidr: '10.0.0.0/8', except: ['10.9.0.0/16'] } },
              ],
              ports: [{ port: 5432 }, { port: 'pg' }],
            },
          ],
        }),
        policy('egress', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'] }),
      ],
      pods,
      namespaces,
    );
    const d = desiredState(plans);
    const dbChain = names.chain('default/db', 'ingress');
    const webSet = names.peers('default/db', 'ingress', 0, 0);
    const pgSet = names.namedPort('default/db', 'ingress', 0, 1);
    expect(d.chains.get('ingress-forward')).toEqual([
      'type filter hook forward priority 1; policy accept;',
      'ct state established,related accept',
      `ip daddr @${names.targets('default/db')} jump ${dbChain}`,
      `ip daddr @${ISOLATED.ingress} ${REJECT}`,
    ]);
    expect(d.chains.get(dbChain)).toEqual([
      `ip saddr @${webSet} meta l4proto tcp th dport 5432 accept`,
      `ip saddr @${webSet} ip daddr . meta l4proto . th dport @${pgSet} accept`,
      'ip saddr 10.0.0.0/8 ip saddr != { 10.9.0.0/16 } meta l4proto tcp th dport 5432 accept',
      `ip saddr 10.0.0.0/8 ip saddr != { 10.9.0.0/16 } ip daddr . meta l4proto . th dport @${pgSet} accept`,
    ]);
    expect([...d.sets.get(webSet)!.elements]).toEqual(['10.88.0.3']);
    expect([...d.sets.get(pgSet)!.elements]).toEqual(['10.88.0.2 . tcp . 5432']);
    expect([...d.sets.get(ISOLATED.ingress)!.elements]).toEqual(['10.88.0.2']);
    // Egress-only policy: no ingress chain, an empty egress chain (deny all), web isolated for egress.
    expect(d.chains.has(names.chain('default/egress', 'ingress'))).toBe(false);
    expect(d.chains.get(names.chain('default/egress', 'egress'))).toEqual([]);
    expect([...d.sets.get(ISOLATED.egress)!.elements]).toEqual(['10.88.0.3']);
    expect(d.chains.get('egress-forward')).toContain(
      `ip saddr @${names.targets('default/egress')} jump ${names.chain('default/egress', 'egress')}`,
    );
  });

  it('an empty rule allows everything; no policy isolates nothing', () => {
    const d = desiredState(planPolicies([policy('allow', { ingress: [{}] })], pods, namespaces));
    expect(d.chains.get(names.chain('default/allow', 'ingress'))).toEqual(['accept']);
    const none = desiredState([]);
    expect(none.chains.get('ingress-forward')).toHaveLength(3);
    expect(none.sets.get(ISOLATED.ingress)!.elements.size).toBe(0);
  });

  it('a pod starting changes set elements only, not chains', () => {
    const pols = [
      policy('db', {
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
      }),
    ];
    const before = desiredState(planPolicies(pols, pods, namespaces));
    const after = desiredState(
      planPolicies(pols, [...pods, pod('web2', '10.88.0.9', { app: 'web' })], namespaces),
    );
    expect([...after.chains]).toEqual([...before.chains]);
    expect([...after.sets.get(names.peers('default/db', 'ingress', 0, 0))!.elements]).toEqual([
      '10.88.0.3',
      '10.88.0.9',
    ]);
  });
});
