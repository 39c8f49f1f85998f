// What a Revision runs as: a Deployment (replicas set by the autoscaler) and a private v1 Service over
// its pods (the gateway's upstream for the revision), built from the revision alone. Pure.
//
// Tiers: a container or microvm revision runs its image as pods, 0..N of them. A wasm revision runs as
// WAGI handler pods (`strata.dev/wasm-http: wagi`): each request is a fresh instance of the compiled,
// cached module, so a revision "at zero" keeps one placed host pod and no instance — the cold path is an
// instantiate, not a pod start. Its instance count is what scales (Revision status.instances).
import {
  AUTOSCALING,
  inferRuntimeClass,
  REVISION_SERVICE_ANNOTATIONS as RSA,
  SERVING_API_VERSION,
  SERVING_LABELS,
  type Container,
  type Revision,
} from '../api/index.ts';

export const WASM_HTTP_ANNOTATION = 'strata.dev/wasm-http';
/**
 * Asks the agent to probe a new pod's readiness every 5 ms until it is first ready (instead of every
 * periodSeconds): a request held at zero is forwarded when the server listens, not up to a period later.
 * Knative's queue-proxy probes a cold instance the same way. The agent's constant is
 * FAST_READINESS_ANNOTATION in src/agent/probes.ts (serving does not import the agent).
 */
export const FAST_READINESS_ANNOTATION = 'strata.dev/fast-first-readiness';
/** Knative's defaults: port 8080, request timeout 300 s. */
export const DEFAULT_PORT = 8080;
export const DEFAULT_TIMEOUT_SECONDS = 300;
/** Requests the activator holds per revision by default before answering 503. */
export const DEFAULT_QUEUE_DEPTH = 1000;

export const deploymentName = (revision: string) => `${revision}-deployment`;

export function isWasmRevision(rev: Revision): boolean {
  const tier = rev.spec.runtimeClassName ?? inferRuntimeClass(rev.spec.containers.map((c) => c.image));
  return tier === 'wasm';
}

/** The container that serves (the one with a port, or the only one) and its port. */
export function servingContainer(rev: Revision): { container: Container; index: number; port: number } {
  const index = Math.max(
    0,
    rev.spec.containers.findIndex((c) => (c.ports ?? []).length > 0),
  );
  const container = rev.spec.containers[index]!;
  return { container, index, port: container.ports?.[0]?.containerPort ?? DEFAULT_PORT };
}

function ownerRef(rev: Revision) {
  return {
    apiVersion: SERVING_API_VERSION,
    kind: 'Revision',
    name: rev.metadata.name!,
    uid: rev.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function revisionLabels(rev: Revision): Record<string, string> {
  const l = rev.metadata.labels ?? {};
  const out: Record<string, string> = {
    [SERVING_LABELS.revision]: rev.metadata.name!,
    [SERVING_LABELS.revisionUID]: rev.metadata.uid!,
  };
  for (const k of [
    SERVING_LABELS.configuration,
    SERVING_LABELS.service,
    SERVING_LABELS.configurationGeneration,
  ])
    if (l[k]) out[k] = l[k];
  return out;
}

/** Replicas a new revision starts with: initial-scale (Knative default 1), at least min-scale. */
export function initialReplicas(rev: Revision, defaultInitial: number): number {
  const a = rev.metadata.annotations ?? {};
  const initial = Number(a[AUTOSCALING.initialScale] ?? defaultInitial);
  const min = Number(a[AUTOSCALING.minScale] ?? 0);
  const n = Math.max(Number.isFinite(initial) ? initial : defaultInitial, Number.isFinite(min) ? min : 0);
  return isWasmRevision(rev) ? Math.max(1, n) : n;
}

export function revisionDeployment(rev: Revision, replicas: number) {
  const name = rev.metadata.name!;
  const labels = revisionLabels(rev);
  const { index, port } = servingContainer(rev);
  const wasm = isWasmRevision(rev);
  const l = rev.metadata.labels ?? {};
  const containers = rev.spec.containers.map((c, i) => {
    if (i !== index) return c;
    const env = [
      ...(c.env ?? []).filter((e) => e.name !== 'PORT'),
      { name: 'PORT', value: String(port) },
      { name: 'K_REVISION', value: name },
      { name: 'K_CONFIGURATION', value: l[SERVING_LABELS.configuration] ?? '' },
      { name: 'K_SERVICE', value: l[SERVING_LABELS.service] ?? '' },
    ];
    const ports = c.ports?.length
      ? c.ports.map((p) => ({ ...p, name: p.name ?? 'user-port' }))
      : [{ name: 'user-port', containerPort: port, protocol: 'TCP' as const }];
    // Ready when it accepts connections, unless the revision says how (Knative probes the port too).
    const readinessProbe =
      c.readinessProbe ?? (wasm ? undefined : { tcpSocket: { port }, periodSeconds: 1, successThreshold: 1 });
    return { ...c, env, ports, ...(readinessProbe ? { readinessProbe } : {}) };
  });
  const s = rev.spec;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: deploymentName(name),
      namespace: rev.metadata.namespace,
      labels: { ...labels, app: name },
      ownerReferences: [ownerRef(rev)],
    },
    spec: {
      replicas,
      selector: { matchLabels: { [SERVING_LABELS.revision]: name } },
      // All new instances at once: a scale-up must not wait for rollout pacing.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '100%', maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: { ...(rev.metadata.labels ?? {}), ...labels, app: name },
          annotations: {
            ...(rev.metadata.annotations ?? {}),
            ...(wasm ? { [WASM_HTTP_ANNOTATION]: 'wagi' } : { [FAST_READINESS_ANNOTATION]: 'true' }),
          },
        },
        spec: {
          containers,
          ...(s.runtimeClassName ? { runtimeClassName: s.runtimeClassName } : {}),
          ...(s.serviceAccountName ? { serviceAccountName: s.serviceAccountName } : {}),
          ...(s.volumes ? { volumes: s.volumes } : {}),
          ...(s.imagePullSecrets ? { imagePullSecrets: s.imagePullSecrets } : {}),
          ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}),
          ...(s.tolerations ? { tolerations: s.tolerations } : {}),
          ...(s.affinity ? { affinity: s.affinity } : {}),
          // Knative's default (config-defaults enable-service-links: false): no Service variables, so a
          // cold start does not list the namespace's Services first.
          enableServiceLinks: s.enableServiceLinks ?? false,
          // Scale-down should not keep a drained instance around for the default 30 s.
          terminationGracePeriodSeconds: Math.min(s.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS, 5),
        },
      },
    },
  };
}

/** The revision's private Service: the gateway's upstream; its annotations tell the activator the limits. */
export function revisionService(rev: Revision, failure: string | undefined) {
  const name = rev.metadata.name!;
  const a = rev.metadata.annotations ?? {};
  const tbc = a[AUTOSCALING.targetBurstCapacity];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: rev.metadata.namespace,
      labels: revisionLabels(rev),
      annotations: {
        [RSA.containerConcurrency]: String(rev.spec.containerConcurrency ?? 0),
        [RSA.timeoutSeconds]: String(rev.spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS),
        ...(tbc !== undefined ? { [RSA.targetBurstCapacity]: tbc } : {}),
        ...(failure ? { [RSA.failure]: failure } : {}),
        // The gateway's own per-route timeout: the revision's request timeout.
        'strata.dev/timeout': `${rev.spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS}s`,
        'strata.dev/per-try-timeout': `${rev.spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS}s`,
      },
      ownerReferences: [ownerRef(rev)],
    },
    spec: {
      type: 'ClusterIP',
      selector: { [SERVING_LABELS.revision]: name },
      ports: [{ name: 'http', port: 80, targetPort: servingContainer(rev).port, protocol: 'TCP' }],
    },
  };
}
