// The HPA's Pods metric `requests_per_second`, fed from the node gateways: what prometheus-adapter would
// compute as `sum(rate(requests_total[window])) by (pod)` over the gateways' counters.
//
// Every node's gateway counts the requests it sends to each Service port
// (`strata_gateway_requests_total{upstream="NS/SERVICE:PORT",code}` on the agent's /metrics) and the answers
// of each backend (`strata_gateway_backend_requests_total{upstream,backend="IP:PORT"}`). This source samples
// those counters on every node (through the agents, as the metrics poller reads their summaries) and takes
// the rates over the window (newest sample against the oldest one still in it, summed over nodes, ports
// and status codes). A ready endpoint pod's value is the rate of the backends at its addresses — what it
// served, retries included; a gateway without the per-backend counter gives each ready endpoint an equal
// share of the Service's rate instead. A pod behind several gateway-fronted Services adds them up. A pod
// behind none has no reading (the HPA then treats it as kube does a pod without a metric); a Service the
// gateways have not yet sent a request to has no counter, so it has no reading until its first request.
import type { IncomingMessage } from 'node:http';
import { REQUESTS_PER_SECOND, kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { PodMetricsSource } from './hpa.ts';
import { MetricError, type Reading } from './hpa-replicas.ts';

/** The gateway's request counter (src/net/gateway/upstream.ts) and its Service-port label. */
export const GATEWAY_REQUESTS = 'strata_gateway_requests_total';
/** Its answers per backend (`{upstream, backend="IP:PORT"}`, src/net/gateway/upstream.ts). */
export const GATEWAY_BACKEND_REQUESTS = 'strata_gateway_backend_requests_total';

const NODE = kindFor('v1', 'Node')!;
/** The shortest window a first reading is taken over (see serviceRates). */
const FIRST_WINDOW_MS = 1_000;
const SLICE = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;

/** How the control plane reaches a node's agent (the server's AgentDialer fits). */
export interface AgentScraper {
  request(node: unknown, path: string, r?: { signal?: AbortSignal }): Promise<IncomingMessage>;
}

export interface GatewayRequestRatesOptions {
  objects: ObjectStore;
  agents: AgentScraper;
  /** The rate's window: samples older than this are dropped. Default 30 s. */
  windowMs?: number;
  /** How often every agent is sampled once the HPA asked for the metric. Default 5 s. */
  intervalMs?: number;
  /** A scrape gives up after this. Default 5 s. */
  timeoutMs?: number;
  now?: () => number;
}

interface Sample {
  at: number;
  /** Requests so far per upstream (`NS/SERVICE:PORT`), every status code summed. */
  totals: Map<string, number>;
  /** Answers so far per backend of an upstream (`NS/SERVICE:PORT IP:PORT`). */
  backends: Map<string, number>;
}

/** Undo the exposition format's label escaping (\\, \" and \n). */
function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

const LINE = new RegExp(`^${GATEWAY_REQUESTS}\\{(.*)\\}\\s+(\\S+)`);
const BACKEND_LINE = new RegExp(`^${GATEWAY_BACKEND_REQUESTS}\\{(.*)\\}\\s+(\\S+)`);
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

function labelsOf(text: string): Map<string, string> {
  return new Map([...text.matchAll(LABEL)].map(([, name, raw]) => [name, unescapeLabel(raw)]));
}

/** The gateway's request totals per upstream in one Prometheus text exposition. */
export function parseRequestTotals(text: string): Map<string, number> {
  return parseTotals(text).totals;
}

/**
 * Per upstream (every status code summed), and per backend of an upstream (`UPSTREAM BACKEND`, from the
 * per-backend counter; none from a gateway that predates it).
 */
export function parseTotals(text: string): { totals: Map<string, number>; backends: Map<string, number> } {
  const totals = new Map<string, number>();
  const backends = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = LINE.exec(line) ?? BACKEND_LINE.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    if (!Number.isFinite(value)) continue;
    const labels = labelsOf(m[1]);
    const upstream = labels.get('upstream');
    if (upstream === undefined) continue;
    if (m.input.startsWith(GATEWAY_BACKEND_REQUESTS)) {
      const backend = labels.get('backend');
      if (backend !== undefined) backends.set(`${upstream} ${backend}`, value);
    } else totals.set(upstream, (totals.get(upstream) ?? 0) + value);
  }
  return { totals, backends };
}

/**
 * Requests per second per upstream over one node's samples: newest against oldest. A counter that went
 * down was reset (the agent restarted): as Prometheus' rate, count from zero.
 */
export function ratesOf(
  samples: Sample[],
  series: 'totals' | 'backends' = 'totals',
): { rates: Map<string, number>; at: number; windowMs: number } {
  const first = samples[0];
  const last = samples[samples.length - 1];
  const windowMs = last.at - first.at;
  const rates = new Map<string, number>();
  if (windowMs <= 0) return { rates, at: last.at, windowMs };
  for (const [key, total] of last[series]) {
    const before = first[series].get(key) ?? 0;
    const delta = total >= before ? total - before : total;
    rates.set(key, (delta * 1000) / windowMs);
  }
  return { rates, at: last.at, windowMs };
}

/** A rate with when it was taken and over what window. */
interface Rate {
  rps: number;
  at: number;
  windowMs: number;
}

/** A backend's address without its port (`10.88.0.5:8080` → `10.88.0.5`). */
function addressOf(backend: string): string {
  const colon = backend.lastIndexOf(':');
  return colon < 0 ? backend : backend.slice(0, colon);
}

/** The Service an upstream name belongs to (`NS/SERVICE:PORT` → `NS/SERVICE`). */
function serviceOf(upstream: string): string {
  const colon = upstream.lastIndexOf(':');
  return colon < 0 ? upstream : upstream.slice(0, colon);
}

export class GatewayRequestRates implements PodMetricsSource {
  private readonly o: GatewayRequestRatesOptions;
  private readonly now: () => number;
  private readonly windowMs: number;
  /** Per node, its samples in the window (oldest first). */
  private readonly samples = new Map<string, Sample[]>();
  private timer?: ReturnType<typeof setInterval>;
  private running?: Promise<void>;
  /** When the HPA last asked (wall clock). */
  private lastAsked = 0;

  constructor(o: GatewayRequestRatesOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.windowMs = o.windowMs ?? 30_000;
  }

  /** Stop sampling now (tests; otherwise it stops by itself when no longer asked). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample of every node now (joins one under way). */
  sample(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    const { items } = await this.o.objects.list(NODE, undefined);
    const names = new Set(items.map((n: any) => n.metadata.name as string));
    for (const k of this.samples.keys()) if (!names.has(k)) this.samples.delete(k);
    await Promise.all(
      items.map(async (node: any) => {
        const name = node.metadata.name as string;
        let text: string;
        try {
          text = await this.scrape(node);
        } catch {
          // An unreachable agent adds no sample; its older ones age out of the window.
          return;
        }
        const at = this.now();
        const list = this.samples.get(name) ?? [];
        list.push({ at, ...parseTotals(text) });
        while (list.length > 2 && list[0].at < at - this.windowMs) list.shift();
        this.samples.set(name, list);
      }),
    );
  }

  private async scrape(node: unknown): Promise<string> {
    const res = await this.o.agents.request(node, '/metrics', {
      signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000),
    });
    const parts: Buffer[] = [];
    for await (const d of res) parts.push(d as Buffer);
    const text = Buffer.concat(parts).toString('utf8');
    if ((res.statusCode ?? 500) >= 400) throw new Error(`agent answered ${res.statusCode}`);
    return text;
  }

  /**
   * Sampling starts with a question and stops when no question came for two windows: a cluster without
   * such an HPA (or a server that stopped leading) does not scrape.
   */
  private ensureSampling(): void {
    this.lastAsked = Date.now();
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (Date.now() - this.lastAsked > 2 * this.windowMs) {
        this.stop();
        this.samples.clear();
      } else void this.sample().catch(() => {});
    }, this.o.intervalMs ?? 5000);
    this.timer.unref?.();
  }

  /**
   * Per Service (`NS/NAME`): requests per second summed over nodes and ports, with when and over what window.
   * `fresh`: a reader that may come first (the custom metrics API) gets a rate even then: a node with one
   * sample only is sampled again after FIRST_WINDOW_MS. The HPA, asking every sync, does not wait.
   */
  async serviceRates(opts: { fresh?: boolean } = {}): Promise<Map<string, Rate>> {
    return (await this.rates(opts)).services;
  }

  /** Service rates, and per Service the rate each backend address answered (summed over nodes and ports). */
  private async rates(opts: { fresh?: boolean }): Promise<{
    services: Map<string, Rate>;
    backends: Map<string, Map<string, Rate>>;
  }> {
    this.ensureSampling();
    await this.sample();
    if (opts.fresh && [...this.samples.values()].some((list) => list.length < 2)) {
      await new Promise((r) => setTimeout(r, FIRST_WINDOW_MS));
      await this.sample();
    }
    const services = new Map<string, Rate>();
    const backends = new Map<string, Map<string, Rate>>();
    const add = (m: Map<string, Rate>, key: string, rps: number, at: number, windowMs: number) => {
      const prev = m.get(key);
      m.set(key, {
        rps: (prev?.rps ?? 0) + rps,
        at: Math.max(prev?.at ?? 0, at),
        windowMs: Math.max(prev?.windowMs ?? 0, windowMs),
      });
    };
    for (const list of this.samples.values()) {
      if (list.length < 2) continue;
      const { rates, at, windowMs } = ratesOf(list);
      for (const [upstream, rps] of rates) add(services, serviceOf(upstream), rps, at, windowMs);
      for (const [key, rps] of ratesOf(list, 'backends').rates) {
        const [upstream, backend] = key.split(' ');
        const svc = serviceOf(upstream);
        const byAddress = backends.get(svc) ?? new Map<string, Rate>();
        add(byAddress, addressOf(backend), rps, at, windowMs);
        backends.set(svc, byAddress);
      }
    }
    return { services, backends };
  }

  /**
   * Each ready endpoint pod's rate: what the gateways counted for its address (the per-backend counter),
   * else — a gateway without that counter — an equal share of its Service's rate.
   */
  async podMetric(
    namespace: string,
    metric: string,
    pods: string[],
    opts: { fresh?: boolean } = {},
  ): Promise<Map<string, Reading>> {
    if (metric !== REQUESTS_PER_SECOND)
      throw new MetricError(
        `unable to get metric ${metric}: the pods metrics served here are ${REQUESTS_PER_SECOND} (from the node gateways)`,
      );
    const { services, backends } = await this.rates(opts);
    const wanted = new Set(pods);
    // Each Service's ready endpoint pods and their addresses, from its EndpointSlices.
    const endpoints = new Map<string, Map<string, string[]>>();
    const { items } = await this.o.objects.list(SLICE, namespace);
    for (const slice of items as any[]) {
      const svc = slice.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc || !services.has(`${namespace}/${svc}`)) continue;
      const members = endpoints.get(svc) ?? new Map<string, string[]>();
      for (const ep of slice.endpoints ?? [])
        if (ep.conditions?.ready !== false && ep.targetRef?.kind === 'Pod' && ep.targetRef.name)
          members.set(ep.targetRef.name, [
            ...(members.get(ep.targetRef.name) ?? []),
            ...(ep.addresses ?? []),
          ]);
      endpoints.set(svc, members);
    }
    const out = new Map<string, Reading>();
    for (const [svc, members] of endpoints) {
      if (members.size === 0) continue;
      const r = services.get(`${namespace}/${svc}`)!;
      const byAddress = backends.get(`${namespace}/${svc}`);
      for (const [pod, addresses] of members) {
        if (!wanted.has(pod)) continue;
        let value = r.rps / members.size;
        if (byAddress) {
          // A ready pod no request reached yet has no series: its rate is 0.
          value = 0;
          for (const a of addresses) value += byAddress.get(a)?.rps ?? 0;
        }
        const prev = out.get(pod);
        out.set(pod, { value: (prev?.value ?? 0) + value, timestamp: r.at, windowMs: r.windowMs });
      }
    }
    return out;
  }
}
