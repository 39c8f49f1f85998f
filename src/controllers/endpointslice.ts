// The endpoints controller (Kubernetes' EndpointSlice controller): keeps, for every Service with a
// selector, discovery.k8s.io/v1 EndpointSlices listing the pods that match it. The data plane (node
// rules, DNS, the gateway) reads only these.
//
// Per matching pod, one endpoint: address = status.podIP (pods without one — not started yet, or wasm
// pods, which have no pod IP — are left out for now), conditions ready = Ready and not terminating
// (always true with publishNotReadyAddresses), serving = Ready, terminating = being deleted; nodeName,
// the node's zone label, a targetRef to the pod, and `hostname` when the pod names this Service as its
// subdomain. Finished pods (Succeeded/Failed) are left out. Ports are resolved per pod: a named
// targetPort becomes the number of the pod's container port of that name and protocol (a pod without
// it gets no such port); pods whose resolved ports are the same share slices, at most 100 endpoints each.
//
// Slices are labelled `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
// endpointslice-controller.k8s.io`, owned by the Service (the garbage collector removes them with it),
// named `<service>-<random>`. Existing slices are reused where their ports match, so an unchanged
// endpoint set writes nothing. A Service with no matching pod keeps one empty slice (as Kubernetes).
// Services without a selector, and ExternalName Services, get none: their slices are written by hand
// and never touched here.
//
// The slice cache may lag behind our own writes; like Kubernetes' endpointSliceTracker, a Service whose
// cached slices are older than what this controller wrote is retried shortly rather than synced from a
// stale view (which would create duplicates).
import { isDeepStrictEqual } from 'node:util';
import {
  ENDPOINTSLICE_CONTROLLER_NAME,
  ENDPOINTSLICE_MANAGED_BY_LABEL,
  type Endpoint,
  type EndpointPort,
  SERVICE_NAME_LABEL,
  type ServicePort,
  kindFor,
  isDeleting,
  isReady,
} from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { errorCode, ignoreNotFound } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';
import { controllerRefTo, isFinished, objectKeyOf } from './pods.ts';

const SERVICE = kindFor('v1', 'Service')!;
const POD = kindFor('v1', 'Pod')!;
const NODE = kindFor('v1', 'Node')!;
const SLICE = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;

const COMPONENT = 'endpointslice-controller';
export const MAX_ENDPOINTS_PER_SLICE = 100;
const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** How soon a Service whose slice cache is behind our writes is looked at again. */
const STALE_RETRY_MS = 20;
/** How long a write of ours is waited for in the cache before the expectation is dropped. */
const EXPECTATION_TTL_MS = 5_000;

/** The slice contents the controller wants: endpoints grouped by their resolved ports. */
export interface DesiredSlice {
  ports: EndpointPort[];
  endpoints: Endpoint[];
}

/** A Service's selector as given (a map); absent or empty means "not managed here". */
function selectorOf(svc: any): Record<string, string> | undefined {
  const sel = svc?.spec?.selector;
  return sel && Object.keys(sel).length > 0 ? sel : undefined;
}

export function selectorMatches(
  selector: Record<string, string>,
  labels: Record<string, string> | undefined,
): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
}

/** Whether this controller keeps the Service's slices (a selector, and not ExternalName). */
export function managesService(svc: any): boolean {
  return svc?.spec?.type !== 'ExternalName' && selectorOf(svc) !== undefined;
}

/** The container port number a Service port's targetPort means for this pod, if the pod has it. */
export function resolveTargetPort(pod: any, port: ServicePort): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  const protocol = port.protocol ?? 'TCP';
  for (const c of pod.spec?.containers ?? [])
    for (const cp of c.ports ?? [])
      if (cp.name === target && (cp.protocol ?? 'TCP') === protocol) return cp.containerPort;
  return undefined;
}

/** The endpoint ports of one pod for the Service, in the Service's port order. */
export function podEndpointPorts(svc: any, pod: any): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const p of (svc.spec.ports ?? []) as ServicePort[]) {
    const port = resolveTargetPort(pod, p);
    if (port === undefined) continue;
    out.push({
      name: p.name ?? '',
      protocol: p.protocol ?? 'TCP',
      port,
      ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    });
  }
  return out;
}

/** The endpoint of a pod, or undefined for a pod that should not be listed. */
export function podEndpoint(
  svc: any,
  pod: any,
  zoneOf: (node: string) => string | undefined,
): Endpoint | undefined {
  const ip: string | undefined = pod.status?.podIP;
  if (!ip || isFinished(pod)) return undefined;
  const terminating = isDeleting(pod);
  const podReady = isReady(pod);
  const publishNotReady = svc.spec.publishNotReadyAddresses === true;
  const ep: Endpoint = {
    addresses: [ip],
    conditions: {
      ready: publishNotReady || (podReady && !terminating),
      serving: publishNotReady || podReady,
      terminating,
    },
  };
  if (pod.spec?.hostname && pod.spec?.subdomain === svc.metadata.name) ep.hostname = pod.spec.hostname;
  if (pod.spec?.nodeName) {
    ep.nodeName = pod.spec.nodeName;
    const zone = zoneOf(pod.spec.nodeName);
    if (zone) ep.zone = zone;
  }
  ep.targetRef = {
    kind: 'Pod',
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    uid: pod.metadata.uid,
  };
  return ep;
}

/**
 * What the Service's slices should hold: the matching pods' endpoints grouped by port set, sorted so
 * the result does not depend on cache order, cut into slices of `max` endpoints.
 */
export function desiredSlices(
  svc: any,
  pods: Iterable<any>,
  zoneOf: (node: string) => string | undefined = () => undefined,
  max = MAX_ENDPOINTS_PER_SLICE,
): DesiredSlice[] {
  const selector = selectorOf(svc);
  if (!selector) return [];
  const groups = new Map<string, DesiredSlice>();
  for (const pod of pods) {
    if (pod.metadata.namespace !== svc.metadata.namespace || !selectorMatches(selector, pod.metadata.labels))
      continue;
    const ep = podEndpoint(svc, pod, zoneOf);
    if (!ep) continue;
    const ports = podEndpointPorts(svc, pod);
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    g.endpoints.push(ep);
  }
  const out: DesiredSlice[] = [];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    g.endpoints.sort((a, b) => (a.targetRef!.name! < b.targetRef!.name! ? -1 : 1));
    for (let i = 0; i < g.endpoints.length; i += max)
      out.push({ ports: g.ports, endpoints: g.endpoints.slice(i, i + max) });
  }
  // No endpoint at all: one empty placeholder slice, as Kubernetes keeps.
  if (out.length === 0) out.push({ ports: [], endpoints: [] });
  return out;
}

function isManaged(slice: any): boolean {
  return slice?.metadata?.labels?.[ENDPOINTSLICE_MANAGED_BY_LABEL] === ENDPOINTSLICE_CONTROLLER_NAME;
}

function serviceKeyOfSlice(slice: any): string | undefined {
  const name = slice?.metadata?.labels?.[SERVICE_NAME_LABEL];
  return name ? `${slice.metadata.namespace}/${name}` : undefined;
}

/** Labels of a managed slice: the Service's own (as Kubernetes copies them) plus the two of ours. */
function sliceLabels(svc: any): Record<string, string> {
  return {
    ...(svc.metadata.labels ?? {}),
    [SERVICE_NAME_LABEL]: svc.metadata.name,
    [ENDPOINTSLICE_MANAGED_BY_LABEL]: ENDPOINTSLICE_CONTROLLER_NAME,
  };
}

export class EndpointSliceController extends QueuedController {
  private services!: Informer<any>;
  private slices!: Informer<any>;
  private nodes!: Informer<any>;
  /** namespace → (pod key → pod), for matching without a scan of every pod. */
  private readonly podsByNamespace = new Map<string, Map<string, any>>();
  /** Service key → slice name → the resourceVersion we wrote (or 'deleted') and when. */
  private readonly written = new Map<string, Map<string, { rv: string; at: number }>>();

  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  async start(): Promise<void> {
    this.services = this.informers.informerFor(SERVICE);
    this.slices = this.informers.informerFor(SLICE);
    this.nodes = this.informers.informerFor(NODE);
    const pods = this.informers.informerFor(POD);
    const enqueueForPod = (pod: any) => {
      for (const svc of this.services.values()) {
        if (svc.metadata.namespace !== pod.metadata.namespace) continue;
        const sel = selectorOf(svc);
        if (sel && selectorMatches(sel, pod.metadata.labels)) this.queue.add(objectKeyOf(svc));
      }
    };
    const podChanged = (old: any, pod: any) => {
      const ns: string = (pod ?? old).metadata.namespace;
      let m = this.podsByNamespace.get(ns);
      if (old) m?.delete(objectKeyOf(old));
      if (pod) {
        if (!m) this.podsByNamespace.set(ns, (m = new Map()));
        m.set(objectKeyOf(pod), pod);
      } else if (m?.size === 0) this.podsByNamespace.delete(ns);
      // Both: a label change moves the pod from one Service to another.
      if (old) enqueueForPod(old);
      if (pod) enqueueForPod(pod);
    };
    const sliceChanged = (slice: any) => {
      const key = serviceKeyOfSlice(slice);
      if (key && isManaged(slice)) this.queue.add(key);
    };
    this.removeHandlers.push(
      this.services.addHandler({
        onAdd: (s) => this.queue.add(objectKeyOf(s)),
        onUpdate: (_o, s) => this.queue.add(objectKeyOf(s)),
        onDelete: (s) => this.queue.add(objectKeyOf(s)),
      }),
      pods.addHandler({
        onAdd: (p) => podChanged(undefined, p),
        onUpdate: (old, p) => podChanged(old, p),
        onDelete: (p) => podChanged(p, undefined),
      }),
      this.slices.addHandler({
        onAdd: sliceChanged,
        onUpdate: (_o, s) => sliceChanged(s),
        onDelete: sliceChanged,
      }),
      // A node's zone label is copied into endpoints.
      this.nodes.addHandler({
        onUpdate: (old, node) => {
          if (old.metadata.labels?.[ZONE_LABEL] === node.metadata.labels?.[ZONE_LABEL]) return;
          for (const m of this.podsByNamespace.values())
            for (const pod of m.values()) if (pod.spec?.nodeName === node.metadata.name) enqueueForPod(pod);
        },
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** The managed slices of a Service in the cache. */
  private cachedSlices(namespace: string, name: string): any[] {
    const out: any[] = [];
    for (const s of this.slices.values())
      if (
        s.metadata.namespace === namespace &&
        s.metadata.labels?.[SERVICE_NAME_LABEL] === name &&
        isManaged(s)
      )
        out.push(s);
    return out;
  }

  /**
   * True when the cache has not yet seen every write we made for this Service. An expectation older than
   * EXPECTATION_TTL_MS is dropped (the slice was changed or removed by someone else meanwhile).
   */
  private stale(key: string): boolean {
    const writes = this.written.get(key);
    if (!writes) return false;
    const ns = key.slice(0, key.indexOf('/'));
    const now = Date.now();
    for (const [name, w] of writes) {
      const cached = this.slices.get(`${ns}/${name}`);
      const caught =
        w.rv === 'deleted' ? !cached : !!cached && Number(cached.metadata.resourceVersion) >= Number(w.rv);
      if (!caught && now - w.at < EXPECTATION_TTL_MS) return true;
      writes.delete(name);
    }
    this.written.delete(key);
    return false;
  }

  private noteWrite(key: string, name: string, rv: string): void {
    let m = this.written.get(key);
    if (!m) this.written.set(key, (m = new Map()));
    m.set(name, { rv, at: Date.now() });
  }

  protected async reconcile(key: string): Promise<void> {
    if (this.stale(key)) {
      this.queue.addAfter(key, STALE_RETRY_MS);
      return;
    }
    const [namespace, name] = key.split('/');
    const svc = this.services.get(key);
    const existing = this.cachedSlices(namespace, name);
    if (!svc || isDeleting(svc) || !managesService(svc)) {
      // Gone, or no longer ours to keep: our slices go (hand-written ones carry no managed-by label).
      for (const s of existing) await this.deleteSlice(key, s);
      return;
    }
    const pods = this.podsByNamespace.get(namespace)?.values() ?? [];
    const zoneOf = (node: string) => this.nodes.get(node)?.metadata.labels?.[ZONE_LABEL];
    const desired = desiredSlices(svc, pods, zoneOf);
    const labels = sliceLabels(svc);
    const owner = controllerRefTo(svc);
    // Reuse slices whose ports match (fewest rewrites); the rest are created or deleted.
    const unused = [...existing].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const plan: { want: DesiredSlice; slice?: any }[] = desired.map((want) => {
      const i = unused.findIndex((s) => isDeepStrictEqual(s.ports ?? [], want.ports));
      return { want, slice: i >= 0 ? unused.splice(i, 1)[0] : undefined };
    });
    // Slices left over but needed for a new port set are rewritten rather than deleted and created.
    for (const p of plan) if (!p.slice && unused.length) p.slice = unused.shift();
    for (const { want, slice } of plan) {
      if (!slice) {
        const created = await this.objects.create({
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { generateName: `${name}-`, namespace, labels, ownerReferences: [owner] },
          addressType: 'IPv4',
          endpoints: want.endpoints,
          ports: want.ports,
        });
        this.noteWrite(key, created.metadata.name, created.metadata.resourceVersion);
        continue;
      }
      const same =
        isDeepStrictEqual(slice.endpoints ?? [], want.endpoints) &&
        isDeepStrictEqual(slice.ports ?? [], want.ports) &&
        isDeepStrictEqual(slice.metadata.labels ?? {}, labels) &&
        slice.metadata.ownerReferences?.[0]?.uid === owner.uid;
      if (same) continue;
      const updated = await this.objects.update({
        ...slice,
        metadata: { ...slice.metadata, labels, ownerReferences: [owner] },
        endpoints: want.endpoints,
        ports: want.ports,
      });
      this.noteWrite(key, updated.metadata.name, updated.metadata.resourceVersion);
    }
    for (const s of unused) await this.deleteSlice(key, s);
  }

  private async deleteSlice(key: string, slice: any): Promise<void> {
    try {
      await ignoreNotFound(
        this.objects.delete(SLICE, slice.metadata.namespace, slice.metadata.name, {
          preconditions: { uid: slice.metadata.uid },
        }),
      );
      this.noteWrite(key, slice.metadata.name, 'deleted');
    } catch (err) {
      // Another slice of that name now (uid precondition): the next sync sees it.
      if (errorCode(err) !== 409) throw err;
    }
  }
}
