// Storage admission, for every writer (through ObjectStore hooks), as kube-apiserver does it:
//
// - DefaultStorageClass: a claim created without spec.storageClassName gets the default class's name
//   (the class annotated storageclass.kubernetes.io/is-default-class: "true"; the newest if several).
//   A claim created while no class is default keeps none; the PV controller fills it in later
//   (retroactive default class assignment).
// - Update rules (ValidatePersistentVolumeClaimUpdate + the PersistentVolumeClaimResize admission, and the
//   PV and StorageClass update rules): see persistentVolumeClaimUpdateCauses & co in src/api/kinds/.
import {
  type Cause,
  type KindInfo,
  defaultStorageClass,
  invalid,
  kindFor,
  persistentVolumeClaimUpdateCauses,
  persistentVolumeUpdateCauses,
  storageClassUpdateCauses,
} from '../api/index.ts';
import { ApiError, type CreateHook, type ObjectStore, type UpdateHook } from '../store/objects.ts';

const SC = kindFor('storage.k8s.io/v1', 'StorageClass')!;

function refuse(kind: KindInfo, obj: any, causes: Cause[]): void {
  if (causes.length) throw new ApiError(invalid(kind, obj.metadata?.name ?? '', causes));
}

/** Fills a new claim's storageClassName from the default class. */
export function defaultStorageClassAdmission(objects: ObjectStore): CreateHook {
  return async (obj, kind) => {
    if (kind.kind !== 'PersistentVolumeClaim' || kind.group !== '') return;
    if (obj.spec?.storageClassName !== undefined) return;
    const def = defaultStorageClass((await objects.list(SC)).items);
    if (def) obj.spec.storageClassName = def.metadata.name;
  };
}

/** Refuses updates that change what may not change (claims, volumes, classes). */
export function storageUpdateAdmission(objects: ObjectStore): UpdateHook {
  return async (next, current, kind) => {
    if (kind.group === '' && kind.kind === 'PersistentVolumeClaim') {
      const className = current.spec?.storageClassName;
      const cls = className ? await objects.get(SC, undefined, className) : undefined;
      refuse(
        kind,
        next,
        persistentVolumeClaimUpdateCauses(next, current, cls ? cls.allowVolumeExpansion === true : undefined),
      );
    } else if (kind.group === '' && kind.kind === 'PersistentVolume') {
      refuse(kind, next, persistentVolumeUpdateCauses(next, current));
    } else if (kind.group === 'storage.k8s.io' && kind.kind === 'StorageClass') {
      refuse(kind, next, storageClassUpdateCauses(next, current));
    }
  };
}

/** Both hooks on `objects`. */
export function installStorageAdmission(objects: ObjectStore): void {
  objects.addCreateHook(defaultStorageClassAdmission(objects));
  objects.addUpdateHook(storageUpdateAdmission(objects));
}
