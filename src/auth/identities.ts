// Well-known identities, as Kubernetes names them. Light (no crypto) so any layer may import it.

/** The control plane's identity towards node agents (its client certificate's CN). */
export const APISERVER_AGENT_CLIENT_CN = 'system:kube-apiserver';
/** The group whose members are administrators. */
export const ADMIN_GROUP = 'system:masters';
/** Every authenticated caller is in this group. */
export const AUTHENTICATED_GROUP = 'system:authenticated';
