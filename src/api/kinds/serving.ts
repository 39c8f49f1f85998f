// serving.knative.dev/v1 Service (ksvc), Configuration, Revision and Route: Knative Serving's API, the
// subset issue 12 names — a revision template (pod spec with containers, runtimeClassName,
// containerConcurrency, timeoutSeconds), traffic targets (percent, latestRevision, tags), status with URL,
// conditions and traffic. The controllers that act on them live in src/serving/.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { DNSLabel, ObjectMeta, TemplateMeta, Timestamp } from '../meta.ts';
import { Container, EnvVar, PodSpec } from './pod.ts';

export const SERVING_API_VERSION = 'serving.knative.dev/v1';

/** Knative's default name of a container that has none. */
export const DEFAULT_CONTAINER_NAME = 'user-container';

/** Autoscaling annotations, as Knative names them (on the template's metadata). */
export const AUTOSCALING = {
  minScale: 'autoscaling.knative.dev/min-scale',
  maxScale: 'autoscaling.knative.dev/max-scale',
  initialScale: 'autoscaling.knative.dev/initial-scale',
  target: 'autoscaling.knative.dev/target',
  targetUtilization: 'autoscaling.knative.dev/target-utilization-percentage',
  metric: 'autoscaling.knative.dev/metric',
  window: 'autoscaling.knative.dev/window',
  panicWindowPercentage: 'autoscaling.knative.dev/panic-window-percentage',
  panicThresholdPercentage: 'autoscaling.knative.dev/panic-threshold-percentage',
  retention: 'autoscaling.knative.dev/scale-to-zero-pod-retention-period',
  scaleDownDelay: 'autoscaling.knative.dev/scale-down-delay',
  targetBurstCapacity: 'autoscaling.knative.dev/target-burst-capacity',
  class: 'autoscaling.knative.dev/class',
} as const;

/** Go-style durations Knative accepts in annotations: `30s`, `1m`, `1m30s`, `500ms`, `0`. */
export function parseDurationSeconds(v: string): number | undefined {
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(v))) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : n * 3600;
    consumed = re.lastIndex;
  }
  return consumed === v.length && consumed > 0 ? total : undefined;
}

/** Errors of the autoscaling annotations of a template, as `[annotation, message]` pairs. */
export function autoscalingAnnotationErrors(a: Record<string, string> | undefined): [string, string][] {
  if (!a) return [];
  const errors: [string, string][] = [];
  const int = (key: string, min: number, max = Infinity): number | undefined => {
    const v = a[key];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      errors.push([key, msg.invalid(v, `must be an integer between ${min} and ${max}`)]);
      return undefined;
    }
    return n;
  };
  const num = (key: string, min: number, max = Infinity) => {
    const v = a[key];
    if (v === undefined) return;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max)
      errors.push([key, msg.invalid(v, `must be a number between ${min} and ${max}`)]);
  };
  const duration = (key: string, min: number, max: number) => {
    const v = a[key];
    if (v === undefined) return;
    const s = parseDurationSeconds(v);
    if (s === undefined || s < min || s > max)
      errors.push([key, msg.invalid(v, `must be a duration between ${min}s and ${max}s (e.g. 30s, 1m)`)]);
  };
  const min = int(AUTOSCALING.minScale, 0);
  const max = int(AUTOSCALING.maxScale, 0);
  if (min !== undefined && max !== undefined && max > 0 && min > max)
    errors.push([
      AUTOSCALING.minScale,
      msg.invalid(String(min), `must not be greater than max-scale ${max}`),
    ]);
  int(AUTOSCALING.initialScale, 0);
  num(AUTOSCALING.target, 0.01);
  num(AUTOSCALING.targetUtilization, 1, 100);
  num(AUTOSCALING.panicWindowPercentage, 1, 100);
  num(AUTOSCALING.panicThresholdPercentage, 110, 1000);
  num(AUTOSCALING.targetBurstCapacity, -1);
  const metric = a[AUTOSCALING.metric];
  if (metric !== undefined && !['concurrency', 'rps'].includes(metric))
    errors.push([AUTOSCALING.metric, msg.notSupported(metric, ['concurrency', 'rps'])]);
  const cls = a[AUTOSCALING.class];
  if (cls !== undefined && cls !== 'kpa.autoscaling.knative.dev')
    errors.push([
      AUTOSCALING.class,
      msg.notSupported(cls, ['kpa.autoscaling.knative.dev']) + ' (use a HorizontalPodAutoscaler for hpa)',
    ]);
  // Knative: window 6s..1h; retention and scale-down-delay 0..1h.
  duration(AUTOSCALING.window, 6, 3600);
  duration(AUTOSCALING.retention, 0, 3600);
  duration(AUTOSCALING.scaleDownDelay, 0, 3600);
  return errors;
}

/** A Knative container: a pod container whose name may be left out (it becomes `user-container`). */
const RevisionContainer = z.preprocess(
  (c) =>
    c && typeof c === 'object' && !('name' in c) ? { name: DEFAULT_CONTAINER_NAME, ...(c as object) } : c,
  Container,
);

/** The pod-spec fields a Revision may carry (Knative's PodSpec subset) plus its own. */
export const RevisionSpec = z
  .strictObject({
    containers: z.array(RevisionContainer).min(1),
    runtimeClassName: PodSpec.shape.runtimeClassName,
    serviceAccountName: PodSpec.shape.serviceAccountName,
    volumes: PodSpec.shape.volumes,
    imagePullSecrets: PodSpec.shape.imagePullSecrets,
    nodeSelector: PodSpec.shape.nodeSelector,
    tolerations: PodSpec.shape.tolerations,
    affinity: PodSpec.shape.affinity,
    enableServiceLinks: z.boolean().optional(),
    /** In-flight requests one instance takes at once; 0 = no limit. */
    containerConcurrency: z.int().min(0).max(1000).optional(),
    /** How long a request may take (Knative's default 300 s, max 600 s). */
    timeoutSeconds: z.int().min(0).max(600).optional(),
    responseStartTimeoutSeconds: z.int().min(0).max(600).optional(),
    idleTimeoutSeconds: z.int().min(0).max(600).optional(),
  })
  .superRefine((spec, ctx) => {
    const withPorts = spec.containers.filter((c) => (c.ports ?? []).length > 0);
    if (spec.containers.length > 1 && withPorts.length !== 1)
      addCause(
        ctx,
        ['containers'],
        Reason.Invalid,
        msg.invalid(withPorts.length, 'exactly one container must specify a port when there are several'),
      );
    spec.containers.forEach((c, i) => {
      if ((c.ports ?? []).length > 1)
        addCause(
          ctx,
          ['containers', i, 'ports'],
          Reason.Invalid,
          msg.invalid(c.ports!.length, 'more than one container port is set'),
        );
      (c.env ?? []).forEach((e: EnvVar, j: number) => {
        if (['K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'].includes(e.name))
          addCause(
            ctx,
            ['containers', i, 'env', j, 'name'],
            Reason.Invalid,
            msg.invalid(e.name, 'is a reserved environment variable'),
          );
      });
      for (const port of c.ports ?? [])
        if ([8012, 8022, 9090, 9091].includes(port.containerPort))
          addCause(
            ctx,
            ['containers', i, 'ports', 0, 'containerPort'],
            Reason.Invalid,
            msg.invalid(port.containerPort, 'is a reserved port'),
          );
    });
  });
export type RevisionSpec = z.infer<typeof RevisionSpec>;

export const RevisionTemplateSpec = z
  .strictObject({ metadata: TemplateMeta.optional(), spec: RevisionSpec })
  .superRefine((t, ctx) => {
    for (const [key, message] of autoscalingAnnotationErrors(t.metadata?.annotations))
      addCause(ctx, ['metadata', 'annotations', key], Reason.Invalid, message);
  });
export type RevisionTemplateSpec = z.infer<typeof RevisionTemplateSpec>;

export const TrafficTarget = z.strictObject({
  tag: DNSLabel.optional(),
  revisionName: z.string().optional(),
  configurationName: z.string().optional(),
  latestRevision: z.boolean().optional(),
  percent: z.int().min(0).max(100).optional(),
  url: z.string().optional(),
});
export type TrafficTarget = z.infer<typeof TrafficTarget>;

/** Knative's traffic rules: percents sum to 100, tags unique, latestRevision and revisionName consistent. */
function validateTraffic(
  traffic: readonly TrafficTarget[],
  ctx: z.RefinementCtx<any>,
  inService: boolean,
): void {
  const path = (i: number, f: string) => ['traffic', i, f];
  let sum = 0;
  const tags = new Set<string>();
  traffic.forEach((t, i) => {
    sum += t.percent ?? 0;
    if (t.tag) {
      if (tags.has(t.tag)) addCause(ctx, path(i, 'tag'), Reason.Duplicate, msg.duplicate(t.tag));
      tags.add(t.tag);
    }
    if (inService && t.configurationName)
      addCause(
        ctx,
        path(i, 'configurationName'),
        Reason.Forbidden,
        msg.forbidden('may not be set on a Service'),
      );
    if (t.revisionName && t.configurationName)
      addCause(
        ctx,
        path(i, 'revisionName'),
        Reason.Invalid,
        msg.invalid(t.revisionName, 'expected exactly one of revisionName or configurationName'),
      );
    if (t.latestRevision === true && t.revisionName)
      addCause(
        ctx,
        path(i, 'revisionName'),
        Reason.Invalid,
        msg.invalid(t.revisionName, 'may not be set when latestRevision is true'),
      );
    if (t.latestRevision === false && !t.revisionName)
      addCause(
        ctx,
        path(i, 'latestRevision'),
        Reason.Invalid,
        msg.invalid(false, 'may not be false when revisionName is not set'),
      );
    if (!inService && !t.revisionName && !t.configurationName)
      addCause(
        ctx,
        path(i, 'revisionName'),
        Reason.Required,
        msg.required('expected exactly one of revisionName or configurationName'),
      );
    if (t.url)
      addCause(ctx, path(i, 'url'), Reason.Forbidden, msg.forbidden('is set by the Route (status only)'));
  });
  if (traffic.length && sum !== 100)
    addCause(ctx, ['traffic'], Reason.Invalid, msg.invalid(sum, 'traffic targets sum to this, want 100'));
}

/** Knative's conditions carry a severity. */
export const KnativeCondition = z.strictObject({
  type: z.string().min(1),
  status: z.enum(['True', 'False', 'Unknown']),
  severity: z.enum(['Error', 'Warning', 'Info', '']).optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: Timestamp.optional(),
});
export type KnativeCondition = z.infer<typeof KnativeCondition>;

const Addressable = z.strictObject({ url: z.string().optional(), name: z.string().optional() });

const statusBase = {
  observedGeneration: z.int().min(0).optional(),
  conditions: z.array(KnativeCondition).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
};

export const ConfigurationStatus = z.strictObject({
  ...statusBase,
  latestCreatedRevisionName: z.string().optional(),
  latestReadyRevisionName: z.string().optional(),
});
export const RouteStatus = z.strictObject({
  ...statusBase,
  url: z.string().optional(),
  address: Addressable.optional(),
  traffic: z.array(TrafficTarget).optional(),
});
export const KnativeServiceStatus = z.strictObject({
  ...ConfigurationStatus.shape,
  ...RouteStatus.shape,
});
export const RevisionStatus = z.strictObject({
  ...statusBase,
  logUrl: z.string().optional(),
  containerStatuses: z
    .array(z.strictObject({ name: z.string(), imageDigest: z.string().optional() }))
    .optional(),
  actualReplicas: z.int().min(0).optional(),
  desiredReplicas: z.int().min(0).optional(),
  /** Strata: instances serving requests now (a wasm revision's per-request module instances). */
  instances: z.int().min(0).optional(),
});

export const KnativeServiceSpec = z
  .strictObject({ template: RevisionTemplateSpec, traffic: z.array(TrafficTarget).optional() })
  .superRefine((s, ctx) => validateTraffic(s.traffic ?? [], ctx, true));

export const KnativeService = z
  .strictObject({
    apiVersion: z.literal(SERVING_API_VERSION),
    kind: z.literal('Service'),
    metadata: ObjectMeta,
    spec: KnativeServiceSpec,
    status: KnativeServiceStatus.optional(),
  })
  .superRefine((s, ctx) => templateNameRule(s.metadata.name, s.spec.template, ctx));
export type KnativeService = z.infer<typeof KnativeService>;

export const Configuration = z
  .strictObject({
    apiVersion: z.literal(SERVING_API_VERSION),
    kind: z.literal('Configuration'),
    metadata: ObjectMeta,
    spec: z.strictObject({ template: RevisionTemplateSpec }),
    status: ConfigurationStatus.optional(),
  })
  .superRefine((c, ctx) => templateNameRule(c.metadata.name, c.spec.template, ctx));
export type Configuration = z.infer<typeof Configuration>;

export const Revision = z.strictObject({
  apiVersion: z.literal(SERVING_API_VERSION),
  kind: z.literal('Revision'),
  metadata: ObjectMeta,
  spec: RevisionSpec,
  status: RevisionStatus.optional(),
});
export type Revision = z.infer<typeof Revision>;

export const Route = z.strictObject({
  apiVersion: z.literal(SERVING_API_VERSION),
  kind: z.literal('Route'),
  metadata: ObjectMeta,
  spec: z
    .strictObject({ traffic: z.array(TrafficTarget).optional() })
    .superRefine((s, ctx) => validateTraffic(s.traffic ?? [], ctx, false)),
  status: RouteStatus.optional(),
});
export type Route = z.infer<typeof Route>;

/** Knative: a template's own revision name must be `<parent>-<suffix>`. */
function templateNameRule(
  parent: string | undefined,
  t: RevisionTemplateSpec,
  ctx: z.RefinementCtx<any>,
): void {
  const name = t.metadata?.name;
  if (name && parent && !name.startsWith(`${parent}-`))
    addCause(
      ctx,
      ['spec', 'template', 'metadata', 'name'],
      Reason.Invalid,
      msg.invalid(name, `must have prefix "${parent}-"`),
    );
}

// ---- The contract between the serving controllers (src/serving/) and the node gateway's activator
// (src/net/gateway/serving-*.ts). Neither imports the other: they meet in ordinary objects.

/** Labels Knative puts on what it creates (and selectors use). */
export const SERVING_LABELS = {
  service: 'serving.knative.dev/service',
  configuration: 'serving.knative.dev/configuration',
  configurationGeneration: 'serving.knative.dev/configurationGeneration',
  revision: 'serving.knative.dev/revision',
  revisionUID: 'serving.knative.dev/revisionUID',
  route: 'serving.knative.dev/route',
} as const;

/**
 * On the Route's placeholder v1 Service (named like the Route): JSON `ServingRouteTable` — which revision
 * Services each host reaches and with what weight. The gateway serves these hosts on its HTTP port.
 */
export const ROUTES_ANNOTATION = 'serving.strata.dev/routes';
export interface ServingRouteTable {
  /** host (no port) → weighted targets; each target is a revision's v1 Service in the Route's namespace. */
  hosts: Record<string, { revision: string; percent: number }[]>;
}

/** On a revision's v1 Service: what the activator needs to know about the revision. */
export const REVISION_SERVICE_ANNOTATIONS = {
  /** containerConcurrency (0 = unlimited). */
  containerConcurrency: 'serving.strata.dev/container-concurrency',
  /** Seconds a request may be held and served in total (the revision's timeoutSeconds). */
  timeoutSeconds: 'serving.strata.dev/timeout-seconds',
  /** Spare capacity (in requests) below which the activator stays in the path; -1 = always. */
  targetBurstCapacity: 'serving.strata.dev/target-burst-capacity',
  /** Requests the activator may hold for this revision before it answers 503. */
  queueDepth: 'serving.strata.dev/activator-queue-depth',
  /** Set by the revision controller when instances cannot start: held requests are answered 503 with it. */
  failure: 'serving.strata.dev/failure',
} as const;

/**
 * Annotation prefix on a Revision where each node's gateway reports what it saw for that revision
 * (`stats.serving.strata.dev/<node>`: JSON `RevisionStats`); the autoscaler reads them, and so may an HPA.
 */
export const STATS_ANNOTATION_PREFIX = 'stats.serving.strata.dev/';
export interface RevisionStats {
  /** When measured (ms since the epoch). */
  at: number;
  /** The interval the averages cover (ms). */
  intervalMs: number;
  /** Average requests in flight (held ones included) over the report interval. */
  concurrency: number;
  /** Requests per second over the report interval. */
  rps: number;
  /** Requests held by the activator now (waiting for an instance). */
  held: number;
  /** Requests being served now (for a wasm revision: module instances alive). */
  inFlight: number;
}
