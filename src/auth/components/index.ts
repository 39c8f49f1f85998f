// The control plane's components as their own users: views of the ObjectStore that act as
// system:kube-controller-manager and system:kube-scheduler (acting-store.ts), audited as such (audit.ts).
// The composition root (src/node/assemble-control-plane.ts) hands these to the controllers and the scheduler.
import type { Log } from '../../lib/log.ts';
import type { ObjectStore } from '../../store/objects.ts';
import type { Authorizer } from '../authorizer.ts';
import { type ActingStoreOptions, actingAs } from './acting-store.ts';
import { type InProcessAuditOptions, inProcessAudit } from './audit.ts';
import { CONTROLLER_MANAGER, SCHEDULER } from './identities.ts';

export { actingAs, type ActingStoreOutcome } from './acting-store.ts';
export { CONTROLLER_MANAGER, SCHEDULER } from './identities.ts';

export interface ComponentStoresOptions {
  objects: ObjectStore;
  authorizer: Authorizer;
  forbiddenMessage?: ActingStoreOptions['forbiddenMessage'];
  /** The audit log's policy and writer, when the server keeps one. */
  audit?: Omit<InProcessAuditOptions, 'userAgent'>;
  log?: Log;
}

export interface ComponentStores {
  controllerManager: ObjectStore;
  scheduler: ObjectStore;
}

export function componentStores(o: ComponentStoresOptions): ComponentStores {
  const as = (user: typeof CONTROLLER_MANAGER, agent: string) =>
    actingAs(o.objects, {
      user,
      authorizer: o.authorizer,
      forbiddenMessage: o.forbiddenMessage,
      log: o.log,
      onOutcome: o.audit ? inProcessAudit({ ...o.audit, userAgent: `${agent} (in-process)` }) : undefined,
    });
  return {
    controllerManager: as(CONTROLLER_MANAGER, 'strata/kube-controller-manager'),
    scheduler: as(SCHEDULER, 'strata/kube-scheduler'),
  };
}
