// A node's own identity towards the API, as the kubelet's TLS bootstrap and certificate rotation give it:
//   - join: with a bootstrap token ("<id>.<secret>", the only thing copied to the new host), make a key,
//     send a CertificateSigningRequest for CN system:node:NAME in O system:nodes (signer
//     kubernetes.io/kube-apiserver-client-kubelet), wait until it is approved and issued;
//   - keep: the key and certificate in DATA/pki/node-client.pem (0600), reused at every restart while
//     valid — the token is not needed again;
//   - rotate: when 70–90 % of the certificate's life has passed (jittered, as the kubelet does), a new key
//     and a new request signed in under the current identity (approved as `selfnodeclient`); the client
//     switches to it and reconnects.
import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KUBELET_CLIENT_SIGNER, csrCondition, kindFor } from '../api/index.ts';
import { createClientCsr } from '../auth/bootstrap/csr.ts';
import { formatToken, generateToken, tokenSecret } from '../auth/bootstrap/token.ts';
import type { KeyPair } from '../auth/pki.ts';
import { Client, ClientError } from '../client/client.ts';

const CSR = kindFor('certificates.k8s.io/v1', 'CertificateSigningRequest')!;
export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
/** Where a node keeps its client key and certificate (one PEM file, as kubelet-client-current.pem). */
export const NODE_CLIENT_FILE = join('pki', 'node-client.pem');

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface NodeIdentityOptions {
  server: string;
  /** The cluster CA (PEM): node certificates exist only on HTTPS clusters. */
  ca: string;
  dataDir: string;
  nodeName: string;
  /** The join token; needed only when no usable certificate is on disk. */
  token?: string;
  /** The validity to ask for (spec.expirationSeconds, at least 600); default: the signer's (a year). */
  expirationSeconds?: number;
  /** How long to wait for the request to be approved and signed. Default 10 minutes. */
  approvalTimeoutMs?: number;
  log: Log;
}

export function nodeUsername(nodeName: string): string {
  return `${NODE_USER_PREFIX}${nodeName}`;
}

function splitPem(pem: string): KeyPair | undefined {
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/.exec(pem)?.[0];
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----\n?/.exec(pem)?.[0];
  return cert && key ? { cert, key } : undefined;
}

/** Why a stored certificate cannot serve as this node's identity, or undefined when it can. */
export function unusableBecause(
  kp: KeyPair,
  ca: string,
  nodeName: string,
  now = Date.now(),
): string | undefined {
  let x: X509Certificate;
  try {
    x = new X509Certificate(kp.cert);
  } catch {
    return 'it is not a certificate';
  }
  if (!x.verify(new X509Certificate(ca).publicKey)) return 'it is not signed by the cluster CA';
  const subject = Object.fromEntries(
    x.subject.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  if (subject.CN !== nodeUsername(nodeName)) return `it names ${subject.CN}, not ${nodeUsername(nodeName)}`;
  if (Date.parse(x.validTo) <= now) return `it expired at ${x.validTo}`;
  try {
    if (!x.checkPrivateKey(createPrivateKey(kp.key))) return 'the key does not match it';
  } catch {
    return 'the key does not match it';
  }
  return undefined;
}

function writePrivate(path: string, content: string): void {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  // Written aside then renamed: a crash never leaves half a key where the node looks for it.
  const tmp = `${path}.${randomUUID()}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Sends a request for this node's identity through `client` and waits for the certificate. */
export async function requestNodeCertificate(
  client: Client,
  o: Pick<NodeIdentityOptions, 'nodeName' | 'expirationSeconds' | 'approvalTimeoutMs' | 'log'>,
): Promise<KeyPair> {
  const { csr, key } = await createClientCsr(nodeUsername(o.nodeName), [NODES_GROUP]);
  const created = await client.create(CSR, {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: 'node-csr-' },
    spec: {
      request: Buffer.from(csr).toString('base64'),
      signerName: KUBELET_CLIENT_SIGNER,
      usages: ['digital signature', 'client auth'],
      ...(o.expirationSeconds ? { expirationSeconds: o.expirationSeconds } : {}),
    },
  });
  const name: string = created.metadata.name;
  o.log.info({ csr: name }, 'certificate request sent; waiting for approval and signature');
  const deadline = Date.now() + (o.approvalTimeoutMs ?? 600_000);
  let told = false;
  for (;;) {
    const current = await client.get(CSR, undefined, name);
    const denied = csrCondition(current, 'Denied') ?? csrCondition(current, 'Failed');
    if (denied)
      throw new Error(
        `certificate request ${name} was ${denied.type.toLowerCase()}: ${denied.reason ?? ''} ${denied.message ?? ''}`.trim(),
      );
    if (current.status?.certificate)
      return { cert: Buffer.from(current.status.certificate, 'base64').toString('utf8'), key };
    if (Date.now() > deadline)
      throw new Error(
        `certificate request ${name} was not issued in time; an administrator can approve it with \`kubectl certificate approve ${name}\``,
      );
    if (!told && Date.now() > deadline - (o.approvalTimeoutMs ?? 600_000) + 10_000) {
      told = true;
      o.log.warn({ csr: name }, `still waiting: approve it with kubectl certificate approve ${name}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The stored certificate and key when they can serve as this node's identity now. */
export function storedNodeCertificate(dataDir: string, ca: string, nodeName: string): KeyPair | undefined {
  const path = join(dataDir, NODE_CLIENT_FILE);
  if (!existsSync(path)) return undefined;
  const kp = splitPem(readFileSync(path, 'utf8'));
  return kp && !unusableBecause(kp, ca, nodeName) ? kp : undefined;
}

/**
 * A join token made through `admin` (a client allowed to create Secrets in kube-system), for a node this
 * process starts itself (`strata up`): the local node joins the way a remote one does.
 */
export async function createJoinToken(
  admin: Client,
  ttlSeconds: number,
  description: string,
): Promise<string> {
  const t = generateToken();
  await admin.create(kindFor('v1', 'Secret')!, tokenSecret(t, { ttlSeconds, description }), 'kube-system');
  return formatToken(t);
}

/**
 * The node's client certificate: the one on disk while it is valid for this node and cluster, else a new
 * one obtained with the join token (an error naming what is missing when there is no token).
 */
export async function loadOrJoin(o: NodeIdentityOptions): Promise<KeyPair> {
  const path = join(o.dataDir, NODE_CLIENT_FILE);
  if (existsSync(path)) {
    const kp = splitPem(readFileSync(path, 'utf8'));
    const why = kp ? unusableBecause(kp, o.ca, o.nodeName) : 'it holds no certificate and key';
    if (kp && !why) return kp;
    o.log.warn({ file: path, why }, 'the stored node certificate cannot be used');
    if (!o.token) throw new Error(`${path}: ${why}; join again with --token`);
  }
  if (!o.token)
    throw new Error(
      `node ${o.nodeName} has no certificate yet: join with --token (create one on the server with \`strata token create\`)`,
    );
  const bootstrap = new Client({ server: o.server, token: o.token, tls: { ca: o.ca } });
  try {
    const kp = await requestNodeCertificate(bootstrap, o);
    writePrivate(path, kp.cert + kp.key);
    o.log.info({ file: path }, `joined as ${nodeUsername(o.nodeName)}`);
    return kp;
  } catch (err) {
    if (err instanceof ClientError && err.code === 401)
      throw new Error(
        'the join token was refused (expired, deleted or mistyped): create another with `strata token create`',
      );
    throw err;
  } finally {
    bootstrap.close();
  }
}

export interface RotationOptions extends Omit<NodeIdentityOptions, 'token' | 'server' | 'ca'> {
  /** The client the node talks through (its transport switches to each new certificate). */
  client: Client;
  current: KeyPair;
  /** The share of the certificate's life after which it is renewed. Default: 70–90 %, at random. */
  rotationPoint?: () => number;
  onRotated?: (kp: KeyPair) => void;
}

/** Renews the node's certificate before it expires, for as long as the node runs. */
export class CertificateRotator {
  private readonly o: RotationOptions;
  private current: KeyPair;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private failures = 0;

  constructor(o: RotationOptions) {
    this.o = o;
    this.current = o.current;
  }

  /** When the current certificate is due for renewal (ms since epoch). */
  deadline(): number {
    const x = new X509Certificate(this.current.cert);
    const from = Date.parse(x.validFrom);
    const to = Date.parse(x.validTo);
    const share = this.o.rotationPoint?.() ?? 0.7 + 0.2 * Math.random();
    return from + (to - from) * share;
  }

  start(): void {
    this.schedule(this.deadline() - Date.now());
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    // setTimeout's ceiling is about 24.8 days: a longer wait is taken in steps.
    const step = Math.min(Math.max(0, delayMs), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      if (delayMs > step) return this.schedule(delayMs - step);
      void this.rotate();
    }, step);
    this.timer.unref?.();
  }

  private async rotate(): Promise<void> {
    try {
      const kp = await requestNodeCertificate(this.o.client, this.o);
      if (this.stopped) return;
      writePrivate(join(this.o.dataDir, NODE_CLIENT_FILE), kp.cert + kp.key);
      this.o.client.transport.setClientCertificate(kp.cert, kp.key);
      this.current = kp;
      this.failures = 0;
      this.o.log.info({ validTo: new X509Certificate(kp.cert).validTo }, 'node certificate rotated');
      this.o.onRotated?.(kp);
      this.start();
    } catch (err) {
      // Keep trying while the current certificate lasts: 5 s, doubling, at most 5 minutes apart.
      this.failures++;
      const delay = Math.min(5_000 * 2 ** (this.failures - 1), 300_000);
      this.o.log.warn({ err: (err as Error).message, retryInMs: delay }, 'node certificate rotation failed');
      this.schedule(delay);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
