// Root CA publisher, as kube-controller-manager's root-ca-cert-publisher: every active namespace has a
// ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster CA, so pods verify the API server they reach
// through the `kubernetes` Service (the projected service-account volume mounts it as ca.crt). Kept
// current: an edited or deleted ConfigMap is put back, and a new CA (after renewal) reaches every one.
import { kindFor } from '../api/index.ts';
import { errorCode } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';

const NAMESPACE = kindFor('v1', 'Namespace')!;
const CONFIG_MAP = kindFor('v1', 'ConfigMap')!;
const COMPONENT = 'root-ca-cert-publisher';

export const ROOT_CA_CONFIG_MAP = 'kube-root-ca.crt';
export const ROOT_CA_KEY = 'ca.crt';
const DESCRIPTION_ANNOTATION = 'kubernetes.io/description';
const DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints ' +
  'such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across ' +
  'distributions of Kubernetes clusters.';

export interface RootCAPublisherOptions extends ControllerOptions {
  /** The cluster CA certificate (PEM) pods should trust. */
  caCert: string;
}

export class RootCAPublisher extends QueuedController {
  private readonly caCert: string;

  constructor(opts: RootCAPublisherOptions) {
    super(opts, COMPONENT);
    this.caCert = opts.caCert;
  }

  async start(): Promise<void> {
    const namespaces = this.informers.informerFor(NAMESPACE);
    const configMaps = this.informers.informerFor(CONFIG_MAP);
    const ours = (cm: any): boolean => cm.metadata.name === ROOT_CA_CONFIG_MAP;
    this.removeHandlers.push(
      namespaces.addHandler({
        onAdd: (ns) => this.queue.add(ns.metadata.name),
        onUpdate: (_o, ns) => this.queue.add(ns.metadata.name),
      }),
      configMaps.addHandler({
        onUpdate: (_o, cm) => ours(cm) && this.queue.add(cm.metadata.namespace),
        onDelete: (cm) => ours(cm) && this.queue.add(cm.metadata.namespace),
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** Key: a namespace name. */
  protected async reconcile(namespace: string): Promise<void> {
    const ns = await this.objects.get(NAMESPACE, undefined, namespace);
    if (!ns || ns.metadata.deletionTimestamp) return;
    const current = await this.objects.get(CONFIG_MAP, namespace, ROOT_CA_CONFIG_MAP);
    try {
      if (!current) {
        await this.objects.create({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: ROOT_CA_CONFIG_MAP,
            namespace,
            annotations: { [DESCRIPTION_ANNOTATION]: DESCRIPTION },
          },
          data: { [ROOT_CA_KEY]: this.caCert },
        });
        return;
      }
      const data = current.data ?? {};
      if (data[ROOT_CA_KEY] === this.caCert && Object.keys(data).length === 1 && !current.binaryData) return;
      // Only the data is ours to restore; labels and annotations someone added stay.
      const next = structuredClone(current);
      next.data = { [ROOT_CA_KEY]: this.caCert };
      delete next.binaryData;
      await this.objects.update(next, namespace);
    } catch (err) {
      // 409: created or changed meanwhile (the informer brings us back); 403: the namespace is terminating.
      if (errorCode(err) !== 409 && errorCode(err) !== 403) throw err;
      if (errorCode(err) === 409) this.queue.add(namespace);
    }
  }
}
