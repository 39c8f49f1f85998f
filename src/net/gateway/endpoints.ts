// Which endpoints back a Service port, from the Service and its EndpointSlices (pure): the ready ones, or,
// when none is ready, the serving ones that are terminating (Kubernetes' fallback, as the kernel data
// plane does). A port is named as an Ingress names it: by number (the Service port) or by name.
import type { EndpointSlice, Service, ServicePort } from '../../api/index.ts';

export interface EndpointAddress {
  ip: string;
  port: number;
  nodeName?: string;
  /** The pod behind it (namespace/name), when the slice says. */
  pod?: string;
}

/** The Service port an Ingress backend or a LoadBalancer listener means. */
export function servicePort(svc: Service, port: number | string): ServicePort | undefined {
  return (svc.spec.ports ?? []).find((p) => (typeof port === 'number' ? p.port === port : p.name === port));
}

export function endpointsFor(
  svc: Service,
  port: ServicePort,
  slices: readonly EndpointSlice[],
): EndpointAddress[] {
  const ready = new Map<string, EndpointAddress>();
  const terminating = new Map<string, EndpointAddress>();
  const name = svc.metadata.name;
  const namespace = svc.metadata.namespace;
  for (const slice of slices) {
    if (slice.metadata.namespace !== namespace) continue;
    if (slice.metadata.labels?.['kubernetes.io/service-name'] !== name) continue;
    if (slice.addressType !== 'IPv4') continue;
    const sp = (slice.ports ?? []).find(
      (p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP') === (port.protocol ?? 'TCP'),
    );
    if (!sp?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const c = ep.conditions ?? {};
      const target =
        c.ready !== false ? ready : c.serving === true && c.terminating === true ? terminating : undefined;
      if (!target || !ep.addresses[0]) continue;
      const addr: EndpointAddress = { ip: ep.addresses[0], port: sp.port, nodeName: ep.nodeName };
      if (ep.targetRef?.kind === 'Pod')
        addr.pod = `${ep.targetRef.namespace ?? namespace}/${ep.targetRef.name}`;
      target.set(`${addr.ip}:${addr.port}`, addr);
    }
  }
  return [...(ready.size ? ready : terminating).values()];
}
