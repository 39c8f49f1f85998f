// The downward API: a pod's own fields and its containers' resources, as env values (fieldRef,
// resourceFieldRef) and as files (downwardAPI and projected volumes), with the kubelet's formats.
import { cpus, totalmem } from 'node:os';
import { parseCpu, parseMemory } from '../api/index.ts';
import { SandboxError } from '../sandbox/driver.ts';

/** What the pod's fields resolve against: the pod, and its addresses once known. */
export interface DownwardContext {
  pod: any;
  podIP?: string;
}

/** `key="value"` lines sorted by key, values quoted as Go's %q would (the kubelet's map format). */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

const SUBSCRIPT = /^metadata\.(labels|annotations)\['([^']+)'\]$/;

/** A fieldRef's value; undefined only for a subscript naming a key the pod does not have (empty in k8s). */
export function fieldValue(fieldPath: string, ctx: DownwardContext): string {
  const { pod } = ctx;
  const sub = SUBSCRIPT.exec(fieldPath);
  if (sub) return pod.metadata[sub[1]]?.[sub[2]] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'metadata.labels':
      return formatMap(pod.metadata.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations);
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return pod.status?.hostIP ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIP ?? pod.status?.podIP ?? '';
    default:
      throw new SandboxError('CreateContainerConfigError', `unsupported fieldRef fieldPath "${fieldPath}"`);
  }
}

/**
 * A resourceFieldRef's value: the container's limit (or request), divided by the divisor and rounded up;
 * a limit the container does not set is the node's capacity, as in Kubernetes.
 */
export function resourceValue(
  ref: { containerName?: string; resource: string; divisor?: string | number },
  pod: any,
  defaultContainer?: string,
): string {
  const name = ref.containerName || defaultContainer;
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const c = all.find((x: any) => x.name === name);
  if (!c)
    throw new SandboxError(
      'CreateContainerConfigError',
      `resourceFieldRef: container "${name ?? ''}" not found in pod ${pod.metadata.name}`,
    );
  const [kind, res] = ref.resource.split('.') as ['limits' | 'requests', string];
  const set = c.resources?.[kind]?.[res] ?? (kind === 'requests' ? undefined : undefined);
  if (res === 'cpu') {
    const milli = set !== undefined ? parseCpu(set) : kind === 'limits' ? cpus().length * 1000 : 0;
    const per = ref.divisor !== undefined ? parseCpu(ref.divisor) : 1000;
    return String(Math.ceil(milli / per));
  }
  if (res === 'memory') {
    const bytes = set !== undefined ? parseMemory(set) : kind === 'limits' ? totalmem() : 0;
    const per = ref.divisor !== undefined ? parseMemory(ref.divisor) : 1;
    return String(Math.ceil(bytes / per));
  }
  // ephemeral-storage: not accounted on this node yet.
  return '0';
}

/** The files of a downwardAPI volume (or projection): path → content. */
export function downwardFiles(
  items: Array<{ path: string; fieldRef?: { fieldPath: string }; resourceFieldRef?: any; mode?: number }>,
  ctx: DownwardContext,
): Array<{ path: string; content: string; mode?: number }> {
  return items.map((it) => ({
    path: it.path,
    content: it.fieldRef
      ? fieldValue(it.fieldRef.fieldPath, ctx)
      : resourceValue(it.resourceFieldRef, ctx.pod),
    ...(it.mode !== undefined ? { mode: it.mode } : {}),
  }));
}
