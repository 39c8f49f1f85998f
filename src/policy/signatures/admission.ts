// Image signature admission: a pod whose images fall under the cluster's image signature policy is
// admitted only when each such image carries a cosign signature by one of the policy's keys. The check
// itself (registry lookups, cosign verification) lives in src/image and is handed in by the composition
// root (src/node/control-plane.ts) as an ImageSignatureCheck: policy code never talks to registries.
// Nodes check again when they pull (ImageStore.verifyPull), so a tag moved after admission is caught.
import { type KindInfo, forbidden } from '../../api/index.ts';
import { ApiError, type ObjectStore } from '../../store/objects.ts';

/** One policy's verdict on one image. */
export interface SignatureOutcome {
  policy: string;
  verified: boolean;
  reason?: string;
}

/** Verifies an image against every policy it falls under ([] when none does). Throws when it cannot tell. */
export type ImageSignatureCheck = (image: string) => Promise<SignatureOutcome[]>;

function podImages(spec: any): string[] {
  return [
    ...new Set<string>(
      [
        ...(spec?.initContainers ?? []),
        ...(spec?.containers ?? []),
        ...(spec?.ephemeralContainers ?? []),
      ].map((c: any) => c.image),
    ),
  ];
}

export function installImageSignatureAdmission(objects: ObjectStore, check: ImageSignatureCheck): void {
  objects.addCreateHook(async (obj, kind: KindInfo) => {
    if (!(kind.group === '' && kind.kind === 'Pod')) return;
    for (const image of podImages(obj.spec)) {
      let outcomes: SignatureOutcome[];
      try {
        outcomes = await check(image);
      } catch (err) {
        // Fail closed: an image a policy may cover is not admitted unverified.
        outcomes = [{ policy: '*', verified: false, reason: `cannot verify: ${(err as Error).message}` }];
      }
      const failed = outcomes.find((o) => !o.verified);
      if (failed) {
        const status = forbidden(
          `pods ${JSON.stringify(obj.metadata.name)} is forbidden: image ${JSON.stringify(image)} does not satisfy image signature policy ${JSON.stringify(failed.policy)}: ${failed.reason}`,
        );
        status.details = { name: obj.metadata.name, kind: kind.plural };
        throw new ApiError(status);
      }
    }
  });
}
