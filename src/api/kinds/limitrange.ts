// v1 LimitRange: per-namespace bounds and defaults for container, pod and claim resources. Admission
// (src/policy/quota/limitrange.ts) applies `defaultRequest`/`default` to containers that leave them out,
// then checks min, max and maxLimitRequestRatio.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { ObjectMeta } from '../meta.ts';
import { QuantityError, parseCpu, parseQuantity } from '../quantity.ts';

export const LIMIT_TYPES = ['Container', 'Pod', 'PersistentVolumeClaim'] as const;
export type LimitType = (typeof LIMIT_TYPES)[number];

/** A resource amount in its unit: millicores for cpu, base units (bytes) otherwise. */
export function limitAmount(resource: string, q: string | number): number {
  return resource === 'cpu' ? parseCpu(q) : parseQuantity(q);
}

const Amounts = z.record(z.string(), z.union([z.string(), z.number()]));
const BOUNDS = ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio'] as const;

export const LimitRangeItem = z
  .strictObject({
    type: z.enum(LIMIT_TYPES),
    max: Amounts.optional(),
    min: Amounts.optional(),
    default: Amounts.optional(),
    defaultRequest: Amounts.optional(),
    maxLimitRequestRatio: Amounts.optional(),
  })
  .superRefine((item, ctx) => {
    const parsed: Partial<Record<(typeof BOUNDS)[number], Record<string, number>>> = {};
    for (const bound of BOUNDS) {
      parsed[bound] = {};
      for (const [res, q] of Object.entries(item[bound] ?? {})) {
        try {
          // The ratio is a plain number, whatever the resource.
          parsed[bound]![res] = bound === 'maxLimitRequestRatio' ? parseQuantity(q) : limitAmount(res, q);
        } catch (e) {
          addCause(
            ctx,
            [bound, res],
            Reason.Invalid,
            msg.invalid(q, e instanceof QuantityError ? e.detail : String(e)),
          );
        }
      }
    }
    if (item.type !== 'Container')
      for (const bound of ['default', 'defaultRequest'] as const)
        if (item[bound] && Object.keys(item[bound]).length)
          addCause(
            ctx,
            [bound],
            Reason.Forbidden,
            msg.forbidden(`may not be specified when type is ${item.type}`),
          );
    const {
      min = {},
      max = {},
      default: lim = {},
      defaultRequest: req = {},
      maxLimitRequestRatio: ratio = {},
    } = parsed;
    const original = (bound: (typeof BOUNDS)[number], res: string) => item[bound]?.[res];
    for (const res of new Set([
      ...Object.keys(min),
      ...Object.keys(max),
      ...Object.keys(lim),
      ...Object.keys(req),
    ])) {
      const order: [(typeof BOUNDS)[number], (typeof BOUNDS)[number]][] = [
        ['min', 'max'],
        ['min', 'defaultRequest'],
        ['defaultRequest', 'default'],
        ['default', 'max'],
        ['defaultRequest', 'max'],
        ['min', 'default'],
      ];
      for (const [lo, hi] of order) {
        const a = parsed[lo]?.[res];
        const b = parsed[hi]?.[res];
        if (a !== undefined && b !== undefined && a > b)
          addCause(
            ctx,
            [lo, res],
            Reason.Invalid,
            msg.invalid(
              original(lo, res),
              `${lo} value ${original(lo, res)} is greater than ${hi} value ${original(hi, res)}`,
            ),
          );
      }
    }
    for (const [res, r] of Object.entries(ratio))
      if (r < 1)
        addCause(
          ctx,
          ['maxLimitRequestRatio', res],
          Reason.Invalid,
          msg.invalid(original('maxLimitRequestRatio', res), 'ratio must be greater than or equal to 1'),
        );
  });
export type LimitRangeItem = z.infer<typeof LimitRangeItem>;

export const LimitRangeSpec = z.strictObject({ limits: z.array(LimitRangeItem) });
export type LimitRangeSpec = z.infer<typeof LimitRangeSpec>;

export const LimitRange = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('LimitRange'),
  metadata: ObjectMeta,
  spec: LimitRangeSpec,
});
export type LimitRange = z.infer<typeof LimitRange>;
