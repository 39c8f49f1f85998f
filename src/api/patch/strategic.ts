// Strategic merge patch (`application/strategic-merge-patch+json`), with the semantics of
// k8s.io/apimachinery pkg/util/strategicpatch (patch.go, `StrategicMergeMapPatchUsingLookupPatchMeta`
// with MergeParallelList and IgnoreUnmatchedNulls, as kube-apiserver runs it):
//
// - maps merge recursively; `null` deletes a key;
// - lists whose field has `patchStrategy: merge` merge: maps by their `patchMergeKey` (an item with
//   `$patch: delete` is removed, a `{$patch: replace}` item makes the rest of the list replace it),
//   primitives are unioned (finalizers); every other list is replaced as a whole;
// - directives: `$patch: replace|delete|merge` in a map, `$retainKeys: [...]` (keep only these keys),
//   `$deleteFromPrimitiveList/<field>: [...]`, `$setElementOrder/<field>: [...]` (the order the client
//   wants; it wins over the patch's order, which wins over the live object's order).
//
// Anything else starting with `$` is an error naming it: the object is never changed by a patch that
// is not understood. This is what `kubectl apply` (client-side), `label`, `annotate`, `edit`,
// `set image` and `patch` send.
import { isObject, joinPath, jsonEqual, PatchError, type JsonObject, type JsonValue } from './json.ts';
import type { PatchSchema } from './metadata.ts';

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ELEMENT_ORDER = '$setElementOrder/';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList/';

/** Apply `patch` to `original` (neither is modified) and return the result. Throws PatchError. */
export function strategicMergePatch(original: object, patch: unknown, schema: PatchSchema): JsonObject {
  if (!isObject(patch)) throw new PatchError('a strategic merge patch must be a JSON object');
  return mergeMap(structuredClone(original) as JsonObject, structuredClone(patch), schema, [], '');
}

/** Where we are: schema path (field names, list levels skipped) and a readable path for messages. */
interface At {
  path: readonly string[];
  text: string;
}

function child(at: At, key: string): At {
  return { path: [...at.path, key], text: joinPath(at.text, key) };
}

function where(text: string): string {
  return text ? ` at ${text}` : ' at the object root';
}

function mergeMap(
  original: JsonObject,
  patch: JsonObject,
  schema: PatchSchema,
  path: readonly string[],
  text: string,
): JsonObject {
  const at: At = { path, text };
  if (Object.hasOwn(patch, DIRECTIVE)) {
    const directive = patch[DIRECTIVE];
    delete patch[DIRECTIVE];
    if (directive === 'replace') return mergeMap({}, patch, schema, path, text);
    if (directive === 'delete') return {};
    if (directive !== 'merge')
      throw new PatchError(`unknown patch type: ${JSON.stringify(directive)} in map${where(text)}`);
  }

  if (Object.hasOwn(patch, RETAIN_KEYS)) {
    const keep = patch[RETAIN_KEYS];
    delete patch[RETAIN_KEYS];
    if (!Array.isArray(keep) || !keep.every((k) => typeof k === 'string'))
      throw new PatchError(`invalid patch: $retainKeys must be a list of strings${where(text)}`);
    for (const k of Object.keys(original)) if (!keep.includes(k)) delete original[k];
  }

  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    applySetElementOrder(original, patch, key, schema, at);
  }

  for (const [key, value] of Object.entries(patch)) {
    let field = key;
    let isDeleteList = false;
    if (key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      field = key.slice(DELETE_FROM_PRIMITIVE_LIST.length);
      isDeleteList = true;
      if (!Array.isArray(value)) throw new PatchError(`invalid patch: ${key} must be a list${where(text)}`);
    } else if (key.startsWith('$')) {
      throw new PatchError(`unknown patch directive ${JSON.stringify(key)}${where(text)}`);
    }
    const fieldAt = child(at, field);

    if (value === null) {
      delete original[field];
      continue;
    }
    const current = original[field];
    if (isDeleteList) {
      if (Array.isArray(current)) original[field] = deleteFromSlice(current, value as JsonValue[]);
      continue;
    }
    if (current === undefined || kindOf(current) !== kindOf(value)) {
      // Not in the original (or of another type): take the patch value, with its directives and
      // nulls resolved against nothing.
      original[field] = mergeValue(undefined, value, schema, fieldAt);
      continue;
    }
    original[field] = mergeValue(current, value, schema, fieldAt);
  }
  return original;
}

function kindOf(v: JsonValue): 'map' | 'list' | 'scalar' {
  return isObject(v) ? 'map' : Array.isArray(v) ? 'list' : 'scalar';
}

/** Merge one field's value; `current` undefined means the field is absent from the original. */
function mergeValue(
  current: JsonValue | undefined,
  value: JsonValue,
  schema: PatchSchema,
  at: At,
): JsonValue {
  if (isObject(value)) {
    return mergeMap(isObject(current) ? current : {}, value, schema, at.path, at.text);
  }
  if (Array.isArray(value)) {
    const info = schema.list(at.path);
    const original = Array.isArray(current) ? current : [];
    if (info?.patchStrategy?.split(',').includes('merge'))
      return mergeSlice(original, value, schema, at, info.patchMergeKey);
    return replaceSlice(value, schema, at);
  }
  return value;
}

/** A list that is replaced: its map items may still carry directives of their own, resolved here. */
function replaceSlice(items: JsonValue[], schema: PatchSchema, at: At): JsonValue[] {
  return items.map((item) => (isObject(item) ? mergeMap({}, item, schema, at.path, at.text) : item));
}

function elementKind(original: JsonValue[], patch: JsonValue[], at: At): 'map' | 'scalar' {
  let kind: 'map' | 'scalar' | undefined;
  for (const item of [...original, ...patch]) {
    if (Array.isArray(item)) throw new PatchError(`lists of lists are not supported${where(at.text)}`);
    const k = isObject(item) ? 'map' : 'scalar';
    if (kind && kind !== k) throw new PatchError(`list items of mixed types${where(at.text)}`);
    kind = k;
  }
  return kind ?? 'scalar';
}

function mergeSlice(
  original: JsonValue[],
  patch: JsonValue[],
  schema: PatchSchema,
  at: At,
  mergeKey: string | undefined,
): JsonValue[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = elementKind(original, patch, at);
  let merged: JsonValue[];
  if (kind === 'scalar') {
    merged = dedupe([...original, ...patch]);
    const inPatch = (x: JsonValue) => patch.some((p) => jsonEqual(p, x));
    return normalizeElementOrder(
      merged.filter(inPatch),
      merged.filter((x) => !inPatch(x)),
      patch,
      original,
      undefined,
    );
  }
  if (!mergeKey) throw new PatchError(`cannot merge lists without a merge key${where(at.text)}`);
  const special = splitSpecialElements(original, patch as JsonObject[], mergeKey, at);
  if (special.replace) return replaceSlice(special.patch, schema, at);
  merged = mergeByKey(special.original, special.patch, mergeKey, schema, at);
  const keyOf = (x: JsonValue) => (x as JsonObject)[mergeKey];
  const inPatch = (x: JsonValue) => patch.some((p) => jsonEqual(keyOf(p), keyOf(x)));
  return normalizeElementOrder(
    merged.filter(inPatch),
    merged.filter((x) => !inPatch(x)),
    patch,
    original,
    mergeKey,
  );
}

/** `$patch` items of a merging list: delete (by merge key), replace (the whole list), nothing else. */
function splitSpecialElements(
  original: JsonValue[],
  patch: JsonObject[],
  mergeKey: string,
  at: At,
): { original: JsonValue[]; patch: JsonObject[]; replace: boolean } {
  const plain: JsonObject[] = [];
  let replace = false;
  for (const item of patch) {
    if (!Object.hasOwn(item, DIRECTIVE)) {
      plain.push(item);
      continue;
    }
    const directive = item[DIRECTIVE];
    if (directive === 'delete') {
      if (!Object.hasOwn(item, mergeKey))
        throw new PatchError(
          `map ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}${where(at.text)}`,
        );
      original = original.filter((o) => !jsonEqual((o as JsonObject)[mergeKey], item[mergeKey]));
    } else if (directive === 'replace') {
      replace = true;
    } else if (directive === 'merge') {
      throw new PatchError(`merging lists cannot yet be specified in the patch${where(at.text)}`);
    } else {
      throw new PatchError(`unknown patch type: ${JSON.stringify(directive)} in list${where(at.text)}`);
    }
  }
  return { original, patch: plain, replace };
}

function mergeByKey(
  original: JsonValue[],
  patch: JsonObject[],
  mergeKey: string,
  schema: PatchSchema,
  at: At,
): JsonValue[] {
  const merged = [...original];
  for (const item of patch) {
    if (!Object.hasOwn(item, mergeKey))
      throw new PatchError(
        `map ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}${where(at.text)}`,
      );
    const i = merged.findIndex((o) => isObject(o) && jsonEqual(o[mergeKey], item[mergeKey]));
    if (i >= 0) merged[i] = mergeMap(merged[i] as JsonObject, item, schema, at.path, at.text);
    else merged.push(mergeMap({}, item, schema, at.path, at.text));
  }
  return merged;
}

function dedupe(items: JsonValue[]): JsonValue[] {
  const out: JsonValue[] = [];
  for (const x of items) if (!out.some((y) => jsonEqual(x, y))) out.push(x);
  return out;
}

function deleteFromSlice(original: JsonValue[], toDelete: JsonValue[]): JsonValue[] {
  return original.filter((x) => !toDelete.some((d) => jsonEqual(x, d)));
}

/** $setElementOrder/<field>: merge the parallel patch list (if any), then order by the directive. */
function applySetElementOrder(
  original: JsonObject,
  patch: JsonObject,
  key: string,
  schema: PatchSchema,
  at: At,
) {
  const field = key.slice(SET_ELEMENT_ORDER.length);
  const order = patch[key];
  delete patch[key];
  const fieldAt = child(at, field);
  if (!Array.isArray(order)) throw new PatchError(`invalid patch: ${key} must be a list${where(at.text)}`);
  const info = schema.list(fieldAt.path);
  if (!info?.patchStrategy?.split(',').includes('merge'))
    throw new PatchError(`invalid patch: ${key} names a list that is not merged by key${where(at.text)}`);
  const mergeKey = info.patchMergeKey;
  if (mergeKey)
    for (const item of order)
      if (!isObject(item) || !Object.hasOwn(item, mergeKey))
        throw new PatchError(
          `invalid patch: ${key} item ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`,
        );
  const patchList = patch[field];
  if (patchList === null) return; // the list is being deleted; the main loop does it
  if (patchList !== undefined && !Array.isArray(patchList))
    throw new PatchError(`invalid patch: ${field} must be a list alongside ${key}${where(at.text)}`);
  if (patchList) checkPatchFollowsOrder(patchList, order, mergeKey, key);
  const current = Array.isArray(original[field]) ? (original[field] as JsonValue[]) : [];
  const merged = patchList ? mergeSlice(current, patchList, schema, fieldAt, mergeKey) : current;
  delete patch[field];
  if (merged.length === 0 && original[field] === undefined) return;
  original[field] = sortByOrder(merged, order, mergeKey);
}

/** The patch list's items (deletions aside) must appear in `$setElementOrder` in the same relative order. */
function checkPatchFollowsOrder(
  patchList: JsonValue[],
  order: JsonValue[],
  mergeKey: string | undefined,
  key: string,
): void {
  const items = patchList.filter((x) => !(isObject(x) && Object.hasOwn(x, DIRECTIVE)));
  let p = 0;
  for (let o = 0; p < items.length && o < order.length; o++)
    if (indexIn([order[o]], items[p], mergeKey) === 0) p++;
  if (p < items.length)
    throw new PatchError(
      `invalid patch: the order in the patch list ${JSON.stringify(patchList)} doesn't match ${key}: ${JSON.stringify(order)}`,
    );
}

// ---- ordering (apimachinery's normalizeElementOrder / mergeSortedSlice) ---------------------------

function indexIn(list: readonly JsonValue[], item: JsonValue, mergeKey: string | undefined): number {
  if (mergeKey === undefined) return list.findIndex((x) => jsonEqual(x, item));
  const key = (item as JsonObject)[mergeKey];
  return list.findIndex((x) => isObject(x) && jsonEqual(x[mergeKey], key));
}

/**
 * Items found in `order` take the slots of found items, sorted by their position in `order`; items
 * not in `order` keep their slots.
 */
function sortByOrder(
  items: JsonValue[],
  order: readonly JsonValue[],
  mergeKey: string | undefined,
): JsonValue[] {
  const found = items
    .map((item, slot) => ({ item, slot, rank: indexIn(order, item, mergeKey) }))
    .filter((x) => x.rank >= 0);
  const sorted = [...found].sort((a, b) => a.rank - b.rank);
  const out = [...items];
  found.forEach((f, i) => (out[f.slot] = sorted[i].item));
  return out;
}

/**
 * Patch items ordered as in the patch, server-only items as in the live list, then interleaved: each
 * server-only item goes before the first patch item it precedes in the live list.
 */
function normalizeElementOrder(
  patchItems: JsonValue[],
  serverOnly: JsonValue[],
  patchOrder: readonly JsonValue[],
  serverOrder: readonly JsonValue[],
  mergeKey: string | undefined,
): JsonValue[] {
  const left = sortByOrder(serverOnly, serverOrder, mergeKey);
  const right = sortByOrder(patchItems, patchOrder, mergeKey);
  const out: JsonValue[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey);
      const ri = indexIn(serverOrder, right[j], mergeKey);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}
