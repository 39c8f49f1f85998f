// `strata run [--rm] RUNTIME IMAGE [-- ARGS...]`: docker-run style one-shot. Creates a pod, streams its
// output, and exits with the container's exit code.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { kindFor } from '../api/index.ts';
import type { CliContext } from './context.ts';
import { streamLogsWhenReady } from './logs.ts';

const podKind = kindFor('v1', 'Pod')!;

export interface RunOptions {
  name?: string;
  rm?: boolean;
  env?: string[];
  memory?: string;
  cpu?: string;
  restart?: string;
  timeout?: number;
  detach?: boolean;
}

function parseEnv(pairs: string[] = []): Array<{ name: string; value: string }> {
  return pairs.map((p) => {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`--env ${JSON.stringify(p)}: expected NAME=VALUE`);
    return { name: p.slice(0, i), value: p.slice(i + 1) };
  });
}

/** A local file path is made absolute so the agent (on this machine) finds it wherever it runs. */
function resolveImage(image: string): string {
  if (/^[a-z]+:\/\//.test(image)) return image;
  const [path, pin] = image.split(/(?=@sha256:)/);
  return existsSync(path) ? resolve(path) + (pin ?? '') : image;
}

function exitCodeOf(pod: any): number | undefined {
  const phase = pod.status?.phase;
  if (phase !== 'Succeeded' && phase !== 'Failed') return undefined;
  const t = pod.status?.containerStatuses?.[0]?.state?.terminated;
  return t?.exitCode ?? (phase === 'Succeeded' ? 0 : 1);
}

export async function run(
  ctx: CliContext,
  runtime: string,
  image: string,
  args: string[],
  o: RunOptions,
): Promise<number> {
  const name = o.name ?? `run-${Date.now().toString(36)}`;
  const resources: any = {};
  if (o.memory) resources.limits = { ...resources.limits, memory: o.memory };
  if (o.cpu) resources.limits = { ...resources.limits, cpu: o.cpu };
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ctx.namespace, labels: { 'strata.dev/run': name } },
    spec: {
      runtimeClassName: runtime,
      restartPolicy: o.restart ?? 'Never',
      containers: [
        {
          name: 'main',
          image: resolveImage(image),
          ...(args.length ? { args } : {}),
          ...(o.env?.length ? { env: parseEnv(o.env) } : {}),
          ...(Object.keys(resources).length ? { resources } : {}),
        },
      ],
    },
  };
  await ctx.client.create(podKind, pod, ctx.namespace);
  if (o.detach) {
    console.log(`pod/${name} created`);
    return 0;
  }
  try {
    await streamLogsWhenReady(
      ctx.client,
      ctx.namespace,
      name,
      { follow: true },
      (c) => process.stdout.write(c),
      (o.timeout ?? 300) * 1000,
    );
    // The log ends when the container exits; the final status follows shortly.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const cur = await ctx.client.get(podKind, ctx.namespace, name);
      const code = exitCodeOf(cur);
      if (code !== undefined) {
        const t = cur.status?.containerStatuses?.[0]?.state?.terminated;
        if (code !== 0 && t?.reason && t.reason !== 'Error')
          console.error(`strata: container ${t.reason}${t.message ? `: ${t.message}` : ''}`);
        return code;
      }
      if (o.restart && o.restart !== 'Never') return 0;
      if (Date.now() > deadline) throw new Error(`pod ${name} did not finish (status ${cur.status?.phase})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    if (o.rm)
      await ctx.client.delete(podKind, ctx.namespace, name, { gracePeriodSeconds: 0 }).catch(() => {});
  }
}
