// The processes: `strata up` (control plane + agent in one process), `strata server`, `strata agent`,
// and `strata down` (stops a detached `up`). Flags and process chores (pid file, detaching, signals,
// what is printed) live here; the wiring of a node and of the control plane is src/node/, loaded only by
// the commands that start one.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultConfigPath, readKubeconfig, writeKubeconfig } from '../client/kubeconfig.ts';

/** `--datastore`, `--etcd-cafile|certfile|keyfile`, `--backup-schedule|retention|dir` as commander parses them. */
export interface DatastoreCliOptions {
  datastore?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  backupSchedule?: string;
  backupRetention?: number;
  backupDir?: string;
  watchCache?: boolean;
}

/** Paths resolved against the working directory (a detached process may run elsewhere). */
export function datastoreFlags(o: DatastoreCliOptions): DatastoreCliOptions {
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
  return {
    datastore: o.datastore,
    etcdCafile: abs(o.etcdCafile),
    etcdCertfile: abs(o.etcdCertfile),
    etcdKeyfile: abs(o.etcdKeyfile),
    backupSchedule: o.backupSchedule,
    backupRetention: o.backupRetention,
    backupDir: abs(o.backupDir),
    watchCache: o.watchCache,
  };
}

/** `strata server --cluster-init | --join URL --token T --ca-cert-hash H`, `--etcd-*`, `--cluster-leave`. */
export interface EmbeddedEtcdCliOptions {
  clusterInit?: boolean;
  join?: string;
  token?: string;
  caCertHash?: string;
  etcdAddress?: string;
  etcdClientPort?: number;
  etcdPeerPort?: number;
  quotaBackendBytes?: number;
  clusterLeave?: boolean;
  /** `--cluster-reset [--cluster-reset-restore-path FILE]`: a one-member cluster from this member (K3s' flags). */
  clusterReset?: boolean;
  clusterResetRestorePath?: string;
}

export function defaultDataDir(): string {
  return process.env.STRATA_HOME ? join(process.env.STRATA_HOME, 'data') : join(homedir(), '.strata', 'data');
}

/** The audit log flags of `strata up` and `strata server`. */
export interface AuditCliOptions {
  auditLogPath?: string;
  auditPolicyFile?: string;
  auditLogMaxsize?: number;
  auditLogMaxbackup?: number;
  auditLogMaxage?: number;
}

/**
 * The audit log is on by default (zero trust asks for one; kube-apiserver's is off unless given a path):
 * DATA/audit.log at Metadata for every request. `--audit-log-path -` writes to stdout, `none` turns it off.
 */
export function auditConfig(o: AuditCliOptions, dataDir: string) {
  if (o.auditLogPath === 'none') return undefined;
  return {
    path: o.auditLogPath === '-' ? '-' : resolve(o.auditLogPath ?? join(dataDir, 'audit.log')),
    policyFile: o.auditPolicyFile && resolve(o.auditPolicyFile),
    maxSizeMB: o.auditLogMaxsize,
    maxBackups: o.auditLogMaxbackup,
    maxAgeDays: o.auditLogMaxage,
  };
}

export interface UpOptions extends AuditCliOptions {
  dataDir?: string;
  /** Comma-separated runtime classes this node runs (default: every tier the node runs by default). */
  runtimes?: string;
  host?: string;
  port?: number;
  kubeconfig?: string;
  detach?: boolean;
  nodeName?: string;
  strategy?: 'spread' | 'binpack';
  verbose?: boolean;
  /** Seconds without a lease renewal before a node becomes NotReady. */
  nodeGracePeriod?: number;
  /** Seconds a NotReady node's pods wait before they are evicted. */
  podEvictionTimeout?: number;
  /** The agent's lease duration in seconds (it renews every quarter of it). */
  leaseDuration?: number;
  /** Plain HTTP on loopback (development only). */
  insecureHttp?: boolean;
  /** Extra names/addresses for the serving certificate. */
  tlsSan?: string[];
  /** Where Service cluster IPs and NodePorts come from. */
  serviceCidr?: string;
  serviceNodePortRange?: string;
  /** Where pods reach the API (an address of this machine, or none). */
  advertiseAddress?: string;
  /** The node's pod bridge and pod range. */
  podBridge?: string;
  podCidr?: string;
  /** Pod network namespaces kept ready for pod starts (`--netns-pool`). */
  netnsPool?: number;
  /** The gateway's Ingress ports (0 = off). */
  httpPort?: number;
  httpsPort?: number;
  /** `--encryption-provider-config`: resources encrypted at rest (docs/data-protection.md). */
  encryptionProviderConfig?: string;
  /** `--pod-security-config`: the cluster's Pod Security defaults (docs/policy-guards.md). */
  podSecurityConfig?: string;
  /** `--service-account-issuer`: the iss of service-account tokens. */
  serviceAccountIssuer?: string;
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    void stop().finally(() => process.exit(0));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export async function up(o: UpOptions): Promise<void> {
  const dataDir = resolve(o.dataDir ?? defaultDataDir());
  const kubeconfig = resolve(o.kubeconfig ?? defaultConfigPath());
  if (o.detach) return upDetached(o, dataDir, kubeconfig);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logFile = join(dataDir, 'strata.log');
  const { startSingleNode } = await import('../node/single-node.ts');
  const cluster = await startSingleNode({
    dataDir,
    host: o.host,
    port: o.port,
    strategy: o.strategy,
    nodeGracePeriodSeconds: o.nodeGracePeriod,
    podEvictionTimeoutSeconds: o.podEvictionTimeout,
    insecureHttp: o.insecureHttp,
    tlsSans: o.tlsSan,
    serviceCidr: o.serviceCidr,
    nodePortRange: o.serviceNodePortRange,
    advertiseAddress: o.advertiseAddress,
    runtimes: o.runtimes,
    nodeName: o.nodeName,
    leaseDurationSeconds: o.leaseDuration,
    podNetwork: { bridge: o.podBridge, cidr: o.podCidr, netnsPool: o.netnsPool },
    httpPort: o.httpPort,
    httpsPort: o.httpsPort,
    encryptionProviderConfig: o.encryptionProviderConfig && resolve(o.encryptionProviderConfig),
    podSecurityConfig: o.podSecurityConfig && resolve(o.podSecurityConfig),
    serviceAccountIssuer: o.serviceAccountIssuer,
    audit: auditConfig(o, dataDir),
    logFile,
    verbose: o.verbose,
  });
  const { controlPlane: cp, node } = cluster;
  // Written once the node is up: `strata image` follows it to this node's image store.
  writeKubeconfig(kubeconfig, cp.kubeconfig({ name: node.name, imageStore: node.imageStore }));
  writeFileSync(join(dataDir, 'strata.pid'), String(process.pid));
  console.log(`Strata is up: API server ${cp.url}, node "${node.name}"`);
  console.log(`  kubeconfig:  ${kubeconfig}`);
  console.log(`  admin token: ${cp.adminTokenFile}`);
  if (cp.caHash) console.log(`  CA hash:     ${cp.caHash} (agents join with --ca-cert-hash)`);
  console.log(`  logs:        ${logFile}`);
  console.log(`Try: strata get nodes   |   strata run --rm wasm build/wasm/hello.wasm -- world`);
  // `up` is the whole node: stopping it stops its containers too (a kill -9 leaves them to be re-adopted).
  onSignals(async () => {
    await cluster.stop();
    rmSync(join(dataDir, 'strata.pid'), { force: true });
  });
}

/** Starts `strata up` in the background, waits until its node is Ready, and returns. */
async function upDetached(o: UpOptions, dataDir: string, kubeconfig: string): Promise<void> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pidFile = join(dataDir, 'strata.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (isAlive(pid)) {
      console.log(`Strata is already running (pid ${pid}); kubeconfig ${kubeconfig}`);
      return;
    }
  }
  rmSync(kubeconfig, { force: true });
  const args = [
    ...process.execArgv,
    process.argv[1],
    'up',
    '--data-dir',
    dataDir,
    '--kubeconfig',
    kubeconfig,
    ...(o.host ? ['--host', o.host] : []),
    ...(o.port !== undefined ? ['--port', String(o.port)] : []),
    ...(o.nodeName ? ['--node-name', o.nodeName] : []),
    ...(o.runtimes ? ['--runtimes', o.runtimes] : []),
    ...(o.strategy ? ['--strategy', o.strategy] : []),
    ...(o.nodeGracePeriod !== undefined ? ['--node-grace-period', String(o.nodeGracePeriod)] : []),
    ...(o.podEvictionTimeout !== undefined ? ['--pod-eviction-timeout', String(o.podEvictionTimeout)] : []),
    ...(o.leaseDuration !== undefined ? ['--lease-duration', String(o.leaseDuration)] : []),
    ...(o.insecureHttp ? ['--insecure-http'] : []),
    ...(o.serviceCidr ? ['--service-cidr', o.serviceCidr] : []),
    ...(o.serviceNodePortRange ? ['--service-node-port-range', o.serviceNodePortRange] : []),
    ...(o.advertiseAddress ? ['--advertise-address', o.advertiseAddress] : []),
    ...(o.podBridge ? ['--pod-bridge', o.podBridge] : []),
    ...(o.podCidr ? ['--pod-cidr', o.podCidr] : []),
    ...(o.netnsPool !== undefined ? ['--netns-pool', String(o.netnsPool)] : []),
    ...(o.httpPort !== undefined ? ['--http-port', String(o.httpPort)] : []),
    ...(o.httpsPort !== undefined ? ['--https-port', String(o.httpsPort)] : []),
    ...(o.tlsSan ?? []).flatMap((s) => ['--tls-san', s]),
    ...(o.encryptionProviderConfig
      ? ['--encryption-provider-config', resolve(o.encryptionProviderConfig)]
      : []),
    ...(o.podSecurityConfig ? ['--pod-security-config', resolve(o.podSecurityConfig)] : []),
    ...(o.serviceAccountIssuer ? ['--service-account-issuer', o.serviceAccountIssuer] : []),
    ...(o.auditLogPath
      ? [
          '--audit-log-path',
          o.auditLogPath === '-' || o.auditLogPath === 'none' ? o.auditLogPath : resolve(o.auditLogPath),
        ]
      : []),
    ...(o.auditPolicyFile ? ['--audit-policy-file', resolve(o.auditPolicyFile)] : []),
    ...(o.auditLogMaxsize !== undefined ? ['--audit-log-maxsize', String(o.auditLogMaxsize)] : []),
    ...(o.auditLogMaxbackup !== undefined ? ['--audit-log-maxbackup', String(o.auditLogMaxbackup)] : []),
    ...(o.auditLogMaxage !== undefined ? ['--audit-log-maxage', String(o.auditLogMaxage)] : []),
  ];
  const out = openSync(join(dataDir, 'up.out'), 'a');
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  // A loaded machine can take minutes (first start issues the cluster's certificates and syncs every informer);
  // say so while waiting rather than give up on a process that is still coming up.
  const started = Date.now();
  const deadline = started + 300_000;
  let nextNotice = started + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`strata up exited with code ${child.exitCode}; see ${join(dataDir, 'up.out')}`);
    if (existsSync(kubeconfig) && existsSync(pidFile)) {
      const conn = readKubeconfig(kubeconfig);
      console.log(`Strata is up in the background (pid ${child.pid}): API server ${conn.server}`);
      console.log(`  kubeconfig:  ${kubeconfig}`);
      console.log(`  admin token: ${join(dataDir, 'admin.token')}`);
      console.log(`  logs:        ${join(dataDir, 'strata.log')}   stop with: strata down`);
      return;
    }
    if (Date.now() > nextNotice) {
      console.log(`still starting (pid ${child.pid}, ${Math.round((Date.now() - started) / 1000)}s)…`);
      nextNotice += 30_000;
    }
    if (Date.now() > deadline)
      throw new Error(
        `strata up did not come up within 300s; it is still running in the background (pid ${child.pid}): ` +
          `see ${join(dataDir, 'up.out')}, or stop it with: strata down`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function down(o: { dataDir?: string }): Promise<void> {
  const dataDir = resolve(o.dataDir ?? defaultDataDir());
  const pidFile = join(dataDir, 'strata.pid');
  if (!existsSync(pidFile)) {
    console.log('Strata is not running');
    return;
  }
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (!isAlive(pid)) {
    rmSync(pidFile, { force: true });
    console.log('Strata is not running');
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(pidFile, { force: true });
  console.log(`Strata stopped (pid ${pid})`);
}

export async function server(
  o: {
    dataDir?: string;
    host?: string;
    port?: number;
    strategy?: 'spread' | 'binpack';
    kubeconfig?: string;
    nodeGracePeriod?: number;
    podEvictionTimeout?: number;
    insecureHttp?: boolean;
    tlsSan?: string[];
    serviceCidr?: string;
    serviceNodePortRange?: string;
    /** Where pods reach the API (an address of this machine, or none). */
    advertiseAddress?: string;
    encryptionProviderConfig?: string;
    podSecurityConfig?: string;
    serviceAccountIssuer?: string;
    clusterCidr?: string;
    nodeCidrMaskSize?: number;
  } & DatastoreCliOptions &
    AuditCliOptions &
    EmbeddedEtcdCliOptions,
): Promise<void> {
  const dataDir = resolve(o.dataDir ?? defaultDataDir());
  if (o.clusterReset || o.clusterResetRestorePath !== undefined) return clusterReset(dataDir, o);
  if (o.clusterLeave) {
    const { leaveEmbeddedEtcd } = await import('../node/embedded-etcd.ts');
    console.log(
      `etcd member ${await leaveEmbeddedEtcd(dataDir)} removed from the cluster; its data is deleted`,
    );
    return;
  }
  const { startControlPlaneNode } = await import('../node/control-plane.ts');
  const cp = await startControlPlaneNode({
    dataDir,
    datastore: datastoreFlags(o),
    host: o.host,
    port: o.port,
    strategy: o.strategy,
    nodeGracePeriodSeconds: o.nodeGracePeriod,
    podEvictionTimeoutSeconds: o.podEvictionTimeout,
    insecureHttp: o.insecureHttp,
    tlsSans: o.tlsSan,
    serviceCidr: o.serviceCidr,
    nodePortRange: o.serviceNodePortRange,
    clusterCidr: o.clusterCidr,
    nodeCidrMaskSize: o.nodeCidrMaskSize,
    advertiseAddress: o.advertiseAddress,
    encryptionProviderConfig: o.encryptionProviderConfig && resolve(o.encryptionProviderConfig),
    podSecurityConfig: o.podSecurityConfig && resolve(o.podSecurityConfig),
    serviceAccountIssuer: o.serviceAccountIssuer,
    audit: auditConfig(o, dataDir),
    embeddedEtcd: {
      clusterInit: o.clusterInit,
      join: o.join,
      token: o.token,
      caCertHash: o.caCertHash,
      address: o.etcdAddress,
      clientPort: o.etcdClientPort,
      peerPort: o.etcdPeerPort,
      quotaBackendBytes: o.quotaBackendBytes,
    },
  });
  if (o.kubeconfig) writeKubeconfig(resolve(o.kubeconfig), cp.kubeconfig());
  console.log(`Strata API server listening on ${cp.url} (admin token: ${cp.adminTokenFile})`);
  if (cp.caHash) console.log(`  CA hash: ${cp.caHash} (agents join with --ca-cert-hash)`);
  onSignals(() => cp.stop());
}

/**
 * `strata server --cluster-reset [--cluster-reset-restore-path FILE]`: resets the stopped server's member
 * into a one-member cluster (from its own data or from a backup), says what the other servers must do,
 * and exits — as K3s does: the server is then started again without the flag.
 */
async function clusterReset(dataDir: string, o: DatastoreCliOptions & EmbeddedEtcdCliOptions): Promise<void> {
  const { checkClusterResetFlags, resetEmbeddedEtcd } = await import('../node/embedded-etcd.ts');
  checkClusterResetFlags(o);
  const r = await resetEmbeddedEtcd(dataDir, {
    restorePath: o.clusterResetRestorePath && resolve(o.clusterResetRestorePath),
    log: (l) => console.error(l),
  });
  const total = Object.values(r.counts).reduce((a, b) => a + b, 0);
  const from = r.restored
    ? `restored from the ${r.restored.kind} backup ${r.restored.file} (sha256 ${r.restored.sha256})`
    : 'keeping its data';
  console.log(
    `etcd member ${r.member} (${r.peerUrl}) is now the only member of a new cluster, ${from}: ${total} keys, revision ${r.revision}` +
      (r.previousRevision !== undefined
        ? ` (the member's data before held revision ${r.previousRevision})`
        : ''),
  );
  if (r.keptAs) console.log(`  its previous data is kept in ${r.keptAs}`);
  for (const [resource, n] of Object.entries(r.counts)) console.log(`  ${resource.padEnd(40)} ${n}`);
  console.log(
    [
      'Membership has been reset; now:',
      `  1. start this server again without --cluster-reset (same --data-dir ${dataDir}, ports and --etcd-address);`,
      '  2. on every other server of the old cluster: stop it, move its DATA/etcd aside (mv DATA/etcd DATA/etcd.before-reset),',
      `     then start it with --join https://<this server>:<port> --token T --ca-cert-hash ${caHashOf(dataDir)}`,
      '     (T: `strata token create --groups system:bootstrappers:strata:servers` against this server once it runs);',
      '  3. servers not coming back: nothing to do, the new cluster does not count them.',
    ].join('\n'),
  );
}

function caHashOf(dataDir: string): string {
  try {
    return readFileSync(join(dataDir, 'tls', 'ca.hash'), 'utf8').trim();
  } catch {
    return `H (${join(dataDir, 'tls', 'ca.hash')})`;
  }
}

export async function agent(o: {
  runtimes?: string;
  server: string;
  token?: string;
  tokenFile?: string;
  dataDir?: string;
  nodeName?: string;
  address?: string;
  port?: number;
  labels?: string[];
  leaseDuration?: number;
  caCertHash?: string;
  caFile?: string;
  serviceCidr?: string;
  podBridge?: string;
  podCidr?: string;
  netnsPool?: number;
  httpPort?: number;
  httpsPort?: number;
  lbPort?: number;
  cgroupParent?: string;
  runDir?: string;
}): Promise<void> {
  // Several servers (comma-separated): the agent talks to them through its local load balancer.
  const servers = o.server
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let token = o.token?.trim();
  if (token === undefined && o.tokenFile !== undefined) {
    try {
      token = readFileSync(o.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new Error(`cannot read --token-file ${o.tokenFile}: ${(err as Error).message}`);
    }
  }
  // A join token gets the node its own certificate (kept in its data dir: later starts need no token);
  // anything else is a bearer token presented as is.
  const { parseToken } = await import('../node/node-identity-token.ts');
  const joinToken = token !== undefined && parseToken(token) ? token : undefined;
  const dataDir = resolve(o.dataDir ?? join(defaultDataDir(), 'agent'));
  const labels: Record<string, string> = {};
  for (const l of o.labels ?? []) {
    const [k, v] = l.split('=');
    if (!k || v === undefined) throw new Error(`--label ${l}: expected KEY=VALUE`);
    labels[k] = v;
  }
  const { fileLogger, joinTrust, startNode } = await import('../node/node.ts');
  // The CA from the first server that answers (any of them presents the same cluster CA).
  let ca: string | undefined;
  for (const [i, s] of servers.entries()) {
    try {
      ca = await joinTrust(s, dataDir, o.caCertHash, o.caFile);
      break;
    } catch (err) {
      if (i === servers.length - 1) throw err;
    }
  }
  const node = await startNode({
    dataDir,
    server: servers[0]!,
    servers,
    loadBalancerPort: o.lbPort,
    token: joinToken ? undefined : token,
    joinToken,
    ca,
    runtimes: o.runtimes,
    nodeName: o.nodeName,
    address: o.address,
    port: o.port,
    labels,
    leaseDurationSeconds: o.leaseDuration,
    serviceCidr: o.serviceCidr,
    podNetwork: { bridge: o.podBridge, cidr: o.podCidr, netnsPool: o.netnsPool },
    hostPaths: { cgroupParent: o.cgroupParent, runDir: o.runDir && resolve(o.runDir) },
    httpPort: o.httpPort,
    httpsPort: o.httpsPort,
    log: fileLogger(join(dataDir, 'agent.log')),
  });
  console.log(`Strata agent "${node.name}" registered with ${servers.join(', ')}`);
  onSignals(() => node.stop());
}
