// Leader election for the controllers and the scheduler (store/, beside the fencing it relies on), as
// client-go's leaderelection does it: one
// coordination.k8s.io/v1 Lease (kube-system/strata-controller-manager) that every `strata server`
// competes for. The holder renews it every retryPeriod; a candidate takes it over only when the record
// it observed has not changed for leaseDuration (measured on the candidate's own clock, from when it saw
// the record change — clocks of different machines are never compared). Every write is a CAS on the
// Lease's resourceVersion, so two candidates cannot both win a round.
//
// A leader that cannot renew within renewDeadline (< leaseDuration) steps down by itself: it stops its
// controllers before anyone else may take over. Fencing covers a leader that was paused past that point
// (GC, SIGSTOP, a slow disk): on acquiring, the leader writes a fencing record whose revision becomes its
// token, and with a store that supports it (etcd) every write of the process carries "fencing record is
// still at my token" in its transaction. A deposed leader's writes then fail in etcd itself, whatever
// its clock believes.
import type { KindInfo } from '../api/index.ts';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from './objects.ts';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { EtcdStore } from './etcd.ts';
import type { Store } from './store.ts';

export interface LeaderElectionTimings {
  /** How long a non-renewed lease stays valid for others (client-go default 15 s). */
  leaseDurationMs: number;
  /** How long the leader keeps trying to renew before it steps down (default 10 s). */
  renewDeadlineMs: number;
  /** Between attempts (default 2 s). */
  retryPeriodMs: number;
}

export const DEFAULT_LEADER_ELECTION: LeaderElectionTimings = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** A store that can make every write of this process conditional on a fencing record (etcd). */
export interface FencingStore {
  /** Writes the fencing record; returns its revision (the token). */
  writeFence(key: string, value: unknown): Promise<number>;
  /** From now on, every write requires the fencing record to be at `token` (undefined: no condition). */
  setFence(key: string, token: number | undefined): void;
}

export interface LeaderElectorOptions {
  objects: ObjectStore;
  /** This candidate's identity (hostname + a random suffix, like client-go's). */
  identity: string;
  namespace?: string;
  name?: string;
  timings?: Partial<LeaderElectionTimings>;
  /** Started when this process becomes leader; awaited before renewing again. */
  onStartedLeading: () => Promise<void> | void;
  /** Stopped when it loses the lease (or stop() is called while leading). */
  onStoppedLeading: () => Promise<void> | void;
  /** Told of every new leader, this process included. */
  onNewLeader?: (identity: string) => void;
  fencing?: FencingStore;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export const LEADER_LEASE_NAMESPACE = 'kube-system';
export const LEADER_LEASE_NAME = 'strata-controller-manager';
export const FENCE_KEY = '/strata/leader-fence';

const LEASE: KindInfo = kindFor('coordination.k8s.io/v1', 'Lease')!;

/** RFC 3339 with microseconds, as Kubernetes' MicroTime prints. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly identity: string;
  #o: LeaderElectorOptions;
  #t: LeaderElectionTimings;
  #ns: string;
  #name: string;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** The record last seen, and when (this process's monotonic clock) it last changed. */
  #observed: { holder: string; renewTime: string; resourceVersion: string } | undefined;
  #observedAt = 0;
  #lastRenew = 0;
  #leader: string | undefined;
  #loop: Promise<void> = Promise.resolve();

  constructor(o: LeaderElectorOptions) {
    this.#o = o;
    this.identity = o.identity;
    this.#t = { ...DEFAULT_LEADER_ELECTION, ...o.timings };
    if (!(
      this.#t.leaseDurationMs > this.#t.renewDeadlineMs && this.#t.renewDeadlineMs > this.#t.retryPeriodMs
    ))
      throw new Error('leader election: need leaseDuration > renewDeadline > retryPeriod');
    this.#ns = o.namespace ?? LEADER_LEASE_NAMESPACE;
    this.#name = o.name ?? LEADER_LEASE_NAME;
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /** The current holder as last observed. */
  leader(): string | undefined {
    return this.#leader;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Stops competing; a leader stops leading and releases the lease (others take over at once). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#loop;
    if (this.#leading) {
      await this.#stepDown('stopping');
      await this.#release().catch(() => {});
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#loop = this.#tick().finally(() => this.#schedule(this.#t.retryPeriodMs));
    }, ms);
  }

  async #tick(): Promise<void> {
    let ok = false;
    // A renewal can hang (its etcd member cut off silently: each attempt waits for its deadline, longer
    // than the lease). Step down when the renew deadline passes, not when the call gives up, as client-go
    // bounds its renew by RenewDeadline: others may take the lease leaseDuration after our last renewal.
    let steppingDown: Promise<void> | undefined;
    const watchdog = this.#leading
      ? setTimeout(
          () => (steppingDown = this.#stepDown('could not renew the lease within the renew deadline')),
          Math.max(0, this.#lastRenew + this.#t.renewDeadlineMs - performance.now()),
        )
      : undefined;
    try {
      ok = await this.#tryAcquireOrRenew();
    } catch (err) {
      this.#o.log?.warn({ err: (err as Error).message }, 'leader election: attempt failed');
      // Fenced: someone else holds the term already; no point waiting for the renew deadline.
      if ((err as Error).name === 'FencedError') await this.#stepDown('fenced: another server leads');
    } finally {
      clearTimeout(watchdog);
      // The controllers are fully stopped before a late renewal may start them again.
      await steppingDown;
    }
    if (this.#stopped) return;
    const now = performance.now();
    if (ok) {
      this.#lastRenew = now;
      if (!this.#leading) {
        this.#leading = true;
        this.#o.log?.info({ identity: this.identity }, 'leader election: became leader');
        await this.#o.onStartedLeading();
      }
    } else if (this.#leading && now - this.#lastRenew > this.#t.renewDeadlineMs) {
      await this.#stepDown('could not renew the lease within the renew deadline');
    }
  }

  async #stepDown(why: string): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.log?.warn({ identity: this.identity, why }, 'leader election: stopped leading');
    try {
      await this.#o.onStoppedLeading();
    } finally {
      // Controllers are stopped: this process's own writes (API requests) need no fence any more.
      this.#o.fencing?.setFence(FENCE_KEY, undefined);
    }
  }

  /** One round: true when this process holds the lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { objects } = this.#o;
    const now = Date.now();
    const seconds = Math.ceil(this.#t.leaseDurationMs / 1000);
    const current = await objects.get(LEASE, this.#ns, this.#name);
    if (!current) {
      await objects.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.#name, namespace: this.#ns },
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: seconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      });
      await this.#acquired();
      return true;
    }
    const spec = current.spec ?? {};
    const holder: string = spec.holderIdentity ?? '';
    const record = {
      holder,
      renewTime: spec.renewTime ?? '',
      resourceVersion: current.metadata.resourceVersion,
    };
    if (
      !this.#observed ||
      this.#observed.holder !== record.holder ||
      this.#observed.renewTime !== record.renewTime
    ) {
      this.#observed = record;
      this.#observedAt = performance.now();
    }
    if (holder !== this.#leader && holder !== '') {
      this.#leader = holder;
      this.#o.onNewLeader?.(holder);
    }
    const iHold = holder === this.identity;
    const expired = holder === '' || performance.now() - this.#observedAt > this.#t.leaseDurationMs;
    if (!iHold && !expired) return false;
    const takingOver = !iHold;
    const next = {
      ...current,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: seconds,
        renewTime: microTime(now),
        ...(takingOver
          ? {
              acquireTime: microTime(now),
              leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
            }
          : {}),
      },
    };
    // CAS on the resourceVersion read above: a concurrent winner makes this a 409, i.e. "not us".
    try {
      await objects.update(next);
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw err;
    }
    if (takingOver || !this.#leading) await this.#acquired();
    return true;
  }

  /** A new term: write the fencing record and make every later write of this process depend on it. */
  async #acquired(): Promise<void> {
    if (this.#leader !== this.identity) {
      this.#leader = this.identity;
      this.#o.onNewLeader?.(this.identity);
    }
    const f = this.#o.fencing;
    if (!f) return;
    f.setFence(FENCE_KEY, undefined);
    const token = await f.writeFence(FENCE_KEY, { holder: this.identity, at: new Date().toISOString() });
    f.setFence(FENCE_KEY, token);
  }

  /** Gives the lease up (holder emptied), as client-go's ReleaseOnCancel. */
  async #release(): Promise<void> {
    const current = await this.#o.objects.get(LEASE, this.#ns, this.#name);
    if (!current || current.spec?.holderIdentity !== this.identity) return;
    await this.#o.objects.update({
      ...current,
      spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1 },
    });
  }
}

export interface LeaderWork {
  stop(): Promise<void>;
}

export interface RunWhileLeadingOptions extends Omit<
  LeaderElectorOptions,
  'onStartedLeading' | 'onStoppedLeading'
> {
  /** Starts the leader's work (controllers, scheduler); called on every new term. */
  work: () => Promise<LeaderWork>;
}

/**
 * Runs `work` only while this process leads: started on winning the lease, stopped on losing it (then
 * competed for again). What `strata server` does with its controllers and scheduler on a shared etcd.
 */
export function runWhileLeading(o: RunWhileLeadingOptions): {
  elector: LeaderElector;
  stop(): Promise<void>;
} {
  let running: LeaderWork | undefined;
  const elector = new LeaderElector({
    ...o,
    onStartedLeading: async () => {
      running = await o.work();
    },
    onStoppedLeading: async () => {
      const r = running;
      running = undefined;
      await r?.stop();
    },
  });
  elector.start();
  return { elector, stop: () => elector.stop() };
}

export interface LeadershipOptions {
  /** The datastore under the ObjectStore: fencing is used when it supports it (etcd). */
  store: Store;
  objects: ObjectStore;
  /** Compete for the lease (several servers on one etcd); false: this process alone runs the work. */
  enabled: boolean;
  timings?: Partial<LeaderElectionTimings>;
  log?: LeaderElectorOptions['log'];
  /** Starts the controllers and the scheduler; `ready` resolves when their caches have synced. */
  work: () => Promise<LeaderWork & { ready: Promise<void> }>;
}

export interface Leadership {
  /** Resolves when this server may report ready: its work synced (alone), or at once (a candidate). */
  ready: Promise<void>;
  elector: LeaderElector | undefined;
  stop(): Promise<void>;
}

/** The composition root's one call: run the work now, or only while holding the lease. */
export async function startLeadership(o: LeadershipOptions): Promise<Leadership> {
  if (!o.enabled) {
    const w = await o.work();
    return { ready: w.ready, elector: undefined, stop: () => w.stop() };
  }
  const run = runWhileLeading({
    objects: o.objects,
    identity: `${hostname()}_${randomUUID()}`,
    timings: o.timings,
    log: o.log,
    fencing: o.store instanceof EtcdStore ? o.store : undefined,
    work: o.work,
  });
  return { ready: Promise.resolve(), elector: run.elector, stop: run.stop };
}
