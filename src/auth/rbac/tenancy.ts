// The tenancy guard: host access is for cluster administrators. A caller who does not hold `*` on `*`
// (cluster-admin, system:masters) cannot create a pod — or a workload whose template makes one — with a
// hostPath volume, a privileged container, or the host's network, PID or IPC namespace: any of these
// would let one tenant reach the node and, through it, every other tenant. Answered 403 naming the field.
// Pod Security admission (the policy issue) makes this configurable per namespace; it can subsume this.
import type { KindInfo } from '../../api/index.ts';
import { statusFailure } from '../../api/status.ts';
import { ApiError, type WriteOptions } from '../../store/objects.ts';
import type { Authorizer } from '../authorizer.ts';

/** Where each kind keeps the pod spec it creates pods from. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  'v1/Pod': ['spec'],
  'apps/v1/Deployment': ['spec', 'template', 'spec'],
  'apps/v1/ReplicaSet': ['spec', 'template', 'spec'],
  'apps/v1/StatefulSet': ['spec', 'template', 'spec'],
  'apps/v1/DaemonSet': ['spec', 'template', 'spec'],
  'batch/v1/Job': ['spec', 'template', 'spec'],
  'batch/v1/CronJob': ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** The host-access fields a pod spec uses, as Kubernetes field paths under `prefix`. */
export function hostAccessFields(spec: any, prefix: string): string[] {
  if (!spec || typeof spec !== 'object') return [];
  const out: string[] = [];
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[ns] === true) out.push(`${prefix}.${ns}`);
  (spec.volumes ?? []).forEach((v: any, i: number) => {
    if (v?.hostPath) out.push(`${prefix}.volumes[${i}].hostPath`);
  });
  for (const list of ['initContainers', 'containers', 'ephemeralContainers'])
    (spec[list] ?? []).forEach((c: any, i: number) => {
      if (c?.securityContext?.privileged === true)
        out.push(`${prefix}.${list}[${i}].securityContext.privileged`);
    });
  return out;
}

export class TenancyGuard {
  private readonly authorizer: Authorizer;

  constructor(authorizer: Authorizer) {
    this.authorizer = authorizer;
  }

  readonly onCreate = (obj: any, kind: KindInfo, opts: WriteOptions) => this.check(obj, kind, opts);
  readonly onUpdate = (next: any, _current: any, kind: KindInfo, opts: WriteOptions) =>
    this.check(next, kind, opts);

  private async check(obj: any, kind: KindInfo, opts: WriteOptions): Promise<void> {
    const path = POD_SPEC_PATHS[`${kind.apiVersion}/${kind.kind}`];
    if (!path || !opts.user) return;
    let spec = obj;
    for (const p of path) spec = spec?.[p];
    const fields = hostAccessFields(spec, path.join('.'));
    if (fields.length === 0) return;
    // Cluster-wide only: a RoleBinding to cluster-admin in one namespace does not make a node administrator.
    const admin = await this.authorizer.authorize({
      user: { via: 'token', ...opts.user },
      verb: '*',
      resourceRequest: true,
      apiGroup: '*',
      resource: '*',
      path: '',
    });
    if (admin.decision === 'allow') return;
    const name = obj.metadata?.name ?? obj.metadata?.generateName ?? '';
    const causes = fields.map((field) => ({
      field,
      reason: 'FieldValueForbidden',
      message: 'Forbidden: host access is allowed only to cluster administrators',
    }));
    throw new ApiError(
      statusFailure(
        403,
        'Forbidden',
        `${kind.plural}${kind.group ? `.${kind.group}` : ''} "${name}" is forbidden: user "${opts.user.username}" may not use host access (only cluster administrators may): ${fields.map((f) => `${f}: Forbidden`).join(', ')}`,
        { name, group: kind.group, kind: kind.plural, causes },
      ),
    );
  }
}
