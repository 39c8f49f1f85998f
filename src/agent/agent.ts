// The node agent: registers this machine as a Node (capacity, the runtime classes its drivers offer),
// renews its Lease, watches the pods bound to it and runs each through a PodWorker. It reaches the
// control plane only through the HTTP API, so `strata up` and a separate `strata agent` behave the same.
// It is tier-blind: it holds drivers (src/sandbox/driver.ts) and asks their capabilities, never their
// names; src/node/ decides which tiers a node runs and builds their drivers.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, hostname, totalmem, release, arch, platform } from 'node:os';
import { join } from 'node:path';
import { AGENT_CERT_ANNOTATION, kindFor } from '../api/index.ts';
import { ClientError, type Client } from '../client/client.ts';
import { clientEventSink } from '../client/event-sink.ts';
import { clientListWatch } from '../client/list-watch.ts';
import { EventRecorder } from '../lib/events.ts';
import { Informer } from '../lib/informer.ts';
import {
  SandboxError,
  canAttach,
  canExecInteractive,
  joinsPodNetwork,
  type Driver,
  type Fingerprint,
} from '../sandbox/driver.ts';
import { savedHandles } from './handles.ts';
import { buildAgentHttp } from './http.ts';
import {
  MemoryPressure,
  agentTaints,
  readAvailableMemory,
  reconcileTaints,
  unavailableTiers,
  type TierHealth,
} from './node-health.ts';
import { PodWorker } from './pod-worker.ts';
import { StatsCollector } from '../metrics/collector.ts';
import { agentExposition, cadvisorExposition, resourceExposition } from '../metrics/exposition.ts';
import { containerResources } from '../metrics/pod-resources.ts';
import type { SandboxRef } from '../metrics/samples.ts';
import { buildSummary } from '../metrics/summary.ts';
import type { FastifyInstance } from 'fastify';
import { POD_REQUEST_SLOTS, Slots, limitedClient } from './client-limit.ts';

const nodeKind = kindFor('v1', 'Node')!;
const podKind = kindFor('v1', 'Pod')!;
const leaseKind = kindFor('coordination.k8s.io/v1', 'Lease')!;

/** The node's pod capacity when no tier says it holds more. */
const DEFAULT_MAX_PODS = 1000;
export const LEASE_NAMESPACE = 'kube-node-lease';

export interface AgentOptions {
  client: Client;
  /** The tiers this node runs; the healthy ones are offered (see fingerprint()). */
  drivers: Driver[];
  dataDir: string;
  nodeName?: string;
  /** Address the agent's endpoint listens on and advertises. */
  address?: string;
  /**
   * HTTPS for the agent's endpoint: its own serving certificate (published on the Node, where the server
   * pins it), the cluster CA, and the CN of the control plane's client certificate.
   */
  tls?: { cert: string; key: string; clientCA: string; controlPlaneCN: string };
  port?: number;
  labels?: Record<string, string>;
  leaseDurationSeconds?: number;
  maxPods?: number;
  backoffInitialMs?: number;
  /** How often drivers are fingerprinted again and memory is checked. Default 10 s. */
  healthIntervalMs?: number;
  /** Available memory below this is memory pressure. Default 100 MiB. */
  memoryThresholdBytes?: number;
  /** Memory must stay above the threshold this long before pressure clears. Default 60 s. */
  memoryPressureTransitionMs?: number;
  /** For tests: bytes of memory available now. Default: MemAvailable from /proc/meminfo. */
  availableMemory?: () => number;
  /** How often the stats of every sandbox and the node are collected (src/metrics). Default 10 s. */
  statsIntervalMs?: number;
  /** Record Kubernetes events (Started, Unhealthy, BackOff, …) through the API. Default true. */
  events?: boolean;
  log?: { info: (o: object, msg: string) => void; warn: (o: object, msg: string) => void };
}

type ConditionStatus = 'True' | 'False' | 'Unknown';

function rfc3339Micro(d = new Date()): string {
  return d.toISOString().replace('Z', '000Z');
}

export class Agent {
  readonly nodeName: string;
  private readonly opts: AgentOptions;
  private readonly drivers = new Map<string, Driver>();
  private readonly workers = new Map<string, PodWorker>();
  private podClient?: Client;
  private informer?: Informer<any>;
  private http?: FastifyInstance;
  private collector?: StatsCollector;
  private timers: NodeJS.Timeout[] = [];
  private port = 0;
  private readonly log: NonNullable<AgentOptions['log']>;
  private readonly recorder?: EventRecorder;
  /** Every configured tier's latest fingerprint. */
  private readonly teardowns = new Set<Promise<unknown>>();
  /** Terminating pods (uids) whose final DELETE is in flight or done: one per pod. */
  private readonly finalized = new Set<string>();
  private readonly metricsSources: Array<() => string> = [];
  private readonly tiers = new Map<
    string,
    TierHealth & { driver: Driver; maxSandboxes?: number; attributes: Record<string, string> }
  >();
  private readonly memory: MemoryPressure;
  private availableBytes = 0;
  /** lastTransitionTime of each node condition, kept while its status stays the same. */
  private readonly transitions = new Map<string, { status: ConditionStatus; at: string }>();
  private healthChain: Promise<void> = Promise.resolve();

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.nodeName = opts.nodeName ?? hostname().toLowerCase();
    this.log = opts.log ?? { info: () => {}, warn: (o, m) => console.warn(m, o) };
    this.memory = new MemoryPressure(opts.memoryThresholdBytes, opts.memoryPressureTransitionMs);
    if (opts.events !== false) {
      this.recorder = new EventRecorder({
        sink: clientEventSink(opts.client),
        component: 'strata-agent',
        host: this.nodeName,
        log: {
          debug: () => {},
          info: (o, m) => this.log.info(o, m),
          warn: (o, m) => this.log.warn(o, m),
          error: (o, m) => this.log.warn(o, m),
        },
      });
    }
  }

  /** More Prometheus text for the agent's /metrics from the node's other parts (e.g. the L7 gateway). */
  addMetricsSource(render: () => string): void {
    this.metricsSources.push(render);
  }

  async start(): Promise<void> {
    const collector = new StatsCollector({
      nodeName: this.nodeName,
      list: () => this.sandboxRefs(),
      intervalMs: this.opts.statsIntervalMs,
      log: this.log,
    });
    this.collector = collector;
    const agentText = agentExposition(collector);
    const cadvisor = cadvisorExposition(collector);
    const resource = resourceExposition(collector);
    this.http = buildAgentHttp({
      client: this.opts.client,
      tls: this.opts.tls,
      metrics: {
        metrics: async () =>
          [await agentText.render(), ...this.metricsSources.map((render) => render())].join(''),
        cadvisor: () => cadvisor.render(),
        resource: () => resource.render(),
        summary: async () => buildSummary(this.nodeName, await collector.current()),
      },
      locate: (ns, name, c) => this.locate(ns, name, c),
      exec: (ns, name, c, cmd) => {
        const w = [...this.workers.values()].find(
          (x) => x.pod.metadata.namespace === ns && x.pod.metadata.name === name,
        );
        if (!w)
          return Promise.reject(new SandboxError('NotFound', `pod ${ns}/${name} does not run on this node`));
        return w.exec(c, cmd);
      },
      execStream: async (ns, name, c, cmd, o) => {
        const w = [...this.workers.values()].find(
          (x) => x.pod.metadata.namespace === ns && x.pod.metadata.name === name,
        );
        if (!w) throw new SandboxError('NotFound', `pod ${ns}/${name} does not run on this node`);
        if (!podContainers(w.pod).some((x: any) => x.name === c))
          throw new SandboxError('NotFound', `container ${c} is not valid for pod ${name}`);
        const sb = w.sandboxOf(c);
        if (!sb) throw new SandboxError('NotRunning', `container ${c} in pod ${name} is not running`);
        const driver = sb.driver;
        if (!canExecInteractive(driver)) {
          throw new SandboxError(
            'NotSupported',
            `interactive exec (-i/-t) is not supported by the ${driver.name} tier`,
          );
        }
        return driver.execInteractive(sb.id, cmd, { tty: o.tty, stdio: 'pipe', cols: o.cols, rows: o.rows });
      },
      attach: async (ns, name, c, o) => {
        const w = [...this.workers.values()].find(
          (x) => x.pod.metadata.namespace === ns && x.pod.metadata.name === name,
        );
        const sb = w?.sandboxOf(c);
        if (!sb) throw new SandboxError('NotRunning', `container ${c} in pod ${name} is not running`);
        if (!canAttach(sb.driver)) {
          throw new SandboxError(
            'NotSupported',
            `the ${sb.driver.name} tier runs its containers without an open stdin (they read an empty one)`,
          );
        }
        return sb.driver.attach(sb.id, o);
      },
    });
    await this.http.listen({ host: this.opts.address ?? '127.0.0.1', port: this.opts.port ?? 0 });
    this.port = (this.http.server.address() as any).port;

    await this.fingerprint();
    this.availableBytes = (this.opts.availableMemory ?? readAvailableMemory)();
    this.memory.observe(this.availableBytes);
    // The lease first: once the Node says Ready, its heartbeat exists too.
    await this.renewLease();
    await this.register(this.offered());
    await this.reconcileTaints();
    this.nodeEvent('Normal', 'Starting', `Starting strata agent on ${this.nodeName}.`);
    const leaseEvery = ((this.opts.leaseDurationSeconds ?? 40) * 1000) / 4;
    this.timers.push(
      setInterval(
        () => void this.renewLease().catch((e) => this.log.warn({ err: e.message }, 'lease renewal failed')),
        leaseEvery,
      ),
    );
    this.timers.push(
      setInterval(
        () =>
          void this.heartbeat().catch((e) => this.log.warn({ err: e.message }, 'node status update failed')),
        leaseEvery,
      ),
    );

    this.informer = new Informer(
      clientListWatch(this.opts.client, podKind, undefined, {
        fieldSelector: `spec.nodeName=${this.nodeName}`,
      }),
      { onError: (err, ctx) => this.log.warn({ err: (err as Error)?.message, ctx }, 'pod watch') },
    );
    this.informer.addHandler({
      onAdd: (pod) => this.sync(pod),
      onUpdate: (_old, pod) => this.sync(pod),
      onDelete: (pod) => this.forget(pod),
    });
    this.informer.start();
    await this.informer.waitForSync();
    // A returning agent: whatever is left of pods deleted while it was away is stopped and removed.
    await this.reapOrphans();
    // After a crash: remove network state (netns, veths, rules, addresses) of pods that are gone.
    const live = this.informer!.list().map((p: any) => p.metadata.uid);
    for (const d of new Set(this.opts.drivers)) {
      if (!joinsPodNetwork(d)) continue;
      await d
        .reconcilePods(live)
        .catch((err) => this.log.warn({ err: err.message }, 'network reconcile failed'));
    }
    this.timers.push(setInterval(() => void this.checkHealth(), this.opts.healthIntervalMs ?? 10_000));
    collector.start();
  }

  /** Every running container of the pods on this node, for the stats collector. */
  private sandboxRefs(): SandboxRef[] {
    const refs: SandboxRef[] = [];
    for (const w of this.workers.values()) {
      const pod = w.pod;
      const statuses = [
        ...(pod.status?.containerStatuses ?? []),
        ...(pod.status?.initContainerStatuses ?? []),
      ];
      for (const c of podContainers(pod)) {
        const sb = w.sandboxOf(c.name);
        if (!sb) continue;
        const started = statuses.find((s: any) => s.name === c.name)?.state?.running?.startedAt;
        refs.push({
          namespace: pod.metadata.namespace,
          pod: pod.metadata.name,
          podUid: pod.metadata.uid,
          container: c.name,
          runtimeClass: pod.spec.runtimeClassName ?? sb.driver.name,
          sandboxId: sb.id,
          ...(started ? { startedAt: Date.parse(started) / 1000 } : {}),
          ...containerResources(c),
          stats: () => sb.driver.stats(sb.id),
        });
      }
    }
    return refs;
  }

  /**
   * Stops the agent. Pods are not finished because their agent stops: no status is written, and
   * sandboxes of tiers that survive an agent restart keep running for the next agent to re-adopt —
   * unless `stopSandboxes` (the node itself goes down, `strata down`): then they are stopped and removed
   * with their pod networks, and the next agent starts them again.
   */
  async stop(opts: { stopSandboxes?: boolean } = {}): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.collector?.stop();
    this.informer?.stop();
    await Promise.all(
      [...this.workers.entries()].map(async ([uid, w]) => {
        await w.shutdown({ stopSurvivors: opts.stopSandboxes });
        if (opts.stopSandboxes) await this.releasePod(uid);
      }),
    );
    await Promise.all(this.teardowns);
    for (const d of new Set(this.opts.drivers)) await d.shutdown();
    if (this.recorder)
      await Promise.race([this.recorder.flush(), new Promise((r) => setTimeout(r, 2000).unref())]);
    await this.http?.close();
  }

  private locate(namespace: string, name: string, container: string) {
    for (const w of this.workers.values()) {
      if (w.pod.metadata.namespace === namespace && w.pod.metadata.name === name) {
        const st = [
          ...(w.pod.status?.containerStatuses ?? []),
          ...(w.pod.status?.initContainerStatuses ?? []),
          ...(w.pod.status?.ephemeralContainerStatuses ?? []),
        ].find((c: any) => c.name === container);
        if (!podContainers(w.pod).some((c: any) => c.name === container)) return undefined;
        return { podDir: w.podDir, restartCount: st?.restartCount ?? 0 };
      }
    }
    return undefined;
  }

  private sync(pod: any): void {
    const uid = pod.metadata.uid;
    let w = this.workers.get(uid);
    if (pod.metadata.deletionTimestamp) {
      if (!w) {
        // Nothing runs here for it (finished, never started, or left by a previous agent): finish it.
        void this.reapOrphan(uid).then(() => this.finalizeDeletion(pod));
        return;
      }
      w.update(pod);
      void w.stop(pod.metadata.deletionGracePeriodSeconds ?? 30, true).then(() => this.finalizeDeletion(pod));
      return;
    }
    if (w) {
      w.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    // Pod workers share a bounded number of requests in flight (client-limit.ts); the node's own don't.
    this.podClient ??= limitedClient(this.opts.client, new Slots(POD_REQUEST_SLOTS));
    w = new PodWorker(pod, {
      client: this.podClient,
      drivers: this.drivers,
      podsDir: join(this.opts.dataDir, 'pods'),
      backoffInitialMs: this.opts.backoffInitialMs,
      events: this.recorder,
      log: this.log,
    });
    this.workers.set(uid, w);
    // Keep the worker after it finishes so its logs stay readable until the pod is deleted.
    void w
      .start()
      .catch((err) => this.log.warn({ pod: pod.metadata.name, err: err.message }, 'pod worker failed'));
  }

  private async finalizeDeletion(pod: any): Promise<void> {
    // Every update of a terminating pod (its status, a shorter grace period, a label) reaches sync() and
    // queues a finalization behind its stop; the first to get here deletes. Another DELETE would find the
    // pod gone and the node authorizer refusing a pod no longer bound to this node (a 403 in the log).
    const uid = pod.metadata.uid;
    if (this.finalized.has(uid)) return;
    this.finalized.add(uid);
    try {
      await this.opts.client.delete(podKind, pod.metadata.namespace, pod.metadata.name, {
        gracePeriodSeconds: 0,
      });
    } catch (err) {
      if (err instanceof ClientError && err.code === 404) return;
      this.finalized.delete(uid); // the next update of the pod tries again
      this.log.warn({ pod: pod.metadata.name, err: (err as Error).message }, 'final pod deletion failed');
    }
  }

  private forget(pod: any): void {
    // Finalizations still queued behind a stop may complete after the pod is gone: keep its uid a while.
    const uid = pod.metadata.uid;
    if (this.finalized.has(uid)) setTimeout(() => this.finalized.delete(uid), 60_000).unref();
    const w = this.workers.get(pod.metadata.uid);
    if (!w) {
      this.track(this.reapOrphan(pod.metadata.uid));
      return;
    }
    this.workers.delete(pod.metadata.uid);
    this.track(
      w
        .stop(0)
        .then(() => this.releasePod(pod.metadata.uid))
        .then(() => w.cleanup()),
    );
  }

  /**
   * A teardown of a pod that left the API (force-deleted): stop() waits for it, so a node going down right
   * after a deletion does not leave a stopped container or a mounted rootfs behind.
   */
  private track(teardown: Promise<unknown>): void {
    const t: Promise<unknown> = teardown
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'pod teardown failed'))
      .finally(() => this.teardowns.delete(t));
    this.teardowns.add(t);
  }

  /** Per-pod resources a tier holds beyond its sandboxes (a pod network). */
  private async releasePod(uid: string): Promise<void> {
    for (const d of this.drivers.values()) {
      if (!joinsPodNetwork(d)) continue;
      await d
        .releasePod(uid)
        .catch((err: Error) => this.log.warn({ uid, err: err.message }, 'releasing the pod failed'));
    }
  }

  private podsDir(): string {
    return join(this.opts.dataDir, 'pods');
  }

  /** Stops sandboxes a previous agent left for a pod this agent does not run, and removes its files. */
  private async reapOrphan(uid: string): Promise<void> {
    if (this.workers.has(uid) || !/^[\w-]+$/.test(uid)) return;
    const dir = join(this.podsDir(), uid);
    if (!existsSync(dir)) return;
    for (const saved of savedHandles(dir)) {
      const driver = this.opts.drivers.find((d) => d.name === saved.handle.driver);
      if (!driver) continue;
      const adopted = await driver.recover(saved.handle, { write: () => {} }).catch(() => false);
      if (!adopted) continue;
      this.log.info({ sandbox: saved.handle.id }, 'stopping a sandbox of a pod that no longer exists');
      await driver.stop(saved.handle.id, 0).catch(() => {});
      await driver.destroy(saved.handle.id).catch(() => {});
    }
    if (!this.workers.has(uid)) rmSync(dir, { recursive: true, force: true });
  }

  /** After the first pod list: pod directories (and sandboxes) of pods gone from the API. */
  private async reapOrphans(): Promise<void> {
    if (!existsSync(this.podsDir())) return;
    const known = new Set(this.informer!.list().map((p: any) => p.metadata.uid));
    for (const uid of readdirSync(this.podsDir())) {
      if (!known.has(uid))
        await this.reapOrphan(uid).catch((err) =>
          this.log.warn({ uid, err: (err as Error).message }, 'orphan cleanup failed'),
        );
    }
  }

  private nodeEvent(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.recorder?.event(
      { apiVersion: 'v1', kind: 'Node', metadata: { name: this.nodeName, uid: this.nodeName } },
      type,
      reason,
      message,
    );
  }

  /** Fingerprints every configured driver; the healthy ones are offered. */
  private async fingerprint(): Promise<void> {
    for (const d of this.opts.drivers) {
      let fp: Fingerprint;
      try {
        fp = await d.fingerprint();
      } catch (err) {
        fp = { runtimeClass: this.tierOf(d), healthy: false, reason: (err as Error).message, attributes: {} };
      }
      const prev = this.tiers.get(fp.runtimeClass);
      const everHealthy = (prev?.everHealthy ?? false) || fp.healthy;
      this.tiers.set(fp.runtimeClass, {
        runtimeClass: fp.runtimeClass,
        healthy: fp.healthy,
        reason: fp.reason,
        everHealthy,
        driver: d,
        maxSandboxes: fp.healthy ? fp.maxSandboxes : undefined,
        attributes: fp.attributes ?? {},
      });
      if (fp.healthy) this.drivers.set(fp.runtimeClass, d);
      else this.drivers.delete(fp.runtimeClass);
      if (prev && prev.healthy !== fp.healthy) {
        if (fp.healthy)
          this.nodeEvent('Normal', 'RuntimeAvailable', `runtime class ${fp.runtimeClass} is available again`);
        else
          this.nodeEvent(
            'Warning',
            'RuntimeUnavailable',
            `runtime class ${fp.runtimeClass} failed its fingerprint: ${fp.reason ?? 'unhealthy'}`,
          );
      }
      if (!fp.healthy && (!prev || prev.healthy))
        this.log.warn({ driver: d.name, reason: fp.reason }, 'runtime class not offered');
    }
  }

  private tierOf(d: Driver): string {
    for (const [rc, t] of this.tiers) if (t.driver === d) return rc;
    return d.name;
  }

  /** Periodic: fingerprints and memory; updates labels, runtime handlers, conditions and taints on change. */
  private checkHealth(): Promise<void> {
    this.healthChain = this.healthChain.then(async () => {
      try {
        const before = this.offered().join(',');
        const wasPressure = this.memory.underPressure;
        await this.fingerprint();
        this.availableBytes = (this.opts.availableMemory ?? readAvailableMemory)();
        const pressure = this.memory.observe(this.availableBytes);
        if (pressure !== wasPressure) {
          if (pressure)
            this.nodeEvent('Warning', 'NodeHasInsufficientMemory', this.memory.message(this.availableBytes));
          else this.nodeEvent('Normal', 'NodeHasSufficientMemory', this.memory.message(this.availableBytes));
        }
        const offered = this.offered();
        if (offered.join(',') !== before) await this.register(offered);
        else if (pressure !== wasPressure) await this.heartbeat();
        await this.reconcileTaints();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'node health check failed');
      }
    });
    return this.healthChain;
  }

  /** Puts the agent's own taints (memory pressure, runtime unavailable) on the Node, or takes them off. */
  private async reconcileTaints(): Promise<void> {
    const want = agentTaints(this.memory.underPressure, unavailableTiers([...this.tiers.values()]));
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await this.opts.client.mutate(nodeKind, undefined, this.nodeName, (node) => {
      const next = reconcileTaints(node.spec?.taints, want, now);
      if (!next) return undefined;
      node.spec = { ...node.spec, taints: next };
      if (next.length === 0) delete node.spec.taints;
      return node;
    });
  }

  /** A condition with lastTransitionTime kept while its status does not change. */
  private condition(
    type: string,
    status: ConditionStatus,
    reason: string,
    message: string,
    now: string,
  ): any {
    const prev = this.transitions.get(type);
    const at = prev && prev.status === status ? prev.at : now;
    this.transitions.set(type, { status, at });
    return { type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: at };
  }

  private nodeStatus(offered: string[]): any {
    const cpu = String(availableParallelism());
    const memory = `${Math.floor(totalmem() / 1024)}Ki`;
    // 1,000 pods unless a tier holds more on its own (wasm: thousands of guests per node).
    const tierCeilings = [...this.tiers.values()].map((t) => t.maxSandboxes ?? 0);
    const pods = String(this.opts.maxPods ?? Math.max(DEFAULT_MAX_PODS, ...tierCeilings));
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      capacity: { cpu, memory, pods },
      allocatable: { cpu, memory, pods },
      conditions: this.conditions(now),
      addresses: [
        { type: 'InternalIP', address: this.opts.address ?? '127.0.0.1' },
        { type: 'Hostname', address: hostname() },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.port } },
      nodeInfo: {
        architecture: arch() === 'x64' ? 'amd64' : arch(),
        operatingSystem: platform(),
        kernelVersion: release(),
        kubeletVersion: 'strata-v0.1.0',
        osImage: `Node.js ${process.version}`,
      },
      runtimeHandlers: offered.map((name) => ({ name })),
    };
  }

  private offered(): string[] {
    return [...this.drivers.keys()];
  }

  private conditions(now: string): any[] {
    const pressure = this.memory.underPressure;
    const unavailable = unavailableTiers([...this.tiers.values()]);
    return [
      this.condition(
        'MemoryPressure',
        pressure ? 'True' : 'False',
        pressure ? 'AgentHasInsufficientMemory' : 'AgentHasSufficientMemory',
        this.memory.message(this.availableBytes),
        now,
      ),
      this.condition(
        'RuntimeUnavailable',
        unavailable.length ? 'True' : 'False',
        unavailable.length ? 'RuntimeFingerprintFailed' : 'RuntimesAvailable',
        unavailable.length
          ? unavailable.map((t) => `${t.runtimeClass}: ${t.reason ?? 'unhealthy'}`).join('; ')
          : `offering ${this.offered().join(', ') || 'no runtime class'}`,
        now,
      ),
      this.condition('Ready', 'True', 'AgentReady', 'strata agent is posting ready status', now),
    ];
  }

  private async register(offered: string[]): Promise<void> {
    const labels: Record<string, string | null> = {
      'kubernetes.io/hostname': this.nodeName,
      'kubernetes.io/os': platform(),
      'kubernetes.io/arch': arch() === 'x64' ? 'amd64' : arch(),
      // A configured tier that is not offered (any more) loses its label (null deletes in a merge patch).
      ...Object.fromEntries([...this.tiers.keys()].map((rc) => [`strata.dev/runtime-${rc}`, null])),
      ...Object.fromEntries(offered.map((rc) => [`strata.dev/runtime-${rc}`, 'true'])),
      ...this.opts.labels,
    };
    // The server pins this certificate when it calls the agent (logs, exec, port-forward).
    const annotations = {
      [AGENT_CERT_ANNOTATION]: this.opts.tls ? Buffer.from(this.opts.tls.cert).toString('base64') : null,
      // What each tier found on this node (e.g. strata.dev/microvm.accel: kvm|tcg), for users and the dashboard.
      ...Object.fromEntries(
        [...this.tiers.values()].flatMap((t) =>
          Object.entries(t.attributes).map(([k, v]) => [`strata.dev/${k}`, v]),
        ),
      ),
    };
    const existing = await this.opts.client.find(nodeKind, undefined, this.nodeName);
    if (!existing) {
      await this.opts.client.create(nodeKind, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: this.nodeName,
          labels: Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== null)),
          annotations: Object.fromEntries(Object.entries(annotations).filter(([, v]) => v !== null)),
        },
        spec: {},
      });
    } else {
      await this.opts.client.patch(nodeKind, undefined, this.nodeName, { metadata: { labels, annotations } });
    }
    await this.opts.client.patch(
      nodeKind,
      undefined,
      this.nodeName,
      { status: this.nodeStatus(offered) },
      'status',
    );
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.opts.client.patch(
        nodeKind,
        undefined,
        this.nodeName,
        { status: this.nodeStatus(this.offered()) },
        'status',
      );
    } catch (err) {
      // The Node was deleted while this agent runs (`strata delete node`): register it again, as the
      // kubelet does.
      if (!(err instanceof ClientError && err.code === 404)) throw err;
      this.log.warn({ node: this.nodeName }, 'node object is gone; registering again');
      await this.register(this.offered());
      await this.reconcileTaints();
    }
  }

  private async renewLease(): Promise<void> {
    const now = rfc3339Micro();
    const spec = {
      holderIdentity: this.nodeName,
      leaseDurationSeconds: this.opts.leaseDurationSeconds ?? 40,
      renewTime: now,
    };
    try {
      await this.opts.client.patch(leaseKind, LEASE_NAMESPACE, this.nodeName, { spec });
    } catch (err) {
      if (!(err instanceof ClientError && err.code === 404)) throw err;
      await this.opts.client.create(
        leaseKind,
        {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.nodeName, namespace: LEASE_NAMESPACE },
          spec: { ...spec, acquireTime: now },
        },
        LEASE_NAMESPACE,
      );
    }
  }
}

/** A pod's containers, init containers (and sidecars) included: each has logs and may be exec'd into. */
function podContainers(pod: any): any[] {
  return [
    ...(pod.spec.initContainers ?? []),
    ...pod.spec.containers,
    ...(pod.spec.ephemeralContainers ?? []),
  ];
}
