// Everything the control plane does for Service allocation, in one call: the allocator's create and
// update hooks on the store (register them after the other admission hooks, so nothing refuses a create
// after values were claimed), releases and repair from the Service informer, and the default/kubernetes
// Service when the API server's address for pods is known.
import type { Informer } from '../../lib/informer.ts';
import type { Log } from '../../lib/log.ts';
import type { ObjectStore } from '../../store/objects.ts';
import { type ApiServerEndpoint, ensureKubernetesService } from './kubernetes-service.ts';
import { ServiceAllocator } from './service-allocator.ts';

export interface ServiceAllocationOptions {
  objects: ObjectStore;
  /** The Service informer (the controllers' shared one). */
  services: Informer<any>;
  /** `--service-cidr` (default 10.96.0.0/16). */
  serviceCidr?: string;
  /** `--service-node-port-range` (default 30000-32767). */
  nodePortRange?: string;
  /** Where pods reach the API server: the default/kubernetes Service's endpoint. */
  apiServer?: ApiServerEndpoint;
  log?: Log;
}

export interface RunningServiceAllocation {
  allocator: ServiceAllocator;
  stop(): Promise<void>;
}

export async function startServiceAllocation(o: ServiceAllocationOptions): Promise<RunningServiceAllocation> {
  const allocator = new ServiceAllocator({
    objects: o.objects,
    serviceCidr: o.serviceCidr,
    nodePortRange: o.nodePortRange,
    log: o.log,
  });
  o.objects.addCreateHook(allocator.createHook);
  o.objects.addPrepareUpdateHook(allocator.prepareUpdateHook);
  o.objects.addUpdateHook(allocator.updateHook);
  allocator.start(o.services);
  if (o.apiServer) await ensureKubernetesService(o.objects, allocator, o.apiServer);
  return { allocator, stop: () => allocator.stop() };
}
