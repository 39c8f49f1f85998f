// The node's volume manager (the kubelet's volume manager and the local-path provisioner's node half):
//
// - advertises how much local volume storage the node holds: the Node annotation
//   storage.strata.dev/local-capacity = 90% of the size of the filesystem under <dataDir>/volumes (the
//   scheduler subtracts the volumes already there);
// - every few seconds, against the pods bound to the node and the PersistentVolumes:
//   · unmounts volumes no pod on the node uses any more (a pod that is finished or gone),
//   · grows a volume whose PersistentVolume grew (claim expansion) — file and filesystem, online when
//     mounted — then reports the new size in the claim's status.capacity and clears FileSystemResizePending,
//   · removes a volume whose PersistentVolume is gone, when its reclaim policy was Delete (Retain keeps the
//     data on the node).
// Mounting happens when a pod starts (claim-volume.ts); both share the node's LocalVolumes.
import { statfsSync } from 'node:fs';
import {
  type PersistentVolume,
  type PersistentVolumeClaim,
  LOCAL_STORAGE_CAPACITY_ANNOTATION,
  formatMemory,
  isLocalPathVolume,
  kindFor,
  podVolumeClaimName,
  volumeCapacityBytes,
  volumeNodeName,
} from '../../api/index.ts';
import type { Client } from '../../client/client.ts';
import { type Log, errorMessage } from '../../lib/log.ts';
import { localVolumesUnusableReason } from './ext4-image.ts';
import { type LocalVolumes, ensureVolumesRoot, localVolumesFor } from './local-volumes.ts';

const POD = kindFor('v1', 'Pod')!;
const PV = kindFor('v1', 'PersistentVolume')!;
const PVC = kindFor('v1', 'PersistentVolumeClaim')!;
const NODE = kindFor('v1', 'Node')!;

export interface VolumeManagerOptions {
  client: Client;
  nodeName: string;
  dataDir: string;
  log: Pick<Log, 'info' | 'warn'>;
  /** Default 3 s. */
  intervalMs?: number;
  /** Bytes of local volumes the node offers; default 90% of the filesystem under the data dir. */
  capacityBytes?: number;
}

/** The share of the data dir's filesystem offered to volumes (the rest: images, logs, the node itself). */
const CAPACITY_SHARE = 0.9;

export class NodeVolumeManager {
  private readonly o: VolumeManagerOptions;
  private readonly volumes: LocalVolumes;
  private timer?: ReturnType<typeof setInterval>;
  private running?: Promise<void>;

  constructor(o: VolumeManagerOptions) {
    this.o = o;
    this.volumes = localVolumesFor(o.dataDir);
  }

  /** Advertises the node's capacity (0 when local volumes cannot work here, with the reason logged) and starts the loop. */
  async start(): Promise<void> {
    const root = ensureVolumesRoot(this.o.dataDir);
    const unusable = localVolumesUnusableReason();
    if (unusable) this.o.log.warn({}, `local volumes off: ${unusable}`);
    const fs = statfsSync(root);
    const bytes = unusable ? 0 : (this.o.capacityBytes ?? Math.floor(fs.blocks * fs.bsize * CAPACITY_SHARE));
    await this.o.client.patch(NODE, undefined, this.o.nodeName, {
      metadata: { annotations: { [LOCAL_STORAGE_CAPACITY_ANNOTATION]: formatMemory(bytes) } },
    });
    if (unusable) return;
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs ?? 3000);
    this.timer.unref?.();
  }

  /** Stops the loop; `unmount` (the node is going down with its pods) also unmounts every volume — the data stays. */
  async stop(opts: { unmount?: boolean } = {}): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    if (!opts.unmount) return; // an agent restart: pods keep running on their mounts
    for (const handle of this.volumes.handles())
      await this.volumes
        .detach(handle)
        .catch((err) =>
          this.o.log.warn({ volume: handle, err: errorMessage(err) }, 'volumes: unmount failed'),
        );
  }

  private tick(): Promise<void> {
    this.running ??= this.reconcile()
      .catch((err) => this.o.log.warn({ err: errorMessage(err) }, 'volumes: reconcile failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** One pass (exported for tests through `tick`). */
  async reconcile(): Promise<void> {
    const handles = this.volumes.handles();
    if (handles.length === 0) return;
    const listedAt = Date.now();
    const [pods, pvs, claims] = await Promise.all([
      this.o.client.list(POD, undefined, { fieldSelector: `spec.nodeName=${this.o.nodeName}` }),
      this.o.client.list(PV),
      this.o.client.list(PVC),
    ]);
    const claimByKey = new Map<string, PersistentVolumeClaim>(
      claims.items.map((c: PersistentVolumeClaim) => [`${c.metadata.namespace}/${c.metadata.name}`, c]),
    );
    const pvByHandle = new Map<string, PersistentVolume>();
    for (const pv of pvs.items as PersistentVolume[])
      if (isLocalPathVolume(pv) && volumeNodeName(pv) === this.o.nodeName)
        pvByHandle.set(pv.spec.csi!.volumeHandle, pv);
    const inUse = new Set<string>();
    for (const pod of pods.items) {
      const phase = pod.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') continue;
      for (const vol of pod.spec.volumes ?? []) {
        const name = podVolumeClaimName(pod.metadata.name, vol);
        const claim = name ? claimByKey.get(`${pod.metadata.namespace}/${name}`) : undefined;
        const pv = claim?.spec.volumeName
          ? pvs.items.find((p: PersistentVolume) => p.metadata.name === claim.spec.volumeName)
          : undefined;
        if (pv && isLocalPathVolume(pv)) inUse.add(pv.spec.csi!.volumeHandle);
      }
    }
    for (const handle of handles) {
      const pv = pvByHandle.get(handle);
      const recentlyAttached = this.volumes.attachedAt(handle) >= listedAt;
      try {
        if (!pv) {
          if (inUse.has(handle) || recentlyAttached) continue;
          if (this.volumes.reclaimPolicy(handle) === 'Delete') {
            await this.volumes.remove(handle);
            this.o.log.info(
              { volume: handle },
              'volumes: removed (its PersistentVolume is gone, reclaim Delete)',
            );
          } else if (this.volumes.isMounted(handle)) await this.volumes.detach(handle);
          continue;
        }
        await this.expand(handle, pv, claimByKey);
        if (!inUse.has(handle) && !recentlyAttached && this.volumes.isMounted(handle)) {
          await this.volumes.detach(handle);
          this.o.log.info({ volume: handle }, 'volumes: unmounted (no pod on the node uses it)');
        }
      } catch (err) {
        this.o.log.warn({ volume: handle, err: errorMessage(err) }, 'volumes: reconcile of a volume failed');
      }
    }
  }

  /** Grows the volume to its PV's capacity and tells the claim. */
  private async expand(
    handle: string,
    pv: PersistentVolume,
    claims: Map<string, PersistentVolumeClaim>,
  ): Promise<void> {
    const want = volumeCapacityBytes(pv);
    if (this.volumes.filesystemBytes(handle) < want) {
      if (!(await this.volumes.grow(handle, want))) return; // offline: once no pod uses it
      this.o.log.info({ volume: handle, bytes: want }, 'volumes: grown');
    }
    const ref = pv.spec.claimRef;
    const claim = ref?.name ? claims.get(`${ref.namespace}/${ref.name}`) : undefined;
    if (!claim || claim.metadata.uid !== ref?.uid || claim.status?.phase !== 'Bound') return;
    const pending = claim.status?.conditions?.some(
      (c) => c.type === 'FileSystemResizePending' || c.type === 'Resizing',
    );
    const reported = claim.status?.capacity?.storage;
    if (!pending && reported === pv.spec.capacity?.storage) return;
    if (!pending) return; // the controller sets the size of a volume that never grew
    await this.o.client.patch(
      PVC,
      claim.metadata.namespace,
      claim.metadata.name!,
      {
        status: {
          capacity: { storage: pv.spec.capacity!.storage },
          conditions: (claim.status?.conditions ?? []).filter(
            (c) => c.type !== 'FileSystemResizePending' && c.type !== 'Resizing',
          ),
        },
      },
      'status',
    );
  }
}
