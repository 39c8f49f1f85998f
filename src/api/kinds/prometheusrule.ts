// monitoring.coreos.com/v1 PrometheusRule (the Prometheus Operator's kind, a subset): groups of alerting
// and recording rules whose `expr` is PromQL. The shape is checked here; the expressions are compiled at
// write time by the alerting subsystem (src/server/alerts/admission.ts), which refuses a parse error or a
// construct its evaluator lacks with the field and the position.
import { z } from 'zod';
import { ObjectMeta } from '../meta.ts';

/** A Prometheus duration: 1h30m, 5m, 30s, 250ms, 0s (units y w d h m s ms, largest first). */
export const PROMETHEUS_DURATION = /^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$/;
const Duration = z
  .string()
  .regex(PROMETHEUS_DURATION, 'must be a Prometheus duration such as 30s, 5m or 1h30m')
  .refine((s) => s.length > 0, 'must not be empty');

export const Rule = z
  .strictObject({
    alert: z.string().min(1).optional(),
    record: z
      .string()
      .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a metric name')
      .optional(),
    expr: z.union([z.string().min(1), z.int()]).transform((e) => String(e)),
    for: Duration.optional(),
    keep_firing_for: Duration.optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .superRefine((r, ctx) => {
    if ((r.alert === undefined) === (r.record === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['alert'],
        message: 'exactly one of alert and record is required',
      });
    if (r.record !== undefined && (r.for || r.keep_firing_for || r.annotations))
      ctx.addIssue({
        code: 'custom',
        path: ['record'],
        message: 'a recording rule has no for, keep_firing_for or annotations',
      });
  });
export type Rule = z.infer<typeof Rule>;

export const RuleGroup = z.strictObject({
  name: z.string().min(1),
  interval: Duration.optional(),
  rules: z.array(Rule).default([]),
});
export type RuleGroup = z.infer<typeof RuleGroup>;

export const PrometheusRuleSpec = z
  .strictObject({ groups: z.array(RuleGroup).default([]) })
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.groups.forEach((g, i) => {
      if (seen.has(g.name))
        ctx.addIssue({
          code: 'custom',
          path: ['groups', i, 'name'],
          message: `duplicate group name "${g.name}"`,
        });
      seen.add(g.name);
    });
  });
export type PrometheusRuleSpec = z.infer<typeof PrometheusRuleSpec>;

export const PrometheusRule = z.strictObject({
  apiVersion: z.literal('monitoring.coreos.com/v1'),
  kind: z.literal('PrometheusRule'),
  metadata: ObjectMeta,
  spec: PrometheusRuleSpec.prefault({}),
});
export type PrometheusRule = z.infer<typeof PrometheusRule>;
