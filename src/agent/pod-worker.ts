// Supervises one pod on this node: starts each container through its tier's driver, honours
// restartPolicy with exponential back-off, enforces activeDeadlineSeconds, stops gracefully on
// deletion, and reports status (phase, conditions, container states) back through the API.
//
// Tier-blind: the pod's runtimeClassName picks a driver, and what differs between tiers is asked of the
// driver through its capabilities (src/sandbox/driver.ts): where the image comes from (artifacts), the
// tier's own settings (tierOptions), the pod's IP and hostPorts (podNetwork), exec.
import { mkdir, rm } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { inferRuntimeClass, kindFor, parseCpu, parseMemory, type Container } from '../api/index.ts';
import type { Client } from '../client/client.ts';
import {
  SandboxError,
  hasTierOptions,
  joinsPodNetwork,
  preparesArtifacts,
  type ContainerRequest,
  type Driver,
  type ExecResult,
  type ExitResult,
  type HostPortMapping,
  type SandboxHandle,
  type SandboxSpec,
} from '../sandbox/driver.ts';
import { parseImagePin } from '../sandbox/image-pull.ts';
import { RotatingLog, containerLogPath, pruneOldLogsAsync } from './logs.ts';
import { readRecords } from './log-reader.ts';
import { mountsFor, podServiceEnv, prepareVolumes, pullCredentials, resolveEnv } from './pod-config.ts';
import { resumeServiceAccountTokens } from './volumes/projected-token.ts';
import { computePodStatus, containerReadiness, type ContainerRun } from './pod-status.ts';
import {
  ContainerProber,
  FAST_READINESS_ANNOTATION,
  FAST_READINESS_INTERVAL_MS,
  probeFailureMessage,
  type ProbeTarget,
} from './probes.ts';
import { runHook, type HookHandler } from './lifecycle-hooks.ts';
import { forgetHandle, readHandle, saveHandle } from './handles.ts';
import { START_TIMING_MESSAGE, StartTiming, sandboxSteps } from './start-timing.ts';

/** Delay before a status write that failed transiently is tried again (with the pod's latest state). */
const STATUS_RETRY_MS = 1000;
/**
 * How long a serving revision's running report waits for the first readiness verdict (reportRunning): a
 * server that listens within it is reported running and Ready in one write; a slower one is reported
 * running after it, as before.
 */
const FIRST_READINESS_HOLD_MS = 50;

const podKind = kindFor('v1', 'Pod')!;

export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
/** A container that ran this long without failing resets its back-off (kubelet: 10 minutes). */
const BACKOFF_RESET_MS = 600_000;
/** The kubelet bounds nothing for postStart; a hook stuck for this long fails the container. */
const POST_START_TIMEOUT_MS = 120_000;

/** Decides from a run's exit whether the container runs again. */
type RestartRule = (exit: ExitResult) => boolean;

/** What the worker needs of an event recorder (the controllers' EventRecorder fits). */
export interface EventRecorderLike {
  event(obj: any, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

export interface PodWorkerOptions {
  client: Client;
  /** The healthy drivers of this node, by the runtime class they serve. */
  drivers: Map<string, Driver>;
  podsDir: string;
  backoffInitialMs?: number;
  onFinished?: (uid: string) => void;
  /** Records Kubernetes events about the pod (Created, Started, Killing, BackOff, Unhealthy, …). */
  events?: EventRecorderLike;
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

export function signalNumber(name: string | undefined): number | undefined {
  if (!name) return undefined;
  if (/^\d+$/.test(name)) return Number(name);
  return (osConstants.signals as Record<string, number>)[name];
}

export { parseImagePin };

/**
 * The container as its tier must run it: the pod-level securityContext (runAsUser, runAsGroup,
 * runAsNonRoot, supplementalGroups, fsGroup — a supplemental group, as in Kubernetes) under the
 * container's own, which wins field by field. Dropping the pod's settings would run the container as
 * the image's user (often root): never.
 */
export function withPodSecurity(podSpec: any, container: Container): Container {
  const psc = podSpec.securityContext;
  if (!psc) return container;
  const sc = container.securityContext ?? {};
  const groups = [...(psc.supplementalGroups ?? []), ...(psc.fsGroup !== undefined ? [psc.fsGroup] : [])];
  const merged: Record<string, unknown> = {
    ...(psc.runAsUser !== undefined ? { runAsUser: psc.runAsUser } : {}),
    ...(psc.runAsGroup !== undefined ? { runAsGroup: psc.runAsGroup } : {}),
    ...(psc.runAsNonRoot !== undefined ? { runAsNonRoot: psc.runAsNonRoot } : {}),
    ...(psc.seccompProfile !== undefined ? { seccompProfile: psc.seccompProfile } : {}),
    ...sc,
  };
  if (groups.length)
    merged.supplementalGroups = [...new Set([...groups, ...((sc as any).supplementalGroups ?? [])])];
  return { ...container, securityContext: merged as Container['securityContext'] };
}

export class PodWorker {
  pod: any;
  readonly podDir: string;
  private readonly opts: PodWorkerOptions;
  private readonly runs = new Map<string, ContainerRun>();
  /** Init containers in spec order: run to completion one by one, or (sidecars) started and kept running. */
  private readonly initRuns = new Map<string, ContainerRun>();
  /**
   * Ephemeral containers (`kubectl debug`), added to a running pod through its ephemeralcontainers
   * subresource: each runs once, never restarts, and is stopped when the pod's app containers end.
   */
  private readonly ephemeralRuns = new Map<string, ContainerRun>();
  private readonly ephemeralDone: Array<Promise<void>> = [];
  private readonly ephemeralStopping = new AbortController();
  /** The app containers have started: ephemeral containers may run from now until the pod ends. */
  private appStarted = false;
  /** Every init container that is not a sidecar has completed (Initialized condition). */
  private initialized: boolean;
  /** Aborted once the app containers are done: the sidecars stop then (or on the pod's stop). */
  private readonly sidecarsStopping = new AbortController();
  private podIP?: string;
  private portsPublished = false;
  private readonly stopping = new AbortController();
  private stopGrace = 0;
  private terminalReason?: { reason: string; message: string };
  private deadlineTimer?: NodeJS.Timeout;
  private reportChain: Promise<void> = Promise.resolve();
  private reportPending = false;
  /** A running report held for the first readiness verdict (reportRunning), and what waits for it. */
  private heldReport?: { timer: NodeJS.Timeout; queued: Array<() => void> };
  private startTime?: string;
  private done?: Promise<void>;
  /** The agent is shutting down: no more status writes (see shutdown()). */
  private detached = false;
  /** Sandboxes re-adopted at start, by container name. */
  private readonly adopted = new Map<
    string,
    { handle: SandboxHandle; startedAt: string; log: RotatingLog }
  >();
  /** When the agent handed the pod to this worker: a container's first start is timed from here. */
  private readonly createdAt = performance.now();

  constructor(pod: any, opts: PodWorkerOptions) {
    this.pod = pod;
    this.opts = opts;
    this.podDir = join(opts.podsDir, pod.metadata.uid);
    this.startTime = pod.status?.startTime;
    const inits: any[] = pod.spec.initContainers ?? [];
    // Init containers that completed before an agent restart do not run again.
    this.initialized =
      inits.every((c) => c.restartPolicy === 'Always') ||
      !!pod.status?.conditions?.some((c: any) => c.type === 'Initialized' && c.status === 'True');
    const fresh = (c: any, prev: any, waiting: string): ContainerRun => ({
      name: c.name,
      image: c.image,
      // An agent restart loses wasm sandboxes: continue counting from what was reported.
      restartCount: prev ? prev.restartCount + (prev.state?.running ? 1 : 0) : 0,
      state: { waiting: { reason: waiting } },
      lastState: prev?.lastState ?? {},
      finished: false,
    });
    for (const c of inits) {
      const prev = pod.status?.initContainerStatuses?.find((s: any) => s.name === c.name);
      const run = fresh(c, prev, 'PodInitializing');
      run.sidecar = c.restartPolicy === 'Always';
      if (this.initialized && !run.sidecar && prev?.state?.terminated) {
        run.state = prev.state;
        run.restartCount = prev.restartCount;
        run.finished = true;
      }
      this.initRuns.set(c.name, run);
    }
    for (const c of pod.spec.containers) {
      const prev = pod.status?.containerStatuses?.find((s: any) => s.name === c.name);
      this.runs.set(c.name, fresh(c, prev, this.initialized ? 'ContainerCreating' : 'PodInitializing'));
    }
    for (const c of pod.spec.ephemeralContainers ?? []) {
      const prev = pod.status?.ephemeralContainerStatuses?.find((s: any) => s.name === c.name);
      const run = fresh(c, prev, 'ContainerCreating');
      // One run only: one that ended before an agent restart stays ended.
      if (prev?.state?.terminated) {
        run.state = prev.state;
        run.finished = true;
      }
      this.ephemeralRuns.set(c.name, run);
    }
  }

  /** A container's run, app or init. */
  private runOf(name: string): ContainerRun | undefined {
    return this.runs.get(name) ?? this.initRuns.get(name) ?? this.ephemeralRuns.get(name);
  }

  private containerSpec(name: string): any {
    const spec = this.pod.spec;
    return [...(spec.initContainers ?? []), ...spec.containers, ...(spec.ephemeralContainers ?? [])].find(
      (c: any) => c.name === name,
    );
  }

  private sidecarRuns(): ContainerRun[] {
    return [...this.initRuns.values()].filter((r) => r.sidecar);
  }

  /** Starts supervising; resolves when every container is finished for good. */
  start(): Promise<void> {
    this.done ??= this.run();
    return this.done;
  }

  update(pod: any): void {
    this.pod = pod;
    this.startEphemeralContainers();
  }

  /**
   * Starts the ephemeral containers the pod's spec lists and this worker has not started yet — once the
   * app containers run, and not after the pod ended (as the kubelet: an ended pod runs nothing new).
   */
  private startEphemeralContainers(): void {
    if (!this.appStarted || this.pod.metadata.deletionTimestamp) return;
    if (this.stopping.signal.aborted || this.ephemeralStopping.signal.aborted) return;
    const signal = AbortSignal.any([this.stopping.signal, this.ephemeralStopping.signal]);
    for (const c of this.pod.spec.ephemeralContainers ?? []) {
      let run = this.ephemeralRuns.get(c.name);
      if (run?.launched || run?.finished) continue;
      if (!run) {
        run = {
          name: c.name,
          image: c.image,
          restartCount: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
          lastState: {},
          finished: false,
        };
        this.ephemeralRuns.set(c.name, run);
      }
      run.launched = true;
      this.report();
      this.ephemeralDone.push(
        this.superviseContainer(c, run, () => false, signal, `spec.ephemeralContainers{${c.name}}`),
      );
    }
  }

  /**
   * Stop every container with the grace period. `announce` records a `Killing` event per running
   * container (deletion, eviction); internal stops (deadline, agent shutdown) pass false.
   */
  async stop(graceSeconds: number, announce = false): Promise<void> {
    this.stopGrace = graceSeconds;
    this.stopping.abort();
    const until = Date.now() + graceSeconds * 1000;
    const stopAll = (runs: ContainerRun[]) =>
      Promise.all(
        runs.map(async (r) => {
          r.prober?.stop();
          if (!r.sandboxId || !r.driver) return;
          if (announce) this.event('Normal', 'Killing', `Stopping container ${r.name}`);
          await this.stopRun(r, Math.max(0, (until - Date.now()) / 1000));
        }),
      );
    // As Kubernetes does: the app containers (and a running init container) first, the sidecars after.
    await stopAll([
      ...this.runs.values(),
      ...this.ephemeralRuns.values(),
      ...[...this.initRuns.values()].filter((r) => !r.sidecar),
    ]);
    await stopAll(this.sidecarRuns());
    await this.done;
  }

  /**
   * Stops a run's sandbox: its preStop hook first (within the grace period), then the stop signal with
   * what is left of the grace period.
   */
  private async stopRun(r: ContainerRun, graceSeconds: number): Promise<void> {
    const id = r.sandboxId;
    const driver = r.driver;
    if (!id || !driver) return;
    const container = this.containerSpec(r.name);
    const preStop: HookHandler | undefined = container?.lifecycle?.preStop;
    const began = Date.now();
    if (preStop && r.state.running && graceSeconds > 0 && !r.preStopRan) {
      r.preStopRan = true;
      const out = await runHook(preStop, this.hookTarget(container, driver, id), graceSeconds * 1000);
      if (!out.ok) this.event('Warning', 'FailedPreStopHook', `PreStopHook failed: ${out.message}`, r.name);
    }
    const left = Math.max(0, Math.ceil(graceSeconds - (Date.now() - began) / 1000));
    await driver.stop(id, left).catch(() => {});
  }

  private hookTarget(container: any, driver: Driver, sandboxId: string): ProbeTarget {
    return {
      host: this.probeHost(driver),
      ports: container.ports ?? [],
      runtimeClass: this.runtimeClass(),
      exec:
        driver.capabilities.exec && driver.exec
          ? (command: string[]) => driver.exec!(sandboxId, command)
          : undefined,
    };
  }

  /**
   * Agent shutdown: stop supervising. Sandboxes of tiers that survive an agent restart keep running (the
   * next agent re-adopts them); the others are stopped. Nothing is reported: the pods are not finished,
   * their node is going away for a while.
   */
  async shutdown(opts: { stopSurvivors?: boolean; graceSeconds?: number } = {}): Promise<void> {
    this.detached = true;
    this.stopGrace = 0;
    this.stopping.abort();
    clearTimeout(this.deadlineTimer);
    await Promise.all(
      [...this.runs.values(), ...this.initRuns.values(), ...this.ephemeralRuns.values()].map(async (r) => {
        r.prober?.stop();
        await r.launching;
        if (!r.sandboxId || !r.driver) return;
        if (!r.driver.capabilities.survivesAgentRestart) {
          await r.driver.stop(r.sandboxId, 0).catch(() => {});
          return;
        }
        if (!opts.stopSurvivors) return;
        // The whole node goes away (`strata down`): stop and remove the sandbox too; the pod stays
        // Running in the API and the next agent starts it again.
        const id = r.sandboxId;
        await r.driver.stop(id, opts.graceSeconds ?? 5).catch(() => {});
        await r.driver.destroy(id).catch(() => {});
        await this.releaseImage(r);
        forgetHandle(this.podDir, r.name);
      }),
    );
  }

  /** The running sandbox of a container, for exec-like access (undefined when not running). */
  sandboxOf(containerName: string): { driver: Driver; id: string } | undefined {
    const r = this.runOf(containerName);
    if (!r?.sandboxId || !r.driver || !r.state.running) return undefined;
    return { driver: r.driver, id: r.sandboxId };
  }

  /** Runs a command in a running container (tiers with the exec capability). */
  async exec(containerName: string, cmd: string[]): Promise<ExecResult> {
    const r = this.runOf(containerName);
    if (!r)
      throw new SandboxError(
        'NotFound',
        `container ${containerName} is not valid for pod ${this.pod.metadata.name}`,
      );
    if (!r.sandboxId || !r.driver || !r.state.running) {
      throw new SandboxError(
        'NotRunning',
        `container ${containerName} of pod ${this.pod.metadata.name} is not running`,
      );
    }
    if (!r.driver.capabilities.exec || !r.driver.exec) {
      throw new SandboxError(
        'NotSupported',
        `the ${r.driver.name} runtime class cannot exec into a running sandbox`,
      );
    }
    return r.driver.exec(r.sandboxId, cmd);
  }

  /** Remove the pod's files (logs, volumes) once the pod is gone from the API (async: off the agent's thread). */
  async cleanup(): Promise<void> {
    await rm(this.podDir, { recursive: true, force: true });
  }

  private async run(): Promise<void> {
    this.startTime ??= new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    // Sandboxes that outlived an agent restart are adopted before anything is reported.
    const spec = this.pod.spec;
    for (const c of [
      ...(spec.initContainers ?? []),
      ...spec.containers,
      ...(spec.ephemeralContainers ?? []),
    ]) {
      const run = this.runOf(c.name)!;
      if (run.finished) continue;
      const driver = this.opts.drivers.get(this.runtimeClass());
      const adopted = driver ? await this.adopt(driver, c, run) : undefined;
      if (adopted) this.adopted.set(c.name, adopted);
    }
    // After the adoption above, which reaches the driver before its first await (an agent's start
    // re-adopts its survivors at once); off the agent's thread, a cost per pod at density.
    await mkdir(this.podDir, { recursive: true, mode: 0o700 });
    this.armDeadline();
    this.report();
    const sidecars: Array<Promise<void>> = [];
    if (await this.runInitContainers(sidecars)) {
      this.initialized = true;
      this.report();
      this.appStarted = true;
      this.startEphemeralContainers();
      await Promise.all(
        this.pod.spec.containers.map((c: any) =>
          this.superviseContainer(
            c,
            this.runs.get(c.name)!,
            (exit) => this.restartWanted(exit),
            this.stopping.signal,
            `spec.containers{${c.name}}`,
          ),
        ),
      );
    } else {
      // An init container failed for good (or the pod was stopped): the app containers never run.
      for (const r of this.runs.values()) r.finished = true;
    }
    // Ephemeral containers end with the app containers; the sidecars outlive them and stop after them,
    // in reverse order of their start.
    this.ephemeralStopping.abort();
    for (const r of this.ephemeralRuns.values()) await this.stopRun(r, 0);
    await Promise.all(this.ephemeralDone);
    for (const r of this.ephemeralRuns.values()) r.finished = true;
    this.sidecarsStopping.abort();
    const grace = this.pod.spec.terminationGracePeriodSeconds ?? 30;
    for (const r of this.sidecarRuns().reverse())
      await this.stopRun(r, this.stopping.signal.aborted ? this.stopGrace : grace);
    await Promise.all(sidecars);
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

  /**
   * Runs the init containers in order: each one to completion before the next (a failure restarts it
   * unless the pod's restartPolicy is Never, when the pod fails); a sidecar (restartPolicy Always) is
   * started, supervised like an app container, and the next one starts once it has started. False when
   * the app containers must not run.
   */
  private async runInitContainers(sidecars: Array<Promise<void>>): Promise<boolean> {
    const stopping = this.stopping.signal;
    for (const c of this.pod.spec.initContainers ?? []) {
      if (stopping.aborted) return false;
      const run = this.initRuns.get(c.name)!;
      const fieldPath = `spec.initContainers{${c.name}}`;
      if (run.sidecar) {
        const signal = AbortSignal.any([stopping, this.sidecarsStopping.signal]);
        sidecars.push(this.superviseContainer(c, run, () => true, signal, fieldPath));
        while (!stopping.aborted && !containerReadiness(run).started) await sleep(50, stopping);
        continue;
      }
      if (run.finished) continue; // completed before an agent restart
      // The pod's Always means OnFailure for an init container: it must complete once.
      const rule: RestartRule = (exit) => exit.exitCode !== 0 && this.pod.spec.restartPolicy !== 'Never';
      await this.superviseContainer(c, run, rule, stopping, fieldPath);
      if (run.state.terminated?.exitCode !== 0) return false;
    }
    return !stopping.aborted;
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

  private async superviseContainer(
    container: any,
    run: ContainerRun,
    restartWanted: RestartRule,
    signal: AbortSignal,
    fieldPath: string,
  ): Promise<void> {
    const runtimeClass = this.runtimeClass();
    const driver = this.opts.drivers.get(runtimeClass);
    let backoff = this.opts.backoffInitialMs ?? BACKOFF_INITIAL_MS;
    // A sandbox that outlived an agent restart is adopted instead of started again.
    let adopted = this.adopted.get(container.name);
    this.adopted.delete(container.name);
    let firstStart = true;
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
      let timing: StartTiming | undefined;
      try {
        let handle: SandboxHandle;
        let startedAt: string;
        if (adopted) {
          ({ handle, startedAt, log } = adopted);
          adopted = undefined;
        } else {
          // Until the sandbox has an id, shutdown() cannot stop it: it waits for this launch instead, so an
          // agent that stops mid-start does not leave a running sandbox or a mounted rootfs unaccounted.
          let launched!: () => void;
          run.launching = new Promise<void>((r) => (launched = r));
          // The first start counts from the worker's creation (its wait for earlier containers shows as
          // "waiting"); a restart from the end of its back-off.
          timing = new StartTiming(firstStart ? this.createdAt : undefined);
          firstStart = false;
          timing.mark('waiting');
          try {
            const spec = await this.sandboxSpec(driver, container, run, timing);
            log = spec.log as RotatingLog;
            if (signal.aborted) {
              log.close();
              await this.releaseImage(run);
              break;
            }
            handle = await driver.start(spec);
            timing.mark('sandbox');
            timing.parts.sandbox = sandboxSteps(handle.state);
            delete handle.state.startSteps; // not part of what is saved for a later agent
            run.sandboxId = handle.id;
            run.driver = driver;
          } finally {
            run.launching = undefined;
            launched();
          }
          startedAt = new Date().toISOString();
          this.recordStart(container, fieldPath);
          if (driver.capabilities.survivesAgentRestart)
            saveHandle(this.podDir, container.name, { handle, restartCount: run.restartCount, startedAt });
        }
        run.sandboxId = handle.id;
        run.driver = driver;
        run.preStopRan = false;
        await this.joinPodNetwork(driver, handle);
        timing?.mark('hostPorts');
        run.probeFailure = undefined;
        await this.postStart(container, run, driver, handle.id, fieldPath);
        timing?.mark('postStart');
        run.state = { running: { startedAt } };
        run.startedAtMs = Date.parse(startedAt);
        const prober = this.startProbes(container, run, driver, handle.id, fieldPath);
        run.prober = prober;
        this.reportRunning(container, prober, () => {
          if (timing) this.logStartTiming(container.name, run.restartCount, timing);
        });
        if (signal.aborted) await this.stopRun(run, this.stopGrace);
        exit = await driver.wait(handle.id);
        // Agent shutdown: a sandbox that survives restarts keeps its handle for the next agent.
        if (this.detached && driver.capabilities.survivesAgentRestart) return;
        run.prober?.stop();
        await driver.destroy(handle.id).catch(() => {});
        await this.releaseImage(run);
        forgetHandle(this.podDir, container.name);
        run.sandboxId = undefined;
      } catch (err) {
        run.prober?.stop();
        run.prober = undefined;
        // A sandbox that started but that its pod could not use (its hostPorts could not be published):
        // remove it before its rootfs, or it keeps running and every retry meets "sandbox already exists".
        if (run.sandboxId && !this.detached) {
          await (run.driver ?? driver).destroy(run.sandboxId).catch(() => {});
          forgetHandle(this.podDir, container.name);
          run.sandboxId = undefined;
        }
        log?.close();
        await this.releaseImage(run);
        const reason = err instanceof SandboxError ? err.reason : 'CreateContainerError';
        const message = (err as Error).message;
        run.state = { waiting: { reason, message } };
        this.opts.log.warn(
          { pod: this.pod.metadata.name, container: container.name, reason, err: message },
          'container start failed',
        );
        this.event('Warning', 'Failed', `Error: ${reason}: ${message}`, fieldPath);
        this.report();
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
        continue;
      }
      log.close();
      const killed = run.probeFailure;
      run.prober = undefined;
      const fallback =
        !killed &&
        !exit.message &&
        exit.exitCode !== 0 &&
        container.terminationMessagePolicy === 'FallbackToLogsOnError'
          ? await this.logTail(container.name, run.restartCount)
          : undefined;
      const terminated = {
        exitCode: exit.exitCode,
        // A container a probe killed ended because of the probe, whatever its exit looked like.
        reason: killed ? 'Error' : exit.reason,
        ...(killed
          ? { message: killed }
          : exit.message
            ? { message: exit.message }
            : fallback
              ? { message: fallback }
              : {}),
        // The API's terminated.signal is the signal's number (drivers report its name).
        ...(signalNumber(exit.signal) !== undefined ? { signal: signalNumber(exit.signal) } : {}),
        startedAt: exit.startedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        finishedAt: exit.finishedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
      run.state = { terminated };
      if (signal.aborted || !restartWanted(exit)) {
        // Reported now, not when the pod's last container ends: a sibling may run for hours (issue 8).
        run.finished = true;
        this.report();
        break;
      }
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
      this.event(
        'Warning',
        'BackOff',
        `Back-off restarting failed container ${container.name} in pod ${this.pod.metadata.name}`,
        fieldPath,
      );
      this.report();
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      if (signal.aborted) {
        run.state = { terminated: { ...terminated } };
      }
    }
    // Every way out of the loop reports what the container ended as (a stop during a back-off too).
    run.finished = true;
    this.report();
  }

  /**
   * The postStart hook, before the container counts as running. A failure kills the container
   * (FailedPostStartHook) and ends this run with the hook's message; restartPolicy decides what follows.
   */
  private async postStart(
    container: any,
    run: ContainerRun,
    driver: Driver,
    sandboxId: string,
    fieldPath: string,
  ): Promise<void> {
    const hook: HookHandler | undefined = container.lifecycle?.postStart;
    if (!hook) return;
    const out = await runHook(hook, this.hookTarget(container, driver, sandboxId), POST_START_TIMEOUT_MS);
    if (out.ok) return;
    run.probeFailure = `PostStartHookError: ${out.message}`;
    this.event('Warning', 'FailedPostStartHook', `PostStartHook failed: ${out.message}`, fieldPath);
    await driver.stop(sandboxId, this.pod.spec.terminationGracePeriodSeconds ?? 30).catch(() => {});
  }

  /**
   * terminationMessagePolicy FallbackToLogsOnError: the end of a failed run's log as its message, at
   * most the last 80 lines and 2048 bytes (the kubelet's bounds).
   */
  private async logTail(container: string, restartCount: number): Promise<string | undefined> {
    const lines: string[] = [];
    try {
      const records = readRecords(containerLogPath(this.podDir, container, restartCount), {
        tailLines: 80,
        follow: false,
        isOpen: () => false,
        stopped: () => false,
      });
      for await (const r of records)
        lines.push(Buffer.from(r.content).toString('utf8') + (r.partial ? '' : '\n'));
    } catch {
      return undefined;
    }
    const text = lines.join('');
    const tail = Buffer.from(text).subarray(-2048).toString('utf8');
    return tail.length ? tail : undefined;
  }

  /** Kubelet-style events for a container that just started. */
  private recordStart(container: any, fieldPath: string): void {
    const image = container.image;
    this.event(
      'Normal',
      'Pulled',
      /^[a-z]+:\/\//.test(image)
        ? `Successfully pulled image "${image}"`
        : `Container image "${image}" already present on machine`,
      fieldPath,
    );
    this.event('Normal', 'Created', `Created container ${container.name}`, fieldPath);
    this.event('Normal', 'Started', `Started container ${container.name}`, fieldPath);
  }

  /**
   * The tier the pod runs in. The API server always sets it; a pod without one gets what the server
   * would have defaulted.
   */
  private runtimeClass(): string {
    const spec = this.pod.spec;
    return spec.runtimeClassName ?? inferRuntimeClass(spec.containers.map((c: Container) => c.image));
  }

  /**
   * Where this pod's probes connect: its IP when its tier puts it on the pod network, else the node's
   * loopback (see probes.ts: wasm guests cannot listen, whatever serves there on their behalf).
   */
  private probeHost(driver: Driver): string {
    if (this.pod.spec.hostNetwork || !joinsPodNetwork(driver)) return '127.0.0.1';
    return this.podIP ?? this.pod.status?.podIP ?? '127.0.0.1';
  }

  private startProbes(
    container: any,
    run: ContainerRun,
    driver: Driver,
    sandboxId: string,
    fieldPath: string,
  ): ContainerProber | undefined {
    if (!container.startupProbe && !container.livenessProbe && !container.readinessProbe) return undefined;
    const target: ProbeTarget = {
      host: this.probeHost(driver),
      ports: container.ports ?? [],
      runtimeClass: this.runtimeClass(),
      exec:
        driver.capabilities.exec && driver.exec
          ? (command: string[]) => driver.exec!(sandboxId, command)
          : undefined,
    };
    const prober = new ContainerProber({
      container,
      target,
      startedAtMs: run.startedAtMs ?? Date.now(),
      ...(this.pod.metadata.annotations?.[FAST_READINESS_ANNOTATION] === 'true'
        ? { fastFirstReadinessMs: FAST_READINESS_INTERVAL_MS }
        : {}),
      callbacks: {
        onChange: () => this.report(),
        onProbeFailure: (kind, message) =>
          this.event('Warning', 'Unhealthy', probeFailureMessage(kind, message), fieldPath),
        onFailed: (kind, message) => {
          if (run.sandboxId !== sandboxId || this.stopping.signal.aborted) return;
          run.probeFailure = message;
          this.event(
            'Normal',
            'Killing',
            `Container ${container.name} failed ${kind} probe, will be restarted`,
            fieldPath,
          );
          void this.stopRun(run, this.pod.spec.terminationGracePeriodSeconds ?? 30);
        },
      },
    });
    prober.start();
    return prober;
  }

  /** Re-adopts a sandbox this pod's container left running across an agent restart, if the driver can. */
  private async adopt(
    driver: Driver,
    container: any,
    run: ContainerRun,
  ): Promise<{ handle: SandboxHandle; startedAt: string; log: RotatingLog } | undefined> {
    if (!driver.capabilities.survivesAgentRestart) return undefined;
    const saved = readHandle(this.podDir, container.name);
    if (!saved) return undefined;
    // Synchronous: rare (an agent's restart), and the driver's recover() follows without a turn between.
    const log = new RotatingLog(containerLogPath(this.podDir, container.name, saved.restartCount));
    const ok = await driver.recover(saved.handle, log).catch(() => false);
    if (!ok) {
      log.close();
      forgetHandle(this.podDir, container.name);
      return undefined;
    }
    run.restartCount = saved.restartCount;
    run.state = { running: { startedAt: saved.startedAt } };
    this.opts.log.info(
      { pod: this.pod.metadata.name, container: container.name, sandbox: saved.handle.id },
      'sandbox re-adopted after agent restart',
    );
    // Its projected service-account tokens lost their rotation with the old agent process.
    void resumeServiceAccountTokens(this.opts.client, this.pod, this.podDir, this.opts.log);
    return { handle: saved.handle, startedAt: saved.startedAt, log };
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string, _fieldPath?: string): void {
    this.opts.events?.event(this.pod, type, reason, message);
  }

  private async sandboxSpec(
    driver: Driver,
    container: any,
    run: ContainerRun,
    timing: StartTiming,
  ): Promise<SandboxSpec> {
    const pod = this.pod;
    const client = this.opts.client;
    const podIP = this.podIP ?? pod.status?.podIP;
    const id = `${pod.metadata.uid}-${container.name}-${run.restartCount}`;
    // What a start needs does not depend on each other, so it is gathered at once rather than one after
    // the other (a cold start waited for their sum): the env (API reads: the Service variables, refs),
    // the volumes (the service-account token request), the image's rootfs (a snapshot mount) and the log.
    const envP = timing.time('prepare', 'env', async () =>
      resolveEnv(client, pod, container, podIP, await podServiceEnv(client, pod)),
    );
    const dirsP = timing.time('prepare', 'volumes', () =>
      prepareVolumes(client, pod, this.podDir, podIP, driver.capabilities.blockVolumes === true),
    );
    const requestP = (async (): Promise<ContainerRequest> => ({
      sandboxId: id,
      container: withPodSecurity(pod.spec, container),
      podSpec: pod.spec,
      podAnnotations: pod.metadata.annotations,
      ...(pod.spec.imagePullSecrets?.length
        ? { registryCredentials: await pullCredentials(client, pod) }
        : {}),
    }))();
    // The tier turns the image reference into what it runs; without that part, the reference goes as it is.
    const artifactP = timing.time('prepare', 'image', async () => {
      if (!preparesArtifacts(driver)) return undefined;
      const artifact = await driver.prepareArtifact(await requestP);
      // Set at once: a failure of another part releases it (superviseContainer's catch).
      run.releaseImage = artifact.release;
      run.imageID = artifact.imageID;
      return artifact;
    });
    const logP = timing.time('prepare', 'log', async () => {
      await pruneOldLogsAsync(this.podDir, container.name, run.restartCount);
      return RotatingLog.open(containerLogPath(this.podDir, container.name, run.restartCount));
    });
    const parts = await Promise.allSettled([envP, dirsP, requestP, artifactP, logP]);
    timing.mark('prepare');
    // The first failure in the order the parts used to run in (the env's before the image's), as before.
    const failed = parts.find((p) => p.status === 'rejected');
    if (failed) {
      if (parts[4].status === 'fulfilled') parts[4].value.close();
      throw failed.reason;
    }
    const [env, dirs, request, artifact, log] = await Promise.all([envP, dirsP, requestP, artifactP, logP]);
    const mounts = mountsFor(pod, container, dirs, env);
    const { ref, digest } = parseImagePin(container.image);
    const limits = container.resources?.limits ?? {};
    const ads = pod.spec.activeDeadlineSeconds;
    return {
      id,
      podUid: pod.metadata.uid,
      podName: pod.metadata.name,
      namespace: pod.metadata.namespace,
      containerName: container.name,
      image: artifact ? artifact.image : ref,
      imageDigest: artifact ? artifact.imageDigest : digest,
      args: artifact?.args ?? [...(container.command ?? [container.name]), ...(container.args ?? [])],
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
      log,
      ...(hasTierOptions(driver) ? { options: driver.tierOptions(request, artifact) } : {}),
    };
  }

  private async releaseImage(run: ContainerRun): Promise<void> {
    // A sandbox re-adopted after an agent restart has no release callback: its tier releases by sandbox id.
    const driver = run.driver ?? this.opts.drivers.get(this.runtimeClass());
    const id = run.sandboxId;
    const adopted = driver && id && preparesArtifacts(driver) ? () => driver.releaseArtifact(id) : undefined;
    const release = run.releaseImage ?? adopted;
    run.releaseImage = undefined;
    await release?.().catch((err) =>
      this.opts.log.warn(
        { pod: this.pod.metadata.name, err: (err as Error).message },
        'releasing the rootfs failed',
      ),
    );
  }

  /**
   * A tier on the pod network: the pod's IP from the sandbox's handle, and the hostPorts of the pod's
   * containers published once a sandbox of the pod runs (the pod's network exists from then on).
   */
  private async joinPodNetwork(driver: Driver, handle: SandboxHandle): Promise<void> {
    if (!joinsPodNetwork(driver)) return;
    if (handle.podIP) this.podIP = handle.podIP;
    if (this.portsPublished) return;
    const ports: HostPortMapping[] = [];
    for (const c of [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers]) {
      for (const p of c.ports ?? []) {
        if (!p.hostPort) continue;
        ports.push({
          containerPort: p.containerPort,
          hostPort: p.hostPort,
          ...(p.hostIP ? { hostIP: p.hostIP } : {}),
          protocol: p.protocol,
        });
      }
    }
    // Once per pod, once it worked: the rules outlive the restarts of its sandboxes.
    await driver.publishHostPorts(this.pod.metadata.uid, ports);
    this.portsPublished = true;
  }

  /**
   * One info line per container start with its step durations (start-timing.ts), once the status write
   * that reports it running is done: "status" is that write's wait and round trip (for a serving
   * revision's pod, also the wait for its first readiness verdict: reportRunning).
   */
  private logStartTiming(container: string, restartCount: number, timing: StartTiming): void {
    void this.reportChain.then(() => {
      timing.mark('status');
      this.opts.log.info(
        {
          pod: this.pod.metadata.name,
          namespace: this.pod.metadata.namespace,
          container,
          restartCount,
          ...timing.fields(),
        },
        START_TIMING_MESSAGE,
      );
    });
  }

  /**
   * Reports a container running; `queued` runs once that report is queued. A pod that asks for fast first
   * readiness (a serving revision's) holds the report up to FIRST_READINESS_HOLD_MS for the first
   * readiness verdict (a readiness change reports at once), so that running and Ready usually go out in
   * one status write instead of two: a request held at zero waits for exactly that write and the
   * EndpointSlice after it, and the endpoints controller is spared the not-ready endpoint's write.
   */
  private reportRunning(container: any, prober: ContainerProber | undefined, queued: () => void): void {
    const probe = container.readinessProbe;
    const quickProbe = probe && (probe.httpGet || probe.tcpSocket);
    if (!quickProbe || !prober?.fastFirstReadinessMs || prober.everReady || this.detached) {
      this.report();
      queued();
      return;
    }
    if (this.heldReport) {
      this.heldReport.queued.push(queued);
      return;
    }
    this.heldReport = {
      timer: setTimeout(() => this.report(), FIRST_READINESS_HOLD_MS).unref(),
      queued: [queued],
    };
  }

  /** Coalesced status writes: at most one in flight, the latest state always written last. */
  private report(): void {
    const held = this.heldReport;
    if (held) {
      // This write carries the held running report too.
      this.heldReport = undefined;
      clearTimeout(held.timer);
    }
    this.reportNow();
    for (const f of held?.queued ?? []) f();
  }

  private reportNow(): void {
    if (this.reportPending || this.detached) return;
    this.reportPending = true;
    this.reportChain = this.reportChain.then(async () => {
      this.reportPending = false;
      if (this.detached) return;
      const status = computePodStatus(
        this.pod,
        [...this.runs.values()],
        this.startTime!,
        this.terminalReason,
        this.podIP,
        { runs: [...this.initRuns.values()], initialized: this.initialized },
        [...this.ephemeralRuns.values()],
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
        const code = (err as { code?: unknown }).code;
        if (code === 404) return; // the pod is gone
        this.opts.log.warn(
          { pod: this.pod.metadata.name, err: (err as Error).message },
          'status update failed',
        );
        // A transient failure (no answer, throttled, a server error) is retried: otherwise the last state
        // change before it would never reach the API (seen as one pod of 2,000 stuck in ContainerCreating).
        if (typeof code !== 'number' || code === 429 || code >= 500)
          setTimeout(() => this.report(), STATUS_RETRY_MS).unref();
      }
    });
  }
}
