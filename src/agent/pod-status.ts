// Derives a pod's status (phase, conditions, containerStatuses) from its containers' runs, following the
// kubelet's rules: Pending until the init containers completed and every container has started; Running
// while any runs or will restart; Succeeded when all ended with 0 for good; Failed when all ended for good
// and one failed, or an init container failed for good. Sidecars (init containers with restartPolicy
// Always) count for readiness, never for the phase.
import type { Driver } from '../sandbox/driver.ts';

export interface ContainerRun {
  name: string;
  image: string;
  restartCount: number;
  state: any;
  lastState: any;
  /** No more runs of this container will happen. */
  finished: boolean;
  sandboxId?: string;
  driver?: Driver;
  /** Settles when the sandbox being prepared and started has its id (or failed to start). */
  launching?: Promise<void>;
  startedAtMs?: number;
  /** Probes of the current run (absent when the container declares none). */
  prober?: { readonly ready: boolean; readonly started: boolean; stop(): void };
  /** Set when a startup or liveness probe killed the current run: the termination message. */
  probeFailure?: string;
  /** Releases the run's container root filesystem (container tier). */
  releaseImage?: () => Promise<void>;
  /** Manifest digest of the image the current run uses (container tier). */
  imageID?: string;
  /** An init container with restartPolicy Always (a native sidecar). */
  sidecar?: boolean;
  /** An ephemeral container whose one run has begun (it never starts twice). */
  launched?: boolean;
  /** The current run's preStop hook has run (it runs once per run, whatever stops it). */
  preStopRan?: boolean;
}

/** The pod's init containers: their runs in spec order, and whether they all completed. */
export interface InitProgress {
  runs: ContainerRun[];
  initialized: boolean;
}

/** Started: running and past its startup probe. Ready: started and passing its readiness probe. */
export function containerReadiness(r: ContainerRun): { started: boolean; ready: boolean } {
  const running = !!r.state.running;
  return {
    started: running && (r.prober ? r.prober.started : true),
    ready: running && (r.prober ? r.prober.ready : true),
  };
}

function condition(type: string, ok: boolean, reason?: string, message?: string): any {
  return {
    type,
    status: ok ? 'True' : 'False',
    lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

export function computePodStatus(
  pod: any,
  runs: ContainerRun[],
  startTime: string,
  terminal?: { reason: string; message: string },
  podIP?: string,
  init: InitProgress = { runs: [], initialized: true },
  ephemeral: ContainerRun[] = [],
): any {
  const everStarted = runs.every((r) => r.state.running || r.state.terminated || r.restartCount > 0);
  // The pod ends once its sidecars are stopped too (they stop after the app containers).
  const allFinished = runs.every((r) => r.finished) && init.runs.every((r) => !r.sidecar || r.finished);
  const anyFailed = runs.some((r) => r.state.terminated && r.state.terminated.exitCode !== 0);
  const initFailed = init.runs.some(
    (r) => !r.sidecar && r.finished && r.state.terminated && r.state.terminated.exitCode !== 0,
  );
  let phase: string;
  if (terminal) phase = allFinished ? 'Failed' : 'Running';
  else if (initFailed && allFinished) phase = 'Failed';
  else if (!init.initialized) phase = 'Pending';
  else if (allFinished) phase = anyFailed ? 'Failed' : 'Succeeded';
  else if (everStarted) phase = 'Running';
  else phase = 'Pending';
  if (terminal && allFinished) phase = 'Failed';

  const statusOf = (r: ContainerRun) => ({
    name: r.name,
    image: r.image,
    imageID: r.imageID ?? '',
    ...containerReadiness(r),
    restartCount: r.restartCount,
    state: r.state,
    lastState: r.lastState ?? {},
  });
  const containerStatuses = runs.map(statusOf);
  // A completed init container is ready (as the kubelet reports it); a sidecar is ready as its probes say.
  const initContainerStatuses = init.runs.map((r) => {
    const s = statusOf(r);
    if (!r.sidecar && r.state.terminated?.exitCode === 0) return { ...s, ready: true };
    return s;
  });
  const sidecarStatuses = initContainerStatuses.filter((_, i) => init.runs[i].sidecar);
  const readiness = [...containerStatuses, ...sidecarStatuses];
  const allReady = readiness.every((c) => c.ready);
  const notReady = readiness.filter((c) => !c.ready).map((c) => c.name);
  const incomplete = init.runs
    .filter((r) => (r.sidecar ? !containerReadiness(r).started : r.state.terminated?.exitCode !== 0))
    .map((r) => r.name);
  const readyMsg = notReady.length ? `containers with unready status: [${notReady.join(' ')}]` : undefined;
  const prev: any[] = pod.status?.conditions ?? [];
  const keep = (c: any): any => {
    const old = prev.find((p) => p.type === c.type);
    return old && old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
  };
  const completed = phase === 'Succeeded' || phase === 'Failed';
  // readinessGates: the pod is Ready only once every gate's condition (set by whoever owns it) is True.
  const gates: string[] = (pod.spec.readinessGates ?? []).map((g: any) => g.conditionType);
  const gatesOpen = gates.filter((t) => !prev.some((c) => c.type === t && c.status === 'True'));
  return {
    phase,
    ...(terminal ? { reason: terminal.reason, message: terminal.message } : {}),
    startTime,
    hostIP: pod.status?.hostIP,
    ...(podIP ? { podIP } : {}),
    conditions: [
      keep(condition('PodScheduled', true)),
      keep(
        init.initialized
          ? condition('Initialized', true)
          : condition(
              'Initialized',
              false,
              'ContainersNotInitialized',
              `containers with incomplete status: [${incomplete.join(' ')}]`,
            ),
      ),
      keep(
        condition(
          'ContainersReady',
          allReady,
          completed ? 'PodCompleted' : allReady ? undefined : 'ContainersNotReady',
          completed ? undefined : readyMsg,
        ),
      ),
      keep(
        allReady && gatesOpen.length && !completed
          ? condition(
              'Ready',
              false,
              'ReadinessGatesNotReady',
              `corresponding condition of pod readiness gate "${gatesOpen[0]}" does not exist.`,
            )
          : condition(
              'Ready',
              allReady,
              completed ? 'PodCompleted' : allReady ? undefined : 'ContainersNotReady',
              completed ? undefined : readyMsg,
            ),
      ),
      // The gates' own conditions belong to their owners: kept as they are.
      ...prev.filter((c) => gates.includes(c.type)),
    ],
    ...(init.runs.length ? { initContainerStatuses } : {}),
    containerStatuses,
    // Ephemeral containers count for neither the phase nor readiness (Kubernetes' rule).
    ...(ephemeral.length
      ? {
          ephemeralContainerStatuses: ephemeral.map((r) => ({
            ...statusOf(r),
            ready: false,
            started: !!r.state.running,
          })),
        }
      : {}),
  };
}
