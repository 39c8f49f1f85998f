// Allocation records: one key per allocated value (an IP, a port) in the control plane's store, holding
// the owner (`namespace/name` of the Service). Creating the key is the allocation, and the store's create
// is atomic, so two writers can never hold one value; deleting it (compare-and-swap on its revision, and
// only by its owner) is the release. The same shape as Kubernetes' networking.k8s.io IPAddress objects
// (one object per allocated IP with a reference to its Service), kept out of the API's kinds.
import { AlreadyExistsError, ConflictError, NotFoundError, type Store } from '../../store/store.ts';

export interface AllocationRecord {
  /** `namespace/name` of the Service holding the value. */
  owner: string;
  /** When the value was claimed (RFC 3339): repair leaves fresh records alone (their write may be in flight). */
  at: string;
}

export class RecordSet {
  private readonly store: Store;
  private readonly prefix: string;

  /** `prefix` ends with '/', e.g. `/strata/allocations/serviceips/`. */
  constructor(store: Store, prefix: string) {
    this.store = store;
    this.prefix = prefix;
  }

  private key(value: string): string {
    return `${this.prefix}${value}`;
  }

  /** Claim `value` for `owner`: true if it is now ours, false if someone (or we) already held it. */
  async claim(value: string, owner: string): Promise<boolean> {
    try {
      await this.store.create<AllocationRecord>(this.key(value), { owner, at: new Date().toISOString() });
      return true;
    } catch (err) {
      if (err instanceof AlreadyExistsError) return false;
      throw err;
    }
  }

  async holder(value: string): Promise<AllocationRecord | undefined> {
    return (await this.store.get<AllocationRecord>(this.key(value)))?.value;
  }

  /** Release `value` if `owner` holds it (a record of another owner is never touched). */
  async release(value: string, owner: string): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const kv = await this.store.get<AllocationRecord>(this.key(value));
      if (!kv || kv.value.owner !== owner) return false;
      try {
        await this.store.delete(this.key(value), kv.modRevision);
        return true;
      } catch (err) {
        if (err instanceof NotFoundError) return false;
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    return false;
  }

  /** Remove a record only if it is still exactly the one read (repair of a leak). */
  async releaseIfUnchanged(value: string, rev: number): Promise<boolean> {
    try {
      await this.store.delete(this.key(value), rev);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof ConflictError) return false;
      throw err;
    }
  }

  /** Every record: value → record with its revision. */
  async all(): Promise<Map<string, AllocationRecord & { rev: number }>> {
    const { items } = await this.store.list<AllocationRecord>(this.prefix);
    return new Map(
      items.map((kv) => [kv.key.slice(this.prefix.length), { ...kv.value, rev: kv.modRevision }]),
    );
  }
}
