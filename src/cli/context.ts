// What every API command needs: a connected client, the namespace, and kind lookup with a clear error.
import { resolveKind, allKinds, type KindInfo } from '../api/index.ts';
import { Client } from '../client/client.ts';
import { readKubeconfig } from '../client/kubeconfig.ts';

export interface GlobalOptions {
  kubeconfig?: string;
  namespace?: string;
}

export interface CliContext {
  client: Client;
  namespace: string;
  /** True when -n was given explicitly. */
  explicitNamespace: boolean;
}

export function connect(g: GlobalOptions): CliContext {
  const conn = readKubeconfig(g.kubeconfig);
  return {
    client: new Client({ server: conn.server, token: conn.token, tls: conn.tls }),
    namespace: g.namespace ?? conn.namespace,
    explicitNamespace: g.namespace !== undefined,
  };
}

export function kindArg(name: string): KindInfo {
  const k = resolveKind(name);
  if (!k) {
    const known = allKinds()
      .map((x) => x.plural)
      .join(', ');
    throw new Error(`the server doesn't have a resource type "${name}" (known: ${known})`);
  }
  return k;
}

/** Splits "pod/name" or "pods/name" into kind and name. */
export function splitTypeName(arg: string): { kind: KindInfo; name: string } | undefined {
  const i = arg.indexOf('/');
  if (i < 0) return undefined;
  return { kind: kindArg(arg.slice(0, i)), name: arg.slice(i + 1) };
}
