// Knative route hosts on the gateway's HTTP port (pure): the serving controllers publish each Route's host
// table as an annotation on the Route's placeholder v1 Service (src/api/kinds/serving.ts,
// ROUTES_ANNOTATION); this turns those into a host → weighted revisions lookup, and picks a revision for a
// request by its traffic percentages.
import { ROUTES_ANNOTATION, type Service, type ServingRouteTable } from '../../api/index.ts';

export interface ServingTarget {
  revision: string;
  percent: number;
}

export interface ServingHost {
  namespace: string;
  /** The Route (and its placeholder Service). */
  route: string;
  targets: ServingTarget[];
}

/** `Host` header → host name: lower case, without port or trailing dot. */
export function hostName(header: string | undefined): string {
  if (!header) return '';
  const h = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d+$/, '');
  return h.replace(/\.$/, '').toLowerCase();
}

export class ServingRouter {
  private readonly hosts = new Map<string, ServingHost>();

  /** `invalid` is told about annotations that are not a table (they are skipped). */
  constructor(services: readonly Service[], invalid: (svc: Service, why: string) => void = () => {}) {
    // Oldest first, so a later Route cannot take a host an earlier one serves.
    const sorted = services
      .filter((s) => s.metadata.annotations?.[ROUTES_ANNOTATION])
      .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
    for (const svc of sorted) {
      let table: ServingRouteTable;
      try {
        table = JSON.parse(svc.metadata.annotations![ROUTES_ANNOTATION]!) as ServingRouteTable;
        if (!table || typeof table.hosts !== 'object') throw new Error('no hosts');
      } catch (err) {
        invalid(svc, (err as Error).message);
        continue;
      }
      for (const [host, targets] of Object.entries(table.hosts)) {
        const h = host.toLowerCase();
        if (this.hosts.has(h) || !Array.isArray(targets)) continue;
        const valid = targets.filter((t) => typeof t.revision === 'string' && t.percent > 0);
        this.hosts.set(h, {
          namespace: svc.metadata.namespace ?? 'default',
          route: svc.metadata.name ?? '',
          targets: valid,
        });
      }
    }
  }

  match(hostHeader: string | undefined): ServingHost | undefined {
    return this.hosts.get(hostName(hostHeader));
  }

  /** Every revision some host sends traffic to, as `namespace/revision`. */
  revisions(): { namespace: string; revision: string }[] {
    const seen = new Map<string, { namespace: string; revision: string }>();
    for (const h of this.hosts.values())
      for (const t of h.targets)
        seen.set(`${h.namespace}/${t.revision}`, { namespace: h.namespace, revision: t.revision });
    return [...seen.values()];
  }

  get size(): number {
    return this.hosts.size;
  }
}

/** A revision by weight: each target's share of the percentages (they sum to 100 when the Route is valid). */
export function pickTarget(
  targets: readonly ServingTarget[],
  random: () => number = Math.random,
): string | undefined {
  const total = targets.reduce((n, t) => n + t.percent, 0);
  if (total <= 0) return undefined;
  let r = random() * total;
  for (const t of targets) {
    r -= t.percent;
    if (r < 0) return t.revision;
  }
  return targets[targets.length - 1]!.revision;
}
