// custom.metrics.k8s.io (what prometheus-adapter serves to the HPA and to `kubectl get --raw`) for the one
// custom metric Strata has of its own: `requests_per_second`, the node gateways' request rate
// (src/controllers/hpa-gateway-rps.ts, the source the HPA controller reads too).
//
//   GET /apis/custom.metrics.k8s.io/{v1beta2|v1beta1}/namespaces/{ns}/pods/{name|*}/requests_per_second
//       per pod: its share of the rate of the gateway-fronted Services it is a ready endpoint of;
//       `*` with an optional labelSelector lists every pod of the namespace that has a reading
//   GET /apis/custom.metrics.k8s.io/{v1beta2|v1beta1}/namespaces/{ns}/services/{name}/requests_per_second
//       per Service: the rate the gateways counted for it (an HPA `Object` metric's shape)
//
// MetricValueList as k8s.io/metrics defines it: v1beta2 names the metric in `metric.name` and the window in
// `windowSeconds`, v1beta1 in `metricName` and `window`. Objects without a reading are left out of a `*`
// list; a named one without a reading is a 404, as prometheus-adapter answers.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerExtension } from '../app.ts';
import {
  REQUESTS_PER_SECOND,
  badRequest,
  kindFor,
  parseLabelSelector,
  statusFailure,
} from '../../api/index.ts';
import { ApiError, type ObjectStore } from '../../store/objects.ts';

/** A per-object reading: its value, when it was taken (epoch ms) and over what window. */
export interface Reading {
  value: number;
  timestamp: number;
  windowMs: number;
}

/** Where the rates come from (src/controllers/hpa-gateway-rps.ts's GatewayRequestRates, wired by the node). */
export interface RequestRateSource {
  podMetric(
    namespace: string,
    metric: string,
    pods: string[],
    opts: { fresh?: boolean },
  ): Promise<Map<string, Reading>>;
  serviceRates(opts: {
    fresh?: boolean;
  }): Promise<Map<string, { rps: number; at: number; windowMs: number }>>;
}

export const CUSTOM_METRICS_GROUP = 'custom.metrics.k8s.io';
/** Preferred first, as discovery lists them. */
export const CUSTOM_METRICS_VERSIONS = ['v1beta2', 'v1beta1'] as const;
type Version = (typeof CUSTOM_METRICS_VERSIONS)[number];

/** The resources of the group, `<plural>/<metric>` as an adapter lists them in discovery. */
export const CUSTOM_METRICS_RESOURCES = [`pods/${REQUESTS_PER_SECOND}`, `services/${REQUESTS_PER_SECOND}`];

const POD = kindFor('v1', 'Pod')!;
const SERVICE = kindFor('v1', 'Service')!;

/** A rate as a Quantity: milli-units, as the adapter writes fractional values ("1500m"), whole numbers plain. */
export function rateQuantity(value: number): string {
  const milli = Math.round(value * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

function metricValue(
  version: Version,
  object: { kind: 'Pod' | 'Service'; namespace: string; name: string },
  reading: Reading,
  selector: Record<string, unknown> | null,
) {
  const windowSeconds = Math.max(1, Math.round(reading.windowMs / 1000));
  const common = {
    describedObject: { kind: object.kind, namespace: object.namespace, name: object.name, apiVersion: '/v1' },
    timestamp: new Date(reading.timestamp).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  return version === 'v1beta2'
    ? {
        ...common,
        metric: { name: REQUESTS_PER_SECOND, selector },
        windowSeconds,
        value: rateQuantity(reading.value),
      }
    : {
        ...common,
        metricName: REQUESTS_PER_SECOND,
        window: windowSeconds,
        value: rateQuantity(reading.value),
        selector,
      };
}

function metricNotFound(metric: string, resource: string): ApiError {
  return new ApiError(
    statusFailure(404, 'NotFound', `the server could not find the metric ${metric} for ${resource}`),
  );
}

function notFoundFor(metric: string, resource: 'pods' | 'services', name: string): ApiError {
  return new ApiError(
    statusFailure(404, 'NotFound', `the server could not find the metric ${metric} for ${resource} ${name}`),
  );
}

/** The labelSelector query parameter, as metav1.LabelSelector for the answer and as a matcher. */
function selectorOf(req: FastifyRequest) {
  const raw = (req.query as Record<string, string | undefined>).labelSelector ?? '';
  try {
    return { match: parseLabelSelector(raw), echo: raw ? { matchLabels: matchLabelsOf(raw) } : null };
  } catch (err) {
    throw new ApiError(badRequest(`labelSelector: Invalid value: ${(err as Error).message}`));
  }
}

/** `a=b,c=d` → {a: b, c: d}; set-based terms are matched but not echoed. */
function matchLabelsOf(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const term of raw.split(',')) {
    const m = /^\s*([^=!\s]+)\s*==?\s*([^=!\s]*)\s*$/.exec(term);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** The routes, as an extension of the API server (src/node/assemble-control-plane.ts adds it). */
export function customMetricsApi(objects: ObjectStore, rates: RequestRateSource): ServerExtension {
  return (app) => registerCustomMetricsApi(app, objects, rates);
}

export function registerCustomMetricsApi(
  app: FastifyInstance,
  objects: ObjectStore,
  rates: RequestRateSource,
): void {
  for (const version of CUSTOM_METRICS_VERSIONS) {
    const base = `/apis/${CUSTOM_METRICS_GROUP}/${version}`;
    const list = (items: unknown[]) => ({
      kind: 'MetricValueList',
      apiVersion: `${CUSTOM_METRICS_GROUP}/${version}`,
      metadata: {},
      items,
    });

    app.get(`${base}/namespaces/:namespace/pods/:name/:metric`, async (req) => {
      const { namespace, name, metric } = req.params as Record<string, string>;
      if (metric !== REQUESTS_PER_SECOND) throw metricNotFound(metric, 'pods');
      const { match, echo } = selectorOf(req);
      const { items } = await objects.list(POD, namespace);
      const pods = (items as any[])
        .filter((p) => (name === '*' ? match(p.metadata.labels) : p.metadata.name === name))
        .map((p) => p.metadata.name as string);
      const readings = pods.length
        ? await rates.podMetric(namespace, metric, pods, { fresh: true })
        : new Map();
      if (name !== '*' && !readings.has(name)) throw notFoundFor(metric, 'pods', name);
      return list(
        [...readings.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([pod, r]) => metricValue(version, { kind: 'Pod', namespace, name: pod }, r, echo)),
      );
    });

    app.get(`${base}/namespaces/:namespace/services/:name/:metric`, async (req) => {
      const { namespace, name, metric } = req.params as Record<string, string>;
      if (metric !== REQUESTS_PER_SECOND) throw metricNotFound(metric, 'services');
      const { match, echo } = selectorOf(req);
      const { items } = await objects.list(SERVICE, namespace);
      const services = (items as any[]).filter((s) =>
        name === '*' ? match(s.metadata.labels) : s.metadata.name === name,
      );
      const byService = await rates.serviceRates({ fresh: true });
      const out = [];
      for (const s of services) {
        const r = byService.get(`${namespace}/${s.metadata.name}`);
        if (r)
          out.push(
            metricValue(
              version,
              { kind: 'Service', namespace, name: s.metadata.name },
              { value: r.rps, timestamp: r.at, windowMs: r.windowMs },
              echo,
            ),
          );
      }
      if (name !== '*' && out.length === 0) throw notFoundFor(metric, 'services', name);
      return list(out.sort((a, b) => a.describedObject.name.localeCompare(b.describedObject.name)));
    });
  }
}
