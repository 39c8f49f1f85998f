// What every queue-driven controller shares: the store, a logger, an event recorder (its own unless the
// manager passes one), the shared informers (its own unless passed), a work queue that runs `reconcile`
// one key at a time, and a stop() that undoes all of it in order.
import type { EventRecorder } from '../lib/events.ts';
import { type Log, defaultLog } from '../lib/log.ts';
import type { ObjectStore } from '../store/objects.ts';
import { type ControllerOptions, recorderFor } from './options.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import { WorkQueue } from './workqueue.ts';

export abstract class QueuedController {
  protected readonly objects: ObjectStore;
  protected readonly log: Log;
  protected readonly recorder: EventRecorder;
  protected readonly informers: SharedInformers;
  protected readonly queue: WorkQueue;
  /** Informer handler removers, called by stop(). */
  protected readonly removeHandlers: (() => void)[] = [];
  protected readonly ownInformers: boolean;
  private readonly ownRecorder: boolean;

  constructor(opts: ControllerOptions, component: string) {
    this.objects = opts.objects;
    this.log = opts.log ?? defaultLog;
    ({ recorder: this.recorder, owned: this.ownRecorder } = recorderFor(opts, component));
    this.ownInformers = !opts.informers;
    this.informers = opts.informers?.scoped() ?? new SharedInformers(opts.objects, { log: this.log });
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      concurrency: opts.concurrency,
      log: this.log,
      name: component,
    });
  }

  protected abstract reconcile(key: string): Promise<void>;

  async stop(): Promise<void> {
    for (const remove of this.removeHandlers.splice(0)) remove();
    if (this.ownInformers) this.informers.stop();
    await this.queue.stop();
    if (this.ownRecorder) await this.recorder.flush();
  }

  /** Resolves when the queue has nothing left to do (tests). */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }
}
