// A pool of pre-made pod network namespaces, so that a pod start does not wait for its network: each
// entry is a namespace with its veth pair already on the bridge, eth0 up with an address reserved from
// the node's range and the default route — everything setup() would make, made before a pod asks. A pod
// start takes a ready entry; the pool refills in the background, a little after the claim so the refill
// does not compete with the start that just took one. The pool knows nothing of iproute2 or IPAM: the
// PodNetwork gives it the operations (reserve names and an address, create the links, discard an
// entry), and serialises them with its own changes as it needs.
//
// Nothing of the pool is written to disk: after an agent crash its entries are namespaces, bridge ports
// and addresses that no pod record claims, which PodNetwork.reconcile() removes like any leftover.

export interface PoolEntry {
  /** The IPAM owner of the entry's address (a pod that claims the entry keeps it as its owner). */
  owner: string;
  netns: string;
  hostVeth: string;
  ip: string;
}

export interface NetnsPoolOps {
  /** Names and an address for a new entry (quick: no process). */
  reserve(): Promise<PoolEntry>;
  /** Makes the entry's namespace and links (the slow part, a couple of `ip` runs). */
  create(entry: PoolEntry): Promise<void>;
  /** Removes whatever exists of an entry and frees its address. */
  discard(entry: PoolEntry): Promise<void>;
}

export interface NetnsPoolStats {
  size: number;
  ready: number;
  creating: number;
  /** Entries handed to pods since the pool was made. */
  claimed: number;
  /** Pod starts that found the pool empty (they made their network themselves). */
  misses: number;
  /** Why the last refill stopped early, if it did. */
  lastError?: string;
}

/** How long after a claim the refill starts: the pod that claimed is still starting (runc, the image). */
export const REFILL_DELAY_MS = 300;

export class NetnsPool {
  readonly size: number;
  private readonly ops: NetnsPoolOps;
  private readonly refillDelayMs: number;
  private readonly ready: PoolEntry[] = [];
  private readonly creating = new Set<PoolEntry>();
  private filling: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closed = false;
  private claimed = 0;
  private misses = 0;
  private lastError: string | undefined;

  constructor(size: number, ops: NetnsPoolOps, refillDelayMs = REFILL_DELAY_MS) {
    if (!Number.isInteger(size) || size < 0) throw new Error(`netns pool size ${size}: a whole number ≥ 0`);
    this.size = size;
    this.ops = ops;
    this.refillDelayMs = refillDelayMs;
  }

  /** A ready entry, now the caller's; undefined when the pool is empty (or off). */
  take(): PoolEntry | undefined {
    if (this.size === 0 || this.closed) return undefined;
    const entry = this.ready.shift();
    if (entry) this.claimed++;
    else this.misses++;
    return entry;
  }

  /** Whether a namespace, host veth or address owner belongs to an entry (ready or being made). */
  holds(name: string): boolean {
    for (const e of [...this.ready, ...this.creating])
      if (e.netns === name || e.hostVeth === name || e.owner === name) return true;
    return false;
  }

  /** Starts a background refill up to the size, unless one runs; `now` skips the delay (node start). */
  refill(now = false): void {
    if (this.size === 0 || this.closed || this.filling) return;
    this.filling = this.fill(now ? 0 : this.refillDelayMs).finally(() => {
      this.filling = undefined;
      // A claim while the loop was finishing: go on (not after a failure — the next claim retries).
      if (!this.lastError && !this.closed && this.ready.length < this.size) this.refill();
    });
  }

  /** Until the running refill (if any) has finished: tests and callers that want a full pool. */
  async settled(): Promise<void> {
    while (this.filling) await this.filling;
  }

  stats(): NetnsPoolStats {
    return {
      size: this.size,
      ready: this.ready.length,
      creating: this.creating.size,
      claimed: this.claimed,
      misses: this.misses,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /**
   * Stops refilling, waits for an entry being made, and hands back every unclaimed entry (the caller
   * removes them). The pool stays empty afterwards: starts make their own networks again.
   */
  async close(): Promise<PoolEntry[]> {
    this.closed = true;
    this.wake?.();
    await this.filling;
    return this.ready.splice(0);
  }

  private async fill(delayMs: number): Promise<void> {
    if (delayMs > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delayMs);
        t.unref();
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    this.lastError = undefined;
    while (!this.closed && this.ready.length + this.creating.size < this.size) {
      let entry: PoolEntry;
      try {
        entry = await this.ops.reserve();
      } catch (err) {
        this.lastError = (err as Error).message;
        return;
      }
      this.creating.add(entry);
      try {
        await this.ops.create(entry);
      } catch (err) {
        this.lastError = (err as Error).message;
        this.creating.delete(entry);
        await this.ops.discard(entry).catch(() => {});
        return;
      }
      this.creating.delete(entry);
      // Closed meanwhile: close() hands it back with the others.
      this.ready.push(entry);
    }
  }
}
