// PolicyDataPlane: makes the kernel's policy table match a list of policy plans (ruleset.ts has the
// layout). Like the Service data plane: the first sync (and any after a failure) deletes and rewrites the
// table in one nft transaction — it converges from nothing, a crashed agent's table or a hand-edited one,
// and packets see the old rules until the commit; later syncs only rewrite chains whose rules changed and
// add/delete the set elements that changed (a pod starting is one element per set it belongs to).
// teardown() deletes exactly the table.
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import { CommandError, run } from '../../lib/command.ts';
import { setSysctl } from '../links.ts';
import { nftApply } from '../services/nft.ts';
import type { PolicyPlan } from './plan.ts';
import { type DesiredState, FAMILY, TABLE, desiredState } from './ruleset.ts';

export interface PolicyDataPlaneOptions {
  /** The nftables table (ip family). Default `strata_policy`; tests and other nodes use their own. */
  table?: string;
  log?: Log;
}

export interface PolicySyncReport {
  full: boolean;
  chainsWritten: number;
  chainsDeleted: number;
  elementsChanged: number;
  policies: number;
  ms: number;
}

function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return !!a && a.length === b.length && a.every((r, i) => r === b[i]);
}

export class PolicyDataPlane {
  readonly table: string;
  private readonly log: Log;
  private applied?: DesiredState;
  private queue: Promise<unknown> = Promise.resolve();
  private kernelPrepared = false;

  constructor(opts: PolicyDataPlaneOptions = {}) {
    this.table = opts.table ?? TABLE;
    this.log = opts.log ?? defaultLog;
  }

  /** Make the kernel enforce exactly these plans; syncs never overlap. */
  reconcile(plans: readonly PolicyPlan[]): Promise<PolicySyncReport> {
    const next = this.queue.then(() => this.sync(plans));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async sync(plans: readonly PolicyPlan[]): Promise<PolicySyncReport> {
    const started = performance.now();
    this.prepareKernel();
    const desired = desiredState(plans);
    let report: Omit<PolicySyncReport, 'ms' | 'policies'>;
    if (this.applied) {
      try {
        report = await this.partialSync(this.applied, desired);
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'network policy: partial sync failed, doing a full one');
        this.applied = undefined;
        report = await this.fullSync(desired);
      }
    } else report = await this.fullSync(desired);
    this.applied = desired;
    return { ...report, policies: plans.length, ms: performance.now() - started };
  }

  /**
   * Pod-to-pod packets on one bridge reach the IP forward hook only through br_netfilter; without it a
   * policy would hold only for traffic that is routed (to other nodes, outside).
   */
  private prepareKernel(): void {
    if (this.kernelPrepared) return;
    this.kernelPrepared = true;
    try {
      setSysctl('net.bridge.bridge-nf-call-iptables', '1');
    } catch (err) {
      this.log.warn(
        { err: errorMessage(err) },
        'network policy: br_netfilter is not available; traffic between pods of one bridge is not filtered',
      );
    }
  }

  private get prefix(): string {
    return `${FAMILY} ${this.table}`;
  }

  private declareChain(name: string, rules: readonly string[]): string {
    const decl = rules[0]?.startsWith('type ') ? rules[0] : undefined;
    return decl ? `add chain ${this.prefix} ${name} { ${decl} }` : `add chain ${this.prefix} ${name}`;
  }

  private ruleLines(name: string, rules: readonly string[]): string[] {
    const body = rules[0]?.startsWith('type ') ? rules.slice(1) : rules;
    return body.map((r) => `add rule ${this.prefix} ${name} ${r}`);
  }

  private elementLines(verb: 'add' | 'delete', set: string, items: readonly string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < items.length; i += 500)
      out.push(`${verb} element ${this.prefix} ${set} { ${items.slice(i, i + 500).join(', ')} }`);
    return out;
  }

  private async fullSync(desired: DesiredState): Promise<Omit<PolicySyncReport, 'ms' | 'policies'>> {
    // `add` first so that `delete` never fails on a missing table; all of it is one transaction.
    const lines = [`add table ${this.prefix}`, `delete table ${this.prefix}`, `add table ${this.prefix}`];
    let elementsChanged = 0;
    for (const [name, set] of desired.sets)
      lines.push(`add set ${this.prefix} ${name} { type ${set.type}; }`);
    for (const [name, set] of desired.sets) {
      lines.push(...this.elementLines('add', name, [...set.elements]));
      elementsChanged += set.elements.size;
    }
    for (const [name, rules] of desired.chains) lines.push(this.declareChain(name, rules));
    for (const [name, rules] of desired.chains) lines.push(...this.ruleLines(name, rules));
    await nftApply(`${lines.join('\n')}\n`);
    return { full: true, chainsWritten: desired.chains.size, chainsDeleted: 0, elementsChanged };
  }

  private async partialSync(
    applied: DesiredState,
    desired: DesiredState,
  ): Promise<Omit<PolicySyncReport, 'ms' | 'policies'>> {
    const lines: string[] = [];
    let elementsChanged = 0;
    // New sets before the rules that name them; element changes of every set.
    for (const [name, set] of desired.sets) {
      const before = applied.sets.get(name);
      if (!before) lines.push(`add set ${this.prefix} ${name} { type ${set.type}; }`);
      const gone = before ? [...before.elements].filter((e) => !set.elements.has(e)) : [];
      const added = [...set.elements].filter((e) => !before?.elements.has(e));
      lines.push(...this.elementLines('delete', name, gone), ...this.elementLines('add', name, added));
      elementsChanged += gone.length + added.length;
    }
    const changed = [...desired.chains].filter(
      ([name, rules]) => !sameRules(applied.chains.get(name), rules),
    );
    for (const [name, rules] of changed)
      if (!applied.chains.has(name)) lines.push(this.declareChain(name, rules));
    for (const [name, rules] of changed)
      lines.push(`flush chain ${this.prefix} ${name}`, ...this.ruleLines(name, rules));
    // Stale chains after the base chains stopped jumping to them; stale sets after the rules naming them.
    const stale = [...applied.chains.keys()].filter((c) => !desired.chains.has(c));
    for (const c of stale) lines.push(`flush chain ${this.prefix} ${c}`);
    for (const c of stale) lines.push(`delete chain ${this.prefix} ${c}`);
    for (const s of applied.sets.keys())
      if (!desired.sets.has(s)) lines.push(`delete set ${this.prefix} ${s}`);
    if (lines.length) await nftApply(`${lines.join('\n')}\n`);
    return { full: false, chainsWritten: changed.length, chainsDeleted: stale.length, elementsChanged };
  }

  /** Delete the table (every rule and set of the policy plane). Idempotent. */
  async teardown(): Promise<void> {
    const prev = this.queue;
    this.queue = prev.then(async () => {
      try {
        await run('nft', ['delete', 'table', FAMILY, this.table]);
      } catch (err) {
        if (!(err instanceof CommandError && /No such file or directory|does not exist/.test(err.stderr)))
          throw err;
      }
      this.applied = undefined;
    });
    await this.queue;
  }

  /** Forget what was applied: the next sync is a full one. */
  invalidate(): void {
    this.applied = undefined;
  }
}
