// The kubeconfig: which server to talk to, the CA to verify it with, and the credential to present
// (a client certificate and/or a token). `strata up` writes one that kubectl reads unchanged; the CLI reads
// it from --kubeconfig, $STRATACONFIG, or ~/.strata/config (in that order).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import YAML from 'yaml';
import type { TlsConfig } from './transport.ts';

/** The kubeconfig extension naming the local node `strata up` runs (kubectl ignores it). */
export const NODE_EXTENSION = 'strata.dev/node';

export interface LocalNode {
  name: string;
  /** The node's OCI image store, which `strata image` acts on. */
  imageStore?: string;
}

export interface Connection {
  server: string;
  /** The node `strata up` started with this kubeconfig, when it did. */
  node?: LocalNode;
  token?: string;
  tls: TlsConfig;
  namespace: string;
  configPath: string;
}

export function defaultConfigPath(): string {
  return process.env.STRATACONFIG || join(homedir(), '.strata', 'config');
}

export interface KubeconfigContents {
  server: string;
  /** The cluster CA (PEM); embedded as certificate-authority-data. */
  ca?: string;
  /** The admin client certificate and key (PEM); embedded as client-certificate-data/-key-data. */
  clientCert?: string;
  clientKey?: string;
  /** A token file, referenced (not copied) as tokenFile. */
  tokenFile?: string;
  /** The local node, recorded as a cluster extension so `strata image` finds its store. */
  node?: LocalNode;
}

const b64 = (pem: string) => Buffer.from(pem).toString('base64');

export function writeKubeconfig(path: string, c: KubeconfigContents): void {
  const user: Record<string, string> = {};
  if (c.clientCert && c.clientKey) {
    user['client-certificate-data'] = b64(c.clientCert);
    user['client-key-data'] = b64(c.clientKey);
  } else if (c.tokenFile) {
    user.tokenFile = resolve(c.tokenFile);
  }
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'strata',
    clusters: [
      {
        name: 'strata',
        cluster: {
          server: c.server,
          ...(c.ca ? { 'certificate-authority-data': b64(c.ca) } : {}),
          // kubectl ignores it; `strata image` follows it to the node's image store.
          ...(c.node ? { extensions: [{ name: NODE_EXTENSION, extension: c.node }] } : {}),
        },
      },
    ],
    users: [{ name: 'admin', user }],
    contexts: [{ name: 'strata', context: { cluster: 'strata', user: 'admin', namespace: 'default' } }],
    preferences: {},
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, YAML.stringify(doc), { mode: 0o600 });
}

/** A PEM from either `<field>-data` (base64) or `<field>` (a file path, relative to the kubeconfig). */
function pemOf(path: string, obj: any, field: string): string | undefined {
  const data = obj?.[`${field}-data`];
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64').toString('utf8');
  const file = obj?.[field];
  if (typeof file !== 'string' || !file) return undefined;
  const p = isAbsolute(file) ? file : resolve(dirname(path), file);
  try {
    return readFileSync(p, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read ${field} ${p}: ${(err as Error).message}`);
  }
}

export function readKubeconfig(path = defaultConfigPath()): Connection {
  if (!existsSync(path)) {
    throw new Error(`no Strata config at ${path}: start a cluster with \`strata up\` or pass --kubeconfig`);
  }
  let doc: any;
  try {
    doc = YAML.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not valid YAML: ${(err as Error).message}`);
  }
  const ctxName = doc?.['current-context'];
  const ctx = doc?.contexts?.find((c: any) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`${path}: current-context "${ctxName}" is not defined`);
  const cluster = doc.clusters?.find((c: any) => c.name === ctx.cluster)?.cluster;
  const user = doc.users?.find((u: any) => u.name === ctx.user)?.user;
  if (!cluster?.server) throw new Error(`${path}: cluster "${ctx.cluster}" has no server`);
  let token: string | undefined = user?.token;
  if (!token && user?.tokenFile) {
    const tf = isAbsolute(user.tokenFile) ? user.tokenFile : resolve(dirname(path), user.tokenFile);
    try {
      token = readFileSync(tf, 'utf8').trim();
    } catch (err) {
      throw new Error(`${path}: cannot read token file ${tf}: ${(err as Error).message}`);
    }
  }
  const tls: TlsConfig = {
    ca: pemOf(path, cluster, 'certificate-authority'),
    cert: pemOf(path, user, 'client-certificate'),
    key: pemOf(path, user, 'client-key'),
    insecureSkipVerify: cluster['insecure-skip-tls-verify'] === true,
  };
  if (!token && !(tls.cert && tls.key))
    throw new Error(`${path}: user "${ctx.user}" has no token, tokenFile or client certificate`);
  const node = cluster.extensions?.find((e: any) => e?.name === NODE_EXTENSION)?.extension;
  return {
    server: cluster.server,
    token,
    tls,
    namespace: ctx.namespace ?? 'default',
    configPath: path,
    ...(node?.name ? { node } : {}),
  };
}
