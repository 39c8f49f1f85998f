// Pod Security admission: the PodSecurity plugin of kube-apiserver as ObjectStore hooks.
//
// - Pods (create): the namespace's enforce level refuses a violating pod (403, kube's message); audit
//   records `pod-security.kubernetes.io/audit-violations`; warn adds a `Warning:` header. Controllers'
//   pods (no API caller) are judged too: that is where a Deployment's pods are refused, as in kube.
// - Workloads (create/update of a pod template): warn and audit only — a Deployment is never refused for
//   its template, its pods are.
// - Namespaces: Pod Security label values are validated; raising `enforce` warns about the existing pods
//   that would now be refused (they keep running).
// Exemptions (usernames, runtime classes, namespaces) come from the config, as kube's do.
import { type KindInfo, forbidden, inferRuntimeClass, invalid, kindFor } from '../../api/index.ts';
import { ApiError, type ObjectStore, type WriteOptions } from '../../store/objects.ts';
import { type CheckResult, type Tier, evaluatePod, formatViolations } from './checks.ts';
import { type PodSecurityConfig, type Policy, defaultPodSecurityConfig } from './config.ts';
import { LABEL_PREFIX, labelCauses, namespacePolicies, policyName } from './labels.ts';

/** Where each workload kind keeps its pod template. */
const TEMPLATE_PATHS: Record<string, (obj: any) => any> = {
  'apps/Deployment': (o) => o.spec?.template,
  'apps/ReplicaSet': (o) => o.spec?.template,
  'apps/StatefulSet': (o) => o.spec?.template,
  'apps/DaemonSet': (o) => o.spec?.template,
  'batch/Job': (o) => o.spec?.template,
  'batch/CronJob': (o) => o.spec?.jobTemplate?.spec?.template,
};

const AUDIT_VIOLATIONS = `${LABEL_PREFIX}audit-violations`;
const ENFORCE_POLICY = `${LABEL_PREFIX}enforce-policy`;
const EXEMPT = `${LABEL_PREFIX}exempt`;

function tierOf(spec: any): Tier {
  return spec?.runtimeClassName ?? inferRuntimeClass((spec?.containers ?? []).map((c: any) => c.image));
}

function judge(policy: Policy, pod: { metadata?: any; spec: any }): CheckResult[] {
  return evaluatePod(policy.level, pod, tierOf(pod.spec));
}

export class PodSecurityAdmission {
  private readonly objects: ObjectStore;
  private readonly config: PodSecurityConfig;

  constructor(objects: ObjectStore, config: PodSecurityConfig = defaultPodSecurityConfig()) {
    this.objects = objects;
    this.config = config;
  }

  /** Registers the create and update hooks on the store. */
  install(): void {
    this.objects.addCreateHook((obj, kind, opts) => this.admit(obj, undefined, kind, opts));
    this.objects.addUpdateHook((next, current, kind, opts) => this.admit(next, current, kind, opts));
  }

  private async admit(obj: any, current: any, kind: KindInfo, opts: WriteOptions): Promise<void> {
    if (kind.group === '' && kind.kind === 'Namespace') return this.admitNamespace(obj, current, opts);
    if (kind.group === '' && kind.kind === 'Pod') {
      // Kube judges pod updates only for the fields that can change; none of them is a security field.
      if (!current) await this.admitPod(obj, kind, opts);
      return;
    }
    const template = TEMPLATE_PATHS[`${kind.group}/${kind.kind}`]?.(obj);
    if (!template?.spec) return;
    if (
      current &&
      JSON.stringify(TEMPLATE_PATHS[`${kind.group}/${kind.kind}`]!(current)) === JSON.stringify(template)
    )
      return;
    await this.admitTemplate(obj, template, opts);
  }

  private exemption(namespace: string, spec: any, opts: WriteOptions): string | undefined {
    const ex = this.config.exemptions;
    if (ex.namespaces.includes(namespace)) return 'namespace';
    if (opts.user && ex.usernames.includes(opts.user.username)) return 'user';
    if (spec?.runtimeClassName && ex.runtimeClasses.includes(spec.runtimeClassName)) return 'runtimeClass';
    return undefined;
  }

  private async policiesFor(namespace: string) {
    const nsKind = kindFor('v1', 'Namespace')!;
    const ns = await this.objects.get(nsKind, undefined, namespace);
    return namespacePolicies(ns?.metadata?.labels, this.config);
  }

  private async admitPod(pod: any, kind: KindInfo, opts: WriteOptions): Promise<void> {
    const namespace = pod.metadata.namespace;
    const exempt = this.exemption(namespace, pod.spec, opts);
    if (exempt) {
      opts.annotate?.(EXEMPT, exempt);
      return;
    }
    const policies = await this.policiesFor(namespace);
    const enforced = judge(policies.enforce, pod);
    opts.annotate?.(ENFORCE_POLICY, policyName(policies.enforce));
    if (enforced.length) {
      const status = forbidden(
        `pods ${JSON.stringify(pod.metadata.name)} is forbidden: violates PodSecurity ${JSON.stringify(policyName(policies.enforce))}: ${formatViolations(enforced)}`,
      );
      status.details = { name: pod.metadata.name, kind: kind.plural };
      throw new ApiError(status);
    }
    this.auditAndWarn(policies.audit, policies.warn, pod, opts);
  }

  private async admitTemplate(workload: any, template: any, opts: WriteOptions): Promise<void> {
    const namespace = workload.metadata.namespace;
    if (this.exemption(namespace, template.spec, opts)) return;
    const policies = await this.policiesFor(namespace);
    this.auditAndWarn(policies.audit, policies.warn, template, opts);
  }

  private auditAndWarn(audit: Policy, warn: Policy, pod: any, opts: WriteOptions): void {
    const audited = judge(audit, pod);
    if (audited.length)
      opts.annotate?.(
        AUDIT_VIOLATIONS,
        `would violate PodSecurity ${JSON.stringify(policyName(audit))}: ${formatViolations(audited)}`,
      );
    const warned = judge(warn, pod);
    if (warned.length)
      opts.warn?.(
        `would violate PodSecurity ${JSON.stringify(policyName(warn))}: ${formatViolations(warned)}`,
      );
  }

  private async admitNamespace(ns: any, current: any, opts: WriteOptions): Promise<void> {
    const labels = ns.metadata?.labels;
    const causes = labelCauses(labels);
    if (causes.length) throw new ApiError(invalid(kindFor('v1', 'Namespace')!, ns.metadata.name, causes));
    if (!current) return;
    const before = namespacePolicies(current.metadata?.labels, this.config).enforce;
    const after = namespacePolicies(labels, this.config).enforce;
    if (policyName(before) === policyName(after) || after.level === 'privileged') return;
    if (this.config.exemptions.namespaces.includes(ns.metadata.name)) return;
    await this.warnExistingPods(ns.metadata.name, after, opts);
  }

  /** Kube's namespace-label dry run: one warning naming the new level, then one per violating pod. */
  private async warnExistingPods(namespace: string, policy: Policy, opts: WriteOptions): Promise<void> {
    if (!opts.warn) return;
    const pods = (await this.objects.list(kindFor('v1', 'Pod')!, namespace)).items;
    const lines: string[] = [];
    for (const pod of pods) {
      if (
        pod.spec?.runtimeClassName &&
        this.config.exemptions.runtimeClasses.includes(pod.spec.runtimeClassName)
      )
        continue;
      const results = judge(policy, pod);
      if (results.length) lines.push(`${pod.metadata.name}: ${results.map((r) => r.reason).join(', ')}`);
    }
    if (!lines.length) return;
    opts.warn(
      `existing pods in namespace ${JSON.stringify(namespace)} violate the new PodSecurity enforce level ${JSON.stringify(policyName(policy))}`,
    );
    for (const line of lines) opts.warn(line);
  }
}

/** Installs Pod Security admission on a store (the control plane calls this once). */
export function installPodSecurity(objects: ObjectStore, config?: PodSecurityConfig): PodSecurityAdmission {
  const admission = new PodSecurityAdmission(objects, config);
  admission.install();
  return admission;
}
