// Audit of existing objects: evaluates the objects already stored against every bound policy (an object
// created before its policy, or while the policy was in Warn/Audit) and puts pass/fail/error results in
// the reports. Bounded: at most `maxObjects` objects per scan, one evaluation batch per object through
// the same worker pool (so a hostile policy is stopped by the same deadline). Runs after policies or
// bindings change (debounced) and every `intervalMs`.
import { allKinds, type KindInfo } from '../../api/index.ts';
import type { ObjectStore } from '../../store/objects.ts';
import { ruleMatches, type MatchRequest, type Operation } from '../admission/matching.ts';
import { admissionRequest } from '../admission/request.ts';
import type { ValidatingAdmission } from '../validating-admission.ts';
import { PolicyReporter, REPORT_SOURCE, resultKey } from './reporter.ts';
import { policyLabels } from './violations.ts';

export interface ScanOptions {
  maxObjects?: number;
  intervalMs?: number;
  debounceMs?: number;
}

export interface ScanSummary {
  objects: number;
  evaluations: number;
  pass: number;
  fail: number;
  error: number;
  truncated: boolean;
}

const SCAN_CONCURRENCY = 32;
const SKIPPED_KINDS = new Set(['PolicyReport', 'ClusterPolicyReport', 'Event', 'Lease']);

export class BackgroundScanner {
  private readonly plugin: ValidatingAdmission;
  private readonly reporter: PolicyReporter;
  private readonly objects: ObjectStore;
  private readonly maxObjects: number;
  private readonly intervalMs: number;
  private readonly debounceMs: number;
  private interval: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<ScanSummary> | undefined;
  private stopped = false;

  constructor(
    plugin: ValidatingAdmission,
    reporter: PolicyReporter,
    objects: ObjectStore,
    opts: ScanOptions = {},
  ) {
    this.plugin = plugin;
    this.reporter = reporter;
    this.objects = objects;
    this.maxObjects = opts.maxObjects ?? 10_000;
    this.intervalMs = opts.intervalMs ?? 10 * 60_000;
    this.debounceMs = opts.debounceMs ?? 2000;
  }

  start(): void {
    const soon = () => this.scheduleSoon();
    this.plugin.policies.addHandler({
      onAdd: soon,
      onUpdate: soon,
      onDelete: (p) => this.reporter.forgetPolicy(p.metadata.name!),
    });
    this.plugin.bindings.addHandler({ onAdd: soon, onUpdate: soon, onDelete: soon });
    this.interval = setInterval(() => void this.scan(), this.intervalMs);
    this.interval.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.interval);
    clearTimeout(this.debounce);
    await this.running;
  }

  private scheduleSoon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.scan(), this.debounceMs);
    this.debounce.unref();
  }

  /** One full scan (a running scan is joined rather than started twice). */
  scan(): Promise<ScanSummary> {
    this.running ??= this.scanOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  /** The kinds some bound policy's rules select, with the operation to evaluate them as. */
  private kindsInScope(): { kind: KindInfo; operation: Operation }[] {
    const out: { kind: KindInfo; operation: Operation }[] = [];
    const policies = this.plugin.bindings
      .list()
      .map((b) => this.plugin.policies.get(b.spec.policyName ?? ''))
      .filter((p) => p !== undefined);
    for (const kind of allKinds()) {
      if (SKIPPED_KINDS.has(kind.kind)) continue;
      for (const operation of ['CREATE', 'UPDATE'] as const) {
        const probe = {
          operation,
          kind,
          subresource: '',
          name: '',
          object: null,
          oldObject: null,
          namespaceLabels: undefined,
        };
        if (
          policies.some((p) => p.spec.matchConstraints?.resourceRules?.some((r) => ruleMatches(r, probe)))
        ) {
          out.push({ kind, operation });
          break;
        }
      }
    }
    return out;
  }

  private async scanOnce(): Promise<ScanSummary> {
    const summary: ScanSummary = { objects: 0, evaluations: 0, pass: 0, fail: 0, error: 0, truncated: false };
    if (this.plugin.bindings.list().length === 0) return summary;
    // Several objects in flight keep every worker busy (a lone round trip leaves them idle between objects).
    const inFlight = new Set<Promise<void>>();
    try {
      for (const { kind, operation } of this.kindsInScope()) {
        const { items } = await this.objects.list(kind);
        for (const obj of items) {
          if (this.stopped) return summary;
          if (summary.objects >= this.maxObjects) {
            summary.truncated = true;
            return summary;
          }
          summary.objects++;
          const p: Promise<void> = this.scanObject(kind, operation, obj, summary).finally(() =>
            inFlight.delete(p),
          );
          inFlight.add(p);
          if (inFlight.size >= SCAN_CONCURRENCY) await Promise.race(inFlight);
        }
      }
      return summary;
    } finally {
      await Promise.all(inFlight);
    }
  }

  private async scanObject(
    kind: KindInfo,
    operation: Operation,
    obj: any,
    summary: ScanSummary,
  ): Promise<void> {
    const namespace: string | undefined = obj.metadata?.namespace;
    const nsObject = kind.namespaced && namespace ? this.plugin.namespaceObject(namespace) : undefined;
    const req: MatchRequest = {
      operation,
      kind,
      subresource: '',
      name: obj.metadata?.name ?? '',
      object: obj,
      oldObject: operation === 'UPDATE' ? obj : null,
      namespaceLabels: nsObject?.metadata?.labels,
    };
    const applicable = (await this.plugin.applicable(req, namespace)).filter((a) => a.item);
    if (applicable.length === 0) return;
    const outcomes = await this.plugin.pool.evaluate(
      {
        object: obj,
        oldObject: req.oldObject,
        request: admissionRequest(kind, operation, req.name, namespace, {}),
        namespaceObject: nsObject ?? null,
      },
      applicable.map((a) => a.item!),
    );
    const resource = {
      apiVersion: kind.apiVersion,
      kind: kind.kind,
      namespace,
      name: req.name,
      uid: obj.metadata?.uid,
    };
    for (const [i, a] of applicable.entries()) {
      const outcome = outcomes[i];
      if (!outcome.matched) continue;
      summary.evaluations++;
      const policy = a.policy.metadata.name!;
      const binding = a.binding.metadata.name!;
      const labels = policyLabels(a.policy.metadata.annotations);
      const base = {
        source: REPORT_SOURCE,
        policy,
        severity: labels.severity,
        category: labels.category,
        scored: true,
        resources: [resource],
        timestamp: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
        properties: { binding, scan: 'background' },
      };
      const actions = a.binding.spec.validationActions ?? [];
      const onlyWarns = actions.length > 0 && actions.every((x) => x === 'Warn');
      const failed = new Map(outcome.failures.map((f) => [f.index, f]));
      for (const [index] of (a.policy.spec.validations ?? []).entries()) {
        const rule = `validations[${index}]`;
        const f = failed.get(index);
        if (f) summary.fail++;
        else if (outcome.errors.length === 0) summary.pass++;
        if (!f && outcome.errors.length) continue;
        this.reporter.upsert(namespace ?? '', resultKey(policy, binding, rule, resource), {
          ...base,
          rule,
          // A binding that only warns reports its failures as warn, as admission does.
          result: f ? (onlyWarns ? 'warn' : 'fail') : 'pass',
          ...(f ? { message: f.message } : {}),
        });
      }
      for (const err of outcome.errors) {
        summary.error++;
        this.reporter.upsert(namespace ?? '', resultKey(policy, binding, 'evaluation', resource), {
          ...base,
          rule: 'evaluation',
          result: 'error',
          message: err,
        });
      }
    }
  }
}
