// Controller expectations, as in Kubernetes' controller_utils: before a controller creates or deletes
// pods it records how many events it expects to see for them; until the informer has delivered those
// events (or a timeout passes, in case one was lost), the cache is known to lag behind the controller's
// own writes and the controller must not act on counts from it — otherwise it would create extra pods.

interface Expectation {
  adds: number;
  dels: number;
  /** When the expectation was last raised; after `ttlMs` it is considered satisfied anyway. */
  at: number;
}

export class Expectations {
  private readonly items = new Map<string, Expectation>();
  private readonly ttlMs: number;

  constructor(ttlMs = 5 * 60_000) {
    this.ttlMs = ttlMs;
  }

  expect(key: string, adds: number, dels: number): void {
    const e = this.items.get(key) ?? { adds: 0, dels: 0, at: 0 };
    e.adds += adds;
    e.dels += dels;
    e.at = Date.now();
    this.items.set(key, e);
  }

  /** An owned pod appeared in the cache, or a create failed (no event will come). */
  creationObserved(key: string): void {
    const e = this.items.get(key);
    if (e && e.adds > 0) e.adds--;
  }

  /** An owned pod disappeared (or got a deletionTimestamp), or a delete failed. */
  deletionObserved(key: string): void {
    const e = this.items.get(key);
    if (e && e.dels > 0) e.dels--;
  }

  /** True when the cache has caught up with this controller's writes for `key`. */
  satisfied(key: string): boolean {
    const e = this.items.get(key);
    if (!e) return true;
    if ((e.adds <= 0 && e.dels <= 0) || Date.now() - e.at > this.ttlMs) {
      this.items.delete(key);
      return true;
    }
    return false;
  }

  delete(key: string): void {
    this.items.delete(key);
  }
}
