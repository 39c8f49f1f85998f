// A view of the agent's API client whose requests wait for one of `limit` slots: what the pod workers
// use, so that thousands of pods starting at once do not open thousands of connections.
//
// Why: the client's keep-alive agent opens a connection per concurrent request and keeps 256 idle ones;
// with 4,000 pods bound at once their token requests, service lists and status writes opened thousands
// of TLS connections to the API server in the same process, closed most of them after each burst and
// opened them again at the next (a 10,000-pod ramp spent ~12 % of the main thread in TLS socket set-up
// and teardown, and connects failed). The node's own requests (lease, node status, the pod watch) keep
// the unlimited client: capping the whole client queued lease renewals behind a thousand pod requests
// and the node went NotReady (src/client/transport.ts).
//
// Waiting requests are served newest first: a pod whose request was just answered makes its next one at
// once and goes on ahead, so pods finish starting one after another. First come, first served moved all
// of them in lockstep — each pod's next request queued behind every other pod's — and none of 2,000
// pods had reached Running after 90 s.
//
// A slot is held until the response's headers arrive (a watch, a log stream: its body is read after the
// slot is released). The view shares the client's transport, so certificate rotation applies to it too.
import type { Client } from '../client/client.ts';

export class Slots {
  private readonly limit: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(limit: number) {
    if (!(limit >= 1)) throw new Error(`slots: limit must be at least 1, got ${limit}`);
    this.limit = limit;
  }

  /** Requests holding a slot now, and waiting for one (tests, metrics). */
  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the newest waiter (active stays the same), or free it.
      const next = this.waiting.pop();
      if (next) next();
      else this.active--;
    }
  }
}

/** Requests of the pod workers in flight at once (each one connection at most). */
export const POD_REQUEST_SLOTS = 64;

/** `client` whose requests (and everything built on them: get, patch, json, watch...) share `slots`. */
export function limitedClient(client: Client, slots: Slots): Client {
  const view = Object.create(client) as Client;
  const request = client.request.bind(client);
  view.request = (...args: Parameters<Client['request']>) => slots.run(() => request(...args));
  return view;
}
