export * from './gateway.ts';
export * from './backend.ts';
export * from './config.ts';
export { Upstream, type UpstreamEvent, type DispatchResult, type BackendSpec } from './upstream.ts';
export { IngressRouter, type RouteTarget } from './routes.ts';
export { Counters } from './counters.ts';
