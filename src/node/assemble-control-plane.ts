// Composes the control plane: the store, the HTTP API, the controllers and the scheduler.
// `strata server` runs this alone; `strata up` runs it with an agent in the same process.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { kindFor } from '../api/index.ts';
import { openServerDatastore, type DatastoreFlags } from '../store/datastore-server.ts';
import { withWatchCache } from '../store/datastore.ts';
import { startLeadership, type LeaderElectionTimings } from '../store/datastore-leader.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import { ObjectStore } from '../store/objects.ts';
import { loadEncryptionConfig } from '../store/encryption/config.ts';
import { EncryptedStore } from '../store/encryption/encrypted-store.ts';
import { startControllers, ensureDefaultNamespaces } from '../controllers/manager.ts';
import { startServing, type AutoscalerDefaults } from '../serving/index.ts';
import { PingSourceController } from '../controllers/eventing/pingsource.ts';
import { BrokerController } from '../controllers/eventing/broker.ts';
import { GatewayRequestRates } from '../controllers/hpa-gateway-rps.ts';
import { NodeIpamController } from '../controllers/node-ipam.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import { priorityAdmission } from '../server/admission.ts';
import { defaultIngressClassAdmission, ensureStrataIngressClass } from '../server/ingress-admission.ts';
import { installStorageAdmission } from '../server/storage-admission.ts';
import { installPodSecurity, podSecurityConfigFor } from '../policy/pod-security/index.ts';
import { startAdmissionPolicies } from '../policy/admission-policies.ts';
import { policyViolationTotals } from '../policy/reports/violations.ts';
import { QuotaAdmission, installLimitRangeAdmission } from '../policy/quota/index.ts';
import { type ImageSignatureCheck, installImageSignatureAdmission } from '../policy/signatures/index.ts';
import { buildServer, type ServerExtension } from '../server/app.ts';
import { startAudit, type AuditLogConfig } from '../server/audit/index.ts';
import { startAuthorization } from '../server/authorization.ts';
import { forbiddenMessage } from '../server/authorization-attributes.ts';
import { componentStores } from '../auth/components/index.ts';
import { Authenticator, loadOrCreateAdminToken } from '../server/auth.ts';
import { dashboard } from '../server/ui.ts';
import { loadOrCreateSigningKey } from '../auth/serviceaccount/signing-key.ts';
import { ServiceAccountTokens } from '../auth/serviceaccount/tokens.ts';
import { serviceAccountTokenRoutes } from '../server/routes/serviceaccount-token.ts';
import { customMetricsApi } from '../server/routes/custom-metrics-api.ts';
import { serviceAccountAdmission } from '../server/serviceaccount-admission.ts';
import { AgentDialer } from '../server/agent-endpoint.ts';
import { ServerMetrics } from '../server/metrics.ts';
import { MetricsPoller } from '../server/metrics-poller.ts';
import { MetricsHistory } from '../server/metrics-history.ts';
import { setUpAlerting } from '../server/alerts/index.ts';
import { loadOrCreateClusterPKI, type ClusterPKI } from '../auth/cluster-pki.ts';
import { ADMIN_GROUP } from '../auth/identities.ts';
import { BootstrapTokenAuthenticator } from '../auth/bootstrap/authenticator.ts';
import { startNodeAuthorization } from '../auth/node-authorizer-setup.ts';
import { csrCreateAdmission, csrPrepareUpdate } from '../auth/bootstrap/csr-admission.ts';
import { parseCsr, signCsr } from '../auth/bootstrap/csr.ts';
import {
  DEFAULT_SERVICE_CIDR,
  ServiceCidr,
  ensureKubeDnsService,
  ensureKubernetesService,
  startServiceAllocation,
} from '../server/allocators/index.ts';
import { type PodListener, advertiseAddress, isLoopback, listenForPods } from '../server/pod-listener.ts';

export interface ControlPlaneOptions {
  dataDir: string;
  /** Where state lives (sqlite://, etcd://), etcd client TLS, scheduled backups (store/datastore-server.ts). */
  datastore?: DatastoreFlags;
  /**
   * Run the controllers and the scheduler only while holding the leader Lease (default: on with an etcd
   * datastore, which several servers share; off with sqlite, which one server owns). Timings for tests.
   */
  leaderElection?: boolean | Partial<LeaderElectionTimings>;
  host?: string;
  port?: number;
  strategy?: 'spread' | 'binpack';
  /** pino logger options, or false for silence. */
  logger?: false | { level?: string; file?: string };
  nodeGracePeriodSeconds?: number;
  /** Seconds a NotReady node's pods wait before they are evicted (and replaced elsewhere). Default 300. */
  podEvictionTimeoutSeconds?: number;
  /** Serve plain HTTP (loopback development only; tokens are then accepted from loopback alone). */
  insecureHttp?: boolean;
  /** Extra names and addresses for the serving certificate. */
  tlsSans?: string[];
  /** The range Service cluster IPs come from (default 10.96.0.0/16). */
  serviceCidr?: string;
  /** The range NodePorts come from (default 30000-32767). */
  nodePortRange?: string;
  /**
   * The cluster's pod range (kube-controller-manager's --cluster-cidr): when set, every Node gets a block of
   * it as spec.podCIDR (controllers/node-ipam.ts), /`nodeCidrMaskSize` each (default 24). Unset: none.
   */
  clusterCidr?: string;
  nodeCidrMaskSize?: number;
  /**
   * Where pods reach the API (kube-apiserver's --advertise-address): an IPv4 address of this machine
   * (default: the one of the default route), or 'none' — no listener for pods and no default/kubernetes
   * endpoint (a loopback-only control plane).
   */
  advertiseAddress?: string;
  /** A PodSecurityConfiguration file (default: DATA/pod-security.yaml when it exists; else warn at baseline). */
  podSecurityConfig?: string;
  /** Verifies pod images against the cluster's image signature policy (src/node builds it from DATA/image-signatures.yaml). */
  imageSignatures?: ImageSignatureCheck;
  /**
   * kube-apiserver's --encryption-provider-config: an EncryptionConfiguration file; the resources it
   * names are encrypted at rest (store/encryption). Read before the store opens: a bad file or a missing
   * key-encryption key refuses to start, naming the path.
   */
  encryptionProviderConfig?: string;
  /** `iss` of service-account tokens (--service-account-issuer); default https://kubernetes.default.svc.cluster.local. */
  serviceAccountIssuer?: string;
  /** The audit log (--audit-log-path, --audit-policy-file, rotation); none when absent. */
  audit?: AuditLogConfig;
  /** More request-path extensions from the composition root (e.g. the embedded etcd's join route). */
  extensions?: ServerExtension[];
  /** Knative Serving: the domain of route URLs (default strata.local) and the autoscaler's cluster defaults. */
  serving?: { domain?: string; autoscaler?: Partial<AutoscalerDefaults>; tickMs?: number };
  /**
   * Knative Eventing: the node gateway's HTTP address, for sinks that are Knative Services (default
   * http://127.0.0.1:80), and the Broker ingress's port (default 0: any free one; status.address.url says).
   */
  eventing?: { gateway?: string; brokerIngressPort?: number };
}

export interface ControlPlane {
  url: string;
  adminToken: string;
  adminTokenFile: string;
  /** The cluster's certificates (undefined with insecureHttp). */
  pki?: ClusterPKI;
  objects: ObjectStore;
  /** The control plane's Prometheus registry and its feeds (src/server/metrics.ts). */
  metrics: ServerMetrics;
  stop(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const advertise = opts.advertiseAddress;
  if (advertise !== undefined && advertise !== 'none' && !/^\d{1,3}(\.\d{1,3}){3}$/.test(advertise))
    throw new Error(`--advertise-address ${advertise}: expected an IPv4 address of this machine, or none`);
  const encryption = opts.encryptionProviderConfig
    ? loadEncryptionConfig(opts.encryptionProviderConfig)
    : undefined;
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const datastore = await openServerDatastore(opts.dataDir, opts.datastore);
  const store = datastore.store;
  const objects = new ObjectStore(
    withWatchCache(
      datastore.spec,
      encryption ? new EncryptedStore(store, encryption) : store,
      opts.datastore?.watchCache,
    ),
  );
  await ensureDefaultNamespaces(objects);
  const auth = new Authenticator();
  // A bad policy file refuses to start, before anything listens.
  const audit = opts.audit ? startAudit(opts.audit, auth) : undefined;
  const admin = loadOrCreateAdminToken(opts.dataDir);
  auth.add(admin.token, 'admin', [ADMIN_GROUP]);
  // Service-account tokens: signed with DATA/sa.key, verified for every bearer token the list above lacks.
  const saTokens = new ServiceAccountTokens({
    key: await loadOrCreateSigningKey(opts.dataDir),
    objects,
    issuer: opts.serviceAccountIssuer,
  });
  auth.addVerifier(saTokens);
  const pki = opts.insecureHttp
    ? undefined
    : await loadOrCreateClusterPKI(opts.dataDir, {
        tlsSans: [
          ...(opts.tlsSans ?? []),
          ...(opts.advertiseAddress && opts.advertiseAddress !== 'none' ? [opts.advertiseAddress] : []),
        ],
        listenAddress: opts.host,
        // The `kubernetes` Service's address: pods verify the server under it.
        firstServiceIP: new ServiceCidr(opts.serviceCidr ?? DEFAULT_SERVICE_CIDR).kubernetesServiceIP,
      });
  auth.loadFile(join(opts.dataDir, 'tokens'));

  const logger =
    opts.logger === false || opts.logger === undefined
      ? false
      : pino(
          { level: opts.logger.level ?? 'info' },
          opts.logger.file ? pino.destination({ dest: opts.logger.file, mkdir: true }) : undefined,
        );
  // Quota admission is made before the controllers: the quota controller serializes its recounts with it.
  const quota = new QuotaAdmission(objects);
  // Informers every server needs (authentication, authorization, admission); the controllers and the
  // scheduler share them while this server leads.
  const informers = new SharedInformers(objects);
  informers.start();
  objects.addCreateHook(csrCreateAdmission);
  objects.addPrepareUpdateHook(csrPrepareUpdate);
  // Join tokens: kube-system's bootstrap-token-<id> Secrets, read from the controllers' cache.
  const tokenSecrets = informers.informerFor(kindFor('v1', 'Secret')!, 'kube-system');
  auth.addVerifier(new BootstrapTokenAuthenticator({ secrets: (key) => tokenSecrets.get(key) }));
  // Authorization: system:masters, then the authorizers in `before` (the Node authorizer goes there, ahead
  // of RBAC), then RBAC over the controllers' informers; the default roles are reconciled here (their
  // aggregation is a controller of the manager's).
  const nodeAuthz = startNodeAuthorization({ objects, informers });
  const authz = await startAuthorization({
    objects,
    informers,
    before: [nodeAuthz.authorizer],
  });
  const pcKind = kindFor('scheduling.k8s.io/v1', 'PriorityClass');
  installStorageAdmission(objects);
  objects.addCreateHook(defaultIngressClassAdmission(objects));
  objects.addCreateHook(serviceAccountAdmission(objects));
  await ensureStrataIngressClass(objects);
  objects.addCreateHook(priorityAdmission(objects, pcKind ? informers.informerFor(pcKind) : undefined));
  // Kube's order: LimitRange defaults, then Pod Security, then quota (which counts the defaulted pod).
  installLimitRangeAdmission(objects);
  installPodSecurity(objects, podSecurityConfigFor(opts.dataDir, opts.podSecurityConfig));
  // ValidatingAdmissionPolicies after the built-in guards and before quota (kube's plugin order).
  const admissionPolicies = await startAdmissionPolicies(objects);
  if (opts.imageSignatures) installImageSignatureAdmission(objects, opts.imageSignatures);
  quota.install();
  // Cluster IPs and NodePorts: the last admission hooks (they claim addresses only for objects that passed).
  const serviceAllocation = await startServiceAllocation({
    objects,
    services: informers.informerFor(kindFor('v1', 'Service')!),
    serviceCidr: opts.serviceCidr,
    nodePortRange: opts.nodePortRange,
    log: logger || undefined,
  });
  const metrics = new ServerMetrics();
  await metrics.watchStore(objects);
  // Alerts (src/server/alerts): PrometheusRule admission now; the evaluator runs while this server leads.
  const history = new MetricsHistory();
  const alerting = setUpAlerting(objects, {
    scrape: () => metrics.render(),
    history,
    certificates: () =>
      pki
        ? [
            { name: 'cluster-ca', pem: pki.ca.cert },
            { name: 'apiserver', pem: pki.serving.cert },
          ]
        : [],
    log: logger || undefined,
  });
  // Controllers and the scheduler: at once on a datastore this server alone owns (sqlite); on etcd, only
  // while this server holds the leader Lease, its writes fenced (store/datastore-leader.ts).
  let leading: { scheduler: Scheduler } | undefined;
  // The controllers and the scheduler act as system:kube-controller-manager and system:kube-scheduler:
  // each call is authorized by the chain the API uses (and audited), as if they were API clients.
  const components = componentStores({
    objects,
    authorizer: authz.authorizer,
    forbiddenMessage,
    audit: audit && { decide: (a) => audit.policy.decide(a), sink: audit.writer },
    log: logger || undefined,
  });
  // The HPA controller reads pods' CPU and memory through the metrics poller (the agents' summaries).
  const agents = new AgentDialer(pki?.agentClient);
  const poller = new MetricsPoller({ objects, agents, history, log: logger || undefined });
  const startLeaderWork = async () => {
    const controllers = startControllers({
      informers,
      // kube-root-ca.crt in every namespace (what pods verify the API with).
      rootCACert: pki?.ca.cert,
      objects: components.controllerManager,
      quota,
      nodeGracePeriodSeconds: opts.nodeGracePeriodSeconds,
      podEvictionTimeoutSeconds: opts.podEvictionTimeoutSeconds,
      // Pods metric requests_per_second: the node gateways' request counters, sampled through the agents.
      hpa: {
        resources: poller,
        podMetrics: new GatewayRequestRates({ objects: components.controllerManager, agents }),
      },
      // Node certificates: CSRs from joining nodes approved and signed by the cluster CA.
      certificateSigning: pki ? { parse: parseCsr, sign: (req, o) => signCsr(pki.ca, req, o) } : undefined,
    });
    const events = controllers.recorder.withComponent('default-scheduler');
    const scheduler = new Scheduler({
      objects: components.scheduler,
      strategy: opts.strategy ?? 'spread',
      informers,
      onScheduled: (pod, node) =>
        events.normal(
          pod,
          'Scheduled',
          `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${node}`,
        ),
      onFailedScheduling: (pod, message) => events.warning(pod, 'FailedScheduling', message),
      onAttempt: metrics.schedulerAttempt,
      onPreempt: (preemptor, victims, node) => {
        for (const v of victims) {
          events.normal(
            v,
            'Preempted',
            `Preempted by pod ${preemptor.metadata.namespace}/${preemptor.metadata.name} on node ${node}`,
          );
        }
      },
    });
    await scheduler.start();
    // Knative Serving's controllers and autoscaler (src/serving), as the controller manager.
    const serving = await startServing({
      objects: components.controllerManager,
      informers,
      recorder: controllers.recorder,
      ...opts.serving,
    });
    // Event triggers (src/controllers/eventing): PingSources, as the controller manager.
    const pings = new PingSourceController({
      objects: components.controllerManager,
      informers,
      recorder: controllers.recorder.withComponent('pingsource-controller'),
      gateway: opts.eventing?.gateway,
    });
    await pings.start();
    // Brokers and Triggers: the ingress listens beside the API, while this server leads.
    const brokers = new BrokerController({
      objects: components.controllerManager,
      informers,
      recorder: controllers.recorder.withComponent('broker-controller'),
      gateway: opts.eventing?.gateway,
      host: opts.host ?? '127.0.0.1',
      port: opts.eventing?.brokerIngressPort,
      log: logger || undefined,
    });
    await brokers.start();
    // Pod ranges for Nodes (multi-host pod networking), when the cluster has a pod range.
    const nodeIpam = opts.clusterCidr
      ? new NodeIpamController({
          objects: components.controllerManager,
          informers,
          recorder: controllers.recorder,
          clusterCidr: opts.clusterCidr,
          nodeMaskSize: opts.nodeCidrMaskSize,
        })
      : undefined;
    await nodeIpam?.start();
    await alerting.startLeading();
    leading = { scheduler };
    return {
      ready: controllers.ready,
      async stop() {
        leading = undefined;
        await alerting.stopLeading();
        await pings.stop();
        await brokers.stop();
        await nodeIpam?.stop();
        await serving.stop();
        await scheduler.stop();
        await controllers.stop();
      },
    };
  };
  const le = opts.leaderElection ?? datastore.spec.kind === 'etcd';
  const leadership = await startLeadership({
    store,
    // The leader Lease is the controller manager's own (kube's leader election writes it as that user too).
    objects: components.controllerManager,
    enabled: le !== false,
    timings: typeof le === 'object' ? le : undefined,
    log: logger || undefined,
    work: startLeaderWork,
  });
  metrics.watchPolicyViolations(policyViolationTotals);
  metrics.watchScheduler(
    () => leading?.scheduler.stats() ?? { pending: 0, unschedulable: 0, binding: 0, bindErrors: 0 },
  );
  let ready = false;
  void leadership.ready.then(() => (ready = true));
  const app = buildServer({
    objects,
    auth,
    logger: logger || false,
    ready: () => ready,
    readyChecks: 'checkHealth' in store ? [{ name: 'etcd', check: () => store.checkHealth() }] : [],
    tls: pki ? { cert: pki.serving.cert, key: pki.serving.key, clientCA: pki.ca.cert } : undefined,
    agents,
    // Audit first: it records the authenticated user before impersonation, and requests authorization refuses.
    extensions: [
      ...(audit ? [audit.extension] : []),
      authz.extension,
      metrics.extension(objects, poller),
      // custom.metrics.k8s.io: requests_per_second from the node gateways, as the HPA reads it.
      customMetricsApi(objects, new GatewayRequestRates({ objects, agents })),
      alerting.extension,
      serviceAccountTokenRoutes(objects, saTokens),
      // The web dashboard at /ui (its session cookie authenticates through `auth`, so RBAC applies).
      dashboard({ auth }),
      ...(opts.extensions ?? []),
    ],
  });
  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 6443 });
  poller.start();
  const addr = app.server.address() as { address: string; port: number };
  // A wildcard listener is reached locally through loopback.
  const local = addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address === '::' ? '::1' : addr.address;
  const host = local.includes(':') ? `[${local}]` : local;
  alerting.engine.externalURL = `${pki ? 'https' : 'http'}://${host}:${addr.port}`;
  const forPods =
    opts.advertiseAddress === 'none'
      ? undefined
      : await servePods(
          app,
          pki,
          opts.host ?? '127.0.0.1',
          addr.port,
          opts.advertiseAddress,
          logger || undefined,
        );
  if (forPods) await ensureKubernetesService(objects, serviceAllocation.allocator, forPods);
  await ensureKubeDnsService(objects, serviceAllocation.allocator).catch((err) =>
    (logger || undefined)?.warn({ err: (err as Error).message }, 'kube-system/kube-dns Service not created'),
  );
  return {
    url: `${pki ? 'https' : 'http'}://${host}:${addr.port}`,
    pki,
    adminToken: admin.token,
    adminTokenFile: admin.path,
    objects,
    metrics,
    async stop() {
      poller.stop();
      await metrics.close();
      await forPods?.close?.();
      await app.close();
      // What the audit log still buffers is written before the process ends.
      audit?.close();
      await leadership.stop();
      await admissionPolicies.stop();
      await serviceAllocation.stop();
      informers.stop();
      await datastore.close();
    },
  };
}

/**
 * Where pods reach the API (the `default/kubernetes` endpoint): on a loopback listener, a second listener
 * on the machine's advertise address; on a wildcard one, that address and the same port; on a specific
 * address, that address. None over plain HTTP (development, loopback only) or without an IPv4 address.
 */
async function servePods(
  app: ReturnType<typeof buildServer>,
  pki: ClusterPKI | undefined,
  host: string,
  port: number,
  advertise: string | undefined,
  log: { warn(o: object, m: string): void } | undefined,
): Promise<(PodListener | { address: string; port: number; close?: undefined }) | undefined> {
  if (!pki) return undefined;
  const wildcard = host === '0.0.0.0' || host === '::';
  if (!wildcard && !isLoopback(host))
    return /^\d+\.\d+\.\d+\.\d+$/.test(host) ? { address: host, port } : undefined;
  const address = advertise ?? advertiseAddress();
  if (!address) {
    log?.warn(
      {},
      'no IPv4 address besides loopback: pods cannot reach the API (no default/kubernetes endpoint)',
    );
    return undefined;
  }
  if (wildcard) return { address, port };
  try {
    return await listenForPods(
      app,
      { cert: pki.serving.cert, key: pki.serving.key, ca: pki.ca.cert },
      address,
      port,
    );
  } catch (err) {
    log?.warn({ err: (err as Error).message, address }, 'pods cannot reach the API: no listener for them');
    return undefined;
  }
}
