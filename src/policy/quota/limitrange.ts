// LimitRange admission (kube's LimitRanger plugin): on pod create, each Container item of the namespace's
// LimitRanges fills in the requests and limits a container leaves out (defaultRequest, default), then every
// item's min, max and maxLimitRequestRatio are checked for containers, the pod as a whole, and claims.
// It runs before quota admission, so quota counts the defaulted amounts (kube's order).
//
// Strata's containers state cpu and memory only (the Pod schema's ResourceList); LimitRange entries for
// other resources are kept but do not apply to containers.
import { type KindInfo, type LimitRangeItem, forbidden, kindFor, limitAmount } from '../../api/index.ts';
import { formatAmount } from '../../api/kinds/resourcequota-usage.ts';
import { ApiError, type ObjectStore, type WriteOptions } from '../../store/objects.ts';

const LIMIT_RANGE = kindFor('v1', 'LimitRange')!;
const CONTAINER_RESOURCES = ['cpu', 'memory'] as const;
const DEFAULTED_ANNOTATION = 'kubernetes.io/limit-ranger';

/** Kube's LimitRange defaulting: default ← max, defaultRequest ← default (Container items). */
function effectiveDefaults(item: LimitRangeItem) {
  const limits = { ...(item.max ?? {}), ...(item.default ?? {}) };
  const requests = { ...limits, ...(item.defaultRequest ?? {}) };
  return { limits, requests };
}

const fmt = (res: string, v: number) => formatAmount(res, v);

/** The errors of `value` (a request, limit or claim size) against an item's bounds for `res`. */
function boundErrors(
  item: LimitRangeItem,
  res: string,
  scope: string,
  req: number | undefined,
  lim: number | undefined,
): string[] {
  const out: string[] = [];
  const min = item.min?.[res];
  const max = item.max?.[res];
  const ratio = item.maxLimitRequestRatio?.[res];
  if (min !== undefined) {
    const m = limitAmount(res, min);
    if (req === undefined) out.push(`minimum ${res} usage per ${scope} is ${min}.  No request is specified`);
    else if (req < m)
      out.push(`minimum ${res} usage per ${scope} is ${min}, but request is ${fmt(res, req)}`);
    if (lim !== undefined && lim < m)
      out.push(`minimum ${res} usage per ${scope} is ${min}, but limit is ${fmt(res, lim)}`);
  }
  if (max !== undefined) {
    const m = limitAmount(res, max);
    if (lim === undefined) out.push(`maximum ${res} usage per ${scope} is ${max}.  No limit is specified`);
    else if (lim > m) out.push(`maximum ${res} usage per ${scope} is ${max}, but limit is ${fmt(res, lim)}`);
  }
  if (ratio !== undefined) {
    const r = Number.isFinite(Number(ratio)) ? Number(ratio) : limitAmount('ratio', ratio);
    if (lim === undefined)
      out.push(`${res} max limit to request ratio per ${scope} is ${ratio}, but no limit is specified`);
    else if (req === undefined || req === 0)
      out.push(
        `${res} max limit to request ratio per ${scope} is ${ratio}, but no request is specified or request is 0`,
      );
    else if (lim / req > r)
      out.push(
        `${res} max limit to request ratio per ${scope} is ${ratio}, but provided ratio is ${(lim / req).toFixed(6)}`,
      );
  }
  return out;
}

function containerAmount(c: any, which: 'requests' | 'limits', res: string): number | undefined {
  const v = c.resources?.[which]?.[res];
  return v === undefined ? undefined : limitAmount(res, v);
}

export class LimitRangeAdmission {
  private readonly objects: ObjectStore;

  constructor(objects: ObjectStore) {
    this.objects = objects;
  }

  install(): void {
    this.objects.addCreateHook((obj, kind, opts) => this.admit(obj, kind, opts));
  }

  private async admit(obj: any, kind: KindInfo, opts: WriteOptions): Promise<void> {
    if (kind.group !== '' || (kind.kind !== 'Pod' && kind.kind !== 'PersistentVolumeClaim')) return;
    const ranges = (await this.objects.list(LIMIT_RANGE, obj.metadata.namespace)).items;
    if (!ranges.length) return;
    const items: LimitRangeItem[] = ranges.flatMap((r: any) => r.spec.limits ?? []);
    const errors = kind.kind === 'Pod' ? this.admitPod(obj, items, opts) : this.admitClaim(obj, items);
    if (errors.length) {
      const message = errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`;
      const status = forbidden(
        `${kind.plural} ${JSON.stringify(obj.metadata.name)} is forbidden: ${message}`,
      );
      status.details = { name: obj.metadata.name, kind: kind.plural };
      throw new ApiError(status);
    }
  }

  private admitPod(pod: any, items: LimitRangeItem[], opts: WriteOptions): string[] {
    const containers: any[] = [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])];
    const set: string[] = [];
    for (const item of items.filter((i) => i.type === 'Container')) {
      const { limits, requests } = effectiveDefaults(item);
      for (const c of containers) {
        const filled: Record<'request' | 'limit', string[]> = { request: [], limit: [] };
        for (const res of CONTAINER_RESOURCES) {
          if (c.resources?.limits?.[res] === undefined && limits[res] !== undefined) {
            c.resources = { ...c.resources, limits: { ...c.resources?.limits, [res]: String(limits[res]) } };
            filled.limit.push(res);
          }
          if (c.resources?.requests?.[res] === undefined && requests[res] !== undefined) {
            // Never default a request above the container's own limit.
            const lim = containerAmount(c, 'limits', res);
            const want = String(requests[res]);
            const value = lim !== undefined && limitAmount(res, want) > lim ? c.resources.limits[res] : want;
            c.resources = { ...c.resources, requests: { ...c.resources?.requests, [res]: value } };
            filled.request.push(res);
          }
        }
        for (const which of ['request', 'limit'] as const)
          if (filled[which].length) set.push(`${filled[which].join(', ')} ${which} for container ${c.name}`);
      }
    }
    if (set.length) {
      pod.metadata.annotations = {
        ...pod.metadata.annotations,
        [DEFAULTED_ANNOTATION]: `LimitRanger plugin set: ${set.join('; ')}`,
      };
      opts.annotate?.(DEFAULTED_ANNOTATION, set.join('; '));
    }
    const errors: string[] = [];
    for (const item of items) {
      const resources = new Set([
        ...Object.keys(item.min ?? {}),
        ...Object.keys(item.max ?? {}),
        ...Object.keys(item.maxLimitRequestRatio ?? {}),
      ]);
      for (const res of resources) {
        if (!(CONTAINER_RESOURCES as readonly string[]).includes(res)) continue;
        if (item.type === 'Container')
          for (const c of containers)
            errors.push(
              ...boundErrors(
                item,
                res,
                'Container',
                containerAmount(c, 'requests', res),
                containerAmount(c, 'limits', res),
              ),
            );
        else if (item.type === 'Pod') {
          const sum = (which: 'requests' | 'limits') => {
            let total = 0;
            for (const c of pod.spec.containers ?? []) {
              const a = containerAmount(c, which, res);
              if (a === undefined) return undefined;
              total += a;
            }
            return total;
          };
          errors.push(...boundErrors(item, res, 'Pod', sum('requests'), sum('limits')));
        }
      }
    }
    return errors;
  }

  private admitClaim(pvc: any, items: LimitRangeItem[]): string[] {
    const storage = pvc.spec?.resources?.requests?.storage;
    const req = storage === undefined ? undefined : limitAmount('storage', storage);
    const errors: string[] = [];
    for (const item of items.filter((i) => i.type === 'PersistentVolumeClaim')) {
      if (
        item.min?.storage !== undefined &&
        req !== undefined &&
        req < limitAmount('storage', item.min.storage)
      )
        errors.push(
          `minimum storage usage per PersistentVolumeClaim is ${item.min.storage}, but request is ${fmt('storage', req)}`,
        );
      if (
        item.max?.storage !== undefined &&
        req !== undefined &&
        req > limitAmount('storage', item.max.storage)
      )
        errors.push(
          `maximum storage usage per PersistentVolumeClaim is ${item.max.storage}, but request is ${fmt('storage', req)}`,
        );
    }
    return errors;
  }
}

export function installLimitRangeAdmission(objects: ObjectStore): LimitRangeAdmission {
  const a = new LimitRangeAdmission(objects);
  a.install();
  return a;
}
