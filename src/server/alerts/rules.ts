// Alerting and recording rules as Prometheus' rule manager runs them: each evaluation of an alerting
// rule turns the expression's result into alerts — new ones pending (or firing at once with no `for`),
// pending ones firing once they have been active for `for`, ones no longer in the result resolved
// (after `keep_firing_for` when set). Labels are the series' (minus `__name__`) plus the rule's and
// `alertname`; annotations and rule labels are templated with `$labels` and `$value`.
import { createHash } from 'node:crypto';
import type { PrometheusRule } from '../../api/kinds/prometheusrule.ts';
import { type Expr, PromQLError, parseDuration, parsePromQL } from './promql/parse.ts';
import { type Labels, type Sample, type SeriesSource, evaluate } from './promql/eval.ts';
import { expandTemplate } from './template.ts';

export type AlertState = 'pending' | 'firing' | 'inactive';

export interface Alert {
  /** The PrometheusRule, group and rule the alert comes from. */
  origin: { namespace: string; name: string; group: string; rule: string };
  labels: Labels;
  annotations: Record<string, string>;
  state: AlertState;
  /** When the expression first returned this series (epoch ms). */
  activeAt: number;
  firedAt?: number;
  resolvedAt?: number;
  /** The last evaluation that returned this series. */
  lastSeenAt: number;
  value: number;
  fingerprint: string;
}

export interface CompiledRule {
  alert?: string;
  record?: string;
  expr: Expr;
  exprText: string;
  forMs: number;
  keepFiringForMs: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CompiledGroup {
  /** namespace/name/group: unique in the cluster. */
  key: string;
  namespace: string;
  name: string;
  group: string;
  intervalMs: number;
  rules: CompiledRule[];
}

/** A write-time problem with one field of a PrometheusRule. */
export interface RuleFieldError {
  field: string;
  message: string;
}

/** Compiles a PrometheusRule's groups; throws the first field error (for admission) when `strict`. */
export function compileRules(
  obj: PrometheusRule,
  defaultIntervalMs: number,
): { groups: CompiledGroup[]; errors: RuleFieldError[] } {
  const groups: CompiledGroup[] = [];
  const errors: RuleFieldError[] = [];
  obj.spec.groups.forEach((g, gi) => {
    const rules: CompiledRule[] = [];
    g.rules.forEach((r, ri) => {
      const field = `spec.groups[${gi}].rules[${ri}]`;
      let parsed: ReturnType<typeof parsePromQL>;
      try {
        parsed = parsePromQL(r.expr);
      } catch (err) {
        // Positions count from 1, as editors show columns; the text there helps find it in a long rule.
        const at = err instanceof PromQLError ? r.expr.slice(err.position, err.position + 20) : '';
        const pos =
          err instanceof PromQLError
            ? ` (at position ${err.position + 1}${at ? `: ${JSON.stringify(at)}` : ', the end of the expression'})`
            : '';
        errors.push({ field: `${field}.expr`, message: `${(err as Error).message}${pos}` });
        return;
      }
      if (parsed.type !== 'vector' && parsed.type !== 'scalar') {
        errors.push({
          field: `${field}.expr`,
          message: `the expression must give an instant vector or a scalar, not a ${parsed.type}`,
        });
        return;
      }
      rules.push({
        alert: r.alert,
        record: r.record,
        expr: parsed.expr,
        exprText: r.expr,
        forMs: parseDuration(r.for ?? '0s') ?? 0,
        keepFiringForMs: parseDuration(r.keep_firing_for ?? '0s') ?? 0,
        labels: r.labels ?? {},
        annotations: r.annotations ?? {},
      });
    });
    groups.push({
      key: `${obj.metadata.namespace}/${obj.metadata.name}/${g.name}`,
      namespace: obj.metadata.namespace!,
      name: obj.metadata.name!,
      group: g.name,
      intervalMs: (g.interval ? parseDuration(g.interval) : undefined) || defaultIntervalMs,
      rules,
    });
  });
  return { groups, errors };
}

export function fingerprint(labels: Labels): string {
  const h = createHash('sha256');
  for (const k of Object.keys(labels).sort()) h.update(`${k}\xff${labels[k]}\xff`);
  return h.digest('hex').slice(0, 16);
}

/** What an evaluation changed, for Events and notifications. */
export interface Transition {
  alert: Alert;
  to: 'firing' | 'resolved';
}

/** The alerts of one alerting rule across evaluations. */
export class AlertingRuleState {
  readonly alerts = new Map<string, Alert>();
  /** Resolved alerts are kept this long (for the resolved notification and the API), then forgotten. */
  static readonly RESOLVED_RETENTION_MS = 15 * 60_000;

  /** One evaluation's result at `t`. */
  update(group: CompiledGroup, rule: CompiledRule, samples: Sample[], t: number): Transition[] {
    const transitions: Transition[] = [];
    const seen = new Set<string>();
    for (const s of samples) {
      const { __name__: _, ...series } = s.labels;
      const tmpl = { labels: series, value: s.v };
      const labels: Labels = { ...series };
      for (const [k, v] of Object.entries(rule.labels)) labels[k] = expandTemplate(v, tmpl);
      labels.alertname = rule.alert!;
      const fp = fingerprint(labels);
      if (seen.has(fp)) continue; // two series the same once __name__ is gone: Prometheus errors; keep the first
      seen.add(fp);
      const annotations: Record<string, string> = {};
      for (const [k, v] of Object.entries(rule.annotations)) annotations[k] = expandTemplate(v, tmpl);
      const prev = this.alerts.get(fp);
      if (prev && prev.state !== 'inactive') {
        prev.value = s.v;
        prev.annotations = annotations;
        prev.lastSeenAt = t;
        continue;
      }
      this.alerts.set(fp, {
        origin: { namespace: group.namespace, name: group.name, group: group.group, rule: rule.alert! },
        labels,
        annotations,
        state: 'pending',
        activeAt: t,
        lastSeenAt: t,
        value: s.v,
        fingerprint: fp,
      });
    }
    for (const [fp, a] of this.alerts) {
      if (a.state === 'inactive') {
        if (t - (a.resolvedAt ?? t) > AlertingRuleState.RESOLVED_RETENTION_MS) this.alerts.delete(fp);
        continue;
      }
      if (!seen.has(fp)) {
        if (a.state === 'pending') {
          this.alerts.delete(fp);
          continue;
        }
        if (rule.keepFiringForMs > 0 && t - a.lastSeenAt < rule.keepFiringForMs) continue;
        a.state = 'inactive';
        a.resolvedAt = t;
        transitions.push({ alert: a, to: 'resolved' });
        continue;
      }
      if (a.state === 'pending' && t - a.activeAt >= rule.forMs) {
        a.state = 'firing';
        a.firedAt = t;
        transitions.push({ alert: a, to: 'firing' });
      }
    }
    return transitions;
  }

  /** Every alert resolved at once (the rule was deleted or changed). */
  resolveAll(t: number): Transition[] {
    const out: Transition[] = [];
    for (const [fp, a] of this.alerts) {
      if (a.state === 'firing') {
        a.state = 'inactive';
        a.resolvedAt = t;
        out.push({ alert: a, to: 'resolved' });
      } else if (a.state === 'pending') this.alerts.delete(fp);
    }
    return out;
  }
}

/** The samples an expression gives at t, a scalar as one sample without labels (Prometheus' rule query). */
export function evaluateRule(rule: CompiledRule, t: number, source: SeriesSource): Sample[] {
  const v = evaluate(rule.expr, t, source);
  if (v.type === 'scalar') return [{ labels: {}, v: v.v }];
  if (v.type === 'vector') return v.samples;
  throw new Error(`rule expression gave a ${v.type}`);
}
