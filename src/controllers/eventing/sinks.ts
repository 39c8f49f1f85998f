// Resolving a Knative Destination (`ref`, `uri`, or a ref with a relative uri) to where an event is
// POSTed. The control plane has no cluster DNS, so a `v1` Service is reached at one of its ready
// endpoints (its EndpointSlices; its cluster IP when it has none listed), while status.sinkUri shows
// the Knative-style address `http://NAME.NAMESPACE.svc.cluster.local`. A Knative Service or Route is
// reached through the node gateway with the host of its status.address.url (else status.url) as the Host
// header — a Knative Service's is its cluster-local name, which the gateway routes like its public one;
// another Addressable (a Broker: its ingress) at its address as it is.
import { type Destination, kindFor } from '../../api/index.ts';
import type { ObjectStore } from '../../store/objects.ts';

export interface ResolvedSink {
  /** What status.sinkUri shows. */
  uri: string;
  /** Where the POST goes, and extra headers (Host for the gateway). */
  target: string;
  headers?: Record<string, string>;
}

export class SinkError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface SinkOptions {
  /** The node gateway's HTTP address for Knative Services. Default http://127.0.0.1:80. */
  gateway?: string;
}

const SERVICE = kindFor('v1', 'Service')!;
const SLICE = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;

function join(base: string, rel?: string): string {
  if (!rel) return base;
  return new URL(rel, base.endsWith('/') ? base : `${base}/`).toString();
}

async function serviceTarget(objects: ObjectStore, ns: string, name: string): Promise<ResolvedSink> {
  const svc = await objects.get(SERVICE, ns, name);
  if (!svc) throw new SinkError('NotFound', `services "${name}" not found in namespace ${ns}`);
  const ports: any[] = svc.spec?.ports ?? [];
  const port = ports.find((p) => p.name === 'http') ?? ports[0];
  if (!port) throw new SinkError('NoPorts', `service ${ns}/${name} has no ports`);
  const uri = `http://${name}.${ns}.svc.cluster.local${port.port === 80 ? '' : `:${port.port}`}`;
  const { items } = await objects.list(SLICE, ns);
  for (const slice of items as any[]) {
    if (slice.metadata.labels?.['kubernetes.io/service-name'] !== name) continue;
    const sp =
      (slice.ports ?? []).find((p: any) => (port.name ? p.name === port.name : true)) ?? slice.ports?.[0];
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false || !ep.addresses?.length || sp?.port === undefined) continue;
      const addr: string = ep.addresses[0];
      return { uri, target: `http://${addr.includes(':') ? `[${addr}]` : addr}:${sp.port}` };
    }
  }
  const ip = svc.spec?.clusterIP;
  if (ip && ip !== 'None') return { uri, target: `http://${ip}:${port.port}` };
  throw new SinkError('NoEndpoints', `service ${ns}/${name} has no ready endpoints`);
}

/** Resolve a Destination in `namespace` (a ref's own namespace wins). */
export async function resolveSink(
  objects: ObjectStore,
  namespace: string,
  d: Destination,
  o: SinkOptions = {},
): Promise<ResolvedSink> {
  if (!d.ref) return { uri: d.uri!, target: d.uri! };
  const ns = d.ref.namespace ?? namespace;
  const apiVersion = d.ref.apiVersion ?? 'v1';
  if (d.ref.kind === 'Service' && apiVersion === 'v1') {
    const s = await serviceTarget(objects, ns, d.ref.name);
    return { ...s, uri: join(s.uri, d.uri), target: join(s.target, d.uri) };
  }
  const kind = kindFor(apiVersion, d.ref.kind);
  if (!kind) throw new SinkError('UnknownKind', `no kind ${d.ref.kind} in ${apiVersion} is served here`);
  const obj = await objects.get(kind, kind.namespaced ? ns : undefined, d.ref.name);
  if (!obj) throw new SinkError('NotFound', `${kind.plural}.${kind.group} "${d.ref.name}" not found`);
  // Addressable: status.url (Knative Services, Routes) or status.address.url.
  const url: string | undefined = obj.status?.address?.url ?? obj.status?.url;
  if (!url)
    throw new SinkError('NotAddressable', `${kind.kind} ${ns}/${d.ref.name} has no address yet (status.url)`);
  // A Broker's address is its ingress, reached as it is; Serving's hosts are routed by the gateway.
  if (kind.group !== 'serving.knative.dev') return { uri: join(url, d.uri), target: join(url, d.uri) };
  const u = new URL(url);
  const gw = new URL(o.gateway ?? 'http://127.0.0.1:80');
  return {
    uri: join(url, d.uri),
    target: join(`${gw.origin}${u.pathname}`, d.uri),
    headers: { host: u.host },
  };
}
