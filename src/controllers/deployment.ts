// Deployment controller: keeps `spec.replicas` pods of the Deployment's template.
//
// Strata v1 has no ReplicaSets: pods belong to the Deployment directly (controller ownerReference) and
// carry `pod-template-hash`, a short stable hash of the template, so pods of an older template are
// told apart. A changed template is rolled out simply: with RollingUpdate (the default), pods of the
// new template are created up to `replicas`, and once the cache shows them, pods of older templates are
// deleted; with Recreate, older pods go first and new ones are created once they are gone. (A paced
// rolling update honouring maxSurge/maxUnavailable and readiness comes later.) A paused Deployment
// changes no pods. Finished pods (Failed, or Succeeded) and pods being deleted do not count and are
// replaced; finished ones are left for inspection, as Kubernetes does, and the garbage collector removes
// them with their Deployment.
import { type Condition, getCondition, kindFor, resolveIntOrPercent, setCondition } from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { type ObjectStore, nowRfc3339 } from '../store/objects.ts';
import { Expectations } from './expectations.ts';
import { type Log, defaultLog, errorCode, ignoreNotFound } from './log.ts';
import {
  OwnedPodIndex,
  availability,
  controllerRefTo,
  deletionOrder,
  generateNameFor,
  isActive,
  isDeleting,
  isReady,
  objectKeyOf,
} from './pods.ts';
import { SharedInformers } from './shared-informers.ts';
import { WorkQueue } from './workqueue.ts';

const DEPLOYMENT = kindFor('apps/v1', 'Deployment')!;
const POD = kindFor('v1', 'Pod')!;

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

export interface ControllerOptions {
  objects: ObjectStore;
  /** Shared with other components in the process; the caller starts and stops them. */
  informers?: SharedInformers;
  log?: Log;
  /** Keys reconciled concurrently. Default 4. */
  concurrency?: number;
}

// ---- template hash ---------------------------------------------------------------------------------

/** JSON with object keys sorted, so equal templates hash equally whatever their key order. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(s, 'utf8');
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

// Kubernetes' rand.SafeEncodeString alphabet: no vowels (no words), no look-alikes (0/o, 1/l, 3/e).
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A short stable hash of a pod template (FNV-1a of its canonical JSON, safe-encoded like Kubernetes). */
export function templateHash(template: unknown): string {
  const digits = String(fnv1a32(canonicalJson(template)));
  let out = '';
  for (let i = 0; i < digits.length; i++) out += SAFE_ALPHABET[digits.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

// ---- status ----------------------------------------------------------------------------------------

interface Counts {
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
}

function sameCondition(a: Condition | undefined, b: Condition): boolean {
  return !!a && a.status === b.status && a.reason === b.reason && a.message === b.message;
}

/** Set a condition, moving lastUpdateTime only when it changed (or `touched`). */
function putCondition(
  list: Condition[] | undefined,
  next: Condition,
  now: string,
  touched = false,
): Condition[] {
  const prev = getCondition(list, next.type);
  if (sameCondition(prev, next) && !touched) return list ?? [];
  return setCondition(list, { ...next, lastUpdateTime: now }, now);
}

export class DeploymentController {
  private readonly objects: ObjectStore;
  private readonly log: Log;
  private readonly ownInformers: boolean;
  private readonly informers: SharedInformers;
  private readonly queue: WorkQueue;
  private readonly expectations = new Expectations();
  private readonly index = new OwnedPodIndex('Deployment');
  private deployments!: Informer<any>;
  private readonly removeHandlers: (() => void)[] = [];

  constructor(opts: ControllerOptions) {
    this.objects = opts.objects;
    this.log = opts.log ?? defaultLog;
    this.ownInformers = !opts.informers;
    this.informers = opts.informers ?? new SharedInformers(opts.objects, { log: this.log });
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      concurrency: opts.concurrency,
      log: this.log,
      name: 'deployment-controller',
    });
  }

  async start(): Promise<void> {
    this.deployments = this.informers.informerFor(DEPLOYMENT);
    const pods = this.informers.informerFor(POD);
    this.removeHandlers.push(
      this.deployments.addHandler({
        onAdd: (d) => this.queue.add(objectKeyOf(d)),
        onUpdate: (_o, d) => this.queue.add(objectKeyOf(d)),
        onDelete: (d) => this.expectations.delete(objectKeyOf(d)),
      }),
      pods.addHandler({
        onAdd: (p) => {
          const ref = this.index.set(p);
          if (!ref) return;
          const key = `${p.metadata.namespace}/${ref.name}`;
          this.expectations.creationObserved(key);
          this.queue.add(key);
        },
        onUpdate: (old, p) => {
          const oldRef = this.index.delete(old);
          const ref = this.index.set(p);
          if (oldRef && oldRef.uid !== ref?.uid) this.queue.add(`${old.metadata.namespace}/${oldRef.name}`);
          if (!ref) return;
          const key = `${p.metadata.namespace}/${ref.name}`;
          if (!isDeleting(old) && isDeleting(p)) this.expectations.deletionObserved(key);
          this.queue.add(key);
        },
        onDelete: (p) => {
          const ref = this.index.delete(p);
          if (!ref) return;
          const key = `${p.metadata.namespace}/${ref.name}`;
          if (!isDeleting(p)) this.expectations.deletionObserved(key);
          this.queue.add(key);
        },
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  async stop(): Promise<void> {
    for (const remove of this.removeHandlers.splice(0)) remove();
    if (this.ownInformers) this.informers.stop();
    await this.queue.stop();
  }

  /** Resolves when no reconcile is queued or running (for tests and orderly shutdown). */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  private async reconcile(key: string): Promise<void> {
    const d = this.deployments.get(key);
    if (!d || isDeleting(d)) return;
    const { uid } = d.metadata;
    const spec = d.spec;
    const replicas: number = spec.replicas ?? 1;
    const hash = templateHash(spec.template);
    const owned = this.index.podsOf(uid);
    const active = owned.filter(isActive);
    const current = active.filter((p) => p.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] === hash);
    const old = active.filter((p) => p.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] !== hash);
    const oldIncludingTerminating = owned.filter(
      (p) =>
        p.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] !== hash &&
        !(p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed'),
    );

    let created = 0;
    let deleted = 0;
    if (!spec.paused && this.expectations.satisfied(key)) {
      const recreate = spec.strategy?.type === 'Recreate';
      if (recreate && oldIncludingTerminating.length > 0) {
        // Recreate: every old pod is gone before any new one starts.
        deleted += await this.deletePods(key, old);
      } else if (current.length < replicas) {
        created += await this.createPods(key, d, hash, replicas - current.length);
      } else {
        if (current.length > replicas) {
          deleted += await this.deletePods(
            key,
            [...current].sort(deletionOrder).slice(0, current.length - replicas),
          );
        }
        // The new template has its replicas: retire the old ones.
        if (old.length > 0) deleted += await this.deletePods(key, old);
      }
    }

    const now = Date.now();
    let readyReplicas = 0;
    let availableReplicas = 0;
    let recheckMs: number | undefined;
    for (const p of active) {
      if (isReady(p)) readyReplicas++;
      const a = availability(p, spec.minReadySeconds ?? 0, now);
      if (a.available) availableReplicas++;
      else if (a.waitMs !== undefined) recheckMs = Math.min(recheckMs ?? Infinity, a.waitMs);
    }
    const counts: Counts = {
      replicas: active.length,
      updatedReplicas: current.length,
      readyReplicas,
      availableReplicas,
    };
    const complete =
      created === 0 &&
      deleted === 0 &&
      old.length === 0 &&
      current.length === replicas &&
      current.filter((p) => availability(p, spec.minReadySeconds ?? 0, now).available).length >= replicas;
    const deadlineMs = await this.writeStatus(d, counts, replicas, complete);
    if (deadlineMs !== undefined) recheckMs = Math.min(recheckMs ?? Infinity, deadlineMs);
    if (recheckMs !== undefined) this.queue.addAfter(key, recheckMs + 10);
  }

  /** Create `n` pods in batches of growing size (1, 2, 4, ...), stopping at the first failure. */
  private async createPods(key: string, d: any, hash: string, n: number): Promise<number> {
    const template = d.spec.template;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: generateNameFor(`${d.metadata.name}-${hash}-`),
        namespace: d.metadata.namespace,
        labels: { ...template.metadata?.labels, [POD_TEMPLATE_HASH_LABEL]: hash },
        ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
        ownerReferences: [controllerRefTo(d)],
      },
      spec: template.spec,
    };
    this.expectations.expect(key, n, 0);
    let created = 0;
    for (let batch = 1; created < n; batch *= 2) {
      const size = Math.min(batch, n - created);
      const results = await Promise.allSettled(
        Array.from({ length: size }, () => this.objects.create(pod, d.metadata.namespace)),
      );
      const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      created += size - failed.length;
      if (failed.length > 0) {
        // No event will come for pods that were not created, nor for the ones never attempted.
        for (let i = 0; i < n - created; i++) this.expectations.creationObserved(key);
        throw failed[0].reason;
      }
    }
    this.log.info({ deployment: key, created }, 'deployment-controller: created pods');
    return created;
  }

  private async deletePods(key: string, pods: any[]): Promise<number> {
    if (pods.length === 0) return 0;
    this.expectations.expect(key, 0, pods.length);
    const results = await Promise.allSettled(
      pods.map((p) =>
        this.objects.delete(POD, p.metadata.namespace, p.metadata.name, {
          preconditions: { uid: p.metadata.uid },
        }),
      ),
    );
    let firstError: unknown;
    results.forEach((r) => {
      if (r.status === 'fulfilled') return;
      this.expectations.deletionObserved(key);
      if (errorCode(r.reason) !== 404 && firstError === undefined) firstError = r.reason;
    });
    if (firstError !== undefined) throw firstError;
    this.log.info({ deployment: key, deleted: pods.length }, 'deployment-controller: deleted pods');
    return pods.length;
  }

  /**
   * Write status when it changed. Returns ms until the progress deadline would pass, when the rollout is
   * still in progress, so the caller re-checks then.
   */
  private async writeStatus(
    d: any,
    counts: Counts,
    replicas: number,
    complete: boolean,
  ): Promise<number | undefined> {
    const { namespace, name, uid, generation } = d.metadata;
    const spec = d.spec;
    let deadlineMs: number | undefined;
    await ignoreNotFound(
      this.objects.mutate(
        DEPLOYMENT,
        namespace,
        name,
        (obj) => {
          if (obj.metadata.uid !== uid) return undefined;
          const prev = obj.status ?? {};
          const now = nowRfc3339();
          const maxUnavailable =
            spec.strategy?.type === 'RollingUpdate' && replicas > 0
              ? Math.min(
                  replicas,
                  resolveIntOrPercent(spec.strategy.rollingUpdate?.maxUnavailable ?? '25%', replicas, false),
                )
              : 0;
          let conditions: Condition[] | undefined = prev.conditions;
          conditions = putCondition(
            conditions,
            counts.availableReplicas >= replicas - maxUnavailable
              ? {
                  type: 'Available',
                  status: 'True',
                  reason: 'MinimumReplicasAvailable',
                  message: 'Deployment has minimum availability.',
                }
              : {
                  type: 'Available',
                  status: 'False',
                  reason: 'MinimumReplicasUnavailable',
                  message: 'Deployment does not have minimum availability.',
                },
            now,
          );
          const progressed =
            prev.replicas !== counts.replicas ||
            prev.updatedReplicas !== counts.updatedReplicas ||
            prev.readyReplicas !== counts.readyReplicas ||
            prev.availableReplicas !== counts.availableReplicas ||
            prev.observedGeneration !== generation;
          const prevProgressing = getCondition(conditions, 'Progressing');
          let progressing: Condition;
          if (spec.paused) {
            progressing = {
              type: 'Progressing',
              status: 'Unknown',
              reason: 'DeploymentPaused',
              message: 'Deployment is paused',
            };
          } else if (complete) {
            progressing = {
              type: 'Progressing',
              status: 'True',
              reason: 'NewReplicaSetAvailable',
              message: `Deployment ${JSON.stringify(name)} has successfully progressed.`,
            };
          } else {
            progressing = {
              type: 'Progressing',
              status: 'True',
              reason: 'ReplicaSetUpdated',
              message: `Deployment ${JSON.stringify(name)} is progressing.`,
            };
            const deadline = (spec.progressDeadlineSeconds ?? 600) * 1000;
            const lastUpdate = Date.parse(prevProgressing?.lastUpdateTime ?? '');
            if (!progressed && prevProgressing && Number.isFinite(lastUpdate)) {
              const left = lastUpdate + deadline - Date.now();
              if (left <= 0 || prevProgressing.reason === 'ProgressDeadlineExceeded') {
                progressing = {
                  type: 'Progressing',
                  status: 'False',
                  reason: 'ProgressDeadlineExceeded',
                  message: `Deployment ${JSON.stringify(name)} has timed out progressing.`,
                };
              } else deadlineMs = left;
            } else deadlineMs = deadline;
          }
          conditions = putCondition(
            conditions,
            progressing,
            now,
            progressed && progressing.reason === 'ReplicaSetUpdated',
          );
          const status = {
            observedGeneration: generation,
            replicas: counts.replicas,
            updatedReplicas: counts.updatedReplicas,
            readyReplicas: counts.readyReplicas,
            availableReplicas: counts.availableReplicas,
            unavailableReplicas: Math.max(0, replicas - counts.availableReplicas),
            conditions,
          };
          if (JSON.stringify(status) === JSON.stringify(prev)) return undefined;
          obj.status = status;
          return obj;
        },
        'status',
      ),
    );
    return deadlineMs;
  }
}
