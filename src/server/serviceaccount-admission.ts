// ServiceAccount admission, as kube-apiserver's plugin does it (plugin/pkg/admission/serviceaccount), for
// every pod created, whoever the writer is (an ObjectStore create hook):
//   - the pod runs as spec.serviceAccountName (`default` when it names none: the pod defaults);
//   - that ServiceAccount must exist: a pod naming a missing one is refused with 403, as Kubernetes does
//     (its workload controllers retry; so do ours). The `default` account is made by a controller just
//     after its namespace, so for it alone admission waits a moment before refusing;
//   - unless automountServiceAccountToken is false (on the pod, else on the ServiceAccount), the pod gets
//     the `kube-api-access-<5 chars>` projected volume — a bound token (3607 s, rewritten by the node
//     before 80 % of its lifetime), the cluster CA (ConfigMap kube-root-ca.crt) and the namespace — mounted
//     read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container and init container
//     that does not already mount something there.
import { randomBytes } from 'node:crypto';
import { forbidden, kindFor } from '../api/index.ts';
import { ApiError, type CreateHook, type ObjectStore } from '../store/objects.ts';

const SERVICE_ACCOUNT = kindFor('v1', 'ServiceAccount')!;

export const SERVICE_ACCOUNT_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
export const API_ACCESS_VOLUME_PREFIX = 'kube-api-access-';
/** kube's value: an hour and a few seconds, so a token's age tells a projected one from others. */
export const PROJECTED_TOKEN_EXPIRATION_SECONDS = 3607;
const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
const DEFAULT_ACCOUNT_WAIT_MS = 3000;

// kube's utilrand.String alphabet: no vowels or look-alikes, so names never spell words.
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function suffix(n = 5): string {
  return [...randomBytes(n)].map((b) => ALPHABET[b % ALPHABET.length]).join('');
}

/** The projected volume kube adds (same sources, order and modes). */
export function apiAccessVolume(name: string): Record<string, unknown> {
  return {
    name,
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { expirationSeconds: PROJECTED_TOKEN_EXPIRATION_SECONDS, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
          },
        },
      ],
    },
  };
}

async function findAccount(objects: ObjectStore, namespace: string, name: string): Promise<any> {
  const deadline = Date.now() + (name === 'default' ? DEFAULT_ACCOUNT_WAIT_MS : 0);
  for (;;) {
    const sa = await objects.get(SERVICE_ACCOUNT, namespace, name);
    if (sa || Date.now() >= deadline) return sa;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function serviceAccountAdmission(objects: ObjectStore): CreateHook {
  return async (pod, kind) => {
    if (kind.kind !== 'Pod' || kind.group !== '') return;
    // Mirror pods (a node's static pods) cannot reach the API as anyone; kube leaves them alone.
    if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) return;
    const spec = pod.spec;
    spec.serviceAccountName ??= spec.serviceAccount ?? 'default';
    spec.serviceAccount = spec.serviceAccountName;
    const namespace = pod.metadata.namespace;
    const sa = await findAccount(objects, namespace, spec.serviceAccountName);
    if (!sa) {
      const name = pod.metadata.name ?? pod.metadata.generateName ?? '';
      throw new ApiError(
        forbidden(
          `pods "${name}" is forbidden: error looking up service account ${namespace}/${spec.serviceAccountName}: serviceaccount "${spec.serviceAccountName}" not found`,
        ),
      );
    }
    const automount = spec.automountServiceAccountToken ?? sa.automountServiceAccountToken ?? true;
    if (!automount) return;
    spec.volumes ??= [];
    let volume = spec.volumes.find((v: any) => v.name.startsWith(API_ACCESS_VOLUME_PREFIX))?.name;
    if (!volume) {
      const taken = new Set(spec.volumes.map((v: any) => v.name));
      do volume = `${API_ACCESS_VOLUME_PREFIX}${suffix()}`;
      while (taken.has(volume));
      spec.volumes.push(apiAccessVolume(volume));
    }
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      c.volumeMounts ??= [];
      if (c.volumeMounts.some((m: any) => m.mountPath.replace(/\/+$/, '') === SERVICE_ACCOUNT_MOUNT_PATH))
        continue;
      c.volumeMounts.push({ name: volume, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH });
    }
  };
}
