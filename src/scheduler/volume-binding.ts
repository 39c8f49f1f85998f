// kube-scheduler's VolumeBinding and VolumeRestrictions plugins, for Strata's volumes:
//
// - A pod whose claim is missing, being deleted, or (ephemeral) not made yet waits, with the reason.
// - A claim bound to a local volume pins the pod to the volume's node (the PV's node affinity).
// - Unbound WaitForFirstConsumer claims of the local-path class fit on a node only if the node has that
//   much free local storage: the capacity it advertises (annotation storage.strata.dev/local-capacity,
//   written by its volume manager) minus the volumes already on it and the claims already headed there.
//   A claim larger than any node can hold keeps the pod Pending with "did not have enough free storage".
// - Unbound Immediate claims wait for the PV controller ("pod has unbound immediate PersistentVolumeClaims").
// - A ReadWriteOncePod claim already used by another pod keeps the second pod Pending.
//
// preBind() is the plugin's PreBind: before the pod is bound, each unbound WaitForFirstConsumer claim gets
// `volume.kubernetes.io/selected-node` — the PV controller then provisions on that node. The claims
// headed somewhere are counted against that node at once (assumed), so the next pod sees the space taken.
import {
  type KindInfo,
  type PersistentVolume,
  type PersistentVolumeClaim,
  LOCAL_PATH_PROVISIONER,
  LOCAL_STORAGE_CAPACITY_ANNOTATION,
  SELECTED_NODE_ANNOTATION,
  type StorageClass,
  claimRequestBytes,
  isLocalPathVolume,
  kindFor,
  podVolumeClaimName,
  quantityBytes,
  volumeCapacityBytes,
  volumeNodeName,
} from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { CycleContext, FilterPlugin } from './framework.ts';
import type { NodeInfo, PodInfo } from './node-info.ts';
import { isTerminated } from './resources.ts';

/** What the plugin needs of the scheduler's shared informers. */
export interface InformerSource {
  informerFor(kind: KindInfo): Informer<any>;
}

const PVC = kindFor('v1', 'PersistentVolumeClaim')!;
const PV = kindFor('v1', 'PersistentVolume')!;
const SC = kindFor('storage.k8s.io/v1', 'StorageClass')!;

export const REASON_NOT_ENOUGH_STORAGE = 'node(s) did not have enough free storage';
export const REASON_VOLUME_NODE_CONFLICT = 'node(s) had volume node affinity conflict';
export const REASON_UNBOUND_IMMEDIATE = 'pod has unbound immediate PersistentVolumeClaims';
export const REASON_READ_WRITE_ONCE_POD =
  'node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode';

const STATE = 'VolumeBinding';

interface VolumeState {
  /** A reason that holds on every node (missing claim, RWOP conflict, ...). */
  everywhere?: string;
  /** Nodes the pod's bound local volumes live on (all must be the same node). */
  pinnedTo: Set<string>;
  /** Bytes of local storage the pod's unbound local-path claims need on the chosen node. */
  needBytes: number;
  /** Local bytes taken per node (volumes there, claims headed there), without this pod's claims. */
  used?: Map<string, number>;
}

/** The storage objects the scheduler reads, from the shared informers. */
export class VolumeBinding {
  private claims?: Informer<PersistentVolumeClaim>;
  private volumes?: Informer<PersistentVolume>;
  private classes?: Informer<StorageClass>;
  /** Claims annotated by preBind whose annotation the informer may not show yet: key → node. */
  private readonly assumed = new Map<string, string>();
  readonly filter: FilterPlugin;

  constructor() {
    this.filter = {
      name: 'VolumeBinding',
      prepare: (ctx) => this.prepare(ctx),
      filter: (_pod, node, ctx) => this.check(node, ctx),
    };
  }

  /** Watches claims, volumes and classes; `onChange` gives unschedulable pods another chance. */
  start(informers: InformerSource, onChange: () => void): (() => void)[] {
    this.claims = informers.informerFor(PVC);
    this.volumes = informers.informerFor(PV);
    this.classes = informers.informerFor(SC);
    const h = { onAdd: onChange, onUpdate: onChange, onDelete: onChange };
    return [this.claims.addHandler(h), this.volumes.addHandler(h), this.classes.addHandler(h)];
  }

  waitForSync(): Promise<boolean[]> {
    return Promise.all([this.claims, this.volumes, this.classes].map((i) => i?.waitForSync() ?? true));
  }

  private prepare(ctx: CycleContext): boolean {
    const pod = ctx.pod.pod;
    const names = claimNames(pod);
    if (names.length === 0 || !this.claims) return false;
    const ns: string = pod.metadata.namespace;
    const state: VolumeState = { pinnedTo: new Set(), needBytes: 0 };
    ctx.state.set(STATE, state);
    const mine = new Set(names.map((n) => `${ns}/${n}`));
    for (const vol of pod.spec.volumes ?? []) {
      const name = podVolumeClaimName(pod.metadata.name, vol);
      if (name === undefined) continue;
      const claim = this.claims.get(`${ns}/${name}`);
      if (!claim) {
        state.everywhere = vol.ephemeral
          ? `waiting for ephemeral volume controller to create the persistentvolumeclaim "${name}"`
          : `persistentvolumeclaim "${name}" not found`;
        return true;
      }
      if (claim.metadata.deletionTimestamp) {
        state.everywhere = `persistentvolumeclaim "${name}" is being deleted`;
        return true;
      }
      if (claim.spec.accessModes?.includes('ReadWriteOncePod') && this.usedByOtherPod(ctx, ns, name)) {
        state.everywhere = REASON_READ_WRITE_ONCE_POD;
        return true;
      }
      if (claim.spec.volumeName) {
        const pv = this.volumes?.get(claim.spec.volumeName);
        if (!pv) {
          state.everywhere = `persistentvolume "${claim.spec.volumeName}" not found`;
          return true;
        }
        const node = volumeNodeName(pv);
        if (node) state.pinnedTo.add(node);
        continue;
      }
      const cls = claim.spec.storageClassName ? this.classes?.get(claim.spec.storageClassName) : undefined;
      if (cls?.volumeBindingMode !== 'WaitForFirstConsumer') {
        state.everywhere = REASON_UNBOUND_IMMEDIATE;
        return true;
      }
      const headed =
        claim.metadata.annotations?.[SELECTED_NODE_ANNOTATION] ?? this.assumed.get(`${ns}/${name}`);
      if (headed) state.pinnedTo.add(headed);
      if (cls.provisioner === LOCAL_PATH_PROVISIONER && !headed) state.needBytes += claimRequestBytes(claim);
    }
    if (state.needBytes > 0) state.used = this.usedBytes(mine);
    return true;
  }

  private check(node: NodeInfo, ctx: CycleContext): string | undefined {
    const state = ctx.state.get(STATE) as VolumeState | undefined;
    if (!state) return undefined;
    if (state.everywhere) return state.everywhere;
    const hostname = node.labelMap.get('kubernetes.io/hostname') ?? node.name;
    for (const pinned of state.pinnedTo)
      if (pinned !== hostname && pinned !== node.name) return REASON_VOLUME_NODE_CONFLICT;
    if (state.needBytes > 0) {
      const capacity = quantityBytes(node.node?.metadata?.annotations?.[LOCAL_STORAGE_CAPACITY_ANNOTATION]);
      const free = capacity - (state.used?.get(node.name) ?? 0);
      if (free < state.needBytes) return REASON_NOT_ENOUGH_STORAGE;
    }
    return undefined;
  }

  /** Another pod placed on some node (bound or assumed, not finished) uses the claim. */
  private usedByOtherPod(ctx: CycleContext, ns: string, claimName: string): boolean {
    for (const n of ctx.nodes)
      for (const p of n.pods.values() as Iterable<PodInfo>) {
        if (p.key === ctx.pod.key || p.namespace !== ns || isTerminated(p.pod)) continue;
        if (claimNames(p.pod).includes(claimName)) return true;
      }
    return false;
  }

  /** Local bytes per node: local-path volumes there, plus unbound claims headed there (not `exclude`). */
  private usedBytes(exclude: ReadonlySet<string>): Map<string, number> {
    const used = new Map<string, number>();
    const add = (node: string, bytes: number) => used.set(node, (used.get(node) ?? 0) + bytes);
    for (const pv of this.volumes?.values() ?? []) {
      const node = isLocalPathVolume(pv) ? volumeNodeName(pv) : undefined;
      if (node) add(node, volumeCapacityBytes(pv));
    }
    for (const c of this.claims?.values() ?? []) {
      const key = `${c.metadata.namespace}/${c.metadata.name}`;
      // Once the informer shows the annotation (or the binding), the assumption has served its purpose.
      if (c.spec.volumeName || c.metadata.annotations?.[SELECTED_NODE_ANNOTATION]) this.assumed.delete(key);
      if (c.spec.volumeName || exclude.has(key)) continue;
      const node = c.metadata.annotations?.[SELECTED_NODE_ANNOTATION] ?? this.assumed.get(key);
      if (node) add(node, claimRequestBytes(c));
    }
    return used;
  }

  /**
   * PreBind: every unbound WaitForFirstConsumer claim of the pod gets the selected-node annotation (the PV
   * controller provisions there). Throws when a claim cannot be annotated; the pod is then retried.
   */
  async preBind(objects: ObjectStore, pod: any, nodeName: string): Promise<void> {
    if (!this.claims) return;
    const ns: string = pod.metadata.namespace;
    for (const name of claimNames(pod)) {
      const claim = this.claims.get(`${ns}/${name}`);
      if (!claim || claim.spec.volumeName || claim.metadata.annotations?.[SELECTED_NODE_ANNOTATION]) continue;
      const cls = claim.spec.storageClassName ? this.classes?.get(claim.spec.storageClassName) : undefined;
      if (cls?.volumeBindingMode !== 'WaitForFirstConsumer') continue;
      const key = `${ns}/${name}`;
      this.assumed.set(key, nodeName);
      try {
        await objects.mutate(PVC, ns, name, (c) => {
          if (c.spec.volumeName || c.metadata.annotations?.[SELECTED_NODE_ANNOTATION]) return undefined;
          c.metadata.annotations = { ...c.metadata.annotations, [SELECTED_NODE_ANNOTATION]: nodeName };
          return c;
        });
      } catch (err) {
        this.assumed.delete(key);
        throw err;
      }
    }
  }
}

function claimNames(pod: any): string[] {
  const out: string[] = [];
  for (const v of pod?.spec?.volumes ?? []) {
    const name = podVolumeClaimName(pod.metadata.name, v);
    if (name !== undefined) out.push(name);
  }
  return out;
}
