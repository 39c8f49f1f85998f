// The one interface every isolation tier implements (wasm, container, microvm).
//
// Modelled on Nomad's DriverPlugin (Fingerprint / StartTask / WaitTask / StopTask / DestroyTask /
// TaskStats / ExecTask / RecoverTask, with an explicit Capabilities struct) and on containerd's sandbox
// Controller (Create/Start/Wait/Stop/Shutdown). The agent supervises every sandbox through this interface
// only: it never asks which tier it holds.
//
// Optional parts are separate interfaces behind capability flags, as Nomad's ExecTaskStreamingDriver and
// DriverNetworkManager are: InteractiveExecDriver, PodNetworkDriver, ArtifactDriver, TierOptionsDriver,
// AttachDriver.
// The agent tests the flag through the type guards at the end of this file (never instanceof, never a
// method's presence, never a tier name); a tier that sets a flag implements the interface.
//
// A sandbox here is one running process image of one container of a pod. Restarts create a new sandbox.
import type { Readable, Writable } from 'node:stream';
import type { Container, PodSpec } from '../api/index.ts';

/** What a driver reports about this machine. A tier that is not usable says so and is not advertised. */
export interface Fingerprint {
  /** The runtimeClassName this driver serves, e.g. 'wasm'. */
  runtimeClass: string;
  healthy: boolean;
  /** Human-readable reason when unhealthy (e.g. "runc not found in PATH"). */
  reason?: string;
  /** Driver-specific facts for Node status (versions, limits). */
  attributes: Record<string, string>;
  /**
   * How many sandboxes the tier holds on this node at most, when it knows a ceiling of its own (wasm: V8's
   * instance ceiling). The node's pod capacity takes the largest one into account.
   */
  maxSandboxes?: number;
}

export interface Capabilities {
  /** exec() is implemented. */
  exec: boolean;
  /** Sandboxes outlive the agent process and recover() re-adopts them. */
  survivesAgentRestart: boolean;
  /** stop() delivers a signal the guest can handle before the grace period ends. */
  gracefulStop: boolean;
  /** stats() returns real measurements. */
  stats: boolean;
  /** Memory limit is enforced as a hard cap. */
  memoryLimit: boolean;
  /** execInteractive() streams a command's stdio, with a terminal on request: InteractiveExecDriver. */
  interactiveExec: boolean;
  /**
   * Sandboxes join their pod's network: start() returns the pod's IP in the handle, and the pod's
   * hostPorts and network are published and released through PodNetworkDriver.
   */
  podNetwork: boolean;
  /** prepareArtifact() turns a container's image reference into what start() runs: ArtifactDriver. */
  artifacts: boolean;
  /** tierOptions() reads the tier's own settings off the pod's container: TierOptionsDriver. */
  tierOptions: boolean;
  /**
   * attach() reaches a running sandbox's own stdin (the pod's `stdin: true`, on a terminal with `tty`):
   * AttachDriver. Optional: a tier without it has no attachable stdin.
   */
  attach?: boolean;
  /**
   * Mounts that carry a `blockImage` (a local persistent volume's ext4 image) are attached by the tier as
   * disks, so the node must not loop-mount those volumes (one filesystem is never mounted twice).
   */
  blockVolumes?: boolean;
}

export interface VolumeMount {
  /** Host directory materialised by the agent (configMap, secret, emptyDir). */
  hostPath: string;
  /** Path the guest sees. */
  guestPath: string;
  readOnly: boolean;
  /**
   * A local persistent volume's ext4 image file (src/agent/volumes/): `hostPath` is where the node has it
   * loop-mounted; a tier that attaches disks (microvm, virtio-blk) uses the image instead — never both at once.
   */
  blockImage?: string;
}

/**
 * What start() runs. `O` is the tier's own options type (typed tier options): a tier that has them
 * declares `Driver<O>` and receives `options` typed, as its tierOptions() made them.
 */
export interface SandboxSpec<O extends object = object> {
  /** Unique id chosen by the agent: `${podUid}-${container}-${restartCount}`. */
  id: string;
  podUid: string;
  podName: string;
  namespace: string;
  containerName: string;
  /** Where the driver finds the artifact: a local path or a resolved reference (see the tier's docs). */
  image: string;
  /** Optional `sha256:<hex>` the artifact must match; a mismatch fails start(). */
  imageDigest?: string;
  /**
   * argv[0..]: by default the container's `command` (or its name) followed by its `args`; a tier whose
   * images carry their own entrypoint replaces it (prepareArtifact). For wasm argv[0] is the module name.
   */
  args: string[];
  env: Record<string, string>;
  /** Bytes fed to the guest's stdin (never a host pipe). */
  stdin?: Uint8Array;
  workingDir?: string;
  mounts: VolumeMount[];
  limits: {
    /** Bytes; undefined = unlimited. */
    memoryBytes?: number;
    /** CPU cores (1 = one core); a rate for containers, a CPU-time budget hint for wasm. */
    cpu?: number;
    /** Wall-clock deadline for the sandbox in seconds (activeDeadlineSeconds remaining). */
    deadlineSeconds?: number;
  };
  /** Where stdout/stderr go: the agent's per-container log sink. */
  log: LogSink;
  /** The tier's own settings (TierOptionsDriver.tierOptions()); absent for tiers without any. */
  options?: O;
}

/** Receives the guest's output. The agent's implementation writes rotating log files. */
export interface LogSink {
  write(stream: 'stdout' | 'stderr', chunk: Uint8Array): void;
}

/**
 * What start() gives back: the sandbox's id, what the agent needs to know about it, and opaque `state`
 * that lets recover() re-adopt it after an agent restart. JSON-serialisable (the agent saves it).
 */
export interface SandboxHandle {
  id: string;
  driver: string;
  /** The pod's address on the pod network (tiers with `podNetwork`): reported as the pod's IP, probed. */
  podIP?: string;
  state: Record<string, unknown>;
}

export interface ExitResult {
  exitCode: number;
  /** Kubernetes-style reason: 'Completed', 'Error', 'OOMKilled', 'DeadlineExceeded', 'Killed', 'StartError'. */
  reason: string;
  /** Human-readable detail, e.g. "linear memory reached its 16 MiB limit". */
  message?: string;
  /** Signal name when killed by one. */
  signal?: string;
  startedAt: Date;
  finishedAt: Date;
}

export interface SandboxStats {
  /** Cumulative CPU time in nanoseconds. */
  cpuNanos: number;
  memoryBytes: number;
  timestamp: Date;
  // Optional figures a tier reports when it can measure them (the metrics names in src/metrics/README.md).
  /** CFS periods elapsed and throttled, and the time throttled (ns), for sandboxes with a CPU quota. */
  cpuCfsPeriods?: number;
  cpuCfsThrottledPeriods?: number;
  cpuCfsThrottledNanos?: number;
  /** Anonymous resident memory (cAdvisor's rss). */
  memoryRssBytes?: number;
  /** The limit the tier enforces, bytes. */
  memoryLimitBytes?: number;
  /** Cumulative block I/O of the sandbox. */
  fsReadBytes?: number;
  fsWriteBytes?: number;
  /** Cumulative bytes through the network namespace the sandbox runs in (loopback excluded). */
  networkRxBytes?: number;
  networkTxBytes?: number;
  /** Cumulative pressure stall time ("some", µs) of the sandbox's own cgroup (cgroup v2 PSI). */
  pressureStallMicros?: { cpu?: number; memory?: number; io?: number };
}

export interface ExecResult {
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
}

export class SandboxError extends Error {
  /** Kubernetes-style waiting reason, e.g. 'ErrImagePull', 'CreateContainerError', 'InvalidImageDigest'. */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'SandboxError';
    this.reason = reason;
  }
}

export interface Driver<O extends object = object> {
  readonly name: string;
  readonly capabilities: Capabilities;
  fingerprint(): Promise<Fingerprint>;
  /** Start the sandbox; resolves once the guest is running (or rejects with SandboxError). */
  start(spec: SandboxSpec<O>): Promise<SandboxHandle>;
  /** Resolves once the sandbox has exited, with its exit result. Safe to call more than once. */
  wait(id: string): Promise<ExitResult>;
  /** Ask the guest to stop; force it after graceSeconds. Resolves when it has exited. */
  stop(id: string, graceSeconds: number): Promise<void>;
  /** Release every resource of an exited (or stopped) sandbox. Idempotent. */
  destroy(id: string): Promise<void>;
  stats(id: string): Promise<SandboxStats>;
  exec?(id: string, cmd: string[]): Promise<ExecResult>;
  /** Re-adopt a sandbox after the agent restarted; false if it is gone. */
  recover(handle: SandboxHandle, log: LogSink): Promise<boolean>;
  /** Stop everything and release pools (agent shutdown). Sandboxes that survive restarts are left running. */
  shutdown(): Promise<void>;
}

// --- optional parts ----------------------------------------------------------------------------

export interface InteractiveOptions {
  /** Allocate a pseudo-terminal in the sandbox (`strata exec -t`). */
  tty: boolean;
  /** 'inherit': the agent's own stdio (a CLI run in a terminal); 'pipe': streams for a remote client. */
  stdio: 'inherit' | 'pipe';
  /** Terminal size with tty and 'pipe' (default 80x24). */
  cols?: number;
  rows?: number;
}

/** A command started with streamed stdio in a running sandbox. */
export interface InteractiveExec {
  /** With stdio 'pipe': write the user's input here, end() it to send EOF. Null with 'inherit'. */
  stdin: Writable | null;
  stdout: Readable | null;
  /** With tty, stderr is merged into the terminal (stdout). */
  stderr: Readable | null;
  pid: number | undefined;
  /** The command's exit code (128+N when a signal ended it). */
  exited: Promise<number>;
  /** Signals the command. */
  kill(signal?: NodeJS.Signals): void;
  /** Changes the terminal's size (with a terminal; a no-op otherwise). */
  resize(cols: number, rows: number): Promise<void>;
}

/** `capabilities.interactiveExec`: `strata exec -i/-t` (Nomad's ExecTaskStreamingDriver). */
export interface InteractiveExecDriver<O extends object = object> extends Driver<O> {
  execInteractive(id: string, cmd: string[], opts: InteractiveOptions): Promise<InteractiveExec>;
}

/** What attach() connects to. */
export interface AttachOptions {
  /** Pass input to the sandbox's stdin (refused with NotSupported when it was started without one). */
  stdin: boolean;
  /** The client's terminal size, applied at once when the sandbox runs on a terminal. */
  cols?: number;
  rows?: number;
}

/** A client attached to a sandbox's own stdio. */
export interface AttachedStdio {
  /**
   * The sandbox's stdin (null without `stdin`). end() detaches the input: a `stdinOnce` sandbox then
   * reads EOF, another keeps its stdin open for the next client.
   */
  stdin: Writable | null;
  /** Output from the moment of attaching; with a terminal, everything. Ends when the sandbox's output does. */
  stdout: Readable;
  /** Null on a terminal (merged into stdout). */
  stderr: Readable | null;
  /** Changes the terminal's size (a no-op without a terminal). */
  resize(cols: number, rows: number): Promise<void>;
  /** Detaches (the sandbox keeps running; a `stdinOnce` one loses its stdin). */
  close(): void;
  /** Resolves once detached, or when the sandbox's output ended (it exited). */
  closed: Promise<void>;
}

/**
 * `capabilities.attach`: `kubectl attach -i`, `kubectl run -it`, `strata run -i`. The tier starts a
 * sandbox whose pod container says `stdin: true` with its stdin held open (and on a pseudo-terminal with
 * `tty: true`), reading both off the pod's container itself; attach() connects a client to it.
 */
export interface AttachDriver<O extends object = object> extends Driver<O> {
  attach(id: string, opts: AttachOptions): Promise<AttachedStdio>;
}

/** A container port published on the node (the pod spec's `ports[].hostPort`). */
export interface HostPortMapping {
  containerPort: number;
  hostPort: number;
  /** Only this node address (default: every node address, loopback included). */
  hostIP?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/**
 * `capabilities.podNetwork`: the tier puts its sandboxes on the node's pod network (Nomad's
 * DriverNetworkManager). start() creates the pod's network on first use and returns the pod IP in
 * the handle; the agent publishes the pod's hostPorts once a sandbox of the pod runs, and releases the
 * pod's network when the pod is gone.
 */
export interface PodNetworkDriver<O extends object = object> extends Driver<O> {
  /** Publishes the pod's hostPorts on the node. Idempotent; fails when another pod holds a port. */
  publishHostPorts(podUid: string, ports: HostPortMapping[]): Promise<void>;
  /** Tears the pod's network down once no sandbox of the pod is left. Idempotent. */
  releasePod(podUid: string): Promise<void>;
  /** At agent start: removes what is left of the networks of pods not in `livePodUids` (after a crash). */
  reconcilePods(livePodUids: string[]): Promise<void>;
}

// --- HTTP handlers served by the node on a tier's behalf ---------------------------------------------

/** One HTTP request for a sandbox that serves HTTP in-process (a wasm handler: no sockets of its own). */
export interface HttpHandlerRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  /** Lower-case names; repeated headers joined as Node joins them. */
  headers: Record<string, string>;
  body: Uint8Array;
  /** The client's address and the address:port the request came to. */
  remoteAddress: string;
  localAddress: string;
  localPort: number;
}

export interface HttpHandlerResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

/** Answers one request; rejects only when the handler could not run at all (the host answers 502/503). */
export type HttpHandler = (req: HttpHandlerRequest) => Promise<HttpHandlerResponse>;

/**
 * What a tier whose sandboxes serve HTTP in-process needs from the node: an address on the pod network
 * for the pod, and listeners there that call the handler (http-handlers.ts, on the node's pod network).
 * The pod's address is an ordinary pod IP, so Services, cluster DNS, NodePorts and the gateway reach a
 * handler like any other endpoint.
 */
export interface HttpHandlerHost {
  /** Serves `ports` of the pod with `handle`; the pod's address is made on first use. */
  serve(
    podUid: string,
    ports: number[],
    handle: HttpHandler,
  ): Promise<{ ip: string; close(): Promise<void> }>;
  /** Publishes a hostPort of the pod on the node (as container pods' hostPorts are). */
  publish(podUid: string, port: HostPortMapping): Promise<void>;
  /** Closes the pod's listeners and releases its address. Idempotent. */
  release(podUid: string): Promise<void>;
  /** At agent start: releases the addresses of pods not in `livePodUids`. */
  reconcile(livePodUids: string[]): Promise<void>;
}

/** A container of a pod, as the agent hands it to a tier's optional steps. */
export interface ContainerRequest {
  /** The id start() will get (SandboxSpec.id). */
  sandboxId: string;
  /** The container as the pod declares it: image, imagePullPolicy, command, args, securityContext, … */
  container: Container;
  /** Its pod's spec, for pod-level settings a tier applies (hostname, hostAliases, sysctls, …). */
  podSpec?: PodSpec;
  /** Its pod's annotations, for tier settings that have no field (e.g. `strata.dev/wasm-http: wagi`). */
  podAnnotations?: Record<string, string>;
  /** Registry credentials by registry host, from the pod's imagePullSecrets (docker config JSON). */
  registryCredentials?: Record<string, { username: string; password: string }>;
}

/** What prepareArtifact() made ready for one sandbox. */
export interface PreparedArtifact<O extends object = object> {
  /** SandboxSpec.image: what start() runs (a module path, a root filesystem, …). */
  image: string;
  /** SandboxSpec.imageDigest: a digest start() must verify (absent when preparing verified it). */
  imageDigest?: string;
  /** SandboxSpec.args when the image decides them (entrypoint and cmd under command/args rules). */
  args?: string[];
  /** Settings the image implies, handed to tierOptions() (e.g. the image's configuration). */
  options?: Partial<O>;
  /** The image's content digest, reported as the container's imageID. */
  imageID?: string;
  /** Releases what was made for this sandbox (e.g. its root filesystem snapshot). Idempotent. */
  release?(): Promise<void>;
}

/**
 * `capabilities.artifacts`: the tier resolves a container's image reference itself, from the node's image
 * store or wherever its artifacts come from (pull policy, digest pins, snapshots).
 */
export interface ArtifactDriver<O extends object = object> extends Driver<O> {
  /** Rejects with a SandboxError (ErrImagePull, ErrImageNeverPull, InvalidImageDigest, …). */
  prepareArtifact(request: ContainerRequest): Promise<PreparedArtifact<O>>;
  /**
   * Releases what prepareArtifact() made for a sandbox whose release() was lost with an agent restart
   * (a re-adopted sandbox). Idempotent.
   */
  releaseArtifact(sandboxId: string): Promise<void>;
}

/** `capabilities.tierOptions`: the tier's typed settings, read off the pod's container (SandboxSpec.options). */
export interface TierOptionsDriver<O extends object = object> extends Driver<O> {
  tierOptions(request: ContainerRequest, artifact: PreparedArtifact<O> | undefined): O;
}

export function canExecInteractive(d: Driver): d is InteractiveExecDriver {
  return d.capabilities.interactiveExec;
}

export function canAttach(d: Driver): d is AttachDriver {
  return d.capabilities.attach === true;
}

export function joinsPodNetwork(d: Driver): d is PodNetworkDriver {
  return d.capabilities.podNetwork;
}

export function preparesArtifacts(d: Driver): d is ArtifactDriver {
  return d.capabilities.artifacts;
}

export function hasTierOptions(d: Driver): d is TierOptionsDriver {
  return d.capabilities.tierOptions;
}
