// `strata run [flags] RUNTIME IMAGE [-- ARGS...]`: docker-run style, on every tier. Creates a pod
// (run-args.ts turns the flags into it), streams its output from the start, and exits with the
// container's exit code. With -i the run's stdin goes to the container through `pods/attach` (the pod
// says stdin/stdinOnce, and tty with -t, as `kubectl run -it` does); the output still comes from the
// log, so nothing printed before the attach is missed. --rm deletes the pod at the end, and on Ctrl-C.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { kindFor } from '../api/index.ts';
import { ClientError, resourcePath, type Client } from '../client/client.ts';
import { encodeFrame, FRAME } from '../client/exec-stream.ts';
import type { CliContext } from './context.ts';
import { streamLogsWhenReady } from './logs.ts';
import { buildRunPod, checkRuntime, RunArgumentError, type RunArgs } from './run-args.ts';

const podKind = kindFor('v1', 'Pod')!;
const nodeKind = kindFor('v1', 'Node')!;

export interface RunOptions extends RunArgs {
  rm?: boolean;
  timeout?: number;
}

/** Waiting reasons that no amount of waiting fixes: the run reports them and ends. */
const START_FAILURES = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'InvalidImageDigest',
  'CreateContainerError',
  'CreateContainerConfigError',
  'RunContainerError',
]);
/** docker run's code when the container could not be run at all. */
const RUN_FAILED = 125;

/** A local file path is made absolute so the agent (on this machine) finds it wherever it runs. */
function resolveWasmImage(image: string): string {
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

/** Why the pod cannot start, if it never will (an image that cannot be pulled, no node for it, …). */
function startFailure(pod: any): string | undefined {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (waiting && START_FAILURES.has(waiting.reason)) {
    return `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
  }
  const unschedulable = pod.status?.conditions?.find(
    (c: any) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
  );
  return unschedulable ? `no node can run it: ${unschedulable.message}` : undefined;
}

/** The runtime classes the cluster's nodes advertise (labels strata.dev/runtime-X=true); undefined if unknown. */
async function offeredRuntimes(client: Client): Promise<string[] | undefined> {
  try {
    const nodes = await client.list(nodeKind);
    const out = new Set<string>();
    for (const n of nodes.items) {
      for (const [k, v] of Object.entries(n.metadata?.labels ?? {})) {
        const m = /^strata\.dev\/runtime-(.+)$/.exec(k);
        if (m && v === 'true') out.add(m[1]);
      }
    }
    return [...out].sort();
  } catch {
    return undefined; // not allowed to list nodes: the server's answer will tell
  }
}

/**
 * `-v NAME:PATH` names a PersistentVolumeClaim. Docker creates a named volume on first use; so does
 * this, with the cluster's default StorageClass (1Gi, ReadWriteOnce), and says so on stderr.
 */
async function ensureClaims(ctx: CliContext, pod: any): Promise<void> {
  for (const v of pod.spec.volumes ?? []) {
    const claim = v.persistentVolumeClaim?.claimName;
    if (!claim) continue;
    const path = `/api/v1/namespaces/${encodeURIComponent(ctx.namespace)}/persistentvolumeclaims`;
    try {
      await ctx.client.json('GET', `${path}/${encodeURIComponent(claim)}`);
      continue;
    } catch (err) {
      if (!(err instanceof ClientError && err.code === 404)) throw err;
      if (err.status?.details?.kind !== 'persistentvolumeclaims') {
        throw new RunArgumentError(
          `-v ${claim}:…: this cluster does not serve PersistentVolumeClaims; give an absolute host path instead`,
        );
      }
    }
    await ctx.client.json('POST', path, {
      body: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: claim, namespace: ctx.namespace },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
    process.stderr.write(`persistentvolumeclaim/${claim} created\n`);
  }
}

export async function run(
  ctx: CliContext,
  runtime: string,
  image: string,
  args: string[],
  o: RunOptions,
): Promise<number> {
  if (o.detach && o.rm) {
    throw new RunArgumentError('--rm with -d: the pod is deleted when an attached run ends; run it attached');
  }
  checkRuntime(runtime, await offeredRuntimes(ctx.client));
  const name = o.name ?? `run-${Date.now().toString(36)}`;
  const pod = buildRunPod(
    runtime,
    runtime === 'wasm' ? resolveWasmImage(image) : image,
    args,
    o,
    name,
    ctx.namespace,
    {
      environ: process.env,
      cwd: process.cwd(),
      readFile: (p) => readFileSync(p, 'utf8'),
      exists: existsSync,
    },
  );
  await ensureClaims(ctx, pod);
  await ctx.client.create(podKind, pod, ctx.namespace);
  if (o.detach) {
    console.log(`pod/${name} created`);
    return 0;
  }
  const remove = (): Promise<void> =>
    o.rm
      ? ctx.client.delete(podKind, ctx.namespace, name, { gracePeriodSeconds: 0 }).then(
          () => undefined,
          () => undefined,
        )
      : Promise.resolve();
  // Ctrl-C (outside a raw terminal, where it is the container's): stop the pod with --rm, else leave it.
  const onSigint = (): void => {
    if (!o.rm) process.stderr.write(`\nstrata: pod/${name} keeps running (delete it, or run with --rm)\n`);
    void remove().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  let input: AttachedInput | undefined;
  try {
    const failed = watchStartFailure(ctx, name);
    if (o.interactive) input = attachInputWhenRunning(ctx, name, !!o.tty);
    const streamed = streamLogsWhenReady(
      ctx.client,
      ctx.namespace,
      name,
      { follow: true },
      (c) => process.stdout.write(c),
      (o.timeout ?? 300) * 1000,
    );
    const problem = await Promise.race([streamed.then(() => undefined), failed.reason]);
    failed.stop();
    if (problem) {
      process.stderr.write(`strata: pod/${name} cannot start: ${problem}\n`);
      return RUN_FAILED;
    }
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
    input?.close();
    process.off('SIGINT', onSigint);
    await remove();
  }
}

/** Polls the pod for a start failure; `reason` resolves with it (and never resolves otherwise). */
function watchStartFailure(ctx: CliContext, name: string): { reason: Promise<string>; stop(): void } {
  let stopped = false;
  const reason = new Promise<string>((resolve) => {
    const check = async (): Promise<void> => {
      while (!stopped) {
        try {
          const pod = await ctx.client.get(podKind, ctx.namespace, name);
          if (pod.status?.containerStatuses?.[0]?.state?.running || exitCodeOf(pod) !== undefined) return;
          const why = startFailure(pod);
          if (why) return resolve(why);
        } catch {
          // a transient error: look again
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    void check();
  });
  return { reason, stop: () => void (stopped = true) };
}

interface AttachedInput {
  close(): void;
}

/**
 * Once the container runs, attaches to its stdin and passes this process's stdin (raw, with resizes,
 * on a terminal with -t). Output frames are dropped: the log carries the output. Ends the input when
 * ours ends (the container, stdinOnce, reads EOF).
 */
function attachInputWhenRunning(ctx: CliContext, name: string, tty: boolean): AttachedInput {
  let closed = false;
  let cleanup = (): void => {};
  const start = async (): Promise<void> => {
    for (;;) {
      if (closed) return;
      const pod = await ctx.client.get(podKind, ctx.namespace, name).catch(() => undefined);
      const state = pod?.status?.containerStatuses?.[0]?.state;
      if (state?.terminated || exitCodeOf(pod ?? {}) !== undefined) return;
      if (state?.running) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const q = new URLSearchParams({ container: 'main', stdin: 'true', stdout: 'true', stderr: 'true' });
    q.set('tty', String(tty));
    const out = process.stdout;
    if (tty && out.isTTY) {
      q.set('cols', String(out.columns));
      q.set('rows', String(out.rows));
    }
    let socket;
    try {
      ({ socket } = await ctx.client.upgrade(resourcePath(podKind, ctx.namespace, name, 'attach'), q));
    } catch (err) {
      // It exited before the attach: its output is in the log, its exit code in its status.
      if (!/not running|has exited|not found/i.test((err as Error).message))
        process.stderr.write(`strata: -i: ${(err as Error).message}\n`);
      return;
    }
    if (closed) {
      socket.destroy();
      return;
    }
    socket.on('error', () => {});
    socket.resume(); // output frames: the log has them
    const input = process.stdin;
    const raw = tty && input.isTTY;
    const onInput = (d: Buffer): void => {
      if (d.length && !socket.destroyed) socket.write(encodeFrame(FRAME.stdin, d));
    };
    const onEnd = (): void => {
      if (!socket.destroyed) socket.write(encodeFrame(FRAME.stdin));
    };
    const onResize = (): void => {
      if (!socket.destroyed)
        socket.write(encodeFrame(FRAME.resize, JSON.stringify({ cols: out.columns, rows: out.rows })));
    };
    if (raw) input.setRawMode(true);
    if (tty && out.isTTY) out.on('resize', onResize);
    input.on('data', onInput);
    input.on('end', onEnd);
    input.resume();
    cleanup = () => {
      if (raw) input.setRawMode(false);
      out.off('resize', onResize);
      input.off('data', onInput);
      input.off('end', onEnd);
      input.pause();
      socket.destroy();
    };
    socket.on('close', () => cleanup());
  };
  void start().catch((err) =>
    process.stderr.write(`strata: attaching stdin failed: ${(err as Error).message}\n`),
  );
  return {
    close: () => {
      closed = true;
      cleanup();
    },
  };
}
