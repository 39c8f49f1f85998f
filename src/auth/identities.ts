// Well-known identities, as Kubernetes names them. Light (no crypto) so any layer may import it.

/** The control plane's identity towards node agents (its client certificate's CN). */
export const APISERVER_AGENT_CLIENT_CN = 'system:kube-apiserver';
/** The group whose members are administrators. */
export const ADMIN_GROUP = 'system:masters';
/** Every authenticated caller is in this group. */
export const AUTHENTICATED_GROUP = 'system:authenticated';

/** Who is calling, once authenticated (Kubernetes' user.Info). */
export interface UserInfo {
  username: string;
  groups: string[];
  /** How the caller proved it. */
  via: 'x509' | 'token' | 'serviceaccount' | 'bootstrap';
  /** Extra attributes (a service-account token's pod binding, impersonation's originating user). */
  extra?: Record<string, string[]>;
  uid?: string;
}
