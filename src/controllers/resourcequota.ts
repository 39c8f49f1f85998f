// ResourceQuota controller (kube's resourcequota-controller): keeps every quota's status.hard = spec.hard
// and status.used = a full recount of what its namespace holds. Recounts run when a quota is made or its
// spec changes, when counted objects are deleted, when a pod finishes (terminal pods release their
// compute) and on a periodic resync — which also releases charges admission made for objects that were
// never stored. Writes are compare-and-swap on the quota's resourceVersion; a conflict recounts again.
//
// Quota admission charges objects before they are stored. Through the optional coordinator (the quota
// admission of this process, src/policy/quota) a recount runs serialized with those charges and adds the
// ones whose objects it cannot list yet, so it never undoes a charge in flight.
import { kindFor, type KindInfo } from '../api/index.ts';
import {
  type Usage,
  addUsage,
  kindsCountedBy,
  podReleased,
  usedStatus,
} from '../api/kinds/resourcequota-usage.ts';
import { errorCode } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';

const QUOTA = kindFor('v1', 'ResourceQuota')!;
const POD = kindFor('v1', 'Pod')!;
const COMPONENT = 'resourcequota-controller';
const DEFAULT_RESYNC_MS = 30_000;

/** What quota admission offers the controller (implemented by src/policy/quota/admission.ts). */
export interface QuotaCoordinator {
  /** Runs `work` serialized with the namespace's admission charges. */
  serialize<T>(namespace: string, work: () => Promise<T>): Promise<T>;
  /** Charges admitted whose objects may not be listed yet. */
  pending(namespace: string): { key: string; kind: KindInfo; object: any }[];
  /** The recount listed the object of a pending charge: forget it. */
  settle(namespace: string, key: string): void;
}

export interface ResourceQuotaControllerOptions extends ControllerOptions {
  coordinator?: QuotaCoordinator;
  /** Full recount of every namespace with quotas this often. Default 30 s. */
  resyncMs?: number;
}

const keyOf = (kind: KindInfo, name: string) => `${kind.plural}.${kind.group}/${name}`;

export class ResourceQuotaController extends QueuedController {
  private readonly coordinator?: QuotaCoordinator;
  private readonly resyncMs: number;
  private timer?: NodeJS.Timeout;

  constructor(opts: ResourceQuotaControllerOptions) {
    super(opts, COMPONENT);
    this.coordinator = opts.coordinator;
    this.resyncMs = opts.resyncMs ?? DEFAULT_RESYNC_MS;
  }

  async start(): Promise<void> {
    const quotas = this.informers.informerFor(QUOTA);
    const pods = this.informers.informerFor(POD);
    const enqueue = (o: any) => o?.metadata?.namespace && this.queue.add(o.metadata.namespace);
    this.removeHandlers.push(
      quotas.addHandler({
        onAdd: enqueue,
        onUpdate: (a, b) => {
          if (JSON.stringify(a.spec) !== JSON.stringify(b.spec)) enqueue(b);
        },
      }),
      pods.addHandler({
        onAdd: (o) => this.settle(POD, o),
        onUpdate: (a, b) => {
          if (podReleased(b) && !podReleased(a)) enqueue(b);
        },
        onDelete: enqueue,
      }),
    );
    // Deletions of the other counted kinds release usage too.
    for (const apiKind of ['Service', 'PersistentVolumeClaim', 'ConfigMap', 'Secret']) {
      const k = kindFor('v1', apiKind);
      if (k)
        this.removeHandlers.push(
          this.informers.informerFor(k).addHandler({ onAdd: (o) => this.settle(k, o), onDelete: enqueue }),
        );
    }
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
    this.timer = setInterval(() => {
      for (const q of quotas.list()) enqueue(q);
    }, this.resyncMs);
    this.timer.unref();
  }

  /** A charged object is now in the store: recounts list it, so its pending charge is done. */
  private settle(kind: KindInfo, obj: any): void {
    this.coordinator?.settle(obj.metadata.namespace, keyOf(kind, obj.metadata.name));
  }

  override async stop(): Promise<void> {
    clearInterval(this.timer);
    await super.stop();
  }

  /** Key: a namespace. Recounts each of its quotas. */
  protected async reconcile(namespace: string): Promise<void> {
    const work = () => this.recount(namespace);
    if (this.coordinator) await this.coordinator.serialize(namespace, work);
    else await work();
  }

  private async recount(namespace: string): Promise<void> {
    const quotas = (await this.objects.list(QUOTA, namespace)).items;
    if (!quotas.length) return;
    const listed = new Map<string, any[]>();
    const listKind = async (k: KindInfo) => {
      let items = listed.get(k.kind);
      if (!items) listed.set(k.kind, (items = (await this.objects.list(k, namespace)).items));
      return items;
    };
    const pending = this.coordinator?.pending(namespace) ?? [];
    const seen = new Set<string>();
    for (const quota of quotas) {
      const kinds = new Map<string, KindInfo>();
      for (const r of Object.keys(quota.spec.hard ?? {}))
        for (const k of kindsCountedBy(r)) kinds.set(k.kind, k);
      const used: Usage = new Map();
      for (const k of kinds.values()) {
        const items = await listKind(k);
        addUsage(used, quota, k, items);
        const names = new Set(items.map((o) => keyOf(k, o.metadata.name)));
        for (const p of pending) {
          if (p.kind.kind !== k.kind) continue;
          if (names.has(p.key)) seen.add(p.key);
          else addUsage(used, quota, k, [p.object]);
        }
      }
      const status = { hard: { ...quota.spec.hard }, used: usedStatus(quota, used) };
      if (JSON.stringify(status) === JSON.stringify({ hard: quota.status?.hard, used: quota.status?.used }))
        continue;
      try {
        await this.objects.updateStatus(QUOTA, namespace, quota.metadata.name, {
          metadata: { resourceVersion: quota.metadata.resourceVersion },
          status,
        });
      } catch (err) {
        // Written meanwhile (admission charged it): count again.
        if (errorCode(err) === 409) this.queue.add(namespace);
        else if (errorCode(err) !== 404) throw err;
      }
    }
    for (const key of seen) this.coordinator?.settle(namespace, key);
  }
}
