// The node gateway as a node runs it (src/net/gateway/): its sources are the agent's API client, its
// Events go through the API like the agent's own, and this node writes `status.loadBalancer.ingress` of
// the LoadBalancer Services and Ingresses it serves — the node does it rather than a control-plane
// controller because only the node knows whether its listener actually bound (a taken port becomes
// `ports[].error` in the status), as K3s's ServiceLB reports the nodes whose svclb pods run. It also
// serves the `strata` IngressClass (the control plane creates it: src/server/ingress-admission.ts).
import { kindFor, type Ingress, type Service } from '../api/index.ts';
import { selfSignedServing } from '../auth/pki.ts';
import { ClientError, type Client } from '../client/client.ts';
import { clientEventSink } from '../client/event-sink.ts';
import { clientListWatch } from '../client/list-watch.ts';
import { ingressTlsSecrets } from './node-identity-secrets.ts';
import { EventRecorder } from '../lib/events.ts';
import { errorMessage, type Log } from '../lib/log.ts';
import { NodeGateway, type LoadBalancerIngress, type StatusSink } from '../net/gateway/index.ts';
import { localHandlerBackends } from '../net/gateway/local-backend.ts';
import { patchingStatsSink } from '../net/gateway/serving-stats.ts';
import { localHandlers } from '../sandbox/http-handlers.ts';
import { gatewayWorkerCount } from '../net/gateway/workers.ts';

export interface NodeGatewayOptions {
  client: Client;
  nodeName: string;
  /** The node's address: advertised in status (the listeners bind every address). */
  address: string;
  /** Ingress ports (`--http-port`/`--https-port`); 0 turns one off. Defaults 80 and 443. */
  httpPort?: number;
  httpsPort?: number;
  log: Log;
}

const kind = (apiVersion: string, k: string) => kindFor(apiVersion, k)!;

/** Replace `status.loadBalancer` of the object, with compare-and-swap; gone objects are left alone. */
async function writeLoadBalancerStatus(
  client: Client,
  apiVersion: string,
  k: string,
  obj: Service | Ingress,
  ingress: LoadBalancerIngress[],
): Promise<void> {
  const info = kind(apiVersion, k);
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await client.find(info, obj.metadata.namespace, obj.metadata.name!);
    if (!current) return;
    current.status = { ...current.status, loadBalancer: ingress.length ? { ingress } : {} };
    try {
      await client.replaceStatus(info, current);
      return;
    } catch (err) {
      if (err instanceof ClientError && err.code === 409) continue;
      throw err;
    }
  }
}

export async function startNodeGateway(o: NodeGatewayOptions): Promise<NodeGateway | undefined> {
  const { client, log } = o;
  const recorder = new EventRecorder({
    sink: clientEventSink(client),
    component: 'strata-gateway',
    host: o.nodeName,
    log,
  });
  const status: StatusSink = {
    service: (svc, ingress) => writeLoadBalancerStatus(client, 'v1', 'Service', svc, ingress),
    ingress: (ing, ingress) =>
      writeLoadBalancerStatus(client, 'networking.k8s.io/v1', 'Ingress', ing, ingress),
  };
  const port = (v: number | undefined, dflt: number) => (v === 0 ? undefined : (v ?? dflt));
  const workers = gatewayWorkerCount();
  const gateway = new NodeGateway({
    nodeName: o.nodeName,
    httpPort: port(o.httpPort, 80),
    httpsPort: port(o.httpsPort, 443),
    addresses: [o.address],
    defaultCertificate: await selfSignedServing('strata-gateway', [o.address, 'localhost']),
    status,
    event: (obj, type, reason, message) => recorder.event(obj, type, reason, message),
    // Threads serving the listeners: STRATA_GATEWAY_WORKERS (default 1; src/net/gateway/workers.ts).
    workers,
    // This node's wasm handlers are called in-process, not over loopback HTTP (local-backend.ts); worker
    // threads cannot call them, so only on one thread (the default).
    backendFactory: workers === 1 ? localHandlerBackends((ip, p) => localHandlers.get(ip, p)) : undefined,
    // Knative route hosts; the activator's per-revision reports patch the Revision (src/serving reads them).
    serving: patchingStatsSink(
      o.nodeName,
      (ns, name, body) => client.patch(kind('serving.knative.dev/v1', 'Revision'), ns, name, body),
      log,
    ),
    log,
  });
  try {
    await gateway.start({
      services: clientListWatch(client, kind('v1', 'Service')),
      endpointSlices: clientListWatch(client, kind('discovery.k8s.io/v1', 'EndpointSlice')),
      ingresses: clientListWatch(client, kind('networking.k8s.io/v1', 'Ingress')),
      ingressClasses: clientListWatch(client, kind('networking.k8s.io/v1', 'IngressClass')),
      // Only the Secrets Ingresses name for TLS: a node may not list Secrets (node-identity-secrets.ts).
      secrets: ingressTlsSecrets(client),
    });
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'gateway off: it could not start');
    await gateway.stop();
    return undefined;
  }
  log.info({ http: gateway.httpPort, https: gateway.httpsPort }, 'gateway: serving');
  return gateway;
}
