// Puts node authorization in place on a control plane: the graph of what pods bound to each node refer
// to (fed by the shared pod informer), the Node authorizer over it (first in the AuthorizerChain, before
// RBAC), and NodeRestriction on the store's create and update paths.
import { kindFor, volumeNodeName } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { SharedInformers } from '../store/shared-informers.ts';
import { NodeGraph, podReferences } from './node-authorizer-graph.ts';
import { NodeAuthorizer } from './node-authorizer.ts';
import { nodeRestrictionOnCreate, nodeRestrictionOnUpdate } from './node-authorizer-restriction.ts';

export function startNodeAuthorization(o: { objects: ObjectStore; informers: SharedInformers }): {
  authorizer: NodeAuthorizer;
  stop(): void;
} {
  const POD = kindFor('v1', 'Pod')!;
  const PVC = kindFor('v1', 'PersistentVolumeClaim')!;
  const PV = kindFor('v1', 'PersistentVolume')!;
  const pods = o.informers.informerFor(POD);
  const ingresses = o.informers.informerFor(kindFor('networking.k8s.io/v1', 'Ingress')!);
  const graph = new NodeGraph();
  const removeHandler = pods.addHandler({
    onAdd: (p) => graph.setPod(p),
    onUpdate: (_o, p) => graph.setPod(p),
    onDelete: (p) => graph.deletePod(p),
  });
  // Read straight from the store when the watch-fed graph says no: a pod bound a moment ago.
  const podsOn = async (node: string) =>
    (await o.objects.list(POD, undefined, { fieldSelector: (p: any) => p.spec?.nodeName === node })).items;
  const authorizer = new NodeAuthorizer({
    graph,
    refersNow: async (node, resource, namespace, name) =>
      (await podsOn(node)).some((p) => podReferences(p).includes(`${resource}/${namespace}/${name}`)),
    nodeOfNow: async (namespace, name) => (await o.objects.get(POD, namespace, name))?.spec?.nodeName,
    claimVolumeNodeNow: async (namespace, name) => {
      const claim = await o.objects.get(PVC, namespace, name);
      const pvName = claim?.spec?.volumeName;
      const pv = pvName ? await o.objects.get(PV, undefined, pvName) : undefined;
      return pv ? volumeNodeName(pv) : undefined;
    },
    ingressTlsSecret: (namespace, name) =>
      ingresses
        .list()
        .some(
          (i: any) =>
            i.metadata?.namespace === namespace &&
            (i.spec?.tls ?? []).some((t: any) => t?.secretName === name),
        ),
  });
  o.objects.addCreateHook(nodeRestrictionOnCreate);
  o.objects.addUpdateHook(nodeRestrictionOnUpdate);
  return { authorizer, stop: removeHandler };
}
