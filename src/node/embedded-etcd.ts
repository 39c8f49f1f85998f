// The embedded etcd of `strata server --cluster-init` / `--join URL --token T`, as K3s has it: the server
// runs its own etcd member (src/store/etcd-embedded), with certificates from the cluster CA, and its Store
// speaks to that member first, then to the others. Joining: the new server pins the first server's CA by
// hash, presents a join token whose extra group is SERVER_JOIN_GROUP (`strata token create --groups
// system:bootstrappers:strata:servers`), and gets back the cluster CA (servers share it) and the
// initial-cluster list after the first server has added it with `member add`.
import { request } from 'node:https';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, isIPv4 } from 'node:net';
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import { caCertHash, parseCACertHash } from '../lib/ca-hash.ts';
import { fetchPinnedCA } from '../client/ca-bootstrap.ts';
import { createCA, daysLeft, issue, type KeyPair } from '../auth/pki.ts';
import { ADMIN_GROUP } from '../auth/identities.ts';
import { ApiError } from '../store/objects.ts';
import { badRequest, forbidden, statusFailure } from '../api/status.ts';
import type { DatastoreFlags } from '../store/datastore-server.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { ClusterRole, ClusterRoleBinding } from '../api/kinds/rbac.ts';
import { RBAC_API_VERSION, RBAC_GROUP } from '../api/kinds/rbac.ts';
import {
  DEFAULT_CLIENT_PORT,
  DEFAULT_PEER_PORT,
  DEFAULT_QUOTA_BACKEND_BYTES,
  hasMemberData,
  memberClient,
  memberDataDir,
  startEmbeddedEtcd,
  type EmbeddedEtcd,
  type MemberTlsFiles,
} from '../store/etcd-embedded/member.ts';
import { addMember, listMembers, removeMember } from '../store/etcd-embedded/membership.ts';
import { startDefragUpkeep } from '../store/etcd-embedded/upkeep.ts';
import {
  carryRevisionPast,
  keepAside,
  memberRevision,
  restoreSnapshot,
  REVISION_MARGIN,
} from '../store/etcd-embedded/reset.ts';
import { verifyBackup, type BackupKind } from '../store/backup.ts';
import { countByResource, migrateStore } from '../store/datastore-migrate.ts';
import { openEtcdStore } from '../store/etcd.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import type { ServerExtension } from '../server/app.ts';

/** The extra group a join token must carry to let a new server into the etcd cluster (and hand it the CA). */
export const SERVER_JOIN_GROUP = 'system:bootstrappers:strata:servers';
export const ETCD_JOIN_PATH = '/strata/v1/etcd/join';

export interface EmbeddedEtcdFlags {
  /** `--cluster-init`: found a new etcd cluster with this server's member. */
  clusterInit?: boolean;
  /** `--join URL`: an existing server of the cluster. */
  join?: string;
  /** `--token`: a join token carrying SERVER_JOIN_GROUP. */
  token?: string;
  /** `--ca-cert-hash`: pins the joined server's CA. */
  caCertHash?: string;
  /** `--etcd-address`: where peers reach this member (default 127.0.0.1). */
  address?: string;
  clientPort?: number;
  peerPort?: number;
  /** `--quota-backend-bytes` (default 8 GiB). */
  quotaBackendBytes?: number;
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
}

/** What the cluster told this member when it was created (kept for restarts and `leave`). */
interface MemberRecord {
  name: string;
  address: string;
  clientPort: number;
  peerPort: number;
  initialCluster: string;
  state: 'new' | 'existing';
  /** Client URLs of the other members when this one was created. */
  peers: string[];
}

export interface RunningEmbeddedEtcd {
  member: EmbeddedEtcd;
  /** The Store's datastore flags: this member first, then the others. */
  datastore: DatastoreFlags;
  /** Serves ETCD_JOIN_PATH for servers joining through this one. */
  joinExtension: ServerExtension;
  stop(): Promise<void>;
}

const etcdDir = (dataDir: string) => join(dataDir, 'etcd');
const recordFile = (dataDir: string) => join(etcdDir(dataDir), 'member.json');

/** The PEM files of this data directory's member (DATA/etcd/tls). */
function memberTlsFiles(dataDir: string): MemberTlsFiles {
  const dir = join(etcdDir(dataDir), 'tls');
  return {
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    peerCertFile: join(dir, 'peer.crt'),
    peerKeyFile: join(dir, 'peer.key'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  };
}

function readRecord(dataDir: string): MemberRecord {
  return JSON.parse(readFileSync(recordFile(dataDir), 'utf8')) as MemberRecord;
}

function writeRecord(dataDir: string, record: MemberRecord): void {
  writeFileSync(recordFile(dataDir), JSON.stringify(record, null, 2), { mode: 0o600 });
}

/** Whether this data directory runs an embedded etcd (a member was created here before). */
export function hasEmbeddedEtcd(dataDir: string): boolean {
  return existsSync(recordFile(dataDir));
}

/** Checks the flags before anything starts; throws naming the flag. */
export function checkEmbeddedEtcdFlags(f: EmbeddedEtcdFlags): void {
  if (f.clusterInit && f.join) throw new Error('--cluster-init and --join exclude each other');
  if (f.join) {
    let u: URL;
    try {
      u = new URL(f.join);
    } catch {
      throw new Error(`--join ${f.join}: expected https://HOST:PORT of a server`);
    }
    if (u.protocol !== 'https:') throw new Error(`--join ${f.join}: a server is joined over https://`);
    if (!f.token)
      throw new Error('--join needs --token (strata token create --groups ' + SERVER_JOIN_GROUP + ')');
    if (!f.caCertHash) throw new Error('--join needs --ca-cert-hash (DATA/tls/ca.hash on the joined server)');
    parseCACertHash(f.caCertHash);
  }
  if (f.address !== undefined && !isIPv4(f.address))
    throw new Error(`--etcd-address ${f.address}: expected an IPv4 address of this machine`);
  for (const [flag, v] of [
    ['--etcd-client-port', f.clientPort],
    ['--etcd-peer-port', f.peerPort],
  ] as const)
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 65535))
      throw new Error(`${flag} ${v}: expected a port number`);
  if (
    f.quotaBackendBytes !== undefined &&
    (!Number.isInteger(f.quotaBackendBytes) || f.quotaBackendBytes < 1)
  )
    throw new Error(`--quota-backend-bytes ${f.quotaBackendBytes}: expected a positive number of bytes`);
}

/** The cluster CA in DATA/tls (made here first when this server founds the cluster). */
async function loadOrCreateCA(dataDir: string): Promise<KeyPair> {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const crt = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  if (existsSync(crt) && existsSync(key))
    return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
  const ca = await createCA('strata-ca');
  writeFileSync(key, ca.key, { mode: 0o600 });
  writeFileSync(crt, ca.cert, { mode: 0o644 });
  return ca;
}

/** Writes the CA the cluster handed over; refuses a data directory that has another CA already. */
function adoptCA(dataDir: string, ca: KeyPair): void {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const crt = join(dir, 'ca.crt');
  if (existsSync(crt) && caCertHash(readFileSync(crt, 'utf8')) !== caCertHash(ca.cert))
    throw new Error(`${crt} is another cluster's CA: a joining server needs an empty data directory`);
  writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
  writeFileSync(crt, ca.cert, { mode: 0o644 });
}

/** The member's serving, peer and client certificates from the cluster CA (renewed within 90 days of expiry). */
async function memberCertificates(dataDir: string, ca: KeyPair, address: string): Promise<MemberTlsFiles> {
  mkdirSync(join(etcdDir(dataDir), 'tls'), { recursive: true, mode: 0o700 });
  const names = [...new Set(['localhost', '127.0.0.1', address, hostname()])];
  const files = memberTlsFiles(dataDir);
  writeFileSync(files.caFile, ca.cert, { mode: 0o644 });
  const ensure = async (crt: string, key: string, make: () => Promise<KeyPair>) => {
    if (existsSync(crt) && existsSync(key) && daysLeft(readFileSync(crt, 'utf8')) > 90) {
      // Reissue when the address changed (a member must be reachable under the name it advertises).
      const { X509Certificate } = await import('node:crypto');
      if (new X509Certificate(readFileSync(crt)).checkIP(address) !== undefined) return;
    }
    const kp = await make();
    writeFileSync(key, kp.key, { mode: 0o600 });
    writeFileSync(crt, kp.cert, { mode: 0o644 });
  };
  await ensure(files.certFile, files.keyFile, () =>
    issue(ca, { commonName: 'strata-etcd', altNames: names, usage: 'server+client', days: 365 }),
  );
  await ensure(files.peerCertFile, files.peerKeyFile, () =>
    issue(ca, { commonName: 'strata-etcd-peer', altNames: names, usage: 'server+client', days: 365 }),
  );
  await ensure(files.clientCertFile, files.clientKeyFile, () =>
    issue(ca, { commonName: 'strata-etcd-client', altNames: names, usage: 'client', days: 365 }),
  );
  return files;
}

interface JoinReply {
  ca: KeyPair;
  initialCluster: string;
  clientUrls: string[];
}

/** POSTs the join request to the existing server, trusting only the CA pinned by hash. */
async function requestJoin(
  server: string,
  token: string,
  ca: string,
  body: { name: string; peerUrl: string },
): Promise<JoinReply> {
  const url = new URL(ETCD_JOIN_PATH, server);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        ca,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
        timeout: 60_000,
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          let parsed: any;
          try {
            parsed = JSON.parse(text);
          } catch {
            return reject(new Error(`--join ${server}: ${res.statusCode} ${text.slice(0, 200)}`));
          }
          if (res.statusCode !== 200)
            return reject(new Error(`--join ${server}: ${res.statusCode} ${parsed.message ?? text}`));
          resolve(parsed as JoinReply);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`--join ${server}: no answer within 60 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function memberName(): string {
  return `${hostname()
    .replace(/[^A-Za-z0-9-]/g, '-')
    .slice(0, 40)}-${randomBytes(3).toString('hex')}`;
}

/**
 * Starts this server's etcd member: founds the cluster (--cluster-init), joins it (--join), or restarts the
 * member this data directory already holds. Undefined when the server runs no embedded etcd.
 */
export async function startEmbeddedDatastore(
  dataDir: string,
  f: EmbeddedEtcdFlags,
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void },
): Promise<RunningEmbeddedEtcd | undefined> {
  checkEmbeddedEtcdFlags(f);
  const dir = etcdDir(dataDir);
  let record: MemberRecord | undefined = existsSync(recordFile(dataDir)) ? readRecord(dataDir) : undefined;
  if (!record && !f.clusterInit && !f.join) return undefined;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const quota = f.quotaBackendBytes ?? DEFAULT_QUOTA_BACKEND_BYTES;

  if (record && !hasMemberData(dir)) {
    // Created but never started (the process died between `member add` and the first start): try again.
    record = undefined;
  }
  if (!record) {
    const address = f.address ?? '127.0.0.1';
    const clientPort = f.clientPort ?? DEFAULT_CLIENT_PORT;
    const peerPort = f.peerPort ?? DEFAULT_PEER_PORT;
    const name = memberName();
    const peerUrl = `https://${address}:${peerPort}`;
    if (f.join) {
      const pinned = await fetchPinnedCA(f.join, parseCACertHash(f.caCertHash!));
      const reply = await requestJoin(f.join, f.token!, pinned, { name, peerUrl });
      if (caCertHash(reply.ca.cert) !== parseCACertHash(f.caCertHash!))
        throw new Error(`--join ${f.join}: the CA handed over is not the one --ca-cert-hash pins`);
      adoptCA(dataDir, reply.ca);
      record = {
        name,
        address,
        clientPort,
        peerPort,
        initialCluster: reply.initialCluster,
        state: 'existing',
        peers: reply.clientUrls,
      };
    } else {
      record = {
        name,
        address,
        clientPort,
        peerPort,
        initialCluster: `${name}=${peerUrl}`,
        state: 'new',
        peers: [],
      };
    }
    writeRecord(dataDir, record);
  }

  const ca = await loadOrCreateCA(dataDir);
  const tls = await memberCertificates(dataDir, ca, record.address);
  const member = await startEmbeddedEtcd({
    dir,
    name: record.name,
    address: record.address,
    clientPort: record.clientPort,
    peerPort: record.peerPort,
    tls,
    initialCluster: record.initialCluster,
    state: record.state,
    quotaBackendBytes: quota,
    heartbeatIntervalMs: f.heartbeatIntervalMs,
    electionTimeoutMs: f.electionTimeoutMs,
    log,
  });
  const local = memberClient([member.localClientUrl], tls);
  // Remember the other members' client URLs (at start and every 10 s: members join later): the Store fails
  // over to them after a restart, and `--cluster-leave` asks them.
  const rec = record;
  const recordPeers = async () => {
    try {
      const urls = (await listMembers(local)).flatMap((m) => (m.name === rec.name ? [] : m.clientUrls));
      if (urls.length && JSON.stringify(urls) !== JSON.stringify(rec.peers)) {
        rec.peers = urls;
        writeRecord(dataDir, rec);
      }
    } catch (err) {
      log?.warn({ err: (err as Error).message }, 'etcd member list failed; keeping the recorded members');
    }
  };
  await recordPeers();
  const peersTimer = setInterval(() => void recordPeers(), 10_000);
  peersTimer.unref();
  const upkeep = startDefragUpkeep({ client: local, quotaBackendBytes: quota, log });
  const hostsOf = (urls: string[]) => urls.map((u) => u.replace(/^https?:\/\//, ''));
  const others = [...new Set(hostsOf(record.peers))].filter(
    (h) => h !== `${record.address}:${record.clientPort}`,
  );
  const datastore: DatastoreFlags = {
    datastore: `etcd://${[`127.0.0.1:${record.clientPort}`, ...others].join(',')}`,
    etcdCafile: tls.caFile,
    etcdCertfile: tls.clientCertFile,
    etcdKeyfile: tls.clientKeyFile,
  };
  return {
    member,
    datastore,
    joinExtension: joinRoute({ client: local, ca: () => ({ cert: ca.cert, key: ca.key }), log }),
    async stop() {
      clearInterval(peersTimer);
      upkeep.stop();
      local.close();
      await member.stop();
    },
  };
}

const JoinBody = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, 'a member name: letters, digits and dashes'),
  peerUrl: z.string().regex(/^https:\/\/\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/, 'https://IPv4:PORT'),
});

/** POST ETCD_JOIN_PATH: adds the caller's member and hands it the CA (join tokens with SERVER_JOIN_GROUP only). */
function joinRoute(o: {
  client: ReturnType<typeof memberClient>;
  ca: () => KeyPair;
  log?: { info(o: object, m: string): void };
}): ServerExtension {
  return (app: FastifyInstance) => {
    app.post(ETCD_JOIN_PATH, async (req) => {
      // RBAC lets the group reach the path; the group is checked again here because what is handed out
      // is the cluster CA's key.
      const groups = req.user?.groups ?? [];
      if (!groups.includes(SERVER_JOIN_GROUP) && !groups.includes(ADMIN_GROUP))
        throw new ApiError(forbidden(`joining servers need a join token in group ${SERVER_JOIN_GROUP}`));
      const parsed = JoinBody.safeParse(req.body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new ApiError(badRequest(`${issue.path.join('.') || 'body'}: ${issue.message}`));
      }
      try {
        const plan = await addMember(o.client, parsed.data.name, parsed.data.peerUrl);
        o.log?.info(
          { member: parsed.data.name, peerUrl: parsed.data.peerUrl, user: req.user?.username },
          'etcd member added',
        );
        return { ca: o.ca(), initialCluster: plan.initialCluster, clientUrls: plan.clientUrls };
      } catch (err) {
        throw new ApiError(statusFailure(409, 'Conflict', `etcd member add: ${(err as Error).message}`));
      }
    });
  };
}

/**
 * `strata server leave`: removes this data directory's member from the cluster (through the other
 * members; the server must be stopped) and deletes its etcd data, so the rest keeps quorum with one
 * member fewer and the directory may join again later.
 */
export async function leaveEmbeddedEtcd(dataDir: string): Promise<string> {
  if (!hasEmbeddedEtcd(dataDir)) throw new Error(`${dataDir} holds no embedded etcd member`);
  const record = readRecord(dataDir);
  const tls = memberTlsFiles(dataDir);
  const self = `https://${record.address}:${record.clientPort}`;
  const endpoints = [...new Set(record.peers)].filter((u) => u !== self);
  if (endpoints.length === 0)
    throw new Error('this member founded the cluster and knows no other member to ask');
  const client = memberClient(endpoints, tls);
  try {
    const removed = await removeMember(client, record.name);
    if (!removed) throw new Error(`the cluster has no member named ${record.name}`);
  } finally {
    client.close();
  }
  rmSync(etcdDir(dataDir), { recursive: true, force: true });
  return record.name;
}

/**
 * RBAC for the join path: the ClusterRole system:strata:etcd-join (POST ETCD_JOIN_PATH) bound to
 * SERVER_JOIN_GROUP. Made by the servers that run an embedded etcd (the path exists only there).
 */
export async function ensureServerJoinRbac(objects: ObjectStore): Promise<void> {
  const name = 'system:strata:etcd-join';
  const role: ClusterRole = {
    apiVersion: RBAC_API_VERSION,
    kind: 'ClusterRole',
    metadata: { name },
    rules: [{ verbs: ['post'], nonResourceURLs: [ETCD_JOIN_PATH] }],
  };
  const binding: ClusterRoleBinding = {
    apiVersion: RBAC_API_VERSION,
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
    subjects: [{ kind: 'Group', name: SERVER_JOIN_GROUP, apiGroup: RBAC_GROUP }],
  };
  for (const obj of [role, binding]) {
    try {
      await objects.create(obj);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 409)) throw err;
    }
  }
}

/** `--cluster-reset`, `--cluster-reset-restore-path` and the flags they meet. */
export interface ClusterResetFlags {
  clusterReset?: boolean;
  clusterResetRestorePath?: string;
  clusterInit?: boolean;
  clusterLeave?: boolean;
  join?: string;
  datastore?: string;
}

/** Refuses flag combinations a reset cannot honour before anything is touched; throws naming the flags. */
export function checkClusterResetFlags(f: ClusterResetFlags): void {
  if (f.clusterResetRestorePath !== undefined && !f.clusterReset)
    throw new Error('--cluster-reset-restore-path needs --cluster-reset');
  if (!f.clusterReset) return;
  if (f.join)
    throw new Error(
      '--cluster-reset and --join exclude each other: the reset makes this member a cluster of its own; the other servers --join it afterwards',
    );
  if (f.datastore)
    throw new Error(
      '--cluster-reset resets the embedded etcd (DATA/etcd); --datastore names another datastore (restore into it with `strata restore FILE --datastore …`)',
    );
  if (f.clusterLeave) throw new Error('--cluster-reset and --cluster-leave exclude each other');
  if (f.clusterResetRestorePath === '')
    throw new Error('--cluster-reset-restore-path: expected the path of a backup file');
}

export interface ClusterResetOptions {
  /** A `strata backup` file (etcd snapshot or SQLite), with FILE.sha256 beside it. */
  restorePath?: string;
  /** Raft timings of the one start the reset makes (tests on loaded machines). */
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ClusterResetReport {
  member: string;
  /** https://ADDRESS:PEER_PORT — what joining servers' members talk to. */
  peerUrl: string;
  clientUrl: string;
  /** The backup restored, when --cluster-reset-restore-path was given. */
  restored?: { file: string; kind: BackupKind; sha256: string };
  /** Where the member's previous data directory was kept (restores only; a plain reset keeps it in place). */
  keptAs?: string;
  /** The revision the previous member's data held (undefined when it held none). */
  previousRevision?: number;
  /** The cluster's revision after the reset: the next write gets a higher one. */
  revision: number;
  /** Keys per resource the reset cluster holds. */
  counts: Record<string, number>;
}

/** Whether something accepts TCP connections on 127.0.0.1:port (a running member of this data directory). */
function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(2_000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * `strata server --cluster-reset [--cluster-reset-restore-path FILE]` (K3s' flags), with the server stopped:
 * makes this data directory's member the only member of a new cluster, then stops it — the server is
 * started again without the flag, as K3s asks.
 *
 * - Without a backup: etcd's `--force-new-cluster`, once. The member keeps its data, revisions and IDs in
 *   place (nothing to copy, and etcd's own, tested way out of a permanent quorum loss); only the membership
 *   is rewritten to itself.
 * - With a backup (checksum verified first): the member's data directory is kept aside (renamed, never
 *   deleted) and a new one is made — from an etcd snapshot by `etcdctl snapshot restore` under this
 *   member's name and peer URL (keys keep their revisions: resourceVersions read from the restored cluster
 *   are the backup's), from a SQLite backup by a new empty member the backup's keys are copied into through
 *   the Store (`migrateStore`, as `strata restore` does) — with a new cluster token, so the new cluster
 *   and member IDs differ from the old cluster's and a stale old member cannot talk to it.
 *
 * Either way the revision is then carried past the old member's last one (plus REVISION_MARGIN) and history
 * compacted there, so no resourceVersion a client took from the old cluster is reused or waited for.
 * Anything failing before the end puts the old data directory back.
 */
export async function resetEmbeddedEtcd(
  dataDir: string,
  o: ClusterResetOptions = {},
): Promise<ClusterResetReport> {
  const log = o.log ?? (() => {});
  if (!hasEmbeddedEtcd(dataDir))
    throw new Error(
      `--cluster-reset: ${dataDir} holds no embedded etcd member (no ${recordFile(dataDir)}); a reset works on the data directory of a server started with --cluster-init or --join`,
    );
  const record = readRecord(dataDir);
  const dir = etcdDir(dataDir);
  const data = memberDataDir(dir);
  if (await portAnswers(record.clientPort))
    throw new Error(
      `--cluster-reset: something answers on 127.0.0.1:${record.clientPort}, this data directory's etcd client port: stop the server first`,
    );
  let restored: ClusterResetReport['restored'];
  if (o.restorePath !== undefined) {
    const v = await verifyBackup(o.restorePath).catch((err: Error) => {
      throw new Error(`--cluster-reset-restore-path: ${err.message}`);
    });
    restored = { file: o.restorePath, kind: v.kind, sha256: v.sha256 };
    log(`${o.restorePath}: ${v.kind} backup, checksum verified`);
  } else if (!hasMemberData(dir)) {
    throw new Error(
      `--cluster-reset: ${data} holds no member data to keep; restore a backup with --cluster-reset-restore-path FILE`,
    );
  }
  const previousRevision = memberRevision(data);
  const ca = await loadOrCreateCA(dataDir);
  const tls = await memberCertificates(dataDir, ca, record.address);
  const peerUrl = `https://${record.address}:${record.peerPort}`;
  const initialCluster = `${record.name}=${peerUrl}`;
  const clusterToken = `strata-${randomBytes(8).toString('hex')}`;

  let keptAs: string | undefined;
  if (restored && existsSync(data)) {
    keptAs = keepAside(data);
    log(`kept the member's previous data as ${keptAs}`);
  }
  const putBack = () => {
    if (!keptAs) return;
    rmSync(data, { recursive: true, force: true });
    renameSync(keptAs, data);
  };
  let revision: number;
  let counts: Record<string, number>;
  try {
    if (restored?.kind === 'etcd')
      restoreSnapshot({ snapshot: restored.file, dataDir: data, name: record.name, peerUrl, clusterToken });
    const member = await startEmbeddedEtcd({
      dir,
      name: record.name,
      address: record.address,
      clientPort: record.clientPort,
      peerPort: record.peerPort,
      tls,
      initialCluster,
      state: 'new',
      clusterToken,
      forceNewCluster: !restored,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      electionTimeoutMs: o.electionTimeoutMs,
    });
    try {
      const client = memberClient([member.localClientUrl], tls);
      try {
        const members = await listMembers(client);
        if (members.length !== 1 || members[0]!.name !== record.name)
          throw new Error(
            `after the reset the cluster lists ${members.map((m) => m.name || m.id).join(', ')}, not only ${record.name}`,
          );
      } finally {
        client.close();
      }
      const store = openEtcdStore({
        endpoints: [member.localClientUrl],
        tls: {
          ca: readFileSync(tls.caFile),
          cert: readFileSync(tls.clientCertFile),
          key: readFileSync(tls.clientKeyFile),
        },
        compactionIntervalMs: 0,
      });
      try {
        if (restored?.kind === 'sqlite') await copySqliteBackup(restored.file, store, log);
        const floor = previousRevision === undefined ? 0 : previousRevision + REVISION_MARGIN;
        revision = await carryRevisionPast(store, floor, log);
        counts = countByResource((await store.list('')).items.map((kv) => kv.key));
      } finally {
        await store.close();
      }
    } finally {
      await member.stop();
    }
  } catch (err) {
    putBack();
    throw err;
  }
  writeRecord(dataDir, { ...record, initialCluster, state: 'new', peers: [] });
  return {
    member: record.name,
    peerUrl,
    clientUrl: `https://${record.address}:${record.clientPort}`,
    restored,
    keptAs,
    previousRevision,
    revision,
    counts,
  };
}

/** Copies a SQLite backup's keys into the new, empty member (a temp copy is read: the file stays as it is). */
async function copySqliteBackup(file: string, store: Store, log: (l: string) => void): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'strata-cluster-reset-'));
  try {
    copyFileSync(file, join(tmp, 'state.db'));
    const source = openSqliteStore(join(tmp, 'state.db'));
    try {
      const r = await migrateStore(source, store, { log });
      log(`copied ${r.total} keys from the SQLite backup (revision ${r.sourceRevision}); counts verified`);
    } finally {
      await source.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
