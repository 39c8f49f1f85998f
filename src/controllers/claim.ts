// Adoption and orphaning by selector, as Kubernetes' ControllerRefManager does it for ReplicaSets (their
// pods) and Deployments (their ReplicaSets): an object the owner controls but its selector no longer
// matches is released (the owner's reference removed); an orphan — no controller at all, not being
// deleted — that the selector matches is adopted (a controller reference to the owner added), but only
// once a fresh read shows the owner still exists and is not being deleted. Objects controlled by someone
// else are never touched. Writes are uid-checked read-modify-writes, so an object replaced under the
// same name, or claimed by another controller in the meantime, is left alone.
import { type KindInfo, kindFor, isDeleting } from '../api/index.ts';
import { errorCode } from '../lib/log.ts';
import type { ObjectStore } from '../store/objects.ts';
import { controllerRef, controllerRefTo, objectKeyOf } from './pods.ts';

/** Objects without a controller, by namespace, kept from informer events: the only ones to adopt. */
export class OrphanIndex {
  private readonly byNamespace = new Map<string, Map<string, any>>();

  /** Record a change (`old` → `obj`, either undefined for an add or a delete). */
  update(old: any, obj: any): void {
    if (old) {
      const inNs = this.byNamespace.get(old.metadata.namespace);
      inNs?.delete(objectKeyOf(old));
      if (inNs?.size === 0) this.byNamespace.delete(old.metadata.namespace);
    }
    if (!obj || controllerRef(obj)) return;
    let inNs = this.byNamespace.get(obj.metadata.namespace);
    if (!inNs) this.byNamespace.set(obj.metadata.namespace, (inNs = new Map()));
    inNs.set(objectKeyOf(obj), obj);
  }

  in(namespace: string): any[] {
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }
}

export interface ClaimResult {
  /** What the owner controls after the claim (adopted objects in their new version). */
  claimed: any[];
  adopted: number;
  released: number;
}

export async function claimObjects(
  objects: ObjectStore,
  owner: any,
  kind: KindInfo,
  candidates: Iterable<any>,
  matches: (obj: any) => boolean,
): Promise<ClaimResult> {
  const uid: string = owner.metadata.uid;
  const out: ClaimResult = { claimed: [], adopted: 0, released: 0 };
  let ownerAlive: Promise<boolean> | undefined;
  // RecheckDeletionTimestamp: the cache may still show an owner that was deleted or replaced.
  const canAdopt = async (): Promise<boolean> => {
    const ownerKind = kindFor(owner.apiVersion, owner.kind);
    if (!ownerKind) return false;
    const fresh = await objects.get(ownerKind, owner.metadata.namespace, owner.metadata.name);
    return fresh?.metadata.uid === uid && !isDeleting(fresh);
  };
  let firstError: unknown;
  for (const obj of candidates) {
    if (obj.metadata.namespace !== owner.metadata.namespace) continue;
    const ref = controllerRef(obj);
    try {
      if (ref) {
        if (ref.uid !== uid) continue;
        if (matches(obj)) out.claimed.push(obj);
        else if (!isDeleting(owner) && (await release(objects, kind, obj, uid))) out.released++;
        continue;
      }
      if (isDeleting(owner) || isDeleting(obj) || !matches(obj)) continue;
      ownerAlive ??= canAdopt();
      if (!(await ownerAlive)) continue;
      const adopted = await adopt(objects, kind, obj, owner);
      if (adopted) {
        out.claimed.push(adopted);
        out.adopted++;
      }
    } catch (err) {
      // Gone meanwhile: nothing to claim. Anything else: try the rest, then let the caller retry.
      if (errorCode(err) !== 404) firstError ??= err;
    }
  }
  if (firstError !== undefined) throw firstError;
  return out;
}

/** Add a controller reference to `owner`; the adopted object, or undefined if it was not an orphan. */
async function adopt(objects: ObjectStore, kind: KindInfo, obj: any, owner: any): Promise<any> {
  let adopted = false;
  const result = await objects.mutate(kind, obj.metadata.namespace, obj.metadata.name, (cur) => {
    adopted = false;
    if (cur.metadata.uid !== obj.metadata.uid || isDeleting(cur) || controllerRef(cur)) return undefined;
    const others = (cur.metadata.ownerReferences ?? []).filter((r: any) => r.uid !== owner.metadata.uid);
    cur.metadata.ownerReferences = [...others, controllerRefTo(owner)];
    adopted = true;
    return cur;
  });
  return adopted ? result : undefined;
}

/** Remove the owner's reference; true when it was removed. */
async function release(objects: ObjectStore, kind: KindInfo, obj: any, ownerUid: string): Promise<boolean> {
  let released = false;
  await objects.mutate(kind, obj.metadata.namespace, obj.metadata.name, (cur) => {
    released = false;
    const refs: any[] = cur.metadata.ownerReferences ?? [];
    if (cur.metadata.uid !== obj.metadata.uid || !refs.some((r) => r.uid === ownerUid)) return undefined;
    const rest = refs.filter((r) => r.uid !== ownerUid);
    if (rest.length) cur.metadata.ownerReferences = rest;
    else delete cur.metadata.ownerReferences;
    released = true;
    return cur;
  });
  return released;
}
