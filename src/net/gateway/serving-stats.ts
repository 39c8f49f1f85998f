// The activator's reports as API writes: each becomes a JSON merge patch of the Revision's
// `stats.serving.strata.dev/<node>` annotation (the autoscaler reads them). One write per revision at a
// time; a report arriving meanwhile replaces the one waiting, so a slow API never builds a backlog.
import { STATS_ANNOTATION_PREFIX, type RevisionStats } from '../../api/index.ts';
import { errorMessage, type Log } from '../../lib/log.ts';
import type { ServingStatsSink } from './serving-activator.ts';

/** Writes a merge patch to a Revision (the node wiring does it with its API client). */
export type PatchRevision = (namespace: string, name: string, patch: object) => Promise<unknown>;

export function patchingStatsSink(nodeName: string, patch: PatchRevision, log: Log): ServingStatsSink {
  const waiting = new Map<string, RevisionStats>();
  const busy = new Set<string>();
  const annotation = `${STATS_ANNOTATION_PREFIX}${nodeName}`;
  const send = async (namespace: string, revision: string) => {
    const k = `${namespace}/${revision}`;
    busy.add(k);
    try {
      for (let stats = waiting.get(k); stats; stats = waiting.get(k)) {
        waiting.delete(k);
        try {
          await patch(namespace, revision, {
            metadata: { annotations: { [annotation]: JSON.stringify(stats) } },
          });
        } catch (err) {
          // A revision deleted meanwhile (404) needs no report; anything else is worth a line.
          if ((err as { code?: number }).code !== 404)
            log.warn({ revision: k, err: errorMessage(err) }, 'gateway: serving report not written');
        }
      }
    } finally {
      busy.delete(k);
    }
  };
  return {
    report(namespace, revision, stats) {
      const k = `${namespace}/${revision}`;
      waiting.set(k, stats);
      if (!busy.has(k)) void send(namespace, revision);
    },
  };
}
