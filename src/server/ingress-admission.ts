// DefaultIngressClass admission, as kube-apiserver's plugin does it: an Ingress created without
// spec.ingressClassName (and without the legacy kubernetes.io/ingress.class annotation) gets the name of
// the IngressClass annotated ingressclass.kubernetes.io/is-default-class: "true" — the newest when several
// are (Kubernetes ≥ 1.30). With no default class it keeps none.
import { DEFAULT_INGRESS_CLASS_ANNOTATION, kindFor, strataIngressClass } from '../api/index.ts';
import { ApiError, type CreateHook, type ObjectStore } from '../store/objects.ts';

const INGRESS_CLASS = kindFor('networking.k8s.io/v1', 'IngressClass')!;
const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

export function defaultIngressClassAdmission(objects: ObjectStore): CreateHook {
  return async (obj, kind) => {
    if (kind.group !== 'networking.k8s.io' || kind.kind !== 'Ingress') return;
    if (obj.spec?.ingressClassName !== undefined) return;
    if (obj.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION] !== undefined) return;
    let best: any;
    for (const c of (await objects.list(INGRESS_CLASS)).items) {
      if (c.metadata.annotations?.[DEFAULT_INGRESS_CLASS_ANNOTATION] !== 'true') continue;
      const ts = (x: any): string => x.metadata.creationTimestamp ?? '';
      if (!best || ts(c) > ts(best) || (ts(c) === ts(best) && c.metadata.name < best.metadata.name)) best = c;
    }
    if (best) obj.spec = { ...obj.spec, ingressClassName: best.metadata.name };
  };
}

/**
 * The `strata` IngressClass (the node gateway's, the cluster's default) exists from the first start, so
 * Ingresses created before any node joins get it too; one an administrator removed comes back at the next
 * start, as K3s does with its bundled class.
 */
export async function ensureStrataIngressClass(objects: ObjectStore): Promise<void> {
  try {
    await objects.create(strataIngressClass());
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 409)) throw err;
  }
}
