// CSR signing controller, as kube-controller-manager's csrsigning for kubernetes.io/kube-apiserver-client-kubelet:
// an approved request, not failed and not yet issued, gets a certificate from the cluster CA in
// status.certificate. The signer checks what it signs itself (kube's signer validation): a node's client
// identity only, else the request is marked Failed (SignerValidationFailure) and nothing is issued.
// Validity: the request's spec.expirationSeconds when shorter than the signer's ceiling (a year).
import { KUBELET_CLIENT_SIGNER, csrCondition, kindFor } from '../api/index.ts';
import { errorMessage } from '../lib/log.ts';
import { nowRfc3339 } from '../store/objects.ts';
import { type ParseRequest, isNodeClientRequest } from './csr-approver.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';

const CSR = kindFor('certificates.k8s.io/v1', 'CertificateSigningRequest')!;

/** Issues a PEM certificate for a PEM request (src/auth/bootstrap/csr.ts signCsr with the cluster CA). */
export type SignRequest = (
  requestPem: string,
  o: { usages: string[]; expirationSeconds?: number },
) => Promise<string>;

export class CsrSigner extends QueuedController {
  private readonly parse: ParseRequest;
  private readonly sign: SignRequest;

  constructor(opts: ControllerOptions & { parse: ParseRequest; sign: SignRequest }) {
    super(opts, 'csrsigning');
    this.parse = opts.parse;
    this.sign = opts.sign;
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
    if (!csrCondition(csr, 'Approved') || csrCondition(csr, 'Failed') || csr.status?.certificate) return;
    const request = Buffer.from(csr.spec.request, 'base64').toString('utf8');
    const usages: string[] = csr.spec.usages ?? [];
    let problem: string | undefined;
    try {
      const id = await this.parse(request);
      if (!isNodeClientRequest(id, usages))
        problem = `invalid request for ${KUBELET_CLIENT_SIGNER}: it must name system:node:<name> in the organization system:nodes, with no subject alternative names, and the usages "digital signature" and "client auth"`;
    } catch (err) {
      problem = `unreadable request: ${errorMessage(err)}`;
    }
    let certificate: string | undefined;
    if (!problem)
      certificate = await this.sign(request, { usages, expirationSeconds: csr.spec.expirationSeconds });
    await this.objects.mutate(
      CSR,
      undefined,
      name,
      (c) => {
        if (c.status?.certificate || csrCondition(c, 'Failed')) return undefined;
        if (certificate) {
          c.status = { ...c.status, certificate: Buffer.from(certificate).toString('base64') };
          return c;
        }
        const now = nowRfc3339();
        c.status = {
          ...c.status,
          conditions: [
            ...(c.status?.conditions ?? []),
            {
              type: 'Failed',
              status: 'True',
              reason: 'SignerValidationFailure',
              message: problem,
              lastUpdateTime: now,
              lastTransitionTime: now,
            },
          ],
        };
        return c;
      },
      'status',
    );
    if (certificate)
      this.log.info({ csr: name, requester: csr.spec.username }, 'issued a node client certificate');
    else this.log.warn({ csr: name, problem }, 'refused to sign a certificate request');
  }
}
