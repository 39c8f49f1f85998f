// The one storage contract of the control plane. It is deliberately shaped like etcd's KV + Watch API
// (a single monotonically increasing revision for the whole keyspace, compare-and-swap on a key's
// modification revision, watch from a revision, compaction) so that an etcd backend can implement it
// without changing any caller. Values are opaque JSON documents; the store knows nothing of kinds.

/** One stored key and the revisions the store assigned to it. */
export interface KeyValue<T = unknown> {
  key: string;
  value: T;
  /** Revision of the write that created the key. */
  createRevision: number;
  /** Revision of the last write to the key; the resourceVersion of the object. */
  modRevision: number;
}

export interface ListResult<T = unknown> {
  items: KeyValue<T>[];
  /** The store revision this list reflects; watch from `revision + 1` to see every later change. */
  revision: number;
}

export type WatchEventType = 'PUT' | 'DELETE';

export interface WatchEvent<T = unknown> {
  type: WatchEventType;
  /** For PUT, the new value; for DELETE, the value just before deletion (with modRevision = the delete's revision). */
  kv: KeyValue<T>;
  /** Set for PUT events that updated an existing key. */
  prevKv?: KeyValue<T>;
  /** True when this PUT created the key. */
  created: boolean;
}

export interface Watch {
  /** Stop delivering events. Idempotent. */
  cancel(): void;
}

export interface WatchOptions {
  /** Deliver every event with revision >= fromRevision (history first, then live). Default: only new events. */
  fromRevision?: number;
  /** Called once if the watch ends on its own (store closed). Not called after cancel(). */
  onClose?: (err?: Error) => void;
}

/** The write did not happen because the key's current modRevision is not the expected one. */
export class ConflictError extends Error {
  readonly key: string;
  readonly actualRevision: number;
  constructor(key: string, actualRevision: number) {
    super(`conflict on ${key}: current revision is ${actualRevision}`);
    this.name = 'ConflictError';
    this.key = key;
    this.actualRevision = actualRevision;
  }
}

/** create() found the key already present. */
export class AlreadyExistsError extends Error {
  readonly key: string;
  constructor(key: string) {
    super(`${key} already exists`);
    this.name = 'AlreadyExistsError';
    this.key = key;
  }
}

/** update()/delete() found no such key. */
export class NotFoundError extends Error {
  readonly key: string;
  constructor(key: string) {
    super(`${key} not found`);
    this.name = 'NotFoundError';
    this.key = key;
  }
}

/** watch() asked for history that compaction has already removed; the client must relist. */
export class RevisionCompactedError extends Error {
  readonly requested: number;
  readonly compacted: number;
  constructor(requested: number, compacted: number) {
    super(
      `revision ${requested} is too old: history before ${compacted + 1} has been compacted; relist and watch again`,
    );
    this.name = 'RevisionCompactedError';
    this.requested = requested;
    this.compacted = compacted;
  }
}

export interface Store {
  /** Current revision of the whole keyspace. */
  revision(): Promise<number>;
  get<T = unknown>(key: string): Promise<KeyValue<T> | undefined>;
  /** All keys starting with prefix, in key order, with the revision the list reflects. */
  list<T = unknown>(prefix: string): Promise<ListResult<T>>;
  /** Create the key; fails with AlreadyExistsError if present. Returns the stored kv. */
  create<T = unknown>(key: string, value: T): Promise<KeyValue<T>>;
  /**
   * Replace the key's value. With expectedRevision, fails with ConflictError unless the key's
   * modRevision equals it. Fails with NotFoundError if the key is absent.
   */
  update<T = unknown>(key: string, value: T, expectedRevision?: number): Promise<KeyValue<T>>;
  /** Delete the key (optionally CAS). Returns the deleted kv. */
  delete<T = unknown>(key: string, expectedRevision?: number): Promise<KeyValue<T>>;
  /**
   * Watch every key under prefix. Events are delivered in revision order. Throws
   * RevisionCompactedError synchronously-or-rejected when fromRevision is older than the compacted history.
   */
  watch<T = unknown>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    opts?: WatchOptions,
  ): Promise<Watch>;
  /** Drop history up to and including `revision` (not current values). */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
