// Field errors in the Kubernetes shape: a field path rendered `spec.containers[0].name`, a machine
// reason (metav1.CauseType) and a kubectl-style message ("Required value", `Invalid value: "x": ...`).
// Schemas report their own cross-field problems through `addCause`, and zod's built-in issues are
// translated by `issuesToCauses`, so every error a client sees reads the same way.
import type { z } from 'zod';

export interface Cause {
  field: string;
  message: string;
  reason: string;
}

/** metav1.CauseType values used by Strata. */
export const Reason = {
  Invalid: 'FieldValueInvalid',
  Required: 'FieldValueRequired',
  NotSupported: 'FieldValueNotSupported',
  Duplicate: 'FieldValueDuplicate',
  NotFound: 'FieldValueNotFound',
  Forbidden: 'FieldValueForbidden',
  TooLong: 'FieldValueTooLong',
  TooMany: 'FieldValueTooMany',
  TypeInvalid: 'FieldValueTypeInvalid',
} as const;

/** Render a value the way Kubernetes quotes it in messages: strings quoted, long values cut short. */
export function show(value: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

export const msg = {
  required: (detail?: string) => (detail ? `Required value: ${detail}` : 'Required value'),
  invalid: (value: unknown, detail: string) => `Invalid value: ${show(value)}: ${detail}`,
  notSupported: (value: unknown, supported: readonly string[]) =>
    `Unsupported value: ${show(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  duplicate: (value: unknown) => `Duplicate value: ${show(value)}`,
  notFound: (value: unknown) => `Not found: ${show(value)}`,
  forbidden: (detail: string) => `Forbidden: ${detail}`,
  tooLong: (max: number) => `Too long: must have at most ${max} bytes`,
};

/** Report a field error from inside a zod superRefine; `path` is relative to the refined schema. */
export function addCause(
  ctx: z.RefinementCtx<any>,
  path: PropertyKey[],
  reason: string,
  message: string,
): void {
  ctx.addIssue({ code: 'custom', path, message, params: { reason } });
}

// Map-valued fields: their keys are data, not field names, so they render as `labels[app]`.
const MAP_FIELDS = new Set([
  'labels',
  'annotations',
  'nodeSelector',
  'matchLabels',
  'data',
  'binaryData',
  'stringData',
  'features',
  // ResourceQuota and LimitRange: resource names are map keys (spec.hard[requests.cpu]).
  'hard',
  'used',
  'min',
  'max',
  'default',
  'defaultRequest',
  'maxLimitRequestRatio',
]);

export function renderPath(path: readonly PropertyKey[]): string {
  let out = '';
  path.forEach((seg, i) => {
    const prev = path[i - 1];
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof prev === 'string' && MAP_FIELDS.has(prev) && i > 0) out += `[${String(seg)}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  });
  return out;
}

const TYPE_NAMES: Record<string, string> = { int: 'integer', record: 'object', map: 'object' };

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

/** Translate zod issues into Kubernetes causes, prefixing `base` (e.g. ['status']) to every path. */
export function issuesToCauses(issues: readonly z.core.$ZodIssue[], base: PropertyKey[] = []): Cause[] {
  const causes: Cause[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    const field = renderPath(path);
    const input = (issue as { input?: unknown }).input;
    const push = (reason: string, message: string, f = field) => causes.push({ field: f, reason, message });
    switch (issue.code) {
      case 'custom':
        push((issue.params?.reason as string | undefined) ?? Reason.Invalid, issue.message);
        break;
      case 'invalid_type':
        if (input === undefined) push(Reason.Required, msg.required());
        else push(Reason.TypeInvalid, msg.invalid(input, `must be of type ${typeName(issue.expected)}`));
        break;
      case 'invalid_value':
        push(Reason.NotSupported, msg.notSupported(input, issue.values.map(String)));
        break;
      case 'unrecognized_keys':
        // A field outside the supported subset is an error, never silently dropped.
        for (const key of issue.keys)
          push(Reason.Invalid, 'field not declared in schema', renderPath([...path, key]));
        break;
      case 'invalid_union': {
        if (input === undefined) {
          push(Reason.Required, msg.required());
          break;
        }
        const expected = issue.errors.flatMap((branch) =>
          branch.length === 1 && branch[0].code === 'invalid_type' && branch[0].path.length === 0
            ? [typeName(branch[0].expected)]
            : [],
        );
        if (expected.length === issue.errors.length && expected.length > 0)
          push(Reason.TypeInvalid, msg.invalid(input, `must be of type ${expected.join(' or ')}`));
        else push(Reason.Invalid, msg.invalid(input, issue.message));
        break;
      }
      case 'too_small':
        if (issue.origin === 'array' || issue.origin === 'string') {
          if (Number(issue.minimum) <= 1) push(Reason.Required, msg.required());
          else push(Reason.Invalid, msg.invalid(input, `must have at least ${issue.minimum} items`));
        } else push(Reason.Invalid, msg.invalid(input, `must be greater than or equal to ${issue.minimum}`));
        break;
      case 'too_big':
        if (issue.origin === 'string')
          push(Reason.TooLong, `Too long: may not be more than ${issue.maximum} bytes`);
        else if (issue.origin === 'array')
          push(
            Reason.TooMany,
            `Too many: ${(input as unknown[]).length}: must have at most ${issue.maximum} items`,
          );
        else push(Reason.Invalid, msg.invalid(input, `must be less than or equal to ${issue.maximum}`));
        break;
      case 'invalid_format':
        push(
          Reason.Invalid,
          msg.invalid(input, issue.format === 'datetime' ? 'must be an RFC3339 timestamp' : issue.message),
        );
        break;
      default:
        push(Reason.Invalid, msg.invalid(input, issue.message));
    }
  }
  return causes;
}

/** One line per cause, as kubectl prints them: `field: message`. */
export function formatCauses(causes: readonly Cause[]): string {
  const parts = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  return parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
}

/**
 * A superRefine check for "one-of" objects (volume sources, env sources): none set is a Required
 * error on the object, a second one is Forbidden on that field.
 */
export function exactlyOne(fields: readonly string[], what: string) {
  return (obj: Record<string, unknown>, ctx: z.RefinementCtx<any>): void => {
    const set = fields.filter((f) => obj[f] !== undefined);
    if (set.length === 0)
      addCause(
        ctx,
        [],
        Reason.Required,
        msg.required(`must specify one of: ${fields.map((f) => `\`${f}\``).join(', ')}`),
      );
    for (const extra of set.slice(1))
      addCause(ctx, [extra], Reason.Forbidden, msg.forbidden(`may not specify more than 1 ${what}`));
  };
}
