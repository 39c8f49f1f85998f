// The embedded Store: one SQLite file through node:sqlite (DatabaseSync), no native addon.
//
// Durability. WAL journal with `synchronous = FULL`: every transaction's COMMIT fsyncs the WAL before it
// returns, and a write's promise resolves only after the COMMIT that contains it returned. An acknowledged
// write therefore survives `kill -9` of this process and a power cut (given honest disks).
//
// Group commit. DatabaseSync is synchronous, so a durable write costs one fsync of the event loop's time.
// Writes are queued and the queue is flushed once per turn of the event loop (setImmediate, after the
// I/O callbacks of that turn): every write issued in the same turn — e.g. 64 callers each awaiting their
// own create, or the requests of many clients that arrived together, each handled in its own callback —
// shares one transaction and one fsync. (A microtask flush committed each request's write alone: under
// load, 10,000 pods starting spent ~30 % of the main thread's time in fsync.) Each write still
// gets its own revision and its own event, is applied in call order, and fails alone (a failed
// precondition writes nothing for that write; an SQLite error retries the batch's writes one by one).
// A lone awaited write is flushed in the same turn, so it waits for nothing but its own fsync.
//
// One process owns the file. The connection runs in `locking_mode = EXCLUSIVE` and takes the write lock at
// open: the revision counter and the watch fan-out live in this process's memory, so a second writer
// would break both. A second open (another process, or the sqlite3 shell) fails after `busyTimeoutMs` with
// "database is locked" instead of corrupting the revision sequence. Back up through the store's process
// (e.g. `VACUUM INTO`), not by opening the file beside it.
//
// Schema (user_version 1), shaped like etcd's MVCC store: every version of a value is one row of the event
// log, and the current-values table points at the row holding each key's current version, so a write
// stores its JSON once (a value column in both tables would double the bytes fsynced per write).
//   events rev INTEGER PRIMARY KEY, key, type 'PUT'|'DELETE', value (JSON text), create_rev, prev_mod_rev.
//          PUT: value = the new value; prev_mod_rev = the version it replaced (NULL when it created the
//          key). DELETE: value = the value that was deleted; prev_mod_rev = its last modRevision.
//   kv     current values: key TEXT PRIMARY KEY, create_rev, mod_rev (WITHOUT ROWID: small rows, one
//          b-tree). A key's value is events.value at rev = mod_rev.
//   meta   one row: compacted (history <= compacted is gone) and the revision as of the last compaction.
//          The current revision is max(meta.revision, max(events.rev)): compaction never deletes events
//          above `compacted`, so meta is written only when compacting, not on every write.
// Compaction deletes events <= its revision except the ones still holding a current value (as etcd keeps
// the latest version of each key); such a kept version is deleted by the write that supersedes it. Each
// write is one event and one revision, in one transaction.
//
// Key order is SQLite's BINARY collation over UTF-8, i.e. Unicode code point order (the same as etcd's
// byte order). Keys and prefixes must be well-formed UTF-16 (no lone surrogates) and keys non-empty.
//
// Values are JSON documents: they are stored with JSON.stringify, so only JSON-representable data survives
// (no undefined fields, Dates become strings). The kv returned by create/update carries the caller's own
// object (not a copy); get/list/watch return freshly parsed values.
//
// Watch ordering guarantees, per watch: events arrive in strictly increasing revision order, with no gap
// and no duplicate, history (rev >= fromRevision, read from the log in chunks) first and then live
// events; a write committed while history is being replayed is read from the log, not lost. Delivery is
// always asynchronous (never inside the store call that caused it, except close(), which delivers what a
// watch has already been handed and then calls onClose()). Live events are delivered in a microtask after
// their commit, which in practice is before the writer's own `await` resumes. One WatchEvent object (and
// its parsed value) is shared by every watch that receives it: treat it as immutable. `prevKv.value` is
// parsed on first access. If onEvent throws, that watch ends with onClose(err) (or, without onClose, the
// error is rethrown asynchronously as an uncaught exception); other watches are unaffected. A watch still
// replaying history when compaction removes the part it has not read yet ends with
// onClose(RevisionCompactedError), as in etcd. Also as in etcd, a replayed PUT whose previous version has
// been compacted has no prevKv (live events always carry it).

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  RevisionCompactedError,
  type KeyValue,
  type ListResult,
  type Store,
  type Watch,
  type WatchEvent,
  type WatchEventType,
  type WatchOptions,
} from './store.ts';

export interface SqliteStoreOptions {
  /**
   * Events of history to keep for watch-from-revision; older events are compacted automatically (up to
   * ~1,000 at a time, inside a write transaction). Default 100,000. `Infinity` turns auto-compaction off.
   */
  historyLimit?: number;
  /** How long opening (or any statement) waits for a lock held by someone else. Default 5,000 ms. */
  busyTimeoutMs?: number;
}

/** The store was closed; the operation did not happen. */
export class StoreClosedError extends Error {
  constructor() {
    super('store is closed');
    this.name = 'StoreClosedError';
  }
}

const DEFAULT_HISTORY_LIMIT = 100_000;
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** Upper bound of writes per transaction, so one flush of a huge burst does not build an unbounded WAL. */
const MAX_BATCH = 4_096;
/** Events read from the log per replay step; replay yields to the event loop between steps. */
const REPLAY_CHUNK = 1_024;
const SCHEMA_VERSION = 1;

type WriteKind = 'create' | 'update' | 'delete';

interface PendingWrite {
  kind: WriteKind;
  key: string;
  /** JSON of the new value ('' for delete). */
  json: string;
  value: unknown;
  expected: number | undefined;
  resolve: (kv: KeyValue) => void;
  reject: (err: unknown) => void;
  result: KeyValue | undefined;
  error: Error | undefined;
}

/** An event as committed in this process, before anyone has asked for its parsed form. */
interface LogRecord {
  rev: number;
  key: string;
  type: WatchEventType;
  json: string;
  createRev: number;
  prevModRev: number | null;
  prevJson: string | null;
}

interface Watcher {
  prefix: string;
  onEvent: (ev: WatchEvent) => void;
  onClose: ((err?: Error) => void) | undefined;
  /** false while history is replayed from the log; then live events are pushed to `queue` by commits. */
  live: boolean;
  /** Replay: the next revision to read from the log. */
  cursor: number;
  /** Live: the first revision to deliver (for a watch from a future revision). */
  minRev: number;
  queue: WatchEvent[];
  head: number;
  scheduled: boolean;
  ended: boolean;
}

// Row shapes (statements return arrays: no per-row object with named keys to build).
type ValueRow = [json: string, createRev: number, modRev: number];
type RevRow = [createRev: number, modRev: number];
type ListRow = [key: string, json: string, createRev: number, modRev: number];
type EventRow = [
  rev: number,
  key: string,
  type: WatchEventType,
  json: string,
  createRev: number,
  prevModRev: number | null,
  prevJson: string | null,
];

/** Opens (creating if needed) the store at `path`. Throws if another process holds the file. */
export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
  return new SqliteStore(path, opts);
}

export class SqliteStore implements Store {
  readonly path: string;
  #db: DatabaseSync;
  #historyLimit: number;
  /** Auto-compaction runs once this many events beyond historyLimit have accumulated. */
  #compactSlack: number;
  /** Last committed revision. */
  #rev: number;
  /** History <= this revision has been deleted. */
  #compacted: number;
  #closed = false;
  #queue: PendingWrite[] = [];
  #flushScheduled = false;
  #watchers = new Set<Watcher>();

  #sBegin: StatementSync;
  #sCommit: StatementSync;
  #sRollback: StatementSync;
  #sGet: StatementSync;
  #sRevs: StatementSync;
  #sInsert: StatementSync;
  #sUpdate: StatementSync;
  #sDelete: StatementSync;
  #sEvent: StatementSync;
  #sDropEvent: StatementSync;
  #sMeta: StatementSync;
  #sCompact: StatementSync;
  #sListAll: StatementSync;
  #sListRange: StatementSync;
  #sListFrom: StatementSync;
  #sHistAll: StatementSync;
  #sHistRange: StatementSync;
  #sHistFrom: StatementSync;

  constructor(path: string, opts: SqliteStoreOptions = {}) {
    const historyLimit = opts.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    if (!(historyLimit === Infinity || (Number.isSafeInteger(historyLimit) && historyLimit >= 1))) {
      throw new RangeError(`historyLimit must be a positive integer or Infinity, got ${historyLimit}`);
    }
    const busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new RangeError(`busyTimeoutMs must be a non-negative integer, got ${busyTimeoutMs}`);
    }
    this.path = path;
    this.#historyLimit = historyLimit;
    this.#compactSlack = Math.min(1_024, Math.max(1, Math.floor(historyLimit / 16)));

    const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
    this.#db = db;
    try {
      // EXCLUSIVE before WAL: SQLite then keeps the WAL index in heap memory (no -shm file) and never
      // releases the file lock, which is what makes this process the only writer.
      db.exec('PRAGMA locking_mode = EXCLUSIVE');
      const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string } | undefined;
      if (mode?.journal_mode !== 'wal') {
        throw new Error(`${path}: could not switch to WAL journal (got ${mode?.journal_mode})`);
      }
      db.exec('PRAGMA synchronous = FULL');
      // A bigger page cache keeps the kv b-tree's interior pages resident for point lookups on update.
      db.exec('PRAGMA cache_size = -32768');
      // BEGIN IMMEDIATE takes the write lock now, so a second owner fails here rather than at first write.
      db.exec('BEGIN IMMEDIATE');
      const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
      if (version > SCHEMA_VERSION) {
        throw new Error(`${path}: schema version ${version} is newer than this Strata (${SCHEMA_VERSION})`);
      }
      db.exec(`
        CREATE TABLE IF NOT EXISTS events (
          rev INTEGER PRIMARY KEY,
          key TEXT NOT NULL,
          type TEXT NOT NULL,
          value TEXT NOT NULL,
          create_rev INTEGER NOT NULL,
          prev_mod_rev INTEGER
        );
        CREATE TABLE IF NOT EXISTS kv (
          key TEXT PRIMARY KEY,
          create_rev INTEGER NOT NULL,
          mod_rev INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS meta (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          revision INTEGER NOT NULL,
          compacted INTEGER NOT NULL
        );
        INSERT OR IGNORE INTO meta (id, revision, compacted) VALUES (1, 0, 0);
        PRAGMA user_version = ${SCHEMA_VERSION};
      `);
      const meta = db
        .prepare(
          'SELECT max(revision, coalesce((SELECT max(rev) FROM events), 0)) AS revision, compacted FROM meta',
        )
        .get() as { revision: number; compacted: number };
      db.exec('COMMIT');
      this.#rev = meta.revision;
      this.#compacted = meta.compacted;
    } catch (err) {
      if (db.isOpen) {
        if (db.isTransaction) db.exec('ROLLBACK');
        db.close();
      }
      throw err;
    }

    const prep = (sql: string): StatementSync => {
      const s = db.prepare(sql);
      s.setReturnArrays(true);
      return s;
    };
    this.#sBegin = prep('BEGIN IMMEDIATE');
    this.#sCommit = prep('COMMIT');
    this.#sRollback = prep('ROLLBACK');
    // CROSS JOIN pins kv as the outer loop: a key-range scan, then one rowid lookup per key.
    const current = 'FROM kv k CROSS JOIN events e ON e.rev = k.mod_rev';
    this.#sGet = prep(`SELECT e.value, k.create_rev, k.mod_rev ${current} WHERE k.key = ?`);
    this.#sRevs = prep('SELECT create_rev, mod_rev FROM kv WHERE key = ?');
    this.#sInsert = prep('INSERT INTO kv (key, create_rev, mod_rev) VALUES (?, ?, ?)');
    this.#sUpdate = prep('UPDATE kv SET mod_rev = ? WHERE key = ?');
    this.#sDelete = prep('DELETE FROM kv WHERE key = ?');
    this.#sEvent = prep(
      'INSERT INTO events (rev, key, type, value, create_rev, prev_mod_rev) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#sDropEvent = prep('DELETE FROM events WHERE rev = ?');
    this.#sMeta = prep('UPDATE meta SET revision = ?, compacted = ? WHERE id = 1');
    // Only the newly compacted range is scanned; events still holding a current value survive.
    this.#sCompact = prep(
      'DELETE FROM events WHERE rev > ? AND rev <= ? AND NOT EXISTS ' +
        '(SELECT 1 FROM kv WHERE kv.key = events.key AND kv.mod_rev = events.rev)',
    );
    const listCols = `SELECT k.key, e.value, k.create_rev, k.mod_rev ${current}`;
    this.#sListAll = prep(`${listCols} ORDER BY k.key`);
    this.#sListRange = prep(`${listCols} WHERE k.key >= ? AND k.key < ? ORDER BY k.key`);
    this.#sListFrom = prep(`${listCols} WHERE k.key >= ? ORDER BY k.key`);
    // A PUT's previous value is the event at prev_mod_rev, unless compaction removed it.
    const histCols =
      'SELECT e.rev, e.key, e.type, e.value, e.create_rev, e.prev_mod_rev, p.value FROM events e ' +
      "LEFT JOIN events p ON p.rev = e.prev_mod_rev AND e.type = 'PUT'";
    this.#sHistAll = prep(`${histCols} WHERE e.rev >= ? ORDER BY e.rev LIMIT ?`);
    this.#sHistRange = prep(
      `${histCols} WHERE e.rev >= ? AND e.key >= ? AND e.key < ? ORDER BY e.rev LIMIT ?`,
    );
    this.#sHistFrom = prep(`${histCols} WHERE e.rev >= ? AND e.key >= ? ORDER BY e.rev LIMIT ?`);
  }

  /** History at or below this revision has been compacted away (0: nothing has). */
  compactedRevision(): number {
    return this.#compacted;
  }

  async revision(): Promise<number> {
    this.#assertOpen();
    return this.#rev;
  }

  async get<T = unknown>(key: string): Promise<KeyValue<T> | undefined> {
    this.#assertOpen();
    checkKey(key);
    const row = this.#sGet.get(key) as unknown as ValueRow | undefined;
    if (row === undefined) return undefined;
    return { key, value: JSON.parse(row[0]) as T, createRevision: row[1], modRevision: row[2] };
  }

  async list<T = unknown>(prefix: string): Promise<ListResult<T>> {
    this.#assertOpen();
    checkPrefix(prefix);
    let rows: ListRow[];
    if (prefix === '') {
      rows = this.#sListAll.all() as unknown as ListRow[];
    } else {
      const end = prefixRangeEnd(prefix);
      rows = (end === null
        ? this.#sListFrom.all(prefix)
        : this.#sListRange.all(prefix, end)) as unknown as ListRow[];
    }
    const items: KeyValue<T>[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      items[i] = { key: r[0], value: JSON.parse(r[1]) as T, createRevision: r[2], modRevision: r[3] };
    }
    return { items, revision: this.#rev };
  }

  create<T = unknown>(key: string, value: T): Promise<KeyValue<T>> {
    return this.#enqueue('create', key, value, undefined) as Promise<KeyValue<T>>;
  }

  update<T = unknown>(key: string, value: T, expectedRevision?: number): Promise<KeyValue<T>> {
    return this.#enqueue('update', key, value, expectedRevision) as Promise<KeyValue<T>>;
  }

  delete<T = unknown>(key: string, expectedRevision?: number): Promise<KeyValue<T>> {
    return this.#enqueue('delete', key, undefined, expectedRevision) as Promise<KeyValue<T>>;
  }

  async watch<T = unknown>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    opts: WatchOptions = {},
  ): Promise<Watch> {
    this.#assertOpen();
    checkPrefix(prefix);
    const from = opts.fromRevision;
    const w: Watcher = {
      prefix,
      onEvent: onEvent as (ev: WatchEvent) => void,
      onClose: opts.onClose,
      live: true,
      cursor: 0,
      minRev: this.#rev + 1,
      queue: [],
      head: 0,
      scheduled: false,
      ended: false,
    };
    if (from !== undefined) {
      checkRevision(from, 'fromRevision');
      if (this.#compacted > 0 && from <= this.#compacted)
        throw new RevisionCompactedError(from, this.#compacted);
      const start = Math.max(1, from);
      if (start <= this.#rev) {
        w.live = false;
        w.cursor = start;
        w.scheduled = true;
        // setImmediate, not a microtask: the caller holds the Watch handle before the first event.
        setImmediate(() => this.#replay(w));
      } else {
        w.minRev = start;
      }
    }
    this.#watchers.add(w);
    return { cancel: () => this.#endWatch(w, undefined, false) };
  }

  async compact(revision: number): Promise<void> {
    this.#assertOpen();
    checkRevision(revision, 'revision');
    if (revision > this.#rev) {
      throw new RangeError(`cannot compact to revision ${revision}: the current revision is ${this.#rev}`);
    }
    if (revision <= this.#compacted) return;
    this.#sBegin.run();
    try {
      this.#sCompact.run(this.#compacted, revision);
      this.#sMeta.run(this.#rev, revision);
      this.#sCommit.run();
    } catch (err) {
      this.#rollbackQuietly();
      throw err;
    }
    this.#compacted = revision;
  }

  /**
   * Leaves in the files only what the current data needs: VACUUM rebuilds the database without free
   * pages, then a TRUNCATE checkpoint copies the WAL into it and cuts the WAL to zero bytes. Without
   * this, values that compaction or an overwrite removed (e.g. a Secret stored before encryption at rest
   * was turned on) stay readable in free pages and old WAL frames. Blocks the process while it runs: an
   * offline maintenance step (strata secrets reencrypt), not something for a busy server.
   */
  async vacuum(): Promise<void> {
    this.#assertOpen();
    this.#flush(true);
    this.#db.exec('VACUUM');
    const r = this.#db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy: number } | undefined;
    if (r?.busy !== 0) throw new Error(`${this.path}: the WAL checkpoint could not complete (busy)`);
  }

  /**
   * Writes a consistent copy of the database to `path` (VACUUM INTO: a compact, self-contained file
   * as of the last committed write; queued writes are committed first). `path` must not exist.
   */
  async backupTo(path: string): Promise<void> {
    this.#assertOpen();
    this.#flush(true);
    this.#db.prepare('VACUUM INTO ?').run(path);
  }

  /** Commits queued writes, closes the file, delivers what watches already hold, then ends them. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush(true);
    this.#closed = true;
    this.#db.close();
    const watchers = [...this.#watchers];
    for (const w of watchers) {
      if (w.live) this.#deliver(w);
      this.#endWatch(w, undefined, true);
    }
  }

  // ---- writes ----

  #enqueue(kind: WriteKind, key: string, value: unknown, expected: number | undefined): Promise<KeyValue> {
    return new Promise<KeyValue>((resolve, reject) => {
      // Throwing inside the executor rejects the promise: bad input never reaches the queue.
      this.#assertOpen();
      checkKey(key);
      if (expected !== undefined) checkRevision(expected, 'expectedRevision');
      const json = kind === 'delete' ? '' : toJson(key, value);
      this.#queue.push({
        kind,
        key,
        json,
        value,
        expected,
        resolve,
        reject,
        result: undefined,
        error: undefined,
      });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flushTask);
      }
    });
  }

  #flushTask = (): void => {
    if (this.#flushScheduled) this.#flush(false);
  };

  /**
   * Commits the queue, MAX_BATCH writes per transaction. A backlog bigger than that (someone fired
   * thousands of writes without awaiting) continues after a turn of the event loop, so that I/O and
   * timers are not starved meanwhile; `all` (close) drains it at once.
   */
  #flush(all: boolean): void {
    this.#flushScheduled = false;
    while (this.#queue.length > 0) {
      let batch = this.#queue;
      if (batch.length <= MAX_BATCH) {
        this.#queue = [];
      } else {
        batch = this.#queue.slice(0, MAX_BATCH);
        this.#queue = this.#queue.slice(MAX_BATCH);
      }
      this.#commitBatch(batch);
      if (!all && this.#queue.length > 0) {
        this.#flushScheduled = true;
        setImmediate(this.#flushTask);
        return;
      }
    }
  }

  #commitBatch(batch: PendingWrite[]): void {
    const startRev = this.#rev;
    const startCompacted = this.#compacted;
    const records: LogRecord[] = [];
    try {
      this.#sBegin.run();
      for (const op of batch) this.#apply(op, records);
      if (records.length > 0) {
        const target = this.#rev - this.#historyLimit; // -Infinity when auto-compaction is off
        if (target - this.#compacted >= this.#compactSlack) {
          this.#sCompact.run(this.#compacted, target);
          this.#sMeta.run(this.#rev, target);
          this.#compacted = target;
        }
      }
      this.#sCommit.run();
    } catch (err) {
      this.#rollbackQuietly();
      this.#rev = startRev;
      this.#compacted = startCompacted;
      if (batch.length > 1) {
        // Do not let one write's failure fail its neighbours: retry each in its own transaction.
        for (const op of batch) this.#commitBatch([op]);
      } else {
        batch[0].reject(err);
      }
      return;
    }
    if (records.length > 0 && this.#watchers.size > 0) this.#dispatch(records);
    for (const op of batch) {
      if (op.error !== undefined) op.reject(op.error);
      else op.resolve(op.result!);
    }
  }

  /** Applies one write inside the open transaction; a failed precondition records an error and writes nothing. */
  #apply(op: PendingWrite, records: LogRecord[]): void {
    op.result = undefined;
    op.error = undefined;
    const { key } = op;
    if (op.kind === 'create') {
      if (this.#sRevs.get(key) !== undefined) {
        op.error = new AlreadyExistsError(key);
        return;
      }
      const rev = ++this.#rev;
      this.#sEvent.run(rev, key, 'PUT', op.json, rev, null);
      this.#sInsert.run(key, rev, rev);
      op.result = { key, value: op.value, createRevision: rev, modRevision: rev };
      records.push({
        rev,
        key,
        type: 'PUT',
        json: op.json,
        createRev: rev,
        prevModRev: null,
        prevJson: null,
      });
      return;
    }
    // The previous value is needed by a delete (its event and result) and by watchers (prevKv); an
    // update nobody watches only needs the revisions.
    const row =
      op.kind === 'delete' || this.#watchers.size > 0
        ? (this.#sGet.get(key) as unknown as ValueRow | undefined)
        : (this.#sRevs.get(key) as unknown as RevRow | undefined);
    if (row === undefined) {
      op.error = new NotFoundError(key);
      return;
    }
    const prevJson = row.length === 3 ? row[0] : null;
    const createRev = row[row.length - 2] as number;
    const prevModRev = row[row.length - 1] as number;
    if (op.expected !== undefined && prevModRev !== op.expected) {
      op.error = new ConflictError(key, prevModRev);
      return;
    }
    const rev = ++this.#rev;
    // A version at or below the compacted revision was kept only because it was current; superseded now,
    // it goes here (compaction never scans below its previous mark again, so it would stay forever).
    if (prevModRev <= this.#compacted) this.#sDropEvent.run(prevModRev);
    if (op.kind === 'update') {
      this.#sEvent.run(rev, key, 'PUT', op.json, createRev, prevModRev);
      this.#sUpdate.run(rev, key);
      op.result = { key, value: op.value, createRevision: createRev, modRevision: rev };
      records.push({ rev, key, type: 'PUT', json: op.json, createRev, prevModRev, prevJson });
    } else {
      const json = prevJson!;
      this.#sEvent.run(rev, key, 'DELETE', json, createRev, prevModRev);
      this.#sDelete.run(key);
      // Like the DELETE event: the deleted value, stamped with the revision of the delete.
      op.result = { key, value: JSON.parse(json), createRevision: createRev, modRevision: rev };
      records.push({ rev, key, type: 'DELETE', json, createRev, prevModRev, prevJson: null });
    }
  }

  #rollbackQuietly(): void {
    try {
      if (this.#db.isTransaction) this.#sRollback.run();
    } catch {
      // The original error is the one worth reporting.
    }
  }

  // ---- watches ----

  /** Hands freshly committed events to every caught-up watch they match; parsed once, shared. */
  #dispatch(records: LogRecord[]): void {
    for (const rec of records) {
      let ev: WatchEvent | undefined;
      for (const w of this.#watchers) {
        if (!w.live || rec.rev < w.minRev || !rec.key.startsWith(w.prefix)) continue;
        ev ??= toWatchEvent(
          rec.rev,
          rec.key,
          rec.type,
          rec.json,
          rec.createRev,
          rec.prevModRev,
          rec.prevJson,
        );
        w.queue.push(ev);
        if (!w.scheduled) {
          w.scheduled = true;
          queueMicrotask(() => {
            w.scheduled = false;
            this.#deliver(w);
          });
        }
      }
    }
  }

  /** One replay step: read the next chunk of matching history; when the log is exhausted, go live. */
  #replay(w: Watcher): void {
    w.scheduled = false;
    if (w.ended || this.#closed) return;
    if (w.cursor <= this.#compacted) {
      this.#endWatch(w, new RevisionCompactedError(w.cursor, this.#compacted), true);
      return;
    }
    const { prefix } = w;
    let rows: EventRow[];
    if (prefix === '') {
      rows = this.#sHistAll.all(w.cursor, REPLAY_CHUNK) as unknown as EventRow[];
    } else {
      const end = prefixRangeEnd(prefix);
      rows = (end === null
        ? this.#sHistFrom.all(w.cursor, prefix, REPLAY_CHUNK)
        : this.#sHistRange.all(w.cursor, prefix, end, REPLAY_CHUNK)) as unknown as EventRow[];
    }
    for (const r of rows) w.queue.push(toWatchEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6]));
    if (rows.length < REPLAY_CHUNK) {
      // Every committed event is now queued; commits from here on are pushed by #dispatch. Nothing can
      // commit between the read above and this line (both run synchronously), so there is no gap.
      w.live = true;
      w.minRev = this.#rev + 1;
    } else {
      w.cursor = rows[rows.length - 1][0] + 1;
    }
    this.#deliver(w);
    if (!w.live && !w.ended && !w.scheduled) {
      w.scheduled = true;
      setImmediate(() => this.#replay(w));
    }
  }

  #deliver(w: Watcher): void {
    const q = w.queue;
    while (w.head < q.length) {
      if (w.ended) return;
      const ev = q[w.head++];
      try {
        w.onEvent(ev);
      } catch (err) {
        this.#endWatch(w, err instanceof Error ? err : new Error(String(err)), true);
        return;
      }
    }
    q.length = 0;
    w.head = 0;
  }

  #endWatch(w: Watcher, err: Error | undefined, notify: boolean): void {
    if (w.ended) return;
    w.ended = true;
    w.queue = [];
    w.head = 0;
    this.#watchers.delete(w);
    if (!notify) return;
    if (w.onClose !== undefined) {
      w.onClose(err);
    } else if (err !== undefined) {
      // Nobody asked to hear how this watch ended; an error in an event callback must not vanish.
      process.nextTick(() => {
        throw err;
      });
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}

// ---- helpers ----

function toWatchEvent(
  rev: number,
  key: string,
  type: WatchEventType,
  json: string,
  createRev: number,
  prevModRev: number | null,
  prevJson: string | null,
): WatchEvent {
  const kv: KeyValue = { key, value: JSON.parse(json), createRevision: createRev, modRevision: rev };
  if (type === 'DELETE') return { type, kv, created: false };
  if (prevModRev === null) return { type, kv, created: true };
  if (prevJson === null) return { type, kv, created: false }; // previous version compacted away
  return { type, kv, prevKv: lazyKeyValue(key, prevJson, createRev, prevModRev), created: false };
}

/**
 * A KeyValue whose value is parsed on first access: most watchers never look at prevKv, and parsing it
 * for every update would double the JSON work of the watch path. The accessor is an own enumerable
 * property, so spreading the object or JSON.stringify-ing it still yields the value.
 */
function lazyKeyValue(key: string, json: string, createRevision: number, modRevision: number): KeyValue {
  const kv = { key, createRevision, modRevision } as KeyValue;
  Object.defineProperty(kv, 'value', {
    enumerable: true,
    configurable: true,
    get() {
      const value: unknown = JSON.parse(json);
      Object.defineProperty(kv, 'value', { value, enumerable: true, configurable: true, writable: true });
      return value;
    },
  });
  return kv;
}

function toJson(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (typeof json !== 'string')
    throw new TypeError(`value for ${key} is not JSON-serializable (${typeof value})`);
  return json;
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string');
  if (!key.isWellFormed()) throw new TypeError(`key ${JSON.stringify(key)} contains a lone surrogate`);
}

function checkPrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
  if (!prefix.isWellFormed())
    throw new TypeError(`prefix ${JSON.stringify(prefix)} contains a lone surrogate`);
}

function checkRevision(rev: number, name: string): void {
  if (!Number.isSafeInteger(rev) || rev < 0)
    throw new RangeError(`${name} must be a non-negative integer, got ${rev}`);
}

/**
 * The smallest string greater than every string that starts with `prefix`, in code point order (which is
 * SQLite's BINARY order over UTF-8): the prefix with its last code point incremented, dropping trailing
 * U+10FFFF. null when there is no such string (empty prefix, or only U+10FFFF): the range is unbounded.
 */
export function prefixRangeEnd(prefix: string): string | null {
  const cps = Array.from(prefix);
  for (let i = cps.length - 1; i >= 0; i--) {
    const cp = cps[i].codePointAt(0)!;
    if (cp < 0x10ffff) {
      // Surrogate code points cannot appear in well-formed text: step over them.
      const next = cp === 0xd7ff ? 0xe000 : cp + 1;
      return cps.slice(0, i).join('') + String.fromCodePoint(next);
    }
  }
  return null;
}
