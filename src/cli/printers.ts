// Tables for `strata get`, in kubectl's layout: one set of columns per kind, more with -o wide.
import type { KindInfo } from '../api/index.ts';

export function age(ts: string | undefined, now = Date.now()): string {
  if (!ts) return '<unknown>';
  let s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  s = Math.floor(h / 24);
  return `${s}d`;
}

/** kubectl's STATUS column for a pod. */
export function podStatus(pod: any): string {
  if (pod.metadata.deletionTimestamp) return 'Terminating';
  const st = pod.status ?? {};
  if (st.reason) return st.reason;
  let reason = st.phase ?? 'Pending';
  for (const c of st.containerStatuses ?? []) {
    if (c.state?.waiting?.reason && c.state.waiting.reason !== 'ContainerCreating')
      return c.state.waiting.reason;
    if (c.state?.waiting?.reason) reason = 'ContainerCreating';
    if (c.state?.terminated)
      reason = c.state.terminated.reason ?? (c.state.terminated.exitCode === 0 ? 'Completed' : 'Error');
  }
  if (!pod.spec.nodeName && reason === 'Pending') return 'Pending';
  return reason;
}

function podRestarts(pod: any): string {
  let n = 0;
  let last: string | undefined;
  for (const c of pod.status?.containerStatuses ?? []) {
    n += c.restartCount ?? 0;
    const f = c.lastState?.terminated?.finishedAt;
    if (f && (!last || f > last)) last = f;
  }
  return last && n > 0 ? `${n} (${age(last)} ago)` : String(n);
}

function nodeReady(node: any): string {
  const ready = node.status?.conditions?.find((c: any) => c.type === 'Ready');
  let s = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
  if (node.spec?.unschedulable) s += ',SchedulingDisabled';
  return s;
}

interface Columns {
  headers: string[];
  wide?: string[];
  row(obj: any): string[];
  wideRow?(obj: any): string[];
}

const COLUMNS: Record<string, Columns> = {
  Pod: {
    headers: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'],
    wide: ['RUNTIME', 'NODE'],
    row: (p) => {
      const cs = p.status?.containerStatuses ?? [];
      return [
        p.metadata.name,
        `${cs.filter((c: any) => c.ready).length}/${p.spec.containers.length}`,
        podStatus(p),
        podRestarts(p),
        age(p.metadata.creationTimestamp),
      ];
    },
    wideRow: (p) => [p.spec.runtimeClassName ?? '<none>', p.spec.nodeName ?? '<none>'],
  },
  Deployment: {
    headers: ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'],
    wide: ['SELECTOR'],
    row: (d) => [
      d.metadata.name,
      `${d.status?.readyReplicas ?? 0}/${d.spec.replicas ?? 1}`,
      String(d.status?.updatedReplicas ?? 0),
      String(d.status?.availableReplicas ?? 0),
      age(d.metadata.creationTimestamp),
    ],
    wideRow: (d) => [
      Object.entries(d.spec.selector?.matchLabels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    ],
  },
  Job: {
    headers: ['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE'],
    row: (j) => {
      const cond = (t: string) => j.status?.conditions?.some((c: any) => c.type === t && c.status === 'True');
      const status = cond('Complete') ? 'Complete' : cond('Failed') ? 'Failed' : 'Running';
      const start = j.status?.startTime;
      const end = j.status?.completionTime;
      return [
        j.metadata.name,
        status,
        `${j.status?.succeeded ?? 0}/${j.spec.completions ?? 1}`,
        start ? age(start, end ? Date.parse(end) : Date.now()) : '',
        age(j.metadata.creationTimestamp),
      ];
    },
  },
  Node: {
    headers: ['NAME', 'STATUS', 'RUNTIMES', 'AGE', 'VERSION'],
    wide: ['INTERNAL-IP', 'KERNEL-VERSION', 'CPU', 'MEMORY'],
    row: (n) => [
      n.metadata.name,
      nodeReady(n),
      (n.status?.runtimeHandlers ?? []).map((h: any) => h.name).join(',') || '<none>',
      age(n.metadata.creationTimestamp),
      n.status?.nodeInfo?.kubeletVersion ?? '',
    ],
    wideRow: (n) => [
      n.status?.addresses?.find((a: any) => a.type === 'InternalIP')?.address ?? '<none>',
      n.status?.nodeInfo?.kernelVersion ?? '',
      n.status?.allocatable?.cpu ?? '',
      n.status?.allocatable?.memory ?? '',
    ],
  },
  Namespace: {
    headers: ['NAME', 'STATUS', 'AGE'],
    row: (n) => [
      n.metadata.name,
      n.metadata.deletionTimestamp ? 'Terminating' : (n.status?.phase ?? 'Active'),
      age(n.metadata.creationTimestamp),
    ],
  },
  ConfigMap: {
    headers: ['NAME', 'DATA', 'AGE'],
    row: (c) => [
      c.metadata.name,
      String(Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length),
      age(c.metadata.creationTimestamp),
    ],
  },
  Secret: {
    headers: ['NAME', 'TYPE', 'DATA', 'AGE'],
    row: (s) => [
      s.metadata.name,
      s.type ?? 'Opaque',
      String(Object.keys(s.data ?? {}).length),
      age(s.metadata.creationTimestamp),
    ],
  },
  Lease: {
    headers: ['NAME', 'HOLDER', 'AGE'],
    row: (l) => [l.metadata.name, l.spec?.holderIdentity ?? '', age(l.metadata.creationTimestamp)],
  },
};

const GENERIC: Columns = {
  headers: ['NAME', 'AGE'],
  row: (o) => [o.metadata.name, age(o.metadata.creationTimestamp)],
};

export function tableRows(
  kind: KindInfo,
  items: any[],
  opts: { wide?: boolean; withNamespace?: boolean; headers?: boolean },
): string[] {
  const cols = COLUMNS[kind.kind] ?? GENERIC;
  const header = [
    ...(opts.withNamespace ? ['NAMESPACE'] : []),
    ...cols.headers,
    ...(opts.wide ? (cols.wide ?? []) : []),
  ];
  const rows = items.map((o) => [
    ...(opts.withNamespace ? [o.metadata.namespace ?? ''] : []),
    ...cols.row(o),
    ...(opts.wide && cols.wideRow ? cols.wideRow(o) : []),
  ]);
  const all = opts.headers === false ? rows : [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3)))
      .join('')
      .trimEnd(),
  );
}
