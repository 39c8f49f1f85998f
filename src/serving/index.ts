// Knative Serving in Strata: the reconciler (Service → Configuration + Route → Revisions → Deployments)
// and the KPA autoscaler, started together by the control plane on its store. The activator is in each
// node's gateway (src/net/gateway/serving-*.ts); the two meet only in API objects (see README.md).
import { invalid, kindFor, SERVING_API_VERSION, type KindInfo } from '../api/index.ts';
import { ApiError } from '../store/objects.ts';
import type { EventRecorder } from '../lib/events.ts';
import { defaultLog, type Log } from '../lib/log.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { SharedInformers } from '../store/shared-informers.ts';
import { Autoscaler } from './autoscaler.ts';
import {
  CONFIG_AUTOSCALER,
  CONFIG_DOMAIN,
  KNATIVE_DEFAULTS,
  parseConfigAutoscaler,
  parseConfigDomain,
  SERVING_SYSTEM_NAMESPACE,
  type AutoscalerDefaults,
} from './config.ts';
import { ServingReconciler } from './reconciler.ts';

export { KNATIVE_DEFAULTS, scalingSpec, type AutoscalerDefaults, type ScalingSpec } from './config.ts';
export { decide, newDeciderState } from './kpa.ts';

/** The default domain of route URLs: `http://NAME.NAMESPACE.strata.local`. */
export const DEFAULT_DOMAIN = 'strata.local';

export interface ServingOptions {
  objects: ObjectStore;
  informers: SharedInformers;
  recorder: EventRecorder;
  log?: Log;
  domain?: string;
  /** Cluster defaults of the autoscaler (Knative's config-autoscaler); unset fields are Knative's. */
  autoscaler?: Partial<AutoscalerDefaults>;
  /** Autoscaler decision interval (ms). Default 1000. */
  tickMs?: number;
}

export interface RunningServing {
  autoscaler: Autoscaler;
  stop(): Promise<void>;
}

/** Knative: a Revision's spec never changes (a new template makes a new Revision). */
function revisionImmutable(next: any, current: any, kind: KindInfo): void {
  if (next.apiVersion !== SERVING_API_VERSION || next.kind !== 'Revision') return;
  if (JSON.stringify(next.spec) === JSON.stringify(current.spec)) return;
  throw new ApiError(
    invalid(kind, current.metadata.name, [
      { field: 'spec', reason: 'FieldValueInvalid', message: 'Invalid value: "...": field is immutable' },
    ]),
  );
}

export async function startServing(o: ServingOptions): Promise<RunningServing> {
  const log = o.log ?? defaultLog;
  const base = { ...KNATIVE_DEFAULTS, ...o.autoscaler };
  // The cluster's settings, as Knative keeps them: ConfigMaps config-autoscaler and config-domain in
  // knative-serving (absent: Knative's defaults and the `domain` option).
  const configMaps = o.informers.informerFor(kindFor('v1', 'ConfigMap')!, SERVING_SYSTEM_NAMESPACE);
  const data = (name: string) => configMaps.get(`${SERVING_SYSTEM_NAMESPACE}/${name}`)?.data;
  const defaults = () =>
    parseConfigAutoscaler(data(CONFIG_AUTOSCALER), base, (key, value) =>
      log.warn({ key, value }, `serving: ${CONFIG_AUTOSCALER}: value ignored`),
    );
  const domain = () => parseConfigDomain(data(CONFIG_DOMAIN), o.domain ?? DEFAULT_DOMAIN);
  o.objects.addUpdateHook(revisionImmutable);
  const autoscaler = new Autoscaler({
    objects: o.objects,
    informers: o.informers,
    defaults,
    log,
    tickMs: o.tickMs,
    // Called only once started (after the reconciler below exists).
    onChange: () => reconciler.poke(),
  });
  const reconciler = new ServingReconciler({
    objects: o.objects,
    informers: o.informers,
    recorder: o.recorder.withComponent('serving-controller'),
    log,
    domain,
    initialScale: () => defaults().initialScale,
    scale: autoscaler,
  });
  const removeConfigHandler = configMaps.addHandler({
    onAdd: () => reconciler.poke(),
    onUpdate: () => reconciler.poke(),
    onDelete: () => reconciler.poke(),
  });
  autoscaler.start();
  await reconciler.start();
  return {
    autoscaler,
    async stop() {
      removeConfigHandler();
      await autoscaler.stop();
      await reconciler.stop();
    },
  };
}
