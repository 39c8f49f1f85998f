// A container's requests and limits in cores and bytes, from its pod spec (quantities as the api parses them).
import { parseCpu, parseMemory } from '../api/index.ts';
import type { ResourceFigures } from './samples.ts';

function figures(r: Record<string, string | number> | undefined): ResourceFigures {
  const out: ResourceFigures = {};
  try {
    if (r?.cpu !== undefined) out.cpuCores = parseCpu(r.cpu) / 1000;
  } catch {
    // a quantity the api refused never reaches a node; nothing to report
  }
  try {
    if (r?.memory !== undefined) out.memoryBytes = parseMemory(r.memory);
  } catch {
    // as above
  }
  return out;
}

export function containerResources(container: {
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
}): { requests: ResourceFigures; limits: ResourceFigures } {
  return { requests: figures(container.resources?.requests), limits: figures(container.resources?.limits) };
}
