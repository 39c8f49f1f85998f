// Supervises one pod on this node: starts each container through its tier's driver, honours
// restartPolicy with exponential back-off, enforces activeDeadlineSeconds, stops gracefully on
// deletion, and reports status (phase, conditions, container states) back through the API.
import { mkdirSync, rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { kindFor, parseCpu, parseMemory } from '../api/index.ts';
import type { Client } from '../client/client.ts';
import { SandboxError, type Driver, type ExitResult, type SandboxSpec } from '../sandbox/driver.ts';
import { RotatingLog, containerLogPath, pruneOldLogs } from './logs.ts';
import { mountsFor, prepareVolumes, resolveEnv } from './pod-config.ts';
import { computePodStatus, type ContainerRun } from './pod-status.ts';

const podKind = kindFor('v1', 'Pod')!;

export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
/** A container that ran this long without failing resets its back-off (kubelet: 10 minutes). */
const BACKOFF_RESET_MS = 600_000;

export interface PodWorkerOptions {
  client: Client;
  drivers: Map<string, Driver>;
  podsDir: string;
  /** Relative wasm paths in `image` resolve against this directory. */
  workDir: string;
  backoffInitialMs?: number;
  onFinished?: (uid: string) => void;
  log: { info: (o: object, msg: string) => void; warn: (o: object, msg: string) => void };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((res) => {
    if (signal.aborted) return res();
    const t = setTimeout(res, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        res();
      },
      { once: true },
    );
  });
}

export function parseImagePin(image: string): { ref: string; digest?: string } {
  const m = /^(.*)@(sha256:[0-9a-f]{64})$/.exec(image);
  return m ? { ref: m[1], digest: m[2] } : { ref: image };
}

export class PodWorker {
  pod: any;
  readonly podDir: string;
  private readonly opts: PodWorkerOptions;
  private readonly runs = new Map<string, ContainerRun>();
  private readonly stopping = new AbortController();
  private stopGrace = 0;
  private terminalReason?: { reason: string; message: string };
  private deadlineTimer?: NodeJS.Timeout;
  private reportChain: Promise<void> = Promise.resolve();
  private reportPending = false;
  private startTime?: string;
  private done?: Promise<void>;

  constructor(pod: any, opts: PodWorkerOptions) {
    this.pod = pod;
    this.opts = opts;
    this.podDir = join(opts.podsDir, pod.metadata.uid);
    this.startTime = pod.status?.startTime;
    for (const c of pod.spec.containers) {
      const prev = pod.status?.containerStatuses?.find((s: any) => s.name === c.name);
      this.runs.set(c.name, {
        name: c.name,
        image: c.image,
        // An agent restart loses wasm sandboxes: continue counting from what was reported.
        restartCount: prev ? prev.restartCount + (prev.state?.running ? 1 : 0) : 0,
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState: prev?.lastState ?? {},
        finished: false,
      });
    }
  }

  /** Starts supervising; resolves when every container is finished for good. */
  start(): Promise<void> {
    this.done ??= this.run();
    return this.done;
  }

  update(pod: any): void {
    this.pod = pod;
  }

  /** Stop every container with the grace period (deletion or eviction). */
  async stop(graceSeconds: number): Promise<void> {
    this.stopGrace = graceSeconds;
    this.stopping.abort();
    await Promise.all(
      [...this.runs.values()].map(async (r) => {
        if (r.sandboxId && r.driver) await r.driver.stop(r.sandboxId, graceSeconds).catch(() => {});
      }),
    );
    await this.done;
  }

  /** Remove the pod's files (logs, volumes) once the pod is gone from the API. */
  cleanup(): void {
    rmSync(this.podDir, { recursive: true, force: true });
  }

  private async run(): Promise<void> {
    mkdirSync(this.podDir, { recursive: true, mode: 0o700 });
    this.startTime ??= new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    this.armDeadline();
    this.report();
    await Promise.all(this.pod.spec.containers.map((c: any) => this.superviseContainer(c)));
    clearTimeout(this.deadlineTimer);
    this.report();
    await this.reportChain;
    this.opts.onFinished?.(this.pod.metadata.uid);
  }

  private armDeadline(): void {
    const ads = this.pod.spec.activeDeadlineSeconds;
    if (!ads) return;
    const remaining = Date.parse(this.startTime!) + ads * 1000 - Date.now();
    this.deadlineTimer = setTimeout(
      () => {
        this.terminalReason = {
          reason: 'DeadlineExceeded',
          message: `Pod was active on the node longer than the specified deadline (${ads}s)`,
        };
        void this.stop(0);
      },
      Math.max(0, remaining),
    );
  }

  private restartWanted(exit: ExitResult): boolean {
    switch (this.pod.spec.restartPolicy ?? 'Always') {
      case 'Always':
        return true;
      case 'OnFailure':
        return exit.exitCode !== 0;
      default:
        return false;
    }
  }

  private async superviseContainer(container: any): Promise<void> {
    const run = this.runs.get(container.name)!;
    const runtimeClass = this.pod.spec.runtimeClassName ?? 'wasm';
    const driver = this.opts.drivers.get(runtimeClass);
    let backoff = this.opts.backoffInitialMs ?? BACKOFF_INITIAL_MS;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      if (!driver) {
        run.state = {
          waiting: {
            reason: 'RuntimeClassUnavailable',
            message: `this node cannot run runtime class "${runtimeClass}"`,
          },
        };
        this.report();
        await sleep(backoff, signal);
        continue;
      }
      let exit: ExitResult;
      let log: RotatingLog | undefined;
      try {
        const spec = await this.sandboxSpec(container, run);
        log = spec.log as RotatingLog;
        if (signal.aborted) break;
        const handle = await driver.start(spec);
        run.sandboxId = handle.id;
        run.driver = driver;
        const startedAt = new Date().toISOString();
        run.state = { running: { startedAt } };
        run.startedAtMs = Date.now();
        this.report();
        if (signal.aborted) await driver.stop(handle.id, this.stopGrace).catch(() => {});
        exit = await driver.wait(handle.id);
        await driver.destroy(handle.id).catch(() => {});
        run.sandboxId = undefined;
      } catch (err) {
        log?.close();
        const reason = err instanceof SandboxError ? err.reason : 'CreateContainerError';
        run.state = { waiting: { reason, message: (err as Error).message } };
        this.opts.log.warn(
          { pod: this.pod.metadata.name, container: container.name, reason, err: (err as Error).message },
          'container start failed',
        );
        this.report();
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
        continue;
      }
      log.close();
      const terminated = {
        exitCode: exit.exitCode,
        reason: exit.reason,
        ...(exit.message ? { message: exit.message } : {}),
        ...(exit.signal ? { signal: exit.signal } : {}),
        startedAt: exit.startedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        finishedAt: exit.finishedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
      run.state = { terminated };
      if (signal.aborted || !this.restartWanted(exit)) break;
      // Restart with exponential back-off; a long healthy run resets it.
      if (Date.now() - (run.startedAtMs ?? 0) > BACKOFF_RESET_MS)
        backoff = this.opts.backoffInitialMs ?? BACKOFF_INITIAL_MS;
      run.lastState = { terminated };
      run.restartCount++;
      run.state = {
        waiting: {
          reason: 'CrashLoopBackOff',
          message: `back-off ${Math.round(backoff / 1000)}s restarting failed container=${container.name} pod=${this.pod.metadata.name}`,
        },
      };
      this.report();
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      if (signal.aborted) {
        run.state = { terminated: { ...terminated } };
      }
    }
    run.finished = true;
  }

  private async sandboxSpec(container: any, run: ContainerRun): Promise<SandboxSpec> {
    const pod = this.pod;
    const env = await resolveEnv(this.opts.client, pod, container);
    const dirs = await prepareVolumes(this.opts.client, pod, this.podDir);
    const mounts = mountsFor(pod, container, dirs);
    const { ref, digest } = parseImagePin(container.image);
    const image = /^[a-z]+:\/\//.test(ref) || isAbsolute(ref) ? ref : resolve(this.opts.workDir, ref);
    const limits = container.resources?.limits ?? {};
    const ads = pod.spec.activeDeadlineSeconds;
    pruneOldLogs(this.podDir, container.name, run.restartCount);
    return {
      id: `${pod.metadata.uid}-${container.name}-${run.restartCount}`,
      podUid: pod.metadata.uid,
      podName: pod.metadata.name,
      namespace: pod.metadata.namespace,
      containerName: container.name,
      image,
      imageDigest: digest,
      args: [...(container.command ?? [container.name]), ...(container.args ?? [])],
      env,
      workingDir: container.workingDir,
      mounts,
      limits: {
        memoryBytes: limits.memory !== undefined ? parseMemory(limits.memory) : undefined,
        cpu: limits.cpu !== undefined ? parseCpu(limits.cpu) / 1000 : undefined,
        deadlineSeconds: ads
          ? Math.max(1, ads - (Date.now() - Date.parse(this.startTime!)) / 1000)
          : undefined,
      },
      log: new RotatingLog(containerLogPath(this.podDir, container.name, run.restartCount)),
    };
  }

  /** Coalesced status writes: at most one in flight, the latest state always written last. */
  private report(): void {
    if (this.reportPending) return;
    this.reportPending = true;
    this.reportChain = this.reportChain.then(async () => {
      this.reportPending = false;
      const status = computePodStatus(
        this.pod,
        [...this.runs.values()],
        this.startTime!,
        this.terminalReason,
      );
      try {
        await this.opts.client.patch(
          podKind,
          this.pod.metadata.namespace,
          this.pod.metadata.name,
          { status },
          'status',
        );
      } catch (err) {
        if ((err as any).code !== 404)
          this.opts.log.warn(
            { pod: this.pod.metadata.name, err: (err as Error).message },
            'status update failed',
          );
      }
    });
  }
}
