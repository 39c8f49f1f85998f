// The processes: `strata up` (control plane + agent in one process), `strata server`, `strata agent`,
// and `strata down` (stops a detached `up`).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { Agent, type AgentOptions } from '../agent/agent.ts';
import { ImageStore } from '../image/index.ts';
import { PodNetwork } from '../net/index.ts';
import { ContainerDriver } from '../sandbox/container/index.ts';
import type { Driver } from '../sandbox/driver.ts';
import { Client } from '../client/client.ts';
import { defaultConfigPath, readKubeconfig, writeKubeconfig } from '../client/kubeconfig.ts';
import { WasmDriver } from '../sandbox/wasm/driver.ts';
import { startControlPlane, type ControlPlane } from '../server/control-plane.ts';
import { fetchPinnedCA } from '../client/ca-bootstrap.ts';
import { caCertHash, parseCACertHash } from '../lib/ca-hash.ts';
import { daysLeft, selfSignedServing, type KeyPair } from '../auth/pki.ts';
import { APISERVER_AGENT_CLIENT_CN } from '../auth/identities.ts';
import { hostname } from 'node:os';

export function defaultDataDir(): string {
  return process.env.STRATA_HOME ? join(process.env.STRATA_HOME, 'data') : join(homedir(), '.strata', 'data');
}

export interface UpOptions {
  dataDir?: string;
  /** Comma-separated runtime classes this node runs (default wasm,container). */
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
}

/**
 * The agent's own serving certificate (self-signed, kept in its data dir while it has 30 days left); the
 * Node carries it and the server pins it.
 */
async function agentServingCert(agentDir: string, address: string): Promise<KeyPair> {
  const crt = join(agentDir, 'serving.crt');
  const key = join(agentDir, 'serving.key');
  mkdirSync(agentDir, { recursive: true, mode: 0o700 });
  if (existsSync(crt) && existsSync(key)) {
    const kp = { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
    if (daysLeft(kp.cert) > 30) return kp;
  }
  const kp = await selfSignedServing(`strata-agent:${hostname()}`, [address, 'localhost']);
  writeFileSync(key, kp.key, { mode: 0o600 });
  writeFileSync(crt, kp.cert, { mode: 0o644 });
  return kp;
}

/** The agent's TLS settings when the cluster has a CA (none on an --insecure-http development cluster). */
async function agentTls(
  agentDir: string,
  address: string,
  ca: string | undefined,
): Promise<AgentOptions['tls']> {
  if (!ca) return undefined;
  const serving = await agentServingCert(agentDir, address);
  return { ...serving, clientCA: ca, controlPlaneCN: APISERVER_AGENT_CLIENT_CN };
}

function writeClusterKubeconfig(
  path: string,
  cp: ControlPlane,
  node?: { name: string; imageStore?: string },
): void {
  writeKubeconfig(path, {
    server: cp.url,
    node,
    ca: cp.pki?.ca.cert,
    clientCert: cp.pki?.admin.cert,
    clientKey: cp.pki?.admin.key,
    tokenFile: cp.adminTokenFile,
  });
}

function logger(file: string | undefined, verbose: boolean) {
  return pino(
    { level: verbose ? 'debug' : 'info' },
    file ? pino.destination({ dest: file, mkdir: true, sync: false }) : undefined,
  );
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

export const DEFAULT_RUNTIMES = 'wasm,container';

/**
 * The tiers an agent runs, each with what it needs: wasm (a module cache), container (an image store,
 * the runtime's state, pod networking). A tier that is unusable here says so in its fingerprint and is
 * not advertised; `--runtimes` leaves tiers out entirely (e.g. a second agent on the same machine must
 * not share the first one's bridge).
 */
function nodeTiers(
  agentDir: string,
  runtimes = DEFAULT_RUNTIMES,
): Pick<AgentOptions, 'drivers' | 'images' | 'network'> {
  const wanted = runtimes
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const unknown = wanted.filter((r) => r !== 'wasm' && r !== 'container');
  if (unknown.length)
    throw new Error(`--runtimes: unknown runtime class ${unknown.join(', ')} (known: wasm, container)`);
  const drivers: Driver[] = [];
  if (wanted.includes('wasm')) drivers.push(new WasmDriver({ cacheDir: join(agentDir, 'wasm-cache') }));
  if (!wanted.includes('container')) return { drivers };
  const images = new ImageStore(join(agentDir, 'images'));
  const network = new PodNetwork({ stateDir: join(agentDir, 'network') });
  drivers.push(new ContainerDriver({ stateDir: join(agentDir, 'containers'), network }));
  return { drivers, images, network };
}

export async function up(o: UpOptions): Promise<void> {
  const dataDir = resolve(o.dataDir ?? defaultDataDir());
  const kubeconfig = resolve(o.kubeconfig ?? defaultConfigPath());
  if (o.detach) return upDetached(o, dataDir, kubeconfig);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logFile = join(dataDir, 'strata.log');
  const log = logger(logFile, !!o.verbose);
  const cp = await startControlPlane({
    dataDir,
    host: o.host,
    port: o.port,
    strategy: o.strategy,
    logger: { file: join(dataDir, 'server.log') },
    nodeGracePeriodSeconds: o.nodeGracePeriod,
    podEvictionTimeoutSeconds: o.podEvictionTimeout,
    insecureHttp: o.insecureHttp,
    tlsSans: o.tlsSan,
  });
  const ca = cp.pki?.ca.cert;
  const tiers = nodeTiers(join(dataDir, 'agent'), o.runtimes);
  const agent = new Agent({
    client: new Client({ server: cp.url, token: cp.adminToken, tls: { ca } }),
    ...tiers,
    tls: await agentTls(join(dataDir, 'agent'), '127.0.0.1', ca),
    dataDir: join(dataDir, 'agent'),
    nodeName: o.nodeName,
    leaseDurationSeconds: o.leaseDuration,
    log: log.child({ component: 'agent' }),
  });
  await agent.start();
  // Written once the node is up: `strata image` follows it to this node's image store.
  writeClusterKubeconfig(kubeconfig, cp, {
    name: agent.nodeName,
    imageStore: tiers.images ? join(dataDir, 'agent', 'images') : undefined,
  });
  writeFileSync(join(dataDir, 'strata.pid'), String(process.pid));
  console.log(`Strata is up: API server ${cp.url}, node "${agent.nodeName}"`);
  console.log(`  kubeconfig:  ${kubeconfig}`);
  console.log(`  admin token: ${cp.adminTokenFile}`);
  if (cp.pki) console.log(`  CA hash:     ${cp.pki.caHash} (agents join with --ca-cert-hash)`);
  console.log(`  logs:        ${logFile}`);
  console.log(`Try: strata get nodes   |   strata run --rm wasm build/wasm/hello.wasm -- world`);
  // `up` is the whole node: stopping it stops its containers too (a kill -9 leaves them to be re-adopted).
  onSignals(async () => {
    await agent.stop({ stopSandboxes: true });
    await cp.stop();
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
    ...(o.tlsSan ?? []).flatMap((s) => ['--tls-san', s]),
  ];
  const out = openSync(join(dataDir, 'up.out'), 'a');
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  const deadline = Date.now() + 60_000;
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
    if (Date.now() > deadline)
      throw new Error(`strata up did not come up within 60s; see ${join(dataDir, 'up.out')}`);
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

export async function server(o: {
  dataDir?: string;
  host?: string;
  port?: number;
  strategy?: 'spread' | 'binpack';
  kubeconfig?: string;
  nodeGracePeriod?: number;
  podEvictionTimeout?: number;
  insecureHttp?: boolean;
  tlsSan?: string[];
}): Promise<void> {
  const dataDir = resolve(o.dataDir ?? defaultDataDir());
  const cp = await startControlPlane({
    dataDir,
    host: o.host,
    port: o.port,
    strategy: o.strategy,
    logger: { file: join(dataDir, 'server.log') },
    nodeGracePeriodSeconds: o.nodeGracePeriod,
    podEvictionTimeoutSeconds: o.podEvictionTimeout,
    insecureHttp: o.insecureHttp,
    tlsSans: o.tlsSan,
  });
  if (o.kubeconfig) writeClusterKubeconfig(resolve(o.kubeconfig), cp);
  console.log(`Strata API server listening on ${cp.url} (admin token: ${cp.adminTokenFile})`);
  if (cp.pki) console.log(`  CA hash: ${cp.pki.caHash} (agents join with --ca-cert-hash)`);
  onSignals(() => cp.stop());
}

export async function agent(o: {
  runtimes?: string;
  server: string;
  tokenFile: string;
  dataDir?: string;
  nodeName?: string;
  address?: string;
  port?: number;
  labels?: string[];
  leaseDuration?: number;
  caCertHash?: string;
  caFile?: string;
}): Promise<void> {
  let token: string;
  try {
    token = readFileSync(o.tokenFile, 'utf8').trim();
  } catch (err) {
    throw new Error(`cannot read --token-file ${o.tokenFile}: ${(err as Error).message}`);
  }
  const dataDir = resolve(o.dataDir ?? join(defaultDataDir(), 'agent'));
  const labels: Record<string, string> = {};
  for (const l of o.labels ?? []) {
    const [k, v] = l.split('=');
    if (!k || v === undefined) throw new Error(`--label ${l}: expected KEY=VALUE`);
    labels[k] = v;
  }
  const ca = await agentTrust(o.server, dataDir, o.caCertHash, o.caFile);
  const a = new Agent({
    client: new Client({ server: o.server, token, tls: { ca } }),
    ...nodeTiers(dataDir, o.runtimes),
    tls: await agentTls(dataDir, o.address ?? '127.0.0.1', ca),
    dataDir,
    nodeName: o.nodeName,
    address: o.address,
    port: o.port,
    labels,
    leaseDurationSeconds: o.leaseDuration,
    log: logger(join(dataDir, 'agent.log'), false),
  });
  await a.start();
  console.log(`Strata agent "${a.nodeName}" registered with ${o.server}`);
  onSignals(() => a.stop());
}

/**
 * The cluster CA a joining agent trusts: --ca-file, or the CA the server presents whose hash is
 * --ca-cert-hash (kept in the agent's data dir for restarts), or none for a plain-HTTP development server.
 */
async function agentTrust(
  server: string,
  dataDir: string,
  hash: string | undefined,
  caFile: string | undefined,
): Promise<string | undefined> {
  if (new URL(server).protocol === 'http:') return undefined;
  if (caFile) {
    try {
      return readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new Error(`cannot read --ca-file ${caFile}: ${(err as Error).message}`);
    }
  }
  if (!hash) {
    throw new Error(
      '--ca-cert-hash (or --ca-file) is required to join an HTTPS server: the hash is printed by ' +
        '`strata server`/`strata up` and kept in DATA/tls/ca.hash on the server',
    );
  }
  const expected = parseCACertHash(hash);
  const saved = join(dataDir, 'ca.crt');
  if (existsSync(saved)) {
    const pem = readFileSync(saved, 'utf8');
    if (caCertHash(pem) === expected) return pem;
  }
  const pem = await fetchPinnedCA(server, expected);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(saved, pem, { mode: 0o644 });
  return pem;
}
