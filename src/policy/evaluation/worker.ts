// The evaluation worker: receives a request's input and the policies to run, answers one message per
// policy as it finishes (so the pool knows which policy overran when it has to stop this thread), then
// `done`. Compiled programs stay cached here between requests.
import { parentPort } from 'node:worker_threads';
import { activationFor, evaluatePolicy } from './evaluate.ts';
import type { EvaluationInput, EvaluationItem, PolicyOutcome } from './types.ts';

export interface JobMessage {
  id: number;
  input: EvaluationInput;
  items: EvaluationItem[];
}

export type WorkerReply =
  | { id: number; index: number; outcome: PolicyOutcome }
  | { id: number; done: true }
  | { id: number; failed: string }
  | { ready: true };

// Loading the CEL engine takes a while on a busy machine: the pool starts the clock only after this.
parentPort!.postMessage({ ready: true } satisfies WorkerReply);

parentPort!.on('message', (job: JobMessage) => {
  try {
    const base = activationFor(job.input);
    for (const [index, item] of job.items.entries()) {
      const outcome = evaluatePolicy(base, item);
      parentPort!.postMessage({ id: job.id, index, outcome } satisfies WorkerReply);
    }
    parentPort!.postMessage({ id: job.id, done: true } satisfies WorkerReply);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, failed: (e as Error).message } satisfies WorkerReply);
  }
});
