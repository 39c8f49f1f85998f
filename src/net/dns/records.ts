// What cluster DNS answers, following Kubernetes' DNS specification for Services and Pods
// (the schema CoreDNS's kubernetes plugin implements), as a pure index over Services and EndpointSlices.
// The wire format is someone else's job (server.ts, with a DNS packet library): this file decides.
//
//   <svc>.<ns>.svc.<zone>            A     the cluster IP; for a headless Service, every ready endpoint
//                                    CNAME for an ExternalName Service
//   <host>.<svc>.<ns>.svc.<zone>     A     a headless Service's endpoint by hostname (StatefulSet-style
//                                          `hostname`/`subdomain` pods), or by its dashed address
//   _<port>._<proto>.<svc>.<ns>.svc.<zone>  SRV  each named port: the Service (cluster IP) or each endpoint
//   <a-b-c-d>.<ns>.pod.<zone>        A     a.b.c.d (pods "insecure" mode, as CoreDNS's default)
//   <d.c.b.a>.in-addr.arpa           PTR   a cluster IP → its Service name; a headless endpoint → its name
// A name inside the zone that matches nothing is NXDOMAIN; a name that exists without records of the
// asked type is NODATA (no error, no answer); names outside the zone are forwarded upstream. Short names
// (`web`, `web.shop`, `web.shop.svc`) reach the server already expanded by the pod's search path.
import { isIPv4 } from 'node:net';
import type { EndpointSlice, Service } from '../../api/index.ts';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
/** Kubernetes' DNS spec: 5 seconds for Service records. */
export const RECORD_TTL = 5;

export type RecordType = 'A' | 'AAAA' | 'CNAME' | 'SRV' | 'PTR' | 'TXT' | 'ANY';

export type DnsRecord =
  | { name: string; type: 'A'; ttl: number; data: string }
  | { name: string; type: 'CNAME' | 'PTR'; ttl: number; data: string }
  | {
      name: string;
      type: 'SRV';
      ttl: number;
      data: { priority: number; weight: number; port: number; target: string };
    };

export type Answer =
  /** Authoritative: records (possibly none: NODATA). */
  | { rcode: 'NOERROR'; answers: DnsRecord[] }
  | { rcode: 'NXDOMAIN' }
  /** Not ours: ask the node's resolvers. */
  | { forward: true };

interface Target {
  ip: string;
  /** The label of the endpoint's own name: its hostname, or its address with dashes. */
  label: string;
  ports: Map<string, { port: number; protocol: string }>;
}

interface ServiceEntry {
  clusterIP?: string;
  externalName?: string;
  headless: boolean;
  /** `name/protocol` → port, for SRV. */
  ports: { name: string; protocol: string; port: number }[];
  endpoints: Target[];
}

function dashed(ip: string): string {
  return ip.replaceAll('.', '-');
}

/** A lower-cased name without the trailing dot. */
function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

export class ClusterDnsRecords {
  readonly zone: string;
  /** `<svc>.<ns>` → entry. */
  private readonly services = new Map<string, ServiceEntry>();
  /** Reverse names → target names. */
  private readonly reverse = new Map<string, string>();
  private readonly namespaces = new Set<string>();

  constructor(services: readonly Service[], slices: readonly EndpointSlice[], zone = DEFAULT_CLUSTER_DOMAIN) {
    this.zone = normalise(zone);
    const slicesOf = new Map<string, EndpointSlice[]>();
    for (const s of slices) {
      const svc = s.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc || s.addressType !== 'IPv4') continue;
      const key = `${svc}.${s.metadata.namespace}`;
      slicesOf.set(key, [...(slicesOf.get(key) ?? []), s]);
    }
    for (const svc of services) {
      const ns = svc.metadata.namespace!;
      const key = `${svc.metadata.name}.${ns}`;
      this.namespaces.add(ns);
      const spec = svc.spec;
      const headless = spec.clusterIP === 'None';
      const entry: ServiceEntry = {
        headless,
        ports: (spec.ports ?? [])
          .filter((p) => p.name)
          .map((p) => ({ name: p.name!, protocol: (p.protocol ?? 'TCP').toLowerCase(), port: p.port })),
        endpoints: [],
      };
      if (spec.type === 'ExternalName') entry.externalName = normalise(spec.externalName ?? '');
      else if (!headless && spec.clusterIP) {
        entry.clusterIP = spec.clusterIP;
        this.reverse.set(reverseName(spec.clusterIP), `${key}.svc.${this.zone}`);
      }
      if (headless) {
        const publishNotReady = spec.publishNotReadyAddresses === true;
        const seen = new Set<string>();
        for (const slice of slicesOf.get(key) ?? [])
          for (const ep of slice.endpoints ?? []) {
            if (!publishNotReady && ep.conditions?.ready === false) continue;
            const ip = ep.addresses[0];
            if (!ip || seen.has(ip)) continue;
            seen.add(ip);
            const ports = new Map<string, { port: number; protocol: string }>();
            for (const p of slice.ports ?? [])
              if (p.name && p.port)
                ports.set(`${p.name}/${(p.protocol ?? 'TCP').toLowerCase()}`, {
                  port: p.port,
                  protocol: p.protocol ?? 'TCP',
                });
            const label = (ep.hostname ?? dashed(ip)).toLowerCase();
            entry.endpoints.push({ ip, label, ports });
            this.reverse.set(reverseName(ip), `${label}.${key}.svc.${this.zone}`);
          }
      }
      this.services.set(key, entry);
    }
  }

  /** The answer for one question. */
  lookup(qname: string, qtype: RecordType): Answer {
    const name = normalise(qname);
    if (name.endsWith('.in-addr.arpa')) return this.lookupReverse(name, qtype);
    if (name !== this.zone && !name.endsWith(`.${this.zone}`)) return { forward: true };
    const labels = name === this.zone ? [] : name.slice(0, -(this.zone.length + 1)).split('.');
    const kind = labels.at(-1);
    if (labels.length === 0 || (labels.length === 1 && (kind === 'svc' || kind === 'pod'))) return nodata();
    if (kind === 'pod') return this.lookupPod(name, labels, qtype);
    if (kind !== 'svc') return { rcode: 'NXDOMAIN' };
    const rest = labels.slice(0, -1); // [..., svc, ns]
    if (rest.length === 1) return this.namespaces.has(rest[0]) ? nodata() : { rcode: 'NXDOMAIN' };
    const [svcName, ns] = rest.slice(-2);
    const entry = this.services.get(`${svcName}.${ns}`);
    if (!entry) return { rcode: 'NXDOMAIN' };
    const serviceName = `${svcName}.${ns}.svc.${this.zone}`;
    const prefix = rest.slice(0, -2);
    if (prefix.length === 0) return this.serviceRecords(name, serviceName, entry, qtype);
    if (prefix.length === 1) {
      const ep = entry.endpoints.find((e) => e.label === prefix[0]);
      if (!ep) return { rcode: 'NXDOMAIN' };
      return wants(qtype, 'A') ? answer([{ name, type: 'A', ttl: RECORD_TTL, data: ep.ip }]) : nodata();
    }
    if (prefix.length === 2 && prefix[0].startsWith('_') && prefix[1].startsWith('_'))
      return this.srv(name, serviceName, entry, prefix[0].slice(1), prefix[1].slice(1), qtype);
    return { rcode: 'NXDOMAIN' };
  }

  private serviceRecords(name: string, serviceName: string, entry: ServiceEntry, qtype: RecordType): Answer {
    if (entry.externalName)
      return wants(qtype, 'CNAME') || wants(qtype, 'A')
        ? answer([{ name, type: 'CNAME', ttl: RECORD_TTL, data: entry.externalName }])
        : nodata();
    const out: DnsRecord[] = [];
    if (wants(qtype, 'A')) {
      if (entry.clusterIP) out.push({ name, type: 'A', ttl: RECORD_TTL, data: entry.clusterIP });
      else for (const ep of entry.endpoints) out.push({ name, type: 'A', ttl: RECORD_TTL, data: ep.ip });
    }
    if (qtype === 'SRV' || qtype === 'ANY')
      for (const p of entry.ports) out.push(...this.srvRecords(name, serviceName, entry, p.name, p.protocol));
    return answer(out);
  }

  private srv(
    name: string,
    serviceName: string,
    entry: ServiceEntry,
    port: string,
    protocol: string,
    qtype: RecordType,
  ): Answer {
    if (!entry.ports.some((p) => p.name === port && p.protocol === protocol)) return { rcode: 'NXDOMAIN' };
    return qtype === 'SRV' || qtype === 'ANY'
      ? answer(this.srvRecords(name, serviceName, entry, port, protocol))
      : nodata();
  }

  private srvRecords(
    name: string,
    serviceName: string,
    entry: ServiceEntry,
    port: string,
    protocol: string,
  ): DnsRecord[] {
    const spec = entry.ports.find((p) => p.name === port && p.protocol === protocol);
    if (!spec) return [];
    if (!entry.headless)
      return [
        {
          name,
          type: 'SRV',
          ttl: RECORD_TTL,
          data: { priority: 0, weight: 100, port: spec.port, target: serviceName },
        },
      ];
    const out: DnsRecord[] = [];
    for (const ep of entry.endpoints) {
      const p = ep.ports.get(`${port}/${protocol}`);
      if (!p) continue;
      out.push({
        name,
        type: 'SRV',
        ttl: RECORD_TTL,
        data: { priority: 0, weight: 100, port: p.port, target: `${ep.label}.${serviceName}` },
      });
    }
    return out;
  }

  private lookupPod(name: string, labels: string[], qtype: RecordType): Answer {
    if (labels.length !== 3) return { rcode: 'NXDOMAIN' };
    const ip = labels[0].replaceAll('-', '.');
    if (!isIPv4(ip)) return { rcode: 'NXDOMAIN' };
    return wants(qtype, 'A') ? answer([{ name, type: 'A', ttl: RECORD_TTL, data: ip }]) : nodata();
  }

  private lookupReverse(name: string, qtype: RecordType): Answer {
    const target = this.reverse.get(name);
    if (!target) return { forward: true };
    return qtype === 'PTR' || qtype === 'ANY'
      ? answer([{ name, type: 'PTR', ttl: RECORD_TTL, data: target }])
      : nodata();
  }
}

function wants(qtype: RecordType, type: 'A' | 'CNAME'): boolean {
  return qtype === type || qtype === 'ANY';
}

function answer(answers: DnsRecord[]): Answer {
  return { rcode: 'NOERROR', answers };
}

function nodata(): Answer {
  return { rcode: 'NOERROR', answers: [] };
}

/** `10.96.0.10` → `10.0.96.10.in-addr.arpa`. */
export function reverseName(ip: string): string {
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}
