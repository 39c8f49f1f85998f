// The cluster's certificates on disk (DATA/tls/, keys 0600), created at first start as K3s does:
//   ca.crt/ca.key              the cluster CA (10 years); its hash pins it for joining agents
//   server.crt/server.key      the API's serving certificate (1 year; renewed at start within 90 days of
//                              expiry, or when a name or address it must carry is missing)
//   admin.crt/admin.key        the admin's client certificate (CN=admin, O=system:masters), for the kubeconfig
//   apiserver-agent-client.*   the server's own identity towards node agents (CN=system:kube-apiserver)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ADMIN_GROUP, APISERVER_AGENT_CLIENT_CN } from './identities.ts';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { caCertHash, createCA, daysLeft, issue, type KeyPair } from './pki.ts';

const RENEW_WITHIN_DAYS = 90;

export interface ClusterPKI {
  dir: string;
  ca: KeyPair;
  /** "sha256:<hex>" of the CA's public key, as `kubeadm join --discovery-token-ca-cert-hash` takes it. */
  caHash: string;
  /** Serving certificate followed by the CA, so a joining agent sees the CA it pins by hash. */
  serving: KeyPair;
  admin: KeyPair;
  agentClient: KeyPair;
}

export interface PKIOptions {
  /** Extra names/addresses for the serving certificate (`--tls-san`). */
  tlsSans?: string[];
  /** The address the API listens on, when specific. */
  listenAddress?: string;
  /** The first IP of the service range (the `kubernetes` Service's ClusterIP). */
  firstServiceIP?: string;
}

/** Names and addresses the serving certificate must carry. */
export function servingNames(o: PKIOptions = {}): string[] {
  const names = new Set<string>([
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
    hostname(),
    '127.0.0.1',
    '::1',
    o.firstServiceIP ?? '10.96.0.1',
  ]);
  for (const addrs of Object.values(networkInterfaces()))
    for (const a of addrs ?? []) if (!a.internal && !a.address.startsWith('fe80')) names.add(a.address);
  if (o.listenAddress && o.listenAddress !== '0.0.0.0' && o.listenAddress !== '::')
    names.add(o.listenAddress);
  for (const s of o.tlsSans ?? []) if (s.trim()) names.add(s.trim());
  return [...names];
}

function read(dir: string, name: string): KeyPair | undefined {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (!existsSync(crt) || !existsSync(key)) return undefined;
  return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}

function write(dir: string, name: string, kp: KeyPair): KeyPair {
  writeFileSync(join(dir, `${name}.key`), kp.key, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.crt`), kp.cert, { mode: 0o644 });
  return kp;
}

function fresh(kp: KeyPair | undefined, names: string[] = []): kp is KeyPair {
  if (!kp || daysLeft(kp.cert) < RENEW_WITHIN_DAYS) return false;
  // node:crypto compares names and addresses canonically (::1 is printed 0:0:0:0:0:0:0:1).
  const x = new X509Certificate(kp.cert);
  return names.every((n) => (isIP(n) ? x.checkIP(n) : x.checkHost(n, { wildcards: false })) !== undefined);
}

export async function loadOrCreateClusterPKI(dataDir: string, o: PKIOptions = {}): Promise<ClusterPKI> {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let ca = read(dir, 'ca');
  const newCA = !ca;
  if (!ca) ca = write(dir, 'ca', await createCA('strata-ca'));
  const names = servingNames(o);
  let serving = read(dir, 'server');
  if (newCA || !fresh(serving, names)) {
    serving = write(
      dir,
      'server',
      await issue(ca, { commonName: 'strata-apiserver', altNames: names, usage: 'server', days: 365 }),
    );
  }
  let admin = read(dir, 'admin');
  if (newCA || !fresh(admin)) {
    admin = write(
      dir,
      'admin',
      await issue(ca, { commonName: 'admin', organizations: [ADMIN_GROUP], usage: 'client', days: 365 }),
    );
  }
  let agentClient = read(dir, 'apiserver-agent-client');
  if (newCA || !fresh(agentClient)) {
    agentClient = write(
      dir,
      'apiserver-agent-client',
      await issue(ca, {
        commonName: APISERVER_AGENT_CLIENT_CN,
        organizations: [ADMIN_GROUP],
        usage: 'client',
        days: 365,
      }),
    );
  }
  const caHash = caCertHash(ca.cert);
  writeFileSync(join(dir, 'ca.hash'), `${caHash}\n`, { mode: 0o644 });
  return { dir, ca, caHash, serving: { cert: serving.cert + ca.cert, key: serving.key }, admin, agentClient };
}
