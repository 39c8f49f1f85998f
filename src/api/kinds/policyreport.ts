// wgpolicyk8s.io/v1alpha2 PolicyReport (namespaced) and ClusterPolicyReport: the Kubernetes Policy WG's
// report format, as Kyverno writes it — results (policy, rule, result, severity, category, resources,
// message, timestamp) and a summary of counts. Strata's policy reporter (src/policy/reports/) writes them.
import { z } from 'zod';
import { LabelSelector, ObjectMeta, ObjectReference } from '../meta.ts';

export const POLICY_RESULTS = ['pass', 'fail', 'warn', 'error', 'skip'] as const;
export type PolicyResultValue = (typeof POLICY_RESULTS)[number];
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const PolicyReportResult = z.strictObject({
  source: z.string().optional(),
  policy: z.string(),
  rule: z.string().optional(),
  category: z.string().optional(),
  severity: z.enum(SEVERITIES).optional(),
  timestamp: z.strictObject({ seconds: z.number().int(), nanos: z.number().int() }).optional(),
  result: z.enum(POLICY_RESULTS).optional(),
  scored: z.boolean().optional(),
  resources: z.array(ObjectReference).optional(),
  resourceSelector: LabelSelector.optional(),
  message: z.string().optional(),
  properties: z.record(z.string(), z.string()).optional(),
});
export type PolicyReportResult = z.infer<typeof PolicyReportResult>;

export const PolicyReportSummary = z.strictObject({
  pass: z.number().int().optional(),
  fail: z.number().int().optional(),
  warn: z.number().int().optional(),
  error: z.number().int().optional(),
  skip: z.number().int().optional(),
});
export type PolicyReportSummary = z.infer<typeof PolicyReportSummary>;

const fields = {
  metadata: ObjectMeta,
  scope: ObjectReference.optional(),
  scopeSelector: LabelSelector.optional(),
  summary: PolicyReportSummary.optional(),
  results: z.array(PolicyReportResult).optional(),
};

export const PolicyReport = z.strictObject({
  apiVersion: z.literal('wgpolicyk8s.io/v1alpha2'),
  kind: z.literal('PolicyReport'),
  ...fields,
});
export type PolicyReport = z.infer<typeof PolicyReport>;

export const ClusterPolicyReport = z.strictObject({
  apiVersion: z.literal('wgpolicyk8s.io/v1alpha2'),
  kind: z.literal('ClusterPolicyReport'),
  ...fields,
});
export type ClusterPolicyReport = z.infer<typeof ClusterPolicyReport>;
