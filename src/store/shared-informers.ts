// One Informer per kind (and namespace) shared by every controller and the scheduler in a process, so
// 150,000 pods are listed, watched and cached once, not once per component.
import type { KindInfo } from '../api/index.ts';
import { Informer, type InformerOptions } from '../lib/informer.ts';
import type { ObjectStore } from './objects.ts';
import { objectStoreListWatch } from './list-watch.ts';
import { type Log, defaultLog } from '../lib/log.ts';

export class SharedInformers {
  readonly objects: ObjectStore;
  private readonly informers = new Map<string, Informer<any>>();
  private readonly opts: InformerOptions<any>;
  private started = false;
  private stopped = false;

  constructor(objects: ObjectStore, opts: { log?: Log; informer?: InformerOptions<any> } = {}) {
    this.objects = objects;
    const log = opts.log ?? defaultLog;
    this.opts = {
      onError: (err, context) => log.warn({ err }, `informer: ${context}`),
      ...opts.informer,
    };
  }

  /** The informer for a kind (all namespaces unless one is given); started if the factory is. */
  informerFor(kind: KindInfo, namespace?: string): Informer<any> {
    const id = `${kind.group}/${kind.kind}/${namespace ?? ''}`;
    let inf = this.informers.get(id);
    if (!inf) {
      inf = new Informer(objectStoreListWatch(this.objects, kind, namespace), this.opts);
      this.informers.set(id, inf);
      if (this.started && !this.stopped) inf.start();
    }
    return inf;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const inf of this.informers.values()) inf.start();
  }

  /** Resolves true when every informer created so far has synced (false if stopped first). */
  async waitForSync(): Promise<boolean> {
    const results = await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
    return results.every(Boolean);
  }

  stop(): void {
    this.stopped = true;
    for (const inf of this.informers.values()) inf.stop();
  }

  /**
   * The factory as one component sees it: the same shared informers, but its waitForSync() waits only for the
   * kinds this component asked for, and its stop() leaves the shared ones running. One kind whose list keeps
   * failing (a Secret the encryption keys cannot decrypt) must not hold up a controller that never reads it.
   */
  scoped(): SharedInformers {
    return new ComponentInformers(this);
  }
}

class ComponentInformers extends SharedInformers {
  private readonly used = new Set<Informer<any>>();
  private readonly shared: SharedInformers;

  constructor(shared: SharedInformers) {
    super(shared.objects);
    this.shared = shared;
  }

  override informerFor(kind: KindInfo, namespace?: string): Informer<any> {
    const inf = this.shared.informerFor(kind, namespace);
    this.used.add(inf);
    return inf;
  }

  override start(): void {
    this.shared.start();
  }

  override async waitForSync(): Promise<boolean> {
    const results = await Promise.all([...this.used].map((i) => i.waitForSync()));
    return results.every(Boolean);
  }

  /** The shared informers belong to whoever made the factory. */
  override stop(): void {}

  override scoped(): SharedInformers {
    return this.shared.scoped();
  }
}
