// ServiceProxy: the node's kube-proxy. It follows Services and EndpointSlices (two informers, fed by the
// API client in the agent) and keeps the kernel's rules in step through a ServiceDataPlane, driven by a SyncLoop: changes are
// coalesced (a burst of endpoint updates is one sync), a sync never overlaps another, a failed one is
// retried, and a full sync runs now and then to repair drift. Stopping leaves the rules in place — the
// kernel keeps serving traffic while the agent restarts, and the next start converges from them — unless
// the node is going down for good (`teardown`).
import type { EndpointSlice, Service } from '../../api/index.ts';
import { Informer, type ListWatch } from '../../lib/informer.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import { SyncLoop } from '../../lib/sync-loop.ts';
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
  private readonly log: Log;
  private services?: Informer<Service>;
  private slices?: Informer<EndpointSlice>;
  private readonly loop: SyncLoop<SyncReport>;

  constructor(opts: ServiceProxyOptions = {}) {
    this.log = opts.log ?? defaultLog;
    this.loop = new SyncLoop({
      sync: () => this.syncNow(),
      onSync: opts.onSync,
      onFullSync: () => this.dataPlane.invalidate(),
      coalesceMs: opts.coalesceMs,
      fullSyncIntervalMs: opts.fullSyncIntervalMs,
      retryMs: opts.retryMs,
      log: this.log,
      name: 'service proxy',
    });
    this.dataPlane = new ServiceDataPlane(opts);
  }

  /** Start following; resolves after the first sync (the rules match the cluster from then on). */
  async start(sources: ServiceProxySources): Promise<SyncReport | undefined> {
    const onError = (err: unknown, context: string) =>
      this.log.warn({ err: errorMessage(err) }, `service proxy: ${context}`);
    this.services = new Informer(sources.services, { onError });
    this.slices = new Informer(sources.endpointSlices, { onError });
    const changed = {
      onAdd: () => this.loop.schedule(),
      onUpdate: () => this.loop.schedule(),
      onDelete: () => this.loop.schedule(),
    };
    this.services.addHandler(changed);
    this.slices.addHandler(changed);
    this.services.start();
    this.slices.start();
    const synced = (await this.services.waitForSync()) && (await this.slices.waitForSync());
    if (!synced) return undefined;
    this.loop.startFullSyncs();
    return this.syncNow();
  }

  /** Sync at once with the informers' current view (also what start() does first). */
  async syncNow(): Promise<SyncReport> {
    return this.dataPlane.reconcile(this.services?.list() ?? [], this.slices?.list() ?? []);
  }

  /**
   * Stop following. The rules stay (traffic keeps flowing while the agent is away) unless `teardown`,
   * which removes Strata's table — what `strata down` wants.
   */
  async stop(opts: { teardown?: boolean } = {}): Promise<void> {
    const stopped = this.loop.stop();
    this.services?.stop();
    this.slices?.stop();
    await stopped;
    if (opts.teardown) await this.dataPlane.teardown();
  }
}
