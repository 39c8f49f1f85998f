// CSR approving controller, as kube-controller-manager's csrapproving (sarapprove.go): a request for a
// node client certificate (signer kubernetes.io/kube-apiserver-client-kubelet) is approved on its own when
// it asks for exactly a node's identity — CN system:node:NAME, O system:nodes, no names, the usages
// digital signature + client auth (+ key encipherment for RSA keys) — and comes from
//   - a bootstrap token (group system:bootstrappers): the `nodeclient` case, a node joining; or
//   - that same node (user system:node:NAME in system:nodes): the `selfnodeclient` case, a rotation.
// Anything else waits for a human (`kubectl certificate approve|deny`).
import { KUBELET_CLIENT_SIGNER, csrCondition, kindFor } from '../api/index.ts';
import { errorMessage } from '../lib/log.ts';
import { nowRfc3339 } from '../store/objects.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';

const CSR = kindFor('certificates.k8s.io/v1', 'CertificateSigningRequest')!;
export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
const BOOTSTRAPPERS_GROUP = 'system:bootstrappers';

/** What the approver and the signer read from a PKCS#10 request (its signature already checked). */
export interface RequestedIdentity {
  commonName: string;
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  emailAddresses: string[];
  uris: string[];
}

/** Reads a PEM request (src/auth/bootstrap/csr.ts parseCsr); throws when it is not a valid one. */
export type ParseRequest = (requestPem: string) => Promise<RequestedIdentity>;

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x));

/** kube's isNodeClientCert: the request is for a node's client identity and nothing more. */
export function isNodeClientRequest(id: RequestedIdentity, usages: readonly string[]): boolean {
  if (!sameSet(id.organizations, [NODES_GROUP])) return false;
  if (id.dnsNames.length || id.ipAddresses.length || id.emailAddresses.length || id.uris.length) return false;
  if (!id.commonName.startsWith(NODE_USER_PREFIX) || id.commonName.length === NODE_USER_PREFIX.length)
    return false;
  return (
    sameSet(usages, ['digital signature', 'client auth']) ||
    sameSet(usages, ['key encipherment', 'digital signature', 'client auth'])
  );
}

/** Which recognizer approves a node client request from this requester, if any. */
export function approvalReason(
  id: RequestedIdentity,
  requester: { username?: string; groups?: string[] },
): 'nodeclient' | 'selfnodeclient' | undefined {
  const groups = requester.groups ?? [];
  if (requester.username === id.commonName && groups.includes(NODES_GROUP)) return 'selfnodeclient';
  if (groups.includes(BOOTSTRAPPERS_GROUP)) return 'nodeclient';
  return undefined;
}

export class CsrApprover extends QueuedController {
  private readonly parse: ParseRequest;

  constructor(opts: ControllerOptions & { parse: ParseRequest }) {
    super(opts, 'csrapproving');
    this.parse = opts.parse;
  }

  async start(): Promise<void> {
    const csrs = this.informers.informerFor(CSR);
    this.removeHandlers.push(
      csrs.addHandler({
        onAdd: (c) => this.queue.add(c.metadata.name),
        onUpdate: (_o, c) => this.queue.add(c.metadata.name),
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  protected async reconcile(name: string): Promise<void> {
    const csr = await this.objects.get(CSR, undefined, name);
    if (!csr || csr.spec.signerName !== KUBELET_CLIENT_SIGNER) return;
    if (csrCondition(csr, 'Approved') || csrCondition(csr, 'Denied') || csr.status?.certificate) return;
    let id: RequestedIdentity;
    try {
      id = await this.parse(Buffer.from(csr.spec.request, 'base64').toString('utf8'));
    } catch (err) {
      this.log.warn({ csr: name, err: errorMessage(err) }, 'csrapproving: unreadable request left alone');
      return;
    }
    if (!isNodeClientRequest(id, csr.spec.usages ?? [])) return;
    const reason = approvalReason(id, { username: csr.spec.username, groups: csr.spec.groups });
    if (!reason) return;
    await this.objects.mutate(
      CSR,
      undefined,
      name,
      (c) => {
        if (csrCondition(c, 'Approved') || csrCondition(c, 'Denied')) return undefined;
        const now = nowRfc3339();
        c.status = {
          ...c.status,
          conditions: [
            ...(c.status?.conditions ?? []),
            {
              type: 'Approved',
              status: 'True',
              reason: 'AutoApproved',
              message: `Auto approving ${reason === 'selfnodeclient' ? 'self ' : ''}kubelet client certificate after SubjectAccessReview.`,
              lastUpdateTime: now,
              lastTransitionTime: now,
            },
          ],
        };
        return c;
      },
      'status',
    );
    this.log.info({ csr: name, requester: csr.spec.username, reason }, 'approved a node client certificate');
  }
}
