import type { FilterPlugin } from '../framework.ts';

const reasons = new Map<string, string>();

/** `node(s) didn't offer runtime class "microvm"` (made once per class). */
export const runtimeClassReason = (name: string): string => {
  let r = reasons.get(name);
  if (r === undefined && reasons.size < 64)
    reasons.set(name, (r = `node(s) didn't offer runtime class ${JSON.stringify(name)}`));
  return r ?? `node(s) didn't offer runtime class ${JSON.stringify(name)}`;
};

/**
 * The pod's isolation tier (spec.runtimeClassName) must be one the node advertises in
 * status.runtimeHandlers (a tier whose fingerprint failed there is not advertised).
 */
export const runtimeClass: FilterPlugin = {
  name: 'RuntimeClass',
  prepare: (ctx) => ctx.pod.runtimeClassName !== undefined,
  filter: (pod, node) => {
    if (pod.runtimeClassName === undefined) return undefined;
    const offered = pod.runtimeBit
      ? (node.runtimeMask & pod.runtimeBit) !== 0
      : node.runtimeHandlers.has(pod.runtimeClassName);
    return offered ? undefined : runtimeClassReason(pod.runtimeClassName);
  },
  candidates: (ctx) => ({ lists: [ctx.cache!.nodesWithRuntime(ctx.pod.runtimeClassName!)], exact: true }),
};
