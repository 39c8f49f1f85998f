// Spare root filesystems: one overlay snapshot per recently started image, prepared and mounted ahead
// of need, so the next container of that image (a function scaled from zero, a replica replacing one
// that died) claims a mounted rootfs by renaming a directory instead of preparing its snapshot and
// spawning mount(8) on its critical path (40-80 ms of a cold start on the test host: docs/benchmarks.md,
// _Functions_). Prepared on the node's already-unpacked layers only: a spare never pulls or unpacks.
//
// A spare is a container snapshot named `spare-<agent pid>-…` in the node's image store (so image GC
// keeps its layers, as for any container). One per image manifest, at most `max` in all (least recently used
// dropped first); refilled a while after one is taken, off the start that took it; all removed at
// shutdown, and any left by an agent that died are removed when the next one starts (sweep).
import { randomBytes } from 'node:crypto';
import type { ImageStore } from '../../image/index.ts';
import type { PreparedRootfs } from '../../image/snapshots.ts';
import { mountRootfs } from '../../image/snapshots.ts';
import { pidAlive } from '../../image/fsutil.ts';

const PREFIX = 'spare-';

export interface RootfsSparesOptions {
  /** Spares kept at most (one per image manifest). Default 8; 0 turns spares off. */
  max?: number;
  /** How long after a spare is taken (or first wanted) its replacement is made. Default 2 s. */
  refillDelayMs?: number;
  /** Where a failed refill is reported (it only costs the next start its head start). */
  onError?: (image: string, err: Error) => void;
}

interface Spare {
  id: string;
  image: string;
}

export class RootfsSpares {
  private readonly store: ImageStore;
  private readonly max: number;
  private readonly refillDelayMs: number;
  private readonly onError: (image: string, err: Error) => void;
  /** Manifest digest → its spare, in least-recently-used order (Map keeps insertion order). */
  private readonly spares = new Map<string, Spare>();
  /** Manifest digests with a refill scheduled or running. */
  private readonly refilling = new Map<string, { timer?: NodeJS.Timeout; done?: Promise<void> }>();
  private closed = false;
  /** The sweep of earlier agents' spares, started with this one; its first spare waits for it. */
  private readonly swept: Promise<void>;

  constructor(store: ImageStore, opts: RootfsSparesOptions = {}) {
    this.store = store;
    this.max = opts.max ?? 8;
    this.refillDelayMs = opts.refillDelayMs ?? 2_000;
    this.onError =
      opts.onError ?? ((image, err) => console.warn(`strata: spare rootfs for ${image}: ${err.message}`));
    this.swept = this.sweep().catch((err: Error) => this.onError('(sweep)', err));
  }

  /** Spares ready now (manifest digest → image reference). */
  ready(): Map<string, string> {
    return new Map([...this.spares].map(([digest, s]) => [digest, s.image]));
  }

  /**
   * The image's spare, renamed to `containerId` and mounted, when there is one for `manifestDigest`;
   * undefined otherwise. Either way a spare for the image is (re)made a while later.
   */
  async take(
    image: string,
    manifestDigest: string,
    containerId: string,
  ): Promise<PreparedRootfs | undefined> {
    const spare = this.spares.get(manifestDigest);
    this.scheduleRefill(image, manifestDigest);
    if (!spare) return undefined;
    // A container that already has its rootfs (a start retried after an agent restart) keeps it.
    if (await this.store.snapshots.get(containerId)) return undefined;
    this.spares.delete(manifestDigest);
    try {
      return await this.store.renameRootfs(spare.id, containerId);
    } catch (err) {
      // A spare that cannot be claimed (removed under us, or the id taken) is dropped; the caller
      // prepares a rootfs as without spares.
      this.onError(image, err as Error);
      await this.store.removeRootfs(spare.id).catch(() => {});
      return undefined;
    }
  }

  /** Removes the spares of agents no longer running (killed before they could remove their own). */
  async sweep(): Promise<void> {
    for (const p of await this.store.listRootfs()) {
      const pid = Number(/^spare-(\d+)-/.exec(p.containerId)?.[1]);
      if (pid && !pidAlive(pid)) await this.store.removeRootfs(p.containerId);
    }
  }

  /** No more refills; the spares are removed. */
  async close(): Promise<void> {
    this.closed = true;
    await this.swept;
    for (const r of this.refilling.values()) clearTimeout(r.timer);
    await Promise.all([...this.refilling.values()].map((r) => r.done));
    this.refilling.clear();
    await Promise.all([...this.spares.values()].map((s) => this.store.removeRootfs(s.id).catch(() => {})));
    this.spares.clear();
  }

  private scheduleRefill(image: string, manifestDigest: string): void {
    if (this.closed || this.max === 0 || this.refilling.has(manifestDigest)) return;
    const entry: { timer?: NodeJS.Timeout; done?: Promise<void> } = {};
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      entry.done = this.refill(image, manifestDigest)
        .catch((err: Error) => this.onError(image, err))
        .finally(() => this.refilling.delete(manifestDigest));
    }, this.refillDelayMs);
    entry.timer.unref();
    this.refilling.set(manifestDigest, entry);
  }

  private async refill(image: string, manifestDigest: string): Promise<void> {
    if (this.closed || this.spares.has(manifestDigest)) return;
    await this.swept;
    // Only from what the node already has: the image still present, at the same manifest.
    const resolved = await this.store.resolve(image).catch(() => undefined);
    if (!resolved || resolved.manifestDescriptor.digest !== manifestDigest) return;
    const id = `${PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
    const prepared = await this.store.prepare(image, id);
    try {
      await mountRootfs(prepared);
    } catch (err) {
      await this.store.removeRootfs(id).catch(() => {});
      throw err;
    }
    if (this.closed) {
      await this.store.removeRootfs(id);
      return;
    }
    this.spares.set(manifestDigest, { id, image });
    // Over the cap: the least recently refilled goes.
    while (this.spares.size > this.max) {
      const [oldest, s] = this.spares.entries().next().value as [string, Spare];
      this.spares.delete(oldest);
      await this.store.removeRootfs(s.id).catch((err: Error) => this.onError(s.image, err));
    }
  }
}
