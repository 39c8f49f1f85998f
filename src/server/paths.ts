// Parses the Kubernetes URL layout into what a request addresses:
//   /api/v1/{plural}[/{name}[/{sub}]]                          cluster-scoped, or all namespaces
//   /api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}]]          namespaced
//   /apis/{group}/{version}/... the same, for named groups
import { type KindInfo, kindForResource } from '../api/index.ts';

export interface ResourcePath {
  kind: KindInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export type ParseResult = { ok: true; path: ResourcePath } | { ok: false; message: string };

export function parseResourcePath(group: string, version: string, rest: string): ParseResult {
  const seg = rest
    .split('/')
    .filter((s) => s.length > 0)
    .map(decodeURIComponent);
  let namespace: string | undefined;
  let i = 0;
  // namespaces/{ns}/{plural}... addresses a namespaced resource; namespaces[/{name}[/status]] the Namespace itself.
  if (seg[0] === 'namespaces' && seg.length >= 3 && !(seg.length === 3 && seg[2] === 'status')) {
    namespace = seg[1];
    i = 2;
  }
  const [plural, name, subresource, extra] = seg.slice(i);
  if (!plural || extra !== undefined)
    return { ok: false, message: `the server could not find the requested resource` };
  const kind = kindForResource(group, version, plural);
  if (!kind) {
    const gv = group ? `${group}/${version}` : version;
    return { ok: false, message: `the server doesn't have a resource type "${plural}" in ${gv}` };
  }
  if (namespace !== undefined && !kind.namespaced) {
    return { ok: false, message: `${kind.plural} are cluster-scoped; they have no namespace` };
  }
  return { ok: true, path: { kind, namespace, name, subresource } };
}
