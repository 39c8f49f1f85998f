// The bootstrap-token authenticator (kube's plugin/pkg/auth/authenticator/token/bootstrap): a bearer token
// "<id>.<secret>" is valid while kube-system/bootstrap-token-<id> exists, is of type
// bootstrap.kubernetes.io/token, carries the same id and secret (compared in constant time), allows
// authentication and has not expired. The caller is system:bootstrap:<id> in system:bootstrappers (and
// the Secret's auth-extra-groups). Lookups are synchronous, from a cache of kube-system's Secrets kept by
// a watch (as kube reads a Secret lister), so a deleted token stops working as soon as the watch delivers.
import { timingSafeEqual, createHash } from 'node:crypto';
import { AUTHENTICATED_GROUP, type UserInfo } from '../identities.ts';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  BOOTSTRAP_USER_PREFIX,
  BOOTSTRAPPERS_GROUP,
  EXTRA_GROUP_PATTERN,
  TokenKey,
  isExpired,
  parseToken,
  secretField,
  secretName,
} from './token.ts';

/** Reads a stored Secret by namespace/name (an informer cache's get). */
export type SecretLookup = (
  key: string,
) => { type?: string; data?: Record<string, string>; metadata: { deletionTimestamp?: string } } | undefined;

export interface BootstrapTokenAuthenticatorOptions {
  secrets: SecretLookup;
  now?: () => number;
  /** Told why a well-formed token was refused (never the token itself). */
  onRefused?: (tokenId: string, reason: string) => void;
}

function sameSecret(a: string, b: string): boolean {
  // Compare digests so the time taken says nothing about the secret's length or prefix.
  const d = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(d(a), d(b));
}

export class BootstrapTokenAuthenticator {
  private readonly o: BootstrapTokenAuthenticatorOptions;
  constructor(o: BootstrapTokenAuthenticatorOptions) {
    this.o = o;
  }

  /** The user a bootstrap token names, or undefined (not a bootstrap token, or not valid). */
  verify(token: string): UserInfo | undefined {
    const t = parseToken(token);
    if (!t) return undefined;
    const refuse = (reason: string): undefined => {
      this.o.onRefused?.(t.id, reason);
      return undefined;
    };
    const secret = this.o.secrets(`${BOOTSTRAP_TOKEN_NAMESPACE}/${secretName(t.id)}`);
    if (!secret) return refuse('no such token');
    if (secret.metadata.deletionTimestamp) return refuse('the token is being deleted');
    if (secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE)
      return refuse(`its Secret is not of type ${BOOTSTRAP_TOKEN_SECRET_TYPE}`);
    if (secretField(secret, TokenKey.id) !== t.id) return refuse('its Secret carries another token-id');
    const stored = secretField(secret, TokenKey.secret);
    if (stored === undefined || !sameSecret(stored, t.secret)) return refuse('wrong token secret');
    if (isExpired(secret, (this.o.now ?? Date.now)())) return refuse('the token has expired');
    if (secretField(secret, TokenKey.usageAuthentication) !== 'true')
      return refuse('the token is not usable for authentication');
    const extra = (secretField(secret, TokenKey.extraGroups) ?? '')
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean);
    if (extra.some((g) => !EXTRA_GROUP_PATTERN.test(g))) return refuse('invalid auth-extra-groups');
    return {
      username: `${BOOTSTRAP_USER_PREFIX}${t.id}`,
      groups: [BOOTSTRAPPERS_GROUP, ...extra, AUTHENTICATED_GROUP],
      via: 'bootstrap',
    };
  }
}
