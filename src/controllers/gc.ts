// Garbage collector: deletes objects whose owners are gone (background cascading deletion).
//
// An object with ownerReferences is deleted once none of its owners exists any more — "exists" meaning
// an object of that kind and name with the referenced uid (a re-created owner with the same name is a
// different owner). Like Kubernetes, the cache is trusted only to say "the owner exists": before
// deleting, every owner is looked up in the store, so a child seen before its brand-new owner reaches
// the cache is never collected. Deletion is background propagation by default: the owner goes first (it is
// already gone when we look), its dependents after, and their own dependents in turn.
//
// The other two propagation policies arrive as finalizers on an owner that is being deleted, as in
// Kubernetes (the API server adds them for deleteOptions.propagationPolicy):
//   - `orphan`: the collector removes the owner's reference from every dependent, then the finalizer, and
//     the owner goes; the dependents stay.
//   - `foregroundDeletion`: the collector deletes the dependents first; once none is left it removes the
//     finalizer and the owner goes last.
import { type KindInfo, allKinds, kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { type Log, defaultLog, errorCode } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import type { OwnerRef } from './pods.ts';
import { SharedInformers } from '../store/shared-informers.ts';
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

export const ORPHAN_FINALIZER = 'orphan';
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** Queue keys for an owner whose deletion propagates by finalizer (the rest are dependents to check). */
const OWNER_WORK = 'owner:';

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
  /** uid → id of owners being deleted with the orphan or foreground policy. */
  private readonly owners = new Map<string, string>();
  private synced = false;

  constructor(opts: ControllerOptions) {
    this.objects = opts.objects;
    this.log = opts.log ?? defaultLog;
    this.ownInformers = !opts.informers;
    this.informers = opts.informers?.scoped() ?? new SharedInformers(opts.objects, { log: this.log });
    this.queue = new WorkQueue(
      (id) => (id.startsWith(OWNER_WORK) ? this.propagate(id.slice(OWNER_WORK.length)) : this.collect(id)),
      {
        concurrency: opts.concurrency ?? 8,
        log: this.log,
        name: 'garbage-collector',
      },
    );
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
    for (const r of (obj.metadata?.ownerReferences ?? []) as OwnerRef[]) {
      this.unlink(r.uid, id);
      // A dependent of a foreground deletion is gone: the owner may be done.
      const owner = this.owners.get(r.uid);
      if (owner) this.queue.add(OWNER_WORK + owner);
    }
    if (uid) this.owners.delete(uid);
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

  /** Queue the object if the cache says all of its owners are missing (or it propagates a deletion). */
  private check(kind: KindInfo, obj: any): void {
    const finalizers: string[] = obj.metadata?.finalizers ?? [];
    if (
      obj.metadata?.deletionTimestamp &&
      (finalizers.includes(ORPHAN_FINALIZER) || finalizers.includes(FOREGROUND_FINALIZER))
    ) {
      const id = refId(kind, obj.metadata.namespace, obj.metadata.name);
      this.owners.set(obj.metadata.uid, id);
      this.queue.add(OWNER_WORK + id);
    }
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

  /** Carries out an owner's orphan or foreground deletion (see the top of this file). */
  private async propagate(id: string): Promise<void> {
    const ref = parseRefId(id);
    if (!ref) return;
    const owner = await this.objects.get(ref.kind, ref.namespace, ref.name);
    if (!owner?.metadata.deletionTimestamp) return;
    const uid: string = owner.metadata.uid;
    const finalizers: string[] = owner.metadata.finalizers ?? [];
    const dependents = [...(this.dependents.get(uid) ?? [])]
      .map(parseRefId)
      .filter((d): d is Ref => d !== undefined);
    if (finalizers.includes(ORPHAN_FINALIZER)) {
      for (const d of dependents) {
        await this.objects.mutate(d.kind, d.namespace, d.name, (o) => {
          const refs: OwnerRef[] = o.metadata.ownerReferences ?? [];
          if (!refs.some((r) => r.uid === uid)) return undefined;
          o.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
          if (o.metadata.ownerReferences.length === 0) delete o.metadata.ownerReferences;
          return o;
        });
      }
      await this.removeFinalizer(ref, uid, ORPHAN_FINALIZER);
      this.log.info(
        { kind: ref.kind.kind, name: ref.name, orphaned: dependents.length },
        'garbage-collector: orphaned dependents',
      );
      return;
    }
    if (!finalizers.includes(FOREGROUND_FINALIZER)) return;
    // Foreground: the dependents go first; the owner waits until none is left.
    let remaining = 0;
    for (const d of dependents) {
      const o = await this.objects.get(d.kind, d.namespace, d.name);
      if (!o || !(o.metadata.ownerReferences ?? []).some((r: OwnerRef) => r.uid === uid)) continue;
      remaining++;
      if (o.metadata.deletionTimestamp) continue;
      try {
        // Foreground all the way down, as Kubernetes does: a Deployment's ReplicaSets wait for their pods.
        await this.objects.delete(d.kind, d.namespace, d.name, {
          preconditions: { uid: o.metadata.uid },
          propagationPolicy: 'Foreground',
        });
      } catch (err) {
        if (errorCode(err) !== 404 && errorCode(err) !== 409) throw err;
      }
    }
    if (remaining === 0) await this.removeFinalizer(ref, uid, FOREGROUND_FINALIZER);
    // Otherwise the dependents' delete events queue the owner again (forget).
  }

  private async removeFinalizer(ref: Ref, uid: string, finalizer: string): Promise<void> {
    try {
      await this.objects.mutate(ref.kind, ref.namespace, ref.name, (o) => {
        if (o.metadata.uid !== uid || !(o.metadata.finalizers ?? []).includes(finalizer)) return undefined;
        o.metadata.finalizers = o.metadata.finalizers.filter((f: string) => f !== finalizer);
        return o;
      });
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
    }
  }
}
