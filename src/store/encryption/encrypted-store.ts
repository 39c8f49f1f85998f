// Encryption at rest as a Store wrapper: the ObjectStore writes through it, so every writer (API,
// controllers, scheduler) and every reader (get, list, watch, informers) sees plain objects while the
// store underneath holds only what the configured providers seal. Keys, revisions and ordering are the
// inner store's own; only the values of configured resources change. A value that cannot be opened (its
// key is gone, or it is plaintext without `identity`) is an error naming the object and the key — never
// a silent fallback.
import type { KeyValue, ListResult, Store, Watch, WatchEvent, WatchOptions } from '../store.ts';
import type { EncryptionConfig } from './config.ts';

export class EncryptedStore implements Store {
  readonly inner: Store;
  readonly config: EncryptionConfig;
  /**
   * The inner store hands one event object to every watch; opening it once per event (not once per
   * watch) keeps a secret watched by many informers from being decrypted many times.
   */
  readonly #opened = new WeakMap<WatchEvent, WatchEvent>();

  constructor(inner: Store, config: EncryptionConfig) {
    this.inner = inner;
    this.config = config;
  }

  revision(): Promise<number> {
    return this.inner.revision();
  }

  async get<T = unknown>(key: string): Promise<KeyValue<T> | undefined> {
    const kv = await this.inner.get(key);
    return kv && this.#open<T>(kv);
  }

  async list<T = unknown>(prefix: string): Promise<ListResult<T>> {
    const res = await this.inner.list(prefix);
    return { revision: res.revision, items: res.items.map((kv) => this.#open<T>(kv)) };
  }

  async create<T = unknown>(key: string, value: T): Promise<KeyValue<T>> {
    const t = this.config.transformerFor(key);
    if (!t) return this.inner.create(key, value);
    const kv = await this.inner.create(key, t.seal(key, value));
    return { ...kv, value };
  }

  async update<T = unknown>(key: string, value: T, expectedRevision?: number): Promise<KeyValue<T>> {
    const t = this.config.transformerFor(key);
    if (!t) return this.inner.update(key, value, expectedRevision);
    const kv = await this.inner.update(key, t.seal(key, value), expectedRevision);
    return { ...kv, value };
  }

  async delete<T = unknown>(key: string, expectedRevision?: number): Promise<KeyValue<T>> {
    return this.#open<T>(await this.inner.delete(key, expectedRevision));
  }

  watch<T = unknown>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    opts?: WatchOptions,
  ): Promise<Watch> {
    return this.inner.watch(prefix, (ev) => onEvent(this.#openEvent(ev) as WatchEvent<T>), opts);
  }

  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #open<T>(kv: KeyValue): KeyValue<T> {
    const t = this.config.transformerFor(kv.key);
    if (!t) return kv as KeyValue<T>;
    return { ...kv, value: t.open(kv.key, kv.value) as T };
  }

  #openEvent(ev: WatchEvent): WatchEvent {
    const t = this.config.transformerFor(ev.kv.key);
    if (!t) return ev;
    let out = this.#opened.get(ev);
    if (out) return out;
    out = { type: ev.type, created: ev.created, kv: this.#open(ev.kv) };
    const prev = ev.prevKv;
    if (prev) {
      // The inner store parses prevKv lazily (few watchers read it); decrypt it lazily too.
      const opened = {
        key: prev.key,
        createRevision: prev.createRevision,
        modRevision: prev.modRevision,
      } as KeyValue;
      let value: unknown;
      let done = false;
      Object.defineProperty(opened, 'value', {
        enumerable: true,
        get: () => {
          if (!done) {
            value = t.open(prev.key, prev.value);
            done = true;
          }
          return value;
        },
      });
      out.prevKv = opened;
    }
    this.#opened.set(ev, out);
    return out;
  }
}
