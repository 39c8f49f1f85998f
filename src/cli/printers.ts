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

const cond = (obj: any, type: string): any => obj.status?.conditions?.find((c: any) => c.type === type);

/**
 * A Deployment's rollout state in one word: Paused, Stalled (progress deadline exceeded), Progressing
 * (a rollout or scale is under way), Available (done), or Unavailable (done, but short of replicas).
 */
export function deploymentRolloutState(d: any): string {
  const progressing = cond(d, 'Progressing');
  if (d.spec.paused) return 'Paused';
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') return 'Stalled';
  const s = d.status ?? {};
  const want = d.spec.replicas ?? 1;
  const observed = (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
  const done =
    observed &&
    (s.updatedReplicas ?? 0) >= want &&
    (s.replicas ?? 0) <= (s.updatedReplicas ?? 0) &&
    (s.availableReplicas ?? 0) >= (s.updatedReplicas ?? 0);
  if (!done) return 'Progressing';
  return cond(d, 'Available')?.status === 'False' ? 'Unavailable' : 'Available';
}

function labelString(m: Record<string, string> | undefined): string {
  const e = Object.entries(m ?? {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

/** kubectl's IntOrString columns: the value, or <none>. */
function intOrNone(v: unknown): string {
  return v === undefined || v === null ? 'N/A' : String(v);
}

/** Event's object column: kind/name in lower case, like kubectl. */
function eventObject(e: any): string {
  const io = e.involvedObject ?? {};
  return `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`;
}

/** When an event last happened (lastTimestamp, else eventTime, else creation). */
export function eventTime(e: any): string | undefined {
  return e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
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
    headers: ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'STATUS', 'AGE'],
    wide: ['CONTAINERS', 'IMAGES', 'SELECTOR'],
    row: (d) => [
      d.metadata.name,
      `${d.status?.readyReplicas ?? 0}/${d.spec.replicas ?? 1}`,
      String(d.status?.updatedReplicas ?? 0),
      String(d.status?.availableReplicas ?? 0),
      deploymentRolloutState(d),
      age(d.metadata.creationTimestamp),
    ],
    wideRow: (d) => [
      d.spec.template.spec.containers.map((c: any) => c.name).join(','),
      d.spec.template.spec.containers.map((c: any) => c.image).join(','),
      labelString(d.spec.selector?.matchLabels),
    ],
  },
  DaemonSet: {
    headers: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'NODE SELECTOR', 'AGE'],
    wide: ['CONTAINERS', 'IMAGES', 'SELECTOR'],
    row: (d) => [
      d.metadata.name,
      String(d.status?.desiredNumberScheduled ?? 0),
      String(d.status?.currentNumberScheduled ?? 0),
      String(d.status?.numberReady ?? 0),
      String(d.status?.updatedNumberScheduled ?? 0),
      String(d.status?.numberAvailable ?? 0),
      labelString(d.spec.template.spec.nodeSelector),
      age(d.metadata.creationTimestamp),
    ],
    wideRow: (d) => [
      d.spec.template.spec.containers.map((c: any) => c.name).join(','),
      d.spec.template.spec.containers.map((c: any) => c.image).join(','),
      labelString(d.spec.selector?.matchLabels),
    ],
  },
  CronJob: {
    headers: ['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE'],
    row: (c) => [
      c.metadata.name,
      c.spec.schedule,
      c.spec.timeZone ?? '<none>',
      c.spec.suspend ? 'True' : 'False',
      String(c.status?.active?.length ?? 0),
      c.status?.lastScheduleTime ? age(c.status.lastScheduleTime) : '<none>',
      age(c.metadata.creationTimestamp),
    ],
  },
  PodDisruptionBudget: {
    headers: ['NAME', 'MIN AVAILABLE', 'MAX UNAVAILABLE', 'ALLOWED DISRUPTIONS', 'AGE'],
    row: (p) => [
      p.metadata.name,
      intOrNone(p.spec.minAvailable),
      intOrNone(p.spec.maxUnavailable),
      String(p.status?.disruptionsAllowed ?? 0),
      age(p.metadata.creationTimestamp),
    ],
  },
  PriorityClass: {
    headers: ['NAME', 'VALUE', 'GLOBAL-DEFAULT', 'AGE', 'PREEMPTIONPOLICY'],
    row: (p) => [
      p.metadata.name,
      String(p.value),
      p.globalDefault ? 'true' : 'false',
      age(p.metadata.creationTimestamp),
      p.preemptionPolicy ?? 'PreemptLowerPriority',
    ],
  },
  ControllerRevision: {
    headers: ['NAME', 'CONTROLLER', 'REVISION', 'AGE'],
    row: (r) => {
      const owner =
        r.metadata.ownerReferences?.find((o: any) => o.controller) ?? r.metadata.ownerReferences?.[0];
      return [
        r.metadata.name,
        owner
          ? `${owner.kind.toLowerCase()}.${(owner.apiVersion ?? '').split('/')[0]}/${owner.name}`
          : '<none>',
        String(r.revision),
        age(r.metadata.creationTimestamp),
      ];
    },
  },
  Event: {
    headers: ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
    wide: ['SOURCE', 'FIRST SEEN', 'COUNT', 'NAME'],
    row: (e) => [
      age(eventTime(e)),
      e.type ?? 'Normal',
      e.reason ?? '',
      eventObject(e),
      (e.message ?? '').replace(/\s*\n\s*/g, ' '),
    ],
    wideRow: (e) => [
      [e.source?.component ?? e.reportingComponent, e.source?.host].filter(Boolean).join(', '),
      age(e.firstTimestamp ?? eventTime(e)),
      String(e.count ?? 1),
      e.metadata.name,
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

/** Oldest first by when they last happened, as `kubectl get events` users sort them. */
export function sortEvents(items: any[]): any[] {
  return [...items].sort(
    (a, b) => (Date.parse(eventTime(a) ?? '') || 0) - (Date.parse(eventTime(b) ?? '') || 0),
  );
}

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
  if (kind.kind === 'Event') items = sortEvents(items);
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
