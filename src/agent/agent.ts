// The node agent: registers this machine as a Node (capacity, the runtime classes its drivers offer),
// renews its Lease, watches the pods bound to it and runs each through a PodWorker. It reaches the
// control plane only through the HTTP API, so `strata up` and a separate `strata agent` behave the same.
import { availableParallelism, hostname, totalmem, release, arch, platform } from 'node:os';
import { join } from 'node:path';
import { kindFor } from '../api/index.ts';
import { ClientError, type Client } from '../client/client.ts';
import { clientListWatch } from '../client/list-watch.ts';
import { Informer } from '../lib/informer.ts';
import type { Driver } from '../sandbox/driver.ts';
import { buildAgentHttp } from './http.ts';
import { PodWorker } from './pod-worker.ts';
import type { FastifyInstance } from 'fastify';

const nodeKind = kindFor('v1', 'Node')!;
const podKind = kindFor('v1', 'Pod')!;
const leaseKind = kindFor('coordination.k8s.io/v1', 'Lease')!;

export const LEASE_NAMESPACE = 'kube-node-lease';

export interface AgentOptions {
  client: Client;
  drivers: Driver[];
  dataDir: string;
  nodeName?: string;
  /** Address the agent's endpoint listens on and advertises. */
  address?: string;
  port?: number;
  labels?: Record<string, string>;
  leaseDurationSeconds?: number;
  /** Relative wasm image paths resolve against this directory (default: the process cwd). */
  workDir?: string;
  maxPods?: number;
  backoffInitialMs?: number;
  log?: { info: (o: object, msg: string) => void; warn: (o: object, msg: string) => void };
}

function rfc3339Micro(d = new Date()): string {
  return d.toISOString().replace('Z', '000Z');
}

export class Agent {
  readonly nodeName: string;
  private readonly opts: AgentOptions;
  private readonly drivers = new Map<string, Driver>();
  private readonly workers = new Map<string, PodWorker>();
  private informer?: Informer<any>;
  private http?: FastifyInstance;
  private timers: NodeJS.Timeout[] = [];
  private port = 0;
  private readonly log: NonNullable<AgentOptions['log']>;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.nodeName = opts.nodeName ?? hostname().toLowerCase();
    this.log = opts.log ?? { info: () => {}, warn: (o, m) => console.warn(m, o) };
  }

  async start(): Promise<void> {
    this.http = buildAgentHttp({
      client: this.opts.client,
      locate: (ns, name, c) => this.locate(ns, name, c),
    });
    await this.http.listen({ host: this.opts.address ?? '127.0.0.1', port: this.opts.port ?? 0 });
    this.port = (this.http.server.address() as any).port;

    const offered: string[] = [];
    for (const d of this.opts.drivers) {
      const fp = await d.fingerprint();
      if (fp.healthy) {
        this.drivers.set(fp.runtimeClass, d);
        offered.push(fp.runtimeClass);
      } else {
        this.log.warn({ driver: d.name, reason: fp.reason }, 'runtime class not offered');
      }
    }
    await this.register(offered);
    await this.renewLease();
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
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.informer?.stop();
    await Promise.all([...this.workers.values()].map((w) => w.stop(0)));
    for (const d of this.drivers.values()) await d.shutdown();
    await this.http?.close();
  }

  private locate(namespace: string, name: string, container: string) {
    for (const w of this.workers.values()) {
      if (w.pod.metadata.namespace === namespace && w.pod.metadata.name === name) {
        const st = w.pod.status?.containerStatuses?.find((c: any) => c.name === container);
        if (!w.pod.spec.containers.some((c: any) => c.name === container)) return undefined;
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
        // Nothing runs here for it (finished, or never started): finish the deletion.
        void this.finalizeDeletion(pod);
        return;
      }
      w.update(pod);
      void w.stop(pod.metadata.deletionGracePeriodSeconds ?? 30).then(() => this.finalizeDeletion(pod));
      return;
    }
    if (w) {
      w.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    w = new PodWorker(pod, {
      client: this.opts.client,
      drivers: this.drivers,
      podsDir: join(this.opts.dataDir, 'pods'),
      workDir: this.opts.workDir ?? process.cwd(),
      backoffInitialMs: this.opts.backoffInitialMs,
      log: this.log,
    });
    this.workers.set(uid, w);
    // Keep the worker after it finishes so its logs stay readable until the pod is deleted.
    void w
      .start()
      .catch((err) => this.log.warn({ pod: pod.metadata.name, err: err.message }, 'pod worker failed'));
  }

  private async finalizeDeletion(pod: any): Promise<void> {
    try {
      await this.opts.client.delete(podKind, pod.metadata.namespace, pod.metadata.name, {
        gracePeriodSeconds: 0,
      });
    } catch (err) {
      if (!(err instanceof ClientError && err.code === 404)) {
        this.log.warn({ pod: pod.metadata.name, err: (err as Error).message }, 'final pod deletion failed');
      }
    }
  }

  private forget(pod: any): void {
    const w = this.workers.get(pod.metadata.uid);
    if (!w) return;
    this.workers.delete(pod.metadata.uid);
    void w.stop(0).then(() => w.cleanup());
  }

  private nodeStatus(offered: string[]): any {
    const cpu = String(availableParallelism());
    const memory = `${Math.floor(totalmem() / 1024)}Ki`;
    const pods = String(this.opts.maxPods ?? 1000);
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      capacity: { cpu, memory, pods },
      allocatable: { cpu, memory, pods },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'AgentReady',
          message: 'strata agent is posting ready status',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
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

  private async register(offered: string[]): Promise<void> {
    const labels = {
      'kubernetes.io/hostname': this.nodeName,
      'kubernetes.io/os': platform(),
      'kubernetes.io/arch': arch() === 'x64' ? 'amd64' : arch(),
      ...Object.fromEntries(offered.map((rc) => [`strata.dev/runtime-${rc}`, 'true'])),
      ...this.opts.labels,
    };
    const existing = await this.opts.client.find(nodeKind, undefined, this.nodeName);
    if (!existing) {
      await this.opts.client.create(nodeKind, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: this.nodeName, labels },
        spec: {},
      });
    } else {
      await this.opts.client.patch(nodeKind, undefined, this.nodeName, { metadata: { labels } });
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
    await this.opts.client.patch(
      nodeKind,
      undefined,
      this.nodeName,
      { status: this.nodeStatus(this.offered()) },
      'status',
    );
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
