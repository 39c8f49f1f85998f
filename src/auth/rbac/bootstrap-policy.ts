// Kubernetes' default ClusterRoles and ClusterRoleBindings (plugin/pkg/auth/authorizer/rbac/bootstrappolicy),
// trimmed to the resources Strata serves plus the ones clients expect to name. `admin`, `edit` and `view`
// are aggregated: their rules come from the `system:aggregate-to-*` roles (and from each other: view is
// labelled aggregate-to-edit, edit aggregate-to-admin), so a CRD-like addition only needs a labelled role.
import type { ClusterRole, ClusterRoleBinding, PolicyRule } from '../../api/kinds/rbac.ts';
import { RBAC_API_VERSION, RBAC_GROUP } from '../../api/kinds/rbac.ts';
import { ADMIN_GROUP, AUTHENTICATED_GROUP } from '../identities.ts';

export const UNAUTHENTICATED_GROUP = 'system:unauthenticated';
const BOOTSTRAPPERS_GROUP = 'system:bootstrappers';
const NODES_GROUP = 'system:nodes';
export const AUTOUPDATE_ANNOTATION = 'rbac.authorization.kubernetes.io/autoupdate';
export const AGGREGATE_TO = (role: 'admin' | 'edit' | 'view') => `${RBAC_GROUP}/aggregate-to-${role}`;

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete', 'deletecollection'];
const READ_WRITE = [...READ, ...WRITE];

function rule(verbs: string[], apiGroups: string[], resources: string[]): PolicyRule {
  return { verbs, apiGroups, resources };
}
function urls(verbs: string[], nonResourceURLs: string[]): PolicyRule {
  return { verbs, nonResourceURLs };
}

const BOOTSTRAP_LABELS = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };

function clusterRole(
  name: string,
  rules: PolicyRule[],
  extra: { labels?: Record<string, string>; aggregateFrom?: 'admin' | 'edit' | 'view' } = {},
): ClusterRole {
  return {
    apiVersion: RBAC_API_VERSION,
    kind: 'ClusterRole',
    metadata: {
      name,
      labels: { ...BOOTSTRAP_LABELS, ...extra.labels },
      annotations: { [AUTOUPDATE_ANNOTATION]: 'true' },
    },
    rules,
    ...(extra.aggregateFrom
      ? {
          aggregationRule: {
            clusterRoleSelectors: [{ matchLabels: { [AGGREGATE_TO(extra.aggregateFrom)]: 'true' } }],
          },
        }
      : {}),
  };
}

function binding(name: string, role: string, subjects: { kind: 'User' | 'Group'; name: string }[]) {
  const out: ClusterRoleBinding = {
    apiVersion: RBAC_API_VERSION,
    kind: 'ClusterRoleBinding',
    metadata: {
      name,
      labels: { ...BOOTSTRAP_LABELS },
      annotations: { [AUTOUPDATE_ANNOTATION]: 'true' },
    },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: role },
    subjects: subjects.map((s) => ({ ...s, apiGroup: RBAC_GROUP })),
  };
  return out;
}

const DISCOVERY_URLS = [
  '/api',
  '/api/*',
  '/apis',
  '/apis/*',
  '/healthz',
  '/livez',
  '/openapi',
  '/openapi/*',
  '/readyz',
  '/version',
  '/version/',
];
const PUBLIC_INFO_URLS = ['/healthz', '/livez', '/readyz', '/version', '/version/'];

/** The users the in-process components act as (auth/components), kube's names. */
export const SCHEDULER_USER = 'system:kube-scheduler';
export const CONTROLLER_MANAGER_USER = 'system:kube-controller-manager';

export const BOOTSTRAP_CLUSTER_ROLES: readonly ClusterRole[] = Object.freeze([
  clusterRole('cluster-admin', [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])]),
  clusterRole('system:discovery', [urls(['get'], DISCOVERY_URLS)]),
  clusterRole('system:public-info-viewer', [
    urls(['get'], PUBLIC_INFO_URLS),
    // The dashboard's pages and its login/logout (src/server/ui.ts); its data comes through the API.
    urls(['get'], ['/ui', '/ui/*']),
    urls(['post'], ['/ui/login', '/ui/logout']),
  ]),
  clusterRole('system:basic-user', [
    rule(['create'], ['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']),
    rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews']),
  ]),
  // The user-facing roles: empty here, filled by the aggregation controller.
  clusterRole('admin', [], { aggregateFrom: 'admin' }),
  clusterRole('edit', [], { aggregateFrom: 'edit', labels: { [AGGREGATE_TO('admin')]: 'true' } }),
  clusterRole('view', [], { aggregateFrom: 'view', labels: { [AGGREGATE_TO('edit')]: 'true' } }),
  clusterRole(
    'system:aggregate-to-admin',
    [
      rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']),
      rule(READ_WRITE, [RBAC_GROUP], ['roles', 'rolebindings']),
    ],
    { labels: { [AGGREGATE_TO('admin')]: 'true' } },
  ),
  clusterRole(
    'system:aggregate-to-edit',
    [
      // Read on the resources that let one act as the pod's identity or read its secrets.
      rule(
        READ,
        [''],
        ['pods/attach', 'pods/proxy', 'pods/exec', 'pods/portforward', 'secrets', 'services/proxy'],
      ),
      rule(['impersonate'], [''], ['serviceaccounts']),
      rule(WRITE, [''], ['pods', 'pods/attach', 'pods/proxy', 'pods/exec', 'pods/portforward']),
      rule(['create'], [''], ['pods/eviction']),
      rule(
        WRITE,
        [''],
        [
          'serviceaccounts',
          'services',
          'services/proxy',
          'persistentvolumeclaims',
          'configmaps',
          'secrets',
          'events',
        ],
      ),
      rule(['create'], [''], ['serviceaccounts/token']),
      rule(
        WRITE,
        ['apps'],
        [
          'statefulsets',
          'statefulsets/scale',
          'daemonsets',
          'deployments',
          'deployments/scale',
          'deployments/rollback',
          'replicasets',
          'replicasets/scale',
        ],
      ),
      rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
      rule(WRITE, ['sources.knative.dev'], ['pingsources']),
      rule(WRITE, ['eventing.knative.dev'], ['brokers', 'triggers']),
      rule(WRITE, ['batch'], ['jobs', 'cronjobs']),
      rule(WRITE, ['policy'], ['poddisruptionbudgets']),
      rule(WRITE, ['networking.k8s.io'], ['networkpolicies', 'ingresses']),
      rule(READ_WRITE, ['coordination.k8s.io'], ['leases']),
      rule(WRITE, ['monitoring.coreos.com'], ['prometheusrules']),
      rule(WRITE, ['serving.knative.dev'], ['services', 'configurations', 'routes', 'revisions']),
    ],
    { labels: { [AGGREGATE_TO('edit')]: 'true' } },
  ),
  clusterRole(
    'system:aggregate-to-view',
    [
      rule(
        READ,
        [''],
        [
          'pods',
          'replicationcontrollers',
          'replicationcontrollers/scale',
          'serviceaccounts',
          'services',
          'services/status',
          'endpoints',
          'persistentvolumeclaims',
          'persistentvolumeclaims/status',
          'configmaps',
        ],
      ),
      rule(
        READ,
        [''],
        [
          'limitranges',
          'resourcequotas',
          'bindings',
          'events',
          'pods/status',
          'resourcequotas/status',
          'namespaces/status',
          'replicationcontrollers/status',
          'pods/log',
        ],
      ),
      // Reading namespaces at the namespace scope means reading this one: a hint of where one has access.
      rule(READ, [''], ['namespaces']),
      rule(READ, ['discovery.k8s.io'], ['endpointslices']),
      rule(
        READ,
        ['apps'],
        [
          'controllerrevisions',
          'statefulsets',
          'statefulsets/status',
          'statefulsets/scale',
          'daemonsets',
          'daemonsets/status',
          'deployments',
          'deployments/status',
          'deployments/scale',
          'replicasets',
          'replicasets/status',
          'replicasets/scale',
        ],
      ),
      rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
      rule(READ, ['sources.knative.dev'], ['pingsources', 'pingsources/status']),
      rule(READ, ['eventing.knative.dev'], ['brokers', 'brokers/status', 'triggers', 'triggers/status']),
      rule(READ, ['batch'], ['jobs', 'cronjobs', 'cronjobs/status', 'jobs/status']),
      rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
      rule(READ, ['networking.k8s.io'], ['networkpolicies', 'ingresses', 'ingresses/status']),
      rule(READ, ['monitoring.coreos.com'], ['prometheusrules']),
      rule(
        READ,
        ['serving.knative.dev'],
        [
          'services',
          'services/status',
          'configurations',
          'configurations/status',
          'routes',
          'routes/status',
          'revisions',
          'revisions/status',
        ],
      ),
      // The alerting API (src/server/alerts): /api/v2/alerts[/groups], /api/v2/receivers and /api/v2/status parse as
      // core-group resources (kube's request-info rules); Prometheus' rule API is a non-resource path.
      rule(['get', 'list'], [''], ['alerts', 'receivers', 'status']),
      urls(['get'], ['/prometheus/api/v1/*']),
    ],
    { labels: { [AGGREGATE_TO('view')]: 'true' } },
  ),
  // The components. They run in-process and act on the store through an authorizing view of it
  // (auth/components/acting-store.ts) as these users: every call they make is checked against these roles.
  // The scheduler's is kube's (with system:volume-scheduler's PV/PVC rules, which kube binds to it too).
  clusterRole('system:kube-scheduler', [
    rule(['create'], ['', 'events.k8s.io'], ['events']),
    rule(['patch', 'update'], ['', 'events.k8s.io'], ['events']),
    rule(['create'], ['coordination.k8s.io'], ['leases']),
    rule(['get', 'update'], ['coordination.k8s.io'], ['leases']),
    rule(['delete', 'get', 'list', 'watch'], [''], ['pods']),
    rule(['create'], [''], ['bindings', 'pods/binding']),
    rule(['patch', 'update'], [''], ['pods/status']),
    rule(READ, [''], ['nodes', 'namespaces', 'persistentvolumeclaims', 'persistentvolumes', 'services']),
    rule(['patch', 'update'], [''], ['persistentvolumeclaims', 'persistentvolumes']),
    rule(READ, ['apps'], ['replicasets', 'statefulsets']),
    rule(READ, ['policy'], ['poddisruptionbudgets']),
    rule(READ, ['storage.k8s.io'], ['storageclasses', 'csinodes', 'csidrivers', 'csistoragecapacities']),
    rule(READ, ['scheduling.k8s.io'], ['priorityclasses']),
  ]),
  // kube-controller-manager's controllers each have a role (kube's system:controller:*); Strata's share one
  // process and one identity, so this is the union of what they do — and no more:
  // - read, update, patch and delete everything: the garbage collector (owner references, finalizers,
  //   dependents of any kind) and the namespace controller (a deleted namespace's contents) walk every
  //   kind, as kube's system:controller:generic-garbage-collector and namespace-controller do;
  // - create only what a controller makes: pods (ReplicaSet, Job, DaemonSet, StatefulSet), ReplicaSets
  //   (Deployment), Jobs (CronJob), ControllerRevisions (StatefulSet, DaemonSet), claims (StatefulSet)
  //   and volumes (provisioner), EndpointSlices, ServiceAccounts and kube-root-ca.crt ConfigMaps in each
  //   namespace, the default namespaces and StorageClass, events, and its leader Lease.
  // Not held: creating Secrets, RoleBindings or ClusterRoleBindings, Nodes; impersonation;
  // TokenRequests; RBAC's bind and escalate (the aggregation controller's updates are in-process writes,
  // which the escalation check leaves to the role below).
  clusterRole('system:kube-controller-manager', [
    rule(READ, ['*'], ['*']),
    rule(['update', 'patch', 'delete', 'deletecollection'], ['*'], ['*']),
    rule(
      ['create'],
      [''],
      [
        'pods',
        'events',
        'namespaces',
        'serviceaccounts',
        'configmaps',
        'persistentvolumes',
        'persistentvolumeclaims',
      ],
    ),
    rule(['create'], ['apps'], ['replicasets', 'controllerrevisions']),
    rule(['create'], ['batch'], ['jobs']),
    rule(['create'], ['discovery.k8s.io'], ['endpointslices']),
    rule(['create'], ['storage.k8s.io'], ['storageclasses']),
    rule(['create'], ['events.k8s.io'], ['events']),
    rule(['create'], ['coordination.k8s.io'], ['leases']),
    // Knative Serving (src/serving): a ksvc's Configuration and Route, revisions, and what a revision runs
    // as — its Deployment, its private Service and the Route's placeholder Service.
    rule(['create'], ['serving.knative.dev'], ['configurations', 'routes', 'revisions']),
    rule(['create'], ['apps'], ['deployments']),
    rule(['create'], [''], ['services']),
    // The CSR approver and signer (kube's csrapproving and csrsigning), for kubelet client certificates.
    {
      verbs: ['approve', 'sign'],
      apiGroups: ['certificates.k8s.io'],
      resources: ['signers'],
      resourceNames: ['kubernetes.io/kube-apiserver-client-kubelet'],
    },
  ]),
  // A node gateway's activator reports a revision's traffic as an annotation on the Revision (merge patch).
  clusterRole('strata:serving-gateway', [rule(['get', 'patch'], ['serving.knative.dev'], ['revisions'])]),
  // What a node agent needs without the Node authorizer's per-node narrowing (kube's system:node).
  clusterRole('system:node', [
    rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
    rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews', 'localsubjectaccessreviews']),
    rule(READ, [''], ['services']),
    rule(['create', 'get', 'list', 'watch', 'delete', 'patch', 'update'], [''], ['nodes']),
    rule(['patch', 'update'], [''], ['nodes/status']),
    rule(['create', 'patch', 'update'], ['', 'events.k8s.io'], ['events']),
    rule(READ, [''], ['pods']),
    rule(['create', 'delete'], [''], ['pods']),
    rule(['patch', 'update'], [''], ['pods/status']),
    rule(['create'], [''], ['pods/eviction']),
    rule(['get'], [''], ['configmaps', 'secrets']),
    rule(['get'], [''], ['persistentvolumeclaims', 'persistentvolumes']),
    rule(['get', 'update', 'patch'], [''], ['persistentvolumeclaims/status']),
    rule(['get'], [''], ['endpoints']),
    rule(READ, ['discovery.k8s.io'], ['endpointslices']),
    rule(READ, ['networking.k8s.io'], ['networkpolicies', 'ingresses', 'ingressclasses']),
    rule(['create', 'delete', 'get', 'patch', 'update'], ['coordination.k8s.io'], ['leases']),
    rule(['create'], [''], ['serviceaccounts/token']),
    rule(READ, ['storage.k8s.io'], ['storageclasses']),
  ]),
  // Joining nodes (kube's roles, bound as kubeadm binds them): a bootstrap token may ask for a node client
  // certificate; a node may ask to renew its own. What a node may do once joined is the Node authorizer's.
  clusterRole('system:node-bootstrapper', [
    rule(['create', 'get', 'list', 'watch'], ['certificates.k8s.io'], ['certificatesigningrequests']),
  ]),
  clusterRole('system:certificates.k8s.io:certificatesigningrequests:nodeclient', [
    rule(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/nodeclient']),
  ]),
  clusterRole('system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', [
    rule(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/selfnodeclient']),
  ]),
]);

/**
 * Rules an earlier Strata put in a default role and this one no longer grants. Reconciling only ever adds
 * rules (an administrator's additions stay), so these exact rules are taken out of roles that still
 * auto-update: a cluster made before the components had their own narrowed roles loses the broad ones.
 */
export const RETIRED_BOOTSTRAP_RULES: Readonly<Record<string, readonly PolicyRule[]>> = Object.freeze({
  'system:kube-controller-manager': [
    rule(['*'], ['', 'apps', 'batch', 'policy', 'discovery.k8s.io', 'coordination.k8s.io'], ['*']),
    rule(['*'], ['networking.k8s.io', 'storage.k8s.io', 'scheduling.k8s.io', 'autoscaling'], ['*']),
    rule(['*'], [RBAC_GROUP], ['clusterroles']),
    rule(READ, [RBAC_GROUP], ['roles', 'rolebindings', 'clusterrolebindings']),
    rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
    rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
  ],
  'system:kube-scheduler': [
    rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
    rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
  ],
});

export const BOOTSTRAP_CLUSTER_ROLE_BINDINGS: readonly ClusterRoleBinding[] = Object.freeze([
  binding('cluster-admin', 'cluster-admin', [{ kind: 'Group', name: ADMIN_GROUP }]),
  binding('system:discovery', 'system:discovery', [{ kind: 'Group', name: AUTHENTICATED_GROUP }]),
  binding('system:basic-user', 'system:basic-user', [{ kind: 'Group', name: AUTHENTICATED_GROUP }]),
  binding('system:public-info-viewer', 'system:public-info-viewer', [
    { kind: 'Group', name: AUTHENTICATED_GROUP },
    { kind: 'Group', name: UNAUTHENTICATED_GROUP },
  ]),
  binding('system:kube-scheduler', 'system:kube-scheduler', [{ kind: 'User', name: SCHEDULER_USER }]),
  binding('system:kube-controller-manager', 'system:kube-controller-manager', [
    { kind: 'User', name: CONTROLLER_MANAGER_USER },
  ]),
  binding('kubeadm:kubelet-bootstrap', 'system:node-bootstrapper', [
    { kind: 'Group', name: BOOTSTRAPPERS_GROUP },
  ]),
  binding(
    'kubeadm:node-autoapprove-bootstrap',
    'system:certificates.k8s.io:certificatesigningrequests:nodeclient',
    [{ kind: 'Group', name: BOOTSTRAPPERS_GROUP }],
  ),
  binding(
    'kubeadm:node-autoapprove-certificate-rotation',
    'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
    [{ kind: 'Group', name: NODES_GROUP }],
  ),
  // Node gateways report each revision's traffic to the serving autoscaler (src/serving/README.md).
  binding('strata:serving-gateway', 'strata:serving-gateway', [{ kind: 'Group', name: NODES_GROUP }]),
]);
