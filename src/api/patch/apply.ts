// The merge step of server-side apply (structured-merge-diff's TypedValue.Merge): the applied
// configuration over the live object. Maps merge field by field; lists follow their listType —
// atomic lists are replaced, `set` lists are unioned, `map` lists merge item by item on their keys —
// and the order of the result keeps both the configuration's order and the live object's order as far
// as they agree (structured-merge-diff's visitListItems). What the applier no longer applies is removed
// afterwards, by managed-fields.ts (prune).
import { keyElement, listTypeOf, valueElement, type PathElement } from './fieldpath.ts';
import { isObject, type JsonObject, type JsonValue } from './json.ts';
import type { PatchSchema } from './metadata.ts';

export function mergeApplyConfiguration(
  live: JsonObject,
  config: JsonObject,
  schema: PatchSchema,
): JsonObject {
  return mergeMap(live, config, [], schema, '');
}

function mergeMap(
  lhs: JsonObject,
  rhs: JsonObject,
  sp: string[],
  schema: PatchSchema,
  at: string,
): JsonObject {
  const out: JsonObject = structuredClone(lhs);
  for (const [k, v] of Object.entries(rhs)) {
    out[k] = mergeValue(lhs[k], v, [...sp, k], schema, at ? `${at}.${k}` : `.${k}`);
  }
  return out;
}

function mergeValue(
  lhs: JsonValue | undefined,
  rhs: JsonValue,
  sp: string[],
  schema: PatchSchema,
  at: string,
): JsonValue {
  if (lhs === undefined) return structuredClone(rhs);
  if (isObject(rhs)) {
    const info = schema.map(sp);
    if (!isObject(lhs) || info?.structType === 'atomic' || info?.mapType === 'atomic')
      return structuredClone(rhs);
    return mergeMap(lhs, rhs, sp, schema, at);
  }
  if (Array.isArray(rhs)) {
    const info = schema.list(sp);
    const type = listTypeOf(info);
    if (type === 'atomic' || !Array.isArray(lhs)) return structuredClone(rhs);
    const pe =
      type === 'set'
        ? (item: JsonValue) => valueElement(item)
        : (item: JsonValue) => keyElement(item, info!.listMapKeys!, at);
    const atomicItems = type === 'set' || schema.map(sp)?.structType === 'atomic';
    return mergeList(lhs, rhs, pe, (l, r) =>
      atomicItems ? structuredClone(r) : mergeValue(l, r, sp, schema, at),
    );
  }
  return rhs;
}

/**
 * structured-merge-diff's list merge: walk both lists; items present in both are merged where the
 * configuration places them, live-only items stay where they were relative to their neighbours, and
 * configuration-only items come in configuration order.
 */
function mergeList(
  lhs: JsonValue[],
  rhs: JsonValue[],
  pe: (item: JsonValue) => PathElement,
  merge: (l: JsonValue | undefined, r: JsonValue) => JsonValue,
): JsonValue[] {
  const lhsPEs = lhs.map(pe);
  const rhsPEs = rhs.map(pe);
  const observedLHS = new Map<string, JsonValue>();
  lhs.forEach((item, i) => (observedLHS.has(lhsPEs[i]) ? undefined : observedLHS.set(lhsPEs[i], item)));
  const observedRHS = new Map<string, JsonValue>();
  rhs.forEach((item, i) => observedRHS.set(rhsPEs[i], item));

  const sharedOrder = rhsPEs.filter((p) => observedLHS.has(p));
  let nextShared = sharedOrder.shift();
  const mergedRHS = new Set<string>();
  const out: JsonValue[] = [];
  let lI = 0;
  let rI = 0;
  while (lI < lhsPEs.length || rI < rhsPEs.length) {
    if (lI < lhsPEs.length && rI < rhsPEs.length) {
      const p = lhsPEs[lI];
      if (p === rhsPEs[rI]) {
        mergedRHS.add(p);
        out.push(merge(observedLHS.get(p), observedRHS.get(p)!));
        lI++;
        rI++;
        nextShared = sharedOrder.shift();
        continue;
      }
      if (observedRHS.has(p) && nextShared !== undefined && nextShared !== p) {
        // A shared item, but not the one the configuration wants next: it comes later.
        lI++;
        continue;
      }
    }
    if (lI < lhsPEs.length) {
      const p = lhsPEs[lI];
      if (!observedRHS.has(p)) {
        out.push(structuredClone(lhs[lI]));
        lI++;
        continue;
      }
      if (mergedRHS.has(p)) {
        lI++;
        continue;
      }
    }
    if (rI < rhsPEs.length) {
      const p = rhsPEs[rI];
      mergedRHS.add(p);
      out.push(merge(observedLHS.get(p), observedRHS.get(p)!));
      rI++;
      if (nextShared === p) nextShared = sharedOrder.shift();
    }
  }
  return out;
}
