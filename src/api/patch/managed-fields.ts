// metadata.managedFields: which manager owns which fields, and how writes change that (the rules of
// kube-apiserver's fieldmanager over sigs.k8s.io/structured-merge-diff's Updater):
//
// - Update (create, PUT, merge/strategic/JSON patch): the writer takes every field it added or changed,
//   from whoever owned it; fields it removed leave every owner. An object that exists without
//   managedFields is not tracked by updates (as kube's skipNonAppliedManager).
// - Apply (server-side apply): the applier owns exactly the fields of its configuration. Changing a
//   field another manager owns is a conflict unless forced (then ownership moves); fields the applier
//   owned before and omits now are removed unless another manager still owns them.
import { statusFailure } from '../status.ts';
import {
  compareObjects,
  FieldPathError,
  FieldSet,
  pathString,
  removeAt,
  valueAt,
  type FieldPath,
} from './fieldpath.ts';
import { isObject, PatchError, type JsonObject } from './json.ts';
import type { PatchSchema } from './metadata.ts';
import { mergeApplyConfiguration } from './apply.ts';

export type Operation = 'Apply' | 'Update';

/** One metadata.managedFields entry as stored (metav1.ManagedFieldsEntry). */
export interface ManagedFieldsEntry {
  manager: string;
  operation: Operation;
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

/** A manager's identity: name, operation and subresource (kube keys managers the same way). */
interface Manager {
  manager: string;
  operation: Operation;
  subresource?: string;
  apiVersion: string;
  time?: string;
  set: FieldSet;
}

/** The manager kube-apiserver credits existing fields to when an untracked object is first applied. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';

const id = (m: { manager: string; operation: Operation; subresource?: string }) =>
  JSON.stringify([m.manager, m.operation, m.subresource ?? '']);

/** Fields never tracked (kube's fieldmanager strips them), plus status/spec by subresource. */
const STRIPPED: FieldPath[] = [
  ['f:apiVersion'],
  ['f:kind'],
  ['f:metadata'],
  ['f:metadata', 'f:name'],
  ['f:metadata', 'f:namespace'],
  ['f:metadata', 'f:creationTimestamp'],
  ['f:metadata', 'f:selfLink'],
  ['f:metadata', 'f:uid'],
  ['f:metadata', 'f:clusterName'],
  ['f:metadata', 'f:generation'],
  ['f:metadata', 'f:managedFields'],
  ['f:metadata', 'f:resourceVersion'],
];
const STRIPPED_KEYS = new Set(STRIPPED.map((p) => JSON.stringify(p)));

/** Whether `path` is tracked for a write to the main resource (no status) or to `status`. */
function tracked(path: FieldPath, subresource: string | undefined): boolean {
  if (STRIPPED_KEYS.has(JSON.stringify(path)) || (path[0] === 'f:metadata' && path[1] === 'f:managedFields'))
    return false;
  return subresource === 'status' ? path[0] === 'f:status' : path[0] !== 'f:status';
}

function trackedOnly(set: FieldSet, subresource: string | undefined): FieldSet {
  return set.filter((p) => tracked(p, subresource));
}

/** Parse managedFields; entries that are not valid are dropped (kube falls back the same way). */
export function decodeManagedFields(entries: unknown): Manager[] {
  if (!Array.isArray(entries)) return [];
  const out = new Map<string, Manager>();
  for (const e of entries) {
    if (!isObject(e) || typeof e.manager !== 'string') continue;
    if (e.operation !== 'Apply' && e.operation !== 'Update') continue;
    let set: FieldSet;
    try {
      set = FieldSet.fromFieldsV1(e.fieldsV1 ?? {});
    } catch {
      continue;
    }
    const m: Manager = {
      manager: e.manager,
      operation: e.operation,
      subresource: typeof e.subresource === 'string' && e.subresource ? e.subresource : undefined,
      apiVersion: typeof e.apiVersion === 'string' ? e.apiVersion : '',
      time: typeof e.time === 'string' ? e.time : undefined,
      set,
    };
    const prev = out.get(id(m));
    out.set(id(m), prev ? { ...m, set: prev.set.union(m.set) } : m);
  }
  return [...out.values()];
}

/** Encode, sorted as kube-apiserver sorts them (operation, time, manager, apiVersion, subresource). */
export function encodeManagedFields(managers: readonly Manager[]): ManagedFieldsEntry[] {
  const entries = managers
    .filter((m) => !m.set.isEmpty())
    .map((m) => {
      const e: ManagedFieldsEntry = {
        manager: m.manager,
        operation: m.operation,
        apiVersion: m.apiVersion,
        time: m.time,
        fieldsType: 'FieldsV1',
        fieldsV1: m.set.toFieldsV1(),
      };
      if (m.time === undefined) delete e.time;
      if (m.subresource) e.subresource = m.subresource;
      return e;
    });
  const cmp = (a?: string, b?: string) => ((a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0);
  return entries.sort(
    (a, b) =>
      cmp(a.operation, b.operation) ||
      cmp(a.time, b.time) ||
      cmp(a.manager, b.manager) ||
      cmp(a.apiVersion, b.apiVersion) ||
      cmp(a.subresource, b.subresource),
  );
}

export interface FieldManagerContext {
  schema: PatchSchema;
  apiVersion: string;
  subresource?: string;
  now: string;
}

/** The object without metadata.managedFields (what the algorithms compare). */
function bare(obj: JsonObject | undefined): JsonObject {
  if (!obj) return {};
  const out = { ...obj };
  if (isObject(out.metadata)) {
    const { managedFields: _drop, ...meta } = out.metadata;
    out.metadata = meta;
  }
  return out;
}

/**
 * The managers after `manager` (an Update) turned `live` into `next`. `live` undefined means a create.
 * `requested` are managedFields sent in the body: when present and non-empty they replace the live ones
 * (clients like `kubectl edit` may rewrite them), else the live ones are kept.
 */
export function managedFieldsAfterUpdate(
  live: JsonObject | undefined,
  next: JsonObject,
  manager: string,
  ctx: FieldManagerContext,
  requested?: unknown,
): ManagedFieldsEntry[] | undefined {
  const liveManagers = decodeManagedFields((live?.metadata as JsonObject | undefined)?.managedFields);
  const sent = ctx.subresource ? [] : decodeManagedFields(requested);
  let managers = sent.length > 0 ? sent : liveManagers;
  // An existing object nobody tracks stays untracked until it is first applied.
  if (live && managers.length === 0) return undefined;
  const cmp = compareObjects(bare(live), bare(next), ctx.schema);
  const changed = trackedOnly(cmp.added.union(cmp.modified), ctx.subresource);
  const removed = cmp.removed;
  const self = { manager, operation: 'Update' as const, subresource: ctx.subresource };
  managers = managers.map((m) =>
    id(m) === id(self) ? m : { ...m, set: m.set.difference(changed).difference(removed) },
  );
  const mine = managers.find((m) => id(m) === id(self));
  const set = (mine?.set ?? new FieldSet()).difference(removed).union(changed);
  const changedMine = !mine || set.size !== mine.set.size || !set.difference(mine.set).isEmpty();
  const entry: Manager = {
    ...self,
    apiVersion: ctx.apiVersion,
    time: changedMine ? ctx.now : mine?.time,
    set,
  };
  managers = [...managers.filter((m) => id(m) !== id(self)), entry];
  return encodeManagedFields(managers);
}

export interface ApplyResult {
  object: JsonObject;
  managedFields: ManagedFieldsEntry[];
}

export interface FieldConflict {
  manager: string;
  path: FieldPath;
  description: string;
}

function describeManager(m: Manager): string {
  let s = JSON.stringify(m.manager);
  if (m.subresource) s += ` with subresource ${JSON.stringify(m.subresource)}`;
  if (m.operation === 'Update')
    s += m.time ? ` using ${m.apiVersion} at ${m.time}` : ` using ${m.apiVersion}`;
  return s;
}

/** kube-apiserver's 409 for apply conflicts, one `FieldManagerConflict` cause per field. */
export function conflictStatus(conflicts: readonly FieldConflict[]) {
  const causes = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${c.description}`,
    field: pathString(c.path),
  }));
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${conflicts[0].description}: ${pathString(conflicts[0].path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts)
      byManager.set(c.description, [...(byManager.get(c.description) ?? []), pathString(c.path)]);
    const lines: string[] = [];
    for (const d of [...byManager.keys()].sort()) {
      lines.push(`conflicts with ${d}:`);
      for (const p of byManager.get(d)!) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return statusFailure(409, 'Conflict', message, { causes });
}

/**
 * Server-side apply of `config` by `manager` onto `live` (undefined: the object does not exist yet).
 * Returns the object to validate and store and its managedFields; throws PatchError (409) on conflicts
 * (unless `force`) and 422 for a configuration the schema cannot key (a list item without its key).
 */
export function serverSideApply(
  live: JsonObject | undefined,
  config: JsonObject,
  manager: string,
  force: boolean,
  ctx: FieldManagerContext,
): ApplyResult {
  const liveObj = bare(live);
  let managers = decodeManagedFields((live?.metadata as JsonObject | undefined)?.managedFields);
  try {
    if (live && managers.length === 0) {
      // First apply to an object nobody tracked: its current fields belong to "before-first-apply".
      const set = trackedOnly(compareObjects({}, liveObj, ctx.schema).added, ctx.subresource);
      managers = [
        { manager: BEFORE_FIRST_APPLY, operation: 'Update', apiVersion: ctx.apiVersion, time: ctx.now, set },
      ];
    }
    const self = { manager, operation: 'Apply' as const, subresource: ctx.subresource };
    const configSet = trackedOnly(compareObjects({}, config, ctx.schema).added, ctx.subresource);
    const previous = managers.find((m) => id(m) === id(self));
    const merged = mergeApplyConfiguration(liveObj, config, ctx.schema);
    managers = [
      ...managers.filter((m) => id(m) !== id(self)),
      { ...self, apiVersion: ctx.apiVersion, time: ctx.now, set: configSet },
    ];
    const object = previous ? prune(merged, managers, previous.set, ctx.subresource) : merged;

    const cmp = compareObjects(liveObj, object, ctx.schema);
    const changed = cmp.added.union(cmp.modified);
    const conflicts: FieldConflict[] = [];
    for (const m of managers) {
      if (id(m) === id(self)) continue;
      for (const p of m.set.intersection(changed).paths())
        conflicts.push({ manager: m.manager, path: p, description: describeManager(m) });
    }
    if (conflicts.length > 0 && !force) throw PatchError.withStatus(conflictStatus(conflicts));
    managers = managers.map((m) =>
      id(m) === id(self) ? m : { ...m, set: m.set.difference(changed).difference(cmp.removed) },
    );
    return { object, managedFields: encodeManagedFields(managers) };
  } catch (err) {
    if (err instanceof FieldPathError)
      throw PatchError.withStatus(
        statusFailure(422, 'Invalid', `the apply configuration is invalid: ${err.message}`, {
          causes: [{ reason: 'FieldValueInvalid', field: err.path, message: err.message }],
        }),
      );
    throw err;
  }
}

/**
 * Remove what the applier owned last time and no longer applies, unless a manager (the applier's new
 * configuration included) still owns it or something under it. A struct left behind by removed fields
 * goes too when nobody owns anything in it (structured-merge-diff's EnsureNamedFieldsAreMembers).
 */
function prune(
  merged: JsonObject,
  managers: readonly Manager[],
  lastSet: FieldSet,
  subresource?: string,
): JsonObject {
  const owned = managers.reduce((s, m) => s.union(m.set), new FieldSet()).prefixes();
  const candidates = new Map<string, FieldPath>();
  for (const p of lastSet.paths()) {
    candidates.set(JSON.stringify(p), p);
    for (let i = 1; i < p.length; i++)
      if (p[i - 1].startsWith('f:')) candidates.set(JSON.stringify(p.slice(0, i)), p.slice(0, i));
  }
  const toRemove = [...candidates.entries()]
    .filter(([k, p]) => tracked(p, subresource) && !owned.has(k) && !isKeyFieldOfItem(p))
    .map(([, p]) => p)
    .sort((a, b) => a.length - b.length);
  const out = structuredClone(merged);
  const removed: FieldPath[] = [];
  for (const p of toRemove) {
    if (removed.some((r) => r.every((el, i) => p[i] === el))) continue;
    if (valueAt(out, p) === undefined) continue;
    removeAt(out, p);
    removed.push(p);
  }
  return out;
}

/** `…k:{"name":"c"}/f:name`: the key of an item that stays (the item itself is removed as a whole). */
function isKeyFieldOfItem(p: FieldPath): boolean {
  const parent = p[p.length - 2];
  if (!parent?.startsWith('k:')) return false;
  const key = JSON.parse(parent.slice(2)) as JsonObject;
  return Object.hasOwn(key, p[p.length - 1].slice(2));
}
