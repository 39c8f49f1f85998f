// Garbage collector: deletes objects whose owners are gone (background cascading deletion).
//
// An object with ownerReferences is deleted once none of its owners exists any more — "exists" meaning
// an object of that kind and name with the referenced uid (a re-created owner with the same name is a
// different owner). Like Kubernetes, the cache is trusted only to say "the owner exists": before
// deleting, every owner is looked up in the store, so a child seen before its brand-new owner reaches
// the cache is never collected. Deletion is background propagation: the owner goes first (it is already
// gone when we look), its dependents after, and their own dependents in turn. Foreground deletion and
// orphaning (deleteOptions.propagationPolicy) are not supported yet.
import { type KindInfo, allKinds, kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { type Log, defaultLog, errorCode } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import type { OwnerRef } from './pods.ts';
import { SharedInformers } from './shared-informers.ts';
import { WorkQueue } from './workqueue.ts';

/**
 * Kinds the collector does not watch: nothing owns Events, and caching every Event would cost memory for
 * nothing (Kubernetes' garbage collector ignores them too). They expire by TTL (events.ts).
 */
const IGNORED_KINDS = new Set(['v1/Event']);
const collectedKinds = (): KindInfo[] =>
  allKinds().filter((k) => !IGNORED_KINDS.has(`${k.apiVersion}/${k.kind}`));

interface Ref {
  kind: KindInfo;
  namespace?: string;
  name: string;
}

const SEP = '\u0000';
function refId(kind: KindInfo, namespace: string | undefined, name: string): string {
  return [kind.apiVersion, kind.kind, namespace ?? '', name].join(SEP);
}

function parseRefId(id: string): Ref | undefined {
  const [apiVersion, k, namespace, name] = id.split(SEP);
  const kind = kindFor(apiVersion, k);
  return kind ? { kind, namespace: namespace || undefined, name } : undefined;
}

export class GarbageCollector {
  private readonly objects: ObjectStore;
  private readonly log: Log;
  private readonly ownInformers: boolean;
  private readonly informers: SharedInformers;
  private readonly queue: WorkQueue;
  /** uid → how many cached objects carry it (a uid is unique, but an object may be seen twice briefly). */
  private readonly uids = new Map<string, number>();
  /** owner uid → ids of objects that reference it. */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly removeHandlers: (() => void)[] = [];
  private synced = false;

  constructor(opts: ControllerOptions) {
    this.objects = opts.objects;
    this.log = opts.log ?? defaultLog;
    this.ownInformers = !opts.informers;
    this.informers = opts.informers ?? new SharedInformers(opts.objects, { log: this.log });
    this.queue = new WorkQueue((id) => this.collect(id), {
      concurrency: opts.concurrency ?? 8,
      log: this.log,
      name: 'garbage-collector',
    });
  }

  async start(): Promise<void> {
    for (const kind of collectedKinds()) {
      const inf = this.informers.informerFor(kind);
      this.removeHandlers.push(
        inf.addHandler({
          onAdd: (o) => this.observe(kind, undefined, o),
          onUpdate: (old, o) => this.observe(kind, old, o),
          onDelete: (o) => this.forget(kind, o),
        }),
      );
    }
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
    this.synced = true;
    // Objects orphaned while no collector ran (or whose owner's delete event came before they did).
    for (const kind of collectedKinds()) {
      for (const o of this.informers.informerFor(kind).values()) this.check(kind, o);
    }
  }

  async stop(): Promise<void> {
    for (const remove of this.removeHandlers.splice(0)) remove();
    if (this.ownInformers) this.informers.stop();
    await this.queue.stop();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  private observe(kind: KindInfo, old: any, obj: any): void {
    const uid: string | undefined = obj.metadata?.uid;
    if (!old && uid) this.uids.set(uid, (this.uids.get(uid) ?? 0) + 1);
    const id = refId(kind, obj.metadata.namespace, obj.metadata.name);
    const before: OwnerRef[] = old?.metadata?.ownerReferences ?? [];
    const after: OwnerRef[] = obj.metadata?.ownerReferences ?? [];
    for (const r of before) if (!after.some((a) => a.uid === r.uid)) this.unlink(r.uid, id);
    for (const r of after) {
      let set = this.dependents.get(r.uid);
      if (!set) this.dependents.set(r.uid, (set = new Set()));
      set.add(id);
    }
    if (this.synced) this.check(kind, obj);
  }

  private forget(kind: KindInfo, obj: any): void {
    const uid: string | undefined = obj.metadata?.uid;
    const id = refId(kind, obj.metadata.namespace, obj.metadata.name);
    for (const r of (obj.metadata?.ownerReferences ?? []) as OwnerRef[]) this.unlink(r.uid, id);
    if (!uid) return;
    const n = (this.uids.get(uid) ?? 1) - 1;
    if (n > 0) {
      this.uids.set(uid, n);
      return;
    }
    this.uids.delete(uid);
    // The owner is gone: its dependents are now candidates.
    for (const dep of this.dependents.get(uid) ?? []) this.queue.add(dep);
  }

  private unlink(ownerUid: string, id: string): void {
    const set = this.dependents.get(ownerUid);
    set?.delete(id);
    if (set && set.size === 0) this.dependents.delete(ownerUid);
  }

  /** Queue the object if the cache says all of its owners are missing. */
  private check(kind: KindInfo, obj: any): void {
    const refs: OwnerRef[] = obj.metadata?.ownerReferences ?? [];
    if (refs.length === 0) return;
    if (refs.some((r) => this.uids.has(r.uid))) return;
    this.queue.add(refId(kind, obj.metadata.namespace, obj.metadata.name));
  }

  private async collect(id: string): Promise<void> {
    const ref = parseRefId(id);
    if (!ref) return;
    const obj = await this.objects.get(ref.kind, ref.namespace, ref.name);
    const refs: OwnerRef[] = obj?.metadata?.ownerReferences ?? [];
    if (!obj || refs.length === 0) return;
    for (const r of refs) {
      if (this.uids.has(r.uid)) return;
      const ownerKind = kindFor(r.apiVersion, r.kind);
      // An owner of a kind we do not serve cannot be checked: never delete on a guess.
      if (!ownerKind) return;
      const owner = await this.objects.get(
        ownerKind,
        ownerKind.namespaced ? ref.namespace : undefined,
        r.name,
      );
      if (owner && owner.metadata.uid === r.uid) return;
    }
    if (obj.metadata.deletionTimestamp) return; // already on its way out
    try {
      await this.objects.delete(ref.kind, ref.namespace, ref.name, {
        preconditions: { uid: obj.metadata.uid },
      });
      this.log.info(
        {
          kind: ref.kind.kind,
          namespace: ref.namespace,
          name: ref.name,
          owners: refs.map((r) => `${r.kind}/${r.name}`),
        },
        'garbage-collector: deleted object whose owners are gone',
      );
    } catch (err) {
      if (errorCode(err) === 404) return;
      if (errorCode(err) === 409) {
        this.queue.add(id); // changed under us (or re-created): look again
        return;
      }
      throw err;
    }
  }
}
