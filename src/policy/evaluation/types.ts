// What the admission plugin hands the evaluator and what it gets back: plain data, so it crosses the
// worker boundary by structured clone.

/** A policy's expressions, compiled once per key (the policy's uid and generation). */
export interface PolicyProgramSpec {
  key: string;
  matchConditions: { name: string; expression: string }[];
  variables: { name: string; expression: string }[];
  validations: { expression: string; message?: string; messageExpression?: string; reason?: string }[];
  auditAnnotations: { key: string; valueExpression: string }[];
}

/** The request-scoped variables (JSON); `variables` is computed by the evaluator. */
export interface EvaluationInput {
  object: unknown;
  oldObject: unknown;
  request: unknown;
  namespaceObject: unknown;
}

/** One policy (or policy + binding + param) to evaluate against the request. */
export interface EvaluationItem {
  spec: PolicyProgramSpec;
  params: unknown;
}

export interface ValidationFailure {
  /** Index in spec.validations. */
  index: number;
  message: string;
  reason: string;
}

export interface PolicyOutcome {
  /** False when a matchCondition evaluated to false: the policy does not apply. */
  matched: boolean;
  failures: ValidationFailure[];
  auditAnnotations: { key: string; value: string }[];
  /**
   * Evaluation errors (a matchCondition or validation that failed to evaluate, a budget overrun): the
   * binding's failurePolicy decides what they mean.
   */
  errors: string[];
}
