// PolicyEnforcer: the node's NetworkPolicy agent. It follows NetworkPolicies, Pods and Namespaces (three
// informers fed by the agent's API client) and keeps the kernel's policy table in step through a
// PolicyDataPlane: changes are coalesced (a Deployment scaling is one sync), syncs never overlap, a failed
// one is retried with backoff, and a full sync runs now and then to repair drift. Stopping leaves the
// rules in place (isolation holds while the agent restarts; the next start converges from them) unless
// the node goes down for good (`teardown`).
import type { Namespace, NetworkPolicy, Pod } from '../../api/index.ts';
import { Informer, type ListWatch } from '../../lib/informer.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
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
  private readonly opts: PolicyEnforcerOptions;
  private readonly log: Log;
  private policies?: Informer<NetworkPolicy>;
  private pods?: Informer<Pod>;
  private namespaces?: Informer<Namespace>;
  private timer?: ReturnType<typeof setTimeout>;
  private fullTimer?: ReturnType<typeof setInterval>;
  private syncing?: Promise<void>;
  private dirty = false;
  private stopped = false;
  private failures = 0;

  constructor(opts: PolicyEnforcerOptions = {}) {
    this.opts = opts;
    this.log = opts.log ?? defaultLog;
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
      onAdd: () => this.schedule(),
      onUpdate: () => this.schedule(),
      onDelete: () => this.schedule(),
    };
    this.policies.addHandler(changed);
    this.namespaces.addHandler(changed);
    // Pods change often (status, conditions); only what the rules hold triggers a sync.
    this.pods.addHandler({
      onAdd: () => this.schedule(),
      onDelete: () => this.schedule(),
      onUpdate: (a, b) => {
        if (podKey(a) !== podKey(b)) this.schedule();
      },
    });
    for (const i of [this.policies, this.pods, this.namespaces]) i.start();
    const synced =
      (await this.policies.waitForSync()) &&
      (await this.pods.waitForSync()) &&
      (await this.namespaces.waitForSync());
    if (!synced) return undefined;
    this.fullTimer = setInterval(() => {
      this.dataPlane.invalidate();
      this.schedule();
    }, this.opts.fullSyncIntervalMs ?? 3_600_000);
    this.fullTimer.unref?.();
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

  private schedule(delayMs = this.opts.coalesceMs ?? 50): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.timer || this.syncing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runSync();
    }, delayMs);
  }

  private async runSync(): Promise<void> {
    if (this.stopped || !this.dirty) return;
    this.dirty = false;
    this.syncing = (async () => {
      try {
        const report = await this.syncNow();
        this.failures = 0;
        this.opts.onSync?.(report);
      } catch (err) {
        this.failures++;
        this.log.error({ err: errorMessage(err) }, 'network policy: sync failed');
        this.dirty = true;
      }
    })();
    await this.syncing;
    this.syncing = undefined;
    if (this.dirty) {
      const retry = this.failures
        ? Math.min(30_000, (this.opts.retryMs ?? 500) * 2 ** (this.failures - 1))
        : undefined;
      this.schedule(retry);
    }
  }

  /** Stop following; the rules stay unless `teardown` (the node going down: `strata down`). */
  async stop(opts: { teardown?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.fullTimer) clearInterval(this.fullTimer);
    this.policies?.stop();
    this.pods?.stop();
    this.namespaces?.stop();
    await this.syncing;
    if (opts.teardown) await this.dataPlane.teardown();
  }
}
