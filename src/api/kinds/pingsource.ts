// sources.knative.dev/v1 PingSource: a CloudEvent sent to a sink on a cron schedule. Knative's schema
// (schedule, timezone, contentType, data | dataBase64, sink, ceOverrides) and its validation; Strata
// also accepts a six-field schedule whose first field is seconds (`*/5 * * * * *`), for triggers more
// often than once a minute. The controller lives in src/controllers/eventing/pingsource.ts.
import { Cron } from 'croner';
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { Condition, ObjectMeta } from '../meta.ts';
import { cronScheduleErrors, isValidTimeZone } from './cronjob.ts';

/** Knative's KReference: the addressable object a sink names. */
export const KReference = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().optional(),
});
export type KReference = z.infer<typeof KReference>;

/** duckv1.Destination: a ref, a URI, or a ref with a URI relative to it. */
export const Destination = z
  .strictObject({
    ref: KReference.optional(),
    uri: z.string().optional(),
    CACerts: z.string().optional(),
    audience: z.string().optional(),
  })
  .superRefine((d, ctx) => {
    if (!d.ref && !d.uri)
      addCause(ctx, [], Reason.Required, msg.required('expected at least one, got none: ref, uri'));
    if (d.uri !== undefined) {
      let ok = false;
      try {
        const u = new URL(d.uri, d.ref ? 'http://relative.invalid' : undefined);
        ok = u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        ok = false;
      }
      if (!ok)
        addCause(ctx, ['uri'], Reason.Invalid, msg.invalid(d.uri, 'must be an absolute http or https URL'));
    }
  });
export type Destination = z.infer<typeof Destination>;

/** Keys of a map of CloudEvents attributes: lower-case letters and digits, at most 20 (the spec's rule). */
export function checkAttributeNames(
  ctx: z.RefinementCtx<any>,
  path: PropertyKey[],
  attributes: Record<string, string> | undefined,
): void {
  for (const k of Object.keys(attributes ?? {}))
    if (!/^[a-z0-9]{1,20}$/.test(k))
      addCause(
        ctx,
        [...path, k],
        Reason.Invalid,
        msg.invalid(k, 'CloudEvents attribute names are lower-case letters and digits'),
      );
}

function scheduleErrors(schedule: string, timezone?: string): string[] {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 6) return cronScheduleErrors(schedule, timezone);
  try {
    new Cron(schedule, { mode: '6-part', timezone });
    return [];
  } catch (err) {
    return [err instanceof Error ? err.message : String(err)];
  }
}

export const PingSourceSpec = z
  .strictObject({
    schedule: z.string().optional(),
    timezone: z.string().optional(),
    contentType: z.string().optional(),
    data: z.string().optional(),
    dataBase64: z.string().optional(),
    sink: Destination,
    ceOverrides: z.strictObject({ extensions: z.record(z.string(), z.string()).optional() }).optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.timezone !== undefined && !isValidTimeZone(spec.timezone))
      addCause(ctx, ['timezone'], Reason.Invalid, msg.invalid(spec.timezone, 'unknown time zone'));
    const schedule = spec.schedule ?? '* * * * *';
    for (const e of scheduleErrors(
      schedule,
      spec.timezone && isValidTimeZone(spec.timezone) ? spec.timezone : undefined,
    ))
      addCause(ctx, ['schedule'], Reason.Invalid, msg.invalid(schedule, e));
    if (spec.data !== undefined && spec.dataBase64 !== undefined)
      addCause(
        ctx,
        ['dataBase64'],
        Reason.Forbidden,
        msg.forbidden('expected exactly one, got both: data, dataBase64'),
      );
    if (spec.dataBase64 !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(spec.dataBase64.replace(/\s/g, '')))
      addCause(ctx, ['dataBase64'], Reason.Invalid, msg.invalid(spec.dataBase64, 'must be base64'));
    checkAttributeNames(ctx, ['ceOverrides', 'extensions'], spec.ceOverrides?.extensions);
  });
export type PingSourceSpec = z.infer<typeof PingSourceSpec>;

export const PingSourceStatus = z.strictObject({
  observedGeneration: z.int().min(0).optional(),
  /** Ready (and SinkProvided, Deployed), as Knative reports them. */
  conditions: z.array(Condition).optional(),
  sinkUri: z.string().optional(),
  sinkCACerts: z.string().optional(),
  ceAttributes: z.array(z.strictObject({ type: z.string(), source: z.string() })).optional(),
});
export type PingSourceStatus = z.infer<typeof PingSourceStatus>;

export const PingSource = z.strictObject({
  apiVersion: z.literal('sources.knative.dev/v1'),
  kind: z.literal('PingSource'),
  metadata: ObjectMeta,
  spec: PingSourceSpec,
  status: PingSourceStatus.optional(),
});
export type PingSource = z.infer<typeof PingSource>;

/** The CloudEvents type every PingSource event carries. */
export const PING_EVENT_TYPE = 'dev.knative.sources.ping';

/** Knative's defaults: every minute, in the controller's zone; a data payload's type is JSON. */
export function defaultPingSource(p: PingSource): void {
  p.spec.schedule ??= '* * * * *';
  if ((p.spec.data !== undefined || p.spec.dataBase64 !== undefined) && p.spec.contentType === undefined)
    p.spec.contentType = 'application/json';
}

/** The source attribute of a PingSource's events, as Knative writes it. */
export function pingSourceUri(namespace: string, name: string): string {
  return `/apis/v1/namespaces/${namespace}/pingsources/${name}`;
}
