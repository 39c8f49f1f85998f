// `strata describe`: a readable summary of one object — the fields people look at first, its
// conditions, for pods the state of each container (with the last termination), and for Deployments
// their ReplicaSets as kubectl shows them (OldReplicaSets, NewReplicaSet).
import YAML from 'yaml';
import { kindFor, labelSelectorToString, type KindInfo } from '../api/index.ts';
import { deploymentReplicaSets, splitReplicaSets } from '../api/deployment-history.ts';
import type { CliContext } from './context.ts';
import { eventsFor, eventsSection } from './events.ts';
import { efficiencyLines } from './top.ts';
import { age, deploymentRolloutState, podStatus } from './printers.ts';

function kv(lines: string[], key: string, value: unknown, indent = 0): void {
  if (value === undefined || value === null || value === '') return;
  // Top-level values start at column 18; container sections (indented) at column 20, as in kubectl.
  const column = indent > 0 ? 20 : 18;
  lines.push(`${' '.repeat(indent)}${`${key}:`.padEnd(Math.max(column - indent, key.length + 2))}${value}`);
}

function labels(obj: Record<string, string> | undefined): string {
  const e = Object.entries(obj ?? {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join('\n' + ' '.repeat(18)) : '<none>';
}

function conditions(lines: string[], conds: any[] | undefined): void {
  if (!conds?.length) return;
  const rows = [
    ['Type', 'Status', 'Reason', 'Message'],
    ...conds.map((c) => [c.type, c.status, c.reason ?? '', c.message ?? '']),
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)) + 2);
  lines.push('Conditions:');
  for (const r of rows)
    lines.push(
      `  ${r[0].padEnd(widths[0])}${r[1].padEnd(widths[1])}${r[2].padEnd(widths[2])}${r[3]}`.trimEnd(),
    );
}

/** kubectl's names for container state fields. */
const STATE_FIELDS: Array<[string, string]> = [
  ['reason', 'Reason'],
  ['message', 'Message'],
  ['exitCode', 'Exit Code'],
  ['signal', 'Signal'],
  ['startedAt', 'Started'],
  ['finishedAt', 'Finished'],
];

function state(lines: string[], label: string, st: any, indent: number): void {
  if (!st || Object.keys(st).length === 0) return;
  const [name, body] = Object.entries<any>(st)[0];
  kv(lines, label, name[0].toUpperCase() + name.slice(1), indent);
  for (const [k, title] of STATE_FIELDS) kv(lines, title, body?.[k], indent + 2);
}

/** `http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3`, as kubectl shows. */
export function probeLine(p: any): string {
  let what: string;
  if (p.httpGet) {
    const h = p.httpGet;
    what = `http-get ${(h.scheme ?? 'HTTP').toLowerCase()}://${h.host ?? ''}:${h.port}${h.path ?? '/'}`;
  } else if (p.tcpSocket) what = `tcp-socket ${p.tcpSocket.host ?? ''}:${p.tcpSocket.port}`;
  else if (p.exec) what = `exec [${(p.exec.command ?? []).join(' ')}]`;
  else what = 'unknown';
  return (
    `${what} delay=${p.initialDelaySeconds ?? 0}s timeout=${p.timeoutSeconds ?? 1}s ` +
    `period=${p.periodSeconds ?? 10}s #success=${p.successThreshold ?? 1} #failure=${p.failureThreshold ?? 3}`
  );
}

function describePod(pod: any): string[] {
  const l: string[] = [];
  kv(l, 'Name', pod.metadata.name);
  kv(l, 'Namespace', pod.metadata.namespace);
  kv(l, 'Runtime class', pod.spec.runtimeClassName);
  kv(l, 'Priority', pod.spec.priority);
  kv(l, 'Priority Class', pod.spec.priorityClassName);
  kv(l, 'Node', pod.spec.nodeName ?? '<none>');
  kv(l, 'Start Time', pod.status?.startTime);
  kv(l, 'Labels', labels(pod.metadata.labels));
  kv(l, 'Status', podStatus(pod));
  kv(l, 'Reason', pod.status?.reason);
  kv(l, 'Message', pod.status?.message);
  kv(l, 'Controlled By', pod.metadata.ownerReferences?.map((o: any) => `${o.kind}/${o.name}`).join(', '));
  l.push('Containers:');
  for (const c of pod.spec.containers) {
    const st = pod.status?.containerStatuses?.find((s: any) => s.name === c.name);
    l.push(`  ${c.name}:`);
    kv(l, 'Image', c.image, 4);
    kv(l, 'Command', c.command?.join(' '), 4);
    kv(l, 'Args', c.args?.join(' '), 4);
    state(l, 'State', st?.state, 4);
    state(l, 'Last State', st?.lastState, 4);
    kv(l, 'Ready', st ? String(st.ready) : 'false', 4);
    kv(l, 'Restart Count', st?.restartCount ?? 0, 4);
    if (c.livenessProbe) kv(l, 'Liveness', probeLine(c.livenessProbe), 4);
    if (c.readinessProbe) kv(l, 'Readiness', probeLine(c.readinessProbe), 4);
    if (c.startupProbe) kv(l, 'Startup', probeLine(c.startupProbe), 4);
    const lim = c.resources?.limits;
    const req = c.resources?.requests;
    if (lim)
      kv(
        l,
        'Limits',
        Object.entries(lim)
          .map(([k, v]) => `${k}=${v}`)
          .join(', '),
        4,
      );
    if (req)
      kv(
        l,
        'Requests',
        Object.entries(req)
          .map(([k, v]) => `${k}=${v}`)
          .join(', '),
        4,
      );
    for (const m of c.volumeMounts ?? [])
      kv(l, 'Mount', `${m.mountPath} from ${m.name}${m.readOnly ? ' (ro)' : ''}`, 4);
  }
  conditions(l, pod.status?.conditions);
  return l;
}

/** kubectl's printReplicaSetsByLabels: `web-5d4b8 (3/3 replicas created)`, comma-separated, or <none>. */
export function replicaSetList(rss: readonly any[]): string {
  const s = rss.map(
    (rs) => `${rs.metadata.name} (${rs.status?.replicas ?? 0}/${rs.spec?.replicas ?? 1} replicas created)`,
  );
  return s.length ? s.join(', ') : '<none>';
}

function describeDeployment(d: any, rss: readonly any[] | undefined): string[] {
  const l: string[] = [];
  kv(l, 'Name', d.metadata.name);
  kv(l, 'Namespace', d.metadata.namespace);
  kv(l, 'Created', `${d.metadata.creationTimestamp} (${age(d.metadata.creationTimestamp)} ago)`);
  kv(l, 'Selector', labelSelectorToString(d.spec.selector) || '<none>');
  const s = d.status ?? {};
  kv(
    l,
    'Replicas',
    `${d.spec.replicas} desired | ${s.updatedReplicas ?? 0} updated | ${s.replicas ?? 0} total | ${s.availableReplicas ?? 0} available | ${s.unavailableReplicas ?? 0} unavailable`,
  );
  kv(l, 'Strategy', d.spec.strategy?.type);
  const ru = d.spec.strategy?.rollingUpdate;
  if (ru)
    kv(
      l,
      'RollingUpdate',
      `${ru.maxUnavailable ?? '25%'} max unavailable, ${ru.maxSurge ?? '25%'} max surge`,
    );
  kv(l, 'MinReadySeconds', d.spec.minReadySeconds ?? 0);
  kv(l, 'Revision', d.metadata.annotations?.['deployment.kubernetes.io/revision']);
  kv(l, 'Rollout', deploymentRolloutState(d));
  kv(l, 'Runtime class', d.spec.template.spec.runtimeClassName);
  kv(l, 'Image', d.spec.template.spec.containers.map((c: any) => c.image).join(', '));
  conditions(l, s.conditions);
  if (rss) {
    const { newRS, olds } = splitReplicaSets(d, rss);
    kv(l, 'OldReplicaSets', replicaSetList(olds));
    kv(l, 'NewReplicaSet', replicaSetList(newRS ? [newRS] : []));
  }
  return l;
}

/** kubectl's ReplicaSet description: replicas, the pods' phases, its template's images. */
function describeReplicaSet(rs: any, pods: readonly any[]): string[] {
  const l: string[] = [];
  kv(l, 'Name', rs.metadata.name);
  kv(l, 'Namespace', rs.metadata.namespace);
  kv(l, 'Selector', labelSelectorToString(rs.spec.selector) || '<none>');
  kv(l, 'Labels', labels(rs.metadata.labels));
  kv(l, 'Annotations', labels(rs.metadata.annotations));
  const owner = rs.metadata.ownerReferences?.find((o: any) => o.controller);
  kv(l, 'Controlled By', owner ? `${owner.kind}/${owner.name}` : undefined);
  kv(l, 'Replicas', `${rs.status?.replicas ?? 0} current / ${rs.spec.replicas ?? 1} desired`);
  const phase = (p: string) => pods.filter((x) => (x.status?.phase ?? 'Pending') === p).length;
  kv(
    l,
    'Pods Status',
    `${phase('Running')} Running / ${phase('Pending')} Waiting / ${phase('Succeeded')} Succeeded / ${phase('Failed')} Failed`,
  );
  kv(l, 'Runtime class', rs.spec.template.spec.runtimeClassName);
  kv(l, 'Image', rs.spec.template.spec.containers.map((c: any) => c.image).join(', '));
  conditions(l, rs.status?.conditions);
  return l;
}

function describeJob(j: any): string[] {
  const l: string[] = [];
  kv(l, 'Name', j.metadata.name);
  kv(l, 'Namespace', j.metadata.namespace);
  kv(l, 'Completions', j.spec.completions);
  kv(l, 'Parallelism', j.spec.parallelism);
  kv(l, 'Backoff limit', j.spec.backoffLimit);
  kv(l, 'Start Time', j.status?.startTime);
  kv(l, 'Completed At', j.status?.completionTime);
  kv(
    l,
    'Pods Statuses',
    `${j.status?.active ?? 0} Active / ${j.status?.succeeded ?? 0} Succeeded / ${j.status?.failed ?? 0} Failed`,
  );
  conditions(l, j.status?.conditions);
  return l;
}

function describeNode(n: any): string[] {
  const l: string[] = [];
  kv(l, 'Name', n.metadata.name);
  kv(l, 'Labels', labels(n.metadata.labels));
  kv(l, 'Unschedulable', String(!!n.spec?.unschedulable));
  kv(
    l,
    'Taints',
    (n.spec?.taints ?? [])
      .map((t: any) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`)
      .join('\n' + ' '.repeat(18)) || '<none>',
  );
  kv(l, 'Runtime classes', (n.status?.runtimeHandlers ?? []).map((h: any) => h.name).join(', ') || '<none>');
  kv(l, 'Addresses', (n.status?.addresses ?? []).map((a: any) => `${a.type}=${a.address}`).join(', '));
  kv(
    l,
    'Capacity',
    Object.entries(n.status?.capacity ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(', '),
  );
  kv(
    l,
    'Allocatable',
    Object.entries(n.status?.allocatable ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(', '),
  );
  kv(l, 'Agent', n.status?.nodeInfo?.kubeletVersion);
  kv(l, 'Kernel', n.status?.nodeInfo?.kernelVersion);
  conditions(l, n.status?.conditions);
  return l;
}

/** The ready `ip:port` endpoints of one Service port, from the Service's EndpointSlices. */
function portEndpoints(slices: readonly any[], portName: string | undefined, protocol: string): string {
  const out: string[] = [];
  for (const s of slices) {
    const port = (s.ports ?? []).find(
      (p: any) => (p.name ?? '') === (portName ?? '') && (p.protocol ?? 'TCP') === protocol,
    );
    if (!port) continue;
    for (const ep of s.endpoints ?? [])
      if (ep.conditions?.ready !== false)
        for (const a of ep.addresses ?? []) out.push(port.port !== undefined ? `${a}:${port.port}` : a);
  }
  if (out.length === 0) return '<none>';
  // As kubectl: the first three, then how many more.
  return out.length > 3 ? `${out.slice(0, 3).join(',')} + ${out.length - 3} more...` : out.join(',');
}

/** `kubectl describe service`: addresses, each port with its target, node port and ready endpoints. */
export function describeService(svc: any, slices: readonly any[]): string[] {
  const l: string[] = [];
  const row = (k: string, v: unknown) => {
    if (v !== undefined && v !== null && v !== '') l.push(`${`${k}:`.padEnd(26)}${v}`);
  };
  const spec = svc.spec ?? {};
  row('Name', svc.metadata.name);
  row('Namespace', svc.metadata.namespace);
  row('Labels', labels(svc.metadata.labels).replaceAll(`\n${' '.repeat(18)}`, `\n${' '.repeat(26)}`));
  row(
    'Selector',
    spec.selector
      ? Object.entries(spec.selector)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')
      : '<none>',
  );
  row('Type', spec.type ?? 'ClusterIP');
  row('IP Family Policy', spec.ipFamilyPolicy);
  row('IP Families', spec.ipFamilies?.join(','));
  row('IP', spec.clusterIP);
  row('IPs', spec.clusterIPs?.join(','));
  row('External Name', spec.externalName);
  row(
    'LoadBalancer Ingress',
    svc.status?.loadBalancer?.ingress?.map((i: any) => i.ip ?? i.hostname).join(', '),
  );
  for (const p of spec.ports ?? []) {
    const name = p.name || '<unset>';
    row('Port', `${name}  ${p.port}/${p.protocol ?? 'TCP'}`);
    row('TargetPort', `${p.targetPort ?? p.port}/${p.protocol ?? 'TCP'}`);
    if (p.nodePort) row('NodePort', `${name}  ${p.nodePort}/${p.protocol ?? 'TCP'}`);
    if (spec.type !== 'ExternalName') row('Endpoints', portEndpoints(slices, p.name, p.protocol ?? 'TCP'));
  }
  row('Session Affinity', spec.sessionAffinity ?? 'None');
  row('External Traffic Policy', spec.externalTrafficPolicy);
  row('Internal Traffic Policy', spec.internalTrafficPolicy);
  return l;
}

export async function describe(ctx: CliContext, kind: KindInfo, name: string): Promise<string> {
  const obj = await ctx.client.get(kind, kind.namespaced ? ctx.namespace : undefined, name);
  let lines: string[];
  switch (kind.kind) {
    case 'Pod': {
      lines = describePod(obj);
      // Best effort, as events: a server without the metrics history still describes the pod.
      const efficiency = obj.spec?.nodeName
        ? await ctx.client
            .json(
              'GET',
              `/strata/metrics/efficiency?namespace=${encodeURIComponent(obj.metadata.namespace)}&pod=${encodeURIComponent(name)}`,
            )
            .catch(() => undefined)
        : undefined;
      if (efficiency) lines.push(...efficiencyLines(efficiency));
      break;
    }
    case 'Deployment': {
      // As kubectl: the ReplicaSets are best effort (a server without them still gets a description).
      const rss = await deploymentReplicaSets({ list: (k, ns) => ctx.client.list(k, ns) }, obj).catch(
        () => undefined,
      );
      lines = describeDeployment(obj, rss);
      break;
    }
    case 'ReplicaSet': {
      const { items } = await ctx.client.list(kindFor('v1', 'Pod')!, obj.metadata.namespace);
      const owned = items.filter((p: any) =>
        p.metadata.ownerReferences?.some((r: any) => r.controller && r.uid === obj.metadata.uid),
      );
      lines = describeReplicaSet(obj, owned);
      break;
    }
    case 'Job':
      lines = describeJob(obj);
      break;
    case 'Node': {
      lines = describeNode(obj);
      const pods = await ctx.client.list(kindFor('v1', 'Pod')!, undefined, {
        fieldSelector: `spec.nodeName=${name}`,
      });
      lines.push(`Pods:             ${pods.items.length}`);
      for (const p of pods.items) lines.push(`  ${p.metadata.namespace}/${p.metadata.name}  ${podStatus(p)}`);
      break;
    }
    case 'Service': {
      const slices = await ctx.client
        .list(kindFor('discovery.k8s.io/v1', 'EndpointSlice')!, obj.metadata.namespace, {
          labelSelector: `kubernetes.io/service-name=${obj.metadata.name}`,
        })
        .then((r) => r.items)
        .catch(() => []);
      lines = describeService(obj, slices);
      break;
    }
    case 'Event':
      return YAML.stringify(obj).trimEnd();
    default:
      lines = YAML.stringify(obj).trimEnd().split('\n');
  }
  // Events are best effort: a server without them (or without permission) still gets a description.
  const events = await eventsFor(ctx.client, obj).catch(() => undefined);
  if (events) lines.push(...eventsSection(events));
  return lines.join('\n');
}
