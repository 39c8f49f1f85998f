// Puts the default ClusterRoles and bindings in place at server start, as kube-apiserver's
// rbac/bootstrap-roles post-start hook does: missing ones are created; existing ones annotated
// `rbac.authorization.kubernetes.io/autoupdate: "true"` get back the rules and subjects a release adds
// (nothing is removed, so an administrator's additions stay — except the exact rules an earlier Strata
// granted and this one retired); setting the annotation to "false" opts out.
import { isDeepStrictEqual } from 'node:util';
import { kindFor } from '../../api/index.ts';
import type { ClusterRole, ClusterRoleBinding } from '../../api/kinds/rbac.ts';
import { ApiError, type ObjectStore } from '../../store/objects.ts';
import {
  AUTOUPDATE_ANNOTATION,
  BOOTSTRAP_CLUSTER_ROLE_BINDINGS,
  BOOTSTRAP_CLUSTER_ROLES,
  RETIRED_BOOTSTRAP_RULES,
} from './bootstrap-policy.ts';

const CLUSTER_ROLE = kindFor('rbac.authorization.k8s.io/v1', 'ClusterRole')!;
const CLUSTER_ROLE_BINDING = kindFor('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding')!;

const autoupdate = (obj: { metadata: { annotations?: Record<string, string> } }) =>
  obj.metadata.annotations?.[AUTOUPDATE_ANNOTATION] !== 'false';

/** Union by deep equality: what `wanted` has that `have` lacks, appended. */
function union<T>(have: readonly T[], wanted: readonly T[]): T[] {
  const out = [...have];
  for (const w of wanted) if (!out.some((h) => isDeepStrictEqual(h, w))) out.push(w);
  return out;
}

async function createOrKeep(objects: ObjectStore, obj: unknown): Promise<boolean> {
  try {
    await objects.create(obj);
    return true;
  } catch (err) {
    // Another server of the cluster made it meanwhile.
    if (err instanceof ApiError && err.code === 409) return false;
    throw err;
  }
}

export async function reconcileBootstrapPolicy(objects: ObjectStore): Promise<void> {
  for (const role of BOOTSTRAP_CLUSTER_ROLES) {
    const current: ClusterRole | undefined = await objects.get(CLUSTER_ROLE, undefined, role.metadata.name!);
    if (!current) {
      await createOrKeep(objects, role);
      continue;
    }
    if (!autoupdate(current)) continue;
    // Aggregated roles' rules belong to the aggregation controller.
    const retired = RETIRED_BOOTSTRAP_RULES[role.metadata.name!] ?? [];
    const kept = (current.rules ?? []).filter((r) => !retired.some((x) => isDeepStrictEqual(r, x)));
    const rules = role.aggregationRule ? current.rules : union(kept, role.rules ?? []);
    const labels = { ...role.metadata.labels, ...current.metadata.labels };
    if (isDeepStrictEqual(rules, current.rules) && isDeepStrictEqual(labels, current.metadata.labels))
      continue;
    await objects.update({ ...current, rules, metadata: { ...current.metadata, labels } });
  }
  for (const b of BOOTSTRAP_CLUSTER_ROLE_BINDINGS) {
    const current: ClusterRoleBinding | undefined = await objects.get(
      CLUSTER_ROLE_BINDING,
      undefined,
      b.metadata.name!,
    );
    if (!current) {
      await createOrKeep(objects, b);
      continue;
    }
    if (!autoupdate(current)) continue;
    const subjects = union(current.subjects ?? [], b.subjects ?? []);
    if (isDeepStrictEqual(subjects, current.subjects)) continue;
    await objects.update({ ...current, subjects });
  }
}
