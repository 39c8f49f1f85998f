// metrics.k8s.io/v1beta1 (what metrics-server serves, so `kubectl top` works) from the agents' stats
// summaries, and Strata's own reads of the metrics history for the CLI, the dashboard and alert rules:
//
//   GET /apis/metrics.k8s.io/v1beta1/nodes[/{name}]                          NodeMetrics(List)
//   GET /apis/metrics.k8s.io/v1beta1[/namespaces/{ns}]/pods[/{name}]         PodMetrics(List); labelSelector
//   GET /strata/metrics/efficiency?namespace=NS[&pod=NAME][&window=SECONDS]  per-pod efficiency, bottlenecks, hints
//   GET /strata/metrics/history?figure=F[&entity=E|&prefix=P][&since=MS]      series from the bounded history
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, kindFor, notFound, parseLabelSelector } from '../../api/index.ts';
import { ApiError, type ObjectStore } from '../../store/objects.ts';
import { analysePod } from '../metrics-efficiency.ts';
import type { MetricsPoller, NodeScrape, PodStatsSummary } from '../metrics-poller.ts';

const GV = 'metrics.k8s.io/v1beta1';
const podKind = kindFor('v1', 'Pod')!;
const nodeKind = kindFor('v1', 'Node')!;

const cpuQuantity = (nanoCores: number): string => `${Math.round(nanoCores)}n`;
const memoryQuantity = (bytes: number): string => `${Math.round(bytes / 1024)}Ki`;

/** The window rates are taken over: the agents' collection interval (the poller's matches it). */
function windowOf(poller: MetricsPoller): string {
  return `${Math.round(poller.intervalMs / 1000)}s`;
}

function nodeMetrics(scrape: NodeScrape, node: any, poller: MetricsPoller) {
  const n = scrape.summary?.node;
  if (n?.cpu?.usageNanoCores === undefined || n.memory?.workingSetBytes === undefined) return undefined;
  return {
    kind: 'NodeMetrics',
    apiVersion: GV,
    metadata: {
      name: node.metadata.name,
      creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ...(node.metadata.labels ? { labels: node.metadata.labels } : {}),
    },
    timestamp: n.cpu.time,
    window: windowOf(poller),
    usage: { cpu: cpuQuantity(n.cpu.usageNanoCores), memory: memoryQuantity(n.memory.workingSetBytes) },
  };
}

function podMetrics(p: PodStatsSummary, pod: any, poller: MetricsPoller) {
  // As metrics-server: a pod is reported once every container has a CPU rate (two readings).
  if (!p.containers.length || p.containers.some((c) => c.cpu?.usageNanoCores === undefined)) return undefined;
  return {
    kind: 'PodMetrics',
    apiVersion: GV,
    metadata: {
      name: pod.metadata.name,
      namespace: pod.metadata.namespace,
      creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ...(pod.metadata.labels ? { labels: pod.metadata.labels } : {}),
    },
    timestamp: p.cpu?.time ?? p.containers[0].cpu!.time,
    window: windowOf(poller),
    containers: p.containers.map((c) => ({
      name: c.name,
      usage: {
        cpu: cpuQuantity(c.cpu!.usageNanoCores!),
        memory: memoryQuantity(c.memory?.workingSetBytes ?? 0),
      },
    })),
  };
}

function selector(req: FastifyRequest) {
  const s = (req.query as Record<string, string | undefined>).labelSelector ?? '';
  try {
    return parseLabelSelector(s);
  } catch (err) {
    throw new ApiError(badRequest(`labelSelector: Invalid value: ${(err as Error).message}`));
  }
}

const list = (kind: string, items: unknown[]) => ({
  kind: `${kind}List`,
  apiVersion: GV,
  metadata: {},
  items,
});

export function registerMetricsApi(app: FastifyInstance, objects: ObjectStore, poller: MetricsPoller): void {
  async function nodes(req: FastifyRequest, name?: string) {
    const scrapes = new Map((await poller.fresh()).map((s) => [s.node, s]));
    const match = selector(req);
    const { items } = await objects.list(nodeKind, undefined);
    const out = [];
    for (const node of items as any[]) {
      if (name !== undefined && node.metadata.name !== name) continue;
      if (!match(node.metadata.labels)) continue;
      const s = scrapes.get(node.metadata.name);
      const m = s && nodeMetrics(s, node, poller);
      if (m) out.push(m);
    }
    return out;
  }

  async function pods(req: FastifyRequest, namespace?: string, name?: string) {
    const scrapes = await poller.fresh();
    const match = selector(req);
    const { items } = await objects.list(podKind, namespace);
    const byUid = new Map((items as any[]).map((p) => [p.metadata.uid as string, p]));
    const out = [];
    for (const scrape of scrapes) {
      for (const p of scrape.summary?.pods ?? []) {
        const pod = byUid.get(p.podRef.uid);
        if (!pod || (name !== undefined && pod.metadata.name !== name) || !match(pod.metadata.labels))
          continue;
        const m = podMetrics(p, pod, poller);
        if (m) out.push(m);
      }
    }
    return out.sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace}/${b.metadata.name}`,
      ),
    );
  }

  const base = `/apis/${GV}`;
  app.get(`${base}/nodes`, async (req) => list('NodeMetrics', await nodes(req)));
  app.get(`${base}/nodes/:name`, async (req) => {
    const { name } = req.params as { name: string };
    const [m] = await nodes(req, name);
    if (!m) throw new ApiError(notFound('nodes.metrics.k8s.io', name));
    return m;
  });
  app.get(`${base}/pods`, async (req) => list('PodMetrics', await pods(req)));
  app.get(`${base}/namespaces/:namespace/pods`, async (req) => {
    const { namespace } = req.params as { namespace: string };
    return list('PodMetrics', await pods(req, namespace));
  });
  app.get(`${base}/namespaces/:namespace/pods/:name`, async (req) => {
    const { namespace, name } = req.params as { namespace: string; name: string };
    const [m] = await pods(req, namespace, name);
    if (!m) throw new ApiError(notFound('pods.metrics.k8s.io', name));
    return m;
  });

  app.get('/strata/metrics/efficiency', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    let windowSeconds = 300;
    if (q.window !== undefined) {
      windowSeconds = Number(q.window);
      if (!/^\d+$/.test(q.window) || windowSeconds < 10 || windowSeconds > poller.history.retentionMs / 1000)
        throw new ApiError(
          badRequest(
            `window: Invalid value: "${q.window}": seconds between 10 and ${poller.history.retentionMs / 1000}`,
          ),
        );
    }
    await poller.fresh();
    if (q.pod !== undefined) {
      if (!q.namespace) throw new ApiError(badRequest('namespace: Required value: with pod'));
      const pod = await objects.get(podKind, q.namespace, q.pod);
      if (!pod) throw new ApiError(notFound(podKind, q.pod));
      return analysePod(pod, poller.history, { windowSeconds });
    }
    const match = selector(req);
    const { items } = await objects.list(podKind, q.namespace || undefined);
    return {
      kind: 'PodEfficiencyList',
      windowSeconds,
      items: (items as any[])
        .filter((p) => match(p.metadata.labels) && p.spec?.nodeName)
        .map((p) => analysePod(p, poller.history, { windowSeconds })),
    };
  });

  app.get('/strata/metrics/history', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    if (!q.figure)
      throw new ApiError(badRequest('figure: Required value: e.g. cpu, memory, cfsThrottledPeriods'));
    const since = q.since === undefined ? undefined : Number(q.since);
    if (since !== undefined && !Number.isFinite(since))
      throw new ApiError(badRequest(`since: Invalid value: "${q.since}": epoch milliseconds`));
    return {
      stepSeconds: poller.history.stepMs / 1000,
      series: poller.history.query({ figure: q.figure, entity: q.entity, prefix: q.prefix, since }),
    };
  });
}
