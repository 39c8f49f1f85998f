// Ingress routing (pure): which Service port a request for host + path goes to, across every Ingress the
// gateway serves, and which TLS Secret answers a server name. Kubernetes' rules:
// - host: exact, or `*.example.com` matching exactly one more label; rules without host match any host.
//   Exact hosts are tried first, then wildcards, then host-less rules, then a `defaultBackend`.
// - path: `Exact` matches the path as is; `Prefix` matches whole path elements (`/foo` matches `/foo`,
//   `/foo/` and `/foo/bar`, not `/foobar`); `ImplementationSpecific` is Prefix here. The longest match
//   wins, and Exact beats Prefix at equal length. Ingresses are merged (oldest first on ties).
import type { Ingress, IngressBackend } from '../../api/index.ts';

export interface RouteTarget {
  namespace: string;
  service: string;
  port: number | string;
  /** The Ingress it came from (`namespace/name`), for events, logs and its annotations. */
  ingress: Ingress;
}

interface PathRule {
  exact: boolean;
  /** Exact: the path; Prefix: the path without its trailing slashes ('' for '/'). */
  path: string;
  target: RouteTarget;
  order: number;
}

export function normalizeHost(host: string | undefined): string {
  if (!host) return '';
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

function wildcardMatches(pattern: string, host: string): boolean {
  const suffix = pattern.slice(1); // ".example.com"
  if (!host.endsWith(suffix)) return false;
  const first = host.slice(0, -suffix.length);
  return first.length > 0 && !first.includes('.');
}

function prefixMatches(rule: string, path: string): boolean {
  if (rule === '') return true;
  return path === rule || path.startsWith(`${rule}/`);
}

function target(ing: Ingress, b: IngressBackend | undefined): RouteTarget | undefined {
  const svc = b?.service;
  if (!svc?.name) return undefined; // resource backends: not served by the gateway
  const port = svc.port?.number ?? svc.port?.name;
  if (port === undefined) return undefined;
  return { namespace: ing.metadata.namespace ?? 'default', service: svc.name, port, ingress: ing };
}

export class IngressRouter {
  private readonly exactHosts = new Map<string, PathRule[]>();
  private readonly wildcardHosts: [string, PathRule[]][] = [];
  private readonly anyHost: PathRule[] = [];
  private readonly defaultBackend?: RouteTarget;
  private readonly tls: { host: string; namespace: string; secret: string }[] = [];

  constructor(ingresses: readonly Ingress[]) {
    const sorted = [...ingresses].sort(
      (a, b) =>
        String(a.metadata.creationTimestamp ?? '').localeCompare(
          String(b.metadata.creationTimestamp ?? ''),
        ) ||
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace}/${b.metadata.name}`,
        ),
    );
    let order = 0;
    for (const ing of sorted) {
      for (const rule of ing.spec.rules ?? []) {
        const host = normalizeHost(rule.host);
        let list: PathRule[];
        if (!host) list = this.anyHost;
        else if (host.startsWith('*.')) {
          let entry = this.wildcardHosts.find(([h]) => h === host);
          if (!entry) this.wildcardHosts.push((entry = [host, []]));
          list = entry[1];
        } else {
          list = this.exactHosts.get(host) ?? [];
          this.exactHosts.set(host, list);
        }
        for (const p of rule.http?.paths ?? []) {
          const t = target(ing, p.backend);
          if (!t) continue;
          const exact = p.pathType === 'Exact';
          const path = exact ? (p.path ?? '/') : (p.path ?? '/').replace(/\/+$/, '');
          list.push({ exact, path, target: t, order: order++ });
        }
      }
      if (!this.defaultBackend && ing.spec.defaultBackend)
        this.defaultBackend = target(ing, ing.spec.defaultBackend);
      for (const t of ing.spec.tls ?? []) {
        if (!t.secretName) continue;
        const hosts = t.hosts?.length
          ? t.hosts
          : (ing.spec.rules ?? []).map((r) => r.host ?? '').filter(Boolean);
        for (const h of hosts)
          this.tls.push({
            host: normalizeHost(h),
            namespace: ing.metadata.namespace ?? 'default',
            secret: t.secretName,
          });
      }
    }
  }

  /** The target of a request, or undefined (404). `path` may carry a query string. */
  match(hostHeader: string | undefined, rawPath: string): RouteTarget | undefined {
    const host = normalizeHost(hostHeader);
    const path = rawPath.split('?')[0] || '/';
    const tiers: PathRule[][] = [];
    const exact = this.exactHosts.get(host);
    if (exact) tiers.push(exact);
    for (const [pattern, rules] of this.wildcardHosts) if (wildcardMatches(pattern, host)) tiers.push(rules);
    tiers.push(this.anyHost);
    for (const rules of tiers) {
      const best = bestPath(rules, path);
      if (best) return best.target;
    }
    return this.defaultBackend;
  }

  /** The TLS Secret (`namespace`, `name`) for a server name, exact hosts before wildcards. */
  tlsSecret(serverName: string): { namespace: string; name: string } | undefined {
    const host = normalizeHost(serverName);
    const hit =
      this.tls.find((t) => t.host === host) ??
      this.tls.find((t) => t.host.startsWith('*.') && wildcardMatches(t.host, host));
    return hit ? { namespace: hit.namespace, name: hit.secret } : undefined;
  }

  /** Every Service port the Ingresses send traffic to. */
  targets(): RouteTarget[] {
    const all = [...this.exactHosts.values(), ...this.wildcardHosts.map(([, r]) => r), this.anyHost].flat();
    const out = all.map((r) => r.target);
    if (this.defaultBackend) out.push(this.defaultBackend);
    return out;
  }

  /** Every TLS Secret referenced. */
  tlsSecrets(): { namespace: string; name: string }[] {
    return this.tls.map((t) => ({ namespace: t.namespace, name: t.secret }));
  }
}

function bestPath(rules: readonly PathRule[], path: string): PathRule | undefined {
  let best: PathRule | undefined;
  for (const r of rules) {
    const ok = r.exact ? r.path === path : prefixMatches(r.path, path);
    if (!ok) continue;
    if (
      !best ||
      r.path.length > best.path.length ||
      (r.path.length === best.path.length && r.exact && !best.exact) ||
      (r.path.length === best.path.length && r.exact === best.exact && r.order < best.order)
    )
      best = r;
  }
  return best;
}
