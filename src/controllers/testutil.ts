// Helpers for the controller and scheduler tests: a real sqlite-backed ObjectStore in a temp dir,
// polling, and object builders. Not used outside tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kindFor } from '../api/index.ts';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { ensureDefaultNamespaces } from './namespace.ts';
import { type NodeSpecForTest, nodeObject, podObject } from '../api/testing/objects.ts';

// The plain object builders live with the api (the scheduler's tests use them too).
export {
  type NodeSpecForTest,
  nodeObject,
  nodeStatus,
  type PodSpecForTest,
  podObject,
} from '../api/testing/objects.ts';

export const POD = kindFor('v1', 'Pod')!;
export const NODE = kindFor('v1', 'Node')!;
export const NAMESPACE = kindFor('v1', 'Namespace')!;
export const DEPLOYMENT = kindFor('apps/v1', 'Deployment')!;
export const JOB = kindFor('batch/v1', 'Job')!;
export const LEASE = kindFor('coordination.k8s.io/v1', 'Lease')!;
export const CONFIGMAP = kindFor('v1', 'ConfigMap')!;

export interface TestObjects {
  objects: ObjectStore;
  close(): Promise<void>;
}

export async function openTestObjects(): Promise<TestObjects> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-ctrl-'));
  const store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await ensureDefaultNamespaces(objects);
  return {
    objects,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll `fn` until it returns a truthy value (returned); fail with `what` after timeoutMs. */
export async function until<T>(
  fn: () => T | Promise<T>,
  what = 'condition',
  timeoutMs = 10_000,
): Promise<NonNullable<Exclude<T, false | 0 | ''>>> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<Exclude<T, false | 0 | ''>>;
    } catch (err) {
      last = err;
    }
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Create a Node and set its status through the status subresource, as an agent does. */
export async function createNode(objects: ObjectStore, n: NodeSpecForTest): Promise<any> {
  const node = nodeObject(n);
  await objects.create(node);
  return objects.updateStatus(NODE, undefined, n.name, { status: node.status });
}

export function condition(obj: any, type: string): any {
  return (obj?.status?.conditions ?? []).find((c: any) => c.type === type);
}

export const EVENT = kindFor('v1', 'Event')!;
export const CONTROLLER_REVISION = kindFor('apps/v1', 'ControllerRevision')!;
export const DAEMONSET = kindFor('apps/v1', 'DaemonSet')!;
export const CRONJOB = kindFor('batch/v1', 'CronJob')!;
export const PDB = kindFor('policy/v1', 'PodDisruptionBudget')!;

/** Mark a pod Running and Ready (or not), as an agent whose readiness probe passed would. */
export async function setPodReady(objects: ObjectStore, pod: any, ready = true): Promise<any> {
  return objects.mutate(
    POD,
    pod.metadata.namespace,
    pod.metadata.name,
    (p) => {
      if (p.metadata.uid !== pod.metadata.uid) return undefined;
      const conditions = (p.status?.conditions ?? []).filter((c: any) => c.type !== 'Ready');
      conditions.push({
        type: 'Ready',
        status: ready ? 'True' : 'False',
        lastTransitionTime: new Date().toISOString(),
      });
      p.status = { ...p.status, phase: 'Running', conditions };
      return p;
    },
    'status',
  );
}

/**
 * A stand-in for the node agents: every new pod for which `ready(pod)` holds is marked Running and
 * Ready right after it appears, and pods marked for graceful deletion are finalised at once (as an agent
 * does once their containers stopped). Returns a function that stops it.
 */
export async function simulateAgent(
  objects: ObjectStore,
  ready: (pod: any) => boolean = () => true,
): Promise<() => void> {
  const w = await objects.watch(POD, undefined, undefined, (ev) => {
    const p = ev.object;
    if (ev.type === 'DELETED') return;
    if (p.metadata.deletionTimestamp) {
      void objects
        .delete(POD, p.metadata.namespace, p.metadata.name, {
          gracePeriodSeconds: 0,
          preconditions: { uid: p.metadata.uid },
        })
        .catch(() => undefined);
      return;
    }
    if (ev.type === 'ADDED' && ready(p)) void setPodReady(objects, p).catch(() => undefined);
  });
  return () => w.cancel();
}

/** Events about an object (by kind and name), oldest first. */
export async function eventsFor(objects: ObjectStore, kind: string, name: string): Promise<any[]> {
  const { items } = await objects.list(EVENT);
  return items
    .filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name)
    .sort((a, b) => (a.firstTimestamp < b.firstTimestamp ? -1 : 1));
}

// ---- disruption budgets (the disruption controller's tests and the eviction API's) ---------------------

/** A Ready pod on node n1, labelled `app: web` unless told otherwise. */
export async function readyPodFor(
  objects: ObjectStore,
  name: string,
  labels: Record<string, string> = { app: 'web' },
  extra: any = {},
): Promise<any> {
  const p = podObject({ name, nodeName: 'n1' });
  p.metadata.labels = labels;
  Object.assign(p.metadata, extra);
  return setPodReady(objects, await objects.create(p));
}

/** A PodDisruptionBudget in `default` selecting `app: web` unless `spec` says otherwise. */
export function pdbObject(name: string, spec: Record<string, unknown>): any {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: 'default' },
    spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
  };
}

/** The budget's status once `check` holds. */
export async function budgetStatusOf(
  objects: ObjectStore,
  name: string,
  check: (s: any) => boolean,
): Promise<any> {
  return until(async () => {
    const s = (await objects.get(PDB, 'default', name))?.status;
    return s && check(s) && s;
  }, `status of ${name}`);
}

export const isPodDeleting = async (objects: ObjectStore, name: string) =>
  !!(await objects.get(POD, 'default', name))?.metadata.deletionTimestamp;
