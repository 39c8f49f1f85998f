// fieldValidation=Warn|Ignore: find the fields a schema does not declare and drop them, so the rest of
// the object can be validated and stored. (Strict, Strata's default, leaves them in place for
// validateObject to refuse with a 422 naming each.) Paths are rendered like validation causes.
import type { ZodType } from 'zod';
import { renderPath } from './causes.ts';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';
export const FIELD_VALIDATIONS: readonly FieldValidation[] = ['Strict', 'Warn', 'Ignore'];

// Each pass removes the unknown keys zod reports; nested objects under an unknown key go with it, so a
// few passes always suffice. The bound only guards against a schema that keeps reporting new keys.
const MAX_PASSES = 16;

function deleteAt(obj: unknown, path: readonly PropertyKey[]): boolean {
  let cur: any = obj;
  for (const seg of path.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return false;
    cur = cur[seg as any];
  }
  if (cur === null || typeof cur !== 'object') return false;
  const last = path[path.length - 1] as any;
  if (!Object.hasOwn(cur, last)) return false;
  delete cur[last];
  return true;
}

/**
 * A copy of `obj` without the fields `schema` does not declare, and their paths (prefixed by `base`,
 * e.g. `['status']` for a status body) in the order found. Other validation problems are left for the
 * caller's validation to report.
 */
export function stripUnknownFields(
  schema: ZodType,
  obj: unknown,
  base: readonly PropertyKey[] = [],
): { object: unknown; removed: string[] } {
  // A JSON copy: keys holding `undefined` (in-process callers write `{ ...obj, status: undefined }`) are
  // not fields, and must not be reported as unknown ones.
  const object = obj === undefined ? undefined : JSON.parse(JSON.stringify(obj));
  const removed: string[] = [];
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const parsed = schema.safeParse(object);
    if (parsed.success) break;
    let changed = false;
    for (const issue of parsed.error.issues) {
      if (issue.code !== 'unrecognized_keys') continue;
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        if (deleteAt(object, path)) {
          removed.push(renderPath([...base, ...path]));
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  return { object, removed };
}

/** The `Warning` header text kube-apiserver sends for a dropped field. */
export function unknownFieldWarning(field: string): string {
  return `unknown field "${field}"`;
}
