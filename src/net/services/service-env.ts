// The environment variables the kubelet gives every container for Services (getServiceEnvVarMap): the
// `default/kubernetes` Service always (KUBERNETES_SERVICE_HOST/PORT, how in-cluster clients such as
// client-go find the API), and with `enableServiceLinks` (the default) every Service of the pod's
// namespace that has a cluster IP, in Docker-link style:
//   WEB_SERVICE_HOST=10.96.0.11  WEB_SERVICE_PORT=80  WEB_SERVICE_PORT_HTTP=80  WEB_PORT=tcp://10.96.0.11:80
//   WEB_PORT_80_TCP=tcp://10.96.0.11:80  WEB_PORT_80_TCP_PROTO=tcp  WEB_PORT_80_TCP_PORT=80  WEB_PORT_80_TCP_ADDR=10.96.0.11
// Container `env` entries override these (and may refer to them with $(VAR)).
import { CLUSTER_IP_NONE, type Service } from '../../api/index.ts';

/** A Service name as an environment variable prefix: upper case, dashes to underscores. */
function prefix(name: string): string {
  return name.toUpperCase().replace(/-/g, '_');
}

function envOf(svc: Service): Record<string, string> {
  const ip = svc.spec.clusterIP;
  const ports = svc.spec.ports ?? [];
  if (!ip || ip === CLUSTER_IP_NONE || ports.length === 0) return {};
  const p = prefix(svc.metadata.name ?? '');
  const env: Record<string, string> = {
    [`${p}_SERVICE_HOST`]: ip,
    [`${p}_SERVICE_PORT`]: String(ports[0].port),
  };
  for (const port of ports) {
    if (port.name) env[`${p}_SERVICE_PORT_${prefix(port.name)}`] = String(port.port);
    const proto = (port.protocol ?? 'TCP').toLowerCase();
    const base = `${p}_PORT_${port.port}_${proto.toUpperCase()}`;
    env[base] = `${proto}://${ip}:${port.port}`;
    env[`${base}_PROTO`] = proto;
    env[`${base}_PORT`] = String(port.port);
    env[`${base}_ADDR`] = ip;
  }
  const first = ports[0];
  env[`${p}_PORT`] = `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}`;
  return env;
}

/**
 * The Service variables of a pod in `namespace`. `services` are the Services of that namespace plus the
 * `default/kubernetes` one (others are ignored); ExternalName and headless Services have none.
 */
export function serviceEnv(
  services: readonly Service[],
  namespace: string,
  enableServiceLinks = true,
): Record<string, string> {
  const env: Record<string, string> = {};
  const kubernetes = services.find(
    (s) => s.metadata.namespace === 'default' && s.metadata.name === 'kubernetes',
  );
  const mine = enableServiceLinks
    ? services
        .filter((s) => s.metadata.namespace === namespace && s.spec.type !== 'ExternalName')
        .sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1))
    : [];
  // The kubelet's order: the API's Service first, a same-named Service of the pod's namespace over it.
  if (kubernetes && !mine.some((s) => s.metadata.name === 'kubernetes'))
    Object.assign(env, envOf(kubernetes));
  for (const s of mine) Object.assign(env, envOf(s));
  return env;
}
