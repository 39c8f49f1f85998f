// certificates.k8s.io/v1 CertificateSigningRequest (cluster-scoped): a PKCS#10 request for a certificate
// from a named signer. A client creates it (the server records who in spec.username/groups/uid/extra); an
// approver adds an Approved or Denied condition through the `approval` subresource (`kubectl certificate
// approve|deny`); the signer puts the certificate in status.certificate. Nodes get their client
// certificates this way (signer kubernetes.io/kube-apiserver-client-kubelet).
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { ConditionStatus, ObjectMeta, Timestamp } from '../meta.ts';

export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
export const KUBE_APISERVER_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client';
export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';

/** certificates/v1 KeyUsage values. */
export const KEY_USAGES = [
  'signing',
  'digital signature',
  'content commitment',
  'key encipherment',
  'key agreement',
  'data encipherment',
  'cert sign',
  'crl sign',
  'encipher only',
  'decipher only',
  'any',
  'server auth',
  'client auth',
  'code signing',
  'email protection',
  's/mime',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'timestamping',
  'ocsp signing',
  'microsoft sgc',
  'netscape sgc',
] as const;

/** Kubernetes' minimum for spec.expirationSeconds. */
export const MIN_EXPIRATION_SECONDS = 600;

const CONDITION_TYPES = ['Approved', 'Denied', 'Failed'] as const;

const Base64Bytes = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64 (standard alphabet)');

/** The PEM blocks of a base64-encoded PEM bundle, or undefined when it is not base64 PEM text. */
export function pemBlocks(b64: string): { type: string; body: string }[] {
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const out: { type: string; body: string }[] = [];
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g))
    out.push({ type: m[1], body: m[2].replace(/\s+/g, '') });
  return out;
}

export const CertificateSigningRequestSpec = z
  .strictObject({
    request: Base64Bytes,
    signerName: z.string(),
    expirationSeconds: z.int().optional(),
    usages: z.array(z.enum(KEY_USAGES)).optional(),
    // Set by the server from the authenticated creator; what a client sends is replaced.
    username: z.string().optional(),
    uid: z.string().optional(),
    groups: z.array(z.string()).optional(),
    extra: z.record(z.string(), z.array(z.string())).optional(),
  })
  .superRefine((s, ctx) => {
    const blocks = pemBlocks(s.request);
    if (blocks.length !== 1 || blocks[0].type !== 'CERTIFICATE REQUEST')
      addCause(
        ctx,
        ['request'],
        Reason.Invalid,
        msg.invalid('<request>', 'must be one PEM block of type CERTIFICATE REQUEST'),
      );
    if (!/^[a-z0-9.-]+\/[A-Za-z0-9._/-]+$/.test(s.signerName) || s.signerName.length > 571)
      addCause(
        ctx,
        ['signerName'],
        s.signerName ? Reason.Invalid : Reason.Required,
        s.signerName
          ? msg.invalid(
              s.signerName,
              'must be a fully qualified domain and path of the form "example.com/signer-name"',
            )
          : msg.required(),
      );
    if (s.expirationSeconds !== undefined && s.expirationSeconds < MIN_EXPIRATION_SECONDS)
      addCause(
        ctx,
        ['expirationSeconds'],
        Reason.Invalid,
        msg.invalid(
          s.expirationSeconds,
          `may not specify a duration less than ${MIN_EXPIRATION_SECONDS} seconds`,
        ),
      );
    if (!s.usages?.length) addCause(ctx, ['usages'], Reason.Required, msg.required());
    const seen = new Set<string>();
    for (const [i, u] of (s.usages ?? []).entries()) {
      if (seen.has(u)) addCause(ctx, ['usages', i], Reason.Duplicate, msg.duplicate(u));
      seen.add(u);
    }
  });
export type CertificateSigningRequestSpec = z.infer<typeof CertificateSigningRequestSpec>;

export const CertificateSigningRequestCondition = z.strictObject({
  type: z.string().min(1),
  status: ConditionStatus,
  reason: z.string().optional(),
  message: z.string().optional(),
  lastUpdateTime: Timestamp.optional(),
  lastTransitionTime: Timestamp.optional(),
});
export type CertificateSigningRequestCondition = z.infer<typeof CertificateSigningRequestCondition>;

export const CertificateSigningRequestStatus = z
  .strictObject({
    conditions: z.array(CertificateSigningRequestCondition).optional(),
    certificate: Base64Bytes.optional(),
  })
  .superRefine((s, ctx) => {
    const types = new Set<string>();
    for (const [i, c] of (s.conditions ?? []).entries()) {
      if ((CONDITION_TYPES as readonly string[]).includes(c.type) && types.has(c.type))
        addCause(ctx, ['conditions', i, 'type'], Reason.Duplicate, msg.duplicate(c.type));
      types.add(c.type);
      if ((c.type === 'Approved' || c.type === 'Denied') && c.status !== 'True')
        addCause(ctx, ['conditions', i, 'status'], Reason.NotSupported, msg.notSupported(c.status, ['True']));
    }
    if (types.has('Approved') && types.has('Denied'))
      addCause(
        ctx,
        ['conditions'],
        Reason.Invalid,
        msg.invalid('Approved', 'Approved and Denied conditions are mutually exclusive'),
      );
    if (s.certificate !== undefined && s.certificate !== '') {
      const blocks = pemBlocks(s.certificate);
      if (!blocks.length || blocks.some((b) => b.type !== 'CERTIFICATE'))
        addCause(
          ctx,
          ['certificate'],
          Reason.Invalid,
          msg.invalid('<certificate data>', 'must be one or more PEM blocks of type CERTIFICATE'),
        );
    }
  });
export type CertificateSigningRequestStatus = z.infer<typeof CertificateSigningRequestStatus>;

export const CertificateSigningRequest = z.strictObject({
  apiVersion: z.literal('certificates.k8s.io/v1'),
  kind: z.literal('CertificateSigningRequest'),
  metadata: ObjectMeta,
  spec: CertificateSigningRequestSpec,
  status: CertificateSigningRequestStatus.optional(),
});
export type CertificateSigningRequest = z.infer<typeof CertificateSigningRequest>;

/** The condition of this type, when set. */
export function csrCondition(
  csr: { status?: { conditions?: CertificateSigningRequestCondition[] } },
  type: 'Approved' | 'Denied' | 'Failed',
): CertificateSigningRequestCondition | undefined {
  return csr.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

/** The request's condition for `kubectl get csr`: Approved,Issued / Denied / Failed / Pending. */
export function csrConditionText(csr: CertificateSigningRequest): string {
  const parts: string[] = [];
  for (const c of csr.status?.conditions ?? []) if (c.status === 'True') parts.push(c.type);
  if (csr.status?.certificate) parts.push('Issued');
  return parts.length ? parts.join(',') : 'Pending';
}

/**
 * The status an `approval` subresource write leaves (kube's csrApprovalStrategy): the conditions come
 * from the request, the certificate stays the server's; an Approved or Denied condition, once set, is
 * never removed. Returns the field problems instead when the write is not allowed.
 */
export function approvalStatus(
  current: CertificateSigningRequest,
  wanted: { status?: { conditions?: unknown } } | undefined,
):
  | { status: CertificateSigningRequestStatus }
  | { causes: { field: string; message: string; reason: string }[] } {
  const conditions = wanted?.status?.conditions ?? [];
  if (!Array.isArray(conditions))
    return {
      causes: [
        { field: 'status.conditions', reason: Reason.TypeInvalid, message: 'must be a list of conditions' },
      ],
    };
  for (const type of ['Approved', 'Denied'] as const) {
    if (csrCondition(current, type) && !conditions.some((c: any) => c?.type === type && c?.status === 'True'))
      return {
        causes: [
          {
            field: 'status.conditions',
            reason: Reason.Forbidden,
            message: msg.forbidden(`updates may not remove a condition of type "${type}"`),
          },
        ],
      };
  }
  return {
    status: {
      ...current.status,
      conditions: conditions as CertificateSigningRequestCondition[],
    },
  };
}
