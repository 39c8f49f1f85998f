// The Store on etcd (v3 API, through the `etcd3` client): what several `strata server` processes share.
//
// Mapping. A Strata key K is the etcd key ROOT + K (ROOT "" by default: the ObjectStore's keys already
// start with /registry/, as Kubernetes' do; tests use a root per test). Revisions are etcd's
// own: a kv's modRevision is its etcd mod_revision (the object's resourceVersion), the store revision is
// the etcd header revision. Writes are single etcd transactions:
//   create  compare create_revision(K) = 0           then put          else range K (why it failed)
//   update  compare mod_revision(K) = expected        then put prev_kv  else range K
//           (no expected: compare create_revision(K) > 0, i.e. the key exists)
//   delete  the same compares                         then delete prev_kv
// so CAS is etcd's, and nothing is read-modify-written on this side. Every write is durable when etcd
// acknowledges it (a quorum of members has fsynced it to its WAL).
//
// Lists read at one revision: the first page (PAGE_SIZE keys) fixes the revision, later pages read at it,
// so a list of 150,000 pods is one consistent snapshot without one huge response. A compaction overtaking a
// paged list restarts it.
//
// Compaction. store.compact(r) means "history <= r is gone": etcd's compact(r), which keeps revision r
// readable but drops the tombstones at r (so watches start at r + 1 at the earliest). Auto-compaction runs in the store, like kube-apiserver's compactor:
// every `compactionIntervalMs` it compacts to the revision it saw one interval earlier, keeping at least
// `historyLimit` revisions — so several servers on one etcd compact harmlessly (compacting an
// already-compacted revision is a no-op). A watch from compacted history is refused with
// RevisionCompactedError, found either from this process's own compactions or by asking etcd.
//
// Deadlines. Every operation carries one absolute gRPC deadline (`requestTimeoutMs`, 60 s like kube-apiserver's
// request timeout; each page of a list its own), shared by the etcd3 client's retries on other members. A
// cluster that lost quorum is not waited for that long: an operation unanswered for `unansweredCheckMs` (15 s)
// makes the Store ask the members, and without a quorum and a leader it fails then. When etcd cannot answer
// (no quorum, no leader, members down, deadline passed) the operation throws EtcdUnavailableError naming what
// the members still see (etcd-unavailable.ts); a write that timed out may still be applied once quorum is
// back, as with any etcd client. (A flat 15 s deadline failed healthy requests at load average ~25.)
// Attempts: each attempt of a call on one member has its own deadline (`attemptTimeoutMs`, 15 s) and the
// etcd3 client's retry (up to 4 attempts) moves to another member, so a member cut off silently — its
// packets dropped, its connection never failing — costs a call one attempt instead of the call; a timed-out
// write retried elsewhere may then find its own first attempt applied (a 409, as after any lost answer).
import {
  Etcd3,
  type IRequestOp,
  type IOptions,
  type IKeyValue,
  type IRangeResponse,
  type ITxnResponse,
  type ICompare,
} from 'etcd3';
import { EtcdWatch, parseValue } from './etcd-watch.ts';
import {
  EtcdUnavailableError,
  describeHealth,
  hasQuorumAndLeader,
  isBrokenCircuit,
  isUnavailableError,
  memberHealth,
} from './etcd-unavailable.ts';

/** The members as seen after a failure or a long wait: a line for operators, and whether waiting can help. */
interface Diagnosis {
  text: string;
  answerable: boolean;
}
import {
  DEFAULT_ETCD_ROOT,
  checkKey,
  checkPrefix,
  checkRevision,
  isCompactedError,
  prefixRangeEndBytes,
  toJsonBuffer,
} from './etcd-keys.ts';
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
  type WatchOptions,
} from './store.ts';

export interface EtcdTlsOptions {
  /** PEM of the CA that signed etcd's serving certificate. */
  ca?: Buffer;
  /** PEM client certificate and key, when etcd asks for client certificates. */
  cert?: Buffer;
  key?: Buffer;
}

export interface EtcdStoreOptions {
  /** Member client URLs: http://host:2379 or https://host:2379. */
  endpoints: string[];
  tls?: EtcdTlsOptions;
  /**
   * Prefix put before every Strata key (ASCII). Default "": the ObjectStore's keys already read
   * /registry/<group>/<resource>/…, as Kubernetes lays etcd out.
   */
  root?: string;
  /** Auto-compaction period; 0 turns it off. Default 5 minutes (kube-apiserver's default). */
  compactionIntervalMs?: number;
  /** Revisions of history auto-compaction always keeps. Default 100,000 (the sqlite store's default). */
  historyLimit?: number;
  /** How long connecting may take. Default 10 s. */
  dialTimeoutMs?: number;
  /**
   * How long one operation (one page of a list) may take, retries on other members included, before it
   * fails with EtcdUnavailableError. Default 60 s, kube-apiserver's request timeout: a healthy cluster under
   * load may be that slow.
   */
  requestTimeoutMs?: number;
  /**
   * How long an operation may stay unanswered before the members are asked whether they still have a
   * quorum and a leader; if not, it fails then instead of at `requestTimeoutMs` (asked again every period).
   * Default 15 s: above etcd's own proposal timeout (5 s + 2 election timeouts).
   */
  unansweredCheckMs?: number;
  /**
   * How long one attempt on one member may take before the etcd3 client retries on another (it makes up to
   * four). Default 15 s. With requestTimeoutMs the smaller bound wins.
   */
  attemptTimeoutMs?: number;
  /** Between HTTP/2 pings on a connection with open streams (default 10 s; etcd refuses < 5 s). */
  keepaliveMs?: number;
  /** A ping unanswered this long closes its connection (default 5 s). */
  keepaliveTimeoutMs?: number;
  /** A watch etcd has not created this long is opened again, on whichever member answers (default 10 s). */
  watchCreateTimeoutMs?: number;
}

/** The store was closed; the operation did not happen. */
export class EtcdStoreClosedError extends Error {
  constructor() {
    super('store is closed');
    this.name = 'EtcdStoreClosedError';
  }
}

/**
 * The write did not happen: this process wrote under a leader's fencing token and another process has
 * since taken the leadership (the fencing record moved on). See controllers/leader-election.ts.
 */
export class FencedError extends Error {
  readonly key: string;
  constructor(key: string, fenceKey: string) {
    super(`write to ${key} refused: this server is no longer the leader (${fenceKey} has moved on)`);
    this.name = 'FencedError';
    this.key = key;
  }
}

type ITxnRequestOps = IRequestOp[];
/** gRPC call options (the deadline) as the etcd3 client's calls take them. */
type CallOptions = NonNullable<Parameters<Etcd3['kv']['range']>[1]>;

const PAGE_SIZE = 1_000;
const DEFAULT_COMPACTION_INTERVAL_MS = 5 * 60_000;
const DEFAULT_HISTORY_LIMIT = 100_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const DEFAULT_UNANSWERED_CHECK_MS = 15_000;
/** One attempt of a call on one member; the client makes up to 4 (a different member each time). */
const DEFAULT_ATTEMPT_TIMEOUT_MS = 15_000;
const DEFAULT_KEEPALIVE_MS = 10_000;
const DEFAULT_KEEPALIVE_TIMEOUT_MS = 5_000;
const DEFAULT_WATCH_CREATE_TIMEOUT_MS = 10_000;
/** How long asking each member for its status may take when diagnosing a failure, and how long that answer is reused. */
const DIAGNOSIS_TIMEOUT_MS = 2_000;
const DIAGNOSIS_TTL_MS = 3_000;
/** How often a call refused by open circuit breakers is tried again while the cluster can answer. */
const BROKEN_CIRCUIT_RETRY_MS = 250;

export function openEtcdStore(opts: EtcdStoreOptions): EtcdStore {
  return new EtcdStore(opts);
}

export class EtcdStore implements Store {
  readonly endpoints: string[];
  readonly root: string;
  /** The underlying client (maintenance: snapshots, status; leader election). */
  readonly client: Etcd3;
  /** A key no one writes: reading it is the cheapest way to get a revision, or to test one for compaction. */
  #probeKey: Buffer;
  #closed = false;
  /** History <= this revision is known to be compacted (by this process, or learned from etcd). */
  #compacted = 0;
  #watches = new Set<EtcdWatch>();
  #compactor: NodeJS.Timeout | undefined;
  #historyLimit: number;
  #lastTickRevision = 0;
  /** While set, every write also requires mod_revision(fence.key) = fence.token (leader fencing). */
  #fence: { key: Buffer; name: string; token: number } | undefined;
  #requestTimeoutMs: number;
  #unansweredCheckMs: number;
  #attemptTimeoutMs: number;
  #watchCreateTimeoutMs: number;
  /** The client's options without hosts: diagnosis opens one connection per member with them. */
  #connection: Omit<IOptions, 'hosts'>;
  /** The last diagnosis of an unavailable etcd (many requests fail together: one look at the members). */
  #diagnosis: { at: number; health: Promise<Diagnosis> } | undefined;

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new Error('etcd: at least one endpoint is needed');
    this.endpoints = opts.endpoints;
    this.root = opts.root ?? DEFAULT_ETCD_ROOT;
    this.#probeKey = Buffer.from(`${this.root}/.strata/probe`, 'utf8');
    this.#historyLimit = opts.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    this.#requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#unansweredCheckMs = opts.unansweredCheckMs ?? DEFAULT_UNANSWERED_CHECK_MS;
    this.#attemptTimeoutMs = opts.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    this.#watchCreateTimeoutMs = opts.watchCreateTimeoutMs ?? DEFAULT_WATCH_CREATE_TIMEOUT_MS;
    const options: IOptions = {
      hosts: opts.endpoints,
      dialTimeout: opts.dialTimeoutMs ?? 10_000,
      // Each attempt of a call gets its own deadline; the client's retry (3 more attempts) picks another
      // member. A member cut off silently (packets dropped) then costs one attempt, not the whole call.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.#attemptTimeoutMs }),
      // Watches have no deadline: without HTTP/2 keepalive a watch stream on a member cut off silently
      // (a partitioned host drops packets, the connection never fails) waits forever and its informer
      // serves stale data — a new leader's node controller then saw every node's lease expire. A ping
      // unanswered closes the connection, its streams fail and the watches resume on another member.
      // kube-apiserver pings etcd every 30 s (10 s timeout); faster here because node grace periods can
      // be 10 s. etcd refuses pings more often than every 5 s, and without an open stream.
      grpcOptions: {
        'grpc.keepalive_time_ms': opts.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
        'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS,
        'grpc.keepalive_permit_without_calls': 0,
      },
    };
    if (opts.tls?.ca || opts.tls?.cert) {
      options.credentials = {
        rootCertificate: opts.tls.ca ?? Buffer.alloc(0),
        ...(opts.tls.cert ? { certChain: opts.tls.cert } : {}),
        ...(opts.tls.key ? { privateKey: opts.tls.key } : {}),
      };
    }
    this.#connection = { ...options, hosts: undefined } as Omit<IOptions, 'hosts'>;
    this.client = new Etcd3(options);
    const interval = opts.compactionIntervalMs ?? DEFAULT_COMPACTION_INTERVAL_MS;
    if (interval > 0) {
      this.#compactor = setInterval(() => void this.#autoCompact().catch(() => {}), interval);
      this.#compactor.unref();
    }
  }

  /** History at or below this revision is known to be compacted away (0: none known). */
  compactedRevision(): number {
    return this.#compacted;
  }

  async revision(): Promise<number> {
    this.#assertOpen();
    // A linearizable (etcd's default) read of one key: its header carries the current revision.
    const res = await this.#guard('read revision', (o) => this.client.kv.range({ key: this.#probeKey }, o));
    return Number(res.header.revision);
  }

  /**
   * kube-apiserver's readyz `etcd` check: a linearizable read answered within `timeoutMs` (it needs a leader
   * and a quorum). Throws EtcdUnavailableError saying why not.
   */
  async checkHealth(timeoutMs = DIAGNOSIS_TIMEOUT_MS): Promise<void> {
    this.#assertOpen();
    await this.#guard('health check', (o) => this.client.kv.range({ key: this.#probeKey }, o), timeoutMs);
  }

  async get<T = unknown>(key: string): Promise<KeyValue<T> | undefined> {
    this.#assertOpen();
    checkKey(key);
    const res = await this.#guard(`get ${key}`, (o) => this.client.kv.range({ key: this.#k(key) }, o));
    const kv = res.kvs[0];
    return kv ? this.#kv<T>(key, kv) : undefined;
  }

  async list<T = unknown>(prefix: string): Promise<ListResult<T>> {
    this.#assertOpen();
    checkPrefix(prefix);
    const start = this.#rangeStart(prefix);
    const end = prefixRangeEndBytes(this.#k(prefix));
    for (;;) {
      try {
        return await this.#listAt<T>(start, end);
      } catch (err) {
        // The revision the first page fixed was compacted before the last page: list again, now.
        if (!isCompactedError(err)) throw err;
      }
    }
  }

  async #listAt<T>(start: Buffer, end: Buffer): Promise<ListResult<T>> {
    const items: KeyValue<T>[] = [];
    let revision = 0;
    let from = start;
    for (;;) {
      const res: IRangeResponse = await this.#guard(`list ${this.#unroot(start)}`, (o) =>
        this.client.kv.range(
          {
            key: from,
            range_end: end,
            limit: PAGE_SIZE,
            ...(revision > 0 ? { revision: String(revision) } : {}),
          },
          o,
        ),
      );
      if (revision === 0) revision = Number(res.header.revision);
      for (const kv of res.kvs) items.push(this.#kv<T>(this.#unroot(kv.key), kv));
      if (!res.more || res.kvs.length === 0) break;
      // The next page starts right after the last key: the key plus a zero byte.
      from = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
    }
    return { items, revision };
  }

  async create<T = unknown>(key: string, value: T): Promise<KeyValue<T>> {
    this.#assertOpen();
    checkKey(key);
    const k = this.#k(key);
    const v = toJsonBuffer(key, value);
    const res = await this.#guard(`create ${key}`, (o) =>
      this.client.kv.txn(
        {
          compare: this.#fenced([{ key: k, target: 'Create', result: 'Equal', create_revision: '0' }]),
          success: [{ request_put: { key: k, value: v } }],
          failure: this.#failureReads(k),
        },
        o,
      ),
    );
    if (!res.succeeded) {
      this.#throwIfFenced(key, res);
      throw new AlreadyExistsError(key);
    }
    const rev = Number(res.header.revision);
    return { key, value, createRevision: rev, modRevision: rev };
  }

  async update<T = unknown>(key: string, value: T, expectedRevision?: number): Promise<KeyValue<T>> {
    this.#assertOpen();
    checkKey(key);
    if (expectedRevision !== undefined) checkRevision(expectedRevision, 'expectedRevision');
    const k = this.#k(key);
    const v = toJsonBuffer(key, value);
    const res = await this.#guard(`update ${key}`, (o) =>
      this.client.kv.txn(
        {
          compare: this.#fenced([this.#precondition(k, expectedRevision)]),
          success: [{ request_put: { key: k, value: v, prev_kv: true } }],
          failure: this.#failureReads(k),
        },
        o,
      ),
    );
    this.#throwIfFailed(key, res);
    const prev = res.responses[0].response_put.prev_kv;
    return {
      key,
      value,
      createRevision: Number(prev?.create_revision ?? res.header.revision),
      modRevision: Number(res.header.revision),
    };
  }

  async delete<T = unknown>(key: string, expectedRevision?: number): Promise<KeyValue<T>> {
    this.#assertOpen();
    checkKey(key);
    if (expectedRevision !== undefined) checkRevision(expectedRevision, 'expectedRevision');
    const k = this.#k(key);
    const res = await this.#guard(`delete ${key}`, (o) =>
      this.client.kv.txn(
        {
          compare: this.#fenced([this.#precondition(k, expectedRevision)]),
          success: [{ request_delete_range: { key: k, prev_kv: true } }],
          failure: this.#failureReads(k),
        },
        o,
      ),
    );
    this.#throwIfFailed(key, res);
    const prev = res.responses[0].response_delete_range.prev_kvs[0];
    // Like the DELETE event: the deleted value, stamped with the revision of the delete.
    return {
      key,
      value: parseValue(prev.value) as T,
      createRevision: Number(prev.create_revision),
      modRevision: Number(res.header.revision),
    };
  }

  async watch<T = unknown>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    opts: WatchOptions = {},
  ): Promise<Watch> {
    this.#assertOpen();
    checkPrefix(prefix);
    const from = opts.fromRevision;
    if (from !== undefined) {
      checkRevision(from, 'fromRevision');
      await this.#refuseCompacted(from);
    }
    const w: EtcdWatch = new EtcdWatch({
      client: this.client,
      key: this.#rangeStart(prefix),
      rangeEnd: prefixRangeEndBytes(this.#k(prefix)),
      rootLength: this.root.length,
      fromRevision: from === undefined ? 0 : Math.max(1, from),
      onEvent: onEvent as (ev: WatchEvent) => void,
      onClose: opts.onClose,
      onEnd: () => this.#watches.delete(w),
      createTimeoutMs: this.#watchCreateTimeoutMs,
    });
    this.#watches.add(w);
    try {
      await w.start();
    } catch (err) {
      this.#watches.delete(w);
      if (err instanceof RevisionCompactedError) this.#learnCompacted(err.compacted);
      throw err;
    }
    return { cancel: () => w.cancel() };
  }

  async compact(revision: number): Promise<void> {
    this.#assertOpen();
    checkRevision(revision, 'revision');
    const current = await this.revision();
    if (revision > current) {
      throw new RangeError(`cannot compact to revision ${revision}: the current revision is ${current}`);
    }
    if (revision <= this.#compacted) return;
    // etcd's compact(r) keeps revision r readable but drops the tombstones of keys deleted at r, so a
    // watch from r could miss a DELETE: as in the Store, history up to and including r counts as gone.
    try {
      await this.#guard('compact', (o) =>
        this.client.kv.compact({ revision: String(revision), physical: false }, o),
      );
    } catch (err) {
      if (!isCompactedError(err)) throw err; // someone compacted further already: fine
    }
    this.#compacted = revision;
  }

  /** Ends every watch (onClose()), stops the compactor and closes the client. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#compactor) clearInterval(this.#compactor);
    for (const w of [...this.#watches]) w.closeByStore();
    this.client.close();
  }

  // ---- helpers ----

  /**
   * Runs one etcd call within `timeoutMs` and turns "etcd could not answer" into EtcdUnavailableError with a
   * diagnosis; etcd's answers pass through. A bound shorter than one attempt (the health check) is the
   * call's absolute deadline; otherwise each attempt has its own (defaultCallOptions) and this bounds them all.
   */
  async #guard<T>(
    op: string,
    call: (o: CallOptions | undefined) => Promise<T>,
    timeoutMs = this.#requestTimeoutMs,
  ): Promise<T> {
    const started = Date.now();
    const once = () =>
      call(timeoutMs < this.#attemptTimeoutMs ? { deadline: started + timeoutMs } : undefined);
    // A call the client refused because every member's circuit breaker is open never reached etcd, so it
    // is safe to make again, writes included. Breakers open on three failures in a row — an election after
    // the leading member died fails every call for a moment, healthy members' too — and stay open 5 s, so
    // with quorum and a leader back the call waits for a breaker to let it through instead of answering 503
    // for a cluster that can answer. Without quorum the diagnosis below gives up as before.
    const pending = (async () => {
      for (;;) {
        try {
          return await once();
        } catch (err) {
          if (!isBrokenCircuit(err) || this.#closed || Date.now() - started >= timeoutMs) throw err;
          if (!(await this.#diagnose()).answerable) throw err;
          await new Promise((r) => setTimeout(r, BROKEN_CIRCUIT_RETRY_MS));
        }
      }
    })();
    // A healthy cluster under load can be slow; one without quorum or leader never answers. While the call
    // is unanswered, look at the members every #unansweredCheckMs and give up as soon as they show that.
    const timers: NodeJS.Timeout[] = [];
    const unanswerable = new Promise<never>((_, reject) => {
      const giveUp = (text: string) =>
        reject(new EtcdUnavailableError(op, text, new Error(`unanswered after ${Date.now() - started} ms`)));
      const check = async () => {
        const d = await this.#diagnose();
        if (d.answerable) timers.push(setTimeout(check, this.#unansweredCheckMs));
        else giveUp(d.text);
      };
      timers.push(setTimeout(check, this.#unansweredCheckMs));
      timers.push(setTimeout(async () => giveUp((await this.#diagnose()).text), timeoutMs));
    });
    try {
      return await Promise.race([pending, unanswerable]);
    } catch (err) {
      if (err instanceof EtcdUnavailableError) {
        pending.catch(() => {}); // it ends at its attempts' deadlines; nobody waits for it any more
        throw err;
      }
      if (!isUnavailableError(err) || this.#closed) throw err;
      throw new EtcdUnavailableError(op, (await this.#diagnose()).text, err);
    } finally {
      for (const t of timers) clearTimeout(t);
    }
  }

  /** What the members still see; one look shared by the requests failing within DIAGNOSIS_TTL_MS. */
  #diagnose(): Promise<Diagnosis> {
    const now = Date.now();
    if (!this.#diagnosis || now - this.#diagnosis.at > DIAGNOSIS_TTL_MS) {
      this.#diagnosis = {
        at: now,
        health: memberHealth(this.endpoints, this.#connection, DIAGNOSIS_TIMEOUT_MS).then(
          (members) => ({
            text: describeHealth(members, this.endpoints),
            // A member that does not answer costs one attempt (then the client asks another); only a
            // cluster without quorum or leader cannot answer at all.
            answerable: hasQuorumAndLeader(members),
          }),
          (err: Error) => ({ text: `unreachable (${err.message})`, answerable: false }),
        ),
      };
    }
    return this.#diagnosis.health;
  }

  /** kube-apiserver's compactor: compact to what was current one interval ago, keeping historyLimit. */
  async #autoCompact(): Promise<void> {
    if (this.#closed) return;
    const current = await this.revision();
    const target = Math.min(this.#lastTickRevision, current - this.#historyLimit);
    this.#lastTickRevision = current;
    if (target > this.#compacted && target > 0) await this.compact(target);
  }

  /**
   * Rejects a watch from history etcd no longer has. A watch from `from` needs every event from `from` on,
   * which etcd still has exactly when revision `from - 1` is readable (etcd keeps its compaction revision
   * readable, not the tombstones at it).
   */
  async #refuseCompacted(from: number): Promise<void> {
    if (this.#compacted > 0 && from <= this.#compacted) {
      throw new RevisionCompactedError(from, this.#compacted);
    }
    if (from < 1) return;
    const probe = Math.max(1, from - 1);
    try {
      await this.#guard('watch', (o) =>
        this.client.kv.range({ key: this.#probeKey, revision: String(probe) }, o),
      );
    } catch (err) {
      if (isCompactedError(err)) {
        const compacted = await this.#findCompacted(probe);
        this.#learnCompacted(compacted);
        throw new RevisionCompactedError(from, compacted);
      }
      // A future revision is fine: the watch waits for it.
      if (!(err instanceof Error && err.message.includes('future revision'))) throw err;
    }
  }

  /**
   * etcd does not report its compaction revision except in a canceled watch; a binary search for the
   * oldest readable revision finds it in ~log2(revision) small reads (only on this rare path).
   * That revision is etcd's compaction revision, which is also the Store's "compacted" (see compact()).
   */
  async #findCompacted(knownCompacted: number): Promise<number> {
    let lo = knownCompacted; // unreadable
    let hi = await this.revision(); // readable
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      try {
        await this.#guard('watch', (o) =>
          this.client.kv.range({ key: this.#probeKey, revision: String(mid) }, o),
        );
        hi = mid;
      } catch (err) {
        if (!isCompactedError(err)) throw err;
        lo = mid;
      }
    }
    return hi;
  }

  #learnCompacted(compacted: number): void {
    if (compacted > this.#compacted) this.#compacted = compacted;
  }

  #precondition(k: Buffer, expected: number | undefined): ICompare {
    return expected === undefined
      ? { key: k, target: 'Create', result: 'Greater', create_revision: '0' }
      : { key: k, target: 'Mod', result: 'Equal', mod_revision: String(expected) };
  }

  /** Leader fencing (controllers/leader-election.ts): makes every later write require the record at `token`. */
  setFence(key: string, token: number | undefined): void {
    this.#fence = token === undefined ? undefined : { key: this.#k(key), name: key, token };
  }

  /** Writes the fencing record unconditionally; its revision is the new leader's token. */
  async writeFence(key: string, value: unknown): Promise<number> {
    this.#assertOpen();
    const res = await this.#guard(`write ${key}`, (o) =>
      this.client.kv.put({ key: this.#k(key), value: toJsonBuffer(key, value) }, o),
    );
    return Number(res.header.revision);
  }

  #fenced(compare: ICompare[]): ICompare[] {
    const f = this.#fence;
    if (!f) return compare;
    return [...compare, { key: f.key, target: 'Mod', result: 'Equal', mod_revision: String(f.token) }];
  }

  /** On failure, read the key (why) and, when fenced, the fencing record (whether it was the fence). */
  #failureReads(k: Buffer): ITxnRequestOps {
    const ops: ITxnRequestOps = [{ request_range: { key: k } }];
    if (this.#fence) ops.push({ request_range: { key: this.#fence.key } });
    return ops;
  }

  #throwIfFenced(key: string, res: ITxnResponse): void {
    const f = this.#fence;
    const rec = res.responses[1]?.response_range?.kvs[0];
    if (f && res.responses.length > 1 && (!rec || Number(rec.mod_revision) !== f.token)) {
      throw new FencedError(key, f.name);
    }
  }

  #throwIfFailed(key: string, res: ITxnResponse): void {
    if (res.succeeded) return;
    this.#throwIfFenced(key, res);
    const current = res.responses[0]?.response_range?.kvs[0];
    if (!current) throw new NotFoundError(key);
    throw new ConflictError(key, Number(current.mod_revision));
  }

  #k(key: string): Buffer {
    return Buffer.from(this.root + key, 'utf8');
  }

  /** The start of a prefix range: etcd refuses an empty key, and "\0" with range end "\0" means every key. */
  #rangeStart(prefix: string): Buffer {
    const k = this.#k(prefix);
    return k.length === 0 ? Buffer.from([0]) : k;
  }

  #unroot(key: Buffer): string {
    return key.toString('utf8').slice(this.root.length);
  }

  #kv<T>(key: string, kv: IKeyValue): KeyValue<T> {
    return {
      key,
      value: parseValue(kv.value) as T,
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
    };
  }

  #assertOpen(): void {
    if (this.#closed) throw new EtcdStoreClosedError();
  }
}
