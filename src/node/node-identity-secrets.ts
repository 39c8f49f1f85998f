// The Secrets a node's gateway may read: only those an Ingress names for TLS (the Node authorizer lets a
// node get exactly these, one by one — it may not list Secrets). A ListWatch the gateway's informer takes
// in place of a watch on every Secret: list = the Ingresses' TLS secrets fetched by name; the "watch"
// ends with 410 Gone when an Ingress changes or after `refreshMs`, so the informer lists again and passes
// on what changed (a renewed certificate reaches the gateway within that time).
import { kindFor } from '../api/index.ts';
import type { Client } from '../client/client.ts';
import { ClientError } from '../client/client.ts';
import type { ListWatch } from '../lib/informer.ts';

export function ingressTlsSecrets(client: Client, refreshMs = 10_000): ListWatch<any> {
  const INGRESS = kindFor('networking.k8s.io/v1', 'Ingress')!;
  const SECRET = kindFor('v1', 'Secret')!;
  return {
    async list() {
      const ingresses = await client.list(INGRESS);
      const wanted = new Set<string>();
      for (const i of ingresses.items)
        for (const t of i.spec?.tls ?? [])
          if (t?.secretName) wanted.add(`${i.metadata.namespace}/${t.secretName}`);
      const items: any[] = [];
      for (const key of wanted) {
        const [ns, name] = key.split('/');
        try {
          const s = await client.find(SECRET, ns, name);
          if (s) items.push(s);
        } catch (err) {
          // Named by an Ingress the cache has not caught up with yet: skipped until the next list.
          if (!(err instanceof ClientError && err.code === 403)) throw err;
        }
      }
      return { items, resourceVersion: ingresses.metadata.resourceVersion };
    },
    async watch(rv, _onEvent, onClose) {
      // Any Ingress change may name another Secret: list again at once (the list's version is the
      // Ingresses'). Otherwise list again after refreshMs, for Secrets renewed in place. Each round ends
      // its own timer and Ingress watch (the informer does not cancel a watch that closed itself).
      const ingress: { watch?: { cancel(): void } } = {};
      let done = false;
      const end = () => {
        done = true;
        clearTimeout(timer);
        ingress.watch?.cancel();
      };
      const relist = () => {
        if (done) return;
        end();
        onClose(new ClientError(410, { code: 410, reason: 'Expired' }));
      };
      const timer = setTimeout(relist, refreshMs);
      timer.unref?.();
      ingress.watch = await client.watch(
        INGRESS,
        undefined,
        { resourceVersion: rv },
        (ev) => {
          if (ev.type !== 'BOOKMARK') relist();
        },
        () => relist(),
      );
      if (done) ingress.watch.cancel();
      return { cancel: end };
    },
  };
}
