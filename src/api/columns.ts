// The printed columns of each kind — what `strata get` prints and what the server answers to
// `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` (`kubectl get`), so both print the same table.
//
// Pure functions of objects and a clock: no I/O. Columns follow kube-apiserver's printers where Strata
// serves the same data (names, order, priority 1 = the `-o wide` columns, a `format: name` column that
// kubectl uses for `kind/name`), with Strata's own additions (the pod's and node's runtime tiers).
import type { ConfigMap } from './kinds/configmap.ts';
import type { ControllerRevision } from './kinds/controllerrevision.ts';
import type { CronJob } from './kinds/cronjob.ts';
import type { DaemonSet } from './kinds/daemonset.ts';
import type { Deployment } from './kinds/deployment.ts';
import type { Event } from './kinds/event.ts';
import type { Job } from './kinds/job.ts';
import type { Lease } from './kinds/lease.ts';
import type { Namespace } from './kinds/namespace.ts';
import type { Node } from './kinds/node.ts';
import type { PersistentVolume } from './kinds/persistentvolume.ts';
import type { PersistentVolumeClaim } from './kinds/persistentvolumeclaim.ts';
import type { Pod } from './kinds/pod.ts';
import type { PodDisruptionBudget } from './kinds/poddisruptionbudget.ts';
import { hpaTargets, type HorizontalPodAutoscaler } from './kinds/hpa.ts';
import type { PingSource } from './kinds/pingsource.ts';
import type { Broker, Trigger } from './kinds/eventing.ts';
import type { PriorityClass } from './kinds/priorityclass.ts';
import type { ResourceQuota } from './kinds/resourcequota.ts';
import type { ReplicaSet } from './kinds/replicaset.ts';
import type { Secret } from './kinds/secret.ts';
import type { ServiceAccount } from './kinds/serviceaccount.ts';
import type { Service } from './kinds/service.ts';
import type { StatefulSet } from './kinds/statefulset.ts';
import type { StorageClass } from './kinds/storageclass.ts';
import type { EndpointSlice } from './kinds/endpointslice.ts';
import type { Ingress } from './kinds/ingress.ts';
import type { IngressClass } from './kinds/ingressclass.ts';
import type { NetworkPolicy } from './kinds/networkpolicy.ts';
import type { ClusterRoleBinding, RoleBinding } from './kinds/rbac.ts';
import { csrConditionText, type CertificateSigningRequest } from './kinds/certificatesigningrequest.ts';
import { labelSelectorToString } from './selectors.ts';
import type { Condition, LabelSelector } from './meta.ts';

/** A cell: kubectl prints numbers and strings as they are. */
export type Cell = string | number;

/** meta.k8s.io/v1 TableColumnDefinition. */
export interface ColumnDefinition {
  /** Human-readable name; kubectl prints it upper-cased (`Up-to-date` → `UP-TO-DATE`). */
  name: string;
  /** OpenAPI type of the cells: string, integer, number, boolean, date. */
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  /** `name` marks the column holding the object's name (kubectl prefixes it with the kind). */
  format: string;
  description: string;
  /** 0: always shown; 1: only with `-o wide`. */
  priority: 0 | 1;
}

export interface Column<T = unknown> extends ColumnDefinition {
  cell(obj: T, now: number): Cell;
}

/** Objects as the server stores them: the kind's type, with server-set metadata. */
interface Stored {
  metadata: {
    name?: string;
    namespace?: string;
    creationTimestamp?: string | null;
    deletionTimestamp?: string;
    ownerReferences?: { apiVersion?: string; kind: string; name: string; controller?: boolean }[];
  };
}

// ---- cell helpers (also used by `strata describe`, `strata get events`, `strata image ls`) ----------

/** kubectl's age format (duration.HumanDuration): 42s, 3m12s, 45m, 5h3m, 12d. */
export function age(ts: string | null | undefined, now = Date.now()): string {
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
export function podStatus(pod: Pod): string {
  if (pod.metadata.deletionTimestamp) return 'Terminating';
  const st = pod.status ?? {};
  if (st.reason) return st.reason;
  let reason: string = st.phase ?? 'Pending';
  // kubectl's printPod: the first init container not done yet names the status (Init:N/M, Init:<reason>).
  const inits = pod.spec.initContainers ?? [];
  for (const [i, c] of (st.initContainerStatuses ?? []).entries()) {
    const sidecar = inits.find((x) => x.name === c.name)?.restartPolicy === 'Always';
    const t = c.state?.terminated;
    if (t?.exitCode === 0 || (sidecar && c.started)) continue;
    if (t)
      return t.reason
        ? `Init:${t.reason}`
        : t.signal
          ? `Init:Signal:${t.signal}`
          : `Init:ExitCode:${t.exitCode}`;
    const w = c.state?.waiting?.reason;
    if (w && w !== 'PodInitializing') return `Init:${w}`;
    return `Init:${i}/${inits.length}`;
  }
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

/** Restarts summed over containers, with how long ago the last one was: `2 (5m ago)`. */
function podRestarts(pod: Pod, now: number): string {
  let n = 0;
  let last: string | undefined;
  for (const c of pod.status?.containerStatuses ?? []) {
    n += c.restartCount ?? 0;
    const f = c.lastState?.terminated?.finishedAt;
    if (f && (!last || f > last)) last = f;
  }
  return last && n > 0 ? `${n} (${age(last, now)} ago)` : String(n);
}

function nodeReady(node: Node): string {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  let s = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
  if (node.spec?.unschedulable) s += ',SchedulingDisabled';
  return s;
}

const condition = (conditions: readonly Condition[] | undefined, type: string): Condition | undefined =>
  conditions?.find((c) => c.type === type);

/**
 * A Deployment's rollout state in one word: Paused, Stalled (progress deadline exceeded), Progressing
 * (a rollout or scale is under way), Available (done), or Unavailable (done, but short of replicas).
 */
export function deploymentRolloutState(d: Deployment): string {
  const conditions = d.status?.conditions as Condition[] | undefined;
  const progressing = condition(conditions, 'Progressing');
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
  return condition(conditions, 'Available')?.status === 'False' ? 'Unavailable' : 'Available';
}

function labelString(m: Record<string, string> | undefined): string {
  const e = Object.entries(m ?? {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

function selectorString(s: LabelSelector | undefined): string {
  return labelString(s?.matchLabels);
}

/** kubectl's IntOrString columns: the value, or N/A. */
function intOrNA(v: unknown): string {
  return v === undefined || v === null ? 'N/A' : String(v);
}

/** kubectl's listWithMoreString: the first 3 items, then "+ N more...", or <unset>. */
function firstThree(items: readonly string[]): string {
  const shown = items.slice(0, 3).join(',');
  const rest = items.length > 3 ? ` + ${items.length - 3} more...` : '';
  return shown + rest || '<unset>';
}

/** A Service's EXTERNAL-IP cell (kubectl's getServiceExternalIP). */
function serviceExternalIP(s: Service): string {
  const external = s.spec.externalIPs ?? [];
  switch (s.spec.type) {
    case 'ExternalName':
      return s.spec.externalName ?? '';
    case 'LoadBalancer': {
      const lb = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip || i.hostname || '').filter(Boolean);
      const all = [...lb, ...external];
      return all.length ? all.join(',') : '<pending>';
    }
    default:
      return external.length ? external.join(',') : '<none>';
  }
}

/** `80/TCP,443:30443/TCP` (kubectl's makePortString). */
function servicePorts(s: Service): string {
  const ports = (s.spec.ports ?? []).map((p) =>
    p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol}` : `${p.port}/${p.protocol}`,
  );
  return ports.length ? ports.join(',') : '<none>';
}

/** Event's object column: kind/name in lower case, like kubectl. */
function eventObject(e: Event): string {
  const io = e.involvedObject ?? {};
  return `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`;
}

/** When an event last happened (lastTimestamp, else eventTime, else creation). */
export function eventTime(e: Partial<Event> & Stored): string | undefined {
  return e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? undefined;
}

/** Oldest first by when they last happened, as `kubectl get events` users sort them. */
export function sortEvents<T extends Partial<Event> & Stored>(items: readonly T[]): T[] {
  return [...items].sort(
    (a, b) => (Date.parse(eventTime(a) ?? '') || 0) - (Date.parse(eventTime(b) ?? '') || 0),
  );
}

interface PodTemplated {
  spec: { template: { spec: { containers: { name: string; image: string }[] } } };
}
const containerNames = (o: PodTemplated): string =>
  o.spec.template.spec.containers.map((c) => c.name).join(',');
const containerImages = (o: PodTemplated): string =>
  o.spec.template.spec.containers.map((c) => c.image).join(',');

// ---- column builders ---------------------------------------------------------------------------

const DESCRIBE_NAME =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.';
const DESCRIBE_AGE =
  'CreationTimestamp is a timestamp representing the server time when this object was created. Clients may not set this value. It is represented in RFC3339 form and is in UTC.';

function col<T>(
  name: string,
  description: string,
  cell: (obj: T, now: number) => Cell,
  opts: { type?: ColumnDefinition['type']; format?: string; wide?: boolean } = {},
): Column<T> {
  return {
    name,
    type: opts.type ?? 'string',
    format: opts.format ?? '',
    description,
    priority: opts.wide ? 1 : 0,
    cell,
  };
}
const wide = { wide: true } as const;
const integer = { type: 'integer' } as const;

const nameColumn = <T extends Stored>(opts: { wide?: boolean } = {}): Column<T> =>
  col<T>('Name', DESCRIBE_NAME, (o) => o.metadata.name ?? '', { format: 'name', ...opts });
const ageColumn = <T extends Stored>(): Column<T> =>
  col<T>('Age', DESCRIBE_AGE, (o, now) => age(o.metadata.creationTimestamp, now));

/** Erases the object type once a kind's columns are written against it (the table is keyed by kind). */
const columns = <T>(list: Column<T>[]): readonly Column[] => Object.freeze(list) as readonly Column[];

const workloadWideColumns = <
  T extends PodTemplated & { spec: { selector?: LabelSelector } },
>(): Column<T>[] => [
  col<T>('Containers', 'Names of each container in the template.', containerNames, wide),
  col<T>('Images', 'Images referenced by each container in the template.', containerImages, wide),
  col<T>('Selector', 'Label selector for the pods.', (o) => selectorString(o.spec.selector), wide),
];

/** kubectl's access mode abbreviations (RWO, ROX, RWX, RWOP), comma-joined. */
function accessModes(modes: readonly string[] | undefined): string {
  const short: Record<string, string> = {
    ReadWriteOnce: 'RWO',
    ReadOnlyMany: 'ROX',
    ReadWriteMany: 'RWX',
    ReadWriteOncePod: 'RWOP',
  };
  return (modes ?? []).map((m) => short[m] ?? m).join(',');
}

const storageColumns = {
  PersistentVolume: columns<PersistentVolume & Stored>([
    nameColumn(),
    col('Capacity', 'The size of the volume.', (v) => String(v.spec.capacity?.storage ?? '')),
    col('Access Modes', 'How the volume may be mounted.', (v) => accessModes(v.spec.accessModes)),
    col('Reclaim Policy', 'What happens to the volume when its claim is deleted.', (v) =>
      String(v.spec.persistentVolumeReclaimPolicy ?? 'Retain'),
    ),
    col('Status', 'The phase of the volume.', (v) => v.status?.phase ?? ''),
    col('Claim', 'The claim bound to the volume.', (v) =>
      v.spec.claimRef?.name ? `${v.spec.claimRef.namespace}/${v.spec.claimRef.name}` : '',
    ),
    col('StorageClass', 'The class of the volume.', (v) => v.spec.storageClassName ?? ''),
    col('VolumeAttributesClass', 'Not used by Strata.', () => '<unset>'),
    col('Reason', 'Why the volume is in its phase.', (v) => v.status?.reason ?? ''),
    ageColumn(),
    col('VolumeMode', 'Filesystem or Block.', (v) => v.spec.volumeMode ?? 'Filesystem', wide),
  ]),
  PersistentVolumeClaim: columns<PersistentVolumeClaim & Stored>([
    nameColumn(),
    col('Status', 'The phase of the claim.', (c) =>
      c.metadata.deletionTimestamp ? 'Terminating' : (c.status?.phase ?? 'Pending'),
    ),
    col('Volume', 'The volume bound to the claim.', (c) => c.spec.volumeName ?? ''),
    col('Capacity', 'The size of the bound volume.', (c) => String(c.status?.capacity?.storage ?? '')),
    col('Access Modes', 'How the volume may be mounted.', (c) => accessModes(c.status?.accessModes)),
    col('StorageClass', 'The class of the claim.', (c) => c.spec.storageClassName ?? ''),
    col('VolumeAttributesClass', 'Not used by Strata.', () => '<unset>'),
    ageColumn(),
    col('VolumeMode', 'Filesystem or Block.', (c) => c.spec.volumeMode ?? 'Filesystem', wide),
  ]),
  StorageClass: columns<StorageClass & Stored & { metadata: { annotations?: Record<string, string> } }>([
    col(
      'Name',
      DESCRIBE_NAME,
      (s) =>
        (s.metadata.name ?? '') +
        (s.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true'
          ? ' (default)'
          : ''),
      { format: 'name' },
    ),
    col('Provisioner', 'Who makes the volumes.', (s) => s.provisioner ?? ''),
    col(
      'ReclaimPolicy',
      'What happens to a volume when its claim is deleted.',
      (s) => s.reclaimPolicy ?? 'Delete',
    ),
    col('VolumeBindingMode', 'When volumes are bound.', (s) => s.volumeBindingMode ?? 'Immediate'),
    col(
      'AllowVolumeExpansion',
      'Whether claims of the class may grow.',
      (s) => (s.allowVolumeExpansion ? 'true' : 'false'),
      { type: 'boolean' },
    ),
    ageColumn(),
  ]),
};

// ---- the columns of each kind -------------------------------------------------------------------

type StoredPod = Pod & Stored;

/** RBAC tables (kube's printers): roles show when they were made; bindings show the role and subjects. */
const createdAtColumn = <T extends Stored>(): Column<T> =>
  col<T>('Created At', DESCRIBE_AGE, (o) => o.metadata.creationTimestamp ?? '', { type: 'date' });
const subjectsOfKind = (b: RoleBinding | ClusterRoleBinding, kind: string): string =>
  (b.subjects ?? [])
    .filter((s) => s.kind === kind)
    .map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}:${s.name}` : s.name))
    .join(', ');
const bindingColumns = <T extends (RoleBinding | ClusterRoleBinding) & Stored>(): Column<T>[] => [
  nameColumn(),
  col<T>('Role', 'Role is the role referenced by this binding.', (b) =>
    b.roleRef ? `${b.roleRef.kind}/${b.roleRef.name}` : '',
  ),
  ageColumn(),
  col<T>('Users', 'Users in the binding.', (b) => subjectsOfKind(b, 'User'), wide),
  col<T>('Groups', 'Groups in the binding.', (b) => subjectsOfKind(b, 'Group'), wide),
  col<T>(
    'ServiceAccounts',
    'ServiceAccounts in the binding.',
    (b) => subjectsOfKind(b, 'ServiceAccount'),
    wide,
  ),
];
const BY_KIND: Readonly<Record<string, readonly Column[]>> = {
  ...storageColumns,
  Pod: columns<StoredPod>([
    nameColumn(),
    col(
      'Ready',
      'The aggregate readiness state of this pod for accepting traffic.',
      (p) =>
        `${(p.status?.containerStatuses ?? []).filter((c) => c.ready).length}/${p.spec.containers.length}`,
    ),
    col('Status', 'The aggregate status of the containers in this pod.', (p) => podStatus(p)),
    col(
      'Restarts',
      'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      (p, now) => podRestarts(p, now),
    ),
    ageColumn(),
    col('IP', 'IP address allocated to the pod.', (p) => p.status?.podIP || '<none>', wide),
    col('Node', 'The node the pod is bound to.', (p) => p.spec.nodeName || '<none>', wide),
    col(
      'Nominated Node',
      'The node the scheduler preempted pods on to make room for this pod.',
      (p) => p.status?.nominatedNodeName || '<none>',
      wide,
    ),
    // Strata has no readiness gates; the column keeps kubectl's -o wide layout.
    col('Readiness Gates', 'Pod readiness gates (not supported: always <none>).', () => '<none>', wide),
    col(
      'Runtime',
      'The sandbox tier the pod runs in (spec.runtimeClassName).',
      (p) => p.spec.runtimeClassName ?? '<none>',
      wide,
    ),
  ]),
  Deployment: columns<Deployment & Stored>([
    nameColumn(),
    col(
      'Ready',
      'Number of the pod with ready state.',
      (d) => `${d.status?.readyReplicas ?? 0}/${d.spec.replicas ?? 1}`,
    ),
    col(
      'Up-to-date',
      'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
      (d) => d.status?.updatedReplicas ?? 0,
      integer,
    ),
    col(
      'Available',
      'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
      (d) => d.status?.availableReplicas ?? 0,
      integer,
    ),
    col('Status', 'The rollout state: Available, Progressing, Paused, Stalled or Unavailable.', (d) =>
      deploymentRolloutState(d),
    ),
    ageColumn(),
    ...workloadWideColumns<Deployment & Stored>(),
  ]),
  ReplicaSet: columns<ReplicaSet & Stored>([
    nameColumn(),
    col('Desired', 'Number of desired pods.', (r) => r.spec.replicas ?? 1, integer),
    col('Current', 'Number of created pods.', (r) => r.status?.replicas ?? 0, integer),
    col('Ready', 'Number of ready pods.', (r) => r.status?.readyReplicas ?? 0, integer),
    ageColumn(),
    ...workloadWideColumns<ReplicaSet & Stored>(),
  ]),
  Service: columns<Service & Stored>([
    nameColumn(),
    col(
      'Type',
      'The type of the service: ClusterIP, NodePort, LoadBalancer or ExternalName.',
      (s) => s.spec.type ?? 'ClusterIP',
    ),
    col('Cluster-IP', 'The virtual IP of the service.', (s) => s.spec.clusterIP || '<none>'),
    col('External-IP', 'Addresses the service is reached at from outside the cluster.', serviceExternalIP),
    col('Port(s)', 'The ports of the service (port:nodePort/protocol).', servicePorts),
    ageColumn(),
    col(
      'Selector',
      'The labels of the pods that back the service.',
      (s) => labelString(s.spec.selector),
      wide,
    ),
  ]),
  EndpointSlice: columns<EndpointSlice & Stored>([
    nameColumn(),
    col('AddressType', 'The type of the addresses: IPv4, IPv6 or FQDN.', (e) => e.addressType ?? ''),
    col('Ports', 'The ports of the endpoints.', (e) =>
      firstThree((e.ports ?? []).map((p) => (p.port !== undefined ? String(p.port) : p.name || '*'))),
    ),
    col('Endpoints', 'The addresses of the endpoints.', (e) =>
      firstThree((e.endpoints ?? []).flatMap((ep) => ep.addresses)),
    ),
    ageColumn(),
  ]),
  NetworkPolicy: columns<NetworkPolicy & Stored>([
    nameColumn(),
    col(
      'Pod-Selector',
      'The pods the policy applies to (empty: every pod of the namespace).',
      (n) => labelSelectorToString(n.spec.podSelector) || '<none>',
    ),
    ageColumn(),
  ]),
  // kube-apiserver's ingressColumnDefinitions and ingressClassColumnDefinitions.
  Ingress: columns<Ingress & Stored>([
    nameColumn(),
    col('Class', 'The name of the IngressClass resource.', (i) => i.spec.ingressClassName || '<none>'),
    col('Hosts', 'Hosts that incoming requests are matched against.', (i) => {
      const hosts = (i.spec.rules ?? []).map((r) => r.host || '*');
      return hosts.length > 4
        ? `${hosts.slice(0, 4).join(',')} + ${hosts.length - 4} more...`
        : hosts.join(',') || '*';
    }),
    col('Address', 'Address is a list of IPs or hostnames of the load balancers.', (i) =>
      (i.status?.loadBalancer?.ingress ?? [])
        .map((a) => a.ip || a.hostname || '')
        .filter(Boolean)
        .join(','),
    ),
    col('Ports', 'Ports of TLS configurations that open.', (i) => (i.spec.tls?.length ? '80, 443' : '80')),
    ageColumn(),
  ]),
  IngressClass: columns<IngressClass & Stored>([
    nameColumn(),
    col(
      'Controller',
      'Controller that is responsible for handling this class.',
      (c) => c.spec.controller ?? '',
    ),
    col('Parameters', 'A reference to a resource with additional parameters.', (c) => {
      const p = c.spec.parameters;
      return p ? `${p.kind}/${p.name}` : '<none>';
    }),
    ageColumn(),
  ]),
  DaemonSet: columns<DaemonSet & Stored>([
    nameColumn(),
    col(
      'Desired',
      'The total number of nodes that should be running the daemon pod.',
      (d) => d.status?.desiredNumberScheduled ?? 0,
      integer,
    ),
    col(
      'Current',
      'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.',
      (d) => d.status?.currentNumberScheduled ?? 0,
      integer,
    ),
    col(
      'Ready',
      'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.',
      (d) => d.status?.numberReady ?? 0,
      integer,
    ),
    col(
      'Up-to-date',
      'The total number of nodes that are running updated daemon pod.',
      (d) => d.status?.updatedNumberScheduled ?? 0,
      integer,
    ),
    col(
      'Available',
      'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.',
      (d) => d.status?.numberAvailable ?? 0,
      integer,
    ),
    col('Node Selector', 'The node selector of the pod template.', (d) =>
      labelString(d.spec.template.spec.nodeSelector),
    ),
    ageColumn(),
    ...workloadWideColumns<DaemonSet & Stored>(),
  ]),
  // kube-apiserver's statefulSetColumnDefinitions: no selector column, even with -o wide.
  StatefulSet: columns<StatefulSet & Stored>([
    nameColumn(),
    col(
      'Ready',
      'Number of the pod with ready state.',
      (s) => `${s.status?.readyReplicas ?? 0}/${s.spec.replicas ?? 1}`,
    ),
    ageColumn(),
    col('Containers', 'Names of each container in the template.', containerNames, wide),
    col('Images', 'Images referenced by each container in the template.', containerImages, wide),
  ]),
  Job: columns<Job & Stored>([
    nameColumn(),
    col('Status', 'Status of the job: Complete, Failed or Running.', (j) => {
      const isTrue = (t: string) =>
        condition(j.status?.conditions as Condition[] | undefined, t)?.status === 'True';
      return isTrue('Complete') ? 'Complete' : isTrue('Failed') ? 'Failed' : 'Running';
    }),
    col(
      'Completions',
      'The desired number of successfully finished pods the job should be run with.',
      (j) => `${j.status?.succeeded ?? 0}/${j.spec.completions ?? 1}`,
    ),
    col('Duration', 'Time required to complete the job.', (j, now) => {
      const start = j.status?.startTime;
      const end = j.status?.completionTime;
      return start ? age(start, end ? Date.parse(end) : now) : '';
    }),
    ageColumn(),
  ]),
  CronJob: columns<CronJob & Stored>([
    nameColumn(),
    col('Schedule', 'The schedule in Cron format.', (c) => c.spec.schedule),
    col('Timezone', 'The time zone name for the given schedule.', (c) => c.spec.timeZone ?? '<none>'),
    col(
      'Suspend',
      'Whether subsequent executions are suspended.',
      (c) => (c.spec.suspend ? 'True' : 'False'),
      { type: 'boolean' },
    ),
    col('Active', 'The number of currently running jobs.', (c) => c.status?.active?.length ?? 0, integer),
    col('Last Schedule', 'When the job was last successfully scheduled.', (c, now) =>
      c.status?.lastScheduleTime ? age(c.status.lastScheduleTime, now) : '<none>',
    ),
    ageColumn(),
  ]),
  PodDisruptionBudget: columns<PodDisruptionBudget & Stored>([
    nameColumn(),
    col('Min Available', 'The minimum number or percentage of available pods this budget requires.', (p) =>
      intOrNA(p.spec.minAvailable),
    ),
    col(
      'Max Unavailable',
      'The maximum number or percentage of unavailable pods this budget requires.',
      (p) => intOrNA(p.spec.maxUnavailable),
    ),
    col(
      'Allowed Disruptions',
      'Calculated number of pod disruptions that are currently allowed.',
      (p) => p.status?.disruptionsAllowed ?? 0,
      integer,
    ),
    ageColumn(),
  ]),
  // Knative's PingSource printer columns (its CRD's additionalPrinterColumns).
  PingSource: columns<PingSource & Stored>([
    nameColumn(),
    col('Sink', 'The resolved sink URI.', (p) => p.status?.sinkUri ?? ''),
    col('Schedule', 'The cron schedule.', (p) => p.spec?.schedule ?? ''),
    ageColumn(),
    col('Ready', 'The Ready condition.', (p) => condition(p.status?.conditions, 'Ready')?.status ?? ''),
    col('Reason', 'Why it is not ready.', (p) => condition(p.status?.conditions, 'Ready')?.reason ?? ''),
  ]),
  // Knative's Broker and Trigger printer columns (their CRDs' additionalPrinterColumns).
  Broker: columns<Broker & Stored>([
    nameColumn(),
    col('URL', 'The address events are POSTed to.', (b) => b.status?.address?.url ?? ''),
    ageColumn(),
    col('Ready', 'The Ready condition.', (b) => condition(b.status?.conditions, 'Ready')?.status ?? ''),
    col('Reason', 'Why it is not ready.', (b) => condition(b.status?.conditions, 'Ready')?.reason ?? ''),
  ]),
  Trigger: columns<Trigger & Stored>([
    nameColumn(),
    col('Broker', 'The Broker whose events it filters.', (t) => t.spec?.broker ?? ''),
    col('Subscriber_URI', 'The resolved subscriber.', (t) => t.status?.subscriberUri ?? ''),
    ageColumn(),
    col('Ready', 'The Ready condition.', (t) => condition(t.status?.conditions, 'Ready')?.status ?? ''),
    col('Reason', 'Why it is not ready.', (t) => condition(t.status?.conditions, 'Ready')?.reason ?? ''),
  ]),
  HorizontalPodAutoscaler: columns<HorizontalPodAutoscaler & Stored>([
    nameColumn(),
    col(
      'Reference',
      'reference to the target object',
      (h) => `${h.spec.scaleTargetRef?.kind ?? ''}/${h.spec.scaleTargetRef?.name ?? ''}`,
    ),
    col('Targets', 'the current and target metrics', (h) => hpaTargets(h)),
    col('MinPods', 'the lower limit for the number of pods', (h) => h.spec.minReplicas ?? 1, integer),
    col('MaxPods', 'the upper limit for the number of pods', (h) => h.spec.maxReplicas ?? 0, integer),
    col('Replicas', 'the current number of replicas', (h) => h.status?.currentReplicas ?? 0, integer),
    ageColumn(),
  ]),
  PriorityClass: columns<PriorityClass & Stored>([
    nameColumn(),
    col('Value', 'The integer value of this priority class.', (p) => p.value ?? 0, integer),
    col(
      'Global-Default',
      'Whether this priority class is the default for pods without a priorityClassName.',
      (p) => (p.globalDefault ? 'true' : 'false'),
      { type: 'boolean' },
    ),
    ageColumn(),
    col(
      'PreemptionPolicy',
      'The policy for preempting pods with lower priority.',
      (p) => p.preemptionPolicy ?? 'PreemptLowerPriority',
    ),
  ]),
  // kubectl's quota table: `pods: 1/10, requests.cpu: 500m/2` under REQUEST, the limits.* under LIMIT.
  ResourceQuota: columns<ResourceQuota & Stored>([
    nameColumn(),
    ageColumn(),
    col('Request', 'Usage of the resources that are not limits.*, as used/hard.', (q) =>
      quotaUsage(q, (r) => !r.startsWith('limits.')),
    ),
    col('Limit', 'Usage of the limits.* resources, as used/hard.', (q) =>
      quotaUsage(q, (r) => r.startsWith('limits.')),
    ),
  ]),
  LimitRange: columns<Stored>([nameColumn(), createdAtColumn()]),
  ControllerRevision: columns<ControllerRevision & Stored>([
    nameColumn(),
    col('Controller', 'The controller that owns this revision.', (r) => {
      const refs = r.metadata.ownerReferences;
      const owner = refs?.find((o) => o.controller) ?? refs?.[0];
      return owner
        ? `${owner.kind.toLowerCase()}.${(owner.apiVersion ?? '').split('/')[0]}/${owner.name}`
        : '<none>';
    }),
    col(
      'Revision',
      'The revision number of the state represented by this revision.',
      (r) => r.revision ?? 0,
      integer,
    ),
    ageColumn(),
  ]),
  Event: columns<Event & Stored>([
    col('Last Seen', 'When the event last happened.', (e, now) => age(eventTime(e), now)),
    col('Type', 'Type of this event (Normal, Warning).', (e) => e.type ?? 'Normal'),
    col('Reason', 'Why the action was taken, in UpperCamelCase.', (e) => e.reason ?? ''),
    col('Object', 'The object this event is about.', eventObject),
    col(
      'Source',
      'The component reporting this event.',
      (e) => [e.source?.component ?? e.reportingComponent, e.source?.host].filter(Boolean).join(', '),
      wide,
    ),
    col('Message', 'A human-readable description of the event.', (e) =>
      (e.message ?? '').replace(/\s*\n\s*/g, ' '),
    ),
    col(
      'First Seen',
      'When the event first happened.',
      (e, now) => age(e.firstTimestamp ?? eventTime(e), now),
      wide,
    ),
    col('Count', 'The number of times this event has occurred.', (e) => e.count ?? 1, {
      ...integer,
      ...wide,
    }),
    nameColumn<Event & Stored>(wide),
  ]),
  Node: columns<Node & Stored>([
    nameColumn(),
    col(
      'Status',
      'The status of the node: Ready, NotReady or Unknown, plus SchedulingDisabled when cordoned.',
      nodeReady,
    ),
    col(
      'Runtimes',
      'The sandbox tiers (runtime classes) the node runs.',
      (n) => (n.status?.runtimeHandlers ?? []).map((h) => h.name).join(',') || '<none>',
    ),
    ageColumn(),
    col('Version', 'Version reported by the node.', (n) => n.status?.nodeInfo?.kubeletVersion ?? ''),
    col(
      'Internal-IP',
      'The node internal IP.',
      (n) => n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '<none>',
      wide,
    ),
    col(
      'Kernel-Version',
      'Kernel version reported by the node.',
      (n) => n.status?.nodeInfo?.kernelVersion ?? '',
      wide,
    ),
    col('CPU', 'Allocatable CPU.', (n) => String(n.status?.allocatable?.cpu ?? ''), wide),
    col('Memory', 'Allocatable memory.', (n) => String(n.status?.allocatable?.memory ?? ''), wide),
  ]),
  Namespace: columns<Namespace & Stored>([
    nameColumn(),
    col('Status', 'The status of the namespace.', (n) =>
      n.metadata.deletionTimestamp ? 'Terminating' : (n.status?.phase ?? 'Active'),
    ),
    ageColumn(),
  ]),
  ConfigMap: columns<ConfigMap & Stored>([
    nameColumn(),
    col(
      'Data',
      'The number of entries in data and binaryData.',
      (c) => Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length,
      integer,
    ),
    ageColumn(),
  ]),
  ServiceAccount: columns<ServiceAccount & Stored>([
    nameColumn(),
    col(
      'Secrets',
      'The number of secrets the service account references.',
      (a) => a.secrets?.length ?? 0,
      integer,
    ),
    ageColumn(),
  ]),
  Secret: columns<Secret & Stored>([
    nameColumn(),
    col('Type', 'The type of the secret.', (s) => s.type ?? 'Opaque'),
    col('Data', 'The number of entries in data.', (s) => Object.keys(s.data ?? {}).length, integer),
    ageColumn(),
  ]),
  Lease: columns<Lease & Stored>([
    nameColumn(),
    col('Holder', 'The holder of the lease.', (l) => l.spec?.holderIdentity ?? ''),
    ageColumn(),
  ]),
  Role: columns<Stored>([nameColumn(), createdAtColumn()]),
  ClusterRole: columns<Stored>([nameColumn(), createdAtColumn()]),
  RoleBinding: columns<RoleBinding & Stored>(bindingColumns()),
  ClusterRoleBinding: columns<ClusterRoleBinding & Stored>(bindingColumns()),
  // kubectl's printers for certificates.k8s.io: NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION.
  CertificateSigningRequest: columns<CertificateSigningRequest & Stored>([
    nameColumn(),
    ageColumn(),
    col('SignerName', 'The signer the request is for.', (c) => c.spec?.signerName ?? ''),
    col('Requestor', 'Who created the request.', (c) => c.spec?.username ?? ''),
    col('RequestedDuration', 'The validity the request asks for.', (c) =>
      c.spec?.expirationSeconds === undefined ? '<none>' : humanSeconds(c.spec.expirationSeconds),
    ),
    col('Condition', 'Approved, Denied, Failed, Issued or Pending.', (c) => csrConditionText(c)),
  ]),
};

/** A duration as kubectl's duration.HumanDuration prints it for whole units (600 → 10m, 86400 → 24h). */
function humanSeconds(s: number): string {
  if (s < 120) return `${s}s`;
  if (s < 600 && s % 60) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 3 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 8 * 3600 && s % 3600 >= 60) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  const hours = Math.floor((s % 86400) / 3600);
  if (s < 8 * 86400 && hours) return `${Math.floor(s / 86400)}d${hours}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** `pods: 1/10, requests.cpu: 0/2` for the resources `pick` selects, in name order. */
function quotaUsage(q: ResourceQuota, pick: (resource: string) => boolean): string {
  const hard = q.status?.hard ?? q.spec.hard ?? {};
  return Object.keys(hard)
    .filter(pick)
    .sort()
    .map((r) => `${r}: ${q.status?.used?.[r] ?? 0}/${hard[r]}`)
    .join(', ');
}

/** kube-apiserver's default table for kinds without printers. */
const DEFAULT_COLUMNS: readonly Column[] = columns<Stored>([nameColumn(), ageColumn()]);

// Knative Serving's printer columns (its CRDs' additionalPrinterColumns), keyed `Kind.group` since the
// serving group has a `Service` of its own.
type KnativeStored = Stored & {
  metadata: { labels?: Record<string, string> };
  status?: {
    url?: string;
    latestCreatedRevisionName?: string;
    latestReadyRevisionName?: string;
    actualReplicas?: number;
    desiredReplicas?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
};
const knativeReady = (o: KnativeStored) => o.status?.conditions?.find((c) => c.type === 'Ready');
const servingColumns = {
  url: col<KnativeStored>('URL', 'The URL the service is reached at.', (o) => o.status?.url ?? ''),
  created: col<KnativeStored>(
    'LatestCreated',
    'The newest revision made from the template.',
    (o) => o.status?.latestCreatedRevisionName ?? '',
  ),
  ready: col<KnativeStored>(
    'LatestReady',
    'The newest revision that became ready.',
    (o) => o.status?.latestReadyRevisionName ?? '',
  ),
  readyCondition: col<KnativeStored>('Ready', 'The Ready condition.', (o) => knativeReady(o)?.status ?? ''),
  reason: col<KnativeStored>('Reason', 'Why it is not ready.', (o) => knativeReady(o)?.reason ?? ''),
};
const BY_GROUP_KIND: Readonly<Record<string, readonly Column[]>> = {
  // Knative Eventing's kinds: their own columns (a knative.dev group gets no core kind's columns).
  'PingSource.sources.knative.dev': BY_KIND.PingSource,
  'Broker.eventing.knative.dev': BY_KIND.Broker,
  'Trigger.eventing.knative.dev': BY_KIND.Trigger,
  'Service.serving.knative.dev': columns<KnativeStored>([
    nameColumn(),
    servingColumns.url,
    servingColumns.created,
    servingColumns.ready,
    servingColumns.readyCondition,
    servingColumns.reason,
  ]),
  'Configuration.serving.knative.dev': columns<KnativeStored>([
    nameColumn(),
    servingColumns.created,
    servingColumns.ready,
    servingColumns.readyCondition,
    servingColumns.reason,
  ]),
  'Revision.serving.knative.dev': columns<KnativeStored>([
    nameColumn(),
    col(
      'Config Name',
      'The Configuration it was made from.',
      (o) => o.metadata.labels?.['serving.knative.dev/configuration'] ?? '',
    ),
    col(
      'Generation',
      'The Configuration generation it was made from.',
      (o) => o.metadata.labels?.['serving.knative.dev/configurationGeneration'] ?? '',
    ),
    servingColumns.readyCondition,
    servingColumns.reason,
    col('Actual Replicas', 'Instances serving now.', (o) => o.status?.actualReplicas ?? 0, integer),
    col(
      'Desired Replicas',
      'Instances the autoscaler wants.',
      (o) => o.status?.desiredReplicas ?? 0,
      integer,
    ),
  ]),
  'Route.serving.knative.dev': columns<KnativeStored>([
    nameColumn(),
    servingColumns.url,
    servingColumns.readyCondition,
    servingColumns.reason,
  ]),
};

/** The columns of a kind (NAME and AGE for a kind without its own); `group` tells same-named kinds apart. */
export function columnsFor(kind: string, group = ''): readonly Column[] {
  if (group) {
    const own = BY_GROUP_KIND[`${kind}.${group}`];
    if (own) return own;
    // A grouped kind named like a core one (Knative's Service) must not borrow the core kind's columns.
    if (group.endsWith('knative.dev')) return DEFAULT_COLUMNS;
  }
  return BY_KIND[kind] ?? DEFAULT_COLUMNS;
}

/** A column's definition without its cell function: what a Table's `columnDefinitions` carries. */
export function columnDefinition(c: Column): ColumnDefinition {
  return { name: c.name, type: c.type, format: c.format, description: c.description, priority: c.priority };
}

/** The cells of one object, in column order (every column, wide ones included). */
export function rowCells(cols: readonly Column[], obj: unknown, now = Date.now()): Cell[] {
  return cols.map((c) => c.cell(obj, now));
}
