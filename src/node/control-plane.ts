// The control plane as `strata server` and `strata up` run it: API server, controllers and scheduler
// over the embedded store, logging to DATA/server.log, and the admin kubeconfig that reaches it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeconfigContents, LocalNode } from '../client/kubeconfig.ts';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './assemble-control-plane.ts';
import { IMAGE_SIGNATURE_POLICY_FILE, ImageSignaturePolicy } from '../image/signature-policy.ts';
import { setWorkQueueMetrics } from '../controllers/workqueue.ts';
import type { AuditLogConfig } from '../server/audit/index.ts';
import type { DatastoreFlags } from '../store/datastore-server.ts';
import { ensureLocalNodeToken } from './local-node-token.ts';
import pino from 'pino';
import {
  ensureServerJoinRbac,
  hasEmbeddedEtcd,
  startEmbeddedDatastore,
  type EmbeddedEtcdFlags,
  type RunningEmbeddedEtcd,
} from './embedded-etcd.ts';

/** `strata secrets reencrypt` (offline, on a data directory no server holds). */
export { reencryptDataDir } from '../store/encryption/offline.ts';

export interface ControlPlaneNodeOptions {
  dataDir: string;
  /** `--datastore`, `--etcd-*`, `--backup-*`. */
  datastore?: DatastoreFlags;
  host?: string;
  port?: number;
  strategy?: 'spread' | 'binpack';
  /** Seconds without a lease renewal before a node becomes NotReady. */
  nodeGracePeriodSeconds?: number;
  /** Seconds a NotReady node's pods wait before they are evicted. */
  podEvictionTimeoutSeconds?: number;
  /** Plain HTTP on loopback (development only). */
  insecureHttp?: boolean;
  /** Extra names/addresses for the serving certificate. */
  tlsSans?: string[];
  /** `--service-cidr`: where Service cluster IPs come from. */
  serviceCidr?: string;
  /** `--service-node-port-range`: where NodePorts come from. */
  nodePortRange?: string;
  /** `--cluster-cidr`, `--node-cidr-mask-size`: Nodes get pod ranges from it (none when unset). */
  clusterCidr?: string;
  nodeCidrMaskSize?: number;
  /** `--advertise-address`: where pods reach the API ('none': nowhere). */
  advertiseAddress?: string;
  /** `--encryption-provider-config`: an EncryptionConfiguration file (encryption at rest). */
  encryptionProviderConfig?: string;
  /** `--pod-security-config`: a PodSecurityConfiguration (default DATA/pod-security.yaml when present). */
  podSecurityConfig?: string;
  /** `--service-account-issuer`: the iss of service-account tokens. */
  serviceAccountIssuer?: string;
  /** The audit log (`--audit-log-path` …); none when absent. */
  audit?: AuditLogConfig;
  /** Knative Eventing: the node gateway's address for Knative Service sinks, the Broker ingress's port. */
  eventing?: ControlPlaneOptions['eventing'];
  /**
   * The node that runs in the same process (`strata up`): over plain HTTP it gets a token of its own
   * (`localNodeToken`), never the admin's.
   */
  localNodeName?: string;
  /** `--cluster-init` / `--join` / `--etcd-*`: the embedded etcd member (node/embedded-etcd.ts). */
  embeddedEtcd?: EmbeddedEtcdFlags;
  /** Leader-election timings (tests; default 15 s lease, 10 s renew deadline, 2 s retry). */
  leaderElection?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
}

export interface RunningControlPlane {
  url: string;
  adminToken: string;
  adminTokenFile: string;
  /** Over plain HTTP: the token of `localNodeName` (system:node:NAME); with TLS the node joins instead. */
  localNodeToken?: string;
  /** The cluster CA (PEM), absent with plain HTTP. */
  ca?: string;
  /** The CA's pin that joining agents pass as --ca-cert-hash, absent with plain HTTP. */
  caHash?: string;
  /** The admin's kubeconfig; `node` records the node that runs in the same process (`strata up`). */
  kubeconfig(node?: LocalNode): KubeconfigContents;
  stop(): Promise<void>;
}

export async function startControlPlaneNode(o: ControlPlaneNodeOptions): Promise<RunningControlPlane> {
  // Written before the server reads DATA/tokens at start.
  const localNodeToken =
    o.insecureHttp && o.localNodeName
      ? (mkdirSync(o.dataDir, { recursive: true, mode: 0o700 }),
        ensureLocalNodeToken(join(o.dataDir, 'tokens'), o.localNodeName))
      : undefined;
  // The embedded etcd member starts first: the Store opens on it.
  let etcd: RunningEmbeddedEtcd | undefined;
  if (o.datastore?.datastore && (o.embeddedEtcd?.clusterInit || o.embeddedEtcd?.join))
    throw new Error('--datastore names an external datastore; --cluster-init/--join run an embedded etcd');
  // Without --datastore, a data directory that holds a member restarts it (no flag needed after the first start).
  const e = o.embeddedEtcd;
  if (!o.datastore?.datastore && (e?.clusterInit || e?.join || hasEmbeddedEtcd(o.dataDir)))
    etcd = await startEmbeddedDatastore(
      o.dataDir,
      o.embeddedEtcd ?? {},
      pino(pino.destination({ dest: join(o.dataDir, 'server.log'), append: true, mkdir: true })),
    );
  let cp: ControlPlane;
  try {
    cp = await startControlPlane({
      dataDir: o.dataDir,
      datastore: etcd ? { ...o.datastore, ...etcd.datastore } : o.datastore,
      extensions: etcd ? [etcd.joinExtension] : undefined,
      leaderElection: o.leaderElection,
      // Pods' images are checked against DATA/image-signatures.yaml when it exists.
      imageSignatures: ImageSignaturePolicy.load(
        join(o.dataDir, IMAGE_SIGNATURE_POLICY_FILE),
      )?.admissionCheck(),
      host: o.host,
      port: o.port,
      strategy: o.strategy,
      logger: { file: join(o.dataDir, 'server.log') },
      nodeGracePeriodSeconds: o.nodeGracePeriodSeconds,
      podEvictionTimeoutSeconds: o.podEvictionTimeoutSeconds,
      insecureHttp: o.insecureHttp,
      tlsSans: o.tlsSans,
      serviceCidr: o.serviceCidr,
      nodePortRange: o.nodePortRange,
      clusterCidr: o.clusterCidr,
      nodeCidrMaskSize: o.nodeCidrMaskSize,
      advertiseAddress: o.advertiseAddress,
      encryptionProviderConfig: o.encryptionProviderConfig,
      podSecurityConfig: o.podSecurityConfig,
      serviceAccountIssuer: o.serviceAccountIssuer,
      audit: o.audit,
      eventing: o.eventing,
    });
  } catch (err) {
    await etcd?.stop();
    throw err;
  }
  if (etcd) await ensureServerJoinRbac(cp.objects);
  // The controllers' work queues report to this control plane's registry (client-go's MetricsProvider).
  setWorkQueueMetrics(cp.metrics.workQueueProvider());
  return {
    url: cp.url,
    adminToken: cp.adminToken,
    adminTokenFile: cp.adminTokenFile,
    ...(localNodeToken ? { localNodeToken } : {}),
    ca: cp.pki?.ca.cert,
    caHash: cp.pki?.caHash,
    kubeconfig: (node) => ({
      server: cp.url,
      node,
      ca: cp.pki?.ca.cert,
      clientCert: cp.pki?.admin.cert,
      clientKey: cp.pki?.admin.key,
      tokenFile: cp.adminTokenFile,
    }),
    stop: async () => {
      await cp.stop();
      await etcd?.stop();
    },
  };
}
