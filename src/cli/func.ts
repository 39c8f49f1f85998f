// `strata func deploy|invoke|list|logs`: the short loop of a function author over Knative Services
// (serving.knative.dev/v1): deploy an image or wasm module as a ksvc that scales to zero, invoke it
// through the node gateway and see the answer, the time it took and whether it was cold, list them, and
// read their logs.
import http from 'node:http';
import type { Command } from 'commander';
import { AUTOSCALING, kindFor, SERVING_LABELS, type KnativeService } from '../api/index.ts';
import type { CliContext } from './context.ts';
import { streamLogs } from './logs.ts';
import { alignRows } from './printers.ts';

const KSVC = kindFor('serving.knative.dev/v1', 'Service')!;
const REVISION = kindFor('serving.knative.dev/v1', 'Revision')!;
const POD = kindFor('v1', 'Pod')!;

export interface DeployOptions {
  image: string;
  tier?: string;
  env?: string[];
  port?: number;
  minScale?: string;
  maxScale?: string;
  target?: string;
  concurrency?: number;
  timeout?: number;
  wait?: boolean;
}

/** The ksvc `strata func deploy` applies. */
export function functionManifest(name: string, namespace: string, o: DeployOptions): KnativeService {
  const annotations: Record<string, string> = {};
  if (o.minScale !== undefined) annotations[AUTOSCALING.minScale] = o.minScale;
  if (o.maxScale !== undefined) annotations[AUTOSCALING.maxScale] = o.maxScale;
  if (o.target !== undefined) annotations[AUTOSCALING.target] = o.target;
  const env = (o.env ?? []).map((kv) => {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--env ${JSON.stringify(kv)}: expected NAME=VALUE`);
    return { name: kv.slice(0, i), value: kv.slice(i + 1) };
  });
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: {
      template: {
        ...(Object.keys(annotations).length ? { metadata: { annotations } } : {}),
        spec: {
          ...(o.tier ? { runtimeClassName: o.tier as 'wasm' | 'container' | 'microvm' } : {}),
          ...(o.concurrency !== undefined ? { containerConcurrency: o.concurrency } : {}),
          ...(o.timeout !== undefined ? { timeoutSeconds: o.timeout } : {}),
          containers: [
            {
              name: 'user-container',
              image: o.image,
              ...(env.length ? { env } : {}),
              ...(o.port ? { ports: [{ containerPort: o.port }] } : {}),
            },
          ],
        },
      },
    },
  } as KnativeService;
}

const readyOf = (o: any) => o?.status?.conditions?.find((c: any) => c.type === 'Ready');

export async function deployFunction(ctx: CliContext, name: string, o: DeployOptions): Promise<string> {
  const manifest = functionManifest(name, ctx.namespace, o);
  await ctx.client.serverSideApply(KSVC, manifest, ctx.namespace, {
    fieldManager: 'strata-func',
    force: true,
  });
  if (o.wait === false) return `service.serving.knative.dev/${name} applied`;
  const deadline = Date.now() + 300_000;
  for (;;) {
    const s = await ctx.client.find(KSVC, ctx.namespace, name);
    const ready = readyOf(s);
    const current = s?.status?.observedGeneration === s?.metadata.generation;
    if (current && ready?.status === 'True')
      return `service.serving.knative.dev/${name} ready: ${s.status.url} (revision ${s.status.latestReadyRevisionName})`;
    if (current && ready?.status === 'False')
      throw new Error(`${name} is not ready: ${ready.reason ?? ''} ${ready.message ?? ''}`.trim());
    if (Date.now() > deadline) throw new Error(`${name} did not become ready within 300 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function listFunctions(ctx: CliContext): Promise<string> {
  const list = await ctx.client.list(KSVC, ctx.namespace);
  const revisions = await ctx.client.list(REVISION, ctx.namespace);
  const byName = new Map<string, any>(revisions.items.map((r: any) => [r.metadata.name, r]));
  const rows = [['NAME', 'URL', 'LATESTREADY', 'READY', 'INSTANCES']];
  for (const s of list.items as any[]) {
    const rev = byName.get(s.status?.latestReadyRevisionName);
    rows.push([
      s.metadata.name,
      s.status?.url ?? '',
      s.status?.latestReadyRevisionName ?? '',
      readyOf(s)?.status ?? 'Unknown',
      String(rev?.status?.actualReplicas ?? 0),
    ]);
  }
  return alignRows(rows).join('\n');
}

export interface InvokeOptions {
  /** The node gateway's HTTP address (default 127.0.0.1:80). */
  gateway?: string;
  path?: string;
  data?: string;
  method?: string;
}

export interface Invocation {
  status: number;
  body: string;
  ms: number;
  cold: boolean;
}

/** Sends one request to the function's URL through the gateway, by Host header. */
export async function invokeFunction(ctx: CliContext, name: string, o: InvokeOptions): Promise<Invocation> {
  const s = await ctx.client.find(KSVC, ctx.namespace, name);
  if (!s) throw new Error(`service.serving.knative.dev "${name}" not found`);
  if (!s.status?.url) throw new Error(`${name} has no URL yet (not ready)`);
  const host = new URL(s.status.url).host;
  // Cold: no instance of the revision was running before this request (0 pods; for wasm, 0 instances).
  const revs = (s.status.traffic ?? []).map((t: any) => t.revisionName).filter(Boolean);
  let cold = revs.length > 0;
  for (const r of revs) {
    const rev = await ctx.client.find(REVISION, ctx.namespace, r);
    if ((rev?.status?.actualReplicas ?? 0) > 0) cold = false;
  }
  const [gwHost, gwPort] = (o.gateway ?? '127.0.0.1:80').split(':');
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: gwHost,
        port: Number(gwPort ?? 80),
        path: o.path ?? '/',
        method: o.method ?? (o.data !== undefined ? 'POST' : 'GET'),
        headers: { host },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - start, cold }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.data);
  });
}

export async function functionLogs(
  ctx: CliContext,
  name: string,
  o: { follow?: boolean; tail?: number },
  write: (chunk: Uint8Array) => void,
): Promise<void> {
  const pods = await ctx.client.list(POD, ctx.namespace, {
    labelSelector: `${SERVING_LABELS.service}=${name}`,
  });
  const items = (pods.items as any[]).filter((p) => p.metadata.labels?.[SERVING_LABELS.service] === name);
  if (!items.length) throw new Error(`no instance of ${name} is running (it may be scaled to zero)`);
  for (const p of items) {
    const container =
      p.spec.containers.find((c: any) => (c.ports ?? []).length)?.name ?? p.spec.containers[0].name;
    await streamLogs(
      ctx.client,
      ctx.namespace,
      p.metadata.name,
      { container, follow: o.follow, tail: o.tail },
      write,
    );
  }
}

export function registerFuncCommands(
  program: Command,
  connect: () => CliContext,
  print: (s: string) => void,
): void {
  const func = program
    .command('func')
    .alias('service')
    .description('functions: Knative Services that scale to zero on any tier (deploy, invoke, list, logs)');
  const collect = (v: string, prev: string[] = []) => [...prev, v];
  func
    .command('deploy <name>')
    .description('create or update a function (a serving.knative.dev/v1 Service) and wait until it is ready')
    .requiredOption('--image <image>', 'OCI image or wasm module (a path or reference)')
    .option('--tier <tier>', 'runtimeClassName: wasm, container or microvm (default: from the image)')
    .option('-e, --env <NAME=VALUE>', 'an environment variable (repeatable)', collect)
    .option('--port <port>', 'the port the function listens on (default 8080, given as $PORT)', Number)
    .option('--min-scale <n>', 'autoscaling.knative.dev/min-scale')
    .option('--max-scale <n>', 'autoscaling.knative.dev/max-scale')
    .option('--target <n>', 'autoscaling.knative.dev/target (requests in flight per instance)')
    .option(
      '--concurrency <n>',
      'containerConcurrency: requests one instance takes at once (0 = any)',
      Number,
    )
    .option('--timeout <seconds>', 'timeoutSeconds of a request', Number)
    .option('--no-wait', 'return once applied')
    .action(async (name, o) => print(await deployFunction(connect(), name, o)));
  func
    .command('invoke <name>')
    .description('send a request through the node gateway; prints the answer, the time and cold/warm')
    .option('--gateway <host:port>', 'the node gateway HTTP address', '127.0.0.1:80')
    .option('--path <path>', 'request path', '/')
    .option('-d, --data <body>', 'request body (POST)')
    .option('-X, --method <method>', 'HTTP method')
    .action(async (name, o) => {
      const r = await invokeFunction(connect(), name, o);
      process.stdout.write(r.body.endsWith('\n') || !r.body ? r.body : `${r.body}\n`);
      process.stderr.write(
        `${r.status} in ${r.ms.toFixed(1)} ms (${r.cold ? 'cold: scaled from zero' : 'warm'})\n`,
      );
      if (r.status >= 400) process.exitCode = 1;
    });
  func
    .command('list')
    .alias('ls')
    .description('functions with their URL, latest ready revision and instances')
    .action(async () => print(await listFunctions(connect())));
  func
    .command('logs <name>')
    .description("the logs of the function's running instances")
    .option('-f, --follow', 'follow')
    .option('--tail <n>', 'lines from the end', Number)
    .action(async (name, o) => functionLogs(connect(), name, o, (c) => process.stdout.write(c)));
}
