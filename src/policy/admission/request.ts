// The `request` variable of policy expressions: admission.k8s.io/v1 AdmissionRequest's fields, as
// kube-apiserver builds them for ValidatingAdmissionPolicy.
import type { KindInfo } from '../../api/index.ts';
import type { WriteOptions } from '../../store/objects.ts';
import type { Operation } from './matching.ts';

export function admissionRequest(
  kind: KindInfo,
  operation: Operation,
  name: string,
  namespace: string | undefined,
  opts: WriteOptions,
): Record<string, unknown> {
  const gvk = { group: kind.group, version: kind.version, kind: kind.kind };
  const gvr = { group: kind.group, version: kind.version, resource: kind.plural };
  return {
    kind: gvk,
    resource: gvr,
    subResource: '',
    requestKind: gvk,
    requestResource: gvr,
    requestSubResource: '',
    name,
    namespace: namespace ?? '',
    operation,
    userInfo: opts.user
      ? {
          username: opts.user.username,
          uid: opts.user.uid ?? '',
          groups: opts.user.groups,
          extra: opts.user.extra ?? {},
        }
      : {},
    dryRun: opts.dryRun ?? false,
  };
}
