// The Informer's input, fed from the in-process ObjectStore (the control plane's own components share
// the store; the node agent feeds the same Informer from the HTTP API client instead).
import type { KindInfo } from '../api/index.ts';
import type { ListWatch } from '../lib/informer.ts';
import type { ObjectStore } from './objects.ts';

export function objectStoreListWatch(
  objects: ObjectStore,
  kind: KindInfo,
  namespace?: string,
): ListWatch<any> {
  return {
    list: () => objects.list(kind, namespace),
    // ObjectStore delivers events after `rv`; a compacted rv rejects with ApiError 410, which the
    // Informer recognises and answers with a relist.
    watch: (rv, onEvent, onClose) => objects.watch(kind, namespace, rv, onEvent, onClose),
  };
}
