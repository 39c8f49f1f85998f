// The KPA-style autoscaler: it reads what each node's gateway reports per revision (the
// `stats.serving.strata.dev/<node>` annotations on the Revision, written about once a second while the
// revision has traffic, and at once when a request is held at zero), keeps the samples of the stable
// window, and every tick decides each revision's scale (kpa.ts) and writes it into the revision's
// Deployment. A request held at zero is acted on as soon as its report arrives, not at the next tick.
import { STATS_ANNOTATION_PREFIX, type Revision, type RevisionStats } from '../api/index.ts';
import { errorMessage, type Log } from '../lib/log.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { SharedInformers } from '../store/shared-informers.ts';
import { scalingSpec, type AutoscalerDefaults } from './config.ts';
import { decide, newDeciderState, type DeciderState, type Decision } from './kpa.ts';
import { KIND, type ScaleView } from './reconciler.ts';
import { deploymentName, isWasmRevision } from './revision-resources.ts';

export interface AutoscalerOptions {
  objects: ObjectStore;
  informers: SharedInformers;
  /** The cluster defaults now (config-autoscaler). */
  defaults: () => AutoscalerDefaults;
  log: Log;
  /** Decision interval. Knative: 2 s. Default 1 s. */
  tickMs?: number;
  /** Told when a revision's desired scale or instance count changed (the reconciler writes status). */
  onChange?: () => void;
}

/** Reports older than this no longer count as "now" (held, in flight). */
const FRESH_MS = 5_000;

interface Sample {
  node: string;
  stats: RevisionStats;
}

interface RevisionState {
  samples: Sample[];
  latest: Map<string, RevisionStats>;
  decider: DeciderState;
  lastRequestAt?: number;
  decision?: Decision;
}

export class Autoscaler implements ScaleView {
  private readonly o: AutoscalerOptions;
  private readonly state = new Map<string, RevisionState>();
  private timer?: ReturnType<typeof setInterval>;
  private remove?: () => void;
  private ticking?: Promise<void>;

  constructor(o: AutoscalerOptions) {
    this.o = o;
  }

  start(): void {
    const revisions = this.o.informers.informerFor(KIND.revision);
    this.remove = revisions.addHandler({
      onAdd: (r) => this.ingest(r),
      onUpdate: (_o, r) => this.ingest(r),
      onDelete: (r) => this.state.delete(`${r.metadata.namespace}/${r.metadata.name}`),
    });
    this.timer = setInterval(() => void this.tick(), this.o.tickMs ?? 1000);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    this.remove?.();
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
  }

  desired(namespace: string, revision: string): number | undefined {
    return this.state.get(`${namespace}/${revision}`)?.decision?.desired;
  }

  /** Requests in flight on every node now: a wasm revision's live module instances. */
  instances(namespace: string, revision: string): number | undefined {
    const s = this.state.get(`${namespace}/${revision}`);
    if (!s) return undefined;
    const now = Date.now();
    let n = 0;
    for (const st of s.latest.values()) if (now - st.at < FRESH_MS) n += st.inFlight;
    return n;
  }

  private stateOf(rev: Revision): RevisionState {
    const key = `${rev.metadata.namespace}/${rev.metadata.name}`;
    let s = this.state.get(key);
    if (!s) {
      const created = Date.parse(rev.metadata.creationTimestamp ?? '') || Date.now();
      s = { samples: [], latest: new Map(), decider: newDeciderState(created) };
      this.state.set(key, s);
    }
    return s;
  }

  /** New reports from the revision's annotations; a held request at zero is acted on at once. */
  private ingest(rev: Revision): void {
    const s = this.stateOf(rev);
    let urgent = false;
    for (const [k, v] of Object.entries(rev.metadata.annotations ?? {})) {
      if (!k.startsWith(STATS_ANNOTATION_PREFIX)) continue;
      const node = k.slice(STATS_ANNOTATION_PREFIX.length);
      let stats: RevisionStats;
      try {
        stats = JSON.parse(v) as RevisionStats;
      } catch {
        continue;
      }
      const prev = s.latest.get(node);
      if (prev && prev.at >= stats.at) continue;
      s.latest.set(node, stats);
      s.samples.push({ node, stats });
      if (stats.rps > 0 || stats.concurrency > 0 || stats.held > 0 || stats.inFlight > 0)
        s.lastRequestAt = Math.max(s.lastRequestAt ?? 0, stats.at);
      if (stats.held > 0) urgent = true;
    }
    this.o.onChange?.();
    if (urgent) void this.scale(rev);
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = (async () => {
      for (const rev of this.o.informers.informerFor(KIND.revision).list() as Revision[]) {
        try {
          await this.scale(rev);
        } catch (err) {
          if ((err as { code?: number }).code !== 409)
            this.o.log.warn(
              { revision: rev.metadata.name, err: errorMessage(err) },
              'autoscaler: scale failed',
            );
        }
      }
    })();
    try {
      await this.ticking;
    } finally {
      this.ticking = undefined;
    }
  }

  /** The metric averaged over a window ending now: Σ value × interval / window, summed over nodes. */
  private average(s: RevisionState, metric: 'concurrency' | 'rps', windowMs: number, now: number): number {
    let total = 0;
    for (const { stats } of s.samples) {
      if (now - stats.at > windowMs) continue;
      total += stats[metric] * Math.min(stats.intervalMs, windowMs);
    }
    return total / windowMs;
  }

  private async scale(rev: Revision): Promise<void> {
    if ((rev.metadata as { deletionTimestamp?: string }).deletionTimestamp) return;
    const ns = rev.metadata.namespace!;
    const name = rev.metadata.name!;
    const s = this.stateOf(rev);
    const spec = scalingSpec(rev.metadata.annotations, rev.spec.containerConcurrency, this.o.defaults());
    const now = Date.now();
    s.samples = s.samples.filter((x) => now - x.stats.at <= spec.stableWindowMs);
    const deploy = this.o.informers.informerFor(KIND.deployment).get(`${ns}/${deploymentName(name)}`);
    if (!deploy) return;
    const wasm = isWasmRevision(rev);
    let held = 0;
    let inFlight = 0;
    for (const st of s.latest.values())
      if (now - st.at < FRESH_MS) {
        held += st.held;
        inFlight += st.inFlight;
      }
    const decision = decide(
      spec,
      {
        now,
        stable: this.average(s, spec.metric, spec.stableWindowMs, now),
        panic: this.average(s, spec.metric, spec.panicWindowMs, now),
        // A wasm revision's "instances" are its requests in flight: its host pods are not what scales.
        ready: wasm ? inFlight : (deploy.status?.readyReplicas ?? 0),
        held,
        lastRequestAt: s.lastRequestAt,
      },
      s.decider,
    );
    // Until the revision has proven it can serve once, it keeps its initial scale (Knative's activation):
    // a slow first start must not be scaled away before it is ready.
    const provenReady = rev.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (!provenReady && decision.desired < spec.initialScale) {
      decision.desired = spec.maxScale > 0 ? Math.min(spec.initialScale, spec.maxScale) : spec.initialScale;
      decision.reason = 'not ready yet: initial scale';
    }
    const changed = s.decision?.desired !== decision.desired;
    s.decision = decision;
    // A wasm revision keeps one placed host pod at zero (its cached module): the cold path is an instantiate.
    const replicas = wasm ? Math.max(1, decision.desired) : decision.desired;
    if (deploy.spec.replicas !== replicas) {
      this.o.log.info(
        { revision: `${ns}/${name}`, from: deploy.spec.replicas, to: replicas, reason: decision.reason },
        'autoscaler: scaling',
      );
      await this.o.objects.update({ ...deploy, spec: { ...deploy.spec, replicas } }, ns);
    }
    if (changed) this.o.onChange?.();
  }
}
