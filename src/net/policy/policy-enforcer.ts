// PolicyEnforcer: the node's NetworkPolicy agent. It follows NetworkPolicies, Pods and Namespaces (three
// informers fed by the agent's API client) and keeps the kernel's policy table in step through a
// PolicyDataPlane: changes are coalesced (a Deployment scaling is one sync), syncs never overlap, a failed
// one is retried with backoff, and a full sync runs now and then to repair drift. Stopping leaves the
// rules in place (isolation holds while the agent restarts; the next start converges from them) unless
// the node goes down for good (`teardown`).
import type { Namespace, NetworkPolicy, Pod } from '../../api/index.ts';
import { Informer, type ListWatch } from '../../lib/informer.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import { SyncLoop } from '../../lib/sync-loop.ts';
import { PolicyDataPlane, type PolicyDataPlaneOptions, type PolicySyncReport } from './data-plane.ts';
import { planPolicies } from './plan.ts';

export interface PolicySources {
  policies: ListWatch<NetworkPolicy>;
  pods: ListWatch<Pod>;
  namespaces: ListWatch<Namespace>;
}

export interface PolicyEnforcerOptions extends PolicyDataPlaneOptions {
  /** Changes arriving within this window share one sync. Default 50 ms. */
  coalesceMs?: number;
  /** A full sync (table rewritten) this often. Default 1 h. */
  fullSyncIntervalMs?: number;
  /** Delay before retrying a failed sync (doubles to 30 s). Default 500 ms. */
  retryMs?: number;
  onSync?: (report: PolicySyncReport) => void;
}

/** Pod fields that change what the rules hold: address, labels, named ports, being finished. */
function podKey(p: Pod): string {
  return JSON.stringify([
    p.status?.podIP,
    p.status?.phase,
    p.metadata.labels,
    p.spec.containers?.map((c) => c.ports),
  ]);
}

export class PolicyEnforcer {
  readonly dataPlane: PolicyDataPlane;
  private readonly log: Log;
  private policies?: Informer<NetworkPolicy>;
  private pods?: Informer<Pod>;
  private namespaces?: Informer<Namespace>;
  private readonly loop: SyncLoop<PolicySyncReport>;

  constructor(opts: PolicyEnforcerOptions = {}) {
    this.log = opts.log ?? defaultLog;
    this.loop = new SyncLoop({
      sync: () => this.syncNow(),
      onSync: opts.onSync,
      onFullSync: () => this.dataPlane.invalidate(),
      coalesceMs: opts.coalesceMs,
      fullSyncIntervalMs: opts.fullSyncIntervalMs,
      retryMs: opts.retryMs,
      log: this.log,
      name: 'network policy',
    });
    this.dataPlane = new PolicyDataPlane(opts);
  }

  /** Start following; resolves after the first sync (the kernel enforces the cluster's policies). */
  async start(sources: PolicySources): Promise<PolicySyncReport | undefined> {
    const onError = (err: unknown, context: string) =>
      this.log.warn({ err: errorMessage(err) }, `network policy: ${context}`);
    this.policies = new Informer(sources.policies, { onError });
    this.pods = new Informer(sources.pods, { onError });
    this.namespaces = new Informer(sources.namespaces, { onError });
    const changed = {
      onAdd: () => this.loop.schedule(),
      onUpdate: () => this.loop.schedule(),
      onDelete: () => this.loop.schedule(),
    };
    this.policies.addHandler(changed);
    this.namespaces.addHandler(changed);
    // Pods change often (status, conditions); only what the rules hold triggers a sync.
    this.pods.addHandler({
      onAdd: () => this.loop.schedule(),
      onDelete: () => this.loop.schedule(),
      onUpdate: (a, b) => {
        if (podKey(a) !== podKey(b)) this.loop.schedule();
      },
    });
    for (const i of [this.policies, this.pods, this.namespaces]) i.start();
    const synced =
      (await this.policies.waitForSync()) &&
      (await this.pods.waitForSync()) &&
      (await this.namespaces.waitForSync());
    if (!synced) return undefined;
    this.loop.startFullSyncs();
    return this.syncNow();
  }

  /** Sync at once with the informers' current view. */
  async syncNow(): Promise<PolicySyncReport> {
    const plans = planPolicies(
      this.policies?.list() ?? [],
      this.pods?.list() ?? [],
      this.namespaces?.list() ?? [],
    );
    return this.dataPlane.reconcile(plans);
  }

  /** Stop following; the rules stay unless `teardown` (the node going down: `strata down`). */
  async stop(opts: { teardown?: boolean } = {}): Promise<void> {
    const stopped = this.loop.stop();
    this.policies?.stop();
    this.pods?.stop();
    this.namespaces?.stop();
    await stopped;
    if (opts.teardown) await this.dataPlane.teardown();
  }
}
