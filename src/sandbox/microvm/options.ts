// The microvm tier's typed options (`SandboxSpec<MicrovmOptions>.options`): read off the pod's container
// and the prepared image by tierOptions(), handed back to start().
import type { PodEtcRequest } from '../pod-network.ts';
import type { ContainerImageConfig } from '../container/index.ts';
import type { SandboxSpec } from '../driver.ts';

export interface MicrovmOptions {
  /** The image's configuration (entrypoint, cmd, env, working directory, user). */
  imageConfig?: ContainerImageConfig;
  /** Who the workload runs as: the image's User under the pod's runAsUser/runAsGroup, resolved
   * against the image's /etc/passwd and /etc/group when the artifact was prepared. Default root. */
  user?: { uid: number; gid: number; home: string };
  /** Default: the pod name, made a valid hostname. */
  hostname?: string;
  /** Extra /etc/hosts lines (the pod spec's hostAliases). */
  hostAliases?: PodEtcRequest['hostAliases'];
  /** The pod's dnsPolicy and dnsConfig, for its /etc/resolv.conf (as the container tier's). */
  dns?: PodEtcRequest['dns'];
}

export type MicrovmSandboxSpec = SandboxSpec<MicrovmOptions>;
