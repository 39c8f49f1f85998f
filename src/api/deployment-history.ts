// A Deployment's rollout history, read the way kubectl reads it: its ReplicaSets (those it controls),
// each one revision (`deployment.kubernetes.io/revision`) of the template it runs. These helpers back
// `strata rollout history|undo` and `strata describe deployment`; they only need something that lists
// objects (the ObjectStore in-process, the HTTP client in the CLI), and import nothing else of Strata.
import { type KindInfo, kindFor } from './index.ts';
import {
  ANNOTATIONS_NOT_COPIED,
  CHANGE_CAUSE_ANNOTATION,
  POD_TEMPLATE_HASH_LABEL,
  byCreation,
  equalIgnoreHash,
  isControlledBy,
  revisionOf,
  templateWithoutHash,
} from './deployment-rollout.ts';

export {
  CHANGE_CAUSE_ANNOTATION,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  isControlledBy,
} from './deployment-rollout.ts';

/** Anything that lists objects of a kind in a namespace: ObjectStore, the API client. */
export interface ObjectLister {
  list(kind: KindInfo, namespace?: string): Promise<{ items: any[] }>;
}

export interface DeploymentRevision {
  revision: number;
  /** The pod template of that revision, as its ReplicaSet runs it (pod-template-hash label included). */
  template: any;
  /** When the ReplicaSet was created (RFC 3339). */
  createdAt: string;
  /** The ReplicaSet's name. */
  name: string;
  /** pod-template-hash of the template (the label its pods carry). */
  hash: string;
  changeCause?: string;
  replicaSet: any;
}

export function replicaSetKind(): KindInfo {
  const kind = kindFor('apps/v1', 'ReplicaSet');
  if (!kind) throw new Error('the apps/v1 ReplicaSet kind is not registered');
  return kind;
}

/** The ReplicaSets a Deployment controls, oldest first. */
export async function deploymentReplicaSets(objects: ObjectLister, deployment: any): Promise<any[]> {
  const { items } = await objects.list(replicaSetKind(), deployment.metadata.namespace);
  return items.filter((rs) => isControlledBy(rs, deployment)).sort(byCreation);
}

/**
 * What `kubectl describe deployment` (1.32) lists: the new ReplicaSet (the oldest running the
 * Deployment's template) as NewReplicaSet, and every other one, scaled to zero or not, as OldReplicaSets.
 */
export function splitReplicaSets(deployment: any, rss: readonly any[]): { newRS?: any; olds: any[] } {
  const sorted = [...rss].sort(byCreation);
  const newRS = sorted.find((rs) => equalIgnoreHash(rs.spec?.template, deployment.spec.template));
  return { newRS, olds: sorted.filter((rs) => rs !== newRS) };
}

export function toDeploymentRevision(rs: any): DeploymentRevision {
  const cause = rs.metadata?.annotations?.[CHANGE_CAUSE_ANNOTATION];
  return {
    revision: revisionOf(rs),
    template: rs.spec?.template,
    createdAt: rs.metadata.creationTimestamp,
    name: rs.metadata.name,
    hash: rs.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] ?? '',
    ...(cause ? { changeCause: cause } : {}),
    replicaSet: rs,
  };
}

/** The Deployment's revisions, oldest first (one per revision number, as `kubectl rollout history`). */
export async function deploymentRevisions(
  objects: ObjectLister,
  deployment: any,
): Promise<DeploymentRevision[]> {
  const byNumber = new Map<number, DeploymentRevision>();
  for (const rs of await deploymentReplicaSets(objects, deployment))
    byNumber.set(revisionOf(rs), toDeploymentRevision(rs));
  return [...byNumber.values()].sort((a, b) => a.revision - b.revision);
}

/**
 * The ReplicaSet `kubectl rollout undo` goes back to: revision `toRevision`, or by default (undefined or
 * 0) the one with the second-highest revision. Throws kubectl's errors when there is none.
 */
export async function rollbackReplicaSet(
  objects: ObjectLister,
  deployment: any,
  toRevision?: number,
): Promise<any> {
  const rss = await deploymentReplicaSets(objects, deployment);
  if (toRevision) {
    const found = rss.find((rs) => revisionOf(rs) === toRevision);
    if (!found) throw new Error(`unable to find specified revision ${toRevision} in history`);
    return found;
  }
  let latest: any;
  let previous: any;
  for (const rs of rss) {
    const v = revisionOf(rs);
    if (!latest || v > revisionOf(latest)) [previous, latest] = [latest, rs];
    else if (!previous || v > revisionOf(previous)) previous = rs;
  }
  if (!previous)
    throw new Error(`no rollout history found for deployment ${JSON.stringify(deployment.metadata.name)}`);
  return previous;
}

/** The pod template to write back into the Deployment's spec for `rollout undo` (no hash label). */
export async function rollbackTemplate(
  objects: ObjectLister,
  deployment: any,
  toRevision?: number,
): Promise<any> {
  return templateWithoutHash((await rollbackReplicaSet(objects, deployment, toRevision)).spec.template);
}

/**
 * What kubectl 1.32 sends for `rollout undo` (a JSON patch): the ReplicaSet's template without its
 * hash label, and the annotations of the ReplicaSet (the Deployment's own revision/bookkeeping ones
 * kept).
 */
export function rollbackPatch(deployment: any, rs: any): { op: 'replace'; path: string; value: any }[] {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries<string>(deployment.metadata.annotations ?? {}))
    if (ANNOTATIONS_NOT_COPIED.has(k)) annotations[k] = v;
  for (const [k, v] of Object.entries<string>(rs.metadata.annotations ?? {}))
    if (!ANNOTATIONS_NOT_COPIED.has(k)) annotations[k] = v;
  return [
    { op: 'replace', path: '/spec/template', value: templateWithoutHash(rs.spec.template) },
    { op: 'replace', path: '/metadata/annotations', value: annotations },
  ];
}
