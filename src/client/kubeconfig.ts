// A kubeconfig-like file: which server to talk to and with which token. `strata up` writes one; the CLI
// reads it from --kubeconfig, $STRATACONFIG, or ~/.strata/config (in that order).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import YAML from 'yaml';

export interface Connection {
  server: string;
  token: string;
  namespace: string;
  configPath: string;
}

export function defaultConfigPath(): string {
  return process.env.STRATACONFIG || join(homedir(), '.strata', 'config');
}

export function writeKubeconfig(path: string, server: string, tokenFile: string): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'strata',
    clusters: [{ name: 'strata', cluster: { server } }],
    users: [{ name: 'admin', user: { tokenFile: resolve(tokenFile) } }],
    contexts: [{ name: 'strata', context: { cluster: 'strata', user: 'admin', namespace: 'default' } }],
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, YAML.stringify(doc), { mode: 0o600 });
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
  if (!token) throw new Error(`${path}: user "${ctx.user}" has no token or tokenFile`);
  return { server: cluster.server, token, namespace: ctx.namespace ?? 'default', configPath: path };
}
