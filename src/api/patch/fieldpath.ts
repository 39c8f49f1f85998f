// Field sets in the FieldsV1 format of metadata.managedFields (sigs.k8s.io/structured-merge-diff):
// a path is a list of elements — `f:<field>`, `k:{"name":"c"}` (an item of a listType=map list, by its
// keys), `v:<json>` (an item of a listType=set list), `i:<n>` (index, unused here) — and a set of
// paths serialises as a tree in which `.` marks a node that is itself a member.
//
// `fieldSetOf` follows structured-merge-diff's ToFieldSet: scalars, atomic lists/structs, null and empty
// maps are leaves; items of associative lists are members with their fields below; struct fields
// holding maps are not members themselves (their leaves are).
import { isObject, jsonEqual, type JsonObject, type JsonValue } from './json.ts';
import type { ListPatchInfo, PatchSchema } from './metadata.ts';

export type PathElement = string;
export type FieldPath = readonly PathElement[];

/** Values Kubernetes defaults for list-map keys an item may omit (`ports[].protocol`). */
const KEY_DEFAULTS: Record<string, JsonValue> = { protocol: 'TCP' };

/** A structural problem with a value or a managedFields entry (e.g. a list item without its key). */
export class FieldPathError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'FieldPathError';
    this.path = path;
  }
}

export class FieldSet {
  private readonly members = new Set<string>();

  static of(paths: Iterable<FieldPath>): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.add(p);
    return s;
  }

  add(path: FieldPath): void {
    this.members.add(JSON.stringify(path));
  }

  has(path: FieldPath): boolean {
    return this.members.has(JSON.stringify(path));
  }

  get size(): number {
    return this.members.size;
  }

  isEmpty(): boolean {
    return this.members.size === 0;
  }

  paths(): FieldPath[] {
    return [...this.members].map((m) => JSON.parse(m) as string[]);
  }

  union(other: FieldSet): FieldSet {
    const s = new FieldSet();
    for (const m of this.members) s.members.add(m);
    for (const m of other.members) s.members.add(m);
    return s;
  }

  difference(other: FieldSet): FieldSet {
    const s = new FieldSet();
    for (const m of this.members) if (!other.members.has(m)) s.members.add(m);
    return s;
  }

  intersection(other: FieldSet): FieldSet {
    const s = new FieldSet();
    for (const m of this.members) if (other.members.has(m)) s.members.add(m);
    return s;
  }

  filter(keep: (p: FieldPath) => boolean): FieldSet {
    return FieldSet.of(this.paths().filter(keep));
  }

  /** Every member and every ancestor of a member (the root excluded), as keys for `hasPrefix`. */
  prefixes(): Set<string> {
    const out = new Set<string>();
    for (const p of this.paths()) for (let i = 1; i <= p.length; i++) out.add(JSON.stringify(p.slice(0, i)));
    return out;
  }

  /** The FieldsV1 tree: `{"f:spec":{"f:replicas":{}}}`, `.` for a member with children. */
  toFieldsV1(): JsonObject {
    const root: Node = { member: false, children: new Map() };
    for (const p of this.paths()) {
      let node = root;
      for (const el of p) {
        let next = node.children.get(el);
        if (!next) node.children.set(el, (next = { member: false, children: new Map() }));
        node = next;
      }
      node.member = true;
    }
    return serialise(root);
  }

  /** Parse a FieldsV1 tree; throws FieldPathError on anything that is not one. */
  static fromFieldsV1(tree: unknown): FieldSet {
    const s = new FieldSet();
    const walk = (node: unknown, path: PathElement[]): void => {
      if (!isObject(node)) throw new FieldPathError(path.join(''), 'a FieldsV1 node must be an object');
      const keys = Object.keys(node);
      if (path.length > 0 && (keys.length === 0 || keys.includes('.'))) s.add(path);
      for (const k of keys) {
        if (k === '.') continue;
        if (!/^[fkvi]:/.test(k))
          throw new FieldPathError(path.join(''), `unknown FieldsV1 key ${JSON.stringify(k)}`);
        walk(node[k], [...path, k]);
      }
    };
    walk(tree, []);
    return s;
  }
}

interface Node {
  member: boolean;
  children: Map<string, Node>;
}

function serialise(node: Node): JsonObject {
  const out: JsonObject = {};
  if (node.member && node.children.size > 0) out['.'] = {};
  for (const k of [...node.children.keys()].sort()) out[k] = serialise(node.children.get(k)!);
  return out;
}

// ---- path elements --------------------------------------------------------------------------------

export function fieldElement(name: string): PathElement {
  return `f:${name}`;
}

/** The `k:` element of an item of a listType=map list: its key fields, sorted, as JSON. */
export function keyElement(item: JsonValue, keys: readonly string[], where: string): PathElement {
  if (!isObject(item)) throw new FieldPathError(where, 'an item of a keyed list must be an object');
  const key: JsonObject = {};
  for (const k of [...keys].sort()) {
    const v = item[k] ?? KEY_DEFAULTS[k];
    if (v === undefined)
      throw new FieldPathError(where, `associative list item omits key field ${JSON.stringify(k)}`);
    key[k] = v;
  }
  return `k:${JSON.stringify(key)}`;
}

export function valueElement(item: JsonValue): PathElement {
  return `v:${JSON.stringify(item)}`;
}

/** How server-side apply treats a list: atomic unless the schema says set or map. */
export function listTypeOf(info: ListPatchInfo | undefined): 'atomic' | 'set' | 'map' {
  if (info?.listType === 'map' && info.listMapKeys?.length) return 'map';
  if (info?.listType === 'set') return 'set';
  return 'atomic';
}

/** `.spec.template.spec.containers[name="app"].image` — how kube-apiserver prints a path in conflicts. */
export function pathString(path: FieldPath): string {
  return path
    .map((el) => {
      const body = el.slice(2);
      if (el.startsWith('f:')) return `.${body}`;
      if (el.startsWith('v:')) return `[=${body}]`;
      if (el.startsWith('i:')) return `[${body}]`;
      const key = JSON.parse(body) as JsonObject;
      return `[${Object.entries(key)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}]`;
    })
    .join('');
}

/** Schema path (field names only, list levels skipped) of a field path. */
export function schemaPathOf(path: FieldPath): string[] {
  return path.filter((el) => el.startsWith('f:')).map((el) => el.slice(2));
}

// ---- values ------------------------------------------------------------------------------------------

/** The field set of a value (structured-merge-diff ToFieldSet). */
export function fieldSetOf(value: JsonObject, schema: PatchSchema): FieldSet {
  const out = new FieldSet();
  walkMap(value, [], [], schema, out);
  return out;
}

function walkMap(obj: JsonObject, sp: string[], fp: PathElement[], schema: PatchSchema, out: FieldSet): void {
  for (const [name, v] of Object.entries(obj)) {
    // In-process objects may hold `undefined` (e.g. an unset deletionTimestamp): not a field in JSON.
    if (v === undefined) continue;
    const childSp = [...sp, name];
    const childFp = [...fp, fieldElement(name)];
    walkValue(v, childSp, childFp, schema, out);
  }
}

function walkValue(v: JsonValue, sp: string[], fp: PathElement[], schema: PatchSchema, out: FieldSet): void {
  if (isObject(v)) {
    const info = schema.map(sp);
    if (info?.structType === 'atomic' || info?.mapType === 'atomic' || Object.keys(v).length === 0)
      out.add(fp);
    else walkMap(v, sp, fp, schema, out);
    return;
  }
  if (Array.isArray(v)) {
    const info = schema.list(sp);
    const type = listTypeOf(info);
    if (type === 'atomic') return out.add(fp);
    for (const item of v) {
      if (type === 'set') {
        out.add([...fp, valueElement(item)]);
        continue;
      }
      const itemFp = [...fp, keyElement(item, info!.listMapKeys!, pathString(fp))];
      out.add(itemFp);
      // Items that are atomic structs (ownerReferences) are owned whole, not field by field.
      if (schema.map(sp)?.structType !== 'atomic') walkMap(item as JsonObject, sp, itemFp, schema, out);
    }
    return;
  }
  out.add(fp);
}

function matches(item: JsonValue, el: PathElement): boolean {
  if (el.startsWith('v:')) return jsonEqual(item, JSON.parse(el.slice(2)));
  if (!isObject(item)) return false;
  const key = JSON.parse(el.slice(2)) as JsonObject;
  return Object.entries(key).every(([k, v]) => jsonEqual(item[k] ?? KEY_DEFAULTS[k], v));
}

/** The value at `path`, or undefined when there is none. */
export function valueAt(obj: JsonValue, path: FieldPath): JsonValue | undefined {
  let cur: JsonValue | undefined = obj;
  for (const el of path) {
    if (cur === undefined) return undefined;
    if (el.startsWith('f:')) cur = isObject(cur) ? cur[el.slice(2)] : undefined;
    else if (el.startsWith('i:')) cur = Array.isArray(cur) ? cur[Number(el.slice(2))] : undefined;
    else cur = Array.isArray(cur) ? cur.find((item) => matches(item, el)) : undefined;
  }
  return cur;
}

/** Remove the value at `path` from `obj` in place (a field, or every list item it names). */
export function removeAt(obj: JsonObject, path: FieldPath): void {
  const parent = valueAt(obj, path.slice(0, -1));
  const el = path[path.length - 1];
  if (el.startsWith('f:')) {
    if (isObject(parent)) delete parent[el.slice(2)];
    return;
  }
  if (!Array.isArray(parent)) return;
  for (let i = parent.length - 1; i >= 0; i--) {
    if (el.startsWith('i:') ? i === Number(el.slice(2)) : matches(parent[i], el)) parent.splice(i, 1);
  }
}

export interface Comparison {
  added: FieldSet;
  removed: FieldSet;
  modified: FieldSet;
}

/** What changed from `before` to `after`, path by path (structured-merge-diff Compare). */
export function compareObjects(before: JsonObject, after: JsonObject, schema: PatchSchema): Comparison {
  const a = fieldSetOf(before, schema);
  const b = fieldSetOf(after, schema);
  const modified = a
    .intersection(b)
    .filter((p) => !p[p.length - 1].startsWith('k:') && !jsonEqual(valueAt(before, p), valueAt(after, p)));
  return { added: b.difference(a), removed: a.difference(b), modified };
}
