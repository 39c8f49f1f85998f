// The Node authorizer, after kube's (plugin/pkg/auth/authorizer/node): a node agent — user
// system:node:NAME in group system:nodes, the identity its certificate carries — may do exactly what
// an agent does and no more:
//   - read what every node needs: nodes, pods (its own are listed by spec.nodeName), services, endpoints,
//     EndpointSlices, namespaces, NetworkPolicies, Ingresses, IngressClasses, StorageClasses, PVs/PVCs
//     (the local-volume manager lists them to find its own);
//   - get a Secret, ConfigMap, PVC or ServiceAccount only when a pod bound to it refers to it (volumes,
//     projected sources, env, envFrom, imagePullSecrets, serviceAccountName), and Secrets an Ingress
//     names for TLS (every node's gateway serves every Ingress); ask a token for those ServiceAccounts;
//   - write only its own Node (and status), its own Lease, the status and deletion of pods bound to it,
//     status of claims its pods use, its kube-dns EndpointSlice, the load-balancer status of Services and
//     Ingresses (its gateway reports its address), Events, and its own certificate requests.
// Anything else gets no opinion, and RBAC (which binds no role to system:nodes) denies it. Names on
// create are checked by NodeRestriction (node-restriction.ts), since a create's URL carries no name.
import type { AuthorizationResult, Authorizer, RequestAttributes } from './authorizer.ts';
import type { NodeGraph } from './node-authorizer-graph.ts';

export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** The node a user is, or undefined for anyone else (kube's NodeIdentifier). */
export function nodeNameOf(user: { username: string; groups: string[] }): string | undefined {
  if (!user.groups.includes(NODES_GROUP) || !user.username.startsWith(NODE_USER_PREFIX)) return undefined;
  const name = user.username.slice(NODE_USER_PREFIX.length);
  return name || undefined;
}

/** The EndpointSlice a node publishes its cluster DNS server under (src/net/dns/endpoint.ts names it). */
export function kubeDnsSliceNameFor(node: string): string {
  return `kube-dns-${node}`.slice(0, 253);
}

const READ = new Set(['get', 'list', 'watch']);
const WRITE_STATUS = new Set(['get', 'update', 'patch']);

/** Resources (group/resource) every node may read in full. */
const READABLE = new Set([
  '/nodes',
  '/pods',
  '/services',
  '/endpoints',
  '/namespaces',
  '/persistentvolumes',
  '/persistentvolumeclaims',
  'discovery.k8s.io/endpointslices',
  'networking.k8s.io/networkpolicies',
  'networking.k8s.io/ingresses',
  'networking.k8s.io/ingressclasses',
  'storage.k8s.io/storageclasses',
]);

/** Kinds only readable one by one when a pod on the node refers to them. */
const BY_REFERENCE = new Set(['secrets', 'configmaps', 'persistentvolumeclaims', 'serviceaccounts']);

export interface NodeAuthorizerOptions {
  graph: NodeGraph;
  /**
   * Whether a pod bound to `node` refers to this object, from the store (asked only when the graph, fed
   * by a watch, says no — e.g. a pod bound a moment ago that the watch has not delivered yet).
   */
  refersNow?: (node: string, resource: string, namespace: string, name: string) => Promise<boolean>;
  /** The node a pod is bound to, from the store (when the graph does not know the pod yet). */
  nodeOfNow?: (namespace: string, name: string) => Promise<string | undefined>;
  /**
   * The node a claim's volume lives on (a local volume's node affinity), from the store: that node grows
   * the claim's filesystem and reports it, even while no pod uses the claim.
   */
  claimVolumeNodeNow?: (namespace: string, name: string) => Promise<string | undefined>;
  /** Secrets Ingresses name for TLS, as `namespace/name`. */
  ingressTlsSecret?: (namespace: string, name: string) => boolean;
}

const allow = (reason: string): AuthorizationResult => ({ decision: 'allow', reason });
const none = (reason?: string): AuthorizationResult => ({ decision: 'no-opinion', reason });

export class NodeAuthorizer implements Authorizer {
  private readonly o: NodeAuthorizerOptions;
  constructor(o: NodeAuthorizerOptions) {
    this.o = o;
  }

  async authorize(a: RequestAttributes): Promise<AuthorizationResult> {
    const node = nodeNameOf(a.user);
    if (!node) return none();
    if (!a.resourceRequest) return none();
    const group = a.apiGroup ?? '';
    const resource = a.resource ?? '';
    const sub = a.subresource ?? '';
    const gr = `${group}/${resource}`;
    const denied = none(
      `node "${node}" may not ${a.verb} ${resource}${sub ? `/${sub}` : ''}${a.name ? ` "${a.name}"` : ''}${a.namespace ? ` in namespace "${a.namespace}"` : ''}`,
    );

    if (!sub && READ.has(a.verb) && READABLE.has(gr)) return allow('nodes read this');

    if (group === '' && BY_REFERENCE.has(resource) && !sub && a.verb === 'get' && a.name && a.namespace) {
      if (await this.refers(node, resource, a.namespace, a.name))
        return allow(`a pod on node ${node} uses it`);
      if (resource === 'secrets' && this.o.ingressTlsSecret?.(a.namespace, a.name))
        return allow('an Ingress serves it (the node gateway)');
      return none(
        `no relationship found between node '${node}' and this object (${resource} ${a.namespace}/${a.name})`,
      );
    }

    switch (gr) {
      case '/nodes':
        if (a.verb === 'create' && !sub)
          return allow('a node registers itself (NodeRestriction checks the name)');
        if (a.name !== node) return denied;
        if (sub === '' && ['get', 'update', 'patch', 'delete'].includes(a.verb)) return allow('its own Node');
        if (sub === 'status' && WRITE_STATUS.has(a.verb)) return allow('its own Node');
        return denied;
      case 'coordination.k8s.io/leases':
        if (a.namespace !== NODE_LEASE_NAMESPACE || sub) return denied;
        if (a.verb === 'create') return allow('its own Lease (NodeRestriction checks the name)');
        if (a.name === node && ['get', 'update', 'patch', 'delete'].includes(a.verb))
          return allow('its own Lease');
        return denied;
      case '/pods':
        if (!a.name || !a.namespace) return denied;
        if ((sub === 'status' && WRITE_STATUS.has(a.verb)) || (sub === '' && a.verb === 'delete'))
          return (await this.podOnNode(node, a.namespace, a.name)) ? allow(`a pod bound to ${node}`) : denied;
        return denied;
      case '/persistentvolumeclaims':
        if (sub === 'status' && WRITE_STATUS.has(a.verb) && a.name && a.namespace) {
          if (await this.refers(node, resource, a.namespace, a.name))
            return allow(`a claim a pod on ${node} uses`);
          if ((await this.o.claimVolumeNodeNow?.(a.namespace, a.name)) === node)
            return allow(`a claim whose volume is on ${node}`);
        }
        return denied;
      case '/serviceaccounts':
        if (sub === 'token' && a.verb === 'create' && a.name && a.namespace)
          return (await this.refers(node, resource, a.namespace, a.name))
            ? allow(`the account of a pod on ${node}`)
            : denied;
        return denied;
      case '/events':
      case 'events.k8s.io/events':
        return ['create', 'update', 'patch'].includes(a.verb) && !sub ? allow('nodes record events') : denied;
      case 'discovery.k8s.io/endpointslices':
        if (a.namespace !== 'kube-system' || sub) return denied;
        if (a.verb === 'create') return allow('its kube-dns EndpointSlice (NodeRestriction checks the name)');
        if (a.name === kubeDnsSliceNameFor(node) && ['update', 'patch', 'delete'].includes(a.verb))
          return allow('its kube-dns EndpointSlice');
        return denied;
      case '/services':
      case 'networking.k8s.io/ingresses':
        // The node gateway writes its address into status.loadBalancer of what it serves.
        return sub === 'status' && WRITE_STATUS.has(a.verb)
          ? allow('the gateway reports its address')
          : denied;
      case 'certificates.k8s.io/certificatesigningrequests':
        // Its own certificate rotation; the approver approves a node only for its own identity.
        return !sub && ['create', 'get', 'list', 'watch'].includes(a.verb)
          ? allow('certificate rotation')
          : denied;
      case 'authentication.k8s.io/tokenreviews':
      case 'authorization.k8s.io/subjectaccessreviews':
        // The agent's endpoint authenticates and authorizes its own callers through the API.
        return a.verb === 'create' ? allow('the agent checks its callers') : denied;
      default:
        return denied;
    }
  }

  private async refers(node: string, resource: string, namespace: string, name: string): Promise<boolean> {
    if (this.o.graph.refers(node, resource, namespace, name)) return true;
    return (await this.o.refersNow?.(node, resource, namespace, name)) ?? false;
  }

  private async podOnNode(node: string, namespace: string, name: string): Promise<boolean> {
    const seen = this.o.graph.nodeOf(namespace, name);
    if (seen === node) return true;
    return (await this.o.nodeOfNow?.(namespace, name)) === node;
  }
}
