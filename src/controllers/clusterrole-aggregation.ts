// ClusterRole aggregation, as kube-controller-manager's clusterrole-aggregation controller: a ClusterRole
// with an aggregationRule holds the rules of every other ClusterRole its label selectors match (sorted by
// name, duplicates dropped). Any ClusterRole change re-reconciles the aggregated ones, which also carries
// chains (view → edit → admin) through: edit changing re-queues admin.
import { isDeepStrictEqual } from 'node:util';
import { kindFor, labelSelectorMatcher } from '../api/index.ts';
import type { ClusterRole, PolicyRule } from '../api/kinds/rbac.ts';
import { errorCode } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';

const CLUSTER_ROLE = kindFor('rbac.authorization.k8s.io/v1', 'ClusterRole')!;
const COMPONENT = 'clusterrole-aggregation-controller';

/** The rules `role` aggregates from `all` (pure: the controller and its test share it). */
export function aggregatedRules(role: ClusterRole, all: Iterable<ClusterRole>): PolicyRule[] {
  const matchers = (role.aggregationRule?.clusterRoleSelectors ?? []).map(labelSelectorMatcher);
  const sources = [...all]
    .filter((r) => r.metadata.name !== role.metadata.name && matchers.some((m) => m(r.metadata.labels)))
    .sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
  const rules: PolicyRule[] = [];
  for (const r of sources)
    for (const rule of r.rules ?? []) if (!rules.some((x) => isDeepStrictEqual(x, rule))) rules.push(rule);
  return rules;
}

export class ClusterRoleAggregationController extends QueuedController {
  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  private get roles() {
    return this.informers.informerFor(CLUSTER_ROLE);
  }

  async start(): Promise<void> {
    const enqueueAggregated = () => {
      for (const r of this.roles.values()) if (r.aggregationRule) this.queue.add(r.metadata.name);
    };
    this.removeHandlers.push(
      this.roles.addHandler({
        onAdd: enqueueAggregated,
        onUpdate: enqueueAggregated,
        onDelete: enqueueAggregated,
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** Key: the name of a ClusterRole with an aggregationRule. */
  protected async reconcile(name: string): Promise<void> {
    const role: ClusterRole | undefined = this.roles.get(name);
    if (!role?.aggregationRule) return;
    const rules = aggregatedRules(role, this.roles.values());
    if (isDeepStrictEqual(rules, role.rules ?? [])) return;
    try {
      await this.objects.update({ ...role, rules });
    } catch (err) {
      // Changed meanwhile (409): the informer's next event queues it again.
      if (errorCode(err) !== 409 && errorCode(err) !== 404) throw err;
    }
  }
}
