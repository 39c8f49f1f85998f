// Key and value encoding for the etcd Store: Strata keys live under a root prefix (none by default: the
// ObjectStore's keys are already /registry/<group>/<resource>/…, as in Kubernetes), values are JSON text. Input checks match the sqlite store's, so both backends refuse the
// same bad input with the same error types before anything is written.

export const DEFAULT_ETCD_ROOT = '';

/**
 * The smallest byte string greater than every byte string starting with `prefix` (etcd's
 * `clientv3.GetPrefixRangeEnd`): the last byte below 0xff incremented, the bytes after it dropped.
 * `\0` (every key from `prefix` on) when every byte is 0xff.
 */
export function prefixRangeEndBytes(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i]++;
      return end;
    }
  }
  return Buffer.from([0]);
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string');
  if (!key.isWellFormed()) throw new TypeError(`key ${JSON.stringify(key)} contains a lone surrogate`);
}

export function checkPrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
  if (!prefix.isWellFormed())
    throw new TypeError(`prefix ${JSON.stringify(prefix)} contains a lone surrogate`);
}

export function checkRevision(rev: number, name: string): void {
  if (!Number.isSafeInteger(rev) || rev < 0)
    throw new RangeError(`${name} must be a non-negative integer, got ${rev}`);
}

export function toJsonBuffer(key: string, value: unknown): Buffer {
  const json = JSON.stringify(value);
  if (typeof json !== 'string')
    throw new TypeError(`value for ${key} is not JSON-serializable (${typeof value})`);
  return Buffer.from(json, 'utf8');
}

/** True for etcd's "mvcc: required revision has been compacted". */
export function isCompactedError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('required revision has been compacted');
}

/** True for etcd's "mvcc: required revision is a future revision". */
export function isFutureRevisionError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('future revision');
}
