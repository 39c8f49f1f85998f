// Authorization: may this user do this? Kubernetes' model — request attributes go through a chain of
// authorizers (Node, then RBAC); the first that allows or denies decides, and "no opinion" from all is a deny.
import type { UserInfo } from './identities.ts';

/** What a request does, as kube-apiserver's RequestInfo + authorizer.Attributes describe it. */
export interface RequestAttributes {
  user: UserInfo;
  /** get, list, watch, create, update, patch, delete, deletecollection; or an HTTP verb for non-resource paths. */
  verb: string;
  /** true for /api and /apis resource paths; false for others (/healthz, /version, /openapi/v2 …). */
  resourceRequest: boolean;
  apiGroup?: string;
  apiVersion?: string;
  /** Plural resource name, e.g. 'pods'. */
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** The URL path (non-resource requests are authorized on it). */
  path: string;
}

export type Decision = 'allow' | 'deny' | 'no-opinion';

export interface AuthorizationResult {
  decision: Decision;
  /** Why (logged in the audit event; part of the 403 message when denied). */
  reason?: string;
}

export interface Authorizer {
  authorize(attrs: RequestAttributes): AuthorizationResult | Promise<AuthorizationResult>;
}

/** The first authorizer with an opinion decides; none means deny. */
export class AuthorizerChain implements Authorizer {
  private readonly authorizers: Authorizer[];
  constructor(authorizers: Authorizer[]) {
    this.authorizers = authorizers;
  }

  async authorize(attrs: RequestAttributes): Promise<AuthorizationResult> {
    const reasons: string[] = [];
    for (const a of this.authorizers) {
      const r = await a.authorize(attrs);
      if (r.decision !== 'no-opinion') return r;
      if (r.reason) reasons.push(r.reason);
    }
    return { decision: 'deny', reason: reasons.join('; ') || undefined };
  }
}
