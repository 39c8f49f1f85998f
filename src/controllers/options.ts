// What every controller is constructed with.
import type { ObjectStore } from '../store/objects.ts';
import { EventRecorder, objectStoreEventSink } from './events.ts';
import { type Log, defaultLog } from '../lib/log.ts';
import type { SharedInformers } from '../store/shared-informers.ts';

export interface ControllerOptions {
  objects: ObjectStore;
  /** Shared with other components in the process; the caller starts and stops them. */
  informers?: SharedInformers;
  log?: Log;
  /** Keys reconciled concurrently. Default 4. */
  concurrency?: number;
  /**
   * Where the controller records Events (it reports as its own component through `withComponent`).
   * Default: a recorder of its own writing into `objects`.
   */
  recorder?: EventRecorder;
}

/** The controller's recorder, and whether it owns it (then it flushes it when stopping). */
export function recorderFor(
  opts: ControllerOptions,
  component: string,
): { recorder: EventRecorder; owned: boolean } {
  if (opts.recorder) return { recorder: opts.recorder.withComponent(component), owned: false };
  const recorder = new EventRecorder({
    sink: objectStoreEventSink(opts.objects),
    component,
    log: opts.log ?? defaultLog,
  });
  return { recorder, owned: true };
}
