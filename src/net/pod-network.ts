// Pod networking on one node: every pod gets a named network namespace, a veth pair into the node's
// bridge, an address from the node's range, outbound NAT, and DNAT rules for its hostPorts.
//
// State that must survive an agent crash is on disk: the IPAM file (addresses) and one record per pod
// (`pods/<uid>.json`: address, namespace, veth, published ports). A record is written before anything
// is created for the pod, so a crash mid-way leaves a record that teardown/reconcile follow; reconcile
// also scans for what has no record (namespaces with our prefix, ports of our bridge, rules with a
// `strata:<uid>` comment in our chains), so nothing of a gone pod survives it.
//
// With a pool (`poolSize`, netns-pool.ts) a pod's network may be a pre-made one: the namespace keeps the
// pool's name (`<prefix>pool-<id>`, a mount cannot be renamed cheaply) and `<prefix><podUid>` is made a
// symlink to it, so `ip netns exec <prefix><podUid>` keeps working; the record names both.

import { createHash, randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { run } from '../lib/command.ts';
import { Iptables, podOfRule } from './iptables.ts';
import { Ipam } from './ipam.ts';
import {
  addHostAddress,
  bridgePorts,
  createPodLinks,
  deleteHostAddress,
  defaultRouteMtu,
  deleteLink,
  deleteNetns,
  ensureBridge,
  listNetns,
  NETNS_DIR,
  netnsPath,
  setSysctl,
} from './links.ts';
import { NetnsPool, type NetnsPoolStats, type PoolEntry } from './netns-pool.ts';
import {
  chainNames,
  hostPortRule,
  installNodeRules,
  removeNodeRules,
  type ChainNames,
  type PortMapping,
} from './rules.ts';

export type { PortMapping, Protocol } from './rules.ts';

export interface PodNetworkOptions {
  /** IPAM file and pod records (keep it on persistent storage, beside the agent's state). */
  stateDir: string;
  /** Bridge name (default strata0). */
  bridge?: string;
  /** The node's pod range (default 10.88.0.0/16); the bridge takes its first address. */
  subnet?: string;
  /** Prefix of the iptables chains (default STRATA: STRATA-POSTROUTING, STRATA-HOSTPORT, ...). */
  chainPrefix?: string;
  /** Prefix of the namespace names (default "strata-": /run/netns/strata-<podUid>). */
  netnsPrefix?: string;
  /** Prefix of host-side veth names, at most 5 characters (default "stv"). */
  vethPrefix?: string;
  /** MTU of the bridge and veths (default: that of the interface the default route uses). */
  mtu?: number;
  /**
   * Pre-made pod networks kept ready (netns-pool.ts; default 0: every setup() makes its own). Filled
   * after reconcile() and refilled after each claim, in the background.
   */
  poolSize?: number;
}

/** What a pod's sandboxes need to join its network. */
export interface PodAttachment {
  podUid: string;
  /** Path runtimes join: /run/netns/<name>. */
  netnsPath: string;
  ip: string;
  gateway: string;
  prefixLength: number;
  /** The host end of the pod's veth pair (on the bridge). */
  hostInterface: string;
}

interface PodRecord {
  podUid: string;
  ip: string;
  netns: string;
  hostVeth: string;
  ports: PortMapping[];
  /** The IPAM owner of the address when it is not the pod (a pool entry's, claimed). */
  ipamOwner?: string;
  /** `<prefix><podUid>`: a symlink to `netns` when the namespace came from the pool. */
  alias?: string;
  /**
   * The pod's address is the node's own, on the bridge (a /32), with no namespace or veth: a pod whose
   * sandboxes have no network stack and are served by the node (wasm HTTP handlers).
   */
  onHost?: boolean;
}

export interface ReconcileReport {
  pods: string[];
  netns: string[];
  links: string[];
  rules: number;
  addresses: string[];
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;
const IFNAME_RE = /^[A-Za-z0-9_-]{1,15}$/;

export class PodNetwork {
  readonly bridge: string;
  readonly subnet: string;
  readonly chains: ChainNames;
  private readonly stateDir: string;
  private readonly netnsPrefix: string;
  private readonly vethPrefix: string;
  private readonly ipam: Ipam;
  private readonly ipt = new Iptables();
  private mtu: number | undefined;
  private initialized: Promise<void> | undefined;
  /** Every mutation runs in this chain: set-up and teardown of different pods share the IPAM file. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly pool: NetnsPool;

  constructor(opts: PodNetworkOptions) {
    this.stateDir = opts.stateDir;
    this.bridge = opts.bridge ?? 'strata0';
    this.netnsPrefix = opts.netnsPrefix ?? 'strata-';
    this.vethPrefix = opts.vethPrefix ?? 'stv';
    const prefix = opts.chainPrefix ?? 'STRATA';
    if (!IFNAME_RE.test(this.bridge)) throw new Error(`bridge "${this.bridge}": 1-15 of [A-Za-z0-9_-]`);
    if (!/^[A-Za-z0-9_-]{1,5}$/.test(this.vethPrefix)) throw new Error('vethPrefix: 1-5 of [A-Za-z0-9_-]');
    if (!/^[A-Za-z0-9_-]{1,16}$/.test(prefix)) throw new Error('chainPrefix: 1-16 of [A-Za-z0-9_-]');
    if (!NAME_RE.test(this.netnsPrefix)) throw new Error('netnsPrefix: [A-Za-z0-9_.-]');
    this.chains = chainNames(prefix);
    this.mtu = opts.mtu;
    this.ipam = new Ipam({ file: join(this.stateDir, 'ipam.json'), subnet: opts.subnet ?? '10.88.0.0/16' });
    this.subnet = this.ipam.subnet.cidr;
    this.pool = new NetnsPool(opts.poolSize ?? 0, {
      // The address and names under the queue (the IPAM file); the links outside it, so a pod's setup
      // never waits for a refill's `ip` runs.
      reserve: () =>
        this.serial(async () => {
          await this.init();
          const owner = `pool-${randomBytes(6).toString('hex')}`;
          return {
            owner,
            netns: `${this.netnsPrefix}${owner}`,
            hostVeth: this.vethName(owner),
            ip: this.ipam.allocate(owner),
          };
        }),
      create: (e) => createPodLinks(this.linkPlan(e.netns, e.hostVeth, e.ip)),
      discard: (e) => this.serial(() => this.removeEntry(e)),
    });
  }

  /** The pool of pre-made networks: its size, what is ready, claims and misses. */
  poolStats(): NetnsPoolStats {
    return this.pool.stats();
  }

  /** Waits until a running refill of the pool is done (tests; a node that wants it full). */
  poolSettled(): Promise<void> {
    return this.pool.settled();
  }

  /**
   * Stops the pool and removes its unclaimed networks (agent stop). Pods keep theirs; setup() makes
   * networks one by one from then on.
   */
  async closePool(): Promise<void> {
    const entries = await this.pool.close();
    await this.serial(() => this.removeEntries(entries));
  }

  /** The bridge's address: the pods' default gateway. */
  get gateway(): string {
    return this.ipam.gateway;
  }

  /** Creates the bridge, the node-level rules and sysctls (idempotent; setup() calls it). */
  init(): Promise<void> {
    this.initialized ??= this.doInit().catch((err) => {
      this.initialized = undefined;
      throw err;
    });
    return this.initialized;
  }

  /** The pod's network, created on first call; later calls (other containers of the pod) reuse it. */
  async setup(podUid: string): Promise<PodAttachment> {
    checkUid(podUid);
    return this.serial(async () => {
      await this.init();
      const existing = this.readRecord(podUid);
      if (existing && listNetns().includes(existing.netns)) return this.attachment(existing);
      if (existing) await this.removePod(existing); // half-made by a crash: start over
      const pooled = this.claimPooled(podUid);
      this.pool.refill();
      if (pooled) return this.attachment(pooled);
      const rec: PodRecord = {
        podUid,
        ip: this.ipam.allocate(podUid),
        netns: `${this.netnsPrefix}${podUid}`,
        hostVeth: this.vethName(podUid),
        ports: [],
      };
      this.writeRecord(rec);
      try {
        await createPodLinks(this.linkPlan(rec.netns, rec.hostVeth, rec.ip));
      } catch (err) {
        await this.removePod(rec).catch(() => {});
        throw err;
      }
      return this.attachment(rec);
    });
  }

  /**
   * An address of the pod's own on the node itself, for a pod served by the node rather than run in a
   * network namespace (wasm HTTP handlers, src/sandbox/http-handlers.ts): a /32 on the bridge, so pods reach
   * it over the bridge and Service rules DNAT to it like to any pod IP. Made on first call.
   */
  async claimHostAddress(podUid: string): Promise<string> {
    checkUid(podUid);
    return this.serial(async () => {
      await this.init();
      const existing = this.readRecord(podUid);
      if (existing?.onHost) {
        await addHostAddress(this.bridge, existing.ip);
        return existing.ip;
      }
      if (existing) throw new Error(`pod ${podUid} already has a network namespace on this node`);
      const rec: PodRecord = {
        podUid,
        ip: this.ipam.allocate(podUid),
        netns: '',
        hostVeth: '',
        ports: [],
        onHost: true,
      };
      this.writeRecord(rec);
      try {
        await addHostAddress(this.bridge, rec.ip);
      } catch (err) {
        await this.removePod(rec).catch(() => {});
        throw err;
      }
      return rec.ip;
    });
  }

  /**
   * Releases the host addresses (claimHostAddress) of pods not in `livePodUids`, without touching pods
   * that have namespaces — for a node whose only users of the pod network are handlers.
   */
  reconcileHostAddresses(livePodUids: Iterable<string>): Promise<string[]> {
    const live = new Set(livePodUids);
    return this.serial(async () => {
      const released: string[] = [];
      for (const uid of this.recordUids()) {
        const rec = this.readRecord(uid);
        if (!rec?.onHost || live.has(uid)) continue;
        await this.removePod(rec);
        released.push(rec.ip);
      }
      return released;
    });
  }

  /** The pod's network if it has one. */
  get(podUid: string): PodAttachment | undefined {
    const rec = this.readRecord(podUid);
    return rec ? this.attachment(rec) : undefined;
  }

  /** Pod uids that have a network on this node. */
  pods(): string[] {
    return this.recordUids();
  }

  /**
   * Publishes a pod port on the node (hostPort), on every node address including 127.0.0.1, or on
   * `hostIP` only. Kernel DNAT rather than a proxy in the agent: it keeps working while the agent
   * restarts, keeps client addresses (except from loopback), and costs ~0.5 ms less per request.
   */
  async publish(podUid: string, port: PortMapping): Promise<void> {
    checkUid(podUid);
    checkPort(port);
    return this.serial(async () => {
      const rec = this.readRecord(podUid);
      if (!rec) throw new Error(`pod ${podUid} has no network on this node`);
      const proto = port.protocol ?? 'TCP';
      for (const other of this.recordUids().map((u) => this.readRecord(u)!)) {
        for (const p of other?.ports ?? []) {
          if (other.podUid === podUid && samePort(p, port)) return; // already published
          if (
            p.hostPort === port.hostPort &&
            (p.protocol ?? 'TCP') === proto &&
            ipsOverlap(p.hostIP, port.hostIP)
          ) {
            throw new Error(`hostPort ${port.hostPort}/${proto} is already published by pod ${other.podUid}`);
          }
        }
      }
      rec.ports.push({ ...port, protocol: proto });
      this.writeRecord(rec);
      await this.ipt.ensureRule('nat', this.chains.hostport, hostPortRule(podUid, rec.ip, port));
    });
  }

  /** Removes everything of the pod: its rules, namespace, veth, address and record. Idempotent. */
  async teardown(podUid: string): Promise<void> {
    checkUid(podUid);
    return this.serial(async () => {
      const rec = this.readRecord(podUid) ?? {
        podUid,
        ip: this.ipam.get(podUid) ?? '',
        netns: `${this.netnsPrefix}${podUid}`,
        hostVeth: this.vethName(podUid),
        ports: [],
      };
      await this.removePod(rec);
    });
  }

  /**
   * At agent start: removes every trace of pods not in `livePodUids` — records, namespaces, veths on
   * our bridge, hostPort rules, addresses — including those a crash left without a record.
   */
  reconcile(livePodUids: Iterable<string>): Promise<ReconcileReport> {
    const live = new Set(livePodUids);
    return this.serial(async () => {
      await this.init();
      const report: ReconcileReport = { pods: [], netns: [], links: [], rules: 0, addresses: [] };
      // What live pods hold under other names than their uid's: pool-made namespaces, veths, owners.
      const held = new Set<string>();
      for (const uid of this.recordUids()) {
        const rec = this.readRecord(uid);
        if (live.has(uid)) {
          for (const name of [rec?.netns, rec?.hostVeth, rec?.ipamOwner]) if (name) held.add(name);
          continue;
        }
        if (rec) await this.removePod(rec);
        else rmSync(this.recordPath(uid), { force: true });
        report.pods.push(uid);
      }
      const keep = (name: string) => held.has(name) || this.pool.holds(name);
      for (const name of listNetns()) {
        if (!name.startsWith(this.netnsPrefix)) continue;
        if (live.has(name.slice(this.netnsPrefix.length)) || keep(name)) continue;
        if (removeAlias(name) || (await deleteNetns(name))) report.netns.push(name);
      }
      const liveVeths = new Set([...live].map((u) => this.vethName(u)));
      for (const port of await bridgePorts(this.bridge)) {
        if (liveVeths.has(port) || keep(port)) continue;
        if (await deleteLink(port)) report.links.push(port);
      }
      for (const rule of await this.ipt.listRules('nat', this.chains.hostport)) {
        const uid = podOfRule(rule);
        if (uid === undefined || live.has(uid)) continue;
        await this.ipt.deleteRule('nat', this.chains.hostport, rule);
        report.rules++;
      }
      for (const [uid, ip] of Object.entries(this.ipam.allocations())) {
        if (live.has(uid) || keep(uid)) continue;
        this.ipam.release(uid);
        report.addresses.push(ip);
      }
      this.pool.refill(true);
      return report;
    });
  }

  /** Removes every pod, the node-level rules and the bridge (node decommissioning, tests). */
  async uninstall(): Promise<void> {
    const pooled = await this.pool.close();
    return this.serial(async () => {
      await this.removeEntries(pooled);
      for (const uid of this.recordUids()) await this.removePod(this.readRecord(uid)!);
      for (const name of listNetns())
        if (name.startsWith(this.netnsPrefix) && !removeAlias(name)) await deleteNetns(name);
      await removeNodeRules(this.ipt, this.chains);
      await deleteLink(this.bridge);
      this.initialized = undefined;
    });
  }

  // --- internals -------------------------------------------------------------------------------

  private async doInit(): Promise<void> {
    this.mtu ??= await defaultRouteMtu();
    await ensureBridge(this.bridge, `${this.gateway}/${this.ipam.subnet.prefix}`, this.mtu);
    setSysctl('net.ipv4.ip_forward', '1');
    // DNAT of connections to 127.0.0.1: the rewritten packet leaves through the bridge with a loopback
    // source, which the kernel drops unless route_localnet is on for that interface.
    setSysctl(`net.ipv4.conf.${this.bridge}.route_localnet`, '1');
    await installNodeRules(this.ipt, this.chains, this.bridge, this.subnet);
  }

  private async removePod(rec: PodRecord): Promise<void> {
    for (const rule of await this.ipt.listRules('nat', this.chains.hostport)) {
      if (podOfRule(rule) === rec.podUid) await this.ipt.deleteRule('nat', this.chains.hostport, rule);
    }
    if (rec.onHost) {
      if (rec.ip) await deleteHostAddress(this.bridge, rec.ip);
    } else {
      // The host end first: while a process still holds the namespace, deleting only the name would
      // leave the pair (and the pod's port on the bridge) alive.
      await deleteLink(rec.hostVeth);
      await deleteNetns(rec.netns);
      if (rec.alias) removeAlias(rec.alias);
    }
    this.ipam.release(rec.ipamOwner ?? rec.podUid);
    rmSync(this.recordPath(rec.podUid), { force: true });
  }

  /**
   * Unclaimed pool entries, all in one `ip -force -batch` (a node's stop should not wait for two
   * processes per entry); what is already gone is no error. Then their addresses.
   */
  private async removeEntries(entries: PoolEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const lines = entries.flatMap((e) => [`link del ${e.hostVeth}`, `netns del ${e.netns}`]);
    await run('ip', ['-force', '-batch', '-'], { input: lines.join('\n') }).catch(() => {});
    for (const e of entries) this.ipam.release(e.owner);
  }

  /** An unclaimed pool entry: its links, namespace and address. */
  private async removeEntry(e: PoolEntry): Promise<void> {
    await deleteLink(e.hostVeth);
    await deleteNetns(e.netns);
    this.ipam.release(e.owner);
  }

  /**
   * The pod takes a ready pool entry, if there is one: its record names the entry's namespace, veth and
   * address owner, and `<prefix><podUid>` becomes a symlink to the namespace. No process runs.
   */
  private claimPooled(podUid: string): PodRecord | undefined {
    for (let entry = this.pool.take(); entry; entry = this.pool.take()) {
      if (!listNetns().includes(entry.netns)) {
        // Removed under us (by hand): the rest of it goes too, in the background.
        void this.serial(() => this.removeEntry(entry!)).catch(() => {});
        continue;
      }
      const alias = `${this.netnsPrefix}${podUid}`;
      const rec: PodRecord = {
        podUid,
        ip: entry.ip,
        netns: entry.netns,
        hostVeth: entry.hostVeth,
        ipamOwner: entry.owner,
        alias,
        ports: [],
      };
      // The record first: from here a crash leaves a pod record that teardown and reconcile follow.
      this.writeRecord(rec);
      removeAlias(alias);
      symlinkSync(entry.netns, netnsPath(alias)); // relative: valid wherever /run/netns is mounted
      return rec;
    }
    return undefined;
  }

  private linkPlan(netns: string, hostVeth: string, ip: string) {
    return {
      netns,
      hostVeth,
      bridge: this.bridge,
      cidr: `${ip}/${this.ipam.subnet.prefix}`,
      gateway: this.gateway,
      mtu: this.mtu!,
    };
  }

  private attachment(rec: PodRecord): PodAttachment {
    return {
      podUid: rec.podUid,
      netnsPath: netnsPath(rec.netns),
      ip: rec.ip,
      gateway: this.gateway,
      prefixLength: this.ipam.subnet.prefix,
      hostInterface: rec.hostVeth,
    };
  }

  /** 15 characters at most (IFNAMSIZ): prefix + a hash of the uid. */
  private vethName(podUid: string): string {
    const hex = createHash('sha256').update(podUid).digest('hex');
    return this.vethPrefix + hex.slice(0, 15 - this.vethPrefix.length);
  }

  private recordPath(podUid: string): string {
    return join(this.stateDir, 'pods', `${podUid}.json`);
  }

  private readRecord(podUid: string): PodRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.recordPath(podUid), 'utf8')) as PodRecord;
    } catch {
      return undefined;
    }
  }

  private writeRecord(rec: PodRecord): void {
    const path = this.recordPath(rec.podUid);
    mkdirSync(join(this.stateDir, 'pods'), { recursive: true });
    writeFileSync(`${path}.tmp`, JSON.stringify(rec, null, 2) + '\n');
    renameSync(`${path}.tmp`, path);
  }

  private recordUids(): string[] {
    try {
      return readdirSync(join(this.stateDir, 'pods'))
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -'.json'.length));
    } catch {
      return [];
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** Removes `/run/netns/<name>` if it is a symlink (a claimed pool namespace's alias); true if it was. */
function removeAlias(name: string): boolean {
  const path = `${NETNS_DIR}/${name}`;
  try {
    if (!lstatSync(path).isSymbolicLink()) return false;
  } catch {
    return false;
  }
  rmSync(path, { force: true });
  return true;
}

function checkUid(podUid: string): void {
  // The uid becomes a file name, a namespace name and an iptables comment: no room for surprises.
  if (!NAME_RE.test(podUid)) throw new Error(`pod uid "${podUid}": expected [A-Za-z0-9_.-]`);
}

function checkPort(p: PortMapping): void {
  for (const key of ['containerPort', 'hostPort'] as const) {
    const v = p[key];
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`${key} ${v}: must be 1-65535`);
  }
  if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(p.protocol)) {
    throw new Error(`protocol "${p.protocol}": must be TCP, UDP or SCTP`);
  }
  if (p.hostIP !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(p.hostIP)) {
    throw new Error(`hostIP "${p.hostIP}": IPv4 address expected`);
  }
}

function samePort(a: PortMapping, b: PortMapping): boolean {
  return (
    a.hostPort === b.hostPort &&
    a.containerPort === b.containerPort &&
    (a.protocol ?? 'TCP') === (b.protocol ?? 'TCP') &&
    (a.hostIP ?? '0.0.0.0') === (b.hostIP ?? '0.0.0.0')
  );
}

function ipsOverlap(a?: string, b?: string): boolean {
  const any = (ip?: string) => ip === undefined || ip === '0.0.0.0';
  return any(a) || any(b) || a === b;
}
