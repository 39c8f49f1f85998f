// The contract every other layer codes against. Imports nothing else of Strata.
export * from './causes.ts';
export * from './names.ts';
export * from './meta.ts';
export * from './quantity.ts';
export * from './kinds/namespace.ts';
export * from './kinds/node.ts';
export * from './kinds/pod.ts';
export * from './kinds/configmap.ts';
export * from './kinds/secret.ts';
export * from './kinds/deployment.ts';
export * from './kinds/job.ts';
export * from './kinds/lease.ts';
export * from './registry.ts';
export * from './validate.ts';
export * from './status.ts';
export * from './selectors.ts';
export * from './openapi.ts';
