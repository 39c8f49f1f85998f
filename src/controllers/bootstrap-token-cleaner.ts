// Bootstrap token cleaner, as kube-controller-manager's tokencleaner: a bootstrap token Secret
// (kube-system, type bootstrap.kubernetes.io/token) is deleted once its expiration has passed, so an
// expired join token is gone from the cluster, not only refused by the authenticator.
import { kindFor } from '../api/index.ts';
import { errorCode } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';

const SECRET = kindFor('v1', 'Secret')!;
const NAMESPACE = 'kube-system';
const TOKEN_TYPE = 'bootstrap.kubernetes.io/token';
/** setTimeout's ceiling (about 24.8 days): a later expiry is looked at again then. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** When the token expires (ms since epoch), undefined when never; NaN for an unreadable expiration. */
function expiration(secret: any): number | undefined {
  const b64 = secret?.data?.expiration;
  if (b64 === undefined) return undefined;
  return Date.parse(Buffer.from(b64, 'base64').toString('utf8'));
}

export class BootstrapTokenCleaner extends QueuedController {
  private readonly now: () => number;

  constructor(opts: ControllerOptions & { now?: () => number }) {
    super(opts, 'bootstrap-token-cleaner');
    this.now = opts.now ?? Date.now;
  }

  async start(): Promise<void> {
    const secrets = this.informers.informerFor(SECRET, NAMESPACE);
    const consider = (s: any) => {
      if (s.type === TOKEN_TYPE) this.queue.add(s.metadata.name);
    };
    this.removeHandlers.push(secrets.addHandler({ onAdd: consider, onUpdate: (_o, s) => consider(s) }));
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** Key: the Secret's name in kube-system. */
  protected async reconcile(name: string): Promise<void> {
    const secret = await this.objects.get(SECRET, NAMESPACE, name);
    if (!secret || secret.type !== TOKEN_TYPE || secret.metadata.deletionTimestamp) return;
    const at = expiration(secret);
    if (at === undefined) return;
    const left = at - this.now();
    // An unreadable expiration is treated as expired (the authenticator refuses it too).
    if (Number.isNaN(at) || left <= 0) {
      try {
        await this.objects.delete(SECRET, NAMESPACE, name, {
          preconditions: { uid: secret.metadata.uid },
        });
        this.log.info({ secret: `${NAMESPACE}/${name}` }, 'deleted an expired bootstrap token');
      } catch (err) {
        if (errorCode(err) !== 404 && errorCode(err) !== 409) throw err;
      }
      return;
    }
    this.queue.addAfter(name, Math.min(left + 1000, MAX_DELAY_MS));
  }
}
