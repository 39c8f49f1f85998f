// Per-container settings of the container tier that SandboxSpec has no field for: the tier's typed
// options (`SandboxSpec<ContainerOptions>.options`). The agent never builds them: the driver's
// tierOptions() reads them off the pod's container and the prepared image, and start() gets them back:
//
//   driver.start({ ...spec, options: { securityContext: {...}, cpuRequest: 0.25 } })
//
// Every field is optional; see each for its default.

import type { SandboxSpec } from '../driver.ts';
import type { PodEtcRequest } from '../pod-network.ts';
import type { ContainerImageConfig } from './image-config.ts';
import type { SecurityContext } from './security.ts';

export type { SecurityContext } from './security.ts';

export interface ContainerOptions {
  securityContext?: SecurityContext;
  /** CPU request in cores → cpu shares (1 core = 1024). Default: limits.cpu, else the runtime's 1024. */
  cpuRequest?: number;
  /** Most processes (threads included) in the container. Default 1024; -1 = unlimited. */
  pidsLimit?: number;
  /** Default: the pod name, made a valid hostname. */
  hostname?: string;
  /** Extra /etc/hosts lines (the pod spec's hostAliases). */
  hostAliases?: PodEtcRequest['hostAliases'];
  /**
   * Run catatonit as PID 1 (reaps zombies, forwards the stop signal to a shell that would ignore it).
   * Default true, unless argv[0] is itself an init (tini, dumb-init, catatonit, docker-init, init).
   */
  init?: boolean;
  /** The image configuration, instead of reading `<rootfs>/../image-config.json`. */
  imageConfig?: ContainerImageConfig;
  /** Size of /dev/shm in bytes (default 64 MiB, Docker's). */
  shmSizeBytes?: number;
  /**
   * Where the container writes its termination message (the pod's `terminationMessagePath`): a
   * per-sandbox file is bind-mounted there, and its content (≤ 4 KiB) becomes the exit's message.
   */
  terminationMessagePath?: string;
  /** The pod's dnsPolicy and dnsConfig, for its /etc/resolv.conf (src/net/pod-etc-files.ts). */
  dns?: PodEtcRequest['dns'];
  /** Extra kernel parameters from the pod's safe sysctl set (namespaced: the pod's own). */
  sysctls?: Record<string, string>;
  /**
   * The container's own stdin and terminal (the pod's `stdin`, `stdinOnce`, `tty`): conmon holds an open
   * stdin (and the terminal) that attach() reaches. Default: stdin /dev/null, no terminal.
   */
  stdio?: ContainerStdio;
}

export interface ContainerStdio {
  /** Keep stdin open for attach (`stdin: true`). */
  stdin: boolean;
  /** Close stdin when the first attached client detaches (`stdinOnce: true`). */
  stdinOnce: boolean;
  /** Run the container on a pseudo-terminal (`tty: true`): stdout and stderr become one stream. */
  tty: boolean;
}

export type ContainerSandboxSpec = SandboxSpec<ContainerOptions>;

export function containerOptions(spec: ContainerSandboxSpec): ContainerOptions {
  return spec.options ?? {};
}
