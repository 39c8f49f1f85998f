// Kubernetes' CEL URL library (library/urls.go): url(s) for absolute URIs and absolute paths, isURL(s), and
// getScheme, getHost, getHostname, getPort, getEscapedPath, getQuery. Parsing is WHATWG URL (node's), which
// accepts what Go's url.ParseRequestURI accepts for the URLs policies check.
import { CelScalar, celFunc, celMethod, listType, mapType } from '@bufbuild/cel';
import { opaqueKind } from './opaque.ts';

export const UrlValue = opaqueKind<URL & { pathOnly: boolean; rawHost: string }>('kubernetes.URL');

function parseUrl(s: string): (URL & { pathOnly: boolean; rawHost: string }) | undefined {
  if (s.startsWith('/')) {
    try {
      return Object.assign(new URL(s, 'http://path-only.invalid'), { pathOnly: true, rawHost: '' });
    } catch {
      return undefined;
    }
  }
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(s);
  if (!scheme) return undefined;
  try {
    const u = new URL(s);
    // Go keeps the host as written (IPv6 brackets included); WHATWG lower-cases it: take it from the text.
    const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^/?#]*)/.exec(s)?.[1] ?? u.host;
    return Object.assign(u, { pathOnly: false, rawHost: authority });
  } catch {
    return undefined;
  }
}

const U = CelScalar.DYN;

export const urlLibrary = [
  celFunc('url', [CelScalar.STRING], U, (s) => {
    const u = parseUrl(s);
    if (!u) throw new Error(`URL parse error during conversion from string: ${s}`);
    return UrlValue.wrap(u, s);
  }),
  celFunc('isURL', [CelScalar.STRING], CelScalar.BOOL, (s) => parseUrl(s) !== undefined),
  celMethod('getScheme', U, [], CelScalar.STRING, function () {
    const u = UrlValue.unwrap(this);
    return u.pathOnly ? '' : u.protocol.replace(/:$/, '');
  }),
  celMethod('getHost', U, [], CelScalar.STRING, function () {
    return UrlValue.unwrap(this).rawHost;
  }),
  celMethod('getHostname', U, [], CelScalar.STRING, function () {
    const u = UrlValue.unwrap(this);
    if (u.pathOnly) return '';
    return u.hostname.replace(/^\[(.*)\]$/, '$1');
  }),
  celMethod('getPort', U, [], CelScalar.STRING, function () {
    const host = UrlValue.unwrap(this).rawHost;
    const m = /:(\d*)$/.exec(host);
    return m && !host.endsWith(']') ? m[1] : '';
  }),
  celMethod('getEscapedPath', U, [], CelScalar.STRING, function () {
    return UrlValue.unwrap(this).pathname;
  }),
  celMethod('getQuery', U, [], mapType(CelScalar.STRING, listType(CelScalar.STRING)), function () {
    const out = new Map<string, string[]>();
    for (const [k, v] of UrlValue.unwrap(this).searchParams) out.set(k, [...(out.get(k) ?? []), v]);
    return out;
  }),
];
