// A worker node: the agent, the tiers it runs (from the registry in src/sandbox/tiers.ts) and what they
// share (the image store, the pod network), and the agent's HTTPS identity. `strata agent` starts one;
// `strata up` starts one next to the control plane (single-node.ts). The one place a node is wired.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent, type AgentOptions } from '../agent/agent.ts';
import { APISERVER_AGENT_CLIENT_CN } from '../auth/identities.ts';
import { daysLeft, selfSignedServing, type KeyPair } from '../auth/pki.ts';
import { fetchPinnedCA } from '../client/ca-bootstrap.ts';
import { startAgentLoadBalancer, type AgentLoadBalancer } from './server-lb.ts';
import { Client } from '../client/client.ts';
import { ImageStore } from '../image/index.ts';
import { IMAGE_SIGNATURE_POLICY_FILE, ImageSignaturePolicy } from '../image/signature-policy.ts';
import { caCertHash, parseCACertHash } from '../lib/ca-hash.ts';
import { kindFor } from '../api/index.ts';
import { clientListWatch } from '../client/list-watch.ts';
import { PodNetwork, networkNames, podEtcFiles } from '../net/index.ts';
import { which } from '../lib/command.ts';
import { ServiceProxy } from '../net/services/index.ts';
import { PolicyEnforcer } from '../net/policy/index.ts';
import { NodeOverlay, interfaceMtu } from '../net/overlay/node-overlay.ts';
import { ClusterDnsServer, KUBE_DNS, kubeDnsEndpointSlice, kubeDnsSliceName } from '../net/dns/index.ts';
import { DEFAULT_RUNTIMES, selectTiers, type NodeResources, type Tier } from '../sandbox/tiers.ts';
import { NodeVolumeManager } from '../agent/volumes/volume-manager.ts';
import { startNodeGateway } from './gateway.ts';
import { CertificateRotator, loadOrJoin } from './node-identity.ts';
import { raiseOpenFileLimit } from './open-file-limit.ts';

export type NodeLog = NonNullable<AgentOptions['log']>;

export interface NodeOptions {
  /** The agent's state directory: pods, each tier's state, the image store, the network, certificates. */
  dataDir: string;
  /** The API server the agent joins, and the cluster CA (PEM; none for a plain-HTTP development server). */
  server: string;
  ca?: string;
  /**
   * A join (bootstrap) token: on an HTTPS cluster the node obtains its own client certificate with it
   * (node-identity.ts) unless one is already in its data dir. Without it, a stored certificate is used.
   */
  joinToken?: string;
  /** A bearer token to present instead of a node certificate (plain-HTTP development servers, or legacy). */
  token?: string;
  /**
   * The runtime classes it runs, comma-separated (default: every tier the registry runs by default). A
   * tier unusable here says so in its fingerprint and is not offered; one left out is not even built
   * (e.g. a second agent on the same machine must not share the first one's bridge).
   */
  runtimes?: string;
  nodeName?: string;
  /** The image signature policy file checked at every pull (default DATA/image-signatures.yaml, if present). */
  imageSignaturePolicy?: string;
  /** Address the agent's endpoint listens on and advertises (default 127.0.0.1). */
  address?: string;
  port?: number;
  labels?: Record<string, string>;
  leaseDurationSeconds?: number;
  /** The cluster's Service range (as the server's --service-cidr); the data plane drops what DNAT left in it. */
  serviceCidr?: string;
  /**
   * The node's pod network: its bridge (default strata0; every name the node owns on the machine derives
   * from it, so two nodes on one machine keep apart) and its pod range (default 10.88.0.0/16).
   */
  podNetwork?: PodNetworkSettings;
  /** The gateway's Ingress ports (`--http-port`/`--https-port`, default 80/443; 0 = off). */
  httpPort?: number;
  httpsPort?: number;
  /**
   * More servers besides `server` (several `--server`s): the agent then talks to all of them through its
   * local load balancer on `loadBalancerPort` (default 6444), which fails over between them (server-lb.ts).
   */
  servers?: string[];
  /** The local load balancer's port; given alone, the balancer runs even for one --server. */
  loadBalancerPort?: number;
  /**
   * The sandboxes' cgroup parent and per-boot directory (`--cgroup-parent`, `--run-dir`; default strata and
   * /run/strata): a second node on the same kernel takes its own.
   */
  hostPaths?: NodeResources['hostPaths'];
  /**
   * Wait for the pod range the servers allocate (server --cluster-cidr) when this Node has none yet and no
   * --pod-cidr is given (default true; `strata up` runs one node and never waits). See nodePodRange().
   */
  waitForPodCidr?: boolean;
  log: NodeLog;
}

export interface PodNetworkSettings {
  bridge?: string;
  cidr?: string;
  /** The pods' MTU (default: the default route's interface's); the overlay's when the node uses one. */
  mtu?: number;
  /** Pre-made pod network namespaces kept ready for pod starts (`--netns-pool`, default 2; 0 = off). */
  netnsPool?: number;
}

export interface RunningNode {
  readonly name: string;
  /** The node's image store directory, when its tiers have one (`strata image` acts on it). */
  readonly imageStore?: string;
  /**
   * Stops the agent. Sandboxes of tiers that survive an agent restart keep running unless
   * `stopSandboxes` (the node itself goes down).
   */
  stop(opts?: { stopSandboxes?: boolean }): Promise<void>;
}

/** A pino logger writing JSON lines to `file` (stdout when none). */
export function fileLogger(file: string | undefined, verbose = false): pino.Logger {
  return pino(
    { level: verbose ? 'debug' : 'info' },
    file ? pino.destination({ dest: file, mkdir: true, sync: false }) : undefined,
  );
}

/** What the node shares with its tiers, each made on first use. */
function nodeResources(
  dataDir: string,
  settings: PodNetworkSettings = {},
  signaturePolicy?: string,
  hostPaths?: NodeResources['hostPaths'],
): NodeResources & {
  imageStoreDir(): string | undefined;
  podNetworkIfUsed(): PodNetwork | undefined;
  setClusterDnsIP(ip: string): void;
} {
  let images: ImageStore | undefined;
  let network: PodNetwork | undefined;
  let clusterDns: string | undefined;
  return {
    etcFiles: podEtcFiles(() => clusterDns),
    setClusterDnsIP: (ip) => (clusterDns = ip),
    stateDir: dataDir,
    hostPaths,
    // Every pull checks the node's image signature policy (DATA/image-signatures.yaml), if any.
    images: () =>
      (images ??= new ImageStore(join(dataDir, 'images'), {
        verifyPull: ImageSignaturePolicy.load(
          signaturePolicy ?? join(dataDir, IMAGE_SIGNATURE_POLICY_FILE),
        )?.pullVerifier(),
      })),
    podNetwork: () => (network ??= newPodNetwork(join(dataDir, 'network'), settings)),
    imageStoreDir: () => (images ? images.root : undefined),
    podNetworkIfUsed: () => network,
  };
}

function newPodNetwork(stateDir: string, settings: PodNetworkSettings): PodNetwork {
  const names = networkNames(settings.bridge);
  return new PodNetwork({
    stateDir,
    subnet: settings.cidr,
    bridge: names.bridge,
    netnsPrefix: names.netnsPrefix,
    vethPrefix: names.vethPrefix,
    chainPrefix: names.chainPrefix,
    mtu: settings.mtu,
    poolSize: settings.netnsPool ?? 2,
  });
}

/** The tiers a `--runtimes` list names (default: the registry's defaults); an unknown one is an error. */
export function nodeTiers(runtimes: string | undefined): Tier[] {
  try {
    return selectTiers(runtimes ?? DEFAULT_RUNTIMES);
  } catch (err) {
    throw new Error(`--runtimes: ${(err as Error).message}`);
  }
}

/** Builds the node's drivers and starts its agent; resolves once the Node is registered. */
export async function startNode(o: NodeOptions): Promise<RunningNode> {
  const servers = [o.server, ...(o.servers ?? []).filter((s) => s !== o.server)];
  const lb =
    servers.length > 1 || o.loadBalancerPort !== undefined
      ? await startAgentLoadBalancer({ servers, dataDir: o.dataDir, port: o.loadBalancerPort, log: o.log })
      : undefined;
  try {
    return await startNodeVia(lb ? { ...o, server: lb.url } : o, lb);
  } catch (err) {
    await lb?.stop();
    throw err;
  }
}

async function startNodeVia(o: NodeOptions, lb: AgentLoadBalancer | undefined): Promise<RunningNode> {
  raiseOpenFileLimit(o.log); // before the drivers size themselves by it (wasm: a descriptor per volume)
  const tiers = nodeTiers(o.runtimes);
  networkNames(o.podNetwork?.bridge); // a bad bridge name fails before anything starts
  const nodeName = o.nodeName ?? hostname().toLowerCase();
  // The node's own identity (system:node:NAME) on an HTTPS cluster, unless told to use a bearer token.
  const identity =
    o.ca && (o.joinToken || !o.token)
      ? await loadOrJoin({
          server: o.server,
          ca: o.ca,
          dataDir: o.dataDir,
          nodeName,
          token: o.joinToken,
          log: o.log,
        })
      : undefined;
  const client = new Client({
    server: o.server,
    token: identity ? undefined : o.token,
    tls: { ca: o.ca, ...(identity ? { cert: identity.cert, key: identity.key } : {}) },
  });
  const rotator = identity
    ? new CertificateRotator({ client, current: identity, dataDir: o.dataDir, nodeName, log: o.log })
    : undefined;
  // The pod range before the drivers exist: they build the pod network with it.
  const range = await nodePodRange(client, nodeName, o);
  // Pods on a range the servers gave out reach other nodes' pods over the overlay: their packets must fit it.
  const overlayIP = range.assigned ? overlayAddress(o) : undefined;
  const podNetwork = {
    ...o.podNetwork,
    cidr: range.cidr,
    mtu: overlayIP ? interfaceMtu(overlayIP) - VXLAN_OVERHEAD : undefined,
  };
  const resources = nodeResources(o.dataDir, podNetwork, o.imageSignaturePolicy, o.hostPaths);
  const drivers = tiers.map((t) => t.driver(resources));
  const agent = new Agent({
    client,
    drivers,
    tls: await agentTls(o.dataDir, o.address ?? '127.0.0.1', o.ca),
    dataDir: o.dataDir,
    nodeName,
    address: o.address,
    port: o.port,
    labels: o.labels,
    leaseDurationSeconds: o.leaseDurationSeconds,
    log: o.log,
  });
  await agent.start();
  rotator?.start();
  lb?.follow(client);
  // Local persistent volumes: capacity on the Node, unmount/grow/remove as pods and volumes change.
  const volumes = new NodeVolumeManager({ client, nodeName: agent.nodeName, dataDir: o.dataDir, log: o.log });
  await volumes.start();
  const overlay =
    overlayIP && range.cidr
      ? await startOverlay(client, agent.nodeName, overlayIP, range.cidr, resources.podNetworkIfUsed(), o)
      : undefined;
  const proxy = await startServiceProxy(client, agent.nodeName, resources.podNetworkIfUsed(), o);
  const policy = proxy ? await startNetworkPolicy(client, o) : undefined;
  const dns = await startClusterDns(client, resources.podNetworkIfUsed(), o);
  // Pods get the kube-dns Service's address when this node's server is behind it (needs the service
  // proxy to DNAT it here); the bridge address itself otherwise.
  const dnsServiceIP =
    dns && proxy ? await publishClusterDns(client, agent.nodeName, dns.address, o) : undefined;
  if (dns) resources.setClusterDnsIP(dnsServiceIP ?? dns.address);
  // The L7 gateway: Ingresses and LoadBalancer Services, on every node address.
  const gateway = await startNodeGateway({
    client,
    nodeName: agent.nodeName,
    address: o.address ?? '127.0.0.1',
    httpPort: o.httpPort,
    httpsPort: o.httpsPort,
    log: nodeLibLog(o.log),
  });
  // Its strata_gateway_* series (requests, latency, retries, ejections, breaker trips) on the agent's /metrics.
  if (gateway) agent.addMetricsSource(() => gateway.counters.text());
  return {
    name: agent.nodeName,
    imageStore: resources.imageStoreDir(),
    async stop(opts) {
      rotator?.stop();
      await agent.stop(opts);
      await resources.podNetworkIfUsed()?.closePool(); // its unclaimed namespaces; pods keep theirs
      await volumes.stop({ unmount: opts?.stopSandboxes });
      await gateway?.stop();
      // A killed or restarting agent leaves the rules (traffic keeps flowing); a node going down removes them.
      await proxy?.stop({ teardown: opts?.stopSandboxes });
      await policy?.stop({ teardown: opts?.stopSandboxes });
      await overlay?.stop({ teardown: opts?.stopSandboxes });
      if (dnsServiceIP && opts?.stopSandboxes)
        await client
          .delete(sliceKind(), KUBE_DNS.namespace, kubeDnsSliceName(agent.nodeName))
          .catch(() => {});
      await dns?.server.stop();
      // A node going down leaves nothing of its network behind: its pods are gone by now, so the bridge
      // and its node-level rules (forwarding, masquerade, hostPorts) go too. A killed or restarting agent
      // keeps them, as it keeps the Service rules.
      if (opts?.stopSandboxes)
        await resources
          .podNetworkIfUsed()
          ?.uninstall()
          .catch((err: unknown) => o.log.warn({ err: String(err) }, 'removing the pod network failed'));
      await lb?.stop();
    },
  };
}

const NODE_KIND = () => kindFor('v1', 'Node')!;
/** VXLAN over IPv4 adds 50 bytes to each packet (outer IP, UDP, VXLAN and Ethernet headers). */
const VXLAN_OVERHEAD = 50;

/**
 * The node's pod range, and whether the servers assigned it: `--pod-cidr` when given (warned about when the
 * Node carries another), else the Node's spec.podCIDR (the servers' node-ipam controller allocates it when
 * they run with --cluster-cidr), else the default. A node joining for the first time registers its Node
 * early and waits for the range: up to 60 s when other Nodes have ranges (the servers allocate), 5 s when
 * none has (they may not; then the default). A node that has registered before finds it at once.
 */
async function nodePodRange(
  client: Client,
  nodeName: string,
  o: NodeOptions,
): Promise<{ cidr?: string; assigned: boolean }> {
  const log = nodeLibLog(o.log);
  const explicit = o.podNetwork?.cidr;
  let node = await client.find(NODE_KIND(), undefined, nodeName);
  const assigned: string | undefined = node?.spec?.podCIDR;
  if (explicit) {
    if (assigned && assigned !== explicit)
      log.warn(
        { podCIDR: assigned, podCidrFlag: explicit },
        'the Node was assigned another pod range than --pod-cidr: other nodes route its range here, not this one',
      );
    return { cidr: explicit, assigned: false };
  }
  if (assigned) return { cidr: assigned, assigned: true };
  if (o.waitForPodCidr === false) return { assigned: false };
  const others = (await client.list(NODE_KIND())).items.some(
    (n: any) => n.metadata.name !== nodeName && n.spec?.podCIDR,
  );
  if (!node) {
    // Registered now, bare (the agent adds labels and status): the allocator sees it and gives it a range.
    node = await client
      .create(NODE_KIND(), { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName }, spec: {} })
      .catch((err) => {
        if (err?.code !== 409) throw err;
      });
  }
  const deadline = Date.now() + (others ? 60_000 : 5_000);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const cidr: string | undefined = (await client.find(NODE_KIND(), undefined, nodeName))?.spec?.podCIDR;
    if (cidr) {
      log.info({ podCIDR: cidr }, 'pod range assigned by the servers');
      return { cidr, assigned: true };
    }
  }
  log.info(
    {},
    others
      ? 'no pod range assigned within 60 s: using the default one (Node events say why)'
      : 'the servers assign no pod ranges (server --cluster-cidr): using --pod-cidr or the default',
  );
  return { assigned: false };
}

/** Where the overlay carries this node's pods' packets from: its advertised address, unless loopback. */
function overlayAddress(o: NodeOptions): string | undefined {
  const address = o.address ?? '127.0.0.1';
  return /^\d+\.\d+\.\d+\.\d+$/.test(address) && !address.startsWith('127.') && address !== '0.0.0.0'
    ? address
    : undefined;
}

/**
 * Pod traffic to other nodes (src/net/overlay): a VXLAN device following the Nodes' ranges, started when
 * the node's pods are on a range the servers assigned and the node has an address others reach. Needs
 * root and iproute2; without them the node runs and says its pods reach no other node's.
 */
async function startOverlay(
  client: Client,
  nodeName: string,
  localIP: string,
  podCidr: string,
  network: PodNetwork | undefined,
  o: NodeOptions,
): Promise<NodeOverlay | undefined> {
  if (!network) return undefined;
  const log = nodeLibLog(o.log);
  if (process.getuid?.() !== 0 || !which('bridge')) {
    log.warn({}, 'overlay off: it needs root and iproute2; pods reach no other node');
    return undefined;
  }
  const overlay = new NodeOverlay({
    nodeName,
    localIP,
    podCidr,
    masqueradeChain: network.chains.postrouting,
    log,
  });
  try {
    await overlay.start(clientListWatch(client, NODE_KIND()));
    return overlay;
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'overlay off: it could not start');
    await overlay.stop().catch(() => {});
    return undefined;
  }
}

/**
 * The node's kube-proxy: when a tier put pods on the node's pod network, Services reach them through kernel
 * rules (nftables) kept in step with Services and EndpointSlices. Needs root and `nft`; without them the
 * node still runs, and says why Services do not reach its pods.
 */
async function startServiceProxy(
  client: Client,
  nodeName: string,
  network: PodNetwork | undefined,
  o: NodeOptions,
): Promise<ServiceProxy | undefined> {
  if (!network) return undefined;
  if (process.getuid?.() !== 0 || !which('nft')) {
    o.log.warn({}, 'service proxy off: it needs root and nft (Debian package nftables)');
    return undefined;
  }
  const proxy = new ServiceProxy({
    nodeName,
    table: networkNames(o.podNetwork?.bridge).serviceTable,
    clusterCidr: network.subnet,
    serviceCidr: o.serviceCidr ?? '10.96.0.0/16',
    log: {
      debug: () => {},
      info: (x, m) => o.log.info(x, m),
      warn: (x, m) => o.log.warn(x, m),
      error: (x, m) => o.log.warn(x, m),
    },
  });
  await proxy.start({
    services: clientListWatch(client, kindFor('v1', 'Service')!),
    endpointSlices: clientListWatch(client, kindFor('discovery.k8s.io/v1', 'EndpointSlice')!),
  });
  return proxy;
}

/**
 * NetworkPolicy for the node's pods with an address (container, microVM), in a table of its own next to
 * the Service table (src/net/policy/README.md says why); started where the service proxy runs (root, nft).
 */
async function startNetworkPolicy(client: Client, o: NodeOptions): Promise<PolicyEnforcer> {
  const enforcer = new PolicyEnforcer({
    table: `${networkNames(o.podNetwork?.bridge).serviceTable}_policy`,
    log: nodeLibLog(o.log),
  });
  await enforcer.start({
    policies: clientListWatch(client, kindFor('networking.k8s.io/v1', 'NetworkPolicy')!),
    pods: clientListWatch(client, kindFor('v1', 'Pod')!),
    namespaces: clientListWatch(client, kindFor('v1', 'Namespace')!),
  });
  return enforcer;
}

/**
 * The agent's own serving certificate (self-signed, kept in its data dir while it has 30 days left); the
 * Node carries it and the server pins it.
 */
async function agentServingCert(agentDir: string, address: string): Promise<KeyPair> {
  const crt = join(agentDir, 'serving.crt');
  const key = join(agentDir, 'serving.key');
  mkdirSync(agentDir, { recursive: true, mode: 0o700 });
  if (existsSync(crt) && existsSync(key)) {
    const kp = { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
    if (daysLeft(kp.cert) > 30) return kp;
  }
  const kp = await selfSignedServing(`strata-agent:${hostname()}`, [address, 'localhost']);
  writeFileSync(key, kp.key, { mode: 0o600 });
  writeFileSync(crt, kp.cert, { mode: 0o644 });
  return kp;
}

/** The agent's TLS settings when the cluster has a CA (none on an --insecure-http development cluster). */
async function agentTls(
  agentDir: string,
  address: string,
  ca: string | undefined,
): Promise<AgentOptions['tls']> {
  if (!ca) return undefined;
  const serving = await agentServingCert(agentDir, address);
  return { ...serving, clientCA: ca, controlPlaneCN: APISERVER_AGENT_CLIENT_CN };
}

/**
 * The cluster CA a joining agent trusts: --ca-file, or the CA the server presents whose hash is
 * --ca-cert-hash (kept in the agent's data dir for restarts), or none for a plain-HTTP development server.
 */
export async function joinTrust(
  server: string,
  dataDir: string,
  hash: string | undefined,
  caFile: string | undefined,
): Promise<string | undefined> {
  if (new URL(server).protocol === 'http:') return undefined;
  if (caFile) {
    try {
      return readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new Error(`cannot read --ca-file ${caFile}: ${(err as Error).message}`);
    }
  }
  if (!hash) {
    throw new Error(
      '--ca-cert-hash (or --ca-file) is required to join an HTTPS server: the hash is printed by ' +
        '`strata server`/`strata up` and kept in DATA/tls/ca.hash on the server',
    );
  }
  const expected = parseCACertHash(hash);
  const saved = join(dataDir, 'ca.crt');
  if (existsSync(saved)) {
    const pem = readFileSync(saved, 'utf8');
    if (caCertHash(pem) === expected) return pem;
  }
  const pem = await fetchPinnedCA(server, expected);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(saved, pem, { mode: 0o644 });
  return pem;
}

/**
 * The node's cluster DNS (Kubernetes' DNS spec for Services and pods; other names forwarded to the node's
 * resolvers), on the pod bridge's address, port 53: the nameserver of its pods with dnsPolicy ClusterFirst.
 * Pods started before it answers keep the node's resolvers. Without root or when port 53 is taken there, the
 * node runs without it and says so.
 */
async function startClusterDns(
  client: Client,
  network: PodNetwork | undefined,
  o: NodeOptions,
): Promise<{ server: ClusterDnsServer; address: string } | undefined> {
  if (!network) return undefined;
  const log = nodeLibLog(o.log);
  if (process.getuid?.() !== 0) {
    log.warn({}, 'cluster DNS off: port 53 needs root');
    return undefined;
  }
  try {
    await network.init(); // the bridge must carry its address before the server binds it
    const server = new ClusterDnsServer({ address: network.gateway, port: 53, log });
    await server.start({
      services: clientListWatch(client, kindFor('v1', 'Service')!),
      endpointSlices: clientListWatch(client, kindFor('discovery.k8s.io/v1', 'EndpointSlice')!),
    });
    return { server, address: network.gateway };
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cluster DNS off: it could not start');
    return undefined;
  }
}

const sliceKind = () => kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;

/**
 * Put this node's DNS server behind the `kube-system/kube-dns` Service (an EndpointSlice of its own)
 * and return the Service's cluster IP; undefined when the cluster has no such Service.
 */
async function publishClusterDns(
  client: Client,
  nodeName: string,
  address: string,
  o: NodeOptions,
): Promise<string | undefined> {
  try {
    const svc = await client.find(kindFor('v1', 'Service')!, KUBE_DNS.namespace, KUBE_DNS.name);
    const ip: string | undefined = svc?.spec?.clusterIP;
    if (!ip || ip === 'None') return undefined;
    const slice = kubeDnsEndpointSlice(nodeName, address);
    const current = await client.find(sliceKind(), KUBE_DNS.namespace, slice.metadata.name!);
    if (!current) await client.create(sliceKind(), slice, KUBE_DNS.namespace);
    else
      await client.replace(
        sliceKind(),
        { ...slice, metadata: { ...slice.metadata, resourceVersion: current.metadata.resourceVersion } },
        KUBE_DNS.namespace,
      );
    return ip;
  } catch (err) {
    nodeLibLog(o.log).warn({ err: (err as Error).message }, 'cluster DNS: not published behind kube-dns');
    return undefined;
  }
}

/** The node's log in the shape src/lib's Log asks for. */
function nodeLibLog(log: NodeLog) {
  return {
    debug: () => {},
    info: (x: object, m: string) => log.info(x, m),
    warn: (x: object, m: string) => log.warn(x, m),
    error: (x: object, m: string) => log.warn(x, m),
  };
}
