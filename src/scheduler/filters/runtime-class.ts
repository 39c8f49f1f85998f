import type { FilterPlugin } from './types.ts';

export const runtimeClassReason = (name: string): string =>
  `node(s) didn't offer runtime class ${JSON.stringify(name)}`;

/**
 * The pod's isolation tier (spec.runtimeClassName) must be one the node advertises in
 * status.runtimeHandlers (a tier whose fingerprint failed there is not advertised).
 */
export const runtimeClass: FilterPlugin = {
  name: 'RuntimeClass',
  filter: (pod, node) =>
    pod.runtimeClassName === undefined || node.runtimeHandlers.has(pod.runtimeClassName)
      ? undefined
      : runtimeClassReason(pod.runtimeClassName),
};
