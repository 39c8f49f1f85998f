// Writes Events through the HTTP API: the node agent's side of the event recorder's sink (create + merge
// patch), so agents record `Started`, `Unhealthy`, `BackOff`, … exactly as the control plane does.
import { kindFor } from '../api/index.ts';
import type { Client } from './client.ts';

export interface HttpEventSink {
  create(event: any): Promise<unknown>;
  patch(namespace: string, name: string, patch: any): Promise<unknown>;
}

export function clientEventSink(client: Client): HttpEventSink {
  const kind = (): NonNullable<ReturnType<typeof kindFor>> => {
    const k = kindFor('v1', 'Event');
    if (!k) throw new Error('the v1 Event kind is not registered');
    return k;
  };
  return {
    // ClientError carries `code` (404 when an aggregated Event was collected meanwhile), as the recorder expects.
    create: (event) => client.create(kind(), event, event.metadata?.namespace),
    patch: (namespace, name, patch) => client.patch(kind(), namespace, name, patch),
  };
}
