// `strata rollout status|history|undo|restart|pause|resume` and `strata scale`, kubectl's verbs for
// Deployments, over the HTTP API. History and undo read the Deployment's ReplicaSets, as kubectl does,
// with the helpers the controller writes them by (deployment-history.ts, which needs only a lister); undo
// sends the JSON patch kubectl 1.32 sends.
import YAML from 'yaml';
import type { KindInfo } from '../api/index.ts';
import { ClientError, resourcePath, type Client } from '../client/client.ts';
import {
  deploymentRevisions,
  REVISION_ANNOTATION,
  rollbackPatch,
  rollbackReplicaSet,
} from '../api/deployment-history.ts';
import { equalIgnoreHash } from '../api/deployment-rollout.ts';
import {
  revisionTemplate,
  rollbackRevision,
  sameRevisionData,
  revisionData,
  statefulSetProgress,
  statefulSetRevisions,
} from '../api/kinds/statefulset-history.ts';
import { type CliContext, kindArg } from './context.ts';

const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';

/**
 * `deployment/NAME`, `deploy NAME`, `deployments.apps/NAME`: the workload a rollout verb is about.
 * `status` and `restart` also take daemonsets; status, restart, history and undo take statefulsets; pause
 * and resume only deployments.
 */
export function rolloutTarget(args: string[], kinds = ['Deployment']): { kind: KindInfo; name: string } {
  let kindName: string;
  let name: string | undefined;
  if (args[0]?.includes('/')) {
    [kindName, name] = [args[0].slice(0, args[0].indexOf('/')), args[0].slice(args[0].indexOf('/') + 1)];
    if (args.length > 1) throw new Error(`unexpected arguments after ${args[0]}: ${args.slice(1).join(' ')}`);
  } else {
    [kindName, name] = args;
    if (args.length > 2) throw new Error(`unexpected arguments: ${args.slice(2).join(' ')}`);
  }
  if (!kindName) throw new Error('specify a deployment: deployment/NAME');
  const kind = kindArg(kindName);
  if (!kinds.includes(kind.kind))
    throw new Error(
      kinds.length > 1
        ? `no rollouts for ${kind.plural}: use ${kinds.map((k) => `${k.toLowerCase()}/NAME`).join(' or ')}`
        : `no rollouts for ${kind.plural}: only deployments have rollouts (deployment/NAME)`,
    );
  if (!name) throw new Error(`specify the name: ${kindName}/NAME`);
  return { kind, name };
}

function ref(kind: KindInfo, name: string): string {
  return `${kind.kind.toLowerCase()}.${kind.group}/${name}`;
}

/** The client as the history helpers' ObjectLister. */
function lister(client: Client) {
  return { list: (kind: KindInfo, namespace?: string) => client.list(kind, namespace) };
}

export interface RolloutProgress {
  done: boolean;
  /** A line to print (kubectl's wording). */
  message: string;
  /** The rollout gave up (Progressing=False, ProgressDeadlineExceeded). */
  failed?: boolean;
}

/** kubectl's DaemonSetStatusViewer. */
export function daemonSetProgress(ds: any): RolloutProgress {
  const name = ds.metadata.name;
  const s = ds.status ?? {};
  if ((ds.spec.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate')
    return {
      done: false,
      failed: true,
      message: 'rollout status is only available for RollingUpdate strategy type',
    };
  if ((ds.metadata.generation ?? 0) > (s.observedGeneration ?? 0))
    return { done: false, message: 'Waiting for daemon set spec update to be observed...' };
  const desired = s.desiredNumberScheduled ?? 0;
  if ((s.updatedNumberScheduled ?? 0) < desired)
    return {
      done: false,
      message: `Waiting for daemon set "${name}" rollout to finish: ${s.updatedNumberScheduled ?? 0} out of ${desired} new pods have been updated...`,
    };
  if ((s.numberAvailable ?? 0) < desired)
    return {
      done: false,
      message: `Waiting for daemon set "${name}" rollout to finish: ${s.numberAvailable ?? 0} of ${desired} updated pods are available...`,
    };
  return { done: true, message: `daemon set "${name}" successfully rolled out` };
}

/** kubectl's DeploymentStatusViewer: where a Deployment's rollout stands. */
export function rolloutProgress(d: any): RolloutProgress {
  if (d.kind === 'DaemonSet') return daemonSetProgress(d);
  if (d.kind === 'StatefulSet') return statefulSetProgress(d);
  const name = d.metadata.name;
  const s = d.status ?? {};
  if ((d.metadata.generation ?? 0) > (s.observedGeneration ?? 0))
    return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  const progressing = (s.conditions ?? []).find((c: any) => c.type === 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded')
    return { done: false, failed: true, message: `deployment "${name}" exceeded its progress deadline` };
  const want = d.spec.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  if (updated < want)
    return {
      done: false,
      message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...`,
    };
  if ((s.replicas ?? 0) > updated)
    return {
      done: false,
      message: `Waiting for deployment "${name}" rollout to finish: ${(s.replicas ?? 0) - updated} old replicas are pending termination...`,
    };
  if ((s.availableReplicas ?? 0) < updated)
    return {
      done: false,
      message: `Waiting for deployment "${name}" rollout to finish: ${s.availableReplicas ?? 0} of ${updated} updated replicas are available...`,
    };
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

/**
 * Prints progress until the rollout completes (0), exceeds its progress deadline (error), or the
 * timeout passes (error). With watch=false, prints where it stands once.
 */
export async function rolloutStatus(
  ctx: CliContext,
  args: string[],
  o: { watch?: boolean; timeout?: number },
  out: (s: string) => void,
): Promise<void> {
  const { kind, name } = rolloutTarget(args, ['Deployment', 'DaemonSet', 'StatefulSet']);
  const deadline = o.timeout && o.timeout > 0 ? Date.now() + o.timeout * 1000 : Infinity;
  let last = '';
  for (;;) {
    const d = await ctx.client.get(kind, ctx.namespace, name);
    const p = rolloutProgress(d);
    if (p.failed) throw new Error(p.message);
    if (p.message !== last) out(p.message);
    last = p.message;
    if (p.done || o.watch === false) return;
    if (d.spec.paused && !last.startsWith('Waiting for deployment spec'))
      throw new Error(
        `deployment "${name}" is paused; resume it with: strata rollout resume deployment/${name}`,
      );
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await waitForChange(ctx.client, kind, ctx.namespace, name, d.metadata.resourceVersion, deadline);
  }
}

/** Resolves when the object changes after `rv` (a watch), or after a while anyway. */
async function waitForChange(
  client: Client,
  kind: KindInfo,
  namespace: string,
  name: string,
  rv: string,
  deadline: number,
): Promise<void> {
  const wait = Math.max(0, Math.min(5_000, deadline - Date.now()));
  await new Promise<void>((resolve) => {
    let watch: { cancel(): void } | undefined;
    const done = (): void => {
      clearTimeout(timer);
      watch?.cancel();
      resolve();
    };
    const timer = setTimeout(done, wait);
    client
      .watch(
        kind,
        namespace,
        { fieldSelector: `metadata.name=${name}`, resourceVersion: rv },
        (ev) => {
          if (ev.type !== 'BOOKMARK') done();
        },
        () => done(),
      )
      .then((w) => {
        watch = w;
      })
      .catch(() => done());
  });
}

export async function rolloutHistory(
  ctx: CliContext,
  args: string[],
  o: { revision?: number },
  out: (s: string) => void,
): Promise<void> {
  const { kind, name } = rolloutTarget(args, ['Deployment', 'StatefulSet']);
  const d = await ctx.client.get(kind, ctx.namespace, name);
  const revisions =
    kind.kind === 'StatefulSet'
      ? (await statefulSetRevisions(lister(ctx.client), d)).map((r) => ({
          revision: r.revision as number,
          template: revisionTemplate(r),
          changeCause: r.metadata.annotations?.[CHANGE_CAUSE] as string | undefined,
        }))
      : await deploymentRevisions(lister(ctx.client), d);
  if (o.revision) {
    const r = revisions.find((x) => x.revision === o.revision);
    if (!r) throw new Error('unable to find the specified revision');
    out(`${ref(kind, name)} with revision #${r.revision}`);
    out('Pod Template:');
    out(
      YAML.stringify(r.template)
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
    return;
  }
  out(ref(kind, name));
  if (revisions.length === 0) {
    out('No rollout history found.');
    return;
  }
  const rows = [
    ['REVISION', 'CHANGE-CAUSE'],
    ...revisions.map((r) => [String(r.revision), r.changeCause ?? '<none>']),
  ];
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  for (const r of rows) out(`${r[0].padEnd(w)}${r[1]}`);
}

export async function rolloutUndo(
  ctx: CliContext,
  args: string[],
  o: { toRevision?: number },
  out: (s: string) => void,
): Promise<void> {
  const { kind, name } = rolloutTarget(args, ['Deployment', 'StatefulSet']);
  const d = await ctx.client.get(kind, ctx.namespace, name);
  if (kind.kind === 'StatefulSet') return statefulSetUndo(ctx, kind, d, o.toRevision, out);
  if (d.spec.paused)
    throw new Error(
      `you cannot rollback a paused deployment; resume it first with 'strata rollout resume deployment/${name}' and try again`,
    );
  const rs = await rollbackReplicaSet(lister(ctx.client), d, o.toRevision);
  if (equalIgnoreHash(rs.spec.template, d.spec.template)) {
    const current = d.metadata.annotations?.[REVISION_ANNOTATION];
    out(
      `${ref(kind, name)} skipped rollback (current template already matches revision ${o.toRevision || current})`,
    );
    return;
  }
  // What kubectl sends: the ReplicaSet's template (no hash label) and annotations, as a JSON patch.
  await ctx.client.json('PATCH', resourcePath(kind, ctx.namespace, name), {
    body: rollbackPatch(d, rs),
    contentType: 'application/json-patch+json',
  });
  out(`${ref(kind, name)} rolled back`);
}

/** kubectl's StatefulSetRollbacker: the revision's data is a strategic merge patch, applied as it is. */
async function statefulSetUndo(
  ctx: CliContext,
  kind: KindInfo,
  sts: any,
  toRevision: number | undefined,
  out: (s: string) => void,
): Promise<void> {
  const name = sts.metadata.name;
  const target = rollbackRevision(await statefulSetRevisions(lister(ctx.client), sts), toRevision);
  if (sameRevisionData(target.data, revisionData(sts))) {
    out(`${ref(kind, name)} skipped rollback (current template already matches revision ${target.revision})`);
    return;
  }
  await ctx.client.json('PATCH', resourcePath(kind, ctx.namespace, name), {
    body: target.data,
    contentType: 'application/strategic-merge-patch+json',
  });
  out(`${ref(kind, name)} rolled back`);
}

export async function rolloutRestart(
  ctx: CliContext,
  args: string[],
  out: (s: string) => void,
): Promise<void> {
  const { kind, name } = rolloutTarget(args, ['Deployment', 'DaemonSet', 'StatefulSet']);
  const d = await ctx.client.get(kind, ctx.namespace, name);
  if (d.spec.paused)
    throw new Error(
      `${kind.plural}.${kind.group} "${name}" can't restart paused deployment (run rollout resume first)`,
    );
  await ctx.client.patch(kind, ctx.namespace, name, {
    spec: { template: { metadata: { annotations: { [RESTARTED_AT]: new Date().toISOString() } } } },
  });
  out(`${ref(kind, name)} restarted`);
}

export async function rolloutPause(
  ctx: CliContext,
  args: string[],
  paused: boolean,
  out: (s: string) => void,
): Promise<void> {
  const { kind, name } = rolloutTarget(args);
  const d = await ctx.client.get(kind, ctx.namespace, name);
  if (!!d.spec.paused === paused)
    throw new Error(`deployments.apps "${name}" is ${paused ? 'already paused' : 'not paused'}`);
  await ctx.client.patch(kind, ctx.namespace, name, {
    metadata: { resourceVersion: d.metadata.resourceVersion },
    spec: { paused: paused ? true : null },
  });
  out(`${ref(kind, name)} ${paused ? 'paused' : 'resumed'}`);
}

/** Kinds `strata scale` takes (those with a scale subresource). */
const SCALABLE = ['Deployment', 'ReplicaSet', 'StatefulSet'];

/** `strata scale deployment/NAME --replicas N [--current-replicas M]`, through the scale subresource. */
export async function scale(
  ctx: CliContext,
  args: string[],
  o: { replicas: number; currentReplicas?: number },
  out: (s: string) => void,
): Promise<void> {
  if (!Number.isInteger(o.replicas) || o.replicas < 0)
    throw new Error(`--replicas must be a non-negative integer`);
  const targets: Array<{ kind: KindInfo; name: string }> = [];
  if (args.every((a) => a.includes('/'))) {
    for (const a of args) {
      const i = a.indexOf('/');
      targets.push({ kind: kindArg(a.slice(0, i)), name: a.slice(i + 1) });
    }
  } else {
    const kind = kindArg(args[0]);
    for (const n of args.slice(1)) targets.push({ kind, name: n });
  }
  if (targets.length === 0) throw new Error('specify what to scale: deployment/NAME');
  for (const t of targets) {
    if (!SCALABLE.includes(t.kind.kind))
      throw new Error(
        `cannot scale ${t.kind.plural} "${t.name}": only deployments, replicasets and statefulsets can be scaled`,
      );
    const path = resourcePath(t.kind, ctx.namespace, t.name, 'scale');
    const current = await ctx.client.json('GET', path);
    if (o.currentReplicas !== undefined && current.spec.replicas !== o.currentReplicas)
      throw new Error(
        `Expected replicas to be ${o.currentReplicas}, was ${current.spec.replicas} (${ref(t.kind, t.name)})`,
      );
    try {
      await ctx.client.json('PATCH', path, {
        body: {
          spec: { replicas: o.replicas },
          ...(o.currentReplicas !== undefined
            ? { metadata: { resourceVersion: current.metadata.resourceVersion } }
            : {}),
        },
        contentType: 'application/merge-patch+json',
      });
    } catch (err) {
      if (err instanceof ClientError && err.code === 409)
        throw new Error(`${ref(t.kind, t.name)} changed while scaling; try again`);
      throw err;
    }
    out(`${ref(t.kind, t.name)} scaled`);
  }
}
