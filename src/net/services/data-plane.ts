// ServiceDataPlane: makes the kernel's `ip strata` table match the Services and EndpointSlices it is
// given (see ruleset.ts for the layout).
//
// - The first sync (and any sync after a failure) is a full one: one nft transaction deletes the table
//   and writes it anew, with nothing read first. It converges from any state — an empty kernel, the rules
//   of an agent that crashed, a table someone edited — without duplicate rules, and traffic never sees a
//   half-written table (packets use the old table until the commit).
// - Later syncs are partial and work per Service port: a port whose rendered rules are the very object
//   applied last time is skipped (the planner and the render cache hand back the same objects for
//   Services the informers did not replace); for the others, only their map elements that changed are
//   deleted or added, and only their own chains (affinity, Local node ports) rewritten. Shared things
//   (dispatch chains per backend count, cluster-ips and endpoint-self elements) are reference-counted.
//   So the cost of a change does not grow with the number of Services — what kube-proxy's nftables
//   mode was made for (its iptables mode rewrites everything).
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
  FAMILY,
  MAP_DECLARATIONS,
  type RenderedPlan,
  type RulesetOptions,
  RenderCache,
  SET_DECLARATIONS,
  TABLE,
  aggregate,
  sharedChainRules,
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

/** What the kernel holds after a successful sync: the rendered ports, and how many use each shared thing. */
interface Applied {
  byId: Map<string, RenderedPlan>;
  sharedChains: Map<string, number>;
  /** `set\0element` → ports holding it. */
  setElements: Map<string, number>;
}

function count(m: Map<string, number>, key: string, d: number): void {
  m.set(key, (m.get(key) ?? 0) + d);
}

function appliedFrom(byId: Map<string, RenderedPlan>): Applied {
  const applied: Applied = { byId, sharedChains: new Map(), setElements: new Map() };
  for (const r of byId.values()) {
    for (const c of r.sharedChains) count(applied.sharedChains, c, 1);
    for (const [set, key] of r.setElements) count(applied.setElements, `${set}\0${key}`, 1);
  }
  return applied;
}

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
  private applied?: Applied;
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
    const rendered = new Map<string, RenderedPlan>();
    for (const p of plans) rendered.set(p.id, this.renderCache.get(p, this.opts));
    this.renderCache.rotate();
    let report: Omit<SyncReport, 'ms' | 'servicePorts'>;
    if (this.applied) {
      try {
        report = await this.partialSync(this.applied, rendered);
      } catch (err) {
        // The kernel is not what we thought (someone changed the table): start over from what is there.
        this.log.warn(
          { err: errorMessage(err) },
          'service data plane: partial sync failed, doing a full one',
        );
        this.applied = undefined;
        report = await this.fullSync(rendered);
      }
    } else report = await this.fullSync(rendered);
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
   * The table deleted and written anew in one transaction: nothing is read first (listing a big table
   * takes nft seconds), whatever was there — a crashed agent's rules, a hand edit, a map of another shape
   * from another version — is gone, and packets see the old table until the commit, then the new one.
   * Established connections keep their NAT in conntrack; ClientIP affinity memories restart.
   */
  private async fullSync(
    rendered: Map<string, RenderedPlan>,
  ): Promise<Omit<SyncReport, 'ms' | 'servicePorts'>> {
    const desired = aggregate(rendered.values(), this.opts);
    // `add` first so that `delete` never fails on a missing table.
    const lines: string[] = [
      `add table ${this.prefix()}`,
      `delete table ${this.prefix()}`,
      `add table ${this.prefix()}`,
    ];
    for (const [map, type] of Object.entries(MAP_DECLARATIONS))
      lines.push(`add map ${this.prefix()} ${map} { ${type}; }`);
    for (const [set, type] of Object.entries(SET_DECLARATIONS))
      lines.push(`add set ${this.prefix()} ${set} { ${type}; }`);
    for (const [name, seconds] of desired.affinitySets) lines.push(this.affinitySet(name, seconds));
    for (const [name, rules] of desired.chains) lines.push(this.declareChain(name, rules));
    for (const [name, rules] of desired.chains) lines.push(...this.writeChain(name, rules, false));
    let elementsChanged = 0;
    for (const [map, elements] of desired.maps) {
      const items = [...elements].map(([k, v]) => `${k} : ${v}`);
      elementsChanged += items.length;
      lines.push(...this.elements('add', map, items));
    }
    for (const [set, elements] of desired.sets) {
      elementsChanged += elements.size;
      lines.push(...this.elements('add', set, [...elements]));
    }
    await nftApply(`${lines.join('\n')}\n`);
    this.applied = appliedFrom(rendered);
    return { full: true, chainsWritten: desired.chains.size, chainsDeleted: 0, elementsChanged };
  }

  /**
   * Only the Service ports whose rendering changed (a different object than the one applied), in one
   * transaction: affinity sets and chains first, then element deletes, element adds, and last the chains
   * and sets nothing refers to any more.
   */
  private async partialSync(
    applied: Applied,
    rendered: Map<string, RenderedPlan>,
  ): Promise<Omit<SyncReport, 'ms' | 'servicePorts'>> {
    const d = new Delta();
    for (const [id, r] of rendered) {
      const old = applied.byId.get(id);
      if (old !== r) d.port(old, r);
    }
    for (const [id, old] of applied.byId) if (!rendered.has(id)) d.port(old, undefined);

    const sharedChains = new Map(applied.sharedChains);
    const newShared: string[] = [];
    const staleShared: string[] = [];
    for (const [name, change] of d.sharedChains) {
      const before = sharedChains.get(name) ?? 0;
      const after = before + change;
      if (after > 0) sharedChains.set(name, after);
      else sharedChains.delete(name);
      if (before === 0 && after > 0) newShared.push(name);
      if (before > 0 && after <= 0) staleShared.push(name);
    }
    const setElements = new Map(applied.setElements);
    const setAdds = new Map<string, string[]>();
    const setDeletes = new Map<string, string[]>();
    for (const [both, change] of d.setElements) {
      const before = setElements.get(both) ?? 0;
      const after = before + change;
      if (after > 0) setElements.set(both, after);
      else setElements.delete(both);
      const [set, key] = both.split('\0');
      if (before === 0 && after > 0) push(setAdds, set, key);
      if (before > 0 && after <= 0) push(setDeletes, set, key);
    }

    const lines: string[] = [];
    for (const [name, seconds] of d.affinityAdds) lines.push(this.affinitySet(name, seconds));
    for (const name of newShared) {
      const rules = sharedChainRules(name, this.opts);
      lines.push(this.declareChain(name, rules), ...this.writeChain(name, rules, false));
    }
    for (const [name, rules] of d.chainsNew) lines.push(this.declareChain(name, rules));
    for (const [name, rules] of d.chainsNew) lines.push(...this.writeChain(name, rules, false));
    for (const [name, rules] of d.chainsChanged) lines.push(...this.writeChain(name, rules));
    let elementsChanged = 0;
    for (const [map, keys] of d.elementDeletes) {
      lines.push(...this.elements('delete', map, keys));
      elementsChanged += keys.length;
    }
    for (const [set, keys] of setDeletes) {
      lines.push(...this.elements('delete', set, keys));
      elementsChanged += keys.length;
    }
    for (const [map, items] of d.elementAdds) {
      lines.push(...this.elements('add', map, items));
      elementsChanged += items.length;
    }
    for (const [set, keys] of setAdds) {
      lines.push(...this.elements('add', set, keys));
      elementsChanged += keys.length;
    }
    const stale = [...d.chainsStale, ...staleShared];
    for (const c of stale) lines.push(`flush chain ${this.prefix()} ${c}`);
    for (const c of stale) lines.push(`delete chain ${this.prefix()} ${c}`);
    for (const s of d.affinityDeletes) lines.push(`delete set ${this.prefix()} ${s}`);
    if (lines.length) await nftApply(`${lines.join('\n')}\n`);
    this.applied = { byId: rendered, sharedChains, setElements };
    return {
      full: false,
      chainsWritten: d.chainsNew.length + d.chainsChanged.length + newShared.length,
      chainsDeleted: stale.length,
      elementsChanged,
    };
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

function push<K, V>(m: Map<K, V[]>, key: K, value: V): void {
  const list = m.get(key);
  if (list) list.push(value);
  else m.set(key, [value]);
}

/** What changed between the renderings of Service ports (the old one, the new one; either may be absent). */
class Delta {
  readonly chainsNew: [string, string[]][] = [];
  readonly chainsChanged: [string, string[]][] = [];
  readonly chainsStale: string[] = [];
  /** Map → keys to delete, and `key : value` items to add. */
  readonly elementDeletes = new Map<string, string[]>();
  readonly elementAdds = new Map<string, string[]>();
  /** Reference count changes. */
  readonly sharedChains = new Map<string, number>();
  readonly setElements = new Map<string, number>();
  readonly affinityAdds: [string, number][] = [];
  readonly affinityDeletes: string[] = [];

  port(old: RenderedPlan | undefined, now: RenderedPlan | undefined): void {
    const oldChains = new Map(old?.chains);
    const nowChains = new Map(now?.chains);
    for (const [name, rules] of nowChains) {
      const before = oldChains.get(name);
      if (before === undefined) this.chainsNew.push([name, rules]);
      else if (!sameRules(before, rules)) this.chainsChanged.push([name, rules]);
    }
    for (const name of oldChains.keys()) if (!nowChains.has(name)) this.chainsStale.push(name);

    const oldElements = new Map(old?.elements.map(([m, k, v]) => [`${m}\0${k}`, v]));
    const nowElements = new Map(now?.elements.map(([m, k, v]) => [`${m}\0${k}`, v]));
    for (const [both, value] of oldElements)
      if (nowElements.get(both) !== value) {
        const [map, key] = both.split('\0');
        push(this.elementDeletes, map, key);
      }
    for (const [both, value] of nowElements)
      if (oldElements.get(both) !== value) {
        const [map, key] = both.split('\0');
        push(this.elementAdds, map, `${key} : ${value}`);
      }

    for (const c of old?.sharedChains ?? []) count(this.sharedChains, c, -1);
    for (const c of now?.sharedChains ?? []) count(this.sharedChains, c, 1);
    for (const [set, key] of old?.setElements ?? []) count(this.setElements, `${set}\0${key}`, -1);
    for (const [set, key] of now?.setElements ?? []) count(this.setElements, `${set}\0${key}`, 1);

    const oldSets = new Map(old?.affinitySets);
    const nowSets = new Map(now?.affinitySets);
    for (const [name, seconds] of nowSets)
      if (oldSets.get(name) !== seconds) this.affinityAdds.push([name, seconds]);
    for (const name of oldSets.keys()) if (!nowSets.has(name)) this.affinityDeletes.push(name);
  }
}
