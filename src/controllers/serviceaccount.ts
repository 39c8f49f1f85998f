// ServiceAccount controller, as kube-controller-manager's serviceaccounts-controller: every active namespace
// has a `default` ServiceAccount (made again when deleted), the one its pods run as when they name none.
import { DEFAULT_SERVICE_ACCOUNT, kindFor } from '../api/index.ts';
import { errorCode } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';

const NAMESPACE = kindFor('v1', 'Namespace')!;
const SERVICE_ACCOUNT = kindFor('v1', 'ServiceAccount')!;
const COMPONENT = 'service-account-controller';

export class ServiceAccountController extends QueuedController {
  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  async start(): Promise<void> {
    const namespaces = this.informers.informerFor(NAMESPACE);
    const accounts = this.informers.informerFor(SERVICE_ACCOUNT);
    this.removeHandlers.push(
      namespaces.addHandler({
        onAdd: (ns) => this.queue.add(ns.metadata.name),
        onUpdate: (_o, ns) => this.queue.add(ns.metadata.name),
      }),
      accounts.addHandler({
        onDelete: (sa) => {
          if (sa.metadata.name === DEFAULT_SERVICE_ACCOUNT) this.queue.add(sa.metadata.namespace);
        },
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** Key: a namespace name. */
  protected async reconcile(namespace: string): Promise<void> {
    const ns = await this.objects.get(NAMESPACE, undefined, namespace);
    if (!ns || ns.metadata.deletionTimestamp) return;
    if (await this.objects.get(SERVICE_ACCOUNT, namespace, DEFAULT_SERVICE_ACCOUNT)) return;
    try {
      await this.objects.create({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: DEFAULT_SERVICE_ACCOUNT, namespace },
      });
    } catch (err) {
      // Made meanwhile (409), or the namespace began terminating (the store refuses new objects in it).
      if (errorCode(err) !== 409 && errorCode(err) !== 403) throw err;
    }
  }
}
