// The series alert rules read, besides the server's own /metrics registry (scraped as text):
// - `historySource`: the metric history's per-pod and per-node figures, as `strata_pod_<figure>{namespace,
//   pod}` and `strata_node_<figure>{node}` (figure names snake_cased: cfsThrottledPeriods →
//   strata_pod_cfs_throttled_periods), read straight from the history's rings, so ranges reach back as
//   far as the history does (6 h) without a copy.
// - `kubeStateSamples`: kube-state-metrics series the registry lacks, derived from the store at each
//   scrape (container waiting/terminated reasons, Deployment conditions and generations, cordoned nodes).
// - `certificateSamples`: when the cluster's certificates expire.
import { X509Certificate } from 'node:crypto';
import { kindFor } from '../../api/index.ts';
import type { ObjectStore } from '../../store/objects.ts';
import type { Matcher } from './promql/parse.ts';
import { type Labels, type Series, type SeriesSource, matches } from './promql/eval.ts';

/** What this module reads of the metric history (src/server/metrics-history.ts has this shape). */
export interface FigureHistory {
  entities(prefix?: string): string[];
  figures(entity: string): string[];
  query(q: {
    entity?: string;
    figure: string;
    since?: number;
    until?: number;
  }): Array<{ entity: string; points: Array<{ t: number; v: number }> }>;
}

const snake = (figure: string) => figure.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The history as PromQL series: `strata_pod_<figure>` and `strata_node_<figure>`. */
export function historySource(history: FigureHistory): SeriesSource {
  const entityLabels = (entity: string): Labels | undefined => {
    const parts = entity.split('/');
    if (parts[0] === 'pod' && parts.length === 3) return { namespace: parts[1], pod: parts[2] };
    if (parts[0] === 'node' && parts.length === 2) return { node: parts[1] };
    return undefined;
  };
  return {
    select(name, matchers: Matcher[], start, end): Series[] {
      const out: Series[] = [];
      const kinds: Array<'pod' | 'node'> = [];
      if (name === undefined || name.startsWith('strata_pod_')) kinds.push('pod');
      if (name === undefined || name.startsWith('strata_node_')) kinds.push('node');
      for (const kind of kinds) {
        for (const entity of history.entities(`${kind}/`)) {
          const base = entityLabels(entity);
          if (!base) continue;
          const figures =
            name !== undefined ? [camel(name.slice(`strata_${kind}_`.length))] : history.figures(entity);
          for (const figure of figures) {
            const labels = { __name__: `strata_${kind}_${snake(figure)}`, ...base };
            if (!matchers.every((m) => matches(m, labels[m.name as keyof typeof labels]))) continue;
            for (const r of history.query({ entity, figure, since: start, until: end }))
              out.push({ labels, points: r.points.map((p) => ({ t: p.t, v: p.v })) });
          }
        }
      }
      return out;
    },
  };
}

type Sample = { labels: Labels; v: number };

const kinds = () => ({
  pods: kindFor('v1', 'Pod')!,
  deployments: kindFor('apps/v1', 'Deployment')!,
  nodes: kindFor('v1', 'Node')!,
});

/** kube-state-metrics series the server's registry does not carry, read from the store now. */
export async function kubeStateSamples(objects: ObjectStore): Promise<Sample[]> {
  const k = kinds();
  const [pods, deployments, nodes] = await Promise.all([
    objects.list(k.pods),
    objects.list(k.deployments),
    objects.list(k.nodes),
  ]);
  const out: Sample[] = [];
  const add = (name: string, labels: Labels, v: number) =>
    out.push({ labels: { __name__: name, ...labels }, v });
  for (const p of pods.items) {
    const base = { namespace: p.metadata.namespace, pod: p.metadata.name, uid: p.metadata.uid ?? '' };
    for (const c of [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])]) {
      const l = { ...base, container: c.name };
      if (c.state?.waiting?.reason)
        add('kube_pod_container_status_waiting_reason', { ...l, reason: c.state.waiting.reason }, 1);
      if (c.state?.terminated?.reason)
        add('kube_pod_container_status_terminated_reason', { ...l, reason: c.state.terminated.reason }, 1);
      if (c.lastState?.terminated?.reason)
        add(
          'kube_pod_container_status_last_terminated_reason',
          { ...l, reason: c.lastState.terminated.reason },
          1,
        );
      add('kube_pod_container_status_ready', l, c.ready ? 1 : 0);
    }
  }
  for (const d of deployments.items) {
    const l = { namespace: d.metadata.namespace, deployment: d.metadata.name };
    add('kube_deployment_metadata_generation', l, d.metadata.generation ?? 0);
    add('kube_deployment_status_observed_generation', l, d.status?.observedGeneration ?? 0);
    add('kube_deployment_status_replicas_updated', l, d.status?.updatedReplicas ?? 0);
    add('kube_deployment_status_replicas_unavailable', l, d.status?.unavailableReplicas ?? 0);
    for (const c of d.status?.conditions ?? [])
      for (const st of ['true', 'false', 'unknown'])
        add(
          'kube_deployment_status_condition',
          { ...l, condition: c.type, status: st, reason: c.reason ?? '' },
          String(c.status).toLowerCase() === st ? 1 : 0,
        );
  }
  for (const n of nodes.items)
    add('kube_node_spec_unschedulable', { node: n.metadata.name }, n.spec?.unschedulable ? 1 : 0);
  return out;
}

/**
 * `strata_certificate_expiration_timestamp_seconds{certificate, subject}`: when each of the cluster's
 * certificates stops being valid (seconds since the epoch), for the expiry rules.
 */
export function certificateSamples(certs: Array<{ name: string; pem: string }>): Sample[] {
  const out: Sample[] = [];
  for (const c of certs) {
    try {
      const x = new X509Certificate(c.pem);
      out.push({
        labels: {
          __name__: 'strata_certificate_expiration_timestamp_seconds',
          certificate: c.name,
          subject: x.subject.replace(/\n/g, ', '),
        },
        v: Date.parse(x.validTo) / 1000,
      });
    } catch {
      // Not a certificate (or unreadable): nothing to say about its expiry.
    }
  }
  return out;
}
