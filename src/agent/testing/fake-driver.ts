// A scriptable in-memory Driver for the agent's tests: sandboxes "run" until stopped or told to exit.
// The optional parts of the contract are there too, each behind its capability flag (off by default),
// recording what the agent asked of them.
import type {
  ArtifactDriver,
  Capabilities,
  ContainerRequest,
  ExecResult,
  ExitResult,
  Fingerprint,
  HostPortMapping,
  InteractiveExec,
  InteractiveExecDriver,
  LogSink,
  PodNetworkDriver,
  PreparedArtifact,
  SandboxHandle,
  SandboxSpec,
  SandboxStats,
  TierOptionsDriver,
} from '../../sandbox/driver.ts';
import { SandboxError } from '../../sandbox/driver.ts';

interface FakeSandbox {
  spec?: SandboxSpec;
  startedAt: Date;
  exit: Promise<ExitResult>;
  end: (r: { exitCode: number; reason: string; signal?: string }) => void;
}

/** The options of the fake tier (typed tier options). */
export interface FakeOptions {
  fromImage?: string;
  fromPod?: string;
}

export class FakeDriver
  implements
    InteractiveExecDriver<FakeOptions>,
    PodNetworkDriver<FakeOptions>,
    ArtifactDriver<FakeOptions>,
    TierOptionsDriver<FakeOptions>
{
  readonly name: string;
  readonly capabilities: Capabilities;
  runtimeClass: string;
  healthy = true;
  /** Reported as the fingerprint's maxSandboxes (the tier's own ceiling), when set. */
  maxSandboxes?: number;
  /** How long stop() takes before the sandbox exits (a graceful stop that takes its time). */
  stopDelayMs = 0;
  /** Next start() fails with this (waiting reason, message). */
  failStart?: { reason: string; message: string };
  readonly started: SandboxSpec<FakeOptions>[] = [];
  readonly stopped: string[] = [];
  readonly recovered: string[] = [];
  /** Sandboxes alive "outside the agent" (what recover() can re-adopt). */
  readonly alive = new Map<string, FakeSandbox>();
  execResult: ExecResult = { exitCode: 0, stdout: new Uint8Array(), stderr: new Uint8Array() };
  /** podNetwork: the IP start() hands back, what was published, the pods released or reconciled. */
  podIP = '10.0.0.7';
  readonly published: Array<{ podUid: string; ports: HostPortMapping[] }> = [];
  readonly releasedPods: string[] = [];
  readonly reconciled: string[][] = [];
  /** artifacts: what was prepared, and the sandboxes whose artifact was released. */
  readonly prepared: ContainerRequest[] = [];
  readonly releasedArtifacts: string[] = [];

  constructor(opts: { name?: string; runtimeClass?: string; capabilities?: Partial<Capabilities> } = {}) {
    this.name = opts.name ?? 'fake';
    this.runtimeClass = opts.runtimeClass ?? 'fake';
    this.capabilities = {
      exec: false,
      survivesAgentRestart: false,
      gracefulStop: true,
      stats: false,
      memoryLimit: false,
      interactiveExec: false,
      podNetwork: false,
      artifacts: false,
      tierOptions: false,
      ...opts.capabilities,
    };
  }

  async fingerprint(): Promise<Fingerprint> {
    return this.healthy
      ? { runtimeClass: this.runtimeClass, healthy: true, attributes: {}, maxSandboxes: this.maxSandboxes }
      : { runtimeClass: this.runtimeClass, healthy: false, reason: 'fake runtime is broken', attributes: {} };
  }

  private sandbox(spec?: SandboxSpec): FakeSandbox {
    let end!: FakeSandbox['end'];
    const startedAt = new Date();
    const exit = new Promise<ExitResult>((resolve) => {
      end = (r) => resolve({ ...r, startedAt, finishedAt: new Date() });
    });
    return { spec, startedAt, exit, end };
  }

  async start(spec: SandboxSpec<FakeOptions>): Promise<SandboxHandle> {
    if (this.failStart) throw new SandboxError(this.failStart.reason, this.failStart.message);
    this.started.push(spec);
    this.alive.set(spec.id, this.sandbox(spec));
    return {
      id: spec.id,
      driver: this.name,
      ...(this.capabilities.podNetwork ? { podIP: this.podIP } : {}),
      state: { pod: spec.podName },
    };
  }

  /** Make a running sandbox exit by itself. */
  exit(id: string, exitCode: number): void {
    this.alive.get(id)?.end({ exitCode, reason: exitCode === 0 ? 'Completed' : 'Error' });
  }

  /** The id of the latest sandbox started for a container. */
  latest(container: string): string | undefined {
    return [...this.started].reverse().find((s) => s.containerName === container)?.id;
  }

  async wait(id: string): Promise<ExitResult> {
    const s = this.alive.get(id);
    if (!s) throw new SandboxError('NotFound', `no sandbox ${id}`);
    return s.exit;
  }

  async stop(id: string): Promise<void> {
    this.stopped.push(id);
    if (this.stopDelayMs) await new Promise((r) => setTimeout(r, this.stopDelayMs));
    this.alive.get(id)?.end({ exitCode: 143, reason: 'Killed', signal: 'SIGTERM' });
  }

  async destroy(id: string): Promise<void> {
    this.alive.delete(id);
  }

  async stats(): Promise<SandboxStats> {
    return { cpuNanos: 0, memoryBytes: 0, timestamp: new Date() };
  }

  async exec(): Promise<ExecResult> {
    return this.execResult;
  }

  async execInteractive(): Promise<InteractiveExec> {
    throw new SandboxError('NotSupported', 'the fake tier has no interactive exec');
  }

  async publishHostPorts(podUid: string, ports: HostPortMapping[]): Promise<void> {
    this.published.push({ podUid, ports });
  }

  async releasePod(podUid: string): Promise<void> {
    this.releasedPods.push(podUid);
  }

  async reconcilePods(livePodUids: string[]): Promise<void> {
    this.reconciled.push(livePodUids);
  }

  /** `fake://<image>`, argv from the image (`<image>-entrypoint`), an imageID, an option from the image. */
  async prepareArtifact(request: ContainerRequest): Promise<PreparedArtifact<FakeOptions>> {
    this.prepared.push(request);
    const image = request.container.image;
    return {
      image: `fake://${image}`,
      args: [`${image}-entrypoint`, ...(request.container.args ?? [])],
      imageID: `fake-id:${image}`,
      options: { fromImage: image },
      release: async () => void this.releasedArtifacts.push(request.sandboxId),
    };
  }

  async releaseArtifact(sandboxId: string): Promise<void> {
    this.releasedArtifacts.push(sandboxId);
  }

  tierOptions(request: ContainerRequest, artifact: PreparedArtifact<FakeOptions> | undefined): FakeOptions {
    return { ...artifact?.options, fromPod: request.container.name };
  }

  async recover(handle: SandboxHandle, _log: LogSink): Promise<boolean> {
    if (!this.capabilities.survivesAgentRestart || !this.alive.has(handle.id)) return false;
    this.recovered.push(handle.id);
    return true;
  }

  async shutdown(): Promise<void> {
    if (this.capabilities.survivesAgentRestart) return;
    for (const id of this.alive.keys()) await this.stop(id);
  }

  /** A driver process restart: sandboxes that survive keep their state, waits are re-created. */
  restarted(): void {
    for (const [id, s] of this.alive) {
      const fresh = this.sandbox(s.spec);
      this.alive.set(id, fresh);
    }
  }
}
