// Bound service-account tokens: signed (ES256) and verified with `jose`, as kube-apiserver's
// TokenRequest issues them and its service-account authenticator checks them. A token carries who it is
// for (sub, the `kubernetes.io` claim), for whom (aud), and for how long (nbf, exp); verification also asks
// the store that the ServiceAccount and the pod or Secret it is bound to still exist with the same uid, so
// deleting the pod revokes its tokens at once (kube allows a pod deleted less than 60 s ago, as we do).
import { randomUUID } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
import { kindFor } from '../../api/index.ts';
import type { ObjectStore } from '../../store/objects.ts';
import type { UserInfo } from '../identities.ts';
import {
  DEFAULT_ISSUER,
  type KubernetesClaim,
  type TokenBinding,
  kubernetesClaim,
  readKubernetesClaim,
  serviceAccountUser,
  serviceAccountUsername,
} from './claims.ts';
import { SIGNING_ALGORITHM, type SigningKey } from './signing-key.ts';

const SERVICE_ACCOUNT = kindFor('v1', 'ServiceAccount')!;
const POD = kindFor('v1', 'Pod')!;
const SECRET = kindFor('v1', 'Secret')!;

/** A pod being deleted keeps its tokens valid this long (kube's grace for pods still shutting down). */
const DELETED_POD_GRACE_MS = 60_000;

export interface ServiceAccountTokensOptions {
  key: SigningKey;
  /** `iss` of every token (--service-account-issuer). Default https://kubernetes.default.svc.cluster.local. */
  issuer?: string;
  /** The audiences the API accepts (--api-audiences). Default: the issuer alone. */
  apiAudiences?: string[];
  /** Bound objects are looked up here; without it, tokens are verified by signature and time alone. */
  objects?: ObjectStore;
}

export interface IssuedToken {
  token: string;
  expirationTimestamp: Date;
}

export type Verification =
  { ok: true; user: UserInfo; claim: KubernetesClaim } | { ok: false; reason: string };

export class ServiceAccountTokens {
  readonly issuer: string;
  readonly apiAudiences: string[];
  readonly key: SigningKey;
  private readonly objects?: ObjectStore;

  constructor(opts: ServiceAccountTokensOptions) {
    this.key = opts.key;
    this.issuer = opts.issuer ?? DEFAULT_ISSUER;
    this.apiAudiences = opts.apiAudiences?.length ? opts.apiAudiences : [this.issuer];
    this.objects = opts.objects;
  }

  /** Signs a token for `binding`, valid from now for `expirationSeconds`, for `audiences` (default: the API's). */
  async issue(
    binding: TokenBinding,
    opts: { audiences?: string[]; expirationSeconds: number; now?: Date },
  ): Promise<IssuedToken> {
    const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
    const exp = now + opts.expirationSeconds;
    const token = await new SignJWT({ 'kubernetes.io': kubernetesClaim(binding) })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(serviceAccountUsername(binding.namespace, binding.serviceAccount.name))
      .setAudience(opts.audiences?.length ? opts.audiences : this.apiAudiences)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
    return { token, expirationTimestamp: new Date(exp * 1000) };
  }

  /**
   * Checks a bearer token as the API's authenticator: our signature and issuer, one of the API's
   * audiences, within nbf..exp, a well-formed claim whose sub agrees, and bound objects still present.
   */
  async review(token: string): Promise<Verification> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key.publicKey, {
        issuer: this.issuer,
        audience: this.apiAudiences,
        algorithms: [SIGNING_ALGORITHM],
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) return { ok: false, reason: 'service account token has expired' };
      if (err instanceof errors.JWTClaimValidationFailed)
        return { ok: false, reason: `service account token is not valid: ${err.message}` };
      if (err instanceof errors.JOSEError) return { ok: false, reason: 'invalid bearer token' };
      throw err;
    }
    const claim = readKubernetesClaim(payload);
    if (!claim) return { ok: false, reason: 'service account token has no valid kubernetes.io claim' };
    if (payload.sub !== serviceAccountUsername(claim.namespace, claim.serviceaccount.name))
      return { ok: false, reason: 'service account token subject does not match its kubernetes.io claim' };
    const stale = await this.staleBinding(claim);
    if (stale) return { ok: false, reason: stale };
    return { ok: true, user: serviceAccountUser(claim, payload.jti as string | undefined), claim };
  }

  /**
   * The user of a valid token, or undefined: the Authenticator's TokenVerifier (src/server/auth.ts).
   * Synchronous for what is not a JWS compact token at all (no WebCrypto work for other tokens).
   */
  verify(token: string): Promise<UserInfo | undefined> | undefined {
    if (token.split('.').length !== 3) return undefined;
    return this.review(token).then((v) => (v.ok ? v.user : undefined));
  }

  /** Why the objects the token is bound to no longer back it, if they do not. */
  private async staleBinding(claim: KubernetesClaim): Promise<string | undefined> {
    if (!this.objects) return undefined;
    const ns = claim.namespace;
    const sa = await this.objects.get(SERVICE_ACCOUNT, ns, claim.serviceaccount.name);
    if (!sa || sa.metadata.uid !== claim.serviceaccount.uid)
      return `service account ${ns}/${claim.serviceaccount.name} has been deleted`;
    if (claim.pod) {
      const pod = await this.objects.get(POD, ns, claim.pod.name);
      if (!pod || pod.metadata.uid !== claim.pod.uid) return `pod ${ns}/${claim.pod.name} has been deleted`;
      const deleting = pod.metadata.deletionTimestamp;
      if (deleting && Date.parse(deleting) + DELETED_POD_GRACE_MS < Date.now())
        return `pod ${ns}/${claim.pod.name} is being deleted`;
    }
    if (claim.secret) {
      const secret = await this.objects.get(SECRET, ns, claim.secret.name);
      if (!secret || secret.metadata.uid !== claim.secret.uid)
        return `secret ${ns}/${claim.secret.name} has been deleted`;
    }
    return undefined;
  }
}
