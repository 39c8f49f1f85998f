// One-time upgrade of a data dir written before Deployments managed ReplicaSets. Then a Deployment
// owned its pods directly (controller reference to the Deployment, `pod-template-hash` label) and kept
// its history as ControllerRevisions `<deployment>-<hash>` (`data.spec.template`, `revision`, the
// change-cause annotation). For each such Deployment this creates the ReplicaSet of every revision —
// same name and hash, the revision number kept in its annotation, `replicas` = the pods of that template
// still running, their status as the ReplicaSet controller would report it — then hands each pod over
// to its ReplicaSet (the controller reference switched, nothing else of the pod touched, so nothing
// restarts), and finally deletes the Deployment's ControllerRevisions. DaemonSets keep theirs.
//
// It must run before the Deployment and ReplicaSet controllers start (the manager does so): a
// ReplicaSet controller seeing a new ReplicaSet before its pods are handed over would create pods for
// it. Each step is idempotent — an interrupted upgrade finishes at the next start — and when no
// ControllerRevision is owned by a Deployment it costs one list.
import { kindFor } from '../api/index.ts';
import { type Log, defaultLog, errorCode, errorMessage } from '../lib/log.ts';
import { type ObjectStore, objectKey } from '../store/objects.ts';
import { ConflictError, NotFoundError } from '../store/store.ts';
import {
  ANNOTATIONS_NOT_COPIED,
  CHANGE_CAUSE_ANNOTATION,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  desiredReplicas,
  isControlledBy,
  maxSurgeOf,
  replicaSetName,
  setReplicasAnnotations,
  templateHash,
  templateWithHash,
} from '../api/deployment-rollout.ts';
import { controllerRef, controllerRefTo, isActive } from './pods.ts';
import { calculateReplicaSetStatus } from './replicaset.ts';

const DEPLOYMENT = kindFor('apps/v1', 'Deployment')!;
const REPLICASET = kindFor('apps/v1', 'ReplicaSet')!;
const CONTROLLER_REVISION = kindFor('apps/v1', 'ControllerRevision')!;
const POD = kindFor('v1', 'Pod')!;

export interface UpgradeReport {
  deployments: number;
  replicaSets: number;
  pods: number;
  controllerRevisions: number;
}

/** What one revision of an old-style Deployment becomes. */
interface Revision {
  hash: string;
  template: any;
  revision?: number;
  changeCause?: string;
  pods: any[];
}

export async function upgradeDeploymentsToReplicaSets(
  objects: ObjectStore,
  log: Log = defaultLog,
): Promise<UpgradeReport> {
  const report: UpgradeReport = { deployments: 0, replicaSets: 0, pods: 0, controllerRevisions: 0 };
  const byDeployment = new Map<string, any[]>();
  for (const cr of (await objects.list(CONTROLLER_REVISION)).items) {
    const ref = controllerRef(cr);
    if (ref?.kind !== 'Deployment') continue;
    byDeployment.set(ref.uid, [...(byDeployment.get(ref.uid) ?? []), cr]);
  }
  if (byDeployment.size === 0) return report;
  const podsByNamespace = new Map<string, any[]>();
  for (const crs of byDeployment.values()) {
    const { namespace } = crs[0].metadata;
    const d = await objects.get(DEPLOYMENT, namespace, controllerRef(crs[0])!.name);
    // A Deployment gone (or re-created under the same name): the garbage collector takes its revisions.
    if (!d || d.metadata.uid !== controllerRef(crs[0])!.uid) continue;
    if (!podsByNamespace.has(namespace))
      podsByNamespace.set(namespace, (await objects.list(POD, namespace)).items);
    const pods = podsByNamespace.get(namespace)!.filter((p) => isControlledBy(p, d));
    try {
      await upgradeDeployment(objects, d, crs, pods, report);
      report.deployments++;
    } catch (err) {
      // Left as it was for this Deployment; the next start tries again.
      log.error(
        { deployment: `${namespace}/${d.metadata.name}`, err: errorMessage(err) },
        'deployment upgrade: could not move the deployment to replica sets',
      );
    }
  }
  log.info({ ...report }, 'deployment upgrade: deployments now manage replica sets');
  return report;
}

async function upgradeDeployment(
  objects: ObjectStore,
  d: any,
  crs: any[],
  pods: any[],
  report: UpgradeReport,
): Promise<void> {
  const revisions = new Map<string, Revision>();
  for (const cr of crs) {
    const hash = cr.metadata.labels?.[POD_TEMPLATE_HASH_LABEL];
    const template = cr.data?.spec?.template;
    if (!hash || !template) continue;
    revisions.set(hash, {
      hash,
      template,
      revision: cr.revision,
      changeCause: cr.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION],
      pods: [],
    });
  }
  const currentHash = templateHash(d.spec.template);
  for (const p of pods) {
    const hash = p.metadata.labels?.[POD_TEMPLATE_HASH_LABEL];
    if (!hash) continue;
    let r = revisions.get(hash);
    if (!r) {
      // Pods of a template whose revision is gone: their ReplicaSet runs the template they were made from.
      const revision = Number(d.metadata.annotations?.[REVISION_ANNOTATION]);
      r =
        hash === currentHash
          ? { hash, template: d.spec.template, pods: [], ...(revision ? { revision } : {}) }
          : { hash, template: templateFromPod(p), pods: [] };
      revisions.set(hash, r);
    }
    r.pods.push(p);
  }
  for (const r of revisions.values()) {
    const rs = await ensureReplicaSet(objects, d, r, report);
    for (const p of r.pods) if (await handOver(objects, d, rs, p)) report.pods++;
  }
  // The ReplicaSets' templates got today's defaults when they were created; written back through the
  // API, the Deployment's template gets them too (nothing is written when there are none), so kubectl,
  // which compares templates field by field, finds the current template's ReplicaSet.
  await objects.mutate(DEPLOYMENT, d.metadata.namespace, d.metadata.name, (x) =>
    x.metadata.uid === d.metadata.uid ? x : undefined,
  );
  for (const cr of crs) {
    try {
      await objects.delete(CONTROLLER_REVISION, cr.metadata.namespace, cr.metadata.name, {
        preconditions: { uid: cr.metadata.uid },
      });
      report.controllerRevisions++;
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
    }
  }
}

/** A template from a pod (when its revision is lost): the pod's labels, annotations and spec, unbound. */
function templateFromPod(p: any): any {
  const { nodeName: _bound, ...spec } = p.spec;
  const labels = { ...p.metadata.labels };
  delete labels[POD_TEMPLATE_HASH_LABEL];
  return {
    metadata: {
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(p.metadata.annotations ? { annotations: { ...p.metadata.annotations } } : {}),
    },
    spec,
  };
}

async function ensureReplicaSet(
  objects: ObjectStore,
  d: any,
  r: Revision,
  report: UpgradeReport,
): Promise<any> {
  const name = replicaSetName(d.metadata.name, r.hash);
  const existing = await objects.get(REPLICASET, d.metadata.namespace, name);
  if (existing) {
    if (!isControlledBy(existing, d))
      throw new Error(`replicaset ${name} exists and is not controlled by deployment ${d.metadata.name}`);
    return existing; // made by an earlier, interrupted upgrade
  }
  const template = templateWithHash(r.template, r.hash);
  const running = r.pods.filter(isActive);
  // As the Deployment controller annotates a ReplicaSet it creates; the change cause is the revision's own.
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries<string>(d.metadata.annotations ?? {}))
    if (!ANNOTATIONS_NOT_COPIED.has(k)) annotations[k] = v;
  if (r.changeCause) annotations[CHANGE_CAUSE_ANNOTATION] = r.changeCause;
  else delete annotations[CHANGE_CAUSE_ANNOTATION];
  if (r.revision !== undefined) annotations[REVISION_ANNOTATION] = String(r.revision);
  const rs = { metadata: { annotations } };
  setReplicasAnnotations(rs, desiredReplicas(d), desiredReplicas(d) + maxSurgeOf(d));
  const created = await objects.create(
    {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace: d.metadata.namespace,
        labels: { ...template.metadata.labels },
        annotations,
        ownerReferences: [controllerRefTo(d)],
      },
      spec: {
        replicas: running.length,
        minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector: {
          ...d.spec.selector,
          matchLabels: { ...d.spec.selector.matchLabels, [POD_TEMPLATE_HASH_LABEL]: r.hash },
        },
        template,
      },
    },
    d.metadata.namespace,
  );
  report.replicaSets++;
  // The status its controller would write, so the Deployment's counts do not dip while it starts.
  const status = { ...calculateReplicaSetStatus(created, running, undefined), observedGeneration: 1 };
  return objects.updateStatus(REPLICASET, d.metadata.namespace, name, { status });
}

/**
 * Switch the pod's controller from the Deployment to its ReplicaSet; true when it was switched. This is
 * a storage migration, written straight to the store (compare-and-swap on the pod's revision): only the
 * owner reference and the hash label change and the pod is otherwise exactly as stored. Through the API
 * a pod written by an earlier Strata would be re-defaulted with today's pod defaults, which a pod's
 * immutable spec refuses.
 */
async function handOver(objects: ObjectStore, d: any, rs: any, pod: any): Promise<boolean> {
  const key = objectKey(POD, pod.metadata.namespace, pod.metadata.name);
  for (let attempt = 0; attempt < 20; attempt++) {
    const kv = await objects.store.get<any>(key);
    if (!kv) return false;
    const p = structuredClone(kv.value);
    if (p.metadata.uid !== pod.metadata.uid || !isControlledBy(p, d)) return false;
    p.metadata.ownerReferences = [
      ...(p.metadata.ownerReferences ?? []).filter((ref: any) => ref.uid !== d.metadata.uid),
      controllerRefTo(rs),
    ];
    p.metadata.labels = {
      ...p.metadata.labels,
      [POD_TEMPLATE_HASH_LABEL]: rs.metadata.labels[POD_TEMPLATE_HASH_LABEL],
    };
    try {
      await objects.store.update(key, p, kv.modRevision);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      if (!(err instanceof ConflictError)) throw err;
      // Changed meanwhile (an agent writing status): read it again.
    }
  }
  throw new Error(`pod ${pod.metadata.namespace}/${pod.metadata.name} kept changing; not handed over`);
}
