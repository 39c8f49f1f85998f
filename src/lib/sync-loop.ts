// A level-triggered sync loop, the shape of every node-side reconciler that mirrors cluster state into the
// kernel (Service rules, NetworkPolicy rules): changes are coalesced (a burst of updates is one sync), a
// sync never overlaps another, a failed one is retried with exponential backoff, and a full sync runs now
// and then to repair drift made behind the loop's back.
import { type Log, errorMessage } from './log.ts';

export interface SyncLoopOptions<R> {
  /** Does one sync with the current state; throws to have it retried. */
  sync: () => Promise<R>;
  /** Told about every successful sync (metrics, tests). */
  onSync?: (report: R) => void;
  /** Before each periodic full sync (e.g. forget a cached view of the kernel so it is re-read). */
  onFullSync?: () => void;
  /** Changes arriving within this window share one sync. Default 50 ms. */
  coalesceMs?: number;
  /** A full sync this often. Default 1 h. */
  fullSyncIntervalMs?: number;
  /** Delay before retrying a failed sync (doubles up to 30 s). Default 500 ms. */
  retryMs?: number;
  log: Log;
  /** Names the loop in its log lines, e.g. 'service proxy'. */
  name: string;
}

const MAX_RETRY_MS = 30_000;

export class SyncLoop<R> {
  private readonly opts: SyncLoopOptions<R>;
  private timer?: ReturnType<typeof setTimeout>;
  private fullTimer?: ReturnType<typeof setInterval>;
  private syncing?: Promise<void>;
  private dirty = false;
  private stopped = false;
  private failures = 0;

  constructor(opts: SyncLoopOptions<R>) {
    this.opts = opts;
  }

  /** Starts the periodic full sync (call once the state is known, after the first sync). */
  startFullSyncs(): void {
    if (this.stopped || this.fullTimer) return;
    this.fullTimer = setInterval(() => {
      this.opts.onFullSync?.();
      this.schedule();
    }, this.opts.fullSyncIntervalMs ?? 3_600_000);
    this.fullTimer.unref?.();
  }

  /** Something changed: sync soon (changes within the coalescing window share the sync). */
  schedule(delayMs = this.opts.coalesceMs ?? 50): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.timer || this.syncing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
  }

  private async run(): Promise<void> {
    if (this.stopped || !this.dirty) return;
    this.dirty = false;
    this.syncing = (async () => {
      try {
        const report = await this.opts.sync();
        this.failures = 0;
        this.opts.onSync?.(report);
      } catch (err) {
        this.failures++;
        this.opts.log.error({ err: errorMessage(err) }, `${this.opts.name}: sync failed`);
        this.dirty = true;
      }
    })();
    await this.syncing;
    this.syncing = undefined;
    // Changes that came during the sync (or the failure) make another: at once, or after the backoff.
    if (this.dirty) {
      const retry = this.failures
        ? Math.min(MAX_RETRY_MS, (this.opts.retryMs ?? 500) * 2 ** (this.failures - 1))
        : undefined;
      this.schedule(retry);
    }
  }

  /** No more syncs; resolves once a sync in progress has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.fullTimer) clearInterval(this.fullTimer);
    await this.syncing;
  }
}
