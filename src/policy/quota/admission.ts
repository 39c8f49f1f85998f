// ResourceQuota admission (kube's ResourceQuota plugin): every create or update of a namespaced object is
// charged against the quotas of its namespace that cover it. Within one namespace, charges run one at a
// time (KeyedSerializer) and each quota's status.used is written with compare-and-swap on its
// resourceVersion, retried on conflict — so 50 concurrent creates against `pods: 10` admit exactly 10 and
// used reads 10. A refusal is kube's 403: `exceeded quota: NAME, requested: …, used: …, limited: …`.
//
// Charges happen before the object is stored; one that is never stored (the write failed after admission)
// is released by the quota controller's recount (src/controllers/resourcequota.ts), as in kube. The
// controller also learns of charges still in flight (`pending`) so a recount does not drop them.
import { type KindInfo, forbidden, kindFor } from '../../api/index.ts';
import {
  type Usage,
  addUsage,
  formatAmount,
  hardAmounts,
  kindsCountedBy,
  parseUsed,
  quotaCovers,
  usageOf,
  usedStatus,
} from '../../api/kinds/resourcequota-usage.ts';
import { ApiError, type ObjectStore, type WriteOptions } from '../../store/objects.ts';
import { KeyedSerializer } from './serialize.ts';

const QUOTA = kindFor('v1', 'ResourceQuota')!;
const CONFLICT_RETRIES = 10;
/** How long a charge whose object has not appeared yet still counts in a recount. */
const PENDING_TTL_MS = 30_000;

/** A charge admitted but possibly not yet visible in the store. */
export interface PendingCharge {
  /** `plural.group/name`: matches the object once it is listed. */
  key: string;
  kind: KindInfo;
  object: any;
  at: number;
}

export const chargeKey = (kind: KindInfo, name: string) => `${kind.plural}.${kind.group}/${name}`;

/** Compute resources a covering quota requires every container to state (kube: "must specify"). */
const REQUIRED_COMPUTE: Record<string, (c: any) => boolean> = {
  cpu: (c) => c.resources?.requests?.cpu !== undefined || c.resources?.limits?.cpu !== undefined,
  'requests.cpu': (c) => c.resources?.requests?.cpu !== undefined || c.resources?.limits?.cpu !== undefined,
  memory: (c) => c.resources?.requests?.memory !== undefined || c.resources?.limits?.memory !== undefined,
  'requests.memory': (c) =>
    c.resources?.requests?.memory !== undefined || c.resources?.limits?.memory !== undefined,
  'limits.cpu': (c) => c.resources?.limits?.cpu !== undefined,
  'limits.memory': (c) => c.resources?.limits?.memory !== undefined,
};

function prettyPrint(usage: Usage, resources: readonly string[]): string {
  return resources.map((r) => `${r}=${formatAmount(r, usage.get(r) ?? 0)}`).join(',');
}

export class QuotaAdmission {
  private readonly objects: ObjectStore;
  private readonly serializer = new KeyedSerializer();
  private readonly pendingByNamespace = new Map<string, Map<string, PendingCharge>>();

  constructor(objects: ObjectStore) {
    this.objects = objects;
  }

  install(): void {
    this.objects.addCreateHook((obj, kind, opts) => this.admit(obj, undefined, kind, opts));
    this.objects.addUpdateHook((next, current, kind, opts) => this.admit(next, current, kind, opts));
  }

  /** Charges admitted in a namespace whose objects a recount may not see yet (the controller asks). */
  pending(namespace: string): PendingCharge[] {
    const m = this.pendingByNamespace.get(namespace);
    if (!m) return [];
    const now = Date.now();
    for (const [k, c] of m) if (now - c.at > PENDING_TTL_MS) m.delete(k);
    return [...m.values()];
  }

  /** The recount saw the object (or its absence long enough): the charge is settled. */
  settle(namespace: string, key: string): void {
    this.pendingByNamespace.get(namespace)?.delete(key);
  }

  /** Serializes `work` with the admissions of a namespace (the controller's recount uses it). */
  serialize<T>(namespace: string, work: () => Promise<T>): Promise<T> {
    return this.serializer.run(namespace, work);
  }

  private async admit(obj: any, current: any, kind: KindInfo, opts: WriteOptions): Promise<void> {
    if (!kind.namespaced) return;
    const namespace = obj.metadata?.namespace;
    if (!namespace) return;
    // A cheap look first: most namespaces have no quota.
    if (!(await this.objects.list(QUOTA, namespace)).items.length) return;
    const delta = usageOf(kind, obj);
    if (current) {
      // Updates pay only for growth (a claim resized up, a pod's resources changed).
      const before = usageOf(kind, current);
      for (const [r, a] of delta) delta.set(r, Math.max(0, a - (before.get(r) ?? 0)));
    }
    if (![...delta.values()].some((a) => a > 0)) return;
    await this.serializer.run(namespace, () => this.charge(namespace, kind, obj, delta, opts));
  }

  private async charge(namespace: string, kind: KindInfo, obj: any, delta: Usage, opts: WriteOptions) {
    for (let attempt = 0; ; attempt++) {
      const quotas = (await this.objects.list(QUOTA, namespace)).items;
      const writes: { quota: any; used: Usage }[] = [];
      for (const quota of quotas) {
        if (!quotaCovers(quota, kind, obj)) continue;
        const hard = hardAmounts(quota);
        const tracked = [...delta.keys()].filter((r) => hard.has(r) && (delta.get(r) ?? 0) > 0).sort();
        if (!tracked.length && !this.requiredCompute(quota, kind, obj).length) continue;
        this.refuseMissingCompute(quota, kind, obj);
        if (!tracked.length) continue;
        const used = (await this.currentUsed(quota, namespace)) ?? new Map();
        const exceeded = tracked.filter((r) => (used.get(r) ?? 0) + delta.get(r)! > hard.get(r)!);
        if (exceeded.length) {
          const status = forbidden(
            `${this.label(kind)} ${JSON.stringify(obj.metadata.name)} is forbidden: exceeded quota: ${quota.metadata.name}, requested: ${prettyPrint(delta, exceeded)}, used: ${prettyPrint(used, exceeded)}, limited: ${prettyPrint(hard, exceeded)}`,
          );
          status.details = { name: obj.metadata.name, group: kind.group, kind: kind.plural };
          throw new ApiError(status);
        }
        const next = new Map(used);
        for (const r of tracked) next.set(r, (next.get(r) ?? 0) + delta.get(r)!);
        writes.push({ quota, used: next });
      }
      if (opts.dryRun || !writes.length) return;
      try {
        for (const w of writes) {
          await this.objects.updateStatus(QUOTA, namespace, w.quota.metadata.name, {
            metadata: { resourceVersion: w.quota.metadata.resourceVersion },
            status: { hard: { ...w.quota.spec.hard }, used: usedStatus(w.quota, w.used) },
          });
        }
        this.remember(namespace, kind, obj);
        return;
      } catch (err) {
        // Another server (or the controller) wrote the quota meanwhile: read it again and retry, as kube does.
        if (!(err instanceof ApiError && err.code === 409) || attempt >= CONFLICT_RETRIES) throw err;
      }
    }
  }

  private remember(namespace: string, kind: KindInfo, obj: any): void {
    let m = this.pendingByNamespace.get(namespace);
    if (!m) this.pendingByNamespace.set(namespace, (m = new Map()));
    const key = chargeKey(kind, obj.metadata.name);
    m.set(key, { key, kind, object: structuredClone(obj), at: Date.now() });
  }

  /** status.used, or a full recount when the quota has never been counted or its hard set changed. */
  private async currentUsed(quota: any, namespace: string): Promise<Usage | undefined> {
    const used = parseUsed(quota);
    const hardKeys = Object.keys(quota.spec.hard ?? {})
      .sort()
      .join(',');
    const statusKeys = Object.keys(quota.status?.hard ?? {})
      .sort()
      .join(',');
    if (used && hardKeys === statusKeys) return used;
    const fresh: Usage = new Map();
    const kinds = new Map<string, KindInfo>();
    for (const r of Object.keys(quota.spec.hard ?? {}))
      for (const k of kindsCountedBy(r)) kinds.set(k.kind, k);
    for (const k of kinds.values()) addUsage(fresh, quota, k, (await this.objects.list(k, namespace)).items);
    return fresh;
  }

  private requiredCompute(quota: any, kind: KindInfo, obj: any): string[] {
    if (!(kind.group === '' && kind.kind === 'Pod')) return [];
    const missing: string[] = [];
    for (const r of Object.keys(quota.spec.hard ?? {}).sort()) {
      const has = REQUIRED_COMPUTE[r];
      if (!has) continue;
      const without = [...(obj.spec?.initContainers ?? []), ...(obj.spec?.containers ?? [])]
        .filter((c) => !has(c))
        .map((c) => c.name);
      if (without.length) missing.push(`${r} for: ${without.join(',')}`);
    }
    return missing;
  }

  private refuseMissingCompute(quota: any, kind: KindInfo, obj: any): void {
    const missing = this.requiredCompute(quota, kind, obj);
    if (!missing.length) return;
    const status = forbidden(
      `${this.label(kind)} ${JSON.stringify(obj.metadata.name)} is forbidden: failed quota: ${quota.metadata.name}: must specify ${missing.join('; ')}`,
    );
    status.details = { name: obj.metadata.name, group: kind.group, kind: kind.plural };
    throw new ApiError(status);
  }

  private label(kind: KindInfo): string {
    return kind.group ? `${kind.plural}.${kind.group}` : kind.plural;
  }
}

export function installQuotaAdmission(objects: ObjectStore): QuotaAdmission {
  const q = new QuotaAdmission(objects);
  q.install();
  return q;
}
