// NodeGateway: each node's L7 proxy. It follows Services, EndpointSlices, Ingresses, IngressClasses and
// Secrets (informers fed by the agent's API client) and keeps in step:
// - one Upstream per Service port in use (backends = ready endpoints, settings = the Service's annotations);
// - the Ingress routes of its class, served on the HTTP and HTTPS ports (certificates from TLS Secrets, by SNI);
// - one listener per port of each `type: LoadBalancer` Service (K3s ServiceLB style), on the node's
//   addresses: L7 (HTTP/1.1, h2c, WebSocket, with all the upstream protections) when the port is HTTP by
//   its appProtocol or name, else L4 (a TCP pipe; balancing, connect retries, breakers, ejection on
//   connect failures). Closed when the Service goes or stops being a LoadBalancer;
// - the status of both (`status.loadBalancer.ingress`: this node's addresses), through a StatusSink.
// With `workers` > 1 the listeners are served by that many threads (workers.ts: SO_REUSEPORT; what is
// shared and what is per thread is said there).
import { createSecureContext, type SecureContext } from 'node:tls';
import {
  DEFAULT_INGRESS_CLASS_ANNOTATION,
  INGRESS_CLASS_ANNOTATION,
  STRATA_INGRESS_CONTROLLER,
  type EndpointSlice,
  type Ingress,
  type IngressClass,
  type Secret,
  type Service,
  type ServicePort,
} from '../../api/index.ts';
import { Informer, type ListWatch } from '../../lib/informer.ts';
import { defaultLog, errorMessage, type Log } from '../../lib/log.ts';
import { HttpBackend, type Backend } from './backend.ts';
import { routeConfig, upstreamConfig, type RouteConfig } from './config.ts';
import { Counters } from './counters.ts';
import { endpointsFor, servicePort, type EndpointAddress } from './endpoints.ts';
import {
  listenHttp,
  listenHttps,
  listenTcp,
  type HttpHandlers,
  type ListenOptions,
  type Listener,
} from './listeners.ts';
import { proxyRequest, proxyUpgrade, type ClientRequest, type Resolution } from './proxy.ts';
import { IngressRouter } from './routes.ts';
import { readyEndpoints, ServingActivator, type ServingStatsSink } from './serving-activator.ts';
import { BACKEND_REQUESTS, Upstream, type UpstreamEvent } from './upstream.ts';
import { GatewayWorkers, shareLimits } from './workers.ts';

export interface GatewaySources {
  services: ListWatch<Service>;
  endpointSlices: ListWatch<EndpointSlice>;
  ingresses: ListWatch<Ingress>;
  ingressClasses: ListWatch<IngressClass>;
  secrets: ListWatch<Secret>;
}

export interface LoadBalancerIngress {
  ip: string;
  ipMode?: 'VIP' | 'Proxy';
  ports?: { port: number; protocol: 'TCP' | 'UDP' | 'SCTP'; error?: string }[];
}

/** Writes status (the node wiring implements it with the API client). */
export interface StatusSink {
  service(svc: Service, ingress: LoadBalancerIngress[]): Promise<void>;
  ingress(ing: Ingress, ingress: LoadBalancerIngress[]): Promise<void>;
}

/** Records an Event about an object (the agent's EventRecorder fits). */
export type EventFn = (
  obj: { apiVersion: string; kind: string; metadata: { name?: string; namespace?: string; uid?: string } },
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
) => void;

/** Makes the Backend for an endpoint: the hook a local (in-process) handler plugs into. */
export type BackendFactory = (endpoint: EndpointAddress, svc: Service) => Backend | undefined;

export interface GatewayOptions {
  nodeName: string;
  /** Where the listeners bind. Default 0.0.0.0 (every node address). */
  listenAddress?: string;
  /** Ingress ports; undefined = off, 0 = any free port (tests). */
  httpPort?: number;
  /** How often an Ingress port held by another process is tried again (ms). Default 10 s. */
  bindRetryMs?: number;
  httpsPort?: number;
  /** This node's addresses, written into status.loadBalancer.ingress. */
  addresses: string[];
  /** Served on HTTPS when no TLS Secret matches the server name. */
  defaultCertificate: { cert: string; key: string };
  status?: StatusSink;
  event?: EventFn;
  /** Default: an HttpBackend at the endpoint's address. */
  backendFactory?: BackendFactory;
  /**
   * Knative Serving: with a sink for the activator's per-revision reports, the HTTP port also serves the
   * route hosts the serving controllers publish (serving-routes.ts, serving-activator.ts).
   */
  serving?: ServingStatsSink;
  /**
   * Changes within this window are applied together. Default 20 ms. A change after a quiet window is
   * applied at once (a held request waits for its first endpoint; only a burst waits for the window).
   */
  coalesceMs?: number;
  /**
   * Threads serving the listeners (this one included; workers.ts). Default 1. The agent passes
   * `gatewayWorkerCount()` (STRATA_GATEWAY_WORKERS). Ignored with a backendFactory.
   */
  workers?: number;
  /** Bind with SO_REUSEPORT (set for worker threads; implied by workers > 1). */
  reusePort?: boolean;
  /** Threads the breaker limits and retry budget are shared by (set for worker threads). */
  limitShare?: number;
  log?: Log;
}

/** Annotation forcing how a LoadBalancer port is proxied: `http` (L7) or `tcp` (L4). */
export const LB_PROTOCOL_ANNOTATION = 'strata.dev/load-balancer-protocol';

/** L7 when the port says HTTP (appProtocol, or an `http`/`http-*`/`h2c`/`ws` name), unless annotated. */
export function isHttpPort(svc: Service, p: ServicePort): boolean {
  const forced = svc.metadata.annotations?.[LB_PROTOCOL_ANNOTATION];
  if (forced === 'http') return true;
  if (forced === 'tcp') return false;
  const app = (p.appProtocol ?? '').toLowerCase();
  if (['http', 'h2c', 'kubernetes.io/h2c', 'kubernetes.io/ws', 'ws'].includes(app)) return true;
  const name = (p.name ?? '').toLowerCase();
  return name === 'http' || name.startsWith('http-') || name === 'h2c' || name === 'ws';
}

interface LbListener {
  key: string;
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  l7: boolean;
  owner: string;
  listener?: Listener;
  error?: string;
  opening?: Promise<void>;
}

/** The route-cache key of a route without annotations of its own. */
const NO_ANNOTATIONS = {};

const key = (ns: string | undefined, name: string | undefined) => `${ns ?? 'default'}/${name ?? ''}`;

export class NodeGateway {
  readonly counters = new Counters();
  private readonly o: GatewayOptions;
  private readonly log: Log;
  private informers?: {
    services: Informer<Service>;
    slices: Informer<EndpointSlice>;
    ingresses: Informer<Ingress>;
    classes: Informer<IngressClass>;
    secrets: Informer<Secret>;
  };
  private readonly upstreams = new Map<string, Upstream>();
  /** Parsed route settings by Service object, then by the route's own annotations object. */
  private readonly routes = new WeakMap<Service, WeakMap<object, RouteConfig>>();
  private router = new IngressRouter([]);
  private readonly tlsContexts = new Map<string, { rv: string; ctx?: SecureContext }>();
  private readonly lb = new Map<string, LbListener>();
  private http?: Listener;
  private https?: Listener;
  /** Timers of Ingress ports waiting to be bound (see bindIngress). */
  private readonly bindRetries = new Set<NodeJS.Timeout>();
  private timer?: ReturnType<typeof setTimeout>;
  /** When the last sync was scheduled to run (performance.now()): the start of the coalescing window. */
  private lastSync = -Infinity;
  private stopped = false;
  private readonly written = new Map<string, string>();
  /** Knative route hosts and the activator (when GatewayOptions.serving is set). */
  readonly serving?: ServingActivator;
  /** Worker threads started (workers - 1), when there are any. */
  private pool?: GatewayWorkers;
  private readonly listenOptions: ListenOptions;
  private readonly limitShare: number;

  constructor(o: GatewayOptions) {
    this.o = o;
    this.log = o.log ?? defaultLog;
    const threads = o.backendFactory ? 1 : Math.max(1, o.workers ?? 1);
    this.listenOptions = { reusePort: o.reusePort || threads > 1 };
    this.limitShare = o.limitShare ?? threads;
    if (o.serving)
      this.serving = new ServingActivator({
        sink: o.serving,
        counters: this.counters,
        onInvalid: (svc, why) =>
          this.log.warn(
            { service: key(svc.metadata.namespace, svc.metadata.name), why },
            'gateway: bad route table',
          ),
      });
    this.counters.describe(
      'strata_gateway_requests_total',
      'Requests answered, by upstream and status code.',
    );
    this.counters.describe(
      BACKEND_REQUESTS,
      'Responses per backend (pod IP:port) of an upstream, every attempt counted; gone when the backend leaves.',
    );
    this.counters.describe('strata_gateway_retries_total', 'Retries sent, within the retry budget.');
    this.counters.describe(
      'strata_gateway_upstream_response_seconds',
      "Seconds from a request's arrival to its backend's response headers, retries included.",
    );
    this.counters.describe(
      'strata_gateway_retry_budget_exhausted_total',
      'Retries refused by the retry budget.',
    );
    this.counters.describe(
      'strata_gateway_circuit_breaker_trips_total',
      'Requests a backend refused at a breaker limit.',
    );
    this.counters.describe(
      'strata_gateway_outlier_ejections_total',
      'Backends ejected (consecutive errors, failed probes).',
    );
    this.counters.describe(
      'strata_gateway_outlier_returns_total',
      'Ejected backends returned after a successful probe.',
    );
  }

  /** The bound Ingress ports (0 when off or not bound). */
  get httpPort(): number {
    return this.http?.port ?? 0;
  }
  get httpsPort(): number {
    return this.https?.port ?? 0;
  }

  /** The LoadBalancer listeners: `namespace/name` → ports bound (and errors). */
  loadBalancerPorts(): { service: string; port: number; l7: boolean; error?: string }[] {
    return [...this.lb.values()].map((l) => ({ service: l.owner, port: l.port, l7: l.l7, error: l.error }));
  }

  /** Binds the Ingress ports, follows the sources; resolves after the first full sync. */
  async start(sources: GatewaySources): Promise<void> {
    const host = this.o.listenAddress ?? '0.0.0.0';
    const ingressHandlers = (secure: boolean): HttpHandlers => ({
      request: (req, res) =>
        this.serving?.handle(req, res, secure) ||
        void proxyRequest(req, res, (r) => this.resolveIngress(r), secure),
      upgrade: (req, socket, head) =>
        void proxyUpgrade(req, socket, head, (r) => this.resolveIngress(r), secure),
    });
    const bindHttp = async () => {
      this.http = await listenHttp(host, this.o.httpPort!, ingressHandlers(false), this.listenOptions);
    };
    const bindHttps = async () => {
      this.https = await listenHttps(
        host,
        this.o.httpsPort!,
        ingressHandlers(true),
        this.o.defaultCertificate,
        (n) => this.certificateFor(n),
        this.listenOptions,
      );
    };
    if (this.o.httpPort !== undefined) await this.bindIngress('HTTP', this.o.httpPort, bindHttp);
    if (this.o.httpsPort !== undefined) await this.bindIngress('HTTPS', this.o.httpsPort, bindHttps);
    const onError = (err: unknown, context: string) =>
      this.log.warn({ err: errorMessage(err) }, `gateway: ${context}`);
    const changed = {
      onAdd: () => this.schedule(),
      onUpdate: () => this.schedule(),
      onDelete: () => this.schedule(),
    };
    this.informers = {
      services: new Informer(sources.services, { onError }),
      slices: new Informer(sources.endpointSlices, { onError }),
      ingresses: new Informer(sources.ingresses, { onError }),
      classes: new Informer(sources.ingressClasses, { onError }),
      secrets: new Informer(sources.secrets, { onError }),
    };
    // Endpoints of a revision that holds requests are applied at once, not at the end of the coalescing
    // window: the held requests wait for exactly this change (an instance becoming ready), and a cold
    // start's earlier changes (the pod's address, not yet ready) have usually just opened a window.
    const sliceChanged = (slice: EndpointSlice) => {
      const revision = slice.metadata.labels?.['kubernetes.io/service-name'];
      this.schedule(
        revision !== undefined && this.serving?.holds(slice.metadata.namespace ?? '', revision) === true,
      );
    };
    this.informers.slices.addHandler({
      onAdd: sliceChanged,
      onUpdate: (_old, slice) => sliceChanged(slice),
      onDelete: () => this.schedule(),
    });
    for (const inf of Object.values(this.informers)) {
      if (inf !== this.informers.slices) (inf as Informer<unknown>).addHandler(changed);
      (inf as Informer<unknown>).start();
    }
    for (const inf of Object.values(this.informers)) await (inf as Informer<unknown>).waitForSync();
    await this.sync();
    if (this.limitShare > 1 && !this.o.limitShare) await this.startWorkers(this.limitShare - 1);
  }

  /** The worker threads: same listeners (SO_REUSEPORT), routes fed from this thread's informers. */
  private async startWorkers(count: number): Promise<void> {
    const inf = this.informers!;
    this.pool = await GatewayWorkers.start({
      count,
      options: {
        nodeName: this.o.nodeName,
        listenAddress: this.o.listenAddress,
        // The Ingress ports as bound here (0 = any port in tests); with the serving activator they stay
        // on this thread, which holds its state.
        httpPort: this.serving || !this.http ? undefined : this.http.port,
        httpsPort: this.serving || !this.https ? undefined : this.https.port,
        addresses: this.o.addresses,
        defaultCertificate: this.o.defaultCertificate,
        coalesceMs: this.o.coalesceMs,
        limitShare: this.limitShare,
      },
      informers: {
        services: inf.services as Informer<unknown>,
        endpointSlices: inf.slices as Informer<unknown>,
        ingresses: inf.ingresses as Informer<unknown>,
        ingressClasses: inf.classes as Informer<unknown>,
        secrets: inf.secrets as Informer<unknown>,
      },
      counters: this.counters,
      event: this.o.event,
      log: this.log,
    });
  }

  /** Threads serving the listeners (1 without workers). */
  get threads(): number {
    return 1 + (this.pool?.size ?? 0);
  }

  /**
   * Binds an Ingress port. A port another process holds (a web server, another node on this host) is tried
   * again (every 10 s) rather than given up: the gateway serves it as soon as it is free.
   */
  private async bindIngress(name: string, port: number, bind: () => Promise<void>): Promise<void> {
    try {
      await bind();
      return;
    } catch (err) {
      this.log.warn({ port, err: errorMessage(err) }, `gateway: ${name} port not served; retrying`);
    }
    const retry = (): void => {
      this.bindRetries.delete(timer);
      if (this.stopped) return;
      bind().then(
        () => this.log.info({ port }, `gateway: ${name} port now served`),
        () => {
          if (!this.stopped)
            this.bindRetries.add((timer = setTimeout(retry, this.o.bindRetryMs ?? 10_000).unref()));
        },
      );
    };
    let timer = setTimeout(retry, this.o.bindRetryMs ?? 10_000).unref();
    this.bindRetries.add(timer);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.pool?.stop();
    for (const t of this.bindRetries) clearTimeout(t);
    this.bindRetries.clear();
    this.serving?.stop();
    if (this.timer) clearTimeout(this.timer);
    for (const inf of Object.values(this.informers ?? {})) (inf as Informer<unknown>).stop();
    await Promise.all([...this.lb.values()].map((l) => this.closeLb(l)));
    this.lb.clear();
    await this.http?.close();
    await this.https?.close();
    for (const u of this.upstreams.values()) u.close();
    this.upstreams.clear();
  }

  /** A sync soon: at the end of the coalescing window, or on the next turn when `urgent`. */
  private schedule(urgent = false): void {
    if (this.stopped) return;
    if (this.timer) {
      if (!urgent) return;
      clearTimeout(this.timer);
    }
    const window = this.o.coalesceMs ?? 20;
    // Leading and trailing edge: the first change after a quiet window goes at once (next turn, so the
    // changes of one informer event land together); changes inside the window wait for its end.
    const delay = urgent ? 0 : Math.max(0, this.lastSync + window - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastSync = performance.now();
      void this.sync().catch((err) => this.log.warn({ err: errorMessage(err) }, 'gateway: sync failed'));
    }, delay);
  }

  /** Serves Ingresses of a class whose controller is the gateway, or without class when the default is ours. */
  private ours(ing: Ingress, classes: readonly IngressClass[]): boolean {
    const name = ing.spec.ingressClassName ?? ing.metadata.annotations?.[INGRESS_CLASS_ANNOTATION];
    if (name)
      return classes.some((c) => c.metadata.name === name && c.spec.controller === STRATA_INGRESS_CONTROLLER);
    return classes.some(
      (c) =>
        c.spec.controller === STRATA_INGRESS_CONTROLLER &&
        c.metadata.annotations?.[DEFAULT_INGRESS_CLASS_ANNOTATION] === 'true',
    );
  }

  /** Rebuild everything from the informers' view (cheap: upstreams and listeners are kept when unchanged). */
  async sync(): Promise<void> {
    if (!this.informers || this.stopped) return;
    const services = this.informers.services.list();
    const slices = this.informers.slices.list();
    const classes = this.informers.classes.list();
    const ingresses = this.informers.ingresses.list().filter((i) => this.ours(i, classes));
    const byKey = new Map(services.map((s) => [key(s.metadata.namespace, s.metadata.name), s]));
    this.router = new IngressRouter(ingresses);
    const wanted = new Set<string>();
    const want = (svc: Service, port: ServicePort) => {
      const k = `${key(svc.metadata.namespace, svc.metadata.name)}:${port.name || port.port}`;
      wanted.add(k);
      this.ensureUpstream(k, svc, port, slices);
    };
    for (const t of this.router.targets()) {
      const svc = byKey.get(key(t.namespace, t.service));
      const port = svc && servicePort(svc, t.port);
      if (svc && port) want(svc, port);
    }
    const revisionPort = (ns: string, revision: string) => {
      const svc = byKey.get(key(ns, revision));
      const port = svc && servicePort(svc, 'http');
      return svc && port ? { svc, port, k: `${key(ns, revision)}:${port.name || port.port}` } : undefined;
    };
    for (const r of this.serving?.wanted(services) ?? []) {
      const p = revisionPort(r.namespace, r.revision);
      if (p) want(p.svc, p.port);
    }
    const lbWanted = new Map<string, { svc: Service; port: ServicePort }>();
    for (const svc of services) {
      if (svc.spec.type !== 'LoadBalancer' || svc.spec.loadBalancerClass) continue;
      for (const port of svc.spec.ports ?? []) {
        want(svc, port);
        lbWanted.set(
          `${key(svc.metadata.namespace, svc.metadata.name)}/${port.port}/${port.protocol ?? 'TCP'}`,
          {
            svc,
            port,
          },
        );
      }
    }
    for (const [k, u] of this.upstreams) {
      if (wanted.has(k)) continue;
      u.close();
      this.upstreams.delete(k);
    }
    this.serving?.update((ns, revision) => {
      const p = revisionPort(ns, revision);
      return (
        p && {
          svc: p.svc,
          upstream: this.upstreams.get(p.k),
          route: this.route(undefined, p.svc),
          ready: readyEndpoints(p.svc, slices),
        }
      );
    });
    await this.syncLoadBalancers(lbWanted);
    this.pruneTls();
    await this.writeStatus(services, ingresses);
  }

  private ensureUpstream(k: string, svc: Service, port: ServicePort, slices: readonly EndpointSlice[]): void {
    const warn = (annotation: string, value: string, why: string) =>
      this.log.warn(
        { service: key(svc.metadata.namespace, svc.metadata.name), annotation, value },
        `gateway: annotation ignored: ${why}`,
      );
    // Each thread enforces its share of the limits (workers.ts).
    const config = shareLimits(upstreamConfig(svc.metadata.annotations, warn), this.limitShare);
    let u = this.upstreams.get(k);
    if (!u) {
      const ref = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace, uid: svc.metadata.uid },
      };
      u = new Upstream(k, config, {
        counters: this.counters,
        onEvent: (e: UpstreamEvent) => {
          this.log.info({ upstream: k, backend: e.backend, reason: e.reason }, e.message);
          this.o.event?.(ref, e.type, e.reason, e.message);
        },
      });
      this.upstreams.set(k, u);
    } else u.setConfig(config);
    const factory = this.o.backendFactory;
    u.setBackends(
      endpointsFor(svc, port, slices).map((ep) => ({
        id: `${ep.ip}:${ep.port}`,
        create: () =>
          factory?.(ep, svc) ??
          new HttpBackend(ep.ip, ep.port, { maxConnections: config.breaker.maxConnections }),
      })),
    );
  }

  private resolveIngress(req: ClientRequest): Resolution {
    const host = req.headers.host ?? (req.headers[':authority'] as string | undefined);
    const t = this.router.match(host, req.url ?? '/');
    if (!t) return { status: 404, reason: `no Ingress rule for host ${JSON.stringify(host ?? '')}` };
    const svc = this.informers?.services.get(key(t.namespace, t.service));
    const port = svc && servicePort(svc, t.port);
    if (!svc || !port)
      return { status: 503, reason: `Service ${t.namespace}/${t.service} has no port ${t.port}` };
    const u = this.upstreams.get(`${key(t.namespace, t.service)}:${port.name || port.port}`);
    if (!u) return { status: 503, reason: `Service ${t.namespace}/${t.service} is not ready` };
    return { upstream: u, route: this.route(t.ingress.metadata.annotations, svc) };
  }

  /**
   * A route's settings: the Ingress's (or LoadBalancer Service's) annotations, then the Service's. Parsed
   * once per pair of objects (the informers replace an object when it changes), not per request.
   */
  private route(own: Record<string, string> | undefined, svc: Service): RouteConfig {
    let bySvc = this.routes.get(svc);
    if (!bySvc) this.routes.set(svc, (bySvc = new WeakMap()));
    const k = own ?? NO_ANNOTATIONS;
    let config = bySvc.get(k);
    if (!config) bySvc.set(k, (config = routeConfig({ ...svc.metadata.annotations, ...own })));
    return config;
  }

  private certificateFor(serverName: string): SecureContext | undefined {
    const ref = this.router.tlsSecret(serverName);
    if (!ref) return undefined;
    const secret = this.informers?.secrets.get(key(ref.namespace, ref.name));
    if (!secret || secret.type !== 'kubernetes.io/tls') return undefined;
    const k = key(ref.namespace, ref.name);
    const rv = secret.metadata.resourceVersion ?? '';
    const cached = this.tlsContexts.get(k);
    if (cached && cached.rv === rv) return cached.ctx;
    let ctx: SecureContext | undefined;
    try {
      ctx = createSecureContext({
        cert: Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64'),
        key: Buffer.from(secret.data?.['tls.key'] ?? '', 'base64'),
      });
    } catch (err) {
      this.log.warn(
        { secret: k, err: errorMessage(err) },
        'gateway: TLS Secret unusable; default certificate served',
      );
    }
    this.tlsContexts.set(k, { rv, ctx });
    return ctx;
  }

  private pruneTls(): void {
    const used = new Set(this.router.tlsSecrets().map((s) => key(s.namespace, s.name)));
    for (const k of this.tlsContexts.keys()) if (!used.has(k)) this.tlsContexts.delete(k);
  }

  private async syncLoadBalancers(wanted: Map<string, { svc: Service; port: ServicePort }>): Promise<void> {
    for (const [k, l] of this.lb) {
      const w = wanted.get(k);
      if (w && isHttpPort(w.svc, w.port) === l.l7) continue;
      await this.closeLb(l);
      this.lb.delete(k);
    }
    const host = this.o.listenAddress ?? '0.0.0.0';
    const opening: Promise<void>[] = [];
    for (const [k, { svc, port }] of wanted) {
      if (this.lb.has(k)) continue;
      const owner = key(svc.metadata.namespace, svc.metadata.name);
      const l: LbListener = {
        key: k,
        port: port.port,
        protocol: port.protocol ?? 'TCP',
        l7: isHttpPort(svc, port),
        owner,
      };
      this.lb.set(k, l);
      if (l.protocol !== 'TCP') {
        l.error = 'strata.dev/UnsupportedProtocol';
        continue;
      }
      const taken = [...this.lb.values()].find((o) => o !== l && o.port === l.port && o.listener);
      if (taken || l.port === this.httpPort || l.port === this.httpsPort) {
        l.error = 'strata.dev/PortInUse';
        continue;
      }
      const upstreamKey = `${owner}:${port.name || port.port}`;
      const route = () => this.route(undefined, this.informers?.services.get(owner) ?? svc);
      const resolve = (): Resolution => {
        const u = this.upstreams.get(upstreamKey);
        return u ? { upstream: u, route: route() } : { status: 503, reason: `Service ${owner} is not ready` };
      };
      l.opening = (async () => {
        try {
          l.listener = l.l7
            ? await listenHttp(
                host,
                l.port,
                {
                  request: (req, res) => void proxyRequest(req, res, resolve, false),
                  upgrade: (req, socket, head) => void proxyUpgrade(req, socket, head, resolve, false),
                },
                this.listenOptions,
              )
            : await listenTcp(
                host,
                l.port,
                (socket) => void this.pipeTcp(socket, resolve),
                this.listenOptions,
              );
          this.log.info({ service: owner, port: l.port, l7: l.l7 }, 'gateway: LoadBalancer port listening');
        } catch (err) {
          l.error = 'strata.dev/PortInUse';
          this.log.warn(
            { service: owner, port: l.port, err: errorMessage(err) },
            'gateway: LoadBalancer port not served',
          );
        }
      })();
      opening.push(l.opening);
    }
    await Promise.all(opening);
  }

  private async pipeTcp(socket: import('node:net').Socket, resolve: () => Resolution): Promise<void> {
    socket.on('error', () => socket.destroy());
    const where = resolve();
    if ('status' in where) {
      socket.destroy();
      return;
    }
    const conn = await where.upstream.connect(where.route);
    if (!conn.ok) {
      socket.destroy();
      return;
    }
    const done = () => {
      conn.release();
      socket.destroy();
      conn.stream.destroy();
    };
    conn.stream.on('error', done);
    conn.stream.on('close', done);
    socket.on('close', done);
    socket.pipe(conn.stream);
    conn.stream.pipe(socket);
  }

  private async closeLb(l: LbListener): Promise<void> {
    await l.opening;
    await l.listener?.close();
    if (l.listener) this.log.info({ service: l.owner, port: l.port }, 'gateway: LoadBalancer port released');
  }

  /**
   * status.loadBalancer.ingress: this node's addresses (with per-port errors) for its LoadBalancer
   * Services, entries of other nodes kept; removed from Services that are no LoadBalancer any more. Only
   * written when it differs from what the object says.
   */
  private async writeStatus(services: readonly Service[], ingresses: readonly Ingress[]): Promise<void> {
    const sink = this.o.status;
    if (!sink) return;
    const mine = new Set(this.o.addresses);
    const writes: Promise<void>[] = [];
    const put = (
      k: string,
      current: LoadBalancerIngress[],
      next: LoadBalancerIngress[],
      write: () => Promise<void>,
    ) => {
      const want = JSON.stringify(next);
      if (JSON.stringify(current) === want) return;
      writes.push(
        write().catch((err) =>
          this.log.warn({ object: k, err: errorMessage(err) }, 'gateway: status not written'),
        ),
      );
    };
    for (const svc of services) {
      const current = (svc.status?.loadBalancer?.ingress ?? []) as LoadBalancerIngress[];
      const others = current.filter((i) => !i.ip || !mine.has(i.ip));
      let next = others;
      if (svc.spec.type === 'LoadBalancer' && !svc.spec.loadBalancerClass) {
        const owner = key(svc.metadata.namespace, svc.metadata.name);
        const ports = [...this.lb.values()]
          .filter((l) => l.owner === owner)
          .map((l) => ({ port: l.port, protocol: l.protocol, ...(l.error ? { error: l.error } : {}) }));
        next = [...others, ...this.o.addresses.map((ip) => ({ ip, ipMode: 'Proxy' as const, ports }))];
      }
      const k = `svc:${key(svc.metadata.namespace, svc.metadata.name)}`;
      put(k, current, next, () => sink.service(svc, next));
    }
    const served = this.http || this.https;
    for (const ing of ingresses) {
      const current = (ing.status?.loadBalancer?.ingress ?? []) as LoadBalancerIngress[];
      const others = current.filter((i) => !i.ip || !mine.has(i.ip));
      const next = served ? [...others, ...this.o.addresses.map((ip) => ({ ip }))] : others;
      put(`ing:${key(ing.metadata.namespace, ing.metadata.name)}`, current, next, () =>
        sink.ingress(ing, next),
      );
    }
    await Promise.all(writes);
  }
}
