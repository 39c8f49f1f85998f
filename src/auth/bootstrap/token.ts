// Bootstrap tokens as Kubernetes has them (k8s.io/cluster-bootstrap): "<id>.<secret>", id [a-z0-9]{6},
// secret [a-z0-9]{16}, each kept as a Secret of type bootstrap.kubernetes.io/token named
// bootstrap-token-<id> in kube-system. The only thing copied to a new node; it expires and can be deleted.
// Light (node:crypto only): the CLI creates tokens with it, the server checks them.
import { randomInt } from 'node:crypto';

export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
export const BOOTSTRAP_TOKEN_SECRET_PREFIX = 'bootstrap-token-';
/** The user a bootstrap token authenticates as is this prefix + the token id. */
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';
/** Every bootstrap token's group (kubeadm binds the node-bootstrapper role to it). */
export const BOOTSTRAPPERS_GROUP = 'system:bootstrappers';

/** The Secret's data keys (bootstrapapi constants). */
export const TokenKey = {
  id: 'token-id',
  secret: 'token-secret',
  expiration: 'expiration',
  description: 'description',
  extraGroups: 'auth-extra-groups',
  usageAuthentication: 'usage-bootstrap-authentication',
  usageSigning: 'usage-bootstrap-signing',
} as const;

export const TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
const ID_PATTERN = /^[a-z0-9]{6}$/;
/** Extra groups must stay under system:bootstrappers: (kube's bootstrapGroupPattern). */
export const EXTRA_GROUP_PATTERN = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface BootstrapToken {
  id: string;
  secret: string;
}

function randomString(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

/** A fresh random token (crypto-random; 36^22 ≈ 2^113 possibilities). */
export function generateToken(): BootstrapToken {
  return { id: randomString(6), secret: randomString(16) };
}

export function formatToken(t: BootstrapToken): string {
  return `${t.id}.${t.secret}`;
}

/** Parses "<id>.<secret>", or undefined when it does not have a bootstrap token's shape. */
export function parseToken(s: string): BootstrapToken | undefined {
  const m = TOKEN_PATTERN.exec(s.trim());
  return m ? { id: m[1], secret: m[2] } : undefined;
}

export function isTokenId(id: string): boolean {
  return ID_PATTERN.test(id);
}

export function secretName(id: string): string {
  return `${BOOTSTRAP_TOKEN_SECRET_PREFIX}${id}`;
}

export interface TokenSecretOptions {
  /** Seconds until the token expires; 0 or undefined = never (kubeadm's --ttl 0). */
  ttlSeconds?: number;
  description?: string;
  /** Extra groups (each system:bootstrappers:…). */
  extraGroups?: string[];
  now?: number;
}

/** The v1 Secret that stores a token (what `kubeadm token create` writes). */
export function tokenSecret(t: BootstrapToken, o: TokenSecretOptions = {}) {
  for (const g of o.extraGroups ?? [])
    if (!EXTRA_GROUP_PATTERN.test(g))
      throw new Error(`--groups ${g}: an extra group must match ${EXTRA_GROUP_PATTERN.source}`);
  const stringData: Record<string, string> = {
    [TokenKey.id]: t.id,
    [TokenKey.secret]: t.secret,
    [TokenKey.usageAuthentication]: 'true',
    [TokenKey.usageSigning]: 'true',
  };
  if (o.ttlSeconds && o.ttlSeconds > 0)
    stringData[TokenKey.expiration] = rfc3339((o.now ?? Date.now()) + o.ttlSeconds * 1000);
  if (o.description) stringData[TokenKey.description] = o.description;
  if (o.extraGroups?.length) stringData[TokenKey.extraGroups] = o.extraGroups.join(',');
  return {
    apiVersion: 'v1' as const,
    kind: 'Secret' as const,
    metadata: { name: secretName(t.id), namespace: BOOTSTRAP_TOKEN_NAMESPACE },
    type: BOOTSTRAP_TOKEN_SECRET_TYPE,
    stringData,
  };
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A stored Secret's field, decoded (stored Secrets carry base64 `data` only). */
export function secretField(secret: { data?: Record<string, string> }, key: string): string | undefined {
  const v = secret.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/** When the token stored in this Secret expires (ms since epoch), undefined when never or unreadable. */
export function expirationOf(secret: { data?: Record<string, string> }): number | undefined {
  const v = secretField(secret, TokenKey.expiration);
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Whether the Secret's token has expired. An expiration that does not parse counts as expired, as
 * kube's bootstrap authenticator treats it (fail closed).
 */
export function isExpired(secret: { data?: Record<string, string> }, now = Date.now()): boolean {
  const v = secretField(secret, TokenKey.expiration);
  if (v === undefined) return false;
  const t = Date.parse(v);
  return Number.isNaN(t) || t <= now;
}
