// A policy's expressions compiled when the policy is written: a syntax error, an undeclared reference or
// a result of the wrong type is a field error naming the expression (spec.validations[0].expression) and
// the position, as kube-apiserver reports CEL compile errors; nothing is stored.
import { Reason, type Cause } from '../../api/causes.ts';
import type { ValidatingAdmissionPolicySpec } from '../../api/kinds/admission-policy.ts';
import { compile, CompileError, type ExpressionRole } from '../cel/env.ts';
import type { PolicyProgramSpec } from '../evaluation/types.ts';

function cause(field: string, source: string, e: unknown): Cause {
  const detail = e instanceof CompileError ? e.describe() : `compilation failed: ${(e as Error).message}`;
  return { field, reason: Reason.Invalid, message: `Invalid value: ${JSON.stringify(source)}: ${detail}` };
}

/** The compile errors of a policy spec, as field causes (empty when every expression compiles). */
export function policyCompileErrors(spec: ValidatingAdmissionPolicySpec): Cause[] {
  const causes: Cause[] = [];
  const check = (
    field: string,
    source: string | undefined,
    role: ExpressionRole,
    declared: string[] = [],
  ) => {
    if (source === undefined || source.trim() === '') return;
    try {
      compile(source, role, declared);
    } catch (e) {
      causes.push(cause(field, source, e));
    }
  };
  for (const [i, m] of (spec.matchConditions ?? []).entries())
    check(`spec.matchConditions[${i}].expression`, m.expression, 'matchCondition');
  const declared: string[] = [];
  for (const [i, v] of (spec.variables ?? []).entries()) {
    check(`spec.variables[${i}].expression`, v.expression, 'variable', [...declared]);
    declared.push(v.name);
  }
  for (const [i, v] of (spec.validations ?? []).entries()) {
    check(`spec.validations[${i}].expression`, v.expression, 'validation', declared);
    check(`spec.validations[${i}].messageExpression`, v.messageExpression, 'messageExpression', declared);
  }
  for (const [i, a] of (spec.auditAnnotations ?? []).entries())
    check(`spec.auditAnnotations[${i}].valueExpression`, a.valueExpression, 'auditAnnotation', declared);
  return causes;
}

/** What the evaluator runs for a stored policy; the key changes with every generation. */
export function programSpec(policy: {
  metadata: { uid?: string; name?: string; generation?: number };
  spec: ValidatingAdmissionPolicySpec;
}): PolicyProgramSpec {
  const s = policy.spec;
  return {
    key: `${policy.metadata.uid ?? policy.metadata.name}/${policy.metadata.generation ?? 0}`,
    matchConditions: s.matchConditions ?? [],
    variables: s.variables ?? [],
    validations: s.validations ?? [],
    auditAnnotations: s.auditAnnotations ?? [],
  };
}
