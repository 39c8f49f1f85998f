// Kind-aware object storage on top of the kind-agnostic Store: the semantics every writer shares
// (the API server's routes, the controllers and the scheduler in the same process), so that a pod a
// controller creates gets exactly the validation, defaults and metadata a pod from `strata apply` gets.
//
// - create: validate + default, uid, creationTimestamp, generation, generateName.
// - update: compare-and-swap on metadata.resourceVersion; status is preserved (only the status
//   subresource writes it); generation bumps when spec changes; immutable metadata is kept.
// - delete: graceful for pods bound to a node (deletionTimestamp; the agent finalises), and for
//   objects with finalizers; immediate otherwise.
// - watch: store events mapped to Kubernetes ADDED/MODIFIED/DELETED with resourceVersion set.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import jsonMergePatch from 'json-merge-patch';
import { podSpecWarnings } from '../api/kinds/pod.ts';
import {
  type Cause,
  type KindInfo,
  alreadyExists,
  applyDefaults,
  badRequest,
  conflict,
  gone,
  invalid,
  kindFor,
  notFound,
  validateObject,
  validateStatus,
} from '../api/index.ts';
import { type FieldValidation, stripUnknownFields, unknownFieldWarning } from '../api/unknown-fields.ts';
import { applyJsonPatch } from '../api/patch/json-patch.ts';
import { isObject, PatchError, type JsonObject } from '../api/patch/json.ts';
import {
  managedFieldsAfterUpdate,
  serverSideApply,
  type ManagedFieldsEntry,
} from '../api/patch/managed-fields.ts';
import { patchSchema } from '../api/patch/metadata.ts';
import { strategicMergePatch } from '../api/patch/strategic.ts';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  RevisionCompactedError,
  type KeyValue,
  type Store,
  type Watch,
} from './store.ts';

/** An error that carries the Kubernetes Status object to return to the client. */

/** The subresources written through update/patch beside the main resource. */
export type WritableSubresource = 'status' | 'ephemeralcontainers';

export class ApiError extends Error {
  readonly status: any;
  readonly code: number;
  constructor(status: any) {
    super(status.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = status.code;
  }
}

export type ObjectEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface ObjectEvent {
  type: ObjectEventType;
  object: any;
}

export interface ListOptions {
  labelSelector?: (labels: Record<string, string> | undefined) => boolean;
  fieldSelector?: (obj: any) => boolean;
}

export type PropagationPolicy = 'Orphan' | 'Background' | 'Foreground';

/** The finalizer each non-default propagation policy puts on the deleted object (the garbage collector acts on it). */
const PROPAGATION_FINALIZER: Record<PropagationPolicy, string | undefined> = {
  Background: undefined,
  Orphan: 'orphan',
  Foreground: 'foregroundDeletion',
};

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  /** What happens to dependents: deleted after (Background, default), before (Foreground), or kept (Orphan). */
  propagationPolicy?: PropagationPolicy;
  /** dryRun=All: answer what would happen, change nothing. */
  dryRun?: boolean;
}

/** Options of a client write (create, update, patch); in-process writers usually pass none. */
export interface WriteOptions {
  /** dryRun=All: validate, default and admit as usual, persist nothing; the answer is what would be stored. */
  dryRun?: boolean;
  /** Unknown fields: Strict (the default) refuses them with a 422, Warn drops them with a warning, Ignore drops them. */
  fieldValidation?: FieldValidation;
  /** Receives each warning (e.g. `unknown field "spec.foo"`) for the response's Warning headers. */
  warn?: (message: string) => void;
  /**
   * Who asked for this write, when it came through the API (admission policies, quotas and audit need it);
   * undefined for the control plane's own in-process writers (controllers, scheduler).
   */
  user?: { username: string; groups: string[]; uid?: string; extra?: Record<string, string[]> };
  /** Receives audit annotations (key → value) an admission step wants recorded in the audit event. */
  annotate?: (key: string, value: string) => void;
  /**
   * The manager this write is recorded under in metadata.managedFields (operation Update). Without one
   * (controllers in this process) managedFields are left as they are.
   */
  fieldManager?: string;
}

/** The four PATCH flavours, by content type. */
export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

export const PATCH_CONTENT_TYPES: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/json-patch+json': 'json',
  'application/apply-patch+yaml': 'apply',
};

export interface PatchOptions extends WriteOptions {
  /** Default 'merge' (RFC 7386). */
  type?: PatchType;
  /** Server-side apply: take ownership of conflicting fields instead of failing with 409. */
  force?: boolean;
  /** Called when server-side apply created the object (the answer is then a 201). */
  onCreate?: () => void;
}

/** What create/update accept beyond WriteOptions: managedFields server-side apply already computed. */
interface InternalWriteOptions extends WriteOptions {
  managedFields?: ManagedFieldsEntry[];
}

/**
 * Admission on create: runs after validation and defaults, before the write, for every writer (API
 * routes, controllers, scheduler). It may change the object (e.g. resolve a pod's priority) or refuse it
 * by throwing an ApiError.
 */
export type CreateHook = (obj: any, kind: KindInfo, opts: WriteOptions) => void | Promise<void>;

/**
 * Admission on update of the main resource (not status): runs after validation, before the
 * compare-and-swap write, with the object being replaced. It may change `next` (e.g. keep values the
 * server allocated that a replacement left out) or refuse it by throwing an ApiError.
 */
export type UpdateHook = (
  next: any,
  current: any,
  kind: KindInfo,
  opts: WriteOptions,
) => void | Promise<void>;

/**
 * Runs on the replacement as sent, before validation (Kubernetes' PrepareForUpdate): drops fields the
 * server had set that no longer apply, e.g. a Service's node ports when its type becomes ClusterIP.
 */
export type PrepareUpdateHook = (next: any, current: any, kind: KindInfo) => void;

const GENERATE_NAME_SUFFIX = 5;
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < GENERATE_NAME_SUFFIX; i++)
    s += SUFFIX_ALPHABET[Math.floor(Math.random() * SUFFIX_ALPHABET.length)];
  return s;
}

function keyPrefix(kind: KindInfo, namespace?: string): string {
  const base = `/registry/${kind.group || 'core'}/${kind.plural}/`;
  return kind.namespaced && namespace ? `${base}${namespace}/` : base;
}

export function objectKey(kind: KindInfo, namespace: string | undefined, name: string): string {
  return kind.namespaced ? `${keyPrefix(kind, namespace)}${name}` : `${keyPrefix(kind)}${name}`;
}

/**
 * Attach the store's revision as metadata.resourceVersion. Copies the top level and metadata: watch
 * events share one parsed value among all watchers, which must not see each other's writes.
 */
function materialise(kv: KeyValue<any>): any {
  const obj = kv.value;
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(kv.modRevision) } };
}

function parseRv(rv: string | undefined, field = 'metadata.resourceVersion'): number | undefined {
  if (rv === undefined || rv === '') return undefined;
  const n = Number(rv);
  if (!Number.isInteger(n) || n < 0) {
    throw new ApiError(
      badRequest(`${field}: invalid value ${JSON.stringify(rv)}: must be a decimal revision`),
    );
  }
  return n;
}

function kindOf(obj: any): KindInfo {
  const kind = kindFor(obj?.apiVersion, obj?.kind);
  if (!kind) throw new ApiError(badRequest(`unknown kind ${obj?.apiVersion}/${obj?.kind}`));
  return kind;
}

/** A stored object's spec with today's defaults applied (as it is, if today's schema refuses it). */
function defaultedSpec(kind: KindInfo, obj: any): any {
  try {
    return applyDefaults(kind, structuredClone(obj)).spec;
  } catch {
    return obj.spec;
  }
}

export class ObjectStore {
  readonly store: Store;
  private readonly createHooks: CreateHook[] = [];
  private readonly updateHooks: UpdateHook[] = [];
  private readonly prepareUpdateHooks: PrepareUpdateHook[] = [];

  constructor(store: Store) {
    this.store = store;
  }

  /** Adds an admission hook that every create passes through (see CreateHook). */
  addCreateHook(hook: CreateHook): void {
    this.createHooks.push(hook);
  }

  /** Adds an admission hook that every update of the main resource passes through (see UpdateHook). */
  addUpdateHook(hook: UpdateHook): void {
    this.updateHooks.push(hook);
  }

  /** Adds a hook that prepares every replacement before it is validated (see PrepareUpdateHook). */
  addPrepareUpdateHook(hook: PrepareUpdateHook): void {
    this.prepareUpdateHooks.push(hook);
  }

  async get(kind: KindInfo, namespace: string | undefined, name: string): Promise<any | undefined> {
    const kv = await this.store.get(objectKey(kind, namespace, name));
    return kv ? materialise(kv) : undefined;
  }

  async mustGet(kind: KindInfo, namespace: string | undefined, name: string): Promise<any> {
    const obj = await this.get(kind, namespace, name);
    if (!obj) throw new ApiError(notFound(kind, name));
    return obj;
  }

  async list(
    kind: KindInfo,
    namespace?: string,
    opts: ListOptions = {},
  ): Promise<{ items: any[]; resourceVersion: string }> {
    const res = await this.store.list(keyPrefix(kind, namespace));
    const items: any[] = [];
    for (const kv of res.items) {
      const obj = materialise(kv);
      if (opts.labelSelector && !opts.labelSelector(obj.metadata.labels)) continue;
      if (opts.fieldSelector && !opts.fieldSelector(obj)) continue;
      items.push(obj);
    }
    return { items, resourceVersion: String(res.revision) };
  }

  /** Validate, default and create. `namespace` (from the URL) wins over an absent metadata.namespace. */
  async create(input: any, namespace?: string, opts: InternalWriteOptions = {}): Promise<any> {
    const kind = kindOf(input);
    const obj = structuredClone(input);
    obj.metadata ??= {};
    const requestedManagedFields = takeManagedFields(obj);
    if (kind.namespaced) {
      const ns = namespace ?? obj.metadata.namespace ?? 'default';
      if (obj.metadata.namespace && namespace && obj.metadata.namespace !== namespace) {
        throw new ApiError(
          badRequest(
            `the namespace of the object (${obj.metadata.namespace}) does not match the namespace on the request (${namespace})`,
          ),
        );
      }
      obj.metadata.namespace = ns;
    } else {
      delete obj.metadata.namespace;
    }
    if (!obj.metadata.name && obj.metadata.generateName) {
      obj.metadata.name = `${obj.metadata.generateName}${randomSuffix()}`;
    }
    const checked = this.validate(obj, opts);
    const out = checked.object;
    if (kind.namespaced && kind.kind !== 'Namespace') await this.requireNamespace(out.metadata.namespace);
    for (const hook of this.createHooks) await hook(out, kind, opts);
    // Server-owned metadata: clients cannot choose these.
    out.metadata.uid = randomUUID();
    out.metadata.creationTimestamp = nowRfc3339();
    out.metadata.generation = 1;
    delete out.metadata.resourceVersion;
    delete out.metadata.deletionTimestamp;
    delete out.metadata.deletionGracePeriodSeconds;
    // Status is not client-writable on create either: only the status subresource writes it.
    if (kind.hasStatus) delete out.status;
    const managedFields =
      opts.managedFields ??
      (opts.fieldManager
        ? managedFieldsAfterUpdate(
            undefined,
            out,
            opts.fieldManager,
            this.fieldManagerContext(kind),
            requestedManagedFields,
          )
        : undefined);
    if (managedFields?.length) out.metadata.managedFields = managedFields;
    const key = objectKey(kind, out.metadata.namespace, out.metadata.name);
    if (opts.dryRun) {
      if (await this.store.get(key)) throw new ApiError(alreadyExists(kind, out.metadata.name));
      return out;
    }
    try {
      const kv = await this.store.create(key, out);
      return materialise(kv);
    } catch (err) {
      if (err instanceof AlreadyExistsError) throw new ApiError(alreadyExists(kind, out.metadata.name));
      throw err;
    }
  }

  /** Replace an object (the main resource). Status and server-owned metadata are preserved. */
  async update(input: any, namespace?: string, opts: InternalWriteOptions = {}): Promise<any> {
    const kind = kindOf(input);
    const name = input?.metadata?.name;
    const ns = kind.namespaced ? (namespace ?? input?.metadata?.namespace ?? 'default') : undefined;
    const current = await this.mustGet(kind, ns, name);
    const obj = structuredClone(input);
    obj.metadata ??= {};
    const requestedManagedFields = takeManagedFields(obj);
    if (kind.namespaced) obj.metadata.namespace = ns;
    const expected = parseRv(obj.metadata.resourceVersion);
    for (const prepare of this.prepareUpdateHooks) prepare(obj, current, kind);
    const checked = this.validate(obj, opts);
    const next = checked.object;
    this.checkImmutable(kind, current, next);
    for (const hook of this.updateHooks) await hook(next, current, kind, opts);
    next.metadata.uid = current.metadata.uid;
    next.metadata.creationTimestamp = current.metadata.creationTimestamp;
    next.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
    next.metadata.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
    if (kind.hasStatus) next.status = current.status;
    const specChanged = !isDeepStrictEqual(stripForGeneration(next), stripForGeneration(current));
    next.metadata.generation = (current.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    next.metadata.managedFields =
      opts.managedFields ??
      (opts.fieldManager
        ? managedFieldsAfterUpdate(
            current,
            next,
            opts.fieldManager,
            this.fieldManagerContext(kind),
            requestedManagedFields,
          )
        : undefined) ??
      current.metadata.managedFields;
    if (!next.metadata.managedFields?.length) delete next.metadata.managedFields;
    if (expected !== undefined && expected !== Number(current.metadata.resourceVersion)) {
      throw new ApiError(
        conflict(
          kind,
          name,
          `Operation cannot be fulfilled on ${kind.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        ),
      );
    }
    // An update that changes nothing is not written (so `apply` can report "unchanged").
    if (sameObject(next, current)) return current;
    if (opts.dryRun)
      return { ...next, metadata: { ...next.metadata, resourceVersion: current.metadata.resourceVersion } };
    return this.write(kind, current, next, expected);
  }

  /** Replace only the status of an object (the status subresource). */
  async updateStatus(
    kind: KindInfo,
    namespace: string | undefined,
    name: string,
    input: any,
    opts: InternalWriteOptions = {},
  ): Promise<any> {
    const current = await this.mustGet(kind, namespace, name);
    const expected = parseRv(input?.metadata?.resourceVersion);
    let status = input?.status ?? {};
    if (kind.statusSchema && opts.fieldValidation && opts.fieldValidation !== 'Strict') {
      const stripped = stripUnknownFields(kind.statusSchema, status, ['status']);
      status = stripped.object;
      this.warnUnknown(stripped.removed, opts);
    }
    const causes = validateStatus(kind, status);
    if (causes.length) throw new ApiError(invalid(kind, name, causes));
    const next = structuredClone(current);
    next.status = status;
    const ctx = this.fieldManagerContext(kind, 'status');
    next.metadata.managedFields =
      opts.managedFields ??
      (opts.fieldManager ? managedFieldsAfterUpdate(current, next, opts.fieldManager, ctx) : undefined) ??
      current.metadata.managedFields;
    if (!next.metadata.managedFields?.length) delete next.metadata.managedFields;
    if (opts.dryRun) {
      if (expected !== undefined && expected !== Number(current.metadata.resourceVersion))
        throw new ApiError(conflict(kind, name));
      return next;
    }
    return this.write(kind, current, next, expected);
  }

  /**
   * The pods/NAME/ephemeralcontainers subresource (`kubectl debug`): only spec.ephemeralContainers is
   * taken from `input`, and only by additions — an ephemeral container, once added, is neither changed
   * nor removed (Kubernetes' rule: it may already have run).
   */
  async updateEphemeralContainers(
    namespace: string,
    name: string,
    input: any,
    opts: InternalWriteOptions = {},
  ): Promise<any> {
    const kind = kindFor('v1', 'Pod')!;
    const current = await this.mustGet(kind, namespace, name);
    const expected = parseRv(input?.metadata?.resourceVersion);
    const wanted: any[] = input?.spec?.ephemeralContainers ?? [];
    if (!Array.isArray(wanted))
      throw new ApiError(badRequest('spec.ephemeralContainers: must be a list of containers'));
    const causes: Cause[] = [];
    for (const had of current.spec.ephemeralContainers ?? []) {
      const now = wanted.find((c) => c?.name === had.name);
      if (!now)
        causes.push({
          field: 'spec.ephemeralContainers',
          message: `Forbidden: existing ephemeral containers "${had.name}" may not be removed`,
          reason: 'FieldValueForbidden',
        });
      else if (!isDeepStrictEqual(JSON.parse(JSON.stringify(now)), had))
        causes.push({
          field: 'spec.ephemeralContainers',
          message: `Forbidden: existing ephemeral containers "${had.name}" may not be changed`,
          reason: 'FieldValueForbidden',
        });
    }
    if (causes.length) throw new ApiError(invalid(kind, name, causes));
    const candidate = structuredClone(current);
    candidate.spec.ephemeralContainers = wanted;
    const next = this.validate(candidate, opts).object;
    next.status = current.status;
    next.metadata = { ...current.metadata };
    next.metadata.managedFields =
      opts.managedFields ??
      (opts.fieldManager
        ? managedFieldsAfterUpdate(
            current,
            next,
            opts.fieldManager,
            this.fieldManagerContext(kind, 'ephemeralcontainers'),
          )
        : undefined) ??
      current.metadata.managedFields;
    if (!next.metadata.managedFields?.length) delete next.metadata.managedFields;
    if (sameObject(next, current)) return current;
    if (opts.dryRun) return this.checkedDryRun(kind, current, next, expected);
    return this.write(kind, current, next, expected);
  }

  /**
   * Read-modify-write with retries on conflict: `mutate` gets the current object (a copy) and returns
   * the new one, or undefined to skip. For controllers; `subresource` 'status' writes status only.
   */
  async mutate(
    kind: KindInfo,
    namespace: string | undefined,
    name: string,
    mutate: (obj: any) => any | undefined,
    subresource?: WritableSubresource,
    opts: InternalWriteOptions = {},
  ): Promise<any | undefined> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(kind, namespace, name);
      if (!current) return undefined;
      const next = mutate(structuredClone(current));
      if (next === undefined) return current;
      // A resourceVersion the mutation pinned is a precondition: its conflict is final, not retried.
      const rv = next.metadata?.resourceVersion;
      const pinned = rv !== undefined && rv !== current.metadata.resourceVersion;
      try {
        if (subresource === 'status') return await this.updateStatus(kind, namespace, name, next, opts);
        if (subresource === 'ephemeralcontainers')
          return await this.updateEphemeralContainers(namespace!, name, next, opts);
        return await this.update(next, namespace, opts);
      } catch (err) {
        if (err instanceof ApiError && err.code === 409 && !pinned && attempt < 20) continue;
        throw err;
      }
    }
  }

  /**
   * Patch the main resource or its status: JSON merge patch (RFC 7386, the default), strategic merge
   * patch, JSON patch (RFC 6902) or server-side apply (`opts.type`). A `metadata.resourceVersion` the
   * patch sets is a precondition (409 when the object has moved on); without one the patch applies to
   * the latest version. Nothing is written when the patch fails.
   */
  async patch(
    kind: KindInfo,
    namespace: string | undefined,
    name: string,
    patch: any,
    subresource?: WritableSubresource,
    opts: PatchOptions = {},
  ): Promise<any> {
    const type = opts.type ?? 'merge';
    if (type === 'apply') {
      if (subresource === 'ephemeralcontainers')
        throw new ApiError(badRequest('server-side apply is not supported on pods/ephemeralcontainers'));
      return this.apply(kind, namespace, name, patch, subresource, opts);
    }
    if (type !== 'json' && !isObject(patch)) {
      throw new ApiError(
        badRequest(`a ${type === 'merge' ? 'merge' : 'strategic merge'} patch must be a JSON object`),
      );
    }
    const schema = patchSchema(kind.apiVersion, kind.kind);
    const result = await this.mutate(
      kind,
      namespace,
      name,
      (obj) => {
        // managedFields stay in the document: a patch may rewrite them (kubectl's client-side to
        // server-side apply upgrade does, with a JSON patch); update() then takes them as requested.
        const next = patchWith(type, obj, patch, schema);
        if (!isObject(next.metadata)) next.metadata = {};
        return next;
      },
      subresource,
      opts,
    );
    if (!result) throw new ApiError(notFound(kind, name));
    return result;
  }

  /**
   * Server-side apply (PATCH application/apply-patch+yaml): merge `config` into the object as
   * `opts.fieldManager`, creating it when it does not exist. See src/api/patch/managed-fields.ts.
   */
  private async apply(
    kind: KindInfo,
    namespace: string | undefined,
    name: string,
    config: any,
    subresource: 'status' | undefined,
    opts: PatchOptions,
  ): Promise<any> {
    const manager = opts.fieldManager;
    if (!manager) throw new ApiError(badRequest('fieldManager is required for apply requests'));
    if (!isObject(config)) throw new ApiError(badRequest('an apply configuration must be an object'));
    if (isObject(config.metadata) && config.metadata.managedFields !== undefined)
      throw new ApiError(badRequest('metadata.managedFields must be nil in an apply configuration'));
    let applied: JsonObject = structuredClone(config);
    if (opts.fieldValidation && opts.fieldValidation !== 'Strict') {
      const stripped = stripUnknownFields(kind.schema, applied);
      applied = stripped.object as JsonObject;
      this.warnUnknown(stripped.removed, opts);
    }
    const pinned = (applied.metadata as any)?.resourceVersion;
    const ctx = this.fieldManagerContext(kind, subresource);
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(kind, namespace, name);
      try {
        if (!current) {
          if (subresource) throw new ApiError(notFound(kind, name));
          const created = runApply(undefined, applied, manager, !!opts.force, ctx);
          const out = await this.create(created.object, namespace, {
            ...opts,
            managedFields: created.managedFields,
          });
          opts.onCreate?.();
          return out;
        }
        const result = runApply(current, applied, manager, !!opts.force, ctx);
        const next: any = result.object;
        next.metadata = {
          ...(next.metadata as object),
          resourceVersion: pinned ?? current.metadata.resourceVersion,
        };
        const writeOpts = { ...opts, managedFields: result.managedFields };
        return subresource === 'status'
          ? await this.updateStatus(kind, namespace, name, next, writeOpts)
          : await this.update(next, namespace, writeOpts);
      } catch (err) {
        // Lost a race with another writer (or a concurrent create): apply again to the latest object.
        const raced =
          err instanceof ApiError &&
          ((err.code === 409 && err.status?.reason === 'Conflict' && !err.status?.details?.causes) ||
            err.status?.reason === 'AlreadyExists');
        if (raced && pinned === undefined && attempt < 20) continue;
        throw err;
      }
    }
  }

  /** Bind a pending pod to a node (the binding subresource): sets spec.nodeName once. */
  async bind(
    namespace: string,
    name: string,
    nodeName: string,
    expectedRv?: string,
    opts: { dryRun?: boolean } = {},
  ): Promise<any> {
    const kind = kindFor('v1', 'Pod')!;
    const current = await this.mustGet(kind, namespace, name);
    if (current.spec.nodeName) {
      throw new ApiError(
        conflict(kind, name, `pod ${name} is already assigned to node "${current.spec.nodeName}"`),
      );
    }
    if (current.metadata.deletionTimestamp) {
      throw new ApiError(conflict(kind, name, `pod ${name} is being deleted`));
    }
    const next = structuredClone(current);
    next.spec.nodeName = nodeName;
    // Like the Kubernetes binding subresource, binding also records PodScheduled=True in the same write.
    const conditions = (next.status?.conditions ?? []).filter((c: any) => c.type !== 'PodScheduled');
    conditions.unshift({ type: 'PodScheduled', status: 'True', lastTransitionTime: nowRfc3339() });
    next.status = { phase: 'Pending', ...next.status, conditions };
    if (opts.dryRun) return this.checkedDryRun(kind, current, next, parseRv(expectedRv));
    return this.write(kind, current, next, parseRv(expectedRv));
  }

  async delete(
    kind: KindInfo,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<any> {
    const current = await this.mustGet(kind, namespace, name);
    if (opts.preconditions?.uid && opts.preconditions.uid !== current.metadata.uid) {
      throw new ApiError(
        conflict(
          kind,
          name,
          `precondition failed: UID in precondition ${opts.preconditions.uid} does not match ${current.metadata.uid}`,
        ),
      );
    }
    const expected = parseRv(opts.preconditions?.resourceVersion, 'preconditions.resourceVersion');
    const grace = this.gracePeriod(kind, current, opts.gracePeriodSeconds);
    const finalizers: string[] = [...(current.metadata.finalizers ?? [])];
    const propagation = PROPAGATION_FINALIZER[opts.propagationPolicy ?? 'Background'];
    if (propagation && !current.metadata.deletionTimestamp && !finalizers.includes(propagation)) {
      finalizers.push(propagation);
    }
    if (grace > 0 || finalizers.length > 0) {
      // Graceful: mark for deletion and let the owner of the object (agent, finaliser) finish it.
      if (current.metadata.deletionTimestamp) {
        const shorter =
          current.metadata.deletionGracePeriodSeconds === undefined ||
          grace < current.metadata.deletionGracePeriodSeconds;
        if (!shorter) return current;
      }
      const next = structuredClone(current);
      next.metadata.deletionTimestamp ??= nowRfc3339();
      next.metadata.deletionGracePeriodSeconds = grace;
      if (finalizers.length > 0) next.metadata.finalizers = finalizers;
      if (opts.dryRun) return this.checkedDryRun(kind, current, next, expected);
      return this.write(kind, current, next, expected);
    }
    if (opts.dryRun) return this.checkedDryRun(kind, current, current, expected);
    try {
      const kv = await this.store.delete(
        objectKey(kind, namespace, name),
        expected ?? Number(current.metadata.resourceVersion),
      );
      return materialise(kv);
    } catch (err) {
      if (err instanceof NotFoundError) throw new ApiError(notFound(kind, name));
      if (err instanceof ConflictError) {
        if (expected !== undefined)
          throw new ApiError(
            conflict(
              kind,
              name,
              'the object has been modified; please apply your changes to the latest version and try again',
            ),
          );
        return this.delete(kind, namespace, name, opts);
      }
      throw err;
    }
  }

  /**
   * Watch a kind (optionally one namespace) from a resourceVersion. Events after `resourceVersion`
   * are delivered; with none, only new events. A compacted revision throws ApiError 410 (Expired).
   */
  async watch(
    kind: KindInfo,
    namespace: string | undefined,
    resourceVersion: string | undefined,
    onEvent: (ev: ObjectEvent) => void,
    onClose?: (err?: Error) => void,
  ): Promise<Watch> {
    const rv = parseRv(resourceVersion, 'resourceVersion');
    try {
      return await this.store.watch<any>(
        keyPrefix(kind, namespace),
        (ev) => {
          const object = materialise(ev.kv);
          const type: ObjectEventType = ev.type === 'DELETE' ? 'DELETED' : ev.created ? 'ADDED' : 'MODIFIED';
          onEvent({ type, object });
        },
        { fromRevision: rv === undefined || rv === 0 ? undefined : rv + 1, onClose },
      );
    } catch (err) {
      if (err instanceof RevisionCompactedError) {
        throw new ApiError(gone(`too old resource version: ${rv} (${err.compacted})`));
      }
      throw err;
    }
  }

  private gracePeriod(kind: KindInfo, obj: any, requested: number | undefined): number {
    if (kind.kind !== 'Pod') return 0;
    // A pod no agent runs (unbound, or already finished) has nothing to stop: delete at once.
    if (!obj.spec.nodeName) return 0;
    if (requested !== undefined) return Math.max(0, requested);
    const phase = obj.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return 0;
    return obj.spec.terminationGracePeriodSeconds ?? 30;
  }

  private async write(kind: KindInfo, current: any, next: any, expected: number | undefined): Promise<any> {
    const key = objectKey(kind, current.metadata.namespace, current.metadata.name);
    // A deleted object whose finalizers are gone (and grace has run out) is removed for real.
    const stored = structuredClone(next);
    delete stored.metadata.resourceVersion;
    if (stored.status === undefined) delete stored.status;
    try {
      if (
        stored.metadata.deletionTimestamp &&
        (stored.metadata.finalizers ?? []).length === 0 &&
        stored.metadata.deletionGracePeriodSeconds === 0
      ) {
        return materialise(
          await this.store.delete(key, expected ?? Number(current.metadata.resourceVersion)),
        );
      }
      return materialise(
        await this.store.update(key, stored, expected ?? Number(current.metadata.resourceVersion)),
      );
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ApiError(
          conflict(
            kind,
            current.metadata.name,
            `Operation cannot be fulfilled on ${kind.plural} "${current.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
          ),
        );
      }
      if (err instanceof NotFoundError) throw new ApiError(notFound(kind, current.metadata.name));
      throw err;
    }
  }

  private validate(obj: any, opts: WriteOptions = {}): { object: any; kind: KindInfo } {
    // Status is never validated or written through the main resource: only the status subresource writes it.
    let candidate: any = { ...obj, status: undefined };
    const kind = kindFor(obj.apiVersion, obj.kind);
    if (kind && opts.fieldValidation && opts.fieldValidation !== 'Strict') {
      const stripped = stripUnknownFields(kind.schema, { ...obj, status: undefined });
      candidate = stripped.object;
      this.warnUnknown(stripped.removed, opts);
    }
    const res = validateObject(candidate);
    if (!res.ok) {
      const kind = res.kind ?? kindFor(obj.apiVersion, obj.kind);
      throw new ApiError(
        kind
          ? invalid(kind, obj.metadata?.name ?? '', res.causes)
          : badRequest(res.causes.map(causeText).join('; ')),
      );
    }
    // Fields accepted but not honoured on the pod's tier: a Warning header each, never silence.
    if (res.kind.kind === 'Pod') for (const w of podSpecWarnings(res.object.spec)) opts.warn?.(w);
    return { object: res.object, kind: res.kind };
  }

  private warnUnknown(removed: readonly string[], opts: WriteOptions): void {
    if (opts.fieldValidation === 'Warn') for (const field of removed) opts.warn?.(unknownFieldWarning(field));
  }

  private fieldManagerContext(kind: KindInfo, subresource?: string) {
    return {
      schema: patchSchema(kind.apiVersion, kind.kind),
      apiVersion: kind.apiVersion,
      subresource,
      now: nowRfc3339(),
    };
  }

  /** A dry-run delete still honours a resourceVersion precondition. */
  private checkedDryRun(kind: KindInfo, current: any, result: any, expected: number | undefined): any {
    if (expected !== undefined && expected !== Number(current.metadata.resourceVersion))
      throw new ApiError(
        conflict(
          kind,
          current.metadata.name,
          'the object has been modified; please apply your changes to the latest version and try again',
        ),
      );
    return result;
  }

  private checkImmutable(kind: KindInfo, current: any, next: any): void {
    const causes: Cause[] = [];
    if (next.metadata.uid && next.metadata.uid !== current.metadata.uid) {
      causes.push({ field: 'metadata.uid', message: 'field is immutable', reason: 'FieldValueInvalid' });
    }
    if (kind.kind === 'Pod') {
      // Like Kubernetes: a pod's spec is fixed once created; spec.nodeName is set through binding only.
      // The stored spec is compared with today's defaults applied, as `next` has them: a pod written by an
      // earlier version (without a default added since) must still take metadata-only updates.
      // Scheduling gates may only be removed (Kubernetes' PodSchedulingReadiness), and only before binding.
      const a = { ...defaultedSpec(kind, current), nodeName: undefined, schedulingGates: undefined };
      const b = { ...next.spec, nodeName: undefined, schedulingGates: undefined };
      const gatesBefore = new Set((current.spec.schedulingGates ?? []).map((g: { name: string }) => g.name));
      const gatesAfter: { name: string }[] = next.spec.schedulingGates ?? [];
      if (gatesAfter.some((g) => !gatesBefore.has(g.name)) || (current.spec.nodeName && gatesAfter.length)) {
        causes.push({
          field: 'spec.schedulingGates',
          message: 'Forbidden: only deletion is allowed, and only before the pod is scheduled',
          reason: 'FieldValueForbidden',
        });
      }
      if (!isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)))) {
        causes.push({
          field: 'spec',
          message: 'Forbidden: pod updates may not change fields of spec',
          reason: 'FieldValueForbidden',
        });
      }
      next.spec.nodeName = current.spec.nodeName;
    }
    if (
      (current.immutable === true || current.immutable === 'true') &&
      !isDeepStrictEqual(current.data, next.data)
    ) {
      causes.push({
        field: 'data',
        message: 'field is immutable when `immutable` is set',
        reason: 'FieldValueForbidden',
      });
    }
    if (causes.length) throw new ApiError(invalid(kind, current.metadata.name, causes));
  }

  private async requireNamespace(ns: string): Promise<void> {
    const nsKind = kindFor('v1', 'Namespace')!;
    const obj = await this.get(nsKind, undefined, ns);
    if (!obj) throw new ApiError(notFound(nsKind, ns));
    if (obj.metadata.deletionTimestamp) {
      throw new ApiError({
        ...conflict(nsKind, ns, `namespace ${ns} is being terminated`),
        code: 403,
        reason: 'Forbidden',
      });
    }
  }
}

/** Remove metadata.managedFields from a request body: the server computes them (see managed-fields.ts). */
function takeManagedFields(obj: any): unknown {
  const requested = obj.metadata?.managedFields;
  if (obj.metadata) delete obj.metadata.managedFields;
  return requested;
}

/** Merge, strategic merge or JSON patch of `base`; a malformed patch is the 400/422 PatchError gives. */
function patchWith(
  type: Exclude<PatchType, 'apply'>,
  base: any,
  patch: any,
  schema: ReturnType<typeof patchSchema>,
): any {
  try {
    if (type === 'json') return applyJsonPatch(base, patch);
    if (type === 'strategic') return strategicMergePatch(base, patch, schema);
    return jsonMergePatch.apply(base, structuredClone(patch));
  } catch (err) {
    if (err instanceof PatchError) throw new ApiError(err.toStatus());
    throw err;
  }
}

function runApply(...args: Parameters<typeof serverSideApply>): ReturnType<typeof serverSideApply> {
  try {
    return serverSideApply(...args);
  } catch (err) {
    if (err instanceof PatchError) throw new ApiError(err.toStatus());
    throw err;
  }
}

/**
 * Equal but for the resourceVersion and the managedFields timestamps: a change of timestamps alone is no
 * change (kube-apiserver's IgnoreManagedFieldsTimestampsTransformer), so a repeated apply is not a write.
 */
function sameObject(a: any, b: any): boolean {
  const strip = (o: any) =>
    JSON.parse(
      JSON.stringify({
        ...o,
        metadata: {
          ...o.metadata,
          resourceVersion: undefined,
          managedFields: o.metadata?.managedFields?.map((m: any) => ({ ...m, time: undefined })),
        },
      }),
    );
  return isDeepStrictEqual(strip(a), strip(b));
}

function causeText(c: Cause): string {
  return `${c.field}: ${c.message}`;
}

/** What counts for metadata.generation: everything but status and metadata (labels etc. don't bump it). */
function stripForGeneration(obj: any): any {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.parse(JSON.stringify(rest));
}
