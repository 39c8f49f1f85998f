// Namespace lifecycle: the default namespaces exist, and deleting a Namespace deletes what is in it.
//
// How deletion works (as in Kubernetes, with the finalizer in metadata.finalizers where the
// ObjectStore honours it): every Namespace gets the `kubernetes` finalizer, so `delete` only marks it
// (deletionTimestamp; status.phase Terminating, and the store refuses new objects in it). This
// controller then deletes every namespaced object in it, waits until they are gone (pods bound to a
// node are finished by their agent), and removes the finalizer, which lets the store delete the
// Namespace. A Namespace deleted before it got the finalizer (or while no controller ran) is handled
// too: when its delete is observed, whatever is left in it is deleted.
import { allKinds, kindFor } from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { ControllerOptions } from './options.ts';
import { type Log, defaultLog, errorCode, ignoreNotFound } from '../lib/log.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import { WorkQueue } from './workqueue.ts';

const NAMESPACE = kindFor('v1', 'Namespace')!;

export const NAMESPACE_FINALIZER = 'kubernetes';
// As a Kubernetes cluster has them: kube-system holds the cluster's own objects (e.g. kube-dns), kube-public
// what any client may read.
export const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'] as const;

/** Create the namespaces every cluster has (DEFAULT_NAMESPACES) unless they exist. */
export async function ensureDefaultNamespaces(objects: ObjectStore): Promise<void> {
  for (const name of DEFAULT_NAMESPACES) {
    if (await objects.get(NAMESPACE, undefined, name)) continue;
    try {
      await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    } catch (err) {
      if (errorCode(err) !== 409) throw err;
    }
  }
}

export interface NamespaceControllerOptions extends ControllerOptions {
  /** How often to look again while a terminating namespace still has objects. Default 1 s. */
  recheckMs?: number;
}

export class NamespaceController {
  private readonly objects: ObjectStore;
  private readonly log: Log;
  private readonly ownInformers: boolean;
  private readonly informers: SharedInformers;
  private readonly queue: WorkQueue;
  private readonly recheckMs: number;
  private namespaces!: Informer<any>;
  private synced = false;
  private readonly removeHandlers: (() => void)[] = [];

  constructor(opts: NamespaceControllerOptions) {
    this.objects = opts.objects;
    this.log = opts.log ?? defaultLog;
    this.recheckMs = opts.recheckMs ?? 1000;
    this.ownInformers = !opts.informers;
    this.informers = opts.informers?.scoped() ?? new SharedInformers(opts.objects, { log: this.log });
    this.queue = new WorkQueue((name) => this.reconcile(name), {
      concurrency: opts.concurrency,
      log: this.log,
      name: 'namespace-controller',
    });
  }

  async start(): Promise<void> {
    this.namespaces = this.informers.informerFor(NAMESPACE);
    this.removeHandlers.push(
      this.namespaces.addHandler({
        onAdd: (ns) => this.queue.add(ns.metadata.name),
        onUpdate: (_o, ns) => this.queue.add(ns.metadata.name),
        onDelete: (ns) => this.queue.add(ns.metadata.name),
      }),
    );
    // Objects showing up in a namespace we do not know (left behind, or racing its deletion): look at it.
    const contents = allKinds()
      .filter((k) => k.namespaced)
      .map((k) => this.informers.informerFor(k));
    for (const inf of contents) {
      this.removeHandlers.push(inf.addHandler({ onAdd: (o) => this.checkNamespaceOf(o) }));
    }
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
    this.synced = true;
    for (const inf of contents) for (const o of inf.values()) this.checkNamespaceOf(o);
  }

  private checkNamespaceOf(obj: any): void {
    const ns: string | undefined = obj?.metadata?.namespace;
    if (this.synced && ns && !this.namespaces.get(ns)) this.queue.add(ns);
  }

  async stop(): Promise<void> {
    for (const remove of this.removeHandlers.splice(0)) remove();
    if (this.ownInformers) this.informers.stop();
    await this.queue.stop();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  private async reconcile(name: string): Promise<void> {
    const ns = await this.objects.get(NAMESPACE, undefined, name);
    if (!ns) {
      // Gone without finalizing (or finalized by us): make sure nothing is left behind.
      await this.deleteContents(name);
      return;
    }
    if (!ns.metadata.deletionTimestamp) {
      if (!(ns.metadata.finalizers ?? []).includes(NAMESPACE_FINALIZER)) {
        await ignoreNotFound(
          this.objects.mutate(NAMESPACE, undefined, name, (o) => {
            if (o.metadata.deletionTimestamp || (o.metadata.finalizers ?? []).includes(NAMESPACE_FINALIZER))
              return undefined;
            o.metadata.finalizers = [...(o.metadata.finalizers ?? []), NAMESPACE_FINALIZER];
            return o;
          }),
        );
      }
      await this.setPhase(name, 'Active');
      return;
    }
    await this.setPhase(name, 'Terminating');
    const remaining = await this.deleteContents(name);
    if (remaining > 0) {
      this.queue.addAfter(name, this.recheckMs);
      return;
    }
    await ignoreNotFound(
      this.objects.mutate(NAMESPACE, undefined, name, (o) => {
        const finalizers: string[] = o.metadata.finalizers ?? [];
        if (!finalizers.includes(NAMESPACE_FINALIZER)) return undefined;
        o.metadata.finalizers = finalizers.filter((f) => f !== NAMESPACE_FINALIZER);
        return o;
      }),
    );
    this.log.info({ namespace: name }, 'namespace-controller: namespace finalized');
  }

  private async setPhase(name: string, phase: 'Active' | 'Terminating'): Promise<void> {
    await ignoreNotFound(
      this.objects.mutate(
        NAMESPACE,
        undefined,
        name,
        (o) => {
          if (o.status?.phase === phase) return undefined;
          o.status = { ...o.status, phase };
          return o;
        },
        'status',
      ),
    );
  }

  /** Delete every namespaced object in the namespace; returns how many still exist (e.g. terminating pods). */
  private async deleteContents(namespace: string): Promise<number> {
    let remaining = 0;
    for (const kind of allKinds()) {
      if (!kind.namespaced) continue;
      const { items } = await this.objects.list(kind, namespace);
      for (const obj of items) {
        remaining++;
        if (obj.metadata.deletionTimestamp) continue;
        try {
          const res = await this.objects.delete(kind, namespace, obj.metadata.name, {
            preconditions: { uid: obj.metadata.uid },
          });
          if (!res?.metadata?.deletionTimestamp) remaining--;
        } catch (err) {
          if (errorCode(err) === 404) remaining--;
          else if (errorCode(err) !== 409) throw err;
        }
      }
    }
    return remaining;
  }
}
