// A pod's persistentVolumeClaim or ephemeral volume, resolved on its node: the claim (waited for until
// the PV controller has bound it), its PersistentVolume, and then the directory the pod gets — a
// local-path volume attached (made, grown, loop-mounted) on this node, or a static `local`/`hostPath`
// volume's directory. Failures are CreateContainerConfigError with the reason, as the kubelet reports them.
import { existsSync } from 'node:fs';
import {
  type PersistentVolume,
  type PersistentVolumeClaim,
  isLocalPathVolume,
  kindFor,
  podVolumeClaimName,
  volumeCapacityBytes,
  volumeNodeName,
} from '../../api/index.ts';
import type { Client } from '../../client/client.ts';
import { SandboxError } from '../../sandbox/driver.ts';
import { localVolumesFor } from './local-volumes.ts';

const PVC = kindFor('v1', 'PersistentVolumeClaim')!;
const PV = kindFor('v1', 'PersistentVolume')!;

/** How long a starting pod waits for its claim to be bound (provisioning follows the scheduling). */
const BIND_WAIT_MS = 60_000;

export interface ClaimMount {
  dir: string;
  /** The ext4 image of a local-path volume (for tiers that attach disks). */
  image?: string;
  readOnly: boolean;
}

function configError(message: string): SandboxError {
  return new SandboxError('CreateContainerConfigError', message);
}

async function boundClaim(
  client: Client,
  ns: string,
  name: string,
  signal?: AbortSignal,
): Promise<PersistentVolumeClaim> {
  const deadline = Date.now() + BIND_WAIT_MS;
  for (;;) {
    const claim: PersistentVolumeClaim | undefined = await client.find(PVC, ns, name);
    if (!claim) throw configError(`persistentvolumeclaim "${name}" not found`);
    if (claim.metadata.deletionTimestamp)
      throw configError(`persistentvolumeclaim "${name}" is being deleted`);
    if (claim.spec.volumeName && claim.status?.phase === 'Bound') return claim;
    if (Date.now() > deadline || signal?.aborted)
      throw configError(
        `persistentvolumeclaim "${name}" is not bound (phase ${claim.status?.phase ?? 'Pending'})`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The directory (and image) for one claim-backed volume of `pod`, on the node whose data dir is `dataDir`. */
export async function claimMount(
  client: Client,
  pod: any,
  vol: any,
  dataDir: string,
  /** false: the pod's tier attaches the image as a disk, the node must not mount it. */
  mount = true,
): Promise<ClaimMount> {
  const name = podVolumeClaimName(pod.metadata.name, vol)!;
  const claim = await boundClaim(client, pod.metadata.namespace, name);
  const pv: PersistentVolume | undefined = await client.find(PV, undefined, claim.spec.volumeName!);
  if (!pv) throw configError(`persistentvolume "${claim.spec.volumeName}" not found (claim ${name})`);
  const readOnly = vol.persistentVolumeClaim?.readOnly === true || pv.spec.csi?.readOnly === true;
  if (isLocalPathVolume(pv)) {
    const node = volumeNodeName(pv);
    if (node && pod.spec.nodeName && node !== pod.spec.nodeName)
      throw configError(`volume ${pv.metadata.name} lives on node ${node}, not ${pod.spec.nodeName}`);
    const attached = await localVolumesFor(dataDir).attach(
      pv.spec.csi!.volumeHandle,
      volumeCapacityBytes(pv),
      pv.spec.persistentVolumeReclaimPolicy ?? 'Retain',
      { mount },
    );
    return { ...attached, readOnly };
  }
  const path = pv.spec.local?.path ?? pv.spec.hostPath?.path;
  if (!path)
    throw configError(
      `persistentvolume "${pv.metadata.name}": Strata mounts local-path, local and hostPath volumes only`,
    );
  if (!existsSync(path))
    throw configError(`persistentvolume "${pv.metadata.name}": ${path} does not exist on this node`);
  return { dir: path, readOnly };
}
