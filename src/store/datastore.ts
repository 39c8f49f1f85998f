// Which Store a control plane runs on, from K3s-style datastore strings:
//   sqlite://PATH                  the embedded store (default: sqlite://<dataDir>/state.db)
//   etcd://HOST:PORT[,HOST:PORT]   an etcd cluster; TLS to it when a CA or client certificate is given
// A bad string is refused before anything opens, naming the flag. Opening an etcd datastore reads its
// revision once, so a wrong address fails at start rather than on the first request. On etcd the control
// plane reads through a watch cache (kube-apiserver's --watch-cache, on by default): see withWatchCache.
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { openEtcdStore, type EtcdStore, type EtcdStoreOptions } from './etcd.ts';
import { openSqliteStore, type SqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';
import { WatchCache } from './watch-cache.ts';

export interface EtcdTlsFiles {
  /** `--etcd-cafile`: PEM CA of etcd's serving certificate. */
  caFile?: string;
  /** `--etcd-certfile` / `--etcd-keyfile`: PEM client certificate and key. */
  certFile?: string;
  keyFile?: string;
}

export type DatastoreSpec =
  { kind: 'sqlite'; path: string } | { kind: 'etcd'; endpoints: string[]; tls?: EtcdTlsFiles };

export type Datastore = SqliteStore | EtcdStore;

/** The default: the embedded store in the data directory. */
export function defaultDatastore(dataDir: string): string {
  return `sqlite://${join(dataDir, 'state.db')}`;
}

/** Parses a datastore string (`flag` names the option in errors). */
export function parseDatastore(url: string, tls: EtcdTlsFiles = {}, flag = '--datastore'): DatastoreSpec {
  const m = /^([a-z]+):\/\/(.*)$/.exec(url);
  if (!m) throw new Error(`${flag} ${url}: expected sqlite://PATH or etcd://HOST:PORT[,HOST:PORT…]`);
  const [, scheme, rest] = m;
  const hasTls = Boolean(tls.caFile || tls.certFile || tls.keyFile);
  if (scheme === 'sqlite') {
    if (rest === '') throw new Error(`${flag} ${url}: sqlite:// needs a file path`);
    if (hasTls)
      throw new Error(`--etcd-cafile/--etcd-certfile/--etcd-keyfile apply to etcd:// datastores only`);
    return { kind: 'sqlite', path: isAbsolute(rest) ? rest : resolve(rest) };
  }
  if (scheme === 'etcd') {
    if (Boolean(tls.certFile) !== Boolean(tls.keyFile))
      throw new Error('--etcd-certfile and --etcd-keyfile go together');
    const hosts = rest.split(',').map((h) => h.trim());
    const endpoints: string[] = [];
    for (const h of hosts) {
      // host:port, [v6]:port; a path or credentials in the URL are not etcd endpoints.
      const hm = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(h);
      if (!hm || Number(hm[2]) < 1 || Number(hm[2]) > 65535)
        throw new Error(`${flag} ${url}: "${h}" is not HOST:PORT`);
      endpoints.push(`${hasTls ? 'https' : 'http'}://${h}`);
    }
    return { kind: 'etcd', endpoints, ...(hasTls ? { tls } : {}) };
  }
  throw new Error(`${flag} ${url}: unknown scheme ${scheme}:// (expected sqlite:// or etcd://)`);
}

/** A datastore string without secrets, for logs. */
export function describeDatastore(spec: DatastoreSpec): string {
  return spec.kind === 'sqlite'
    ? `sqlite://${spec.path}`
    : `etcd://${spec.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}${spec.tls ? ' (TLS)' : ''}`;
}

export interface OpenDatastoreOptions {
  /** etcd: auto-compaction period (default the store's, 5 minutes). */
  compactionIntervalMs?: number;
  /** etcd: key root (tests). */
  root?: string;
}

/** Opens the datastore; for etcd, proves it answers (a wrong address or certificate fails here). */
export async function openDatastore(
  spec: DatastoreSpec,
  opts: OpenDatastoreOptions = {},
): Promise<Datastore> {
  if (spec.kind === 'sqlite') return openSqliteStore(spec.path);
  const options: EtcdStoreOptions = {
    endpoints: spec.endpoints,
    compactionIntervalMs: opts.compactionIntervalMs,
    root: opts.root,
  };
  if (spec.tls) {
    const read = (file: string | undefined, flag: string): Buffer | undefined => {
      if (!file) return undefined;
      try {
        return readFileSync(file);
      } catch (err) {
        throw new Error(`${flag} ${file}: ${(err as Error).message}`);
      }
    };
    options.tls = {
      ca: read(spec.tls.caFile, '--etcd-cafile'),
      cert: read(spec.tls.certFile, '--etcd-certfile'),
      key: read(spec.tls.keyFile, '--etcd-keyfile'),
    };
  }
  const store = openEtcdStore(options);
  try {
    await store.revision();
  } catch (err) {
    await store.close();
    throw new Error(`datastore ${describeDatastore(spec)} does not answer: ${(err as Error).message}`);
  }
  return store;
}

/**
 * What the control plane's ObjectStore reads through: on etcd, a watch cache answering LISTs from memory
 * (store/watch-cache.ts; `--watch-cache=false` turns it off, like kube-apiserver's flag); sqlite reads
 * are local already. Wrap the store the ObjectStore writes to — outside the encryption wrapper, so the
 * cache holds opened values and a list decrypts nothing.
 */
export function withWatchCache(spec: DatastoreSpec, store: Store, enabled = true): Store {
  return spec.kind === 'etcd' && enabled ? new WatchCache(store) : store;
}
