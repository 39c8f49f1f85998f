// The flags `up`, `server` and `agent` share, defined once: the control plane's (`up` and `server`) and the
// node's (`up` and `agent`). Each command adds only what is its own.
import { Option, type Command } from 'commander';
import { seconds } from './duration.ts';

export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`expected an integer, got ${JSON.stringify(v)}`);
  return n;
};

/** API server, controllers and scheduler: listening, certificates, address ranges, policies, audit. */
export function withControlPlaneOptions(cmd: Command): Command {
  return cmd
    .option('--host <addr>', 'API listen address', '127.0.0.1')
    .option('--port <port>', 'API port', int, 6443)
    .addOption(new Option('--strategy <s>', 'scheduling strategy').choices(['spread', 'binpack']))
    .option(
      '--node-grace-period <duration>',
      'a node whose lease is this old becomes NotReady (default 40s)',
      seconds,
    )
    .option(
      '--pod-eviction-timeout <duration>',
      "how long a NotReady node's pods wait before they are evicted and replaced elsewhere (default 5m)",
      seconds,
    )
    .option('--insecure-http', 'serve plain HTTP instead of HTTPS (loopback development only)')
    .option('--tls-san <name>', 'extra DNS name or IP for the serving certificate (repeatable)', collect)
    .option('--service-cidr <cidr>', 'range Service cluster IPs come from', '10.96.0.0/16')
    .option('--service-node-port-range <a-b>', 'range NodePorts come from', '30000-32767')
    .option(
      '--advertise-address <ip>',
      "where pods reach the API: an address of this machine (default: the default route's), or none",
    )
    .option(
      '--encryption-provider-config <file>',
      'an EncryptionConfiguration: the resources it names (e.g. secrets) are encrypted at rest',
    )
    .option(
      '--pod-security-config <file>',
      'a PodSecurityConfiguration: the cluster-wide Pod Security defaults (default DATA/pod-security.yaml if present; else warn at baseline)',
    )
    .option(
      '--service-account-issuer <url>',
      'the iss of service-account tokens (default https://kubernetes.default.svc.cluster.local)',
    )
    .option(
      '--audit-log-path <path>',
      'the audit log (default DATA/audit.log; - for stdout; none: no audit log)',
    )
    .option('--audit-policy-file <file>', 'an audit.k8s.io/v1 Policy (default: every request at Metadata)')
    .option('--audit-log-maxsize <MB>', 'rotate the audit log at this size (default 100)', int)
    .option('--audit-log-maxbackup <n>', 'rotated audit logs kept (default 10)', int)
    .option('--audit-log-maxage <days>', 'rotated audit logs removed after this many days (default 30)', int);
}

/** A node: its name, tiers, pod network, gateway ports and lease. */
export function withNodeOptions(cmd: Command): Command {
  return cmd
    .option('--node-name <name>', 'name of this node (default: hostname)')
    .option(
      '--runtimes <list>',
      'runtime classes this node runs (default: each of wasm, container, microvm this machine can run)',
    )
    .addOption(
      new Option(
        '--microvm-accel <mode>',
        'microvm accelerator (auto: KVM when a canary boot proves it usable)',
      ).choices(['auto', 'kvm', 'tcg']),
    )
    .addOption(
      new Option(
        '--container-runtime <name>',
        'the OCI runtime of the container tier (default runc; crun starts containers faster)',
      ).choices(['runc', 'crun']),
    )
    .option('--pod-bridge <name>', "the node's pod bridge (default strata0)")
    .option('--pod-cidr <cidr>', "the node's pod address range (default 10.88.0.0/16)")
    .option('--netns-pool <n>', 'pod network namespaces kept ready for pod starts (default 2; 0 = off)', int)
    .option(
      '--http-port <port>',
      "the gateway's Ingress HTTP port on the node's addresses (0 = off)",
      int,
      80,
    )
    .option(
      '--https-port <port>',
      "the gateway's Ingress HTTPS port on the node's addresses (0 = off)",
      int,
      443,
    )
    .option(
      '--lease-duration <duration>',
      "the node's lease duration; it renews every quarter of it (default 40s)",
      seconds,
    );
}
