// The control plane's Prometheus metrics, one registry per process, served at GET /metrics (behind
// authentication like every non-public path; RBAC needs the nonResourceURL /metrics). Names follow
// kube-apiserver, kube-scheduler, client-go's workqueue and kube-state-metrics, so existing dashboards
// and rules apply:
//   apiserver_request_total / apiserver_request_duration_seconds   verb, group, version, resource, subresource, scope, code
//   apiserver_longrunning_requests                                  open watches by resource (watch fan-out)
//   strata_store_commits_total, strata_store_revision              writes committed to the store
//   scheduler_schedule_attempts_total, scheduler_scheduling_attempt_duration_seconds, scheduler_pending_pods
//   workqueue_depth, workqueue_adds_total, workqueue_queue_duration_seconds, workqueue_work_duration_seconds
//   kube_pod_status_phase, kube_deployment_status_replicas_available, kube_node_status_condition, …
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { ServerExtension } from './app.ts';
import type { MetricsPoller } from './metrics-poller.ts';
import { registerMetricsApi } from './routes/metrics-api.ts';

/** kube-apiserver's request latency buckets. */
const REQUEST_BUCKETS = [
  0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60,
];
/** client-go's workqueue buckets (10 ns … 10 s). */
const WORKQUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10];
const SCHEDULER_BUCKETS = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024];

export interface RequestInfo {
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  /** cluster, namespace, resource (one named object), or '' for non-resource paths. */
  scope: string;
  longRunning: boolean;
}

/**
 * What a request addresses, as kube-apiserver's RequestInfoFactory labels it: /api/v1/… and
 * /apis/{group}/{version}/…, `namespaces/{ns}/` for namespaced resources, the verb from the method (GET
 * of a collection is list, with ?watch=true watch). Other paths are non-resource: verb is the method.
 */
export function requestInfo(method: string, url: string): RequestInfo {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const seg = path.split('/').filter(Boolean);
  const none: RequestInfo = {
    verb: method.toUpperCase(),
    group: '',
    version: '',
    resource: '',
    subresource: '',
    scope: '',
    longRunning: false,
  };
  let i: number;
  let group = '';
  let version: string | undefined;
  if (seg[0] === 'api') {
    version = seg[1];
    i = 2;
  } else if (seg[0] === 'apis') {
    group = seg[1] ?? '';
    version = seg[2];
    i = 3;
  } else return none;
  if (!version || seg.length <= i) return { ...none, group, version: version ?? '' };
  let namespaced = false;
  if (seg[i] === 'namespaces' && seg.length > i + 2) {
    namespaced = true;
    i += 2;
  }
  let [resource = '', name, subresource = ''] = seg.slice(i);
  // /api/v1/namespaces/{name}[/status]: the Namespace itself.
  if (seg[i] === 'namespaces' && !namespaced && seg.length - i <= 3)
    [resource, name, subresource] = seg.slice(i);
  const watch = /(^|&)watch=(true|1)(&|$)/.test(query);
  const m = method.toUpperCase();
  let verb: string;
  if (m === 'GET' || m === 'HEAD') verb = watch ? 'watch' : name ? 'get' : 'list';
  else if (m === 'POST') verb = 'create';
  else if (m === 'PUT') verb = 'update';
  else if (m === 'PATCH') verb = 'patch';
  else if (m === 'DELETE') verb = name ? 'delete' : 'deletecollection';
  else verb = m.toLowerCase();
  const streaming = ['exec', 'attach', 'portforward', 'proxy', 'log'].includes(subresource);
  if (streaming && verb === 'create') verb = 'connect';
  return {
    verb,
    group,
    version,
    resource,
    subresource,
    scope: name ? 'resource' : namespaced ? 'namespace' : 'cluster',
    longRunning: watch || streaming,
  };
}

/** The control plane's metrics: a registry and the pieces that feed it. */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly durations: Histogram;
  private readonly longRunning: Gauge;
  private readonly schedAttempts: Counter;
  private readonly schedDuration: Histogram;
  private readonly wqDepth: Gauge;
  private readonly wqAdds: Counter;
  private readonly wqRetries: Counter;
  private readonly wqQueue: Histogram;
  private readonly wqWork: Histogram;
  private readonly commits: Counter;
  private readonly revision: Gauge;
  private store?: ObjectStore['store'];
  /** Refreshed before each scrape renders (kube-state series). */
  private readonly beforeScrape: Array<() => Promise<void>> = [];
  private storeWatch?: { cancel(): void | Promise<void> };

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const reqLabels = ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'component'];
    this.requests = new Counter({
      name: 'apiserver_request_total',
      help: 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.',
      labelNames: [...reqLabels, 'code', 'dry_run'],
      registers,
    });
    this.durations = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.',
      labelNames: [...reqLabels, 'dry_run'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.longRunning = new Gauge({
      name: 'apiserver_longrunning_requests',
      help: 'Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component (watches: the watch fan-out).',
      labelNames: reqLabels,
      registers,
    });
    this.schedAttempts = new Counter({
      name: 'scheduler_schedule_attempts_total',
      help: 'Number of attempts to schedule pods, by the result.',
      labelNames: ['result', 'profile'],
      registers,
    });
    this.schedDuration = new Histogram({
      name: 'scheduler_scheduling_attempt_duration_seconds',
      help: 'Scheduling attempt latency in seconds (scheduling algorithm + binding)',
      labelNames: ['result', 'profile'],
      buckets: SCHEDULER_BUCKETS,
      registers,
    });
    this.wqDepth = new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['name'],
      registers,
    });
    this.wqAdds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['name'],
      registers,
    });
    this.wqRetries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers,
    });
    this.wqQueue = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested.',
      labelNames: ['name'],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    this.wqWork = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: ['name'],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    this.commits = new Counter({
      name: 'strata_store_commits_total',
      help: 'Writes committed to the store since the server started, by operation (PUT, DELETE).',
      labelNames: ['operation'],
      registers,
    });
    const storeOf = () => this.store;
    this.revision = new Gauge({
      name: 'strata_store_revision',
      help: "The store's current revision.",
      registers,
      async collect() {
        const store = storeOf();
        if (store) this.set(await store.revision());
      },
    });
  }

  /**
   * The request-path extension (ServerOptions.extensions): counts and times every authenticated request,
   * serves /metrics, and — with a poller — metrics.k8s.io and the history reads (routes/metrics-api.ts).
   */
  extension(objects?: ObjectStore, poller?: MetricsPoller): ServerExtension {
    return (app: FastifyInstance) => {
      if (objects && poller) registerMetricsApi(app, objects, poller);
      const started = new WeakMap<FastifyRequest, number>();
      app.addHook('onRequest', async (req) => {
        started.set(req, performance.now());
        const info = requestInfo(req.method, req.url);
        if (!info.longRunning) return;
        const l = this.labels(info);
        this.longRunning.inc(l);
        // A watch or stream ends when its connection closes (the reply may be hijacked).
        req.raw.once('close', () => this.longRunning.dec(l));
      });
      app.addHook('onResponse', async (req, reply) => {
        const info = requestInfo(req.method, req.url);
        const dryRun = /(^|[?&])dryRun=All(&|$)/.test(req.url) ? 'All' : '';
        const l = { ...this.labels(info), dry_run: dryRun };
        this.requests.inc({ ...l, code: String(reply.statusCode) });
        const t0 = started.get(req);
        // Long-running requests are left out of the latency histogram, as kube-apiserver does.
        if (t0 !== undefined && !info.longRunning) this.durations.observe(l, (performance.now() - t0) / 1000);
      });
      app.get('/metrics', async (_req, reply) =>
        reply.type(this.registry.contentType).send(await this.render()),
      );
    };
  }

  private labels(info: RequestInfo) {
    return {
      verb: info.longRunning && info.verb === 'watch' ? 'WATCH' : info.verb,
      group: info.group,
      version: info.version,
      resource: info.resource,
      subresource: info.subresource,
      scope: info.scope,
      component: 'apiserver',
    };
  }

  /** The scheduler's onAttempt hook. */
  schedulerAttempt = (result: string, seconds: number): void => {
    const l = { result, profile: 'default-scheduler' };
    this.schedAttempts.inc(l);
    this.schedDuration.observe(l, seconds);
  };

  /** Pending pods by queue, read from the scheduler at scrape time. */
  watchScheduler(
    stats: () => { pending: number; unschedulable: number; binding: number; bindErrors: number },
  ): void {
    const errors = new Counter({
      name: 'scheduler_bind_errors_total',
      help: 'Bindings the API refused.',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(stats().bindErrors);
      },
    });
    void errors;
    new Gauge({
      name: 'scheduler_pending_pods',
      help: 'Number of pending pods, by the queue type.',
      labelNames: ['queue'],
      registers: [this.registry],
      collect() {
        const s = stats();
        this.set({ queue: 'active' }, s.pending);
        this.set({ queue: 'unschedulable' }, s.unschedulable);
        this.set({ queue: 'binding' }, s.binding);
      },
    });
  }

  /**
   * Admission-policy violations (Deny, Warn and Audit outcomes) by policy, severity and action, read at
   * scrape time — what `strata policy report` totals, for Prometheus and the alert rules.
   */
  watchPolicyViolations(
    totals: () => Array<{ policy: string; severity: string; action: string; count: number }>,
  ): void {
    new Counter({
      name: 'strata_policy_violations_total',
      help: 'Admission-policy violations (Deny, Warn and Audit outcomes) by policy, severity and action.',
      labelNames: ['policy', 'severity', 'action'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const t of totals())
          this.inc({ policy: t.policy, severity: t.severity, action: t.action }, t.count);
      },
    });
  }

  /** client-go's MetricsProvider for the controllers' work queues (setWorkQueueMetrics). */
  workQueueProvider() {
    return {
      added: (name: string) => this.wqAdds.inc({ name }),
      depth: (name: string, depth: number) => this.wqDepth.set({ name }, depth),
      processed: (name: string, waited: number, work: number, failed: boolean) => {
        this.wqQueue.observe({ name }, waited);
        this.wqWork.observe({ name }, work);
        if (failed) this.wqRetries.inc({ name });
      },
    };
  }

  /** Store commits (a keyspace-wide watch) and kube-state-metrics series (read at scrape time). */
  async watchStore(objects: ObjectStore): Promise<void> {
    this.storeWatch = await objects.store.watch('', (ev) => this.commits.inc({ operation: ev.type }));
    this.store = objects.store;
    const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];
    const kinds = {
      pods: kindFor('v1', 'Pod')!,
      deployments: kindFor('apps/v1', 'Deployment')!,
      nodes: kindFor('v1', 'Node')!,
    };
    // Read once per scrape, before rendering (prom-client runs async collect() callbacks concurrently,
    // so one series cannot fill the others).
    this.beforeScrape.push(async () => {
      for (const g of [read, phase, podInfo, restarts, depAvailable, depSpec, nodeCondition]) g.reset();
      const [pods, deployments, nodes] = await Promise.all([
        objects.list(kinds.pods, undefined),
        objects.list(kinds.deployments, undefined),
        objects.list(kinds.nodes, undefined),
      ]);
      read.set({ resource: 'pods' }, pods.items.length);
      read.set({ resource: 'deployments' }, deployments.items.length);
      read.set({ resource: 'nodes' }, nodes.items.length);
      for (const p of pods.items as any[]) {
        const m = { namespace: p.metadata.namespace, pod: p.metadata.name, uid: p.metadata.uid };
        const current = p.status?.phase ?? 'Pending';
        for (const ph of PHASES) phase.set({ ...m, phase: ph }, ph === current ? 1 : 0);
        podInfo.set({ ...m, node: p.spec?.nodeName ?? '', runtime_class: p.spec?.runtimeClassName ?? '' }, 1);
        for (const c of p.status?.containerStatuses ?? [])
          restarts.set({ ...m, container: c.name }, c.restartCount ?? 0);
      }
      for (const d of deployments.items as any[]) {
        const l = { namespace: d.metadata.namespace, deployment: d.metadata.name };
        depAvailable.set(l, d.status?.availableReplicas ?? 0);
        depSpec.set(l, d.spec?.replicas ?? 1);
      }
      for (const n of nodes.items as any[]) {
        for (const c of n.status?.conditions ?? []) {
          for (const st of ['true', 'false', 'unknown'])
            nodeCondition.set(
              { node: n.metadata.name, condition: c.type, status: st },
              String(c.status).toLowerCase() === st ? 1 : 0,
            );
        }
      }
    });
    const read = new Gauge({
      name: 'strata_store_objects',
      help: 'Objects in the store by resource (pods, deployments, nodes; read at scrape time).',
      labelNames: ['resource'],
      registers: [this.registry],
    });
    const phase = new Gauge({
      name: 'kube_pod_status_phase',
      help: 'The pods current phase.',
      labelNames: ['namespace', 'pod', 'uid', 'phase'],
      registers: [this.registry],
    });
    const podInfo = new Gauge({
      name: 'kube_pod_info',
      help: 'Information about pod.',
      labelNames: ['namespace', 'pod', 'uid', 'node', 'runtime_class'],
      registers: [this.registry],
    });
    const restarts = new Gauge({
      name: 'kube_pod_container_status_restarts_total',
      help: 'The number of container restarts per container.',
      labelNames: ['namespace', 'pod', 'uid', 'container'],
      registers: [this.registry],
    });
    const depAvailable = new Gauge({
      name: 'kube_deployment_status_replicas_available',
      help: 'The number of available replicas per deployment.',
      labelNames: ['namespace', 'deployment'],
      registers: [this.registry],
    });
    const depSpec = new Gauge({
      name: 'kube_deployment_spec_replicas',
      help: 'Number of desired pods for a deployment.',
      labelNames: ['namespace', 'deployment'],
      registers: [this.registry],
    });
    const nodeCondition = new Gauge({
      name: 'kube_node_status_condition',
      help: 'The condition of a cluster node.',
      labelNames: ['node', 'condition', 'status'],
      registers: [this.registry],
    });
  }

  /** The Prometheus text exposition of everything registered. */
  async render(): Promise<string> {
    for (const refresh of this.beforeScrape) await refresh();
    return this.registry.metrics();
  }

  async close(): Promise<void> {
    await this.storeWatch?.cancel();
  }
}
