// The Service data plane's public API (see README.md).
export { ServiceDataPlane, type ServiceDataPlaneOptions, type SyncReport } from './data-plane.ts';
export { ServiceProxy, type ServiceProxyOptions, type ServiceProxySources } from './service-proxy.ts';
export { planServices, type Backend, type ServicePortPlan } from './plan.ts';
export { TABLE as SERVICE_TABLE } from './ruleset.ts';
