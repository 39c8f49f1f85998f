// `strata server --cluster-reset [--cluster-reset-restore-path FILE]` end to end with real processes: real
// `strata server`s on their embedded etcd (Debian's etcd 3.4), the real `strata backup`, `strata restore`
// and `strata token create`, over loopback only. One populated cluster goes through: refused resets that
// change nothing, a reset from an etcd backup (counts equal the backup's, later writes gone, new
// resourceVersions past every old one, a second server joins), a reset keeping the data after the second
// server is lost for good (etcd --force-new-cluster), and a reset from a SQLite backup.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { Client, ClientError } from '../client/client.ts';
import { freePort } from '../lib/free-port.ts';
import { ETCDCTL_BIN } from '../store/etcd-process.ts';
import { etcdUnavailable } from '../store/testing/etcd.ts';
import { memberClient, type MemberTlsFiles } from '../store/etcd-embedded/member.ts';
import { listMembers } from '../store/etcd-embedded/membership.ts';

const missing =
  etcdUnavailable() ?? (existsSync(ETCDCTL_BIN) ? undefined : `${ETCDCTL_BIN} not found (etcd-client)`);
if (missing) console.warn(`skipping --cluster-reset tests: ${missing}`);

const MAIN = resolve(fileURLToPath(import.meta.url), '../../cli/main.ts');
const CONFIGMAP = kindFor('v1', 'ConfigMap')!;
const SECRET = kindFor('v1', 'Secret')!;
const NAMESPACE = kindFor('v1', 'Namespace')!;
const NAMESPACES = ['team-a', 'team-b', 'team-c'];

interface Server {
  name: string;
  dir: string;
  args: string[];
  port: number;
  etcdClientPort: number;
  proc?: ChildProcess;
  out: string;
}

function cli(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], {
    encoding: 'utf8',
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function ok(args: string[]): string {
  const r = cli(args);
  if (r.status !== 0) throw new Error(`strata ${args.join(' ')} failed (${r.status}): ${r.out}`);
  return r.out;
}

function etcdTls(dataDir: string): MemberTlsFiles {
  const d = join(dataDir, 'etcd/tls');
  return {
    caFile: join(d, 'ca.crt'),
    certFile: join(d, 'server.crt'),
    keyFile: join(d, 'server.key'),
    peerCertFile: join(d, 'peer.crt'),
    peerKeyFile: join(d, 'peer.key'),
    clientCertFile: join(d, 'client.crt'),
    clientKeyFile: join(d, 'client.key'),
  };
}

/** The "  resource   n" lines the reset and `strata restore` print. */
function countsIn(out: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of out.matchAll(/^ {2}(\S+) +(\d+)$/gm)) counts[m[1]!] = Number(m[2]);
  return counts;
}

/** What a refused command must leave as it was: the member record and the etcd directory's entries. */
function etcdState(dir: string): string {
  const etcd = join(dir, 'etcd');
  return JSON.stringify([readFileSync(join(etcd, 'member.json'), 'utf8'), readdirSync(etcd).sort()]);
}

describe.skipIf(missing)('strata server --cluster-reset', () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-cluster-reset-'));
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) await stop(s);
    rmSync(root, { recursive: true, force: true });
  });

  async function newServer(name: string, extra: string[]): Promise<Server> {
    const dir = join(root, name);
    const s: Server = {
      name,
      dir,
      port: await freePort(),
      etcdClientPort: await freePort(),
      args: [],
      out: '',
    };
    s.args = [
      'server',
      '--data-dir',
      dir,
      '--port',
      String(s.port),
      '--advertise-address',
      'none',
      '--kubeconfig',
      join(dir, 'kubeconfig'),
      '--audit-log-path',
      'none',
      '--etcd-client-port',
      String(s.etcdClientPort),
      '--etcd-peer-port',
      String(await freePort()),
      '--quota-backend-bytes',
      String(256 * 1024 * 1024),
    ];
    servers.push(s);
    await start(s, extra);
    return s;
  }

  async function start(s: Server, extra: string[] = []): Promise<void> {
    s.out = '';
    // Its own process group: stopping the group takes the server's etcd member with it.
    const p = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...s.args, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    s.proc = p;
    p.stdout!.on('data', (d) => (s.out += d));
    p.stderr!.on('data', (d) => (s.out += d));
    for (const deadline = Date.now() + 240_000; !s.out.includes('listening on');) {
      if (p.exitCode !== null) throw new Error(`${s.name} exited: ${s.out}`);
      if (Date.now() > deadline) {
        const tail = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').slice(-4000) : '(none)');
        throw new Error(
          `${s.name} did not listen within 240 s: ${s.out}\n--- etcd.log ---\n${tail(join(s.dir, 'etcd/etcd.log'))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** SIGTERM to the server's group (it stops its member), SIGKILL after 30 s. */
  async function stop(s: Server, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = s.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((done) => {
      const force = setTimeout(() => process.kill(-p.pid!, 'SIGKILL'), 30_000);
      p.once('exit', () => {
        clearTimeout(force);
        done();
      });
      try {
        process.kill(signal === 'SIGKILL' ? -p.pid! : p.pid!, signal);
      } catch {
        done();
      }
    });
    // The member is the server's child: make sure it is gone too before its data is touched.
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 500));
  }

  function client(s: Server): Client {
    const tls = join(s.dir, 'tls');
    return new Client({
      server: `https://127.0.0.1:${s.port}`,
      tls: {
        ca: readFileSync(join(tls, 'ca.crt'), 'utf8'),
        cert: readFileSync(join(tls, 'admin.crt'), 'utf8'),
        key: readFileSync(join(tls, 'admin.key'), 'utf8'),
      },
    });
  }

  /** Retries while a server that just started is still settling (leader election, informers). */
  async function eventually<T>(fn: () => Promise<T>, ms = 60_000): Promise<T> {
    for (const deadline = Date.now() + ms; ;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  const members = async (s: Server) => {
    const c = memberClient([`https://127.0.0.1:${s.etcdClientPort}`], etcdTls(s.dir));
    try {
      return (await listMembers(c)).map((m) => m.name).sort();
    } finally {
      c.close();
    }
  };

  /** ConfigMaps and Secrets of the test namespaces: "ns/kind/name" → data. */
  async function objects(c: Client): Promise<Map<string, unknown>> {
    const m = new Map<string, unknown>();
    for (const ns of NAMESPACES)
      for (const kind of [CONFIGMAP, SECRET])
        for (const o of (await c.list(kind, ns)).items)
          if (o.metadata.name.startsWith('obj-')) m.set(`${ns}/${kind.plural}/${o.metadata.name}`, o.data);
    return m;
  }

  const maxRv = (items: { metadata: { resourceVersion: string } }[]) =>
    Math.max(...items.map((o) => Number(o.metadata.resourceVersion)));

  const etcdFlags = (s: Server) => {
    const t = etcdTls(s.dir);
    return [
      '--datastore',
      `etcd://127.0.0.1:${s.etcdClientPort}`,
      '--etcd-cafile',
      t.caFile,
      '--etcd-certfile',
      t.clientCertFile,
      '--etcd-keyfile',
      t.clientKeyFile,
    ];
  };

  let s1: Server;
  let atBackup: Map<string, unknown>;
  let backupCounts: Record<string, number>;
  let highestBeforeReset = 0;
  const backup = join(root, 'backup-etcd.db');

  it('backs up a populated cluster, then writes more', async () => {
    s1 = await newServer('s1', ['--cluster-init']);
    const c = client(s1);
    for (const ns of NAMESPACES) {
      await eventually(() => c.create(NAMESPACE, { metadata: { name: ns } }));
      for (let i = 0; i < 6; i++)
        await c.create(CONFIGMAP, { metadata: { name: `obj-${i}`, namespace: ns }, data: { i: String(i) } });
      for (let i = 0; i < 2; i++)
        await c.create(SECRET, {
          metadata: { name: `obj-s${i}`, namespace: ns },
          data: { k: Buffer.from(`${ns}-${i}`).toString('base64') },
        });
    }
    atBackup = await objects(c);
    expect(atBackup.size).toBe(NAMESPACES.length * 8);

    const out = ok(['backup', '--out', backup, ...etcdFlags(s1)]);
    expect(out).toMatch(/^etcd backup /);
    // The backup's counts read independently of the reset: `strata restore` into a SQLite file.
    const fromBackup = ok(['restore', backup, '--datastore', `sqlite://${join(root, 'from-backup.db')}`]);
    backupCounts = countsIn(fromBackup);
    expect(backupCounts['configmaps']).toBeGreaterThanOrEqual(NAMESPACES.length * 6);

    // After the backup: a new object, one deleted, one changed.
    const late = await c.create(CONFIGMAP, {
      metadata: { name: 'obj-late', namespace: 'team-a' },
      data: { late: 'yes' },
    });
    await c.request('DELETE', `/api/v1/namespaces/team-b/configmaps/obj-0`);
    const changed = await c.get(CONFIGMAP, 'team-c', 'obj-1');
    const replaced = await c.replace(CONFIGMAP, { ...changed, data: { i: 'changed' } });
    highestBeforeReset = Math.max(
      Number(late.metadata.resourceVersion),
      Number(replaced.metadata.resourceVersion),
      Number((await c.list(CONFIGMAP)).metadata.resourceVersion),
    );
    c.close();
  }, 400_000);

  it('refuses bad flags, bad backups and a running server, changing nothing', async () => {
    const running = etcdState(s1.dir);
    const resetWhileRunning = cli(['server', '--data-dir', s1.dir, '--cluster-reset']);
    expect(resetWhileRunning.status).not.toBe(0);
    expect(resetWhileRunning.out).toContain('stop the server first');
    expect(etcdState(s1.dir)).toBe(running);

    await stop(s1);
    const before = etcdState(s1.dir);
    const bad = join(root, 'damaged.db');
    copyFileSync(backup, bad);
    copyFileSync(`${backup}.sha256`, `${bad}.sha256`);
    appendFileSync(bad, 'x');
    const noMember = join(root, 'empty');
    mkdirSync(noMember);
    const cases: [string[], RegExp][] = [
      [['--cluster-reset', '--join', 'https://127.0.0.1:1'], /--cluster-reset and --join exclude each other/],
      [['--cluster-reset', '--datastore', 'sqlite:///tmp/x.db'], /--cluster-reset resets the embedded etcd/],
      [['--cluster-reset', '--cluster-leave'], /exclude each other/],
      [['--cluster-reset-restore-path', backup], /--cluster-reset-restore-path needs --cluster-reset/],
      [
        ['--cluster-reset', '--cluster-reset-restore-path', join(root, 'nope.db')],
        /nope\.db: no such backup/,
      ],
      [['--cluster-reset', '--cluster-reset-restore-path', bad], /checksum mismatch/],
    ];
    for (const [flags, message] of cases) {
      const r = cli(['server', '--data-dir', s1.dir, ...flags]);
      expect(r.status, flags.join(' ')).not.toBe(0);
      expect(r.out, flags.join(' ')).toMatch(message);
      expect(etcdState(s1.dir), flags.join(' ')).toBe(before);
    }
    const r = cli(['server', '--data-dir', noMember, '--cluster-reset']);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('holds no embedded etcd member');
    expect(readdirSync(noMember)).toEqual([]);
  }, 120_000);

  let s2: Server;
  it('restores the backup into a one-member cluster: its counts, later writes gone, resourceVersions past the old ones; a second server joins', async () => {
    const out = ok([
      'server',
      '--data-dir',
      s1.dir,
      '--cluster-reset',
      '--cluster-reset-restore-path',
      backup,
    ]);
    expect(out).toContain('is now the only member of a new cluster, restored from the etcd backup');
    expect(out).toContain('start this server again without --cluster-reset');
    expect(countsIn(out)).toEqual(backupCounts);
    const kept = /its previous data is kept in (\S+)/.exec(out)![1]!;
    expect(existsSync(join(kept, 'member', 'wal'))).toBe(true);
    const record = JSON.parse(readFileSync(join(s1.dir, 'etcd/member.json'), 'utf8'));
    expect(record.state).toBe('new');
    expect(record.peers).toEqual([]);
    expect(record.initialCluster.split(',')).toHaveLength(1);

    await start(s1);
    const c = client(s1);
    const now = await eventually(() => objects(c));
    expect(now).toEqual(atBackup);
    expect(now.has('team-a/configmaps/obj-late')).toBe(false);
    expect(now.get('team-c/configmaps/obj-1')).toEqual({ i: '1' });

    // The restored objects keep the backup's resourceVersions; new writes get higher ones, and higher than
    // any the old cluster handed out after the backup.
    const restored = (await c.list(CONFIGMAP)).items;
    const fresh = await eventually(() =>
      c.create(CONFIGMAP, { metadata: { name: 'obj-after-reset', namespace: 'team-a' }, data: { n: '1' } }),
    );
    expect(Number(fresh.metadata.resourceVersion)).toBeGreaterThan(maxRv(restored));
    expect(Number(fresh.metadata.resourceVersion)).toBeGreaterThan(highestBeforeReset);
    // A watch from a resourceVersion of the old cluster is told to relist (410), not left waiting.
    const gone = await c
      .request('GET', '/api/v1/namespaces/team-a/configmaps', {
        query: { watch: 'true', resourceVersion: String(highestBeforeReset), timeoutSeconds: '5' },
      })
      .then(
        (res) => res.text(),
        (err: unknown) => (err instanceof ClientError ? `${err.code} ${err.message}` : String(err)),
      );
    expect(gone).toMatch(/too old resource version/);
    expect(await members(s1)).toHaveLength(1);

    // A second server joins the reset cluster and serves what it holds.
    const token = ok([
      '--kubeconfig',
      join(s1.dir, 'kubeconfig'),
      'token',
      'create',
      '--ttl',
      '1h',
      '--groups',
      'system:bootstrappers:strata:servers',
    ]).trim();
    const caHash = readFileSync(join(s1.dir, 'tls/ca.hash'), 'utf8').trim();
    s2 = await newServer('s2', [
      '--join',
      `https://127.0.0.1:${s1.port}`,
      '--token',
      token,
      '--ca-cert-hash',
      caHash,
    ]);
    expect(await members(s1)).toHaveLength(2);
    const c2 = client(s2);
    expect((await eventually(() => c2.get(CONFIGMAP, 'team-a', 'obj-after-reset'))).data).toEqual({ n: '1' });
    expect(await objects(c2)).toEqual(await objects(c));
    c.close();
    c2.close();
  }, 600_000);

  it('resets to a one-member cluster keeping the data when the other member is lost for good', async () => {
    const c = client(s1);
    await c.create(CONFIGMAP, {
      metadata: { name: 'obj-two-members', namespace: 'team-b' },
      data: { n: '2' },
    });
    const expected = await objects(c);
    c.close();
    // s2's host is gone (killed, never to return); s1 alone has no quorum of two.
    await stop(s2, 'SIGKILL');
    await stop(s1);
    const out = ok(['server', '--data-dir', s1.dir, '--cluster-reset']);
    expect(out).toContain('is now the only member of a new cluster, keeping its data');
    expect(out).not.toContain('kept in');
    await start(s1);
    expect(await members(s1)).toHaveLength(1);
    const c1 = client(s1);
    expect(await eventually(() => objects(c1))).toEqual(expected);
    // It writes alone again.
    await eventually(() =>
      c1.create(CONFIGMAP, { metadata: { name: 'obj-alone', namespace: 'team-c' }, data: { n: '3' } }),
    );
    c1.close();
  }, 600_000);

  it('restores a SQLite backup into the member', async () => {
    // A SQLite backup of the same contents: `strata backup` of the file `strata restore` made above.
    const sqliteBackup = join(root, 'backup-sqlite.db');
    ok(['backup', '--out', sqliteBackup, '--datastore', `sqlite://${join(root, 'from-backup.db')}`]);
    await stop(s1);
    const out = ok([
      'server',
      '--data-dir',
      s1.dir,
      '--cluster-reset',
      '--cluster-reset-restore-path',
      sqliteBackup,
    ]);
    expect(out).toContain('restored from the sqlite backup');
    expect(countsIn(out)).toEqual(backupCounts);
    await start(s1);
    const c = client(s1);
    expect(await eventually(() => objects(c))).toEqual(atBackup);
    expect(await members(s1)).toHaveLength(1);
    c.close();
  }, 600_000);
});
