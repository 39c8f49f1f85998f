// The alerting subsystem as the control plane starts it: PrometheusRule admission, the default rules,
// the rule evaluator (run while this server leads) with its notification dispatcher, and the HTTP API.
import type { FastifyInstance } from 'fastify';
import type { ObjectStore } from '../../store/objects.ts';
import { installNotifyConfigAdmission, installPrometheusRuleAdmission } from './admission.ts';
import { alertingRoutes } from './api.ts';
import { ensureDefaultRules } from './defaults.ts';
import { AlertingEngine, type AlertingOptions } from './engine.ts';

export { AlertingEngine } from './engine.ts';
export type { AlertingOptions } from './engine.ts';

export interface Alerting {
  engine: AlertingEngine;
  /** The request-path extension serving /api/v2/alerts & co. (a ServerExtension). */
  extension: (app: FastifyInstance) => void;
  /** While this server leads: installs the default rules and evaluates. */
  startLeading(): Promise<void>;
  stopLeading(): Promise<void>;
}

/** Call before the server accepts writes (admission), with the store the server uses. */
export function setUpAlerting(objects: ObjectStore, opts: Omit<AlertingOptions, 'objects'>): Alerting {
  installPrometheusRuleAdmission(objects);
  installNotifyConfigAdmission(objects);
  const engine = new AlertingEngine({ ...opts, objects });
  return {
    engine,
    extension: alertingRoutes(engine),
    async startLeading() {
      await ensureDefaultRules(objects).catch((err) =>
        opts.log?.warn({ err: (err as Error).message }, 'alerting: default rules not installed'),
      );
      engine.start();
    },
    stopLeading: () => engine.stop(),
  };
}
