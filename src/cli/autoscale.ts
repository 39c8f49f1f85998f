// `strata autoscale deployment/NAME --min N --max M --cpu-percent P`: creates an autoscaling/v2
// HorizontalPodAutoscaler for a Deployment, ReplicaSet or StatefulSet, as `kubectl autoscale` does (named
// after its target unless --name is given; without --cpu-percent the server's default, 80 %, applies).
import { kindFor } from '../api/index.ts';
import { resourcePath } from '../client/client.ts';
import { type CliContext, splitTypeName } from './context.ts';

const SCALABLE = ['Deployment', 'ReplicaSet', 'StatefulSet'];
const HPA = kindFor('autoscaling/v2', 'HorizontalPodAutoscaler')!;

export interface AutoscaleOptions {
  min?: number;
  max: number;
  cpuPercent?: number;
  name?: string;
}

export async function autoscale(
  ctx: CliContext,
  args: string[],
  o: AutoscaleOptions,
  out: (s: string) => void,
): Promise<void> {
  // deployment/NAME, or kubectl's other spelling: deployment NAME.
  const target = splitTypeName(args.length === 2 ? `${args[0]}/${args[1]}` : (args[0] ?? ''));
  if (!target?.name) throw new Error('specify what to autoscale: deployment/NAME');
  if (!SCALABLE.includes(target.kind.kind))
    throw new Error(
      `cannot autoscale a ${target.kind.kind}: only deployments, replicasets and statefulsets can be autoscaled`,
    );
  if (!Number.isInteger(o.max) || o.max < 1) throw new Error('--max is required and must be at least 1');
  if (o.min !== undefined && (!Number.isInteger(o.min) || o.min < 1 || o.min > o.max))
    throw new Error('--min must be at least 1 and at most --max');
  if (o.cpuPercent !== undefined && (!Number.isInteger(o.cpuPercent) || o.cpuPercent < 1))
    throw new Error('--cpu-percent must be a positive integer');
  // The target must exist (kubectl reads it first, for its scale subresource).
  await ctx.client.json('GET', resourcePath(target.kind, ctx.namespace, target.name, 'scale'));
  const name = o.name ?? target.name;
  const hpa = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace: ctx.namespace },
    spec: {
      scaleTargetRef: { apiVersion: target.kind.apiVersion, kind: target.kind.kind, name: target.name },
      ...(o.min !== undefined ? { minReplicas: o.min } : {}),
      maxReplicas: o.max,
      ...(o.cpuPercent !== undefined
        ? {
            metrics: [
              {
                type: 'Resource',
                resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: o.cpuPercent } },
              },
            ],
          }
        : {}),
    },
  };
  await ctx.client.json('POST', resourcePath(HPA, ctx.namespace), { body: hpa });
  out(`horizontalpodautoscaler.autoscaling/${name} autoscaled`);
}
