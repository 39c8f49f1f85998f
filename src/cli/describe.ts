// `strata describe`: a readable summary of one object — the fields people look at first, its
// conditions, and for pods the state of each container (with the last termination).
import YAML from 'yaml';
import { kindFor, type KindInfo } from '../api/index.ts';
import type { CliContext } from './context.ts';
import { age, podStatus } from './printers.ts';

function kv(lines: string[], key: string, value: unknown, indent = 0): void {
  if (value === undefined || value === null || value === '') return;
  lines.push(`${' '.repeat(indent)}${`${key}:`.padEnd(Math.max(18 - indent, key.length + 2))}${value}`);
}

function labels(obj: Record<string, string> | undefined): string {
  const e = Object.entries(obj ?? {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join('\n' + ' '.repeat(18)) : '<none>';
}

function conditions(lines: string[], conds: any[] | undefined): void {
  if (!conds?.length) return;
  lines.push('Conditions:');
  lines.push('  Type              Status  Reason                Message');
  for (const c of conds) {
    lines.push(
      `  ${c.type.padEnd(18)}${c.status.padEnd(8)}${(c.reason ?? '').padEnd(22)}${c.message ?? ''}`.trimEnd(),
    );
  }
}

function state(lines: string[], label: string, st: any, indent: number): void {
  if (!st || Object.keys(st).length === 0) return;
  const [name, body] = Object.entries<any>(st)[0];
  kv(lines, label, name[0].toUpperCase() + name.slice(1), indent);
  for (const [k, v] of Object.entries<any>(body ?? {}))
    kv(lines, k[0].toUpperCase() + k.slice(1), v, indent + 2);
}

function describePod(pod: any): string[] {
  const l: string[] = [];
  kv(l, 'Name', pod.metadata.name);
  kv(l, 'Namespace', pod.metadata.namespace);
  kv(l, 'Runtime class', pod.spec.runtimeClassName);
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

function describeDeployment(d: any): string[] {
  const l: string[] = [];
  kv(l, 'Name', d.metadata.name);
  kv(l, 'Namespace', d.metadata.namespace);
  kv(l, 'Created', `${d.metadata.creationTimestamp} (${age(d.metadata.creationTimestamp)} ago)`);
  kv(l, 'Selector', labels(d.spec.selector?.matchLabels));
  const s = d.status ?? {};
  kv(
    l,
    'Replicas',
    `${d.spec.replicas} desired | ${s.updatedReplicas ?? 0} updated | ${s.replicas ?? 0} total | ${s.availableReplicas ?? 0} available | ${s.unavailableReplicas ?? 0} unavailable`,
  );
  kv(l, 'Strategy', d.spec.strategy?.type);
  kv(l, 'Runtime class', d.spec.template.spec.runtimeClassName);
  kv(l, 'Image', d.spec.template.spec.containers.map((c: any) => c.image).join(', '));
  conditions(l, s.conditions);
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

export async function describe(ctx: CliContext, kind: KindInfo, name: string): Promise<string> {
  const obj = await ctx.client.get(kind, kind.namespaced ? ctx.namespace : undefined, name);
  let lines: string[];
  switch (kind.kind) {
    case 'Pod':
      lines = describePod(obj);
      break;
    case 'Deployment':
      lines = describeDeployment(obj);
      break;
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
    default:
      lines = YAML.stringify(obj).trimEnd().split('\n');
  }
  return lines.join('\n');
}
