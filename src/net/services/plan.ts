// What the kernel should do for each Service port, from the Services and EndpointSlices alone (pure):
// the virtual address and port, the node port, the backends for traffic from inside the cluster and
// for traffic through the node port (traffic policies), and ClientIP affinity. Headless and
// ExternalName Services have no virtual address and need no rules.
import type { Endpoint, EndpointSlice, Service, ServicePort } from '../../api/index.ts';

export type L4Protocol = 'tcp' | 'udp' | 'sctp';

export interface Backend {
  ip: string;
  port: number;
  /** The endpoint runs on this node (for the Local traffic policies). */
  local: boolean;
}

export interface ServicePortPlan {
  /** `namespace/name/protocol/portName` (`p<port>` for an unnamed port): names the port's chains. */
  id: string;
  clusterIP: string;
  port: number;
  protocol: L4Protocol;
  nodePort?: number;
  /** ClientIP session affinity timeout, if any. */
  affinitySeconds?: number;
  /** Backends for cluster IP traffic (internalTrafficPolicy applied). */
  clusterBackends: Backend[];
  /** Backends for node-port traffic when externalTrafficPolicy is Local (local ones only), else undefined. */
  localBackends?: Backend[];
}

export interface PlanOptions {
  /** This node's name, to tell local endpoints for the Local traffic policies. */
  nodeName?: string;
}

const PROTOCOLS: Record<string, L4Protocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

function portName(p: ServicePort): string {
  return p.name || `p${p.port}`;
}

/**
 * Backends of one Service port: the endpoints of its slices listing a port of that name and protocol.
 * Ready endpoints get traffic; when none is ready, serving ones that are terminating do (Kubernetes'
 * fallback, so connections keep working through a rolling update of the last replicas).
 */
function backendsFor(
  slices: readonly EndpointSlice[],
  port: ServicePort,
  nodeName: string | undefined,
): Backend[] {
  const ready = new Map<string, Backend>();
  const terminating = new Map<string, Backend>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    const sp = (slice.ports ?? []).find(
      (p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP') === (port.protocol ?? 'TCP'),
    );
    if (!sp?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const target = isReady(ep) ? ready : isServingTerminating(ep) ? terminating : undefined;
      if (!target) continue;
      const ip = ep.addresses[0];
      target.set(`${ip}:${sp.port}`, { ip, port: sp.port, local: !!nodeName && ep.nodeName === nodeName });
    }
  }
  const chosen = ready.size ? ready : terminating;
  return [...chosen.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

function isReady(ep: Endpoint): boolean {
  return ep.conditions?.ready !== false;
}

function isServingTerminating(ep: Endpoint): boolean {
  return ep.conditions?.serving === true && ep.conditions?.terminating === true;
}

/** The ports of one Service that need kernel rules (none for headless and ExternalName Services). */
function planService(svc: Service, own: readonly EndpointSlice[], opts: PlanOptions): ServicePortPlan[] {
  const spec = svc.spec;
  const clusterIP = spec.clusterIP;
  if (spec.type === 'ExternalName' || !clusterIP || clusterIP === 'None') return [];
  const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
  const affinitySeconds =
    spec.sessionAffinity === 'ClientIP'
      ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800)
      : undefined;
  const out: ServicePortPlan[] = [];
  for (const port of spec.ports ?? []) {
    const protocol = PROTOCOLS[port.protocol ?? 'TCP'];
    const all = backendsFor(own, port, opts.nodeName);
    const plan: ServicePortPlan = {
      id: `${key}/${protocol}/${portName(port)}`,
      clusterIP,
      port: port.port,
      protocol,
      clusterBackends: spec.internalTrafficPolicy === 'Local' ? all.filter((b) => b.local) : all,
    };
    if (port.nodePort && (spec.type === 'NodePort' || spec.type === 'LoadBalancer')) {
      plan.nodePort = port.nodePort;
      if (spec.externalTrafficPolicy === 'Local') plan.localBackends = all.filter((b) => b.local);
    }
    if (affinitySeconds !== undefined) plan.affinitySeconds = affinitySeconds;
    out.push(plan);
  }
  return out;
}

function slicesByService(slices: readonly EndpointSlice[]): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const name = s.metadata.labels?.['kubernetes.io/service-name'];
    if (!name) continue;
    const key = `${s.metadata.namespace}/${name}`;
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    list.push(s);
  }
  return out;
}

const byId = (a: ServicePortPlan, b: ServicePortPlan) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Every Service port that needs kernel rules, sorted by id. */
export function planServices(
  services: readonly Service[],
  slices: readonly EndpointSlice[],
  opts: PlanOptions = {},
): ServicePortPlan[] {
  const own = slicesByService(slices);
  const out: ServicePortPlan[] = [];
  for (const svc of services)
    out.push(...planService(svc, own.get(`${svc.metadata.namespace}/${svc.metadata.name}`) ?? [], opts));
  return out.sort(byId);
}

/**
 * planServices for a caller that plans again and again from informers (the data plane): informers hand
 * out a new object for every change and the same object otherwise, so a Service whose object and
 * slices are the very ones of the last call keeps its plans (the same plan objects, which lets the
 * renderer skip it too). A change then costs work for the Services it touched, plus a lookup per Service.
 */
export class ServicePlanner {
  private readonly opts: PlanOptions;
  private last = new Map<string, { svc: Service; slices: EndpointSlice[]; plans: ServicePortPlan[] }>();

  constructor(opts: PlanOptions = {}) {
    this.opts = opts;
  }

  plan(services: readonly Service[], slices: readonly EndpointSlice[]): ServicePortPlan[] {
    const own = slicesByService(slices);
    const next = new Map<string, { svc: Service; slices: EndpointSlice[]; plans: ServicePortPlan[] }>();
    const out: ServicePortPlan[] = [];
    for (const svc of services) {
      const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
      const mine = own.get(key) ?? [];
      const prev = this.last.get(key);
      const same =
        prev !== undefined &&
        prev.svc === svc &&
        prev.slices.length === mine.length &&
        prev.slices.every((s, i) => s === mine[i]);
      const plans = same ? prev.plans : planService(svc, mine, this.opts);
      next.set(key, { svc, slices: mine, plans });
      out.push(...plans);
    }
    this.last = next;
    return out.sort(byId);
  }
}
