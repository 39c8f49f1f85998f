// ServiceProxy: the node's kube-proxy. It follows Services and EndpointSlices (two informers, fed by the
// API client in the agent) and keeps the kernel's rules in step through a ServiceDataPlane: changes are
// coalesced (a burst of endpoint updates is one sync), a sync never overlaps another, a failed one is
// retried, and a full sync runs now and then to repair drift. Stopping leaves the rules in place — the
// kernel keeps serving traffic while the agent restarts, and the next start converges from them — unless
// the node is going down for good (`teardown`).
import type { EndpointSlice, Service } from '../../api/index.ts';
import { Informer, type ListWatch } from '../../lib/informer.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import { ServiceDataPlane, type ServiceDataPlaneOptions, type SyncReport } from './data-plane.ts';

export interface ServiceProxySources {
  services: ListWatch<Service>;
  endpointSlices: ListWatch<EndpointSlice>;
}

export interface ServiceProxyOptions extends ServiceDataPlaneOptions {
  /** Changes arriving within this window share one sync. Default 50 ms. */
  coalesceMs?: number;
  /** A full sync (re-reads the table, repairs drift) this often. Default 1 h. */
  fullSyncIntervalMs?: number;
  /** Delay before retrying a failed sync (doubles to 30 s). Default 500 ms. */
  retryMs?: number;
  /** Told about every sync (metrics, tests). */
  onSync?: (report: SyncReport) => void;
}

export class ServiceProxy {
  readonly dataPlane: ServiceDataPlane;
  private readonly opts: ServiceProxyOptions;
  private readonly log: Log;
  private services?: Informer<Service>;
  private slices?: Informer<EndpointSlice>;
  private timer?: ReturnType<typeof setTimeout>;
  private fullTimer?: ReturnType<typeof setInterval>;
  private syncing?: Promise<void>;
  private dirty = false;
  private stopped = false;
  private failures = 0;

  constructor(opts: ServiceProxyOptions = {}) {
    this.opts = opts;
    this.log = opts.log ?? defaultLog;
    this.dataPlane = new ServiceDataPlane(opts);
  }

  /** Start following; resolves after the first sync (the rules match the cluster from then on). */
  async start(sources: ServiceProxySources): Promise<SyncReport | undefined> {
    const onError = (err: unknown, context: string) =>
      this.log.warn({ err: errorMessage(err) }, `service proxy: ${context}`);
    this.services = new Informer(sources.services, { onError });
    this.slices = new Informer(sources.endpointSlices, { onError });
    const changed = {
      onAdd: () => this.schedule(),
      onUpdate: () => this.schedule(),
      onDelete: () => this.schedule(),
    };
    this.services.addHandler(changed);
    this.slices.addHandler(changed);
    this.services.start();
    this.slices.start();
    const synced = (await this.services.waitForSync()) && (await this.slices.waitForSync());
    if (!synced) return undefined;
    this.fullTimer = setInterval(() => {
      this.dataPlane.invalidate();
      this.schedule();
    }, this.opts.fullSyncIntervalMs ?? 3_600_000);
    this.fullTimer.unref?.();
    return this.syncNow();
  }

  /** Sync at once with the informers' current view (also what start() does first). */
  async syncNow(): Promise<SyncReport> {
    return this.dataPlane.reconcile(this.services?.list() ?? [], this.slices?.list() ?? []);
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
        this.log.error({ err: errorMessage(err) }, 'service proxy: sync failed');
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

  /**
   * Stop following. The rules stay (traffic keeps flowing while the agent is away) unless `teardown`,
   * which removes Strata's table — what `strata down` wants.
   */
  async stop(opts: { teardown?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.fullTimer) clearInterval(this.fullTimer);
    this.services?.stop();
    this.slices?.stop();
    await this.syncing;
    if (opts.teardown) await this.dataPlane.teardown();
  }
}
