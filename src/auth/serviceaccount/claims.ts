// The claims of a bound service-account token, as kube-apiserver writes them
// (k8s.io/apiserver/pkg/serviceaccount claims.go), and the user a verified token stands for.
import { AUTHENTICATED_GROUP, type UserInfo } from '../identities.ts';

/** Kubernetes' default issuer (and so the API's default audience). */
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
export const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';

/** The user extra keys kube-apiserver sets for a pod-bound token. */
export const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name';
export const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid';
export const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name';
export const EXTRA_NODE_UID = 'authentication.kubernetes.io/node-uid';
export const EXTRA_CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id';

export interface ObjectRef {
  name: string;
  uid: string;
}

/** What a token is bound to: always a ServiceAccount; at most one of a pod or a Secret (and the pod's node). */
export interface TokenBinding {
  namespace: string;
  serviceAccount: ObjectRef;
  pod?: ObjectRef;
  secret?: ObjectRef;
  node?: ObjectRef;
}

/** The private `kubernetes.io` claim. */
export interface KubernetesClaim {
  namespace: string;
  serviceaccount: ObjectRef;
  pod?: ObjectRef;
  secret?: ObjectRef;
  node?: ObjectRef;
}

export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SERVICE_ACCOUNT_PREFIX}${namespace}:${name}`;
}

export function kubernetesClaim(b: TokenBinding): KubernetesClaim {
  return {
    namespace: b.namespace,
    serviceaccount: b.serviceAccount,
    ...(b.pod ? { pod: b.pod } : {}),
    ...(b.secret ? { secret: b.secret } : {}),
    ...(b.node ? { node: b.node } : {}),
  };
}

/** The user a verified token authenticates as (kube's ServiceAccountInfo.UserInfo). */
export function serviceAccountUser(claim: KubernetesClaim, jti: string | undefined): UserInfo {
  const extra: Record<string, string[]> = {};
  if (claim.pod) {
    extra[EXTRA_POD_NAME] = [claim.pod.name];
    extra[EXTRA_POD_UID] = [claim.pod.uid];
  }
  if (claim.node) {
    extra[EXTRA_NODE_NAME] = [claim.node.name];
    if (claim.node.uid) extra[EXTRA_NODE_UID] = [claim.node.uid];
  }
  if (jti) extra[EXTRA_CREDENTIAL_ID] = [`JTI=${jti}`];
  return {
    username: serviceAccountUsername(claim.namespace, claim.serviceaccount.name),
    uid: claim.serviceaccount.uid,
    groups: [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${claim.namespace}`, AUTHENTICATED_GROUP],
    via: 'serviceaccount',
    ...(Object.keys(extra).length ? { extra } : {}),
  };
}

const isRef = (v: unknown): v is ObjectRef =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as ObjectRef).name === 'string' &&
  typeof (v as ObjectRef).uid === 'string';

/** The `kubernetes.io` claim of a verified payload, checked for shape; undefined when malformed. */
export function readKubernetesClaim(payload: Record<string, unknown>): KubernetesClaim | undefined {
  const k = payload['kubernetes.io'] as Record<string, unknown> | undefined;
  if (!k || typeof k !== 'object' || typeof k.namespace !== 'string' || !isRef(k.serviceaccount))
    return undefined;
  for (const f of ['pod', 'secret', 'node'] as const)
    if (k[f] !== undefined && !isRef(k[f])) return undefined;
  return k as unknown as KubernetesClaim;
}
