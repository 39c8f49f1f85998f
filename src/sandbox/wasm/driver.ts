// The wasm tier: runs WASI preview1 command modules, many guests per worker thread.
//
// start() resolves the module (module-source), compiles it once per content hash and memory cap with
// preemption points (module-cache, memory-cap, preempt), checks the mounts (mounts), and hands the run
// to a worker (pool, worker) through the worker's shared control block (control, log-ring). A guest
// that waits is suspended (JSPI) and its thread runs other guests. A stop takes effect at the guest's
// next host call (host-imports, poll); a forced stop at its next preemption point, or, for a module
// that has none and so runs on a thread of its own, by interrupting the thread (interrupt); the worker
// is terminated as a last resort. See exit-result.ts for how each end is
// reported, and cpu-throttle.ts for what limits.cpu does. Of the contract's optional parts it has
// artifacts (artifact.ts: paths, URLs and OCI wasm artifacts from the node's image store), tier options
// (a container's declared ports) and, with an HttpHandlerHost, the pod network: a container that declares
// ports is an HTTP handler (http-handler.ts) — its pod gets an address and every request runs a fresh
// instance, WAGI-style.

import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ImageStore } from '../../image/index.ts';
import {
  SandboxError,
  type ArtifactDriver,
  type Capabilities,
  type ContainerRequest,
  type ExitResult,
  type Fingerprint,
  type HostPortMapping,
  type HttpHandlerHost,
  type LogSink,
  type PodNetworkDriver,
  type PreparedArtifact,
  type SandboxHandle,
  type SandboxSpec,
  type SandboxStats,
  type TierOptionsDriver,
} from '../driver.ts';
import { WasmHttpHandler, type GuestRunner } from './http-handler.ts';
import { ComponentSandboxes, componentOptions, type ComponentOptions } from './component-sandbox.ts';
import { prepareWasmModule } from './artifact.ts';
import { sandboxCeiling } from './capacity.ts';
import { fdExhaustionMessage, openFileLimit, wasmFdBudget } from './fd-budget.ts';
import {
  CPU_SINCE_US_F64,
  CPU_USED_US_F64,
  MEMORY_PAGES,
  STOP,
  StopLevel,
  slotViews,
  type SlotViews,
} from './control.ts';
import { describeExit, type FinalOutcome } from './exit-result.ts';
import { WorkerInterrupter } from './interrupt.ts';
import { PAGE_BYTES } from './memory-cap.ts';
import { ModuleCache, type CompiledModule } from './module-cache.ts';
import { ModuleSource } from './module-source.ts';
import { prepareMounts } from './mounts.ts';
import type { PreopenSpec } from './fs-guard.ts';
import { WorkerPool, type Placement, type PooledWorker } from './pool.ts';
import { touchModule, type FromWorker } from './protocol.ts';
import { hasJspi } from './webassembly.ts';

export interface WasmDriverOptions {
  /** Downloaded modules and temporary stdin files live here. */
  cacheDir: string;
  /** Idle workers kept warm (default 2). */
  poolSize?: number;
  /** Most worker threads (default 128). */
  maxWorkers?: number;
  /** Guests one worker thread runs at once (default 500); 1 = a thread per guest. */
  guestsPerWorker?: number;
  /**
   * Most wasm sandboxes running at once (default: what threads, V8's address space and the open-file
   * limit allow, see capacity.ts).
   */
  maxSandboxes?: number;
  /** Host descriptors all guests may hold (default: RLIMIT_NOFILE less a reserve, fd-budget.ts). */
  fdBudget?: number;
  /** Guests a worker takes before it is replaced (default 10,000 for a dedicated worker, 100,000 shared). */
  maxRunsPerWorker?: number;
  /** Largest module accepted (default 256 MiB). */
  maxModuleBytes?: number;
  /** The node's image store, for images that are OCI references to wasm artifacts. */
  images?: ImageStore;
  /** Relative module paths in a container's `image` resolve against this directory (default: cwd). */
  workDir?: string;
  /**
   * Where HTTP handlers (containers that declare ports) are served: the node's listeners on its pod
   * network, made on first use. Without it such containers are refused.
   */
  httpHandlers?: () => HttpHandlerHost;
  /** A handler request's instance is ended after this long (504); default 60 s. */
  handlerRequestTimeoutSeconds?: number;
}

/**
 * The pod annotation that makes its wasm containers HTTP handlers, served on their declared ports with
 * the interface it names: `wagi` (CGI for WASI: request in the environment and stdin, response on stdout).
 */
export const WASM_HTTP_ANNOTATION = 'strata.dev/wasm-http';

/** The wasm tier's own settings, read off the pod's container (tierOptions). */
export interface WasmOptions extends ComponentOptions {
  /** TCP ports the container declares: it is an HTTP handler served on them. */
  httpPorts?: number[];
}

/** Even with a zero grace period a stop waits this long for the guest's next host call, so that a
 * guest asleep in poll_oneoff ends cleanly instead of being interrupted. */
const MIN_STOP_WINDOW_MS = 100;
/** How long a forced guest gets to unwind (or its interrupted worker to confirm) before the worker is terminated. */
const REAP_TIMEOUT_MS = 1000;
const DEFAULT_GUESTS_PER_WORKER = 500;
let guestSeq = 0;
/** Log latency bound for a guest that writes and then computes without calling the host. */
const DRAIN_INTERVAL_MS = 50;

/** What a handler's instances share: the module and the pod's checked volumes. */
interface Prepared {
  compiled: CompiledModule;
  preopens: PreopenSpec[];
}

interface Sandbox {
  spec: SandboxSpec;
  compiled: CompiledModule;
  /** Its id in the worker's messages and log records. */
  guest: number;
  place: Placement;
  pw: PooledWorker;
  slot: SlotViews;
  startedAt: Date;
  running: boolean;
  stdinFd: number | null;
  exited: Promise<ExitResult>;
  resolveExit: (r: ExitResult) => void;
  result?: ExitResult;
  finalCpuNanos: number;
  finalMemoryBytes: number;
  stopCause?: 'stop' | 'deadline';
  forcing: boolean;
  timers: NodeJS.Timeout[];
  markStarted: () => void;
}

export class WasmDriver
  implements ArtifactDriver<WasmOptions>, TierOptionsDriver<WasmOptions>, PodNetworkDriver<WasmOptions>
{
  readonly name = 'wasm';
  readonly capabilities: Capabilities;
  private static baseCapabilities: Capabilities = {
    exec: false,
    survivesAgentRestart: false,
    // A wasm guest has no signal handlers: a stop ends it at its next host call, it cannot react.
    gracefulStop: false,
    stats: true,
    memoryLimit: true,
    interactiveExec: false,
    // WASI preview1 has no sockets; HTTP handlers (with an HttpHandlerHost) are served on the pod network.
    podNetwork: false,
    artifacts: true,
    tierOptions: true,
  };
  /** Compiled modules; `cache.compiles` counts real compilations. */
  readonly cache: ModuleCache;
  /** Forced stops that had to terminate the worker thread (its host descriptors may have leaked). */
  terminatedWorkers = 0;

  private readonly cacheDir: string;
  private readonly images: ImageStore | undefined;
  private readonly workDir: string;
  private readonly source: ModuleSource;
  private readonly pool: WorkerPool;
  private readonly maxWorkers: number;
  private readonly guestsPerWorker: number;
  private readonly maxSandboxes: number;
  /** Host descriptors all guests may hold at once (their preopened volumes and stdin files). */
  private readonly fdBudget: number;
  private readonly interrupter = new WorkerInterrupter();
  private readonly sandboxes = new Map<string, Sandbox>();
  /** Running sandboxes by guest id, to deliver log records to. */
  private readonly byGuest = new Map<number, Sandbox>();
  /** start() calls in progress, by sandbox id. */
  private readonly starting = new Map<string, Promise<SandboxHandle>>();
  private drainTimer: NodeJS.Timeout | undefined;
  private probed: Promise<void> | undefined;
  private readonly httpHandlers: (() => HttpHandlerHost) | undefined;
  private handlerHost: HttpHandlerHost | undefined;
  private readonly handlerRequestTimeoutSeconds: number | undefined;
  /** Resident HTTP handlers by sandbox id. */
  private readonly handlers = new Map<string, WasmHttpHandler>();
  /** The module each handler runs (its workers keep spare instances of it while any handler does). */
  private readonly handlerModules = new Map<string, string>();
  /** Pods this driver gave an address (released with the pod). */
  private readonly servedPods = new Set<string>();
  /** WASI 0.2 components (component-sandbox.ts): a thread of their own each. */
  private readonly components: ComponentSandboxes;
  private closed = false;

  constructor(opts: WasmDriverOptions) {
    this.cacheDir = opts.cacheDir;
    this.images = opts.images;
    this.workDir = opts.workDir ?? process.cwd();
    this.maxWorkers = opts.maxWorkers ?? 128;
    this.guestsPerWorker = Math.max(1, opts.guestsPerWorker ?? DEFAULT_GUESTS_PER_WORKER);
    this.maxSandboxes =
      opts.maxSandboxes ?? Math.min(this.maxWorkers * this.guestsPerWorker, sandboxCeiling());
    this.fdBudget = opts.fdBudget ?? wasmFdBudget();
    this.httpHandlers = opts.httpHandlers;
    this.capabilities = { ...WasmDriver.baseCapabilities, podNetwork: opts.httpHandlers !== undefined };
    this.handlerRequestTimeoutSeconds = opts.handlerRequestTimeoutSeconds;
    this.source = new ModuleSource({ cacheDir: opts.cacheDir, maxBytes: opts.maxModuleBytes });
    this.cache = new ModuleCache();
    this.components = new ComponentSandboxes({
      cacheDir: opts.cacheDir,
      source: this.source,
      handlerHost: opts.httpHandlers && (() => (this.handlerHost ??= this.httpHandlers!())),
    });
    this.pool = new WorkerPool({
      idle: opts.poolSize ?? 2,
      max: this.maxWorkers,
      guestsPerWorker: this.guestsPerWorker,
      maxRunsPerWorker: opts.maxRunsPerWorker ?? (this.guestsPerWorker > 1 ? 100_000 : 10_000),
    });
  }

  /** Worker threads alive now. */
  get threads(): number {
    return this.pool.size;
  }

  /** Spare instances the worker threads keep for handlers' next requests (one per thread and module). */
  get spareInstances(): number {
    let n = 0;
    for (const pw of this.pool.workers()) n += pw.spares.size;
    return n;
  }

  /** Sandboxes running or starting now. */
  get liveSandboxes(): number {
    let n = 0;
    for (const id of this.starting.keys()) if (!this.sandboxes.has(id)) n++;
    for (const sb of this.sandboxes.values()) if (!sb.result) n++;
    return n;
  }

  async fingerprint(): Promise<Fingerprint> {
    const attributes: Record<string, string> = {
      'wasm.engine': `V8 ${process.versions.v8}`,
      'wasm.node': process.version,
      'wasm.wasi': 'preview1',
      'wasm.maxSandboxes': String(this.maxSandboxes),
      'wasm.openFileLimit': String(openFileLimit()),
      'wasm.guestsPerThread': String(this.guestsPerWorker),
      'wasm.maxThreads': String(this.maxWorkers),
      'wasm.memoryLimit': 'linear-memory-cap',
      'wasm.cpuLimit': 'host-call-throttle',
      ...(this.httpHandlers ? { 'wasm.http': 'wagi' } : {}),
    };
    const base = { runtimeClass: 'wasm', attributes, maxSandboxes: this.maxSandboxes };
    if (
      typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object' ||
      typeof SharedArrayBuffer !== 'function' ||
      !hasJspi()
    ) {
      return {
        ...base,
        healthy: false,
        reason: 'this Node.js has no WebAssembly, SharedArrayBuffer or JSPI (WebAssembly.Suspending)',
      };
    }
    this.probed ??= this.pool.probe();
    try {
      await this.probed;
    } catch (err) {
      this.probed = undefined;
      return {
        ...base,
        healthy: false,
        reason: `cannot start a wasm worker thread: ${(err as Error).message}`,
      };
    }
    return { ...base, healthy: true };
  }

  async start(spec: SandboxSpec<WasmOptions>): Promise<SandboxHandle> {
    if (this.closed) throw new SandboxError('CreateContainerError', 'the wasm driver is shut down');
    if (this.sandboxes.has(spec.id) || this.starting.has(spec.id)) {
      throw new SandboxError('CreateContainerError', `sandbox ${spec.id} already exists`);
    }
    checkSpec(spec);
    // Registered before the first await: a stop, wait or destroy that arrives meanwhile waits for this start
    // to settle and then applies to whatever it started (module, handler or component).
    const starting = this.startKind(spec);
    this.starting.set(spec.id, starting);
    try {
      return await starting;
    } finally {
      this.starting.delete(spec.id);
    }
  }

  private async startKind(spec: SandboxSpec<WasmOptions>): Promise<SandboxHandle> {
    const component = await this.components.match(spec);
    if (component) {
      const handle = await this.components.start(spec, component, spec.options?.httpPorts);
      if (handle.podIP) this.servedPods.add(spec.podUid);
      return handle;
    }
    if (spec.options?.httpPorts?.length) return this.startHandler(spec);
    // liveSandboxes counts this start too: it is in `starting`.
    if (this.liveSandboxes > this.maxSandboxes) {
      throw new SandboxError(
        'CreateContainerError',
        `all ${this.maxSandboxes} wasm sandboxes of this node are in use (maxSandboxes)`,
      );
    }
    return this.launch(spec);
  }

  /** Waits for a start() of this id in progress, if any (so a stop is never lost to a race). */
  private async startSettled(id: string): Promise<void> {
    await this.starting.get(id)?.catch(() => undefined);
  }

  /** The module, fetched and compiled once per content and memory cap (module-cache). */
  private async compile(spec: SandboxSpec): Promise<CompiledModule> {
    const resolved = await this.source.resolve(spec.image, spec.imageDigest);
    return this.cache.get(
      resolved.sha256,
      spec.limits.memoryBytes,
      () => this.source.load(resolved),
      this.guestsPerWorker > 1,
    );
  }

  /**
   * A container that declares ports: compile the module now (a bad one fails here, not at the first
   * request), then serve the ports on the pod's address; each request runs a fresh instance.
   */
  private async startHandler(spec: SandboxSpec<WasmOptions>): Promise<SandboxHandle> {
    if (!this.httpHandlers)
      throw new SandboxError(
        'CreateContainerError',
        'this node serves no wasm HTTP handlers (it has no pod network); remove the container ports to run the module once',
      );
    const compiled = await this.compile(spec);
    // The volumes are checked once, here (a bad one fails the pod, not each request); the runtime guard
    // (fs-guard.ts) still confines every instance's file access.
    const preopens = await prepareMounts(spec.mounts);
    // The first request must not wait for a worker thread to start (its code loads in ~30 ms of CPU on a
    // quiet host, far longer on a loaded one; a function's first request after scale-to-zero took 376 ms
    // in CI): one is started now, off the request path, and stays in the pool idle.
    // Best effort: with every worker busy the first request waits for one as any start does.
    try {
      this.pool.release(this.pool.acquire(compiled.preemptible), -1, true);
    } catch {
      // all maxWorkers in use
    }
    this.handlerHost ??= this.httpHandlers();
    const handler = new WasmHttpHandler(spec, this.instanceRunner({ compiled, preopens }), {
      requestTimeoutSeconds: this.handlerRequestTimeoutSeconds,
    });
    this.handlers.set(spec.id, handler);
    this.handlerModules.set(spec.id, compiled.key);
    try {
      const served = await this.handlerHost.serve(spec.podUid, spec.options!.httpPorts!, handler.handle);
      this.servedPods.add(spec.podUid);
      handler.listening(served.close);
      return {
        id: spec.id,
        driver: this.name,
        podIP: served.ip,
        state: {
          mode: 'http-handler',
          ports: spec.options!.httpPorts!,
          startedAt: handler.startedAt.toISOString(),
        },
      };
    } catch (err) {
      this.handlers.delete(spec.id);
      this.dropSpares(spec.id);
      throw new SandboxError(
        'CreateContainerError',
        `serving the handler's ports: ${(err as Error).message}`,
      );
    }
  }

  tierOptions({ container, podAnnotations }: ContainerRequest): WasmOptions {
    // Opt-in: a module that declares ports but is a plain command (a ticker documenting its port) still runs.
    const mode = podAnnotations?.[WASM_HTTP_ANNOTATION];
    if (mode === undefined) return {};
    if (mode !== 'wagi' && mode !== 'wasi-http')
      throw new SandboxError(
        'CreateContainerError',
        `annotation ${WASM_HTTP_ANNOTATION}: "${mode}" is not a handler interface this node serves (wagi, wasi-http)`,
      );
    const ports = (container.ports ?? [])
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
      .map((p) => p.containerPort);
    if (!ports.length) return {};
    // wasi:http components: reset between requests or a new instance each (component-sandbox.ts).
    return {
      httpPorts: [...new Set(ports)],
      ...(mode === 'wasi-http' ? componentOptions(podAnnotations) : {}),
    };
  }

  async publishHostPorts(podUid: string, ports: HostPortMapping[]): Promise<void> {
    if (!ports.length) return;
    if (!this.servedPods.has(podUid) || !this.handlerHost)
      throw new SandboxError(
        'CreateContainerError',
        'hostPort: only a wasm HTTP handler (a container with ports) has ports to publish',
      );
    for (const p of ports) await this.handlerHost.publish(podUid, p);
  }

  async releasePod(podUid: string): Promise<void> {
    if (!this.servedPods.delete(podUid)) return;
    await this.handlerHost?.release(podUid);
  }

  async reconcilePods(livePodUids: string[]): Promise<void> {
    // Handlers end with the agent; addresses a crash left behind go (only when this node serves handlers).
    if (!this.httpHandlers) return;
    this.handlerHost ??= this.httpHandlers();
    await this.handlerHost.reconcile(livePodUids);
  }

  /** Host descriptors the running guests hold: one per preopened volume, one per stdin file. */
  private heldDescriptors(): number {
    let n = 0;
    for (const sb of this.sandboxes.values())
      if (!sb.result) n += sb.spec.mounts.length + (sb.stdinFd === null ? 0 : 1);
    return n;
  }

  /**
   * How a handler starts its per-request instances: straight to launch() with the module compiled and
   * the volumes checked when the pod started. Nothing on a request's path touches the file system (the
   * general start() resolves the image — a stat — and sniffs for a component on every call, each a trip
   * through libuv's thread pool, which the agent's other file work can hold up for milliseconds). The pod
   * keeps the module it started with, as a container keeps its image.
   */
  private instanceRunner(prepared: Prepared): GuestRunner {
    return {
      start: async (spec) => {
        if (this.closed) throw new SandboxError('CreateContainerError', 'the wasm driver is shut down');
        if (this.sandboxes.has(spec.id) || this.starting.has(spec.id))
          throw new SandboxError('CreateContainerError', `sandbox ${spec.id} already exists`);
        if (this.liveSandboxes >= this.maxSandboxes)
          throw new SandboxError(
            'CreateContainerError',
            `all ${this.maxSandboxes} wasm sandboxes of this node are in use (maxSandboxes)`,
          );
        const starting = this.launch(spec, prepared);
        this.starting.set(spec.id, starting);
        try {
          return await starting;
        } finally {
          this.starting.delete(spec.id);
        }
      },
      wait: (id) => this.wait(id),
      stats: (id) => this.stats(id),
      destroy: (id) => this.destroy(id),
    };
  }

  private async launch(spec: SandboxSpec, prepared?: Prepared): Promise<SandboxHandle> {
    let stdinFd: number | null = null;
    const need = spec.mounts.length + (spec.stdin && spec.stdin.length > 0 ? 1 : 0);
    if (need > 0 && this.heldDescriptors() + need > this.fdBudget) {
      throw new SandboxError(
        'CreateContainerError',
        `the wasm guests of this node hold ${this.heldDescriptors()} of the ${this.fdBudget} open files ` +
          `they may use (RLIMIT_NOFILE ${openFileLimit()} less a reserve for the agent); this pod needs ${need} ` +
          '(one per volume)',
      );
    }
    try {
      const compiled = prepared?.compiled ?? (await this.compile(spec));
      const preopens = prepared?.preopens ?? (await prepareMounts(spec.mounts));
      if (spec.stdin && spec.stdin.length > 0) stdinFd = await this.stdinFile(spec.stdin);
      // A handler's request goes, other things equal, to a thread holding a spare instance of its module.
      const place = this.pool.acquire(compiled.preemptible, prepared ? compiled.key : undefined);
      // Only a guest on a thread of its own is ever interrupted through the inspector.
      if (!place.pw.shared) this.interrupter.enable();
      const sb = this.track(spec, compiled, place, stdinFd);
      const running = this.awaitRunning(sb);
      place.pw.onDrain ??= () => this.drainWorker(place.pw);
      const sendModule = !touchModule(place.pw.modules, compiled.key, true);
      for (const key of place.pw.spares) if (!place.pw.modules.has(key)) place.pw.spares.delete(key);
      if (prepared) place.pw.spares.add(compiled.key);
      place.pw.post({
        type: 'run',
        guest: sb.guest,
        slot: place.slot,
        moduleKey: compiled.key,
        module: sendModule ? compiled.module : undefined,
        preemptible: compiled.preemptible,
        args: spec.args.length > 0 ? spec.args : [basename(spec.image)],
        env: spec.env,
        preopens,
        stdinFd,
        cpu: spec.limits.cpu,
        keepSpare: prepared !== undefined,
        // A handler's request is waited for to its end anyway (http-handler.ts): its start resolves then.
        skipRunningReport: prepared !== undefined,
      });
      stdinFd = null; // owned by the sandbox now
      if (prepared) sb.running = true; // as far as a failing worker is concerned (see awaitRunning)
      // The deadline counts from the run's dispatch, so that it holds for a run that never reports running.
      if (spec.limits.deadlineSeconds !== undefined) {
        const t = setTimeout(
          () => void this.requestStop(sb, 'deadline', 0),
          spec.limits.deadlineSeconds * 1000,
        );
        t.unref();
        sb.timers.push(t);
      }
      await running;
      return {
        id: spec.id,
        driver: this.name,
        state: {
          module: compiled.key,
          startedAt: sb.startedAt.toISOString(),
          thread: place.pw.shared ? 'shared' : 'own',
        },
      };
    } catch (err) {
      const fdMessage = fdExhaustionMessage(err, 'cannot start the wasm guest');
      throw fdMessage ? new SandboxError('CreateContainerError', fdMessage) : err;
    } finally {
      if (stdinFd !== null) closeSync(stdinFd);
    }
  }

  prepareArtifact({ container }: ContainerRequest): Promise<PreparedArtifact> {
    return prepareWasmModule(container, this.workDir, this.images);
  }

  /** A module is shared by every sandbox that runs it: nothing to release per sandbox. */
  async releaseArtifact(_sandboxId: string): Promise<void> {}

  async wait(id: string): Promise<ExitResult> {
    await this.startSettled(id);
    if (this.components.has(id)) return this.components.wait(id);
    const handler = this.handlers.get(id);
    if (handler) return handler.exited;
    const sb = await this.find(id);
    if (!sb) throw notFound(id);
    return sb.exited;
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    await this.startSettled(id);
    if (this.components.has(id)) return this.components.stop(id, graceSeconds);
    const handler = this.handlers.get(id);
    if (handler) return handler.stop(graceSeconds);
    const sb = await this.find(id);
    if (!sb || sb.result) return;
    await this.requestStop(sb, 'stop', graceSeconds);
  }

  async destroy(id: string): Promise<void> {
    await this.startSettled(id);
    if (this.components.has(id)) return this.components.destroy(id);
    const handler = this.handlers.get(id);
    if (handler) {
      await handler.stop(0);
      this.handlers.delete(id);
      this.dropSpares(id);
      return;
    }
    const sb = await this.find(id);
    if (!sb) return;
    if (!sb.result) {
      sb.stopCause ??= 'stop';
      this.signalStop(sb);
      this.force(sb);
      await sb.exited;
    }
    this.sandboxes.delete(id);
  }

  async stats(id: string): Promise<SandboxStats> {
    if (this.components.has(id)) return this.components.stats(id);
    const handler = this.handlers.get(id);
    if (handler) return handler.stats();
    const sb = await this.find(id);
    if (!sb) throw notFound(id);
    const final = (): SandboxStats => ({
      cpuNanos: sb.finalCpuNanos,
      memoryBytes: sb.finalMemoryBytes,
      timestamp: new Date(),
    });
    if (sb.result) return final();
    // Memory as of the guest's last host call (a guest growing memory without calling the host is
    // seen at its next call); CPU time the guest used on its thread (counted at every switch).
    const memoryBytes = this.lastMemory(sb);
    const cpuNanos = await this.guestCpuNanos(sb);
    // The guest may have ended meanwhile, and its worker moved on to another run.
    return sb.result ? final() : { cpuNanos, memoryBytes, timestamp: new Date() };
  }

  async recover(_handle: SandboxHandle, _log: LogSink): Promise<boolean> {
    // Guests run inside the agent's own threads: they end with it and cannot be re-adopted.
    return false;
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.handlers.values()].map((h) => h.stop(0)));
    await this.components.shutdown();
    const live = [...this.sandboxes.values()].filter((sb) => !sb.result);
    for (const sb of live) {
      sb.stopCause ??= 'stop';
      this.signalStop(sb);
      this.force(sb);
    }
    await Promise.all(live.map((sb) => sb.exited));
    await this.pool.shutdown();
    this.byGuest.clear();
    this.interrupter.close();
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drainTimer = undefined;
  }

  // --- internals -------------------------------------------------------------------------------

  /** Handler `id` is gone: its module's spare instances go too, unless another handler runs it. */
  private dropSpares(id: string): void {
    const key = this.handlerModules.get(id);
    this.handlerModules.delete(id);
    if (key === undefined || [...this.handlerModules.values()].includes(key)) return;
    for (const pw of this.pool.spareHolders(key)) {
      pw.spares.delete(key);
      pw.post({ type: 'drop-spare', moduleKey: key });
    }
  }

  /** The sandbox, once a start() in progress for it has settled (so a stop is never lost to a race). */
  private async find(id: string): Promise<Sandbox | undefined> {
    const starting = this.starting.get(id);
    if (starting) await starting.catch(() => undefined);
    return this.sandboxes.get(id);
  }

  private track(
    spec: SandboxSpec,
    compiled: CompiledModule,
    place: Placement,
    stdinFd: number | null,
  ): Sandbox {
    let resolveExit!: (r: ExitResult) => void;
    const exited = new Promise<ExitResult>((r) => (resolveExit = r));
    const sb: Sandbox = {
      spec,
      compiled,
      guest: ++guestSeq,
      place,
      pw: place.pw,
      slot: slotViews(place.pw.control, place.slot),
      startedAt: new Date(),
      running: false,
      stdinFd,
      exited,
      resolveExit,
      finalCpuNanos: 0,
      finalMemoryBytes: 0,
      forcing: false,
      timers: [],
      markStarted: () => undefined,
    };
    this.sandboxes.set(spec.id, sb);
    this.byGuest.set(sb.guest, sb);
    this.ensureDrainTimer();
    return sb;
  }

  /** Wires the worker's messages to this sandbox; resolves on 'running', rejects if it cannot start. */
  private awaitRunning(sb: Sandbox): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // A sandbox stopped before it reported running (e.g. by shutdown()) has still started: start()
      // resolves and wait() reports how it ended.
      sb.markStarted = resolve;
      const failStart = (message: string, workerOk: boolean): void => {
        if (sb.result) return;
        this.sandboxes.delete(sb.spec.id);
        this.byGuest.delete(sb.guest);
        for (const t of sb.timers) clearTimeout(t);
        this.closeStdin(sb);
        this.pool.release(sb.place, sb.guest, workerOk && !sb.forcing);
        // Settle the exit too: a stop(), destroy() or shutdown() may already be waiting on it.
        const now = new Date();
        sb.result = {
          exitCode: 128,
          reason: 'StartError',
          message,
          startedAt: sb.startedAt,
          finishedAt: now,
        };
        sb.resolveExit(sb.result);
        this.ensureDrainTimer();
        reject(new SandboxError('CreateContainerError', message));
      };
      sb.pw.guests.set(sb.guest, {
        message: (msg: FromWorker) => {
          switch (msg.type) {
            case 'running':
              sb.running = true;
              resolve();
              break;
            case 'start-failed':
              failStart(fdExhaustionMessage(msg.message, msg.message) ?? msg.message, true);
              break;
            case 'exit':
              // The worker has counted the guest's CPU time up to its end.
              this.finish(sb, msg.outcome, msg.memoryBytes, Math.round(sb.slot.f64[CPU_USED_US_F64] * 1000));
              break;
            case 'reaped':
              void this.finishKilled(sb);
              break;
          }
        },
        failure: (err) => {
          if (!sb.running) failStart(`wasm worker failed: ${err.message}`, false);
          else
            this.finish(
              sb,
              { kind: 'worker-failed', message: err.message },
              this.lastMemory(sb),
              Math.round(sb.slot.f64[CPU_USED_US_F64] * 1000),
            );
        },
      });
    });
  }

  /** Raises the guest's stop word to `level` and wakes it if it is waiting. */
  private signalStop(sb: Sandbox, level: number = StopLevel.STOP): void {
    if (Atomics.load(sb.slot.words, STOP) >= level) return;
    Atomics.store(sb.slot.words, STOP, level);
    if (!sb.pw.dead) sb.pw.post({ type: 'stop', guest: sb.guest });
  }

  /** Stops at the guest's next host call; forces it after the grace period. */
  private async requestStop(sb: Sandbox, cause: 'stop' | 'deadline', graceSeconds: number): Promise<void> {
    if (sb.result) return;
    sb.stopCause ??= cause;
    this.signalStop(sb);
    const graceMs = Math.max(MIN_STOP_WINDOW_MS, (Number.isFinite(graceSeconds) ? graceSeconds : 0) * 1000);
    const t = setTimeout(() => this.force(sb), graceMs);
    sb.timers.push(t);
    await sb.exited;
    clearTimeout(t);
  }

  /** Ends a guest wherever it is. */
  private force(sb: Sandbox): void {
    if (sb.result || sb.forcing) return;
    sb.forcing = true;
    // A guest with preemption points ends at the next one (a few microseconds of computing away) or
    // at its next host call, and its thread's other guests carry on.
    this.signalStop(sb, StopLevel.KILL);
    if (sb.pw.shared) {
      sb.timers.push(setTimeout(() => void this.terminate(sb), REAP_TIMEOUT_MS));
      return;
    }
    // A guest alone on its thread may have no preemption points: interrupt the thread's execution.
    // A worker still loading its code would not survive an interrupt (it would exit): terminate it.
    if (!sb.pw.ready || !this.interrupter.interrupt(sb.pw.name)) {
      void this.terminate(sb);
      return;
    }
    // The worker handles 'reap' once the interrupted execution has unwound.
    sb.pw.post({ type: 'reap', guest: sb.guest });
    sb.timers.push(setTimeout(() => void this.terminate(sb), REAP_TIMEOUT_MS));
  }

  /**
   * Last resort: end the thread (and with it any other guest on it, reported as failed). node:wasi's
   * host descriptors of its runs stay open.
   */
  private async terminate(sb: Sandbox): Promise<void> {
    if (sb.result) return;
    this.terminatedWorkers++;
    const cpu = await this.guestCpuNanos(sb);
    const pw = sb.pw;
    this.finish(sb, { kind: 'killed' }, this.lastMemory(sb), cpu);
    if (!pw.dead) await this.pool.discard(pw);
  }

  private async finishKilled(sb: Sandbox): Promise<void> {
    const cpu = await this.guestCpuNanos(sb);
    this.finish(sb, { kind: 'killed' }, this.lastMemory(sb), cpu);
  }

  private finish(sb: Sandbox, outcome: FinalOutcome, memoryBytes: number, cpuNanos: number): void {
    if (sb.result) return;
    // Everything the guest wrote before it ended is in its worker's ring by now.
    this.drainWorker(sb.pw);
    this.byGuest.delete(sb.guest);
    for (const t of sb.timers) clearTimeout(t);
    this.closeStdin(sb);
    const d = describeExit({
      outcome,
      memoryBytes,
      memories: sb.compiled.memories,
      capPages: sb.compiled.capPages,
      stopCause: sb.stopCause,
      deadlineSeconds: sb.spec.limits.deadlineSeconds,
    });
    sb.result = { ...d, startedAt: sb.startedAt, finishedAt: new Date() };
    sb.markStarted();
    sb.finalCpuNanos = cpuNanos;
    sb.finalMemoryBytes = memoryBytes;
    // A dedicated worker is reused only after a guest that ended by itself; one we stopped or
    // interrupted (or whose run failed inside node:wasi) is replaced. A shared worker's guests unwind
    // at host calls and preemption points, which leave the thread sound.
    const clean = !sb.forcing && !sb.stopCause && (outcome.kind === 'exit' || outcome.kind === 'trap');
    this.pool.release(sb.place, sb.guest, clean);
    sb.resolveExit(sb.result);
    this.ensureDrainTimer();
  }

  /** Delivers a worker's log records to its guests' sinks. */
  private drainWorker(pw: PooledWorker): void {
    pw.reader.drain((guest, stream, chunk) => {
      try {
        this.byGuest.get(guest)?.spec.log.write(stream, chunk);
      } catch {
        // A failing log sink must not take the sandbox (or the agent) down with it.
      }
    });
  }

  /** One timer drains every worker, bounding log latency for guests that rarely call the host. */
  private ensureDrainTimer(): void {
    const active = this.byGuest.size > 0;
    if (active && !this.drainTimer) {
      this.drainTimer = setInterval(() => {
        for (const pw of this.pool.workers()) if (pw.guests.size > 0) this.drainWorker(pw);
      }, DRAIN_INTERVAL_MS);
      this.drainTimer.unref();
    } else if (!active && this.drainTimer) {
      clearInterval(this.drainTimer);
      this.drainTimer = undefined;
    }
  }

  private lastMemory(sb: Sandbox): number {
    return Atomics.load(sb.slot.words, MEMORY_PAGES) * PAGE_BYTES;
  }

  /** CPU time the guest used: its finished spans, plus the current one if it is on its thread now. */
  private async guestCpuNanos(sb: Sandbox): Promise<number> {
    const usedUs = sb.slot.f64[CPU_USED_US_F64];
    const sinceUs = sb.slot.f64[CPU_SINCE_US_F64];
    if (!(sinceUs >= 0) || sb.pw.dead) return Math.round(usedUs * 1000);
    try {
      const u = await sb.pw.worker.cpuUsage();
      return Math.round((usedUs + Math.max(0, u.user + u.system - sinceUs)) * 1000);
    } catch {
      return Math.round(usedUs * 1000);
    }
  }

  /** stdin is a file, never a pipe: reading it cannot block the worker. Unlinked once open. */
  private async stdinFile(bytes: Uint8Array): Promise<number> {
    const dir = join(this.cacheDir, 'stdin');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, randomUUID());
    await writeFile(path, bytes, { mode: 0o600 });
    try {
      return openSync(path, 'r');
    } finally {
      unlinkSync(path);
    }
  }

  private closeStdin(sb: Sandbox): void {
    if (sb.stdinFd === null) return;
    closeSync(sb.stdinFd);
    sb.stdinFd = null;
  }
}

function checkSpec(spec: SandboxSpec): void {
  const bad = (field: string, why: string): never => {
    throw new SandboxError('CreateContainerError', `${field}: ${why}`);
  };
  if (spec.workingDir !== undefined && spec.workingDir !== '' && spec.workingDir !== '/') {
    bad(
      'workingDir',
      'not supported by the wasm tier (WASI preview1 has no working directory); use absolute paths',
    );
  }
  const { memoryBytes, cpu, deadlineSeconds } = spec.limits;
  if (memoryBytes !== undefined && !(Number.isFinite(memoryBytes) && memoryBytes >= PAGE_BYTES)) {
    bad('limits.memoryBytes', `must be at least one 64 KiB wasm page, got ${memoryBytes}`);
  }
  if (cpu !== undefined && !(Number.isFinite(cpu) && cpu > 0))
    bad('limits.cpu', `must be a positive number, got ${cpu}`);
  if (deadlineSeconds !== undefined && !(Number.isFinite(deadlineSeconds) && deadlineSeconds >= 0)) {
    bad('limits.deadlineSeconds', `must be a non-negative number, got ${deadlineSeconds}`);
  }
}

function notFound(id: string): SandboxError {
  return new SandboxError('NotFound', `no wasm sandbox ${id}`);
}
