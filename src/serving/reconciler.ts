// The Knative Serving controllers, as one level-triggered loop (the cluster's serving objects are few;
// every change re-derives everything, and nothing is written unless it differs):
//   Service → Configuration + Route (same name), status mirrored from both;
//   Configuration → one immutable Revision per template generation (NAME-00001, …);
//   Revision → Deployment + private v1 Service (revision-resources.ts), status from pods and the autoscaler;
//   Route → traffic resolved to revisions, status.url http://NAME.NAMESPACE.<domain>, tag URLs, and the
//           placeholder v1 Service whose annotation is the gateway's host table.
import {
  kindFor,
  ROUTES_ANNOTATION,
  SERVING_API_VERSION,
  SERVING_LABELS,
  type Configuration,
  type KnativeCondition,
  type KnativeService,
  type Revision,
  type Route,
  type ServingRouteTable,
  type TrafficTarget,
} from '../api/index.ts';
import type { EventRecorder } from '../lib/events.ts';
import { errorMessage, type Log } from '../lib/log.ts';
import { SyncLoop } from '../lib/sync-loop.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { SharedInformers } from '../store/shared-informers.ts';
import {
  deploymentName,
  initialReplicas,
  isWasmRevision,
  revisionDeployment,
  revisionService,
} from './revision-resources.ts';

export const KIND = {
  service: kindFor(SERVING_API_VERSION, 'Service')!,
  configuration: kindFor(SERVING_API_VERSION, 'Configuration')!,
  revision: kindFor(SERVING_API_VERSION, 'Revision')!,
  route: kindFor(SERVING_API_VERSION, 'Route')!,
  deployment: kindFor('apps/v1', 'Deployment')!,
  v1Service: kindFor('v1', 'Service')!,
  pod: kindFor('v1', 'Pod')!,
};

/** Pod states that mean an instance cannot start (answered 503 by the activator, an Event on the Revision). */
const FAILING_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CrashLoopBackOff',
  'CreateContainerError',
  'CreateContainerConfigError',
  'RunContainerError',
  'StartError',
]);

/** What the autoscaler knows of a revision (the reconciler writes it into the Revision's status). */
export interface ScaleView {
  desired(namespace: string, revision: string): number | undefined;
  instances(namespace: string, revision: string): number | undefined;
}

export interface ServingReconcilerOptions {
  objects: ObjectStore;
  informers: SharedInformers;
  recorder: EventRecorder;
  log: Log;
  /** The domain of route URLs (`http://NAME.NAMESPACE.<domain>`), now (config-domain). */
  domain: () => string;
  /** Replicas a new revision starts with unless annotated, now (config-autoscaler). */
  initialScale: () => number;
  scale?: ScaleView;
}

type Obj = { metadata: { name?: string; namespace?: string; uid?: string; generation?: number } };
const keyOf = (o: Obj) => `${o.metadata.namespace}/${o.metadata.name}`;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function ownerRef(apiVersion: string, kind: string, o: Obj) {
  return {
    apiVersion,
    kind,
    name: o.metadata.name!,
    uid: o.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Conditions with lastTransitionTime kept when the status did not change. */
function conditions(
  previous: readonly KnativeCondition[] | undefined,
  next: { type: string; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string }[],
): KnativeCondition[] {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return next.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = before && before.status === c.status ? before.lastTransitionTime : now;
    return {
      type: c.type,
      status: c.status,
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.message ? { message: c.message } : {}),
      ...(lastTransitionTime ? { lastTransitionTime } : {}),
    };
  });
}

/** An object of the name this reconciler would make exists, but something else controls it (a user's own
 *  Service named like the ksvc): it is left alone, and the owner's status says so (Knative's NotOwned). */
class NotOwnedError extends Error {}

/** `current` is controlled by the controller `want` names (or `want` names none). */
function controlledAsWanted(current: any, want: any): boolean {
  const wanted = want.metadata.ownerReferences?.find((r: { controller?: boolean }) => r.controller);
  if (!wanted) return true;
  const controller = current.metadata.ownerReferences?.find((r: { controller?: boolean }) => r.controller);
  return controller?.uid === wanted.uid;
}

const readyOf = (o: { status?: { conditions?: KnativeCondition[] } } | undefined) =>
  o?.status?.conditions?.find((c) => c.type === 'Ready');

export class ServingReconciler {
  private readonly o: ServingReconcilerOptions;
  private readonly loop: SyncLoop<void>;
  private readonly removers: (() => void)[] = [];
  /** Revisions a failure Event was recorded for (once per reason). */
  private readonly warned = new Map<string, string>();

  constructor(o: ServingReconcilerOptions) {
    this.o = o;
    this.loop = new SyncLoop({ sync: () => this.sync(), log: o.log, name: 'serving', coalesceMs: 20 });
  }

  private inf(kind: (typeof KIND)[keyof typeof KIND]) {
    return this.o.informers.informerFor(kind);
  }

  async start(): Promise<void> {
    const changed = {
      onAdd: () => this.loop.schedule(),
      onUpdate: () => this.loop.schedule(),
      onDelete: () => this.loop.schedule(),
    };
    for (const k of Object.values(KIND)) this.removers.push(this.inf(k).addHandler(changed));
    // Only its own kinds: the shared factory also holds informers that may never sync (a Secret the
    // encryption configuration cannot decrypt keeps the cluster-wide Secret list failing, and waiting on it
    // hung the leader's start).
    await Promise.all(Object.values(KIND).map((k) => this.inf(k).waitForSync()));
    this.loop.schedule(0);
    this.loop.startFullSyncs();
  }

  /** Something outside the informers changed (the autoscaler's view): sync soon. */
  poke(): void {
    this.loop.schedule();
  }

  async stop(): Promise<void> {
    for (const r of this.removers.splice(0)) r();
    await this.loop.stop();
  }

  private async sync(): Promise<void> {
    const list = <T>(k: (typeof KIND)[keyof typeof KIND]) => this.inf(k).list() as T[];
    const errors: string[] = [];
    const each = async <T extends Obj>(items: T[], fn: (o: T) => Promise<void>) => {
      for (const it of items) {
        try {
          await fn(it);
        } catch (err) {
          // 409: changed meanwhile; the informer brings the new version and another sync.
          if ((err as { code?: number }).code !== 409) errors.push(`${keyOf(it)}: ${errorMessage(err)}`);
        }
      }
    };
    await each(list<KnativeService>(KIND.service), (s) => this.syncService(s));
    await each(list<Configuration>(KIND.configuration), (c) => this.syncConfiguration(c));
    await each(list<Revision>(KIND.revision), (r) => this.syncRevision(r));
    await each(list<Route>(KIND.route), (r) => this.syncRoute(r));
    if (errors.length) this.o.log.warn({ errors }, 'serving: reconcile errors');
  }

  // ---- Service ------------------------------------------------------------------------------------

  private async syncService(ksvc: KnativeService): Promise<void> {
    if ((ksvc.metadata as { deletionTimestamp?: string }).deletionTimestamp) return;
    const ns = ksvc.metadata.namespace!;
    const name = ksvc.metadata.name!;
    const labels = { [SERVING_LABELS.service]: name };
    const owner = [ownerRef(SERVING_API_VERSION, 'Service', ksvc)];
    const cfgSpec = { template: ksvc.spec.template };
    const cfg = await this.ensure(
      KIND.configuration,
      ns,
      name,
      {
        apiVersion: SERVING_API_VERSION,
        kind: 'Configuration',
        metadata: { name, namespace: ns, labels, ownerReferences: owner },
        spec: cfgSpec,
      },
      (cur) => (same(cur.spec, cfgSpec) ? undefined : { ...cur, spec: cfgSpec }),
    );
    const traffic: TrafficTarget[] = (ksvc.spec.traffic ?? [{ latestRevision: true, percent: 100 }]).map(
      (t) =>
        t.revisionName ? t : { ...t, configurationName: name, latestRevision: t.latestRevision ?? true },
    );
    const routeSpec = { traffic };
    const route = await this.ensure(
      KIND.route,
      ns,
      name,
      {
        apiVersion: SERVING_API_VERSION,
        kind: 'Route',
        metadata: { name, namespace: ns, labels, ownerReferences: owner },
        spec: routeSpec,
      },
      (cur) => (same(cur.spec, routeSpec) ? undefined : { ...cur, spec: routeSpec }),
    );
    const cfgReady = readyOf(cfg);
    const routeReady = readyOf(route);
    // A status that speaks of the current spec only once both children have caught up with it.
    const cfgCurrent = cfg?.status?.observedGeneration === cfg?.metadata.generation;
    const status = {
      observedGeneration: ksvc.metadata.generation,
      latestCreatedRevisionName: cfg?.status?.latestCreatedRevisionName,
      latestReadyRevisionName: cfg?.status?.latestReadyRevisionName,
      url: route?.status?.url,
      address: route?.status?.address,
      traffic: route?.status?.traffic,
      conditions: conditions(ksvc.status?.conditions, [
        {
          type: 'ConfigurationsReady',
          status: cfgCurrent ? (cfgReady?.status ?? 'Unknown') : 'Unknown',
          reason: cfgReady?.reason,
          message: cfgReady?.message,
        },
        { type: 'Ready', status: 'Unknown' },
        {
          type: 'RoutesReady',
          status: routeReady?.status ?? 'Unknown',
          reason: routeReady?.reason,
          message: routeReady?.message,
        },
      ]),
    };
    const [c, , r] = status.conditions;
    const ready =
      c!.status === 'True' && r!.status === 'True'
        ? 'True'
        : c!.status === 'False' || r!.status === 'False'
          ? 'False'
          : 'Unknown';
    const why = c!.status !== 'True' ? c : r!.status !== 'True' ? r : undefined;
    status.conditions[1] = conditions(ksvc.status?.conditions, [
      { type: 'Ready', status: ready, reason: why?.reason, message: why?.message },
    ])[0]!;
    await this.writeStatus(KIND.service, ksvc, status);
  }

  // ---- Configuration ------------------------------------------------------------------------------

  private async syncConfiguration(cfg: Configuration): Promise<void> {
    if ((cfg.metadata as { deletionTimestamp?: string }).deletionTimestamp) return;
    const ns = cfg.metadata.namespace!;
    const name = cfg.metadata.name!;
    const generation = cfg.metadata.generation ?? 1;
    const revName = cfg.spec.template.metadata?.name ?? `${name}-${String(generation).padStart(5, '0')}`;
    const t = cfg.spec.template;
    const service = cfg.metadata.labels?.[SERVING_LABELS.service];
    let latest = this.inf(KIND.revision).get(`${ns}/${revName}`) as Revision | undefined;
    if (!latest) {
      latest = await this.o.objects.create(
        {
          apiVersion: SERVING_API_VERSION,
          kind: 'Revision',
          metadata: {
            name: revName,
            namespace: ns,
            labels: {
              ...(t.metadata?.labels ?? {}),
              [SERVING_LABELS.configuration]: name,
              [SERVING_LABELS.configurationGeneration]: String(generation),
              ...(service ? { [SERVING_LABELS.service]: service } : {}),
            },
            annotations: t.metadata?.annotations,
            ownerReferences: [ownerRef(SERVING_API_VERSION, 'Configuration', cfg)],
          },
          spec: t.spec,
        },
        ns,
      );
      this.o.recorder.normal(cfg, 'Created', `Created Revision "${revName}"`);
    }
    const mine = (this.inf(KIND.revision).list() as Revision[])
      .filter(
        (r) => r.metadata.namespace === ns && r.metadata.labels?.[SERVING_LABELS.configuration] === name,
      )
      .sort(
        (a, b) =>
          Number(b.metadata.labels?.[SERVING_LABELS.configurationGeneration] ?? 0) -
          Number(a.metadata.labels?.[SERVING_LABELS.configurationGeneration] ?? 0),
      );
    const latestReady = mine.find((r) => readyOf(r)?.status === 'True');
    const latestCond = readyOf(latest);
    await this.writeStatus(KIND.configuration, cfg, {
      observedGeneration: generation,
      latestCreatedRevisionName: revName,
      ...(latestReady ? { latestReadyRevisionName: latestReady.metadata.name } : {}),
      conditions: conditions(cfg.status?.conditions, [
        latestCond?.status === 'True'
          ? { type: 'Ready', status: 'True' }
          : latestCond?.status === 'False'
            ? {
                type: 'Ready',
                status: 'False',
                reason: 'RevisionFailed',
                message: `Revision "${revName}" failed with message: ${latestCond.message ?? latestCond.reason ?? ''}.`,
              }
            : {
                type: 'Ready',
                status: 'Unknown',
                reason: 'RevisionMissing',
                message: `Configuration "${name}" is waiting for a Revision to become ready.`,
              },
      ]),
    });
  }

  // ---- Revision -----------------------------------------------------------------------------------

  private async syncRevision(rev: Revision): Promise<void> {
    if ((rev.metadata as { deletionTimestamp?: string }).deletionTimestamp) return;
    const ns = rev.metadata.namespace!;
    const name = rev.metadata.name!;
    const failure = this.failureOf(rev);
    const deploy = await this.ensure(
      KIND.deployment,
      ns,
      deploymentName(name),
      revisionDeployment(rev, initialReplicas(rev, this.o.initialScale())),
      () => undefined,
    );
    const wantSvc = revisionService(rev, failure?.message);
    await this.ensure(KIND.v1Service, ns, name, wantSvc, (cur) =>
      same(cur.metadata.annotations, wantSvc.metadata.annotations) && same(cur.spec.ports, wantSvc.spec.ports)
        ? undefined
        : {
            ...cur,
            metadata: { ...cur.metadata, annotations: wantSvc.metadata.annotations },
            spec: { ...cur.spec, ports: wantSvc.spec.ports },
          },
    );
    const readyPods = deploy?.status?.readyReplicas ?? 0;
    const wasReady = readyOf(rev)?.status === 'True';
    const wasm = isWasmRevision(rev);
    const instances = this.o.scale?.instances(ns, name) ?? 0;
    let ready: { type: string; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string };
    if (failure && readyPods === 0) {
      ready = { type: 'Ready', status: 'False', reason: failure.reason, message: failure.message };
      if (this.warned.get(`${ns}/${name}`) !== failure.reason) {
        this.warned.set(`${ns}/${name}`, failure.reason);
        this.o.recorder.warning(rev, 'InternalError', failure.message);
      }
    } else if (readyPods > 0 || wasReady) {
      // Knative keeps a revision Ready while it is scaled to zero: readiness was proven once.
      ready = { type: 'Ready', status: 'True' };
      this.warned.delete(`${ns}/${name}`);
    } else ready = { type: 'Ready', status: 'Unknown', reason: 'Deploying' };
    const active = wasm ? instances > 0 || readyPods > 0 : readyPods > 0;
    await this.writeStatus(KIND.revision, rev, {
      observedGeneration: rev.metadata.generation,
      // A wasm revision's replicas are its module instances; its host pod is not one.
      actualReplicas: wasm ? instances : readyPods,
      desiredReplicas: this.o.scale?.desired(ns, name) ?? deploy?.spec?.replicas ?? 0,
      ...(wasm ? { instances } : {}),
      containerStatuses: rev.spec.containers.map((c) => ({ name: c.name })),
      conditions: conditions(rev.status?.conditions, [
        {
          type: 'Active',
          status: active ? 'True' : 'False',
          ...(active ? {} : { reason: 'NoTraffic', message: 'The target is not receiving traffic.' }),
        },
        {
          type: 'ContainerHealthy',
          status: failure ? 'False' : readyPods > 0 || wasReady ? 'True' : 'Unknown',
          reason: failure?.reason,
        },
        ready,
        {
          type: 'ResourcesAvailable',
          status: failure ? 'False' : readyPods > 0 || wasReady ? 'True' : 'Unknown',
          reason: failure?.reason,
        },
      ]),
    });
  }

  /** Why the revision's instances cannot start, from its pods (the newest failure). */
  private failureOf(rev: Revision): { reason: string; message: string } | undefined {
    const name = rev.metadata.name!;
    for (const pod of this.inf(KIND.pod).list() as any[]) {
      if (
        pod.metadata.namespace !== rev.metadata.namespace ||
        pod.metadata.labels?.[SERVING_LABELS.revision] !== name
      )
        continue;
      // A pod being deleted (a scale-down) ends with a signal's exit code: that is no failure to start.
      if (pod.metadata.deletionTimestamp) continue;
      for (const cs of pod.status?.containerStatuses ?? []) {
        const waiting = cs.state?.waiting;
        const terminated = cs.state?.terminated ?? cs.lastState?.terminated;
        if (waiting && FAILING_REASONS.has(waiting.reason))
          return {
            reason: waiting.reason,
            message: `Revision "${name}": container ${cs.name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`,
          };
        if (terminated && terminated.exitCode !== 0 && (cs.restartCount ?? 0) > 0)
          return {
            reason: 'ExitCode',
            message: `Revision "${name}": container ${cs.name} exited with code ${terminated.exitCode}${terminated.message ? `: ${terminated.message}` : ''}`,
          };
      }
      if (pod.status?.phase === 'Failed')
        return {
          reason: pod.status.reason ?? 'PodFailed',
          message: `Revision "${name}": pod ${pod.metadata.name} failed${pod.status.message ? `: ${pod.status.message}` : ''}`,
        };
    }
    return undefined;
  }

  // ---- Route --------------------------------------------------------------------------------------

  private async syncRoute(route: Route): Promise<void> {
    if ((route.metadata as { deletionTimestamp?: string }).deletionTimestamp) return;
    const ns = route.metadata.namespace!;
    const name = route.metadata.name!;
    const domain = this.o.domain();
    const host = `${name}.${ns}.${domain}`;
    const resolved: (TrafficTarget & { revisionName: string })[] = [];
    let missing: string | undefined;
    for (const t of route.spec.traffic ?? []) {
      let revisionName = t.revisionName;
      if (!revisionName && t.configurationName) {
        const cfg = this.inf(KIND.configuration).get(`${ns}/${t.configurationName}`) as
          Configuration | undefined;
        revisionName = cfg?.status?.latestReadyRevisionName;
        if (!revisionName)
          missing ??= `Configuration "${t.configurationName}" does not have any ready Revision.`;
      } else if (revisionName && !this.inf(KIND.revision).get(`${ns}/${revisionName}`))
        missing ??= `Revision "${revisionName}" referenced in traffic not found.`;
      if (!revisionName) continue;
      resolved.push({
        ...(t.tag ? { tag: t.tag } : {}),
        revisionName,
        ...(t.configurationName ? { configurationName: t.configurationName } : {}),
        latestRevision: t.latestRevision ?? !t.revisionName,
        percent: t.percent ?? 0,
        ...(t.tag ? { url: `http://${t.tag}-${name}.${ns}.${domain}` } : {}),
      });
    }
    const table: ServingRouteTable = { hosts: {} };
    if (!missing) {
      const main = resolved
        .filter((t) => (t.percent ?? 0) > 0)
        .map((t) => ({ revision: t.revisionName, percent: t.percent ?? 0 }));
      for (const h of [host, `${name}.${ns}.svc.cluster.local`, `${name}.${ns}.svc`, `${name}.${ns}`])
        table.hosts[h] = main;
      for (const t of resolved)
        if (t.tag) {
          table.hosts[`${t.tag}-${name}.${ns}.${domain}`] = [{ revision: t.revisionName, percent: 100 }];
          table.hosts[`${t.tag}-${name}.${ns}.svc.cluster.local`] = [
            { revision: t.revisionName, percent: 100 },
          ];
        }
    }
    const placeholder = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name,
        namespace: ns,
        labels: { [SERVING_LABELS.route]: name },
        annotations: { [ROUTES_ANNOTATION]: JSON.stringify(table) },
        ownerReferences: [ownerRef(SERVING_API_VERSION, 'Route', route)],
      },
      // No selector, no endpoints: the node gateways answer these hosts (see ROUTES_ANNOTATION).
      spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }] },
    };
    let notOwned: string | undefined;
    try {
      await this.ensure(KIND.v1Service, ns, name, placeholder, (cur) =>
        same(
          cur.metadata.annotations?.[ROUTES_ANNOTATION],
          placeholder.metadata.annotations[ROUTES_ANNOTATION],
        )
          ? undefined
          : {
              ...cur,
              metadata: {
                ...cur.metadata,
                annotations: { ...cur.metadata.annotations, ...placeholder.metadata.annotations },
              },
            },
      );
    } catch (err) {
      if (!(err instanceof NotOwnedError)) throw err;
      notOwned = `There is an existing placeholder Service "${name}" that we do not own.`;
    }
    if (notOwned) {
      const failed = { status: 'False' as const, reason: 'NotOwned', message: notOwned };
      await this.writeStatus(KIND.route, route, {
        observedGeneration: route.metadata.generation,
        traffic: resolved,
        conditions: conditions(route.status?.conditions, [
          { type: 'AllTrafficAssigned', status: missing ? 'Unknown' : 'True' },
          { type: 'IngressReady', ...failed },
          { type: 'Ready', ...failed },
        ]),
      });
      return;
    }
    await this.writeStatus(KIND.route, route, {
      observedGeneration: route.metadata.generation,
      url: `http://${host}`,
      address: { url: `http://${name}.${ns}.svc.cluster.local` },
      traffic: resolved,
      conditions: conditions(route.status?.conditions, [
        {
          type: 'AllTrafficAssigned',
          status: missing ? 'Unknown' : 'True',
          ...(missing ? { reason: 'RevisionMissing', message: missing } : {}),
        },
        { type: 'IngressReady', status: missing ? 'Unknown' : 'True' },
        {
          type: 'Ready',
          status: missing ? 'Unknown' : 'True',
          ...(missing ? { reason: 'RevisionMissing', message: missing } : {}),
        },
      ]),
    });
  }

  // ---- writes -------------------------------------------------------------------------------------

  /** Create `want` when missing; else apply `update(current)` when it returns a new object. */
  private async ensure(
    kind: (typeof KIND)[keyof typeof KIND],
    ns: string,
    name: string,
    want: any,
    update: (current: any) => any,
  ): Promise<any> {
    const current = this.inf(kind).get(`${ns}/${name}`) ?? (await this.o.objects.get(kind, ns, name));
    if (!current) {
      try {
        return await this.o.objects.create(want, ns);
      } catch (err) {
        if ((err as { code?: number }).code === 409) return this.o.objects.get(kind, ns, name);
        throw err;
      }
    }
    if (!controlledAsWanted(current, want))
      throw new NotOwnedError(`${kind.kind} ${ns}/${name} exists and is not controlled by this reconciler`);
    const next = update(current);
    return next ? this.o.objects.update(next, ns) : current;
  }

  private async writeStatus(kind: (typeof KIND)[keyof typeof KIND], obj: any, status: object): Promise<void> {
    const clean = JSON.parse(JSON.stringify(status));
    if (same(obj.status ?? {}, clean)) return;
    // Compare without timestamps: only a real change is written.
    const strip = (s: any) => JSON.stringify(s ?? {}, (k, v) => (k === 'lastTransitionTime' ? undefined : v));
    if (strip(obj.status) === strip(clean)) return;
    await this.o.objects.updateStatus(kind, obj.metadata.namespace, obj.metadata.name, {
      metadata: { resourceVersion: obj.metadata.resourceVersion },
      status: clean,
    });
  }
}
