// What kube-apiserver checks before it sends exec, attach, port-forward or log requests to the kubelet,
// with its wording (pkg/registry/core/pod/strategy.go): which container is meant, and that the pod has a
// node. kubectl reads these messages as they are.
import { badRequest } from '../../api/index.ts';
import { ApiError } from '../../store/objects.ts';

/** The annotation kubectl (and Strata, when no container is named) uses to pick a pod's container. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/**
 * The container a request is for: the one named, else the pod's default-container annotation when it
 * names one of its containers, else the only container.
 */
export function chooseContainer(pod: any, wanted: string | undefined | null): string {
  const names: string[] = (pod.spec?.containers ?? []).map((c: any) => c.name);
  const name = pod.metadata?.name;
  if (wanted) {
    // A named container may be an app, init or ephemeral one (kube's podHasContainerWithName).
    const all = [
      ...names,
      ...(pod.spec?.initContainers ?? []).map((c: any) => c.name),
      ...(pod.spec?.ephemeralContainers ?? []).map((c: any) => c.name),
    ];
    if (!all.includes(wanted))
      throw new ApiError(badRequest(`container ${wanted} is not valid for pod ${name}`));
    return wanted;
  }
  const annotated = pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated && names.includes(annotated)) return annotated;
  if (names.length === 1) return names[0];
  if (names.length === 0)
    throw new ApiError(badRequest(`a container name must be specified for pod ${name}`));
  throw new ApiError(
    badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`),
  );
}

/** The pod's node name; a pod not scheduled yet has nothing to stream from. */
export function requireHost(pod: any): string {
  const node = pod.spec?.nodeName;
  if (!node) throw new ApiError(badRequest(`pod ${pod.metadata?.name} does not have a host assigned`));
  return node;
}

/** A boolean query parameter as Kubernetes converts them ("true", "1", …; absent is false). */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && ['true', 't', '1', 'True', 'TRUE', 'T'].includes(v);
}
