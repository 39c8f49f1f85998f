// Evaluates one policy against one request, as kube-apiserver's validating admission policy plugin does:
// matchConditions first (all true, or the policy does not apply; an error is an error), then the
// variables in order (each sees the ones before it), then every validation (false → a failure with its
// message, messageExpression or a default), then the audit annotations. Compiled programs are cached by
// the spec's key, so a policy's expressions are planned once per generation.
import { isCelError, type CelInput, type CelResult } from '@bufbuild/cel';
import { compile, program, type Activation, type Program } from '../cel/env.ts';
import { celToText, jsonToCel } from '../cel/values.ts';
import type { EvaluationInput, EvaluationItem, PolicyOutcome, PolicyProgramSpec } from './types.ts';

interface CompiledPolicy {
  matchConditions: { name: string; run: Program }[];
  variables: { name: string; run: Program }[];
  validations: { run: Program; message?: string; messageRun?: Program; reason: string; source: string }[];
  auditAnnotations: { key: string; run: Program }[];
}

const CACHE_LIMIT = 1024;
const cache = new Map<string, CompiledPolicy>();

function plan(source: string, role: Parameters<typeof compile>[1], declared: string[] = []): Program {
  return program(compile(source, role, declared).parsed);
}

/** The compiled form of a spec, from the cache when this key was seen. */
export function compiled(spec: PolicyProgramSpec): CompiledPolicy {
  const hit = cache.get(spec.key);
  if (hit) return hit;
  const declared: string[] = [];
  const out: CompiledPolicy = {
    matchConditions: spec.matchConditions.map((m) => ({
      name: m.name,
      run: plan(m.expression, 'matchCondition'),
    })),
    variables: spec.variables.map((v) => {
      const run = plan(v.expression, 'variable', declared);
      declared.push(v.name);
      return { name: v.name, run };
    }),
    validations: spec.validations.map((v) => ({
      run: plan(v.expression, 'validation', declared),
      message: v.message,
      messageRun: v.messageExpression ? plan(v.messageExpression, 'messageExpression', declared) : undefined,
      reason: v.reason ?? 'Invalid',
      source: v.expression,
    })),
    auditAnnotations: spec.auditAnnotations.map((a) => ({
      key: a.key,
      run: plan(a.valueExpression, 'auditAnnotation', declared),
    })),
  };
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(spec.key, out);
  return out;
}

/** The activation shared by every policy of a request (the object converted once). */
export function activationFor(input: EvaluationInput): Activation {
  return {
    object: jsonToCel(input.object),
    oldObject: jsonToCel(input.oldObject),
    request: jsonToCel(input.request),
    namespaceObject: jsonToCel(input.namespaceObject),
  };
}

function errorText(r: CelResult): string {
  return isCelError(r) ? r.message : String(r);
}

export function evaluatePolicy(base: Activation, item: EvaluationItem): PolicyOutcome {
  const outcome: PolicyOutcome = { matched: true, failures: [], auditAnnotations: [], errors: [] };
  let policy: CompiledPolicy;
  try {
    policy = compiled(item.spec);
  } catch (e) {
    outcome.errors.push(`compilation failed: ${(e as Error).message}`);
    return outcome;
  }
  const vars = new Map<string, CelInput>();
  const activation: Activation = { ...base, params: jsonToCel(item.params), variables: vars };
  for (const m of policy.matchConditions) {
    const r = m.run(activation);
    if (r === false) {
      outcome.matched = false;
      return outcome;
    }
    if (r !== true) outcome.errors.push(`matchCondition '${m.name}' failed: ${errorText(r)}`);
  }
  if (outcome.errors.length) return outcome;
  for (const v of policy.variables) {
    const r = v.run(activation);
    // A variable that fails stays unset: an expression using it then fails with "no such key".
    if (!isCelError(r)) vars.set(v.name, r);
  }
  for (const [index, v] of policy.validations.entries()) {
    const r = v.run(activation);
    if (r === true) continue;
    if (r !== false) {
      outcome.errors.push(`expression '${v.source}' resulted in error: ${errorText(r)}`);
      continue;
    }
    let message = v.message ?? `failed expression: ${v.source}`;
    if (v.messageRun) {
      // kube-apiserver keeps the static message when messageExpression fails or is empty.
      const m = v.messageRun(activation);
      if (typeof m === 'string' && m.trim() !== '' && !m.includes('\n')) message = m;
    }
    outcome.failures.push({ index, message, reason: v.reason });
  }
  for (const a of policy.auditAnnotations) {
    const r = a.run(activation);
    if (isCelError(r)) outcome.errors.push(`auditAnnotation '${a.key}' failed: ${r.message}`);
    else if (r !== null) outcome.auditAnnotations.push({ key: a.key, value: celToText(r) });
  }
  return outcome;
}
