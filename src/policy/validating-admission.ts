// The ValidatingAdmissionPolicy admission plugin. For an API write (create or update with a caller:
// `opts.user`) and every create by the control plane's own controllers, every binding whose policy
// matches the request (matchConstraints, then the binding's
// matchResources) is evaluated — off the main thread, with a deadline (evaluation/pool.ts) — and its
// failures applied by the binding's validationActions, as kube-apiserver does:
//   Deny  → the write is refused: `ValidatingAdmissionPolicy 'p' with binding 'b' denied request: msg`,
//           403 for reason Forbidden, 422 for Invalid (the default), 401, 413;
//   Warn  → a `Warning:` header (kubectl prints it): `Validation failed for ValidatingAdmissionPolicy …`;
//   Audit → the audit annotation validation.policy.admission.k8s.io/validation_failure (JSON list).
// An evaluation error (including a budget overrun) follows the policy's failurePolicy: Fail treats it
// as a failure under the binding's actions; Ignore lets the write through and records the error in the
// audit annotation policies.strata.dev/evaluation_error.
// Writes of policies themselves are checked here too: their expressions must compile (422 naming the
// field otherwise). Every Deny/Warn/Audit outcome is recorded as a violation (reports/violations.ts).
// Deletes are not admitted (ObjectStore has no delete hook).
import { invalid, kindFor, labelSelectorMatcher, statusFailure, type KindInfo } from '../api/index.ts';
import type {
  ValidatingAdmissionPolicy,
  ValidatingAdmissionPolicyBinding,
  ValidationAction,
} from '../api/kinds/admission-policy.ts';
import { Informer } from '../lib/informer.ts';
import { objectStoreListWatch } from '../store/list-watch.ts';
import { ApiError, type ObjectStore, type WriteOptions } from '../store/objects.ts';
import { policyCompileErrors, programSpec } from './admission/compile-policy.ts';
import { matchResources, type MatchRequest, type Operation } from './admission/matching.ts';
import { admissionRequest } from './admission/request.ts';
import { EvaluatorPool, type EvaluatorPoolOptions } from './evaluation/pool.ts';
import type { EvaluationInput, EvaluationItem, PolicyOutcome } from './evaluation/types.ts';
import { policyLabels, setActiveViolationLog, ViolationLog, type Violation } from './reports/violations.ts';

export const VALIDATION_FAILURE_ANNOTATION = 'validation.policy.admission.k8s.io/validation_failure';
export const EVALUATION_ERROR_ANNOTATION = 'policies.strata.dev/evaluation_error';

const REASON_CODES: Record<string, number> = {
  Unauthorized: 401,
  Forbidden: 403,
  Invalid: 422,
  RequestEntityTooLarge: 413,
};

export function policyKind(): KindInfo {
  return kindFor('admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicy')!;
}
export function bindingKind(): KindInfo {
  return kindFor('admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicyBinding')!;
}

export interface ValidatingAdmissionOptions extends EvaluatorPoolOptions {
  /** Violations kept in memory (default 1000). */
  violationLimit?: number;
}

/** Who the control plane's in-process controllers write as (kube-controller-manager's identity). */
const CONTROL_PLANE_USER = { username: 'system:kube-controller-manager', groups: ['system:authenticated'] };

/** One binding of one policy to evaluate for a request, and how to act on its outcome. */
export interface Applicable {
  policy: ValidatingAdmissionPolicy;
  binding: ValidatingAdmissionPolicyBinding;
  item?: EvaluationItem;
  /** Set when the binding failed before evaluation (missing params with parameterNotFoundAction Deny…). */
  configError?: string;
}

export class ValidatingAdmission {
  readonly violations: ViolationLog;
  readonly pool: EvaluatorPool;
  readonly policies: Informer<ValidatingAdmissionPolicy>;
  readonly bindings: Informer<ValidatingAdmissionPolicyBinding>;
  private readonly namespaces: Informer<any>;
  private readonly objects: ObjectStore;

  constructor(objects: ObjectStore, opts: ValidatingAdmissionOptions = {}) {
    this.objects = objects;
    this.pool = new EvaluatorPool(opts);
    this.violations = new ViolationLog(opts.violationLimit);
    const quiet = { onError: () => {} };
    this.policies = new Informer(objectStoreListWatch(objects, policyKind()), quiet);
    this.bindings = new Informer(objectStoreListWatch(objects, bindingKind()), quiet);
    this.namespaces = new Informer(objectStoreListWatch(objects, kindFor('v1', 'Namespace')!), quiet);
  }

  /** Adds the create and update hooks to the store and starts watching policies, bindings and namespaces. */
  async install(): Promise<void> {
    this.objects.addCreateHook((obj, kind, opts) => this.admit('CREATE', obj, null, kind, opts));
    this.objects.addUpdateHook((next, current, kind, opts) =>
      this.admit('UPDATE', next, current, kind, opts),
    );
    // The first binding starts the evaluation workers, so the first request does not wait for them.
    this.bindings.addHandler({ onAdd: () => this.pool.warm() });
    this.policies.start();
    this.bindings.start();
    this.namespaces.start();
    await Promise.all([
      this.policies.waitForSync(),
      this.bindings.waitForSync(),
      this.namespaces.waitForSync(),
    ]);
    setActiveViolationLog(this.violations);
  }

  async stop(): Promise<void> {
    this.policies.stop();
    this.bindings.stop();
    this.namespaces.stop();
    setActiveViolationLog(undefined);
    await this.pool.close();
  }

  /** The admission step itself (exported for tests and the benchmark through the hooks). */
  async admit(operation: Operation, obj: any, old: any, kind: KindInfo, opts: WriteOptions): Promise<void> {
    if (kind.kind === 'ValidatingAdmissionPolicy' && kind.group === 'admissionregistration.k8s.io') {
      const causes = policyCompileErrors(obj.spec ?? {});
      if (causes.length) throw new ApiError(invalid(kind, obj.metadata?.name ?? '', causes));
    }
    // Pods (and any object) that the control plane's own controllers create are admitted like an API
    // client's — in Kubernetes they go through the API as kube-controller-manager — or a Deployment would
    // carry past a policy the pods it makes must meet. Their updates (binding, finalizers) are not: in
    // Kubernetes those go through subresources that pod rules do not match.
    if (!opts.user && operation !== 'CREATE') return;
    if (this.bindings.list().length === 0) return;
    opts = opts.user ? opts : { ...opts, user: CONTROL_PLANE_USER };
    const namespace: string | undefined = obj?.metadata?.namespace;
    const nsObject = kind.namespaced && namespace ? this.namespaceObject(namespace) : undefined;
    const req: MatchRequest = {
      operation,
      kind,
      subresource: '',
      name: obj?.metadata?.name ?? '',
      object: obj,
      oldObject: old,
      namespaceLabels: nsObject?.metadata?.labels,
    };
    const applicable = await this.applicable(req, namespace);
    if (applicable.length === 0) return;
    const input: EvaluationInput = {
      object: obj,
      oldObject: old,
      request: admissionRequest(kind, operation, req.name, namespace, opts),
      namespaceObject: nsObject ?? null,
    };
    const toRun = applicable.filter((a) => a.item);
    const outcomes = await this.pool.evaluate(
      input,
      toRun.map((a) => a.item!),
    );
    const byApplicable = new Map<Applicable, PolicyOutcome>(toRun.map((a, i) => [a, outcomes[i]]));
    this.decide(applicable, byApplicable, { operation, obj, kind, opts });
  }

  /** The namespace object from the watch cache (what namespaceSelector and `namespaceObject` see). */
  namespaceObject(name: string): any {
    return this.namespaces.get(name);
  }

  /** The bindings (with their policies and params) that apply to this request. */
  async applicable(req: MatchRequest, namespace: string | undefined): Promise<Applicable[]> {
    const out: Applicable[] = [];
    for (const binding of this.bindings.list()) {
      const policy = this.policies.get(binding.spec.policyName ?? '');
      if (!policy) continue;
      if (!matchResources(policy.spec.matchConstraints, req, true)) continue;
      if (!matchResources(binding.spec.matchResources, req, false)) continue;
      const spec = programSpec(policy);
      if (!policy.spec.paramKind) {
        out.push({ policy, binding, item: { spec, params: null } });
        continue;
      }
      const params = await this.params(policy, binding, namespace);
      if (typeof params === 'string') {
        if (params !== '') out.push({ policy, binding, configError: params });
        continue;
      }
      for (const p of params) out.push({ policy, binding, item: { spec, params: p } });
    }
    return out;
  }

  /**
   * The param objects of a binding: the named one, or those its selector matches. A string is a
   * configuration error to act on ('' when nothing should happen: parameterNotFoundAction Allow).
   */
  private async params(
    policy: ValidatingAdmissionPolicy,
    binding: ValidatingAdmissionPolicyBinding,
    requestNamespace: string | undefined,
  ): Promise<unknown[] | string> {
    const pk = policy.spec.paramKind!;
    const kind = kindFor(pk.apiVersion ?? '', pk.kind ?? '');
    if (!kind) return `failed to configure policy: paramKind ${pk.apiVersion}/${pk.kind} is not served`;
    const ref = binding.spec.paramRef;
    if (!ref) return 'failed to configure binding: no paramRef specified';
    const ns = kind.namespaced ? (ref.namespace ?? requestNamespace) : undefined;
    if (kind.namespaced && !ns)
      return 'failed to configure binding: no namespace for the params of a cluster-scoped request';
    let found: unknown[];
    if (ref.name) {
      const one = await this.objects.get(kind, ns, ref.name);
      found = one ? [one] : [];
    } else {
      const match = labelSelectorMatcher(ref.selector ?? {});
      found = (await this.objects.list(kind, ns)).items.filter((o: any) => match(o.metadata?.labels));
    }
    if (found.length > 0) return found;
    return ref.parameterNotFoundAction === 'Deny'
      ? 'no params found for policy binding with `Deny` parameterNotFoundAction'
      : '';
  }

  private decide(
    applicable: Applicable[],
    outcomes: Map<Applicable, PolicyOutcome>,
    ctx: { operation: Operation; obj: any; kind: KindInfo; opts: WriteOptions },
  ): void {
    const denials: { message: string; reason: string }[] = [];
    const auditFailures: object[] = [];
    const ignoredErrors: object[] = [];
    for (const a of applicable) {
      const policyName = a.policy.metadata.name!;
      const bindingName = a.binding.metadata.name!;
      const actions = (a.binding.spec.validationActions ?? []) as ValidationAction[];
      const labels = policyLabels(a.policy.metadata.annotations);
      const failures: {
        message: string;
        reason: string;
        rule: string;
        index?: number;
        result: 'fail' | 'error';
      }[] = [];
      const outcome = outcomes.get(a);
      if (a.configError)
        failures.push({ message: a.configError, reason: 'Invalid', rule: 'paramRef', result: 'error' });
      if (outcome && outcome.matched) {
        for (const f of outcome.failures)
          failures.push({
            message: f.message,
            reason: f.reason,
            rule: `validations[${f.index}]`,
            index: f.index,
            result: 'fail',
          });
        for (const an of outcome.auditAnnotations) ctx.opts.annotate?.(`${policyName}/${an.key}`, an.value);
        for (const err of outcome.errors) {
          if (a.policy.spec.failurePolicy === 'Ignore')
            ignoredErrors.push({ policy: policyName, binding: bindingName, error: err });
          else failures.push({ message: err, reason: 'Invalid', rule: 'evaluation', result: 'error' });
        }
      }
      for (const f of failures) {
        for (const action of actions) {
          if (action === 'Deny')
            denials.push({
              message: `ValidatingAdmissionPolicy '${policyName}' with binding '${bindingName}' denied request: ${f.message}`,
              reason: f.reason,
            });
          else if (action === 'Warn')
            ctx.opts.warn?.(
              `Validation failed for ValidatingAdmissionPolicy '${policyName}' with binding '${bindingName}': ${f.message}`,
            );
          else
            auditFailures.push({
              message: f.message,
              policy: policyName,
              binding: bindingName,
              ...(f.index !== undefined ? { expressionIndex: f.index } : {}),
              validationActions: actions,
            });
          this.violations.record(this.violation(ctx, a, f, action, labels));
        }
      }
    }
    if (auditFailures.length)
      ctx.opts.annotate?.(VALIDATION_FAILURE_ANNOTATION, JSON.stringify(auditFailures));
    if (ignoredErrors.length) ctx.opts.annotate?.(EVALUATION_ERROR_ANNOTATION, JSON.stringify(ignoredErrors));
    if (denials.length) {
      const first = denials[0];
      const code = REASON_CODES[first.reason] ?? 422;
      const message = denials.map((d) => d.message).join('; ');
      const name = ctx.obj?.metadata?.name ?? '';
      throw new ApiError(
        statusFailure(code, first.reason, message, {
          name,
          group: ctx.kind.group,
          kind: ctx.kind.plural,
          causes: denials.map((d) => ({ message: d.message, field: '', reason: d.reason })),
        } as never),
      );
    }
  }

  private violation(
    ctx: { operation: Operation; obj: any; kind: KindInfo; opts: WriteOptions },
    a: Applicable,
    f: { message: string; rule: string; result: 'fail' | 'error' },
    action: ValidationAction,
    labels: ReturnType<typeof policyLabels>,
  ): Violation {
    return {
      time: new Date(),
      user: ctx.opts.user?.username,
      operation: ctx.operation,
      resource: {
        apiVersion: ctx.kind.apiVersion,
        kind: ctx.kind.kind,
        namespace: ctx.obj?.metadata?.namespace,
        name: ctx.obj?.metadata?.name ?? '',
        uid: ctx.obj?.metadata?.uid,
      },
      policy: a.policy.metadata.name!,
      binding: a.binding.metadata.name!,
      rule: f.rule,
      action,
      severity: labels.severity,
      category: labels.category,
      message: f.message,
      result: f.result,
    };
  }
}
