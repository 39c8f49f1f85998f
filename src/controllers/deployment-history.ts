// A Deployment's revision history, kept as `apps/v1` ControllerRevision objects the Deployment controller
// owns: one per distinct pod template, named `<deployment>-<pod-template-hash>`, `data: { spec: { template } }`,
// numbered by `revision` (a template that comes back — `rollout undo` — gets the next number, as in
// Kubernetes). These helpers read it for `strata rollout history|undo`; they only need something that
// lists objects (the ObjectStore in the server, the HTTP client in the CLI), and import nothing else.
import { type KindInfo, kindFor } from '../api/index.ts';

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** On the Deployment: the revision of its current template. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** Copied from the Deployment onto the revision it creates (shown by `rollout history`). */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

/** Anything that lists objects of a kind in a namespace: ObjectStore, the API client. */
export interface ObjectLister {
  list(kind: KindInfo, namespace?: string): Promise<{ items: any[] }>;
}

export interface DeploymentRevision {
  revision: number;
  /** The pod template of that revision (as it was in the Deployment's spec). */
  template: any;
  /** When this revision was first created (RFC 3339). */
  createdAt: string;
  /** The ControllerRevision's name. */
  name: string;
  /** pod-template-hash of the template (the label its pods carry). */
  hash: string;
  changeCause?: string;
}

export function controllerRevisionKind(): KindInfo {
  const kind = kindFor('apps/v1', 'ControllerRevision');
  if (!kind) throw new Error('the apps/v1 ControllerRevision kind is not registered');
  return kind;
}

/** True when `obj` has a controller ownerReference to `owner` (by uid). */
export function isControlledBy(obj: any, owner: any): boolean {
  return (obj?.metadata?.ownerReferences ?? []).some(
    (r: any) => r.controller === true && r.uid === owner?.metadata?.uid,
  );
}

/** Convert a ControllerRevision of a Deployment into a DeploymentRevision. */
export function toDeploymentRevision(cr: any): DeploymentRevision {
  const cause = cr.metadata?.annotations?.[CHANGE_CAUSE_ANNOTATION];
  return {
    revision: cr.revision,
    template: cr.data?.spec?.template,
    createdAt: cr.metadata.creationTimestamp,
    name: cr.metadata.name,
    hash: cr.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] ?? '',
    ...(cause ? { changeCause: cause } : {}),
  };
}

/** The Deployment's revisions, oldest first (at most revisionHistoryLimit old ones, plus the current one). */
export async function deploymentRevisions(
  objects: ObjectLister,
  deployment: any,
): Promise<DeploymentRevision[]> {
  const { items } = await objects.list(controllerRevisionKind(), deployment.metadata.namespace);
  return items
    .filter((cr) => isControlledBy(cr, deployment) && cr.data?.spec?.template)
    .map(toDeploymentRevision)
    .sort((a, b) => a.revision - b.revision);
}

/**
 * The pod template to write into the Deployment's spec to roll back to `toRevision` — by default (undefined
 * or 0) the revision before the current one, as `kubectl rollout undo`. Throws an Error with kubectl's
 * wording when there is no such revision. Writing the template back starts an ordinary rollout; the
 * controller then gives that template the next revision number.
 */
export async function rollbackTemplate(
  objects: ObjectLister,
  deployment: any,
  toRevision?: number,
): Promise<any> {
  const revisions = await deploymentRevisions(objects, deployment);
  const name = deployment.metadata.name;
  if (revisions.length === 0) throw new Error(`no rollout history found for deployment "${name}"`);
  let target: DeploymentRevision | undefined;
  if (toRevision) {
    target = revisions.find((r) => r.revision === toRevision);
    if (!target) throw new Error(`unable to find specified revision ${toRevision} in history`);
  } else {
    const current = Number(
      deployment.metadata.annotations?.[REVISION_ANNOTATION] ?? revisions.at(-1)!.revision,
    );
    target = revisions.filter((r) => r.revision < current).at(-1);
    if (!target) throw new Error(`no previous revision found for deployment "${name}"`);
  }
  return structuredClone(target.template);
}
