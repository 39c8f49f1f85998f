// The one interface every isolation tier implements (wasm, container, microvm).
//
// Modelled on Nomad's DriverPlugin (Fingerprint / StartTask / WaitTask / StopTask / DestroyTask /
// TaskStats / ExecTask / RecoverTask, with an explicit Capabilities struct) and on containerd's sandbox
// Controller (Create/Start/Wait/Stop/Shutdown). The agent supervises every sandbox through this interface
// only: it never asks which tier it holds (capabilities are flags, never instanceof checks).
//
// A sandbox here is one running process image of one container of a pod. Restarts create a new sandbox.

/** What a driver reports about this machine. A tier that is not usable says so and is not advertised. */
export interface Fingerprint {
  /** The runtimeClassName this driver serves, e.g. 'wasm'. */
  runtimeClass: string;
  healthy: boolean;
  /** Human-readable reason when unhealthy (e.g. "runc not found in PATH"). */
  reason?: string;
  /** Driver-specific facts for Node status (versions, limits). */
  attributes: Record<string, string>;
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
}

export interface VolumeMount {
  /** Host directory materialised by the agent (configMap, secret, emptyDir). */
  hostPath: string;
  /** Path the guest sees. */
  guestPath: string;
  readOnly: boolean;
}

export interface SandboxSpec {
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
  /** argv[0..]; for wasm the module name is argv[0]. */
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
}

/** Receives the guest's output. The agent's implementation writes rotating log files. */
export interface LogSink {
  write(stream: 'stdout' | 'stderr', chunk: Uint8Array): void;
}

/** Opaque state that lets recover() re-adopt a sandbox after an agent restart. JSON-serialisable. */
export interface SandboxHandle {
  id: string;
  driver: string;
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

export interface Driver {
  readonly name: string;
  readonly capabilities: Capabilities;
  fingerprint(): Promise<Fingerprint>;
  /** Start the sandbox; resolves once the guest is running (or rejects with SandboxError). */
  start(spec: SandboxSpec): Promise<SandboxHandle>;
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
