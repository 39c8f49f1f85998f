// v1 ServiceAccount: an identity for the processes in pods. Every namespace has a `default` one (kept by
// the ServiceAccount controller) that pods without spec.serviceAccountName run as. Tokens bound to a
// service account (TokenRequest, projected into pods) come with the zero-trust work; today the object
// names the identity and carries imagePullSecrets and automountServiceAccountToken.
import { z } from 'zod';
import { ObjectMeta } from '../meta.ts';

/** The service account every namespace has, and pods get when they name none. */
export const DEFAULT_SERVICE_ACCOUNT = 'default';

const LocalObjectReference = z.strictObject({ name: z.string().min(1) });
const ObjectReference = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  fieldPath: z.string().optional(),
  resourceVersion: z.string().optional(),
});

export const ServiceAccount = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ServiceAccount'),
  metadata: ObjectMeta,
  secrets: z.array(ObjectReference).optional(),
  imagePullSecrets: z.array(LocalObjectReference).optional(),
  automountServiceAccountToken: z.boolean().optional(),
});
export type ServiceAccount = z.infer<typeof ServiceAccount>;
