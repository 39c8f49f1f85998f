// ServiceDataPlane: makes the kernel's `ip strata` table match the Services and EndpointSlices it is
// given (see ruleset.ts for the layout).
//
// - The first sync (and any sync after a failure) is a full one: one nft transaction deletes the table
//   and writes it anew, with nothing read first. It converges from any state — an empty kernel, the rules
//   of an agent that crashed, a table someone edited — without duplicate rules, and traffic never sees a
//   half-written table (packets use the old table until the commit).
// - Later syncs are partial: only the chains whose rules changed are flushed and rewritten, only map
//   elements that changed are deleted or added, so the cost of a change does not grow with the number
//   of Services (what kube-proxy's nftables mode was made for; its iptables mode rewrites everything).
// - After a sync, conntrack entries of UDP backends that went away are deleted (and, for a UDP Service
//   that just got its first backend, the entries that recorded the rejections).
// - teardown() deletes exactly the table, which holds every rule Strata wrote.
import type { EndpointSlice, Service } from '../../api/index.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import { CommandError, run } from '../../lib/command.ts';
import { setSysctl } from '../links.ts';
import {
  conntrackAvailable,
  flushNodePort,
  flushNodePortBackend,
  flushServiceBackend,
  flushServiceIP,
} from './conntrack.ts';
import { nftApply } from './nft.ts';
import { ServicePlanner, type ServicePortPlan } from './plan.ts';
import {
  CLUSTER_IPS_SET,
  type DesiredState,
  FAMILY,
  MAPS,
  type RulesetOptions,
  RenderCache,
  TABLE,
  desiredState,
} from './ruleset.ts';

export interface ServiceDataPlaneOptions extends RulesetOptions {
  /** This node's name (the Local traffic policies keep traffic on its endpoints). */
  nodeName?: string;
  /** The nftables table (ip family). Default `strata`; tests use their own. */
  table?: string;
  log?: Log;
}

export interface SyncReport {
  full: boolean;
  /** Chains (re)written, and chains deleted. */
  chainsWritten: number;
  chainsDeleted: number;
  /** Map and set elements added or deleted. */
  elementsChanged: number;
  /** Service ports with rules. */
  servicePorts: number;
  ms: number;
}

const MAP_TYPES: Record<string, string> = {
  [MAPS.serviceIps]: 'ipv4_addr . inet_proto . inet_service : verdict',
  [MAPS.nodePorts]: 'inet_proto . inet_service : verdict',
  [MAPS.noEndpointServices]: 'ipv4_addr . inet_proto . inet_service : verdict',
  [MAPS.noEndpointNodePorts]: 'inet_proto . inet_service : verdict',
};

/** A base chain's first "rule" is its declaration (`type … hook …`). */
function splitDeclaration(rules: string[]): { decl?: string; body: string[] } {
  return rules[0]?.startsWith('type ') ? { decl: rules[0], body: rules.slice(1) } : { body: rules };
}

function sameRules(a: string[] | undefined, b: string[]): boolean {
  return a === b || (!!a && a.length === b.length && a.every((r, i) => r === b[i]));
}

export class ServiceDataPlane {
  readonly table: string;
  private readonly opts: ServiceDataPlaneOptions;
  private readonly log: Log;
  /** What the kernel holds after our last successful sync; undefined = unknown (full sync next). */
  private applied?: DesiredState;
  private appliedPlans: ServicePortPlan[] = [];
  private readonly renderCache = new RenderCache();
  private readonly planner: ServicePlanner;
  private kernelPrepared = false;
  private warnedConntrack = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ServiceDataPlaneOptions = {}) {
    this.opts = opts;
    this.table = opts.table ?? TABLE;
    this.log = opts.log ?? defaultLog;
    this.planner = new ServicePlanner({ nodeName: opts.nodeName });
  }

  /** Make the kernel serve exactly these Services (syncs never overlap: each waits for the previous one). */
  reconcile(services: readonly Service[], slices: readonly EndpointSlice[]): Promise<SyncReport> {
    const next = this.queue.then(() => this.sync(services, slices));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async sync(services: readonly Service[], slices: readonly EndpointSlice[]): Promise<SyncReport> {
    const started = performance.now();
    this.prepareKernel();
    const plans = this.planner.plan(services, slices);
    const desired = desiredState(plans, this.opts, this.renderCache);
    let report: Omit<SyncReport, 'ms' | 'servicePorts'>;
    if (this.applied) {
      try {
        report = await this.partialSync(this.applied, desired);
      } catch (err) {
        // The kernel is not what we thought (someone changed the table): start over from what is there.
        this.log.warn(
          { err: errorMessage(err) },
          'service data plane: partial sync failed, doing a full one',
        );
        this.applied = undefined;
        report = await this.fullSync(desired);
      }
    } else report = await this.fullSync(desired);
    this.applied = desired;
    const previous = this.appliedPlans;
    this.appliedPlans = plans;
    await this.flushStaleUdp(previous, plans);
    return { ...report, servicePorts: plans.length, ms: performance.now() - started };
  }

  /**
   * Pod → ClusterIP → pod on one bridge: the reply goes pod to pod at layer 2 and must still pass the
   * host's conntrack to be un-DNATed, which br_netfilter does (kube-proxy needs the same).
   */
  private prepareKernel(): void {
    if (this.kernelPrepared) return;
    this.kernelPrepared = true;
    try {
      setSysctl('net.bridge.bridge-nf-call-iptables', '1');
    } catch (err) {
      this.log.warn(
        { err: errorMessage(err) },
        'service data plane: br_netfilter is not available; a pod reaching a Service backed by a pod on the same bridge may fail',
      );
    }
  }

  private prefix(): string {
    return `${FAMILY} ${this.table}`;
  }

  private declareChain(name: string, rules: string[]): string {
    const { decl } = splitDeclaration(rules);
    return decl ? `add chain ${this.prefix()} ${name} { ${decl} }` : `add chain ${this.prefix()} ${name}`;
  }

  private writeChain(name: string, rules: string[], flush = true): string[] {
    const { body } = splitDeclaration(rules);
    const add = body.map((r) => `add rule ${this.prefix()} ${name} ${r}`);
    return flush ? [`flush chain ${this.prefix()} ${name}`, ...add] : add;
  }

  private affinitySet(name: string, seconds: number): string {
    return `add set ${this.prefix()} ${name} { type ipv4_addr; flags dynamic,timeout; timeout ${seconds}s; }`;
  }

  private elements(verb: 'add' | 'delete', set: string, items: string[]): string[] {
    // Chunked: one command per few hundred elements keeps each line a reasonable size.
    const out: string[] = [];
    for (let i = 0; i < items.length; i += 500)
      out.push(`${verb} element ${this.prefix()} ${set} { ${items.slice(i, i + 500).join(', ')} }`);
    return out;
  }

  private async deleteTable(): Promise<void> {
    try {
      await run('nft', ['delete', 'table', FAMILY, this.table]);
    } catch (err) {
      if (!(err instanceof CommandError && /No such file or directory|does not exist/.test(err.stderr)))
        throw err;
    }
  }

  /**
   * The table deleted and written anew in one transaction: nothing is read first (listing a table of
   * 20,000 chains takes nft seconds), whatever was there — a crashed agent's rules, a hand edit, a map of
   * another shape from another version — is gone, and packets see the old table until the commit, then
   * the new one. Established connections keep their NAT in conntrack; ClientIP affinity memories restart.
   */
  private async fullSync(desired: DesiredState): Promise<Omit<SyncReport, 'ms' | 'servicePorts'>> {
    // `add` first so that `delete` never fails on a missing table.
    const lines: string[] = [
      `add table ${this.prefix()}`,
      `delete table ${this.prefix()}`,
      `add table ${this.prefix()}`,
    ];
    for (const [map, type] of Object.entries(MAP_TYPES))
      lines.push(`add map ${this.prefix()} ${map} { type ${type}; }`);
    lines.push(`add set ${this.prefix()} ${CLUSTER_IPS_SET} { type ipv4_addr; }`);
    for (const [name, seconds] of desired.affinitySets) lines.push(this.affinitySet(name, seconds));
    for (const [name, rules] of desired.chains) lines.push(this.declareChain(name, rules));
    for (const [name, rules] of desired.chains) lines.push(...this.writeChain(name, rules, false));
    let elementsChanged = 0;
    for (const [map, elements] of desired.maps) {
      const items = [...elements].map(([k, v]) => `${k} : ${v}`);
      elementsChanged += items.length;
      lines.push(...this.elements('add', map, items));
    }
    lines.push(...this.elements('add', CLUSTER_IPS_SET, [...desired.clusterIps]));
    elementsChanged += desired.clusterIps.size;
    await nftApply(`${lines.join('\n')}\n`);
    return { full: true, chainsWritten: desired.chains.size, chainsDeleted: 0, elementsChanged };
  }

  private async partialSync(
    applied: DesiredState,
    desired: DesiredState,
  ): Promise<Omit<SyncReport, 'ms' | 'servicePorts'>> {
    const lines: string[] = [];
    for (const [name, seconds] of desired.affinitySets)
      if (applied.affinitySets.get(name) !== seconds) lines.push(this.affinitySet(name, seconds));
    const changed = [...desired.chains].filter(
      ([name, rules]) => !sameRules(applied.chains.get(name), rules),
    );
    for (const [name, rules] of changed)
      if (!applied.chains.has(name)) lines.push(this.declareChain(name, rules));
    for (const [name, rules] of changed) lines.push(...this.writeChain(name, rules));
    let elementsChanged = 0;
    for (const [map, elements] of desired.maps) {
      const before = applied.maps.get(map) ?? new Map<string, string>();
      const removed = [...before].filter(([k, v]) => elements.get(k) !== v).map(([k]) => k);
      const added = [...elements].filter(([k, v]) => before.get(k) !== v).map(([k, v]) => `${k} : ${v}`);
      lines.push(...this.elements('delete', map, removed), ...this.elements('add', map, added));
      elementsChanged += removed.length + added.length;
    }
    const ipsGone = [...applied.clusterIps].filter((ip) => !desired.clusterIps.has(ip));
    const ipsNew = [...desired.clusterIps].filter((ip) => !applied.clusterIps.has(ip));
    lines.push(
      ...this.elements('delete', CLUSTER_IPS_SET, ipsGone),
      ...this.elements('add', CLUSTER_IPS_SET, ipsNew),
    );
    elementsChanged += ipsGone.length + ipsNew.length;
    const stale = [...applied.chains.keys()].filter((c) => !desired.chains.has(c));
    for (const c of stale) lines.push(`flush chain ${this.prefix()} ${c}`);
    for (const c of stale) lines.push(`delete chain ${this.prefix()} ${c}`);
    for (const s of applied.affinitySets.keys())
      if (desired.affinitySets.get(s) === undefined) lines.push(`delete set ${this.prefix()} ${s}`);
    if (lines.length) await nftApply(`${lines.join('\n')}\n`);
    return { full: false, chainsWritten: changed.length, chainsDeleted: stale.length, elementsChanged };
  }

  private async flushStaleUdp(before: ServicePortPlan[], after: ServicePortPlan[]): Promise<void> {
    const udpBefore = before.filter((p) => p.protocol === 'udp');
    if (udpBefore.length === 0 && !after.some((p) => p.protocol === 'udp')) return;
    if (!conntrackAvailable()) {
      if (!this.warnedConntrack)
        this.log.warn({}, 'service data plane: conntrack not found; stale UDP entries are not flushed');
      this.warnedConntrack = true;
      return;
    }
    const nowById = new Map(after.map((p) => [p.id, p]));
    const tasks: Promise<void>[] = [];
    for (const old of udpBefore) {
      const now = nowById.get(old.id);
      const still = new Set((now?.clusterBackends ?? []).map((b) => b.ip));
      for (const b of old.clusterBackends) {
        if (still.has(b.ip)) continue;
        tasks.push(flushServiceBackend(old.clusterIP, b.ip));
        if (old.nodePort) tasks.push(flushNodePortBackend(old.nodePort, b.ip));
      }
    }
    const beforeById = new Map(udpBefore.map((p) => [p.id, p]));
    for (const p of after) {
      if (p.protocol !== 'udp' || p.clusterBackends.length === 0) continue;
      const old = beforeById.get(p.id);
      if (old && old.clusterBackends.length > 0) continue;
      tasks.push(flushServiceIP(p.clusterIP));
      if (p.nodePort) tasks.push(flushNodePort(p.nodePort));
    }
    for (const r of await Promise.allSettled(tasks))
      if (r.status === 'rejected')
        this.log.warn({ err: errorMessage(r.reason) }, 'service data plane: conntrack flush failed');
  }

  /** Delete the table (every rule, map and set of the data plane). Idempotent. */
  async teardown(): Promise<void> {
    const prev = this.queue;
    this.queue = prev.then(async () => {
      await this.deleteTable();
      this.applied = undefined;
      this.appliedPlans = [];
    });
    await this.queue;
  }

  /** Forget what was applied: the next sync is a full one (e.g. after the table was changed by hand). */
  invalidate(): void {
    this.applied = undefined;
  }
}
