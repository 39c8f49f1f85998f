// The tier registry: every isolation tier this build of Strata has, by runtime class, and how to make
// its driver from what a node shares with its tiers. The node's composition root (src/node/) reads it;
// nothing else names the tiers. A new tier is a folder under src/sandbox/ and one entry here.
import { join } from 'node:path';
import type { ImageStore } from '../image/index.ts';
import { ContainerDriver } from './container/index.ts';
import type { Driver } from './driver.ts';
import { HandlerListeners, type PodAddresses } from './http-handlers.ts';
import { MicrovmDriver, type AccelSetting } from './microvm/index.ts';
import type { PodEtcFilesMaker, PodNetworkHost } from './pod-network.ts';
import { WasmDriver } from './wasm/driver.ts';

/** What a node shares with its tiers. Each is made on first use: a node holds only what its tiers take. */
export interface NodeResources {
  /** The agent's state directory; each tier keeps its state in a subdirectory of it. */
  stateDir: string;
  /** The node's OCI image store (`strata image` acts on the same one). */
  images(): ImageStore;
  /** The node's pod network: bridge, addresses, hostPort rules (src/net). */
  podNetwork(): PodNetworkHost & PodAddresses;
  /** Pods' /etc/hosts and /etc/resolv.conf (src/net; on the node's cluster DNS once it runs one). */
  etcFiles: PodEtcFilesMaker;
  /**
   * Where the node's sandboxes live on the machine, when not the defaults: their cgroup parent and their
   * per-boot state (runtime root, pid and exit files, sockets). Two nodes on one kernel (hosts made of
   * network namespaces) keep apart with their own.
   */
  hostPaths?: { cgroupParent?: string; runDir?: string };
}

export interface Tier {
  /** The `spec.runtimeClassName` it serves. */
  runtimeClass: string;
  /** A node runs it unless told otherwise (`--runtimes`). */
  byDefault: boolean;
  driver(node: NodeResources): Driver;
}

export const TIERS: readonly Tier[] = [
  {
    runtimeClass: 'wasm',
    byDefault: true,
    driver: (node) =>
      new WasmDriver({
        cacheDir: join(node.stateDir, 'wasm-cache'),
        images: node.images(),
        // HTTP handlers get addresses on the node's pod network, made only when one is served.
        httpHandlers: () => new HandlerListeners(node.podNetwork()),
      }),
  },
  {
    runtimeClass: 'container',
    byDefault: true,
    driver: (node) =>
      new ContainerDriver({
        stateDir: join(node.stateDir, 'containers'),
        images: node.images(),
        network: node.podNetwork(),
        etcFiles: node.etcFiles,
        cgroupParent: node.hostPaths?.cgroupParent,
        runDir: node.hostPaths?.runDir,
        // `--container-runtime` (the CLI sets it; a detached `up` inherits it): runc unless crun is asked for.
        runtime: process.env.STRATA_CONTAINER_RUNTIME === 'crun' ? 'crun' : 'runc',
      }),
  },
  {
    // By default: a node offers it whenever its fingerprint says the tier works here (root, QEMU, the
    // guest kernel). The KVM canary's verdict is cached per host boot, so only a host's first start
    // pays for it; STRATA_MICROVM_ACCEL=auto|kvm|tcg overrides the canary.
    runtimeClass: 'microvm',
    byDefault: true,
    driver: (node) =>
      new MicrovmDriver({
        stateDir: join(node.stateDir, 'microvm'),
        images: node.images(),
        accel: (process.env.STRATA_MICROVM_ACCEL as AccelSetting | undefined) ?? 'auto',
        network: node.podNetwork(),
        etcFiles: node.etcFiles,
        cgroupParent: node.hostPaths?.cgroupParent && `${node.hostPaths.cgroupParent}-microvm`,
        runDir: node.hostPaths?.runDir && join(node.hostPaths.runDir, 'microvm'),
      }),
  },
];

/** The runtime classes a node runs by default. */
export const DEFAULT_RUNTIMES: readonly string[] = TIERS.filter((t) => t.byDefault).map(
  (t) => t.runtimeClass,
);

/**
 * The tiers named in a list like `wasm,container` (in registry order; blanks ignored). An unknown name
 * is an error that lists the known ones.
 */
export function selectTiers(runtimes: string | readonly string[]): Tier[] {
  const wanted = (typeof runtimes === 'string' ? runtimes.split(',') : runtimes)
    .map((r) => r.trim())
    .filter(Boolean);
  const known = TIERS.map((t) => t.runtimeClass);
  const unknown = wanted.filter((r) => !known.includes(r));
  if (unknown.length)
    throw new Error(`unknown runtime class ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return TIERS.filter((t) => wanted.includes(t.runtimeClass));
}
