// Feeds an Informer from the HTTP API (list + watch with bookmarks), for the node agent and tools.
import type { KindInfo } from '../api/index.ts';
import type { ListWatch } from '../lib/informer.ts';
import { ClientError, type Client, type ListQuery } from './client.ts';

export function clientListWatch(
  client: Client,
  kind: KindInfo,
  namespace?: string,
  q: ListQuery = {},
): ListWatch<any> {
  return {
    async list() {
      const res = await client.list(kind, namespace, q);
      return { items: res.items, resourceVersion: res.metadata.resourceVersion };
    },
    watch(resourceVersion, onEvent, onCloseOnce) {
      let closed = false;
      const onClose = (err?: Error): void => {
        if (closed) return;
        closed = true;
        onCloseOnce(err);
      };
      return client.watch(
        kind,
        namespace,
        { ...q, resourceVersion, allowWatchBookmarks: true },
        (ev) => {
          // An ERROR event carries a Status (410 Expired when the revision was compacted): end the watch
          // with it so the informer relists.
          if (ev.type === 'ERROR') onClose(new ClientError(ev.object?.code ?? 500, ev.object));
          else onEvent(ev as any);
        },
        onClose,
      );
    },
  };
}
