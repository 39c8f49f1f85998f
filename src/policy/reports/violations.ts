// Every Deny, Warn and Audit outcome of an admission policy (and every failing object the background scan
// finds) is a violation: who, which object, which policy, binding and validation, the action, the policy's
// severity and category, the message, when. The log keeps the most recent ones in memory (bounded) for
// the reports and counts all of them by policy, severity and action for /metrics.
import { SEVERITIES, type Severity } from '../../api/kinds/policyreport.ts';

export type ViolationAction = 'Deny' | 'Warn' | 'Audit';

export interface ViolationResource {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

export interface Violation {
  time: Date;
  /** The API caller; undefined for the background scan. */
  user?: string;
  operation: string;
  resource: ViolationResource;
  policy: string;
  binding: string;
  /** `validations[i]`, or a description of an evaluation error. */
  rule: string;
  action: ViolationAction;
  severity?: Severity;
  category?: string;
  message: string;
  /** 'fail' for a failed validation, 'error' for an evaluation error under failurePolicy Fail. */
  result: 'fail' | 'error';
}

export const SEVERITY_ANNOTATIONS = ['policies.strata.dev/severity', 'policies.kyverno.io/severity'];
export const CATEGORY_ANNOTATIONS = ['policies.strata.dev/category', 'policies.kyverno.io/category'];

/** A policy's severity and category from its annotations (Strata's first, Kyverno's accepted). */
export function policyLabels(annotations: Record<string, string> | undefined): {
  severity?: Severity;
  category?: string;
} {
  const pick = (keys: string[]) => keys.map((k) => annotations?.[k]).find((v) => v !== undefined && v !== '');
  const severity = pick(SEVERITY_ANNOTATIONS)?.toLowerCase();
  return {
    severity: SEVERITIES.includes(severity as Severity) ? (severity as Severity) : undefined,
    category: pick(CATEGORY_ANNOTATIONS),
  };
}

export interface ViolationTotal {
  policy: string;
  severity: Severity | 'none';
  action: ViolationAction;
  count: number;
}

export class ViolationLog {
  private readonly recentList: Violation[] = [];
  private readonly counts = new Map<string, ViolationTotal>();
  private readonly listeners = new Set<(v: Violation) => void>();
  readonly limit: number;

  constructor(limit = 1000) {
    this.limit = limit;
  }

  record(v: Violation): void {
    this.recentList.push(v);
    if (this.recentList.length > this.limit) this.recentList.splice(0, this.recentList.length - this.limit);
    const severity = v.severity ?? 'none';
    const key = `${v.policy}\u0000${severity}\u0000${v.action}`;
    const total = this.counts.get(key) ?? { policy: v.policy, severity, action: v.action, count: 0 };
    total.count++;
    this.counts.set(key, total);
    for (const l of this.listeners) l(v);
  }

  /** The most recent violations, newest first (optionally of one namespace). */
  recent(n: number, namespace?: string): Violation[] {
    const out: Violation[] = [];
    for (let i = this.recentList.length - 1; i >= 0 && out.length < n; i--) {
      const v = this.recentList[i];
      if (namespace === undefined || v.resource.namespace === namespace) out.push(v);
    }
    return out;
  }

  /** Totals since start, by policy, severity and action (what /metrics exports). */
  totals(): ViolationTotal[] {
    return [...this.counts.values()].map((t) => ({ ...t }));
  }

  onViolation(listener: (v: Violation) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

let current: ViolationLog | undefined;

/** The running control plane's log (the admission plugin registers it), for /metrics. */
export function setActiveViolationLog(log: ViolationLog | undefined): void {
  current = log;
}

/** Violation totals by policy, severity and action since the server started (empty when none ran). */
export function policyViolationTotals(): ViolationTotal[] {
  return current?.totals() ?? [];
}
