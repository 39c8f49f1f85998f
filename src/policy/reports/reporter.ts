// Keeps wgpolicyk8s.io/v1alpha2 reports current, as Kyverno does: one PolicyReport per namespace
// (`strata-policies`) and one ClusterPolicyReport for cluster-scoped objects. A result is kept per
// policy, binding, rule and resource (the latest outcome replaces the previous one, so a resource that
// keeps failing does not grow the report); each report holds at most `maxResults`, the oldest dropped.
// Admission violations arrive from the ViolationLog; the background scan adds pass/fail results for
// existing objects. Writes are batched (every `flushMs`) and go through the store as the control plane.
import { kindFor, type PolicyReportResult } from '../../api/index.ts';
import type { ObjectStore } from '../../store/objects.ts';
import type { Violation, ViolationLog } from './violations.ts';

export const REPORT_NAME = 'strata-policies';
export const REPORT_SOURCE = 'ValidatingAdmissionPolicy';

export interface ReporterOptions {
  flushMs?: number;
  maxResults?: number;
}

export class PolicyReporter {
  /** Results by scope ('' = cluster) then by result key, in insertion (≈ time) order. */
  private readonly scopes = new Map<string, Map<string, PolicyReportResult>>();
  private readonly dirty = new Set<string>();
  private readonly objects: ObjectStore;
  private readonly flushMs: number;
  readonly maxResults: number;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(objects: ObjectStore, opts: ReporterOptions = {}) {
    this.objects = objects;
    this.flushMs = opts.flushMs ?? 1000;
    this.maxResults = opts.maxResults ?? 1000;
  }

  start(log: ViolationLog): void {
    this.unsubscribe = log.onViolation((v) => this.recordViolation(v));
    this.timer = setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.timer);
    await this.flush();
  }

  recordViolation(v: Violation): void {
    this.upsert(v.resource.namespace ?? '', resultKey(v.policy, v.binding, v.rule, v.resource), {
      source: REPORT_SOURCE,
      policy: v.policy,
      rule: v.rule,
      result: v.result === 'error' ? 'error' : v.action === 'Warn' ? 'warn' : 'fail',
      severity: v.severity,
      category: v.category,
      scored: true,
      message: v.message,
      timestamp: timestamp(v.time),
      resources: [v.resource],
      properties: {
        action: v.action,
        binding: v.binding,
        operation: v.operation,
        ...(v.user ? { user: v.user } : {}),
      },
    });
  }

  /** Adds or replaces one result (the background scan's entry point). */
  upsert(scope: string, key: string, result: PolicyReportResult): void {
    let results = this.scopes.get(scope);
    if (!results) this.scopes.set(scope, (results = new Map()));
    results.delete(key); // re-inserted last: the newest outcome is the last to be dropped
    results.set(key, result);
    while (results.size > this.maxResults) results.delete(results.keys().next().value!);
    this.dirty.add(scope);
  }

  /** Drops the results of a policy (deleted) everywhere. */
  forgetPolicy(policy: string): void {
    for (const [scope, results] of this.scopes)
      for (const [k, r] of results)
        if (r.policy === policy) {
          results.delete(k);
          this.dirty.add(scope);
        }
  }

  /** Writes every report that changed. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeDirty()).catch(() => {});
    return this.flushing;
  }

  private async writeDirty(): Promise<void> {
    const scopes = [...this.dirty];
    this.dirty.clear();
    for (const scope of scopes) {
      try {
        await this.write(scope);
      } catch {
        this.dirty.add(scope); // namespace being deleted, store busy: try again at the next flush
      }
    }
  }

  private async write(scope: string): Promise<void> {
    const kind = scope
      ? kindFor('wgpolicyk8s.io/v1alpha2', 'PolicyReport')!
      : kindFor('wgpolicyk8s.io/v1alpha2', 'ClusterPolicyReport')!;
    const results = [...(this.scopes.get(scope)?.values() ?? [])];
    const summary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
    for (const r of results) if (r.result) summary[r.result]++;
    const ns = scope || undefined;
    const body = {
      apiVersion: kind.apiVersion,
      kind: kind.kind,
      metadata: {
        name: REPORT_NAME,
        ...(ns ? { namespace: ns } : {}),
        labels: { 'app.kubernetes.io/managed-by': 'strata' },
      },
      summary,
      results,
    };
    const current = await this.objects.get(kind, ns, REPORT_NAME);
    if (current)
      await this.objects.update(
        { ...body, metadata: { ...current.metadata, labels: body.metadata.labels } },
        ns,
      );
    else await this.objects.create(body, ns);
  }
}

export function resultKey(
  policy: string,
  binding: string,
  rule: string,
  resource: { kind: string; namespace?: string; name: string; uid?: string },
): string {
  return [policy, binding, rule, resource.kind, resource.namespace ?? '', resource.name].join('\u0000');
}

function timestamp(t: Date): { seconds: number; nanos: number } {
  const ms = t.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}
