// Persistent volumes, as kube-controller-manager's PV binder, the local-path provisioner's decision, the
// expand controller, the PVC/PV protection controllers and the ephemeral-volume controller do it:
//
// - Claims: the default class is filled in when a claim has none (retroactive default class). A claim
//   with spec.volumeName binds to that volume; otherwise to a matching Available volume (smallest that
//   fits), or — when its class's provisioner is Strata's `strata.dev/local-path` — a volume is made: for
//   WaitForFirstConsumer once the scheduler has annotated the claim with
//   `volume.kubernetes.io/selected-node` (the node of the first pod using it), for Immediate on the node
//   with the most free local capacity. Phases: Pending, Bound, Lost (its volume is gone).
// - Volumes: Available (no claim), Bound, Released (its claim went away). A released volume whose reclaim
//   policy is Delete is deleted (the node's volume manager then removes its image file); Retain keeps it.
// - Protection: `kubernetes.io/pvc-protection` on every claim, removed only once the claim is being
//   deleted and no pod that is not finished uses it; `kubernetes.io/pv-protection` on every volume,
//   removed once it is being deleted and no claim is bound to it.
// - Expansion: a bound claim asking for more than its volume holds (the API allows that only when the
//   class has allowVolumeExpansion) grows the volume's spec.capacity and gets the FileSystemResizePending
//   condition; the node grows the file and the filesystem, then sets status.capacity.
// - Ephemeral volumes: a pod's `ephemeral` volume gets its claim POD-VOLUME, owned by the pod.
//
// The image files themselves are made, mounted, grown and removed by the node (src/agent/volumes/).
import {
  type PersistentVolume,
  type PersistentVolumeClaim,
  BIND_COMPLETED_ANNOTATION,
  LOCAL_PATH_DRIVER,
  LOCAL_PATH_PROVISIONER,
  LOCAL_STORAGE_CAPACITY_ANNOTATION,
  PROVISIONED_BY_ANNOTATION,
  PVC_PROTECTION_FINALIZER,
  PV_PROTECTION_FINALIZER,
  SELECTED_NODE_ANNOTATION,
  STORAGE_PROVISIONER_ANNOTATION,
  type StorageClass,
  builtinLocalPathStorageClass,
  claimRequestBytes,
  defaultStorageClass,
  isLocalPathVolume,
  kindFor,
  labelSelectorMatcher,
  nodeAffinityFor,
  podVolumeClaimName,
  quantityBytes,
  setCondition,
  volumeCapacityBytes,
  volumeMatchesClaim,
  volumeNodeName,
} from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { errorCode, errorMessage } from '../lib/log.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';
import { isFinished } from './pods.ts';

const PVC = kindFor('v1', 'PersistentVolumeClaim')!;
const PV = kindFor('v1', 'PersistentVolume')!;
const SC = kindFor('storage.k8s.io/v1', 'StorageClass')!;
const POD = kindFor('v1', 'Pod')!;
const NODE = kindFor('v1', 'Node')!;

const COMPONENT = 'persistentvolume-controller';

/** Creates the built-in default class when the cluster has no class of that name (at server start). */
export async function ensureDefaultStorageClass(objects: ObjectStore): Promise<void> {
  const sc = builtinLocalPathStorageClass();
  if (await objects.get(SC, undefined, sc.metadata.name!)) return;
  try {
    await objects.create(sc);
  } catch (err) {
    if (errorCode(err) !== 409) throw err;
  }
}

/** The claims a pod's volumes use (persistentVolumeClaim and ephemeral), by name. */
export function podClaimNames(pod: any): string[] {
  const out: string[] = [];
  for (const v of pod?.spec?.volumes ?? []) {
    const name = podVolumeClaimName(pod.metadata.name, v);
    if (name !== undefined) out.push(name);
  }
  return out;
}

/** Bytes of local volumes on each node: their PVs' capacities (what the scheduler also counts). */
export function localBytesByNode(pvs: Iterable<PersistentVolume>): Map<string, number> {
  const used = new Map<string, number>();
  for (const pv of pvs) {
    const node = isLocalPathVolume(pv) ? volumeNodeName(pv) : undefined;
    if (node) used.set(node, (used.get(node) ?? 0) + volumeCapacityBytes(pv));
  }
  return used;
}

/** The object went away meanwhile: nothing left to do. */
function notFoundOk(err: unknown): undefined {
  if (errorCode(err) !== 404) throw err;
  return undefined;
}

const claimKey = (ns: string, name: string) => `pvc:${ns}/${name}`;
const volumeKey = (name: string) => `pv:${name}`;
const podKey = (ns: string, name: string) => `pod:${ns}/${name}`;

export class PersistentVolumeController extends QueuedController {
  private claims!: Informer<PersistentVolumeClaim>;
  private volumes!: Informer<PersistentVolume>;
  private classes!: Informer<StorageClass>;
  private pods!: Informer<any>;
  private nodes!: Informer<any>;

  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  async start(): Promise<void> {
    await ensureDefaultStorageClass(this.objects);
    this.claims = this.informers.informerFor(PVC);
    this.volumes = this.informers.informerFor(PV);
    this.classes = this.informers.informerFor(SC);
    this.pods = this.informers.informerFor(POD);
    this.nodes = this.informers.informerFor(NODE);
    const claimChanged = (c: PersistentVolumeClaim) => {
      this.queue.add(claimKey(c.metadata.namespace!, c.metadata.name!));
      // Volumes reserved for or bound to it look again (Released when it is gone).
      for (const pv of this.volumes.values())
        if (
          pv.spec.claimRef?.name === c.metadata.name &&
          pv.spec.claimRef?.namespace === c.metadata.namespace
        )
          this.queue.add(volumeKey(pv.metadata.name!));
    };
    const volumeChanged = (pv: PersistentVolume) => {
      this.queue.add(volumeKey(pv.metadata.name!));
      const ref = pv.spec.claimRef;
      if (ref?.name && ref.namespace) this.queue.add(claimKey(ref.namespace, ref.name));
    };
    const podChanged = (pod: any) => {
      if (!pod.spec?.volumes?.length) return;
      this.queue.add(podKey(pod.metadata.namespace, pod.metadata.name));
      for (const name of podClaimNames(pod)) this.queue.add(claimKey(pod.metadata.namespace, name));
    };
    const allUnbound = () => {
      for (const c of this.claims.values())
        if (!c.spec.volumeName) this.queue.add(claimKey(c.metadata.namespace!, c.metadata.name!));
    };
    this.removeHandlers.push(
      this.claims.addHandler({
        onAdd: claimChanged,
        onUpdate: (_o, c) => claimChanged(c),
        onDelete: claimChanged,
      }),
      this.volumes.addHandler({
        onAdd: volumeChanged,
        onUpdate: (_o, v) => volumeChanged(v),
        onDelete: (v) => {
          volumeChanged(v);
          allUnbound();
        },
      }),
      this.classes.addHandler({ onAdd: allUnbound, onUpdate: allUnbound }),
      this.pods.addHandler({ onAdd: podChanged, onUpdate: (_o, p) => podChanged(p), onDelete: podChanged }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  protected async reconcile(key: string): Promise<void> {
    const [type, rest] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
    if (type === 'pv') return this.syncVolume(rest);
    const [ns, name] = rest.split('/');
    if (type === 'pvc') return this.syncClaim(ns, name);
    if (type === 'pod') return this.syncEphemeral(ns, name);
  }

  // ---- claims ---------------------------------------------------------------------------------------

  private async syncClaim(ns: string, name: string): Promise<void> {
    const claim = this.claims.get(`${ns}/${name}`);
    if (!claim) return;
    if (claim.metadata.deletionTimestamp) return this.releaseClaimProtection(claim);
    if (!claim.metadata.finalizers?.includes(PVC_PROTECTION_FINALIZER)) {
      await this.mutateClaim(ns, name, (c) => {
        if (c.metadata.deletionTimestamp || c.metadata.finalizers?.includes(PVC_PROTECTION_FINALIZER))
          return undefined;
        c.metadata.finalizers = [...(c.metadata.finalizers ?? []), PVC_PROTECTION_FINALIZER];
        return c;
      });
      return; // the update brings it back
    }
    if (claim.spec.storageClassName === undefined) {
      const def = defaultStorageClass(this.classes.list());
      if (def) {
        await this.mutateClaim(ns, name, (c) => {
          if (c.spec.storageClassName !== undefined) return undefined;
          c.spec.storageClassName = def.metadata.name;
          return c;
        });
        return;
      }
    }
    if (claim.spec.volumeName) return this.syncBoundClaim(claim);
    return this.syncUnboundClaim(claim);
  }

  private async syncBoundClaim(claim: PersistentVolumeClaim): Promise<void> {
    const pv = this.volumes.get(claim.spec.volumeName!);
    if (!pv) {
      // Bound before, the volume is gone: Lost (as Kubernetes); never bound: wait for it.
      const phase = claim.status?.phase === 'Bound' || claim.status?.phase === 'Lost' ? 'Lost' : 'Pending';
      if (phase === 'Lost' && claim.status?.phase !== 'Lost')
        this.recorder.warning(
          claim,
          'ClaimLost',
          'Bound claim has lost its PersistentVolume. Data on the volume is lost!',
        );
      return this.setClaimStatus(claim, { phase });
    }
    const ref = pv.spec.claimRef;
    if (!ref) {
      await this.bindVolume(pv, claim);
      return;
    }
    if (
      ref.name !== claim.metadata.name ||
      ref.namespace !== claim.metadata.namespace ||
      (ref.uid && ref.uid !== claim.metadata.uid)
    ) {
      this.recorder.warning(
        claim,
        'FailedBinding',
        `volume "${pv.metadata.name}" already bound to a different claim.`,
      );
      return this.setClaimStatus(claim, { phase: 'Pending' });
    }
    if (!ref.uid) await this.bindVolume(pv, claim);
    if (!claim.metadata.annotations?.[BIND_COMPLETED_ANNOTATION])
      await this.mutateClaim(claim.metadata.namespace!, claim.metadata.name!, (c) => {
        c.metadata.annotations = { ...c.metadata.annotations, [BIND_COMPLETED_ANNOTATION]: 'yes' };
        return c;
      });
    await this.expandIfAsked(claim, pv);
    const status: PersistentVolumeClaim['status'] = {
      phase: 'Bound',
      accessModes: pv.spec.accessModes,
      // The volume's size at binding; after an expansion the node reports the grown size (kept below).
      capacity: { storage: pv.spec.capacity!.storage },
    };
    await this.setClaimStatus(claim, status);
  }

  /** A bound claim that asks for more than its volume holds: the volume grows (the node does the rest). */
  private async expandIfAsked(claim: PersistentVolumeClaim, pv: PersistentVolume): Promise<void> {
    const want = claimRequestBytes(claim);
    if (want <= volumeCapacityBytes(pv)) return;
    const cls = this.classes.get(claim.spec.storageClassName ?? '');
    if (!isLocalPathVolume(pv) || !cls?.allowVolumeExpansion) {
      this.recorder.warning(
        claim,
        'ExternalExpanding',
        `volume ${pv.metadata.name} cannot be expanded by Strata`,
      );
      return;
    }
    const storage = claim.spec.resources!.requests!.storage!;
    await this.objects.mutate(PV, undefined, pv.metadata.name!, (v) => {
      if (quantityBytes(v.spec.capacity?.storage) >= want) return undefined;
      v.spec.capacity = { ...v.spec.capacity, storage };
      return v;
    });
    this.recorder.normal(claim, 'Resizing', `External resizer is resizing volume ${pv.metadata.name}`);
    await this.objects.mutate(
      PVC,
      claim.metadata.namespace,
      claim.metadata.name!,
      (c) => {
        c.status = {
          ...c.status,
          allocatedResources: { storage },
          conditions: setCondition(c.status?.conditions, {
            type: 'FileSystemResizePending',
            status: 'True',
            message: 'Waiting for the node to resize the filesystem of the volume.',
          }),
        };
        return c;
      },
      'status',
    );
  }

  private async syncUnboundClaim(claim: PersistentVolumeClaim): Promise<void> {
    const className = claim.spec.storageClassName ?? '';
    // A volume reserved for this claim (claimRef set by an administrator or by us), else the smallest match.
    const selector = claim.spec.selector ? labelSelectorMatcher(claim.spec.selector) : () => true;
    const cls = className ? this.classes.get(className) : undefined;
    const waitForConsumer = cls?.volumeBindingMode === 'WaitForFirstConsumer';
    const selectedNode = claim.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
    let best: PersistentVolume | undefined;
    for (const pv of this.volumes.values()) {
      if (
        pv.metadata.deletionTimestamp ||
        (pv.status?.phase && pv.status.phase !== 'Available' && !pv.spec.claimRef)
      )
        continue;
      if (pv.status?.phase === 'Released' || pv.status?.phase === 'Bound') {
        const ref = pv.spec.claimRef;
        if (!(ref?.uid === claim.metadata.uid)) continue;
      }
      if (!volumeMatchesClaim(pv, claim as any, selector)) continue;
      const reserved = pv.spec.claimRef?.name === claim.metadata.name;
      if (waitForConsumer && !reserved) {
        const node = volumeNodeName(pv);
        if (!selectedNode || (node !== undefined && node !== selectedNode)) continue;
      }
      if (reserved) {
        best = pv;
        break;
      }
      if (!best || volumeCapacityBytes(pv) < volumeCapacityBytes(best)) best = pv;
    }
    if (best) {
      await this.bindVolume(best, claim);
      await this.mutateClaim(claim.metadata.namespace!, claim.metadata.name!, (c) => {
        if (c.spec.volumeName) return undefined;
        c.spec.volumeName = best.metadata.name;
        return c;
      });
      return;
    }
    await this.setClaimStatus(claim, { ...claim.status, phase: 'Pending' });
    if (!className) {
      this.recorder.normal(
        claim,
        'FailedBinding',
        'no persistent volumes available for this claim and no storage class is set',
      );
      return;
    }
    if (!cls) {
      this.recorder.warning(
        claim,
        'ProvisioningFailed',
        `storageclass.storage.k8s.io "${className}" not found`,
      );
      return;
    }
    if (cls.provisioner !== LOCAL_PATH_PROVISIONER) {
      if (claim.metadata.annotations?.[STORAGE_PROVISIONER_ANNOTATION] !== cls.provisioner)
        await this.mutateClaim(claim.metadata.namespace!, claim.metadata.name!, (c) => {
          c.metadata.annotations = {
            ...c.metadata.annotations,
            [STORAGE_PROVISIONER_ANNOTATION]: cls.provisioner,
          };
          return c;
        });
      this.recorder.normal(
        claim,
        'ExternalProvisioning',
        `Waiting for a volume to be created either by the external provisioner '${cls.provisioner}' or manually by the system administrator.`,
      );
      return;
    }
    // A consumer placed without the scheduler (spec.nodeName set by hand, where Kubernetes would wait
    // forever) decides the node just the same.
    let node = selectedNode ?? (waitForConsumer ? this.placedConsumerNode(claim) : undefined);
    if (!node && waitForConsumer) {
      this.recorder.normal(
        claim,
        'WaitForFirstConsumer',
        'waiting for first consumer to be created before binding',
      );
      return;
    }
    node ??= this.roomiestNode(claimRequestBytes(claim));
    if (!node) {
      this.recorder.warning(
        claim,
        'ProvisioningFailed',
        'no node has enough free local storage for the claim',
      );
      return;
    }
    await this.provision(claim, cls, node);
  }

  /** The node of a pod (not finished) that uses the claim and is already on a node. */
  private placedConsumerNode(claim: PersistentVolumeClaim): string | undefined {
    for (const p of this.pods.values())
      if (
        p.metadata.namespace === claim.metadata.namespace &&
        p.spec?.nodeName &&
        !isFinished(p) &&
        podClaimNames(p).includes(claim.metadata.name!)
      )
        return p.spec.nodeName;
    return undefined;
  }

  /** Immediate binding: the node with the most free local capacity that can hold `bytes`. */
  private roomiestNode(bytes: number): string | undefined {
    const used = localBytesByNode(this.volumes.values());
    let best: { name: string; free: number } | undefined;
    for (const n of this.nodes.values()) {
      const cap = quantityBytes(n.metadata.annotations?.[LOCAL_STORAGE_CAPACITY_ANNOTATION]);
      const free = cap - (used.get(n.metadata.name) ?? 0);
      if (free >= bytes && (!best || free > best.free)) best = { name: n.metadata.name, free };
    }
    return best?.name;
  }

  /** The local-path provisioner: a volume for the claim on `node`, named pvc-<claim uid> as Kubernetes names them. */
  private async provision(claim: PersistentVolumeClaim, cls: StorageClass, node: string): Promise<void> {
    const name = `pvc-${claim.metadata.uid}`;
    if (this.volumes.get(name)) return;
    this.recorder.normal(
      claim,
      'Provisioning',
      `External provisioner is provisioning volume for claim "${claim.metadata.namespace}/${claim.metadata.name}"`,
    );
    const pv = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: {
        name,
        annotations: { [PROVISIONED_BY_ANNOTATION]: LOCAL_PATH_PROVISIONER },
        finalizers: [PV_PROTECTION_FINALIZER],
      },
      spec: {
        capacity: { storage: claim.spec.resources!.requests!.storage! },
        accessModes: claim.spec.accessModes,
        persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
        storageClassName: cls.metadata.name,
        mountOptions: cls.mountOptions,
        volumeMode: 'Filesystem',
        csi: { driver: LOCAL_PATH_DRIVER, volumeHandle: name, fsType: 'ext4' },
        nodeAffinity: nodeAffinityFor(node),
        claimRef: {
          kind: 'PersistentVolumeClaim',
          apiVersion: 'v1',
          namespace: claim.metadata.namespace,
          name: claim.metadata.name,
          uid: claim.metadata.uid,
        },
      },
    };
    try {
      await this.objects.create(pv);
    } catch (err) {
      if (errorCode(err) !== 409) {
        this.recorder.warning(claim, 'ProvisioningFailed', errorMessage(err));
        throw err;
      }
    }
    this.recorder.normal(
      claim,
      'ProvisioningSucceeded',
      `Successfully provisioned volume ${name} on node ${node}`,
    );
    await this.mutateClaim(claim.metadata.namespace!, claim.metadata.name!, (c) => {
      if (c.spec.volumeName) return undefined;
      c.spec.volumeName = name;
      return c;
    });
  }

  /** Points the volume at the claim (claimRef with uid) and marks it Bound. */
  private async bindVolume(pv: PersistentVolume, claim: PersistentVolumeClaim): Promise<void> {
    await this.objects.mutate(PV, undefined, pv.metadata.name!, (v) => {
      const ref = v.spec.claimRef;
      if (ref?.uid === claim.metadata.uid) return undefined;
      if (ref && (ref.name !== claim.metadata.name || ref.namespace !== claim.metadata.namespace))
        return undefined;
      v.spec.claimRef = {
        kind: 'PersistentVolumeClaim',
        apiVersion: 'v1',
        namespace: claim.metadata.namespace,
        name: claim.metadata.name,
        uid: claim.metadata.uid,
        resourceVersion: claim.metadata.resourceVersion,
      };
      return v;
    });
  }

  /** Drops pvc-protection once no pod that still runs (or may run) uses the claim. */
  private async releaseClaimProtection(claim: PersistentVolumeClaim): Promise<void> {
    if (!claim.metadata.finalizers?.includes(PVC_PROTECTION_FINALIZER)) return;
    const ns = claim.metadata.namespace!;
    const inUse = this.pods
      .list()
      .some(
        (p: any) =>
          p.metadata.namespace === ns && !isFinished(p) && podClaimNames(p).includes(claim.metadata.name!),
      );
    if (inUse) return; // a pod change brings it back
    await this.mutateClaim(ns, claim.metadata.name!, (c) => {
      if (!c.metadata.finalizers?.includes(PVC_PROTECTION_FINALIZER)) return undefined;
      c.metadata.finalizers = c.metadata.finalizers.filter((f: string) => f !== PVC_PROTECTION_FINALIZER);
      return c;
    });
  }

  private async setClaimStatus(
    claim: PersistentVolumeClaim,
    status: NonNullable<PersistentVolumeClaim['status']>,
  ): Promise<void> {
    const merged = { ...claim.status, ...status };
    if (claim.status?.phase === 'Bound' && status.phase === 'Bound') merged.capacity = claim.status.capacity;
    if (JSON.stringify(claim.status ?? {}) === JSON.stringify(merged)) return;
    await this.objects
      .mutate(
        PVC,
        claim.metadata.namespace,
        claim.metadata.name!,
        (c) => {
          if (c.metadata.uid !== claim.metadata.uid) return undefined;
          // Merged over what is there: the node's part (capacity after a resize, its conditions) stays.
          const reported = c.status?.phase === 'Bound' ? c.status.capacity : undefined;
          c.status = { ...c.status, ...status };
          if (reported && status.phase === 'Bound') c.status.capacity = reported;
          return c;
        },
        'status',
      )
      .catch(notFoundOk);
  }

  private async mutateClaim(ns: string, name: string, fn: (c: any) => any): Promise<void> {
    await this.objects.mutate(PVC, ns, name, fn).catch(notFoundOk);
  }

  // ---- volumes --------------------------------------------------------------------------------------

  private async syncVolume(name: string): Promise<void> {
    const pv = this.volumes.get(name);
    if (!pv) return;
    const ref = pv.spec.claimRef;
    const claim = ref?.name && ref.namespace ? this.claims.get(`${ref.namespace}/${ref.name}`) : undefined;
    const boundClaim = claim && (!ref?.uid || claim.metadata.uid === ref.uid) ? claim : undefined;
    if (pv.metadata.deletionTimestamp) {
      if (boundClaim && !boundClaim.metadata.deletionTimestamp && pv.status?.phase === 'Bound') return;
      await this.objects
        .mutate(PV, undefined, name, (v) => {
          if (!v.metadata.finalizers?.includes(PV_PROTECTION_FINALIZER)) return undefined;
          v.metadata.finalizers = v.metadata.finalizers.filter((f: string) => f !== PV_PROTECTION_FINALIZER);
          return v;
        })
        .catch(notFoundOk);
      return;
    }
    if (!pv.metadata.finalizers?.includes(PV_PROTECTION_FINALIZER)) {
      await this.objects
        .mutate(PV, undefined, name, (v) => {
          if (v.metadata.deletionTimestamp || v.metadata.finalizers?.includes(PV_PROTECTION_FINALIZER))
            return undefined;
          v.metadata.finalizers = [...(v.metadata.finalizers ?? []), PV_PROTECTION_FINALIZER];
          return v;
        })
        .catch(notFoundOk);
      return;
    }
    let phase: 'Available' | 'Bound' | 'Released';
    if (!ref) phase = 'Available';
    else if (!ref.uid)
      phase = 'Available'; // reserved for a claim that has not bound yet
    else if (boundClaim) phase = 'Bound';
    else phase = 'Released';
    if (phase === 'Released' && pv.spec.persistentVolumeReclaimPolicy === 'Delete') {
      // Reclaim Delete: the object goes; the node removes a local-path volume's file once the PV is gone.
      await this.objects.delete(PV, undefined, name).catch(notFoundOk);
      this.recorder.normal(
        pv,
        'VolumeDelete',
        `volume ${name} deleted: its claim ${ref!.namespace}/${ref!.name} is gone`,
      );
      return;
    }
    if (pv.status?.phase === phase) return;
    await this.objects
      .mutate(
        PV,
        undefined,
        name,
        (v) => {
          v.status = {
            ...v.status,
            phase,
            lastPhaseTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          };
          if (phase !== 'Released') delete v.status.reason;
          return v;
        },
        'status',
      )
      .catch(notFoundOk);
  }

  // ---- ephemeral volumes ----------------------------------------------------------------------------

  private async syncEphemeral(ns: string, name: string): Promise<void> {
    const pod = this.pods.get(`${ns}/${name}`);
    if (!pod || pod.metadata.deletionTimestamp || isFinished(pod)) return;
    for (const vol of pod.spec.volumes ?? []) {
      if (!vol.ephemeral) continue;
      const claimName = `${name}-${vol.name}`;
      const existing = this.claims.get(`${ns}/${claimName}`) ?? (await this.objects.get(PVC, ns, claimName));
      if (existing) {
        const owned = existing.metadata.ownerReferences?.some((r: any) => r.uid === pod.metadata.uid);
        if (!owned)
          this.recorder.warning(
            pod,
            'FailedBinding',
            `PVC ${ns}/${claimName} was not created for pod ${ns}/${name} (pod is not owner)`,
          );
        continue;
      }
      const tpl = vol.ephemeral.volumeClaimTemplate;
      try {
        await this.objects.create({
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: {
            name: claimName,
            namespace: ns,
            labels: tpl.metadata?.labels,
            annotations: tpl.metadata?.annotations,
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: 'Pod',
                name,
                uid: pod.metadata.uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: tpl.spec,
        });
      } catch (err) {
        if (errorCode(err) !== 409) {
          this.recorder.warning(pod, 'FailedBinding', `ephemeral volume ${vol.name}: ${errorMessage(err)}`);
          throw err;
        }
      }
    }
  }
}
